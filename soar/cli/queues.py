"""`soar queue ...`: the enrichment queue and its dead letters."""

from __future__ import annotations

from typing import Optional

import typer

from soar import db
from soar.errors import SoarError

queue_app = typer.Typer(no_args_is_help=True, help="The flight enrichment queue.")


def _config():
    from worker.config import WorkerConfig
    return WorkerConfig.from_env()


@queue_app.command()
def status() -> None:
    """Depth, age of the oldest message, and dead letters."""
    from worker import messages, regeocode

    cfg = _config()
    with db.connect(db.role_url("worker")) as conn:
        st = messages.status(conn, cfg.queue, cfg.dead_queue)
        fallbacks = regeocode.pending(conn)
    age = f"{st.oldest_age_s:.0f} s" if st.oldest_age_s is not None else "-"
    typer.echo(f"{cfg.queue}: {st.depth} message(s), {st.visible} visible now, oldest {age}")
    typer.echo(f"{cfg.dead_queue}: {st.dead} message(s)"
               + ("  (re-enqueue with `soar queue retry-dead`)" if st.dead else ""))
    typer.echo(f"geocoding fallbacks: {fallbacks} offline place(s) waiting for Pelias"
               + ("  (`soar queue regeocode`)" if fallbacks else ""))


@queue_app.command("retry-dead")
def retry_dead(limit: Optional[int] = typer.Option(None, "--limit", min=1,
                                                    help="At most this many.")) -> None:
    """Move dead-lettered messages back to the queue for another round of attempts."""
    from worker import messages

    cfg = _config()
    with db.connect(db.role_url("worker"), autocommit=True) as conn:
        moved = messages.retry_dead(conn, cfg.queue, cfg.dead_queue, limit)
    typer.echo(f"re-enqueued {len(moved)} message(s) from {cfg.dead_queue}")


@queue_app.command("regeocode")
def regeocode_command(
    limit: Optional[int] = typer.Option(None, "--limit", min=1,
                                        help="At most this many fallback places."),
    pelias_url: Optional[str] = typer.Option(
        None, "--pelias-url", envvar="PELIAS_URL", show_envvar=True,
        help="The Pelias server to ask."),
) -> None:
    """Replace the offline places flights got while Pelias was failing with Pelias'
    answer, and re-point those flights. The worker does this by itself too."""
    from worker import regeocode
    from worker.config import WorkerConfig
    from worker.loop import make_geocoder

    cfg = WorkerConfig.from_env(pelias_url=pelias_url)
    if not cfg.pelias_url:
        raise SoarError("re-geocoding asks Pelias: set PELIAS_URL or pass --pelias-url")
    with db.connect(db.role_url("worker"), autocommit=True) as conn:
        result = regeocode.regeocode(conn, make_geocoder(cfg), limit)
    typer.echo(f"re-geocoded {result.locations} fallback place(s) with Pelias, "
               f"{result.flight_ends} flight end(s) re-pointed; {result.left} left")
    if result.error:
        raise SoarError(f"stopped: {result.error}; run `soar queue regeocode` again when "
                        "Pelias answers (the worker also retries by itself)")
