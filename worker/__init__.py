"""The enrichment worker: consumes the `flight_enrichment` pgmq queue and writes each
flight's departure/arrival airport, runway and location (reverse geocoding).

Modules: config (settings), queue (pgmq calls), loop (polling loop, threads,
retries, dead letters), enrich (one message -> one flight update), pelias (HTTP
client with retries and a circuit breaker), geocode (location cache + offline
fallback), metrics (Prometheus). See docs/enrichment.md.
"""

from worker.config import WorkerConfig

__all__ = ["WorkerConfig"]
