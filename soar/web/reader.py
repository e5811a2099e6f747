"""The live positions' reads, in a process of their own: the query of every live
aircraft, the comparison with the previous read, and the JSON of what changed
(soar.web.live's Differ), 2-4 times a second while the map is watched. The API's
process only schedules them and fans the changes out (soar.web.live.LiveFeed).

Why a process: in the API's process these reads held the GIL for tens of
milliseconds at a time (the rows made into dicts, 1,450 positions encoded), and every
route's answer, whose own Python waits for the GIL between its database calls, waited
behind them: the highest route p99 of bench/web.py went from 48-50 ms to 28-34 ms once
they moved here (docs/benchmarks.md, "The live reads' own process").

The child is spawned (not forked: the parent has threads and a connection pool), reads
through a pool of its own with the same read-only login, ignores SIGINT and SIGTERM
(the parent stops it when it stops), and is started again after it dies: the read that found it
dead fails like a database error (an ApiError, counted by the feed), and the next one
starts a new process whose first read sends every position in full."""

from __future__ import annotations

import asyncio
import dataclasses
import multiprocessing
import signal
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import timedelta

from soar.db.sqlfiles import queries
from soar.web import params
from soar.web.aircraft import position
from soar.web.config import WebConfig
from soar.web.database import Database, dicts
from soar.web.errors import ApiError
from soar.web.live import Differ, Read

QUERIES = queries("queries/web.sql")
WORLD = params.Box(-180.0, -90.0, 180.0, 90.0)


def recent(conn, config: WebConfig) -> dict:
    """The parameters of the `positions` and `home` queries: the public window (`since`,
    wall-clock) and `heard_since`, `live_recent_s` before the newest aircraft heard
    (data time; None when none ever was, and then nothing is shown)."""
    [row] = dicts(conn, QUERIES["newest_heard"], {})
    newest = row["newest"]
    return {"since": params.window_start(config),
            "heard_since": newest - timedelta(seconds=config.live_recent_s) if newest else None}


def read_world(database: Database, config: WebConfig) -> dict[int, dict]:
    """Every live position, keyed by aircraft id, in the query's order."""
    with database.read() as conn:
        # Fix times at UTC's offset, for live.placed()'s fast encoder.
        conn.execute("SELECT set_config('TimeZone', 'UTC', true)")
        rows = dicts(conn, QUERIES["positions"], {
            **WORLD.as_params(), **recent(conn, config), "limit": 1_000_000})
    return {p["aircraft_id"]: p for p in map(position, rows)}


class ReaderProcess:
    """The API process's handle on the reader's process (soar.web.live.Reader)."""

    def __init__(self, url: str, config: WebConfig):
        self.url = url
        self.config = config
        self.restarts = 0                               # processes started after one died
        self._pool: ProcessPoolExecutor | None = None
        # The child's memory of the last read may differ from what the feed applied
        # (a read that failed, was cancelled, or a new process): the next read then
        # starts afresh and sends every position in full.
        self._afresh = True

    def start(self) -> None:
        """The pool whose first task spawns the process (about half a second of
        imports), unless it is there. Each read does it: a server whose map nobody
        watches, like most of the tests' servers, never starts one."""
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                1, mp_context=multiprocessing.get_context("spawn"),
                initializer=_start, initargs=(self.url, self.config))

    async def read(self) -> Read:
        self.start()
        afresh, self._afresh = self._afresh, True
        try:
            read = await asyncio.wrap_future(self._pool.submit(_read, afresh))
        except BrokenProcessPool:
            pool, self._pool = self._pool, None
            pool.shutdown(wait=False, cancel_futures=True)
            self.restarts += 1
            raise ApiError(503, "the live reader's process ended (the server log says why): "
                                "a new one starts at the next read") from None
        self._afresh = False
        return read

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)

    def pids(self) -> list[int]:
        """The reader's process (none before start()): for tests and benchmarks."""
        return [p.pid for p in (getattr(self._pool, "_processes", None) or {}).values()]


# -- in the reader's process ------------------------------------------------------------

@dataclasses.dataclass
class _Child:
    database: Database
    config: WebConfig
    differ: Differ


_child: _Child | None = None


def _start(url: str, config: WebConfig) -> None:
    global _child
    # Ctrl-C in a terminal reaches the whole process group, and systemd's stop every
    # process of the service: the parent stops this one when it stops, after its last
    # read (a reader killed first would be a read error logged at every stop).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # One read at a time: one connection.
    database = Database(url, dataclasses.replace(config, pool_min=1, pool_max=1))
    database.open()
    _child = _Child(database, config, Differ())


def _read(afresh: bool) -> Read:
    if afresh:
        _child.differ = Differ()
    started = time.perf_counter()
    after = read_world(_child.database, _child.config)
    return _child.differ.step(after, round((time.perf_counter() - started) * 1000, 1))
