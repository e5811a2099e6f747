"""`soar queue ...`: the enrichment queue and its dead letters."""

from __future__ import annotations

from typing import Optional

import typer

from soar import db

queue_app = typer.Typer(no_args_is_help=True, help="The flight enrichment queue.")


def _config():
    from worker.config import WorkerConfig
    return WorkerConfig.from_env()


@queue_app.command()
def status() -> None:
    """Depth, age of the oldest message, and dead letters."""
    from worker import messages

    cfg = _config()
    with db.connect(db.role_url("worker")) as conn:
        st = messages.status(conn, cfg.queue, cfg.dead_queue)
    age = f"{st.oldest_age_s:.0f} s" if st.oldest_age_s is not None else "-"
    typer.echo(f"{cfg.queue}: {st.depth} message(s), {st.visible} visible now, oldest {age}")
    typer.echo(f"{cfg.dead_queue}: {st.dead} message(s)"
               + ("  (re-enqueue with `soar queue retry-dead`)" if st.dead else ""))


@queue_app.command("retry-dead")
def retry_dead(limit: Optional[int] = typer.Option(None, "--limit", min=1,
                                                    help="At most this many.")) -> None:
    """Move dead-lettered messages back to the queue for another round of attempts."""
    from worker import messages

    cfg = _config()
    with db.connect(db.role_url("worker"), autocommit=True) as conn:
        moved = messages.retry_dead(conn, cfg.queue, cfg.dead_queue, limit)
    typer.echo(f"re-enqueued {len(moved)} message(s) from {cfg.dead_queue}")
