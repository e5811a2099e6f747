"""The pages: static HTML and scripts from soar/web/static (no build step, nothing from
the internet). The server renders no feed text into HTML: the scripts read the API and
set text with textContent, so a registration `<script>` stays text."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent.parent / "static"


def _page(name: str):
    def endpoint(request: Request) -> FileResponse:
        return FileResponse(STATIC / name, media_type="text/html; charset=utf-8",
                            headers={"Cache-Control": "no-cache"})
    return endpoint


routes = [
    Route("/", _page("map.html")),
    Route("/flights/{flight_id}", _page("flight.html")),
    Route("/airfields/{code}/logbook", _page("logbook.html")),
    Route("/receivers", _page("table.html")),
    Route("/stats", _page("table.html")),
    Mount("/static", StaticFiles(directory=STATIC), name="static"),
]
