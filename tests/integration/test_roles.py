"""Least privilege, checked against the real server's permission system."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import psycopg
import pytest

from soar.records import aircraft_id

T0 = datetime(2024, 7, 6, 7, 0, tzinfo=timezone.utc)
AID = aircraft_id(2, 0xDDAC7C)


def _seed_flight(database) -> uuid.UUID:
    fid = uuid.uuid4()
    with database.connect() as c:
        c.execute("INSERT INTO aircraft (id, address, address_type) VALUES (%s, %s, 2)",
                  (AID, 0xDDAC7C))
        c.execute("INSERT INTO flights (id, aircraft_id, source, started_at, takeoff_time) "
                  "VALUES (%s, %s, 1, %s, %s)", (fid, AID, T0, T0))
    return fid


def test_no_role_is_superuser(conn):
    rows = conn.execute("SELECT rolname, rolsuper, rolcreaterole, rolcreatedb FROM pg_roles "
                        "WHERE rolname LIKE 'soar\\_%'").fetchall()
    assert {r[0] for r in rows} == {"soar_ingest", "soar_worker", "soar_readonly"}
    assert all(not (r[1] or r[2] or r[3]) for r in rows)


def test_readonly_reads_but_cannot_write(database):
    fid = _seed_flight(database)
    with database.connect("readonly") as c:
        assert c.execute("SELECT id FROM flights").fetchone()[0] == fid
        for sql in ("INSERT INTO receivers (name) VALUES ('X')",
                    "UPDATE flights SET callsign = 'X'",
                    "DELETE FROM aircraft",
                    "SELECT pgmq.send('flight_enrichment', '{}'::jsonb)"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                c.execute(sql)
            c.rollback()


def test_ingest_copies_fixes_and_writes_flights_without_queue_rights(database):
    with database.connect("ingest") as c:
        c.execute("INSERT INTO aircraft (id, address, address_type) VALUES (%s, %s, 2)",
                  (AID, 0xDDAC7C))
        with c.cursor().copy("COPY fixes (time, received_at, aircraft_id, source, latitude, longitude)"
                             " FROM STDIN") as cp:
            cp.write_row((T0, T0, AID, 1, 47.83, 11.46))
        fid = uuid.uuid4()
        # The enqueue trigger runs with its owner's rights.
        c.execute("INSERT INTO flights (id, aircraft_id, source, started_at, takeoff_time) "
                  "VALUES (%s, %s, 1, %s, %s)", (fid, AID, T0, T0))
        c.commit()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("SELECT * FROM pgmq.q_flight_enrichment")
        c.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("DELETE FROM fixes")
    with database.connect() as admin:
        assert admin.execute("SELECT count(*) FROM pgmq.q_flight_enrichment").fetchone()[0] == 1


def test_worker_uses_queue_and_only_enrichment_columns(database):
    fid = _seed_flight(database)
    with database.connect("worker") as c:
        msgs = c.execute("SELECT msg_id, message FROM pgmq.read('flight_enrichment', 30, 10)").fetchall()
        assert [m[1]["flight_id"] for m in msgs] == [str(fid)]
        assert c.execute("SELECT pgmq.archive('flight_enrichment', %s)", (msgs[0][0],)).fetchone()[0]
        c.execute("UPDATE flights SET takeoff_runway = '36', takeoff_enrichment = 'done' "
                  "WHERE id = %s", (fid,))
        c.commit()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("UPDATE flights SET landing_time = now() WHERE id = %s", (fid,))
        c.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("INSERT INTO fixes (time, received_at, aircraft_id, source, latitude, longitude)"
                      " VALUES (now(), now(), 1, 1, 0, 0)")
