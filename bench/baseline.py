"""The synchronous baseline of the incident benchmark: what the replaced system did.

The rule this module models (and soar never does): a flight write waits for its
enrichment. The old flight processor ran the runway-detection query over the fixes
hypertable and a blocking reverse-geocoding HTTP call to Pelias INSIDE the creation
of a flight (takeoff) and the completion of a flight (landing), in the thread that
writes to the database. Here `SyncEnrichment.write_op` replaces the writer's flight
op writer (`soar.tracker.store.write_op`): it runs the op's one statement, then, for
a create with a takeoff or an update with a landing, `detect_runway` (the same SQL
function the worker uses) and a Pelias `/v1/reverse` call for the event's position,
in the writer's transaction, before the batch's fixes are copied. So a slow Pelias
holds the writer; the writer's queue and then the router's queue fill, and a live
feed drops what does not fit, as in production.

Benchmark code only: nothing in soar/ imports it, and it needs a bench-only grant
(EXECUTE on detect_runway for soar_ingest, given in bench/incident.py's template).

Bounded by design: `cut()` (the benchmark's cutoff after its grace) shuts the socket
of the call in progress and makes the rest skip the inline work, so a run at 30 s
latency ends when the benchmark says, not when the backlog is worked off. Calls are
not cached (the old system called Pelias for every event) and wait for the answer up
to `timeout_s` (it had no short deadline: its INSERTs took 25-32 s).
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from urllib.parse import urlencode, urlsplit

from soar.tracker import store
from soar.tracker.ops import CreateFlight, UpdateFlight

# Pelias layers asked for, as the worker does (worker/pelias.py).
LAYERS = "locality,localadmin,county,region,country"
# detect_runway's fix window around the event, as the worker's default (window_s).
WINDOW_S = 20
DETECT_RUNWAY = "SELECT runway, method FROM detect_runway(%s, %s, make_interval(secs => %s))"


class SyncEnrichment:
    """A flight op writer for soar.ingest.writer.Writer that enriches inline."""

    def __init__(self, pelias_url: str, timeout_s: float = 60.0):
        parts = urlsplit(pelias_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.base = parts.path.rstrip("/")
        self.timeout_s = timeout_s
        # Counters (read after the run; written by the writer thread only).
        self.events = 0              # creates/completes enriched inline
        self.detect_calls = 0
        self.pelias_calls = 0        # answered
        self.pelias_failures = 0     # errors and calls cut at the cutoff
        self.skipped_after_cut = 0   # events written without inline work after cut()
        self.inline_ms: list[float] = []   # whole op (statement + inline work), ms
        self._cut = threading.Event()
        self._lock = threading.Lock()
        self._conn: http.client.HTTPConnection | None = None

    # -- the writer's hook -------------------------------------------------------------

    def write_op(self, cur, op) -> int:
        """store.write_op, then the old system's inline enrichment of the event."""
        t0 = time.perf_counter()
        n = store.write_op(cur, op)
        if n != 1:
            return n
        event, lat, lon = _event(op)
        if event is None:
            return n
        if self._cut.is_set():
            self.skipped_after_cut += 1
            return n
        self.events += 1
        cur.execute(DETECT_RUNWAY, (op.flight_id, event, WINDOW_S), prepare=False)
        cur.fetchone()
        self.detect_calls += 1
        if lat is not None and lon is not None:
            self._reverse(lat, lon)
        self.inline_ms.append((time.perf_counter() - t0) * 1000.0)
        return n

    # -- the blocking HTTP call ---------------------------------------------------------

    def _reverse(self, lat: float, lon: float) -> None:
        query = urlencode({"point.lat": f"{lat:.6f}", "point.lon": f"{lon:.6f}", "size": "1",
                           "layers": LAYERS})
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
        with self._lock:
            if self._cut.is_set():
                self.skipped_after_cut += 1
                return
            self._conn = conn
        try:
            conn.request("GET", f"{self.base}/v1/reverse?{query}")
            resp = conn.getresponse()
            resp.read()
            if resp.status == 200:
                self.pelias_calls += 1
            else:
                self.pelias_failures += 1
        except (OSError, http.client.HTTPException):
            self.pelias_failures += 1
        finally:
            with self._lock:
                self._conn = None
            conn.close()

    def cut(self) -> None:
        """The benchmark's cutoff: end the call in progress, skip the inline work of
        what the writer still commits (it is no longer measured)."""
        with self._lock:
            self._cut.set()
            conn = self._conn
        if conn is not None and conn.sock is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def summary(self) -> dict:
        return {"events_enriched_inline": self.events, "detect_runway_calls": self.detect_calls,
                "pelias_calls": self.pelias_calls, "pelias_failures": self.pelias_failures,
                "skipped_after_cutoff": self.skipped_after_cut}


def _event(op) -> tuple[str | None, float | None, float | None]:
    """Which event an op writes (takeoff, landing or none) and where."""
    if isinstance(op, CreateFlight):
        row = op.row
        if row.get("takeoff_time") is not None:
            return "takeoff", row.get("takeoff_latitude"), row.get("takeoff_longitude")
    elif isinstance(op, UpdateFlight):
        values = op.values
        if values.get("landing_time") is not None:
            return "landing", values.get("landing_latitude"), values.get("landing_longitude")
    return None, None, None
