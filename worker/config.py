"""Worker settings: defaults, overridden by environment variables, overridden by the CLI."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields

QUEUE = "flight_enrichment"
DEAD_QUEUE = "flight_enrichment_dead"
# Every field is read from SOAR_WORKER_<FIELD>. These older names are still read for
# the fields they set (the deploy unit and the README use PELIAS_URL), deprecated: the
# SOAR_WORKER_ name wins when both are set (docs/enrichment.md, "Settings").
DEPRECATED_ENV = {"pelias_url": "PELIAS_URL",
                  "pelias_connect_timeout_s": "PELIAS_CONNECT_TIMEOUT",
                  "pelias_read_timeout_s": "PELIAS_READ_TIMEOUT"}


def _env(name: str, cast, default):
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if cast is bool:
        return raw.strip().lower() in ("1", "true", "yes", "on")
    return cast(raw)


@dataclass
class WorkerConfig:
    queue: str = QUEUE
    dead_queue: str = DEAD_QUEUE
    # Messages are read only into free slots (each starts at once and has its own
    # visibility timeout, so one message's slowness or crash never costs another an
    # attempt); up to batch_size of them are read in a row before the loop's
    # housekeeping (metrics), at most batch_size by one read.
    batch_size: int = 10
    # Concurrency: messages worked on at once per process, so Pelias calls in flight at
    # most (each waits on the network, not on the database), independent of the
    # database connections, which each message holds only while it runs SQL. A
    # message is read only when one of these slots is free, so none waits unworked
    # while its visibility timeout runs. Sized for a slow Pelias: calls in flight =
    # events/s x latency, and the incident benchmark offers about 40 flight events/s
    # (docs/benchmarks.md: 64 slots kept up at 1 s, not at 2 s or 5 s).
    concurrency: int = 256
    db_connections: int = 4             # the process's connection pool (psycopg_pool) size
    db_pool_timeout_s: float = 30.0     # a message waits this long for a pooled connection
    # A pooled connection is given back within this, or its socket is shut down under
    # its user (worker.deadline): a path that accepts bytes and forwards nothing (a
    # PgBouncer whose server went half-open) is noticed neither by TCP keepalives nor by
    # the role's statement_timeout (30 s, sql/schema/160_...). Above that timeout, so a
    # slow statement is the server's to cancel; 0: no deadline.
    db_step_deadline_s: float = 60.0
    visibility_timeout_s: int = 60      # a message read and not finished reappears after this
    poll_interval_s: float = 1.0        # sleep when the queue is idle
    listen: bool = True                 # LISTEN for pgmq insert notifications (a hint only)
    listen_url: str | None = None       # a direct connection for LISTEN (not through PgBouncer)
    # Failures: exponential backoff per message, then the dead-letter queue.
    max_attempts: int = 5
    backoff_base_s: float = 5.0
    backoff_max_s: float = 600.0
    # Runway detection needs the fixes up to window_s after the event.
    window_s: int = 20
    defer_delay_s: int = 5              # put back for this long when the fixes are not there yet
    max_wait_s: float = 120.0           # ...but decide anyway once the message is this old
    # Reverse geocoding: the one home of the Pelias client's settings (worker.pelias
    # takes its defaults from here).
    pelias_url: str | None = None       # None: offline nearest place from the `places` table
    pelias_connect_timeout_s: float = 2.0   # per connection attempt
    pelias_read_timeout_s: float = 5.0      # per socket read (the deadline bounds the call)
    pelias_retries: int = 2             # extra tries within one call (5xx, timeouts)
    pelias_retry_backoff_s: float = 0.5
    pelias_deadline_s: float = 15.0     # one call in all: connect, body, every retry
    pelias_max_body_bytes: int = 1 << 20    # a larger answer is refused (a failure)
    breaker_threshold: int = 5          # consecutive failed calls that open the circuit
    breaker_reset_s: float = 30.0       # open for this long, then one trial call
    places_max_distance_m: float = 50_000.0
    # While Pelias fails, flight ends are settled with offline places; the backlog that
    # built up while its calls were timing out then comes all at once, a burst of SQL
    # that slowed an ingest on the same machine (measured in docs/benchmarks.md, the
    # worker's paced catch-up). At most this many such settles per second (0: no
    # limit); far above a real feed's flight events (the whole OGN network: a few per
    # second).
    fallback_max_per_s: float = 50.0
    # While Pelias fails, flights get the nearest offline place (a fallback); then the
    # worker re-geocodes up to regeocode_batch fallback places with Pelias every
    # regeocode_interval_s (0: only `soar queue regeocode` does).
    regeocode_batch: int = 20
    regeocode_interval_s: float = 10.0
    # `soar worker` runs at least this nice (0..19; 0: as started). On a machine shared
    # with ingest, enrichment is the work that can wait: its messages wait in the queue,
    # while a router short of CPU drops live messages (docs/enrichment.md, measured in
    # docs/benchmarks.md). On a machine of its own a niceness changes nothing.
    niceness: int = 10
    committed_ids_kept: int = 1000      # msg ids of the latest completions kept in Stats
    metrics_interval_s: float = 5.0     # queue depth / age gauges refresh
    # Retention without cron: every prune_every_s (at start, then on that period) drop
    # the chunks of fixes older than prune_keep_s (soar.db.retention; 0: off).
    prune_every_s: float = 0.0
    prune_keep_s: float = 0.0
    # Monitoring without cron: the worker itself warns when the queue falls behind
    # (oldest visible message older than this) or dead letters are waiting.
    backlog_warning_s: float = 300.0
    # Overdue alerts (worker.overdue; the reasons for each number in docs/enrichment.md,
    # "Overdue alerts"). Evaluated when a flight's `timeout` end is enriched.
    alerts: bool = True                 # raise and clear overdue alerts
    alert_low_m: float = 500.0          # at or below this height above ground: low
    alert_descending_ms: float = -1.0   # mean vertical rate at or below this: descending
    alert_climbing_ms: float = 1.0      # at or above this: climbing (with fast: a departing jet)
    alert_descending_max_m: float = 1500.0  # descending raises only this low (height known)
    alert_fast_kmh: float = 350.0       # faster than gliders and light aircraft: airliners, jets
    alert_window_s: float = 60.0        # the vertical rate and receivers of this last span
    alert_min_fixes: int = 3            # ...or of at least this many last fixes
    alert_max_age_s: float = 86400.0    # last heard longer ago (a replay, a backfill): no alert
    alert_airport_radius_m: float = 5000.0      # an airport this close gives the ground height
    alert_departure_radius_m: float = 50000.0   # the departure field's, within this of it
    alert_nearby_airport_m: float = 20000.0     # the text names the nearest airport this close
    alert_sweep_interval_s: float = 30.0        # clear alerts of aircraft heard again (0: off)
    # Delivery: POST each notice (raised, cleared) to this URL, from the environment only
    # (SOAR_ALERT_WEBHOOK_URL: a secret, never a command-line option, never logged in
    # full; repr=False keeps it out of the config's repr). None: notices are recorded
    # as no_webhook.
    alert_webhook_url: str | None = field(default=None, repr=False)
    alert_webhook_deadline_s: float = 10.0      # one try in all: connect, send, answer
    alert_webhook_allow_http: bool = False      # plain http:// beyond loopback (worker.webhook)
    # A notice the webhook refuses is retried for ever (backoff 5 s .. backoff_max_s);
    # from this many failed tries on, each failure is logged as an error. A notice
    # workers crashed on this many times is dead-lettered.
    alert_max_attempts: int = 10
    srtm_dir: str | None = None         # SRTM .hgt tiles for the ground height (SOAR_SRTM_DIR)

    @classmethod
    def from_env(cls, **overrides) -> WorkerConfig:
        """SOAR_WORKER_<FIELD> for every field (e.g. SOAR_WORKER_MAX_ATTEMPTS,
        SOAR_WORKER_PELIAS_URL), else its DEPRECATED_ENV name; SOAR_ALERT_WEBHOOK_URL
        for the alert webhook, SOAR_SRTM_DIR (as ingest) for the terrain."""
        values = {}
        for f in fields(cls):
            cast = {int: int, float: float, bool: bool}.get(type(f.default), str)
            if f.name == "alert_webhook_url":
                values[f.name] = os.environ.get("SOAR_ALERT_WEBHOOK_URL") or None
                continue
            if f.name == "srtm_dir":
                values[f.name] = os.environ.get("SOAR_WORKER_SRTM_DIR") \
                    or os.environ.get("SOAR_SRTM_DIR") or None
                continue
            default = f.default
            if f.name in DEPRECATED_ENV:
                default = _env(DEPRECATED_ENV[f.name], cast, default)
            values[f.name] = _env(f"SOAR_WORKER_{f.name.upper()}", cast, default)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def backoff(self, attempt: int) -> float:
        """Delay before the next try after `attempt` failed tries (1, 2, ...)."""
        return min(self.backoff_max_s, self.backoff_base_s * (2 ** max(0, attempt - 1)))
