"""pgmq calls of the worker. Connections are in autocommit mode; the steps that must
be atomic run in `conn.transaction()` blocks.

Ownership: pgmq.read hands a message out with a visibility timeout (vt). A worker
that takes longer than that may find the message handed to another worker. Every
write that finishes a message therefore first locks the queue row and checks that
its vt is still the one this worker read (`lock_owned`); if not, the worker lost
the message and its results are rolled back, so each message takes effect once.
While the row is locked, pgmq.read (FOR UPDATE SKIP LOCKED) cannot hand it out.

One message per slot: a worker reads a message only into a free slot where it is
worked on at once (worker.loop: `concurrency` slots per process; one read asks for
as many messages as slots are free), and the slot is busy until the message is
finished (archive, put back, or dead letter). So
a message is invisible only while a worker is really working on it, and its read_ct
counts only its own deliveries: a batch-mate that was read but never started cannot
exist, and a slow or crashing message never pushes another toward the dead-letter
queue. Attempts are
read_ct less the deliveries that were not tries (`deferrals`: waiting for fixes).

Visibility is extended per message: before a step that may take long (a Pelias
call, bounded by its deadline) the worker moves the vt forward (`extend`), checking
ownership in the same transaction; a worker that finds it lost the message stops
working on it at once.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from soar.db import sqlfiles
from soar.errors import first_line
from soar.units import UTC
from worker.metrics import ALERT_EVENT, STATUS_COLUMN

log = logging.getLogger(__name__)
QUERIES = sqlfiles.queries("queries/worker.sql")


@dataclass
class Message:
    msg_id: int
    read_ct: int
    enqueued_at: datetime
    vt: datetime
    body: dict

    @property
    def deferrals(self) -> int:
        """Times this message was put back only to wait for data (not failures)."""
        try:
            return max(0, int(self.body.get("deferrals", 0)))
        except (TypeError, ValueError):
            return 0

    @property
    def attempts(self) -> int:
        """Deliveries that were real tries: read_ct less deferrals. Messages are read
        only into free slots, so every delivery was a try of this message: a worker that died
        mid-message used up one of ITS attempts (poison messages end up dead), never
        one of another message's."""
        return max(1, self.read_ct - self.deferrals)


@dataclass
class QueueStatus:
    depth: int                  # all messages, visible or not
    visible: int                # readable now
    oldest_age_s: float | None  # age of the oldest message
    dead: int                   # messages in the dead-letter queue


def _uuid(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _table(prefix: str, queue: str) -> sql.Identifier:
    return sql.Identifier("pgmq", f"{prefix}_{queue}")


def read(conn: psycopg.Connection, queue: str, vt_s: int, qty: int = 1) -> list[Message]:
    """Up to qty messages, each with its own visibility timeout. The worker asks for
    as many as it has free slots (see the module's doc)."""
    rows = conn.execute(QUERIES["read_messages"], (queue, vt_s, qty)).fetchall()
    out = []
    for msg_id, read_ct, enqueued_at, vt, body in rows:
        if isinstance(body, str):
            try:
                body = json.loads(body)
            except ValueError:
                body = {"_raw": body}
        out.append(Message(msg_id, read_ct, enqueued_at, vt, body if isinstance(body, dict)
                           else {"_raw": body}))
    return out


def lock_owned(conn: psycopg.Connection, queue: str, msg: Message) -> bool:
    """Inside a transaction: lock the message row if this worker still owns it."""
    row = conn.execute(
        sql.SQL("SELECT 1 FROM {} WHERE msg_id = %s AND vt = %s FOR UPDATE")
        .format(_table("q", queue)), (msg.msg_id, msg.vt)).fetchone()
    return row is not None


def extend(conn: psycopg.Connection, queue: str, msg: Message, vt_s: float) -> bool:
    """Keep the message invisible for vt_s more seconds from now, if it is still ours
    (False: another worker has it; stop working on it). One statement: the UPDATE
    locks the row and re-checks the vt this worker read (as lock_owned does)."""
    row = conn.execute(
        sql.SQL("UPDATE {} SET vt = clock_timestamp() + make_interval(secs => %s) "
                "WHERE msg_id = %s AND vt = %s RETURNING vt").format(_table("q", queue)),
        (float(vt_s), msg.msg_id, msg.vt)).fetchone()
    if row is None:
        return False
    msg.vt = row[0]
    return True


def archive(conn: psycopg.Connection, queue: str, msg_id: int) -> bool:
    return bool(conn.execute(QUERIES["archive"], (queue, msg_id)).fetchone()[0])


def archive_aged(conn: psycopg.Connection, queue: str, msg: Message) -> float:
    """Archive the message; its age in seconds, enqueue to now by the server's clock
    (the enrichment delay metric)."""
    return float(conn.execute(QUERIES["archive_aged"],
                              (queue, msg.msg_id, msg.enqueued_at)).fetchone()[1])


def put_back(conn: psycopg.Connection, queue: str, msg: Message, delay_s: float,
             annotate: dict) -> bool:
    """Make the message visible again after delay_s (pgmq.set_vt), recording
    `annotate` in its body (e.g. deferrals, last_error). False if no longer ours."""
    with conn.transaction():
        if not lock_owned(conn, queue, msg):
            return False
        conn.execute(sql.SQL("UPDATE {} SET message = message || %s WHERE msg_id = %s")
                     .format(_table("q", queue)), (Jsonb(annotate), msg.msg_id))
        row = conn.execute(QUERIES["set_vt"],
                           (queue, msg.msg_id, max(0.0, float(delay_s)))).fetchone()
        msg.vt = row[0]
        msg.body.update(annotate)
    return True


def send(conn: psycopg.Connection, queue: str, body: dict, delay_s: int = 0) -> int:
    return conn.execute(QUERIES["send"], (queue, Jsonb(body), delay_s)).fetchone()[0]


def status(conn: psycopg.Connection, queue: str, dead_queue: str) -> QueueStatus:
    depth, visible, oldest = conn.execute(
        sql.SQL("SELECT count(*), count(*) FILTER (WHERE vt <= clock_timestamp()), "
                "extract(epoch FROM clock_timestamp() - min(enqueued_at)) FROM {}")
        .format(_table("q", queue))).fetchone()
    dead = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(_table("q", dead_queue))
                        ).fetchone()[0]
    return QueueStatus(depth, visible, float(oldest) if oldest is not None else None, dead)


def next_visible_in(conn: psycopg.Connection, queue: str) -> float | None:
    """Seconds until the next invisible message becomes visible; None if empty."""
    row = conn.execute(
        sql.SQL("SELECT count(*), extract(epoch FROM min(vt) - clock_timestamp()) FROM {}")
        .format(_table("q", queue))).fetchone()
    if not row[0]:
        return None
    return max(0.0, float(row[1] or 0))


def dead_letter(conn: psycopg.Connection, queue: str, dead_queue: str, msg: Message,
                error: str) -> bool:
    """Inside a transaction: send the message with its error to the dead-letter queue
    and archive the original. False (nothing done) if the message is no longer ours."""
    if not lock_owned(conn, queue, msg):
        return False
    body = {k: v for k, v in msg.body.items() if k not in ("deferrals", "last_error")}
    body.update({
        "error": error,
        "attempts": msg.attempts,
        "original_msg_id": msg.msg_id,
        "enqueued_at": msg.enqueued_at.isoformat(),
        "failed_at": datetime.now(UTC).isoformat(),
    })
    send(conn, dead_queue, body)
    archive(conn, queue, msg.msg_id)
    return True


def retry_dead(conn: psycopg.Connection, queue: str, dead_queue: str,
               limit: int | None = None) -> list[dict]:
    """Move dead messages back to the queue (original payload, fresh attempt count),
    archiving them in the dead-letter queue and setting the flights' status for that
    event (or the alert notice's delivery) back to 'pending'. One transaction."""
    moved = []
    with conn.transaction():
        rows = conn.execute(
            # LIMIT NULL is no limit.
            sql.SQL("SELECT msg_id, message FROM {} ORDER BY msg_id LIMIT %s "
                    "FOR UPDATE SKIP LOCKED").format(_table("q", dead_queue)),
            (limit,)).fetchall()
        for msg_id, body in rows:
            keys = ("flight_id", "event", "alert_id", "notice") \
                if body.get("event") == ALERT_EVENT else ("flight_id", "event")
            original = {k: body[k] for k in keys if k in body}
            if not original:
                original = {k: v for k, v in body.items()
                            if k not in ("error", "attempts", "original_msg_id", "enqueued_at",
                                         "failed_at")}
            send(conn, queue, original)
            archive(conn, dead_queue, msg_id)
            column = STATUS_COLUMN.get(original.get("event"))
            flight_id = _uuid(original.get("flight_id"))
            if original.get("event") == ALERT_EVENT:
                # The notice's delivery goes back to pending with its retry.
                conn.execute(QUERIES["alert_delivery_pending"],
                             (original.get("notice"), original.get("notice"),
                              _int(original.get("alert_id"))))
            elif column and flight_id:
                conn.execute(QUERIES[f"failed_to_pending_{column}"], (flight_id,))
            moved.append(original)
    return moved


class Listener(threading.Thread):
    """LISTEN on pgmq's insert channel and wake the workers. A hint only: if it cannot
    listen (PgBouncer in transaction mode, no direct URL), polling goes on as before."""

    def __init__(self, url: str, queue_name: str, wakes: list[threading.Event],
                 stop: threading.Event):
        super().__init__(name="soar-worker-listen", daemon=True)
        self.url = url
        self.channel = f"pgmq.q_{queue_name}.INSERT"
        self.wakes = wakes
        self.stop = stop
        self.notified = 0

    def run(self) -> None:
        warned = False
        while not self.stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=10,
                                     application_name="soar-worker-listen") as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
                    warned = False
                    while not self.stop.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            self.notified += 1
                            for w in self.wakes:
                                w.set()
            except psycopg.Error as exc:
                if not warned:
                    log.warning("LISTEN unavailable (%s); polling only", first_line(exc, named=True))
                    warned = True
                self.stop.wait(5.0)
