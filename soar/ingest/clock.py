"""The host clock checked against the APRS-IS server's (issue 21 item 9).

Every ~20 s an APRS-IS server sends a comment line with its own time
(`# aprsc 2.1.5 30 May 2020 11:05:12 GMT GLIDERN2 ...`, feeds.ogn -> records.ServerTime).
soar stamps each line it receives with the host clock (`received_at`), and checks a fix
time against it (ingest.validate: `future`, `stale`). A host clock off by minutes (no
NTP, a VM resumed) would reject every OGN fix as future or stale; a step forward or
back would do the same from that moment.

The rule: the skew is the server's time minus the host's, measured at each server time
line. Beyond `clock_skew_max_s` (RouterConfig) the server line is counted
(`clock_skew`, and the last skew kept as a gauge), a warning is logged (at most every
WARN_EVERY_S), and until the next server line the OGN fixes' `received_at` is moved by
the skew before they are checked and stored (`clock_retimed`): data time (the
server's) drives what the host clock would get wrong. Within the threshold the host
clock is trusted and nothing is moved (a server line has whole seconds and arrives a
network delay late); beyond `clock_skew_trusted_max_s` (a day) the server line is
counted and warned about but not believed (a wrong server line must not make every
fix look future or stale). Flight timeouts and de-duplication already run on fix
times, never on the host clock (ingest.router). Until the first server time line of
a feed, or between a step and the next line, the host clock is all there is: fixes it
misjudges are rejected and counted, never stored wrongly."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from soar.records import Fix

log = logging.getLogger(__name__)
WARN_EVERY_S = 600.0       # one warning per 10 min (monotonic) while the skew lasts


class HostClock:
    def __init__(self, stats, max_skew_s: float, trusted_max_s: float):
        self.stats = stats
        self.max_skew_s = max_skew_s
        self.trusted_max_s = trusted_max_s
        self.skew: timedelta | None = None      # applied to received_at; None: trusted
        self._warned_at: float | None = None

    def observe(self, server_time: datetime, received_at: datetime) -> None:
        """A server time line received at `received_at` (host clock)."""
        skew = server_time - received_at
        seconds = skew.total_seconds()
        self.stats.clock_skew_s = round(seconds, 3)
        if abs(seconds) <= self.max_skew_s:
            self.skew = None
            return
        self.stats.clock_skew += 1
        believed = abs(seconds) <= self.trusted_max_s
        self.skew = skew if believed else None
        now = time.monotonic()
        if self._warned_at is None or now - self._warned_at >= WARN_EVERY_S:
            self._warned_at = now
            log.warning("the host clock is %.0f s %s the APRS-IS server's (more than %g s): %s; "
                        "synchronise the host clock (NTP: `timedatectl status`)", abs(seconds),
                        "behind" if seconds > 0 else "ahead of", self.max_skew_s,
                        "fix times are checked against the server's time meanwhile" if believed
                        else f"more than {self.trusted_max_s:g} s, the server's is not believed "
                             "either (check the feed's server)")

    def correct(self, fix: Fix) -> None:
        """Move an OGN fix's received_at to the server's clock while the host's is off
        (before validate checks it), counted in `clock_retimed`."""
        if self.skew is not None:
            fix.received_at = fix.received_at + self.skew
            self.stats.clock_retimed += 1
