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


@dataclass(frozen=True)
class Preload:
    rows: int = 20_000_000      # fixes in the template before any run
    days: int = 20              # one-day chunks they fill, the days before the load


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
        with psycopg.connect(url, autocommit=True) as c:
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
        with psycopg.connect(cluster.url(), autocommit=True) as c:
            c.execute(sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false")
                      .format(sql.Identifier(TEMPLATE)))
            # The scheduler TimescaleDB started for it while it was being made.
            c.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = %s AND pid <> pg_backend_pid()", (TEMPLATE,))

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
