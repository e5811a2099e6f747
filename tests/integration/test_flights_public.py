"""The read-only role reads a flight's callsign only through flights_public, which
hides it for aircraft whose owners withheld their identity (an ADS-B callsign is often
the registration), as aircraft_public hides the registration."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import psycopg
import pytest

from soar.products import flights as products
from soar.records import aircraft_id

T = datetime(2024, 6, 1, 12, tzinfo=timezone.utc)


def add(c, address: int, identified: bool, callsign: str) -> uuid.UUID:
    aid = aircraft_id(1, address)
    c.execute("INSERT INTO aircraft (id, address, address_type, identified, callsign) "
              "VALUES (%s, %s, 1, %s, %s)", (aid, address, identified, callsign))
    fid = uuid.uuid4()
    c.execute("INSERT INTO flights (id, aircraft_id, source, callsign, started_at, takeoff_time) "
              "VALUES (%s, %s, 2, %s, %s, %s)", (fid, aid, callsign, T, T))
    return fid


def test_callsigns_of_withheld_aircraft_never_reach_the_readonly_role(database):
    with database.connect() as c:
        shown = add(c, 0x3C0001, True, "DLH4AB")
        hidden = add(c, 0x3C0002, False, "DEABC")
        c.commit()
    with database.connect("readonly") as ro:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            ro.execute("SELECT callsign FROM flights")
        ro.rollback()
        # Every other column still reads.
        assert ro.execute("SELECT count(*), count(takeoff_time) FROM flights").fetchone() == (2, 2)
        got = dict(ro.execute("SELECT id, callsign FROM flights_public").fetchall())
        assert got == {shown: "DLH4AB", hidden: None}
        # A filter sees the masked value only.
        assert ro.execute("SELECT count(*) FROM flights_public WHERE callsign = 'DEABC'"
                          ).fetchone()[0] == 0
    listed = {f["id"]: f["callsign"] for f in products.fetch(database.url("readonly"))}
    assert listed == {str(shown): "DLH4AB", str(hidden): None}
