"""Crashes become errors, not hangs: a dead router, writer or parse process ends the
replay with one line naming it, and every message is still accounted for (real
database, real parse process, real loopback APRS-IS server). Live feeds drop at once
on a full queue, counted per feed, while the reader keeps draining its socket."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import threading
import uuid
from datetime import datetime, timezone

import pytest

from helpers.database import TestDatabase, _janitor
from helpers.wait import wait_until
from soar import ingest
from soar.errors import SoarError
from soar.feeds import recordings
from soar.feeds.aprs_client import AprsClient
from soar.ingest import app
from soar.ingest.pipeline import PipelineConfig
from soar.ingest.spool import Spool
from soar.ingest.stats import IngestStats
from soar.records import DB, UNWRITTEN
from soar.records import PIPELINE_FAILED as LOST
from soar.reference import samples

ONEMINUTE = samples.path("oneminute.txt")
CEILING_S = 300          # generous: only a hang reaches it (a loaded machine may take long
                         # to flush, so tests that count written fixes wait this long too)


@pytest.fixture
def fresh_database(pg_cluster, db_template):
    """More fresh databases, e.g. for the undisturbed run of the same input."""
    with contextlib.ExitStack() as stack:
        def make() -> TestDatabase:
            name = f"soar_test_{uuid.uuid4().hex[:10]}"
            stack.enter_context(_janitor(pg_cluster, name, template_dbname=db_template))
            return TestDatabase(pg_cluster, name)
        yield make


class Counted:
    """The chunks of a recording, counting the messages handed out."""

    def __init__(self, chunks, after=None):
        self.chunks, self.after = chunks, after
        self.messages = 0
        self.taken: list = []

    def __iter__(self):
        for n, chunk in enumerate(self.chunks):
            if self.after is not None:
                self.after(n)
            self.messages += len(chunk)
            self.taken.extend(chunk)
            yield chunk


def crash_writer_at(pipeline, n: int) -> None:
    """The test's hook: the writer thread dies (ValueError "boom") at its n-th batch."""
    write = pipeline.writer.write
    calls = {"n": 0}

    def crashing(batch):
        calls["n"] += 1
        if calls["n"] == n:
            raise ValueError("boom")
        return write(batch)

    pipeline.writer.write = crashing


def accounted(stats: IngestStats) -> int:
    """Every outcome of a message: fix, receiver beacon, state only, or a counted reason."""
    return (stats.fixes_accepted + stats.receiver_beacons + stats.state_only
            + sum(stats.rejected.values()))


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and "Traceback" not in text
    return text


def counts(database) -> tuple[int, int]:
    with database.connect() as c:
        return c.execute("SELECT (SELECT count(*) FROM fixes), "
                         "(SELECT count(*) FROM flights)").fetchone()


def undisturbed(database, messages) -> IngestStats:
    stats = IngestStats()
    pipeline = ingest.build(database.url("ingest"), stats,
                            PipelineConfig(batch_size=500, shutdown_deadline_s=CEILING_S))
    app.run_replay(pipeline, recordings.chunked(iter(messages), None), signals=app.Signals())
    return stats


def test_router_crash_ends_the_replay_with_one_line(database, tmp_path):
    stats = IngestStats()
    pipeline = ingest.build(database.url("ingest"), stats,
                            PipelineConfig(batch_size=500, spool_dir=tmp_path / "spool",
                                           shutdown_deadline_s=CEILING_S))
    calls = {"n": 0}
    process = pipeline.router.tracker.process

    def crashing(fix):
        calls["n"] += 1
        if calls["n"] == 3000:
            raise RuntimeError("tracker bug on fix 3000")
        return process(fix)

    pipeline.router.tracker.process = crashing      # the test's hook: the router thread dies
    chunks = Counted(recordings.replay(ONEMINUTE, "aprs"))
    with pytest.raises(SoarError) as err:
        app.run_replay(pipeline, chunks, signals=app.Signals())
    assert one_line(err.value) == \
        "ingest stopped: the router thread died: RuntimeError: tracker bug on fix 3000"
    # Every message handed to the pipeline has exactly one outcome; those the dead
    # router never handled are counted as such.
    assert sum(stats.messages.values()) == chunks.messages == accounted(stats)
    assert stats.rejected[("aprs", LOST)] >= 1
    # What was routed before the crash is stored; nothing needed spooling.
    assert stats.fixes_accepted == stats.fixes_written >= 2000
    assert stats.spooled_fixes == 0
    assert counts(database)[0] == stats.fixes_written


def test_writer_crash_spools_and_the_next_start_writes_it(database, fresh_database, tmp_path):
    spool_dir = tmp_path / "spool"
    stats = IngestStats()
    pipeline = ingest.build(database.url("ingest"), stats,
                            PipelineConfig(batch_size=500, spool_dir=spool_dir))
    crash_writer_at(pipeline, 4)
    chunks = Counted(recordings.replay(ONEMINUTE, "aprs"))
    with pytest.raises(SoarError) as err:
        app.run_replay(pipeline, chunks, signals=app.Signals())
    assert one_line(err.value) == "ingest stopped: the writer thread died: ValueError: boom"
    assert sum(stats.messages.values()) == chunks.messages == accounted(stats)
    # Nothing routed is lost: the batch being written and all after it are spooled.
    assert stats.fixes_written + stats.spooled_fixes == stats.fixes_accepted
    assert stats.batches == 3 and stats.fixes_written > 0 and stats.spooled_fixes > 0
    spool = Spool(spool_dir, database.url("ingest"))
    files = spool.pending()
    assert len(files) == stats.spooled_batches
    assert sum(len(spool.load(f).fixes) for f in files) == stats.spooled_fixes
    assert counts(database)[0] == stats.fixes_written

    # The next start writes the spool first; the totals are those of an undisturbed
    # run of the same messages.
    restart = IngestStats()
    again = ingest.build(database.url("ingest"), restart,
                         PipelineConfig(batch_size=500, spool_dir=spool_dir))
    app.run_replay(again, [], signals=app.Signals())
    assert (restart.restored_batches, restart.restored_fixes) == \
        (stats.spooled_batches, stats.spooled_fixes)
    assert spool.pending() == []
    # The messages handed over after the failure were counted as lost, not handled.
    handled = chunks.taken[:len(chunks.taken) - stats.rejected[("aprs", LOST)]]
    other = fresh_database()
    expected = undisturbed(other, handled)
    assert expected.fixes_written == stats.fixes_accepted
    assert counts(database) == counts(other)


def test_a_replay_that_ended_is_written_to_its_end_past_the_shutdown_deadline(database,
                                                                           tmp_path):
    # No shutdown budget at all, and a writer that commits nothing before close()
    # begins: were the file's end taken for a stop signal, close() would spool at once
    # what the writer had not committed (it did so on a busy machine with 30 s).
    stats = IngestStats()
    pipeline = ingest.build(database.url("ingest"), stats, PipelineConfig(
        batch_size=500, spool_dir=tmp_path / "spool", shutdown_deadline_s=0.0))
    closing = threading.Event()
    stop_threads, write = pipeline._stop_threads, pipeline.writer.write

    def stopping(*args):
        closing.set()
        return stop_threads(*args)

    def held(batch):
        assert closing.wait(CEILING_S), "close() never began"
        return write(batch)

    pipeline._stop_threads = stopping           # the test's hooks
    pipeline.writer.write = held
    # A part that fits in the router's queue while the writer holds: the feed ends.
    messages = list(recordings.aprs_messages(ONEMINUTE))[:10_000]
    app.run_replay(pipeline, recordings.chunked(iter(messages), None), signals=app.Signals())
    assert (stats.spooled_fixes, stats.rejected[(DB, UNWRITTEN)]) == (0, 0)
    assert stats.fixes_written == stats.fixes_accepted == counts(database)[0] > 5_000


def test_killed_parse_process_ends_the_replay_with_one_line(database):
    stats = IngestStats()
    pipeline = ingest.build(database.url("ingest"), stats,
                            PipelineConfig(batch_size=500, parse_workers=1,
                                           shutdown_deadline_s=CEILING_S))
    killed = {}

    def kill_after_five(n):
        if n == 5:
            pid = pipeline._pool.pids()[0]
            os.kill(pid, signal.SIGKILL)
            killed["pid"] = pid
            wait_until(lambda: pipeline._pool.death() is not None, what="the death noticed")

    chunks = Counted(recordings.replay(ONEMINUTE, "aprs"), after=kill_after_five)
    with pytest.raises(SoarError) as err:
        app.run_replay(pipeline, chunks, signals=app.Signals())
    assert one_line(err.value) == (f"ingest stopped: a parse process died: pid {killed['pid']} "
                                   "killed by signal 9 (SIGKILL)")
    assert sum(stats.messages.values()) == chunks.messages == accounted(stats)
    assert stats.rejected[("aprs", LOST)] >= 1000          # the chunks it never parsed
    assert stats.fixes_accepted == stats.fixes_written == counts(database)[0]


def test_idle_pipeline_notices_a_dead_parse_process(database):
    pipeline = ingest.build(database.url("ingest"), IngestStats(),
                            PipelineConfig(parse_workers=1))
    pipeline.start()
    try:
        pid = pipeline._pool.pids()[0]
        os.kill(pid, signal.SIGKILL)
        def failed():
            pipeline.check()                     # what `soar run` does every second
            return pipeline.failed is not None
        wait_until(failed, what="the pipeline to fail")
        assert str(pipeline.failed) == \
            f"a parse process died: pid {pid} killed by signal 9 (SIGKILL)"
    finally:
        pipeline.close()


def test_aircraft_cache_is_bounded_without_losing_rows(fresh_database):
    # The first 30,000 lines (~20 s as received, ~40 s of data time): 3,100 aircraft,
    # three times the cap, at a third of the cost of three whole replays.
    messages = list(recordings.aprs_messages(ONEMINUTE))[:30_000]

    def run(**limits):
        db = fresh_database()
        stats = IngestStats()
        pipeline = ingest.build(db.url("ingest"), stats, PipelineConfig(
            batch_size=500, expire_every_s=10.0, shutdown_deadline_s=CEILING_S, **limits))
        app.run_replay(pipeline, recordings.chunked(iter(messages), None),
                       signals=app.Signals())
        with db.connect() as c:
            rows = c.execute(
                "SELECT (SELECT count(*) FROM fixes), (SELECT count(DISTINCT aircraft_id) "
                "FROM fixes), (SELECT count(*) FROM aircraft), (SELECT count(*) FROM fixes f "
                "LEFT JOIN aircraft a ON a.id = f.aircraft_id WHERE a.id IS NULL)").fetchone()
        return len(pipeline.router.aircraft), stats, rows

    everything, reference, ref_rows = run()
    capped, stats_capped, rows_capped = run(aircraft_cache_max=1000)
    aged, stats_aged, rows_aged = run(aircraft_cache_max_age_s=20.0)
    # Nothing forgotten: one row per aircraft heard (~3,100 in these lines).
    assert everything == ref_rows[1] > 3000
    # The cap holds after every batch (a batch adds at most its 500 fixes' aircraft).
    assert capped <= 1000 + 500
    # Rows not written for 20 s of data time are forgotten.
    assert aged < everything
    # A forgotten aircraft heard again is written again: the same rows as the run that
    # forgets nothing, and every fix has its aircraft row.
    assert stats_capped.fixes_written == stats_aged.fixes_written == reference.fixes_written
    assert rows_capped == rows_aged == ref_rows
    assert ref_rows[0] > 15_000 and ref_rows[3] == 0


# -- live: a full queue drops at once, the socket keeps draining ----------------------

class AprsServer(threading.Thread):
    """Sends the banner and `payload` as fast as the client reads, then holds the
    connection open; `sent` is set when the last byte was taken by the client."""

    def __init__(self, payload: bytes):
        super().__init__(daemon=True)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.payload = payload
        self.sent = threading.Event()
        self.done = threading.Event()

    def run(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            conn.recv(1024)                            # the login line
            conn.sendall(self.payload)
            self.sent.set()
            self.done.wait(CEILING_S)


def aprs_now(lines: list[str]) -> bytes:
    now = datetime.now(timezone.utc).strftime("%H%M%S")
    out = ["# aprsc 2.1.5-g8af3cdc 1 Jan 2026 00:00:00 GMT GLIDERN2 1.2.3.4:14580"]
    out += [re.sub(r":/\d{6}h", f":/{now}h", line.split(": ", 1)[1], count=1) for line in lines]
    return ("\r\n".join(out) + "\r\n").encode()


def test_live_feed_drops_at_once_on_a_full_queue_and_counts_per_feed(database):
    lines = ONEMINUTE.read_text().splitlines()[2:40002]
    server = AprsServer(aprs_now(lines))
    server.start()
    stats = IngestStats()
    # A deliberately stuck pipeline: tiny queues, and a writer that waits for `gate`.
    pipeline = ingest.build(database.url("ingest"), stats, PipelineConfig(
        in_queue_chunks=1, out_queue_batches=1, batch_age_s=0.05, drop_after_s=0))
    gate = threading.Event()
    write = pipeline.writer.write

    def gated(batch):
        gate.wait(CEILING_S)
        return write(batch)

    pipeline.writer.write = gated
    name = f"ogn 127.0.0.1:{server.port}"
    signals = app.Signals()
    result = {}
    runner = threading.Thread(target=lambda: result.update(app.live(
        pipeline, [("aprs", AprsClient("127.0.0.1", server.port), name)],
        stats_interval=3600, signals=signals)), daemon=True)
    runner.start()
    try:
        # The client took every byte while nothing moved through the pipeline: it never
        # waits on the router (it used to wait 5 s per chunk, and the server dropped it).
        assert server.sent.wait(CEILING_S)
        assert not gate.is_set() and stats.fixes_written == 0
        gate.set()
        wait_until(lambda: sum(stats.messages.values()) >= len(lines) + 1,
                   what="every line routed")
    finally:
        gate.set()
        signals.stop.set()
        runner.join(CEILING_S)
        server.done.set()
    assert not runner.is_alive()
    s = result
    assert "failed" not in s
    # Every line in is accounted for: stored, rejected by reason, or dropped (per feed).
    assert s["messages_total"] == len(lines) + 1 == accounted(stats)
    assert s["dropped_queue_full"] > 0
    assert s["dropped_by_source"] == {name: s["dropped_queue_full"]}
    assert s["rejected"]["queue_full"] == s["dropped_queue_full"]
    assert s["fixes_written"] == s["fixes_accepted"] == counts(database)[0] > 0
    line = app.StatsLogger(stats, 1.0).line(0, 0, {})
    assert f"dropped={s['dropped_queue_full']} " in line
    assert f"drops: {name}={s['dropped_queue_full']} " in line
    assert s["accounting"]["balanced"] and s["accounting"]["dropped"] == {
        "queue_full": s["dropped_queue_full"]}


def test_a_writer_that_dies_with_a_backlog_queued_loses_nothing_uncounted(database, tmp_path):
    # On a busy machine the router outlived the shutdown grace after the writer died, and
    # the batches it routed after close() had taken `_unsent` were lost without a count
    # (fixes accepted 40,538; written and spooled 39,500). No budget and no grace here:
    # close() must still wait for the router to route what was queued, and spool it.
    stats = IngestStats()
    pipeline = ingest.build(database.url("ingest"), stats, PipelineConfig(
        batch_size=500, spool_dir=tmp_path / "spool", shutdown_deadline_s=0.0,
        abandon_grace_s=0.0))
    crash_writer_at(pipeline, 2)
    chunks = Counted(recordings.replay(ONEMINUTE, "aprs"))
    with pytest.raises(SoarError):
        app.run_replay(pipeline, chunks, signals=app.Signals())
    assert not pipeline._threads[0].is_alive()          # the router ended before close() did
    at_close = (stats.fixes_accepted, stats.fixes_written, stats.spooled_fixes)
    assert sum(stats.messages.values()) == chunks.messages == accounted(stats)
    assert stats.fixes_written + stats.spooled_fixes == stats.fixes_accepted > 0
    assert stats.spooled_fixes > 0
    assert (stats.fixes_accepted, stats.fixes_written, stats.spooled_fixes) == at_close
