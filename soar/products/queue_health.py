"""Queue health for operators: the `queue_health` view, and the thresholds that turn
it into an exit code (`soar queue check`) for any external monitor (Nagios, a
Kubernetes probe, a systemd timer someone already has). soar needs no cron for it:
the worker also logs its own backlog warning.
"""

from __future__ import annotations

from typing import NamedTuple

import psycopg

from soar.db import sqlfiles

QUERIES = sqlfiles.queries("queries/queue_health.sql")


class QueueHealth(NamedTuple):
    queue: str
    depth: int                 # messages in the queue, visible or being worked on
    visible: int               # waiting to be read now
    oldest_age_s: int | None   # age of the oldest message (None: empty)
    newest_age_s: int | None
    total_messages: int        # ever sent to this queue
    in_last_minute: int        # enqueued in the last minute
    out_last_minute: int       # archived (done) in the last minute


def read(conn: psycopg.Connection) -> dict[str, QueueHealth]:
    rows = conn.execute(QUERIES["queue_health"])
    return {r[0]: QueueHealth(*r) for r in rows.fetchall()}


class Undelivered(NamedTuple):
    alert_id: int
    notice: str                # 'raised' or 'cleared'
    failures: int              # failed tries so far
    last_error: str | None     # the webhook's refusal (never its URL)


def undelivered(conn: psycopg.Connection) -> list[Undelivered]:
    """Overdue-alert notices the webhook refused, waiting for their next try (the
    worker retries them until they are taken). Reads the flight_enrichment queue."""
    return [Undelivered(*r) for r in conn.execute(QUERIES["undelivered_notices"]).fetchall()]


def problems(health: dict[str, QueueHealth], queue: str, dead_queue: str, *,
             max_age_s: float | None = None, max_depth: int | None = None,
             max_dead: int | None = None,
             notices: list[Undelivered] | None = None) -> list[str]:
    """What crosses a threshold, one short phrase each (empty: healthy). Any
    undelivered alert notice is a problem whatever the thresholds: someone may be
    waiting for it."""
    out = []
    if notices:
        n = notices[0]
        out.append(f"{len(notices)} overdue-alert notice(s) not delivered (alert {n.alert_id} "
                   f"{n.notice}, {n.failures} failed tries: {n.last_error}); retried until the "
                   "webhook takes them: fix the receiver or SOAR_ALERT_WEBHOOK_URL")
    q = health.get(queue)
    if q is None:
        return [f"queue {queue} does not exist (run `soar db upgrade`)"]
    if max_age_s is not None and q.oldest_age_s is not None and q.oldest_age_s > max_age_s:
        out.append(f"{queue}: oldest message {q.oldest_age_s} s old > {max_age_s:g} s "
                   "(is a worker running? `soar worker`)")
    if max_depth is not None and q.depth > max_depth:
        out.append(f"{queue}: {q.depth} messages > {max_depth}")
    dead = health.get(dead_queue)
    if max_dead is not None and dead is not None and dead.depth > max_dead:
        out.append(f"{dead_queue}: {dead.depth} dead letters > {max_dead} "
                   "(`soar queue retry-dead` after fixing the cause)")
    return out
