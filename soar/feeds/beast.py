"""Beast binary framing (readsb/dump1090 port 30005, Mode-S Beast receivers).

A frame on the wire is ``0x1a``, a type byte (``'1'`` Mode-A/C, ``'2'`` Mode-S
short, ``'3'`` Mode-S long), a 6-byte 12 MHz MLAT counter, one signal byte and
the payload (2, 7 or 14 bytes). Every ``0x1a`` after the type byte is sent twice.

Frames are found with one compiled regular expression: a frame body is N units
of "any byte but 0x1a, or 0x1a 0x1a", so the C regex engine does the scanning,
the escape handling and the resynchronisation (a lone ``0x1a`` ends a body, and
the search continues at the next ``0x1a`` + valid type). Python only touches
complete frames, which keeps framing at several hundred thousand frames/s.
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

ESC = 0x1A
MODE_AC = 0x31        # '1'
MODE_S_SHORT = 0x32   # '2'
MODE_S_LONG = 0x33    # '3'
PAYLOAD_LEN = {MODE_AC: 2, MODE_S_SHORT: 7, MODE_S_LONG: 14}
MLAT_HZ = 12_000_000

_UNIT = rb"(?:[^\x1a]|\x1a\x1a)"
# One group per type so m.lastindex tells the type without a second lookup.
_FRAME_RE = re.compile(
    rb"\x1a(?:1(" + _UNIT + rb"{9})|2(" + _UNIT + rb"{14})|3(" + _UNIT + rb"{21}))")
_START_RE = re.compile(rb"\x1a[123]")
_TYPE_BY_GROUP = (0, MODE_AC, MODE_S_SHORT, MODE_S_LONG)
# Longest possible escaped frame: 0x1a, type, and 21 body bytes all doubled.
_MAX_WIRE_LEN = 2 + 2 * 21


class Frame(NamedTuple):
    type: int          # MODE_AC, MODE_S_SHORT or MODE_S_LONG (the raw type byte)
    mlat_ticks: int    # 12 MHz receiver counter; not an absolute time
    signal: int        # raw signal byte, see signal_dbfs()
    payload: bytes     # 2, 7 or 14 bytes, unescaped


_new_frame = tuple.__new__   # skips NamedTuple.__new__'s Python-level wrapper


class BeastDecoder:
    """Incremental framer: feed() arbitrary chunks, get complete frames back.

    Counters: ``frames`` (good frames), ``garbage_bytes`` (bytes skipped while
    resynchronising, including truncated frames and unknown types).
    """

    __slots__ = ("_buf", "frames", "garbage_bytes")

    def __init__(self) -> None:
        self._buf = b""
        self.frames = 0
        self.garbage_bytes = 0

    def feed(self, chunk: bytes) -> list[Frame]:
        return self._parse(self._buf + chunk if self._buf else bytes(chunk), final=False)

    def flush(self) -> list[Frame]:
        """At end of input: frames still held back; leftover bytes count as garbage."""
        return self._parse(self._buf, final=True)

    def _parse(self, buf: bytes, final: bool) -> list[Frame]:
        out: list[Frame] = []
        append = out.append
        from_bytes = int.from_bytes
        types = _TYPE_BY_GROUP
        end = 0
        garbage = 0
        keep = -1
        for m in _FRAME_RE.finditer(buf):
            start = m.start()
            if start != end:
                # After garbage, a frame start close to the end may just be
                # incomplete; a match found beyond it could be a phantom made of
                # its escaped bytes. Wait for more data before deciding.
                cut = _START_RE.search(buf, end, start)
                if not final and cut is not None and len(buf) - cut.start() < _MAX_WIRE_LEN:
                    keep = cut.start()
                    break
                garbage += start - end
            end = m.end()
            group = m.lastindex
            body = m.group(group)
            if b"\x1a\x1a" in body:
                body = body.replace(b"\x1a\x1a", b"\x1a")
            append(_new_frame(Frame, (types[group], from_bytes(body[:6], "big"),
                                      body[6], body[7:])))
        if final:
            keep = len(buf)
        elif keep < 0:
            # Keep only what could still become a frame: a 0x1a close enough to
            # the end that its frame may be incomplete. Nothing before it matched.
            keep = buf.find(b"\x1a", max(end, len(buf) - _MAX_WIRE_LEN))
            if keep < 0:
                keep = len(buf)
        garbage += keep - end
        self._buf = buf[keep:]
        self.frames += len(out)
        self.garbage_bytes += garbage
        return out

    @property
    def buffered(self) -> int:
        """Bytes held back waiting for the rest of a frame."""
        return len(self._buf)


def encode_frame(frame: Frame) -> bytes:
    """The wire bytes of one frame, with 0x1a doubled (for tests and replay tools)."""
    if len(frame.payload) != PAYLOAD_LEN.get(frame.type, -1):
        raise ValueError(f"payload length {len(frame.payload)} does not fit type {frame.type:#x}")
    body = frame.mlat_ticks.to_bytes(6, "big") + bytes((frame.signal,)) + frame.payload
    return bytes((ESC, frame.type)) + body.replace(b"\x1a", b"\x1a\x1a")


# readsb/dump1090 report RSSI as 10*log10((signal/255)^2); 0 means "no signal value".
_DBFS = tuple([None] + [20.0 * math.log10(s / 255.0) for s in range(1, 256)])


def signal_dbfs(signal: int) -> float | None:
    """Signal byte to dBFS (0 dBFS = full scale), None when the receiver sent 0."""
    return _DBFS[signal]
