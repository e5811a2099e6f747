"""One ingest process vs N shard processes (`soar replay --shard K/N`), printing JSON.

Starts a throw-away embedded cluster (default durability settings), makes one
simulated recording (`soar simulate`: OGN APRS with aerotows, plus Mode-S), and
replays it at --speed max (`--format sim`: APRS and Mode-S merged in time order)
with `soar replay` as a user runs it: once by one process into a fresh database,
then by N shard processes at the same time into another. Wall time is from the
start of the first process to the end of the last; msgs/s is the recording's
messages over that. Also: what sorting Mode-S frames by address before the decode
saves (microbenchmark over the recording's frames), and `capacity`: in this process,
the recording in memory, one pipeline and then each shard's pipeline alone (as on a
machine of its own), each into a fresh database: the busiest shard's time is what N
machines sustain, without the file reading and start-up every process repeats.

    .venv/bin/python bench/shard.py [--aircraft 1500] [--beast-aircraft 800]
                                    [--duration 120] [--shards 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg  # noqa: E402

from soar.db import embedded, migrate  # noqa: E402
from soar.feeds import modes, recordings  # noqa: E402
from soar.ingest.shard import Shard  # noqa: E402
from soar.reference import airports  # noqa: E402
from soar.simulate import SimConfig, record  # noqa: E402
from soar.simulate.recording import MODES_FILE  # noqa: E402


def _template(cluster: embedded.Cluster) -> None:
    """A migrated database with the airports, copied for each run."""
    with psycopg.connect(cluster.url(), autocommit=True) as conn:
        conn.execute('CREATE DATABASE "template_bench"')
    migrate.upgrade(cluster.url("template_bench"))
    with psycopg.connect(cluster.url("template_bench")) as conn:
        airports.import_airports(conn, *airports.default_sources())


def _database(cluster: embedded.Cluster, name: str) -> None:
    with psycopg.connect(cluster.url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template_bench')


def _capacity(cluster: embedded.Cluster, recording: Path, n: int) -> dict:
    """In this process, the recording read into memory first: one pipeline, then each
    shard's pipeline ALONE (as on a machine of its own), each into a fresh database.
    Excludes what a process spends reading a file and starting; the busiest shard's
    time sets what N machines sustain."""
    from soar import ingest
    from soar.ingest.pipeline import PipelineConfig
    from soar.ingest.stats import IngestStats
    from soar.simulate import replay_chunks
    chunks = list(replay_chunks(recording))
    messages = sum(len(c) for c in chunks)
    pos = tuple(json.loads((recording / "simulation.json").read_text())["beast_receiver_position"])
    runs = []
    for shard in [None] + [Shard(k, n) for k in range(n)]:
        name = f"capacity_{'one' if shard is None else shard.k}"
        _database(cluster, name)
        stats = IngestStats()
        pipeline = ingest.build(cluster.url(name, user="soar_ingest"), stats,
                                PipelineConfig(shutdown_deadline_s=3600),
                                receiver_position=pos, shard=shard)
        pipeline.start()
        t0, c0 = time.perf_counter(), time.process_time()
        for chunk in chunks:
            pipeline.submit(chunk)
        pipeline.close()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        runs.append({"shard": None if shard is None else str(shard), "wall_s": round(wall, 2),
                     "cpu_s_main_process": round(cpu, 2), "fixes": stats.fixes_written,
                     "msgs_per_s": round(messages / wall)})
    one, shards = runs[0], runs[1:]
    busiest = max(r["wall_s"] for r in shards)
    return {"messages": messages, "one_process_msgs_per_s": one["msgs_per_s"],
            f"{n}_machines_msgs_per_s": round(messages / busiest),
            "speedup": round(one["wall_s"] / busiest, 2), "runs": runs}


def _replays(cluster: embedded.Cluster, name: str, recording: Path, spool: Path,
             shards: list[str | None]) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOAR_")}
    env.update(SOAR_DATABASE_URL=cluster.url(name),
               SOAR_INGEST_DATABASE_URL=cluster.url(name, user="soar_ingest"),
               SOAR_SPOOL_DIR=str(spool))
    t0 = time.perf_counter()
    procs = []
    for shard in shards:
        # The end of the input waits for every write (no spooling at a deadline).
        args = [sys.executable, "-m", "soar", "replay", str(recording), "--format", "sim", "--json",
                "--shutdown-deadline", "3600"]
        if shard:
            args += ["--shard", shard]
        procs.append(subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True, env=env))
    out, cpu = [], []
    for p in procs:
        stdout = p.stdout.read()       # stderr: a progress line every 10 s, never full
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode:
            raise SystemExit(f"replay failed: {p.stderr.read().strip().splitlines()[-1:]}")
        p.stderr.close()
        p.stdout.close()
        out.append(json.loads(stdout))
        # The process and its parse process (reaped by it): CPU seconds, not the server's.
        cpu.append(round(usage.ru_utime + usage.ru_stime, 2))
    wall = time.perf_counter() - t0
    with psycopg.connect(cluster.url(name)) as conn:
        fixes, flights = conn.execute(
            "SELECT (SELECT count(*) FROM fixes), (SELECT count(*) FROM flights)").fetchone()
    messages = out[0]["messages_total"]           # every process reads every message
    return {
        "processes": len(shards), "wall_s": round(wall, 2),
        "msgs_per_s": round(messages / wall), "fixes_per_s": round(fixes / wall),
        "fixes_stored": fixes, "flights": flights, "cpu_s": round(sum(cpu), 2),
        "spooled": sum(s["accounting"]["spooled"] for s in out),
        "per_process": [{"shard": s.get("shard"), "elapsed_s": s["elapsed_s"], "cpu_s": c,
                         "msgs_per_s": s["messages_per_s"],
                         "fixes_stored": s["accounting"]["fixes_stored"],
                         "other_shard": s["accounting"]["dropped"].get("other_shard", 0),
                         "shadow_fixes": s.get("shadow_fixes", 0),
                         "shadow_flight_ops": s.get("shadow_flight_ops", 0),
                         "balanced": s["accounting"]["balanced"],
                         "accounting": {k: s["accounting"][k] for k in (
                             "messages_in", "receiver_beacons", "state_only", "rejected",
                             "dropped")},
                         "flight_ops_skipped": s["flight_ops_skipped"],
                         "create_flight_p99_ms": s["create_flight_p99_ms"]}
                        for s, c in zip(out, cpu, strict=True)],
    }


def _prefilter(recording: Path, n: int) -> dict:
    """Per-frame cost for shard 0 of n of the frames it does not own: decoded then
    dropped, vs sorted by address first (owns_frame + advance)."""
    if not (recording / MODES_FILE).exists():
        return {}
    frames = list(recordings.modes_messages(recording / MODES_FILE, "sim"))
    shard = Shard(0, n)
    others = [m for m in frames if not shard.owns_frame(m.payload)[0]]
    decode_all = sorted_first = float("inf")
    for _ in range(3):                   # interleaved, the best of three: a shared machine
        dec = modes.ModeSDecoder("sim")
        t0 = time.perf_counter()
        for m in frames:                 # every frame decoded, the others' dropped after
            dec.decode(m.payload, m.received_at, m.signal_db)
        decode_all = min(decode_all, time.perf_counter() - t0)
        dec = modes.ModeSDecoder("sim")
        t0 = time.perf_counter()
        for m in frames:
            mine, address = shard.owns_frame(m.payload)
            if mine:
                dec.decode(m.payload, m.received_at, m.signal_db)
            elif address is not None:
                dec.advance(m.received_at)
        sorted_first = min(sorted_first, time.perf_counter() - t0)
    return {"frames": len(frames), "frames_of_other_shards": len(others),
            "decode_every_frame_us": round(decode_all / len(frames) * 1e6, 2),
            "sort_then_decode_own_us": round(sorted_first / len(frames) * 1e6, 2),
            "saved_fraction": round(1 - sorted_first / decode_all, 3)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--aircraft", type=int, default=1500)
    ap.add_argument("--beast-aircraft", type=int, default=800)
    ap.add_argument("--duration", type=int, default=120)
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    home = Path(tempfile.mkdtemp(prefix="soar-bench-shard-"))
    os.chmod(home, 0o755)
    # No TimescaleDB scheduler: it would hold a connection to the template database
    # that every run's database is copied from.
    cluster = embedded.Cluster(home=home, port=54398,
                               settings={"timescaledb.max_background_workers": "0"})
    try:
        recording = home / "sim"
        meta = record(SimConfig(start=datetime(2024, 6, 15, 10, 0, tzinfo=timezone.utc),
                                duration_s=args.duration, aircraft=args.aircraft,
                                beast_aircraft=args.beast_aircraft, seed=args.seed), recording)
        cluster.start()
        _template(cluster)
        _database(cluster, "one")
        _database(cluster, "shards")
        one = _replays(cluster, "one", recording, home / "spool", [None])
        many = _replays(cluster, "shards", recording, home / "spool",
                        [f"{k}/{args.shards}" for k in range(args.shards)])
        prefilter = _prefilter(recording, args.shards)
        capacity = _capacity(cluster, recording, args.shards)
    finally:
        cluster.stop()
        shutil.rmtree(home, ignore_errors=True)
    print(json.dumps({
        "aprs_lines": meta["aprs_lines"], "frames": meta["frames"],
        "messages": meta["aprs_lines"] + meta["frames"], "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "one_process_msgs_per_s": one["msgs_per_s"],
        f"{args.shards}_shards_msgs_per_s": many["msgs_per_s"],
        "speedup": round(one["wall_s"] / many["wall_s"], 2),
        # With a core (or machine) per shard, the busiest shard's CPU sets the pace:
        # one process's CPU over it is the speed-up the shards can give.
        "busiest_shard_cpu_fraction": round(
            max(p["cpu_s"] for p in many["per_process"]) / one["cpu_s"], 3),
        "cpu_overhead_of_sharding": round(many["cpu_s"] / one["cpu_s"] - 1, 3),
        "same_fixes_and_flights": (one["fixes_stored"], one["flights"])
        == (many["fixes_stored"], many["flights"]),
        # Each shard alone, the recording in memory: what N machines would sustain.
        "capacity": capacity,
        "one_process": one, "shards": many, "modes_prefilter": prefilter,
    }))


if __name__ == "__main__":
    main()
