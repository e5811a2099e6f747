"""What the ingest reads from the database rather than writes: the aircraft not to be
tracked, and at start-up the flights to continue. Rule: a start-up read runs on a
connection of its own, closed before the threads start; the writer's connection
carries batches (and the periodic re-read of the untracked aircraft in its thread).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg

from soar.db import sqlfiles
from soar.db.urls import connect
from soar.tracker import store

QUERIES = sqlfiles.queries("queries/ingest.sql")


def untracked_aircraft(conn: psycopg.Connection) -> set[int]:
    """Aircraft whose record says not tracked: their fixes are never stored."""
    with conn.transaction():
        rows = conn.execute(QUERIES["untracked_aircraft"]).fetchall()
    return {r[0] for r in rows}


@dataclass
class StartState:
    """What a pipeline starts from."""
    untracked: set[int]
    # Active flights and their last fixes for the tracker's restart (None: no tracker).
    restored: store.Restored | None = field(default=None)


def read_start(conninfo: str, tracker_config=None, track: bool = False,
               connect_timeout_s: int = 10) -> StartState:
    """The untracked aircraft and, with `track`, the flights the database says are
    active (soar.tracker.store.load_active, which also closes the stale ones); a
    SoarError naming the fix when the database cannot be reached."""
    with connect(conninfo, application_name="soar-ingest",
                 connect_timeout=connect_timeout_s) as conn:
        state = StartState(untracked_aircraft(conn))
        if track:
            with conn.transaction():
                state.restored = store.load_active(conn, tracker_config)
    return state
