"""Writing a simulation as recordings in soar's replay formats, with its ground truth.

The rule: every file replays with `soar replay` as it stands, and carries the same
times the simulation used: `aprs.txt` (capture lines `<ISO time> <raw>`, as
soar.feeds.ogn.parse_capture_line reads them), `modes.jsonl` (`{"timestamp": unix,
"frame": hex}`, absolute times: the preferred ADS-B recording) and `beast.bin`
(Beast frames; its 12 MHz counter is relative, so `simulation.json` gives the
`--start` that puts the first frame at its time). `truth.jsonl` is described in
soar.simulate.truth; `simulation.json` holds the config, the counts, the
generation speed and the commands that replay the files.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

from soar.errors import SoarError
from soar.feeds import recordings
from soar.feeds.beast import MODE_S_LONG, MODE_S_SHORT, Frame, encode_frame
from soar.simulate.engine import Second, SimConfig, Simulation
from soar.simulate.truth import TruthWriter, iso
from soar.units import UTC

APRS_FILE = "aprs.txt"
MODES_FILE = "modes.jsonl"
BEAST_FILE = "beast.bin"
TRUTH_FILE = "truth.jsonl"
META_FILE = "simulation.json"
_MLAT_MOD = 1 << 48


class RecordingWriter:
    """Streams Seconds into the recording files; `close()` writes simulation.json."""

    def __init__(self, out_dir: Path, sim: Simulation, beast: bool = True):
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SoarError(f"{out_dir}: cannot create the output folder ({exc.strerror})") from None
        self.dir = out_dir
        self.sim = sim
        adsb = any(a.adsb is not None for a in sim.aircraft)
        # The writer owns its files for the whole simulation; close() closes them all.
        files = self.files = contextlib.ExitStack()
        self.aprs = files.enter_context(self._open(APRS_FILE, "w"))
        self.modes = self.beast = None
        if adsb:
            self.modes = files.enter_context(self._open(MODES_FILE, "w"))
            if beast:
                self.beast = files.enter_context(self._open(BEAST_FILE, "wb"))
        self.truth_file = files.enter_context(self._open(TRUTH_FILE, "w"))
        self.truth = TruthWriter(self.truth_file)
        for rec in sim.describe():
            self.truth.write(rec)
        sim.on_event = self.truth.write
        self.mlat0 = (sim.config.seed * 0x9E3779B1) % (1 << 40)
        self.first_frame: float | None = None
        self.lines = self.frames = 0

    def _open(self, name: str, mode: str):
        encoding = None if "b" in mode else "utf-8"
        return open(self.dir / name, mode, encoding=encoding)  # noqa: SIM115 -- closed by close()

    def write(self, s: Second) -> None:
        base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s.second))
        sec = s.second
        self.aprs.write("".join([f"{base}.{int((rt - sec) * 1e6):06d}+00:00 {raw}\n"
                                 for rt, raw in s.aprs]))
        self.lines += len(s.aprs)
        if s.frames and self.modes is not None:
            self.modes.write("".join([f'{{"timestamp": {rt:.6f}, "frame": "{fr.hex()}"}}\n'
                                      for rt, fr, _ in s.frames]))
            if self.beast is not None:
                if self.first_frame is None:
                    self.first_frame = s.frames[0][0]
                t0, m0 = self.first_frame, self.mlat0
                self.beast.write(b"".join([encode_frame(Frame(
                    MODE_S_LONG if len(fr) == 14 else MODE_S_SHORT,
                    (m0 + round((rt - t0) * 12e6)) % _MLAT_MOD, sig, fr))
                    for rt, fr, sig in s.frames]))
            self.frames += len(s.frames)

    def close(self, generation_s: float | None = None) -> dict:
        self.files.close()
        meta = metadata(self.sim, generation_s)
        d = self.dir
        meta["files"] = {"aprs": str(d / APRS_FILE), "truth": str(d / TRUTH_FILE)}
        pos = meta["beast_receiver_position"]
        replay = [f"soar replay {d / APRS_FILE} --format aprs"]
        if self.modes is not None:
            meta["files"]["modes"] = str(d / MODES_FILE)
            replay.append(f"soar replay {d / MODES_FILE} --format modes --receiver sim "
                          f"--receiver-position {pos[0]},{pos[1]}")
        if self.beast is not None:
            meta["files"]["beast"] = str(d / BEAST_FILE)
            meta["beast_start"] = iso(self.first_frame) if self.first_frame is not None else None
            replay.append(f"soar replay {d / BEAST_FILE} --format beast --receiver sim "
                          f"--start {meta['beast_start']} --receiver-position {pos[0]},{pos[1]}")
        meta["replay"] = replay
        meta["truth_events"] = dict(self.truth.counts)
        with open(d / META_FILE, "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=2, default=str)
            f.write("\n")
        return meta


def metadata(sim: Simulation, generation_s: float | None) -> dict:
    cfg: SimConfig = sim.config
    st = sim.stats
    s, w, n, e = cfg.region
    config = asdict(cfg)
    config["start"] = cfg.start.astimezone(UTC).isoformat().replace("+00:00", "Z")
    kinds: dict[str, int] = {}
    for a in sim.aircraft:
        kinds[a.kind] = kinds.get(a.kind, 0) + 1
    meta = {
        "start": config["start"], "end": iso(sim.t0 + cfg.duration_s),
        "duration_s": cfg.duration_s, "seed": cfg.seed, "config": config,
        "aircraft": kinds, "airfields": len(sim.receivers),
        "receivers": sum(len(v) for v in sim.receivers.values()),
        "wind": {"from_deg": round(sim.wind.from_deg), "speed_kmh": round(sim.wind.speed_ms * 3.6, 1)},
        # A Beast/Mode-S receiver position for surface CPR decoding (any point within
        # 45 degrees of the traffic works for a pair): the region's centre.
        "beast_receiver_position": [round((s + n) / 2, 4), round((w + e) / 2, 4)],
        "aprs_lines": st["aprs_lines"],
        "aprs_aircraft_lines": st["aprs_lines"] - st["receiver_beacons"] - st["server_lines"],
        "receiver_beacons": st["receiver_beacons"], "server_lines": st["server_lines"],
        "frames": st["frames"],
        "aprs_lines_per_data_s": round(st["aprs_lines"] / cfg.duration_s, 1),
        "frames_per_data_s": round(st["frames"] / cfg.duration_s, 1),
    }
    if generation_s:
        meta["generation"] = {
            "seconds": round(generation_s, 2),
            "aprs_lines_per_s": round(st["aprs_lines"] / generation_s),
            "frames_per_s": round(st["frames"] / generation_s),
            "times_real_time": round(cfg.duration_s / generation_s, 1),
        }
    return meta


def record(config: SimConfig, out_dir: Path, beast: bool = True, progress=None) -> dict:
    """Simulate and write the recording and its truth into `out_dir`; the metadata."""
    t_build = time.monotonic()
    sim = Simulation(config)
    build_s = time.monotonic() - t_build
    writer = RecordingWriter(Path(out_dir), sim, beast)
    t0 = time.monotonic()
    try:
        for s in sim.seconds():
            writer.write(s)
            if progress is not None:
                progress(s)
    finally:
        meta = writer.close(time.monotonic() - t0)
    meta["build_s"] = round(build_s, 2)
    return meta


def replay_chunks(out_dir: Path, receiver: str = "sim", chunk_s: float = 1.0,
                  max_chunk: int = 5000) -> Iterator[list]:
    """A recording's aprs.txt and modes.jsonl merged in receive-time order, as chunks of
    soar.records.Message for Pipeline.submit / soar.ingest.feed. Each chunk holds one
    kind only (the pipeline parses an APRS chunk in its parse process as a whole) and
    at most `chunk_s` seconds of data, so the two feeds stay interleaved in time."""
    out_dir = Path(out_dir)
    streams = [recordings.aprs_messages(out_dir / APRS_FILE)]
    if (out_dir / MODES_FILE).exists():
        streams.append(recordings.modes_messages(out_dir / MODES_FILE, receiver))
    pending: dict[str, list] = {"aprs": [], "modes": []}
    window_end = None
    for m in heapq.merge(*streams, key=lambda m: m.received_at):
        t = m.received_at.timestamp()
        if window_end is None:
            window_end = t + chunk_s
        if t >= window_end:
            for kind in ("aprs", "modes"):
                if pending[kind]:
                    yield pending[kind]
                    pending[kind] = []
            window_end = t + chunk_s
        chunk = pending[m.kind]
        chunk.append(m)
        if len(chunk) >= max_chunk:
            yield chunk
            pending[m.kind] = []
    for kind in ("aprs", "modes"):
        if pending[kind]:
            yield pending[kind]
