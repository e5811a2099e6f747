"""SRTM .hgt tiles written by the tests (nothing is downloaded)."""

from __future__ import annotations

import struct
from array import array


def write_tile(path, n, value):
    """A tile whose sample at (row, col) is value(row, col), big-endian int16."""
    data = array("h", (value(r, c) for r in range(n) for c in range(n)))
    if struct.pack("=h", 1) != struct.pack(">h", 1):
        data.byteswap()
    path.write_bytes(data.tobytes())


