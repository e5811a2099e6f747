"""Pelias reverse geocoding over HTTP: timeouts, retries with backoff for 5xx and
timeouts, and a circuit breaker that stops calling a dead service for a while.

GET {base}/v1/reverse?point.lat=..&point.lon=..&size=1&layers=locality,localadmin,county,region,country
The first feature's properties give the city (locality, else localadmin), the
region (region_a when present, else region) and the 2-letter country code.
Error messages never contain the URL (it may carry an api_key).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests

from worker import metrics

log = logging.getLogger(__name__)

LAYERS = "locality,localadmin,county,region,country"


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

    def __init__(self, threshold: int = 5, reset_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic):
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


class PeliasClient:
    def __init__(self, base_url: str, *, connect_timeout_s: float = 2.0,
                 read_timeout_s: float = 5.0, retries: int = 2, retry_backoff_s: float = 0.5,
                 breaker: CircuitBreaker | None = None):
        self.url = base_url.rstrip("/") + "/v1/reverse"
        self.timeout = (connect_timeout_s, read_timeout_s)
        self.retries = max(0, retries)
        self.retry_backoff_s = retry_backoff_s
        self.breaker = breaker or CircuitBreaker()
        self._local = threading.local()

    def _session(self) -> requests.Session:
        s = getattr(self._local, "session", None)
        if s is None:
            s = self._local.session = requests.Session()
            s.headers["User-Agent"] = "soar-worker"
        return s

    def reverse(self, lat: float, lon: float) -> Place:
        if not self.breaker.allow():
            metrics.PELIAS_FAILURE.labels("circuit_open").inc()
            raise CircuitOpenError(f"pelias: circuit open after repeated failures "
                                   f"(next try in {self.breaker.retry_in():.0f} s)")
        params = {"point.lat": f"{lat:.6f}", "point.lon": f"{lon:.6f}", "size": "1",
                  "layers": LAYERS}
        reason, detail = "error", "pelias: failed"
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.retry_backoff_s * (2 ** (attempt - 1)))
            started = time.perf_counter()
            try:
                resp = self._session().get(self.url, params=params, timeout=self.timeout)
            except requests.Timeout:
                reason, detail = "timeout", f"pelias: timed out (connect {self.timeout[0]} s, " \
                                            f"read {self.timeout[1]} s)"
                continue
            except requests.ConnectionError:
                reason, detail = "connection", "pelias: cannot connect"
                continue
            except requests.RequestException as exc:
                reason, detail = "error", f"pelias: {type(exc).__name__}"
                continue
            finally:
                metrics.PELIAS_LATENCY.observe((time.perf_counter() - started) * 1000)
            if resp.status_code >= 500 or resp.status_code == 429:
                reason, detail = "http_5xx", f"pelias: HTTP {resp.status_code}"
                continue
            if resp.status_code != 200:
                reason, detail = "http_4xx", f"pelias: HTTP {resp.status_code}"
                break                                   # our request is wrong: retrying won't help
            try:
                place = place_from_geojson(json.loads(resp.content))
            except (ValueError, UnicodeDecodeError):
                reason, detail = "malformed", "pelias: malformed response (invalid JSON)"
                break
            except PeliasError as exc:
                reason, detail = "malformed", str(exc)
                break
            self.breaker.success()
            metrics.PELIAS_SUCCESS.inc()
            return place
        self.breaker.failure()
        metrics.PELIAS_FAILURE.labels(reason).inc()
        tries = attempt + 1
        raise PeliasError(detail if tries == 1 else f"{detail}; {tries} tries")
