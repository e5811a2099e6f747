"""`pgbouncer/setup-pgbouncer ENV` as an operator runs it, and soar through the
PgBouncer it configures: a real PgBouncer (Debian's) started from the written files,
SCRAM logins of their own for ingest, worker and read-only, the server reached over
TCP with SCRAM (pass-through: no password is in any file)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest

from helpers.net import free_port
from helpers.wait import wait_until
from soar.reference import samples

ROOT = Path(__file__).resolve().parents[2]
SETUP = ROOT / "pgbouncer" / "setup-pgbouncer"
SOAR = str(Path(sys.executable).with_name("soar"))
COMPONENTS = ("ingest", "worker", "readonly")


@pytest.fixture(scope="module")
def logins(pg_cluster):
    """Login roles of their own (members of the soar roles) with random SCRAM passwords,
    and a superuser login over TCP for the setup to read the verifiers with."""
    passwords = {name: secrets.token_urlsafe(18) for name in ("admin", *COMPONENTS)}
    with psycopg.connect(pg_cluster.url(), autocommit=True) as c:
        c.execute("SET password_encryption = 'scram-sha-256'")
        for name, pw in passwords.items():
            role = f"pgb_{name}"
            c.execute(f"DROP ROLE IF EXISTS {role}")
            extra = "SUPERUSER" if name == "admin" else f"IN ROLE soar_{name}"
            # A password cannot be a bind parameter in DDL: it is random, url-safe text.
            c.execute(f"CREATE ROLE {role} LOGIN {extra} PASSWORD '{pw}'")
    yield passwords
    with psycopg.connect(pg_cluster.url(), autocommit=True) as c:
        for name in passwords:
            c.execute(f"DROP ROLE IF EXISTS pgb_{name}")


@pytest.fixture
def prefix():
    path = Path(tempfile.mkdtemp(prefix="soar-pgb-"))
    os.chmod(path, 0o755)     # as root pgbouncer runs as `postgres`, which must read it
    yield path
    shutil.rmtree(path, ignore_errors=True)


def write_env(prefix: Path, name: str, pg_cluster, database: str, logins: dict,
              bouncer_port: int) -> None:
    direct = f"postgresql://pgb_admin:{logins['admin']}@127.0.0.1:{pg_cluster.port}/{database}"
    lines = [f"SOAR_DATABASE_URL={direct}"]
    for c in COMPONENTS:
        lines.append(f"SOAR_{c.upper()}_DATABASE_URL=postgresql://pgb_{c}:{logins[c]}"
                     f"@127.0.0.1:{bouncer_port}/{database}")
    path = prefix / "etc/soar" / ("env" if name == "production" else f"env-{name}")
    path.parent.mkdir(parents=True)
    path.write_text("# written by the test\n" + "\n".join(lines) + "\n")
    path.chmod(0o600)


def setup(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(SETUP), *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_staging_dry_run_shows_port_6433_transaction_pooling_and_the_pool_sizes(
        pg_cluster, database, logins, prefix):
    write_env(prefix, "staging", pg_cluster, database.name, logins, 6433)
    out = setup("staging", "--dry-run", "--prefix", str(prefix))
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for line in ("listen_port = 6433", "pool_mode = transaction", "default_pool_size = 50",
                 "min_pool_size = 10", "reserve_pool_size = 10", "auth_type = scram-sha-256",
                 f"{database.name} = host=127.0.0.1 port={pg_cluster.port} dbname={database.name}"):
        assert line in text.splitlines(), line
    assert "pgbouncer-staging.service" in text and "userlist-staging.txt" in text
    # Nothing secret is shown, and nothing is written.
    for pw in logins.values():
        assert pw not in text
    assert "SCRAM-SHA-256$4096" not in text and text.count("SCRAM-SHA-256$<masked>") == 3
    assert not (prefix / "etc/pgbouncer").exists()


def test_setup_writes_the_servers_verifiers_privately_and_a_rerun_changes_nothing(
        pg_cluster, database, logins, prefix):
    write_env(prefix, "production", pg_cluster, database.name, logins, 6432)
    first = setup("production", "--prefix", str(prefix))
    assert first.returncode == 0, first.stderr
    users = prefix / "etc/pgbouncer/userlist-production.txt"
    ini = prefix / "etc/pgbouncer/pgbouncer-production.ini"
    unit = prefix / "etc/systemd/system/pgbouncer-production.service"
    assert first.stdout.count("written") == 3
    with psycopg.connect(pg_cluster.url()) as c:
        stored = dict(c.execute("SELECT rolname, rolpassword FROM pg_authid "
                                "WHERE rolname LIKE 'pgb_%'").fetchall())
    assert users.read_text() == "".join(f'"pgb_{c}" "{stored[f"pgb_{c}"]}"\n' for c in COMPONENTS)
    assert stat.S_IMODE(users.stat().st_mode) == 0o640
    assert "listen_port = 6432" in ini.read_text()
    assert f"ExecStart=/usr/sbin/pgbouncer {ini}" in unit.read_text()
    for pw in logins.values():
        assert all(pw not in p.read_text() for p in (users, ini, unit))
    before = {p: p.stat().st_mtime_ns for p in (users, ini, unit)}
    again = setup("production", "--prefix", str(prefix))
    assert again.returncode == 0 and again.stdout.count("unchanged") == 3, again.stdout
    assert {p: p.stat().st_mtime_ns for p in (users, ini, unit)} == before


def test_a_role_without_a_scram_password_is_refused_with_the_fix(pg_cluster, database, logins,
                                                                 prefix):
    write_env(prefix, "staging", pg_cluster, database.name, logins, 6433)
    with psycopg.connect(pg_cluster.url(), autocommit=True) as c:
        c.execute("ALTER ROLE pgb_worker PASSWORD NULL")
    try:
        out = setup("staging", "--prefix", str(prefix))
    finally:
        with psycopg.connect(pg_cluster.url(), autocommit=True) as c:
            c.execute(f"ALTER ROLE pgb_worker PASSWORD '{logins['worker']}'")
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    assert "pgb_worker" in out.stderr and "\\password pgb_worker" in out.stderr
    assert not (prefix / "etc/pgbouncer").exists()


def test_a_missing_environment_file_names_what_to_write(prefix):
    out = setup("staging", "--prefix", str(prefix))
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "env-staging not found" in out.stderr and "SOAR_DATABASE_URL" in out.stderr


def _wait_listening(port: int, proc: subprocess.Popen, log: Path) -> None:
    def listening() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"pgbouncer exited: {log.read_text()}")
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0
    wait_until(listening, what="pgbouncer to listen")


@pytest.fixture
def bouncer(pg_cluster, refdb, logins, prefix):
    """PgBouncer started from the files setup-pgbouncer wrote (on a free port)."""
    port = free_port()
    write_env(prefix, "staging", pg_cluster, refdb.name, logins, port)
    out = setup("staging", "--prefix", str(prefix), "--port", str(port))
    assert out.returncode == 0, out.stderr
    ini = prefix / "etc/pgbouncer/pgbouncer-staging.ini"
    log = prefix / "pgbouncer.log"
    cmd = ["pgbouncer", str(ini)]
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    with open(log, "w") as f:
        os.chmod(log, 0o666)
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT)
    try:
        _wait_listening(port, proc, log)
        yield {c: f"postgresql://pgb_{c}:{logins[c]}@127.0.0.1:{port}/{refdb.name}"
               for c in COMPONENTS}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_replay_tracker_and_worker_run_through_the_configured_pgbouncer(bouncer, refdb, tmp_path):
    lines = samples.path("oneminute.txt").read_text().splitlines()[:20000]
    part = tmp_path / "part.txt"
    part.write_text("\n".join(lines) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOAR_")}
    env.update(SOAR_DATABASE_URL=bouncer["ingest"], SOAR_INGEST_DATABASE_URL=bouncer["ingest"],
               SOAR_WORKER_DATABASE_URL=bouncer["worker"], SOAR_HOME=str(tmp_path / "home"))
    replay = subprocess.run([SOAR, "replay", str(part), "--format", "aprs"], env=env,
                            capture_output=True, text=True, timeout=300)
    assert replay.returncode == 0, replay.stderr
    summary = json.loads(replay.stdout.splitlines()[-1])
    acc = summary["accounting"]
    assert acc["balanced"] and acc["fixes_stored"] > 5000
    with refdb.connect() as c:
        assert c.execute("SELECT count(*) FROM fixes").fetchone()[0] == acc["fixes_stored"]
        flights = c.execute("SELECT count(*) FROM flights").fetchone()[0]
        queued = c.execute("SELECT count(*) FROM pgmq.q_flight_enrichment").fetchone()[0]
    assert flights > 0 and queued > 0
    worker = subprocess.run([SOAR, "worker", "--drain"], env=env, capture_output=True,
                            text=True, timeout=300)
    assert worker.returncode == 0, worker.stderr
    with refdb.connect() as c:
        assert c.execute("SELECT count(*) FROM pgmq.q_flight_enrichment").fetchone()[0] == 0
        archived = c.execute("SELECT count(*) FROM pgmq.a_flight_enrichment").fetchone()[0]
        dead = c.execute("SELECT count(*) FROM pgmq.q_flight_enrichment_dead").fetchone()[0]
    assert archived == queued and dead == 0
    # The read-only login reads the pools: ingest's and the worker's were used.
    stats = subprocess.run([SOAR, "pgbouncer", "stats", "--json", "--url", bouncer["readonly"]],
                           env=env, capture_output=True, text=True, timeout=60)
    assert stats.returncode == 0, stats.stderr
    doc = json.loads(stats.stdout)
    users = {p["user"] for p in doc["pools"] if p["database"] == refdb.name}
    assert {"pgb_ingest", "pgb_worker"} <= users
    assert all(p["pool_mode"] == "transaction" for p in doc["pools"])
    db = next(d for d in doc["databases"] if d["database"] == refdb.name)
    assert db["transactions"] > 0


def test_component_logins_come_from_the_services_own_files(pg_cluster, database, logins,
                                                           prefix):
    """/etc/soar/env with the owner's login and the read-only one only; ingest's and the
    worker's logins in their services' files (deploy/*.service load nothing else)."""
    write_env(prefix, "staging", pg_cluster, database.name, logins, 6433)
    owner = prefix / "etc/soar/env-staging"
    kept = [ln for ln in owner.read_text().splitlines()
            if not ln.startswith(("SOAR_INGEST_", "SOAR_WORKER_"))]
    owner.write_text("\n".join(kept) + "\n")
    for c in ("ingest", "worker"):
        (prefix / f"etc/soar/{c}-staging.env").write_text(
            f"SOAR_{c.upper()}_DATABASE_URL=postgresql://pgb_{c}:{logins[c]}"
            f"@127.0.0.1:6433/{database.name}\nSOAR_RUN_ARGS=--ogn host:1 --beast host:2\n")
    out = setup("staging", "--dry-run", "--prefix", str(prefix))
    assert out.returncode == 0, out.stderr
    users = out.stdout[out.stdout.index("userlist-staging.txt"):]
    for c in COMPONENTS:
        assert f'"pgb_{c}" "SCRAM-SHA-256$<masked>"' in users, c
