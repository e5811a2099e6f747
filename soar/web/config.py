"""The web server's settings (`soar web` options), one dataclass."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WebConfig:
    host: str = "127.0.0.1"             # loopback unless the operator opens it up
    port: int = 8080
    # OGN's data policy: nothing older than 24 h is redistributed. Every route leaves
    # out what is older. None: no window (an operator's own archive, the tests' old
    # recordings).
    public_window_h: float | None = 24.0
    statement_timeout_ms: int = 2000    # per API statement (SET LOCAL, holds through PgBouncer)
    max_box_deg2: float = 400.0         # largest bounding box (degrees lat x lon), ~20 x 20 deg
    max_page: int = 500                 # largest page of flights, receivers, airfields
    default_page: int = 100
    max_positions: int = 5000           # most positions one answer carries
    live_poll_s: float = 0.25           # how often the live stream reads live_positions_v3
    positions_max_age_s: float = 1.0    # /api/v1/positions answers from a read this old at most
    positions_keep_s: float = 60.0      # reads go on this long after the last /positions request
    # The map shows an aircraft heard this recently (data time: before the newest fix
    # stored), in the air or on the ground, as OGN's live map and tar1090 do.
    live_recent_s: float = 600.0
    live_client_queue: int = 30         # updates buffered per SSE client before it is dropped
    live_heartbeat_s: float = 15.0      # SSE comment line, keeps proxies from closing
    max_live_clients: int = 1000        # SSE connections beyond this get 503
    pool_min: int = 1                   # connections of the read-only pool
    pool_max: int = 8
    pool_timeout_s: float = 5.0         # waiting for a free connection, then 503
    # The map's background: none (airfields and runways as vector layers on a plain
    # background) or a tile URL template, e.g. https://tile.example.org/{z}/{x}/{y}.png
    # (its origin is added to the Content-Security-Policy's img-src).
    tile_url: str | None = None
    tile_attribution: str = ""
    # Recomputed at most this often, served stale while recomputed (soar/web/cache.py):
    receivers_cache_s: float = 60.0     # fixes per receiver in the last hour
    stats_cache_s: float = 60.0         # /api/v1/stats (its Cache-Control max-age too)
