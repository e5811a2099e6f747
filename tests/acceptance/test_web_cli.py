"""`soar web` as a user starts it: a port already taken is one line naming the fix; an
owner login is refused in one line unless allowed; a SIGTERM stops it even with a live
stream open (which never ends by itself), without a traceback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from helpers.net import free_port
from helpers.wait import wait_until

SOAR = [sys.executable, "-m", "soar"]


def _env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("SOAR_")}


def _serving(url: str, *flags: str, group: bool = False) -> tuple[subprocess.Popen, str]:
    """`soar [flags] --database-url URL web` on a free port, once it answers HTTP;
    `group`: in a process group of its own, as systemd starts a service."""
    port = free_port()
    proc = subprocess.Popen([*SOAR, *flags, "--database-url", url, "web", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(), start_new_session=group)
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        assert proc.poll() is None, proc.stderr.read()
        try:
            return requests.get(base + "/api/v1/health", timeout=5) is not None
        except requests.ConnectionError:
            return False
    try:
        wait_until(answers, 60, what="soar web to answer")
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc, base


def test_a_port_in_use_is_one_line_naming_the_fix(database):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        r = subprocess.run([*SOAR, "--database-url", database.url("readonly"), "web",
                            "--port", str(port)], capture_output=True, text=True, timeout=60,
                           env=_env())
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "give another --port" in r.stderr


def test_an_owner_login_is_refused_in_one_line_unless_allowed(database):
    owner = [*SOAR, "--database-url", database.url(), "web", "--port", str(free_port())]
    r = subprocess.run(owner, capture_output=True, text=True, timeout=60, env=_env())
    assert r.returncode == 2, r.stderr
    line = r.stderr.strip()
    assert line.count("\n") == 0 and "Traceback" not in line
    assert "SOAR_READONLY_DATABASE_URL" in line and "--allow-owner" in line
    # Allowed: it starts and serves, with the warning.
    proc, base = _serving(database.url(), "--allow-owner")
    try:
        assert requests.get(base + "/api/v1/health", timeout=30).ok
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert "--allow-owner" in err and "Traceback" not in err


def test_sigterm_stops_it_with_a_live_stream_open(database):
    proc, base = _serving(database.url("readonly"))
    try:
        with requests.get(base + "/api/v1/live?bbox=0,0,1,1", stream=True, timeout=60) as r:
            assert next(x for x in r.iter_lines(decode_unicode=True) if x.startswith("data:"))
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    # uvicorn shuts down gracefully, then re-raises the signal so a supervisor sees it
    # (systemd counts SIGTERM as a clean stop).
    assert proc.returncode in (0, -signal.SIGTERM), err
    assert "Traceback" not in err
    assert f"{base}/" in out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_the_whole_process_group_stops_the_server_and_its_reader_quietly(
        database, sig):
    """systemd's default KillMode sends SIGTERM to every process of the service, and
    Ctrl-C in a terminal sends SIGINT to the whole foreground group: the live reader's
    process too (soar/web/reader.py). Both end, with no traceback and no warning."""
    proc, base = _serving(database.url("readonly"), group=True)
    try:
        with requests.get(base + "/api/v1/live?bbox=0,0,1,1", stream=True, timeout=60) as r:
            assert next(x for x in r.iter_lines(decode_unicode=True) if x.startswith("data:"))
            children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text()
            group = [int(p) for p in children.split()]
            assert group, "no live reader's process while a live stream is open"
            os.killpg(proc.pid, sig)
            out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode in (0, -sig), err
    assert "Traceback" not in err and "WARNING" not in err.upper(), err
    for pid in group:
        wait_until(lambda pid=pid: not os.path.exists(f"/proc/{pid}"), 30,
                   what=f"the server's child {pid} to end")
