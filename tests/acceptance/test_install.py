"""`pip install .` (not editable) gives a working `soar`: the installed package carries its
SQL, migrations and PgBouncer templates (soar/_sql, soar/_alembic, soar/_pgbouncer), so
`soar db upgrade` and a replay work from a directory far from the checkout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from helpers.net import free_port
from soar.db import migrate

CHECKOUT = Path(__file__).resolve().parents[2]
TIMEOUT = 300
# What a build must not pick up from the checkout: the venv, VCS data, the embedded
# cluster, and build leftovers (setuptools never cleans build/lib, so a stale copy
# there would put deleted files in the wheel).
NOT_SOURCE = shutil.ignore_patterns(".venv", ".git", ".soar", "build", "dist", "*.egg-info",
                                    "__pycache__", ".pytest_cache")


def _pip(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT)


def build_wheel(tmp_path: Path) -> Path:
    """A wheel of the checkout's files, built from a copy of them (so the build
    leaves nothing in the checkout). Without build isolation when this venv's
    setuptools can build a wheel; else with it (pip fetches setuptools into a
    throwaway build environment; the venv is not changed)."""
    src = tmp_path / "src"
    shutil.copytree(CHECKOUT, src, ignore=NOT_SOURCE)
    dist = tmp_path / "dist"
    tried = []
    for isolation in (["--no-build-isolation"], []):
        built = _pip("wheel", "--no-deps", *isolation, "-w", str(dist), ".", cwd=src)
        if built.returncode == 0:
            wheels = list(dist.glob("soar-*.whl"))
            assert len(wheels) == 1, wheels
            return wheels[0]
        tried.append(f"pip wheel {' '.join(isolation)}:\n{built.stdout[-2000:]}{built.stderr[-2000:]}")
    raise AssertionError("cannot build a wheel:\n" + "\n".join(tried))


def test_installed_wheel_upgrades_and_replays(tmp_path, data_dir):
    wheel = build_wheel(tmp_path)
    site = tmp_path / "site"
    installed = _pip("install", "--no-deps", "--target", str(site), str(wheel), cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr
    # Everything the package folders and the data folders hold is installed: pyproject.toml
    # lists the packages explicitly, so a new subpackage or data file must be added there.
    src = tmp_path / "src"           # what the wheel was built from
    shipped = {"soar": "soar", "worker": "soar_worker", "sql": "soar/_sql",
               "alembic": "soar/_alembic", "pgbouncer": "soar/_pgbouncer"}
    lacking = [f"{folder}/{f.relative_to(src / folder)} (as {into}/...)"
               for folder, into in shipped.items() for f in sorted((src / folder).rglob("*"))
               if f.is_file() and not (site / into / f.relative_to(src / folder)).is_file()]
    assert not lacking, ("the wheel lacks these files (see [tool.setuptools] in "
                         "pyproject.toml):\n" + "\n".join(lacking))

    workdir = tmp_path / "elsewhere"         # not the checkout: nothing found by accident
    workdir.mkdir()
    home = Path(tempfile.mkdtemp(prefix="soar-install-"))
    os.chmod(home, 0o755)   # as root the server runs as `postgres`, which must reach it
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOAR_")}
    env.update(PYTHONPATH=str(site), SOAR_HOME=str(home), SOAR_DB_PORT=str(free_port()))

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, *args], cwd=workdir, env=env,
                              capture_output=True, text=True, timeout=TIMEOUT)

    def soar(*args: str) -> subprocess.CompletedProcess:
        return run("-m", "soar", *args)

    where = run("-c", "import soar; print(soar.__file__)")
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).resolve().is_relative_to(site.resolve()), where.stdout
    dirs = run("-c", "from soar.db.sqlfiles import project_dir; "
                     "print(*(project_dir(n) for n in ('sql', 'alembic', 'pgbouncer')))")
    assert dirs.returncode == 0, dirs.stderr
    assert dirs.stdout.split() == [str(site / "soar" / f"_{n}")
                                   for n in ("sql", "alembic", "pgbouncer")]
    try:
        started = soar("db", "start")
        assert started.returncode == 0, started.stderr
        upgraded = soar("db", "upgrade")
        assert upgraded.returncode == 0, upgraded.stderr
        status = soar("db", "status")
        assert status.returncode == 0, status.stderr
        assert f"revision: {migrate.head()}" in status.stdout, status.stdout

        replayed = soar("replay", "--format", "beast",
                        str(data_dir / "beast" / "ulss7-2018-04-03.beast"))
        assert replayed.returncode == 0, replayed.stderr
        summary = json.loads(replayed.stdout.strip().splitlines()[-1])
        assert summary["fixes_written"] > 0, summary
    finally:
        soar("db", "stop")
        shutil.rmtree(home, ignore_errors=True)
