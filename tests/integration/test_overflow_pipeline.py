"""Live chunks that find the router queue full wait on disk, in order, and come back
through the router when there is room: with the database stopped under a live feed,
nothing is dropped and the database ends up with the same fixes and flights as an
undisturbed run; what still waits at shutdown stays on disk and is routed first at the
next start, counted once; only a full disk budget drops (counted). The accounting
identity, with the disk buffer as a term, balances exactly in every case."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path

import psycopg
import pytest

from helpers.database import own_cluster
from helpers.wait import wait_until
from soar import ingest
from soar.feeds import recordings
from soar.ingest.pipeline import PipelineConfig
from soar.ingest.stats import IngestStats
from soar.ingest.writer import WriterConfig
from soar.records import QUEUE_FULL
from soar.reference import samples

ONEMINUTE = samples.path("oneminute.txt")
# The capture's first lines (~30 s as received): with the database down, the live
# pipeline holds a few thousand in memory, so even half of them mostly overflow to disk.
MESSAGES = 40_000
WAIT_S = 300                      # ceiling for conditions awaited (never a speed assertion)
NAMES = ("undisturbed", "disturbed", "resumed", "budget")


@pytest.fixture(scope="module")
def cluster():
    """A cluster of its own: the tests stop and start it."""
    with own_cluster("soar-overflow-", NAMES) as c:
        yield c


def _config(**kw) -> PipelineConfig:
    # Batches cut by size only (never by age), so every run cuts them identically.
    return PipelineConfig(batch_size=2000, batch_age_s=3600.0, **kw)


def _live(cluster, db: str, tmp_path: Path, **kw) -> ingest.Pipeline:
    """A pipeline as `soar run` builds it: live (a full queue never waits), a small
    router queue, a disk buffer and a spool under `tmp_path`."""
    stats = IngestStats()
    config = _config(drop_after_s=0.0, in_queue_chunks=4, overflow_dir=tmp_path / "overflow",
                     spool_dir=tmp_path / "spool", **kw)
    # The writer's pause between attempts capped at 1 s (`soar run --retry-max`): the
    # tests restart the database and would otherwise wait out up to 30 s of doubling.
    pipeline = ingest.build(cluster.url(db, user="soar_ingest"), stats, config,
                            writer_config=WriterConfig(retry_max_s=1.0))
    pipeline.start()
    return pipeline


def _wait_for(condition, what: str) -> None:
    wait_until(condition, WAIT_S, what=what)


def _snapshot(conn) -> dict:
    """Fixes (count, digest of content), flights and how they ended."""
    fixes = conn.execute(
        "SELECT count(*), md5(string_agg(concat_ws('|', f.aircraft_id, f.time, f.received_at, "
        "f.latitude, f.longitude, f.altitude_m), ',' ORDER BY f.aircraft_id, f.time, "
        "f.received_at, f.latitude)) FROM fixes f").fetchone()
    flights = conn.execute("SELECT id, aircraft_id, started_at, takeoff_time, landing_time, "
                           "timed_out_at, end_reason FROM flights ORDER BY id").fetchall()
    conn.commit()
    return {"fixes": tuple(fixes), "flights": flights}


def _stored(cluster, db: str) -> dict:
    with psycopg.connect(cluster.conninfo(db)) as c:
        return _snapshot(c)


def _seconds(cluster, db: str) -> set:
    with psycopg.connect(cluster.conninfo(db)) as c:
        return set(c.execute("SELECT DISTINCT aircraft_id, time FROM fixes").fetchall())


def _balanced(stats: IngestStats) -> dict:
    a = stats.accounting()
    assert a["balanced"] and a["unaccounted"] == 0 and a["in_flight"] == 0, a
    return a


@pytest.fixture(scope="module")
def capture() -> list[list]:
    """The chunks of the capture's first MESSAGES lines, read once."""
    messages = itertools.islice(recordings.aprs_messages(ONEMINUTE), MESSAGES)
    return list(recordings.chunked(messages, None))


def _chunks(capture: list[list]) -> list[list]:
    """A test's own copy of the chunks (the pipeline takes the lists it is handed)."""
    return [list(chunk) for chunk in capture]


@pytest.fixture(scope="module")
def undisturbed(cluster, capture) -> tuple[IngestStats, dict]:
    stats = IngestStats()
    pipeline = ingest.build(cluster.url("undisturbed", user="soar_ingest"), stats, _config())
    pipeline.start()
    ingest.feed(pipeline, iter(_chunks(capture)), threading.Event())
    pipeline.close()
    assert pipeline.failed is None
    expected = _stored(cluster, "undisturbed")
    assert expected["fixes"][0] == stats.fixes_written > 25_000
    assert len(expected["flights"]) > 300
    return stats, expected


def _stop(cluster) -> None:
    cluster._run("pg_ctl", "-D", str(cluster.datadir), "-m", "fast", "stop")


def test_live_chunks_wait_on_disk_while_the_database_is_down_and_come_back_in_order(
        cluster, undisturbed, capture, tmp_path):
    expected_stats, expected = undisturbed
    pipeline = _live(cluster, "disturbed", tmp_path)
    stats = pipeline.stats
    routed: list = []
    handle = pipeline.router.handle

    def recording_handle(chunk, parsed=None):
        routed.append(chunk[0])
        return handle(chunk, parsed) if parsed is not None else handle(chunk)

    pipeline.router.handle = recording_handle
    chunks = _chunks(capture)
    _stop(cluster)
    try:
        # The whole capture arrives while the database is down: the writer retries,
        # its queue and the router's fill, and the rest waits on disk.
        for chunk in chunks:
            assert pipeline.submit(chunk, "ogn")
        assert stats.overflow_in > 0 and stats.disk_buffer.messages > 0
    finally:
        cluster.start()
    _wait_for(lambda: stats.disk_buffer.messages == 0 and not pipeline.inq.qsize(),
              "the disk buffer to drain")
    pipeline.close()
    assert pipeline.failed is None

    a = _balanced(stats)
    assert a["messages_in"] == MESSAGES and a["buffered"] == 0
    assert stats.dropped_queue_full == 0 and QUEUE_FULL not in a["dropped"]
    assert stats.overflow_out == stats.overflow_in > 0 and stats.overflow_refused == 0
    assert [c[0] for c in chunks] == routed             # routed in the order received
    assert stats.fixes_written == expected_stats.fixes_written
    assert stats.rejected == expected_stats.rejected
    assert _stored(cluster, "disturbed") == expected    # same fixes, same flights


def test_what_waits_at_shutdown_stays_on_disk_and_is_routed_first_at_the_next_start(
        cluster, undisturbed, capture, tmp_path):
    expected_stats, expected = undisturbed
    chunks = _chunks(capture)
    half = len(chunks) // 2
    first = _live(cluster, "resumed", tmp_path, shutdown_deadline_s=0.5)
    _stop(cluster)
    try:
        for chunk in chunks[:half]:
            assert first.submit(chunk, "ogn")
        # Stopped with the database down: the writer's batches are spooled, the chunks
        # on disk stay there.
        first.close()
    finally:
        cluster.start()
    one = _balanced(first.stats)
    left = one["buffered"]
    assert left > 0 and one["dropped"] == {}
    assert one["messages_in"] == sum(len(c) for c in chunks[:half])
    assert first.stats.disk_buffer.messages == left

    second = _live(cluster, "resumed", tmp_path)
    stats = second.stats
    assert stats.overflow_resumed == left
    # New live data arrives while the old still waits: it goes behind it.
    for chunk in chunks[half:]:
        assert second.submit(chunk, "ogn")
    _wait_for(lambda: stats.disk_buffer.messages == 0 and not second.inq.qsize(),
              "the disk buffer to drain")
    second.close()
    assert second.failed is None
    two = _balanced(stats)
    # Counted once: the first run's buffered messages are the second run's resumed ones
    # (in both runs' messages_in), its spooled fixes the second's restored ones.
    assert two["restored"] == one["spooled"] > 0
    assert (one["messages_in"] + two["messages_in"]
            - one["buffered"] - two["restored"]) == MESSAGES
    # A restart forgets what the router holds in memory only: the de-duplication of the
    # seconds around it (a copy of an aircraft-second heard before the stop and another
    # after it are both stored) and the tracker's flight starts not yet confirmed. So:
    # the same aircraft-seconds, every fix counted once; flights are compared by the
    # outage tests, which do not restart.
    stored = _stored(cluster, "resumed")
    assert stored["fixes"][0] == first.stats.fixes_written + stats.fixes_written
    assert _seconds(cluster, "resumed") == _seconds(cluster, "undisturbed")


def test_only_a_full_disk_budget_drops_and_the_drops_are_counted(cluster, capture, tmp_path):
    pipeline = _live(cluster, "budget", tmp_path, overflow_budget_bytes=200_000)
    stats = pipeline.stats
    chunks = _chunks(capture[:40])
    _stop(cluster)
    try:
        kept = [pipeline.submit(chunk, "ogn") for chunk in chunks]
    finally:
        cluster.start()
    _wait_for(lambda: stats.disk_buffer.messages == 0 and not pipeline.inq.qsize(),
              "the disk buffer to drain")
    pipeline.close()
    assert pipeline.failed is None
    refused = sum(len(c) for c, ok in zip(chunks, kept, strict=True) if not ok)
    assert refused > 0 and stats.overflow_in > 0
    assert stats.overflow_refused == stats.dropped_queue_full == refused
    assert stats.dropped_by_source == {"ogn": refused}
    a = _balanced(stats)
    assert a["dropped"] == {QUEUE_FULL: refused}
    assert a["messages_in"] == sum(len(c) for c in chunks)
