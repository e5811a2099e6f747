"""The Pelias client against a real HTTP server on loopback serving recorded
responses (tests/helpers/fake_pelias.py): mapping, timeouts, retries, circuit
breaker, and hostile servers: trickling bytes, huge bodies, redirects to another
host, deeply nested JSON."""

from __future__ import annotations

import copy
import json

import pytest

from helpers.fake_pelias import FakePelias
from soar_worker import metrics
from soar_worker.pelias import (
    CircuitBreaker,
    CircuitOpenError,
    PeliasClient,
    PeliasError,
    Place,
    place_from_geojson,
)

BRAY = (49.1390924, 1.6572462)
LANCASTER = (54.0484068, -2.7990345)
WASHINGTON = (38.900206, -77.036991)


@pytest.fixture
def fake(data_dir):
    with FakePelias(data_dir / "pelias") as f:
        yield f


def client(fake, **kw) -> PeliasClient:
    kw.setdefault("connect_timeout_s", 1.0)
    kw.setdefault("read_timeout_s", 0.5)
    kw.setdefault("retries", 2)
    kw.setdefault("retry_backoff_s", 0.01)
    return PeliasClient(fake.url, **kw)


def test_recorded_responses_map_to_locations(data_dir):
    docs = {p.stem: json.loads(p.read_text(encoding="utf-8"))
            for p in (data_dir / "pelias").glob("*.json")}
    assert place_from_geojson(docs["reverse-bray-et-lu-fr"]) == Place(
        "Bray-et-Lû", "VO", "FR", "Les Jardins d'Épicure, Bray-et-Lû, France")
    assert place_from_geojson(docs["reverse-washington-dc"]) == Place(
        "Washington", "DC", "US", "The Hay Adams across from the White House, Washington, DC, USA")
    lancaster = place_from_geojson(docs["reverse-lancaster-uk"])
    assert (lancaster.city, lancaster.region, lancaster.country_code) == ("Lancaster", "LAN", "GB")


def test_localadmin_and_region_fallbacks(data_dir):
    doc = json.loads((data_dir / "pelias" / "reverse-bray-et-lu-fr.json").read_text("utf-8"))
    props = doc["features"][0]["properties"]
    for key in ("locality", "region_a"):
        del props[key]
    props["country_code"] = "fr"
    assert place_from_geojson(doc) == Place("Bray-Et-Lu", "Val-d'Oise", "FR", props["label"])
    props["country_code"] = "FRA"                  # not a 2-letter code: not stored
    assert place_from_geojson(doc).country_code is None


def test_no_features_is_an_empty_place_and_garbage_is_an_error():
    assert place_from_geojson({"type": "FeatureCollection", "features": []}) == Place(
        None, None, None, None)
    for bad in (None, [], {"type": "Feature"}, {"type": "FeatureCollection", "features": [1]}):
        with pytest.raises(PeliasError, match="malformed"):
            place_from_geojson(bad)


def test_request_parameters_and_result(fake):
    before = metrics.PELIAS_SUCCESS._value.get()
    place = client(fake).reverse(*BRAY)
    assert place.city == "Bray-et-Lû" and place.country_code == "FR"
    assert fake.requests == [{"path": "/v1/reverse", "point.lat": "49.139092",
                              "point.lon": "1.657246", "size": "1",
                              "layers": "locality,localadmin,county,region,country"}]
    assert metrics.PELIAS_SUCCESS._value.get() == before + 1
    assert client(fake).reverse(*WASHINGTON).region == "DC"


def test_5xx_is_retried_then_succeeds(fake):
    fake.fail_first = 2
    place = client(fake, retries=2).reverse(*LANCASTER)
    assert place.city == "Lancaster"
    assert fake.count == 3


def test_5xx_exhausts_retries_with_a_clear_error(fake):
    fake.mode = "error"
    with pytest.raises(PeliasError) as err:
        client(fake, retries=2).reverse(*BRAY)
    assert str(err.value) == "pelias: HTTP 500; 3 tries"
    assert fake.count == 3
    assert fake.url not in str(err.value)


def test_slow_server_times_out_and_is_retried(fake):
    fake.delay_s = 1.0
    c = client(fake, read_timeout_s=0.2, retries=1)
    with pytest.raises(PeliasError, match=r"timed out \(connect 1.0 s, read 0.2 s\); 2 tries"):
        c.reverse(*BRAY)
    assert fake.count == 2


def test_malformed_json_is_not_retried(fake):
    fake.mode = "malformed"
    before = metrics.PELIAS_FAILURE.labels("malformed")._value.get()
    with pytest.raises(PeliasError, match="malformed response"):
        client(fake).reverse(*BRAY)
    assert fake.count == 1
    assert metrics.PELIAS_FAILURE.labels("malformed")._value.get() == before + 1


def test_4xx_is_not_retried(fake):
    fake.mode = "notfound"
    with pytest.raises(PeliasError, match="HTTP 404"):
        client(fake).reverse(*BRAY)
    assert fake.count == 1


def test_connection_refused(fake):
    url = fake.url
    fake.stop()
    with pytest.raises(PeliasError, match="cannot connect"):
        PeliasClient(url, retries=1, retry_backoff_s=0.01).reverse(*BRAY)


def test_circuit_breaker_stops_calls_then_recovers(fake):
    now = [1000.0]
    breaker = CircuitBreaker(threshold=3, reset_s=30, clock=lambda: now[0])
    c = client(fake, retries=0, breaker=breaker)
    fake.mode = "error"
    for _ in range(3):
        with pytest.raises(PeliasError):
            c.reverse(*BRAY)
    assert breaker.state == "open" and fake.count == 3
    # Open: no request reaches the server.
    for _ in range(5):
        with pytest.raises(CircuitOpenError):
            c.reverse(*BRAY)
    assert fake.count == 3
    # After reset_s: one trial call; it fails, the circuit opens again.
    now[0] += 31
    assert breaker.state == "half-open"
    with pytest.raises(PeliasError) as err:
        c.reverse(*BRAY)
    assert not isinstance(err.value, CircuitOpenError) and fake.count == 4
    with pytest.raises(CircuitOpenError):
        c.reverse(*BRAY)
    assert fake.count == 4
    # The service is back: the next trial closes the circuit.
    fake.mode = "ok"
    now[0] += 31
    assert c.reverse(*BRAY).city == "Bray-et-Lû"
    assert breaker.state == "closed" and fake.count == 5
    assert c.reverse(*LANCASTER).city == "Lancaster"


def test_half_open_allows_a_single_trial():
    now = [0.0]
    breaker = CircuitBreaker(threshold=1, reset_s=10, clock=lambda: now[0])
    breaker.failure()
    assert not breaker.allow()
    now[0] = 10
    assert breaker.allow()          # the trial
    assert not breaker.allow()      # others wait for its outcome
    breaker.success()
    assert breaker.allow() and breaker.state == "closed"


def test_fake_serves_the_nearest_recording(fake):
    doc = fake.nearest(49.0, 2.55)          # Paris CDG: the French recording
    assert doc["features"][0]["properties"]["country_code"] == "FR"
    override = copy.deepcopy(doc)
    fake.override = override
    assert client(fake).reverse(0, 0).city == "Bray-et-Lû"


# -- hostile servers -------------------------------------------------------------------------

def failures(reason: str) -> float:
    return metrics.PELIAS_FAILURE.labels(reason)._value.get()


@pytest.mark.parametrize("mode", ["trickle", "trickle_headers"])
def test_a_trickling_server_is_cut_at_the_deadline(fake, mode):
    """A byte every 0.1 s never trips the 0.5 s read timeout; the 1 s deadline for
    the whole call cuts it, and the server sees its connection closed."""
    fake.mode = mode
    before = failures("timeout")
    breaker = CircuitBreaker(threshold=1, reset_s=30)
    with pytest.raises(PeliasError) as err:
        client(fake, read_timeout_s=0.5, deadline_s=1.0, breaker=breaker).reverse(*BRAY)
    assert str(err.value) == ("pelias: timed out (no complete answer within the 1 s deadline)")
    assert not isinstance(err.value, CircuitOpenError)
    assert fake.cut.wait(30), "the server never saw the connection closed"
    assert fake.count == 1                        # no retry once the deadline has passed
    assert failures("timeout") == before + 1 and breaker.state == "open"


def test_retries_stop_at_the_deadline(fake):
    """A retry whose pause would end past the deadline is not made, however many
    retries are allowed: after the first pause (0.4 s) less than 0.6 s of the 1 s
    deadline is left, less than the second (0.8 s)."""
    fake.mode = "error"
    with pytest.raises(PeliasError, match=r"pelias: HTTP 500; 2 tries"):
        client(fake, retries=1000, retry_backoff_s=0.4, deadline_s=1.0).reverse(*BRAY)
    assert fake.count == 2


@pytest.mark.parametrize("mode", ["huge", "huge_unsized"])
def test_a_huge_body_is_refused(fake, mode):
    """1 MiB at most: refused by its Content-Length, or while streaming one without."""
    fake.mode = mode
    before = failures("too_large")
    with pytest.raises(PeliasError, match="response larger than 1048576 bytes refused"):
        client(fake).reverse(*BRAY)
    assert fake.count == 1                        # not retried: it would be as large again
    assert failures("too_large") == before + 1
    if mode == "huge_unsized":
        assert fake.cut.wait(30), "the client kept reading"


def test_a_body_within_a_smaller_limit_passes_and_over_it_fails(fake):
    assert client(fake, max_body_bytes=64 * 1024).reverse(*BRAY).city == "Bray-et-Lû"
    with pytest.raises(PeliasError, match="larger than 100 bytes"):
        client(fake, max_body_bytes=100).reverse(*BRAY)


def test_a_redirect_to_another_host_is_refused(fake, data_dir):
    with FakePelias(data_dir / "pelias") as other:
        fake.mode, fake.redirect_to = "redirect", other.url
        before = failures("redirect")
        with pytest.raises(PeliasError, match="redirect to another host refused") as err:
            client(fake).reverse(*BRAY)
        assert other.url not in str(err.value)
        assert fake.count == 1 and other.count == 0     # the other host saw nothing
        assert failures("redirect") == before + 1


def test_a_redirect_on_the_same_host_is_followed(fake):
    place = PeliasClient(fake.url + "/old", retries=0).reverse(*BRAY)
    assert place.city == "Bray-et-Lû"
    assert [r["path"] for r in fake.requests] == ["/old/v1/reverse", "/v1/reverse"]


def test_deeply_nested_json_is_malformed_and_resolves_the_trial(fake):
    """RecursionError while parsing is a malformed answer: a counted failure that
    resolves the breaker's half-open trial (it used to escape and leave the trial
    pending forever, every later call refused)."""
    now = [1000.0]
    breaker = CircuitBreaker(threshold=1, reset_s=30, clock=lambda: now[0])
    c = client(fake, retries=2, breaker=breaker)
    fake.mode = "nested"
    before = failures("malformed")
    with pytest.raises(PeliasError, match=r"malformed response \(JSON nested too deeply\)"):
        c.reverse(*BRAY)
    assert fake.count == 1 and failures("malformed") == before + 1
    assert breaker.state == "open"
    now[0] += 31                                  # half-open: this call is the trial
    assert breaker.state == "half-open"
    with pytest.raises(PeliasError, match="nested too deeply") as err:
        c.reverse(*BRAY)
    assert not isinstance(err.value, CircuitOpenError) and fake.count == 2
    assert breaker.state == "open"                # the failed trial resolved it: open again
    # The next trial is allowed, and a good answer closes the circuit.
    fake.mode = "ok"
    now[0] += 31
    assert c.reverse(*BRAY).city == "Bray-et-Lû"
    assert breaker.state == "closed"


def test_a_server_that_closes_without_answering_is_a_connection_failure(fake):
    fake.mode = "down"
    before = failures("connection")
    with pytest.raises(PeliasError, match=r"pelias: cannot connect .*; 2 tries"):
        client(fake, retries=1).reverse(*BRAY)
    assert fake.count == 2 and failures("connection") == before + 1
