"""`soar flights list`: what the tracker and the worker made of the fixes."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Optional

import typer

from soar import db
from soar.errors import SoarError
from soar.products import export, plot
from soar.products.flights import fetch, parse_address

flights_app = typer.Typer(no_args_is_help=True, help="Flights.")


class ExportFormat(StrEnum):
    igc = "igc"
    kml = "kml"
    geojson = "geojson"


def _hhmm(value: str | None) -> str:
    return value[11:19] if value else "-"


@flights_app.command("list")
def list_(
    since: Optional[datetime] = typer.Option(None, help="Only flights started at or after (UTC)."),
    aircraft: Optional[str] = typer.Option(None, help="24-bit address in hex."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
    limit: int = typer.Option(10_000, help="At most this many flights."),
) -> None:
    """List flights: id (its first 8 digits: enough for export and plot), aircraft,
    takeoff and landing, airports, runways, launch method, places, tow."""
    rows = fetch(db.role_url("readonly"), since, parse_address(aircraft), limit)
    if as_json:
        for r in rows:
            typer.echo(json.dumps(r))
        return
    typer.echo(f"{'id':8} {'aircraft':8} {'reg':8} {'takeoff':8} {'landing':8} {'dep':8} "
               f"{'rwy':4} {'arr':8} {'rwy':4} {'launch':7} {'dur':>6}  start -> end")
    for r in rows:
        end = r["landing_time"] or (r["timed_out_at"] and "timeout")
        typer.echo(
            f"{r['id'][:8]} {r['aircraft_address']:8} "
            f"{(r['registration'] or r['callsign'] or '-'):8.8} "
            f"{_hhmm(r['takeoff_time']):8} {(_hhmm(end) if end != 'timeout' else 'timeout'):8} "
            f"{(r['departure_airport'] or '-'):8} {(r['takeoff_runway'] or '-'):4} "
            f"{(r['arrival_airport'] or '-'):8} {(r['landing_runway'] or '-'):4} "
            f"{(r['launch_method'] or '-'):7} "
            f"{(r['duration_s'] or 0) // 60:>5}m  {r['start_location'] or '-'} -> "
            f"{r['end_location'] or '-'}"
            + (f"  towed by {r['towed_by_aircraft_address']}" if r['towed_by_aircraft_address'] else ""))
    typer.echo(f"{len(rows)} flights")


@flights_app.command("export")
def export_(
    flight_id: str = typer.Argument(..., help="Flight id, or its first digits as `flights list` shows."),
    fmt: ExportFormat = typer.Option(..., "--format", help="igc, kml or geojson."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="File (default: stdout)."),
) -> None:
    """The flight's track as IGC (aerofiles), KML or GeoJSON (read-only login)."""
    data = export.export(export.load(db.role_url("readonly"), flight_id), fmt.value)
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        output.write_bytes(data)
    except OSError as exc:
        raise SoarError(f"cannot write {output}: {exc.strerror or exc}") from None
    typer.echo(f"wrote {output} ({len(data)} bytes)", err=True)


@flights_app.command("plot")
def plot_(
    flight_id: str = typer.Argument(..., help="Flight id, or its first digits as `flights list` shows."),
    output: Path = typer.Option(..., "-o", "--output", help="The PNG file to write."),
) -> None:
    """A PNG: the ground track with the airfields' runways, and the barogram with takeoff,
    tow release and landing (matplotlib: pip install 'soar\\[plot]')."""
    track = export.load(db.role_url("readonly"), flight_id, with_airports=True)
    plot.draw(track, output)
    typer.echo(f"wrote {output} ({len(track.fixes)} fixes)")
