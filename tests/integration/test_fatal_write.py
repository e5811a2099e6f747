"""A database that refuses ingest's writes for a reason of its setup (here: INSERT on
fixes revoked from the ingest role in the middle of a replay) discards nothing: the
pipeline stops with one line naming the SQLSTATE and the fix, the batches it could not
write stay in the spool, and after the grant a restart stores exactly the fixes of an
undisturbed run. The same refusal again after a restart quarantines the kept batches
whole instead of failing every start."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from helpers.database import new_database
from helpers.wait import wait_until
from soar import ingest
from soar.feeds import ogn, recordings
from soar.ingest.pipeline import PipelineConfig, PipelineError
from soar.ingest.stats import IngestStats
from soar.reference import samples

CONFIG = dict(batch_size=200, batch_age_s=0.05, shutdown_deadline_s=20)


@pytest.fixture(scope="module")
def chunks() -> list[list]:
    """The lines of the busiest receiver of the one-minute capture: one receiver, so no
    fix is a cross-receiver duplicate whose fate would hang on a restart's boundary."""
    path = samples.path("oneminute.txt")
    busiest = Counter()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        parsed = ogn.parse_capture_line(line)
        if parsed and ",qAS," in parsed[1]:
            busiest[parsed[1].split(",qAS,", 1)[1].split(":", 1)[0]] += 1
    receiver = busiest.most_common(1)[0][0]
    msgs = [m for m in recordings.aprs_messages(path)
            if isinstance(m.payload, str) and f",qAS,{receiver}:" in m.payload]
    assert len(msgs) > 600
    return [msgs[i:i + 50] for i in range(0, len(msgs), 50)]


def _fixes(conn) -> Counter:
    return Counter(conn.execute(
        "SELECT aircraft_id, time, latitude, longitude FROM fixes").fetchall())


def _run(db, chunks, spool, revoke_after: int | None = None, admin=None):
    """Feed chunks until they end or the pipeline fails; (stats, first chunk not taken,
    the failure)."""
    stats = IngestStats()
    p = ingest.build(db.url("ingest"), stats, PipelineConfig(spool_dir=spool, **CONFIG),
                     track=False)
    p.start()
    taken, failure = len(chunks), None
    for i, chunk in enumerate(chunks):
        if i == revoke_after:
            if i:       # "in the middle": once the writer has stored something
                wait_until(lambda: stats.fixes_written > 0, what="the first fixes stored")
            admin.execute("REVOKE INSERT ON fixes FROM soar_ingest")
        try:
            p.submit(chunk, stop=threading.Event())
        except PipelineError as exc:
            taken, failure = i, exc
            break
    p.close()       # the writer may meet the refusal only with the last batches
    return stats, taken, failure or p.failed


@pytest.fixture
def second_database(pg_cluster, db_template):
    with new_database(pg_cluster, db_template, "soar_undisturbed") as db:
        yield db


def test_a_revoked_insert_keeps_everything_and_a_restart_after_the_grant_equals_undisturbed(
        database, second_database, chunks, tmp_path):
    # Undisturbed.
    undisturbed, _, failed = _run(second_database, chunks, tmp_path / "s0")
    assert failed is None
    with second_database.connect() as c:
        want = _fixes(c)
    assert sum(want.values()) == undisturbed.fixes_written > 500

    spool = tmp_path / "spool"
    with database.connect() as admin:
        admin.autocommit = True
        stats, taken, failure = _run(database, chunks, spool, revoke_after=len(chunks) // 2,
                                     admin=admin)
        assert failure is not None
        line = str(failure)
        assert "\n" not in line and "42501" in line and "grant the privilege" in line, line
        assert stats.spooled_batches >= 1 and stats.spooled_fixes >= 1
        assert list(spool.rglob("*.batch"))
        a = stats.accounting()
        assert a["balanced"], a
        assert "write_error" not in a["rejected"] and a["in_flight"] == 0
        # The chunk whose submit found the pipeline failed was taken but never handled.
        lost = a["dropped"].get("pipeline_failed", 0)
        assert lost == (len(chunks[taken]) if taken < len(chunks) else 0)
        stored_before = stats.fixes_written
        assert 0 < stored_before < undisturbed.fixes_written

        admin.execute("GRANT INSERT ON fixes TO soar_ingest")
    # The restart: the spool first, then the chunks from the one not handled.
    again, _, failed = _run(database, chunks[taken:], spool)
    assert failed is None
    assert again.restored_fixes == stats.spooled_fixes
    assert not list(spool.rglob("*.batch"))
    assert again.accounting()["balanced"]
    with database.connect() as c:
        assert _fixes(c) == want


def test_the_same_refusal_after_a_restart_quarantines_the_kept_batches_whole(
        database, chunks, tmp_path):
    spool = tmp_path / "spool"
    with database.connect() as admin:
        admin.autocommit = True
        stats, taken, failure = _run(database, chunks, spool, revoke_after=2, admin=admin)
        assert failure is not None and stats.spooled_fixes > 0
        kept = stats.spooled_fixes
        # Restart with the privilege still missing: the kept batches are quarantined
        # whole (counted), the start goes on, and the next live batch fails again.
        again, _, failure2 = _run(database, [], spool)
        assert again.restored_fixes == kept
        assert again.rejected[("db", "quarantined")] == kept
        assert again.accounting()["balanced"]
        assert not list(spool.rglob("*.batch"))
        n = admin.execute("SELECT count(*) FROM ingest_quarantine WHERE what = 'fix' "
                          "AND reason LIKE 'write_error: %42501%'").fetchone()[0]
        assert n == kept


def test_a_fatal_refusal_is_never_retried_as_transient(database, chunks, tmp_path, caplog):
    with database.connect() as admin:
        admin.autocommit = True
        admin.execute("REVOKE INSERT ON fixes FROM soar_ingest")
        stats, _, failure = _run(database, chunks[:4], tmp_path / "spool")
    assert failure is not None and "42501" in str(failure)
    assert "retrying batch" not in caplog.text
    assert stats.spooled_fixes == sum(len(c) for c in chunks[:4]) - sum(
        n for (_, why), n in stats.rejected.items() if why != "pipeline_failed")
