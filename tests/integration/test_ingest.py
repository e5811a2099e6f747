"""Ingest end to end on a real server: recordings -> pipeline -> binary COPY -> fixes."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timezone

import pytest

from helpers.database import new_database
from helpers.net import HangUpServer
from helpers.pipeline import drain, replay
from helpers.wait import wait_until
from soar import ingest
from soar.feeds import recordings
from soar.ingest.pipeline import PipelineConfig
from soar.ingest.stats import IngestStats
from soar.records import Message, aircraft_id
from soar.reference import samples

ONEMINUTE = samples.path("oneminute.txt")


@pytest.fixture(scope="module")
def oneminute_lines():
    return ONEMINUTE.read_text().splitlines()


@pytest.fixture(scope="module")
def oneminute_db(pg_cluster, db_template):
    """The one-minute capture replayed once, and what it counted, for the tests that
    only read what it stored (each replayed the same 88,565 lines before)."""
    with new_database(pg_cluster, db_template, "soar_oneminute") as db:
        yield db, replay(db, ONEMINUTE, "aprs")


@pytest.fixture
def oneminute(oneminute_db):
    """(its stats, a connection to the database it was replayed into)"""
    db, stats = oneminute_db
    with db.connect() as c:
        yield stats, c


def test_oneminute_capture_lands_as_fixes(oneminute):
    stats, conn = oneminute
    s = stats.summary()
    assert s["messages_total"] == 88565
    # Every message is accounted for: a fix, a receiver beacon, or a counted reason.
    assert (s["fixes_accepted"] + s["receiver_beacons"] + s["state_only"]
            + sum(s["rejected"].values())) == 88565
    assert s["fixes_written"] == s["fixes_accepted"]
    n_fixes, n_aircraft = conn.execute(
        "SELECT count(*), count(DISTINCT aircraft_id) FROM fixes").fetchone()
    assert n_fixes == s["fixes_written"] > 60_000
    assert 3000 <= n_aircraft <= 3600
    # About 330 stations send their own beacons within the minute; about 950 are named as
    # the receiver of some aircraft beacon (measured on this capture).
    n_receivers, n_placed = conn.execute(
        "SELECT count(*), count(latitude) FROM receivers").fetchone()
    assert 900 <= n_receivers <= 1000
    assert 300 <= n_placed <= 340
    # Fixes refer to known aircraft and receivers.
    assert conn.execute("SELECT count(*) FROM fixes f LEFT JOIN aircraft a ON a.id = f.aircraft_id "
                        "WHERE a.id IS NULL").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM fixes WHERE receiver_id IS NULL").fetchone()[0] == 0


def test_a_known_beacon_is_stored_with_units_converted(oneminute):
    # 2020-05-30 11:04:52.431819: FLRDDABFF>APRS,qAS,EDFS:/110445h4959.82N/01013.24E'357/037/
    #   A=003451 !W30! id06DDABFF -177fpm +2.9rot 13.0dB 0e -5.2kHz gps3x5
    _, conn = oneminute
    row = conn.execute(
        "SELECT f.time, f.latitude, f.longitude, f.altitude_m, f.ground_speed_kmh, f.track_deg, "
        "f.climb_rate_ms, f.turn_rate_degs, f.signal_db, r.name, a.aircraft_type "
        "FROM fixes f JOIN receivers r ON r.id = f.receiver_id JOIN aircraft a ON a.id = f.aircraft_id "
        "WHERE f.aircraft_id = %s AND f.time = %s",
        (aircraft_id(2, 0xDDABFF), datetime(2020, 5, 30, 11, 4, 45, tzinfo=timezone.utc))).fetchone()
    assert row is not None
    t, lat, lon, alt, speed, track, climb, turn, sig, receiver, actype = row
    assert lat == pytest.approx(49 + 59.823 / 60, abs=1e-6)      # !W30!: +0.003 min latitude
    assert lon == pytest.approx(10 + 13.240 / 60, abs=1e-6)
    assert alt == pytest.approx(3451 * 0.3048, abs=0.01)         # feet -> metres
    assert speed == pytest.approx(37 * 1.852, abs=0.01)          # knots -> km/h
    assert track == 357
    assert climb == pytest.approx(-177 * 0.00508, abs=0.001)     # fpm -> m/s
    assert turn == pytest.approx(2.9 * 1.5, abs=0.01)            # rot -> deg/s
    assert sig == pytest.approx(13.0)
    assert receiver == "EDFS" and actype == 1


def test_duplicates_through_several_receivers_are_stored_once(oneminute):
    stats, conn = oneminute
    # Not vacuous: the capture repeats many beacons (relayed by several receivers), and
    # the fixes are there (an empty table has no duplicates either).
    assert stats.rejected[("aprs", "duplicate")] > 20_000
    n_fixes, n_distinct = conn.execute(
        "SELECT count(*), count(DISTINCT (aircraft_id, date_trunc('second', time))) "
        "FROM fixes").fetchone()
    assert n_fixes == stats.fixes_written > 60_000
    assert n_distinct == n_fixes


def test_small_batches_and_slow_pacing_give_the_same_rows(database, conn, tmp_path, oneminute_lines):
    part = tmp_path / "part.txt"
    part.write_text("\n".join(oneminute_lines[:3000]) + "\n")
    stats = replay(database, part, "aprs", PipelineConfig(batch_size=7, batch_age_s=0.01))
    assert stats.batches > 100
    assert conn.execute("SELECT count(*) FROM fixes").fetchone()[0] == stats.fixes_written > 2000


def test_writer_survives_a_database_outage(database, conn, tmp_path, oneminute_lines):
    """Batches are kept and retried while the database is unreachable: nothing lost."""
    part = tmp_path / "part.txt"
    part.write_text("\n".join(oneminute_lines[:2000]) + "\n")
    stats = IngestStats()
    good_url = database.url("ingest")
    pipeline = ingest.build(good_url, stats, PipelineConfig(batch_size=100))
    pipeline.start()   # loads the untracked set with the good URL
    pipeline.writer.close()
    pipeline.writer.conn = None
    with HangUpServer() as down:       # a server that hangs up on every connection
        pipeline.writer.conninfo = (f"host=127.0.0.1 port={down.port} dbname=x user=x "
                                    "connect_timeout=5")
        ingest.feed(pipeline, recordings.replay(part, "aprs"), threading.Event())
        # A first attempt failed and the writer tried again (it backs off, retries).
        wait_until(lambda: down.connections >= 2, what="two failed write attempts")
        # Every accepted fix is found where it waits: the writer's batch, the queued
        # ones, the one the router holds (the queue being full).
        wait_until(lambda: stats.fixes_accepted >= 500
                   and stats.accounting()["in_flight"] == stats.fixes_accepted,
                   what="the accepted fixes, all in flight")
        assert stats.fixes_written == 0 and stats.batches == 0
        pipeline.writer.conninfo = good_url
        drain(pipeline)
    assert pipeline.failed is None
    assert stats.fixes_written == stats.fixes_accepted > 1000
    assert stats.accounting()["balanced"]
    assert conn.execute("SELECT count(*) FROM fixes").fetchone()[0] == stats.fixes_written


def test_full_router_queue_drops_are_counted_not_silent(database, tmp_path, oneminute_lines):
    stats = IngestStats()
    pipeline = ingest.build(database.url("ingest"), stats,
                            PipelineConfig(in_queue_chunks=1, drop_after_s=0.0))
    # Not started: nothing drains the queue, so the second chunk cannot fit.
    now = datetime.now(timezone.utc)
    chunk = [Message("aprs", now, line.split(": ", 1)[1]) for line in oneminute_lines[5:8]]
    assert pipeline.submit(chunk) is True
    assert pipeline.submit(chunk) is False
    assert stats.dropped_queue_full == 3               # every message of the chunk
    assert stats.rejected[("aprs", "queue_full")] == 3


def test_untracked_aircraft_store_no_fixes(database, conn, tmp_path, oneminute_lines):
    aid = aircraft_id(2, 0xDDABFF)
    conn.execute("INSERT INTO aircraft (id, address, address_type, tracked) VALUES (%s, %s, 2, false)",
                 (aid, 0xDDABFF))
    conn.commit()
    part = tmp_path / "part.txt"
    part.write_text("\n".join(oneminute_lines[:20000]) + "\n")
    stats = replay(database, part, "aprs")
    assert stats.rejected[("aprs", "no_tracking")] >= 1
    assert conn.execute("SELECT count(*) FROM fixes WHERE aircraft_id = %s", (aid,)).fetchone()[0] == 0


def test_garbage_never_reaches_the_database(database, conn, tmp_path, oneminute_lines):
    """Garbage around a real 500-line capture: none of it is stored, each line is
    counted under its reason, and every good line is stored exactly as without it."""
    good = oneminute_lines[:500]
    clean = tmp_path / "good.txt"
    clean.write_text("\n".join(good) + "\n")
    undisturbed = replay(database, clean, "aprs")
    n_good = conn.execute("SELECT count(*) FROM fixes").fetchone()[0]
    assert n_good == undisturbed.fixes_written > 300
    conn.execute("TRUNCATE fixes, flights, aircraft, receivers")
    conn.commit()

    stamp = "2020-05-30 11:05:00.000000: "
    garbage = {   # line -> the reason it is counted under
        # NUL in a receiver name or a comment token once made PostgreSQL refuse the batch.
        f"{stamp}FLRDDABFF>APRS,qAS,ED\x00FS:/110459h4959.82N/01013.24E'357/037/A=003451":
            "bad_text",
        f"{stamp}LI\x00LH>OGNSDR,TCPIP*,qAC,GLIDERN2:>110459h v0.2.7.RPI-GPU CPU:0.7": "bad_text",
        # NUL in display-only text is removed: an aircraft and a receiver the capture
        # does not have, stored clean.
        f"{stamp}FLRABCDEF>APRS,qAS,EDFS:/110459h4959.82N/01013.24E'357/037/A=003451 "
        "id06ABCDEF regD-\x00KABC model\x00": "stored",
        f"{stamp}POISON1>OGNSDR,TCPIP*,qAC,GLIDERN2:>110459h v0.2.7.RPI-GPU RF:\x00+54 a\x00b":
            "beacon",
        # 1e300dB was stored as +Infinity.
        f"{stamp}FLRDDABFF>APRS,qAS,EDFS:/110459h4959.82N/01013.24E'357/037/A=003451 1e300dB":
            "out_of_range",
        f"{stamp}FLRDDABFF>APRS,qAS,EDFS:/110500h9959.82N/01013.24E'357/037/A=003451":
            "out_of_range",
        f"{stamp}FLRDDABFF>APRS,qAS,EDFS:/110500h4959.82N/01013.24E'357/037/A=999999":
            "out_of_range",
        f"{stamp}\x00\x01garbage": "parse_error",
        "not even a timestamp": "unreadable",  # counted, not skipped (issue 21 item 3)
        f"{stamp}FLRDDABFF>APRS,qAS,EDFS:/115900h4959.82N/01013.24E'357/037/A=003451": "future",
    }
    lines = list(garbage)[:3] + good[:250] + list(garbage)[3:] + good[250:]
    part = tmp_path / "bad.txt"
    part.write_text("\n".join(lines) + "\n")
    stats = replay(database, part, "aprs")
    assert conn.execute("SELECT count(*) FROM fixes WHERE latitude NOT BETWEEN -90 AND 90 "
                        "OR altitude_m > 25000 OR time > received_at + interval '10 s' "
                        "OR signal_db = 'Infinity'::real").fetchone()[0] == 0
    # The good lines, all of them: the same fixes as the undisturbed run, plus the two
    # cleaned lines.
    assert stats.fixes_written == undisturbed.fixes_written + 1
    assert conn.execute("SELECT count(*) FROM fixes").fetchone()[0] == n_good + 1
    assert stats.receiver_beacons == undisturbed.receiver_beacons + 1
    assert conn.execute("SELECT registration, model FROM aircraft WHERE address = x'ABCDEF'::int"
                        ).fetchone() == ("D-KABC", None)
    assert conn.execute("SELECT status->>'rf', status->>'comment' FROM receivers "
                        "WHERE name = 'POISON1'").fetchone() == ("+54", "ab")
    reasons = Counter(r for r in garbage.values() if r not in (None, "stored", "beacon"))
    for reason in set(reasons) | {r for _, r in stats.rejected} | {r for _, r in undisturbed.rejected}:
        assert (stats.rejected[("aprs", reason)] - undisturbed.rejected[("aprs", reason)]
                == reasons[reason]), reason


def test_every_real_tracker_type_is_stored_or_counted(database, conn, tmp_path, data_dir):
    """All 34 files of real beacons through the pipeline: no batch is refused by the
    database (e.g. Naviter's wider address types fit the schema)."""
    lines = []
    for f in sorted((data_dir / "ogn" / "valid_messages").glob("*.txt")):
        for raw in f.read_text().splitlines():
            if raw.strip() and not raw.startswith("#"):
                hhmmss = raw.split(":/", 1)[1][:6] if ":/" in raw else "120000"
                stamp = f"2024-07-06 {hhmmss[:2]}:{hhmmss[2:4]}:{hhmmss[4:6]}.000000" \
                    if hhmmss.isdigit() and int(hhmmss[:2]) < 24 else "2024-07-06 12:00:00.000000"
                lines.append(f"{stamp}: {raw}")
    part = tmp_path / "valid.txt"
    part.write_text("\n".join(lines) + "\n")
    stats = replay(database, part, "aprs")
    assert ("db", "write_error") not in stats.rejected
    assert stats.fixes_written > 150
    naviter = conn.execute("SELECT count(*) FROM aircraft WHERE address_type = 4").fetchone()[0]
    assert naviter >= 1


def test_beast_capture_lands_with_reference_positions(database, conn, data_dir):
    """The real Beast capture through `replay`: positions, altitudes and callsigns as the
    recorder's own decoder printed them (its SBS output beside the capture)."""
    capture = data_dir / "beast" / "ulss7-2018-04-03.beast"
    start = datetime(2018, 4, 3, 19, 2, 28, 136000, tzinfo=timezone.utc)
    replay(database, capture, "beast", receiver="ulss7", start=start)
    ref_pos, ref_calls = {}, {}
    for line in (data_dir / "beast" / "ulss7-2018-04-03.reference-sbs.txt").read_text().splitlines():
        f = line.split(",")
        if len(f) < 16:
            continue     # the recorder's own comment lines
        if f[1] == "3" and f[14]:
            ref_pos.setdefault(int(f[4], 16), []).append((float(f[14]), float(f[15]), int(f[11])))
        if f[1] == "1" and f[10].strip():
            ref_calls[int(f[4], 16)] = f[10].strip()
    rows = conn.execute("SELECT aircraft_id & 16777215, latitude, longitude, altitude_m FROM fixes "
                        "WHERE source = 2").fetchall()
    assert len(rows) >= 300
    for address, lat, lon, alt in rows:
        # Every stored fix is one the reference decoded too (to its 5 decimals, feet exact).
        assert any(abs(lat - rlat) < 1e-4 and abs(lon - rlon) < 1e-4
                   and abs(alt - ralt * 0.3048) < 0.5
                   for rlat, rlon, ralt in ref_pos[address]), (hex(address), lat, lon)
    calls = dict(conn.execute("SELECT address, callsign FROM aircraft WHERE callsign IS NOT NULL"))
    assert calls == ref_calls


def test_aircraft_marked_untracked_while_running_stops_being_stored(database, conn, oneminute_lines):
    aid = aircraft_id(2, 0xDDABFF)       # FLRDDABFF: heard through the whole capture
    stats = IngestStats()
    pipeline = ingest.build(database.url("ingest"), stats,
                            PipelineConfig(batch_size=500, untracked_refresh_s=0.0))
    pipeline.start()

    def submit(lines):
        for i in range(0, len(lines), 500):
            pipeline.submit([Message("aprs", *sources_line(line)) for line in lines[i:i + 500]])

    def all_written():
        return (stats.fixes_written == stats.fixes_accepted
                and stats.accounting()["in_flight"] == 0)

    first, nudge, rest = oneminute_lines[:20000], oneminute_lines[20000:21000], \
        oneminute_lines[21000:]
    submit(first)
    wait_until(lambda: stats.fixes_written > 1000 and all_written(), what="the first part stored")
    stored = "SELECT count(*) FROM fixes WHERE aircraft_id = %s"
    stored_before = conn.execute(stored, (aid,)).fetchone()[0]
    conn.execute("UPDATE aircraft SET tracked = false WHERE id = %s", (aid,))
    conn.commit()
    # The writer re-reads the flag before each batch (untracked_refresh_s=0): other
    # aircraft's batches bring it to the router.
    submit([line for line in nudge if ": FLRDDABFF>" not in line])
    wait_until(lambda: aid in pipeline.router.untracked, what="the router to learn the flag")
    wait_until(all_written, what="the batches routed before the flag stored")
    stored_flagged = conn.execute(stored, (aid,)).fetchone()[0]
    rejected_before = stats.rejected[("aprs", "no_tracking")]
    written_before = stats.fixes_written
    heard = sum(": FLRDDABFF>" in line for line in rest)
    submit(rest)
    drain(pipeline)
    assert stored_before >= 1 and heard >= 10
    # Once the router knows, not one more of its fixes is stored, every one is refused
    # as no_tracking (or a duplicate of one refused), and the other aircraft still are.
    assert conn.execute(stored, (aid,)).fetchone()[0] == stored_flagged
    assert stats.rejected[("aprs", "no_tracking")] > rejected_before
    assert stats.fixes_written - written_before > 1000
    assert stats.accounting()["balanced"]


def sources_line(line: str):
    from soar.feeds import ogn
    return ogn.parse_capture_line(line)


