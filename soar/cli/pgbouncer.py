"""`soar pgbouncer ...`: set PgBouncer up per environment; read its pools."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer

from soar.db import pgbouncer_setup, pgbouncer_stats
from soar.errors import SoarError

pgbouncer_app = typer.Typer(no_args_is_help=True,
                            help="PgBouncer: per-environment setup, pool statistics.")


@pgbouncer_app.command()
def setup(
    env: str = typer.Argument(..., help="production (port 6432) or staging (port 6433)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print every file, write nothing."),
    prefix: Path = typer.Option(Path("/"), help="Write under this root instead of /."),
    port: int = typer.Option(None, help="Listen on this port instead of the environment's."),
) -> None:
    """Write pgbouncer-ENV.ini, its SCRAM userlist and a systemd unit (idempotent)."""
    plan = pgbouncer_setup.plan(env, prefix, port=port)
    if dry_run:
        for path, text in plan.shown.items():
            typer.echo(f"=== {path} (mode {plan.modes[path]:04o})\n{text}")
        return
    for path, what in pgbouncer_setup.apply(plan):
        typer.echo(f"{what:9} {path}")
    if prefix == Path("/"):
        typer.echo(f"next: systemctl daemon-reload && systemctl enable --now pgbouncer-{env}"
                   f" (a running one: systemctl reload pgbouncer-{env})")


@pgbouncer_app.command()
def stats(
    url: str = typer.Option(None, help="A stats_users login on PgBouncer "
                            "[default: SOAR_READONLY_DATABASE_URL]"),
    as_json: bool = typer.Option(False, "--json", help="One JSON object."),
) -> None:
    """Pool use (clients active/waiting, servers) and client wait time per database."""
    url = url or os.environ.get("SOAR_READONLY_DATABASE_URL")
    if not url:
        raise SoarError("no PgBouncer URL: pass --url or set SOAR_READONLY_DATABASE_URL to the "
                        "read-only login through PgBouncer")
    pools, dbs = pgbouncer_stats.read(url)
    if as_json:
        typer.echo(json.dumps({"pools": [p._asdict() for p in pools],
                               "databases": [d._asdict() for d in dbs]}))
        return
    typer.echo(f"{'database':16} {'user':16} {'cl_active':>9} {'cl_wait':>7} {'sv_active':>9} "
               f"{'sv_idle':>7} {'sv_used':>7} {'max_wait_s':>10}")
    for p in pools:
        typer.echo(f"{p.database:16} {p.user:16} {p.clients_active:9} {p.clients_waiting:7} "
                   f"{p.servers_active:9} {p.servers_idle:7} {p.servers_used:7} "
                   f"{p.max_wait_s:10.3f}")
    typer.echo(f"\n{'database':16} {'xacts':>10} {'queries':>10} {'wait_total_s':>12} "
               f"{'wait_avg_ms':>11} {'xact_avg_ms':>11} {'query_avg_ms':>12}")
    for d in dbs:
        typer.echo(f"{d.database:16} {d.transactions:10} {d.queries:10} {d.wait_total_s:12.3f} "
                   f"{d.wait_avg_ms:11.3f} {d.transaction_avg_ms:11.3f} {d.query_avg_ms:12.3f}")
