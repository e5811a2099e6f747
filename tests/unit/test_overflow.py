"""The disk buffer hands chunks back in order, once, across restarts; refuses what its
budget, the free-space floor or the disk cannot take; survives a torn or hostile file;
belongs to one process; its depth and age can be checked from beside it."""

from __future__ import annotations

import os
import pickle
import struct
import zlib
from datetime import datetime, timedelta

import pytest
from typer.testing import CliRunner

from soar.cli.ingest import _size
from soar.cli.queues import queue_app
from soar.errors import SoarError
from soar.ingest.overflow import DiskBuffer, OverflowConfig, problems, waiting
from soar.ingest.stats import IngestCollector, IngestStats
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


def test_a_second_process_cannot_take_a_buffer_in_use(tmp_path):
    buf = DiskBuffer(tmp_path)
    with pytest.raises(SoarError, match="in use by another soar process.*--overflow-dir"):
        DiskBuffer(tmp_path)
    buf.close()
    DiskBuffer(tmp_path).close()


def test_the_check_reads_depth_and_age_beside_the_owner_and_names_the_fix(tmp_path):
    folder = tmp_path / "db-1234"
    buf = DiskBuffer(folder)
    assert waiting(tmp_path) == [] and problems(tmp_path, max_bytes=0) == []
    for k in range(3):
        buf.put(chunk(k))
    buf.get()
    [w] = waiting(tmp_path)                  # the owner keeps its lock meanwhile
    assert (w.folder, w.bytes, w.oldest) == (folder, buf.bytes, chunk(1)[0].received_at)
    assert problems(tmp_path, max_bytes=buf.bytes, max_age_s=1e12) == []
    [too_big] = problems(tmp_path, max_bytes=buf.bytes - 1)
    assert f"{buf.bytes} bytes waiting" in too_big and "soar db status" in too_big
    [too_old] = problems(tmp_path, max_age_s=60)    # T0 is in 2024
    assert "oldest message" in too_old and "\n" not in too_old
    drain(buf)
    assert waiting(tmp_path)[0].bytes == 0 and problems(tmp_path, max_age_s=0) == []


def test_a_write_the_disk_refuses_is_a_counted_refusal_and_the_segment_stays_whole(
        tmp_path, monkeypatch):
    buf = DiskBuffer(tmp_path)
    assert buf.put(chunk(0))
    w = buf._open_writer()

    def refuse(_data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(w, "write", refuse)
    assert not buf.put(chunk(1))
    assert (buf.refused, buf.chunks) == (1, 1)
    assert buf.put(chunk(2))
    assert drain(buf) == [chunk(0), chunk(2)] and buf.damaged == 0


def test_messages_on_disk_are_a_term_of_the_accounting_identity_and_its_figures(tmp_path):
    stats = IngestStats()
    buf = DiskBuffer(tmp_path)
    stats.disk_buffer = buf
    for k in range(3):
        buf.put(chunk(k))
    a = stats.accounting()
    assert (a["messages_in"], a["buffered"], a["unaccounted"], a["balanced"]) == (12, 12, 0, True)
    assert "buffered=12" in stats.accounting_line()
    o = stats.summary()["overflow"]
    assert (o["messages"], o["bytes"]) == (12, buf.bytes) and o["age_s"] > 0
    names = {m.name for m in IngestCollector(stats).collect()}
    assert {"soar_ingest_overflow_messages", "soar_ingest_overflow_bytes",
            "soar_ingest_overflow_age_seconds", "soar_ingest_overflow_out"} <= names


def test_queue_check_fails_while_a_disk_buffer_is_past_its_limit_naming_the_fix(tmp_path):
    buf = DiskBuffer(tmp_path / "db-1234")
    buf.put(chunk(0))                    # received in 2024: old
    check = ["check", "--overflow-dir", str(tmp_path)]
    old = CliRunner().invoke(queue_app, [*check, "--overflow-max-age", "600"])
    assert old.exit_code == 1, old.output
    assert old.output.startswith("CRITICAL: disk buffer") and old.output.count("\n") == 1
    assert "soar db status" in old.output
    assert CliRunner().invoke(queue_app, [*check, "--overflow-max-bytes", "1K"]).exit_code == 0
    for k in range(1, 20):
        buf.put(chunk(k))
    assert buf.bytes > 1024
    big = CliRunner().invoke(queue_app, [*check, "--overflow-max-bytes", "1K"])
    assert big.exit_code == 1 and f"{buf.bytes} bytes waiting > 1024" in big.output, big.output
    drain(buf)
    ok = CliRunner().invoke(queue_app, [*check, "--overflow-max-age", "600",
                                        "--overflow-max-bytes", "0"])
    assert ok.exit_code == 0 and ok.output.startswith("OK"), ok.output


@pytest.mark.parametrize("value", ["x", "-1", "nan", "inf", "1e400G", "12Q", ""])
def test_a_size_that_is_not_one_is_a_one_line_error(value):
    with pytest.raises(SoarError, match="--overflow-budget .*give a size"):
        _size(value, "--overflow-budget")
    assert _size("2G", "x") == 2 << 30 and _size("500MiB", "x") == 500 << 20
