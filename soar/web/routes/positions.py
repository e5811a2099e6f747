"""Where aircraft are: latest positions in a box, the live stream (SSE), and the map's
background (airfields and runways)."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from soar.db.sqlfiles import queries
from soar.web import params
from soar.web.database import dicts
from soar.web.encoding import JSON, dumps
from soar.web.routes.common import config, database

QUERIES = queries("queries/web.sql")


async def positions(request: Request) -> Response:
    """The live positions in a box, from the live feed's last read (at most
    `positions_max_age_s` old), each position's JSON as the live stream sends it."""
    cfg = config(request)
    box = params.box(request.query_params.get("bbox"), cfg)
    world = await request.app.state.live.positions()
    inside = [p.json for p in world.values() if box.contains(p.latitude, p.longitude)]
    truncated = len(inside) > cfg.max_positions
    body = (f'{{"bbox":{dumps(list(box))},"positions":[{",".join(inside[:cfg.max_positions])}],'
            f'"truncated":{"true" if truncated else "false"}}}')
    return Response(body, media_type="application/json", headers={"Cache-Control": "no-store"})


async def live(request: Request) -> StreamingResponse:
    """text/event-stream: `snapshot`, then `update` events ({positions, gone}); a comment
    line as a heartbeat. Ends when the client is too slow (it reconnects)."""
    cfg = config(request)
    box = params.box(request.query_params.get("bbox"), cfg)
    feed = request.app.state.live
    client = feed.subscribe(box)

    async def disconnected() -> None:
        # Starlette (ASGI 2.4) notices a closed stream only at its next write; reading the
        # request's messages here frees the client at once, not at the next heartbeat.
        while (await request.receive())["type"] != "http.disconnect":
            pass

    async def events():
        gone = asyncio.ensure_future(disconnected())
        try:
            yield "retry: 2000\n\n"
            while True:
                item = asyncio.ensure_future(client.queue.get())
                done, _ = await asyncio.wait({item, gone}, timeout=cfg.live_heartbeat_s,
                                             return_when=asyncio.FIRST_COMPLETED)
                if gone in done:
                    item.cancel()
                    return
                if item not in done:
                    item.cancel()
                    yield ": heartbeat\n\n"
                    continue
                if item.result() is None:
                    return
                kind, data = item.result()         # data: JSON text, one line
                yield f"event: {kind}\ndata: {data}\n\n"
        finally:
            gone.cancel()
            feed.unsubscribe(client)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def airfields(request: Request) -> JSON:
    cfg = config(request)
    box = params.box(request.query_params.get("bbox"), cfg)
    heliports = params.flag(request.query_params.get("heliports"), "heliports") or False
    limit = params.page_size(request.query_params.get("limit"), cfg)
    with database(request).read() as conn:
        rows = dicts(conn, QUERIES["airfields"], {
            **box.as_params(), "heliports": heliports, "limit": limit})
    out = [{**r, "runways": [dict(zip(("le_ident", "he_ident", "le_latitude", "le_longitude",
                                       "he_latitude", "he_longitude"), x, strict=True))
                             for x in r["runways"]]} for r in rows]
    # Reference data: changes when an operator re-imports OurAirports.
    return JSON({"airfields": out}, headers={"Cache-Control": "public, max-age=3600"})


routes = [
    Route("/api/v1/positions", positions),
    Route("/api/v1/live", live),
    Route("/api/v1/airfields", airfields),
]
