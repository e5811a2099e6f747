"""Beast framing on a real capture (ulss7, tests/data/beast/, GPL-2.0+ from
denzen84/beastblackbox), plus escaping, resynchronisation and chunking."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from helpers.paths import TEST_DATA
from soar.feeds.beast import (
    MODE_AC,
    MODE_S_LONG,
    MODE_S_SHORT,
    BeastDecoder,
    Frame,
    encode_frame,
    signal_dbfs,
)

ULSS7 = TEST_DATA / "beast" / "ulss7-2018-04-03.beast"


def read_capture() -> bytes:
    assert ULSS7.exists(), f"real capture missing: {ULSS7}"
    return ULSS7.read_bytes()


def frame_all(data: bytes) -> tuple[list[Frame], BeastDecoder]:
    framer = BeastDecoder()
    return framer.feed(data) + framer.flush(), framer


def feed_in_chunks(data: bytes, rng: random.Random, max_chunk: int) -> tuple[list[Frame], BeastDecoder]:
    framer = BeastDecoder()
    frames: list[Frame] = []
    pos = 0
    while pos < len(data):
        size = rng.randint(1, max_chunk)
        frames += framer.feed(data[pos:pos + size])
        pos += size
    return frames + framer.flush(), framer


def garbage(rng: random.Random, n: int) -> bytes:
    """Random bytes that never contain a frame start (0x1a followed by '1'/'2'/'3')."""
    out = bytearray(rng.randrange(256) for _ in range(n))
    for i in range(len(out) - 1):
        if out[i] == 0x1A and out[i + 1] in (0x31, 0x32, 0x33):
            out[i + 1] = 0x1A
    return bytes(out)


def test_real_capture_frame_counts():
    frames, framer = frame_all(read_capture())
    assert len(frames) == 13_954
    assert Counter(f.type for f in frames) == {MODE_AC: 5026, MODE_S_SHORT: 4942, MODE_S_LONG: 3986}
    assert framer.garbage_bytes == 0 and framer.buffered == 0
    assert all(len(f.payload) == {MODE_AC: 2, MODE_S_SHORT: 7, MODE_S_LONG: 14}[f.type] for f in frames)
    # Mode-S frames start with a DF the payload length agrees with.
    assert all((f.payload[0] >> 3 >= 16) == (f.type == MODE_S_LONG) for f in frames if f.type != MODE_AC)
    assert len({f.mlat_ticks for f in frames}) > 6000


def test_escaping_round_trip_on_real_capture():
    data = read_capture()
    frames, _ = frame_all(data)
    assert b"".join(encode_frame(f) for f in frames) == data
    # The capture really exercises the escape path.
    escaped = [f for f in frames if b"\x1a\x1a" in encode_frame(f)]
    assert len(escaped) > 50


def test_escaping_round_trip_synthetic():
    rng = random.Random(7)
    frames = []
    for _ in range(2000):
        ftype = rng.choice((MODE_AC, MODE_S_SHORT, MODE_S_LONG))
        n = {MODE_AC: 2, MODE_S_SHORT: 7, MODE_S_LONG: 14}[ftype]
        # Bias towards 0x1a everywhere: timestamp, signal and payload.
        pick = lambda: 0x1A if rng.random() < 0.3 else rng.randrange(256)  # noqa: E731
        frames.append(Frame(ftype, int.from_bytes(bytes(pick() for _ in range(6)), "big"),
                            pick(), bytes(pick() for _ in range(n))))
    wire = b"".join(encode_frame(f) for f in frames)
    assert frame_all(wire)[0] == frames
    assert feed_in_chunks(wire, rng, 50)[0] == frames
    assert encode_frame(Frame(MODE_S_SHORT, 0x1A, 0x1A, b"\x1a" * 7)).count(b"\x1a") == 1 + 2 * 9


def test_encode_rejects_wrong_length():
    with pytest.raises(ValueError):
        encode_frame(Frame(MODE_S_LONG, 0, 0, b"\x00" * 7))


def test_resync_after_injected_garbage():
    rng = random.Random(1)
    frames, _ = frame_all(read_capture())
    wire = bytearray()
    injected = 0
    for f in frames:
        if rng.random() < 0.05:
            junk = garbage(rng, rng.randint(1, 60))
            wire += junk
            injected += len(junk)
        wire += encode_frame(f)
    got, framer = frame_all(bytes(wire))
    assert got == frames
    assert framer.garbage_bytes == injected
    chunked, framer2 = feed_in_chunks(bytes(wire), rng, 700)
    assert chunked == frames
    assert framer2.garbage_bytes == injected


def test_truncated_frames_are_dropped_and_counted():
    rng = random.Random(2)
    frames, _ = frame_all(read_capture())
    wire = bytearray()
    kept, dropped_bytes = [], 0
    for f in frames:
        raw = encode_frame(f)
        if rng.random() < 0.05 and b"\x1a" not in raw[1:]:
            cut = raw[:rng.randint(2, len(raw) - 1)]   # header and part of the body
            wire += cut
            dropped_bytes += len(cut)
        else:
            wire += raw
            kept.append(f)
    assert len(kept) < len(frames) - 100
    got, framer = frame_all(bytes(wire))
    assert got == kept
    assert framer.garbage_bytes == dropped_bytes
    assert feed_in_chunks(bytes(wire), rng, 333)[0] == kept


def test_unknown_type_and_lone_escape_are_skipped():
    good = Frame(MODE_S_SHORT, 123456, 200, bytes.fromhex("5d4ca2d1c8ab3a"))
    wire = b"\x1a\x34" + b"\x00" * 10 + b"\x1a" + encode_frame(good) + b"\x1a\x1a\x1a"
    got, framer = frame_all(wire)
    assert got == [good]
    assert framer.garbage_bytes == 13 + 3


@pytest.mark.parametrize("seed,max_chunk", [(0, 1), (1, 7), (2, 64), (3, 1500), (4, 20000)])
def test_random_chunking_gives_the_same_frames(seed, max_chunk):
    data = read_capture()
    whole, _ = frame_all(data)
    chunked, framer = feed_in_chunks(data, random.Random(seed), max_chunk)
    assert chunked == whole
    assert framer.garbage_bytes == 0


def test_partial_frame_waits_for_the_rest():
    f = Frame(MODE_S_LONG, 0x1A1A1A, 0x1A, bytes.fromhex("8d4ca2d158c9017e6f54cbf5a1e2"))
    raw = encode_frame(f)
    framer = BeastDecoder()
    for i in range(len(raw) - 1):
        assert framer.feed(raw[i:i + 1]) == []
    assert framer.feed(raw[-1:]) == [f]
    assert framer.garbage_bytes == 0 and framer.buffered == 0


def test_signal_dbfs():
    assert signal_dbfs(255) == pytest.approx(0.0)
    assert signal_dbfs(0) is None
    assert signal_dbfs(128) == pytest.approx(-5.99, abs=0.01)
