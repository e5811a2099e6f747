"""`soar web` through a real PgBouncer in transaction pooling mode with 2 server
connections shared by more web connections, so consecutive transactions of one web
connection land on different servers: every route answers again and again (no
prepared statement expected on another server; the statement timeout set per
transaction), and the live stream reads through it too."""

from __future__ import annotations

import threading

import requests

from helpers.web import live_traffic, serve
from soar.web import WebConfig

BOX = "10.5,47.2,12.8,48.6"
ROUNDS = 15             # psycopg would prepare a statement from its 5th execution
CLIENTS = 4


def test_routes_and_live_stream_through_pgbouncer(small_bouncer, database):
    with database.connect() as c:
        traffic = live_traffic(c)
    fid = traffic.flights["landed"]
    paths = (f"/api/v1/positions?bbox={BOX}", "/api/v1/flights", f"/api/v1/flights/{fid}",
             f"/api/v1/flights/{fid}/fixes", "/api/v1/health")
    failures: list[str] = []
    answered = []

    def client(base: str) -> None:
        with requests.Session() as s:
            for _ in range(ROUNDS):
                for path in paths:
                    r = s.get(base + path, timeout=60)
                    answered.append(path)
                    if r.status_code != 200:
                        failures.append(f"{path}: {r.status_code} {r.text[:200]}")

    url = small_bouncer.url(database.name, user="soar_readonly")
    with serve(url, WebConfig(pool_min=CLIENTS, pool_max=CLIENTS)) as base:
        threads = [threading.Thread(target=client, args=(base,)) for _ in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        assert failures == [] and len(answered) == CLIENTS * ROUNDS * len(paths)
        r = requests.get(f"{base}/api/v1/positions?bbox={BOX}", timeout=60)
        assert len(r.json()["positions"]) == 6      # all of live_traffic's but the untracked
        with requests.get(f"{base}/api/v1/live?bbox={BOX}", stream=True, timeout=60) as r:
            data = next(x for x in r.iter_lines(decode_unicode=True) if x.startswith("data:"))
        assert "DD1001" in data
