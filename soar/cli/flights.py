"""`soar flights list`: what the tracker and the worker made of the fixes."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Optional

import typer

from soar import db
from soar.products.flights import fetch, parse_address

flights_app = typer.Typer(no_args_is_help=True, help="Flights.")


def _hhmm(value: str | None) -> str:
    return value[11:19] if value else "-"


@flights_app.command("list")
def list_(
    since: Optional[datetime] = typer.Option(None, help="Only flights started at or after (UTC)."),
    aircraft: Optional[str] = typer.Option(None, help="24-bit address in hex."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
    limit: int = typer.Option(10_000, help="At most this many flights."),
) -> None:
    """List flights: aircraft, takeoff and landing, airports, runways, places, tow."""
    rows = fetch(db.role_url("readonly"), since, parse_address(aircraft), limit)
    if as_json:
        for r in rows:
            typer.echo(json.dumps(r))
        return
    typer.echo(f"{'aircraft':8} {'reg':8} {'takeoff':8} {'landing':8} {'dep':8} {'rwy':4} "
               f"{'arr':8} {'rwy':4} {'dur':>6}  start -> end")
    for r in rows:
        end = r["landing_time"] or (r["timed_out_at"] and "timeout")
        typer.echo(
            f"{r['aircraft_address']:8} {(r['registration'] or r['callsign'] or '-'):8.8} "
            f"{_hhmm(r['takeoff_time']):8} {(_hhmm(end) if end != 'timeout' else 'timeout'):8} "
            f"{(r['departure_airport'] or '-'):8} {(r['takeoff_runway'] or '-'):4} "
            f"{(r['arrival_airport'] or '-'):8} {(r['landing_runway'] or '-'):4} "
            f"{(r['duration_s'] or 0) // 60:>5}m  {r['start_location'] or '-'} -> "
            f"{r['end_location'] or '-'}"
            + (f"  towed by {r['towed_by_aircraft_address']}" if r['towed_by_aircraft_address'] else ""))
    typer.echo(f"{len(rows)} flights")
