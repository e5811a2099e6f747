"""Pelias reverse geocoding over HTTP. A call never outlasts its deadline, never reads
more than its size limit, never leaves the Pelias host, and always resolves the
circuit breaker: every outcome but a place is one counted failure.

- Deadline: one total per call (connect, request, headers and the whole body, over
  all tries). urllib3's timeouts bound each socket read only, so a server trickling
  a byte a second would hold a call forever; a timer shuts the socket in use down
  when the deadline passes, and the call fails as a timeout.
- Body: at most max_body_bytes (decoded), refused by its Content-Length or while
  streaming.
- Redirects: followed only to the same scheme, host and port (at most 3); a redirect
  elsewhere is refused and that host is never contacted.
- Retries with backoff for 5xx, 429, timeouts and lost connections, within the
  deadline; none for 4xx, redirects elsewhere, oversized or malformed bodies (any
  parse failure, RecursionError from deeply nested JSON included).
- Circuit breaker (shared by the threads of a process): stops calling a dead service
  for a while; its half-open trial is resolved by whatever the call ends with, an
  unexpected exception included.

GET {base}/v1/reverse?point.lat=..&point.lon=..&size=1&layers=locality,localadmin,county,region,country
The first feature's properties give the city (locality, else localadmin), the
region (region_a when present, else region) and the 2-letter country code.
Error messages never contain the URL (it may carry an api_key).
"""

from __future__ import annotations

import heapq
import http.client
import itertools
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode, urljoin, urlsplit

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from soar.errors import first_line
from worker import metrics
from worker.config import WorkerConfig

log = logging.getLogger(__name__)

LAYERS = "locality,localadmin,county,region,country"
MAX_REDIRECTS = 3                 # same-host redirects followed within one try
CHUNK_BYTES = 64 * 1024           # body read size (the deadline, not the chunk, bounds time)
HEADERS = {"User-Agent": "soar-worker"}
# The settings' one home is WorkerConfig: its defaults are the client's and the breaker's.
_DEFAULT = WorkerConfig()


class PeliasError(Exception):
    """The call failed; the message says why in one line (no URL, no secrets)."""


class CircuitOpenError(PeliasError):
    pass


@dataclass(frozen=True)
class Place:
    city: str | None
    region: str | None
    country_code: str | None
    label: str | None


def place_from_geojson(doc) -> Place:
    """Map a Pelias reverse response (GeoJSON FeatureCollection) to a Place.
    No features (open sea) gives an empty Place; anything else malformed raises."""
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" \
            or not isinstance(doc.get("features"), list):
        raise PeliasError("pelias: malformed response (not a GeoJSON FeatureCollection)")
    if not doc["features"]:
        return Place(None, None, None, None)
    feature = doc["features"][0]
    props = feature.get("properties") if isinstance(feature, dict) else None
    if not isinstance(props, dict):
        raise PeliasError("pelias: malformed response (feature without properties)")

    def text(key: str) -> str | None:
        value = props.get(key)
        return (value.strip() or None) if isinstance(value, str) else None

    cc = text("country_code")
    return Place(
        city=text("locality") or text("localadmin"),
        region=text("region_a") or text("region"),
        country_code=cc.upper() if cc and len(cc) == 2 else None,
        label=text("label"),
    )


class CircuitBreaker:
    """closed -> (threshold consecutive failures) -> open -> (reset_s) -> half-open:
    one trial call; success closes, failure opens again. Thread-safe; share one per
    process so all threads stop calling a dead service together."""

    def __init__(self, threshold: int = _DEFAULT.breaker_threshold,
                 reset_s: float = _DEFAULT.breaker_reset_s, clock: Callable[[], float] = time.monotonic):
        self.threshold = max(1, threshold)
        self.reset_s = reset_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial = False

    @property
    def state(self) -> str:
        with self._lock:
            if self._opened_at is None:
                return "closed"
            if self._trial or self._clock() >= self._opened_at + self.reset_s:
                return "half-open"
            return "open"

    def retry_in(self) -> float:
        with self._lock:
            if self._opened_at is None:
                return 0.0
            return max(0.0, self._opened_at + self.reset_s - self._clock())

    def allow(self) -> bool:
        with self._lock:
            if self._opened_at is None:
                return True
            if self._trial:
                return False            # one trial at a time
            if self._clock() >= self._opened_at + self.reset_s:
                self._trial = True
                return True
            return False

    def success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial = False
        metrics.PELIAS_CIRCUIT_OPEN.set(0)

    def failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._trial or self._failures >= self.threshold:
                if self._opened_at is None or self._trial:
                    log.warning("pelias: circuit open for %.0f s after %d consecutive failures",
                                self.reset_s, self._failures)
                self._opened_at = self._clock()
                self._trial = False
                opened = True
            else:
                opened = False
        if opened:
            metrics.PELIAS_CIRCUIT_OPEN.set(1)


# -- the deadline --------------------------------------------------------------------------

def _shutdown(sock) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)        # wakes a read blocked in another thread
    except OSError:
        pass                                    # already closed


class _Watcher:
    """One thread per process expires every call's deadline (a timer thread per call
    would cost a thread start per request at hundreds of calls a second)."""

    def __init__(self):
        self._heap: list[tuple[float, int, _Deadline]] = []
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, deadline: _Deadline) -> None:
        with self._cond:
            heapq.heappush(self._heap, (deadline.at, next(self._seq), deadline))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="pelias-deadlines",
                                                daemon=True)
                self._thread.start()
            if self._heap[0][2] is deadline:
                self._cond.notify()

    def _run(self) -> None:
        with self._cond:
            while True:
                while self._heap and self._heap[0][2].finished:
                    heapq.heappop(self._heap)           # done in time: nothing to do
                if not self._heap:
                    self._cond.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)[2].expire()


_watcher = _Watcher()


class _Deadline:
    """The end of one call. When it passes, the watcher shuts down the socket the call
    is reading from, so a blocked read returns at once whatever the server sends."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.expired = False
        self.finished = False
        self._lock = threading.Lock()
        self._sock = None
        _watcher.add(self)

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def watch(self, sock) -> None:
        """The socket the call reads from now (None: between tries)."""
        with self._lock:
            self._sock = sock
            if self.expired and sock is not None:
                _shutdown(sock)

    def expire(self) -> None:
        with self._lock:
            if self.finished:
                return
            self.expired = True
            if self._sock is not None:
                _shutdown(self._sock)

    def finish(self) -> None:
        with self._lock:
            self.finished = True
            self._sock = None


_current = threading.local()      # the deadline of the call running in this thread


class _Watched:
    def getresponse(self, *args, **kwargs):
        # Called after the request is sent and before the status line is read: from
        # here on every read may block, so the call's deadline watches this socket.
        deadline = getattr(_current, "deadline", None)
        if deadline is not None:
            deadline.watch(self.sock)
        return super().getresponse(*args, **kwargs)


class _DeadlineHTTPConnection(_Watched, HTTPConnection):
    pass


class _DeadlineHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _DeadlineHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _DeadlineHTTPSConnection


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


def _pool_manager(url: str, maxsize: int) -> urllib3.PoolManager:
    """urllib3 directly (requests' per-request work cost more CPU than the rest of a
    loopback call), with connections the call's deadline can cut, keeping up to
    `maxsize` connections per host (one per worker slot), through the proxy the
    environment names for this URL (read once), verifying TLS as requests does."""
    import urllib.request

    kw: dict = {"maxsize": max(1, maxsize), "block": False, "retries": False}
    ca = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if ca:
        kw["ca_certs"] = ca
    else:
        try:
            import certifi
            kw["ca_certs"] = certifi.where()
        except ImportError:
            pass
    scheme = urlsplit(url).scheme.lower()
    host = urlsplit(url).hostname or ""
    proxy = None if urllib.request.proxy_bypass(host) else urllib.request.getproxies().get(scheme)
    manager = urllib3.ProxyManager(proxy, **kw) if proxy else urllib3.PoolManager(**kw)
    manager.pool_classes_by_scheme = dict(_POOLS)
    return manager


class _Failed(Exception):
    """One try failed: why (a metrics label), what to say, whether to try again."""

    def __init__(self, reason: str, detail: str, retry: bool):
        super().__init__(detail)
        self.reason, self.detail, self.retry = reason, detail, retry


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or {"http": 80, "https": 443}.get(scheme)


# Everything a read of the network can raise once urllib3 is done wrapping.
_NETWORK_ERRORS = (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError)


class PeliasClient:
    def __init__(self, base_url: str, *,
                 connect_timeout_s: float = _DEFAULT.pelias_connect_timeout_s,
                 read_timeout_s: float = _DEFAULT.pelias_read_timeout_s,
                 retries: int = _DEFAULT.pelias_retries,
                 retry_backoff_s: float = _DEFAULT.pelias_retry_backoff_s,
                 deadline_s: float = _DEFAULT.pelias_deadline_s,
                 max_body_bytes: int = _DEFAULT.pelias_max_body_bytes,
                 breaker: CircuitBreaker | None = None, connections: int = 10):
        self.url = base_url.rstrip("/") + "/v1/reverse"
        self.origin = _origin(self.url)
        self.timeout = (connect_timeout_s, read_timeout_s)
        self.retries = max(0, retries)
        self.retry_backoff_s = retry_backoff_s
        self.deadline_s = deadline_s
        self.max_body_bytes = max_body_bytes
        self.breaker = breaker or CircuitBreaker()
        self._http = _pool_manager(self.url, connections)

    @classmethod
    def from_config(cls, config: WorkerConfig) -> PeliasClient:
        """The client of config.pelias_url, one connection per message slot."""
        return cls(config.pelias_url, connect_timeout_s=config.pelias_connect_timeout_s,
                   read_timeout_s=config.pelias_read_timeout_s, retries=config.pelias_retries,
                   retry_backoff_s=config.pelias_retry_backoff_s,
                   deadline_s=config.pelias_deadline_s,
                   max_body_bytes=config.pelias_max_body_bytes, connections=config.concurrency,
                   breaker=CircuitBreaker(config.breaker_threshold, config.breaker_reset_s))

    def reverse(self, lat: float, lon: float) -> Place:
        if not self.breaker.allow():
            metrics.PELIAS_FAILURE.labels("circuit_open").inc()
            raise CircuitOpenError(f"pelias: circuit open after repeated failures "
                                   f"(next try in {self.breaker.retry_in():.0f} s)")
        params = {"point.lat": f"{lat:.6f}", "point.lon": f"{lon:.6f}", "size": "1",
                  "layers": LAYERS}
        deadline = _Deadline(self.deadline_s)
        _current.deadline = deadline
        try:
            place, failed, tries = self._call(params, deadline)
        except Exception as exc:                    # noqa: BLE001 - a bug of ours: a failure
            place, tries = None, 1
            failed = _Failed("error", f"pelias: {type(exc).__name__}: {first_line(exc)}", False)
        except BaseException:
            # An interrupt: still one failure, so a half-open trial is never left pending.
            self.breaker.failure()
            metrics.PELIAS_FAILURE.labels("error").inc()
            raise
        finally:
            deadline.finish()
            _current.deadline = None
        if place is not None:
            self.breaker.success()
            metrics.PELIAS_SUCCESS.inc()
            return place
        self.breaker.failure()
        metrics.PELIAS_FAILURE.labels(failed.reason).inc()
        raise PeliasError(failed.detail if tries == 1 else f"{failed.detail}; {tries} tries")

    def _call(self, params: dict, deadline: _Deadline) -> tuple[Place | None, _Failed | None, int]:
        failed = _Failed("timeout", self._deadline_text(), False)
        tries = 0
        for attempt in range(self.retries + 1):
            if attempt:
                pause = self.retry_backoff_s * (2 ** (attempt - 1))
                if deadline.remaining() <= pause:
                    break                       # no time left for another try
                time.sleep(pause)
            if deadline.remaining() <= 0:
                break
            tries += 1
            try:
                return self._try(params, deadline), None, tries
            except _Failed as exc:
                failed = exc
            if deadline.expired:
                failed = _Failed("timeout", self._deadline_text(), False)
            if not failed.retry:
                break
        return None, failed, max(1, tries)

    def _deadline_text(self) -> str:
        return f"pelias: timed out (no complete answer within the {self.deadline_s:g} s deadline)"

    def _try(self, params: dict, deadline: _Deadline) -> Place:
        started = time.perf_counter()
        try:
            body = self._fetch(params, deadline)
        except urllib3.exceptions.NewConnectionError as exc:
            # (a subclass of ConnectTimeoutError in urllib3 2: refused is not a timeout)
            raise _Failed("connection", f"pelias: cannot connect ({type(exc).__name__})",
                          True) from None
        except urllib3.exceptions.TimeoutError:
            raise _Failed("timeout", f"pelias: timed out (connect {self.timeout[0]} s, "
                                     f"read {self.timeout[1]} s)", True) from None
        except _NETWORK_ERRORS as exc:
            if deadline.expired:
                raise _Failed("timeout", self._deadline_text(), False) from None
            raise _Failed("connection", f"pelias: cannot connect ({type(exc).__name__})",
                          True) from None
        finally:
            deadline.watch(None)
            metrics.PELIAS_LATENCY.observe((time.perf_counter() - started) * 1000)
        try:
            return place_from_geojson(json.loads(body))
        except PeliasError as exc:
            raise _Failed("malformed", str(exc), False) from None
        except (ValueError, UnicodeDecodeError):
            raise _Failed("malformed", "pelias: malformed response (invalid JSON)", False) from None
        except RecursionError:
            raise _Failed("malformed", "pelias: malformed response (JSON nested too deeply)",
                          False) from None
        except Exception as exc:                    # noqa: BLE001 - any parse failure is one
            raise _Failed("malformed", f"pelias: malformed response ({type(exc).__name__})",
                          False) from None

    def _fetch(self, params: dict, deadline: _Deadline) -> bytes:
        """One try: the body of a 200 answer, following same-host redirects."""
        url = f"{self.url}?{urlencode(params)}"
        for _hop in range(MAX_REDIRECTS + 1):
            remaining = max(0.001, deadline.remaining())
            resp = self._http.request(
                "GET", url, headers=HEADERS, preload_content=False, redirect=False,
                timeout=urllib3.Timeout(connect=min(self.timeout[0], remaining),
                                        read=min(self.timeout[1], remaining)))
            body = None
            try:
                if resp.status in (301, 302, 303, 307, 308) and "location" in resp.headers:
                    target = urljoin(url, resp.headers["location"])
                    if _origin(target) != self.origin:
                        raise _Failed("redirect", "pelias: redirect to another host refused "
                                      "(set SOAR_WORKER_PELIAS_URL to the address that answers)", False)
                    url = target
                    continue
                status = resp.status
                if status >= 500 or status == 429:
                    raise _Failed("http_5xx", f"pelias: HTTP {status}", True)
                if status != 200:
                    raise _Failed("http_4xx", f"pelias: HTTP {status}", False)
                body = self._body(resp, deadline)
                return body
            finally:
                if body is None:
                    resp.close()             # unread: the connection cannot be reused
                resp.release_conn()
        raise _Failed("redirect", f"pelias: more than {MAX_REDIRECTS} redirects", False)

    def _body(self, resp: urllib3.BaseHTTPResponse, deadline: _Deadline) -> bytes:
        too_large = _Failed("too_large", f"pelias: response larger than {self.max_body_bytes} "
                                         "bytes refused", False)
        declared = resp.headers.get("Content-Length", "")
        if declared.strip().isdigit() and int(declared) > self.max_body_bytes:
            raise too_large
        chunks, size = [], 0
        try:
            for chunk in resp.stream(CHUNK_BYTES):
                size += len(chunk)
                if size > self.max_body_bytes:
                    raise too_large
                chunks.append(chunk)
        except _NETWORK_ERRORS as exc:
            if deadline.expired:
                raise _Failed("timeout", self._deadline_text(), False) from None
            if isinstance(exc, urllib3.exceptions.ReadTimeoutError) or any(
                    isinstance(a, urllib3.exceptions.ReadTimeoutError) for a in exc.args):
                raise _Failed("timeout", f"pelias: timed out (read {self.timeout[1]} s)",
                              True) from None
            raise _Failed("connection", f"pelias: connection lost while reading the answer "
                          f"({type(exc).__name__})", True) from None
        if deadline.expired:
            # The timer shut the socket: a body without a length just ends there.
            raise _Failed("timeout", self._deadline_text(), False)
        return b"".join(chunks)
