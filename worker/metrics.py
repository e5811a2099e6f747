"""Prometheus metrics of the worker (prometheus_client default registry).

worker.enrichment.latency_ms  -> soar_worker_enrichment_latency_ms{event}
worker.pelias.latency_ms      -> soar_worker_pelias_latency_ms
worker.pelias.success_total   -> soar_worker_pelias_success_total
worker.pelias.failure_total   -> soar_worker_pelias_failure_total{reason}
worker.messages.*_total       -> soar_worker_messages_{processed,retried,deferred,dead}_total
queue depth / oldest age      -> soar_worker_queue_depth{queue},
                                 soar_worker_queue_oldest_age_seconds{queue}
geocoding fallback            -> soar_worker_geocode_lookups_total{result="fallback"},
                                 soar_worker_geocode_regeocoded_total,
                                 soar_worker_geocode_fallbacks_pending
overdue alerts                -> soar_worker_overdue_checks_total{outcome},
                                 soar_worker_alerts_cleared_total{reason},
                                 soar_worker_alert_deliveries_total{result},
                                 soar_worker_alerts_active

Here too: the worker's words (queue events, outcomes, reasons: the label values), so
every module takes them from the bottom of the worker's layers, and `Stats`, the one
place an outcome is counted (a Prometheus series and the process's own totals, which
`soar worker` prints and tests read).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

from prometheus_client import Counter, Gauge, Histogram, start_http_server

# -- the worker's words ------------------------------------------------------------------

# The queue's events, one word each across the worker. The frozen trigger functions
# (sql/functions/enqueue_flight_created.sql, enqueue_flight_ended.sql) choose them from
# the flight row; the tracker's op kinds (start_takeoff, start_airborne, end_landing,
# end_timeout) never reach the queue (docs/enrichment.md).
TAKEOFF, LANDING, AIRBORNE_START, TIMEOUT = "takeoff", "landing", "airborne_start", "timeout"
EVENTS = (TAKEOFF, LANDING, AIRBORNE_START, TIMEOUT)
DEPARTURE_EVENTS = (TAKEOFF, AIRBORNE_START)
# The flights column that holds each event's enrichment status.
STATUS_COLUMN = {TAKEOFF: "takeoff_enrichment", AIRBORNE_START: "takeoff_enrichment",
                 LANDING: "landing_enrichment", TIMEOUT: "landing_enrichment"}
ALERT_EVENT = "overdue_alert"           # an alert notice for the webhook, on the same queue
NOTICES = ("raised", "cleared")
# An overdue check's outcome: these raise an alert...
RAISE = ("low", "low_descending", "descending")
# ...and these say why a timed-out flight raised nothing.
NO_ALERT = ("landed", "ended_otherwise", "resumed", "spurious", "not_tracked", "heard_again",
            "too_old", "no_fixes", "fast", "cruising")
CLEAR_REASONS = ("heard_again", "resumed", "landing", "not_tracked", "flight_deleted", "manual")
DELIVERY_RESULTS = ("delivered", "no_webhook", "failed", "dead")

MS_BUCKETS = (1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000)

ENRICHMENT_LATENCY = Histogram(
    "soar_worker_enrichment_latency_ms",
    "Time to enrich one flight event (read to commit), milliseconds.",
    ["event"], buckets=MS_BUCKETS)
ENRICHMENT_DELAY = Histogram(
    "soar_worker_enrichment_delay_seconds",
    "From enqueueing to the committed enrichment, seconds.",
    ["event"], buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600))
PELIAS_LATENCY = Histogram(
    "soar_worker_pelias_latency_ms", "Pelias /v1/reverse request time, milliseconds.",
    buckets=MS_BUCKETS)
PELIAS_SUCCESS = Counter("soar_worker_pelias_success", "Pelias reverse calls that succeeded.")
PELIAS_FAILURE = Counter("soar_worker_pelias_failure",
                         "Pelias reverse calls that failed (after the client's retries).",
                         ["reason"])
PELIAS_CIRCUIT_OPEN = Gauge("soar_worker_pelias_circuit_open",
                            "1 while the circuit breaker keeps Pelias calls off.")
GEOCODE_LOOKUPS = Counter("soar_worker_geocode_lookups",
                          "Location lookups: cache hit, pelias, places (offline) or fallback "
                          "(offline place because Pelias failed).", ["result"])
GEOCODE_REGEOCODED = Counter("soar_worker_geocode_regeocoded",
                             "Fallback places replaced by Pelias' answer (their flights re-pointed).")
GEOCODE_FALLBACKS_PENDING = Gauge("soar_worker_geocode_fallbacks_pending",
                                  "Fallback places waiting to be re-geocoded with Pelias.")
MESSAGES_PROCESSED = Counter("soar_worker_messages_processed",
                             "Messages enriched and archived.", ["event"])
MESSAGES_RETRIED = Counter("soar_worker_messages_retried",
                           "Messages put back after a failure (exponential backoff).")
MESSAGES_DEFERRED = Counter("soar_worker_messages_deferred",
                            "Messages put back because the event's fixes were not stored yet.")
MESSAGES_DEAD = Counter("soar_worker_messages_dead",
                        "Messages moved to the dead-letter queue.")
QUEUE_DEPTH = Gauge("soar_worker_queue_depth", "Messages in the queue (visible or not).", ["queue"])
QUEUE_OLDEST_AGE = Gauge("soar_worker_queue_oldest_age_seconds",
                         "Age of the oldest message in the queue, seconds.", ["queue"])
OVERDUE_CHECKS = Counter("soar_worker_overdue_checks",
                         "Timed-out flights evaluated for an overdue alert, by outcome (low, "
                         "low_descending, descending raise one; the others say why not).",
                         ["outcome"])
ALERTS_CLEARED = Counter("soar_worker_alerts_cleared", "Overdue alerts cleared, by reason.",
                         ["reason"])
ALERT_DELIVERIES = Counter("soar_worker_alert_deliveries",
                           "Alert notices: delivered, no_webhook (none configured), failed "
                           "(one failed try, retried), dead (tries used up).", ["result"])
ALERTS_ACTIVE = Gauge("soar_worker_alerts_active", "Overdue alerts not cleared.")


# Label values known in advance, exported at 0 from the start: a rate() over a series
# that appears only with its first event misses that event, and a dashboard panel
# would show nothing rather than zero.
PELIAS_FAILURE_REASONS = ("timeout", "connection", "http_5xx", "http_4xx", "malformed",
                          "redirect", "too_large", "error", "circuit_open")
LOOKUP_RESULTS = ("cache", "pelias", "places", "fallback", "shared")


def _initialise_labels() -> None:
    for event in (*EVENTS, ALERT_EVENT):
        ENRICHMENT_LATENCY.labels(event)
        ENRICHMENT_DELAY.labels(event)
        MESSAGES_PROCESSED.labels(event)
    for reason in PELIAS_FAILURE_REASONS:
        PELIAS_FAILURE.labels(reason)
    for result in LOOKUP_RESULTS:
        GEOCODE_LOOKUPS.labels(result)
    for outcome in (*RAISE, *NO_ALERT):
        OVERDUE_CHECKS.labels(outcome)
    for reason in CLEAR_REASONS:
        ALERTS_CLEARED.labels(reason)
    for result in DELIVERY_RESULTS:
        ALERT_DELIVERIES.labels(result)


def serve(port: int, addr: str = "127.0.0.1", pgbouncer_stats_url: str | None = None) -> None:
    """Expose /metrics over HTTP (a daemon thread); with `pgbouncer_stats_url`, PgBouncer's
    pools too (soar.db.pgbouncer_stats.PgBouncerCollector, read at each scrape)."""
    _initialise_labels()
    if pgbouncer_stats_url:
        from prometheus_client import REGISTRY

        from soar.db.pgbouncer_stats import PgBouncerCollector
        REGISTRY.register(PgBouncerCollector(pgbouncer_stats_url))
    start_http_server(port, addr=addr)


@dataclass
class Stats:
    """The outcomes of a worker process, each counted once: a method per outcome
    counts its Prometheus series and these totals together (several threads share one
    Stats)."""

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

    def on_processed(self, msg_id: int, fallback: bool = False, *, event: str | None = None,
                     latency_ms: float = 0.0, delay_s: float = 0.0) -> None:
        """An enrichment committed (`event`: its series; None, the totals only)."""
        if event is not None:
            ENRICHMENT_LATENCY.labels(event).observe(latency_ms)
            MESSAGES_PROCESSED.labels(event).inc()
            ENRICHMENT_DELAY.labels(event).observe(delay_s)
        with self.lock:
            self.processed += 1
            self.fallbacks += fallback
            self.committed.append(msg_id)

    def on_notice(self, msg_id: int, result: str, latency_ms: float, delay_s: float) -> None:
        """An alert notice recorded (`result`: delivered or no_webhook) and archived."""
        ENRICHMENT_LATENCY.labels(ALERT_EVENT).observe(latency_ms)
        ENRICHMENT_DELAY.labels(ALERT_EVENT).observe(delay_s)
        MESSAGES_PROCESSED.labels(ALERT_EVENT).inc()
        ALERT_DELIVERIES.labels(result).inc()
        with self.lock:
            self.processed += 1
            self.notices_delivered += result == "delivered"
            self.committed.append(msg_id)

    def on_overdue_check(self, outcome: str, raised: bool) -> None:
        OVERDUE_CHECKS.labels(outcome).inc()
        if raised:
            with self.lock:
                self.alerts_raised += 1

    def on_alerts_cleared(self, reasons: list[str]) -> None:
        for reason in reasons:
            ALERTS_CLEARED.labels(reason).inc()
        with self.lock:
            self.alerts_cleared += len(reasons)

    def on_regeocoded(self, locations: int) -> None:
        """Fallback places replaced by Pelias' answer (a round of worker.regeocode)."""
        GEOCODE_REGEOCODED.inc(locations)
        with self.lock:
            self.regeocoded += locations

    def on_delivery_failed(self) -> None:
        """One failed webhook try (then retried, dead-lettered or lost: counted apart)."""
        ALERT_DELIVERIES.labels("failed").inc()

    def on_retried(self) -> None:
        """A message put back after a failure."""
        MESSAGES_RETRIED.inc()
        with self.lock:
            self.retried += 1

    def on_deferred(self) -> None:
        MESSAGES_DEFERRED.inc()
        with self.lock:
            self.deferred += 1

    def on_dead(self, notice: bool = False) -> None:
        MESSAGES_DEAD.inc()
        if notice:
            ALERT_DELIVERIES.labels("dead").inc()
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
