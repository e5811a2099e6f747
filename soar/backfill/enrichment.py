"""`soar backfill enrichment`: re-enqueue the flight ends whose enrichment is missing.

An end (departure: takeoff or airborne_start; arrival: landing or timeout) is taken
when its status is 'failed', or 'pending' with no message in the queue (a message
lost, e.g. a purged queue), or 'done' without the runway or place asked for
(`--missing runway|location|any`; failed and lost ends are taken in every mode). An
end with a message in the queue is left alone: the worker has it. A dead letter of
the end is archived in the same transaction as the new message is sent, and the
status set back to 'pending' (as `soar queue retry-dead` does), so nothing is ever
queued twice for one end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

import psycopg

from soar.db import sqlfiles
from soar.units import UTC
from worker import messages
from worker.config import DEAD_QUEUE, QUEUE
from worker.metrics import STATUS_COLUMN

QUERIES = sqlfiles.queries("queries/backfill.sql")
MISSING = ("runway", "location", "any")
_EPOCH = datetime.min.replace(tzinfo=UTC)   # before any flight: the first chunk


@dataclass
class Result:
    flights: int = 0                 # flights of the range looked at
    enqueued: int = 0                # messages sent
    dead_archived: int = 0           # dead letters replaced by a new message
    by_event: dict[str, int] = field(default_factory=dict)


def run(conn: psycopg.Connection, since: datetime, until: datetime, missing: str = "any", *,
        dry_run: bool = False, chunk: int = 1000,
        progress: Callable[[int], None] | None = None) -> Result:
    """Work through the flights started in [since, until); `progress(n)` after each
    chunk of n flights. With dry_run, count what would be sent and change nothing."""
    if missing not in MISSING:
        raise ValueError(missing)
    result = Result()
    after_t, after_id = _EPOCH, UUID(int=0)
    while True:
        with conn.transaction():
            keys = conn.execute(QUERIES["flight_chunk"], {
                "since": since, "until": until, "after_t": after_t, "after_id": after_id,
                "chunk": chunk}).fetchall()
            if not keys:
                break
            ids = [k[1] for k in keys]
            rows = conn.execute(QUERIES["enrichment_candidates"], {
                "ids": ids, "id_texts": [str(i) for i in ids], "missing": missing}).fetchall()
            for flight_id, event, status, dead_ids in rows:
                result.enqueued += 1
                result.by_event[event] = result.by_event.get(event, 0) + 1
                result.dead_archived += len(dead_ids or ())
                if dry_run:
                    continue
                messages.send(conn, QUEUE, {"flight_id": str(flight_id), "event": event})
                for msg_id in dead_ids or ():
                    messages.archive(conn, DEAD_QUEUE, msg_id)
                if status != "pending":
                    conn.execute(QUERIES[f"set_pending_{STATUS_COLUMN[event]}"], (flight_id,))
        result.flights += len(keys)
        after_t, after_id = keys[-1]
        if progress:
            progress(len(keys))
    return result


def count(conn: psycopg.Connection, since: datetime, until: datetime) -> int:
    n = conn.execute(QUERIES["count_range"], {"since": since, "until": until}).fetchone()[0]
    conn.rollback()
    return n
