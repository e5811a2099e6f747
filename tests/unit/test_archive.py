"""The raw archive (soar.ingest.archive): what it writes is what `soar replay` reads
back, message for message; hours split into folders; a restart never appends to a
stream; retention deletes only old hours of its own; a full queue or a refusing disk
is counted and never raises into the feed."""

from __future__ import annotations

import gzip
from datetime import datetime, timedelta

import pytest
import zstandard

from soar.errors import SoarError
from soar.feeds import recordings
from soar.ingest.archive import Archive, ArchiveConfig, file_name, replay_chunks
from soar.records import Message
from soar.units import UTC

T0 = datetime(2026, 12, 6, 13, 59, 58, 123456, tzinfo=UTC)
APRS = "FLRDDA5BA>APRS,qAS,LFNX:/135959h4351.87N/00647.44E'183/063/A=001440 !W47! id0ADDA5BA"


def _messages() -> list[Message]:
    out = []
    for i in range(6):                       # 13:59:58 .. 14:00:03: two hours
        t = T0 + timedelta(seconds=i)
        out.append(Message("aprs", t, f"{APRS} #{i}"))
        out.append(Message("modes", t, bytes.fromhex("8d4840d6202cc371c32ce0576098"),
                           -12.5 - i, "127.0.0.1:30005"))
        out.append(Message("sbs", t, f"MSG,3,1,1,4840D6,1,2026/12/06,13:59:{58 + i % 2:02d}.000,"
                                     "2026/12/06,13:59:58.000,,35000,,,51.5,-0.1,,,0,0,0,0",
                           None, "adsbhub"))
    return out


def _write(directory, messages, **kw) -> Archive:
    archive = Archive(ArchiveConfig(directory, **kw))
    archive.start()
    for m in messages:
        archive.offer([m])
    archive.close()
    return archive


def _read(path, fmt):
    return [m for chunk in recordings.replay(path, fmt) for m in chunk]


def test_each_feed_kind_is_written_per_hour_in_the_format_replay_reads_back(tmp_path):
    messages = _messages()
    archive = _write(tmp_path, messages)
    assert archive.lines == len(messages) and archive.dropped == archive.errors == 0
    h13, h14 = tmp_path / "2026-12-06" / "13", tmp_path / "2026-12-06" / "14"
    assert sorted(p.name for p in h13.iterdir()) == sorted(
        ["aprs.txt.zst", "127.0.0.1:30005.jsonl.zst", "adsbhub.sbs.zst"])
    assert archive.bytes == sum(p.stat().st_size for p in tmp_path.rglob("*.zst"))
    back = []
    for hour in (h13, h14):
        back += _read(hour / "aprs.txt.zst", "aprs")
        back += _read(hour / "127.0.0.1:30005.jsonl.zst", "modes")
    aprs = [m for m in messages if m.kind == "aprs"]
    modes = [m._replace(payload=m.payload.hex()) for m in messages if m.kind == "modes"]
    assert sorted(back) == sorted(aprs + modes)   # receive time to the microsecond, signal
    assert [m.received_at for m in _read(h13 / "aprs.txt.zst", "aprs")] == [
        T0, T0 + timedelta(seconds=1)]
    sbs = _read(h13 / "adsbhub.sbs.zst", "sbs") + _read(h14 / "adsbhub.sbs.zst", "sbs")
    assert [m.payload for m in sbs] == [m.payload for m in messages if m.kind == "sbs"]
    assert {m.receiver for m in sbs} == {"adsbhub"}


def test_a_restart_within_the_hour_writes_a_new_part_never_appending(tmp_path):
    first = [m for m in _messages() if m.kind == "aprs"][:2]
    _write(tmp_path, first)
    _write(tmp_path, first)
    day = tmp_path / "2026-12-06"
    assert sorted(p.name for p in day.iterdir()) == ["13", "13.2"]
    assert _read(day / "13.2" / "aprs.txt.zst", "aprs") == first


def test_a_receiver_name_that_is_no_file_name_is_quoted():
    assert file_name("sbs", "a/b") == "a%2Fb.sbs.zst"
    assert file_name("modes", "../../etc") == "..%2F..%2Fetc.jsonl.zst"   # stays in its folder
    assert file_name("modes", "127.0.0.1:30005") == "127.0.0.1:30005.jsonl.zst"
    assert file_name("aprs", None) == "aprs.txt.zst"


def test_retention_deletes_old_hours_and_leaves_other_folders(tmp_path):
    now = datetime.now(UTC)
    old = now - timedelta(days=8)
    recent = now - timedelta(hours=2)
    for t in (old, recent):
        (tmp_path / f"{t:%Y-%m-%d}" / f"{t:%H}").mkdir(parents=True, exist_ok=True)
    (tmp_path / f"{old:%Y-%m-%d}" / f"{old:%H}.2").mkdir()
    (tmp_path / "notes").mkdir()
    archive = _write(tmp_path, [], keep_s=7 * 86400)
    assert not (tmp_path / f"{old:%Y-%m-%d}").exists()
    assert (tmp_path / f"{recent:%Y-%m-%d}" / f"{recent:%H}").is_dir()
    assert (tmp_path / "notes").is_dir() and archive.deleted_hours == 2


def test_a_full_queue_drops_from_the_archive_only_and_counts(tmp_path):
    archive = Archive(ArchiveConfig(tmp_path, queue_chunks=2))   # not started: nothing drains
    chunk = _messages()[:3]
    for _ in range(5):
        archive.offer(chunk)                  # never waits
    assert archive.dropped == 3 * len(chunk)
    archive.start()
    archive.close()
    assert archive.lines == 2 * len(chunk)


def test_a_disk_that_refuses_writes_is_counted_and_the_archive_goes_on(tmp_path):
    day = tmp_path / "2026-12-06"
    day.mkdir()
    (day / "13").write_text("a file where the 13:00 folder should be")   # refuses 13:xx
    messages = [m for m in _messages() if m.kind == "aprs"]
    archive = _write(tmp_path, messages)          # no exception reaches the feed
    assert archive.errors == 2 and archive.lines == 4     # 13:59:58 and :59 refused
    assert _read(day / "14" / "aprs.txt.zst", "aprs") == messages[2:]


def test_a_stream_cut_before_its_end_reads_up_to_its_last_block(tmp_path):
    # What a killed writer leaves, and what a file being written looks like: no frame
    # end, and maybe half a block after the last whole one.
    lines = [f"{APRS} #{i}" for i in range(3000)]
    path = tmp_path / "aprs.txt.zst"
    with open(path, "wb") as raw:
        w = zstandard.ZstdCompressor(write_checksum=True).stream_writer(raw)
        w.write("".join(f"{T0.isoformat()} {x}\n" for x in lines[:2000]).encode())
        w.flush(zstandard.FLUSH_BLOCK)
        whole = raw.tell()
        w.write("".join(f"{T0.isoformat()} {x}\n" for x in lines[2000:]).encode())
        w.flush(zstandard.FLUSH_BLOCK)
    assert [m.payload for m in _read(path, "aprs")] == lines
    path.write_bytes(path.read_bytes()[:whole + 10])
    assert [m.payload for m in _read(path, "aprs")] == lines[:2000]


def test_replay_reads_gzip_recordings_too(tmp_path):
    path = tmp_path / "ulss7.jsonl.gz"
    frame = "8d4840d6202cc371c32ce0576098"
    path.write_bytes(gzip.compress(f'{{"timestamp": 1720248190.5, "frame": "{frame}"}}\n'.encode()))
    [m] = _read(path, "modes")
    assert m.receiver == "ulss7" and m.signal_db is None and m.payload == frame


def test_a_bug_in_the_archive_thread_ends_the_archive_only_and_says_why(tmp_path):
    archive = Archive(ArchiveConfig(tmp_path))
    archive.start()
    archive.offer([Message("aprs", None, APRS)])        # no receive time: the thread fails
    archive.close()
    archive.offer(_messages()[:3])                      # later chunks: counted, no raise
    assert archive.failed.startswith("AttributeError") and archive.dropped == 3
    assert archive.summary()["failed"] == archive.failed


def test_damaged_compressed_data_ends_the_replay_with_one_line_naming_the_file(tmp_path):
    _write(tmp_path, [Message("aprs", T0, f"{APRS} #{i}") for i in range(20000)])
    path = tmp_path / "2026-12-06" / "13" / "aprs.txt.zst"
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2] + bytes(64) + data[len(data) // 2 + 64:])
    with pytest.raises(SoarError, match=r"aprs\.txt\.zst: compressed data damaged after \d+ "
                                        r"bytes .*what came before was replayed"):
        _read(path, "aprs")


def test_an_archive_folder_without_archive_files_is_a_one_line_error(tmp_path):
    with pytest.raises(SoarError, match="no archive files"):
        replay_chunks(tmp_path)
