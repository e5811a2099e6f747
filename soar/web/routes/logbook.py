"""An airfield's logbook for a day: the rows `soar logbook` prints (soar.products.logbook:
the logbook view, its day in the asked time zone), as JSON or CSV."""

from __future__ import annotations

from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from soar.products import logbook as products
from soar.web import params
from soar.web.encoding import JSON
from soar.web.errors import bad_request
from soar.web.routes.common import airfield, config, database, safe_filename


def logbook(request: Request) -> Response:
    cfg = config(request)
    q = request.query_params
    tz = params.zone(q.get("tz"))
    fmt = q.get("format", "json")
    if fmt not in ("json", "csv"):
        raise bad_request(f"format={fmt[:20]!r}: give json or csv")
    d = params.day(q.get("date")) or datetime.now(tz).date()
    start, end = params.day_range(d, tz)
    since = params.window_start(cfg)
    with database(request).read() as conn:
        field = airfield(conn, request.path_params["code"])
        # `soar logbook`'s rows (dates and times in `tz`, durations), within the window.
        records = products.rows(conn, field, max(start, since) if since else start, end, tz)
    if fmt == "csv":
        name = safe_filename(f"logbook-{field.ident}-{d}.csv")
        return Response(products.to_csv(records), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})
    return JSON({"airfield": field._asdict(), "date": d, "tz": getattr(tz, "key", "UTC"),
                 "rows": [{**r, "date": r["date"].isoformat(),
                           "takeoff": _local(r["takeoff"]), "landing": _local(r["landing"])}
                          for r in records]},
                headers={"Cache-Control": "no-store"})


def _local(t):
    """Times in the logbook's zone, with their offset (as `soar logbook --format json`)."""
    return t.isoformat() if t else None


routes = [Route("/api/v1/airfields/{code}/logbook", logbook)]
