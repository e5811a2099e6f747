"""`soar logbook AIRFIELD`: the airfield's flights of a day (or days), as a table, CSV
or JSON lines (read-only login)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Optional

import typer

from soar import db
from soar.products import logbook as products


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def logbook(
    airfield: str = typer.Argument(..., help="OurAirports ident or ICAO code, e.g. LFPG, DE-0066."),
    date: Optional[datetime] = typer.Option(
        None, "--date", formats=["%Y-%m-%d"], help="The day (default: today in --tz)."),
    to: Optional[datetime] = typer.Option(
        None, "--to", formats=["%Y-%m-%d"], help="Last day, inclusive (default: --date)."),
    tz: str = typer.Option("UTC", "--tz", help="Time zone of the days and times, e.g. Europe/Berlin."),
    fmt: Format = typer.Option(Format.table, "--format", help="table, csv (header line) or json "
                                                              "(one object per line)."),
) -> None:
    """One row per flight that took off or landed at AIRFIELD: times, runways, aircraft,
    launch method, tow plane and release height, duration, the other end."""
    zone = products.zone(tz)
    first = date.date() if date else datetime.now(zone).date()
    last = to.date() if to else first
    field, rows = products.fetch(db.role_url("readonly"), airfield, first, last, zone)
    if fmt is Format.csv:
        typer.echo(products.to_csv(rows), nl=False)
    elif fmt is Format.json:
        typer.echo(products.to_json_lines(rows), nl=False)
    else:
        typer.echo(products.to_table(field, rows, first, last, zone), nl=False)
