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

Overdue alerts (worker.overdue): the `timeout` enrichment also evaluates the flight,
in its own transaction, and may raise an alert and queue its `raised` notice; a
sweeper thread clears alerts (and queues `cleared` notices) every
alert_sweep_interval_s, and once at the start of a drain. A notice message (event
`overdue_alert`) is POSTed to the webhook holding no connection, with the same
ownership and backoff as an enrichment; a notice the webhook refuses is retried until
it is taken, never dead-lettered (`soar alerts list` and `soar queue check` show it).

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
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg_pool import ConnectionPool

from soar.db.urls import SAFE_CONNECT
from soar.errors import first_line
from soar_worker import messages, metrics, overdue, regeocode
from soar_worker.config import WorkerConfig
from soar_worker.deadline import DeadlinePool
from soar_worker.enrich import Deferred, Enricher, Enrichment, PermanentError, parse
from soar_worker.geocode import Geocoder, make_geocoder
from soar_worker.messages import Listener
from soar_worker.metrics import ALERT_EVENT, TIMEOUT, Stats
from soar_worker.overdue import AlertSweeper
from soar_worker.regeocode import Regeocoder
from soar_worker.retention import Pruner
from soar_worker.tasks import Tasks
from soar_worker.webhook import WebhookClient, WebhookError

log = logging.getLogger(__name__)
BACKLOG_WARNING_EVERY_S = 60.0


class _Lost(Exception):
    """Rolls back a transaction whose message is no longer ours."""


# autocommit: no transaction stays open while we wait on Pelias; explicit transaction
# blocks for the atomic steps. soar's safe settings (soar.db.urls.SAFE_CONNECT): no
# server-side prepared statements, so the worker also runs through PgBouncer in
# transaction pooling, and keepalives plus TCP_USER_TIMEOUT, so a half-open link is
# closed within seconds instead of holding a pool slot for ever.
CONNECT_KWARGS = {**SAFE_CONNECT, "autocommit": True, "application_name": "soar-worker"}


def make_webhook(config: WorkerConfig) -> WebhookClient | None:
    """The alert webhook's client, if SOAR_ALERT_WEBHOOK_URL is set."""
    if not config.alert_webhook_url:
        return None
    return WebhookClient(config.alert_webhook_url, deadline_s=config.alert_webhook_deadline_s,
                         connections=config.concurrency,
                         allow_http=config.alert_webhook_allow_http)


def connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url, **CONNECT_KWARGS)


def make_pool(url: str, config: WorkerConfig) -> ConnectionPool:
    """The process's database connections (opened as needed, up to db_connections)."""
    # check: a connection is tried (one round trip) before it is lent, so one that died
    # while idle in the pool is replaced instead of failing the message that got it.
    # step_deadline_s: a borrow that outlives it has its socket shut down (worker.deadline).
    return DeadlinePool(url, kwargs=dict(CONNECT_KWARGS), min_size=1,
                        max_size=max(1, config.db_connections),
                        timeout=config.db_pool_timeout_s, name="soar-worker", open=True,
                        check=ConnectionPool.check_connection,
                        step_deadline_s=config.db_step_deadline_s)


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
                    log.warning("%s: database unavailable (%s); retrying", self.name,
                                first_line(exc, named=True))
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
                        "its visibility timeout", self.name, first_line(exc, named=True), msg.msg_id)
        except BaseException as exc:                # noqa: BLE001 - reported by run_workers
            log.error("%s: message %s: %s", self.name, msg.msg_id, first_line(exc, named=True))
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
        if msg.body.get("event") == ALERT_EVENT:
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
                    if outcome.event == TIMEOUT and self.alerter is not None:
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
            error = f"{event}: {first_line(exc, named=True)}"
            with self._db() as conn:
                if msg.attempts >= self.config.max_attempts:
                    return self._dead(conn, msg, enricher, flight_id, event, error)
                delay = self.config.backoff(msg.attempts)
                log.warning("%s: message %s (flight %s %s) failed, attempt %d of %d, retry in "
                            "%.0f s: %s", self.name, msg.msg_id, flight_id, event, msg.attempts,
                            self.config.max_attempts, delay, error)
                if messages.put_back(conn, self.config.queue, msg, delay,
                                     {"last_error": error[:1000]}):
                    self.stats.on_retried()
                    return "retried"
            self.stats.on_lost()
            return "lost"

        elapsed_ms = (time.perf_counter() - started) * 1000
        self.stats.on_processed(msg.msg_id, outcome.location_fallback, event=event,
                                latency_ms=elapsed_ms, delay_s=delay)
        if check is not None:
            self.stats.on_overdue_check(check.outcome, raised=check.alert_id is not None)
            if check.alert_id is not None:
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
                error = f"{error}; the flight could not be marked failed: {first_line(exc, named=True)}"
                with conn.transaction():
                    if not messages.dead_letter(conn, self.config.queue, self.config.dead_queue,
                                                msg, error):
                        raise _Lost from None
        except _Lost:
            self.stats.on_lost()
            return "lost"
        log.error("%s: message %s moved to %s after %d attempt(s): %s", self.name, msg.msg_id,
                  self.config.dead_queue, msg.attempts, error)
        self.stats.on_dead()
        return "dead"

    # -- one alert notice -----------------------------------------------------------------

    def _handle_notice(self, msg: messages.Message) -> str:
        """Deliver one alert notice: read it, POST it holding no connection (the
        message's visibility extended by the webhook's deadline first), then record the
        delivery and archive in one transaction that checks the message is still ours.
        A failed POST is put back after backoff(failures), never dead-lettered (an
        error in the log from alert_max_attempts failures on); a notice workers keep
        crashing on is, after alert_max_attempts such reads. Without a webhook the
        notice is recorded as no_webhook."""
        cfg = self.config
        started = time.perf_counter()
        try:
            alert_id, notice = overdue.parse_notice(msg.body)
        except ValueError as exc:
            with self._db() as conn:
                return self._dead_notice(conn, msg, None, None, f"{ALERT_EVENT}: {exc}")
        try:
            with self._db() as conn:
                if msg.attempts - _failures(msg) > cfg.alert_max_attempts:
                    error = (f"{ALERT_EVENT}: delivered {msg.read_ct} times without completing "
                             "(worker stopped or crashed while processing it?)")
                    return self._dead_notice(conn, msg, alert_id, notice, error)
                found = overdue.load_notice(conn, alert_id, notice)
                if found is None:
                    return self._dead_notice(conn, msg, None, None,
                                             f"{ALERT_EVENT}: alert {alert_id} not found")
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
            why = exc if isinstance(exc, WebhookError) else first_line(exc, named=True)
            error = f"{ALERT_EVENT}: {why}"
            self.stats.on_delivery_failed()
            failures = _failures(msg) + 1
            delay = cfg.backoff(failures)
            # Never dead-lettered for a failed delivery: a search-and-rescue notice is
            # retried (every backoff_max_s at most) until the webhook takes it, its last
            # error kept on the alert and in the message (`soar alerts list`, `soar queue
            # check`); from alert_max_attempts failed tries on, each is logged as an error.
            level = logging.ERROR if failures >= cfg.alert_max_attempts else logging.WARNING
            log.log(level, "%s: alert %d %s notice not delivered (try %d; alert_max_attempts "
                    "%d), retry in %.0f s: %s", self.name, alert_id, notice, failures,
                    cfg.alert_max_attempts, delay, error)
            with self._db() as conn, conn.transaction():
                if messages.put_back(conn, cfg.queue, msg, delay,
                                     {"last_error": error[:1000], "failures": failures}):
                    overdue.mark_delivery(conn, alert_id, notice, "pending", error[:1000])
                    self.stats.on_retried()
                    return "retried"
            self.stats.on_lost()
            return "lost"
        self.stats.on_notice(msg.msg_id, result, (time.perf_counter() - started) * 1000, delay)
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
        self.stats.on_dead(notice=True)
        return "dead"


def _failures(msg: messages.Message) -> int:
    """Failed deliveries of a notice so far (recorded in its body at each put-back):
    its other reads were workers that stopped or crashed on it."""
    try:
        return max(0, int(msg.body.get("failures", 0)))
    except (TypeError, ValueError):
        return 0


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
            sweeper.round()            # a drain is one round: its notices are delivered
        elif config.alert_sweep_interval_s > 0:
            helpers.append(sweeper)
    if config.prune_every_s > 0:
        pruner = Pruner(url, config, stop)
        if drain:
            pruner.round()             # a drain is one round: prune once, first
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
