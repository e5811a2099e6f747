"""`soar alerts ...`: overdue alerts for search and rescue (docs/enrichment.md)."""

from __future__ import annotations

import json

import typer

from soar.errors import SoarError

alerts_app = typer.Typer(no_args_is_help=True,
                         help="Overdue alerts: flights that timed out low or descending, "
                              "with no landing seen.")


@alerts_app.command("list")
def list_command(as_json: bool = typer.Option(False, "--json",
                                              help="One JSON object per line.")) -> None:
    """The active overdue alerts (read-only login), the most recently heard first."""
    from soar import db
    from soar.products import alerts, queue_health

    with db.connect(db.role_url("readonly")) as conn:
        found = alerts.active(conn)
        failing = {n.alert_id: n for n in queue_health.undelivered(conn) if n.notice == "raised"}
    if as_json:
        for a in found:
            typer.echo(json.dumps(alerts.as_json(a), ensure_ascii=False))
        return
    if not found:
        typer.echo("no overdue alerts")
        return
    for a in found:
        typer.echo(f"alert {a.alert_id} ({a.reason}), flight {a.flight_id}, raised "
                   f"{a.raised_at:%Y-%m-%d %H:%M:%S} UTC, webhook: {a.raise_delivery}"
                   + (f" ({failing[a.alert_id].failures} failed tries, retried: "
                      f"{failing[a.alert_id].last_error})" if a.alert_id in failing else ""))
        typer.echo("  " + (a.message or "(details withheld: the aircraft is no longer "
                                         "identified)").replace("\n", "\n  "))


@alerts_app.command("clear")
def clear_command(alert_id: int = typer.Argument(..., help="The alert's id (soar alerts list).")
                  ) -> None:
    """Clear an alert by hand (the pilot called in); its `cleared` notice goes to the
    webhook like any other (worker login)."""
    from soar import db
    from soar_worker import overdue
    from soar_worker.config import WorkerConfig

    with db.connect(db.role_url("worker"), autocommit=True) as conn:
        cleared = overdue.clear_manual(conn, alert_id, WorkerConfig.from_env().queue)
    if not cleared:
        raise SoarError(f"no active overdue alert {alert_id}; see `soar alerts list`")
    typer.echo(f"alert {alert_id} cleared")
