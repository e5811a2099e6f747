"""The `soar` command: one typer app; each group of commands lives in its own module."""

from __future__ import annotations

import logging
import sys
from typing import Optional

import psycopg
import typer

from soar import __version__, db
from soar.cli.database import db_app
from soar.cli.demo import demo
from soar.cli.flights import flights_app
from soar.cli.imports import import_app
from soar.cli.ingest import replay, run
from soar.cli.queues import queue_app
from soar.cli.workers import worker_command
from soar.errors import SoarError, first_line

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="soar: OGN and ADS-B positions into fixes and flights.")
app.add_typer(db_app, name="db")
app.add_typer(import_app, name="import")
app.add_typer(queue_app, name="queue")
app.command("worker")(worker_command)
app.command()(replay)
app.command()(run)
app.add_typer(flights_app, name="flights")
app.command()(demo)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"soar {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Optional[bool] = typer.Option(None, "--version", callback=_version, is_eager=True,
                                           help="Print the version and exit."),
    database_url: Optional[str] = typer.Option(
        None, "--database-url", envvar="SOAR_DATABASE_URL", show_envvar=True,
        help="PostgreSQL URL; default: the embedded cluster under $SOAR_HOME."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    db.set_database_url(database_url)
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not verbose:   # each migration's docstring, line by line, is noise to an operator
        logging.getLogger("alembic").setLevel(logging.WARNING)


def main() -> None:
    try:
        app()
    except SoarError as exc:
        print(f"soar: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except psycopg.Error as exc:
        # Unexpected, but still one line: the server's message names the problem.
        print(f"soar: database error: {first_line(exc)} (run with --verbose for details)",
              file=sys.stderr)
        if logging.getLogger().isEnabledFor(logging.DEBUG):
            raise
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
