"""Flight tracking in process: fixes in, flight writes out, one SQL statement each.

API (see docs/flight-detection.md for the rules and why):

    tracker = FlightTracker(TrackerConfig(), terrain=soar.reference.terrain.make_terrain(...))
    ops = tracker.process(fix)      # sets fix.flight_id; returns CreateFlight/UpdateFlight ops
    ops = tracker.expire(newest)    # timeouts by DATA time; forgets long-silent aircraft
    ops = tracker.restore(flights, fixes)   # after a restart (soar.tracker.store.load_active)
    tracker.stats                   # TrackerStats: counters and the active_aircraft gauge

    soar.tracker.store.write_op(cur, op)      # one statement per op
    soar.tracker.store.load_active(conn, cfg) # active + resumable flights, their last fixes;
                                            # closes flights left active far too long

Ops: `CreateFlight(row, kind)` is one INSERT ... ON CONFLICT DO NOTHING of a flights
row whose id is uuid5(aircraft_id, started_at), so a replay inserts nothing twice;
`UpdateFlight(flight_id, values, kind)` is one UPDATE by id. `kind` names how a
flight starts (start_takeoff, start_airborne, start_callsign) or ends (end_landing,
end_timeout, end_callsign, end_gap), or resume, tow, tow_release, callsign (learnt),
callsign_change (a new callsign in the air: same flight), launch (launch_method
decided, or aerotow found after it; a method known at the start is in the row, one
decided at the end in the end's UPDATE).

`terrain(lat, lon)` returns ground elevation in metres MSL or None.

When a takeoff is confirmed, the earlier fixes of its confirmation window (already
returned by process() with flight_id None) are tagged in place -- same Fix objects,
listed in `CreateFlight.window`: a writer that has not written them yet stores them
with the flight id, and the create's statement tags those an earlier batch stored
(soar.tracker.store), so the stored fixes do not depend on batch cuts.
"""

from soar.tracker.ops import CreateFlight, UpdateFlight, flight_id
from soar.tracker.rules import TrackerConfig
from soar.tracker.state import ActiveFlight, FlightTracker, TrackerStats

__all__ = ["ActiveFlight", "CreateFlight", "FlightTracker", "TrackerConfig", "TrackerStats",
           "UpdateFlight", "flight_id"]
