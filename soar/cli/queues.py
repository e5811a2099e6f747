"""`soar queue ...`: the enrichment queue and its dead letters."""

from __future__ import annotations

import json
from typing import Optional

import typer

from soar import db
from soar.errors import SoarError
from soar.products import queue_health

queue_app = typer.Typer(no_args_is_help=True, help="The flight enrichment queue.")


def _config():
    from worker.config import WorkerConfig
    return WorkerConfig.from_env()


def _health():
    from worker import regeocode

    with db.connect(db.role_url("readonly")) as conn:
        return queue_health.read(conn), regeocode.pending(conn)


@queue_app.command()
def status(as_json: bool = typer.Option(False, "--json", help="One JSON object.")) -> None:
    """Depth, age of the oldest message, messages in and out per minute, dead letters."""
    cfg = _config()
    health, fallbacks = _health()
    if as_json:
        typer.echo(json.dumps({"queues": {k: v._asdict() for k, v in health.items()},
                               "geocoding_fallbacks": fallbacks}))
        return
    for q in health.values():
        age = f"{q.oldest_age_s} s" if q.oldest_age_s is not None else "-"
        hint = "  (re-enqueue with `soar queue retry-dead`)" \
            if q.queue == cfg.dead_queue and q.depth else ""
        typer.echo(f"{q.queue}: {q.depth} message(s), {q.visible} visible now, oldest {age}; "
                   f"last minute: {q.in_last_minute} in, {q.out_last_minute} out{hint}")
    typer.echo(f"geocoding fallbacks: {fallbacks} offline place(s) waiting for Pelias"
               + ("  (`soar queue regeocode`)" if fallbacks else ""))


@queue_app.command()
def check(
    max_age: Optional[float] = typer.Option(None, "--max-age", min=0,
                                            help="Fail when the oldest message is older (s)."),
    max_depth: Optional[int] = typer.Option(None, "--max-depth", min=0,
                                            help="Fail when more messages wait."),
    max_dead: Optional[int] = typer.Option(None, "--max-dead", min=0,
                                           help="Fail when more dead letters wait."),
) -> None:
    """Exit 1 with a one-line reason when a threshold is crossed, 0 otherwise: for any
    external monitor."""
    if max_age is None and max_depth is None and max_dead is None:
        raise SoarError("nothing to check: give --max-age SECONDS, --max-depth N and/or "
                        "--max-dead N")
    cfg = _config()
    health, _ = _health()
    found = queue_health.problems(health, cfg.queue, cfg.dead_queue, max_age_s=max_age,
                                  max_depth=max_depth, max_dead=max_dead)
    if found:
        typer.echo("CRITICAL: " + "; ".join(found))
        raise typer.Exit(1)
    q = health[cfg.queue]
    typer.echo(f"OK: {cfg.queue} {q.depth} message(s), oldest "
               f"{q.oldest_age_s if q.oldest_age_s is not None else '-'} s")


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
        None, "--pelias-url", envvar=["SOAR_WORKER_PELIAS_URL", "PELIAS_URL"], show_envvar=True,
        help="The Pelias server to ask."),
) -> None:
    """Replace the offline places flights got while Pelias was failing with Pelias'
    answer, and re-point those flights. The worker does this by itself too."""
    from worker import regeocode
    from worker.config import WorkerConfig
    from worker.geocode import make_geocoder

    cfg = WorkerConfig.from_env(pelias_url=pelias_url)
    if not cfg.pelias_url:
        raise SoarError("re-geocoding asks Pelias: set SOAR_WORKER_PELIAS_URL or pass --pelias-url")
    with db.connect(db.role_url("worker"), autocommit=True) as conn:
        result = regeocode.regeocode(conn, make_geocoder(cfg), limit)
    typer.echo(f"re-geocoded {result.locations} fallback place(s) with Pelias, "
               f"{result.flight_ends} flight end(s) re-pointed; {result.left} left")
    if result.error:
        raise SoarError(f"stopped: {result.error}; run `soar queue regeocode` again when "
                        "Pelias answers (the worker also retries by itself)")
