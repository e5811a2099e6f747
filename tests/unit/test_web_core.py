"""soar.web's core without a database or a server: boxes, what the live stream sends
each client, how aircraft are told apart, the Content-Security-Policy, the JSON escapes."""

from __future__ import annotations

import asyncio
import json
import pickle
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from soar.units import UTC
from soar.web import WebConfig, params
from soar.web.aircraft import kind
from soar.web.app import content_security_policy
from soar.web.encoding import dumps
from soar.web.errors import ApiError
from soar.web.live import (
    MOVE_FIELDS,
    Changes,
    Client,
    Differ,
    LiveFeed,
    Read,
    diff,
    for_client,
    placed,
)
from soar.web.routes import pages
from soar.web.routes.flights import cache_control


def pos(aid: str, lat: float, lon: float, t: int, flight: str | None = "f") -> dict:
    return {"aircraft_id": aid, "flight_id": flight, "latitude": lat, "longitude": lon,
            "time": t}


def test_a_box_across_the_antimeridian_contains_both_sides():
    b = params.box("170,-10,-170,10", WebConfig())
    assert b.contains(0, 175) and b.contains(0, -175) and not b.contains(0, 0)
    assert b.area_deg2() == 20 * 20


@pytest.mark.parametrize("text", [None, "", "1,2,3", "a,b,c,d", "inf,0,1,1", "0,10,1,5",
                                  "-181,0,0,1", "-90,-45,90,45"])
def test_bad_boxes_are_refused_with_an_example(text):
    with pytest.raises(ApiError) as e:
        params.box(text, WebConfig())
    assert e.value.status == 400 and "bbox" in e.value.message


def test_live_changes_are_moves_appearances_and_departures():
    before = {"a": pos("a", 1, 1, 10), "b": pos("b", 2, 2, 10)}
    after = {"a": pos("a", 1.1, 1, 11), "b": pos("b", 2, 2, 10), "c": pos("c", 3, 3, 11)}
    changes = diff(before, after)
    assert set(changes.moved) == {"a", "c"} and changes.gone == frozenset()
    assert diff(after, {"c": after["c"]}).gone == {"a", "b"}


def test_a_landing_or_takeoff_is_a_change_even_at_the_same_fix():
    # The aircraft stays on the map on the ground; its flight link changes.
    flying = {"a": pos("a", 1, 1, 10, flight="f1")}
    assert set(diff(flying, {"a": pos("a", 1, 1, 10, flight=None)}).moved) == {"a"}
    assert diff(flying, dict(flying)).moved == {}


def test_the_readers_steps_give_what_diff_gives_with_the_reads_order():
    before = {i: {**pos(i, i / 100, 1, 10), "registration": "D-A"} for i in range(50)}
    after = {i: {**pos(i, i / 100, 1, 11 if i % 3 else 10),
                 "registration": "D-B" if i % 7 == 0 else "D-A"} for i in range(60, 4, -1)}
    differ = Differ()
    first = differ.step(before, 2.0)
    second = differ.step(after, 3.5)
    assert first.moved == placed(before) and first.order == list(range(50))
    assert second.moved == diff(before, after).moved and second.read_ms == 3.5
    assert second.order == list(range(60, 4, -1))
    assert any(p.move is None for p in second.moved.values())     # identity changed
    assert any(p.move is not None for p in second.moved.values())


def test_a_read_and_an_api_error_cross_the_reader_process_boundary_whole():
    """What the reader's process returns or raises is pickled to the API's process."""
    read = Differ().step({"a": {**pos("a", 1, 2, 3), "registration": "<b>"}}, 1.0)
    assert pickle.loads(pickle.dumps(read)) == read and isinstance(read, Read)
    err = pickle.loads(pickle.dumps(ApiError(503, "retry", {"Retry-After": "5"})))
    assert (err.status, err.message, err.headers) == (503, "retry", {"Retry-After": "5"})


@pytest.mark.parametrize("zone", [UTC, timezone(timedelta(hours=2)), ZoneInfo("Europe/Berlin")])
@pytest.mark.parametrize("microsecond", [0, 120000])
def test_a_placed_position_is_the_json_every_route_writes(zone, microsecond):
    """placed() encodes fix times at UTC's offset its own faster way: the same text as
    dumps() (UTC with Z, markup escaped), whatever the zone the time came in."""
    t = datetime(2026, 7, 6, 14, 30, 5, microsecond, tzinfo=zone)
    p = {**pos(7, 47.8, 11.4, t), "registration": "<script>&", "callsign": None}
    was = {**p, "time": t - timedelta(seconds=1)}
    [got] = placed({7: p}, {7: was}).values()
    assert got.json == dumps(p) and json.loads(got.json)["time"].endswith("Z")
    assert got.move == dumps([p.get(f) for f in MOVE_FIELDS])
    assert "<" not in got.json and "&" not in got.json


def test_a_client_hears_only_its_box_and_what_it_was_shown_leaving():
    client = Client(params.Box(0, 0, 5, 5), asyncio.Queue())
    first = json.loads(for_client(client, Changes(
        placed({"a": pos("a", 1, 1, 1), "far": pos("far", 50, 50, 1)}), frozenset())))
    assert first == {"positions": [pos("a", 1, 1, 1)], "moves": [],
                     "fields": list(MOVE_FIELDS), "gone": []}
    # "a" flies out of the box: gone for this client; "far" unheard: nothing to say.
    out = for_client(client, Changes(placed({"a": pos("a", 9, 9, 2)}), frozenset({"far"})))
    assert json.loads(out)["positions"] == [] and json.loads(out)["gone"] == ["a"]
    assert client.known == set()
    assert for_client(client, Changes({}, frozenset({"far"}))) is None


def test_an_aircraft_the_client_knows_comes_as_a_move_and_in_full_when_its_name_changes():
    client = Client(params.Box(0, 0, 5, 5), asyncio.Queue())
    a1 = {**pos("a", 1, 1, 1), "registration": "D-1234", "kind": "glider"}
    for_client(client, diff({}, {"a": a1}))
    a2 = {**a1, "latitude": 1.5, "time": 2}
    out = json.loads(for_client(client, diff({"a": a1}, {"a": a2})))
    assert out["positions"] == []
    assert [dict(zip(out["fields"], m, strict=True)) for m in out["moves"]] == [
        {f: a2.get(f) for f in MOVE_FIELDS}]
    # A new client gets it in full; a changed registration comes in full to all.
    other = Client(params.Box(0, 0, 5, 5), asyncio.Queue())
    assert json.loads(for_client(other, diff({"a": a1}, {"a": a2})))["positions"] == [a2]
    a3 = {**a2, "registration": "D-5678", "time": 3}
    out = json.loads(for_client(client, diff({"a": a2}, {"a": a3})))
    assert out["positions"] == [a3] and out["moves"] == []


@pytest.mark.parametrize("aircraft_type, category, source, expected", [
    (1, None, 1, "glider"), (2, None, 1, "tow"), (8, None, 1, "powered"),
    (None, "A3", 2, "airliner"), (None, "A7", 2, "helicopter"), (None, None, 2, "airliner"),
    (None, None, 1, "other"), (9, "A1", 2, "airliner"),
])
def test_aircraft_kinds(aircraft_type, category, source, expected):
    assert kind(aircraft_type, category, source) == expected


def test_csp_allows_only_this_server_and_the_operators_tiles():
    plain = content_security_policy(WebConfig())
    assert "script-src 'self'" in plain and "img-src 'self' data:;" in plain
    assert "unsafe" not in plain
    tiles = content_security_policy(WebConfig(tile_url="https://{s}.tile.example.org/{z}/{x}/{y}.png"))
    assert "img-src 'self' data: https://*.tile.example.org;" in tiles


def test_json_never_carries_markup():
    text = dumps({"registration": "<script>alert('x')</script>&"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text)["registration"] == "<script>alert('x')</script>&"


def times(event: str) -> list:
    """The fix times an event carries, in full positions and in moves."""
    data = json.loads(event)
    return ([p["time"] for p in data["positions"]]
            + [dict(zip(data["fields"], m, strict=True))["time"] for m in data["moves"]])


RESTART = object()      # in a script: the reader's process starts afresh here


class ScriptedReader:
    """The reader with its database reads scripted: the query is the only part replaced
    (it is tested in tests/integration/test_web_api.py, the process in test_web_reader)."""

    def __init__(self, reads: list):
        self.script = iter(reads)
        self.differ = Differ()
        self.done = asyncio.Event()

    async def read(self) -> Read:
        after = next(self.script, None)
        if after is RESTART:
            self.differ = Differ()
            after = next(self.script)
        if after is None:
            self.done.set()
            after = self.differ.latest
        return self.differ.step(after, 0.0)

    async def close(self) -> None:
        pass


class ScriptedFeed(LiveFeed):
    def __init__(self, reads: list):
        super().__init__(ScriptedReader(reads), WebConfig(live_poll_s=0, live_client_queue=2))
        self.done = self.reader.done


def test_a_client_that_does_not_read_is_dropped_and_the_others_still_hear_everything():
    reads = [{"a": pos("a", 1, 1, t)} for t in range(6)]

    async def scenario():
        feed = ScriptedFeed(reads)
        slow = feed.subscribe(params.Box(0, 0, 5, 5))
        fast = feed.subscribe(params.Box(0, 0, 5, 5))
        heard = []

        async def reader():
            while (item := await fast.queue.get()) is not None:
                heard.extend(times(item[1]))
                if heard[-1] == 5:
                    return
        task = asyncio.create_task(reader())
        feed.start()
        await asyncio.wait_for(feed.done.wait(), 10)
        await asyncio.wait_for(task, 10)
        await feed.stop()
        return feed, slow, heard

    feed, slow, heard = asyncio.run(scenario())
    assert heard == [0, 1, 2, 3, 4, 5]
    assert slow.dropped and feed.dropped_clients == 1 and slow not in feed.clients
    assert slow.queue.get_nowait() is None          # the stream's end mark, nothing else


def test_every_client_starts_with_a_snapshot_even_of_an_empty_box():
    async def scenario():
        feed = ScriptedFeed([{"a": pos("a", 1, 1, 0)}, {"a": pos("a", 1, 1, 1)}])
        early = feed.subscribe(params.Box(10, 10, 11, 11))     # before the first read
        feed.start()
        first = await asyncio.wait_for(early.queue.get(), 10)
        await asyncio.wait_for(feed.done.wait(), 10)
        late = feed.subscribe(params.Box(0, 0, 5, 5))           # after it
        second = late.queue.get_nowait()
        await feed.stop()
        return first, second

    first, second = asyncio.run(scenario())
    assert first[0] == "snapshot" and json.loads(first[1])["positions"] == []
    assert second[0] == "snapshot" and times(second[1]) == [1]


def test_after_the_reader_restarts_clients_hear_what_left_meanwhile_and_the_rest_in_full():
    """A new reader process remembers nothing: its first read is every position, in
    full. What left while it restarted is gone by what the feed sent, not the reader's
    memory, so no client keeps an aircraft that stopped."""
    t0 = {"a": pos("a", 1, 1, 0), "b": pos("b", 2, 2, 0)}
    t1 = {"a": pos("a", 1, 1, 1)}

    async def scenario():
        feed = ScriptedFeed([t0, RESTART, t1])
        client = feed.subscribe(params.Box(0, 0, 5, 5))
        feed.start()
        events = [await asyncio.wait_for(client.queue.get(), 10) for _ in range(2)]
        await asyncio.wait_for(feed.done.wait(), 10)
        await feed.stop()
        return feed, events

    feed, [snapshot, update] = asyncio.run(scenario())
    assert snapshot[0] == "snapshot" and sorted(times(snapshot[1])) == [0, 0]
    data = json.loads(update[1])
    assert data["gone"] == ["b"] and data["moves"] == []
    assert [p["time"] for p in data["positions"]] == [1]
    assert list(feed.latest_placed) == ["a"]


def reference_update(box: params.Box, known: set, changes: Changes) -> tuple:
    """What a client must get, position by position (the rule for_client implements
    with cells): in the box, in full when new to it or renamed, else as a move; gone
    for what it knew that stopped or left the box."""
    inside = {k: p for k, p in changes.moved.items() if box.contains(p.latitude, p.longitude)}
    full = sorted(p.json for k, p in inside.items() if p.move is None or k not in known)
    moves = sorted(p.move for k, p in inside.items() if p.move is not None and k in known)
    gone = sorted((known & changes.gone) | ((known & set(changes.moved)) - set(inside)))
    return full, moves, gone


def test_the_cells_give_every_client_what_the_position_by_position_rule_gives():
    import random
    rng = random.Random(7)

    # Clusters (airfields) and strays, some near the antimeridian; each aircraft drifts a
    # little each read (so clients know most of a cell: the whole-cell path), a few are
    # renamed (sent in full again).
    bases = [(rng.choice([46.1, 47.83, -33.9, 0.0]) + rng.uniform(-0.6, 0.6),
              rng.choice([11.46, 179.7, -179.8, 6.0]) + rng.uniform(-0.6, 0.6))
             for _ in range(600)]

    def world(t: int, n: int) -> dict:
        out = {}
        for i, (lat, lon) in enumerate(bases[:n]):
            lat, lon = lat + 0.03 * t, (lon + 0.05 * t + 180) % 360 - 180
            out[i] = {**pos(i, round(lat, 6), round(lon, 6), t),
                      "registration": f"D-{i}" if rng.random() > 0.05 else f"X-{t}"}
        return out

    boxes = [params.Box(*b) for b in [(10, 46, 13, 49), (11.3, 47.5, 11.9, 48.2),
                                      (179, -2, -179, 2), (170, -40, -170, 10),
                                      (179.13, -1.07, -179.13, 1.07), (178.9, -0.5, -179.6, 0.9),
                                      (-180, -90, 180, 90), (5, 45, 5.5, 45.5),
                                      (11.46, 47.83, 11.46, 47.83),
                                      # edges off the cell grid, through the clusters
                                      (10.3, 45.5, 11.63, 47.37), (5.11, -0.77, 6.37, 0.61),
                                      (11.13, 47.1, 12.07, 48.33), (178.37, -0.9, -179.41, 0.7)]]
    boxes += [params.Box(w, s, w + rng.uniform(0.1, 5), s + rng.uniform(0.1, 5))
              for w, s in ((rng.uniform(-180, 175), rng.uniform(-90, 85)) for _ in range(40))]
    clients = [Client(b, asyncio.Queue()) for b in boxes]
    before: dict = {}
    for t in range(4):
        after = world(t, 600 - 100 * t)          # aircraft stop being heard: gone
        changes = diff(before, after)
        for c in clients:
            expected = reference_update(c.box, set(c.known), changes)
            out = for_client(c, changes)
            got = (([], [], []) if out is None else
                   (sorted(dumps(p) for p in json.loads(out)["positions"]),
                    sorted(dumps(m) for m in json.loads(out)["moves"]), json.loads(out)["gone"]))
            assert got == expected
        before = after
    assert any(c.known for c in clients) and any(not c.known for c in clients)


def test_positions_requests_at_once_share_one_read_and_keep_the_reads_going():
    async def scenario():
        feed = ScriptedFeed([{"a": pos("a", 1, 1, t)} for t in range(50)])
        # No age is fresh enough: every call reads, unless a read is already under way.
        feed.config = WebConfig(live_poll_s=0, positions_max_age_s=0, positions_keep_s=3600)
        answers = await asyncio.gather(*(feed.positions() for _ in range(20)))
        shared = feed.reads
        feed.start()          # the loop reads on while /positions was asked recently
        await asyncio.wait_for(feed.done.wait(), 10)
        await feed.stop()
        return answers, shared

    answers, shared = asyncio.run(scenario())
    assert shared == 1
    assert all(json.loads(a["a"].json)["time"] == 0 for a in answers)


def test_only_a_completed_flight_is_cached_and_never_past_the_public_window():
    now = datetime.now(UTC)
    active = {"landing_time": None, "timed_out_at": None, "last_fix_at": now, "started_at": now}
    assert cache_control(active, WebConfig()) == "no-store"
    then = now - timedelta(hours=23)
    landed = {**active, "landing_time": then, "last_fix_at": then}
    age = int(cache_control(landed, WebConfig()).split("max-age=")[1])
    assert 3000 < age <= 3600          # leaves the 24 h window within the hour
    assert cache_control(landed, WebConfig(public_window_h=None)) == \
        "public, max-age=86400, immutable"


def test_the_live_maps_last_seen_range_covers_the_routers_refresh_interval():
    """live_positions_v3 finds an aircraft heard since T among last_seen >= T - 10 min
    because the router rewrites last_seen at least that often: a longer refresh would
    hide aircraft heard recently."""
    from soar.db import sqlfiles
    from soar.ingest.router import AIRCRAFT_REFRESH

    assert "live_positions_v3(%(heard_since)s" in sqlfiles.queries("queries/web.sql")["positions"]
    sql = sqlfiles.read("functions/live_positions_v3.sql")
    assert "a.last_seen >= heard_since - interval '10 minutes'" in sql
    assert timedelta(minutes=10) >= AIRCRAFT_REFRESH


@pytest.mark.parametrize(("name", "leaflet"), [("map", True), ("flight", True),
                                               ("logbook", False), ("table", False)])
def test_every_page_is_its_body_and_script_in_the_common_frame(name, leaflet):
    html = pages.page(name, "soar: x", leaflet=leaflet)
    assert html.startswith("<!doctype html>") and html.rstrip().endswith("</html>")
    assert "<title>soar: x</title>" in html and "$" not in html
    assert f'<script src="/static/{name}.js"></script>' in html
    assert html.index("/static/common.js") < html.index(f"/static/{name}.js")
    assert ('vendor/leaflet/leaflet.js' in html) is leaflet
    assert ('vendor/leaflet/leaflet.css' in html) is leaflet
    # the page's own body, once
    body = (pages.TEMPLATES / f"{name}.html").read_text(encoding="utf-8")
    assert html.count(body) == 1
