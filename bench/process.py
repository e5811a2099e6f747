"""Child processes of a benchmark: the one way a bench stops what it started."""

from __future__ import annotations

import signal
import subprocess


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
