"""The polling loop: read a message (pgmq.read of one, with a visibility timeout),
enrich it, archive it in the transaction that writes the flight; then the next.
Several threads (and several processes) share the queue safely: pgmq.read hands
each message to one reader, and a reader that lost its message (timeout passed,
message handed to another) rolls its result back (see worker.messages, which also
says why messages are read one at a time and how visibility is extended).

Per message:
- not ready (the event's fixes are not stored yet): put back for defer_delay_s, not
  counted as an attempt;
- failure: put back after backoff(attempt) (exponential), the error kept in the
  message; after max_attempts (or at once for a permanent error) moved to the
  dead-letter queue with the error, and the flight marked failed for that end;
- a message delivered more than max_attempts times without finishing (workers that
  crashed on it) goes to the dead-letter queue too. Nothing is dropped silently.
- Pelias failing is not a failure of the message: the place comes from the offline
  geocoder (worker.geocode), and worker 0 of each process re-geocodes such fallback
  places when Pelias answers again (worker.regeocode, bounded per round).

Idle: sleep poll_interval_s, or less when a LISTEN notification (pgmq insert
notify, a hint only: lossy, and not through PgBouncer) arrives.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from soar.errors import first_line
from worker import messages, metrics, regeocode
from worker.config import WorkerConfig
from worker.enrich import Deferred, Enricher, Enrichment, PermanentError, parse
from worker.geocode import Geocoder
from worker.pelias import CircuitBreaker, PeliasClient

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
                f"re-geocoded {self.regeocoded}")


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
                              breaker=CircuitBreaker(config.breaker_threshold,
                                                     config.breaker_reset_s))
    return Geocoder(pelias, config.places_max_distance_m)


def connect(url: str) -> psycopg.Connection:
    # autocommit: no transaction stays open while we wait on Pelias; explicit
    # transaction blocks for the atomic steps. No server-side prepared statements,
    # so the worker also runs through PgBouncer in transaction pooling.
    return psycopg.connect(url, autocommit=True, prepare_threshold=None, connect_timeout=10,
                           application_name="soar-worker")


class Worker:
    def __init__(self, url: str, config: WorkerConfig, geocoder: Geocoder, *,
                 stop: threading.Event | None = None, wake: threading.Event | None = None,
                 stats: Stats | None = None, name: str = "worker", report_metrics: bool = True,
                 regeocode: bool = False):
        self.url = url
        self.config = config
        self.geocoder = geocoder
        self.stop = stop or threading.Event()
        self.wake = wake or threading.Event()
        self.stats = stats or Stats()
        self.name = name
        self.report_metrics = report_metrics
        self.regeocode = regeocode          # this one re-geocodes fallback places
        self.conn: psycopg.Connection | None = None
        self._metrics_at = 0.0
        self._regeocode_at = -float("inf")
        self._warned_at = -BACKLOG_WARNING_EVERY_S

    # -- connection --------------------------------------------------------------------

    def _connection(self) -> psycopg.Connection:
        if self.conn is None or self.conn.closed or self.conn.broken:
            if self.conn is not None:
                self.conn.close()
            self.conn = connect(self.url)
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    # -- loop ----------------------------------------------------------------------------

    def run(self, drain: bool = False) -> Stats:
        failures = 0
        try:
            while not self.stop.is_set():
                try:
                    self._housekeeping(self._connection())
                    handled = 0
                    # One message at a time (worker.messages): each is read when this
                    # worker starts on it, so it is never charged for another's delay.
                    while handled < self.config.batch_size and not self.stop.is_set():
                        msgs = messages.read(self._connection(), self.config.queue,
                                             self.config.visibility_timeout_s, 1)
                        failures = 0
                        if not msgs:
                            break
                        self.handle(msgs[0])
                        handled += 1
                    if handled:
                        continue
                    if drain:
                        wait = messages.next_visible_in(self._connection(), self.config.queue)
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

    def _sleep(self, seconds: float) -> None:
        if self.wake.wait(seconds):
            self.wake.clear()

    def _housekeeping(self, conn: psycopg.Connection) -> None:
        self._refresh_metrics(conn)
        self._regeocode(conn)

    def _regeocode(self, conn: psycopg.Connection) -> None:
        """Replace up to regeocode_batch fallback places with Pelias' answer, every
        regeocode_interval_s, unless the circuit is open (Pelias still failing)."""
        pelias = self.geocoder.pelias
        if not self.regeocode or pelias is None or self.config.regeocode_batch <= 0:
            return
        now = time.monotonic()
        if now - self._regeocode_at < self.config.regeocode_interval_s:
            return
        if pelias.breaker.state == "open":
            return
        self._regeocode_at = now
        try:
            result = regeocode.regeocode(conn, self.geocoder, self.config.regeocode_batch,
                                         budget_s=self.config.pelias_deadline_s)
        except psycopg.OperationalError:
            raise
        except psycopg.Error as exc:
            log.warning("%s: re-geocoding failed (%s); trying again in %.0f s", self.name,
                        one_line(exc), self.config.regeocode_interval_s)
            return
        if result.locations:
            self.stats.on_regeocoded(result.locations)
            log.info("%s: re-geocoded %d fallback place(s) with Pelias (%d flight end(s) "
                     "re-pointed), %d left", self.name, result.locations, result.flight_ends,
                     result.left)

    def _refresh_metrics(self, conn: psycopg.Connection) -> None:
        if not self.report_metrics:
            return
        now = time.monotonic()
        if now - self._metrics_at < self.config.metrics_interval_s:
            return
        self._metrics_at = now
        st = messages.status(conn, self.config.queue, self.config.dead_queue)
        metrics.QUEUE_DEPTH.labels(self.config.queue).set(st.depth)
        metrics.QUEUE_DEPTH.labels(self.config.dead_queue).set(st.dead)
        metrics.QUEUE_OLDEST_AGE.labels(self.config.queue).set(st.oldest_age_s or 0)
        metrics.GEOCODE_FALLBACKS_PENDING.set(regeocode.pending(conn))
        behind = (st.oldest_age_s or 0) > self.config.backlog_warning_s or st.dead
        if behind and now - self._warned_at >= BACKLOG_WARNING_EVERY_S:
            self._warned_at = now     # a standing alarm once a minute, not a flood
            log.warning("queue %s: %d waiting, oldest %.0f s; %d dead (`soar queue retry-dead`)",
                        self.config.queue, st.depth, st.oldest_age_s or 0, st.dead)

    # -- one message -----------------------------------------------------------------------

    def handle(self, msg: messages.Message) -> str:
        """Process one message; returns what happened: processed, deferred, retried,
        dead or lost."""
        conn = self._connection()
        started = time.perf_counter()
        enricher = Enricher(conn, self.geocoder, self.config)
        try:
            flight_id, event = parse(msg)
        except PermanentError as exc:
            return self._dead(msg, enricher, None, None, str(exc))

        if msg.attempts > self.config.max_attempts:
            error = msg.body.get("last_error") or (
                f"{event}: delivered {msg.read_ct} times without completing "
                "(worker stopped or crashed while processing it?)")
            return self._dead(msg, enricher, flight_id, event, str(error))

        def before_pelias() -> None:
            # A Pelias call may take up to its deadline: keep the message ours for that
            # long plus the usual timeout for the rest of the work.
            if not messages.extend(conn, self.config.queue, msg,
                                   self.config.pelias_deadline_s + self.config.visibility_timeout_s):
                raise _Lost

        try:
            outcome = enricher.prepare(msg, flight_id, event, before_call=before_pelias)
            if isinstance(outcome, Deferred):
                if messages.put_back(conn, self.config.queue, msg, self.config.defer_delay_s,
                                     {"deferrals": msg.deferrals + 1}):
                    log.debug("%s: message %s deferred: %s", self.name, msg.msg_id, outcome.reason)
                    metrics.MESSAGES_DEFERRED.inc()
                    self.stats.on_deferred()
                    return "deferred"
                raise _Lost
            with conn.transaction():
                if not messages.lock_owned(conn, self.config.queue, msg):
                    raise _Lost
                enricher.write(outcome)
                messages.archive(conn, self.config.queue, msg.msg_id)
        except _Lost:
            log.info("%s: message %s was handed to another worker meanwhile; result dropped",
                     self.name, msg.msg_id)
            self.stats.on_lost()
            return "lost"
        except PermanentError as exc:
            return self._dead(msg, enricher, flight_id, event, f"{event}: {exc}")
        except psycopg.OperationalError:
            raise                                      # the connection: the loop reconnects
        except Exception as exc:                       # noqa: BLE001 - every failure is retried
            error = f"{event}: {one_line(exc)}"
            if msg.attempts >= self.config.max_attempts:
                return self._dead(msg, enricher, flight_id, event, error)
            delay = self.config.backoff(msg.attempts)
            log.warning("%s: message %s (flight %s %s) failed, attempt %d of %d, retry in %.0f s: %s",
                        self.name, msg.msg_id, flight_id, event, msg.attempts,
                        self.config.max_attempts, delay, error)
            if messages.put_back(conn, self.config.queue, msg, delay, {"last_error": error[:1000]}):
                metrics.MESSAGES_RETRIED.inc()
                self.stats.on_retried()
                return "retried"
            self.stats.on_lost()
            return "lost"

        elapsed_ms = (time.perf_counter() - started) * 1000
        metrics.ENRICHMENT_LATENCY.labels(event).observe(elapsed_ms)
        metrics.MESSAGES_PROCESSED.labels(event).inc()
        try:
            delay = conn.execute("SELECT extract(epoch FROM clock_timestamp() - %s)",
                                 (msg.enqueued_at,)).fetchone()[0]
            metrics.ENRICHMENT_DELAY.labels(event).observe(float(delay))
        except psycopg.Error:
            pass
        self.stats.on_processed(msg.msg_id, outcome.location_fallback)
        log.debug("%s: flight %s %s: airport %s runway %s%s location %s%s (%.0f ms)", self.name,
                  flight_id, event, outcome.airport_ident, outcome.runway,
                  " (inferred)" if outcome.runway_inferred else "", outcome.location_id,
                  " (offline fallback)" if outcome.location_fallback else "", elapsed_ms)
        return "processed"

    def _dead(self, msg: messages.Message, enricher: Enricher, flight_id, event, error: str) -> str:
        """Dead-letter the message and mark the flight's end failed, atomically. If the
        flight cannot be marked (a data error of its own), the message is still
        dead-lettered, with that said in its error: it must not come back forever."""
        conn = self._connection()
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


def run_workers(url: str, config: WorkerConfig, threads: int = 1, drain: bool = False,
                stop: threading.Event | None = None, stats: Stats | None = None,
                listen_url: str | None = None) -> Stats:
    """Run `threads` workers sharing one geocoder (and its circuit breaker) until
    `stop` is set, or, with drain, until the queue is empty. Raises the first error
    that stopped a thread."""
    stop = stop or threading.Event()
    stats = stats or Stats(committed_max=config.committed_ids_kept)
    geocoder = make_geocoder(config)
    # Worker 0 also reports the queue gauges and re-geocodes fallback places.
    workers = [Worker(url, config, geocoder, stop=stop, stats=stats, name=f"worker-{i}",
                      report_metrics=(i == 0), regeocode=(i == 0))
               for i in range(max(1, threads))]
    errors: list[BaseException] = []
    listener = None
    if config.listen and not drain:
        listener = Listener(listen_url or config.listen_url or url, config.queue,
                            [w.wake for w in workers], stop)
        listener.start()

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
                    wake_all()              # idle workers sleep on their wake event
    finally:
        # Interrupted (or done): stop the others, let them finish the message in hand.
        stop.set()
        wake_all()
        for t in ts:
            t.join(config.visibility_timeout_s)
        if listener is not None:
            listener.join(3)
    if errors:
        raise errors[0]
    return stats
