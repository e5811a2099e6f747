"""The overdue-alert rule (worker.overdue.decide) on its thresholds, the vertical rate
and the receivers of the last fixes, the text a person reads on a phone, and what may
be shown of the webhook's URL. Python only: the end-to-end cases on real recordings
are in tests/integration/test_overdue_alerts.py."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from soar.errors import SoarError
from soar.units import UTC, bearing_deg
from worker.config import WorkerConfig
from worker.overdue import (
    Facts,
    LastFix,
    compass,
    decide,
    degrees_minutes,
    receivers_last,
    vertical_rate,
)
from worker.webhook import check_url, shown

CFG = WorkerConfig()
T = datetime(2026, 7, 2, 12, 0, tzinfo=UTC)


def fix(seconds_before: float = 0, alt: float | None = 1000.0, speed: float | None = 100.0,
        climb: float | None = None, receiver: str | None = "R1") -> LastFix:
    return LastFix(T - timedelta(seconds=seconds_before), 47.8, 11.4, alt, speed, 270.0, climb,
                   receiver)


def facts(height=None, vs=None, speed=100.0, **kw) -> Facts:
    base = dict(end_reason="timeout", landed=False, resumed=False, spurious=False, tracked=True,
                heard_again=False, age_s=3660.0, last=fix(speed=speed), height_m=height,
                vertical_rate_ms=vs)
    base.update(kw)
    return Facts(**base)


@pytest.mark.parametrize(("f", "outcome"), [
    # Raised.
    (facts(height=120, vs=-1.5), "low_descending"),        # a glider going down in a field
    (facts(height=120, vs=0.2), "low"),                     # low and level: low save or landed out
    (facts(height=500, vs=2.0), "low"),                     # at the limit, even climbing
    (facts(height=900, vs=-1.0), "descending"),             # final glide out of coverage
    (facts(height=1500, vs=-3.0), "descending"),            # at the descending limit
    (facts(height=None, vs=-1.2), "descending"),            # no ground height known: sink rules
    (facts(height=200, vs=-4.0, speed=400.0), "low_descending"),   # fast but low, not climbing
    # Not raised.
    (facts(height=501, vs=0.0), "cruising"),
    (facts(height=1501, vs=-3.0), "cruising"),              # high enough to find lift or a field
    (facts(height=900, vs=-0.9), "cruising"),               # a glider's sink in still air: level
    (facts(height=None, vs=None), "cruising"),
    (facts(height=10000, vs=0.0, speed=820.0), "fast"),     # an airliner at cruise
    (facts(height=3000, vs=-7.0, speed=530.0), "fast"),     # an airliner descending to land
    (facts(height=300, vs=8.0, speed=360.0), "fast"),       # a jet departing (fast and climbing)
    (facts(height=100, vs=-2, landed=True), "landed"),
    (facts(height=100, vs=-2, end_reason="landing"), "landed"),
    (facts(height=100, vs=-2, end_reason="gap"), "ended_otherwise"),
    (facts(height=100, vs=-2, end_reason="stale"), "ended_otherwise"),
    (facts(height=100, vs=-2, resumed=True, end_reason=None), "resumed"),
    (facts(height=100, vs=-2, spurious=True), "spurious"),
    (facts(height=100, vs=-2, tracked=False), "not_tracked"),
    (facts(height=100, vs=-2, heard_again=True), "heard_again"),
    (facts(height=100, vs=-2, age_s=86401.0), "too_old"),
    (facts(height=100, vs=-2, last=None), "no_fixes"),
])
def test_the_rule_raises_for_low_or_descending_and_not_for_cruising_or_landed(f, outcome):
    assert decide(f, CFG) == outcome


def test_vertical_rate_is_the_slope_of_the_last_minute():
    # 60 s at -2 m/s, after a climb at +10 m/s a minute earlier (left out: the window).
    fixes = [fix(s, alt=600 + 2 * s if s <= 60 else 720 - 10 * (s - 60)) for s in range(0, 121, 4)]
    assert vertical_rate(fixes, 60, 3) == pytest.approx(-2.0)


def test_vertical_rate_falls_back_to_the_last_fixes_then_the_reported_climb():
    sparse = [fix(0, alt=600), fix(90, alt=690), fix(180, alt=780)]   # one fix every 90 s
    assert vertical_rate(sparse, 60, 3) == pytest.approx(-1.0)
    no_alt = [fix(0, alt=None, climb=-1.5), fix(2, alt=None, climb=-2.5)]
    assert vertical_rate(no_alt, 60, 3) == pytest.approx(-2.0)
    assert vertical_rate([fix(0, alt=None)], 60, 3) is None
    assert vertical_rate([], 60, 3) is None
    too_short = [fix(0, alt=600, climb=-3.0), fix(4, alt=640)]        # 4 s: use the vario
    assert vertical_rate(too_short, 60, 3) == pytest.approx(-3.0)


def test_receivers_that_heard_it_last_latest_first():
    fixes = [fix(0, receiver="B"), fix(5, receiver="A"), fix(10, receiver="B"),
             fix(30, receiver=None), fix(200, receiver="C")]
    assert receivers_last(fixes, 60) == ["B", "A"]
    assert receivers_last([fix(200, receiver="C")], 60) == ["C"]
    assert receivers_last([], 60) == []


def test_positions_read_on_a_chart_and_on_a_compass():
    assert degrees_minutes(47.827683, "N", "S", 2) == "47°49.661'N"
    assert degrees_minutes(11.471017, "E", "W", 3) == "011°28.261'E"
    assert degrees_minutes(-0.5, "E", "W", 3) == "000°30.000'W"
    assert degrees_minutes(9.9999999, "N", "S", 2) == "10°00.000'N"
    assert compass(bearing_deg(47.0, 11.0, 47.1, 11.0)) == "N"
    assert compass(bearing_deg(47.0, 11.0, 47.0, 10.9)) == "W"
    assert compass(bearing_deg(47.0, 11.0, 46.9, 11.15)) == "SE"


def test_the_webhook_url_is_never_shown_beyond_its_host():
    assert shown("https://hooks.example.org/services/T000/B000/XXXX?token=abc") == \
        "https://hooks.example.org/…"
    assert shown("http://user:pw@127.0.0.1:8080/") == "http://127.0.0.1:8080"
    for bad in ("ftp://example.org/x", "hooks.example.org/x", "http://:80/x",
                "http://example.org:99999/x"):
        with pytest.raises(SoarError) as err:
            check_url(bad)
        assert bad not in str(err.value) and "SOAR_ALERT_WEBHOOK_URL" in str(err.value)


def test_the_config_never_prints_the_webhook_url(monkeypatch):
    monkeypatch.setenv("SOAR_ALERT_WEBHOOK_URL", "https://example.org/hook/s3cr3t")
    cfg = WorkerConfig.from_env()
    assert cfg.alert_webhook_url == "https://example.org/hook/s3cr3t"
    assert "s3cr3t" not in repr(cfg)


def test_the_webhook_url_has_no_command_line_option():
    """A command line is visible to every user (ps): the URL comes from the environment."""
    from typer.testing import CliRunner

    from soar.cli import app

    out = CliRunner().invoke(app, ["worker", "--help"], env={"COLUMNS": "200"})
    assert out.exit_code == 0
    assert "SOAR_ALERT_WEBHOOK_URL" in out.output
    assert "webhook-url" not in out.output and "--alert-webhook" not in out.output
