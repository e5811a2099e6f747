"""SBS/BaseStation lines: fields, units, the per-aircraft merge, time zones, the reject
reasons, the replay reader and the command-line options (soar.feeds.sbs)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from helpers.paths import TEST_DATA
from soar.cli.ingest import _sbs_feeds, _timezone
from soar.errors import SoarError
from soar.feeds import recordings
from soar.feeds.sbs import Clock, SbsDecoder, line_address
from soar.ingest.shard import Shard
from soar.records import (
    BAD_TEXT,
    NO_POSITION,
    OUT_OF_RANGE,
    PARSE_ERROR,
    UNSUPPORTED,
    AddressType,
    Fix,
    Source,
)

REFERENCE = TEST_DATA / "beast" / "ulss7-2018-04-03.reference-sbs.txt"
UTC = timezone.utc
T0 = datetime(2024, 7, 6, 12, 0, 0, tzinfo=UTC)


def sbs(tt: int, hexid: str = "4CA2D1", t: datetime = T0, *, callsign: str = "",
        alt: str = "", gs: str = "", track: str = "", lat: str = "", lon: str = "",
        vr: str = "", squawk: str = "", ground: str = "", kind: str = "MSG") -> str:
    """One line as dump1090 writes it (22 fields)."""
    date, time = t.strftime("%Y/%m/%d"), t.strftime("%H:%M:%S.%f")[:12]
    return ",".join([kind, str(tt), "1", "1", hexid, "1", date, time, date, time, callsign,
                     alt, gs, track, lat, lon, vr, squawk, "", "", "", ground])


def decode(dec: SbsDecoder, line: str, received_at: datetime | None = None):
    return dec.decode(line, received_at or T0)


def test_airborne_position_line_is_a_fix_in_metric_units():
    dec = SbsDecoder("feed")
    fix = decode(dec, sbs(3, alt="35000", lat="59.73459", lon="31.99796", ground="0"))
    assert isinstance(fix, Fix)
    assert fix.source == Source.SBS and fix.address_type == AddressType.ICAO
    assert fix.address == 0x4CA2D1 and fix.receiver == "feed"
    assert (fix.latitude, fix.longitude) == (59.73459, 31.99796)
    assert fix.altitude_m == pytest.approx(35000 * 0.3048)
    assert fix.time == T0 and fix.received_at == T0
    assert fix.on_ground is False
    assert fix.ground_speed_kmh is None and fix.callsign is None


def test_a_fix_carries_the_latest_callsign_velocity_and_ground_state():
    dec = SbsDecoder("feed")
    assert decode(dec, sbs(1, callsign="AAR542  ")) is None            # state only
    assert decode(dec, sbs(4, t=T0 + timedelta(seconds=1), gs="514", track="65",
                           vr="-640")) is None
    fix = decode(dec, sbs(3, t=T0 + timedelta(seconds=2), alt="35000", lat="59.7",
                          lon="31.9"))
    assert fix.callsign == "AAR542"
    assert fix.ground_speed_kmh == pytest.approx(514 * 1.852)
    assert fix.track_deg == 65.0
    assert fix.climb_rate_ms == pytest.approx(-640 * 0.3048 / 60)
    # 10 s later the velocity is stale (as for Beast); the callsign stays.
    fix = decode(dec, sbs(3, t=T0 + timedelta(seconds=12), alt="35000", lat="59.71",
                          lon="31.91"))
    assert fix.ground_speed_kmh is None and fix.track_deg is None and fix.climb_rate_ms is None
    assert fix.callsign == "AAR542"


def test_an_older_line_does_not_overwrite_newer_state():
    dec = SbsDecoder("feed")
    decode(dec, sbs(4, t=T0 + timedelta(seconds=5), gs="200", track="90"))
    decode(dec, sbs(4, t=T0, gs="100", track="10"))       # repeated late by the feed
    fix = decode(dec, sbs(3, t=T0 + timedelta(seconds=6), lat="50", lon="10", alt="1000"))
    assert fix.track_deg == 90.0


def test_field_22_feeds_on_ground():
    dec = SbsDecoder("feed")
    # Told "on the ground" by a surveillance reply, then an airborne position without
    # its own flag: the recent statement wins, as the Mode-S decoder reads it.
    assert decode(dec, sbs(7, alt="1000", ground="-1")) is None
    fix = decode(dec, sbs(3, t=T0 + timedelta(seconds=1), lat="50", lon="10", alt="1000"))
    assert fix.on_ground is True
    fix = decode(dec, sbs(3, t=T0 + timedelta(seconds=2), lat="50", lon="10", alt="1000",
                          ground="0"))
    assert fix.on_ground is False
    # 1 as well as -1 means on the ground (feeds differ).
    assert decode(dec, sbs(3, "ABCDEF", lat="50", lon="10", ground="1")).on_ground is True
    # A surface position is on the ground; its altitude is none.
    surface = decode(dec, sbs(2, "123456", gs="12", track="90", lat="50.1", lon="10.1"))
    assert surface.on_ground is True and surface.altitude_m is None
    assert surface.ground_speed_kmh == pytest.approx(12 * 1.852)
    # An airborne position of an aircraft that never said: in the air.
    assert decode(dec, sbs(3, "654321", lat="50", lon="10", alt="5000")).on_ground is False


def test_altitude_from_a_recent_altitude_line_when_the_position_has_none():
    dec = SbsDecoder("feed")
    decode(dec, sbs(5, alt="2675"))
    assert decode(dec, sbs(3, t=T0 + timedelta(seconds=3), lat="59.7",
                           lon="30.6")).altitude_m == pytest.approx(2675 * 0.3048)
    assert decode(dec, sbs(3, t=T0 + timedelta(seconds=20), lat="59.7",
                           lon="30.6")).altitude_m is None


def test_state_is_forgotten_after_state_ttl_of_silence():
    dec = SbsDecoder("feed", state_ttl=300)
    decode(dec, sbs(1, callsign="UTA470"))
    later = T0 + timedelta(seconds=301)
    assert decode(dec, sbs(3, t=later, lat="50", lon="10")).callsign is None
    # ...whether or not the memory sweep ran in between (no other traffic here).
    dec = SbsDecoder("feed", state_ttl=300)
    decode(dec, sbs(1, callsign="UTA470"))
    decode(dec, sbs(8, "111111", t=T0 + timedelta(seconds=100)))
    assert decode(dec, sbs(3, t=later, lat="50", lon="10")).callsign is None


@pytest.mark.parametrize("hexid,address", [("4CA2D1", 0x4CA2D1), ("4ca2d1", 0x4CA2D1),
                                           ("4CA2", 0x004CA2), ("1", 1), ("000001", 1)])
def test_hex_ident_of_one_to_six_digits_is_an_icao_address(hexid, address):
    fix = decode(SbsDecoder("feed"), sbs(3, hexid, lat="50", lon="10"))
    assert fix.address == address
    assert line_address(sbs(3, hexid)) == address


@pytest.mark.parametrize("hexid", ["", "4CA2D1F", "4CA2G1", "0x4CA2", " 4CA2", "4CA2 ", "+4CA2",
                                   "4_CA2", "-1", "４"])
def test_hex_ident_that_is_not_1_to_6_hex_digits_is_a_parse_error(hexid):
    assert decode(SbsDecoder("feed"), sbs(3, hexid, lat="50", lon="10")) == PARSE_ERROR
    assert line_address(sbs(3, hexid)) is None


def test_short_lines_and_non_numeric_fields_are_parse_errors():
    dec = SbsDecoder("feed")
    line = sbs(3, alt="35000", lat="59.7", lon="31.9", ground="0")
    for n in range(1, 22):                       # cut after any field
        assert decode(dec, ",".join(line.split(",")[:n])) == PARSE_ERROR, n
    assert decode(dec, line[:-1] + "X") == PARSE_ERROR            # ground flag
    assert decode(dec, line + ",") == PARSE_ERROR                 # 23 fields
    for field, value in ((11, "35k"), (12, "fast"), (13, "N"), (14, "59,7"), (15, "nan"),
                         (16, "inf"), (14, "1e400")):
        parts = line.split(",")
        parts[field] = value
        assert decode(dec, ",".join(parts)) == PARSE_ERROR, (field, value)
    for date, time in (("2024/13/01", "12:00:00.000"), ("2024-07-06", "25:00:00.000"),
                       ("20240706", "12:00:00.000"), ("2024/07/06", "12:00"),
                       ("2024/07/06", "12:61:00.000"), ("", "")):
        parts = line.split(",")
        parts[6], parts[7] = date, time
        assert decode(dec, ",".join(parts)) == PARSE_ERROR, (date, time)
    assert decode(dec, "") == PARSE_ERROR
    assert decode(dec, "Total processed 13954 messages") == PARSE_ERROR


def test_out_of_range_values_are_rejected():
    dec = SbsDecoder("feed")
    for kw in ({"lat": "90.5", "lon": "10"}, {"lat": "50", "lon": "-180.01"},
               {"lat": "50", "lon": "10", "alt": "150000"},
               {"lat": "50", "lon": "10", "alt": "-3000"}, {"gs": "-1"}, {"gs": "7000"},
               {"track": "361"}, {"vr": "99999"}):
        assert decode(dec, sbs(3, **kw)) == OUT_OF_RANGE, kw
    # Edges are in range; 2024-07-06 has dashes too.
    assert isinstance(decode(dec, sbs(3, lat="-90", lon="180", alt="-1000")), Fix)


def test_other_kinds_types_and_non_icao_addresses_are_unsupported():
    dec = SbsDecoder("feed")
    assert decode(dec, "STA,,5,179,400AE7,10103,2008/11/28,14:58:51.153,2008/11/28,"
                       "14:58:51.153,RM") == UNSUPPORTED
    assert decode(dec, "AIR,,333,2,49EC2B,11111,2024/07/06,12:00:00.000,2024/07/06,"
                       "12:00:00.000") == UNSUPPORTED
    assert decode(dec, sbs(9)) == UNSUPPORTED
    assert decode(dec, sbs(3, "~4CA2D1", lat="50", lon="10")) == UNSUPPORTED
    assert decode(dec, sbs(3, kind="XYZ")) == PARSE_ERROR


def test_position_message_without_a_position_is_no_position_and_others_state_only():
    dec = SbsDecoder("feed")
    assert decode(dec, sbs(3, alt="33000", ground="0")) == NO_POSITION
    assert decode(dec, sbs(2, gs="10")) == NO_POSITION
    for tt in (1, 4, 5, 6, 7, 8):
        assert decode(dec, sbs(tt)) is None


def test_callsign_outside_the_mode_s_alphabet_is_not_kept():
    dec = SbsDecoder("feed")
    for bad in ("abc123", "AB\x07C", "AB#C", "ABCDEFGHI"):
        assert decode(dec, sbs(1, callsign=bad)) is None
    assert decode(dec, sbs(3, lat="50", lon="10")).callsign is None
    decode(dec, sbs(1, callsign=" DLH 4AB "))
    assert decode(dec, sbs(3, lat="50", lon="10")).callsign == "DLH 4AB"


def test_feed_name_with_a_control_character_is_bad_text():
    assert SbsDecoder("bad\x00name").decode(sbs(3, lat="50", lon="10"), T0) == BAD_TEXT


def test_time_zone_of_a_local_time_feed():
    berlin = SbsDecoder("feed", ZoneInfo("Europe/Berlin"))
    # 14:00 in Berlin in July (CEST, UTC+2) is 12:00 UTC; in January (CET) 13:00 UTC.
    fix = berlin.decode(sbs(3, t=T0.replace(hour=14), lat="50", lon="10"), T0)
    assert fix.time == T0
    winter = datetime(2024, 1, 10, 14, 0, tzinfo=UTC)
    fix = berlin.decode(sbs(3, t=winter, lat="50", lon="10"), winter)
    assert fix.time == winter - timedelta(hours=1)
    assert fix.time.utcoffset() == timedelta(0)
    clock = Clock()
    assert clock.seconds("2024/07/06", "12:00:00.5") == T0.timestamp() + 0.5
    assert clock.seconds("2024-07-06", "12:00:00") == T0.timestamp()


def test_timezone_option():
    assert _timezone(None) is None and _timezone("UTC") is None
    assert _timezone("Europe/Berlin") == ZoneInfo("Europe/Berlin")
    for bad in ("Mars/Olympus", "../etc/passwd", "", "Europe/"):
        with pytest.raises(SoarError, match="--sbs-timezone .*IANA name"):
            _timezone(bad)


def test_sbs_feed_option_names_each_feed_as_a_receiver():
    assert _sbs_feeds(["127.0.0.1:30003", "adsbhub=data.example.org:5002"]) == [
        ("sbs:127.0.0.1:30003", "127.0.0.1", 30003, None),
        ("adsbhub", "data.example.org", 5002, None)]
    for bad, message in ((["a=b"], "HOST:PORT"), (["=h:1"], "NAME"), (["x\x01=h:1"], "NAME"),
                         (["h:1", "h:1"], "given twice"), (["n=h:1", "n=g:2"], "given twice")):
        with pytest.raises(SoarError, match=message):
            _sbs_feeds(bad)


def test_sbs_feed_option_may_give_the_feed_its_own_time_zone():
    home, hub, plain = _sbs_feeds(["home=192.168.1.5:30003@Europe/Berlin",
                                   "adsbhub=data.example.org:5002@UTC", "h:1"])
    assert (home.name, home.host, home.port, home.timezone) == (
        "home", "192.168.1.5", 30003, ZoneInfo("Europe/Berlin"))
    # UTC said for one feed overrides another --sbs-timezone: not "none given".
    assert hub.timezone is UTC and plain.timezone is None
    for bad, message in ((["h:1@Mars/Olympus"], r"--sbs 'h:1@Mars/Olympus': @ZONE 'Mars/Olympus': "
                                                r"not a time zone; give an IANA name"),
                         (["h:1@"], "@ZONE '': not a time zone"),
                         (["n=h@Europe/Berlin"], "HOST:PORT")):
        with pytest.raises(SoarError, match=message):
            _sbs_feeds(bad)


def test_shard_of_an_sbs_line_is_the_shard_of_its_address():
    shards = [Shard(k, 3) for k in range(3)]
    for hexid in ("4CA2D1", "400159", "71BE34", "1"):
        line = sbs(3, hexid, lat="50", lon="10")
        owners = [s.k for s in shards if s.owns_sbs(line)[0]]
        assert owners == [k for k in range(3) if shards[k].owns_address(int(hexid, 16))]
        assert len(owners) == 1
    # No address: shard 0's (it rejects the line).
    assert [s.owns_sbs("garbage")[0] for s in shards] == [True, False, False]
    assert [s.owns_sbs(sbs(3, "XYZ"))[0] for s in shards] == [True, False, False]


def test_replay_reader_passes_every_non_blank_line_with_its_data_time():
    messages = list(recordings.sbs_messages(REFERENCE, "ulss7"))
    lines = [line for line in REFERENCE.read_text().splitlines() if line.strip()]
    assert [m.payload for m in messages] == lines
    assert len(messages) == 8624
    assert {m.kind for m in messages} == {"sbs"} and {m.receiver for m in messages} == {"ulss7"}
    # The generated time (2018), not the logged one (a replay a week later).
    first = datetime(2018, 4, 3, 19, 2, 28, 136000, tzinfo=UTC)
    assert messages[0].received_at == first
    # The recorder's closing comment lines take the last time.
    assert messages[-1].received_at == messages[-3].received_at


def test_replay_reader_in_a_time_zone(tmp_path):
    path = tmp_path / "local.sbs"
    path.write_text("# a comment first\n" + sbs(3, t=T0.replace(hour=14), lat="50", lon="10")
                    + "\r\n\n")
    messages = list(recordings.sbs_messages(path, "x", ZoneInfo("Europe/Berlin")))
    assert [m.received_at for m in messages] == [T0, T0]
    assert messages[0].payload == "# a comment first"


def test_reference_recording_outcomes():
    """The real dump1090 SBS stream: every line has exactly one outcome."""
    dec = SbsDecoder("ulss7")
    outcomes = Counter()
    for m in recordings.sbs_messages(REFERENCE, "ulss7"):
        r = dec.decode(m.payload, m.received_at)
        outcomes["fix" if isinstance(r, Fix) else r] += 1
    # 1,456 type-3 lines with a position, 42 without (not resolved by dump1090), the
    # recorder's two closing comment lines; the rest (types 1, 4-8) update state.
    assert outcomes == {"fix": 1456, None: 7124, NO_POSITION: 42, PARSE_ERROR: 2}


def test_stats_line_counts_sbs_apart_from_the_other_sources():
    from soar.ingest.app import StatsLogger
    from soar.ingest.stats import IngestStats
    stats = IngestStats()
    stats.messages.update({"aprs": 3, "modes": 5, "sbs": 2})
    stats.state_only = 10
    line = StatsLogger(stats, 1.0).line(0, 0, {})
    assert " msgs: aprs=3 modes=5 sbs=2 " in line and "unaccounted=0" in line
