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
from datetime import datetime
from typing import NamedTuple

from soar.errors import SoarError
from soar.feeds.modes import crc_remainder
from soar.feeds.sbs import line_address
from soar.ingest.batch import AircraftRow
from soar.records import AddressType, Fix, Source, split_aircraft_id
from soar.tracker.ops import START_TAKEOFF, CreateFlight
from soar.tracker.rules import GLIDER, TOW_TYPES

_GOLDEN = 0x9E3779B1          # 2^32 / golden ratio, odd: a bijection on 32 bits
_MASK32 = 0xFFFFFFFF
# Downlink formats whose address is the CRC parity (address/parity field).
_AP_FORMATS = frozenset({0, 4, 5, 16, 20, 21})
# OGN aircraft types another shard's aircraft is followed for (aerotow partners).
_TOW_PARTIES = frozenset({GLIDER, *TOW_TYPES})
_ICAO_ID = int(AddressType.ICAO) << 24    # aircraft id of an ICAO address, minus the address


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


class Shadows:
    """Another shard's aircraft this shard's tracker follows: aerotow partners (why and
    which: soar.ingest.router's docstring). It holds what was seen of them and answers
    the router's questions with decisions; the router does the tracking and writing.

    - `follows(fix)`: whether another shard's fix is one to track (an OGN glider's or
      tow plane's, or any fix of an aircraft already followed); `saw(fix)` records it
      once the router has checked it like its own.
    - `op(op, aid)`: whether a flight write about a followed aircraft is written here
      (a tow plane's, from a takeoff this shard saw), and the bare aircraft row to hand
      over before its first one.
    """

    def __init__(self) -> None:
        # aircraft id -> [first fix time, last fix time, OGN aircraft type]
        self.seen: dict[int, list] = {}
        self._flights: dict = {}          # followed tow planes' flights: id -> start
        self._rows: set[int] = set()      # their aircraft rows handed to a batch

    def __len__(self) -> int:
        return len(self.seen)

    def follows_address(self, address: int) -> bool:
        """Whether the ICAO `address` is followed (its Mode-S frames and SBS lines are
        decoded here although another shard owns them)."""
        return _ICAO_ID | address in self.seen

    def follows(self, fix: Fix) -> bool:
        return fix.aircraft_id in self.seen or (
            fix.source == Source.OGN and fix.aircraft_type in _TOW_PARTIES)

    def saw(self, fix: Fix) -> None:
        seen = self.seen.get(fix.aircraft_id)
        if seen is None:
            self.seen[fix.aircraft_id] = [fix.time, fix.time, fix.aircraft_type]
            return
        if fix.time > seen[1]:
            seen[1] = fix.time
        if fix.aircraft_type is not None:
            seen[2] = fix.aircraft_type

    def op(self, op, aid: int) -> tuple[bool, AircraftRow | None]:
        """(write the op here, the aircraft row to put in the batch first or None) for
        another shard's aircraft's flight write."""
        seen = self.seen.get(aid)
        if seen is None or seen[2] not in TOW_TYPES or aid >> 24 == AddressType.ICAO:
            # A glider: its shard writes it. An ICAO address: its ADS-B frames
            # before it was followed went to its shard only, so this view of it
            # may differ (its first fix, even its flights): its shard writes it.
            return False, None
        if type(op) is not CreateFlight:
            return op.flight_id in self._flights, None
        # Seen from the ground: the id its own shard makes. A flight first seen in the
        # air here may be one its shard saw take off (a later start).
        if op.kind != START_TAKEOFF:
            return False, None
        self._flights[op.flight_id] = op.row["started_at"]
        if aid in self._rows:
            return True, None
        # Address and first fix only: what its shard's rows say wins (NULLs keep it),
        # and the first fix is the same one.
        self._rows.add(aid)
        address_type, address = split_aircraft_id(aid)
        return True, AircraftRow(aid, address, address_type, None, None, None, None, None,
                                 seen[0])

    def forget_rows(self, ids) -> None:
        """Aircraft rows that did not commit: handed over again with the next write."""
        for aid in ids:
            self._rows.discard(aid)

    def prune(self, horizon: datetime, flights_since: datetime) -> None:
        """Forget aircraft last seen before `horizon` and flights started before
        `flights_since` (data time)."""
        if self.seen:
            for aid in [a for a, seen in self.seen.items() if seen[1] < horizon]:
                del self.seen[aid]
            self._rows &= self.seen.keys()
        if self._flights:
            for fid in [f for f, t in self._flights.items() if t < flights_since]:
                del self._flights[fid]
