"""Flights: a filtered, paged list; one flight; its fixes; its track as IGC, KML or
GeoJSON (soar.products.export, the same files `soar flights export` writes).

The rule for caching: what belongs to a completed flight (its fixes and track files)
no longer changes, so it may be cached until it leaves the public window; an active
flight's answers are never cached. The flight itself is cached briefly: the worker may
still add its runways and places after the landing."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from soar.db.sqlfiles import queries
from soar.products import export
from soar.units import UTC
from soar.web import params
from soar.web.aircraft import kind
from soar.web.config import WebConfig
from soar.web.database import dicts
from soar.web.encoding import JSON
from soar.web.errors import not_found
from soar.web.routes.common import airfield, config, database, safe_filename

QUERIES = queries("queries/web.sql")
COMPLETED_MAX_AGE_S = 86_400
FLIGHT_MAX_AGE_S = 60
MEDIA_TYPES = {"igc": "application/vnd.fai.igc", "kml": "application/vnd.google-earth.kml+xml",
               "geojson": "application/geo+json"}


def flights(request: Request) -> JSON:
    cfg = config(request)
    q = request.query_params
    tz = params.zone(q.get("tz"))
    d = params.day(q.get("date"))
    day_start, day_end = params.day_range(d, tz) if d else (None, None)
    after_started, after_id = params.cursor(q.get("after"))
    limit = params.page_size(q.get("limit"), cfg)
    with database(request).read() as conn:
        airfield_id = None
        if q.get("airfield"):
            airfield_id = airfield(conn, q["airfield"]).id
        rows = dicts(conn, QUERIES["flights"], {
            "since": params.window_start(cfg), "day_start": day_start, "day_end": day_end,
            "airfield_id": airfield_id, "address": params.address(q.get("aircraft")),
            "active": params.flag(q.get("active"), "active"),
            "after_started": after_started, "after_id": after_id, "limit": limit + 1,
        })
    page = rows[:limit]
    for r in page:
        r["kind"] = kind(r["aircraft_type"], r["category"], r["source"])
    nxt = None
    if len(rows) > limit:
        last = page[-1]
        query = {k: v for k, v in q.items() if k != "after"}
        query["after"] = params.make_cursor(last["started_at"], last["id"])
        nxt = f"{request.url.path}?{urlencode(query)}"
    return JSON({"flights": page, "next": nxt}, headers={"Cache-Control": "no-store"})


def load_flight(conn, request: Request) -> dict:
    """The flight of the path's id as export.py reads it; 404 when there is none, when
    its aircraft is not tracked, or when it is older than the public window."""
    fid = params.flight_id(request.path_params["flight_id"])
    [flight] = dicts(conn, export.QUERIES["flight"], {"low": fid, "high": fid}) or [None]
    since = params.window_start(config(request))
    if flight is None or not flight["tracked"]:
        raise not_found(f"no flight {fid}: see /api/v1/flights for the ids")
    if since and (flight["last_fix_at"] or flight["started_at"]) < since:
        raise not_found(f"flight {fid} is older than the public window "
                        f"({config(request).public_window_h:g} h): it is not shown")
    return flight


def load_track(conn, flight: dict, cfg: WebConfig) -> export.Track:
    since = params.window_start(cfg)
    start = max(flight["started_at"], since) if since else flight["started_at"]
    fixes = [export.TrackFix(**r) for r in dicts(conn, export.QUERIES["fixes"], {
        "aircraft_id": flight["aircraft_id"], "start": start, "end": export.end_of(flight)})]
    return export.Track(flight, fixes, {})


def cache_control(flight: dict, cfg: WebConfig, max_age_s: int = COMPLETED_MAX_AGE_S) -> str:
    """no-store while active; else public until the flight leaves the public window."""
    if export.end_of(flight) is None:
        return "no-store"
    if not cfg.public_window_h:
        return f"public, max-age={max_age_s}" + (", immutable" if max_age_s == COMPLETED_MAX_AGE_S
                                                  else "")
    leaves = (flight["last_fix_at"] or flight["started_at"]).timestamp() \
        + cfg.public_window_h * 3600 - datetime.now(UTC).timestamp()
    return f"public, max-age={max(0, min(max_age_s, int(leaves)))}"


def _public(flight: dict) -> dict:
    out = {k: v for k, v in flight.items() if k not in ("tracked", "aircraft_id")}
    out["kind"] = kind(flight["aircraft_type"], None, flight["source"])
    out["active"] = export.end_of(flight) is None
    return out


def flight(request: Request) -> JSON:
    cfg = config(request)
    with database(request).read() as conn:
        f = load_flight(conn, request)
        extra = dicts(conn, QUERIES["flight_extra"], {"id": f["id"]})[0]
    return JSON({**_public(f), **extra},
                headers={"Cache-Control": cache_control(f, cfg, FLIGHT_MAX_AGE_S)})


def fixes(request: Request) -> JSON:
    cfg = config(request)
    with database(request).read() as conn:
        f = load_flight(conn, request)
        track = load_track(conn, f, cfg)
    keys = export.TrackFix._fields
    return JSON({"flight_id": f["id"], "fields": list(keys),
                 "fixes": [list(x) for x in track.fixes]},
                headers={"Cache-Control": cache_control(f, cfg)})


def download(request: Request) -> Response:
    cfg = config(request)
    fmt = request.path_params["fmt"]
    if fmt not in export.FORMATS:
        raise not_found(f"no track format {fmt[:20]!r}: give track.igc, track.kml or track.geojson")
    with database(request).read() as conn:
        f = load_flight(conn, request)
        track = load_track(conn, f, cfg)
    if not track.fixes:
        raise not_found(f"flight {f['id']} has no stored fixes in the public window: "
                        "nothing to export")
    name = f"{f['registration'] or f['aircraft_address']}-{f['id']}.{fmt}"
    return Response(export.export(track, fmt), media_type=MEDIA_TYPES[fmt], headers={
        "Cache-Control": cache_control(f, cfg),
        "Content-Disposition": f'attachment; filename="{safe_filename(name)}"'})


routes = [
    Route("/api/v1/flights", flights),
    Route("/api/v1/flights/{flight_id}", flight),
    Route("/api/v1/flights/{flight_id}/fixes", fixes),
    Route("/api/v1/flights/{flight_id}/track.{fmt:str}", download),
]
