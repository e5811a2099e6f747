"""The `soar` command as a user runs it: embedded cluster lifecycle and clear errors."""

from __future__ import annotations

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
