"""The disk buffer: live chunks that do not fit in memory wait on disk, in order.

A feed cannot be paused (APRS-IS cuts a reader that falls behind), so when the router
queue is full, or the writer has been failing for a while, the pipeline puts live
chunks here instead of dropping them, and takes them back, oldest first, when it has
room again. Messages are dropped (`queue_full`) only once the buffer's size budget is
used or the file system's free space would fall below its floor.

Rules this module keeps:
- FIFO across restarts: chunks are appended to segment files named by a sequence
  number; the read position is kept beside them, so a restart resumes at the oldest
  chunk not yet handed back, and never hands one back twice.
- A chunk is one frame: length, CRC-32, then the pickled tuples of its messages. A
  frame cut short by a crash, or damaged, ends its segment: counted (`damaged`), never
  a traceback and never a loop.
- Unpickling runs no code of the file's choosing: only tuples, str, bytes, floats,
  None and `datetime` (with its UTC `timezone`) are admitted (`_Restricted`); the
  folder is created 0700.
- `put`, `get` and the figures are safe from several threads (one lock); one process
  at a time owns a folder (an exclusive `flock` on its `lock` file): a second gets a
  SoarError naming the fix.
- A write the file system refuses (disk full despite the floor, an I/O error) is a
  refusal like the budget's: the torn frame is cut off again, the chunk refused and
  counted, never a traceback in the feed's thread.
- Order between the router queue and the disk (`Overflow`, the pipeline's side): while
  anything waits on disk, or is on its way from it to the queue, a new live chunk goes
  to the disk too, so it never overtakes an older one.
"""

from __future__ import annotations

import fcntl
import io
import logging
import os
import pickle
import queue
import shutil
import struct
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from soar.errors import SoarError
from soar.records import Message

log = logging.getLogger(__name__)

_FRAME = struct.Struct("<II")          # payload length, CRC-32 of the payload
_SUFFIX = ".chunks"
_SKIPPED: list = []                     # a frame skipped, the segment goes on
_HEAD = "head"                          # "<segment> <offset>": where reading resumes
_LOCK = "lock"                          # flock'd by the process that owns the folder


@dataclass
class OverflowConfig:
    """Where and how much the disk buffer may use."""
    # Bytes of segment files the buffer may hold; beyond it live chunks are dropped
    # (queue_full). The default holds about an hour of the full OGN feed.
    budget_bytes: int = 2 << 30
    # Free bytes the file system keeps: the buffer never writes below this floor.
    free_floor_bytes: int = 1 << 30
    # A segment file is closed for writing past this size; it is deleted once read.
    segment_bytes: int = 16 << 20


class _Restricted(pickle.Unpickler):
    _ALLOWED = {("datetime", "datetime"), ("datetime", "timezone"), ("datetime", "timedelta")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a disk buffer")
        return super().find_class(module, name)


class DiskBuffer:
    def __init__(self, folder: Path, config: OverflowConfig | None = None):
        self.folder = Path(folder)
        self.config = config or OverflowConfig()
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._owner = self._take_folder()
        self._lock = threading.Lock()
        self._segments = sorted(int(p.stem) for p in self.folder.glob(f"*{_SUFFIX}")
                                if p.stem.isdigit())
        self._read_seg, self._read_off = self._load_head()
        self._writer: io.BufferedWriter | None = None
        self.bytes = sum(self._path(s).stat().st_size for s in self._segments) - self._read_off
        self.messages = 0          # messages waiting (counted from this start's puts and a scan)
        self.chunks = 0
        self._firsts: deque[datetime] = deque()   # first receive time of each waiting chunk
        self.damaged = 0           # frames cut short or damaged: the rest of the segment skipped
        self.refused = 0           # chunks refused by the budget or the free-space floor
        self.put_total = 0         # chunks put since the start
        self.got_total = 0         # chunks handed back since the start
        self._scan()

    # -- layout ----------------------------------------------------------------------------

    def _take_folder(self) -> int:
        fd = os.open(self.folder / _LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise SoarError(f"the disk buffer {self.folder} is in use by another soar process: "
                            "stop it, or give this one its own --overflow-dir") from None
        return fd

    def _path(self, seg: int) -> Path:
        return self.folder / f"{seg:012d}{_SUFFIX}"

    def _load_head(self) -> tuple[int, int]:
        try:
            seg, off = (self.folder / _HEAD).read_text().split()
            seg, off = int(seg), int(off)
        except (FileNotFoundError, ValueError):
            return (self._segments[0] if self._segments else 0), 0
        if seg not in self._segments:
            return (self._segments[0] if self._segments else seg), 0
        return seg, off

    def _save_head(self) -> None:
        tmp = self.folder / f"{_HEAD}.tmp"
        tmp.write_text(f"{self._read_seg} {self._read_off}\n")
        os.replace(tmp, self.folder / _HEAD)

    def _scan(self) -> None:
        """Count what a previous run left (messages, chunks, the oldest receive time)."""
        seg, off = self._read_seg, self._read_off
        damaged = self.damaged            # counted when `get` reaches the damage, not twice
        for s in self._segments:
            if s < seg:
                continue
            with open(self._path(s), "rb") as f:
                f.seek(off if s == seg else 0)
                while (chunk := self._frame(f)) is not None:
                    if chunk is _SKIPPED:
                        continue
                    self.chunks += 1
                    self.messages += len(chunk)
                    if chunk:
                        self._firsts.append(chunk[0][1])
        self.damaged = damaged

    # -- frames ----------------------------------------------------------------------------

    def _frame(self, f) -> list[tuple] | None:
        head = f.read(_FRAME.size)
        if len(head) < _FRAME.size:
            if head:
                self.damaged += 1
            return None
        length, crc = _FRAME.unpack(head)
        body = f.read(length)
        if len(body) < length or zlib.crc32(body) != crc:
            self.damaged += 1
            f.seek(0, io.SEEK_END)
            return None
        try:
            return _Restricted(io.BytesIO(body)).load()
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError):
            self.damaged += 1
            return _SKIPPED         # a whole frame that is not a chunk: only it is skipped

    # -- the two ends ----------------------------------------------------------------------

    def room(self, extra: int) -> bool:
        if self.bytes + extra > self.config.budget_bytes:
            return False
        return shutil.disk_usage(self.folder).free - extra >= self.config.free_floor_bytes

    def put(self, chunk: list[Message]) -> bool:
        """Append a chunk; False (counted in `refused`) when the budget or the floor would
        be passed: the caller drops it and counts the drop."""
        if not chunk:
            return True
        body = pickle.dumps([tuple(m) for m in chunk], protocol=pickle.HIGHEST_PROTOCOL)
        frame = _FRAME.pack(len(body), zlib.crc32(body)) + body
        with self._lock:
            if not self.room(len(frame)):
                self.refused += 1
                return False
            start = None
            try:
                w = self._open_writer()
                start = w.tell()
                w.write(frame)
                w.flush()
            except OSError:
                self._cut_torn_frame(start)
                self.refused += 1
                return False
            self.bytes += len(frame)
            self.chunks += 1
            self.messages += len(chunk)
            self.put_total += 1
            self._firsts.append(chunk[0].received_at)
            if w.tell() >= self.config.segment_bytes:
                w.close()
                self._writer = None
            return True

    def _open_writer(self) -> io.BufferedWriter:
        if self._writer is None:
            seg = (self._segments[-1] + 1) if self._segments else self._read_seg
            self._segments.append(seg)
            fd = os.open(self._path(seg), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            self._writer = os.fdopen(fd, "ab")
        return self._writer

    def _cut_torn_frame(self, start: int | None) -> None:
        """After a failed write: cut off what of the frame reached the file (the
        segment still ends on a whole frame); the next put starts a new segment."""
        w, self._writer = self._writer, None
        if w is None:
            return
        try:
            w.close()
        except OSError:
            pass
        if start is not None:
            try:
                os.truncate(self._path(self._segments[-1]), start)
            except OSError:
                pass

    def get(self) -> list[Message] | None:
        """The oldest chunk waiting, or None when the buffer is empty."""
        with self._lock:
            while self._segments:
                if self._read_seg not in self._segments:
                    self._read_seg, self._read_off = self._segments[0], 0
                with open(self._path(self._read_seg), "rb") as f:
                    f.seek(self._read_off)
                    chunk = self._frame(f)
                    end = f.tell()
                if end > self._read_off:          # a frame read, or a damaged rest skipped
                    self.bytes -= end - self._read_off
                    self._read_off = end
                    self._save_head()
                if chunk is _SKIPPED:
                    continue
                if chunk is not None:
                    self.chunks -= 1
                    self.messages -= len(chunk)
                    self.got_total += 1
                    if self._firsts:
                        self._firsts.popleft()
                    return [Message(*t) for t in chunk]
                if self._writer is not None and self._read_seg == self._segments[-1]:
                    return None            # the segment still being written: caught up
                self._drop_segment(self._read_seg)
            return None

    @property
    def oldest(self) -> datetime | None:
        """Receive time of the oldest message waiting (its age is the buffer's lag)."""
        return self._firsts[0] if self._firsts else None

    def _drop_segment(self, seg: int) -> None:
        self._path(seg).unlink(missing_ok=True)
        self._segments.remove(seg)
        self._read_seg = self._segments[0] if self._segments else seg + 1
        self._read_off = 0
        self._save_head()

    def close(self) -> None:
        with self._lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
            if self._owner is not None:
                os.close(self._owner)        # releases the flock
                self._owner = None


class Overflow:
    """A live pipeline's disk buffer in use: which way a live chunk goes (the router
    queue, or the disk while anything waits there) and the feeder's loop taking chunks
    back, oldest first, waiting for room like a replay. The pipeline keeps the threads
    and the failure: it hands in how to start a chunk's parse (`parsing`), whether it
    has failed (`failed`), and `router_stopped` (True once it failed, a dead router
    thread found and named first) and `lose` (count a chunk it will never handle)."""

    def __init__(self, buf: DiskBuffer, inq: queue.Queue, stats, *,
                 parsing: Callable[[list[Message]], object],
                 failed: Callable[[], bool], router_stopped: Callable[[], bool],
                 lose: Callable[[list[Message]], None], slice_s: float):
        self.buf, self.inq, self.stats = buf, inq, stats
        self._parsing, self._failed = parsing, failed
        self._router_stopped, self._lose = router_stopped, lose
        self._slice_s = slice_s
        # `_order` is held while a live chunk chooses between the queue and the disk,
        # and while the feeder takes a chunk off the disk; `_in_transit` is set while
        # that chunk is on its way to the queue.
        self._order = threading.Lock()
        self._in_transit = False
        self._overflowing = False        # logged once a streak
        self._more = threading.Event()   # wakes the feeder: a chunk was put on disk
        self.stopping = threading.Event()   # set by close(): the feeder ends

    def submit(self, chunk: list[Message], wait_s: float) -> bool:
        """A live chunk: to the queue if nothing waits on disk (or is in transit from
        it) and there is room (within `wait_s`), else to the disk. False: the disk
        refused it (counted `overflow_refused`; the caller drops it)."""
        with self._order:
            if not (self._in_transit or self.buf.chunks):
                try:
                    if wait_s == 0 and self.inq.full():
                        raise queue.Full
                    item = self._parsing(chunk)
                    try:
                        if wait_s:
                            self.inq.put(item, timeout=wait_s)
                        else:
                            self.inq.put_nowait(item)
                    except queue.Full:
                        if item is not chunk:
                            item[1].cancel()
                        raise
                    return True
                except queue.Full:
                    pass
            return self._to_disk(chunk)

    def _to_disk(self, chunk: list[Message]) -> bool:
        stats = self.stats
        if not self.buf.put(chunk):
            stats.overflow_refused += len(chunk)
            return False
        stats.overflow_in += len(chunk)
        if not self._overflowing:
            self._overflowing = True
            log.warning("router queue full: live chunks wait in the disk buffer %s (in order) "
                        "until the router catches up", self.buf.folder)
        self._more.set()
        return True

    def feed_back(self) -> None:
        """The feeder thread's loop: move chunks from the disk to the router queue,
        oldest first, waiting for room like a replay; ends when `stopping` is set
        (after the chunk in transit is queued) or the pipeline failed."""
        buf, stats = self.buf, self.stats
        while not self.stopping.is_set() and not self._failed():
            with self._order:
                chunk = buf.get() if buf.chunks else None
                self._in_transit = chunk is not None
                if chunk is None:
                    self._more.clear()
                    if self._overflowing:
                        self._overflowing = False
                        log.info("disk buffer drained: live chunks go to the router again")
            if chunk is None:
                self._more.wait(self._slice_s)
                continue
            try:
                stats.overflow_out += len(chunk)
                item = self._parsing(chunk)
                self._put_back(item, chunk)
            finally:
                with self._order:
                    self._in_transit = False

    def _put_back(self, item, chunk: list[Message]) -> None:
        while True:
            try:
                self.inq.put(item, timeout=self._slice_s)
                return
            except queue.Full:
                pass
            if self._router_stopped():
                if item is not chunk:
                    item[1].cancel()
                self._lose(chunk)
                return

    def close(self) -> None:
        """Close the buffer; what still waits there is routed at the next start."""
        buf = self.buf
        if buf.messages:
            log.warning("disk buffer %s keeps %d messages (%d bytes): they are routed at "
                        "the next start, before new data", buf.folder, buf.messages, buf.bytes)
        buf.close()


@dataclass
class Waiting:
    """A disk buffer as another process sees it (read only, its lock not taken)."""
    folder: Path
    bytes: int                    # of segment files not yet handed back
    oldest: datetime | None       # receive time of the oldest message waiting


def waiting(root: Path) -> list[Waiting]:
    """Every disk buffer under `root` (a folder per database, per shard), for a check
    run beside the ingest process: bytes waiting and the oldest receive time, read from
    the files without taking the owner's lock (a frame torn at that instant reads as
    unknown age, never an error)."""
    root = Path(root)
    if not root.is_dir():
        return []
    out = []
    for folder in sorted({p.parent for p in root.rglob(f"*{_SUFFIX}")}):
        segs = sorted(int(p.stem) for p in folder.glob(f"*{_SUFFIX}") if p.stem.isdigit())
        try:
            seg, off = (int(x) for x in (folder / _HEAD).read_text().split())
        except (OSError, ValueError):
            seg, off = (segs[0] if segs else 0), 0
        if seg not in segs:
            seg, off = (segs[0] if segs else seg), 0
        size, oldest = 0, None
        for s in segs:
            if s < seg:
                continue
            path = folder / f"{s:012d}{_SUFFIX}"
            try:
                size += path.stat().st_size - (off if s == seg else 0)
                if oldest is None:
                    oldest = _first_time(path, off if s == seg else 0)
            except OSError:
                continue                  # handed back and deleted meanwhile
        out.append(Waiting(folder, max(0, size), oldest))
    return out


def _first_time(path: Path, offset: int) -> datetime | None:
    with open(path, "rb") as f:
        f.seek(offset)
        head = f.read(_FRAME.size)
        if len(head) < _FRAME.size:
            return None
        length, crc = _FRAME.unpack(head)
        body = f.read(length)
    if len(body) < length or zlib.crc32(body) != crc:
        return None
    try:
        chunk = _Restricted(io.BytesIO(body)).load()
        return chunk[0][1] if chunk else None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError):
        return None


def problems(root: Path, *, max_bytes: int | None = None,
                      max_age_s: float | None = None) -> list[str]:
    """The ingest side: a disk buffer under `root` that holds
    more than `max_bytes` or whose oldest message is older than `max_age_s`: ingest is
    not catching up (the database down or slow, the host short of CPU)."""
    out = []
    for w in waiting(root):
        age = time.time() - w.oldest.timestamp() if w.oldest is not None else None
        if max_bytes is not None and w.bytes > max_bytes:
            out.append(f"disk buffer {w.folder}: {w.bytes} bytes waiting > {max_bytes} "
                       "(is the database up? `soar db status`; ingest catching up? its stats "
                       "line `disk:`)")
        elif max_age_s is not None and age is not None and age > max_age_s:
            out.append(f"disk buffer {w.folder}: oldest message {age:.0f} s old > "
                       f"{max_age_s:g} s (is the database up? `soar db status`; ingest "
                       "catching up? its stats line `disk:`)")
    return out
