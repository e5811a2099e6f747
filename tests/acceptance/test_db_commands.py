"""`soar db current|history`: what an operator checks before and after an upgrade."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from soar.db import migrate

SOAR = str(Path(sys.executable).with_name("soar"))


def soar(*args: str, url: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOAR_")}
    env["SOAR_DATABASE_URL"] = url
    return subprocess.run([SOAR, *args], env=env, capture_output=True, text=True, timeout=120)


def test_current_and_history_follow_an_upgrade(empty_database):
    url = empty_database.url()
    assert soar("db", "current", url=url).stdout.startswith("none")
    revisions = [r.revision for r in migrate.history()]
    assert revisions[0] == "0001" and revisions[-1] == migrate.head()
    migrate.upgrade(url, revisions[1])
    assert soar("db", "current", url=url).stdout.strip() == revisions[1]
    lines = soar("db", "history", url=url).stdout.splitlines()
    marked = [line for line in lines if line.startswith("*")]
    assert len(lines) == len(revisions) and len(marked) == 1 and revisions[1] in marked[0]
    out = soar("db", "upgrade", url=url)
    assert out.returncode == 0, out.stderr
    assert soar("db", "current", url=url).stdout.strip() == migrate.head()
