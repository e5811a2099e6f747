"""`soar db ...`: the embedded cluster and the migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from soar import db
from soar.db import embedded, migrate
from soar.errors import SoarError

db_app = typer.Typer(no_args_is_help=True, help="Database: embedded cluster and migrations.")


def _embedded_only(action: str) -> embedded.Cluster:
    if db.external_url():
        raise SoarError(f"`soar db {action}` manages the embedded cluster; unset SOAR_DATABASE_URL "
                        "(or drop --database-url) to use it")
    return embedded.default_cluster()


@db_app.command()
def start() -> None:
    """Create (first time) and start the embedded cluster under $SOAR_HOME."""
    cluster = _embedded_only("start")
    cluster.start()
    typer.echo(f"database running: {cluster.url()}")


@db_app.command()
def stop() -> None:
    """Stop the embedded cluster."""
    cluster = _embedded_only("stop")
    cluster.stop()
    typer.echo("database stopped")


@db_app.command()
def status() -> None:
    """Is the database reachable, and at which migration?"""
    url = db.admin_url()
    if not db.external_url():
        cluster = embedded.default_cluster()
        if not cluster.running():
            typer.echo(f"embedded cluster at {cluster.home}: stopped")
            raise typer.Exit(1)
    revision = migrate.current(url)
    typer.echo(f"database: {db.redact(url)}\nrevision: {revision or 'none (run `soar db upgrade`)'}")


@db_app.command()
def upgrade(revision: str = typer.Argument("head")) -> None:
    """Apply migrations up to REVISION (default: head)."""
    migrate.upgrade(db.admin_url(), revision)
    typer.echo(f"upgraded to {migrate.current(db.admin_url())}")


@db_app.command()
def downgrade(revision: str = typer.Argument("base")) -> None:
    """Revert migrations down to REVISION (default: base, an empty schema)."""
    migrate.downgrade(db.admin_url(), revision)
    typer.echo(f"downgraded to {migrate.current(db.admin_url()) or 'base'}")


@db_app.command()
def current() -> None:
    """The revision the database is at."""
    typer.echo(migrate.current(db.admin_url()) or "none (run `soar db upgrade`)")


@db_app.command()
def history() -> None:
    """Every migration, oldest first; the one the database is at is marked."""
    at = migrate.current(db.admin_url())
    for r in migrate.history():
        typer.echo(f"{'*' if r.revision == at else ' '} {r.revision}  {r.title}")


@db_app.command()
def prune(
    older_than: str = typer.Option(..., help="Drop fixes older than this: 45d, 12h, 2w."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the chunks, drop nothing."),
    archive: Optional[Path] = typer.Option(
        None, help="First write each chunk to this folder (<chunk>.fixes.zst: binary COPY, "
                   "zstd); `soar db restore-archive FILE` puts it back."),
) -> None:
    """Drop whole chunks of fixes older than the age (flights are kept)."""
    from soar.db import retention

    result = retention.prune(db.admin_url(), retention.parse_age(older_than), dry_run,
                             archive_dir=archive)
    verb = "would drop" if dry_run else "dropped"
    rows = f" ({result.fixes} fixes)" if result.fixes is not None else ""
    typer.echo(f"{verb} {len(result.chunks)} chunks of fixes older than {result.older_than}{rows}")
    for name in result.chunks:
        typer.echo(f"  {name}")
    if result.busy:
        typer.echo(f"{len(result.busy)} chunks in use, left for the next prune: "
                   f"{', '.join(result.busy)}")


@db_app.command("restore-archive")
def restore_archive(
    file: Path = typer.Argument(..., help="A <chunk>.fixes.zst that `soar db prune --archive` "
                                          "wrote."),
) -> None:
    """Put a pruned chunk's fixes back (restoring a file twice stores them twice)."""
    from soar.db import retention

    if not file.is_file():
        raise SoarError(f"{file}: no such file")
    rows = retention.restore_chunk(db.admin_url(), file)
    typer.echo(f"restored {rows} fixes from {file}")


@db_app.command()
def url(role: str = typer.Option("admin", help="admin, ingest, worker or readonly")) -> None:
    """Print the connection URL (no password) for a role."""
    typer.echo(db.redact(db.admin_url() if role == "admin" else db.role_url(role)))


@db_app.command()
def pgbouncer(
    port: int = typer.Option(6432, help="Port number of PgBouncer's unix socket."),
    stop_it: bool = typer.Option(False, "--stop", help="Stop it instead."),
) -> None:
    """Start PgBouncer (transaction pooling) in front of the embedded cluster."""
    from soar.db.pgbouncer import Bouncer

    cluster = _embedded_only("pgbouncer")
    bouncer = Bouncer(cluster, port)
    if stop_it:
        typer.echo(f"pgbouncer: {bouncer.stop()}")
        return
    if not cluster.running():
        raise SoarError("the embedded cluster is not running: `soar db start` first")
    bouncer.start()
    typer.echo(f"pgbouncer running: {bouncer.url()}\n"
               f"point soar at it with SOAR_DATABASE_URL={bouncer.url(user='soar_ingest')} (ingest)")
