"""The enrichment worker: consumes the `flight_enrichment` pgmq queue and writes each
flight's departure/arrival airport, runway and location (reverse geocoding).

Modules: config (settings), messages (pgmq calls, message ownership), loop (polling
loop, threads, retries, dead letters), enrich (one message -> one flight update),
pelias (HTTP client: deadline, size and host limits, retries, circuit breaker),
geocode (location cache, offline places, the fallback while Pelias fails),
regeocode (fallback places replaced by Pelias' answer), checks, metrics
(Prometheus). See docs/enrichment.md.
"""

from worker.config import WorkerConfig

__all__ = ["WorkerConfig"]
