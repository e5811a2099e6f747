"""Which ingest process (`soar run --shard K/N`) owns a message.

Rule: every message has exactly one owner among the N shards, decided from the
message alone, the same in every process, on every machine and in every Python
version, so N processes reading the same feeds store each fix, flight and receiver
row once, and the sum over shards of every outcome equals one process's.

- An aircraft message belongs to the shard of its 24-bit ADDRESS (not its address
  type): the same physical aircraft heard as FLARM-ICAO and as ADS-B lands on one
  shard. The address is mixed by a multiplicative (Fibonacci) hash and reduced to
  0..N-1 by its top bits, so consecutive addresses (one manufacturer's FLARM range)
  spread evenly; Python's hash() would differ between processes.
- A receiver beacon belongs to the shard of crc32(receiver name): each receiver row
  is written by one shard, every beacon of it in order.
- A message with no address (APRS-IS server lines, parse errors, Mode-A/C, an
  unsupported downlink format) belongs to shard 0. Server lines still set every
  shard's server time; only shard 0 counts them.
Messages a shard does not own are counted as dropped (`other_shard`).

Mode-S frames are sorted before the decode (`modes_address`): DF11/17/18 carry the
address in bytes 1-3, DF0/4/5/16/20/21 in the CRC parity (one CRC to read it). SBS
lines by their hex ident (field 5, soar.feeds.sbs.line_address), the same address
hash: an aircraft heard through Beast and SBS lands on one shard.
"""

from __future__ import annotations

import zlib
from typing import NamedTuple

from soar.errors import SoarError
from soar.feeds.modes import crc_remainder
from soar.feeds.sbs import line_address

_GOLDEN = 0x9E3779B1          # 2^32 / golden ratio, odd: a bijection on 32 bits
_MASK32 = 0xFFFFFFFF
# Downlink formats whose address is the CRC parity (address/parity field).
_AP_FORMATS = frozenset({0, 4, 5, 16, 20, 21})


def shard_of_address(address: int, n: int) -> int:
    """0..n-1 for a 24-bit aircraft address: the top bits of a multiplicative hash
    (fast range reduction: h * n >> 32 keeps the well-mixed high bits)."""
    return (((address * _GOLDEN) & _MASK32) * n) >> 32


def shard_of_receiver(name: str, n: int) -> int:
    """0..n-1 for a receiver name: crc32 of its UTF-8 bytes."""
    return zlib.crc32(name.encode("utf-8", "surrogatepass")) % n


def modes_address(frame: bytes) -> int | None:
    """The 24-bit address a Mode-S frame is about, without decoding it: bytes 1-3 of
    DF11/17/18, the CRC parity of DF0/4/5/16/20/21; None for Mode-A/C, other formats
    and wrong lengths (they carry no address: shard 0 rejects them)."""
    n = len(frame)
    if n != 14 and n != 7:
        return None
    df = frame[0] >> 3
    if (df >= 16) != (n == 14):
        return None                  # the decoder's PARSE_ERROR
    if df == 17 or df == 18 or df == 11:
        return (frame[1] << 16) | (frame[2] << 8) | frame[3]
    if df in _AP_FORMATS:
        return crc_remainder(frame)
    return None


class Shard(NamedTuple):
    """This process's share: shard `k` of `n` (0 <= k < n)."""
    k: int
    n: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """`K/N` as the command line gives it; a SoarError naming the fix otherwise."""
        k, sep, n = text.partition("/")
        if not sep or not k.strip().isdigit() or not n.strip().isdigit():
            raise SoarError(f"--shard {text!r}: give K/N, this process's shard K of N "
                            "(0 <= K < N), e.g. 0/2 and 1/2 for two processes")
        shard = cls(int(k), int(n))
        if shard.n < 1 or shard.k >= shard.n:
            raise SoarError(f"--shard {text!r}: K must be 0 to N-1 and N at least 1, "
                            "e.g. 0/2 and 1/2")
        return shard

    def owns_address(self, address: int) -> bool:
        return (((address * _GOLDEN) & _MASK32) * self.n) >> 32 == self.k

    def owns_receiver(self, name: str) -> bool:
        return shard_of_receiver(name, self.n) == self.k

    def owns_frame(self, frame: str | bytes) -> tuple[bool, int | None]:
        """(whether this shard decodes the Mode-S frame, its address or None)."""
        if isinstance(frame, str):
            try:
                frame = bytes.fromhex(frame)
            except ValueError:
                return self.k == 0, None
        address = modes_address(frame)
        if address is None:
            return self.k == 0, None
        return self.owns_address(address), address

    def owns_sbs(self, line: str | bytes) -> tuple[bool, int | None]:
        """(whether this shard decodes the SBS line, its address or None): the hex
        ident of a MSG line; any other line is shard 0's."""
        if type(line) is not str:
            line = bytes(line).decode("ascii", "replace")
        address = line_address(line)
        if address is None:
            return self.k == 0, None
        return self.owns_address(address), address

    def __str__(self) -> str:
        return f"{self.k}/{self.n}"
