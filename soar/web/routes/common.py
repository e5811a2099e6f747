"""What the route modules share: the app's parts from the request, an airfield by its
code, a safe download name."""

from __future__ import annotations

from starlette.requests import Request

from soar.errors import SoarError
from soar.products import logbook
from soar.web import params
from soar.web.config import WebConfig
from soar.web.database import Database
from soar.web.errors import not_found


def config(request: Request) -> WebConfig:
    return request.app.state.config


def database(request: Request) -> Database:
    return request.app.state.database


def airfield(conn, code: str) -> logbook.Airfield:
    """The airfield `soar logbook CODE` would use (soar.products.logbook), or a 404."""
    try:
        return logbook.resolve_airfield(conn, params.code(code))
    except SoarError as exc:
        raise not_found(str(exc).replace("`soar import airports`", "the operator's "
                                         "`soar import airports`")) from None


def safe_filename(name: str) -> str:
    """A file name with only letters, digits, - and . (a registration is feed text)."""
    return "".join(c if c.isascii() and (c.isalnum() or c in "-.") else "_" for c in name)
