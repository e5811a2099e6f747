"""The `soar` command: one typer app; each group of commands lives in its own module.

The commands that run a component which writes (`replay` and `run`: ingest; `worker`)
first check the component's login (soar.db.check_role): its own role, never the owner
unless `--allow-owner` says so.
"""

from __future__ import annotations

import functools
import logging
import sys
from typing import Optional

import typer

from soar import __version__
from soar.cli.alerts import alerts_app
from soar.cli.backfill import backfill_app
from soar.cli.database import db_app
from soar.cli.demo import demo
from soar.cli.flights import flights_app
from soar.cli.imports import import_app
from soar.cli.ingest import replay, run
from soar.cli.logbook import logbook
from soar.cli.pgbouncer import pgbouncer_app
from soar.cli.queues import queue_app
from soar.cli.simulate import simulate
from soar.cli.stats import stats
from soar.cli.web import web
from soar.cli.worker import worker_command
from soar.errors import SoarError, first_line


def _as_component(role: str, command):
    """`command`, run only after the login of component `role` passed check_role.
    functools.wraps keeps the signature and annotations typer reads the options from."""
    @functools.wraps(command)
    def checked(*args, **kwargs):
        from soar import db

        db.component_url(role)
        return command(*args, **kwargs)
    return checked


app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="soar: OGN and ADS-B positions into fixes and flights.")
app.add_typer(db_app, name="db")
app.add_typer(import_app, name="import")
app.add_typer(queue_app, name="queue")
app.add_typer(pgbouncer_app, name="pgbouncer")
app.add_typer(backfill_app, name="backfill")
app.command("worker")(_as_component("worker", worker_command))
app.command()(_as_component("ingest", replay))
app.command()(_as_component("ingest", run))
app.add_typer(flights_app, name="flights")
app.add_typer(alerts_app, name="alerts")
app.command()(demo)
app.command()(simulate)
app.command()(stats)
app.command()(logbook)
app.command()(web)


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
    allow_owner: bool = typer.Option(
        False, "--allow-owner", envvar="SOAR_ALLOW_OWNER", show_envvar=True,
        help="Let ingest (replay, run) and the worker log in as the owner or a superuser "
             "(a warning is logged); without it they need their own role's login "
             "(SOAR_INGEST_DATABASE_URL, SOAR_WORKER_DATABASE_URL)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    from soar import db

    db.set_database_url(database_url)
    db.set_allow_owner(allow_owner)
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
    except Exception as exc:
        # Looked up, not imported: a command that never loaded psycopg cannot have
        # raised one of its errors.
        psycopg = sys.modules.get("psycopg")
        if psycopg is None or not isinstance(exc, psycopg.Error):
            raise
        # Unexpected, but still one line: the server's message names the problem.
        print(f"soar: database error: {first_line(exc)} (run with --verbose for details)",
              file=sys.stderr)
        if logging.getLogger().isEnabledFor(logging.DEBUG):
            raise
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
