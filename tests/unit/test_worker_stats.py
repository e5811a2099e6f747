"""Worker bookkeeping without a database: Stats keeps a bounded tail of committed
message ids (memory stays flat in a long-running worker) while its counts stay
exact, and the new settings read their environment variables."""

from __future__ import annotations

import threading

from worker.config import WorkerConfig
from worker.metrics import Stats


def test_committed_ids_are_bounded_and_counts_exact():
    stats = Stats(committed_max=3)
    for msg_id in range(1, 11):
        stats.on_processed(msg_id, fallback=msg_id % 2 == 0)
    assert list(stats.committed) == [8, 9, 10]
    assert (stats.processed, stats.fallbacks) == (10, 5)
    assert "processed 10," in stats.summary() and "geocoding fallbacks 5" in stats.summary()


def test_committed_ids_from_threads_are_all_counted():
    stats = Stats(committed_max=100_000)

    def work(base: int) -> None:
        for i in range(5_000):
            stats.on_processed(base + i)

    threads = [threading.Thread(target=work, args=(k * 10_000,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert stats.processed == 20_000
    assert len(stats.committed) == len(set(stats.committed)) == 20_000


def test_default_keeps_the_configured_number():
    assert Stats(committed_max=WorkerConfig().committed_ids_kept).committed.maxlen == 1000
    stats = Stats(committed_max=0)                  # keep none: counts only
    stats.on_processed(1)
    assert stats.processed == 1 and list(stats.committed) == []


def test_fallback_and_client_limits_from_the_environment(monkeypatch):
    monkeypatch.setenv("SOAR_WORKER_PELIAS_DEADLINE_S", "7.5")
    monkeypatch.setenv("SOAR_WORKER_PELIAS_MAX_BODY_BYTES", "4096")
    monkeypatch.setenv("SOAR_WORKER_REGEOCODE_BATCH", "0")
    monkeypatch.setenv("SOAR_WORKER_COMMITTED_IDS_KEPT", "50")
    cfg = WorkerConfig.from_env()
    assert (cfg.pelias_deadline_s, cfg.pelias_max_body_bytes, cfg.regeocode_batch,
            cfg.committed_ids_kept) == (7.5, 4096, 0, 50)
    assert WorkerConfig.from_env(regeocode_batch=5).regeocode_batch == 5
