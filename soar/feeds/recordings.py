"""Message sources: recordings replayed through the same pipeline as the live feeds.

Each yields chunks of pipeline messages, paced by the recorded receive times
(`speed` times real time) or as fast as possible (`speed=None`), in which case the
recorded times are still the clock the tracker sees.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

from soar.feeds import beast, modes, ogn
from soar.records import Message
from soar.units import UTC

CHUNK = 1000
FORMATS = ("aprs", "beast", "modes")


def chunked(messages: Iterator[tuple], speed: float | None) -> Iterator[list]:
    chunk: list = []
    t0_wall = t0_data = None
    for m in messages:
        chunk.append(m)
        if speed is not None:
            if t0_data is None:
                t0_wall, t0_data = time.monotonic(), m.received_at
            due = (m.received_at - t0_data).total_seconds() / speed
            ahead = due - (time.monotonic() - t0_wall)
            if ahead > 0.05:
                yield chunk
                chunk = []
                time.sleep(ahead)
                continue
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def aprs_messages(path: Path) -> Iterator[tuple]:
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            parsed = ogn.parse_capture_line(line)
            if parsed is None:
                continue
            yield Message("aprs", parsed[0], parsed[1])


def modes_messages(path: Path, receiver: str) -> Iterator[tuple]:
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            parsed = modes.parse_modes_line(line)
            if parsed is None:
                continue
            yield Message("modes", parsed[0], parsed[1], None, receiver)


def beast_messages(path: Path, receiver: str, start: datetime) -> Iterator[tuple]:
    """A Beast file has only the receiver's 12 MHz counter: times are `start` plus
    the counter's progress since the first frame."""
    decoder = beast.BeastDecoder()
    first = None

    def blocks():
        with open(path, "rb") as f:
            while block := f.read(1 << 16):
                yield decoder.feed(block)
        yield decoder.flush()

    for frames in blocks():
        for frame in frames:
            if first is None:
                first = frame.mlat_ticks
            ticks = (frame.mlat_ticks - first) % (1 << 48)
            t = start + timedelta(microseconds=ticks / 12)
            yield Message("modes", t, frame.payload, beast.signal_dbfs(frame.signal), receiver)


def replay(path: Path, fmt: str, speed: float | None = None, receiver: str | None = None,
           start: datetime | None = None) -> Iterator[list]:
    if fmt == "aprs":
        messages = aprs_messages(path)
    elif fmt == "modes":
        messages = modes_messages(path, receiver or path.stem)
    elif fmt == "beast":
        messages = beast_messages(path, receiver or path.stem, start or datetime.now(UTC))
    else:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    return chunked(messages, speed)
