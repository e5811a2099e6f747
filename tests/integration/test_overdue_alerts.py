"""Overdue alerts end to end: real recordings (a Königsdorf winch launch cut before its
landing, AFR34ZG cut in cruise and in descent) shifted to the last hour, through the
real flight tracker and its statements as the ingest role, timed out by data time as
ingest does; then a real worker (the soar_worker role) evaluates, raises, clears and
delivers to a real HTTP receiver on loopback (tests/helpers/fake_webhook.py), failing
and slow ones included. Exact counts: alerts, notices, POSTs, archived and dead
messages, and the evaluation outcomes (soar_worker_overdue_checks_total)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from datetime import datetime, timedelta

import psycopg
import pytest
from prometheus_client import REGISTRY

from helpers.fake_webhook import FakeWebhook
from helpers.recordings import afr34zg_fixes, winch_fixes
from helpers.simulator import copy_fix
from helpers.wait import wait_until
from helpers.worker import running_worker
from soar.records import split_aircraft_id
from soar.tracker import FlightTracker
from soar.tracker import ops as flight_ops
from soar.tracker.store import write_op
from soar.units import UTC
from soar_worker import messages
from soar_worker.config import WorkerConfig
from soar_worker.loop import run_workers
from soar_worker.metrics import Stats

SOAR = [sys.executable, "-m", "soar"]
GLIDER = 0xDDEFF7
CUT = datetime(2016, 7, 2, 10, 49, 43, tzinfo=UTC)     # 623 m, 22 m above DE-0066, sinking
SECRETS = ("s3cr3t-token", "hunter2")                  # in the webhook URL: never shown

FIX_COLUMNS = ("time", "received_at", "aircraft_id", "receiver_id", "source", "latitude",
               "longitude", "altitude_m", "ground_speed_kmh", "track_deg", "climb_rate_ms",
               "turn_rate_degs", "on_ground", "signal_db", "flight_id")


# -- helpers ----------------------------------------------------------------------------

def config(**kw) -> WorkerConfig:
    base = dict(batch_size=5, visibility_timeout_s=30, poll_interval_s=0.05, listen=False,
                max_attempts=3, backoff_base_s=0.1, backoff_max_s=0.5, defer_delay_s=1,
                max_wait_s=30, pelias_url=None, metrics_interval_s=0, regeocode_batch=0,
                concurrency=1, alert_max_attempts=5, alert_webhook_deadline_s=5.0,
                alert_sweep_interval_s=0, srtm_dir=None)
    base.update(kw)
    return WorkerConfig(**base)


def drain(db, cfg: WorkerConfig) -> Stats:
    return run_workers(db.url("worker"), cfg, drain=True)


def shifted(fixes, last_heard: datetime):
    """The fixes moved in time so the last one is at `last_heard` (real data, now)."""
    dt = last_heard - fixes[-1].time
    return [copy_fix(f, time=f.time + dt, received_at=f.received_at + dt) for f in fixes]


def store(db, fixes, *, time_out: bool = True, registration: str | None = None,
          tracker: FlightTracker | None = None) -> list:
    """What ingest does with these fixes: aircraft and receivers upserted, the real
    tracker's flight ops (then its timeout sweep 61 min after the last fix, by data
    time) written one statement each as soar_ingest, and the fixes copied with their
    receivers, in one transaction. Returns the ops."""
    with db.connect() as admin:
        for aid, typ in {f.aircraft_id: f.aircraft_type for f in fixes}.items():
            admin.execute("INSERT INTO aircraft (id, address, address_type, aircraft_type, "
                          "registration) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                          (aid, *reversed(split_aircraft_id(aid)), typ, registration))
        receivers = {}
        for name in {f.receiver for f in fixes}:
            receivers[name] = admin.execute(
                "INSERT INTO receivers (name) VALUES (%s) ON CONFLICT (name) DO UPDATE "
                "SET last_seen = now() RETURNING id", (name,)).fetchone()[0]
    tracker = tracker or FlightTracker()
    ops = []
    for f in fixes:
        ops += tracker.process(f)
    if time_out and fixes:
        ops += tracker.expire(fixes[-1].time + timedelta(minutes=61))
    with db.connect("ingest") as c, c.transaction(), c.cursor() as cur:
        for op in ops:
            write_op(cur, op)
        with cur.copy(f"COPY fixes ({', '.join(FIX_COLUMNS)}) FROM STDIN") as cp:
            for f in fixes:
                cp.write_row((f.time, f.received_at, f.aircraft_id, receivers[f.receiver],
                              int(f.source), f.latitude, f.longitude, f.altitude_m,
                              f.ground_speed_kmh, f.track_deg, f.climb_rate_ms,
                              f.turn_rate_degs, f.on_ground, f.signal_db, f.flight_id))
    return ops


def glider_lost(data_dir, minutes_ago: float = 61.0):
    """FLRDDEFF7's winch launch with the broken rope, cut 40 s before it landed: last
    heard low over the field and sinking, `minutes_ago` minutes ago."""
    fixes = [f for f in winch_fixes(data_dir) if f.address == GLIDER and f.time <= CUT]
    return shifted(fixes, datetime.now(UTC) - timedelta(minutes=minutes_ago))


def alerts(c) -> list[dict]:
    cur = c.execute("SELECT * FROM overdue_alerts ORDER BY id")
    return [dict(zip([d.name for d in cur.description], r, strict=True)) for r in cur.fetchall()]


def queue_counts(c) -> dict:
    archived = c.execute("SELECT message->>'event', count(*) FROM pgmq.a_flight_enrichment "
                         "GROUP BY 1").fetchall()
    return {"queue": c.execute("SELECT count(*) FROM pgmq.q_flight_enrichment").fetchone()[0],
            "dead": c.execute("SELECT count(*) FROM pgmq.q_flight_enrichment_dead").fetchone()[0],
            "archived": dict(archived)}


def checks() -> dict[str, float]:
    """soar_worker_overdue_checks_total by outcome (a process-wide counter: compare deltas)."""
    out = {}
    for metric in REGISTRY.collect():
        if metric.name == "soar_worker_overdue_checks":
            for s in metric.samples:
                if s.name.endswith("_total"):
                    out[s.labels["outcome"]] = s.value
    return out


def delta(before: dict, after: dict) -> dict:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


@pytest.fixture
def hook():
    with FakeWebhook() as h:
        yield h


def assert_no_secret(*texts) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in str(text)


# -- the rule on real data --------------------------------------------------------------

def test_glider_lost_low_and_descending_raises_one_overdue_alert(refdb, data_dir):
    fixes = glider_lost(data_dir)
    ops = store(refdb, fixes, registration="D-1234")
    # The broken-rope winch launch is decided (its own UPDATE) before the silence.
    assert [op.kind for op in ops] == [flight_ops.START_TAKEOFF, flight_ops.LAUNCH,
                                       flight_ops.END_TIMEOUT]
    assert ops[1].values == {"launch_method": "winch"}
    before = checks()
    stats = drain(refdb, config())

    assert delta(before, checks()) == {"low_descending": 1}
    assert (stats.alerts_raised, stats.notices_delivered) == (1, 0)
    with refdb.connect() as c:
        (a,) = alerts(c)
        last = fixes[-1]
        assert a["flight_id"] == ops[0].flight_id
        assert a["reason"] == "low_descending"
        assert a["last_heard_at"] == last.time
        assert (a["latitude"], a["longitude"], a["altitude_m"]) == (last.latitude, last.longitude,
                                                                    623.0)
        assert a["height_reference"] == "airport DE-0066"
        assert a["height_m"] == 22.0                          # 623 m - 1971 ft
        assert -3.0 < a["vertical_rate_ms"] < -1.0            # the last minute: 706 -> 623 m
        assert a["ground_speed_kmh"] == pytest.approx(last.ground_speed_kmh)
        assert a["track_deg"] == 279.0
        assert a["receivers"] == ["Koenigsdf"]
        assert a["cleared_at"] is None and a["raise_delivery"] == "no_webhook"
        text = a["message"]
        assert text.startswith("OVERDUE glider D-1234 (FLARM DDEFF7): no landing seen, "
                               "not heard since ")
        for part in ("47°49.", "011°28.", "of DE-0066", "Heard last by Koenigsdf.",
                     "623 m MSL, about 22 m above airport DE-0066, descending",
                     "track 279°", "from DE-0066."):
            assert part in text
        assert "http" not in text                            # link-free
        assert a["payload"]["aircraft"] == {"address": "DDEFF7", "address_type": "FLARM",
                                            "aircraft_type": "glider", "registration": "D-1234",
                                            "callsign": None, "model": None}
        # takeoff + timeout enriched, the raised notice recorded; nothing left, nothing dead
        assert queue_counts(c) == {"queue": 0, "dead": 0,
                                   "archived": {"takeoff": 1, "timeout": 1, "overdue_alert": 1}}
    with refdb.connect("readonly") as ro:
        rows = ro.execute("SELECT alert_id, registration, address, reason, receivers, message "
                          "FROM overdue_flights").fetchall()
        assert rows == [(a["id"], "D-1234", "DDEFF7", "low_descending", ["Koenigsdf"], text)]

    # The same timeout enqueued again (a backfill, a retry-dead): no second alert.
    with refdb.connect() as c:
        messages.send(c, "flight_enrichment", {"flight_id": str(a["flight_id"]),
                                               "event": "timeout"})
    before = checks()
    drain(refdb, config())
    assert delta(before, checks()) == {"low_descending": 1}
    with refdb.connect() as c:
        assert len(alerts(c)) == 1
        assert queue_counts(c)["archived"] == {"takeoff": 1, "timeout": 2, "overdue_alert": 1}


def test_alerts_list_shows_the_active_alert_as_a_user_runs_it(refdb, data_dir):
    store(refdb, glider_lost(data_dir))
    drain(refdb, config())
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOAR_")}
    env.update({"SOAR_DATABASE_URL": refdb.url(), "SOAR_WORKER_DATABASE_URL": refdb.url("worker"),
                "SOAR_READONLY_DATABASE_URL": refdb.url("readonly")})
    out = subprocess.run([*SOAR, "alerts", "list", "--json"], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    (row,) = [json.loads(line) for line in out.stdout.splitlines()]
    assert (row["address"], row["reason"], row["registration"]) == ("DDEFF7", "low_descending",
                                                                   None)
    assert row["message"].startswith("OVERDUE glider (FLARM DDEFF7)")
    table = subprocess.run([*SOAR, "alerts", "list"], capture_output=True, text=True, env=env,
                           timeout=120)
    assert table.returncode == 0 and f"alert {row['alert_id']} (low_descending)" in table.stdout
    assert "Heard last by Koenigsdf." in table.stdout
    # Cleared by hand: the list is empty, the cleared notice queued; twice is an error.
    done = subprocess.run([*SOAR, "alerts", "clear", str(row["alert_id"])], capture_output=True,
                          text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    again = subprocess.run([*SOAR, "alerts", "clear", str(row["alert_id"])],
                           capture_output=True, text=True, env=env, timeout=120)
    assert again.returncode == 2 and again.stderr.count("\n") == 1
    assert "no active overdue alert" in again.stderr
    empty = subprocess.run([*SOAR, "alerts", "list"], capture_output=True, text=True, env=env,
                           timeout=120)
    assert empty.stdout.strip() == "no overdue alerts"
    with refdb.connect() as c:
        assert [(a["cleared_reason"], a["clear_delivery"]) for a in alerts(c)] == [
            ("manual", "pending")]


@pytest.mark.parametrize(("cut", "outcome"), [
    ("07:30:35", "fast"),        # cruise, FL350, 815 km/h: left coverage going south
    ("07:49:01", "fast"),        # descending through 3,100 m at 530 km/h towards Toulouse
])
def test_airliner_leaving_coverage_at_cruise_raises_no_alert(refdb, cut, outcome):
    end = datetime.fromisoformat(f"2024-07-06T{cut}+00:00")
    fixes = [f for f in afr34zg_fixes() if f.time <= end + timedelta(seconds=1)]
    fixes = shifted(fixes, datetime.now(UTC) - timedelta(minutes=61))
    ops = store(refdb, fixes)
    assert [op.kind for op in ops][-1] == flight_ops.END_TIMEOUT
    before = checks()
    stats = drain(refdb, config())
    assert delta(before, checks()) == {outcome: 1}
    assert stats.alerts_raised == 0
    with refdb.connect() as c:
        assert alerts(c) == []
        assert queue_counts(c) == {"queue": 0, "dead": 0,
                                   "archived": {"takeoff": 1, "timeout": 1}}


def test_landed_flight_raises_no_alert(refdb, data_dir):
    """Both real winch launches, complete: each lands; no timeout, nothing evaluated."""
    fixes = winch_fixes(data_dir)
    fixes = shifted(fixes, datetime.now(UTC) - timedelta(minutes=61))
    ops = store(refdb, fixes)
    assert [op.kind for op in ops].count(flight_ops.END_LANDING) == 2
    before = checks()
    drain(refdb, config())
    assert delta(before, checks()) == {}
    with refdb.connect() as c:
        assert alerts(c) == []
        assert queue_counts(c) == {"queue": 0, "dead": 0,
                                   "archived": {"takeoff": 2, "landing": 2}}


def test_old_data_replayed_raises_no_alert(refdb, data_dir):
    """The recording at its own date (2016): a replay or backfill is not an emergency."""
    fixes = [f for f in winch_fixes(data_dir) if f.address == GLIDER and f.time <= CUT]
    store(refdb, fixes)
    before = checks()
    drain(refdb, config())
    assert delta(before, checks()) == {"too_old": 1}
    with refdb.connect() as c:
        assert alerts(c) == []


def test_untracked_aircraft_raises_no_alert(refdb, data_dir):
    fixes = glider_lost(data_dir)
    store(refdb, fixes)
    with refdb.connect() as admin:     # the owner opted out (device database import)
        admin.execute("UPDATE aircraft SET tracked = false WHERE id = %s",
                      (fixes[0].aircraft_id,))
    before = checks()
    drain(refdb, config())
    assert delta(before, checks()) == {"not_tracked": 1}
    with refdb.connect() as c:
        assert alerts(c) == []


def test_alert_of_an_aircraft_marked_not_tracked_later_is_cleared_and_hidden(refdb, data_dir):
    store(refdb, glider_lost(data_dir))
    drain(refdb, config())
    with refdb.connect() as admin:
        admin.execute("UPDATE aircraft SET tracked = false")
    with refdb.connect("readonly") as ro:     # hidden at once, before any sweep
        assert ro.execute("SELECT count(*) FROM overdue_flights").fetchone()[0] == 0
    stats = drain(refdb, config())
    assert stats.alerts_cleared == 1
    with refdb.connect() as c:
        assert [a["cleared_reason"] for a in alerts(c)] == ["not_tracked"]


# -- clearing ---------------------------------------------------------------------------

def test_alert_clears_when_aircraft_heard_again(refdb, data_dir, hook):
    fixes = glider_lost(data_dir)
    store(refdb, fixes)
    cfg = config(alert_webhook_url=hook.url)
    drain(refdb, cfg)
    assert hook.count == 1
    # Heard again: the glider standing in the field it landed in, switched on again,
    # 10 minutes ago (ground fixes: no flight, just fixes).
    standing = [copy_fix(fixes[-1], time=datetime.now(UTC) - timedelta(minutes=10, seconds=-i),
                         received_at=datetime.now(UTC), altitude_m=598.0, ground_speed_kmh=0.0,
                         climb_rate_ms=0.0, track_deg=0.0, receiver="Koenigsd2")
                for i in range(0, 60, 20)]
    store(refdb, standing, time_out=False)
    stats = drain(refdb, cfg)           # a drain sweeps once first, then delivers
    assert (stats.alerts_cleared, stats.notices_delivered) == (1, 1)
    with refdb.connect() as c:
        (a,) = alerts(c)
        assert (a["cleared_reason"], a["raise_delivery"], a["clear_delivery"]) == (
            "heard_again", "delivered", "delivered")
        assert queue_counts(c) == {"queue": 0, "dead": 0, "archived": {
            "takeoff": 1, "timeout": 1, "overdue_alert": 2}}
    with refdb.connect("readonly") as ro:
        assert ro.execute("SELECT count(*) FROM overdue_flights").fetchone()[0] == 0
    raised, cleared = hook.bodies()
    assert (raised["type"], cleared["type"]) == ("overdue", "overdue_cleared")
    assert cleared["alert_id"] == raised["alert_id"] and cleared["cleared_reason"] == "heard_again"
    assert cleared["text"].startswith("CLEARED glider (FLARM DDEFF7): overdue since ")
    assert "; heard again (cleared " in cleared["text"]
    # Nothing more to clear: a second sweep sends nothing.
    assert drain(refdb, cfg).alerts_cleared == 0 and hook.count == 2


def test_alert_clears_when_the_flight_resumes(refdb, data_dir):
    fixes = glider_lost(data_dir)
    ops = store(refdb, fixes)
    drain(refdb, config())
    flight_id = ops[0].flight_id
    resume = flight_ops.UpdateFlight(flight_id, {"timed_out_at": None, "end_reason": None},
                                     flight_ops.RESUME, fixes[0].aircraft_id)
    with refdb.connect("ingest") as c, c.transaction(), c.cursor() as cur:
        assert write_op(cur, resume) == 1      # the tracker's own statement, as ingest
    assert drain(refdb, config()).alerts_cleared == 1
    with refdb.connect() as c:
        assert [a["cleared_reason"] for a in alerts(c)] == ["resumed"]


def test_resumed_before_the_worker_looked_raises_nothing(refdb, data_dir):
    """Timed out and heard again (resumed) before the timeout message was handled."""
    fixes = glider_lost(data_dir)
    ops = store(refdb, fixes)
    resume = flight_ops.UpdateFlight(ops[0].flight_id, {"timed_out_at": None, "end_reason": None},
                                     flight_ops.RESUME, fixes[0].aircraft_id)
    with refdb.connect("ingest") as c, c.transaction(), c.cursor() as cur:
        write_op(cur, resume)
    before = checks()
    drain(refdb, config())
    assert delta(before, checks()) == {"resumed": 1}
    with refdb.connect() as c:
        assert alerts(c) == []


# -- delivery ---------------------------------------------------------------------------

def test_webhook_delivery_retries_then_succeeds(refdb, data_dir, hook, caplog):
    caplog.set_level(logging.DEBUG)
    hook.fail_first = 2
    store(refdb, glider_lost(data_dir), registration="D-1234")
    stats = drain(refdb, config(alert_webhook_url=hook.url))
    assert [r["status"] for r in hook.requests] == [500, 500, 200]
    keys = {r["headers"]["Idempotency-Key"] for r in hook.requests}
    assert len(keys) == 1                                  # one notice, three tries
    assert {r["headers"]["Content-Type"] for r in hook.requests} == {"application/json"}
    assert (stats.retried, stats.notices_delivered, stats.dead) == (2, 1, 0)
    (body,) = hook.bodies()
    assert body["type"] == "overdue" and body["reason"] == "low_descending"
    assert body["aircraft"]["registration"] == "D-1234"
    assert body["receivers"] == ["Koenigsdf"] and body["height_reference"] == "airport DE-0066"
    assert body["text"].startswith("OVERDUE glider D-1234 (FLARM DDEFF7)")
    with refdb.connect() as c:
        (a,) = alerts(c)
        assert (a["raise_delivery"], a["delivery_error"]) == ("delivered", None)
        assert body["alert_id"] == a["id"] and body["flight_id"] == str(a["flight_id"])
        assert queue_counts(c) == {"queue": 0, "dead": 0, "archived": {
            "takeoff": 1, "timeout": 1, "overdue_alert": 1}}
        archived = c.execute("SELECT read_ct, message FROM pgmq.a_flight_enrichment "
                             "WHERE message->>'event' = 'overdue_alert'").fetchone()
        assert archived[0] == 3 and archived[1]["last_error"] == "overdue_alert: webhook: HTTP 500"
    assert "webhook: HTTP 500" in caplog.text
    assert_no_secret(caplog.text, archived)


def _cli(db, *args) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOAR_")}
    env.update({"SOAR_DATABASE_URL": db.url(), "SOAR_WORKER_DATABASE_URL": db.url("worker"),
                "SOAR_READONLY_DATABASE_URL": db.url("readonly")})
    return subprocess.run([*SOAR, *args], capture_output=True, text=True, env=env, timeout=120)


def test_a_refused_notice_is_retried_shown_and_delivered_once_the_webhook_works(
        refdb, data_dir, hook, caplog):
    """A notice is never dead-lettered for a refusal: past alert_max_attempts it is still
    retried (an error in the log), `soar alerts list` and `soar queue check` show it with
    the refusal, and once the receiver works it is delivered, once."""
    caplog.set_level(logging.DEBUG)
    hook.fail_always, hook.fail_status = True, 503
    store(refdb, glider_lost(data_dir))
    cfg = config(alert_webhook_url=hook.url, alert_max_attempts=3)
    with running_worker(refdb.url("worker"), cfg) as stats:
        # Twice the tries after which the notice used to be dead-lettered.
        wait_until(lambda: hook.count >= 2 * cfg.alert_max_attempts,
                   what="the refused notice to be tried again and again")
        listed = _cli(refdb, "alerts", "list")
        checked = _cli(refdb, "queue", "check", "--max-dead", "0")
        with refdb.connect() as c:
            (a,) = alerts(c)
            assert (a["raise_delivery"], a["delivery_error"]) == (
                "pending", "overdue_alert: webhook: HTTP 503")
            assert queue_counts(c)["dead"] == 0
        hook.fail_always = False
        wait_until(lambda: stats.notices_delivered == 1, what="the notice delivered")
    assert listed.returncode == 0, listed.stderr
    assert f"alert {a['id']} (low_descending)" in listed.stdout
    assert "webhook: pending" in listed.stdout and "HTTP 503" in listed.stdout
    assert checked.returncode == 1 and checked.stdout.startswith("CRITICAL: 1 overdue-alert")
    assert "HTTP 503" in checked.stdout and checked.stdout.count("\n") == 1
    statuses = [r["status"] for r in hook.requests]
    assert statuses.count(200) == 1 and statuses[-1] == 200
    assert set(statuses[:-1]) == {503}
    assert stats.dead == 0 and stats.notices_delivered == 1
    assert "not delivered (try 3; alert_max_attempts 3)" in caplog.text
    assert [r.levelname for r in caplog.records if "try 3;" in r.getMessage()] == ["ERROR"]
    with refdb.connect() as c:
        (a,) = alerts(c)
        assert a["raise_delivery"] == "delivered"
        assert queue_counts(c) == {"queue": 0, "dead": 0, "archived": {
            "takeoff": 1, "timeout": 1, "overdue_alert": 1}}
    assert_no_secret(caplog.text, listed.stdout, checked.stdout)
    assert "OK" in _cli(refdb, "queue", "check", "--max-dead", "0").stdout


def test_a_flight_whose_enrichment_fails_for_good_still_raises_its_alert_once(
        refdb, data_dir, hook):
    """The timeout enrichment fails every time (a test trigger refuses the flight's
    `done`), so it is dead-lettered and the flight marked failed; the sweep evaluates
    the flight on its own and raises the alert, once, however many sweeps follow."""
    store(refdb, glider_lost(data_dir))
    with refdb.connect() as c:
        c.execute("""
            CREATE FUNCTION test_refuse_landing() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'test: this flight cannot be enriched';
            END $$;
            CREATE TRIGGER test_refuse_landing BEFORE UPDATE ON flights FOR EACH ROW
                WHEN (NEW.landing_enrichment = 'done'
                      AND OLD.landing_enrichment IS DISTINCT FROM 'done')
                EXECUTE FUNCTION test_refuse_landing();""")
    before = checks()
    first = drain(refdb, config())
    assert (first.processed, first.dead) == (1, 1)          # the takeoff; the timeout dead
    with refdb.connect() as c:
        assert c.execute("SELECT landing_enrichment FROM flights").fetchone() == ("failed",)
    stats = [drain(refdb, config(alert_webhook_url=hook.url)) for _ in range(3)]
    assert [s.notices_delivered for s in stats] == [1, 0, 0]
    assert delta(before, checks()) == {"low_descending": 1}
    (body,) = hook.bodies()
    assert body["type"] == "overdue" and body["reason"] == "low_descending"
    assert body["text"].startswith("OVERDUE glider (FLARM DDEFF7)")
    with refdb.connect() as c:
        (a,) = alerts(c)
        assert (a["reason"], a["raise_delivery"], a["cleared_at"]) == (
            "low_descending", "delivered", None)
        # The dead letter's original is archived too (worker.messages.dead_letter).
        assert queue_counts(c) == {"queue": 0, "dead": 1, "archived": {
            "takeoff": 1, "timeout": 1, "overdue_alert": 1}}


def test_slow_webhook_times_out_and_is_retried(refdb, data_dir, hook):
    """A receiver slower than the deadline: that try fails as a timeout (the slot is
    free again after the deadline, not after the receiver), the next one delivers."""
    hook.delay_s = 5.0
    store(refdb, glider_lost(data_dir))
    cfg = config(alert_webhook_url=hook.url, alert_webhook_deadline_s=0.5)
    worker_stats = Stats()
    done = {}

    def run():
        done["stats"] = run_workers(refdb.url("worker"), cfg, drain=True, stats=worker_stats)

    t = threading.Thread(target=run)
    t.start()
    # The first try is given up on after 0.5 s and put back; make the receiver fast.
    with refdb.connect() as c:
        c.autocommit = True
        wait_until(lambda: c.execute("SELECT count(*) FROM pgmq.q_flight_enrichment "
                                     "WHERE message ? 'last_error'").fetchone()[0],
                   what="the slow try to fail")
        error = c.execute("SELECT message->>'last_error' FROM pgmq.q_flight_enrichment "
                          "WHERE message ? 'last_error'").fetchone()[0]
    hook.delay_s = 0.0
    t.join(300)
    assert not t.is_alive()
    assert error == "overdue_alert: webhook: timed out (no complete answer within the 0.5 s deadline)"
    assert (worker_stats.retried, worker_stats.notices_delivered, worker_stats.dead) == (1, 1, 0)
    hook.wait_for(2)
    with refdb.connect() as c:
        assert alerts(c)[0]["raise_delivery"] == "delivered"


def test_webhook_refusing_connections_is_retried_without_the_url(refdb, data_dir, caplog):
    caplog.set_level(logging.DEBUG)
    hook = FakeWebhook().start()
    url = hook.url
    hook.stop()                                           # nothing listens there any more
    store(refdb, glider_lost(data_dir))
    with running_worker(refdb.url("worker"), config(alert_webhook_url=url,
                                                     alert_max_attempts=2)) as stats:
        wait_until(lambda: stats.retried >= 3, what="three refused tries")
    assert stats.dead == 0
    with refdb.connect() as c:
        (a,) = alerts(c)
        assert a["raise_delivery"] == "pending"
        assert a["delivery_error"].startswith("overdue_alert: webhook: cannot connect (")
    assert_no_secret(caplog.text, a["delivery_error"])


# -- privileges -------------------------------------------------------------------------

def test_worker_and_readonly_get_exactly_what_alerts_need(refdb, data_dir):
    store(refdb, glider_lost(data_dir))
    drain(refdb, config())
    with refdb.connect("worker", autocommit=True) as w:
        assert w.execute("SELECT count(*) FROM overdue_alerts").fetchone()[0] == 1
        for statement in ("DELETE FROM overdue_alerts",
                          "UPDATE overdue_alerts SET message = 'x'",
                          "UPDATE overdue_alerts SET last_heard_at = now()",
                          "TRUNCATE overdue_alerts"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                w.execute(statement)
    with refdb.connect("readonly", autocommit=True) as ro:
        assert ro.execute("SELECT count(*) FROM overdue_flights").fetchone()[0] == 1
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            ro.execute("SELECT * FROM overdue_alerts")
    with refdb.connect("ingest", autocommit=True) as ing, \
            pytest.raises(psycopg.errors.InsufficientPrivilege):
        ing.execute("SELECT * FROM overdue_alerts")
