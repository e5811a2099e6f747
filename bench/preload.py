"""The incident benchmark's database: an embedded cluster whose template database
holds what production had when the incident happened, made once and kept.

The rule: every run starts from the same state, a large fixes hypertable (by
default 20 million rows over 20 one-day chunks, the days before the load starts)
with TimescaleDB's background workers on, so that runway detection and the old
design's completion reads run over a hypertable of production's shape, not over
the few hundred thousand rows a run writes itself.

- The preload is generated in the server (`INSERT ... SELECT FROM generate_series`,
  one statement per day, so one chunk at a time; the index built after): the
  simulated aircraft's ids in
  turn (their index entries are the ones the runs' queries walk), positions and
  speeds varied, a fix every `86,400 / rows-per-day` s per day.
- Optionally `flights` too (`bench/web.py`: a million): landed flights on real
  airfields, each aircraft's in turn over the same days, so that each spans some of its
  preloaded fixes; the aircraft rows they need; written with triggers off (no
  enrichment messages: a backlog of a million is not production's shape).
- Kept under the results folder in `db-<key>/`, the key a hash of the preload's
  parameters, the aircraft ids and the migrations (`alembic/sql.sha256`, the
  revisions), so a change to any of them makes a new one (and the old folder is
  removed: each holds gigabytes). A `ready` file marks a finished template.
- The template is not connectable (`ALLOW_CONNECTIONS false`), so TimescaleDB's
  scheduler never holds it open and it can be cloned with its workers on. A run gets
  `CREATE DATABASE ... TEMPLATE ... STRATEGY FILE_COPY` (a file copy, not gigabytes of
  WAL) and then its scheduler started (`_timescaledb_functions.start_background_workers`),
  and is dropped after the run.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
from psycopg import sql

from soar.db import embedded, migrate
from soar.reference import airports, places

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = "incident_template"

PRELOAD_DAY = """
INSERT INTO fixes (time, received_at, aircraft_id, receiver_id, source, latitude, longitude,
                   altitude_m, ground_speed_kmh, track_deg, climb_rate_ms, on_ground, signal_db)
SELECT t, t + interval '1 second', ids[1 + g %% n], NULL, 1,
       44.0 + (g %% 1201) * 0.01, -4.0 + (g %% 2399) * 0.01,
       300 + g %% 2000, 60 + g %% 150, g %% 360, (g %% 7) - 3, false, -10 - g %% 20
  FROM (SELECT g, %(day)s::timestamptz + g * %(step_s)s * interval '1 second' AS t
          FROM generate_series(0, %(rows)s - 1) g) s,
       (SELECT %(ids)s::bigint[] AS ids, cardinality(%(ids)s::bigint[]) AS n) a
"""


# Landed flights over the preload's days: flight f is aircraft ids[1 + f % n]'s
# (f / n)-th, in its own slot of the timeline (`slot_s`), half of it in the air; on
# one of the German and French airfields in turn (the logbook's and the flights list's
# airfield filter read them).
PRELOAD_FLIGHTS = """
WITH fields AS (
    SELECT row_number() OVER (ORDER BY id) - 1 AS k, id, latitude_deg, longitude_deg
      FROM airports
     WHERE type IN ('small_airport', 'medium_airport') AND iso_country IN ('DE', 'FR')),
     nf AS (SELECT count(*) AS n FROM fields)
INSERT INTO flights (id, aircraft_id, source, started_at, takeoff_time, takeoff_latitude,
                     takeoff_longitude, landing_time, landing_latitude, landing_longitude,
                     last_fix_at, last_latitude, last_longitude, departure_airport_id,
                     arrival_airport_id, end_reason, takeoff_enrichment, landing_enrichment)
SELECT gen_random_uuid(), ids[1 + g %% n], 1, t, t, fl.latitude_deg, fl.longitude_deg,
       t + d, fl.latitude_deg, fl.longitude_deg, t + d, fl.latitude_deg, fl.longitude_deg,
       fl.id, fl.id, 'landing', 'done', 'done'
  FROM (SELECT %(ids)s::bigint[] AS ids, cardinality(%(ids)s::bigint[]) AS n) a,
       generate_series(0, %(flights)s - 1) g
       CROSS JOIN LATERAL (
           SELECT %(first)s::timestamptz + (g / n) * %(slot_s)s * interval '1 second' AS t,
                  %(slot_s)s * 0.5 * interval '1 second' AS d) x
       JOIN fields fl ON fl.k = g %% (SELECT n FROM nf)
"""


@dataclass(frozen=True)
class Preload:
    rows: int = 20_000_000      # fixes in the template before any run
    days: int = 20              # one-day chunks they fill, the days before the load
    flights: int = 0            # landed flights over the same days (bench/web.py)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _key(preload: Preload, aircraft_ids: list[int], end: datetime) -> str:
    h = hashlib.sha256(repr((preload, end.isoformat(), sorted(aircraft_ids))).encode())
    h.update((ROOT / "alembic" / "sql.sha256").read_bytes())
    for f in sorted((ROOT / "alembic" / "versions").glob("*.py")):
        h.update(f.name.encode())
    return h.hexdigest()[:12]


class BenchDatabase:
    """The cached cluster and its template; `clone`/`drop` a database per run."""

    def __init__(self, out: Path, preload: Preload, aircraft_ids: list[int], end: datetime):
        self.preload, self.aircraft_ids, self.end = preload, aircraft_ids, end
        key = _key(preload, aircraft_ids, end)
        self.home = out / f"db-{key}"
        for old in out.glob("db-*"):
            if old != self.home:
                print(f"database: removing {old} (other parameters)", file=sys.stderr)
                shutil.rmtree(old, ignore_errors=True)
        self.cluster: embedded.Cluster | None = None
        self.prepare_s = 0.0
        self.reused = False

    def start(self) -> embedded.Cluster:
        fresh = not (self.home / "ready").exists()
        if fresh:
            shutil.rmtree(self.home, ignore_errors=True)
        self.home.mkdir(parents=True, exist_ok=True)
        os.chmod(self.home, 0o755)   # the server runs as `postgres` when run as root
        port = _free_port()
        cluster = embedded.Cluster(home=self.home, port=port)
        if cluster.initialized():
            # A kept cluster: on a port free now (the last line of the file wins).
            with open(cluster.datadir / "postgresql.auto.conf", "a") as f:
                f.write(f"port = {port}\n")
        cluster.start()
        self.cluster = cluster
        t0 = time.monotonic()
        if fresh:
            self._prepare_template()
            (self.home / "ready").write_text(f"{self.preload}\n", encoding="utf-8")
        else:
            self.reused = True
            print(f"database: reusing {self.home}", file=sys.stderr)
        self.prepare_s = time.monotonic() - t0
        return cluster

    def stop(self) -> None:
        if self.cluster is not None:
            self.cluster.stop()

    def _prepare_template(self) -> None:
        cluster = self.cluster
        t0 = time.monotonic()
        with psycopg.connect(cluster.url(), autocommit=True) as c:
            c.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(TEMPLATE)))
            c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEMPLATE)))
        url = cluster.url(TEMPLATE)
        migrate.upgrade(url)
        with psycopg.connect(url) as c:
            airports.import_airports(c, *airports.default_sources())
            places.import_places(c, places.default_source())
        print(f"database: template migrated in {time.monotonic() - t0:.1f} s", file=sys.stderr)
        t1 = time.monotonic()
        per_day = self.preload.rows // self.preload.days
        first_day = (self.end.replace(hour=0, minute=0, second=0, microsecond=0)
                     - timedelta(days=self.preload.days))
        # Never prepared: psycopg prepares a statement from its 6th execution, the
        # server then plans it once for any parameters, and that generic plan casts the
        # ids array per row (perf: array_map), O(aircraft) per row. With 20,000 aircraft
        # the 11th day's INSERT ran for minutes where each of the first ten took seconds.
        with psycopg.connect(url, autocommit=True, prepare_threshold=None) as c:
            # The one index built once after the rows, not maintained row by row; the
            # same name and definition as the migration's (sql/schema/016_fixes.sql).
            index = c.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'fixes' "
                              "AND indexname = 'fixes_aircraft_time_idx'").fetchone()[0]
            c.execute("DROP INDEX fixes_aircraft_time_idx")
            for d in range(self.preload.days):
                c.execute(PRELOAD_DAY, {"day": first_day + timedelta(days=d),
                                        "step_s": 86_400.0 / per_day, "rows": per_day,
                                        "ids": self.aircraft_ids})
            c.execute(index)
            c.execute("VACUUM ANALYZE fixes")
            chunks = c.execute("SELECT count(*) FROM timescaledb_information.chunks "
                               "WHERE hypertable_name = 'fixes'").fetchone()[0]
        print(f"database: {per_day * self.preload.days:,} fixes preloaded over {chunks} chunks "
              f"in {time.monotonic() - t1:.1f} s", file=sys.stderr)
        if self.preload.flights:
            self._preload_flights(url, first_day)
        with psycopg.connect(cluster.url(), autocommit=True) as c:
            c.execute(sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false")
                      .format(sql.Identifier(TEMPLATE)))
            # The scheduler TimescaleDB started for it while it was being made.
            c.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = %s AND pid <> pg_backend_pid()", (TEMPLATE,))

    def _preload_flights(self, url: str, first_day: datetime) -> None:
        t0 = time.monotonic()
        n = len(self.aircraft_ids)
        slot_s = self.preload.days * 86_400.0 / -(-self.preload.flights // n)
        with psycopg.connect(url, autocommit=True) as c:
            # Triggers off: no enrichment message per flight (and no foreign-key checks:
            # the aircraft rows are written first).
            c.execute("SET session_replication_role = replica")
            c.execute("""INSERT INTO aircraft (id, address, address_type, aircraft_type,
                                               registration, first_seen, last_seen)
                         SELECT id, id & 16777215, id >> 24, 1 + id %% 9,
                                'D-' || (id & 16777215), %(first)s, %(last)s
                           FROM unnest(%(ids)s::bigint[]) id
                         ON CONFLICT (id) DO NOTHING""",
                      {"ids": self.aircraft_ids, "first": first_day, "last": self.end})
            c.execute(PRELOAD_FLIGHTS, {"ids": self.aircraft_ids, "flights": self.preload.flights,
                                        "first": first_day, "slot_s": slot_s})
            c.execute("VACUUM ANALYZE flights")
            c.execute("VACUUM ANALYZE aircraft")
        print(f"database: {self.preload.flights:,} flights preloaded in "
              f"{time.monotonic() - t0:.1f} s", file=sys.stderr)

    def clone(self, name: str) -> None:
        cluster = self.cluster
        with psycopg.connect(cluster.url(), autocommit=True) as c:
            c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            create = sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
                sql.Identifier(name), sql.Identifier(TEMPLATE))
            for attempt in range(50):
                try:
                    c.execute(create)
                    break
                except psycopg.errors.ObjectInUse:
                    # A backend leaving the template (terminated above) can take a moment.
                    if attempt == 49:
                        raise
                    time.sleep(0.2)
        with psycopg.connect(cluster.url(name), autocommit=True) as c:
            # The new database's TimescaleDB scheduler, now rather than at the
            # launcher's next poll.
            c.execute("SELECT _timescaledb_functions.start_background_workers()")

    def drop(self, name: str) -> None:
        with psycopg.connect(self.cluster.url(), autocommit=True) as c:
            c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def background_workers(self, name: str) -> int:
        """TimescaleDB background workers connected to the run's database now."""
        with psycopg.connect(self.cluster.url(), autocommit=True) as c:
            return c.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                             "AND backend_type NOT IN ('client backend')", (name,)).fetchone()[0]
