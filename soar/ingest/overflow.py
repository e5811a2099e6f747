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
- `put`, `get` and the figures are safe from several threads (one lock).
"""

from __future__ import annotations

import io
import os
import pickle
import shutil
import struct
import threading
import zlib
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from soar.records import Message

_FRAME = struct.Struct("<II")          # payload length, CRC-32 of the payload
_SUFFIX = ".chunks"
_SKIPPED: list = []                     # a frame skipped, the segment goes on
_HEAD = "head"                          # "<segment> <offset>": where reading resumes


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
            w = self._open_writer()
            w.write(frame)
            w.flush()
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
