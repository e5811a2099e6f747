"""The raw archive (soar.ingest.archive): what it writes is what `soar replay` reads
back, message for message; hours split into folders; a restart never appends to a
stream; retention deletes only old hours of its own; a full queue or a refusing disk
is counted and never raises into the feed; a replay follows the order record (the
order chunks were handed over in), and falls back to a receive-time merge, saying so,
where there is none or it is damaged."""

from __future__ import annotations

import gzip
import threading
import time
from datetime import datetime, timedelta

import pytest
import zstandard

from soar.errors import SoarError
from soar.feeds import recordings
from soar.ingest.app import Chunker
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
        ["aprs.txt.zst", "127.0.0.1:30005.jsonl.zst", "adsbhub.sbs.zst", "order.zst"])
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
    (tmp_path / "2026-12-06").write_text("a file where the day's folder should be")
    messages = [m._replace(received_at=m.received_at + timedelta(hours=10))   # to 00:00:03
                for m in _messages() if m.kind == "aprs"]
    archive = _write(tmp_path, messages)          # no exception reaches the feed
    assert archive.errors == 2 and archive.lines == 4     # 23:59:58 and :59 refused
    assert _read(tmp_path / "2026-12-07" / "00" / "aprs.txt.zst", "aprs") == messages[2:]


def test_a_folder_in_the_way_of_an_hour_is_passed_over_for_the_next_part(tmp_path):
    day = tmp_path / "2026-12-06"
    day.mkdir()
    (day / "13").write_text("not a folder")
    messages = [m for m in _messages() if m.kind == "aprs"]
    archive = _write(tmp_path, messages)
    assert archive.errors == 0 and archive.lines == 6
    assert _read(day / "13.2" / "aprs.txt.zst", "aprs") == messages[:2]


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


# -- the order record: a replay takes the chunks in the order the router took them ----

FRAME = bytes.fromhex("8d4840d6202cc371c32ce0576098")


def _aprs(t: datetime, n: int) -> Message:
    return Message("aprs", t, f"{APRS} #{n}")


def _modes(t: datetime, n: int) -> Message:
    return Message("modes", t, FRAME, -float(n), "beast1")


def _handed_over(start: datetime) -> list[list[Message]]:
    """Two feeds' chunks as their chunkers hand them over: each feed's 0.2 s, the
    ADS-B feed's receive times running ahead of the OGN feed's (an APRS-IS delay)."""
    chunks = []
    for c in range(6):
        t = start + timedelta(seconds=0.2 * c)
        chunks.append([_aprs(t + timedelta(seconds=0.05 * i) - timedelta(seconds=0.3), 10 * c + i)
                       for i in range(4)])
        chunks.append([_modes(t + timedelta(seconds=0.05 * i), 10 * c + i) for i in range(4)])
    return chunks


def _offered(directory, chunks, **kw) -> Archive:
    archive = Archive(ArchiveConfig(directory, **kw))
    archive.start()
    for chunk in chunks:
        archive.offer(chunk)
    archive.close()
    return archive


def _key(m: Message) -> tuple:
    return (m.kind, m.received_at, m.payload.hex() if isinstance(m.payload, bytes) else m.payload)


def _replayed(folder) -> list[tuple]:
    return [_key(m) for chunk in replay_chunks(folder) for m in chunk]


def _by_time(chunks) -> list[tuple]:
    return sorted((_key(m) for c in chunks for m in c), key=lambda k: (k[1], k[0]))  # ties: by file


def test_a_replay_takes_two_feeds_chunks_in_the_order_they_were_handed_over(tmp_path):
    chunks = _handed_over(T0 - timedelta(minutes=5))
    _offered(tmp_path, chunks)
    handed = [_key(m) for c in chunks for m in c]
    assert handed != _by_time(chunks)          # a receive-time merge would differ
    assert _replayed(tmp_path) == handed
    assert _replayed(tmp_path / "2026-12-06" / "13") == handed
    # and each feed's file still replays alone, in its own format
    folder = tmp_path / "2026-12-06" / "13"
    assert [_key(m) for m in _read(folder / "aprs.txt.zst", "aprs")] == [
        _key(m) for c in chunks for m in c if m.kind == "aprs"]


def test_a_chunk_across_the_hour_goes_whole_into_the_later_hour_and_the_hour_never_goes_back(
        tmp_path):
    chunks = _handed_over(datetime(2026, 12, 6, 13, 59, 59, 900000, tzinfo=UTC))
    _offered(tmp_path, chunks)
    day = tmp_path / "2026-12-06"
    # the first ADS-B chunk (13:59:59.90 .. 14:00:00.05) and every later chunk go to
    # 14, the OGN chunk of 13:59:59.80 .. .95 after it too
    assert [_key(m) for m in _read(day / "13" / "aprs.txt.zst", "aprs")] == [
        _key(m) for m in chunks[0]]
    assert not (day / "13" / "beast1.jsonl.zst").exists()
    assert chunks[2][0].received_at < datetime(2026, 12, 6, 14, tzinfo=UTC)
    assert _replayed(tmp_path) == [_key(m) for c in chunks for m in c]


def test_a_restart_within_the_hour_replays_after_the_first_process_in_part_order(tmp_path):
    chunks = _handed_over(T0 - timedelta(minutes=5))
    _offered(tmp_path, chunks[:6])
    _offered(tmp_path, chunks[6:])
    day = tmp_path / "2026-12-06"
    assert sorted(p.name for p in (day / "13.2").iterdir()) == [
        "aprs.txt.zst", "beast1.jsonl.zst", "order.zst"]
    assert _replayed(tmp_path) == [_key(m) for c in chunks for m in c]


def test_an_archive_without_order_records_replays_merged_by_receive_time(tmp_path, caplog):
    chunks = _handed_over(T0 - timedelta(minutes=5))
    _offered(tmp_path, chunks)
    (tmp_path / "2026-12-06" / "13" / "order.zst").unlink()
    assert _replayed(tmp_path) == _by_time(chunks)
    assert "2 files without an order record" in caplog.text
    _offered(tmp_path, chunks)        # a folder written before order records: passed over
    assert (tmp_path / "2026-12-06" / "13.2" / "order.zst").exists()


def _rewrite_order(folder, text: str) -> None:
    (folder / "order.zst").write_bytes(zstandard.ZstdCompressor().compress(text.encode()))


def test_a_damaged_order_record_is_one_line_naming_it_then_a_receive_time_merge(
        tmp_path, caplog):
    chunks = _handed_over(T0 - timedelta(minutes=5))
    _offered(tmp_path, chunks)
    folder = tmp_path / "2026-12-06" / "13"
    _rewrite_order(folder, "13/aprs.txt.zst 4\n13/aprs.txt.zst 4\n13/beast1.jsonl.zst 4\n13/be")
    assert _replayed(tmp_path) == _by_time(chunks)
    assert "order.zst: order record cut inside line 4" in caplog.text
    caplog.clear()
    _rewrite_order(folder, "13/aprs.txt.zst 4\n../../etc/passwd 4\n")
    assert _replayed(tmp_path) == _by_time(chunks)
    assert "order.zst: order record damaged at line 2" in caplog.text
    caplog.clear()
    (folder / "order.zst").write_bytes(b"\x28\xb5\x2f\xfd" + b"\xff" * 40)
    assert _replayed(tmp_path) == _by_time(chunks)
    assert "order.zst: order record unreadable" in caplog.text


def test_a_killed_writers_order_record_and_files_that_disagree_replay_every_message_held(
        tmp_path, caplog):
    chunks = _handed_over(T0 - timedelta(minutes=5))
    _offered(tmp_path, chunks)
    folder = tmp_path / "2026-12-06" / "13"
    # the record lost its last runs: they come after the named ones, by receive time
    _rewrite_order(folder, "13/aprs.txt.zst 4\n13/beast1.jsonl.zst 4\n")
    got = _replayed(tmp_path)
    assert got[:8] == [_key(m) for c in chunks[:2] for m in c]
    assert got[8:] == _by_time(chunks[2:])
    assert "names 0 messages its files do not hold and leaves 40 unnamed" in caplog.text
    caplog.clear()
    # the record names more than a file holds (the file's last block was lost)
    _rewrite_order(folder, "13/aprs.txt.zst 4\n13/beast1.jsonl.zst 4\n13/aprs.txt.zst 30\n"
                           "13/beast1.jsonl.zst 30\n")
    got = _replayed(tmp_path)
    assert got == [_key(m) for c in chunks[:2] for m in c] + [
        _key(m) for c in chunks[2:] if c[0].kind == "aprs" for m in c] + [
        _key(m) for c in chunks[2:] if c[0].kind == "modes" for m in c]
    assert "names 20 messages its files do not hold and leaves 0 unnamed" in caplog.text


def test_the_order_record_counts_the_messages_a_replay_reads_back_not_those_handed_over(
        tmp_path, caplog):
    # An APRS line with a CR inside replays as two messages, a blank SBS line as none:
    # the record counts what the file gives back, so the runs after them stay aligned.
    t = T0 - timedelta(minutes=5)
    chunks = [[_aprs(t, 1), Message("aprs", t, f"{APRS} #2\rsecond half")],
              [Message("sbs", t, " ", None, "hub"), Message("sbs", t, "", None, "hub")],
              [_modes(t, 3)],
              [_aprs(t + timedelta(seconds=1), 4)],
              [_modes(t - timedelta(seconds=1), 5)]]
    _offered(tmp_path, chunks)
    got = _replayed(tmp_path)
    assert [k[0] for k in got] == ["aprs", "aprs", "aprs", "modes", "aprs", "modes"]
    assert got[1][2].endswith("#2") and got[4][2].endswith("#4")
    assert "order record" not in caplog.text and "without" not in caplog.text


class _Router:
    """Stands in for the pipeline: the order chunks were submitted in."""

    def __init__(self):
        self.chunks: list[tuple] = []

    def submit(self, chunk, source=None) -> bool:
        time.sleep(0)          # lets the other feed's thread run here, between offer and submit
        self.chunks.append(tuple(chunk))
        return True


def test_feeds_handing_over_at_once_give_the_archive_the_routers_order(tmp_path):
    router = _Router()
    archive = Archive(ArchiveConfig(tmp_path, queue_chunks=10_000))   # not started: kept
    handoff = threading.Lock()
    feeds = [Chunker(router, size=1, source=name, archive=archive, handoff=handoff)
             for name in ("ogn", "beast")]
    go = threading.Barrier(2)

    def hand_over(chunker, make):
        go.wait()
        for i in range(3000):
            chunker.add(make(T0, i))
    threads = [threading.Thread(target=hand_over, args=(c, make))
               for c, make in zip(feeds, (_aprs, _modes), strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    queued = []
    while not archive._queue.empty():
        queued.append(archive._queue.get_nowait())
    assert len(queued) == len(router.chunks) == 6000
    assert {c[0].kind for c in router.chunks[:3000]} == {"aprs", "modes"}   # interleaved
    assert queued == router.chunks
