"""soar/web/cache.py: a slow answer computed once per max age, served stale while one
background thread recomputes it; requests for a key never computed wait for one
computation; a failed refresh keeps the old answer. Time is moved by hand."""

from __future__ import annotations

import threading

import pytest

from helpers.wait import wait_until
from soar.web.cache import Refreshing
from soar.web.errors import ApiError


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_fresh_answer_is_served_without_computing_again():
    clock, calls = Clock(), []
    cache = Refreshing("t", max_age_s=60, clock=clock)
    assert cache.get("k", lambda: calls.append(1) or "v1") == "v1"
    clock.now = 59.9
    assert cache.get("k", lambda: calls.append(1) or "v2") == "v1"
    assert len(calls) == 1


def test_a_stale_answer_is_served_at_once_while_one_thread_recomputes_it():
    clock = Clock()
    cache = Refreshing("t", max_age_s=60, clock=clock)
    cache.get("k", lambda: "old")
    clock.now = 61
    release, started = threading.Event(), []

    def slow():
        started.append(1)
        assert release.wait(60)
        return "new"
    # Served the old answer, not waiting for the slow recomputation...
    assert cache.get("k", slow) == "old"
    wait_until(lambda: started, what="the refresh to start")
    # ...and a second stale request starts no second refresh.
    assert cache.get("k", slow) == "old"
    release.set()
    wait_until(lambda: cache.get("k", slow) == "new", what="the refreshed answer")
    assert len(started) == 1


def test_a_failed_refresh_keeps_the_old_answer_and_is_counted():
    clock = Clock()
    cache = Refreshing("t", max_age_s=60, clock=clock)
    cache.get("k", lambda: "old")
    clock.now = 61

    def failing():
        raise ApiError(503, "the query took longer than the statement timeout")
    assert cache.get("k", failing) == "old"
    wait_until(lambda: cache.refresh_errors == 1, what="the failed refresh")
    # Still stale: a later request refreshes again, now with success.
    wait_until(lambda: cache.get("k", lambda: "new") == "new", what="the next refresh")
    assert cache.refresh_errors == 1


def test_requests_for_a_key_never_computed_wait_for_one_computation():
    cache = Refreshing("t", max_age_s=60, clock=Clock())
    release, calls, got = threading.Event(), [], []

    def slow():
        calls.append(1)
        assert release.wait(60)
        return "v"
    first = threading.Thread(target=lambda: got.append(cache.get("k", slow)))
    first.start()
    wait_until(lambda: calls, what="the first computation")
    second = threading.Thread(target=lambda: got.append(cache.get("k", slow)))
    second.start()
    release.set()
    first.join(60)
    second.join(60)
    assert got == ["v", "v"] and len(calls) == 1


def test_a_failed_first_computation_fails_its_request_and_is_not_kept():
    cache = Refreshing("t", max_age_s=60, clock=Clock())
    with pytest.raises(ApiError):
        cache.get("k", lambda: (_ for _ in ()).throw(ApiError(503, "down")))
    assert cache.get("k", lambda: "v") == "v"


def test_only_the_most_recently_used_keys_are_kept():
    cache = Refreshing("t", max_age_s=60, entries=2, clock=Clock())
    for k in "abc":
        cache.get(k, lambda k=k: k)
    calls = []
    assert cache.get("a", lambda: calls.append(1) or "a2") == "a2"     # "a" went first
    assert cache.get("c", lambda: calls.append(1) or "c2") == "c"
    assert calls == [1]
