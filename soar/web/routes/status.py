"""Receivers, statistics (what `soar stats --json` gives), health (database, queue) and
the pages' settings."""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from soar.db.sqlfiles import queries
from soar.products import queue_health, statistics
from soar.web import params
from soar.web.database import Database, dicts
from soar.web.encoding import JSON
from soar.web.errors import ApiError, bad_request
from soar.web.reader import recent
from soar.web.routes.common import config, database
from soar_worker.config import DEAD_QUEUE, QUEUE

QUERIES = queries("queries/web.sql")

MAX_STATS_DAYS = 366
DEFAULT_HOME = (48.0, 10.0)


def receivers(request: Request) -> JSON:
    cfg = config(request)
    limit = params.page_size(request.query_params.get("limit"), cfg)
    db = database(request)
    with db.read() as conn:
        rows = dicts(conn, QUERIES["receivers"], {
            "since": params.window_start(cfg), "limit": limit})
    per_hour = request.app.state.receivers_cache.get("all", lambda: _fixes_per_hour(db))
    for r in rows:
        r["fixes_last_hour"] = per_hour.get(r.pop("id"), 0)
    return JSON({"receivers": rows}, headers={"Cache-Control": "public, max-age=60"})


def _fixes_per_hour(db: Database) -> dict[int, int]:
    with db.read() as conn:
        rows = dicts(conn, QUERIES["receiver_fixes_last_hour"], {})
    return {r["receiver_id"]: r["fixes"] for r in rows}


def stats(request: Request) -> JSON:
    """`soar stats --json`: days (default 7, never beyond the public window) and top."""
    cfg = config(request)
    q = request.query_params
    try:
        days = int(q.get("days", 7))
        top = int(q.get("top", 10))
    except ValueError:
        raise bad_request("days and top: give whole numbers, e.g. days=7&top=10") from None
    if not (1 <= days <= MAX_STATS_DAYS and 1 <= top <= cfg.max_page):
        raise bad_request(f"days: 1 to {MAX_STATS_DAYS}; top: 1 to {cfg.max_page}")
    if cfg.public_window_h:
        days = min(days, max(1, int(cfg.public_window_h // 24)))
    db = database(request)

    def compute() -> dict:
        with db.read() as conn:
            return statistics.report(conn, days, top)
    report = request.app.state.stats_cache.get((days, top), compute)
    return JSON(report, headers={"Cache-Control": f"public, max-age={int(cfg.stats_cache_s)}"})


def health(request: Request) -> JSON:
    """200 when the database answers; the queue's state and its problems (the thresholds
    of `soar queue check`) either way; 503 when the database does not answer."""
    live = request.app.state.live
    out: dict = {"database": "ok", "live": {
        "clients": len(live.clients), "reads": live.reads, "read_errors": live.read_errors,
        "dropped_clients": live.dropped_clients, "last_read": live.read_at,
        "read_ms": live.read_ms, "fanout_ms": live.fanout_ms}}
    try:
        with database(request).read() as conn:
            conn.execute(QUERIES["ping"])
            health_ = queue_health.read(conn)
    except ApiError as exc:
        return JSON({**out, "database": exc.message}, status_code=503,
                    headers={"Cache-Control": "no-store"})
    out["queue"] = {k: v._asdict() for k, v in health_.items()}
    out["problems"] = queue_health.problems(health_, QUEUE, DEAD_QUEUE, max_age_s=600,
                                            max_dead=0)
    return JSON(out, headers={"Cache-Control": "no-store"})


def settings(request: Request) -> JSON:
    """What the pages need: the tile server (if any), the limits, and where the map opens
    (the middle of the aircraft heard recently, else central Europe)."""
    cfg = config(request)
    with database(request).read() as conn:
        [home] = dicts(conn, QUERIES["home"], recent(conn, cfg))
    if not home["aircraft"]:
        home = {"latitude": DEFAULT_HOME[0], "longitude": DEFAULT_HOME[1], "aircraft": 0}
    return JSON({"tile_url": cfg.tile_url, "tile_attribution": cfg.tile_attribution,
                 "public_window_h": cfg.public_window_h, "max_box_deg2": cfg.max_box_deg2,
                 "home": {**home, "zoom": 10 if home["aircraft"] else 5}},
                headers={"Cache-Control": "no-store"})


routes = [
    Route("/api/v1/receivers", receivers),
    Route("/api/v1/stats", stats),
    Route("/api/v1/health", health),
    Route("/api/v1/settings", settings),
]
