"""`soar db prune --older-than AGE`: whole chunks of fixes older than the age go,
newer fixes and every flight stay; a dry run drops nothing and says what it would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from psycopg import sql

from soar.db import retention
from soar.errors import SoarError
from soar.records import aircraft_id

SOAR = str(Path(sys.executable).with_name("soar"))
DAYS = 8
PER_DAY = 50
AIRCRAFT = aircraft_id(2, 1)


@pytest.fixture
def history(conn):
    return fill(conn)


def fill(conn):
    """PER_DAY fixes at noon of each of the last DAYS days (one chunk each) and a
    flight on the oldest day."""
    conn.execute("INSERT INTO aircraft (id, address, address_type) VALUES (%s, 1, 2)", (AIRCRAFT,))
    conn.execute("""
        INSERT INTO fixes (time, received_at, aircraft_id, source, latitude, longitude)
        SELECT t, t, %s, 1, 47.0, 11.0
          FROM generate_series(1, %s) AS d,
               generate_series(1, %s) AS k,
               LATERAL (SELECT date_trunc('day', now()) - d * interval '1 day'
                               + interval '12 hours' + k * interval '1 second' AS t) s
    """, (AIRCRAFT, DAYS, PER_DAY))
    conn.execute("""INSERT INTO flights (id, aircraft_id, source, started_at)
                    VALUES (gen_random_uuid(), %s, 1, now() - interval '8 days')""", (AIRCRAFT,))
    conn.commit()
    return conn


def count(conn, sql: str) -> int:
    return conn.execute(sql).fetchone()[0]


def soar(*args: str, url: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOAR_")}
    env["SOAR_DATABASE_URL"] = url
    return subprocess.run([SOAR, *args], env=env, capture_output=True, text=True, timeout=120)


def test_prune_drops_whole_old_chunks_and_keeps_newer_fixes_and_all_flights(database, history):
    chunks = count(history, "SELECT count(*) FROM show_chunks('fixes')")
    assert chunks == DAYS
    history.rollback()      # hold no lock on the chunks (see the busy-chunk test)
    dry = soar("db", "prune", "--older-than", "4d", "--dry-run", url=database.url())
    assert dry.returncode == 0, dry.stderr
    # One-day chunks: those of 5..8 days ago end before now - 4 days; the chunk of 4
    # days ago ends after it (its noon fixes are older than the cut-off, but not all
    # of the chunk is): whole chunks only.
    doomed = 4
    assert f"would drop {doomed} chunks" in dry.stdout and f"({doomed * PER_DAY} fixes)" in dry.stdout
    assert count(history, "SELECT count(*) FROM fixes") == DAYS * PER_DAY
    history.rollback()
    out = soar("db", "prune", "--older-than", "4d", url=database.url())
    assert out.returncode == 0, out.stderr
    assert f"dropped {doomed} chunks" in out.stdout
    history.rollback()
    assert count(history, "SELECT count(*) FROM show_chunks('fixes')") == DAYS - doomed
    assert count(history, "SELECT count(*) FROM fixes") == (DAYS - doomed) * PER_DAY
    assert count(history, "SELECT min(time) > now() - interval '5 days' FROM fixes")
    assert count(history, "SELECT count(*) FROM flights") == 1
    again = soar("db", "prune", "--older-than", "4d", url=database.url())
    assert "dropped 0 chunks" in again.stdout


@pytest.mark.parametrize("text", ["45", "3m", "-2d", "", "12h"])
def test_an_age_that_is_not_a_number_and_unit_of_a_day_or_more_is_refused(text):
    with pytest.raises(SoarError):
        retention.parse_age(text)


def test_a_bad_age_is_one_line_naming_the_format(database):
    out = soar("db", "prune", "--older-than", "soon", url=database.url())
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "e.g. 45d" in out.stderr


def test_ages_in_hours_days_and_weeks():
    assert retention.parse_age("45d").days == 45
    assert retention.parse_age("2w").days == 14
    assert retention.parse_age("36h").total_seconds() == 36 * 3600


def test_a_chunk_someone_is_reading_is_left_for_the_next_prune_instead_of_waiting(
        database, history):
    oldest, schema, table = history.execute("""
        SELECT c::text, n.nspname, k.relname
          FROM show_chunks('fixes', older_than => now() - interval '4 days') c
          JOIN pg_class k ON k.oid = c::regclass JOIN pg_namespace n ON n.oid = k.relnamespace
         ORDER BY k.oid LIMIT 1""").fetchone()
    history.rollback()
    with database.connect() as reader:
        # A long report holds one old chunk (an open transaction that read it).
        reader.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, table)))
        result = retention.prune(database.url(), retention.parse_age("4d"))
        assert result.busy == [oldest]
        assert len(result.chunks) == 3 and oldest not in result.chunks
    # The reader is gone: the next prune takes it.
    result = retention.prune(database.url(), retention.parse_age("4d"))
    assert result.chunks == [oldest] and result.busy == []
    assert count(history, "SELECT count(*) FROM fixes") == (DAYS - 4) * PER_DAY


def test_the_worker_prunes_on_its_own_schedule_with_its_own_login(refdb):
    """`soar worker --prune-every 1d --keep 4d --drain`: the worker's login (no ownership
    of fixes) drops the old chunks through drop_fix_chunk_v1, and nothing newer.
    `--max-wait 0`: the history's flights have no fixes after their events, and the
    drain would wait the default two minutes for them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOAR_")}
    env.update(SOAR_DATABASE_URL=refdb.url(), SOAR_WORKER_DATABASE_URL=refdb.url("worker"))
    history = fill(refdb.connect())
    history.rollback()
    out = subprocess.run([SOAR, "worker", "--drain", "--max-wait", "0", "--prune-every", "1d",
                          "--keep", "4d"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "retention: dropped 4 chunk(s)" in out.stderr
    assert count(history, "SELECT count(*) FROM fixes") == (DAYS - 4) * PER_DAY
    history.close()


def test_the_worker_login_may_drop_old_fix_chunks_and_nothing_else(database, history):
    import psycopg
    newest = history.execute("SELECT max(c::text) FROM show_chunks('fixes', newer_than => "
                             "now() - interval '2 days') c").fetchone()[0]
    history.rollback()
    with psycopg.connect(database.url("worker"), autocommit=True) as w:
        # Not old enough: refused quietly (false), the chunk stays.
        assert w.execute("SELECT drop_fix_chunk_v1(%s::regclass, interval '2 days')",
                         (newest,)).fetchone()[0] is False
        # Less than a day of fixes kept: an error.
        with pytest.raises(psycopg.errors.RaiseException):
            w.execute("SELECT drop_fix_chunk_v1(%s::regclass, interval '1 hour')", (newest,))
        # Not a chunk of fixes: false.
        assert w.execute("SELECT drop_fix_chunk_v1('flights'::regclass, interval '2 days')"
                         ).fetchone()[0] is False
        # And no DROP of its own.
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            w.execute(sql.SQL("DROP TABLE {}").format(sql.SQL(newest)))
    assert count(history, "SELECT count(*) FROM show_chunks('fixes')") == DAYS
    assert count(history, "SELECT count(*) FROM flights") == 1


def test_prune_every_without_keep_names_both(database):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOAR_")}
    env.update(SOAR_DATABASE_URL=database.url(), SOAR_WORKER_DATABASE_URL=database.url("worker"))
    out = subprocess.run([SOAR, "worker", "--prune-every", "1d"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2 and "--prune-every and --keep go together" in out.stderr


def test_prune_with_archive_then_restore_archive_gives_the_fixes_back_row_for_row(
        database, history, tmp_path):
    every = "SELECT * FROM fixes ORDER BY time, aircraft_id"
    before = history.execute(every).fetchall()
    history.rollback()
    out = soar("db", "prune", "--older-than", "7d", "--archive", str(tmp_path),
               url=database.url())
    assert out.returncode == 0, out.stderr
    files = sorted(tmp_path.glob("*.fixes.zst"))   # the oldest day: the one chunk wholly older
    assert len(files) == 1 and not list(tmp_path.glob("*.part"))
    assert count(history, "SELECT count(*) FROM fixes") == len(before) - PER_DAY
    history.rollback()
    out = soar("db", "restore-archive", str(files[0]), url=database.url())
    assert out.returncode == 0, out.stderr
    assert f"restored {PER_DAY} fixes" in out.stdout
    assert history.execute(every).fetchall() == before


def test_a_damaged_chunk_archive_restores_nothing_and_says_so(database, history, tmp_path):
    history.rollback()
    assert soar("db", "prune", "--older-than", "7d", "--archive", str(tmp_path),
                url=database.url()).returncode == 0
    f = sorted(tmp_path.glob("*.fixes.zst"))[0]
    data = f.read_bytes()
    f.write_bytes(data[:len(data) // 2] + bytes(16) + data[len(data) // 2 + 16:])
    before = count(history, "SELECT count(*) FROM fixes")
    history.rollback()
    out = soar("db", "restore-archive", str(f), url=database.url())
    assert out.returncode != 0 and "damaged chunk archive" in out.stderr
    assert "Traceback" not in out.stderr
    assert count(history, "SELECT count(*) FROM fixes") == before
