"""The foundation schema on a real server: migrations, hypertable, queue triggers,
the one-active-flight rule."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from soar.db import migrate
from soar.records import aircraft_id

T0 = datetime(2024, 7, 6, 6, 59, 21, tzinfo=timezone.utc)
TABLES = {"aircraft", "receivers", "airports", "runways", "locations", "flights", "fixes"}


def _tables(conn) -> set[str]:
    rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {r[0] for r in rows}


def _add_aircraft(conn, address=0xDDEFF7, address_type=2) -> int:
    aid = aircraft_id(address_type, address)
    conn.execute("INSERT INTO aircraft (id, address, address_type) VALUES (%s, %s, %s) "
                 "ON CONFLICT DO NOTHING", (aid, address, address_type))
    return aid


def _add_flight(conn, aid, takeoff=True) -> uuid.UUID:
    fid = uuid.uuid4()
    conn.execute("INSERT INTO flights (id, aircraft_id, source, started_at, takeoff_time) "
                 "VALUES (%s, %s, 1, %s, %s)", (fid, aid, T0, T0 if takeoff else None))
    return fid


def _messages(conn) -> list[dict]:
    rows = conn.execute("SELECT message FROM pgmq.q_flight_enrichment ORDER BY msg_id").fetchall()
    return [r[0] for r in rows]


def test_upgrade_downgrade_upgrade(empty_database):
    url = empty_database.url()
    migrate.upgrade(url)
    assert migrate.current(url) == migrate.head()
    with psycopg.connect(url) as c:
        assert _tables(c) >= TABLES
    migrate.downgrade(url, "base")
    assert migrate.current(url) is None
    with psycopg.connect(url) as c:
        assert not (TABLES & _tables(c))
        assert c.execute("SELECT count(*) FROM pg_namespace WHERE nspname = 'pgmq'").fetchone()[0] == 0
    migrate.upgrade(url)
    with psycopg.connect(url) as c:
        assert _tables(c) >= TABLES


def test_fixes_is_a_lean_hypertable(conn):
    row = conn.execute("SELECT hypertable_name FROM timescaledb_information.hypertables").fetchall()
    assert row == [("fixes",)]
    interval = conn.execute(
        "SELECT time_interval FROM timescaledb_information.dimensions "
        "WHERE hypertable_name = 'fixes'").fetchone()[0]
    assert interval == timedelta(days=1)
    indexes = conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'fixes'").fetchall()
    assert [r[0] for r in indexes] == ["fixes_aircraft_time_idx"]


def test_queues_exist(conn):
    names = {r[0] for r in conn.execute("SELECT queue_name FROM pgmq.list_queues()").fetchall()}
    assert names == {"flight_enrichment", "flight_enrichment_dead"}


def test_insert_enqueues_exactly_one_takeoff_message(conn):
    aid = _add_aircraft(conn)
    fid = _add_flight(conn, aid)
    conn.commit()
    assert _messages(conn) == [{"flight_id": str(fid), "event": "takeoff"}]


def test_flight_first_seen_airborne_enqueues_airborne_start(conn):
    fid = _add_flight(conn, _add_aircraft(conn), takeoff=False)
    conn.commit()
    assert _messages(conn) == [{"flight_id": str(fid), "event": "airborne_start"}]


def test_rollback_leaves_no_message(conn):
    aid = _add_aircraft(conn)
    conn.commit()
    _add_flight(conn, aid)
    assert len(_messages(conn)) == 1          # visible inside the transaction
    conn.rollback()
    assert _messages(conn) == []


def test_landing_and_timeout_enqueue_once_on_transition(conn):
    aid = _add_aircraft(conn)
    landed = _add_flight(conn, aid)
    conn.execute("UPDATE flights SET landing_time = %s WHERE id = %s", (T0 + timedelta(hours=1), landed))
    # A correction of an already-set landing time is not a new event.
    conn.execute("UPDATE flights SET landing_time = %s WHERE id = %s", (T0 + timedelta(hours=2), landed))
    conn.execute("UPDATE flights SET callsign = 'X' WHERE id = %s", (landed,))
    lost = _add_flight(conn, aid)
    conn.execute("UPDATE flights SET timed_out_at = %s WHERE id = %s", (T0 + timedelta(hours=3), lost))
    conn.commit()
    assert [(m["flight_id"], m["event"]) for m in _messages(conn)] == [
        (str(landed), "takeoff"), (str(landed), "landing"),
        (str(lost), "takeoff"), (str(lost), "timeout")]


def test_one_active_flight_per_aircraft(conn):
    aid = _add_aircraft(conn)
    first = _add_flight(conn, aid)
    conn.commit()
    with pytest.raises(psycopg.errors.UniqueViolation):
        _add_flight(conn, aid)
    conn.rollback()
    conn.execute("UPDATE flights SET landing_time = %s WHERE id = %s", (T0 + timedelta(hours=1), first))
    _add_flight(conn, aid)    # the first one landed: a new flight may start
    conn.commit()
    assert conn.execute("SELECT count(*) FROM flights").fetchone()[0] == 2


def test_aircraft_id_must_match_address(conn):
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("INSERT INTO aircraft (id, address, address_type) VALUES (1, 2, 2)")


def test_locations_cell_is_unique(conn):
    sql = ("INSERT INTO locations (lat_e3, lon_e3, latitude, longitude, source) "
           "VALUES (47829, 11465, 47.829, 11.465, 'places')")
    conn.execute(sql)
    with pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute(sql)


def test_message_json_is_valid_for_the_worker(conn):
    fid = _add_flight(conn, _add_aircraft(conn))
    conn.commit()
    raw = conn.execute("SELECT message::text FROM pgmq.q_flight_enrichment").fetchone()[0]
    assert json.loads(raw)["flight_id"] == str(fid)


@pytest.mark.parametrize("table, column", [c.split(".") for c in
                                           __import__("soar.columns").columns.TEXT_MAX])
def test_a_text_one_character_over_its_limit_is_refused_and_at_the_limit_stored(
        conn, table, column):
    from soar.columns import TEXT_MAX
    limit = TEXT_MAX[f"{table}.{column}"]
    aid = _add_aircraft(conn)
    insert = {
        "receivers": "INSERT INTO receivers (name, {c}) VALUES ('R' || %(n)s, %(v)s)",
        "aircraft": "UPDATE aircraft SET {c} = %(v)s WHERE id = %(aid)s",
        "flights": "INSERT INTO flights (id, aircraft_id, source, started_at, {c}) "
                   "VALUES (gen_random_uuid(), %(aid)s, 1, now() - %(n)s * interval '1 day', %(v)s)",
    }[table].format(c=column)
    if (table, column) == ("receivers", "name"):
        insert = "INSERT INTO receivers (name) VALUES (%(v)s)"
    conn.execute(insert, {"v": "x" * limit, "n": 1, "aid": aid})
    conn.commit()
    if table == "flights":
        conn.execute("UPDATE flights SET landing_time = now()")
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(insert, {"v": "y" * (limit + 1), "n": 2, "aid": aid})
    conn.rollback()


def test_every_security_definer_function_searches_pg_temp_last(conn):
    rows = conn.execute(
        "SELECT p.proname, p.proconfig FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE p.prosecdef AND n.nspname = 'public' AND NOT EXISTS ("   # soar's, not PostGIS's
        "   SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass"
        "      AND d.objid = p.oid AND d.deptype = 'e')").fetchall()
    assert {r[0] for r in rows} >= {"drop_fix_chunk_v1", "old_fix_chunks_v1", "queue_health_v1",
                                   "enqueue_flight_created", "enqueue_flight_ended"}
    for name, config in rows:
        path = next((c for c in config or [] if c.startswith("search_path=")), None)
        assert path and path.replace(" ", "").endswith(",pg_temp"), (name, config)


def test_values_over_a_limit_stored_before_revision_0012_are_made_to_fit(empty_database):
    url = empty_database.url()
    migrate.upgrade(url, "0011")
    long_name, reg = "N" * 3000, "R" * 4000
    with psycopg.connect(url) as c:
        c.execute("INSERT INTO receivers (name, version) VALUES (%s, %s), ('EDFS', '0.2.8')",
                  (long_name, "v" * 100))
        c.execute("INSERT INTO aircraft (id, address, address_type, registration, model) "
                  "VALUES (%s, 1, 2, %s, 'ASK 21')", (aircraft_id(2, 1), reg))
    migrate.upgrade(url)
    with psycopg.connect(url) as c:
        rows = dict(c.execute("SELECT name, version FROM receivers").fetchall())
        assert rows.pop("EDFS") == "0.2.8"
        [(name, version)] = rows.items()
        assert name.startswith("N" * 48 + "~") and len(name) <= 64 and version == "v" * 32
        assert c.execute("SELECT registration, model FROM aircraft").fetchone() == (None, "ASK 21")
