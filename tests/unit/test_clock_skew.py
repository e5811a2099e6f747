"""The host clock against the APRS-IS server's (issue 21 item 9), on the real one-minute
capture of the OGN feed (server time lines every 20 s), through the real router and
flight tracker: a host clock 10 minutes off, or stepped forward or back at a server
line, stores the same fixes and the same flight changes as the undisturbed run, and
each server line that shows the skew is counted as `clock_skew`."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import timedelta

import pytest

from soar.feeds import ogn, recordings
from soar.ingest.router import Router, RouterConfig
from soar.ingest.stats import IngestStats
from soar.records import Message
from soar.reference import samples
from soar.tracker import FlightTracker


@pytest.fixture(scope="module")
def capture() -> list[Message]:
    """The capture from its first server time line on (before it, the host clock is
    all a live feed has too)."""
    msgs = list(recordings.aprs_messages(samples.path("oneminute.txt")))
    first = next(i for i, m in enumerate(msgs) if _server_time(m))
    return msgs[first:]


@pytest.fixture(scope="module")
def undisturbed(capture) -> tuple[IngestStats, dict]:
    """The capture routed as received: what every disturbed run must match (routed
    once; the tests only read it)."""
    return _route(capture)


def _server_time(m: Message) -> bool:
    return isinstance(m.payload, str) and ogn.parse_server_comment(m.payload) is not None


def _route(msgs: list[Message]) -> tuple[IngestStats, dict]:
    stats, batches = IngestStats(), []
    # Batches cut by size only (not by the age a slow machine gives them): which copy
    # of a duplicate wins depends on the cuts, and must not differ between runs.
    router = Router(RouterConfig(batch_age_s=1e9), stats, batches.append,
                    tracker=FlightTracker())
    for i in range(0, len(msgs), 500):
        router.receiving()
        router.handle(msgs[i:i + 500])
        if router.due():
            router.flush()
    router.finish()
    router.flush()
    fixes = Counter((f.aircraft_id, f.time, f.latitude, f.longitude, f.altitude_m)
                    for b in batches for f in b.fixes)
    ops = Counter(type(op).__name__ for b in batches for op in b.flight_ops)
    return stats, {"fixes": fixes, "ops": ops, "accepted": stats.fixes_accepted,
                   "rejected": stats.rejected_by_reason(), "flights": dict(stats.flights)}


def _shift(msgs: list[Message], by: timedelta, from_server_line: int = 0) -> list[Message]:
    """The host clock off by `by` from the `from_server_line`-th server time line on."""
    out, lines, on = [], 0, from_server_line == 0
    for m in msgs:
        if _server_time(m):
            on = on or lines == from_server_line
            lines += 1
        out.append(m._replace(received_at=m.received_at + by) if on else m)
    return out


@pytest.mark.parametrize(("by", "from_line", "skewed_lines"), [
    (timedelta(minutes=-10), 0, 3),     # the host clock 10 min behind from the start
    (timedelta(minutes=10), 0, 3),      # ...ahead
    (timedelta(hours=2), 1, 2),         # a step forward at the second server line
    (timedelta(minutes=-10), 1, 2),     # a step back there
])
def test_a_host_clock_off_or_stepped_changes_nothing_stored_and_is_counted(
        capture, undisturbed, by, from_line, skewed_lines, caplog):
    undisturbed_stats, undisturbed = undisturbed
    assert undisturbed_stats.clock_skew == 0 and abs(undisturbed_stats.clock_skew_s) < 2
    assert undisturbed["accepted"] > 10_000 and undisturbed["rejected"]["duplicate"] > 100
    with caplog.at_level(logging.WARNING, logger="soar.ingest.clock"):
        stats, result = _route(_shift(capture, by, from_line))
    assert result == undisturbed
    assert stats.clock_skew == skewed_lines and stats.clock_retimed > 10_000
    assert abs(stats.clock_skew_s + by.total_seconds()) < 2
    # Rate-limited: one warning for the whole run.
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == [
        f"the host clock is {abs(stats.clock_skew_s):.0f} s "
        f"{'behind' if by.total_seconds() < 0 else 'ahead of'} the APRS-IS server's"]


def test_a_server_line_a_year_off_is_counted_but_not_believed(capture, undisturbed):
    """A wrong server line (a fixture, a broken server) must not make every fix look
    future: beyond clock_skew_trusted_max_s it is counted and nothing is moved."""
    _, undisturbed = undisturbed
    wrong = [m._replace(payload=m.payload.replace(" 2020 ", " 2019 "))
             if _server_time(m) else m for m in capture]
    stats, result = _route(wrong)
    assert result == undisturbed
    assert stats.clock_skew == 3 and stats.clock_retimed == 0
    assert stats.clock_skew_s < -365 * 86400 + 2
