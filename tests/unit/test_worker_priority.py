"""`soar worker` gives way to ingest on a shared machine: it runs at least
WorkerConfig.niceness nice (docs/enrichment.md). Each case runs in a child process,
since a niceness cannot be raised back."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from soar_worker.config import WorkerConfig

pytestmark = pytest.mark.timeout(60)


def _niceness_after(calls: list[int], start_nice: int = 0) -> list[int]:
    code = ("import sys\nfrom worker.loop import lower_priority\n"
            f"print(*[lower_priority(n) for n in {calls!r}])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, preexec_fn=lambda: os.nice(start_nice))
    return [int(v) for v in out.stdout.split()]


def test_worker_lowers_its_priority_to_the_configured_niceness_once():
    # A second call (or a second worker in one process) does not add up to 19.
    assert _niceness_after([10, 10, 0]) == [10, 10, 10]


def test_a_worker_already_niced_more_by_its_service_manager_stays_so():
    assert _niceness_after([10], start_nice=15) == [15]


def test_niceness_defaults_to_10_and_comes_from_the_environment(monkeypatch):
    assert WorkerConfig.from_env().niceness == 10
    monkeypatch.setenv("SOAR_WORKER_NICENESS", "0")
    assert WorkerConfig.from_env().niceness == 0
    assert WorkerConfig.from_env(niceness=4).niceness == 4
