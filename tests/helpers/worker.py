"""A real worker (run_workers, not draining) in a thread, for tests that must watch it
work: `with running_worker(url, cfg) as stats:` waits on events, then stops it and
fails the test if it raised or did not stop."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from helpers.wait import CEILING_S
from soar_worker.config import WorkerConfig
from soar_worker.loop import run_workers
from soar_worker.metrics import Stats


@contextmanager
def running_worker(url: str, cfg: WorkerConfig) -> Iterator[Stats]:
    stop, stats = threading.Event(), Stats()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            run_workers(url, cfg, stop=stop, stats=stats)
        except BaseException as exc:     # noqa: BLE001 - re-raised in the test
            errors.append(exc)

    t = threading.Thread(target=run, name="test-worker", daemon=True)
    t.start()
    try:
        yield stats
    finally:
        stop.set()
        t.join(CEILING_S)
    assert not t.is_alive(), "the worker did not stop"
    if errors:
        raise errors[0]
