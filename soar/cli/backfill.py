"""`soar backfill ...`: idempotent, resumable repairs over a range of flights."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Optional

import typer

from soar.errors import SoarError
from soar.units import UTC

if TYPE_CHECKING:
    from rich.progress import Progress

backfill_app = typer.Typer(no_args_is_help=True,
                           help="Repairs over a range of flights: idempotent and resumable.")


def _utc(value: Optional[datetime], default: datetime) -> datetime:
    if value is None:
        return default
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _progress(what: str) -> Progress:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn(what), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    transient=True)


@backfill_app.command("enrichment")
def enrichment_command(
    since: Optional[datetime] = typer.Option(None, help="Flights started at or after (UTC)."),
    until: Optional[datetime] = typer.Option(None, help="Flights started before (UTC) [now]."),
    missing: str = typer.Option("any", help="runway, location or any (failed and lost ends "
                                            "are always taken)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Count, change nothing."),
) -> None:
    """Re-enqueue flight ends whose enrichment failed, was lost or lacks a runway/place."""
    from soar import db
    from soar.backfill import enrichment

    if missing not in enrichment.MISSING:
        raise SoarError(f"--missing {missing!r}: use one of {', '.join(enrichment.MISSING)}")
    start = _utc(since, datetime(1970, 1, 1, tzinfo=UTC))
    end = _utc(until, datetime.now(UTC))
    if end <= start:
        raise SoarError("--until must be after --since")
    with db.connect(db.role_url("worker")) as conn:
        total = enrichment.count(conn, start, end)
        with _progress("flights") as bar:
            task = bar.add_task("flights", total=total)
            result = enrichment.run(conn, start, end, missing, dry_run=dry_run,
                                    progress=lambda n: bar.advance(task, n))
    verb = "would enqueue" if dry_run else "enqueued"
    events = ", ".join(f"{k} {v}" for k, v in sorted(result.by_event.items())) or "nothing"
    typer.echo(f"{result.flights} flights looked at; {verb} {result.enqueued} message(s) "
               f"({events}); {result.dead_archived} dead letter(s) replaced")


@backfill_app.command("flights")
def flights_command(
    since: datetime = typer.Option(..., "--from", help="Flights started at or after (UTC)."),
    until: datetime = typer.Option(..., "--to", help="Flights started before (UTC)."),
    aircraft: Optional[list[str]] = typer.Option(
        None, "--aircraft", help="Only this address (hex, e.g. DDEFF7); repeatable."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Count, change nothing."),
) -> None:
    """Rebuild the range's flights from the stored fixes with the tracker, replacing
    those that differ, and re-point the fixes (owner login)."""
    from rich.progress import MofNCompleteColumn, Progress, TextColumn

    from soar import db
    from soar.backfill import flights
    from soar.products.flights import parse_address
    from soar.records import aircraft_id

    start, end = _utc(since, since), _utc(until, until)
    if end <= start:
        raise SoarError("--to must be after --from")
    ids = None
    if aircraft:
        # Every address type the address may have been heard with (FLARM, ICAO, OGN...).
        ids = sorted({aircraft_id(kind, parse_address(a)) for a in aircraft for kind in range(4)})
    with db.connect(db.admin_url()) as conn, Progress(
            TextColumn("{task.description}"), MofNCompleteColumn(), transient=True) as bar:
        tasks: dict[str, int] = {}

        def step(what: str, n: int) -> None:
            if what not in tasks:
                tasks[what] = bar.add_task(f"{what}", total=None)
            bar.advance(tasks[what], n)

        result = flights.rebuild(conn, start, end, aircraft=ids, dry_run=dry_run, progress=step)
    typer.echo(f"{result.fixes_read} fixes read; {result.flights_found} flights found: "
               f"{result.unchanged} unchanged, {result.rewritten} rewritten, "
               f"{result.deleted} deleted; {result.fixes_repointed} fixes re-pointed"
               + (" (dry run: nothing written)" if dry_run else ""))
