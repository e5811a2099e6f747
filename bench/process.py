"""Child processes of a benchmark: the one way a bench stops what it started, and
the one way it reads their CPU from /proc."""

from __future__ import annotations

import os
import signal
import subprocess

TICK = os.sysconf("SC_CLK_TCK")       # /proc's CPU fields are in these per second


def stat(pid: int | str) -> list[str] | None:
    """/proc/PID/stat's fields after the command's name (field 3 onwards: [1] is the
    parent's pid, [11] and [12] user and system ticks, [13] and [14] those of reaped
    children); None once the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def tree(pid: int) -> list[int]:
    """A process and its descendants, as far as they are still running."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
            except OSError:
                pass
    return out


def stop(proc: subprocess.Popen, grace_s: float) -> None:
    """SIGTERM (the process's own shutdown), then SIGKILL if it has not exited within
    `grace_s`; reaped either way. A process already gone is left as it is."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
