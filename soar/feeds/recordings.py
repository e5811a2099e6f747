"""Message sources: recordings replayed through the same pipeline as the live feeds.

Each yields chunks of pipeline messages, paced by the recorded receive times
(`speed` times real time) or as fast as possible (`speed=None`), in which case the
recorded times are still the clock the tracker sees.
"""

from __future__ import annotations

import gzip
import io
import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, tzinfo
from pathlib import Path

from soar.errors import SoarError
from soar.feeds import beast, modes, ogn, sbs
from soar.records import UNREADABLE, Message, as_payload
from soar.units import UTC

CHUNK = 1000
FORMATS = ("aprs", "beast", "modes", "sbs")
_ZSTD, _GZIP = b"\x28\xb5\x2f\xfd", b"\x1f\x8b"


def open_recording(path: Path, binary: bool = False, **text):
    """A recording, plain or compressed (zstd, as `soar run --archive` writes, or
    gzip), told by its first bytes. A zstd stream without its end (its writer was
    killed) reads up to its last complete block."""
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic == _ZSTD:
        import zstandard  # only for compressed recordings
        stream = _Zstd(path, zstandard.ZstdDecompressor())
        errors: tuple = (zstandard.ZstdError, OSError)
    elif magic[:2] == _GZIP:
        stream = gzip.open(path, "rb")  # noqa: SIM115
        errors = (OSError, EOFError)
    else:
        return open(path, "rb") if binary else open(path, **text)  # noqa: SIM115
    checked = io.BufferedReader(_Checked(stream, path, errors))
    return checked if binary else io.TextIOWrapper(checked, **text)


class _Zstd(io.RawIOBase):
    """zstd frames one after another, including a last one without its end (a file
    `soar run --archive` is writing, or was killed writing): all the data its complete
    blocks hold. (zstandard's stream_reader stops early on such a frame.)"""

    def __init__(self, path: Path, decompressor):
        self._file = open(path, "rb")  # noqa: SIM115 -- closed by close()
        self._d = decompressor
        self._frame = decompressor.decompressobj()
        self._out = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._out:
            data = self._file.read(1 << 16)
            if not data:
                return 0
            out = self._frame.decompress(data)
            while self._frame.eof:            # a frame ended: the next one starts here
                rest = self._frame.unused_data
                self._frame = self._d.decompressobj()
                if not rest:
                    break
                out += self._frame.decompress(rest)
            self._out = memoryview(out)
        n = min(len(buffer), len(self._out))
        buffer[:n] = self._out[:n]
        self._out = self._out[n:]
        return n

    def close(self) -> None:
        self._file.close()
        super().close()


class _Checked(io.RawIOBase):
    """A decompressing stream whose damage ends the replay with one line naming the
    file (what came before it was replayed), not a traceback."""

    def __init__(self, stream, path: Path, errors: tuple):
        self._stream, self._path, self._errors = stream, path, errors
        self._read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:
            n = self._stream.readinto(buffer)
        except self._errors as exc:
            raise SoarError(f"{self._path}: compressed data damaged after {self._read} bytes "
                            f"({exc}); what came before was replayed. Replay the other "
                            "files, or cut this one at the damage") from None
        self._read += n
        return n

    def close(self) -> None:
        self._stream.close()
        super().close()


def stem(path: Path) -> str:
    """The receiver name a file gives: its name without the format's and a
    compression's extension (`ulss7.jsonl.zst` -> `ulss7`)."""
    name = path.name
    for ext in (".zst", ".gz"):
        name = name.removesuffix(ext)
    return Path(name).stem


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


def _timed_lines(path: Path, read_line, kind: str, receiver: str | None,
                 signal=lambda line: None) -> Iterator[tuple]:
    """Messages of a recording whose lines carry their receive time (`read_line`: a
    line to (time, payload) or None). Every non-blank line is a message: one that
    cannot be read travels as UNREADABLE (returned as such by the parsers, so the
    router counts it) at the previous line's time; those before the first readable
    line wait for its time (at most CHUNK of them; then the wall clock)."""
    pending = 0
    last = None
    unreadable = as_payload(UNREADABLE)
    with open_recording(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            parsed = read_line(line)
            if parsed is not None:
                last = parsed[0]
            elif not line.strip():
                continue
            elif last is None:
                pending += 1
                if pending < CHUNK:
                    continue
                last = datetime.now(UTC)      # (not a recording of this format, it seems)
            for _ in range(pending):
                yield Message(kind, last, unreadable, None, receiver)
            if parsed is not None:
                yield Message(kind, last, parsed[1], signal(line), receiver)
            elif not pending:
                yield Message(kind, last, unreadable, None, receiver)
            pending = 0
    now = datetime.now(UTC)               # a file without any readable line
    for _ in range(pending):
        yield Message(kind, now, unreadable, None, receiver)


def aprs_messages(path: Path) -> Iterator[tuple]:
    return _timed_lines(path, ogn.parse_capture_line, "aprs", None)


def modes_messages(path: Path, receiver: str) -> Iterator[tuple]:
    return _timed_lines(path, modes.parse_modes_line, "modes", receiver, _signal)


def _signal(line: str) -> float | None:
    """A JSON line's receiver signal level in dBFS (`soar run --archive` keeps it)."""
    if '"signal"' not in line:
        return None
    try:
        value = float(json.loads(line)["signal"])
    except (ValueError, TypeError, KeyError):
        return None
    return value if -1000.0 < value <= 0.0 else None


def beast_messages(path: Path, receiver: str, start: datetime) -> Iterator[tuple]:
    """A Beast file has only the receiver's 12 MHz counter: times are `start` plus
    the counter's progress since the first frame."""
    decoder = beast.BeastDecoder()
    first = None

    def blocks():
        with open_recording(path, binary=True) as f:
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


def sbs_messages(path: Path, receiver: str, tz: tzinfo | None = None) -> Iterator[tuple]:
    """An SBS recording, one message per non-blank line (every other line reaches the
    router and is counted there, a comment as a parse error). The receive time is the
    line's generated time (in `tz`, UTC by default): data time drives a replay, so a
    recording of any age is neither stale nor in the future. A line without a
    readable time takes the previous line's (the first ones: the first readable one's,
    or the wall clock when the first thousand lines have none)."""
    clock = sbs.Clock(tz)
    pending: list[str] = []
    last = None
    with open_recording(path, encoding="ascii", errors="replace", newline=None) as f:
        for raw in f:
            line = raw.rstrip("\r\n")
            if not line.strip():
                continue
            t = clock.line_time(line)
            if t is not None:
                last = t
            elif last is None:
                pending.append(line)      # no time yet: held until the first one
                if len(pending) < CHUNK:
                    continue
                last = datetime.now(UTC)  # (not an SBS file, it seems: bounded memory)
            for held in pending:
                yield Message("sbs", last, held, None, receiver)
            pending.clear()
            yield Message("sbs", last, line, None, receiver)
    now = datetime.now(UTC)               # a file without any readable time
    for held in pending:
        yield Message("sbs", now, held, None, receiver)


def replay(path: Path, fmt: str, speed: float | None = None, receiver: str | None = None,
           start: datetime | None = None, tz: tzinfo | None = None) -> Iterator[list]:
    """`tz`: the zone of an SBS recording's times (UTC when None)."""
    if fmt == "sbs":
        return chunked(sbs_messages(path, receiver or stem(path), tz), speed)
    if fmt == "aprs":
        messages = aprs_messages(path)
    elif fmt == "modes":
        messages = modes_messages(path, receiver or stem(path))
    elif fmt == "beast":
        messages = beast_messages(path, receiver or stem(path), start or datetime.now(UTC))
    else:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    return chunked(messages, speed)
