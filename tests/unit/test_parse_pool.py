"""The parse process's transport: what comes back through parse_chunk and unpack is
what parse_line gives in place, for every real line of ogn-aprs-protocol's
valid_messages (fixes, receiver beacons, rejects, server lines)."""

from __future__ import annotations

from datetime import datetime, timedelta

from helpers.paths import TEST_DATA
from soar.feeds.parse_pool import parse_chunk, parse_line, unpack
from soar.records import Fix, Message
from soar.units import UTC


def _messages() -> list[Message]:
    t0 = datetime(2025, 6, 1, 12, 0, 0, 123456, tzinfo=UTC)
    out = []
    for path in sorted((TEST_DATA / "ogn" / "valid_messages").glob("*.txt")):
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
            if line.strip():
                # Runs of lines share a receive time, as a live chunk's do.
                out.append(Message("aprs", t0 + timedelta(seconds=i // 3, microseconds=i), line))
    return out


def test_parse_chunk_and_unpack_give_what_parse_line_gives():
    chunk = _messages()
    results = parse_chunk([m.payload for m in chunk],
                          [m.received_at.timestamp() for m in chunk])
    assert len(results) == len(chunk)
    fixes = 0
    for msg, result in zip(chunk, results, strict=True):
        if type(result) is tuple:
            result = unpack(result, msg.received_at)
            fixes += 1
        assert result == parse_line(msg.payload, msg.received_at), msg.payload
        if isinstance(result, Fix):
            assert result.received_at == msg.received_at
    assert fixes > 200, fixes   # the files' aircraft beacons came back as fixes
