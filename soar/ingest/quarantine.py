"""The writer's careful mode: finding the rows the database refuses and keeping them.

Rule: a row the database refuses for its content never takes its batch with it. The
batch is written again with each part in a savepoint; a refused part is halved, each
half in its own savepoint, down to the single rows refused (`bisected`), and each of
those is kept in ingest_quarantine as JSON that jsonb accepts whatever the row held
(`raw`, `raw_op`), with a one-line reason (`reason`). Errors that are no row's fault
(the connection, a privilege) are raised, never quarantined (`row_error`).

A fatal error (the setup's, not a row's: `FatalWriteError`) discards nothing: the
pipeline spools the batch. The same SQLSTATE again for that batch after a restart
keeps it in ingest_quarantine whole (`keep_whole`), so a start never loops on it.
"""

from __future__ import annotations

import dataclasses
import logging
import struct
from collections.abc import Callable
from datetime import date, datetime
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb

from soar.db import sqlfiles, sqlstate
from soar.errors import SoarError, first_line
from soar.ingest.batch import Batch
from soar.ingest.stats import IngestStats
from soar.records import DB, QUARANTINED, WRITE_ERROR

log = logging.getLogger(__name__)

QUERIES = sqlfiles.queries("queries/ingest.sql")

# Quarantine `what` values (ingest_quarantine.what).
FIX, AIRCRAFT, RECEIVER, FLIGHT_OP = "fix", "aircraft", "receiver", "flight_op"


def row_error(exc: BaseException) -> bool:
    """Whether `exc` is a refusal of some row's content (isolate the row, quarantine
    it) rather than a fault of the connection or of the setup (raise it)."""
    if isinstance(exc, psycopg.Error):
        # By SQLSTATE (soar.db.sqlstate): 22, 23, 54 and 40002 are a row's fault, whatever
        # class psycopg files them under (54000, an index row too large, is an
        # OperationalError); a driver-side DataError (a NUL in a text) too.
        if sqlstate.classify(exc) is sqlstate.Action.DATA:
            return True
        # The driver cannot dump a value (wrong type): a client-side error, no SQLSTATE.
        return isinstance(exc, psycopg.ProgrammingError) and exc.sqlstate is None
    # Raised by binary dumpers inside COPY (an int too big for int8, a str for a float).
    return isinstance(exc, ValueError | TypeError | OverflowError | AttributeError | struct.error)


def reason(exc: BaseException) -> str:
    """A refusal on one line, as a text column holds it: the server's own message, or
    a client-side error's class and message."""
    return text(first_line(exc, named=not isinstance(exc, psycopg.Error)))


def text(s: str) -> str:
    """Text PostgreSQL accepts: NUL escaped as the four characters \\x00, lone
    surrogates (undecodable input) as backslash escapes."""
    return s.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")


def jsonable(v):
    """A value as JSON jsonb accepts whatever it held (the quarantine insert must not
    fail for the reason the row did)."""
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, int):
        return int(v)                       # IntEnum too
    if isinstance(v, float):
        return v if v == v and v not in (float("inf"), float("-inf")) else str(v)
    if isinstance(v, str):
        return text(v)
    if isinstance(v, bytes | bytearray | memoryview):
        return bytes(v).hex()
    if isinstance(v, datetime | date):
        return v.isoformat()
    if isinstance(v, UUID):
        return str(v)
    if isinstance(v, dict):
        return {text(str(k)): jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple | set | frozenset):
        return [jsonable(x) for x in v]
    return text(repr(v))


def raw(record, **extra) -> dict:
    """A record's fields (a dataclass or a mapping) as quarantine raw values."""
    if dataclasses.is_dataclass(record):
        values = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
    else:
        values = dict(record)
    values.update(extra)
    return jsonable(values)


def raw_op(op) -> dict:
    """A flight op (soar.tracker.ops) as quarantine raw values."""
    body = {"op": type(op).__name__, "kind": getattr(op, "kind", None),
            "flight_id": getattr(op, "flight_id", None)}
    for name in ("row", "values"):
        if hasattr(op, name):
            body[name] = getattr(op, name)
    return jsonable(body)


def isolated(conn: psycopg.Connection, fn, *args):
    """`fn(*args)` in a savepoint: (result, None), or (None, the row error) with the
    savepoint rolled back. Errors that are no row's fault propagate."""
    try:
        with conn.transaction():
            return fn(*args), None
    except Exception as exc:   # noqa: BLE001 -- sorted by row_error, else raised
        if not row_error(exc):
            raise
        return None, exc


def bisected(conn: psycopg.Connection, rows: list, write, refused) -> list:
    """Careful mode: `write(part)` for all `rows` in a savepoint; a refused part is
    halved, each half in its own savepoint, down to the single rows that are refused,
    for which `refused(row, error)` is called. Parts are written in order (flight
    ops depend on it). Returns what `write` returned for each stored part: nothing a
    rolled-back part did is kept. k bad rows among n cost about 2k log2(n) writes
    of shrinking parts instead of n savepoints."""
    results = []
    parts = [rows] if rows else []
    while parts:
        part = parts.pop()
        got, exc = isolated(conn, write, part)
        if exc is None:
            results.append(got)
        elif len(part) == 1:
            refused(part[0], exc)
        else:
            mid = len(part) // 2
            parts += (part[mid:], part[:mid])
    return results


class FatalWriteError(SoarError):
    """The database refuses the batch for a reason of the setup, not of a row or of
    the moment (soar.db.sqlstate.Action.FATAL): one line, with its SQLSTATE and fix."""

    def __init__(self, exc: BaseException):
        self.sqlstate = sqlstate.sqlstate(exc)
        super().__init__(f"the database refuses ingest's writes: {sqlstate.explain(exc)}")


def keep_whole(connect: Callable[[], psycopg.Connection], batch: Batch,
               fatal: FatalWriteError, stats: IngestStats) -> None:
    """Keep a batch that failed the same fatal way twice (before and after a restart)
    in ingest_quarantine, fix by fix, counted as quarantined: the start goes on instead
    of looping on it. If even that is refused (or no connection), FatalWriteError again."""
    why = f"{WRITE_ERROR}: {fatal}"
    try:
        conn = connect()
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(QUERIES["quarantine"], [
                (FIX, why, Jsonb(raw(f)), batch.key) for f in batch.fixes] + [
                (FLIGHT_OP, why, Jsonb(raw_op(op)), batch.key) for op in batch.flight_ops])
    except psycopg.Error as exc:
        raise FatalWriteError(exc) from exc
    log.error("batch %s failed again after a restart (%s): %d fixes and %d flight ops "
              "kept in ingest_quarantine", batch.key, fatal, len(batch.fixes),
              len(batch.flight_ops))
    stats.reject(DB, QUARANTINED, len(batch.fixes))
