"""The live reads' own process (soar/web/reader.py) against a real database: it reads
the world's live positions through the read-only login and hands over what changed;
Ctrl-C and SIGTERM do not stop it (its parent does); a process that dies is replaced, the read
that found it dead failing as a 503 and the next one sending every position in full;
closing it ends the process."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from helpers.wait import wait_until
from helpers.web import fly_on, live_traffic
from soar.web import WebConfig
from soar.web.errors import ApiError
from soar.web.reader import ReaderProcess

# helpers.web.live_traffic's aircraft the map shows: all but the one not tracked.
LIVE = {"glider", "towplane", "airliner", "hostile", "landed", "standing"}
CEILING_S = 60


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_reader_process_hands_over_changes_and_a_dead_one_is_replaced(database):
    with database.connect() as conn:
        traffic = live_traffic(conn)
        ids = {traffic.aircraft[name]: name for name in LIVE}

        async def scenario():
            reader = ReaderProcess(database.url("readonly"), WebConfig())
            reader.start()
            try:
                first = await asyncio.wait_for(reader.read(), CEILING_S)
                [pid] = reader.pids()
                unchanged = await asyncio.wait_for(reader.read(), CEILING_S)
                fly_on(conn, traffic, "glider")
                os.kill(pid, signal.SIGINT)          # Ctrl-C in a terminal: ignored
                os.kill(pid, signal.SIGTERM)         # systemd's stop: ignored too
                moved = await asyncio.wait_for(reader.read(), CEILING_S)
                assert reader.pids() == [pid]

                os.kill(pid, signal.SIGKILL)
                await asyncio.to_thread(wait_until, lambda: not alive(pid), CEILING_S,
                                        what="the killed reader to end")
                with pytest.raises(ApiError) as failed:
                    await asyncio.wait_for(reader.read(), CEILING_S)
                again = await asyncio.wait_for(reader.read(), CEILING_S)
                [new_pid] = reader.pids()
            finally:
                await reader.close()
            return first, unchanged, moved, failed.value, again, reader, new_pid

        first, unchanged, moved, failed, again, reader, new_pid = asyncio.run(scenario())

    assert {ids.get(k) for k in first.order} == LIVE and set(first.moved) == set(first.order)
    assert all(p.move is None for p in first.moved.values())       # all new: in full
    assert unchanged.moved == {} and unchanged.order == first.order
    glider = traffic.aircraft["glider"]
    assert set(moved.moved) == {glider} and moved.moved[glider].move is not None
    assert failed.status == 503 and "reader's process ended" in failed.message
    assert reader.restarts == 1
    # The new process remembers nothing: every position again, in full.
    assert set(again.moved) == set(first.order) and all(p.move is None for p in again.moved.values())
    assert not alive(new_pid) and reader.pids() == []
