"""`soar worker`: the enrichment worker (see worker/ and docs/enrichment.md)."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Optional

import psycopg
import typer

from soar import db
from soar.errors import SoarError, last_line

log = logging.getLogger("soar.worker")


def worker_command(
    drain: bool = typer.Option(False, "--drain",
                               help="Process until the queue is empty, then exit."),
    threads: int = typer.Option(1, "--threads", min=1, max=64,
                                help="Threads reading the queue in this process (each read is "
                                     "one short statement; the work runs in --concurrency "
                                     "slots); run several processes to scale further."),
    concurrency: Optional[int] = typer.Option(
        None, "--concurrency", min=1, max=1024,
        help="Messages worked on at once in this process, so Pelias calls in flight at most "
             "(default 64); each holds a database connection only while it runs SQL."),
    db_connections: Optional[int] = typer.Option(
        None, "--db-connections", min=1, max=256,
        help="Database connections of this process's pool (default 4)."),
    batch_size: Optional[int] = typer.Option(
        None, "--batch-size", min=1,
        help="Messages handled in a row (each read alone) between the loop's housekeeping "
             "(default 10)."),
    visibility_timeout: Optional[int] = typer.Option(
        None, "--visibility-timeout", min=1,
        help="Seconds a read message stays invisible to other workers (default 60)."),
    max_attempts: Optional[int] = typer.Option(
        None, "--max-attempts", min=1,
        help="Tries before a message goes to the dead-letter queue (default 5)."),
    poll_interval: Optional[float] = typer.Option(
        None, "--poll-interval", min=0.01, help="Idle sleep between reads, seconds (default 1)."),
    max_wait: Optional[float] = typer.Option(
        None, "--max-wait", min=0,
        help="Seconds a takeoff/landing waits for its fixes to be stored (default 120)."),
    listen: Optional[bool] = typer.Option(
        None, "--listen/--no-listen",
        help="LISTEN for queue notifications (a wake-up hint; polling continues)."),
    pelias_url: Optional[str] = typer.Option(
        None, "--pelias-url", envvar=["SOAR_WORKER_PELIAS_URL", "PELIAS_URL"], show_envvar=True,
        help="Pelias server for reverse geocoding; default: offline nearest place. "
             "While Pelias fails, flights get the offline place, re-geocoded later."),
    metrics_port: Optional[int] = typer.Option(
        None, "--metrics-port", envvar="SOAR_WORKER_METRICS_PORT", show_envvar=True,
        help="Serve Prometheus metrics on 127.0.0.1:PORT."),
    pgbouncer_stats_url: Optional[str] = typer.Option(
        None, "--pgbouncer-stats-url", envvar="SOAR_PGBOUNCER_STATS_URL", show_envvar=True,
        help="With --metrics-port: also export PgBouncer's pools (soar_pgbouncer_*), read "
             "from its console as this stats_users login at each scrape."),
    prune_every: Optional[str] = typer.Option(
        None, "--prune-every", help="Drop old fixes at start and then this often (e.g. 1d)."),
    keep: Optional[str] = typer.Option(
        None, "--keep", help="With --prune-every: the age of the fixes kept (e.g. 45d)."),
    alerts: Optional[bool] = typer.Option(
        None, "--alerts/--no-alerts",
        help="Raise overdue alerts for flights that timed out low or descending, and clear "
             "them when the aircraft is heard again (default on). Notices go to the webhook "
             "in SOAR_ALERT_WEBHOOK_URL (environment only: it is a secret)."),
    alert_sweep_interval: Optional[float] = typer.Option(
        None, "--alert-sweep-interval", min=0,
        help="Seconds between checks that clear alerts of aircraft heard again (default 30; "
             "0: only at the start of a drain)."),
    niceness: Optional[int] = typer.Option(
        None, "--niceness", min=0, max=19,
        help="Run at least this nice (default 10): on a machine shared with `soar run`, "
             "ingest gets the CPU first and enrichment waits in its queue; 0: as started."),
) -> None:
    """Enrich flights: airports, runways and locations, from the flight_enrichment queue."""
    from soar.db import retention
    from worker import metrics
    from worker.checks import check_database
    from worker.config import WorkerConfig
    from worker.loop import lower_priority, run_workers
    from worker.webhook import check_url, shown

    if (prune_every is None) != (keep is None):
        raise SoarError("--prune-every and --keep go together, e.g. --prune-every 1d --keep 45d")
    prune = {}
    if prune_every is not None:
        prune = {"prune_every_s": retention.parse_duration(prune_every, "--prune-every")
                 .total_seconds(),
                 "prune_keep_s": retention.parse_age(keep).total_seconds()}
    config = WorkerConfig.from_env(**prune, concurrency=concurrency, db_connections=db_connections,
                                   batch_size=batch_size, visibility_timeout_s=visibility_timeout,
                                   max_attempts=max_attempts, poll_interval_s=poll_interval,
                                   max_wait_s=max_wait, listen=listen, pelias_url=pelias_url,
                                   alerts=alerts, alert_sweep_interval_s=alert_sweep_interval,
                                   niceness=niceness)
    if config.alert_webhook_url:
        check_url(config.alert_webhook_url)
    url = db.role_url("worker")
    check_database(url, need_places=not config.pelias_url)
    if pgbouncer_stats_url and not metrics_port:
        raise SoarError("--pgbouncer-stats-url exports through --metrics-port: give both")
    if metrics_port:
        try:
            metrics.serve(metrics_port, pgbouncer_stats_url=pgbouncer_stats_url)
        except OSError as exc:
            raise SoarError(f"cannot serve metrics on 127.0.0.1:{metrics_port}: {exc.strerror}; "
                            "choose another --metrics-port") from None

    lower_priority(config.niceness)
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    log.info("worker: %d reader(s), %d message slot(s), %d database connection(s), geocoder "
             "%s, overdue alerts %s%s", threads, config.concurrency, config.db_connections,
             "pelias" if config.pelias_url else "offline places",
             ("off" if not config.alerts else
              f"on (webhook {shown(config.alert_webhook_url)})" if config.alert_webhook_url
              else "on (no webhook: SOAR_ALERT_WEBHOOK_URL not set)"),
             ", drain" if drain else "")
    try:
        stats = run_workers(url, config, threads=threads, drain=drain, stop=stop)
    except KeyboardInterrupt:
        stop.set()
        raise
    except psycopg.OperationalError as exc:
        raise SoarError(f"lost the database ({db.redact(url)}): {last_line(exc)}; check that it is up") \
            from None
    typer.echo(f"worker: {stats.summary()}")
