"""Retention: fixes age out by whole chunks; flights and everything derived stay.

A chunk goes only when ALL of it is older than the cut-off (`show_chunks`; one day per
chunk, `sql/schema/016_fixes.sql`), so a prune never deletes rows one by one and never
touches the chunks ingest is writing. Each chunk is dropped in its own transaction
with a short `lock_timeout`: a reader holding an old chunk (a long report) makes that
chunk wait for the next prune instead of making the prune wait, because a DROP queued
behind a reader would queue every later reader and writer of that chunk behind itself
(the lock pile-up of the incident soar replaces). Flights keep their times,
positions, runways and places; only their fixes (the tracks) go. The drop goes
through `drop_fix_chunk_v1` (SECURITY DEFINER: old chunks of fixes only, at least a
day old), so the worker's login can run retention on its own schedule without owning
the table.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import NamedTuple

import psycopg
from psycopg import sql

from soar import db
from soar.db import sqlfiles
from soar.errors import SoarError

QUERIES = sqlfiles.queries("queries/retention.sql")
_UNITS = {"h": 3600, "d": 86400, "w": 7 * 86400}
MIN_KEEP = timedelta(days=1)      # the newest chunk is never a candidate


def parse_duration(text: str, what: str = "age",
                   minimum: timedelta = timedelta(hours=1)) -> timedelta:
    """'45d', '12h', '2w' -> timedelta; anything else is an error naming the format."""
    m = re.fullmatch(r"\s*(\d+)\s*([hdw])\s*", text or "")
    if not m:
        raise SoarError(f"{what} {text!r}: give a number and a unit h, d or w, e.g. 45d")
    value = timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])
    if value < minimum:
        raise SoarError(f"{what} {text!r}: at least {minimum}")
    return value


def parse_age(text: str) -> timedelta:
    """How old fixes may get: at least a day (never the chunk being written)."""
    return parse_duration(text, "age", MIN_KEEP)


LOCK_TIMEOUT_S = 2.0


class Pruned(NamedTuple):
    chunks: list[str]          # schema-qualified names of the chunks dropped (or, dry run, to drop)
    busy: list[str]            # chunks in use by someone else: left for the next prune
    fixes: int | None          # rows in them (counted only on a dry run: counting costs a scan)
    older_than: str            # the cut-off, as the server computed it (ISO, UTC)


def prune(url: str, older_than: timedelta, dry_run: bool = False) -> Pruned:
    """Drop (or, dry run, list) the chunks of fixes wholly older than `older_than`, as
    any login allowed to call drop_fix_chunk_v1 (the owner, the worker)."""
    with db.connect(url, autocommit=True) as conn:
        cutoff = conn.execute(QUERIES["cutoff"], (older_than,)).fetchone()[0]
        rows = conn.execute(QUERIES["old_chunks"], (older_than, dry_run)).fetchall()
        if dry_run:
            return Pruned([r[0] for r in rows], [], sum(r[1] for r in rows), cutoff.isoformat())
        dropped, busy = [], []
        for name, _ in rows:
            try:
                with conn.transaction():
                    conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(
                        sql.Literal(f"{int(LOCK_TIMEOUT_S * 1000)}ms")))
                    if conn.execute(QUERIES["drop_chunk"], (name, older_than)).fetchone()[0]:
                        dropped.append(name)
            except psycopg.errors.LockNotAvailable:
                busy.append(name)
        return Pruned(dropped, busy, None, cutoff.isoformat())
