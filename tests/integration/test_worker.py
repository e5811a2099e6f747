"""The enrichment worker end to end, on a real server (the soar_worker role) with the
full reference data, real flights, and a real (fake) Pelias HTTP server on loopback:
results, cache, deferral, retries, dead letters, crashes, concurrency, LISTEN, CLI,
and Pelias outages: the offline fallback, re-geocoding, per-message attempts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
import requests
from prometheus_client import generate_latest

from helpers import refdata
from helpers.fake_pelias import FakePelias
from helpers.net import free_port
from helpers.refdata import FixRow
from helpers.wait import CEILING_S, wait_until
from helpers.worker import running_worker
from soar_worker import messages, metrics, regeocode
from soar_worker.config import WorkerConfig
from soar_worker.geocode import make_geocoder
from soar_worker.loop import Worker, run_workers
from soar_worker.metrics import Stats

SOAR = [sys.executable, "-m", "soar"]
HOUR_S = 3600.0        # longer than any wait here: only the awaited event can end it
T0 = datetime(2024, 7, 6, 12, 0, tzinfo=timezone.utc)


# -- fixtures and helpers ---------------------------------------------------------------

@pytest.fixture
def refdb(refdb):
    """conftest's reference database, with an audit of enrichment changes."""
    with refdb.connect() as c:
        _install_audit(c)
    return refdb


@pytest.fixture
def fake(data_dir):
    with FakePelias(data_dir / "pelias") as f:
        yield f


def _install_audit(c) -> None:
    """Test-only: record every committed change of a flight's enrichment status, to
    check that each end of each flight is enriched exactly once."""
    c.execute("""
        CREATE TABLE test_enrichment_audit (flight_id uuid, side text, status text,
                                            at timestamptz DEFAULT clock_timestamp());
        CREATE FUNCTION test_audit() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
        BEGIN
            IF NEW.takeoff_enrichment IS DISTINCT FROM OLD.takeoff_enrichment
               OR NEW.takeoff_enrichment = 'done' AND NEW.start_location_id IS DISTINCT FROM
                  OLD.start_location_id THEN
                INSERT INTO test_enrichment_audit (flight_id, side, status)
                VALUES (NEW.id, 'takeoff', NEW.takeoff_enrichment);
            END IF;
            IF NEW.landing_enrichment IS DISTINCT FROM OLD.landing_enrichment THEN
                INSERT INTO test_enrichment_audit (flight_id, side, status)
                VALUES (NEW.id, 'landing', NEW.landing_enrichment);
            END IF;
            RETURN NULL;
        END $$;
        CREATE TRIGGER test_audit AFTER UPDATE ON flights
            FOR EACH ROW EXECUTE FUNCTION test_audit();""")


def config(**kw) -> WorkerConfig:
    base = dict(batch_size=5, visibility_timeout_s=30, poll_interval_s=0.05, listen=False,
                max_attempts=3, backoff_base_s=0.1, backoff_max_s=0.5, defer_delay_s=1,
                max_wait_s=30, pelias_url=None, pelias_connect_timeout_s=1,
                pelias_read_timeout_s=1, pelias_retries=1, pelias_retry_backoff_s=0.01,
                breaker_threshold=1000, breaker_reset_s=1, metrics_interval_s=0,
                regeocode_batch=0, regeocode_interval_s=0)
    base.update(kw)
    return WorkerConfig(**base)


def drain(db, cfg: WorkerConfig, threads: int = 1, stats: Stats | None = None) -> Stats:
    return run_workers(db.url("worker"), cfg, threads=threads, drain=True, stats=stats)


def cli(db, *args, env_extra=None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*SOAR, *args], capture_output=True, text=True,
                          env=_env(db, env_extra), timeout=kw.pop("timeout", 300), **kw)


def _env(db, extra=None) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SOAR_") and k != "PELIAS_URL"}
    env.update({"SOAR_DATABASE_URL": db.url(), "SOAR_WORKER_DATABASE_URL": db.url("worker")})
    env.update(extra or {})
    return env


def flight(c, fid) -> dict:
    cur = c.execute("""
        SELECT f.takeoff_enrichment, f.landing_enrichment, d.ident AS departure,
               f.takeoff_runway, f.takeoff_runway_inferred, a.ident AS arrival,
               f.landing_runway, f.landing_runway_inferred, f.enrichment_error,
               s.city AS start_city, s.country_code AS start_cc, s.source AS start_source,
               e.city AS end_city, e.country_code AS end_cc,
               f.start_location_id, f.end_location_id
          FROM flights f
          LEFT JOIN airports d ON d.id = f.departure_airport_id
          LEFT JOIN airports a ON a.id = f.arrival_airport_id
          LEFT JOIN locations s ON s.id = f.start_location_id
          LEFT JOIN locations e ON e.id = f.end_location_id
         WHERE f.id = %s""", (fid,))
    return dict(zip([d.name for d in cur.description], cur.fetchone(), strict=True))


def counts(c) -> dict:
    return {
        "queue": c.execute("SELECT count(*) FROM pgmq.q_flight_enrichment").fetchone()[0],
        "archived": c.execute("SELECT count(*) FROM pgmq.a_flight_enrichment").fetchone()[0],
        "dead": c.execute("SELECT count(*) FROM pgmq.q_flight_enrichment_dead").fetchone()[0],
    }


def fallbacks(c) -> int:
    return c.execute("SELECT count(*) FROM geocode_fallbacks").fetchone()[0]


def sources(c) -> dict[str, int]:
    """Flight ends by the source of their location."""
    rows = c.execute("""
        SELECT l.source, count(*) FROM flights f
          JOIN locations l ON l.id IN (f.start_location_id, f.end_location_id)
         GROUP BY 1""").fetchall()
    return dict(rows)


def install_poison(c, flight_id) -> None:
    """Test-only: every successful enrichment write of this flight fails (a message
    that fails each time, for reasons of its own); marking it failed works."""
    c.execute(f"""
        CREATE FUNCTION test_poison() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'test: poisoned flight';
        END $$;
        CREATE TRIGGER test_poison BEFORE UPDATE ON flights
            FOR EACH ROW WHEN (NEW.id = '{flight_id}'::uuid
                               AND (NEW.takeoff_enrichment = 'done'
                                    AND OLD.takeoff_enrichment <> 'done'
                                    OR NEW.landing_enrichment = 'done'
                                    AND OLD.landing_enrichment IS DISTINCT FROM 'done'))
            EXECUTE FUNCTION test_poison();""")


def read_counts(c) -> dict[tuple[str, str], int]:
    """(flight_id, event) -> read_ct of every archived message."""
    return {(m["flight_id"], m["event"]): n for m, n in c.execute(
        "SELECT message, read_ct FROM pgmq.a_flight_enrichment").fetchall()}


def audit(c) -> list[tuple]:
    return c.execute("SELECT flight_id, side, status FROM test_enrichment_audit "
                     "ORDER BY at").fetchall()


def lfpg_takeoff(c, address: int, aircraft_type: int = 9, landing_at: str | None = None):
    """A takeoff from CDG 26R (positions along the runway, track 265), optionally
    landing at an airport's reference point 1 h later."""
    start = (48.9988, 2.6102)                 # 26R threshold
    rows = [FixRow(T0 + timedelta(seconds=i), start[0] - i * 0.00005, start[1] - i * 0.00095,
                   120.0, 100.0 + 8 * i, 265.0) for i in range(40)]
    aid = refdata.add_aircraft(c, address, address_type=1, aircraft_type=aircraft_type)
    refdata.copy_fixes(c, aid, rows, source=2)
    landing = None
    if landing_at:
        lat, lon = c.execute("SELECT latitude_deg, longitude_deg FROM airports WHERE ident = %s",
                             (landing_at,)).fetchone()
        tl = T0 + timedelta(hours=1)
        refdata.copy_fixes(c, aid, [FixRow(tl + timedelta(seconds=i), lat, lon, 150.0, 60.0, 140.0)
                                    for i in range(-5, 25)], source=2)
        landing = (tl, lat, lon)
    return refdata.add_flight(c, aid, started_at=rows[0].time, source=2,
                              takeoff=(rows[15].time, rows[15].latitude, rows[15].longitude),
                              landing=landing,
                              last=(landing[0] + timedelta(seconds=24), landing[1], landing[2])
                              if landing else None)


# -- results ------------------------------------------------------------------------------

def test_cli_drain_enriches_afr34zg_and_koenigsdorf_offline(refdb, data_dir):
    with refdb.connect() as c:
        afr = refdata.add_afr34zg(c)
        winch = [refdata.add_winch_flight(c, data_dir, a) for a in ("DDEFF7", "DDAC7C")]
    out = cli(refdb, "worker", "--drain", "--threads", "2")
    assert out.returncode == 0, out.stderr
    assert "processed 6, retried 0, deferred 0, dead 0" in out.stdout
    with refdb.connect() as c:
        f = flight(c, afr)
        assert (f["takeoff_enrichment"], f["landing_enrichment"], f["enrichment_error"]) == (
            "done", "done", None)
        assert (f["departure"], f["takeoff_runway"], f["takeoff_runway_inferred"]) == (
            "LFPG", "26R", False)                      # westbound, track 265
        assert (f["arrival"], f["landing_runway"], f["landing_runway_inferred"]) == (
            "LFBO", "32R", False)                      # 14L/32R
        assert (f["start_city"], f["start_cc"], f["start_source"]) == (
            "Roissy-en-France", "FR", "places")
        assert (f["end_city"], f["end_cc"]) == ("Blagnac", "FR")
        for fid in winch:
            w = flight(c, fid)
            assert (w["departure"], w["arrival"]) == ("DE-0066", "DE-0066")
            assert w["takeoff_runway_inferred"] is True and w["landing_runway_inferred"] is True
            assert w["takeoff_runway"] in ("10", "27", "28")
            assert (w["start_city"], w["start_cc"]) == ("Konigsdorf", "DE")
        # One location row for the airfield, shared by both gliders and both ends.
        assert len({flight(c, fid)[k] for fid in winch
                    for k in ("start_location_id", "end_location_id")}) == 1
        assert counts(c) == {"queue": 0, "archived": 6, "dead": 0}
        assert sorted(s for _, _, s in audit(c)) == ["done"] * 6


def test_pelias_is_called_once_per_airport(refdb, fake):
    with refdb.connect() as c:
        fids = [lfpg_takeoff(c, 0x400000 + i, landing_at="LFBO") for i in range(3)]
    stats = drain(refdb, config(pelias_url=fake.url))
    assert stats.processed == 6
    # Two cells (CDG and Toulouse reference points), each geocoded once.
    assert fake.count == 2
    assert all(r["layers"] == "locality,localadmin,county,region,country" for r in fake.requests)
    with refdb.connect() as c:
        for fid in fids:
            f = flight(c, fid)
            assert (f["departure"], f["takeoff_runway"], f["arrival"]) == ("LFPG", "26R", "LFBO")
            # The fake answers from its French recording.
            assert (f["start_city"], f["start_cc"], f["start_source"]) == ("Bray-et-Lû", "FR",
                                                                           "pelias")
        assert c.execute("SELECT count(*) FROM locations").fetchone()[0] == 2


def test_airborne_start_timeout_and_landing_before_takeoff(refdb):
    with refdb.connect() as c:
        # First seen airborne over Königsdorf, then lost (timeout).
        aid = refdata.add_aircraft(c, 0x500001)
        rows = [FixRow(T0 + timedelta(seconds=10 * i), 47.8287 + i * 0.001, 11.465, 1500.0, 90.0, 0.0)
                for i in range(30)]
        refdata.copy_fixes(c, aid, rows)
        airborne = refdata.add_flight(c, aid, started_at=rows[0].time,
                                      last=(rows[-1].time, 45.514999, 3.2675),   # over Issoire
                                      timed_out_at=rows[-1].time + timedelta(hours=1))
        # A landing whose message is handled before the takeoff's.
        both = lfpg_takeoff(c, 0x500002, landing_at="LFBO")
        c.commit()
        takeoff_msg = c.execute("SELECT msg_id FROM pgmq.q_flight_enrichment "
                                "WHERE message->>'flight_id' = %s AND message->>'event' = 'takeoff'",
                                (str(both),)).fetchone()[0]
        # Hidden until the other three are done, however slow the machine: the
        # landing is handled first.
        c.execute("SELECT pgmq.set_vt('flight_enrichment', %s, %s)", (takeoff_msg, int(HOUR_S)))
        c.commit()
    with running_worker(refdb.url("worker"), config()) as stats:
        wait_until(lambda: stats.processed == 3, what="the three visible messages")
        with refdb.connect() as c:
            assert c.execute("SELECT count(*) FROM pgmq.q_flight_enrichment").fetchone()[0] == 1
            c.execute("SELECT pgmq.set_vt('flight_enrichment', %s, 0)", (takeoff_msg,))
        wait_until(lambda: stats.processed == 4, what="the takeoff, once visible")
    assert stats.processed == 4
    with refdb.connect() as c:
        a = flight(c, airborne)
        assert (a["takeoff_enrichment"], a["departure"], a["takeoff_runway"]) == ("done", None, None)
        assert a["start_city"] == "Konigsdorf"
        assert (a["landing_enrichment"], a["arrival"], a["landing_runway"]) == ("done", None, None)
        assert a["end_city"] == "Issoire"
        b = flight(c, both)
        assert (b["takeoff_enrichment"], b["landing_enrichment"]) == ("done", "done")
        assert (b["departure"], b["arrival"]) == ("LFPG", "LFBO")
        order = [(fid, side) for fid, side, _ in audit(c) if fid == both]
        assert order == [(both, "landing"), (both, "takeoff")]


def test_helicopter_gets_an_airport_but_no_runway(refdb):
    with refdb.connect() as c:
        fid = lfpg_takeoff(c, 0x600001, aircraft_type=3)
    drain(refdb, config())
    with refdb.connect() as c:
        f = flight(c, fid)
        assert (f["takeoff_enrichment"], f["departure"], f["takeoff_runway"],
                f["takeoff_runway_inferred"]) == ("done", "LFPG", None, None)


# -- waiting for fixes ----------------------------------------------------------------------

def _one(db, cfg) -> tuple[Worker, messages.Message]:
    """The queue's one message, once it is visible (a deferred one after its delay)."""
    w = Worker(db.url("worker"), cfg, make_geocoder(cfg), report_metrics=False)
    msgs = wait_until(lambda: messages.read(w._connection(), cfg.queue,
                                            cfg.visibility_timeout_s, 1),
                      what="the message to be visible")
    assert len(msgs) == 1
    return w, msgs[0]


def test_takeoff_waits_for_the_fixes_after_the_event(refdb):
    with refdb.connect() as c:
        start = (48.9988, 2.6102)
        rows = [FixRow(T0 + timedelta(seconds=i), start[0] - i * 0.00005, start[1] - i * 0.00095,
                       120.0, 100.0 + 8 * i, 265.0) for i in range(40)]
        aid = refdata.add_aircraft(c, 0x700001, address_type=1, aircraft_type=9)
        refdata.copy_fixes(c, aid, rows[:20])            # the writer has flushed up to +5 s
        fid = refdata.add_flight(c, aid, started_at=rows[0].time, source=2,
                                 takeoff=(rows[15].time, rows[15].latitude, rows[15].longitude))
    cfg = config(defer_delay_s=0.2, max_wait_s=30)
    w, msg = _one(refdb, cfg)
    assert w.handle(msg) == "deferred"
    with refdb.connect() as c:
        body, read_ct = c.execute("SELECT message, read_ct FROM pgmq.q_flight_enrichment").fetchone()
        assert body["deferrals"] == 1 and read_ct == 1
        assert flight(c, fid)["takeoff_enrichment"] == "pending"
    w, msg = _one(refdb, cfg)
    assert w.handle(msg) == "deferred"
    with refdb.connect() as c:
        refdata.copy_fixes(c, aid, rows[20:])            # the next flush
    w, msg = _one(refdb, cfg)
    assert msg.read_ct == 3 and msg.attempts == 1        # waiting is not failing
    assert w.handle(msg) == "processed"
    with refdb.connect() as c:
        f = flight(c, fid)
        assert (f["takeoff_enrichment"], f["departure"], f["takeoff_runway"]) == ("done", "LFPG",
                                                                                  "26R")


def test_takeoff_decides_on_partial_data_after_max_wait(refdb):
    with refdb.connect() as c:
        aid = refdata.add_aircraft(c, 0x700002, aircraft_type=1)
        rows = [FixRow(T0 + timedelta(seconds=i), 47.8287, 11.465, 600.0, 80.0, 280.0)
                for i in range(5)]                        # coverage lost right after takeoff
        refdata.copy_fixes(c, aid, rows)
        fid = refdata.add_flight(c, aid, started_at=T0, takeoff=(T0, 47.8287, 11.465))
    # max_wait leaves room for a slow start on a loaded machine before the first read.
    stats = drain(refdb, config(defer_delay_s=0.3, max_wait_s=3.0))
    assert stats.processed == 1 and stats.deferred >= 2
    with refdb.connect() as c:
        f = flight(c, fid)
        assert (f["takeoff_enrichment"], f["departure"], f["takeoff_runway"]) == ("done", "DE-0066",
                                                                                  "28")


# -- failures ---------------------------------------------------------------------------------

FAILING_READ_TIMEOUT_S = 0.3      # below the fake's delay in mode slow


def _pelias_failing_falls_back(refdb, fake, mode: str):
    """Pelias failing in `mode` while the worker drains one flight: both ends get the
    offline place at once (source 'places', listed as a fallback), no message waits or
    dies. Returns the flight's id."""
    if mode == "slow":
        fake.delay_s = 0.6
    else:
        fake.mode = mode
    with refdb.connect() as c:
        fid = lfpg_takeoff(c, 0x800001, landing_at="LFBO")
    dead_before = metrics.MESSAGES_DEAD._value.get()
    fallback_before = metrics.GEOCODE_LOOKUPS.labels("fallback")._value.get()
    cfg = config(pelias_url=fake.url, pelias_read_timeout_s=FAILING_READ_TIMEOUT_S,
                 pelias_deadline_s=5, max_attempts=3)
    stats = drain(refdb, cfg)
    assert (stats.processed, stats.dead, stats.retried, stats.fallbacks) == (2, 0, 0, 2)
    assert metrics.MESSAGES_DEAD._value.get() == dead_before
    assert metrics.GEOCODE_LOOKUPS.labels("fallback")._value.get() == fallback_before + 2
    # Two cells, each asked once per message; retried only where retrying can help.
    tries = {"error": 2, "slow": 2, "down": 2, "malformed": 1, "nested": 1, "huge": 1}[mode]
    assert fake.count == 2 * tries
    with refdb.connect() as c:
        assert counts(c) == {"queue": 0, "archived": 2, "dead": 0}
        f = flight(c, fid)
        assert (f["takeoff_enrichment"], f["landing_enrichment"], f["enrichment_error"]) == (
            "done", "done", None)
        assert (f["departure"], f["takeoff_runway"], f["arrival"]) == ("LFPG", "26R", "LFBO")
        assert (f["start_city"], f["start_cc"], f["start_source"]) == (
            "Roissy-en-France", "FR", "places")
        assert (f["end_city"], f["end_cc"]) == ("Blagnac", "FR")
        assert sources(c) == {"places": 2}
        assert fallbacks(c) == 2
    return fid


def _regeocoded_with_pelias(refdb, fid, calls_before: int, fake) -> None:
    """After re-geocoding with a Pelias that answers: one call per cell, both ends
    re-pointed to Pelias' places, the offline rows kept as the cells' fallback."""
    assert fake.count == calls_before + 2
    with refdb.connect() as c:
        f = flight(c, fid)
        assert (f["takeoff_enrichment"], f["landing_enrichment"]) == ("done", "done")
        assert (f["start_city"], f["start_source"]) == ("Bray-et-Lû", "pelias")
        assert f["end_cc"] == "FR"
        assert sources(c) == {"pelias": 2}
        assert fallbacks(c) == 0
        # The offline rows stay as the cells' fallback; the Pelias rows are new rows.
        assert c.execute("SELECT source, count(*) FROM locations GROUP BY 1 ORDER BY 1"
                         ).fetchall() == [("pelias", 2), ("places", 2)]


@pytest.mark.parametrize("mode", ["error", "malformed", "slow", "down", "nested", "huge"])
def test_pelias_failing_falls_back_to_places_then_regeocode_restores_pelias(refdb, fake, mode):
    """No message waits or dies because Pelias fails: each flight end gets the offline
    place at once; re-geocoding (what `soar queue regeocode` and the worker run) keeps
    every place listed while Pelias still fails, and later replaces each with Pelias'
    answer and re-points the flight. (The command itself, its words and exit codes:
    test_regeocode_command_reports_failing_and_restored_pelias.)"""
    fid = _pelias_failing_falls_back(refdb, fake, mode)
    failing = make_geocoder(config(pelias_url=fake.url, pelias_read_timeout_s=FAILING_READ_TIMEOUT_S,
                                   pelias_deadline_s=5))
    with refdb.connect("worker", autocommit=True) as c:
        # Still failing: it stops, saying why, and keeps every place listed.
        result = regeocode.regeocode(c, failing, None)
        assert (result.locations, result.flight_ends, result.left) == (0, 0, 2)
        assert result.error
        assert sources(c) == {"places": 2} and fallbacks(c) == 2
        # The service is back: one call per cell, both ends re-pointed.
        fake.mode, fake.delay_s = "ok", 0
        before = fake.count
        answering = make_geocoder(config(pelias_url=fake.url))
        assert regeocode.regeocode(c, answering, 1) == (1, 1, 1, None)
        assert sources(c) == {"pelias": 1, "places": 1} and fallbacks(c) == 1
        assert regeocode.regeocode(c, answering, None) == (1, 1, 0, None)
        _regeocoded_with_pelias(refdb, fid, before, fake)
        assert regeocode.regeocode(c, answering, None) == (0, 0, 0, None)
    assert fake.count == before + 2


def test_regeocode_command_reports_failing_and_restored_pelias(refdb, fake):
    """`soar queue status` and `soar queue regeocode` after Pelias failed (slow: the
    command's read timeout comes from the environment, PELIAS_READ_TIMEOUT, or the
    fake would answer in time): one line naming the fix and exit 2 while it still
    fails, the counts once it answers."""
    fid = _pelias_failing_falls_back(refdb, fake, "slow")
    status = cli(refdb, "queue", "status")
    assert status.returncode == 0, status.stderr
    assert "flight_enrichment_dead: 0 message(s)" in status.stdout
    assert "geocoding fallbacks: 2 offline place(s) waiting for Pelias" in status.stdout

    # Still failing: the command says so, and keeps every place listed.
    out = cli(refdb, "queue", "regeocode",
              env_extra={"PELIAS_URL": fake.url, "PELIAS_READ_TIMEOUT": str(FAILING_READ_TIMEOUT_S),
                         "SOAR_WORKER_PELIAS_DEADLINE_S": "5"})
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "re-geocoded 0 fallback place(s)" in out.stdout and "2 left" in out.stdout
    assert "soar queue regeocode" in out.stderr
    # The service is back: one call per cell, both ends re-pointed.
    fake.mode, fake.delay_s = "ok", 0
    before = fake.count
    out = cli(refdb, "queue", "regeocode", "--limit", "1", env_extra={"PELIAS_URL": fake.url})
    assert out.returncode == 0, out.stderr
    assert ("re-geocoded 1 fallback place(s) with Pelias, 1 flight end(s) re-pointed; 1 left"
            in out.stdout)
    with refdb.connect() as c:
        assert sources(c) == {"pelias": 1, "places": 1} and fallbacks(c) == 1
    out = cli(refdb, "queue", "regeocode", env_extra={"PELIAS_URL": fake.url})
    assert out.returncode == 0, out.stderr
    assert ("re-geocoded 1 fallback place(s) with Pelias, 1 flight end(s) re-pointed; 0 left"
            in out.stdout)
    _regeocoded_with_pelias(refdb, fid, before, fake)
    out = cli(refdb, "queue", "regeocode", env_extra={"PELIAS_URL": fake.url})
    assert out.returncode == 0 and "re-geocoded 0 fallback place(s)" in out.stdout
    assert fake.count == before + 2


def test_regeocode_needs_a_pelias_url(refdb):
    out = cli(refdb, "queue", "regeocode")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "PELIAS_URL" in out.stderr


def test_failures_end_dead_and_failed_then_retry_dead_recovers(refdb):
    """A message that fails for reasons of its own (here: its flight's write) is
    retried with backoff, then dead-lettered; `retry-dead` brings it back."""
    with refdb.connect() as c:
        fid = lfpg_takeoff(c, 0x800002, landing_at="LFBO")
        install_poison(c, fid)
    dead_before = metrics.MESSAGES_DEAD._value.get()
    cfg = config(max_attempts=3)
    stats = drain(refdb, cfg)
    assert (stats.processed, stats.dead, stats.retried) == (0, 2, 4)
    assert metrics.MESSAGES_DEAD._value.get() == dead_before + 2
    with refdb.connect() as c:
        assert counts(c) == {"queue": 0, "archived": 2, "dead": 2}
        dead = c.execute("SELECT message FROM pgmq.q_flight_enrichment_dead ORDER BY msg_id"
                         ).fetchall()
        # Both at once (separate slots): in either order.
        assert sorted((d[0]["event"], d[0]["attempts"]) for d in dead) == [("landing", 3),
                                                                            ("takeoff", 3)]
        assert all("test: poisoned flight" in d[0]["error"] and d[0]["flight_id"] == str(fid)
                   for d in dead)
        # Each was read exactly as often as it was tried.
        assert sorted(read_counts(c).values()) == [3, 3]
    status = cli(refdb, "queue", "status")
    assert status.returncode == 0 and "flight_enrichment_dead: 2 message(s)" in status.stdout

    with refdb.connect() as c:
        c.execute("DROP TRIGGER test_poison ON flights")
    out = cli(refdb, "queue", "retry-dead")
    assert out.returncode == 0 and "re-enqueued 2 message(s)" in out.stdout
    with refdb.connect() as c:
        assert counts(c)["dead"] == 0 and counts(c)["queue"] == 2
    assert drain(refdb, cfg).processed == 2
    with refdb.connect() as c:
        f = flight(c, fid)
        assert (f["takeoff_enrichment"], f["landing_enrichment"], f["enrichment_error"]) == (
            "done", "done", None)
        assert (f["departure"], f["arrival"], f["start_city"]) == ("LFPG", "LFBO",
                                                                  "Roissy-en-France")


def test_circuit_breaker_spares_a_dead_pelias(refdb, fake):
    fake.mode = "error"
    with refdb.connect() as c:
        for i in range(4):
            lfpg_takeoff(c, 0x810000 + i, landing_at="LFBO")
    open_before = metrics.PELIAS_FAILURE.labels("circuit_open")._value.get()
    # One slot: the calls come one after the other, so which are refused is exact
    # (test_worker_concurrency covers a hanging Pelias with many slots).
    cfg = config(pelias_url=fake.url, pelias_retries=0, breaker_threshold=2, breaker_reset_s=60,
                 max_attempts=2, concurrency=1)
    stats = drain(refdb, cfg)
    assert (stats.processed, stats.dead, stats.fallbacks) == (8, 0, 8)
    # After 2 failed calls the circuit opened: the other 6 fell back without a request.
    assert fake.count == 2
    assert metrics.PELIAS_FAILURE.labels("circuit_open")._value.get() == open_before + 6
    with refdb.connect() as c:
        assert counts(c) == {"queue": 0, "archived": 8, "dead": 0}
        assert sources(c) == {"places": 8}
        assert fallbacks(c) == 2                         # two cells


def test_pelias_down_longer_than_retries_and_breaker(refdb, fake):
    """The fault test: Pelias is down (connections refused) while a running worker
    enriches 10 flights, through several open/half-open cycles of its breaker. Every
    flight end gets its place from the fallback, none is dead-lettered; when Pelias
    is back, the worker itself re-geocodes each fallback place once and re-points
    every flight end. The result equals an undisturbed run of the same flights."""
    arrivals = ["LFBO", "LFHA", "DE-0066", "EDDM", "LFLC"]
    fake.stop()                                          # down: connection refused
    open_before = metrics.PELIAS_FAILURE.labels("circuit_open")._value.get()
    cfg = config(pelias_url=fake.url, pelias_retries=1, breaker_threshold=2,
                 breaker_reset_s=0.3, regeocode_batch=2, regeocode_interval_s=0.1,
                 max_attempts=2)
    stop = threading.Event()
    stats = Stats()
    t = threading.Thread(target=run_workers, args=(refdb.url("worker"), cfg),
                         kwargs=dict(threads=2, stop=stop, stats=stats), daemon=True)
    t.start()
    try:
        with refdb.connect() as c:
            outage = {lfpg_takeoff(c, 0xE00000 + i, landing_at=arrivals[i % 5]): arrivals[i % 5]
                      for i in range(10)}
        with refdb.connect() as c:
            wait_until(lambda: counts(c)["archived"] == 20,
                       what="20 messages enriched during the outage")
            assert counts(c) == {"queue": 0, "archived": 20, "dead": 0}
            assert sources(c) == {"places": 20}
            assert fallbacks(c) == 6                     # LFPG and five arrival cells
            for fid, arrival in outage.items():
                f = flight(c, fid)
                assert (f["takeoff_enrichment"], f["landing_enrichment"]) == ("done", "done")
                assert (f["departure"], f["takeoff_runway"], f["arrival"]) == ("LFPG", "26R",
                                                                              arrival)
                assert (f["start_city"], f["start_source"]) == ("Roissy-en-France", "places")
        assert (stats.processed, stats.dead, stats.retried, stats.fallbacks) == (20, 0, 0, 20)
        assert metrics.PELIAS_FAILURE.labels("circuit_open")._value.get() > open_before
        assert fake.count == 0                           # nothing reached it: it was down

        fake.start()                                     # back, on the same port
        with refdb.connect() as c:
            wait_until(lambda: fallbacks(c) == 0 and sources(c) == {"pelias": 20},
                       what="the worker to re-geocode the fallback places")
    finally:
        stop.set()
        t.join(60)
    assert not t.is_alive()
    assert fake.count == 6                               # once per cell
    assert stats.regeocoded == 6 and stats.dead == 0

    # The undisturbed run: the same flights while Pelias answers.
    with refdb.connect() as c:
        control = {lfpg_takeoff(c, 0xE10000 + i, landing_at=arrivals[i % 5]): arrivals[i % 5]
                   for i in range(10)}
    assert drain(refdb, config(pelias_url=fake.url)).processed == 20
    assert fake.count == 6                               # all cached by the re-geocoding
    keys = ("takeoff_enrichment", "landing_enrichment", "departure", "takeoff_runway",
            "takeoff_runway_inferred", "arrival", "landing_runway", "landing_runway_inferred",
            "enrichment_error", "start_city", "start_cc", "start_source", "end_city", "end_cc",
            "start_location_id", "end_location_id")
    with refdb.connect() as c:
        by_arrival = {arrival: flight(c, fid) for fid, arrival in control.items()}
        for fid, arrival in outage.items():
            got, want = flight(c, fid), by_arrival[arrival]
            assert {k: got[k] for k in keys} == {k: want[k] for k in keys}
        assert counts(c) == {"queue": 0, "archived": 40, "dead": 0}
        assert sources(c) == {"pelias": 40}
        # Every end became 'done' exactly once; re-pointing changed the location only
        # (the audit logs a takeoff row for each start-location change of a done end).
        rows = [(f, side, st) for f, side, st in audit(c) if f in outage]
        assert {st for _, _, st in rows} == {"done"}
        assert sorted(Counter(f for f, side, _ in rows if side == "landing").values()) == [1] * 10
        assert sorted(Counter(f for f, side, _ in rows if side == "takeoff").values()) == [2] * 10


def test_malformed_and_orphan_messages_are_dead_lettered_at_once(refdb):
    with refdb.connect() as c:
        for body in ('{"foo": 1}', '{"flight_id": "not-a-uuid", "event": "takeoff"}',
                     f'{{"flight_id": "{uuid.uuid4()}", "event": "takeoff"}}',
                     f'{{"flight_id": "{uuid.uuid4()}", "event": "lunch"}}'):
            c.execute("SELECT pgmq.send('flight_enrichment', %s::jsonb)", (body,))
    stats = drain(refdb, config())
    assert stats.dead == 4 and stats.retried == 0
    with refdb.connect() as c:
        errors = sorted(r[0] for r in c.execute(
            "SELECT message->>'error' FROM pgmq.q_flight_enrichment_dead"))
        assert any("no valid flight_id" in e for e in errors)
        assert any("not found" in e for e in errors)
        assert any("unknown event 'lunch'" in e for e in errors)
        assert all(r[0] == 1 for r in c.execute(
            "SELECT (message->>'attempts')::int FROM pgmq.q_flight_enrichment_dead"))


def test_a_message_that_keeps_crashing_workers_goes_dead(refdb):
    with refdb.connect() as c:
        fid = lfpg_takeoff(c, 0x820001)
        c.commit()
        for _ in range(4):          # four deliveries that never finished
            c.execute("SELECT * FROM pgmq.read('flight_enrichment', 0, 1)")
    stats = drain(refdb, config(max_attempts=3))
    assert stats.dead == 1
    with refdb.connect() as c:
        error = c.execute("SELECT message->>'error' FROM pgmq.q_flight_enrichment_dead").fetchone()[0]
        assert "delivered 5 times without completing" in error
        f = flight(c, fid)
        assert f["takeoff_enrichment"] == "failed" and "without completing" in f["enrichment_error"]


@pytest.mark.parametrize("slots", [1, 3])
def test_killed_worker_costs_only_its_own_message_an_attempt(refdb, fake, slots):
    """A worker killed inside a Pelias call: the messages it had in hand reappear
    after their (extended) visibility timeout, read twice; those queued behind were
    never read by the dead worker and are read once. With one slot it had one
    message in hand; with three, all three (the same airport cell: one Pelias call,
    the other two waiting for its answer)."""
    fake.delay_s = 30                     # the worker will hang inside the Pelias call
    with refdb.connect() as c:
        fids = [lfpg_takeoff(c, 0x830001 + slots * 0x10 + i) for i in range(3)]
    proc = subprocess.Popen([*SOAR, "worker", "--visibility-timeout", "2", "--no-listen",
                             "--poll-interval", "0.1", "--batch-size", "3",
                             "--concurrency", str(slots)],
                            env=_env(refdb, {"PELIAS_URL": fake.url, "PELIAS_READ_TIMEOUT": "60",
                                             "SOAR_WORKER_PELIAS_DEADLINE_S": "3"}),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: fake.count > 0, what="the worker to call Pelias")
        with refdb.connect(autocommit=True) as c:
            wait_until(lambda: c.execute("SELECT count(*) FROM pgmq.q_flight_enrichment "
                                         "WHERE read_ct = 1").fetchone()[0] == slots,
                       what="the messages in hand")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert fake.count == 1
    fake.delay_s = 0
    with refdb.connect() as c:
        assert counts(c) == {"queue": 3, "archived": 0, "dead": 0}   # invisible, not lost
        assert sorted(r[0] for r in c.execute("SELECT read_ct FROM pgmq.q_flight_enrichment")
                      ) == [0] * (3 - slots) + [1] * slots
    stats = drain(refdb, config(pelias_url=fake.url))
    assert stats.processed == 3 and stats.lost == 0
    with refdb.connect() as c:
        for fid in fids:
            f = flight(c, fid)
            assert (f["takeoff_enrichment"], f["departure"], f["start_source"]) == (
                "done", "LFPG", "pelias")
        reads = read_counts(c)
        assert sorted(reads.values()) == [1] * (3 - slots) + [2] * slots
        assert reads[(str(fids[0]), "takeoff")] == 2     # the one in hand when it died


def test_a_slow_message_does_not_cost_its_batch_mates_attempts(refdb, fake):
    """Two workers, a 2 s visibility timeout, and one message whose Pelias call takes
    3 s. Its visibility is extended before the call, and the messages behind it are
    not held by the slow worker: every message is read exactly once, none is lost.
    (Read as a batch of 3 sharing one timeout, the slow message's batch-mates
    reappeared and were read twice.)"""
    lfpg = (49.009722, 2.547778)              # CDG's reference point: the takeoffs' cell
    fake.slow_points = [(lfpg[0], lfpg[1], 3.0)]
    with refdb.connect() as c:
        fids = [lfpg_takeoff(c, 0x840001 + i, landing_at=a)
                for i, a in enumerate(("LFBO", "LFHA", "EDDM"))]
    stats = drain(refdb, config(pelias_url=fake.url, batch_size=3, visibility_timeout_s=2,
                                pelias_read_timeout_s=10, pelias_deadline_s=20), threads=2)
    assert (stats.processed, stats.lost, stats.retried, stats.dead, stats.fallbacks) == (
        6, 0, 0, 0, 0)
    with refdb.connect() as c:
        assert counts(c) == {"queue": 0, "archived": 6, "dead": 0}
        assert sorted(read_counts(c).values()) == [1] * 6
        for fid in fids:
            f = flight(c, fid)
            assert (f["takeoff_enrichment"], f["landing_enrichment"]) == ("done", "done")
            assert f["start_source"] == "pelias"
    assert any(abs(float(r["point.lat"]) - lfpg[0]) < 0.01 for r in fake.requests)


def test_a_failing_message_does_not_cost_its_batch_mates_attempts(refdb):
    """One message fails on every try (its flight's write is poisoned): it alone uses
    up its attempts and is dead-lettered; the others are read once each."""
    with refdb.connect() as c:
        poisoned = lfpg_takeoff(c, 0x850001)
        others = [lfpg_takeoff(c, 0x850002 + i) for i in range(4)]
        install_poison(c, poisoned)
    stats = drain(refdb, config(batch_size=5, max_attempts=3))
    assert (stats.processed, stats.dead, stats.retried) == (4, 1, 2)
    with refdb.connect() as c:
        reads = read_counts(c)
        assert reads.pop((str(poisoned), "takeoff")) == 3
        assert sorted(reads.values()) == [1] * 4
        dead = c.execute("SELECT message FROM pgmq.q_flight_enrichment_dead").fetchone()[0]
        assert (dead["flight_id"], dead["attempts"]) == (str(poisoned), 3)
        assert all(flight(c, f)["takeoff_enrichment"] == "done" for f in others)


# -- concurrency ------------------------------------------------------------------------------

def test_several_workers_enrich_every_flight_exactly_once(refdb, fake, data_dir):
    """Two worker processes (2 threads each) and two threads in this process drain one
    queue of 60 flights (120 messages) against a slightly slow Pelias."""
    fake.delay_s = 0.02
    airports_ = ["LFBO", "LFHA", "DE-0066", "EDDM", "LFLC"]
    with refdb.connect() as c:
        fids = [lfpg_takeoff(c, 0x900000 + i, landing_at=airports_[i % len(airports_)])
                for i in range(60)]
    env = {"PELIAS_URL": fake.url, "SOAR_WORKER_BATCH_SIZE": "3",
           "SOAR_WORKER_POLL_INTERVAL_S": "0.05"}
    procs = [subprocess.Popen([*SOAR, "worker", "--drain", "--threads", "2"],
                              env=_env(refdb, env), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    stats = drain(refdb, config(pelias_url=fake.url, batch_size=3), threads=2)
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert len(stats.committed) == len(set(stats.committed))
    with refdb.connect() as c:
        assert counts(c) == {"queue": 0, "archived": 120, "dead": 0}
        archived = [r[0] for r in c.execute("SELECT msg_id FROM pgmq.a_flight_enrichment")]
        assert len(archived) == len(set(archived)) == 120
        # Each end of each flight became 'done' exactly once, in committed effect.
        rows = audit(c)
        assert len(rows) == 120
        assert {(f, s) for f, s, st in rows if st == "done"} == {
            (f, s) for f in fids for s in ("takeoff", "landing")}
        for fid in fids:
            f = flight(c, fid)
            assert (f["takeoff_enrichment"], f["landing_enrichment"]) == ("done", "done")
            assert f["departure"] == "LFPG" and f["arrival"] in airports_
        # One location per cell, however many workers raced for it.
        assert c.execute("SELECT count(*) FROM locations").fetchone()[0] == 6
    # Each process reported its share; together with ours, every message once.
    shares = [int(o[0].split("processed ")[1].split(",")[0]) for o in outs]
    assert sum(shares) + stats.processed == 120


def test_a_worker_that_loses_its_message_rolls_back(refdb):
    """Processing takes longer than the visibility timeout (the fixes table is locked
    while the worker reads it): the message is handed to another worker meanwhile;
    the late one must not write."""
    with refdb.connect() as c:
        fid = lfpg_takeoff(c, 0xA00001)
    stats = Stats()
    locker = psycopg.connect(refdb.url())
    locker.execute("LOCK TABLE fixes IN ACCESS EXCLUSIVE MODE")
    t = threading.Thread(target=drain, args=(refdb, config(visibility_timeout_s=1, max_attempts=5)),
                         kwargs=dict(threads=2, stats=stats), daemon=True)
    t.start()
    try:
        with refdb.connect(autocommit=True) as c:
            # Both workers are stuck on the lock once the message was read twice.
            wait_until(lambda: c.execute("SELECT max(read_ct) FROM pgmq.q_flight_enrichment"
                                         ).fetchone()[0] == 2, what="a second delivery")
    finally:
        locker.rollback()
        locker.close()
    t.join(120)
    assert not t.is_alive()
    assert stats.processed == 1 and stats.lost == 1
    with refdb.connect() as c:
        assert counts(c) == {"queue": 0, "archived": 1, "dead": 0}
        assert [(s, st) for _, s, st in audit(c)] == [("takeoff", "done")]
        assert flight(c, fid)["takeoff_enrichment"] == "done"
        assert c.execute("SELECT count(*) FROM locations").fetchone()[0] == 1


def test_workers_through_pgbouncer_in_transaction_mode(refdb, pg_cluster):
    """No prepared statements, no session state: the worker runs through PgBouncer
    (LISTEN would not: it is off in drain mode, and a hint only otherwise)."""
    from soar.db.pgbouncer import Bouncer

    bouncer = Bouncer(pg_cluster, free_port())
    bouncer.start()
    try:
        with refdb.connect() as c:
            fids = [lfpg_takeoff(c, 0xA10000 + i, landing_at="LFBO") for i in range(6)]
        stats = run_workers(bouncer.url(refdb.name, user="soar_worker"), config(), threads=3,
                            drain=True)
        assert stats.processed == 12 and len(set(stats.committed)) == 12
    finally:
        bouncer.stop()
    with refdb.connect() as c:
        for f in fids:
            r = flight(c, f)
            assert (r["takeoff_enrichment"], r["landing_enrichment"]) == ("done", "done")
            assert (r["departure"], r["takeoff_runway"], r["arrival"]) == ("LFPG", "26R", "LFBO")
        assert counts(c) == {"queue": 0, "archived": 12, "dead": 0}
        assert len(audit(c)) == 12


# -- wake-up, metrics, CLI ----------------------------------------------------------------------

def test_listen_wakes_an_idle_worker(refdb):
    """Only a notification can wake it: polling alone would take an hour."""
    stop = threading.Event()
    stats = Stats()
    cfg = config(listen=True, poll_interval_s=HOUR_S)
    t = threading.Thread(target=run_workers, args=(refdb.url("worker"), cfg),
                         kwargs=dict(threads=1, stop=stop, stats=stats), daemon=True)
    t.start()
    try:
        with refdb.connect() as c:
            c.autocommit = True
            # Idle: the reader polled the empty queue, the listener listens.
            idle = """SELECT count(*) FILTER (WHERE application_name = 'soar-worker-listen'
                                                AND query LIKE 'LISTEN%%' AND state = 'idle'),
                             count(*) FILTER (WHERE application_name = 'soar-worker'
                                                AND query LIKE '%%pgmq.read%%')
                        FROM pg_stat_activity WHERE datname = current_database()"""
            wait_until(lambda: all(c.execute(idle).fetchone()), what="the worker idle, listening")
            lfpg_takeoff(c, 0xB00001)
        wait_until(lambda: stats.processed, what="the notified worker to process the takeoff")
        assert stats.processed == 1
    finally:
        stop.set()
        t.join(CEILING_S)
    assert not t.is_alive()


def test_metrics_are_exported(refdb):
    with refdb.connect() as c:
        lfpg_takeoff(c, 0xC00001, landing_at="LFBO")
    before = metrics.MESSAGES_PROCESSED.labels("takeoff")._value.get()
    drain(refdb, config(metrics_interval_s=0))
    assert metrics.MESSAGES_PROCESSED.labels("takeoff")._value.get() == before + 1
    port = free_port()
    metrics.serve(port)
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    for name in ('soar_worker_enrichment_latency_ms_bucket{event="takeoff"',
                 'soar_worker_enrichment_latency_ms_count{event="landing"}',
                 "soar_worker_pelias_latency_ms_bucket", "soar_worker_pelias_success_total",
                 "soar_worker_pelias_failure_total", 'soar_worker_messages_processed_total{event=',
                 "soar_worker_messages_retried_total", "soar_worker_messages_dead_total",
                 'soar_worker_queue_depth{queue="flight_enrichment"}',
                 'soar_worker_queue_oldest_age_seconds{queue="flight_enrichment"}'):
        assert name in text, name
    assert generate_latest()


def test_queue_status_cli(refdb):
    with refdb.connect() as c:
        lfpg_takeoff(c, 0xD00001, landing_at="LFBO")
        c.execute("SELECT pgmq.send('flight_enrichment_dead', '{\"flight_id\": \"x\"}'::jsonb)")
    out = cli(refdb, "queue", "status")
    assert out.returncode == 0, out.stderr
    assert "flight_enrichment: 2 message(s), 2 visible now, oldest" in out.stdout
    assert "flight_enrichment_dead: 1 message(s)" in out.stdout


def test_worker_cli_names_missing_prerequisites(database):
    out = cli(database, "worker", "--drain")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "no airports loaded" in out.stderr and "soar import airports" in out.stderr
    with database.connect() as c:
        c.execute("INSERT INTO airports (id, ident, type, name, latitude_deg, longitude_deg) "
                  "VALUES (1, 'X', 'small_airport', 'X', 0, 0)")
    out = cli(database, "worker", "--drain")
    assert out.returncode == 2 and "soar import places" in out.stderr
    out = cli(database, "worker", "--drain", env_extra={"PELIAS_URL": "http://127.0.0.1:9"})
    assert out.returncode == 0, out.stderr                 # Pelias needs no places; queue empty


def test_worker_warns_about_a_backlog_and_dead_letters(refdb, caplog):
    """Monitoring without cron: the worker's own periodic check logs a warning."""
    with refdb.connect() as c:
        lfpg_takeoff(c, 0xD00002, landing_at="LFBO")
        c.execute("SELECT pgmq.send('flight_enrichment_dead', '{\"flight_id\": \"x\"}'::jsonb)")
    with caplog.at_level("WARNING", logger="soar_worker.loop"):
        drain(refdb, config(backlog_warning_s=0))
    warnings = [r.getMessage() for r in caplog.records if "queue flight_enrichment" in r.getMessage()]
    assert warnings and "1 dead" in warnings[0]
    caplog.clear()
    with refdb.connect() as c:
        c.execute("SELECT pgmq.purge_queue('flight_enrichment_dead')")
    with caplog.at_level("WARNING", logger="soar_worker.loop"):
        drain(refdb, config(backlog_warning_s=3600))
    assert not [r for r in caplog.records if "queue flight_enrichment" in r.getMessage()]
