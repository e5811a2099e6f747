"""What to do about a database error, decided by its SQLSTATE, never by its exception
class: psycopg files SQLSTATE 54000 (an index row too large: one row's fault) under
OperationalError, beside a lost connection, so a writer that retried every
OperationalError retried a poisoned batch for ever.

The rule (`classify`), by SQLSTATE class or code:

- DATA, a row is at fault: the caller bisects the batch and quarantines the refused
  rows. Class 22 (data exception), 23 (integrity constraint violation), 54 (program
  limit exceeded, e.g. 54000 index row too large), 40002 (a constraint at commit).
- TRANSIENT, the same batch can succeed later: the caller retries with backoff.
  Class 08 (connection exception; PgBouncer's errors too), 40001 serialization
  failure, 40P01 deadlock, 40003 completion unknown, class 53 (insufficient
  resources: disk full, out of memory, too many connections), 57P01-57P03 (server
  shutting down, crashed, starting), 55P03 lock not available, 57014 (statement
  timeout: the writer's documented retry).
- FATAL, neither the rows nor time will fix it, the setup must: the caller keeps the
  batch on disk and exits non-zero with `explain`'s line. Everything else: 42501
  insufficient privilege, 42P01 undefined table, 25006 read-only transaction (a
  standby after a failover), class 28 (login refused), 3D000 (no such database),
  unknown codes.

An error without a SQLSTATE (raised by the driver, not the server): a DataError (a
value psycopg cannot send, e.g. a NUL byte in text) is DATA; an OperationalError or
InterfaceError (the connection broke or closed) is TRANSIENT; an OSError is
TRANSIENT; anything else is FATAL. A wrapped error is classified by the first
psycopg error in its `__cause__`/`__context__` chain.

Pure: no I/O; the caller acts.
"""

from __future__ import annotations

from enum import Enum

import psycopg

from soar.errors import first_line


class Action(Enum):
    DATA = "data"            # bisect and quarantine the rows refused
    TRANSIENT = "transient"  # retry the same batch with backoff
    FATAL = "fatal"          # keep the batch on disk, exit non-zero with one line


_DATA_CLASSES = frozenset({"22", "23", "54"})
_DATA_CODES = frozenset({"40002"})
_TRANSIENT_CLASSES = frozenset({"08", "53"})
_TRANSIENT_CODES = frozenset({"40001", "40P01", "40003", "57P01", "57P02", "57P03", "55P03",
                              "57014"})

# The fix for the fatal errors an operator meets, by SQLSTATE or class.
_FIXES = {
    "42501": "grant the privilege (`soar db upgrade` applies soar's grants) or use the "
             "component's own login",
    "42P01": "the schema is missing or old: run `soar db upgrade`",
    "42883": "the schema is missing or old: run `soar db upgrade`",
    "25006": "the server is a read-only standby: point the database URL at the primary",
    "3D000": "no such database: check the database name in the URL",
    "28": "the login was refused: check the user and password in the database URL",
}


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of the first psycopg error in exc's cause/context chain, if any."""
    err = _psycopg_error(exc)
    return err.sqlstate if err is not None else None


def classify(exc: BaseException) -> Action:
    """What to do about `exc` (the module's table)."""
    err = _psycopg_error(exc)
    if err is None:
        return Action.TRANSIENT if isinstance(exc, OSError) else Action.FATAL
    code = err.sqlstate
    if not code:
        if isinstance(err, psycopg.DataError):
            return Action.DATA
        if isinstance(err, (psycopg.OperationalError, psycopg.InterfaceError)):
            return Action.TRANSIENT
        return Action.FATAL
    cls = code[:2]
    if cls in _DATA_CLASSES or code in _DATA_CODES:
        return Action.DATA
    if cls in _TRANSIENT_CLASSES or code in _TRANSIENT_CODES:
        return Action.TRANSIENT
    return Action.FATAL


def explain(exc: BaseException) -> str:
    """One line for the log or the exit message: SQLSTATE, the server's first line and,
    for the common fatal ones, the fix."""
    err = _psycopg_error(exc) or exc
    code = getattr(err, "sqlstate", None)
    text = first_line(err)
    if not code:
        return text
    fix = _FIXES.get(code) or _FIXES.get(code[:2])
    return f"SQLSTATE {code}: {text}" + (f"; {fix}" if fix else "")


def _psycopg_error(exc: BaseException) -> psycopg.Error | None:
    seen = 0
    e: BaseException | None = exc
    while e is not None and seen < 16:           # bounded: a cycle in a chain is possible
        if isinstance(e, psycopg.Error):
            return e
        e = e.__cause__ or e.__context__
        seen += 1
    return None
