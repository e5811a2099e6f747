"""The polling loop: read a message (pgmq.read of one, with a visibility timeout),
enrich it, archive it in the transaction that writes the flight. Several processes
(and several message slots in each) share the queue safely: pgmq.read hands each
message to one reader, and a worker that lost its message (timeout passed, message
handed to another) rolls its result back (see worker.messages, which also says why
messages are read only into free slots and how visibility is extended).

Geocoding concurrency is independent of database connections. A process has
`concurrency` message slots (so at most that many Pelias calls in flight) and a
pool of `db_connections` connections (psycopg_pool). A reader thread waits for a
free slot, then reads as many messages as slots are free (at most batch_size) and
hands each to a task thread; the task borrows a
pooled connection for each SQL step (read the flight, detect the runway, look the
cell up; then store the place, write the flight and archive the message) and holds
none while it waits for Pelias. A message is read only when a slot is free, so no
message waits unworked while its visibility timeout runs, and memory is bounded by
the slots. Before a Pelias call the task extends its message's visibility (Pelias
deadline + visibility timeout), checking it still owns it.

Per message:
- not ready (the event's fixes are not stored yet): put back for defer_delay_s, not
  counted as an attempt;
- failure: put back after backoff(attempt) (exponential), the error kept in the
  message; after max_attempts (or at once for a permanent error) moved to the
  dead-letter queue with the error, and the flight marked failed for that end;
- a message delivered more than max_attempts times without finishing (workers that
  crashed on it) goes to the dead-letter queue too. Nothing is dropped silently.
- Pelias failing is not a failure of the message: the place comes from the offline
  geocoder (worker.geocode), and one thread of each process re-geocodes such
  fallback places when Pelias answers again (worker.regeocode, bounded per round).

Overdue alerts (worker.alerts): the `timeout` enrichment also evaluates the flight,
in its own transaction, and may raise an alert and queue its `raised` notice; a
sweeper thread clears alerts (and queues `cleared` notices) every
alert_sweep_interval_s, and once at the start of a drain. A notice message (event
`overdue_alert`) is POSTed to the webhook holding no connection, with the same
ownership, backoff and dead letters as an enrichment (alert_max_attempts tries).

Idle: sleep poll_interval_s, or less when a LISTEN notification (pgmq insert
notify, a hint only: lossy, and not through PgBouncer) arrives.

Stop (SIGTERM, or the drain is done): the readers read nothing more; every message
in hand is finished (its Pelias call is bounded by the deadline) before
run_workers returns. A process killed instead leaves its messages to reappear
after their visibility timeout: nothing is lost either way.
"""

from __future__ import annotations

import logging
import os
import queue as queues
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from soar.errors import first_line
from worker import alerts as overdue
from worker import messages, metrics, regeocode
from worker.config import WorkerConfig
from worker.enrich import Deferred, Enricher, Enrichment, PermanentError, parse
from worker.geocode import Geocoder
from worker.pelias import CircuitBreaker, PeliasClient
from worker.retention import Pruner
from worker.webhook import WebhookClient, WebhookError

log = logging.getLogger(__name__)
BACKLOG_WARNING_EVERY_S = 60.0


@dataclass
class Stats:
    processed: int = 0
    retried: int = 0
    deferred: int = 0
    dead: int = 0
    lost: int = 0                     # finished too late: another worker had the message
    fallbacks: int = 0                # processed with an offline place because Pelias failed
    regeocoded: int = 0               # fallback places replaced by Pelias' answer
    alerts_raised: int = 0            # overdue alerts raised
    alerts_cleared: int = 0           # overdue alerts cleared by the sweep
    notices_delivered: int = 0        # alert notices POSTed to the webhook (2xx)
    # The msg_ids of the latest completions (tests check each is completed once); only
    # the last committed_max are kept, so a long-running worker's memory stays flat.
    committed_max: int = 1000
    committed: deque[int] = field(init=False, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.committed = deque(maxlen=max(0, self.committed_max))

    # One method per outcome: several worker threads share one Stats.
    def on_processed(self, msg_id: int, fallback: bool = False) -> None:
        with self.lock:
            self.processed += 1
            self.fallbacks += fallback
            self.committed.append(msg_id)

    def on_alert_raised(self) -> None:
        with self.lock:
            self.alerts_raised += 1

    def on_alerts_cleared(self, n: int) -> None:
        with self.lock:
            self.alerts_cleared += n

    def on_notice(self, msg_id: int, delivered: bool) -> None:
        with self.lock:
            self.processed += 1
            self.notices_delivered += delivered
            self.committed.append(msg_id)

    def on_regeocoded(self, locations: int) -> None:
        with self.lock:
            self.regeocoded += locations

    def on_retried(self) -> None:
        with self.lock:
            self.retried += 1

    def on_deferred(self) -> None:
        with self.lock:
            self.deferred += 1

    def on_dead(self) -> None:
        with self.lock:
            self.dead += 1

    def on_lost(self) -> None:
        with self.lock:
            self.lost += 1

    def summary(self) -> str:
        return (f"processed {self.processed}, retried {self.retried}, deferred {self.deferred}, "
                f"dead {self.dead}, lost {self.lost}; geocoding fallbacks {self.fallbacks}, "
                f"re-geocoded {self.regeocoded}; overdue alerts raised {self.alerts_raised}, "
                f"cleared {self.alerts_cleared}, notices delivered {self.notices_delivered}")


class _Lost(Exception):
    """Rolls back a transaction whose message is no longer ours."""


def one_line(exc: BaseException) -> str:
    """An error for the dead-letter queue and the log: its class and first line."""
    return f"{type(exc).__name__}: {first_line(exc)}"


def make_geocoder(config: WorkerConfig) -> Geocoder:
    pelias = None
    if config.pelias_url:
        pelias = PeliasClient(config.pelias_url,
                              connect_timeout_s=config.pelias_connect_timeout_s,
                              read_timeout_s=config.pelias_read_timeout_s,
                              retries=config.pelias_retries,
                              retry_backoff_s=config.pelias_retry_backoff_s,
                              deadline_s=config.pelias_deadline_s,
                              max_body_bytes=config.pelias_max_body_bytes,
                              connections=config.concurrency,
                              breaker=CircuitBreaker(config.breaker_threshold,
                                                     config.breaker_reset_s))
    return Geocoder(pelias, config.places_max_distance_m,
                    fallback_max_per_s=config.fallback_max_per_s)


# autocommit: no transaction stays open while we wait on Pelias; explicit transaction
# blocks for the atomic steps. No server-side prepared statements, so the worker also
# runs through PgBouncer in transaction pooling.
CONNECT_KWARGS = {"autocommit": True, "prepare_threshold": None, "connect_timeout": 10,
                  "application_name": "soar-worker"}


def make_webhook(config: WorkerConfig) -> WebhookClient | None:
    """The alert webhook's client, if SOAR_ALERT_WEBHOOK_URL is set."""
    if not config.alert_webhook_url:
        return None
    return WebhookClient(config.alert_webhook_url, deadline_s=config.alert_webhook_deadline_s,
                         connections=config.concurrency)


def connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url, **CONNECT_KWARGS)


def make_pool(url: str, config: WorkerConfig) -> ConnectionPool:
    """The process's database connections (opened as needed, up to db_connections)."""
    return ConnectionPool(url, kwargs=dict(CONNECT_KWARGS), min_size=1,
                          max_size=max(1, config.db_connections),
                          timeout=config.db_pool_timeout_s, name="soar-worker", open=True)


class Tasks:
    """The message slots of a process: `size` daemon threads running the messages
    handed to them, and a semaphore of free slots a reader takes BEFORE it reads a
    message, so every message read starts at once. Daemon threads: a task stuck on
    the database cannot keep the process from exiting (its message reappears after
    its visibility timeout)."""

    def __init__(self, size: int, name: str = "soar-worker-task"):
        self.size = max(1, size)
        self._free = threading.Semaphore(self.size)
        self._queue: queues.SimpleQueue = queues.SimpleQueue()
        self._busy = 0
        self._idle = threading.Condition()
        self._threads = [threading.Thread(target=self._run, name=f"{name}-{i}", daemon=True)
                         for i in range(self.size)]
        for t in self._threads:
            t.start()

    def take(self, stop: threading.Event, every_s: float = 0.1) -> bool:
        """Wait for a free slot; False if `stop` is set first."""
        while not stop.is_set():
            if self._free.acquire(timeout=every_s):
                with self._idle:
                    self._busy += 1
                return True
        return False

    def take_free(self, limit: int) -> int:
        """Up to `limit` more slots that are free now (no waiting); how many."""
        n = 0
        while n < limit and self._free.acquire(blocking=False):
            n += 1
        if n:
            with self._idle:
                self._busy += n
        return n

    def give_back(self, n: int = 1) -> None:
        """Slots taken and not used (nothing to read)."""
        for _ in range(n):
            self._done()

    def run(self, fn: Callable[[], object]) -> None:
        """Run fn in a task thread, in the slot taken before."""
        self._queue.put(fn)

    @property
    def busy(self) -> int:
        with self._idle:
            return self._busy

    def wait_idle(self, timeout_s: float) -> bool:
        """Until every slot is free (True) or timeout_s passed (False)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout_s)

    def close(self) -> None:
        for _ in self._threads:
            self._queue.put(None)

    def _done(self) -> None:
        with self._idle:
            self._busy -= 1
            if not self._busy:
                self._idle.notify_all()
        self._free.release()

    def _run(self) -> None:
        while True:
            fn = self._queue.get()
            if fn is None:
                return
            try:
                fn()
            finally:
                self._done()


class Worker:
    """A reader of the queue (run) and the handling of one message (handle). Given
    a pool and Tasks (run_workers), messages run in task threads on pooled
    connections; alone (tests, tools), on one connection of its own."""

    def __init__(self, url: str, config: WorkerConfig, geocoder: Geocoder, *,
                 stop: threading.Event | None = None, wake: threading.Event | None = None,
                 stats: Stats | None = None, name: str = "worker", report_metrics: bool = True,
                 pool: ConnectionPool | None = None, tasks: Tasks | None = None,
                 errors: list[BaseException] | None = None,
                 alerter: overdue.Alerts | None = None, hook: WebhookClient | None = None):
        self.url = url
        self.config = config
        self.geocoder = geocoder
        self.stop = stop or threading.Event()
        self.wake = wake or threading.Event()
        self.stats = stats or Stats()
        self.name = name
        self.report_metrics = report_metrics
        self.pool = pool
        self.tasks = tasks
        self.errors = errors if errors is not None else []   # what stopped a task
        # Overdue alerts: raised while enriching a timeout (None: alerts off); notices
        # POSTed to the webhook (None: recorded as no_webhook).
        self.alerter = alerter if alerter is not None else (
            overdue.Alerts(config) if config.alerts else None)
        self.hook = hook
        self.conn: psycopg.Connection | None = None
        self._metrics_at = 0.0
        self._warned_at = -BACKLOG_WARNING_EVERY_S

    # -- connection --------------------------------------------------------------------

    def _connection(self) -> psycopg.Connection:
        if self.conn is None or self.conn.closed or self.conn.broken:
            if self.conn is not None:
                self.conn.close()
            self.conn = connect(self.url)
        return self.conn

    @contextmanager
    def _db(self) -> Iterator[psycopg.Connection]:
        """A connection for one step: borrowed from the pool, or this worker's own."""
        if self.pool is None:
            yield self._connection()
            return
        with self.pool.connection() as conn:
            yield conn

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    # -- loop ----------------------------------------------------------------------------

    def run(self, drain: bool = False) -> Stats:
        """Read messages until stopped (or, with drain, until the queue is empty),
        each into a free slot of self.tasks (or handled here without tasks)."""
        failures = 0
        try:
            while not self.stop.is_set():
                try:
                    self._housekeeping()
                    handled = 0
                    while handled < self.config.batch_size and not self.stop.is_set():
                        n = self._read_some(self.config.batch_size - handled)
                        if not n:
                            break
                        failures = 0
                        handled += n
                    failures = 0
                    if handled:
                        continue
                    if drain:
                        with self._db() as conn:
                            wait = messages.next_visible_in(conn, self.config.queue)
                        if wait is None:
                            return self.stats          # the queue is empty: done
                        self._sleep(min(max(wait, 0.05), self.config.poll_interval_s))
                    else:
                        self._sleep(self.config.poll_interval_s)
                except psycopg.OperationalError as exc:
                    failures += 1
                    log.warning("%s: database unavailable (%s); retrying", self.name, one_line(exc))
                    self.close()
                    if drain and failures >= 5:
                        raise
                    self._sleep(min(30.0, 0.5 * 2 ** failures))
        finally:
            self.close()
        return self.stats

    def _read_some(self, most: int) -> int:
        """Read messages and start on them: one slot waited for, plus the slots free
        now (up to `most` in all), so every message read starts at once. How many
        were read (0: none there, or stopping)."""
        if self.tasks is None:
            with self._db() as conn:
                msgs = messages.read(conn, self.config.queue, self.config.visibility_timeout_s, 1)
            for msg in msgs:
                self.handle(msg)
            return len(msgs)
        if not self.tasks.take(self.stop):
            return 0
        slots = 1 + self.tasks.take_free(max(0, most - 1))
        try:
            with self._db() as conn:
                msgs = messages.read(conn, self.config.queue, self.config.visibility_timeout_s,
                                     slots)
        except BaseException:
            self.tasks.give_back(slots)
            raise
        self.tasks.give_back(slots - len(msgs))
        for msg in msgs:
            self.tasks.run(lambda m=msg: self._task(m))
        return len(msgs)

    def _task(self, msg: messages.Message) -> None:
        try:
            self.handle(msg)
        except psycopg.OperationalError as exc:
            # Its message reappears after its visibility timeout; the readers see
            # the database's state on their own reads.
            log.warning("%s: database unavailable (%s) during message %s; it returns after "
                        "its visibility timeout", self.name, one_line(exc), msg.msg_id)
        except BaseException as exc:                # noqa: BLE001 - reported by run_workers
            log.error("%s: message %s: %s", self.name, msg.msg_id, one_line(exc))
            self.errors.append(exc)
            self.stop.set()

    def _sleep(self, seconds: float) -> None:
        if self.wake.wait(seconds):
            self.wake.clear()

    def _housekeeping(self) -> None:
        if not self.report_metrics:
            return
        now = time.monotonic()
        if now - self._metrics_at < self.config.metrics_interval_s:
            return
        self._metrics_at = now
        with self._db() as conn:
            st = messages.status(conn, self.config.queue, self.config.dead_queue)
            pending = regeocode.pending(conn)
            active = overdue.active_count(conn) if self.alerter is not None else 0
        metrics.ALERTS_ACTIVE.set(active)
        metrics.QUEUE_DEPTH.labels(self.config.queue).set(st.depth)
        metrics.QUEUE_DEPTH.labels(self.config.dead_queue).set(st.dead)
        metrics.QUEUE_OLDEST_AGE.labels(self.config.queue).set(st.oldest_age_s or 0)
        metrics.GEOCODE_FALLBACKS_PENDING.set(pending)
        behind = (st.oldest_age_s or 0) > self.config.backlog_warning_s or st.dead
        if behind and now - self._warned_at >= BACKLOG_WARNING_EVERY_S:
            self._warned_at = now     # a standing alarm once a minute, not a flood
            log.warning("queue %s: %d waiting, oldest %.0f s; %d dead (`soar queue retry-dead`)",
                        self.config.queue, st.depth, st.oldest_age_s or 0, st.dead)

    # -- one message -----------------------------------------------------------------------

    def handle(self, msg: messages.Message) -> str:
        """Process one message; returns what happened: processed, deferred, retried,
        dead or lost. Three steps: SQL (read, detect, cache) on a connection; the
        Pelias call, if the cell is not cached, on none; SQL (store, write, archive)."""
        if msg.body.get("event") == overdue.EVENT:
            return self._handle_notice(msg)
        started = time.perf_counter()
        enricher = Enricher(None, self.geocoder, self.config)
        flight_id = event = None
        check = None
        try:
            with self._db() as conn:
                enricher.conn = conn
                try:
                    flight_id, event = parse(msg)
                except PermanentError as exc:
                    return self._dead(conn, msg, enricher, None, None, str(exc))
                if msg.attempts > self.config.max_attempts:
                    error = msg.body.get("last_error") or (
                        f"{event}: delivered {msg.read_ct} times without completing "
                        "(worker stopped or crashed while processing it?)")
                    return self._dead(conn, msg, enricher, flight_id, event, str(error))
                outcome = enricher.prepare(msg, flight_id, event)
                if isinstance(outcome, Deferred):
                    if messages.put_back(conn, self.config.queue, msg, self.config.defer_delay_s,
                                         {"deferrals": msg.deferrals + 1}):
                        log.debug("%s: message %s deferred: %s", self.name, msg.msg_id,
                                  outcome.reason)
                        metrics.MESSAGES_DEFERRED.inc()
                        self.stats.on_deferred()
                        return "deferred"
                    raise _Lost
                ask = outcome.needs_pelias
                if ask and self.geocoder.pelias.breaker.state != "open":
                    # A Pelias call may take up to its deadline: keep the message ours
                    # for that long plus the usual timeout for the rest of the work.
                    if not messages.extend(conn, self.config.queue, msg,
                                           self.config.pelias_deadline_s
                                           + self.config.visibility_timeout_s):
                        raise _Lost
            # No connection held while Pelias answers.
            answer = self.geocoder.ask(*outcome.point) if ask else None
            if answer is not None and answer.error is not None:
                self.geocoder.fallback_pace.wait(self.stop)   # nor while paced
            with self._db() as conn:
                enricher.conn = conn
                if answer is not None:
                    enricher.settle(outcome, answer)
                with conn.transaction():
                    if not messages.lock_owned(conn, self.config.queue, msg):
                        raise _Lost
                    enricher.write(outcome)
                    if outcome.event == "timeout" and self.alerter is not None:
                        check = self.alerter.evaluate(conn, flight_id, self.config.queue)
                    delay = messages.archive_aged(conn, self.config.queue, msg)
        except _Lost:
            log.info("%s: message %s was handed to another worker meanwhile; result dropped",
                     self.name, msg.msg_id)
            self.stats.on_lost()
            return "lost"
        except PermanentError as exc:
            with self._db() as conn:
                return self._dead(conn, msg, enricher, flight_id, event, f"{event}: {exc}")
        except psycopg.OperationalError:
            raise                                      # the connection: the loop reconnects
        except Exception as exc:                       # noqa: BLE001 - every failure is retried
            error = f"{event}: {one_line(exc)}"
            with self._db() as conn:
                if msg.attempts >= self.config.max_attempts:
                    return self._dead(conn, msg, enricher, flight_id, event, error)
                delay = self.config.backoff(msg.attempts)
                log.warning("%s: message %s (flight %s %s) failed, attempt %d of %d, retry in "
                            "%.0f s: %s", self.name, msg.msg_id, flight_id, event, msg.attempts,
                            self.config.max_attempts, delay, error)
                if messages.put_back(conn, self.config.queue, msg, delay,
                                     {"last_error": error[:1000]}):
                    metrics.MESSAGES_RETRIED.inc()
                    self.stats.on_retried()
                    return "retried"
            self.stats.on_lost()
            return "lost"

        elapsed_ms = (time.perf_counter() - started) * 1000
        metrics.ENRICHMENT_LATENCY.labels(event).observe(elapsed_ms)
        metrics.MESSAGES_PROCESSED.labels(event).inc()
        metrics.ENRICHMENT_DELAY.labels(event).observe(delay)
        self.stats.on_processed(msg.msg_id, outcome.location_fallback)
        if check is not None:
            metrics.OVERDUE_CHECKS.labels(check.outcome).inc()
            if check.alert_id is not None:
                self.stats.on_alert_raised()
                log.warning("%s: overdue alert %d raised (%s) for flight %s", self.name,
                            check.alert_id, check.outcome, flight_id)
        log.debug("%s: flight %s %s: airport %s runway %s%s location %s%s (%.0f ms)", self.name,
                  flight_id, event, outcome.airport_ident, outcome.runway,
                  " (inferred)" if outcome.runway_inferred else "", outcome.location_id,
                  " (offline fallback)" if outcome.location_fallback else "", elapsed_ms)
        return "processed"

    def _dead(self, conn: psycopg.Connection, msg: messages.Message, enricher: Enricher,
              flight_id, event, error: str) -> str:
        """Dead-letter the message and mark the flight's end failed, atomically. If the
        flight cannot be marked (a data error of its own), the message is still
        dead-lettered, with that said in its error: it must not come back forever."""
        enricher.conn = conn
        try:
            try:
                with conn.transaction():
                    if not messages.dead_letter(conn, self.config.queue, self.config.dead_queue,
                                                msg, error):
                        raise _Lost
                    if flight_id is not None and event is not None:
                        partial = enricher.partial
                        if partial is None or partial.flight_id != flight_id:
                            partial = Enrichment(flight_id, event)
                        enricher.write(partial, status="failed", error=error[:1000])
            except psycopg.OperationalError:
                raise
            except psycopg.Error as exc:
                error = f"{error}; the flight could not be marked failed: {one_line(exc)}"
                with conn.transaction():
                    if not messages.dead_letter(conn, self.config.queue, self.config.dead_queue,
                                                msg, error):
                        raise _Lost from None
        except _Lost:
            self.stats.on_lost()
            return "lost"
        log.error("%s: message %s moved to %s after %d attempt(s): %s", self.name, msg.msg_id,
                  self.config.dead_queue, msg.attempts, error)
        metrics.MESSAGES_DEAD.inc()
        self.stats.on_dead()
        return "dead"


    # -- one alert notice -----------------------------------------------------------------

    def _handle_notice(self, msg: messages.Message) -> str:
        """Deliver one alert notice: read it, POST it holding no connection (the
        message's visibility extended by the webhook's deadline first), then record the
        delivery and archive in one transaction that checks the message is still ours.
        A failed POST is put back after backoff(attempt), dead-lettered after
        alert_max_attempts. Without a webhook the notice is recorded as no_webhook."""
        cfg = self.config
        started = time.perf_counter()
        try:
            alert_id, notice = overdue.parse_notice(msg.body)
        except ValueError as exc:
            with self._db() as conn:
                return self._dead_notice(conn, msg, None, None, f"{overdue.EVENT}: {exc}")
        try:
            with self._db() as conn:
                if msg.attempts > cfg.alert_max_attempts:
                    error = msg.body.get("last_error") or (
                        f"{overdue.EVENT}: delivered {msg.read_ct} times without completing "
                        "(worker stopped or crashed while processing it?)")
                    return self._dead_notice(conn, msg, alert_id, notice, str(error))
                found = overdue.load_notice(conn, alert_id, notice)
                if found is None:
                    return self._dead_notice(conn, msg, None, None,
                                             f"{overdue.EVENT}: alert {alert_id} not found")
                if self.hook is not None and not messages.extend(
                        conn, cfg.queue, msg, cfg.alert_webhook_deadline_s + cfg.visibility_timeout_s):
                    raise _Lost
            result = "no_webhook"
            if self.hook is not None:
                self.hook.post(found.body, found.key)      # no connection held meanwhile
                result = "delivered"
            with self._db() as conn, conn.transaction():
                if not messages.lock_owned(conn, cfg.queue, msg):
                    raise _Lost
                overdue.mark_delivery(conn, alert_id, notice, result)
                delay = messages.archive_aged(conn, cfg.queue, msg)
        except _Lost:
            log.info("%s: message %s was handed to another worker meanwhile; result dropped",
                     self.name, msg.msg_id)
            self.stats.on_lost()
            return "lost"
        except psycopg.OperationalError:
            raise                                      # the connection: the loop reconnects
        except Exception as exc:                       # noqa: BLE001 - every failure is retried
            # A WebhookError's text never holds the URL; anything else, its first line.
            error = f"{overdue.EVENT}: {exc if isinstance(exc, WebhookError) else one_line(exc)}"
            metrics.ALERT_DELIVERIES.labels("failed").inc()
            with self._db() as conn:
                if msg.attempts >= cfg.alert_max_attempts:
                    return self._dead_notice(conn, msg, alert_id, notice, error)
                delay = cfg.backoff(msg.attempts)
                log.warning("%s: alert %d %s notice, try %d of %d failed, retry in %.0f s: %s",
                            self.name, alert_id, notice, msg.attempts, cfg.alert_max_attempts,
                            delay, error)
                if messages.put_back(conn, cfg.queue, msg, delay, {"last_error": error[:1000]}):
                    metrics.MESSAGES_RETRIED.inc()
                    self.stats.on_retried()
                    return "retried"
            self.stats.on_lost()
            return "lost"
        metrics.ENRICHMENT_LATENCY.labels(overdue.EVENT).observe(
            (time.perf_counter() - started) * 1000)
        metrics.ENRICHMENT_DELAY.labels(overdue.EVENT).observe(delay)
        metrics.MESSAGES_PROCESSED.labels(overdue.EVENT).inc()
        metrics.ALERT_DELIVERIES.labels(result).inc()
        self.stats.on_notice(msg.msg_id, result == "delivered")
        log.info("%s: alert %d %s notice %s", self.name, alert_id, notice,
                 "delivered to the webhook" if result == "delivered" else
                 "recorded (no webhook configured)")
        return "processed"

    def _dead_notice(self, conn: psycopg.Connection, msg: messages.Message,
                     alert_id: int | None, notice: str | None, error: str) -> str:
        """Dead-letter the notice and mark its delivery failed, atomically."""
        try:
            with conn.transaction():
                if not messages.dead_letter(conn, self.config.queue, self.config.dead_queue,
                                            msg, error):
                    raise _Lost
                if alert_id is not None and notice is not None:
                    overdue.mark_delivery(conn, alert_id, notice, "failed", error[:1000])
        except _Lost:
            self.stats.on_lost()
            return "lost"
        log.error("%s: message %s moved to %s after %d attempt(s): %s", self.name, msg.msg_id,
                  self.config.dead_queue, msg.attempts, error)
        metrics.MESSAGES_DEAD.inc()
        metrics.ALERT_DELIVERIES.labels("dead").inc()
        self.stats.on_dead()
        return "dead"


class AlertSweeper(threading.Thread):
    """Every alert_sweep_interval_s: clear the overdue alerts of aircraft heard again
    (or resumed, landed, untracked, flight gone) and queue their `cleared` notices.
    Its own thread and one pooled connection for one statement per round."""

    def __init__(self, pool: ConnectionPool, alerter: overdue.Alerts, config: WorkerConfig,
                 stats: Stats, stop: threading.Event):
        super().__init__(name="soar-worker-alert-sweep", daemon=True)
        self.pool, self.alerter, self.config = pool, alerter, config
        self.stats, self.stop = stats, stop

    def run(self) -> None:
        while not self.stop.wait(self.config.alert_sweep_interval_s):
            self.sweep_once()

    def sweep_once(self) -> int:
        try:
            with self.pool.connection() as conn:
                cleared = self.alerter.sweep(conn, self.config.queue)
        except psycopg.Error as exc:
            log.warning("overdue alert sweep failed (%s); trying again in %.0f s",
                        one_line(exc), self.config.alert_sweep_interval_s)
            return 0
        for alert_id, reason in cleared:
            metrics.ALERTS_CLEARED.labels(reason).inc()
            log.info("overdue alert %d cleared: %s", alert_id, reason)
        self.stats.on_alerts_cleared(len(cleared))
        return len(cleared)


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
                    log.warning("LISTEN unavailable (%s); polling only", one_line(exc))
                    warned = True
                self.stop.wait(5.0)


class Regeocoder(threading.Thread):
    """Every regeocode_interval_s, unless the circuit is open (Pelias still failing),
    replace up to regeocode_batch fallback places with Pelias' answer. Its own thread,
    so a slow Pelias never holds up the readers; pooled connections only for SQL."""

    def __init__(self, pool: ConnectionPool, geocoder: Geocoder, config: WorkerConfig,
                 stats: Stats, stop: threading.Event):
        super().__init__(name="soar-worker-regeocode", daemon=True)
        self.pool, self.geocoder, self.config = pool, geocoder, config
        self.stats, self.stop = stats, stop

    def run(self) -> None:
        while not self.stop.wait(self.config.regeocode_interval_s):
            if self.geocoder.pelias.breaker.state == "open":
                continue
            try:
                result = regeocode.regeocode(self.pool, self.geocoder, self.config.regeocode_batch,
                                             budget_s=self.config.pelias_deadline_s)
            except psycopg.Error as exc:
                log.warning("re-geocoding failed (%s); trying again in %.0f s", one_line(exc),
                            self.config.regeocode_interval_s)
                continue
            if result.locations:
                self.stats.on_regeocoded(result.locations)
                log.info("re-geocoded %d fallback place(s) with Pelias (%d flight end(s) "
                         "re-pointed), %d left", result.locations, result.flight_ends, result.left)


def lower_priority(niceness: int) -> int:
    """Make this process at least `niceness` nice (WorkerConfig.niceness); returns its
    niceness. Absolute, not os.nice's increment: a second call in one process, or a
    process a service manager already niced more, is left as it is."""
    if niceness > os.getpriority(os.PRIO_PROCESS, 0):
        os.setpriority(os.PRIO_PROCESS, 0, niceness)
    return os.getpriority(os.PRIO_PROCESS, 0)


def run_workers(url: str, config: WorkerConfig, threads: int = 1, drain: bool = False,
                stop: threading.Event | None = None, stats: Stats | None = None,
                listen_url: str | None = None) -> Stats:
    """Run `threads` readers feeding `config.concurrency` message slots over a pool of
    `config.db_connections` connections, sharing one geocoder (and its circuit
    breaker), until `stop` is set, or, with drain, until the queue is empty. Every
    message in hand is finished before it returns. Raises the first error that
    stopped a reader or a task."""
    stop = stop or threading.Event()
    stats = stats or Stats(committed_max=config.committed_ids_kept)
    geocoder = make_geocoder(config)
    alerter = overdue.Alerts(config) if config.alerts else None
    hook = make_webhook(config)
    pool = make_pool(url, config)
    tasks = Tasks(config.concurrency)
    errors: list[BaseException] = []
    # Reader 0 also reports the queue gauges.
    workers = [Worker(url, config, geocoder, stop=stop, stats=stats, name=f"worker-{i}",
                      report_metrics=(i == 0), pool=pool, tasks=tasks, errors=errors,
                      alerter=alerter, hook=hook)
               for i in range(max(1, threads))]
    helpers: list[threading.Thread] = []
    if config.listen and not drain:
        helpers.append(Listener(listen_url or config.listen_url or url, config.queue,
                                [w.wake for w in workers], stop))
    if geocoder.pelias is not None and config.regeocode_batch > 0:
        helpers.append(Regeocoder(pool, geocoder, config, stats, stop))
    if alerter is not None:
        sweeper = AlertSweeper(pool, alerter, config, stats, stop)
        if drain:
            sweeper.sweep_once()            # a drain is one round: its notices are delivered
        elif config.alert_sweep_interval_s > 0:
            helpers.append(sweeper)
    if config.prune_every_s > 0:
        pruner = Pruner(url, config, stop)
        if drain:
            pruner.prune_once()             # a drain is one round: prune once, first
        else:
            helpers.append(pruner)
    for h in helpers:
        h.start()

    def target(w: Worker) -> None:
        try:
            w.run(drain=drain)
        except BaseException as exc:            # noqa: BLE001 - reported by run_workers
            errors.append(exc)
            stop.set()

    ts = [threading.Thread(target=target, args=(w,), name=w.name, daemon=True) for w in workers]
    for t in ts:
        t.start()

    def wake_all() -> None:
        for w in workers:
            w.wake.set()

    try:
        for t in ts:
            while t.is_alive():
                t.join(0.2)
                if stop.is_set():
                    wake_all()              # idle readers sleep on their wake event
    finally:
        # Interrupted (or done): the readers stop; the messages in hand are finished
        # (a Pelias call within its deadline), then the connections close.
        stop.set()
        wake_all()
        for t in ts:
            t.join(config.visibility_timeout_s)
        if tasks.busy:
            log.info("stopping: nothing more is read; finishing the %d message(s) in hand",
                     tasks.busy)
        if not tasks.wait_idle(config.pelias_deadline_s + config.visibility_timeout_s):
            log.warning("stopping with %d message(s) unfinished: they return to the queue after "
                        "their visibility timeout", tasks.busy)
        tasks.close()
        for h in helpers:
            h.join(3)
        pool.close(timeout=5)
    if errors:
        raise errors[0]
    return stats
