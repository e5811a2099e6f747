"""The raw archive (`soar run --archive DIR`): every line or frame the live feeds
delivered, with its receive time, taken before routing, in hourly zstd files that
`soar replay` reads as they are. Any hour, including one ingest lost or stored
wrongly, can be replayed from it (docs/ingest.md, "Raw archive").

The rule it keeps: the archive never slows or drops the live path. The feeds hand
each chunk to a bounded queue without waiting (`offer`); a full queue loses the chunk
from the archive only (counted `archive_dropped`), and a disk that refuses a write
counts `archive_errors` (the lines not archived) and logs a warning: the live data
goes to the database either way. All file I/O and compression happen on the
archive's own thread.

Layout, by UTC hour:
  DIR/YYYY-MM-DD/HH/aprs.txt.zst           OGN APRS-IS: `<ISO-8601 receive time> <line>`
                                           (`soar replay --format aprs`)
  DIR/YYYY-MM-DD/HH/<receiver>.jsonl.zst   Beast frames: {"timestamp", "frame", "signal"}
                                           (`--format modes`; the name is the receiver's)
  DIR/YYYY-MM-DD/HH/<receiver>.sbs.zst     SBS lines as received (`--format sbs`)
  DIR/YYYY-MM-DD/HH/order.zst              the order record: `HH/<file> <count>` a line,
                                           one per run of one feed's messages, in the
                                           order the router took them
The feeds hand their chunks to the archive and to the router as one step (app.Chunker),
so the archive thread writes them in the router's order. A chunk goes whole into the
archive's current hour, the latest of the hours its chunks ended in (it never goes
back), so replaying the part folders in (day, hour, part) order and each one's order
record line by line gives the router's order exactly (`replay_chunks`).
A file is one zstd stream, flushed block by block every `flush_interval_s`, the order
record last (a crash loses at most that much; the reader takes a stream without its
end). A stream is never appended to: a process takes one part folder per hour, the
first of HH/, HH.2/, HH.3/, ... that is new or empty (a restart within the hour).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import re
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import zstandard

from soar.errors import SoarError
from soar.feeds import recordings
from soar.records import Message
from soar.units import UTC

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HOUR = timedelta(hours=1)
_NEWLINES = re.compile(r"\r\n|\r|\n")   # the lines a replay's reader splits
_HOUR_DIR = re.compile(r"(\d\d)(?:\.(\d+))?")
_FORMATS = {"txt": "aprs", "jsonl": "modes", "sbs": "sbs"}   # file extension -> replay format
ORDER_NAME = "order.zst"   # a part folder's order record (no feed's file name ends so)
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@,+=-]{0,99}")


@dataclass
class ArchiveConfig:
    directory: Path
    keep_s: float = 7 * 86400.0          # hours that ended longer ago than this are deleted
    queue_chunks: int = 1024             # chunks waiting for the archive thread; more: dropped
    flush_interval_s: float = 1.0        # an open file's data reaches the disk this often
    level: int = 3                       # zstd level: 3 is zstd's default (docs/operations.md)
    idle_close_s: float = 120.0          # a file whose hour ended this long ago is closed


class _File:
    """One open hourly stream: its hour, path and compressor."""

    def __init__(self, path: Path, hour: datetime, level: int):
        self.path, self.hour = path, hour
        self.name = f"{path.parent.name}/{path.name}"   # as the order record names it
        self.raw = open(path, "xb")   # noqa: SIM115 -- held open for the hour
        # The checksum lets a replay tell damaged data from good (zstd has none by default).
        self.stream = zstandard.ZstdCompressor(level=level, write_checksum=True).stream_writer(
            self.raw, closefd=True)
        self.bytes_on_disk = 0

    def flushed_bytes(self) -> int:
        """Flush a block to the disk; the compressed bytes that added."""
        self.stream.flush(zstandard.FLUSH_BLOCK)
        before, self.bytes_on_disk = self.bytes_on_disk, self.raw.tell()
        return self.bytes_on_disk - before

    def close(self) -> int:
        """End the stream; the compressed bytes the end added."""
        before = self.bytes_on_disk
        self.stream.close()                # ends the frame, closes the file
        self.bytes_on_disk = self.path.stat().st_size
        return self.bytes_on_disk - before


def file_name(kind: str, receiver: str | None) -> str:
    """The file a feed's messages go to in an hour's folder. A receiver name that is
    not a plain file name is %-quoted (replay it with --receiver NAME then)."""
    if kind == "aprs":
        return "aprs.txt.zst"
    name = receiver or kind
    if not _SAFE_NAME.fullmatch(name):
        name = quote(name, safe="")[:100]
    return f"{name}.{'jsonl' if kind == 'modes' else 'sbs'}.zst"


def encode(m: Message) -> str:
    """A message as its replay format's line."""
    if m.kind == "aprs":
        return f"{m.received_at.isoformat()} {m.payload}\n"
    if m.kind == "modes":
        us = (m.received_at - _EPOCH) // timedelta(microseconds=1)
        frame = m.payload.hex() if isinstance(m.payload, bytes) else m.payload
        signal = "null" if m.signal_db is None else repr(float(m.signal_db))
        return (f'{{"timestamp": {us // 1_000_000}.{us % 1_000_000:06d}, "frame": "{frame}", '
                f'"signal": {signal}}}\n')
    return f"{m.payload}\n"


class Archive:
    """The archive's queue and writer thread; `offer` from the feeds, counters for
    the stats line and Prometheus (`gauges`)."""

    def __init__(self, config: ArchiveConfig):
        self.config = config
        self.lines = 0           # lines written (handed to the compressor)
        self.bytes = 0           # compressed bytes on disk
        self.dropped = 0         # lines not archived: its queue was full
        self.errors = 0          # disk operations that failed (each loses up to a chunk
        #                          or one flush interval of the archive, never live data)
        self.deleted_hours = 0   # hour folders removed by retention
        self._queue: queue.Queue = queue.Queue(config.queue_chunks)
        self._closing = threading.Event()
        self._files: dict[tuple[str, str | None], _File] = {}   # the current part's
        self._order: _File | None = None     # the current part's order record
        self._hour: datetime | None = None   # the current hour: only moves forward
        self._thread = threading.Thread(target=self._run, name="soar-archive", daemon=True)
        self._last_warning = 0.0
        self.failed: str | None = None       # why the archive thread stopped, if it did
        self._accepting = True
        self._drop_lock = threading.Lock()   # feeds offer from several threads

    def gauges(self) -> dict:
        return {"archive_lines": lambda: self.lines, "archive_bytes": lambda: self.bytes,
                "archive_dropped": lambda: self.dropped, "archive_errors": lambda: self.errors}

    def summary(self) -> dict:
        out = {"directory": str(self.config.directory), "lines": self.lines,
               "bytes": self.bytes, "dropped": self.dropped, "errors": self.errors,
               "deleted_hours": self.deleted_hours}
        if self.failed is not None:
            out["failed"] = self.failed
        return out

    def start(self) -> None:
        self._thread.start()

    def offer(self, chunk: list) -> None:
        """From a feed's thread: never waits. `chunk` is copied (the router may reuse
        the list it is given)."""
        try:
            if not self._accepting:
                raise queue.Full
            self._queue.put_nowait(tuple(chunk))
        except queue.Full:
            with self._drop_lock:
                self.dropped += len(chunk)
            self._warn("archive queue full: %d lines not archived so far", self.dropped)

    def close(self, timeout_s: float = 30.0) -> None:
        """Write what is queued, end every stream."""
        self._closing.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        if self._thread.is_alive():
            log.warning("archive: not finished writing after %.0f s; %d chunks not archived",
                        timeout_s, self._queue.qsize())

    # -- the archive thread ------------------------------------------------------------

    def _run(self) -> None:
        """The archive thread. A bug here ends the archive, never the ingest: logged
        with its cause, `failed` in the summary, later chunks counted as dropped."""
        try:
            self._loop()
        except Exception as exc:   # noqa: BLE001 -- the live path must go on
            self.failed = f"{type(exc).__name__}: {exc}"
            self._accepting = False
            log.error("archive stopped (ingest goes on, nothing more is archived): %s",
                      self.failed)
            with self._drop_lock:
                self.dropped += sum(len(c) for c in _drain(self._queue))

    def _loop(self) -> None:
        self._prune(datetime.now(UTC))
        next_flush = time.monotonic() + self.config.flush_interval_s
        last_hour = None
        try:
            while True:
                wait = 0.0 if self._closing.is_set() else next_flush - time.monotonic()
                try:
                    chunk = self._queue.get(timeout=max(0.0, wait))
                except queue.Empty:
                    chunk = None
                if chunk:
                    self._write(chunk)
                now = time.monotonic()
                if now >= next_flush or chunk is None:
                    self._flush()
                    next_flush = now + self.config.flush_interval_s
                    hour = _hour(datetime.now(UTC))
                    if hour != last_hour:
                        self._prune(datetime.now(UTC))
                        last_hour = hour
                if chunk is None and self._closing.is_set() and self._queue.empty():
                    break
        finally:
            self._end_part()

    def _write(self, chunk: tuple) -> None:
        """A chunk goes whole into the current hour's part folder, its runs of one
        feed each to that feed's file and, after it, a line of the order record. The
        current hour only moves forward (the latest of its own and the chunk's last
        receive time): replaying hour folders in order then never goes back."""
        hour = _hour(chunk[-1].received_at)
        if self._hour is None or hour > self._hour:
            self._end_part()
            self._hour = hour
        i = 0
        try:
            self._claim()
            while i < len(chunk):
                key = (chunk[i].kind, chunk[i].receiver)
                j = i + 1              # the run of one feed's messages: one write
                while j < len(chunk) and (chunk[j].kind, chunk[j].receiver) == key:
                    j += 1
                run = chunk[i:j]
                f = self._file(key)
                data = "".join(map(encode, run)).encode("utf-8", "replace")
                f.stream.write(data)
                self.lines += len(run)
                i = j
                read_back = _read_back(key[0], data)
                if read_back:
                    self._order.stream.write(f"{f.name} {read_back}\n".encode())
        except (OSError, zstandard.ZstdError) as exc:
            self.errors += 1
            self._warn("archive: %s; %d failed writes so far (ingest goes on)",
                       exc, self.errors)
            self._end_part()           # the next chunk starts a new part folder

    def _claim(self) -> None:
        """The current hour's part folder, chosen once per process and hour: the first
        of HH/, HH.2/, ... that is new or empty, taken by creating its order record
        (exclusively: a second process sharing DIR takes the next one)."""
        if self._order is not None:
            return
        day = self.config.directory / self._hour.strftime("%Y-%m-%d")
        part = 1
        while True:
            folder = day / (f"{self._hour:%H}" if part == 1 else f"{self._hour:%H}.{part}")
            if not folder.exists() or (folder.is_dir() and not any(folder.iterdir())):
                folder.mkdir(parents=True, exist_ok=True)
                try:
                    self._order = _File(folder / ORDER_NAME, self._hour, self.config.level)
                    return
                except FileExistsError:
                    pass
            part += 1

    def _file(self, key: tuple[str, str | None]) -> _File:
        f = self._files.get(key)
        if f is None:
            folder = self._order.path.parent
            f = self._files[key] = _File(folder / file_name(*key), self._hour, self.config.level)
        return f

    def _flush(self) -> None:
        """Every open stream's data to the disk, the order record's last: it never
        names messages its files do not hold yet (a kill leaves the files ahead)."""
        if self._order is None:
            return
        if datetime.now(UTC) - (self._hour + _HOUR) > timedelta(seconds=self.config.idle_close_s):
            self._end_part()
            return
        try:
            for f in [*self._files.values(), self._order]:
                self.bytes += f.flushed_bytes()
        except (OSError, zstandard.ZstdError) as exc:
            self.errors += 1
            self._warn("archive: %s (ingest goes on)", exc)
            self._end_part()

    def _end_part(self) -> None:
        """Close the part folder's streams, the order record last; a later chunk of
        the same hour opens a new part."""
        files = [*self._files.values(), *([self._order] if self._order is not None else [])]
        self._files, self._order = {}, None
        for f in files:
            try:
                self.bytes += f.flushed_bytes()
                self.bytes += f.close()
            except (OSError, zstandard.ZstdError) as exc:
                self.errors += 1
                self._warn("archive: closing %s: %s", f.path, exc)
                try:
                    f.raw.close()
                except OSError:
                    pass                  # the failure was counted; the fd is released

    def _prune(self, now: datetime) -> None:
        """Delete the hour folders that ended more than `keep_s` ago (and emptied days)."""
        cutoff = now - timedelta(seconds=min(self.config.keep_s, 3e9))   # (no overflow)
        root = self.config.directory
        try:
            days = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
            for day in days:
                try:
                    date = datetime.strptime(day.name, "%Y-%m-%d").replace(tzinfo=UTC)
                except ValueError:
                    continue                      # not ours: left alone
                for folder in day.iterdir():
                    m = _HOUR_DIR.fullmatch(folder.name)
                    if m and date + timedelta(hours=int(m[1]) + 1) <= cutoff:
                        shutil.rmtree(folder)
                        self.deleted_hours += 1
                if not any(day.iterdir()):
                    day.rmdir()
        except OSError as exc:
            self._warn("archive: retention: %s", exc)

    def _warn(self, fmt: str, *args) -> None:
        """At most one warning a minute: a full disk must not flood the log."""
        now = time.monotonic()
        if now - self._last_warning >= 60.0 or self._last_warning == 0.0:
            self._last_warning = now
            log.warning(fmt, *args)


def _drain(q: queue.Queue) -> Iterator[tuple]:
    while True:
        try:
            yield q.get_nowait()
        except queue.Empty:
            return


def _read_back(kind: str, data: bytes) -> int:
    """The messages a replay reads from `data` (encoded lines): one per non-blank line
    as its reader decodes and splits them (a payload with a CR in it is two, a blank
    one none), so the order record counts what its file gives back."""
    text = data.decode("ascii" if kind == "sbs" else "utf-8", "replace")
    return sum(1 for line in _NEWLINES.split(text) if line.strip())


def _hour(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def replay_chunks(folder: Path, max_chunk: int = 1000) -> Iterator[list]:
    """Every archive file under `folder` (an hour, a day or the whole archive) in the
    order the live router took them, as chunks of one kind each (the pipeline parses
    an APRS chunk in its parse process as a whole). `soar replay --format archive
    FOLDER`. The rule: a part folder with an order record replays exactly as its
    record says, part folders in (day, hour, part) order; files no order record
    covers (an archive older than order records, a record lost or damaged, messages a
    killed writer left past its record) are merged in receive-time order, as the
    feeds arrived together, with a log line saying so."""
    files = [p for p in sorted(Path(folder).rglob("*.zst")) if _format(p) is not None]
    if not files:
        raise SoarError(f"{folder}: no archive files (*.txt.zst, *.jsonl.zst, *.sbs.zst) in "
                        "it; give an hour's, a day's or the archive's folder")
    return _chunked(_in_order(files), max_chunk)


def _format(path: Path) -> str | None:
    return _FORMATS.get(path.name.removesuffix(".zst").rpartition(".")[2])


def _file_messages(path: Path) -> Iterator[Message]:
    return (m for chunk in recordings.replay(path, _format(path)) for m in chunk)


def _part_key(folder: Path) -> tuple:
    """(day, hour, part): the order the archive wrote its part folders in."""
    m = _HOUR_DIR.fullmatch(folder.name)
    if m is None:
        return (str(folder.parent), -1, 0, folder.name)
    return (str(folder.parent), int(m[1]), int(m[2] or 1))


def _in_order(files: list[Path]) -> Iterator[Message]:
    by_part: dict[Path, list[Path]] = {}
    for path in files:
        by_part.setdefault(path.parent, []).append(path)
    unordered: list[Path] = []
    for part in sorted(by_part, key=_part_key):
        runs = _order_record(part, by_part[part])
        if runs is None:
            unordered += by_part[part]
            continue
        yield from _time_merged(unordered)
        unordered = []
        yield from _followed(part, runs, by_part[part])
    yield from _time_merged(unordered)


def _order_record(part: Path, files: list[Path]) -> list[tuple[Path, int]] | None:
    """A part folder's order record as (file, messages) runs; None when it has none
    or it is damaged (one log line naming it)."""
    path = part / ORDER_NAME
    if not path.exists():
        return None
    try:
        with recordings.open_recording(path, encoding="utf-8", newline="\n") as f:
            text = f.read()
    except (SoarError, OSError, UnicodeDecodeError) as exc:
        log.warning("%s: order record unreadable (%s); its folder replays merged by receive "
                    "time", path, exc)
        return None
    by_name = {f"{part.name}/{p.name}": p for p in files}
    runs = []
    lines = text.split("\n")
    for n, line in enumerate(lines[:-1], 1):
        name, _, count = line.rpartition(" ")
        if name not in by_name or not count.isdigit() or int(count) == 0:
            log.warning("%s: order record damaged at line %d (%r); its folder replays merged "
                        "by receive time", path, n, line[:120])
            return None
        runs.append((by_name[name], int(count)))
    if lines[-1]:
        log.warning("%s: order record cut inside line %d; its folder replays merged by "
                    "receive time", path, len(lines))
        return None
    return runs


def _followed(part: Path, runs: list[tuple[Path, int]], files: list[Path]) -> Iterator[Message]:
    """The runs in order, each the next messages of its file; then what the record
    does not name (a killed writer's last messages), merged by receive time."""
    streams = {path: _file_messages(path) for path in files}
    missing = 0           # named by the record, not in the file (its last block lost)
    for path, count in runs:
        got = 0
        for m in itertools.islice(streams[path], count):
            got += 1
            yield m
        missing += count - got
    left = [0]

    def counted(stream):
        for m in stream:
            left[0] += 1
            yield m
    yield from heapq.merge(*map(counted, streams.values()), key=lambda m: m.received_at)
    if missing or left[0]:
        log.warning("%s: the order record names %d messages its files do not hold and "
                    "leaves %d unnamed (merged by receive time at the end): its writer was "
                    "killed", part, missing, left[0])


def _time_merged(files: list[Path]) -> Iterator[Message]:
    if not files:
        return
    log.warning("archive: %d files without an order record (written before soar kept one, "
                "or it was lost), from %s: merged by receive time", len(files), files[0].parent)
    yield from heapq.merge(*map(_file_messages, files), key=lambda m: m.received_at)


def _chunked(messages: Iterator[Message], max_chunk: int) -> Iterator[list]:
    chunk: list = []
    for m in messages:
        if chunk and (m.kind != chunk[0].kind or len(chunk) >= max_chunk):
            yield chunk
            chunk = []
        chunk.append(m)
    if chunk:
        yield chunk
