"""Replaying recordings: pacing by the recorded clock."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from soar.feeds import recordings
from soar.records import Message


def test_replay_speed_follows_the_recorded_clock():
    """--speed N: 2 s of recorded traffic at 4x takes at least 0.5 s."""
    t0 = datetime(2020, 5, 30, 11, 0, tzinfo=timezone.utc)
    messages = [Message("aprs", t0 + timedelta(milliseconds=100 * i), "x") for i in range(21)]
    started = time.monotonic()
    paced = [m for chunk in recordings.chunked(iter(messages), 4.0) for m in chunk]
    assert time.monotonic() - started >= 0.45
    assert paced == messages                          # nothing lost or reordered by pacing
    assert [m for chunk in recordings.chunked(iter(messages), None) for m in chunk] == messages
