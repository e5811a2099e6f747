"""Waiting for an event in a test: the one place a test may poll.

A test never sleeps a fixed time to let something happen (the sleep is either too
short on a loaded machine or wasted on an idle one). It waits for the event itself:
`wait_until` polls a predicate with a short pause and fails, naming what it waited
for, after a generous ceiling (the ceiling is a hang detector, not a speed check).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# Long enough for a loaded 2-core machine shared by several test runs; a test that
# reaches it has hung (pytest-timeout is the last resort behind it).
CEILING_S = 60.0
_POLL_S = 0.01


class WaitTimeout(AssertionError):
    """The awaited event did not happen within the ceiling."""


def wait_until(predicate: Callable[[], T], timeout_s: float = CEILING_S, *,
               what: str = "the condition", poll_s: float = _POLL_S) -> T:
    """Return the predicate's first truthy value; fail naming `what` once `timeout_s`
    passed without one."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"waited {timeout_s:.0f} s for {what}")
        time.sleep(poll_s)
