"""A callsign change in the air on real OGN lines: one flight, renamed, the earlier
callsign kept. The lines are real (the one-minute OGN capture), the callsign tokens
are added: no real recording we have holds such a change (see helpers/renamed_capture)."""

from __future__ import annotations

from datetime import datetime, timezone

from helpers import renamed_capture
from soar.feeds import ogn
from soar.records import Fix, aircraft_id
from soar.tracker import FlightTracker
from soar.tracker import ops as flight_ops


def fixes(lines) -> list[Fix]:
    """Parsed in receive order, one per second (the router's de-duplication keeps one
    of the copies several receivers hear)."""
    out, seen = [], set()
    for line in lines:
        received, _, raw = line.partition(": ")
        fix = ogn.parse(raw, datetime.fromisoformat(received).replace(tzinfo=timezone.utc))
        if isinstance(fix, Fix) and fix.time not in seen:
            seen.add(fix.time)
            out.append(fix)
    return out


def test_real_aircraft_renamed_in_the_air_stays_one_flight():
    mine = fixes(renamed_capture.renamed_lines(only_aircraft=True))
    assert len(mine) > 50 and {f.aircraft_id for f in mine} == {
        aircraft_id(renamed_capture.ADDRESS_TYPE, renamed_capture.ADDRESS)}
    assert {f.callsign for f in mine} == {renamed_capture.OLD, renamed_capture.NEW}
    tracker = FlightTracker()
    ops = []
    for f in mine:                       # in receive order: some arrive late
        ops += tracker.process(f)
    # Before this rule: start_airborne, end_callsign, start_callsign (a 16 s phantom).
    assert [op.kind for op in ops] == [flight_ops.START_AIRBORNE, flight_ops.CALLSIGN_CHANGE]
    create, change = ops
    assert create.row["callsign"] == renamed_capture.OLD
    assert create.row["launch_method"] == flight_ops.UNKNOWN       # first seen in the air
    assert change.values == {"callsign": renamed_capture.NEW,
                             "previous_callsign": renamed_capture.OLD}
    assert change.flight_id == create.flight_id
    # Every position from the first of its flight on is on that one flight.
    started = create.row["started_at"]
    assert {f.flight_id for f in mine if f.time >= started} == {create.flight_id}
