"""soar.feeds.ogn on real OGN beacons: every tracker family, field-level checks, and the
one-minute capture of the full feed (ogn-client 0.9.8's oneminute.txt)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

import pytest

from helpers.paths import TEST_DATA
from soar.feeds import ogn
from soar.records import (
    BAD_TEXT,
    OUT_OF_RANGE,
    PARSE_ERROR,
    UNSUPPORTED,
    AddressType,
    Fix,
    ReceiverBeacon,
    Source,
)

UTC = timezone.utc
VALID = TEST_DATA / "ogn" / "valid_messages"
RECEIVED = datetime(2024, 7, 6, 12, 0, 0, tzinfo=UTC)

# What each file of glidernet/ogn-aprs-protocol's valid_messages must parse to.
EXPECTED = {
    "APRS_aircraft.txt": {"Fix": 11},
    "APRS_receiver.txt": {"ReceiverBeacon": 21},
    "FXCAPP_flyxc.txt": {"Fix": 1},
    "OGADSB_ADSB.txt": {"Fix": 26},
    "OGADSL_Tracker_with_ADSL.txt": {"Fix": 1},
    "OGAIRM_Airmate.txt": {UNSUPPORTED: 21},        # idf00108: no flags, AIR prefix
    "OGAPIK_APIKdevice.txt": {"Fix": 1},
    "OGCAPT_Capturs.txt": {"Fix": 8},
    "OGEVARIO_evario.txt": {"Fix": 1},
    "OGFLR_Flarm.txt": {"Fix": 6},
    "OGFLYM_Flymaster.txt": {UNSUPPORTED: 32},      # no id token, FMT prefix
    "OGLT24_LiveTrack24.txt": {"Fix": 10},          # address from the FLR callsign
    "OGNAVI_Naviter.txt": {"Fix": 4},
    "OGNDELAY_Delay.txt": {"Fix": 22},
    "OGNDVS_wx.txt": {UNSUPPORTED: 11},
    "OGNEMO_Nemo.txt": {"ReceiverBeacon": 23},
    "OGNFNO_FlyingNeurons.txt": {"Fix": 3},
    "OGNFNT_Fanet.txt": {"Fix": 9, "ReceiverBeacon": 1, UNSUPPORTED: 1},
    "OGNFNT_Fanet_weather.txt": {UNSUPPORTED: 4},
    "OGNINRE_InReach.txt": {"Fix": 15},
    "OGNMTK_Microtrack.txt": {"Fix": 10},
    "OGNMYC_OGNtracker.txt": {"Fix": 1, UNSUPPORTED: 8},   # tracker status lines
    "OGNPUR_PureGlide.txt": {"Fix": 2},
    "OGNSDR_TCPIPmsgs.txt": {"ReceiverBeacon": 15},
    "OGNSKY_SafeSky.txt": {"Fix": 25},
    "OGNSXR_OGNbase.txt": {"ReceiverBeacon": 10},
    "OGNTRK_OGNtracker.txt": {"Fix": 5, UNSUPPORTED: 2},
    "OGNTTN_TheThingsNetwork.txt": {"Fix": 50, UNSUPPORTED: 6},
    "OGNWGL_WeGlide.txt": {"Fix": 2},
    "OGNWMN_Wingman.txt": {UNSUPPORTED: 1},         # id07N0ABC7A39971, callsign N0ABC7
    "OGPAW_PilotAware.txt": {"Fix": 2},
    "OGSKYL_Skylines.txt": {"Fix": 1},
    "OGSPID_Spider.txt": {"Fix": 16},
    "OGSPOT_Spot.txt": {"Fix": 3},
}


def beacons(name: str) -> list[str]:
    text = (VALID / name).read_text(encoding="utf-8")
    return [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


def line_with(name: str, needle: str) -> str:
    return next(ln for ln in beacons(name) if needle in ln)


def kind(result) -> str:
    return type(result).__name__ if isinstance(result, (Fix, ReceiverBeacon)) else str(result)


def parse_fix(raw: str, received_at: datetime = RECEIVED) -> Fix:
    result = ogn.parse(raw, received_at)
    assert isinstance(result, Fix), (result, raw)
    return result


def test_every_valid_messages_file_is_covered():
    assert sorted(p.name for p in VALID.glob("*.txt")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_valid_messages_parse_to_expected_kinds(name):
    counts = Counter(kind(ogn.parse(raw, RECEIVED)) for raw in beacons(name))
    assert dict(counts) == EXPECTED[name]


def test_flarm_fields_units_and_extra_precision():
    raw = line_with("OGFLR_Flarm.txt", "FLRDD89C9")
    # .../115054h4543.22N/01132.84E'260/072/A=002542 !W10! id06DD89C9 +198fpm -0.8rot 7.0dB
    f = parse_fix(raw)
    assert f.source == Source.OGN
    assert (f.address_type, f.address) == (AddressType.FLARM, 0xDD89C9)
    assert f.aircraft_id == (2 << 24) | 0xDD89C9
    assert f.aircraft_type == 1 and not f.stealth and not f.no_tracking
    assert f.latitude == pytest.approx(45 + 43.221 / 60, abs=1e-9)    # !W1.: +0.001'
    assert f.longitude == pytest.approx(11 + 32.840 / 60, abs=1e-9)   # !W.0
    assert f.altitude_m == pytest.approx(2542 * 0.3048)
    assert f.ground_speed_kmh == pytest.approx(72 * 1.852)
    assert f.track_deg == 260
    assert f.climb_rate_ms == pytest.approx(198 * 0.00508)
    assert f.turn_rate_degs == pytest.approx(-0.8 * 1.5)
    assert f.signal_db == pytest.approx(7.0)
    assert f.receiver == "LIDH"
    assert f.time == datetime(2024, 7, 6, 11, 50, 54, tzinfo=UTC)
    assert f.received_at == RECEIVED


def test_extra_precision_grows_the_magnitude_south_and_west():
    f = parse_fix(line_with("OGNPUR_PureGlide.txt", "122753h"))   # 3249.16S/01902.35E !W66!
    assert f.latitude == pytest.approx(-(32 + 49.166 / 60), abs=1e-9)
    assert f.longitude == pytest.approx(19 + 2.356 / 60, abs=1e-9)
    f = parse_fix(line_with("OGNDELAY_Delay.txt", "114801h"))     # 4030.23N/00341.96W !W44!
    assert f.latitude == pytest.approx(40 + 30.234 / 60, abs=1e-9)
    assert f.longitude == pytest.approx(-(3 + 41.964 / 60), abs=1e-9)
    assert f.receiver == "DLY2APRS"                                # last path element


def test_naviter_four_digit_flags():
    f = parse_fix(line_with("OGNAVI_Naviter.txt", "id1C4007220E"))
    # 0x1C40 = S0 T0 tttt=0111 aaaaaa=000100 rrrr=0000
    assert (f.aircraft_type, f.address_type, f.address) == (7, 4, 0x07220E)
    assert not f.stealth and not f.no_tracking
    assert f.climb_rate_ms == pytest.approx(180 * 0.00508)
    f = parse_fix(line_with("OGNAVI_Naviter.txt", "id2820FFFFFF"))
    assert (f.aircraft_type, f.address_type, f.address) == (10, AddressType.FLARM, 0xFFFFFF)
    assert f.latitude == pytest.approx(-10.0) and f.longitude == pytest.approx(-10.0)
    assert f.receiver == "NAVITER"


def test_stealth_and_no_tracking_bits():
    raw = line_with("OGFLR_Flarm.txt", "FLRDD89C9")
    f = parse_fix(raw.replace("id06DD89C9", "idC6DD89C9"))      # S=1 T=1 type 1 FLARM
    assert f.stealth and f.no_tracking
    assert (f.aircraft_type, f.address_type) == (1, AddressType.FLARM)
    f = parse_fix(raw.replace("id06DD89C9", "id86DD89C9"))
    assert f.stealth and not f.no_tracking


def test_adsb_relay_callsign_registration_model():
    f = parse_fix(line_with("OGADSB_ADSB.txt", "fnA3:RYR5VV"))
    assert (f.address_type, f.address, f.aircraft_type) == (AddressType.ICAO, 0x4CA6A4, 9)
    assert (f.callsign, f.registration, f.model) == ("RYR5VV", "EI-DYO", "B738")
    assert f.climb_rate_ms == pytest.approx(-832 * 0.00508)
    assert f.turn_rate_degs == 0.0
    assert f.ground_speed_kmh == pytest.approx(165 * 1.852)
    f = parse_fix(line_with("OGADSB_ADSB.txt", "fnRYR4057"))
    assert (f.callsign, f.registration, f.model) == ("RYR4057", "EI-DPG", "B738")
    assert f.altitude_m == pytest.approx(38000 * 0.3048)
    f = parse_fix(line_with("OGADSB_ADSB.txt", "modelUNKW"))
    assert (f.callsign, f.registration, f.model) == ("TAP1103", "CS-TAX", None)
    f = parse_fix(line_with("OGADSB_ADSB.txt", "fnANE06BK"))
    assert (f.callsign, f.registration) == ("ANE06BK", None)


def test_address_from_callsign_when_id_is_not_standard():
    f = parse_fix(line_with("OGLT24_LiveTrack24.txt", "102606h"))   # id25387 (LT24 user id)
    assert (f.address_type, f.address, f.aircraft_type) == (AddressType.FLARM, 0xDDE48A, None)
    f = parse_fix(line_with("OGSPOT_Spot.txt", "161427h"))          # id0-2860357
    assert (f.address_type, f.address) == (AddressType.ICAO, 0x3E7540)
    # an id token wins over the callsign
    f = parse_fix(line_with("APRS_aircraft.txt", "FLRDDB091"))
    assert f.address == 0xDD8E80


def test_receiver_status_line():
    b = ogn.parse(line_with("OGNSDR_TCPIPmsgs.txt", "LILH>OGNSDR,TCPIP*,qAC,GLIDERN2:>"),
                  RECEIVED)
    assert isinstance(b, ReceiverBeacon)
    assert b.name == "LILH"
    assert b.time == datetime(2024, 7, 6, 13, 22, 1, tzinfo=UTC)
    assert (b.version, b.platform) == ("0.2.7", "RPI-GPU")
    assert b.latitude is None
    assert b.status["cpu_load"] == pytest.approx(0.7)
    assert (b.status["ram_free_mb"], b.status["ram_total_mb"]) == (770.2, 968.2)
    assert (b.status["ntp_offset_ms"], b.status["ntp_ppm"]) == (1.8, -3.3)
    assert b.status["cpu_temp_c"] == pytest.approx(55.7)
    assert (b.status["senders_visible"], b.status["senders_total"]) == (7, 8)
    assert b.status["rf"].startswith("+54-1.1ppm/-0.16dB")


def test_receiver_position_line():
    b = ogn.parse(line_with("OGNSDR_TCPIPmsgs.txt", "LILH>OGNSDR,TCPIP*,qAC,GLIDERN2:/"),
                  RECEIVED)
    assert isinstance(b, ReceiverBeacon) and b.name == "LILH"
    assert b.latitude == pytest.approx(44 + 57.61 / 60)
    assert b.longitude == pytest.approx(9 + 0.58 / 60)
    assert b.altitude_m == pytest.approx(423 * 0.3048)
    # the old APRS destcall with the status in the position comment, and free text
    b = ogn.parse(line_with("APRS_receiver.txt", "Lachens"), RECEIVED)
    assert (b.version, b.status["cpu_load"]) == ("0.2.1", 0.3)
    b = ogn.parse(line_with("OGNSDR_TCPIPmsgs.txt", "Saleve>OGNSDR,TCPIP*,qAC,GLIDERN1:/"),
                  RECEIVED)
    assert b.status["comment"].startswith("Antenna: chinese")


def test_unsupported_and_malformed():
    assert ogn.parse(beacons("OGNDVS_wx.txt")[0], RECEIVED) == UNSUPPORTED
    assert ogn.parse(beacons("OGNFNT_Fanet_weather.txt")[0], RECEIVED) == UNSUPPORTED
    assert ogn.parse(line_with("OGNTRK_OGNtracker.txt", ":>093215h"), RECEIVED) == UNSUPPORTED
    assert ogn.parse(beacons("OGFLYM_Flymaster.txt")[0], RECEIVED) == UNSUPPORTED
    assert ogn.parse("LSZJ2>BCWNS,TCPIP*,qAC,GLIDERN5:)LSZJ2!4718.37N\\00708.99W?hi there",
                     RECEIVED) == UNSUPPORTED                  # an APRS item
    for raw in ("", "no header here", "FLRDD89C9>OGFLR,qAS,LIDH", ">OGFLR:/115054h",
                "FLRDD89C9>OGFLR,qAS,LIDH:/115054h4543.22N/0113"):
        assert ogn.parse(raw, RECEIVED) == PARSE_ERROR, raw
    assert ogn.parse(None, RECEIVED) == PARSE_ERROR            # never raises


def test_out_of_range_and_bad_minutes():
    raw = line_with("OGFLR_Flarm.txt", "FLRDD89C9")
    assert ogn.parse(raw.replace("4543.22N", "9143.22N"), RECEIVED) == OUT_OF_RANGE
    assert ogn.parse(raw.replace("01132.84E", "18132.84E"), RECEIVED) == OUT_OF_RANGE
    assert ogn.parse(raw.replace("4543.22N", "4563.22N"), RECEIVED) == PARSE_ERROR
    assert ogn.parse(raw.replace("115054h", "245054h"), RECEIVED) == PARSE_ERROR
    f = parse_fix(raw.replace("4543.22N", "9000.00N").replace("!W10!", "!W00!"))
    assert f.latitude == 90.0


def test_midnight_rollover_both_ways():
    raw = line_with("OGFLR_Flarm.txt", "FLRDD89C9")
    # stamped just before midnight, received just after: the previous day
    f = parse_fix(raw.replace("115054h", "235958h"), datetime(2024, 7, 7, 0, 0, 3, tzinfo=UTC))
    assert f.time == datetime(2024, 7, 6, 23, 59, 58, tzinfo=UTC)
    # stamped just after midnight, received just before (sender clock ahead): next day
    f = parse_fix(raw.replace("115054h", "000002h"), datetime(2024, 7, 6, 23, 59, 59, tzinfo=UTC))
    assert f.time == datetime(2024, 7, 7, 0, 0, 2, tzinfo=UTC)
    # slightly ahead of the receive time, same day
    f = parse_fix(raw.replace("115054h", "000005h"), datetime(2024, 7, 7, 0, 0, 3, tzinfo=UTC))
    assert f.time == datetime(2024, 7, 7, 0, 0, 5, tzinfo=UTC)
    # and across a year boundary
    f = parse_fix(raw.replace("115054h", "235959h"), datetime(2025, 1, 1, 0, 0, 1, tzinfo=UTC))
    assert f.time == datetime(2024, 12, 31, 23, 59, 59, tzinfo=UTC)


def test_day_hour_minute_timestamps():
    raw = ("ICA4078BB>APRS,qAS,StAndrews:/301105z5616.01N/00331.72W'345/059/A=004113 "
           "!W23! id054078BB -039fpm -0.8rot 2.0dB 3e -11.0kHz gps1x2")   # oneminute.txt
    f = parse_fix(raw, datetime(2020, 5, 30, 11, 5, 20, tzinfo=UTC))
    assert f.time == datetime(2020, 5, 30, 11, 5, tzinfo=UTC)
    f = parse_fix(raw.replace("301105z", "312359z"), datetime(2024, 8, 1, 0, 0, 30, tzinfo=UTC))
    assert f.time == datetime(2024, 7, 31, 23, 59, tzinfo=UTC)
    assert ogn.resolve_time("302359", "z", datetime(2024, 7, 1, 0, 0, 30, tzinfo=UTC)) == \
        datetime(2024, 6, 30, 23, 59, tzinfo=UTC)
    assert ogn.resolve_time("010001", "z", datetime(2024, 6, 30, 23, 59, tzinfo=UTC)) == \
        datetime(2024, 7, 1, 0, 1, tzinfo=UTC)
    assert ogn.resolve_time("320000", "z", RECEIVED) is None


def test_position_without_timestamp_uses_aprslib_fallback():
    raw = ("FLRDDA5BA>APRS,qAS,LFMX:!4415.41N/00600.03E'342/049/A=005524 "
           "!W37! id0ADDA5BA -454fpm -1.1rot 8.8dB 0e +51.2kHz gps4x5")
    f = parse_fix(raw)
    assert f.time == RECEIVED
    assert f.latitude == pytest.approx(44 + 15.413 / 60)
    assert f.longitude == pytest.approx(6 + 0.037 / 60)
    assert f.ground_speed_kmh == pytest.approx(49 * 1.852)
    assert f.altitude_m == pytest.approx(5524 * 0.3048)
    assert (f.address, f.aircraft_type) == (0xDDA5BA, 2)


def test_server_comment_lines():
    line = "# aprsc 2.1.5-g8af3cdc 30 May 2020 11:05:12 GMT GLIDERN2 51.68.189.96:10152"
    assert ogn.parse(line, RECEIVED) is None
    assert ogn.parse_server_comment(line) == datetime(2020, 5, 30, 11, 5, 12, tzinfo=UTC)
    assert ogn.parse_server_comment("# aprsc 2.1.5-g8af3cdc") is None
    assert ogn.parse_server_comment("# logresp anon-dev unverified, server GLIDERN2") is None
    assert ogn.parse_server_comment("FLR>APRS:# 30 May 2020 11:05:12 GMT") is None


def test_parse_capture_line_formats():
    t, raw = ogn.parse_capture_line("2020-05-30 11:04:52.421701: # aprsc 2.1.5-g8af3cdc\n")
    assert t == datetime(2020, 5, 30, 11, 4, 52, 421701, tzinfo=UTC)
    assert raw == "# aprsc 2.1.5-g8af3cdc"
    t, raw = ogn.parse_capture_line("2024-07-06T06:59:21.123Z FLRDD1234>OGFLR,qAS,X:/0659")
    assert t == datetime(2024, 7, 6, 6, 59, 21, 123000, tzinfo=UTC)
    assert raw == "FLRDD1234>OGFLR,qAS,X:/0659"
    t, _ = ogn.parse_capture_line("2024-07-06T08:59:21+02:00 X>Y:z")
    assert t == datetime(2024, 7, 6, 6, 59, 21, tzinfo=UTC) and t.utcoffset().total_seconds() == 0
    # the raw line may itself contain ": " (receiver comments)
    _, raw = ogn.parse_capture_line("2020-05-30 11:04:52.4: R>APRS:/1 Contact: a@b")
    assert raw == "R>APRS:/1 Contact: a@b"
    for line in ("", "   \r\n", "not a time FLR>APRS:x", "2020-05-30 11:04:52.421701: "):
        assert ogn.parse_capture_line(line) is None, line


def test_parse_comment_reports_fields_fix_has_no_column_for():
    c = ogn.parse_comment("!W10! id06DD89C9 +198fpm -0.8rot FL003.12 7.0dB 3e +0.7kHz "
                          "gps2x3 +14.3dBm")
    assert c["address"] == 0xDD89C9 and c["id_flags"] == 0x06 and c["dao"] == (1, 0)
    assert (c["bit_errors"], c["frequency_offset_khz"], c["gps_accuracy"]) == (3, 0.7, (2, 3))
    assert (c["flight_level"], c["signal_power_dbm"], c["signal_db"]) == (3.12, 14.3, 7.0)


# --- the one-minute capture of the full feed (2020-05-30 11:04:52 to 11:05:53) ---

@pytest.fixture(scope="module")
def oneminute():
    from soar.reference import samples
    path = samples.path("oneminute.txt")   # a missing sample is a failure, not a skip
    lines = path.read_text(encoding="utf-8").splitlines()
    results = []
    for line in lines:
        pair = ogn.parse_capture_line(line)
        assert pair is not None, line
        results.append((pair[0], pair[1], ogn.parse(pair[1], pair[0])))
    return lines, results


def test_oneminute_counts(oneminute):
    lines, results = oneminute
    assert len(lines) == 88565
    counts = Counter(kind(r) for _, _, r in results)
    # measured: 87,798 fixes, 633 receiver beacons, 129 unsupported (92 Flymaster without
    # an id, 36 tracker status lines, 1 APRS item), 5 server lines, nothing malformed
    assert 87_500 <= counts["Fix"] <= 88_000
    assert 600 <= counts["ReceiverBeacon"] <= 660
    assert 110 <= counts[UNSUPPORTED] <= 150
    assert counts["None"] == 5                      # server lines
    assert counts[PARSE_ERROR] == 0 and counts[OUT_OF_RANGE] == 0
    assert sum(counts.values()) == len(lines)

    fixes = [r for _, _, r in results if isinstance(r, Fix)]
    aircraft = {f.aircraft_id for f in fixes}
    receivers = {r.name for _, _, r in results if isinstance(r, ReceiverBeacon)}
    assert 3_250 <= len(aircraft) <= 3_450          # measured 3,331
    assert 320 <= len(receivers) <= 345             # measured 331 beaconing receivers
    assert 700 <= len({f.receiver for f in fixes}) <= 900   # measured 804 relaying
    # sanity of the decoded values across the whole feed
    assert all(-90 <= f.latitude <= 90 and -180 <= f.longitude <= 180 for f in fixes)
    assert sum(1 for f in fixes if f.stealth) > 0     # measured 830 stealth fixes
    assert not any(f.no_tracking for f in fixes)      # never published with the bit set
    late = [f for f in fixes if abs((f.time - f.received_at).total_seconds()) > 300]
    assert len(late) <= 10                            # measured 5 (sender clocks off)


def test_oneminute_server_time(oneminute):
    _, results = oneminute
    times = [ogn.parse_server_comment(raw) for _, raw, _ in results if raw.startswith("#")]
    assert [t for t in times if t] == [datetime(2020, 5, 30, 11, 5, s, tzinfo=UTC)
                                       for s in (12, 32, 52)]


# -- clean at the edge (the rule in soar.feeds.ogn's docstring) -----------------------

def test_control_characters_in_display_text_are_removed_and_noted():
    raw = line_with("OGADSB_ADSB.txt", "fnA3:RYR5VV")
    f = parse_fix(raw.replace("regEI-DYO", "regEI-\x00DYO").replace("fnA3:RYR5VV", "fnA3:RYR\x075VV")
                  .replace("modelB738", "modelB7\u200b38"))
    assert (f.callsign, f.registration, f.model) == ("RYR5VV", "EI-DYO", "B738")
    assert f.cleaned == ("callsign", "registration", "model")
    assert parse_fix(raw).cleaned == ()
    f = parse_fix(raw.replace("regEI-DYO", "reg\x00\x01"))       # nothing left: no registration
    assert f.registration is None and f.cleaned == ("registration",)


def test_a_receiver_name_with_control_characters_is_refused():
    raw = line_with("OGFLR_Flarm.txt", "FLRDD89C9")
    assert ogn.parse(raw.replace(",LIDH:", ",LI\x00DH:"), RECEIVED) == BAD_TEXT
    assert ogn.parse(raw.replace(",LIDH:", ",LIDH\x7f:"), RECEIVED) == BAD_TEXT
    status = line_with("OGNSDR_TCPIPmsgs.txt", "LILH>OGNSDR,TCPIP*,qAC,GLIDERN2:>")
    assert ogn.parse(status.replace("LILH>", "LI\x00LH>"), RECEIVED) == BAD_TEXT
    position = line_with("OGNSDR_TCPIPmsgs.txt", "LILH>OGNSDR,TCPIP*,qAC,GLIDERN2:/")
    assert ogn.parse(position.replace("LILH>", "LILH\u2028>"), RECEIVED) == BAD_TEXT
    # Control characters where nothing is stored change nothing.
    f = parse_fix(raw.replace(" 7.0dB", " 7.0dB \x00\x01junk"))
    assert f.receiver == "LIDH" and f.cleaned == ()


def test_receiver_texts_are_cleaned_numbers_kept_finite():
    raw = line_with("OGNSDR_TCPIPmsgs.txt", "LILH>OGNSDR,TCPIP*,qAC,GLIDERN2:>")
    b = ogn.parse(raw.replace("RF:+54", "RF:\x00+54").replace("v0.2.7.RPI-GPU", "v0.2.7.RPI\x1b-GPU")
                  + " hello\x00world", RECEIVED)
    assert isinstance(b, ReceiverBeacon) and b.name == "LILH"
    assert b.platform == "RPI-GPU" and b.status["rf"].startswith("+54-1.1ppm")
    assert b.status["comment"] == "helloworld"
    assert b.cleaned == ("platform", "rf", "comment")
    b = ogn.parse(raw.replace("CPU:0.7", "CPU:nan").replace("+55.7C", "+1e400C"), RECEIVED)
    assert "cpu_load" not in b.status and "cpu_temp_c" not in b.status
    assert b.status["comment"] == "CPU:nan +1e400C"        # kept as text, not as NaN/inf


@pytest.mark.parametrize("token", ["1e300dB", "+1e39dB", "-1e39rot", "+2.3e38rot", "+nanfpm",
                                   "-inffpm", "+1e308fpm", "1e309dB"])
def test_numbers_beyond_float4_or_not_finite_are_refused(token):
    raw = line_with("OGFLR_Flarm.txt", "FLRDD89C9")          # ... +198fpm -0.8rot 7.0dB
    assert ogn.parse(raw + " " + token, RECEIVED) == OUT_OF_RANGE


def test_numbers_at_the_edge_of_float4_are_kept():
    raw = line_with("OGFLR_Flarm.txt", "FLRDD89C9")
    f = parse_fix(raw.replace(" 7.0dB", " 3.4e38dB"))
    assert f.signal_db == 3.4e38                            # storable; validation judges it
