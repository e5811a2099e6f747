"""How the map tells aircraft apart, and a position as the API sends it."""

from __future__ import annotations

# OGN aircraft types (the APRS comment's id field) and what the map draws for them.
_OGN_KINDS = {1: "glider", 6: "glider", 7: "glider", 2: "tow", 3: "helicopter",
              8: "powered", 9: "airliner", 4: "other", 5: "powered", 11: "other", 12: "other",
              13: "other", 15: "other"}
# ADS-B emitter categories (DO-260B) for aircraft without an OGN type.
_CATEGORY_KINDS = {"A1": "powered", "A2": "powered", "A3": "airliner", "A4": "airliner",
                   "A5": "airliner", "A6": "airliner", "A7": "helicopter", "B1": "glider",
                   "B4": "powered"}
ADSB_SOURCES = (2, 3)      # fixes.source: ADS-B Beast, SBS


def kind(aircraft_type: int | None, category: str | None, source: int | None) -> str:
    """glider, tow, powered, airliner, helicopter or other: the OGN aircraft type, else
    the ADS-B emitter category, else airliner for an ADS-B-only aircraft (most are)."""
    if aircraft_type in _OGN_KINDS:
        return _OGN_KINDS[aircraft_type]
    if category in _CATEGORY_KINDS:
        return _CATEGORY_KINDS[category]
    return "airliner" if source in ADSB_SOURCES else "other"


def position(row: dict) -> dict:
    """A live_positions_v3 row as the API and the live stream send it: keyed by
    aircraft_id; flight_id is its active flight, null when it has none (on the ground
    before takeoff, landed)."""
    out = dict(row)
    out["flight_id"] = str(row["flight_id"]) if row["flight_id"] else None
    out["kind"] = kind(row["aircraft_type"], row["category"], row["source"])
    for k in ("latitude", "longitude"):
        out[k] = round(row[k], 6)
    return out
