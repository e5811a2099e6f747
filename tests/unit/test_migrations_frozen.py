"""Released migrations are frozen: the SQL files they apply never change.

Every revision in alembic/versions/ declares the files it applies as module-level
tuples named UPGRADE_FILES or DOWNGRADE_FILES (optionally with a suffix, such as
UPGRADE_FILES_BEFORE_PGMQ), relative to sql/. alembic/sql.sha256 lists each of them with
its sha256. A change to a listed file fails here: it belongs in a new file applied by a
new migration (a function whose signature or meaning changes gets a versioned name,
detect_runway_v2). scripts/freeze-migrations adds a NEW revision's files to the list.

No database is needed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from soar.db.frozen import Problem, check, load_revisions
from soar.db.sqlfiles import project_dir

ALEMBIC = project_dir("alembic")
SQL = project_dir("sql")
FREEZE = Path(__file__).resolve().parents[2] / "scripts" / "freeze-migrations"


def _report(problems: list[Problem]) -> str:
    return "\n".join(p.message for p in problems)


# --- the project's own migrations --------------------------------------------------------

def test_released_sql_files_are_unchanged():
    problems = check(ALEMBIC, SQL)
    assert not problems, _report(problems)


def test_suffixed_declarations_are_collected():
    """0001 applies files on both sides of installing pgmq, in two tuples; both count."""
    foundation = load_revisions(ALEMBIC)[0]
    assert foundation.revision == "0001"
    assert {"schema/001_extensions.sql", "schema/016_fixes.sql", "schema/001_down.sql"} <= set(
        foundation.files)


# --- the check itself, on a copy -----------------------------------------------------------

def _copy(tmp_path: Path) -> tuple[Path, Path]:
    alembic = tmp_path / "alembic"
    sql = tmp_path / "sql"
    shutil.copytree(ALEMBIC, alembic, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(SQL, sql)
    return alembic, sql


def test_check_reports_a_changed_file(tmp_path):
    alembic, sql = _copy(tmp_path)
    assert check(alembic, sql) == []                  # the copy itself is clean
    target = sql / "functions" / "detect_runway.sql"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x20                        # one byte
    target.write_bytes(bytes(data))

    problems = check(alembic, sql)
    assert [p.file for p in problems] == ["functions/detect_runway.sql"]
    assert problems[0].message == (
        "sql/functions/detect_runway.sql is applied by released migration 0002: do not edit "
        "it; put the change in a new file applied by a new migration (see docs/ARCHITECTURE.md)")


def test_check_reports_missing_unlisted_and_stale_files(tmp_path):
    alembic, sql = _copy(tmp_path)
    (sql / "views" / "flights_daily.sql").unlink()
    with open(alembic / "sql.sha256", "a", encoding="utf-8") as f:
        f.write(f"{'0' * 64}  functions/gone.sql\n")
    (alembic / "versions" / "0099_new.py").write_text(
        'revision = "0099"\ndown_revision = "0003"\n'
        'UPGRADE_FILES = ("functions/new_v2.sql",)\nDOWNGRADE_FILES = ()\n')
    (sql / "functions" / "new_v2.sql").write_text("SELECT 1;\n")

    messages = {p.file: p.message for p in check(alembic, sql)}
    assert set(messages) == {"views/flights_daily.sql", "functions/gone.sql",
                             "functions/new_v2.sql"}
    assert "does not exist" in messages["views/flights_daily.sql"]
    assert "no revision applies" in messages["functions/gone.sql"]
    assert "not listed" in messages["functions/new_v2.sql"]


def test_check_reports_a_file_applied_outside_the_declarations(tmp_path):
    alembic, sql = _copy(tmp_path)
    (alembic / "versions" / "0099_new.py").write_text(
        'from soar.db import sqlfiles\nrevision = "0099"\ndown_revision = "0003"\n'
        'UPGRADE_FILES = ()\n'
        'def upgrade():\n    sqlfiles.execute(None, "functions/detect_runway.sql")\n')
    problems = check(alembic, sql)
    assert [p.file for p in problems] == ["functions/detect_runway.sql"]
    assert "outside its UPGRADE_FILES/DOWNGRADE_FILES" in problems[0].message


def _freeze(alembic: Path, sql: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(FREEZE), "--alembic", str(alembic),
                           "--sql", str(sql), *args],
                          capture_output=True, text=True, timeout=60)


def test_freeze_script_adds_a_new_revision_and_refuses_a_changed_file(tmp_path):
    alembic, sql = _copy(tmp_path)
    assert _freeze(alembic, sql, "--check").returncode == 0     # the list is up to date
    (alembic / "versions" / "0099_new.py").write_text(
        'revision = "0099"\ndown_revision = "0003"\n'
        'UPGRADE_FILES = ("functions/new_v2.sql",)\nDOWNGRADE_FILES = ()\n')
    (sql / "functions" / "new_v2.sql").write_text("SELECT 1;\n")
    assert _freeze(alembic, sql, "--check").returncode == 1
    added = _freeze(alembic, sql)
    assert added.returncode == 0, added.stderr
    assert check(alembic, sql) == []

    with open(sql / "schema" / "016_fixes.sql", "a", encoding="utf-8") as f:
        f.write("-- an edit\n")
    refused = _freeze(alembic, sql)
    assert refused.returncode == 1
    assert "sql/schema/016_fixes.sql is applied by released migration 0001" in refused.stderr
    assert [p.file for p in check(alembic, sql)] == ["schema/016_fixes.sql"]
