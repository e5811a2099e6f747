"""The writer's careful mode: finding the rows the database refuses and keeping them.

Rule: a row the database refuses for its content never takes its batch with it. The
batch is written again with each part in a savepoint; a refused part is halved, each
half in its own savepoint, down to the single rows refused (`bisected`), and each of
those is kept in ingest_quarantine as JSON that jsonb accepts whatever the row held
(`raw`, `raw_op`), with a one-line reason (`reason`). Errors that are no row's fault
(the connection, a privilege) are raised, never quarantined (`row_error`).
"""

from __future__ import annotations

import dataclasses
import struct
from datetime import date, datetime
from uuid import UUID

import psycopg

from soar.errors import first_line

# Quarantine `what` values (ingest_quarantine.what).
FIX, AIRCRAFT, RECEIVER, FLIGHT_OP = "fix", "aircraft", "receiver", "flight_op"


def row_error(exc: BaseException) -> bool:
    """Whether `exc` is a refusal of some row's content (isolate the row, quarantine
    it) rather than a fault of the connection or of the setup (raise it)."""
    if isinstance(exc, psycopg.Error):
        if isinstance(exc, psycopg.DataError | psycopg.IntegrityError):
            return True    # server (22xxx, 23xxx) or driver (a NUL in a text)
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
