"""The incident benchmark's pieces on a tiny load and preload (`bench/incident.py
--quick`, two latencies): it runs end to end with its own cluster (a preloaded
template, cloned per run), fake Pelias and `soar worker` subprocesses, prints the
JSON line with every key figure, accounts for every message offered in every run,
and its old design really runs runway detection and calls Pelias inline on its pool
of connections (the fake counts the requests), while the same-shape probe samples
every run. No speed is asserted: the figures are the benchmark's to report."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KEYS = ("throughput_ratio_pelias30_vs_pelias0", "throughput_ratio_pipeline_vs_sync_pelias30",
        "create_flight_p99_ms", "complete_flight_p99_ms", "router_queue_max_fill",
        "enrichment_lag_p99_s", "detection_missed", "detection_extra",
        "enrichment_events_per_s_pelias200ms", "round_trip_floor_p99_ms",
        "flight_event_ops_per_s", "beast_msgs_per_s", "fixes_stored_fraction",
        "create_takeoff_p99_ms", "complete_landing_p99_ms", "flight_commit_lag_p99_s",
        "enriched_fraction", "pelias_fraction", "takeoffs_found", "takeoffs_missed",
        "landings_found", "landings_missed", "event_ratio_pipeline_vs_sync_pelias30",
        "sync_detect_runway_p99_ms", "sync_pelias_p99_ms", "runs")
LATENCIES = (0.0, 5.0)


@pytest.fixture
def out_dir():
    # The benchmark keeps its cluster in its results folder: one the server's user
    # (postgres, when run as root) can reach, unlike pytest's private tmp_path.
    path = Path(tempfile.mkdtemp(prefix="soar-bench-incident-"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_incident_benchmark_quick(out_dir):
    png = out_dir / "chart.png"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "incident.py"), "--quick",
                           "--latencies", ",".join(f"{x:g}" for x in LATENCIES),
                           "--out", str(out_dir / "out"), "--png", str(png)],
                          capture_output=True, text=True, timeout=540, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in KEYS:
        assert key in result, key
    runs = result["runs"]
    assert {(r["design"], r["pelias_latency_s"]) for r in runs} == {
        (d, lat) for d in ("pipeline", "sync") for lat in LATENCIES}
    for key in KEYS[:-1]:
        if isinstance(result[key], dict) and "pipeline_0" in result[key]:
            # Per run, both designs, every latency.
            assert set(result[key]) == {f"{d}_{lat:g}" for d in ("pipeline", "sync")
                                        for lat in LATENCIES}, key
    offered = result["load"]["offered"]
    assert offered == result["load"]["aprs_lines"] + result["load"]["frames"] > 0
    for r in runs:
        acc = r["accounting"]
        # Every message offered reached the router or was dropped (at its queue or,
        # for the old design's blocked reader, upstream), counted; every one of them
        # has an outcome.
        assert 0 < r["offered"] <= offered
        assert r["offered"] == r["messages_in"] + sum(r["dropped_upstream"].values()), r
        assert acc["offered_equals_in"]
        assert acc["balanced"] and acc["unaccounted"] == 0 and acc["in_flight"] == 0, acc
        assert acc["dropped"].get("queue_full", 0) == r["dropped_queue_full"]
        assert r["failed"] is None
        assert r["fixes_written"] > 0
        assert r["detection"]["takeoff"]["truth"] > 0
        # The same-shape probe ran beside every run.
        assert r["probe_ms"]["samples"] > 0, r["probe_ms"]
    sync = [r for r in runs if r["design"] == "sync"]
    for r in sync:
        s = r["sync"]
        # The old design: 20 pool connections behind a router queue of 1,000 messages.
        assert s["pool_connections"] == 20 and r["router_queue"]["capacity_messages"] == 1000
        # The inline enrichment happened, inside the writer: the fake saw each call.
        assert s["detect_runway_calls"] >= 1, s
        assert r["pelias_requests"] >= 1
        assert r["pelias_requests"] == s["pelias_calls"] + s["pelias_failures"], (r, s)
    answered = next(r for r in sync if r["pelias_latency_s"] == 0.0)
    assert answered["sync"]["pelias_calls"] == answered["sync"]["events_enriched_inline"] >= 1
    for r in runs:
        if r["design"] == "pipeline":
            assert r["sync"] is None and r["enrichment"] is not None
            assert r["enrichment"]["archived"] + r["enrichment"]["still_queued"] > 0
    if importlib.util.find_spec("matplotlib") is not None:
        assert result["png"] == str(png) and png.stat().st_size > 0
