"""`soar web`: the live map, the pages and the JSON API (docs/api.md), read-only login."""

from __future__ import annotations

import socket
from typing import Optional

import typer

from soar.errors import SoarError

# Open SSE streams never end by themselves: at a shutdown they get this long.
GRACEFUL_SHUTDOWN_S = 2


def web(
    host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0: every "
                                                "interface; put a TLS proxy in front)."),
    port: int = typer.Option(8080, min=1, max=65535, help="TCP port."),
    window_h: float = typer.Option(24.0, "--window-h", min=0,
                                   help="Public time window in hours: nothing older is shown "
                                        "(OGN data policy); 0: no window (your own archive)."),
    tile_url: Optional[str] = typer.Option(None, "--tile-url", envvar="SOAR_WEB_TILE_URL",
                                           help="Map tiles, e.g. https://tile.example.org/"
                                                "{z}/{x}/{y}.png; default: a plain background "
                                                "with airfields."),
    tile_attribution: str = typer.Option("", "--tile-attribution",
                                         help="The tile server's required attribution."),
) -> None:
    """Serve the live map, flight and logbook pages and the API under /api/v1."""
    import uvicorn

    from soar import db
    from soar.web import WebConfig, create_app

    config = WebConfig(host=host, port=port, public_window_h=window_h or None,
                       tile_url=tile_url, tile_attribution=tile_attribution)
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        raise SoarError(f"cannot listen on {host}:{port} ({exc.strerror}): give another "
                        "--port, or stop what uses it") from None
    url = db.role_url("readonly")
    try:
        conn = db.connect(url)
    except SoarError as exc:
        # It serves while the database is down (/api/v1/health says so); the pool checks
        # the login on its first connection instead (soar.web.database).
        typer.echo(f"soar web: {exc}; serving anyway", err=True)
    else:
        with conn:
            db.check_role(conn, "readonly")
    app = create_app(config, url)
    typer.echo(f"soar web: http://{host}:{port}/ (API: /api/v1, docs/api.md)")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False,
                timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S, server_header=False)
