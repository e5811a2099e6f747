"""The flight writes the tracker asks for: each op becomes exactly one SQL statement.

`kind` says why the op exists; the pipeline counts ops by kind, so every way a
flight starts (`start_*`) and ends (`end_*`) is a counter of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID, uuid5

from soar.units import UTC

# Fixed namespace: the same (aircraft, start time) gives the same id in every
# process and every replay, so `INSERT ... ON CONFLICT DO NOTHING` de-duplicates.
FLIGHT_NAMESPACE = UUID("6f1d3a52-2b1e-4c39-9a51-5d0c8f6a7e10")

# Create kinds.
START_TAKEOFF = "start_takeoff"      # seen on the ground, then took off
START_AIRBORNE = "start_airborne"    # first seen in the air (no takeoff time)
START_CALLSIGN = "start_callsign"    # new callsign after a silence it could have landed in
# Update kinds.
END_LANDING = "end_landing"
END_TIMEOUT = "end_timeout"          # silent longer than the timeout (data time)
END_CALLSIGN = "end_callsign"        # new callsign after a silence it could have landed in
END_GAP = "end_gap"                  # reappeared where it could not have flown to
RESUME = "resume"                    # a timed-out flight continues after a coverage hole
TOW = "tow"                          # glider paired with its tow plane
TOW_RELEASE = "tow_release"
CALLSIGN = "callsign"                # the callsign became known during the flight
CALLSIGN_CHANGE = "callsign_change"  # new callsign while continuously airborne: same flight
LAUNCH = "launch"                    # the launch method decided (or a tow found after it)

# flights.launch_method values.
AEROTOW = "aerotow"
WINCH = "winch"
SELF = "self"
UNKNOWN = "unknown"

END_KINDS = frozenset({END_LANDING, END_TIMEOUT, END_CALLSIGN, END_GAP})


def flight_id(aircraft_id: int, started_at: datetime) -> UUID:
    """Deterministic flight id: uuid5 of the aircraft and the UTC start time."""
    t = started_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return uuid5(FLIGHT_NAMESPACE, f"{aircraft_id}/{t}")


@dataclass(slots=True)
class CreateFlight:
    """INSERT of a new `flights` row; `row` maps column names to values."""
    row: dict
    kind: str = START_TAKEOFF
    # Earlier fixes of the confirmation window. They were returned untagged by
    # earlier process() calls and have now been tagged in place (same objects).
    window: tuple = field(default=(), repr=False)

    @property
    def flight_id(self) -> UUID:
        return self.row["id"]


@dataclass(slots=True)
class UpdateFlight:
    """UPDATE of one `flights` row by id (landing, timeout, resume, tow...)."""
    flight_id: UUID
    values: dict
    kind: str
    # Whose flight: lets an ingest shard tell its own aircraft's writes from those of
    # aircraft it only follows (soar.ingest.shard); not written.
    aircraft_id: int | None = None
