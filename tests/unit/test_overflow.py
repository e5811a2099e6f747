"""The disk buffer hands chunks back in order, once, across restarts; refuses what its
budget or the free-space floor cannot take; survives a torn or hostile file."""

from __future__ import annotations

import os
import pickle
import struct
import zlib
from datetime import datetime, timedelta

from soar.ingest.overflow import DiskBuffer, OverflowConfig
from soar.records import Message
from soar.units import UTC

T0 = datetime(2024, 7, 6, 12, 0, tzinfo=UTC)


def chunk(k: int, n: int = 3) -> list[Message]:
    return [Message("aprs", T0 + timedelta(seconds=k, milliseconds=i), f"line {k}.{i}")
            for i in range(n)] + [Message("modes", T0 + timedelta(seconds=k), b"\x8d\x00\x01",
                                          -12.5, "beast:1")]


def drain(buf: DiskBuffer) -> list[list[Message]]:
    out = []
    while (c := buf.get()) is not None:
        out.append(c)
    return out


def test_chunks_come_back_in_order_with_every_field(tmp_path):
    buf = DiskBuffer(tmp_path)
    for k in range(5):
        assert buf.put(chunk(k))
    assert (buf.chunks, buf.messages, buf.oldest) == (5, 20, T0)
    assert drain(buf) == [chunk(k) for k in range(5)]
    assert (buf.chunks, buf.messages, buf.oldest, buf.bytes) == (0, 0, None, 0)


def test_a_restart_resumes_at_the_oldest_chunk_not_handed_back(tmp_path):
    buf = DiskBuffer(tmp_path)
    for k in range(4):
        buf.put(chunk(k))
    assert buf.get() == chunk(0)
    buf.close()
    again = DiskBuffer(tmp_path)
    assert (again.chunks, again.messages, again.oldest) == (3, 12, chunk(1)[0].received_at)
    assert drain(again) == [chunk(1), chunk(2), chunk(3)]
    again.put(chunk(9))
    again.close()
    assert drain(DiskBuffer(tmp_path)) == [chunk(9)]


def test_segments_rotate_and_are_deleted_once_read(tmp_path):
    buf = DiskBuffer(tmp_path, OverflowConfig(segment_bytes=200))
    for k in range(6):
        buf.put(chunk(k))
    assert len(list(tmp_path.glob("*.chunks"))) >= 3
    assert drain(buf) == [chunk(k) for k in range(6)]
    buf.put(chunk(7))
    assert drain(buf) == [chunk(7)]
    assert len(list(tmp_path.glob("*.chunks"))) <= 1


def test_the_budget_refuses_and_counts_then_room_comes_back(tmp_path):
    one = len(pickle.dumps([tuple(m) for m in chunk(0)], protocol=pickle.HIGHEST_PROTOCOL)) + 8
    buf = DiskBuffer(tmp_path, OverflowConfig(budget_bytes=2 * one + 10))
    assert buf.put(chunk(0)) and buf.put(chunk(1))
    assert not buf.put(chunk(2))
    assert buf.refused == 1
    assert buf.get() == chunk(0)
    assert buf.put(chunk(3))
    assert drain(buf) == [chunk(1), chunk(3)]


def test_the_free_space_floor_refuses(tmp_path):
    buf = DiskBuffer(tmp_path, OverflowConfig(free_floor_bytes=1 << 62))
    assert not buf.put(chunk(0))
    assert (buf.refused, buf.chunks, buf.get()) == (1, 0, None)


def test_a_frame_torn_by_a_crash_is_counted_and_the_rest_comes_back(tmp_path):
    buf = DiskBuffer(tmp_path)
    for k in range(3):
        buf.put(chunk(k))
    buf.close()
    seg = next(tmp_path.glob("*.chunks"))
    os.truncate(seg, seg.stat().st_size - 5)
    again = DiskBuffer(tmp_path)
    assert drain(again) == [chunk(0), chunk(1)]
    assert again.damaged == 1


def test_a_hostile_pickle_runs_nothing_and_is_counted(tmp_path):
    buf = DiskBuffer(tmp_path)
    buf.put(chunk(0))
    buf.close()

    class Evil:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    body = pickle.dumps([Evil()])
    seg = next(tmp_path.glob("*.chunks"))
    with open(seg, "ab") as f:
        f.write(struct.pack("<II", len(body), zlib.crc32(body)) + body)
    with open(seg, "ab") as f:
        good = pickle.dumps([tuple(m) for m in chunk(1)])
        f.write(struct.pack("<II", len(good), zlib.crc32(good)) + good)
    again = DiskBuffer(tmp_path)
    assert drain(again) == [chunk(0), chunk(1)]
    assert again.damaged == 1
    assert not (tmp_path / "pwned").exists()
