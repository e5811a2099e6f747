"""The `soar` command as a user runs it: embedded cluster lifecycle and clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg

from helpers.net import free_port
from soar.db import migrate

SOAR = [sys.executable, "-m", "soar"]


def run(*args, env_extra=None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOAR_")}
    env.update(env_extra or {})
    return subprocess.run([*SOAR, *args], capture_output=True, text=True, env=env, timeout=180)


def test_version():
    out = run("--version")
    assert out.returncode == 0 and out.stdout.startswith("soar ")


def test_unreachable_database_is_one_line_exit_2():
    out = run("db", "upgrade", env_extra={
        "SOAR_DATABASE_URL": f"postgresql://nobody@127.0.0.1:{free_port()}/nothing"})
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot connect to the database" in lines[0]


def test_password_is_not_printed():
    out = run("db", "upgrade", env_extra={
        "SOAR_DATABASE_URL": f"postgresql://u:s3cr3t-value@127.0.0.1:{free_port()}/x"})
    assert out.returncode == 2 and "s3cr3t-value" not in out.stderr + out.stdout


def test_embedded_start_upgrade_status_stop():
    home = Path(tempfile.mkdtemp(prefix="soar-cli-"))
    os.chmod(home, 0o755)
    env = {"SOAR_HOME": str(home), "SOAR_DB_PORT": str(free_port())}
    try:
        assert run("db", "status", env_extra=env).returncode == 1
        started = run("db", "start", env_extra=env)
        assert started.returncode == 0, started.stderr
        assert run("db", "upgrade", env_extra=env).returncode == 0
        status = run("db", "status", env_extra=env)
        assert status.returncode == 0 and f"revision: {migrate.head()}" in status.stdout
        url = run("db", "url", env_extra=env).stdout.strip()
        with psycopg.connect(url) as c:
            assert c.execute("SELECT hypertable_name FROM timescaledb_information.hypertables"
                             ).fetchall() == [("fixes",)]
            assert ("flight_enrichment",) in c.execute(
                "SELECT queue_name FROM pgmq.list_queues()").fetchall()
            # Loopback only, socket trusted, TCP needs a password.
            assert c.execute("SHOW listen_addresses").fetchone()[0] == "127.0.0.1"
        assert run("db", "start", env_extra=env).returncode == 0      # idempotent
    finally:
        run("db", "stop", env_extra=env)
        subprocess.run(["rm", "-rf", str(home)])


# -- ingest and the worker run as their own role ---------------------------------------

def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_ingest_as_the_owner_needs_the_flag_and_is_warned_about(database, conn, tmp_path):
    from soar.reference import samples

    capture = tmp_path / "ogn.txt"
    capture.write_text("\n".join(samples.path("oneminute.txt").read_text().splitlines()[:2000]))
    replay = ("replay", "--format", "aprs", str(capture))
    owner = {"SOAR_DATABASE_URL": database.url()}      # no SOAR_INGEST_DATABASE_URL

    refused = run(*replay, env_extra=owner)
    assert refused.returncode == 2
    line = _one_line(refused.stderr)
    assert "ingest would log in as 'postgres', a superuser" in line
    assert "SOAR_INGEST_DATABASE_URL" in line and "--allow-owner" in line
    assert conn.execute("SELECT count(*) FROM fixes").fetchone() == (0,)

    stored = 0
    for args, extra, warned in (
            (("--allow-owner", *replay), owner, True),
            (replay, {**owner, "SOAR_ALLOW_OWNER": "1"}, True),
            (replay, {**owner, "SOAR_INGEST_DATABASE_URL": database.url("ingest")}, False)):
        out = run(*args, env_extra=extra)
        assert out.returncode == 0, out.stderr
        assert ("WARNING soar.db: ingest logs in as 'postgres', a superuser" in out.stderr) is warned
        written = json.loads(out.stdout.strip().splitlines()[-1])["fixes_written"]
        assert written > 0
        stored += written
        assert conn.execute("SELECT count(*) FROM fixes").fetchone() == (stored,)


def test_worker_as_the_owner_needs_the_flag(database):
    owner = {"SOAR_DATABASE_URL": database.url()}
    refused = run("worker", "--drain", env_extra=owner)
    assert refused.returncode == 2
    line = _one_line(refused.stderr)
    assert "worker would log in as 'postgres'" in line and "SOAR_WORKER_DATABASE_URL" in line
    # Allowed, it gets past the login check to the worker's own (the test database has
    # no airports), after the warning.
    allowed = run("--allow-owner", "worker", "--drain", env_extra=owner)
    assert allowed.returncode == 2
    assert "WARNING soar.db: worker logs in as 'postgres'" in allowed.stderr
    assert "no airports loaded" in allowed.stderr
