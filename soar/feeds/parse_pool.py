"""APRS parsing in a separate process, so it runs on another core than the router.

Parsing OGN lines is stateless and the costliest step of the router; Python threads
share one core (the GIL), processes do not. Mode-S decoding keeps CPR state per
aircraft, so it stays in the router.

Results cross the process boundary as plain tuples (pickling dataclasses with
datetimes costs about four times as much) and are rebuilt into Fix objects.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import datetime

from soar.feeds import ogn
from soar.records import PARSE_ERROR, Fix, Message, ServerTime
from soar.units import UTC

_fromts = datetime.fromtimestamp


def _pack(f: Fix) -> tuple:
    return (f.time.timestamp(), f.received_at.timestamp(), int(f.source), f.address_type,
            f.address, f.latitude, f.longitude, f.altitude_m, f.ground_speed_kmh, f.track_deg,
            f.climb_rate_ms, f.turn_rate_degs, f.receiver, f.signal_db, f.on_ground,
            f.aircraft_type, f.callsign, f.registration, f.model, f.stealth, f.no_tracking)


def unpack(t: tuple) -> Fix:
    return Fix(_fromts(t[0], UTC), _fromts(t[1], UTC), *t[2:])


def parse_line(raw: str, received_at: datetime):
    """One APRS line: a Fix, ReceiverBeacon, Reject, None, or ServerTime (`#` lines)."""
    if raw.startswith("#"):
        return ServerTime(ogn.parse_server_comment(raw))
    try:
        return ogn.parse(raw, received_at)
    except Exception:   # noqa: BLE001 -- the parser promises not to raise; count it if it does
        return PARSE_ERROR


def parse_chunk(chunk: list[Message]) -> list:
    """Runs in the worker process: results aligned with the chunk's messages."""
    out = []
    for msg in chunk:
        r = parse_line(msg.payload, msg.received_at)
        out.append(_pack(r) if isinstance(r, Fix) else r)
    return out


class ParsePool:
    def __init__(self, workers: int = 1):
        # spawn, not fork: the parent has threads and database connections.
        self._pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        self._pool.submit(int).result()   # start the worker now, not on the first chunk

    def submit(self, chunk: list) -> Future:
        return self._pool.submit(parse_chunk, chunk)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
