"""The enrichment worker: consumes the `flight_enrichment` pgmq queue and writes each
flight's departure/arrival airport, runway and location (reverse geocoding), and
raises and delivers overdue alerts.

Modules, in layers (each imports only those below; pyproject.toml keeps it so):
loop (readers, one message's handling, retries, dead letters, run_workers);
enrich (one message -> one flight update), overdue (the alert rule, raise, sweep),
regeocode (fallback places replaced by Pelias' answer), webhook (notice delivery),
retention (pruning), tasks (message slots), checks; geocode (location cache, offline
places, the fallback while Pelias fails); pelias (HTTP client: deadline, size and host
limits, retries, circuit breaker), messages (pgmq calls, message ownership, LISTEN);
metrics (Prometheus, the worker's words, Stats), config (settings).
See docs/enrichment.md.
"""

from worker.config import WorkerConfig

__all__ = ["WorkerConfig"]
