"""Answers computed at most once per `max_age_s` per process, for the routes whose
queries are too slow to run per request: the statistics (nine aggregates over days of
flights) and the fixes each receiver delivered in the last hour (a scan of the newest
chunk). See docs/benchmarks.md for what each costs cold.

Rule: a fresh entry is served as it is; a stale one is served at once while one
background thread computes its successor (stale-while-revalidate, as the routes'
`Cache-Control: max-age` already allows any cache to do); only a key never computed
makes its requests wait, and they wait for one computation, not one each. A failed
refresh keeps the old answer (counted in `refresh_errors`, logged); a failed first
computation fails its requests with its error. At most `entries` keys are kept, the
least recently used goes first.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Generic, TypeVar

from soar.errors import first_line

log = logging.getLogger("soar.web")
T = TypeVar("T")


class Refreshing(Generic[T]):
    def __init__(self, name: str, max_age_s: float, entries: int = 32,
                 clock: Callable[[], float] = time.monotonic):
        self.name = name
        self.max_age_s = max_age_s
        self.entries = entries
        self.clock = clock                  # tests move time by hand
        self.refresh_errors = 0
        self._lock = threading.Lock()
        self._done: OrderedDict[Hashable, tuple[float, T]] = OrderedDict()
        self._first: dict[Hashable, Future] = {}    # keys being computed for the first time
        self._refreshing: set[Hashable] = set()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        with self._lock:
            hit = self._done.get(key)
            if hit is not None:
                self._done.move_to_end(key)
                at, value = hit
                if self.clock() - at >= self.max_age_s and key not in self._refreshing:
                    self._refreshing.add(key)
                    threading.Thread(target=self._refresh, args=(key, compute), daemon=True,
                                     name=f"soar-web-{self.name}").start()
                return value
            pending = self._first.get(key)
            mine = pending is None
            if mine:
                pending = self._first[key] = Future()
        if not mine:
            return pending.result()
        try:
            value = compute()
        except BaseException as exc:
            pending.set_exception(exc)
            raise
        finally:
            with self._lock:
                self._first.pop(key, None)
        self._store(key, value)
        pending.set_result(value)
        return value

    def _refresh(self, key: Hashable, compute: Callable[[], T]) -> None:
        try:
            self._store(key, compute())
        except Exception as exc:   # noqa: BLE001 -- the old answer stays; said once here
            self.refresh_errors += 1
            log.warning("%s not refreshed, serving the previous answer: %s", self.name,
                        first_line(exc))
        finally:
            with self._lock:
                self._refreshing.discard(key)

    def _store(self, key: Hashable, value: T) -> None:
        with self._lock:
            self._done[key] = (self.clock(), value)
            self._done.move_to_end(key)
            while len(self._done) > self.entries:
                self._done.popitem(last=False)
