"""What the tracker adds to a flight, stored by the real pipeline on a real PostgreSQL:
the callsign change in the air (flights.callsign, flights.previous_callsign, one flight)
and the launch method (flights.launch_method), scored against a simulation's truth."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from helpers import renamed_capture
from helpers.pipeline import replay, run
from soar import ingest
from soar.ingest.pipeline import PipelineConfig
from soar.ingest.stats import IngestStats
from soar.records import aircraft_id
from soar.simulate import Profile, SimConfig, read_truth, record, replay_chunks, score
from soar.tracker import ops as flight_ops

T0 = datetime(2024, 6, 15, 10, 0, tzinfo=timezone.utc)
# A replay at full speed on a loaded machine may leave the writer behind at close():
# a generous ceiling for it to finish, not a time under test.
CONFIG = PipelineConfig(shutdown_deadline_s=600.0)


def test_callsign_change_in_the_air_is_stored_as_one_renamed_flight(database, conn, tmp_path):
    path = renamed_capture.write(tmp_path / "oneminute-renamed.txt")
    stats = replay(database, path, "aprs", CONFIG)
    s = stats.summary()
    assert s["fixes_written"] == s["fixes_accepted"] > 60_000
    assert stats.flights[flight_ops.CALLSIGN_CHANGE] == 1
    assert stats.flights[flight_ops.END_CALLSIGN] == stats.flights[flight_ops.START_CALLSIGN] == 0
    aid = aircraft_id(renamed_capture.ADDRESS_TYPE, renamed_capture.ADDRESS)
    rows = conn.execute("SELECT id, callsign, previous_callsign, launch_method, takeoff_time, "
                        "landing_time, timed_out_at FROM flights WHERE aircraft_id = %s",
                        (aid,)).fetchall()
    assert len(rows) == 1
    fid, callsign, previous, method, takeoff, landing, timed_out = rows[0]
    assert (callsign, previous) == (renamed_capture.NEW, renamed_capture.OLD)
    assert method == flight_ops.UNKNOWN and takeoff is None          # first seen in the air
    assert landing is None and timed_out is None
    # No phantom flight beside it: its fixes are on this flight, or on none (a late copy
    # the router passed on before the flight was confirmed is not tagged afterwards).
    on, other = conn.execute("SELECT count(*) FILTER (WHERE flight_id = %s), "
                             "count(*) FILTER (WHERE flight_id <> %s) FROM fixes "
                             "WHERE aircraft_id = %s", (fid, fid, aid)).fetchone()
    assert on > 50 and other == 0
    # Every flight first seen in the air is stored with the method `unknown`.
    assert conn.execute("SELECT count(*), count(*) FILTER (WHERE launch_method = 'unknown') "
                        "FROM flights WHERE takeoff_time IS NULL").fetchone() == (
        stats.flights[flight_ops.START_AIRBORNE],) * 2


# The flights as soar.simulate.score reads them, launch_method included.
SCORED = """
SELECT lpad(upper(to_hex(a.address)), 6, '0') AS aircraft_address, f.started_at,
       f.takeoff_time, f.landing_time, f.spurious_reason, f.launch_method, f.tow_release_time,
       lpad(upper(to_hex(t.address)), 6, '0') AS towed_by_aircraft_address
  FROM flights f JOIN aircraft a ON a.id = f.aircraft_id
  LEFT JOIN aircraft t ON t.id = f.towed_by_aircraft_id
"""


def test_launch_methods_of_a_simulated_recording_are_stored_and_right(database, conn, tmp_path):
    # 25 minutes are enough for the counts asserted below: the truth holds 38 takeoffs
    # (8 aerotow, 8 winch, 22 self-launched: tow planes, motor gliders, powered, airliners)
    # and 12 aircraft airborne at the start. A shorter run of one seed is the same
    # simulation cut earlier, so this is the first 25 minutes of the 40 this test used.
    cfg = SimConfig(start=T0, duration_s=1500, aircraft=40, beast_aircraft=6, seed=29,
                    airborne_fraction=0.3, aircraft_per_field=20,
                    profile=Profile(glider_flight_s=(300.0, 700.0),
                                    powered_flight_s=(300.0, 700.0), wait_s=(60.0, 400.0)))
    meta = record(cfg, tmp_path)
    stats = IngestStats()
    pipeline = ingest.build(database.url("ingest"), stats, CONFIG,
                            receiver_position=tuple(meta["beast_receiver_position"]))
    run(pipeline, replay_chunks(tmp_path))
    assert pipeline.failed is None
    assert stats.summary()["fixes_written"] == stats.summary()["fixes_accepted"]
    cur = conn.cursor()
    cur.execute(SCORED)
    names = [d.name for d in cur.description]
    flights = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    result = score(read_truth(tmp_path / "truth.jsonl"), flights, meta["start"], meta["end"])
    launch = result["launch"]
    print("launch methods:", json.dumps(launch))
    m = launch["matrix"]
    assert result["takeoff"]["missed"] == 0 and result["takeoff"]["matched"] >= 30
    assert m["aerotow"]["aerotow"] >= 3 and m["winch"]["winch"] >= 3 and m["self"]["self"] >= 10
    for truth_method, row in m.items():
        wrong = {k: n for k, n in row.items() if k not in (truth_method, "undecided") and n}
        assert not wrong, (truth_method, row)
    # Undecided only for a takeoff in the last launch window (90 s) of the recording.
    assert sum(row["undecided"] for row in m.values()) <= 2
    airborne = launch["first_seen_airborne"]
    assert airborne["unknown"] >= 3 and sum(airborne.values()) == airborne["unknown"]
    # The pipeline counted each write: one `launch` op per flight decided after its row.
    assert stats.flights[flight_ops.LAUNCH] >= m["aerotow"]["aerotow"] + m["winch"]["winch"]
