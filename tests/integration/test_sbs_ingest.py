"""SBS/BaseStation lines through the real pipeline into a real database: the real
dump1090 stream accounted line by line, stored as source 3 (SBS) with the tracker's
flights, and compared with the Beast capture it was decoded from."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from helpers.pipeline import drain, replay, run
from soar import ingest
from soar.feeds import recordings
from soar.feeds.modes import ModeSDecoder
from soar.feeds.sbs import SbsDecoder
from soar.ingest.pipeline import PipelineConfig
from soar.ingest.shard import Shard
from soar.ingest.stats import IngestStats
from soar.records import Fix, Message

START = datetime(2018, 4, 3, 19, 2, 28, 136000, tzinfo=timezone.utc)


@pytest.fixture
def reference(data_dir):
    return data_dir / "beast" / "ulss7-2018-04-03.reference-sbs.txt"


def _expected(path) -> dict:
    """What the reference file must give, computed from its lines alone: one fix per
    aircraft per second of generated time (the router's de-duplication; dump1090
    wrote every line twice), the rest state-only or rejected."""
    positions, keys, callsigns = 0, set(), {}
    for line in path.read_text().splitlines():
        f = line.split(",")
        if len(f) != 22:
            continue
        if f[14] and f[15]:
            positions += 1
            t = datetime.strptime(f"{f[6]} {f[7]}", "%Y/%m/%d %H:%M:%S.%f")
            keys.add((int(f[4], 16), int(t.replace(tzinfo=timezone.utc).timestamp())))
        if f[10].strip():
            callsigns[int(f[4], 16)] = f[10].strip()
    return {"positions": positions, "stored": len(keys), "callsigns": callsigns,
            "aircraft": {a for a, _ in keys}}


def test_reference_sbs_stream_is_stored_as_sbs_every_line_accounted(database, conn, reference):
    expected = _expected(reference)
    stats = replay(database, reference, "sbs", receiver="ulss7")
    s = stats.summary()
    a = s["accounting"]
    # 8,625 lines, one blank (skipped by the reader): each non-blank line one outcome.
    assert s["messages"] == {"sbs": 8624}
    assert a["balanced"] and a["in_flight"] == 0 and a["dropped"] == {}
    assert a["fixes_stored"] == expected["stored"] == 449
    assert a["state_only"] == 7124              # types 1, 4-8 without a position
    assert a["rejected"] == {"no_position": 42, "parse_error": 2,
                             "duplicate": expected["positions"] - expected["stored"]}
    rows = conn.execute("SELECT DISTINCT f.source, r.name FROM fixes f "
                        "JOIN receivers r ON r.id = f.receiver_id").fetchall()
    assert rows == [(3, "ulss7")]
    assert {a for (a,) in conn.execute("SELECT DISTINCT aircraft_id & 16777215 FROM fixes")} \
        == expected["aircraft"]
    # Data time drives a replay: 2018 positions are neither stale nor in the future.
    assert conn.execute("SELECT min(time), max(time) FROM fixes").fetchone() == (
        datetime(2018, 4, 3, 19, 2, 28, 951000, tzinfo=timezone.utc),
        datetime(2018, 4, 3, 19, 3, 29, 21000, tzinfo=timezone.utc))
    # The merge: callsigns and velocities reach the stored rows.
    assert dict(conn.execute("SELECT address, callsign FROM aircraft WHERE callsign IS NOT NULL")
                ) == expected["callsigns"]
    with_speed, airborne = conn.execute(
        "SELECT count(*) FILTER (WHERE ground_speed_kmh IS NOT NULL), "
        "count(*) FILTER (WHERE on_ground = false) FROM fixes").fetchone()
    assert with_speed >= 440 and airborne == 449
    # The tracker took them: flights of source 3, shown as 'sbs' by the statistics views.
    flights = conn.execute("SELECT source, count(*) FROM flights GROUP BY 1").fetchall()
    assert flights == [(3, len(expected["aircraft"]))]
    assert conn.execute("SELECT source, sum(flights) FROM flights_daily GROUP BY 1"
                        ).fetchall() == [("sbs", len(expected["aircraft"]))]
    assert conn.execute("SELECT DISTINCT source FROM flights_hourly").fetchall() == [("sbs",)]


def _run(database, messages, fmt_kind: str) -> IngestStats:
    """Through the pipeline without the tracker: both paths into one database (their
    flights would meet: the same aircraft, restored as active by the second run)."""
    stats = IngestStats()
    pipeline = ingest.build(database.url("ingest"), stats, PipelineConfig(), track=False)
    run(pipeline, recordings.chunked(messages, None))
    assert pipeline.failed is None
    assert stats.accounting()["balanced"], fmt_kind
    return stats


def test_beast_capture_and_its_sbs_decode_give_the_same_aircraft_and_positions(
        database, conn, data_dir, reference):
    beast = data_dir / "beast" / "ulss7-2018-04-03.beast"
    _run(database, recordings.beast_messages(beast, "ulss7-beast", START), "beast")
    _run(database, recordings.sbs_messages(reference, "ulss7-sbs"), "sbs")
    fixes = {2: {}, 3: {}}
    for source, address, t, lat, lon, alt in conn.execute(
            "SELECT source, aircraft_id & 16777215, time, latitude, longitude, altitude_m "
            "FROM fixes ORDER BY time"):
        fixes[source].setdefault(address, []).append((t, lat, lon, alt))
    # The same aircraft: 11, every one heard with positions on both paths.
    assert set(fixes[2]) == set(fixes[3]) and len(fixes[2]) == 11
    # The same number of stored fixes per aircraft (one per aircraft and second) but
    # for the seconds where the two clocks straddle a second boundary (dump1090 writes
    # milliseconds and its own rounding of the same 12 MHz counter).
    for address in fixes[2]:
        assert abs(len(fixes[2][address]) - len(fixes[3][address])) <= 2, hex(address)
    # Every position either path stored is one the other path decoded: to SBS's 5
    # decimals, the altitude to the foot, the time to the millisecond (the same frame;
    # dump1090 writes milliseconds of the same 12 MHz counter). The stored sets
    # themselves differ in which fix of a second is kept: each path keeps the first of
    # the second by its own clock.
    sbs_decoded = _decoded_sbs(reference)
    beast_decoded = _decoded_beast(beast)
    for source, other in ((2, sbs_decoded), (3, beast_decoded)):
        for address, stored in fixes[source].items():
            for t, lat, lon, alt in stored:
                twins = [(ot, oalt) for ot, olat, olon, oalt in other[address]
                         if abs(lat - olat) <= 1.5e-5 and abs(lon - olon) <= 1.5e-5]
                assert twins, (source, hex(address), t, lat, lon)
                assert any(abs((ot - t).total_seconds()) < 0.001 and abs(oalt - alt) < 0.01
                           for ot, oalt in twins), (source, hex(address), t, twins)


def _decoded_sbs(path) -> dict:
    out: dict = {}
    decoder = SbsDecoder("x")
    for m in recordings.sbs_messages(path, "x"):
        fix = decoder.decode(m.payload, m.received_at)
        if isinstance(fix, Fix):
            out.setdefault(fix.address, []).append((fix.time, fix.latitude, fix.longitude,
                                                    fix.altitude_m))
    return out


def _decoded_beast(path) -> dict:
    out: dict = {}
    decoder = ModeSDecoder("x")
    for m in recordings.beast_messages(path, "x", START):
        fix = decoder.decode(m.payload, m.received_at, m.signal_db)
        if isinstance(fix, Fix):
            out.setdefault(fix.address, []).append((fix.time, fix.latitude, fix.longitude,
                                                    fix.altitude_m))
    return out


def test_sbs_callsigns_are_those_of_the_beast_decode_or_heard_earlier(database, conn, data_dir,
                                                                    reference):
    """Where the two paths differ: dump1090 also reads callsigns from Comm-B
    identification replies (DF20/21, BDS 2,0) and writes them on its MSG,6 lines; the
    Mode-S decoder reads only the ADS-B identification (DF17 TC 1-4). So an SBS fix may
    carry a callsign the Beast path learns only later (here SDM6620 at 19:02:32 in
    SBS, 19:03:11 from its DF17 identification), never a different one."""
    beast = data_dir / "beast" / "ulss7-2018-04-03.beast"
    _run(database, recordings.beast_messages(beast, "ulss7-beast", START), "beast")
    beast_calls = dict(conn.execute("SELECT address, callsign FROM aircraft "
                                    "WHERE callsign IS NOT NULL"))
    conn.execute("UPDATE aircraft SET callsign = NULL")
    conn.commit()
    _run(database, recordings.sbs_messages(reference, "ulss7-sbs"), "sbs")
    sbs_calls = dict(conn.execute("SELECT address, callsign FROM aircraft "
                                  "WHERE callsign IS NOT NULL"))
    assert beast_calls == sbs_calls and len(sbs_calls) >= 8


def test_two_shards_store_exactly_what_one_process_stores(database, conn, reference):
    one = _run(database, recordings.sbs_messages(reference, "ulss7"), "sbs")
    stored = sorted(conn.execute("SELECT aircraft_id, time, latitude, longitude FROM fixes"))
    conn.execute("TRUNCATE fixes")
    conn.commit()
    shards = []
    for k in range(2):
        stats = IngestStats()
        pipeline = ingest.build(database.url("ingest"), stats, PipelineConfig(), track=False,
                                shard=Shard(k, 2))
        run(pipeline, recordings.replay(reference, "sbs", receiver="ulss7"))
        assert pipeline.failed is None and stats.accounting()["balanced"]
        shards.append(stats)
    assert sorted(conn.execute("SELECT aircraft_id, time, latitude, longitude FROM fixes")
                  ) == stored
    both = Counter()
    for s in shards:
        both.update(s.rejected)
        assert s.rejected[("sbs", "other_shard")] > 0
    del both[("sbs", "other_shard")]
    assert both == one.rejected
    assert sum(s.state_only for s in shards) == one.state_only
    assert sum(s.fixes_written for s in shards) == one.fixes_written


def test_live_lines_in_the_future_or_stale_are_rejected_and_counted(database, conn):
    """Live, the receive time is the wall clock: a feed whose generated time is ahead
    (a local-time feed read as UTC, east of Greenwich) or old is counted, not stored."""
    now = datetime.now(timezone.utc)
    stats = IngestStats()
    pipeline = ingest.build(database.url("ingest"), stats, PipelineConfig(), track=False)
    pipeline.start()

    def line(t: datetime, hexid: str) -> str:
        d, tm = t.strftime("%Y/%m/%d"), t.strftime("%H:%M:%S.%f")[:12]
        return f"MSG,3,1,1,{hexid},1,{d},{tm},{d},{tm},,5000,,,48.1,11.5,,,,,,0"

    chunk = [Message("sbs", now, line(now + timedelta(hours=2), "4CA001"), None, "feed"),
             Message("sbs", now, line(now - timedelta(hours=1), "4CA002"), None, "feed"),
             Message("sbs", now, line(now - timedelta(seconds=1), "4CA003"), None, "feed")]
    pipeline.submit(chunk)
    drain(pipeline)
    assert pipeline.failed is None
    assert stats.rejected == Counter({("sbs", "future"): 1, ("sbs", "stale"): 1})
    assert stats.fixes_written == 1
    assert conn.execute("SELECT aircraft_id & 16777215, source FROM fixes").fetchall() == [
        (0x4CA003, 3)]
