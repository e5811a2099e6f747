"""The worker's pace for offline settles while Pelias fails (WorkerConfig.fallback_max_per_s)."""

from __future__ import annotations

import threading

import pytest

from soar_worker.geocode import Pace


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_passes_a_second_s_worth_then_the_rate_holds():
    clock = Clock()
    pace = Pace(50.0, clock)
    delays = [pace.delay() for _ in range(151)]
    assert delays[:51] == pytest.approx([0.0] * 51, abs=1e-9)   # a second's worth, and now
    assert delays[51:] == pytest.approx([0.02 * k for k in range(1, 101)])
    # Idle for a while: the credit is back, no more than a second of it.
    clock.now = 60.0
    assert [pace.delay() for _ in range(51)] == pytest.approx([0.0] * 51, abs=1e-9)
    assert pace.delay() == pytest.approx(0.02)


def test_no_rate_means_no_wait():
    pace = Pace(0.0, Clock())
    assert {pace.delay() for _ in range(10_000)} == {0.0}


def test_a_stop_ends_the_wait():
    clock = Clock()
    pace = Pace(1.0, clock)
    for _ in range(2):
        pace.delay()                                # the credit used up
    stop = threading.Event()
    stop.set()
    pace.wait(stop)                                 # an hour's wait would hang the test
    assert pace.delay() == pytest.approx(2.0)       # the moments taken stay taken
