"""One unit of work for the writer: everything committed together in one transaction.

Each batch carries an idempotency key, made when the batch is opened and kept through
every retry: the writer stores it in the batch's own transaction, so a retry after a
commit whose acknowledgement was lost finds it and stores nothing twice.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from uuid import UUID, uuid4

from soar.records import Fix, ReceiverBeacon


@dataclass(slots=True)
class AircraftRow:
    id: int
    address: int
    address_type: int
    aircraft_type: int | None
    category: str | None
    registration: str | None
    callsign: str | None
    model: str | None
    seen_at: object   # datetime

    def key(self) -> tuple:
        """What, when changed, is worth writing again."""
        return (self.aircraft_type, self.category, self.registration, self.callsign, self.model)


@dataclass
class Batch:
    fixes: list[Fix] = field(default_factory=list)
    aircraft: dict[int, AircraftRow] = field(default_factory=dict)
    receivers: dict[str, ReceiverBeacon] = field(default_factory=dict)   # latest beacon each
    flight_ops: list = field(default_factory=list)
    opened: float = field(default_factory=time.monotonic)
    key: UUID = field(default_factory=uuid4)   # idempotency key (ingest_batches.key)
    # The SQLSTATE of a fatal error this batch met (soar.db.sqlstate.Action.FATAL), kept
    # through the spool: the same error again at the next start quarantines it whole.
    fatal: str | None = None

    def add_receiver(self, beacon: ReceiverBeacon) -> None:
        """Position and status arrive in separate beacons: keep what each one knows."""
        prev = self.receivers.get(beacon.name)
        if prev is not None:
            for f in ("time", "latitude", "longitude", "altitude_m", "version", "platform"):
                if getattr(beacon, f) is None:
                    setattr(beacon, f, getattr(prev, f))
            beacon.status = {**prev.status, **beacon.status}
        self.receivers[beacon.name] = beacon

    def __len__(self) -> int:
        return len(self.fixes) + len(self.flight_ops) + len(self.receivers)

    def age(self) -> float:
        return time.monotonic() - self.opened
