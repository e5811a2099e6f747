"""`soar queue ...`: the enrichment queue and its dead letters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from soar import db
from soar.errors import SoarError
from soar.products import queue_health

queue_app = typer.Typer(no_args_is_help=True, help="The flight enrichment queue.")


def _config():
    from soar_worker.config import WorkerConfig
    return WorkerConfig.from_env()


def _health():
    from soar_worker import regeocode

    with db.connect(db.role_url("readonly")) as conn:
        return queue_health.read(conn), regeocode.pending(conn), queue_health.undelivered(conn)


@queue_app.command()
def status(as_json: bool = typer.Option(False, "--json", help="One JSON object.")) -> None:
    """Depth, age of the oldest message, messages in and out per minute, dead letters."""
    cfg = _config()
    health, fallbacks, notices = _health()
    if as_json:
        typer.echo(json.dumps({"queues": {k: v._asdict() for k, v in health.items()},
                               "geocoding_fallbacks": fallbacks,
                               "undelivered_notices": [n._asdict() for n in notices]}))
        return
    for q in health.values():
        age = f"{q.oldest_age_s} s" if q.oldest_age_s is not None else "-"
        hint = "  (re-enqueue with `soar queue retry-dead`)" \
            if q.queue == cfg.dead_queue and q.depth else ""
        typer.echo(f"{q.queue}: {q.depth} message(s), {q.visible} visible now, oldest {age}; "
                   f"last minute: {q.in_last_minute} in, {q.out_last_minute} out{hint}")
    typer.echo(f"geocoding fallbacks: {fallbacks} offline place(s) waiting for Pelias"
               + ("  (`soar queue regeocode`)" if fallbacks else ""))
    for n in notices:
        typer.echo(f"alert {n.alert_id} {n.notice} notice not delivered, {n.failures} failed "
                   f"tries, retried: {n.last_error}")


@queue_app.command()
def check(
    max_age: Optional[float] = typer.Option(None, "--max-age", min=0,
                                            help="Fail when the oldest message is older (s)."),
    max_depth: Optional[int] = typer.Option(None, "--max-depth", min=0,
                                            help="Fail when more messages wait."),
    max_dead: Optional[int] = typer.Option(None, "--max-dead", min=0,
                                           help="Fail when more dead letters wait."),
    overflow_max_bytes: Optional[str] = typer.Option(
        None, help="Ingest: fail when a disk buffer holds more (e.g. 500M): ingest is not "
                   "catching up. Reads the files, needs no database."),
    overflow_max_age: Optional[float] = typer.Option(
        None, min=0, help="Ingest: fail when a disk buffer's oldest message is older (s)."),
    overflow_dir: Optional[Path] = typer.Option(
        None, envvar="SOAR_OVERFLOW_DIR", show_envvar=True,
        help="The disk buffers' root (`soar run --overflow-dir`); default $SOAR_HOME/overflow."),
) -> None:
    """Exit 1 with a one-line reason when a threshold is crossed, 0 otherwise: for any
    external monitor. The --overflow-* checks read ingest's disk buffer instead."""
    ingest_side = overflow_max_bytes is not None or overflow_max_age is not None
    if max_age is None and max_depth is None and max_dead is None and not ingest_side:
        raise SoarError("nothing to check: give --max-age SECONDS, --max-depth N, --max-dead N "
                        "and/or --overflow-max-bytes SIZE, --overflow-max-age SECONDS")
    found = []
    if ingest_side:
        from soar.cli.ingest import _size
        from soar.ingest import overflow
        from soar.ingest.app import default_overflow_dir
        found = overflow.problems(
            overflow_dir or default_overflow_dir(), max_age_s=overflow_max_age,
            max_bytes=None if overflow_max_bytes is None
            else _size(overflow_max_bytes, "--overflow-max-bytes"))
        if max_age is None and max_depth is None and max_dead is None:
            if found:
                typer.echo("CRITICAL: " + "; ".join(found))
                raise typer.Exit(1)
            typer.echo("OK: disk buffers within their limits")
            return
    cfg = _config()
    health, _, notices = _health()
    found = queue_health.problems(health, cfg.queue, cfg.dead_queue, max_age_s=max_age,
                                  max_depth=max_depth, max_dead=max_dead,
                                  notices=notices) + found
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
    from soar_worker import messages

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
    from soar_worker import regeocode
    from soar_worker.config import WorkerConfig
    from soar_worker.geocode import make_geocoder

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
