"""What every route module shares: the app's parts from the request."""

from __future__ import annotations

from starlette.requests import Request

from soar.web.config import WebConfig
from soar.web.database import Database


def config(request: Request) -> WebConfig:
    return request.app.state.config


def database(request: Request) -> Database:
    return request.app.state.database
