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

Layout, by the receive time's UTC hour:
  DIR/YYYY-MM-DD/HH/aprs.txt.zst           OGN APRS-IS: `<ISO-8601 receive time> <line>`
                                           (`soar replay --format aprs`)
  DIR/YYYY-MM-DD/HH/<receiver>.jsonl.zst   Beast frames: {"timestamp", "frame", "signal"}
                                           (`--format modes`; the name is the receiver's)
  DIR/YYYY-MM-DD/HH/<receiver>.sbs.zst     SBS lines as received (`--format sbs`)
A file is one zstd stream, flushed block by block every `flush_interval_s` (a crash
loses at most that much; the reader takes a stream without its end). A stream is
never appended to: a process that finds its file there (a restart within the hour)
writes to HH.2/, HH.3/, ... instead.
"""

from __future__ import annotations

import heapq
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
_HOUR_DIR = re.compile(r"(\d\d)(?:\.(\d+))?")
_FORMATS = {"txt": "aprs", "jsonl": "modes", "sbs": "sbs"}   # file extension -> replay format
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
        self._files: dict[tuple[str, str | None], _File] = {}
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
            for key in list(self._files):
                self._close(key)

    def _write(self, chunk: tuple) -> None:
        i = 0
        while i < len(chunk):
            first = chunk[i]
            key = (first.kind, first.receiver)
            hour = _hour(first.received_at)
            end = hour + _HOUR
            j = i + 1              # the run of messages in the same hour: one write
            while j < len(chunk) and hour <= chunk[j].received_at < end:
                j += 1
            run = chunk[i:j]
            i = j
            try:
                f = self._file(key, hour)
                f.stream.write("".join(map(encode, run)).encode("utf-8", "replace"))
                self.lines += len(run)
            except (OSError, zstandard.ZstdError) as exc:
                self.errors += 1
                self._warn("archive: %s; %d failed writes so far (ingest goes on)",
                           exc, self.errors)
                self._abandon(key)           # reopened (a new part) at the next write

    def _file(self, key: tuple[str, str | None], hour: datetime) -> _File:
        f = self._files.get(key)
        if f is not None and f.hour == hour:
            return f
        if f is not None:
            self._close(key)
        name = file_name(*key)
        day = self.config.directory / hour.strftime("%Y-%m-%d")
        part = 1
        while True:
            folder = day / (f"{hour:%H}" if part == 1 else f"{hour:%H}.{part}")
            if not (folder / name).exists():
                break
            part += 1
        folder.mkdir(parents=True, exist_ok=True)
        f = self._files[key] = _File(folder / name, hour, self.config.level)
        return f

    def _flush(self) -> None:
        now = datetime.now(UTC)
        for key, f in list(self._files.items()):
            try:
                if now - (f.hour + _HOUR) > timedelta(seconds=self.config.idle_close_s):
                    self._close(key)
                else:
                    self.bytes += f.flushed_bytes()
            except (OSError, zstandard.ZstdError) as exc:
                self.errors += 1
                self._warn("archive: %s (ingest goes on)", exc)
                self._abandon(key)

    def _close(self, key) -> None:
        f = self._files.pop(key)
        try:
            self.bytes += f.flushed_bytes()
            self.bytes += f.close()
        except (OSError, zstandard.ZstdError) as exc:
            self.errors += 1
            self._warn("archive: closing %s: %s", f.path, exc)

    def _abandon(self, key) -> None:
        f = self._files.pop(key, None)
        if f is not None:
            try:
                f.raw.close()
            except OSError:
                pass                      # the failure was counted; the fd is released

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


def _hour(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def replay_chunks(folder: Path, max_chunk: int = 1000) -> Iterator[list]:
    """Every archive file under `folder` (an hour, a day or the whole archive) read
    as `soar replay` reads it, merged in receive-time order as the feeds arrived
    together, as chunks of one kind each (the pipeline parses an APRS chunk in its
    parse process as a whole). `soar replay --format archive FOLDER`."""
    streams = []
    for path in sorted(Path(folder).rglob("*.zst")):
        fmt = _FORMATS.get(path.name.removesuffix(".zst").rpartition(".")[2])
        if fmt is not None:
            streams.append(m for chunk in recordings.replay(path, fmt) for m in chunk)
    if not streams:
        raise SoarError(f"{folder}: no archive files (*.txt.zst, *.jsonl.zst, *.sbs.zst) in "
                        "it; give an hour's, a day's or the archive's folder")
    return _merged(streams, max_chunk)


def _merged(streams: list, max_chunk: int) -> Iterator[list]:
    chunk: list = []
    for m in heapq.merge(*streams, key=lambda m: m.received_at):
        if chunk and (m.kind != chunk[0].kind or len(chunk) >= max_chunk):
            yield chunk
            chunk = []
        chunk.append(m)
    if chunk:
        yield chunk
