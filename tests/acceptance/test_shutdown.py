"""`soar run` and `soar replay` as a user runs them, when things go wrong: SIGTERM with
the database down (the buffered batches are spooled to disk and written first at the
next start: totals equal to an undisturbed run), a second signal (spool at once), a
killed parse process (one line, non-zero exit, no hang).

The database that goes down is a cluster of the test's own (soar.db.embedded on a
free port), not the session's."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.request
import uuid
from datetime import datetime, timezone
from pathlib import Path

import psycopg
import pytest

from helpers.net import free_port
from helpers.wait import wait_until
from soar.db import embedded, migrate
from soar.ingest.spool import Spool
from soar.reference import samples

CEILING_S = float(os.environ.get("SOAR_TEST_CEILING_S", 300))         # generous: only a hang reaches it
LINES = samples.path("oneminute.txt").read_text().splitlines()[2:3002]


@pytest.fixture(scope="module")
def own_cluster():
    home = Path(tempfile.mkdtemp(prefix="soar-shutdown-"))
    os.chmod(home, 0o755)   # the server runs as `postgres` when the tests run as root
    cluster = embedded.Cluster(home=home, port=free_port(), settings={
        "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
        "timescaledb.max_background_workers": "0"})
    cluster.start()
    yield cluster
    cluster.stop()
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def own_database(own_cluster):
    """A migrated database on the test's own cluster: (admin url, ingest url)."""
    own_cluster.start()
    name = f"soar_shutdown_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(own_cluster.conninfo("postgres"), autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    migrate.upgrade(own_cluster.url(name))
    yield own_cluster.url(name), own_cluster.url(name, user="soar_ingest")
    own_cluster.start()
    with psycopg.connect(own_cluster.conninfo("postgres"), autocommit=True) as c:
        c.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


class AprsServer(threading.Thread):
    """A loopback APRS-IS server: accepts one client, reads its login (`logged_in`),
    sends the banner, then `lines` (with their hhmmss moved to now, so they are live
    traffic) once `go` is set, and holds the connection open."""

    def __init__(self, lines: list[str]):
        super().__init__(daemon=True)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.lines = lines
        self.logged_in, self.go, self.done = threading.Event(), threading.Event(), threading.Event()

    def run(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            login = b""
            while not login.endswith(b"\n"):
                login += conn.recv(1024)
            conn.sendall(b"# aprsc 2.1.5-g8af3cdc 1 Jan 2026 00:00:00 GMT GLIDERN2 1.2.3.4:14580\r\n")
            self.logged_in.set()
            self.go.wait(CEILING_S)
            now = datetime.now(timezone.utc).strftime("%H%M%S")
            out = [re.sub(r":/\d{6}h", f":/{now}h", line.split(": ", 1)[1], count=1)
                   for line in self.lines]
            if out:
                conn.sendall(("\r\n".join(out) + "\r\n").encode())
            self.done.wait(CEILING_S)


class Soar:
    """`python -m soar ...` with its stderr read as it comes (a full pipe would block
    the process) and its Prometheus metrics at hand."""

    def __init__(self, args: list[str], admin_url: str, ingest_url: str, **env):
        self.metrics_port = free_port()
        base = {k: v for k, v in os.environ.items() if not k.startswith("SOAR_")}
        base.update(SOAR_DATABASE_URL=admin_url, SOAR_INGEST_DATABASE_URL=ingest_url, **env)
        if args[0] == "run":
            args = [*args, "--metrics-port", str(self.metrics_port), "--stats-interval", "1"]
        self.proc = subprocess.Popen([sys.executable, "-m", "soar", *args], env=base,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.err: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            with self._changed:
                self.err.append(line)
                self._changed.notify_all()

    def wait_stderr(self, text: str) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: any(text in ln for ln in self.err),
                                          CEILING_S), (text, self.err[-20:])

    def messages(self) -> float:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                text = r.read().decode()
        except OSError:
            return -1
        m = re.search(r'^soar_ingest_messages_total\{source="aprs"\} (\S+)$', text, re.M)
        return float(m.group(1)) if m else 0

    def wait_messages(self, n: int) -> None:
        def routed() -> bool:
            assert self.proc.poll() is None, "".join(self.err)
            return self.messages() >= n
        wait_until(routed, CEILING_S, what=f"{n} messages routed")
        assert self.messages() == n

    def signal(self, sig=signal.SIGTERM) -> None:
        self.proc.send_signal(sig)

    def finish(self) -> tuple[int, dict | None, str]:
        try:
            rc = self.proc.wait(CEILING_S)     # stdout holds one line: the pipe never fills
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self._reader.join(CEILING_S)
            raise AssertionError("soar did not exit:\n" + "".join(self.err[-30:])) from None
        out = self.proc.stdout.read()
        self._reader.join(CEILING_S)
        lines = out.strip().splitlines()
        return rc, (json.loads(lines[-1]) if lines else None), "".join(self.err)


def run_live(admin_url, ingest_url, lines, spool_dir, *, before_lines=None,
             stop=lambda soar: soar.signal(), deadline_s=2.0):
    """`soar run` against a loopback APRS-IS server sending `lines`; `before_lines`
    runs once it is connected (the pipeline has started), before the lines are sent;
    SIGTERM once every line is counted."""
    server = AprsServer(lines)
    server.start()
    soar = Soar(["run", "--ogn", f"127.0.0.1:{server.port}", "--shutdown-deadline",
                 str(deadline_s), "--spool-dir", str(spool_dir)], admin_url, ingest_url)
    try:
        assert server.logged_in.wait(CEILING_S), "".join(soar.err)
        if before_lines:
            before_lines()
        server.go.set()
        soar.wait_messages(len(lines) + 1)       # + the banner
        stop(soar)
        return soar.finish()
    finally:
        server.done.set()
        if soar.proc.poll() is None:
            soar.proc.kill()


def table_counts(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as c:
        return c.execute("SELECT (SELECT count(*) FROM fixes), "
                         "(SELECT count(*) FROM flights)").fetchone()


def accounted(s: dict) -> int:
    return s["fixes_accepted"] + s["receiver_beacons"] + s["state_only"] + sum(s["rejected"].values())


def test_sigterm_with_the_database_down_spools_and_the_next_start_writes_it(
        database, own_cluster, own_database, tmp_path):
    # The undisturbed run of the same input.
    rc, calm, err = run_live(database.url(), database.url("ingest"), LINES, tmp_path / "calm")
    assert rc == 0, err
    expected = table_counts(database.url())
    assert expected[0] == calm["fixes_written"] > 1500

    admin, ingest_url = own_database
    spool_dir = tmp_path / "spool"
    # The database stops after start-up, before any line arrives: everything buffered.
    rc, down, err = run_live(admin, ingest_url, LINES, spool_dir, before_lines=own_cluster.stop)
    assert rc == 0, err
    assert "Traceback" not in err
    assert "spooled" in err
    assert down["messages_total"] == len(LINES) + 1 == accounted(down)
    assert down["fixes_written"] == 0
    assert down["spooled_fixes"] == down["fixes_accepted"] == calm["fixes_accepted"]
    spool = Spool(spool_dir, ingest_url)
    files = spool.pending()
    assert len(files) == down["spooled_batches"] >= 1
    assert sum(len(spool.load(f).fixes) for f in files) == down["spooled_fixes"]
    assert oct(os.stat(spool_dir).st_mode & 0o777) == "0o700"

    # The database is back: the next start writes the spool before anything new.
    own_cluster.start()
    rc, back, err = run_live(admin, ingest_url, [], spool_dir)
    assert rc == 0, err
    assert (back["restored_batches"], back["restored_fixes"]) == \
        (down["spooled_batches"], down["spooled_fixes"])
    assert back["fixes_written"] == back["restored_fixes"]
    assert spool.pending() == []
    assert table_counts(admin) == expected


def test_a_second_signal_spools_at_once(own_cluster, own_database, tmp_path):
    admin, ingest_url = own_database
    spool_dir = tmp_path / "spool"

    def twice(soar):
        soar.signal()
        soar.wait_stderr("flushing and stopping")
        soar.signal()

    # A deadline no test waits for: only the second signal can end it.
    rc, s, err = run_live(admin, ingest_url, LINES, spool_dir, before_lines=own_cluster.stop,
                          stop=twice, deadline_s=3600)
    assert rc == 0, err
    assert "second signal" in err and "Traceback" not in err
    assert s["messages_total"] == len(LINES) + 1 == accounted(s)
    assert s["fixes_written"] == 0 and s["spooled_fixes"] == s["fixes_accepted"] > 1500
    spool = Spool(spool_dir, ingest_url)
    assert len(spool.pending()) == s["spooled_batches"]
    assert sum(len(spool.load(f).fixes) for f in spool.pending()) == s["spooled_fixes"]


def _parse_process(pid: int) -> int | None:
    """The spawned parse worker among the children of `pid` (not the resource tracker)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            try:
                cmd = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if b"spawn_main" in cmd and b"resource_tracker" not in cmd:
                return int(child)
    return None


def test_killed_parse_process_ends_replay_with_one_line(database, tmp_path):
    soar = Soar(["replay", "--format", "aprs", "--speed", "1", "--spool-dir",
                 str(tmp_path / "spool"), str(samples.path("oneminute.txt"))],
                database.url(), database.url("ingest"))
    try:
        def parse_process():
            assert soar.proc.poll() is None, "".join(soar.err)
            return _parse_process(soar.proc.pid)
        pid = wait_until(parse_process, CEILING_S, what="the parse process")
        # Running: fixes are arriving.
        wait_until(lambda: table_counts(database.url())[0], CEILING_S, what="fixes stored")
        os.kill(pid, signal.SIGKILL)
        rc, summary, err = soar.finish()
    finally:
        if soar.proc.poll() is None:
            soar.proc.kill()
    assert rc == 2 and summary is None, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == \
        f"soar: error: ingest stopped: a parse process died: pid {pid} killed by signal 9 (SIGKILL)"
