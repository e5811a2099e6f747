"""The alert webhook's outbound rules: https:// unless plain http:// is allowed
explicitly (or stays on loopback), and text capped (a real HTTP receiver on loopback)."""

from __future__ import annotations

import pytest

from helpers.fake_webhook import FakeWebhook
from soar.errors import SoarError
from soar_worker.config import WorkerConfig
from soar_worker.webhook import MAX_TEXT_CHARS, WebhookClient, capped, check_url


def test_plain_http_beyond_loopback_is_refused_unless_allowed():
    url = "http://alerts.example.org/hook/TOKEN"
    with pytest.raises(SoarError) as err:
        check_url(url)
    assert "https://" in str(err.value) and "ALLOW_HTTP=1" in str(err.value)
    assert "TOKEN" not in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(SoarError):
        WebhookClient(url)
    assert check_url(url, allow_http=True) == url
    assert check_url("https://alerts.example.org/hook/TOKEN") == "https://alerts.example.org/hook/TOKEN"
    assert check_url("http://127.0.0.1:8080/hook") == "http://127.0.0.1:8080/hook"   # loopback


def test_the_allow_http_flag_comes_from_the_workers_environment(monkeypatch):
    assert WorkerConfig.from_env().alert_webhook_allow_http is False
    monkeypatch.setenv("SOAR_WORKER_ALERT_WEBHOOK_ALLOW_HTTP", "1")
    assert WorkerConfig.from_env().alert_webhook_allow_http is True


def test_every_string_of_a_notice_is_capped():
    body = {"text": "x" * 5000, "registration": "D-KABC", "receivers": ["R" * 3000, "EDFS"],
            "nested": {"place": "p" * 2000}, "altitude_m": 512.0}
    out = capped(body)
    assert len(out["text"]) == MAX_TEXT_CHARS and out["text"].endswith("…")
    assert out["registration"] == "D-KABC" and out["altitude_m"] == 512.0
    assert [len(r) for r in out["receivers"]] == [MAX_TEXT_CHARS, 4]
    assert len(out["nested"]["place"]) == MAX_TEXT_CHARS


def test_a_notice_with_hostile_text_arrives_capped():
    with FakeWebhook() as hook:
        client = WebhookClient(hook.url)
        assert client.post({"event": "overdue", "text": "T" * 100_000, "place": "P" * 6000},
                           "key-1") == 200
        assert hook.wait_for(1)
        [got] = hook.bodies()
    assert got["event"] == "overdue"
    assert len(got["text"]) == MAX_TEXT_CHARS and len(got["place"]) == MAX_TEXT_CHARS
