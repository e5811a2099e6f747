"""`soar stats`: flight statistics from the SQL views, as tables or JSON."""

from __future__ import annotations

import json

import typer

from soar import db
from soar.products import statistics

TITLES = {"daily": "flights per day", "hourly": "flights by hour of day (UTC)",
          "durations": "flight durations (takeoff to landing)", "airports": "busiest airports",
          "runways": "busiest runways", "aircraft": "aircraft with most flight hours",
          "tow_planes": "tows per tow plane", "failures": "enrichment failures (all time)"}


def _table(rows: list[dict]) -> str:
    if not rows:
        return "  (none)"
    cols = list(rows[0])
    cells = [[("" if r[c] is None else str(r[c])) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    lines = ["  " + "  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))]
    lines += ["  " + "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def _share(part: int, whole: int) -> str:
    return f"{part}/{whole} ({100.0 * part / whole:.0f} %)" if whole else f"{part}/0"


def stats(
    days: int = typer.Option(7, min=1, help="The last N UTC days, today included."),
    top: int = typer.Option(10, min=1, help="Rows in the ranked tables."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object."),
) -> None:
    """Flights per day and hour, durations, airports, runways, aircraft, tows and
    enrichment coverage (read-only login)."""
    with db.connect(db.role_url("readonly")) as conn:
        report = statistics.report(conn, days, top)
    if as_json:
        typer.echo(json.dumps(report, default=str))
        return
    typer.echo(f"since {report['since']} ({days} days)")
    for name in statistics.SECTIONS:
        if name == "enrichment":
            e = report[name]
            typer.echo("\nenrichment coverage")
            typer.echo(f"  takeoff runway {_share(e['takeoff_runway'], e['takeoffs'])}, "
                       f"start place {_share(e['start_place'], e['flights'])}; landing runway "
                       f"{_share(e['landing_runway'], e['landings'])}, end place "
                       f"{_share(e['end_place'], e['landings'])}; pending {e['pending']}, "
                       f"failed {e['failed']}")
            continue
        typer.echo(f"\n{TITLES[name]}\n{_table(report[name])}")
