"""Least privilege, checked against the real server's permission system: each role
trying what it must not (refused) and doing what its component does (allowed)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from psycopg import sql

from soar.products.flights import fetch
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


# -- revision 0006: each edge, tried by the role that must not cross it, and the
# -- same role doing what its component does (so grants that are too tight fail too)

REFUSED = psycopg.errors.InsufficientPrivilege
ENRICHMENT_COLUMNS = {          # the worker's columns of flights (sql/schema/030_roles.sql)
    "departure_airport_id": None, "arrival_airport_id": None, "takeoff_runway": "36",
    "takeoff_runway_inferred": True, "landing_runway": "18", "landing_runway_inferred": True,
    "start_location_id": None, "end_location_id": None, "takeoff_enrichment": "done",
    "landing_enrichment": "done", "enrichment_error": "x"}


def _refused(c: psycopg.Connection, statement: str, params=()) -> None:
    with pytest.raises(REFUSED):
        c.execute(statement, params)
    c.rollback()


def test_ingest_cannot_change_privacy_flags_nor_enrichment(database):
    fid = _seed_flight(database)
    with database.connect("ingest") as c:
        _refused(c, "UPDATE aircraft SET tracked = true WHERE id = %s", (AID,))
        _refused(c, "UPDATE aircraft SET identified = true WHERE id = %s", (AID,))
        # Nor on a new row: INSERT of the flags is refused too (the defaults apply).
        _refused(c, "INSERT INTO aircraft (id, address, address_type, tracked) "
                    "VALUES (%s, 1, 2, true)", (aircraft_id(2, 1),))
        for column, value in ENRICHMENT_COLUMNS.items():
            _refused(c, sql.SQL("UPDATE flights SET {} = %s WHERE id = %s").format(
                sql.Identifier(column)), (value, fid))
        _refused(c, "INSERT INTO flights (id, aircraft_id, source, started_at, "
                    "takeoff_enrichment) VALUES (%s, %s, 1, %s, 'done')", (uuid.uuid4(), AID, T0))
        _refused(c, "UPDATE receivers SET first_seen = now()")


def test_ingest_runs_every_statement_it_writes_with(database):
    """The real statements with every column the writer and the tracker may set: if
    a grant is missing, this fails before production does."""
    from soar.ingest.writer import COPY_FIXES, FIX_COLUMNS
    from soar.ingest.writer import QUERIES as INGEST
    from soar.tracker import store
    from soar.tracker.ops import TOW, CreateFlight, UpdateFlight

    tug_id, tug = uuid.uuid4(), aircraft_id(2, 0xDD1234)
    fid = uuid.uuid4()
    aircraft_row = (AID, 0xDDAC7C, 2, 1, None, "D-1234", "DEABC", "ASK 21", T0, T0)
    with database.connect("ingest") as c, c.cursor() as cur:
        for _ in range(2):      # the second time through ON CONFLICT DO UPDATE
            cur.executemany(INGEST["upsert_receiver"],
                            [("EDER", 47.8, 11.4, 600.0, "0.2.8", "ARM", '{"cpu": 1}', T0, T0)],
                            returning=True)
            cur.executemany(INGEST["upsert_aircraft"],
                            [aircraft_row, (tug, 0xDD1234, 2, 2, None, None, None, None, T0, T0)])
        assert cur.execute(INGEST["untracked_aircraft"]).fetchall() == []
        every_insert = {c: None for c in store.INSERT_COLUMNS}
        for flight, aid in ((tug_id, tug), (fid, AID)):
            every_insert.update(id=flight, aircraft_id=aid, source=1, started_at=T0)
            assert store.write_op(cur, CreateFlight(dict(every_insert))) == 1
        every_update = {col: None for col in store.UPDATE_COLUMNS}
        every_update.update(landing_time=T0, end_reason="landing", callsign="DEABC")
        assert store.write_op(cur, UpdateFlight(fid, every_update, "end_landing")) == 1
        assert store.write_op(cur, UpdateFlight(fid, {"towed_by_flight_id": tug_id}, TOW)) == 1
        with cur.copy(COPY_FIXES.replace("(FORMAT BINARY)", "")) as cp:
            cp.write_row((T0, T0, AID, None, 1, 47.8, 11.4) + (None,) * (len(FIX_COLUMNS) - 7))
        c.commit()
        # The restart reload closes stale flights with close_stale, as the ingest role.
        restored = store.load_active(c, now=T0 + timedelta(days=1))
        assert restored.closed == [tug_id]
        c.commit()
    with database.connect() as admin:
        assert admin.execute("SELECT end_reason, towed_by_flight_id FROM flights WHERE id = %s",
                             (fid,)).fetchone() == ("landing", tug_id)
        assert admin.execute("SELECT registration, callsign, model, tracked FROM aircraft "
                             "WHERE id = %s", (AID,)).fetchone() == ("D-1234", "DEABC", "ASK 21",
                                                                     True)


def test_worker_cannot_update_locations_but_caches_them(database):
    from soar_worker.geocode import QUERIES as WORKER

    fid = _seed_flight(database)
    with database.connect("worker") as c:
        row = (47830, 11460, 47.83, 11.46, "Königsdorf", "Bavaria", "DE", "Königsdorf", "places")
        [(location,)] = c.execute(WORKER["insert_location"], row).fetchall()
        assert c.execute(WORKER["insert_location"], row).fetchall() == []   # cached: no-op
        c.commit()
        _refused(c, "UPDATE locations SET city = 'elsewhere' WHERE id = %s", (location,))
        _refused(c, "DELETE FROM locations")
        assert c.execute("SELECT update_flight_takeoff_enrichment(%s, 'done', NULL, '36', true, "
                         "%s, NULL)", (fid, location)).fetchone() == (True,)
        c.commit()
    with database.connect() as admin:
        assert admin.execute("SELECT start_location_id, takeoff_enrichment FROM flights "
                             "WHERE id = %s", (fid,)).fetchone() == (location, "done")


def test_readonly_reads_aircraft_only_through_the_masking_view(database):
    shown, hidden = AID, aircraft_id(2, 0xDDDAEB)
    with database.connect() as admin:
        admin.cursor().executemany(
            "INSERT INTO aircraft (id, address, address_type, registration, callsign, model, "
            "identified) VALUES (%s, %s, 2, %s, %s, %s, %s)",
            [(shown, 0xDDAC7C, "D-1234", "DEABC", "ASK 21", True),
             (hidden, 0xDDDAEB, "D-0002", "DEXYZ", "Discus 2b", False)])
        for aid in (shown, hidden):
            admin.execute("INSERT INTO flights (id, aircraft_id, source, callsign, started_at, "
                          "takeoff_time) VALUES (%s, %s, 2, %s, %s, %s)",
                          (uuid.uuid4(), aid, "DEXYZ" if aid == hidden else "DEABC", T0, T0))
    with database.connect("readonly") as ro:
        for statement in ("SELECT registration FROM aircraft", "SELECT callsign FROM aircraft",
                          "SELECT identified FROM aircraft", "SELECT * FROM aircraft"):
            _refused(ro, statement)
        # Only what detect_runway (the caller's rights) reads: id and aircraft_type.
        assert ro.execute("SELECT count(*) FROM aircraft WHERE aircraft_type IS NULL"
                          ).fetchone() == (2,)
        rows = {r[0]: r[1:] for r in ro.execute(
            "SELECT id, registration, callsign, model, identified FROM aircraft_public")}
        assert rows == {shown: ("D-1234", "DEABC", "ASK 21", True),
                        hidden: (None, None, "Discus 2b", False)}
        # A filter on the masked column sees the mask, not the hidden value.
        assert ro.execute("SELECT count(*) FROM aircraft_public WHERE registration = 'D-0002'"
                          ).fetchone() == (0,)
        totals = dict(ro.execute("SELECT address, registration FROM aircraft_flight_totals"))
        assert totals == {"DDAC7C": "D-1234", "DDDAEB": None}
        assert ro.execute("SELECT sum(flights) FROM flights_daily").fetchone() == (2,)
    listed = {f["aircraft_address"]: (f["registration"], f["callsign"])
              for f in fetch(database.url("readonly"))}
    assert listed == {"DDAC7C": ("D-1234", "DEABC"), "DDDAEB": (None, None)}


@pytest.mark.parametrize("role", ["ingest", "worker", "readonly"])
def test_no_role_creates_objects_in_public(database, role):
    with database.connect(role) as c:
        _refused(c, "CREATE TABLE public.intruder (x int)")
        _refused(c, "CREATE VIEW public.intruder AS SELECT 1")
        _refused(c, "CREATE FUNCTION public.intruder() RETURNS int LANGUAGE sql AS 'SELECT 1'")
        assert c.execute("SELECT has_schema_privilege('public', 'public', 'CREATE')"
                         ).fetchone() == (False,)


# -- the downgrade restores what was there ------------------------------------------

_GRANTS = """
SELECT n.nspname || '.' || c.relname, NULL, c.relacl::text[]
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname IN ('public', 'pgmq') AND c.relacl IS NOT NULL
UNION ALL
SELECT n.nspname || '.' || c.relname, a.attname::text, a.attacl::text[]
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname IN ('public', 'pgmq') AND a.attacl IS NOT NULL
UNION ALL
SELECT nspname, NULL, nspacl::text[] FROM pg_namespace WHERE nspname IN ('public', 'pgmq')
"""


def _grants(url: str) -> dict:
    with psycopg.connect(url) as c:
        return {(r[0], r[1]): sorted(r[2]) for r in c.execute(_GRANTS)}


def test_downgrade_of_0006_restores_the_previous_grants(empty_database):
    from soar.db import migrate

    url = empty_database.url()
    migrate.upgrade(url, "0005")
    before = _grants(url)
    migrate.upgrade(url, "0006")
    after = _grants(url)
    assert after != before
    assert ("public.aircraft_public", None) in after
    assert ("public.aircraft", "tracked") not in after       # no one may write the flags
    assert any("soar_ingest=a" in g for g in after[("public.flights", "takeoff_time")])
    migrate.downgrade(url, "0005")
    assert _grants(url) == before
    with psycopg.connect(url) as c:     # the views of 0003 read aircraft again, and work
        assert c.execute("SELECT count(*) FROM aircraft_flight_totals").fetchone() == (0,)
        assert c.execute("SELECT to_regclass('aircraft_public')").fetchone() == (None,)
