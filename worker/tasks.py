"""The message slots of a worker process (worker.loop reads a message only into a
free slot, so every message read starts at once: see worker.messages)."""

from __future__ import annotations

import queue as queues
import threading
from collections.abc import Callable


class Tasks:
    """The message slots of a process: `size` daemon threads running the messages
    handed to them, and a semaphore of free slots a reader takes BEFORE it reads a
    message, so every message read starts at once. Daemon threads: a task stuck on
    the database cannot keep the process from exiting (its message reappears after
    its visibility timeout)."""

    def __init__(self, size: int, name: str = "soar-worker-task"):
        self.size = max(1, size)
        self._free = threading.Semaphore(self.size)
        self._queue: queues.SimpleQueue = queues.SimpleQueue()
        self._busy = 0
        self._idle = threading.Condition()
        self._threads = [threading.Thread(target=self._run, name=f"{name}-{i}", daemon=True)
                         for i in range(self.size)]
        for t in self._threads:
            t.start()

    def take(self, stop: threading.Event, every_s: float = 0.1) -> bool:
        """Wait for a free slot; False if `stop` is set first."""
        while not stop.is_set():
            if self._free.acquire(timeout=every_s):
                with self._idle:
                    self._busy += 1
                return True
        return False

    def take_free(self, limit: int) -> int:
        """Up to `limit` more slots that are free now (no waiting); how many."""
        n = 0
        while n < limit and self._free.acquire(blocking=False):
            n += 1
        if n:
            with self._idle:
                self._busy += n
        return n

    def give_back(self, n: int = 1) -> None:
        """Slots taken and not used (nothing to read)."""
        for _ in range(n):
            self._done()

    def run(self, fn: Callable[[], object]) -> None:
        """Run fn in a task thread, in the slot taken before."""
        self._queue.put(fn)

    @property
    def busy(self) -> int:
        with self._idle:
            return self._busy

    def wait_idle(self, timeout_s: float) -> bool:
        """Until every slot is free (True) or timeout_s passed (False)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout_s)

    def close(self) -> None:
        for _ in self._threads:
            self._queue.put(None)

    def _done(self) -> None:
        with self._idle:
            self._busy -= 1
            if not self._busy:
                self._idle.notify_all()
        self._free.release()

    def _run(self) -> None:
        while True:
            fn = self._queue.get()
            if fn is None:
                return
            try:
                fn()
            finally:
                self._done()


class Periodic(threading.Thread):
    """A daemon thread running `round()` every `every_s` (and once at the start with
    `at_start`) until `stop` is set: the worker's housekeeping threads (re-geocoding,
    the alert sweep, retention)."""

    def __init__(self, name: str, every_s: float, stop: threading.Event,
                 at_start: bool = False):
        super().__init__(name=name, daemon=True)
        self.every_s, self.stop, self.at_start = every_s, stop, at_start

    def round(self) -> object:
        raise NotImplementedError

    def run(self) -> None:
        if self.at_start:
            self.round()
        while not self.stop.wait(self.every_s):
            self.round()
