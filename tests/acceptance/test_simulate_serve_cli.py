"""`soar simulate --serve` as a user runs it: the command starts both servers, says
where, real feed clients (soar's own APRS-IS and Beast clients) receive its traffic,
and SIGTERM ends it cleanly (exit 0, its summary on stdout counting what it sent)."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading

from soar.feeds.aprs_client import AprsClient
from soar.feeds.beast_client import BeastClient

SOAR = [sys.executable, "-m", "soar"]
CEILING_S = 120        # generous: a shared machine; the events end the waits


def _lines(stream, out: queue.Queue) -> None:
    for line in stream:
        out.put(line)
    out.put(None)


def test_soar_simulate_serve_feeds_real_clients_and_stops_cleanly_on_sigterm():
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOAR_")}
    proc = subprocess.Popen(
        [*SOAR, "simulate", "--serve", "--duration", "3600", "--aircraft", "60",
         "--beast-aircraft", "5", "--airborne-fraction", "1", "--speed", "5", "--seed", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    err_lines: queue.Queue = queue.Queue()
    reader = threading.Thread(target=_lines, args=(proc.stderr, err_lines), daemon=True)
    reader.start()
    stop = threading.Event()
    try:
        banner = err_lines.get(timeout=CEILING_S)
        assert banner is not None, proc.stdout.read()
        m = re.search(r"serving APRS-IS on 127\.0\.0\.1:(\d+), Beast on 127\.0\.0\.1:(\d+)",
                      banner)
        assert m, banner
        aprs_port, beast_port = int(m[1]), int(m[2])

        frames: list = []
        enough_frames = threading.Event()

        def on_frame(_received_at, frame) -> None:
            frames.append(frame)
            if len(frames) >= 20:
                enough_frames.set()

        beast = threading.Thread(target=BeastClient("127.0.0.1", beast_port).run,
                                 args=(on_frame, stop), daemon=True)
        beast.start()
        ceiling = threading.Timer(CEILING_S, stop.set)   # ends the APRS read below at worst
        ceiling.start()
        positions = []
        client = AprsClient("127.0.0.1", aprs_port, filter="r/49/8/2000")
        for _received_at, line in client.lines(stop):
            if not line.startswith("#"):
                positions.append(line)
            if len(positions) >= 50:
                break
        ceiling.cancel()
        assert enough_frames.wait(CEILING_S)
        stop.set()
        beast.join(timeout=CEILING_S)
        assert len(positions) >= 50 and all(">" in p and ":" in p for p in positions)
        assert len(frames) >= 20 and all(len(f.payload) in (7, 14) for f in frames)

        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=CEILING_S)
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    reader.join(timeout=CEILING_S)
    err = "".join(iter(err_lines.get_nowait, None))   # the reader's None ends it
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    served = json.loads(out.strip().splitlines()[-1])["served"]
    assert served["aprs"]["lines_sent"] >= 50 and served["beast"]["frames_sent"] >= 20
    assert any(login.endswith("filter r/49/8/2000") for login in served["aprs"]["logins"])
    assert served["beast"]["clients"] >= 1
