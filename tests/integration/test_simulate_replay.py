"""A simulated recording (OGN APRS and Mode-S) through the real pipeline on a real
PostgreSQL with the reference data, then the enrichment worker: the flights table
matches the ground truth (every takeoff and landing, within seconds; tows paired; the
airport and runway of each event), and every message is accounted for."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from helpers.pipeline import run
from soar import ingest
from soar.ingest.pipeline import PipelineConfig
from soar.ingest.stats import IngestStats
from soar.products.flights import fetch
from soar.simulate import Profile, SimConfig, read_truth, record, replay_chunks, score
from soar_worker.config import WorkerConfig
from soar_worker.loop import run_workers

T0 = datetime(2024, 6, 15, 10, 0, tzinfo=timezone.utc)


def test_simulated_traffic_through_the_pipeline_matches_the_ground_truth(refdb, tmp_path):
    # 45 minutes: the truth holds 62 takeoffs, 45 landings and 12 aerotows, above what
    # is asserted below. A shorter run of one seed is the same simulation cut earlier
    # (the first 45 minutes of the 60 this test used); events in the last minute are
    # optional to the score, so the cut adds no misses.
    cfg = SimConfig(start=T0, duration_s=2700, aircraft=40, beast_aircraft=6, seed=21,
                    airborne_fraction=0.3, aircraft_per_field=20,
                    profile=Profile(glider_flight_s=(300.0, 900.0),
                                    powered_flight_s=(300.0, 900.0), wait_s=(60.0, 600.0),
                                    # Every landing vacates ahead; back-tracking on the
                                    # runway is scored in bench/, not asserted here.
                                    backtrack_fraction=0.0))
    meta = record(cfg, tmp_path)
    stats = IngestStats()
    pipeline = ingest.build(refdb.url("ingest"), stats, PipelineConfig(),
                            receiver_position=tuple(meta["beast_receiver_position"]))
    run(pipeline, replay_chunks(tmp_path))
    assert pipeline.failed is None
    s = stats.summary()
    total = meta["aprs_lines"] + meta["frames"]
    assert s["messages_total"] == total
    assert (s["fixes_accepted"] + s["receiver_beacons"] + s["state_only"]
            + sum(s["rejected"].values())) == total
    assert s["fixes_written"] == s["fixes_accepted"]
    # What the pipeline turns away is what the feeds carry by design: several receivers'
    # copies of one fix, the second position of a second, CPR frames waiting for their pair.
    rejected = dict(stats.rejected)
    assert set(rejected) <= {("aprs", "duplicate"), ("aprs", "server_comment"),
                             ("modes", "duplicate"), ("modes", "no_position")}, rejected
    assert rejected[("aprs", "server_comment")] == meta["server_lines"]
    assert s["receiver_beacons"] == meta["receiver_beacons"]

    # Airport and runway of every event, decided by the worker from the stored fixes.
    run_workers(refdb.url("worker"),
                WorkerConfig(listen=False, pelias_url=None, max_wait_s=2.0, poll_interval_s=0.05,
                             metrics_interval_s=0.0), threads=1, drain=True)
    flights = fetch(refdb.url())
    result = score(read_truth(tmp_path / "truth.jsonl"), flights, meta["start"], meta["end"])
    print("detection score:", json.dumps({k: v for k, v in result.items()}, default=str))
    for event in ("takeoff", "landing"):
        r = result[event]
        assert r["truth"] >= 40
        assert r["missed"] == 0 and r["extra"] == 0, r
        assert r["located"] == r["matched"] and r["airport_correct"] == r["matched"], r
        assert r["runway_correct"] == r["matched"], r["wrong_runway_examples"]
    assert result["takeoff"]["error_s_p95"] <= 8.0
    assert result["landing"]["error_s_p95"] <= 30.0
    tows = result["tow"]
    assert tows["truth"] >= 5 and tows["paired"] == tows["aerotow_takeoffs_found"] >= tows["truth"]
    assert tows["false_tow"] == 0 and tows["wrong_tow_plane"] == 0
    assert tows["release_found"] == tows["truth"]
