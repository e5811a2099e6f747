"""The ASGI app: routes by subject (soar/web/routes), the read-only pool and the live
feed opened and closed with the app, JSON errors, and the headers every answer carries
(Content-Security-Policy: scripts, styles, data only from this server; tiles from the
operator's tile server when one is set)."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from soar.web.cache import Refreshing
from soar.web.config import WebConfig
from soar.web.database import Database
from soar.web.encoding import JSON
from soar.web.errors import ApiError
from soar.web.live import LiveFeed
from soar.web.reader import ReaderProcess
from soar.web.routes import flights, logbook, pages, positions, status

log = logging.getLogger("soar.web")


def content_security_policy(config: WebConfig) -> str:
    img = "'self' data:"
    if config.tile_url:
        parts = urlsplit(config.tile_url.replace("{s}", "a"))
        host = parts.netloc.replace("a.", "*.", 1) if "{s}" in config.tile_url else parts.netloc
        img += f" {parts.scheme}://{host}"
    return (f"default-src 'none'; script-src 'self'; style-src 'self'; img-src {img}; "
            "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


class SecurityHeaders:
    """Adds the security headers to every response (pure ASGI: streams untouched)."""

    def __init__(self, app: ASGIApp, config: WebConfig):
        self.app = app
        self.headers = [
            (b"content-security-policy", content_security_policy(config).encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-frame-options", b"DENY"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.headers]
            await send(message)
        await self.app(scope, receive, with_headers)


async def _api_error(request: Request, exc: ApiError) -> JSON:
    return JSON({"error": exc.message}, status_code=exc.status,
                headers={"Cache-Control": "no-store", **exc.headers})


async def _http_error(request: Request, exc: HTTPException) -> JSON:
    message = {404: f"no route {request.url.path[:100]!r}: see docs/api.md for the routes",
               405: f"{request.method} is not allowed here: the API only reads (GET)"}
    return JSON({"error": message.get(exc.status_code, exc.detail)}, status_code=exc.status_code,
                headers={"Cache-Control": "no-store"})


async def _unexpected(request: Request, exc: Exception) -> JSON:
    log.exception("unexpected error on %s", request.url.path)
    return JSON({"error": "internal error: see the server log"}, status_code=500)


def create_app(config: WebConfig, url: str) -> ASGIApp:
    """The app reading through the read-only login `url`, inside SecurityHeaders (outside
    Starlette's error middleware, so even a 500 carries the headers)."""
    database = Database(url, config)

    @asynccontextmanager
    async def lifespan(app: Starlette):
        database.open()
        app.state.live = LiveFeed(ReaderProcess(url, config), config)
        app.state.live.start()
        try:
            yield
        finally:
            await app.state.live.stop()
            database.close()

    app = Starlette(
        routes=[*positions.routes, *flights.routes, *logbook.routes, *status.routes,
                *pages.routes],
        exception_handlers={ApiError: _api_error, HTTPException: _http_error,
                            Exception: _unexpected},
        lifespan=lifespan)
    app.state.config = config
    app.state.database = database
    app.state.stats_cache = Refreshing("statistics", config.stats_cache_s)
    app.state.receivers_cache = Refreshing("fixes per receiver", config.receivers_cache_s,
                                           entries=1)
    return SecurityHeaders(app, config)
