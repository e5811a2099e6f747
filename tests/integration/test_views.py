"""The statistics views, read by the read-only role."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from soar.records import aircraft_id

T0 = datetime(2019, 4, 13, 9, 0, tzinfo=timezone.utc)


def test_views_count_flights_for_the_readonly_role(database, conn):
    glider, tug = aircraft_id(2, 0xDDAC7C), aircraft_id(2, 0xDD1234)
    for aid in (glider, tug):
        conn.execute("INSERT INTO aircraft (id, address, address_type, registration) "
                     "VALUES (%s, %s, 2, 'D-1234')", (aid, aid & 0xFFFFFF))
    conn.execute("UPDATE aircraft SET identified = false WHERE id = %s", (tug,))
    tow = uuid.uuid4()
    conn.execute("INSERT INTO flights (id, aircraft_id, source, started_at, takeoff_time, landing_time)"
                 " VALUES (%s, %s, 1, %s, %s, %s)", (tow, tug, T0, T0, T0 + timedelta(minutes=10)))
    conn.execute("INSERT INTO flights (id, aircraft_id, source, started_at, takeoff_time, landing_time,"
                 " towed_by_flight_id) VALUES (%s, %s, 1, %s, %s, %s, %s)",
                 (uuid.uuid4(), glider, T0, T0, T0 + timedelta(hours=2), tow))
    conn.execute("INSERT INTO flights (id, aircraft_id, source, started_at, timed_out_at) "
                 "VALUES (%s, %s, 1, %s, %s)", (uuid.uuid4(), tug, T0 + timedelta(hours=3),
                                                T0 + timedelta(hours=4)))
    conn.commit()
    with database.connect("readonly") as ro:
        day = ro.execute("SELECT flights, with_takeoff, landed, timed_out, towed, mean_duration "
                         "FROM flights_daily").fetchall()
        assert day == [(3, 2, 2, 1, 1, timedelta(minutes=65))]
        totals = dict(ro.execute("SELECT address, registration FROM aircraft_flight_totals").fetchall())
        assert totals == {"DDAC7C": "D-1234", "DD1234": None}   # tug not identified: hidden
        assert ro.execute("SELECT sum(flights) FROM enrichment_status").fetchone()[0] == 3
