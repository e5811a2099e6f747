"""The pages: HTML assembled from soar/web/templates and scripts from soar/web/static
(no build step, nothing from the internet). Every page is `templates/page.html` (the
head, the stylesheets, common.js) around its own body (`templates/<name>.html`) and its
script (`static/<name>.js`), assembled once from fixed files. The server renders no feed
text into HTML: the scripts read the API and set text with textContent, so a
registration `<script>` stays text."""

from __future__ import annotations

from pathlib import Path
from string import Template

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent.parent / "static"
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
_LEAFLET_CSS = '<link rel="stylesheet" href="/static/vendor/leaflet/leaflet.css">\n'
_LEAFLET_JS = '<script src="/static/vendor/leaflet/leaflet.js"></script>\n'


def page(name: str, title: str, *, leaflet: bool = False) -> str:
    """The page `name`: its body and script in the common frame; `leaflet`: it draws
    a map (the vendored Leaflet's stylesheet and script)."""
    frame = Template((TEMPLATES / "page.html").read_text(encoding="utf-8"))
    return frame.substitute(
        title=title, body=(TEMPLATES / f"{name}.html").read_text(encoding="utf-8"),
        script=f"{name}.js", styles=_LEAFLET_CSS if leaflet else "",
        scripts=_LEAFLET_JS if leaflet else "")


def _page(name: str, title: str, *, leaflet: bool = False):
    html = page(name, title, leaflet=leaflet)

    def endpoint(request: Request) -> HTMLResponse:
        return HTMLResponse(html, headers={"Cache-Control": "no-cache"})
    return endpoint


routes = [
    Route("/", _page("map", "soar: live map", leaflet=True)),
    Route("/flights/{flight_id}", _page("flight", "soar: flight", leaflet=True)),
    Route("/airfields/{code}/logbook", _page("logbook", "soar: logbook")),
    Route("/receivers", _page("table", "soar")),
    Route("/stats", _page("table", "soar")),
    Mount("/static", StaticFiles(directory=STATIC), name="static"),
]
