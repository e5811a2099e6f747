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
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

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
    from worker.alerts import CLEAR_REASONS, EVENT, NO_ALERT, RAISE
    from worker.enrich import EVENTS  # enrich imports this module

    for event in (*EVENTS, EVENT):
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
    for result in ("delivered", "no_webhook", "failed", "dead"):
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
