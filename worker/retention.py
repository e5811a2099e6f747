"""Retention on the worker's own schedule (`soar worker --prune-every 1d --keep 45d`):
no system cron, no pg_cron. At start and then every period, the chunks of fixes
wholly older than the age are dropped through drop_fix_chunk_v1, the one retention
capability the worker's login has (soar.db.retention). A failed round is logged and
tried again next period; a chunk in use waits for the next round."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import psycopg

from soar.db import retention
from soar.errors import SoarError, first_line
from worker.config import WorkerConfig
from worker.tasks import Periodic

log = logging.getLogger(__name__)


class Pruner(Periodic):
    def __init__(self, url: str, config: WorkerConfig, stop: threading.Event):
        super().__init__("soar-worker-prune", config.prune_every_s, stop, at_start=True)
        self.url = url
        self.keep = timedelta(seconds=config.prune_keep_s)
        self.dropped = 0

    def round(self) -> None:
        try:
            result = retention.prune(self.url, self.keep)
        except (psycopg.Error, SoarError) as exc:
            log.warning("retention: prune failed (%s); trying again in %.0f s",
                        first_line(exc), self.every_s)
            return
        self.dropped += len(result.chunks)
        if result.chunks or result.busy:
            log.info("retention: dropped %d chunk(s) of fixes older than %s%s",
                     len(result.chunks), result.older_than,
                     f"; {len(result.busy)} in use, left for the next round" if result.busy
                     else "")
