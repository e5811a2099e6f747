"""The records that flow through the ingest pipeline, and the reasons input is rejected.

Units are fixed here, at the boundary, and match the `fixes` table: metres (MSL),
km/h, m/s, degrees, UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum
from typing import NamedTuple
from uuid import UUID


class Source(IntEnum):
    OGN = 1    # OGN APRS (FLARM, OGN trackers, relays)
    ADSB = 2   # ADS-B / Mode-S (Beast, raw frames)
    SBS = 3    # ADS-B as SBS/BaseStation text lines (port 30003 receivers, ADSBHub)


class AddressType(IntEnum):
    RANDOM = 0
    ICAO = 1
    FLARM = 2
    OGN = 3
    # Naviter's 4-hex-digit flags field (id1C4007220E) has a wider address-type field;
    # 4 and 5 occur in real traffic and are stored as given.


def aircraft_id(address_type: int, address: int) -> int:
    """The aircraft's primary key, derived from its address so no lookup is needed.

    An ICAO address heard through OGN and through ADS-B is the same aircraft. This
    and `split_aircraft_id` are the only places that know the packing.
    """
    return (address_type << 24) | address


def split_aircraft_id(aircraft_id: int) -> tuple[int, int]:
    """(address_type, 24-bit address) of an aircraft id."""
    return aircraft_id >> 24, aircraft_id & 0xFFFFFF


class Message(NamedTuple):
    """One message from any feed, as the router receives it (a tuple: cheap to make
    and to pickle to the parse process)."""
    kind: str                        # "aprs", "modes" or "sbs"
    received_at: datetime            # when it arrived, UTC
    payload: str | bytes             # aprs, sbs: the raw line; modes: the frame, hex or bytes
    signal_db: float | None = None   # modes: the receiver's signal level
    receiver: str | None = None      # modes, sbs: the feed's name (one decoder per feed)


class ServerTime(NamedTuple):
    """An APRS-IS server line (`# aprsc ...`): no position, maybe the server's clock."""
    time: datetime | None


@dataclass(slots=True)
class Fix:
    time: datetime                 # position time, UTC, tz-aware
    received_at: datetime          # when the line/frame was received, UTC
    source: Source
    address_type: int              # AddressType
    address: int                   # 24-bit
    latitude: float
    longitude: float
    altitude_m: float | None       # MSL, metres
    ground_speed_kmh: float | None
    track_deg: float | None        # true track over ground
    climb_rate_ms: float | None
    turn_rate_degs: float | None
    receiver: str | None           # receiver callsign (OGN) or feed name (Beast, SBS)
    signal_db: float | None = None
    on_ground: bool | None = None  # transponder's own ground flag (ADS-B, SBS field 22)
    aircraft_type: int | None = None   # OGN aircraft type 0..15 (see DOMAIN.md)
    callsign: str | None = None
    registration: str | None = None
    model: str | None = None
    stealth: bool = False
    no_tracking: bool = False
    # Display-only text fields the parser had to clean (control characters removed,
    # see soar.feeds.ogn), counted by the router. Before flight_id: the parse process
    # ships a Fix as a positional tuple that ends here.
    cleaned: tuple[str, ...] = ()
    flight_id: UUID | None = None  # set by the flight tracker

    @property
    def aircraft_id(self) -> int:
        return aircraft_id(self.address_type, self.address)


@dataclass(slots=True)
class ReceiverBeacon:
    name: str
    received_at: datetime
    time: datetime | None = None
    latitude: float | None = None
    longitude: float | None = None
    altitude_m: float | None = None
    version: str | None = None
    platform: str | None = None
    status: dict = field(default_factory=dict)   # other status tokens (CPU, RAM, NTP, RF...)
    cleaned: tuple[str, ...] = ()   # display-only fields the parser cleaned, as for Fix


class Reject(str):
    """A rejection reason; counted by the metrics, never raised."""


# The reasons every parser and validator uses; each is a metric label.
PARSE_ERROR = Reject("parse_error")
BAD_CRC = Reject("bad_crc")
OUT_OF_RANGE = Reject("out_of_range")
DUPLICATE = Reject("duplicate")
STALE = Reject("stale")
FUTURE = Reject("future")
NO_TRACKING = Reject("no_tracking")
UNSUPPORTED = Reject("unsupported")   # well-formed but carries nothing we store (e.g. weather)
NO_POSITION = Reject("no_position")   # Mode-S frame decoded but no position yet
# An identity (receiver name, feed name) with characters a text column must not hold
# (soar.columns): stripping them would store the data under another name.
BAD_TEXT = Reject("bad_text")
# A drop, not a rejection: a good message a live feed could not hand to a full router
# queue (counted apart from rejections by IngestStats.accounting).
QUEUE_FULL = Reject("queue_full")
PIPELINE_FAILED = Reject("pipeline_failed")   # taken by a pipeline that then died: never handled
# A drop: the message belongs to another ingest shard (`soar run --shard K/N`), which
# handles it; summed over the shards, every other outcome is one process's.
OTHER_SHARD = Reject("other_shard")
SERVER_COMMENT = Reject("server_comment")   # an APRS-IS server line (its time is kept)

# The database side's outcomes, counted under their own kind: fixes the router had
# accepted (IngestStats.accounting sets them apart from the parsers' rejections).
DB = "db"
QUARANTINED = Reject("quarantined")   # a row the database refused, kept in ingest_quarantine
WRITE_ERROR = Reject("write_error")   # a batch the database rejected whole (no row's fault)
UNWRITTEN = Reject("unwritten")       # not committed at shutdown and no spool to keep it
