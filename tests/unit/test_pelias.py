"""The Pelias client against a real HTTP server on loopback serving recorded
responses (tests/fake_pelias.py): mapping, timeouts, retries, circuit breaker."""

from __future__ import annotations

import copy
import json
import time

import pytest

from helpers.fake_pelias import FakePelias
from worker import metrics
from worker.pelias import (
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
def fake(shared_data):
    with FakePelias(shared_data / "pelias") as f:
        yield f


def client(fake, **kw) -> PeliasClient:
    kw.setdefault("connect_timeout_s", 1.0)
    kw.setdefault("read_timeout_s", 0.5)
    kw.setdefault("retries", 2)
    kw.setdefault("retry_backoff_s", 0.01)
    return PeliasClient(fake.url, **kw)


def test_recorded_responses_map_to_locations(shared_data):
    docs = {p.stem: json.loads(p.read_text(encoding="utf-8"))
            for p in (shared_data / "pelias").glob("*.json")}
    assert place_from_geojson(docs["reverse-bray-et-lu-fr"]) == Place(
        "Bray-et-Lû", "VO", "FR", "Les Jardins d'Épicure, Bray-et-Lû, France")
    assert place_from_geojson(docs["reverse-washington-dc"]) == Place(
        "Washington", "DC", "US", "The Hay Adams across from the White House, Washington, DC, USA")
    lancaster = place_from_geojson(docs["reverse-lancaster-uk"])
    assert (lancaster.city, lancaster.region, lancaster.country_code) == ("Lancaster", "LAN", "GB")


def test_localadmin_and_region_fallbacks(shared_data):
    doc = json.loads((shared_data / "pelias" / "reverse-bray-et-lu-fr.json").read_text("utf-8"))
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
    started = time.monotonic()
    with pytest.raises(PeliasError, match="timed out"):
        c.reverse(*BRAY)
    assert time.monotonic() - started < 1.5        # 2 x 0.2 s, not 2 x 1 s
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
