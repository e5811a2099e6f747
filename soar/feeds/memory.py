"""What a stateful decoder remembers per aircraft address, and when it forgets it.

Rule: an aircraft silent for `state_ttl` seconds of data time (never wall-clock time,
so a replay forgets as live does) is forgotten by a sweep run at most every
`SWEEP_EVERY_S` of data time, and at once when data time jumps back (a new replay).
The sweep bounds memory only: a decoder treats an aircraft silent that long as new
whether or not the sweep has run. Shared by the Mode-S and SBS decoders.
"""

from __future__ import annotations

import math
from typing import Generic, TypeVar

SWEEP_EVERY_S = 30.0

S = TypeVar("S")


class AircraftMemory(Generic[S]):
    """Per-address state `_aircraft` (each with a `last_seen` data time, seconds)."""

    def __init__(self, state_ttl: float) -> None:
        self.state_ttl = state_ttl
        self._aircraft: dict[int, S] = {}
        self._next_sweep = -math.inf

    @property
    def tracked(self) -> int:
        return len(self._aircraft)

    def _maybe_sweep(self, t: float) -> None:
        if t >= self._next_sweep or t < self._next_sweep - 2 * SWEEP_EVERY_S:
            self._sweep(t)   # (the second test: data time jumped back, e.g. a new replay)

    def _sweep(self, t: float) -> None:
        """Forget aircraft silent for more than state_ttl seconds of data time."""
        cutoff = t - self.state_ttl
        for address in [a for a, s in self._aircraft.items() if s.last_seen < cutoff]:
            del self._aircraft[address]
        self._next_sweep = t + SWEEP_EVERY_S
