"""The writer under bad rows and faults, on a real PostgreSQL: a refused row never takes
its batch with it (quarantined, counted), a lost commit acknowledgement stores nothing
twice, a database killed mid-replay loses nothing. Every test compares exact counts
with an undisturbed write of the same input."""

from __future__ import annotations

import dataclasses
import os
import socket
import threading
import uuid
from collections import Counter
from datetime import timedelta

import psycopg
import pytest

from helpers.database import own_cluster
from helpers.database import tcp_login as new_tcp_login
from helpers.net import free_port
from helpers.pipeline import drain
from helpers.recordings import winch_fixes
from helpers.tcp_proxy import TcpProxy
from helpers.wait import wait_until
from soar import ingest
from soar.db.pgbouncer import Bouncer
from soar.feeds import ogn, recordings
from soar.ingest import validate
from soar.ingest.batch import AircraftRow, Batch
from soar.ingest.pipeline import PipelineConfig
from soar.ingest.stats import IngestStats
from soar.ingest.writer import TransientWriteError, Writer, WriterConfig
from soar.records import Fix, ReceiverBeacon, aircraft_id
from soar.reference import samples
from soar.tracker import FlightTracker, store
from soar.tracker import ops as flight_ops
from soar.tracker.ops import CreateFlight, UpdateFlight

ONEMINUTE = samples.path("oneminute.txt")
WAIT_S = 300     # ceiling for conditions awaited (never a speed assertion)


# -- input: real batches from the one-minute capture -----------------------------------

def real_batch(n_lines: int = 3000) -> Batch:
    """A batch as the router makes it from the first lines of the real capture: valid
    fixes (one per aircraft and second), receiver beacons, aircraft rows and the flight
    tracker's ops. Parsed afresh on each call (the tracker tags the Fix objects)."""
    batch, seen, tracker = Batch(), set(), FlightTracker()
    for line in ONEMINUTE.read_text().splitlines()[:n_lines]:
        parsed = ogn.parse_capture_line(line)
        if parsed is None:
            continue
        result = ogn.parse(parsed[1], parsed[0])
        if isinstance(result, ReceiverBeacon):
            batch.add_receiver(result)
        elif isinstance(result, Fix) and validate.check(result) is None:
            key = (result.aircraft_id, int(result.time.timestamp()))
            if key in seen:
                continue
            seen.add(key)
            batch.flight_ops += tracker.process(result)
            batch.fixes.append(result)
            f = result
            batch.aircraft[f.aircraft_id] = AircraftRow(
                f.aircraft_id, f.address, f.address_type, f.aircraft_type, None,
                f.registration, f.callsign, f.model, f.time)
    return batch


def writer(url: str, stats: IngestStats | None = None, **config) -> Writer:
    return Writer(url, stats or IngestStats(), write_flight_op=store.write_op,
                  config=WriterConfig(**config))


def snapshot(conn, flight_ids: bool = True) -> dict:
    """What a run stored, to compare runs: fixes (count and a digest of their
    content, with or without the flight each is tagged with), flights and how they
    ended, aircraft and receiver names."""
    fixes = conn.execute(
        "SELECT count(*), md5(string_agg(concat_ws('|', f.aircraft_id, f.time, f.received_at, "
        "r.name, f.latitude, f.longitude, f.altitude_m, f.signal_db, "
        "CASE WHEN %s THEN f.flight_id END), ',' "
        "ORDER BY f.aircraft_id, f.time, f.received_at, r.name)) "
        "FROM fixes f LEFT JOIN receivers r ON r.id = f.receiver_id", (flight_ids,)).fetchone()
    flights = conn.execute("SELECT id, aircraft_id, started_at, takeoff_time, landing_time, "
                           "timed_out_at, end_reason FROM flights ORDER BY id").fetchall()
    aircraft = {r[0] for r in conn.execute("SELECT id FROM aircraft")}
    receivers = {r[0] for r in conn.execute("SELECT name FROM receivers")}
    conn.commit()
    return {"fixes": tuple(fixes), "flights": flights, "aircraft": aircraft,
            "receivers": receivers}


def fix_flights(conn) -> dict:
    """Each fix (aircraft, time, receiver) -> the flight it is tagged with."""
    rows = conn.execute("SELECT f.aircraft_id, f.time, f.received_at, r.name, f.flight_id "
                        "FROM fixes f LEFT JOIN receivers r ON r.id = f.receiver_id").fetchall()
    conn.commit()
    return {r[:4]: r[4] for r in rows}


def clear(conn) -> None:
    conn.execute("TRUNCATE fixes, flights, aircraft, receivers, ingest_batches, "
                 "ingest_quarantine")
    conn.execute("SELECT pgmq.purge_queue('flight_enrichment')")
    conn.commit()


def quarantined(conn) -> Counter:
    rows = conn.execute("SELECT what, count(*) FROM ingest_quarantine GROUP BY 1").fetchall()
    conn.commit()
    return Counter(dict(rows))


# -- a bad row never takes good rows with it -----------------------------------------

def poison(batch: Batch) -> tuple[int, int]:
    """Values PostgreSQL (or the driver) refuses, mixed into a real batch: two fixes,
    two aircraft rows of aircraft that have flights, two receivers, two flight ops."""
    good = batch.fixes[0]
    batch.fixes.insert(100, dataclasses.replace(good, latitude=None))        # NOT NULL
    batch.fixes.insert(1000, dataclasses.replace(good, address=2 ** 70))      # beyond int8
    flying = [op.row["aircraft_id"] for op in batch.flight_ops if isinstance(op, CreateFlight)]
    a, b = batch.aircraft[flying[0]], batch.aircraft[flying[1]]
    batch.aircraft[a.id] = dataclasses.replace(a, registration="D-\x00KXY")   # NUL in text
    batch.aircraft[b.id] = dataclasses.replace(b, aircraft_type=70000)        # > smallint
    some = next(iter(batch.receivers.values()))
    batch.receivers[some.name] = dataclasses.replace(some, status={"cpu": "0.3\x00"})  # jsonb
    batch.add_receiver(ReceiverBeacon(name="EVIL\x00NAME", received_at=good.received_at,
                                      latitude=48.0, longitude=11.0))
    batch.flight_ops.insert(3, CreateFlight(row={                             # no such aircraft
        "id": uuid.uuid4(), "aircraft_id": 0x3FFFFFF, "source": 1, "started_at": good.time}))
    batch.flight_ops.append(UpdateFlight(batch.flight_ops[0].flight_id,
                                         {"callsign": "AB\x00C"}, flight_ops.CALLSIGN))
    return a.id, b.id


def test_poison_rows_are_quarantined_and_every_good_row_is_stored(database, conn):
    undisturbed = IngestStats()
    writer(database.url("ingest"), undisturbed).write(real_batch())
    expected = snapshot(conn)
    assert expected["fixes"][0] == undisturbed.fixes_written > 2000
    assert len(expected["flights"]) > 50
    clear(conn)

    batch = real_batch()
    nul_registration, big_type = poison(batch)
    stats = IngestStats()
    w = writer(database.url("ingest"), stats)
    w.write(batch)

    assert snapshot(conn) == expected       # every good fix, flight, aircraft, receiver
    assert stats.fixes_written == undisturbed.fixes_written
    assert stats.rejected == Counter({("db", "quarantined"): 2})
    assert stats.quarantined == Counter({"aircraft": 2, "receiver": 2, "flight_op": 2})
    assert quarantined(conn) == Counter({"fix": 2, "aircraft": 2, "receiver": 2, "flight_op": 2})
    # Accounting: every fix handed over is stored or counted, once.
    assert stats.fixes_written + stats.rejected[("db", "quarantined")] == len(batch.fixes)
    # The refused values are kept, text-safe, with the server's (or driver's) reason.
    aircraft = {r[0]: r[1:] for r in conn.execute(
        "SELECT (raw->>'id')::bigint, raw->>'registration', (raw->>'aircraft_type')::int, reason "
        "FROM ingest_quarantine WHERE what = 'aircraft'")}
    assert aircraft[nul_registration][0] == "D-\\x00KXY"
    assert aircraft[nul_registration][2] == "PostgreSQL text fields cannot contain NUL (0x00) bytes"
    assert aircraft[big_type][1:] == (70000, "smallint out of range")
    reasons = {r[0] for r in conn.execute("SELECT reason FROM ingest_quarantine WHERE what = 'fix'")}
    assert any("not-null" in r for r in reasons) and any("OverflowError" in r for r in reasons)
    assert conn.execute("SELECT count(*) FROM ingest_quarantine WHERE batch_key = %s",
                        (batch.key,)).fetchone()[0] == 8
    # The aircraft whose rows were refused exist (minimal rows): their flights are stored.
    assert conn.execute("SELECT id, registration, aircraft_type FROM aircraft WHERE id IN "
                        "(%s, %s) ORDER BY id", (nul_registration, big_type)).fetchall() == sorted(
        [(nul_registration, None, None), (big_type, None, None)])
    # The key records what this commit stored.
    assert conn.execute("SELECT fixes, outcome FROM ingest_batches").fetchall() == [
        (undisturbed.fixes_written,
         {"quarantined": {"aircraft": 2, "receiver": 2, "flight_op": 2}})]
    # Only committed receiver ids are cached; the refused name is remembered as such.
    assert "EVIL\x00NAME" not in w.receiver_ids and "EVIL\x00NAME" in w.refused_receivers


def test_a_refused_name_costs_one_careful_batch_not_one_per_batch(database, conn, caplog):
    stats = IngestStats()
    w = writer(database.url("ingest"), stats)
    first, second = real_batch(300), real_batch(300)
    for batch in (first, second):
        f = batch.fixes[0]
        batch.fixes.append(dataclasses.replace(f, receiver="BAD\x00RX"))
        batch.add_receiver(ReceiverBeacon(name="BAD\x00RX", received_at=f.received_at))
    w.write(first)
    w.write(second)
    # Only the first batch took the careful path; the second went in by the fast path:
    # its beacon of the refused name quarantined without an attempt, its fix of that
    # name stored without a receiver id.
    assert sum("isolating refused rows" in r.getMessage() for r in caplog.records) == 1
    assert stats.quarantined == Counter({"receiver": 2})
    assert stats.fixes_written == len(first.fixes) + len(second.fixes)
    assert conn.execute("SELECT count(*) FROM fixes").fetchone()[0] == stats.fixes_written
    assert conn.execute("SELECT count(*) FROM fixes WHERE receiver_id IS NULL").fetchone()[0] == 2


def test_aircraft_rows_not_committed_are_handed_back_to_the_router(database, conn):
    failed: list[set[int]] = []
    batch = real_batch(300)
    bad = AircraftRow((64 << 24) | 5, 5, 64, None, None, None, None, None,
                      batch.fixes[0].time)       # address_type 64: no row can hold it
    batch.aircraft[bad.id] = bad
    w = writer(database.url("ingest"))
    w.on_aircraft_failed = failed.append
    w.write(batch)
    assert failed == [{bad.id}]
    assert conn.execute("SELECT count(*) FROM aircraft").fetchone()[0] == len(batch.aircraft) - 1
    # Told again by a retry that finds the batch committed (its first reply lost).
    failed.clear()
    retry = writer(database.url("ingest"))
    retry.on_aircraft_failed = failed.append
    retry.write(batch)
    assert retry.stats.batches_already_committed == 1 and failed == [{bad.id}]

    # A batch rejected whole (here: a role that may not write) hands back all its rows.
    failed.clear()
    ro = writer(database.url("readonly"))
    ro.on_aircraft_failed = failed.append
    again = real_batch(300)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        ro.write(again)
    assert failed == [set(again.aircraft)]


# -- flight writes that change nothing ---------------------------------------------------

def test_skipped_flight_writes_are_counted_and_a_lost_end_does_not_hide_the_next_flight(
        database, conn, data_dir):
    launch = [f for f in winch_fixes(data_dir) if f.address == 0xDDEFF7]
    tracker = FlightTracker()
    # The create and the landing (not the launch method's own write between them).
    ops = [op for f in launch for op in tracker.process(f) if op.kind != flight_ops.LAUNCH]
    create, landing = ops[0], ops[1]
    assert (create.kind, landing.kind) == (flight_ops.START_TAKEOFF, flight_ops.END_LANDING)
    aid = create.row["aircraft_id"]
    row = AircraftRow(aid, launch[0].address, 2, 1, None, None, None, None, launch[0].time)
    stats = IngestStats()
    w = writer(database.url("ingest"), stats)

    first = Batch(fixes=list(launch[:20]), aircraft={aid: row}, flight_ops=[create])
    w.write(first)
    # The landing's batch is lost; the aircraft's next flight starts an hour later.
    later = launch[0].time + timedelta(hours=1)
    nxt = CreateFlight(row={**create.row, "id": flight_ops.flight_id(aid, later),
                            "started_at": later, "takeoff_time": later})
    w.write(Batch(flight_ops=[nxt]))
    assert stats.flights_superseded == 1
    rows = conn.execute("SELECT id, timed_out_at, end_reason, last_fix_at FROM flights "
                        "ORDER BY started_at").fetchall()
    assert [(r[0], r[2]) for r in rows] == [(create.flight_id, "superseded"), (nxt.flight_id, None)]
    assert rows[0][1] == (rows[0][3] or later)
    # The superseded flight's end queued its enrichment, like any end.
    events = [r[0]["event"] for r in conn.execute(
        "SELECT message FROM pgmq.q_flight_enrichment ORDER BY msg_id")]
    assert events == ["takeoff", "timeout", "takeoff"]

    # Writes that change nothing: a replayed create, an update of an unknown flight, a
    # tow link to an unknown tow flight. Counted by kind and reason; nothing changes.
    before = conn.execute("SELECT count(*), max(updated_at) FROM flights").fetchone()
    conn.commit()
    w.write(Batch(flight_ops=[
        nxt,
        UpdateFlight(uuid.uuid4(), {"landing_time": later}, flight_ops.END_LANDING),
        UpdateFlight(nxt.flight_id, {"towed_by_flight_id": uuid.uuid4()}, flight_ops.TOW)]))
    assert stats.flight_ops_skipped == Counter({
        (flight_ops.START_TAKEOFF, store.REPLAY): 1,
        (flight_ops.END_LANDING, store.MISSING): 1,
        (flight_ops.TOW, store.TOW_MISSING): 1})
    assert conn.execute("SELECT count(*), max(updated_at) FROM flights").fetchone() == before


def _skips_among_good_ops(batch: Batch) -> tuple[Batch, Batch]:
    """A batch that leaves one aircraft's flight active (its end then lost), and a real
    batch with five writes that change no row placed among its good flight ops: the
    aircraft's next flight (supersedes the stale one) and right after it that flight's
    landing (stored only if the supersede came first), a replay of the stale flight's
    create, an update of a flight never stored, a tow link to a tow flight never stored
    (at 6, 7, 13, 20 and 34)."""
    t0 = batch.fixes[0].time - timedelta(hours=3)
    aid = aircraft_id(2, 0xDD0001)
    row = AircraftRow(aid, 0xDD0001, 2, 1, None, None, None, None, t0)
    stale = CreateFlight(row={"id": flight_ops.flight_id(aid, t0), "aircraft_id": aid,
                              "source": 1, "started_at": t0, "takeoff_time": t0})
    t1 = t0 + timedelta(hours=1)
    nxt = CreateFlight(row={**stale.row, "id": flight_ops.flight_id(aid, t1), "started_at": t1,
                            "takeoff_time": t1})
    glider = next(op for op in batch.flight_ops[20:30] if isinstance(op, CreateFlight))
    ops = list(batch.flight_ops)
    assert len(ops) > 60
    for at, op in ((6, nxt),
                   (7, UpdateFlight(nxt.flight_id, {"landing_time": t1 + timedelta(minutes=30)},
                                    flight_ops.END_LANDING)),
                   (13, stale),
                   (20, UpdateFlight(uuid.uuid4(), {"landing_time": t1}, flight_ops.END_LANDING)),
                   (34, UpdateFlight(glider.flight_id, {"towed_by_flight_id": uuid.uuid4()},
                                     flight_ops.TOW))):
        ops.insert(at, op)
    batch.flight_ops = ops
    batch.aircraft[aid] = row
    return Batch(aircraft={aid: row}, flight_ops=[stale]), batch


def test_skips_among_many_good_flight_writes_resolve_in_order_with_exact_counts(database, conn):
    """Five writes that change no row among a real batch's good flight ops: each is
    explained right after its own statement, before the next op runs, so the landing
    right after a superseding create lands, and every count is exact."""
    stats, seen = IngestStats(), []
    w = Writer(database.url("ingest"), stats, write_flight_op=store.write_op,
               on_flight_latency=lambda op, ms: seen.append(op))
    setup, batch = _skips_among_good_ops(real_batch())
    w.write(setup)
    seen.clear()
    w.write(batch)
    w.close()
    assert stats.flight_ops_skipped == Counter({
        (flight_ops.START_TAKEOFF, store.REPLAY): 1,
        (flight_ops.END_LANDING, store.MISSING): 1,
        (flight_ops.TOW, store.TOW_MISSING): 1})
    assert stats.flights_superseded == 1
    assert stats.fixes_written == len(batch.fixes) + len(setup.fixes)
    assert stats.rejected == Counter() and stats.quarantined == Counter()
    # Every op timed once, in order.
    assert [op.flight_id for op in seen] == [op.flight_id for op in batch.flight_ops]
    rows = {r[0]: r[1:] for r in conn.execute(
        "SELECT id, landing_time, timed_out_at, end_reason FROM flights")}
    nxt, landing, stale = batch.flight_ops[6], batch.flight_ops[7], batch.flight_ops[13]
    assert rows[stale.flight_id][2] == "superseded"
    assert rows[nxt.flight_id][0] == landing.values["landing_time"]     # landed after all
    creates = {op.flight_id for op in batch.flight_ops if isinstance(op, CreateFlight)}
    assert set(rows) == creates      # every create stored once (the replay is the stale one)
    # The tow link to a flight never stored changed nothing.
    glider = batch.flight_ops[34].flight_id
    assert conn.execute("SELECT towed_by_flight_id FROM flights WHERE id = %s",
                        (glider,)).fetchone()[0] is None
    # Enrichment events: one per stored create, the stale flight's end, the landing.
    events = Counter(r[0] for r in conn.execute(
        "SELECT message->>'event' FROM pgmq.q_flight_enrichment"))
    conn.commit()
    assert events.pop("timeout") == 1 and events.pop("landing") == 1
    assert events.total() == len(creates)


# -- exactly once ----------------------------------------------------------------------

def test_a_batch_written_again_is_skipped_and_counted_once(database, conn):
    batch = real_batch()
    poison(batch)
    first = IngestStats()
    writer(database.url("ingest"), first).write(batch)
    stored = snapshot(conn)
    # The same batch again (as after a lost acknowledgement), by a fresh writer whose
    # counters never saw the first commit: it counts that commit's outcome, once.
    again = IngestStats()
    writer(database.url("ingest"), again).write(batch)
    assert snapshot(conn) == stored
    assert again.batches_already_committed == 1
    for field in ("fixes_written", "rejected", "quarantined", "flight_ops_skipped",
                  "flights_superseded", "batches"):
        assert getattr(again, field) == getattr(first, field), field
    assert conn.execute("SELECT count(*) FROM ingest_batches").fetchone()[0] == 1


def test_old_batch_keys_are_pruned(database, conn):
    old = uuid.uuid4()
    conn.execute("INSERT INTO ingest_batches (key, committed_at, fixes) "
                 "VALUES (%s, now() - interval '8 days', 1)", (old,))
    conn.commit()
    batch = real_batch(300)
    writer(database.url("ingest")).write(batch)       # the first commit also prunes
    keys = [r[0] for r in conn.execute("SELECT key FROM ingest_batches")]
    assert keys == [batch.key]


@pytest.fixture
def tcp_login(database, conn):
    """A TCP login with the ingest role's privileges (helpers.database.tcp_login)."""
    with new_tcp_login(conn, "soar_ingest") as login:
        yield login


def test_a_lost_commit_acknowledgement_stores_nothing_twice(database, conn, tcp_login):
    role, password = tcp_login
    proxy = TcpProxy("127.0.0.1", database.cluster.port).start()
    stats = IngestStats()
    w = writer(f"host=127.0.0.1 port={proxy.port} dbname={database.name} user={role} "
               f"password={password}", stats)
    try:
        w.untracked_aircraft()                  # connected and idle
        batch = real_batch()
        proxy.drop_answer_to(b"COMMIT\x00")
        with pytest.raises(TransientWriteError):
            w.write(batch)                      # committed, but the writer cannot know
        assert proxy.cut.is_set()
        assert conn.execute("SELECT count(*) FROM fixes").fetchone()[0] == len(batch.fixes)
        conn.commit()
        assert stats.fixes_written == 0
        w.write_until_done(batch)               # the caller's retry, on a new connection
    finally:
        w.close()
        proxy.close()
    assert proxy.connections == 2
    assert stats.batches_already_committed == 1
    assert stats.fixes_written == len(batch.fixes) > 2000
    assert conn.execute("SELECT count(*) FROM fixes").fetchone()[0] == len(batch.fixes)
    assert conn.execute("SELECT key, fixes FROM ingest_batches").fetchall() == [
        (batch.key, len(batch.fixes))]


# -- connection safety -------------------------------------------------------------------

def _recording_op_writer(seen: list):
    """A flight op writer that also records the statement timeout in force."""
    def write_op(cur, op):
        seen.append(cur.execute("SHOW statement_timeout").fetchone()[0])
        return store.write_op(cur, op)
    return write_op


def test_tcp_keepalives_and_statement_timeout_are_set(database, tcp_login):
    role, password = tcp_login
    seen: list[str] = []
    w = Writer(f"host=127.0.0.1 port={database.cluster.port} dbname={database.name} "
               f"user={role} password={password}", IngestStats(),
               write_flight_op=_recording_op_writer(seen),
               config=WriterConfig(keepalives_idle_s=7, keepalives_interval_s=3,
                                   keepalives_count=4, tcp_user_timeout_ms=21_000,
                                   statement_timeout_ms=12_000))
    try:
        w.write(real_batch(1000))
        sock = socket.socket(fileno=os.dup(w.conn.fileno()))
        try:
            opts = [sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)] + [
                sock.getsockopt(socket.IPPROTO_TCP, o) for o in (
                    socket.TCP_KEEPIDLE, socket.TCP_KEEPINTVL, socket.TCP_KEEPCNT,
                    socket.TCP_USER_TIMEOUT)]
        finally:
            sock.close()
    finally:
        w.close()
    assert opts == [1, 7, 3, 4, 21_000]
    assert seen and set(seen) == {"12s"}


STALL_CEILING_S = 300


def test_a_server_gone_silent_mid_copy_is_noticed_and_the_batch_stored_once(
        database, conn, tcp_login):
    """The path to the server stops forwarding in the middle of the fixes' COPY, without
    closing (no FIN, no RST: a vanished peer). The writer's TCP user timeout (short
    here, by configuration) ends that connection; the retry on a new one stores the
    batch, exactly once."""
    role, password = tcp_login
    proxy = TcpProxy("127.0.0.1", database.cluster.port).start()
    stats = IngestStats()
    w = writer(f"host=127.0.0.1 port={proxy.port} dbname={database.name} user={role} "
               f"password={password}", stats, keepalives_idle_s=1, keepalives_interval_s=1,
               keepalives_count=2, tcp_user_timeout_ms=1000)
    batch = real_batch(6000)                # more COPY data than the stalled buffers hold
    done: list[bool] = []
    try:
        w.untracked_aircraft()                  # connected and idle
        proxy.stall_at(b"PGCOPY\n\xff\r\n\x00")   # binary COPY's first data
        t = threading.Thread(target=lambda: done.append(w.write_until_done(batch)), daemon=True)
        t.start()
        # A stalled send is noticed when TCP gives up on it, and the probes back off: the
        # whole test took 15 s on a busy machine, and a make test with four workers
        # gave up at the 60 s of helpers.wait's ceiling once. pytest-timeout bounds it.
        t.join(STALL_CEILING_S)
        assert not t.is_alive(), (
            f"the writer never noticed the silent server (stalled: {proxy.stalled.is_set()}, "
            f"connections: {proxy.connections}, stats: {stats.summary()})")
    finally:
        w.close()
        proxy.close()
    assert done == [True] and proxy.stalled.is_set()
    assert proxy.connections == 2               # the stalled one, then the retry's
    assert stats.batches == 1 and stats.batches_already_committed == 0
    assert stats.fixes_written == len(batch.fixes) > 4000
    assert conn.execute("SELECT count(*) FROM fixes").fetchone()[0] == len(batch.fixes)
    assert conn.execute("SELECT key, fixes FROM ingest_batches").fetchall() == [
        (batch.key, len(batch.fixes))]


def test_a_statement_over_the_timeout_is_retried_and_stored_once(database, conn):
    slow = {"sleep": True}

    def write_op(cur, op):
        if slow["sleep"]:
            slow["sleep"] = False
            cur.execute("SELECT pg_sleep(60)")    # cancelled by the 1 s timeout
        return store.write_op(cur, op)

    stats = IngestStats()
    w = Writer(database.url("ingest"), stats, write_flight_op=write_op,
               config=WriterConfig(statement_timeout_ms=1000))
    batch = real_batch(1000)
    assert batch.flight_ops
    with pytest.raises(TransientWriteError, match="statement timeout"):
        w.write(batch)
    w.write(batch)
    assert stats.fixes_written == len(batch.fixes)
    assert conn.execute("SELECT count(*) FROM fixes").fetchone()[0] == len(batch.fixes)


def test_writer_through_pgbouncer_sets_its_statement_timeout(pg_cluster, database, conn):
    """PgBouncer (transaction mode) drops the `options` startup parameter, so the
    timeout is set inside each transaction: check it is in force there."""
    bouncer = Bouncer(pg_cluster, free_port())
    bouncer.start()
    seen: list[str] = []
    stats = IngestStats()
    w = Writer(bouncer.url(database.name, user="soar_ingest"), stats,
               write_flight_op=_recording_op_writer(seen),
               config=WriterConfig(statement_timeout_ms=15_000))
    try:
        batches = [real_batch(1000), real_batch(1000)]
        for b in batches:
            w.write(b)
    finally:
        w.close()
        bouncer.stop()
    assert seen and set(seen) == {"15s"}
    assert stats.batches_already_committed == 0 and stats.batches == 2
    # The second batch: every create a replay, fixes stored again (a new batch).
    assert conn.execute("SELECT count(*) FROM fixes").fetchone()[0] == 2 * len(batches[0].fixes)
    assert conn.execute("SELECT count(*) FROM ingest_batches").fetchone()[0] == 2


def test_receiver_ids_are_a_bounded_cache(database, conn):
    stats = IngestStats()
    w = writer(database.url("ingest"), stats, receiver_cache_size=50)
    batch = real_batch()
    named = {f.receiver for f in batch.fixes}
    assert len(named) > 200
    w.write(batch)
    assert len(w.receiver_ids) == 50
    w.write(real_batch())       # evicted names are looked up again: every fix has its id
    assert len(w.receiver_ids) == 50
    assert conn.execute("SELECT count(*), count(receiver_id) FROM fixes").fetchone() == (
        2 * len(batch.fixes), 2 * len(batch.fixes))
    assert conn.execute("SELECT count(*) FROM receivers").fetchone()[0] == len(
        named | set(batch.receivers))


# -- the database killed mid-replay --------------------------------------------------------

@pytest.fixture
def killable_cluster():
    """A cluster of its own: this test kills its server."""
    with own_cluster("soar-kill-", ("undisturbed", "disturbed")) as c:
        yield c


def _replay(url: str, stats: IngestStats, gate: threading.Event | None = None):
    """The whole capture through the pipeline; with a `gate`, the feed pauses after
    its first 45 chunks (45,000 messages) until the gate opens."""
    def chunks():
        for i, chunk in enumerate(recordings.replay(ONEMINUTE, "aprs")):
            if i == 45 and gate is not None:
                assert gate.wait(WAIT_S)
            yield chunk

    # Batches cut by size only (never by age), so both runs cut them identically.
    pipeline = ingest.build(url, stats, PipelineConfig(batch_size=2000, batch_age_s=3600.0))
    pipeline.start()
    feeder = threading.Thread(target=ingest.feed, args=(pipeline, chunks(), threading.Event()))
    feeder.start()
    return pipeline, feeder


def _finish(pipeline, feeder) -> None:
    feeder.join(WAIT_S)
    assert not feeder.is_alive()
    drain(pipeline)
    assert pipeline.failed is None


def test_database_killed_mid_replay_loses_and_duplicates_nothing(killable_cluster, caplog):
    cluster = killable_cluster
    undisturbed = IngestStats()
    _finish(*_replay(cluster.url("undisturbed", user="soar_ingest"), undisturbed))

    stats, gate = IngestStats(), threading.Event()
    pipeline, feeder = _replay(cluster.url("disturbed", user="soar_ingest"), stats, gate)
    # Killed while the first part of the feed is being written (up to ~10,000 fixes
    # are then queued or in the writer's transaction), restarted, then the rest fed.
    wait_until(lambda: stats.fixes_written >= 20_000, WAIT_S, what="20,000 fixes written")
    cluster._run("pg_ctl", "-D", str(cluster.datadir), "-m", "immediate", "stop")
    cluster.start()
    gate.set()
    _finish(pipeline, feeder)

    with psycopg.connect(cluster.conninfo("undisturbed")) as a, \
            psycopg.connect(cluster.conninfo("disturbed")) as b:
        expected, got = snapshot(a, flight_ids=False), snapshot(b, flight_ids=False)
        tags_expected, tags_got = fix_flights(a), fix_flights(b)
        batches = [c.execute("SELECT count(*), sum(fixes) FROM ingest_batches").fetchone()
                   for c in (a, b)]
    # The writer's connection died with the server: at least one write was retried.
    assert any("database unreachable" in r.getMessage() for r in caplog.records)
    assert expected["fixes"][0] == undisturbed.fixes_written > 60_000
    assert len(expected["flights"]) > 300
    assert got == expected          # same fixes, same flights (same ids, same ends)
    assert stats.fixes_written == undisturbed.fixes_written
    assert stats.rejected == undisturbed.rejected
    assert batches[0] == batches[1]
    # Flight tags: the same, except where the tracker tagged a fix of a takeoff's
    # confirmation window after its batch was handed over (a race between router and
    # writer, in either run): then one run has no tag and the fix lies within the
    # tracker's takeoff window after the other run's flight start.
    assert tags_got.keys() == tags_expected.keys()
    started = {f[0]: f[2] for f in expected["flights"]}
    window = timedelta(seconds=FlightTracker().cfg.takeoff_window_s)
    for key in tags_expected:
        x, y = tags_expected[key], tags_got[key]
        if x != y:
            assert None in (x, y), key
            assert started[x or y] <= key[1] <= started[x or y] + window, key


def test_new_tables_grant_each_role_only_what_it_needs(database):
    """Ingest adds to the quarantine but cannot read or change it; operators (read-only)
    read it. Ingest keeps its keys (insert, read, prune, record an outcome) and nothing
    more; the read-only role does not see them."""
    def refused(role: str, statement: str, params=()) -> bool:
        with database.connect(role) as c:
            try:
                c.execute(statement, params)
            except psycopg.errors.InsufficientPrivilege:
                return True
            return False

    key = uuid.uuid4()
    assert not refused("ingest", "INSERT INTO ingest_quarantine (what, reason, raw, batch_key) "
                                 "VALUES ('fix', 'x', '{}', %s)", (key,))
    assert refused("ingest", "SELECT * FROM ingest_quarantine")
    assert refused("ingest", "DELETE FROM ingest_quarantine")
    assert refused("ingest", "UPDATE ingest_quarantine SET reason = 'y'")
    assert not refused("readonly", "SELECT * FROM ingest_quarantine")
    assert refused("readonly", "INSERT INTO ingest_quarantine (what, reason, raw, batch_key) "
                               "VALUES ('fix', 'x', '{}', %s)", (key,))
    assert not refused("ingest", "INSERT INTO ingest_batches (key, fixes) VALUES (%s, 1)", (key,))
    assert not refused("ingest", "UPDATE ingest_batches SET fixes = 2, outcome = NULL")
    assert refused("ingest", "UPDATE ingest_batches SET committed_at = now()")
    assert not refused("ingest", "DELETE FROM ingest_batches WHERE committed_at < now()")
    assert refused("readonly", "SELECT * FROM ingest_batches")
