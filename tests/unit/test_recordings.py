"""Replaying recordings: pacing by the recorded clock."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from soar.feeds import recordings
from soar.records import Message


class FakeClock:
    """`time` as recordings.chunked sees it: the clock moves only when it sleeps."""

    def __init__(self):
        self.now, self.slept = 100.0, []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_replay_speed_follows_the_recorded_clock(monkeypatch):
    """--speed N: 2 s of recorded traffic at 4x is replayed over 0.5 s: each chunk
    waits until its last message is due (recorded offset / 4)."""
    clock = FakeClock()
    monkeypatch.setattr(recordings, "time", clock)
    t0 = datetime(2020, 5, 30, 11, 0, tzinfo=timezone.utc)
    messages = [Message("aprs", t0 + timedelta(milliseconds=100 * i), "x") for i in range(21)]
    chunks = []
    for chunk in recordings.chunked(iter(messages), 4.0):
        # Handed on no earlier than due: the clock has reached the first message's time.
        due = (chunk[0].received_at - t0).total_seconds() / 4.0
        assert clock.now - 100.0 >= due - 0.05
        chunks.append(chunk)
    # Paced in steps of over 50 ms (not a sleep per message), ending when the last
    # message is due, within one step: 2 s / 4.
    assert 1 < len(clock.slept) < 10 and all(s > 0.05 for s in clock.slept)
    assert clock.now - 100.0 == pytest.approx(0.5, abs=0.05)
    paced = [m for chunk in chunks for m in chunk]
    assert paced == messages                          # nothing lost or reordered by pacing
    clock.slept.clear()
    assert [m for chunk in recordings.chunked(iter(messages), None) for m in chunk] == messages
    assert clock.slept == []                          # no --speed: as fast as it goes
