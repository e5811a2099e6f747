"""The pages of `soar web` in a real headless browser: Debian's chromium driven by
playwright through executable_path, against `soar web` run as a user runs it. The map
shows the simulated aircraft (those on the ground too) and moves one when new fixes
arrive, a click draws its track; the logbook page shows the rows of a real recording;
the flight page its track and barogram; a registration that is HTML shows as text. The
map test takes a screenshot; with SOAR_SCREENSHOT=docs/web-map.png it refreshes the
README's (a test run never writes into the checkout by default)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
import requests

from helpers import refdata
from helpers.net import free_port
from helpers.wait import wait_until
from helpers.web import HOSTILE, fly_on, live_traffic
from soar_worker.config import WorkerConfig
from soar_worker.loop import run_workers

playwright = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
CEILING_MS = 30_000
SOAR = [sys.executable, "-m", "soar"]

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                reason="needs Debian's chromium: `make setup` installs it")


@pytest.fixture
def soar_web(request):
    """`soar web` on a free port for a database URL (read-only role); yields its base URL."""
    procs = []

    def start(url: str, *args: str) -> str:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SOAR_")}
        proc = subprocess.Popen([*SOAR, "--database-url", url, "web", "--port", str(port), *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        procs.append(proc)
        base = f"http://127.0.0.1:{port}"
        def answers() -> bool:        # until it answers: start-up is the event waited on
            assert proc.poll() is None, proc.communicate()[1]
            try:
                return requests.get(base + "/api/v1/health", timeout=5) is not None
            except requests.ConnectionError:
                return False
        wait_until(answers, 60, what="soar web to start")
        return base
    yield start
    for proc in procs:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
        assert "Traceback" not in err, err


@pytest.fixture
def browser():
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    page = browser.new_page(viewport={"width": 1200, "height": 760})
    page.set_default_timeout(CEILING_MS)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: errors.append(f"off-site request {r.url}")
            if not r.url.startswith(("http://127.0.0.1", "data:")) else None)
    yield page
    # No script error, no Content-Security-Policy violation, nothing from the internet.
    assert errors == []


def _marker_latitude(page, address: str) -> float:
    return page.evaluate("""(a) => [...soar.markers.values()]
        .find((m) => m.position.aircraft_address === a).getLatLng().lat""", address)


def test_live_map_markers_move_and_a_click_draws_the_track(refdb, soar_web, page, tmp_path):
    with refdb.connect() as c:
        traffic = live_traffic(c)
    base = soar_web(refdb.url("readonly"))
    page.goto(base + "/")
    page.wait_for_function("() => window.soar && soar.markers && soar.markers.size === 6")
    # By kind; the aircraft not tracked is not there; the one not identified has no name.
    assert page.locator(".ac-glider [data-address='DD1001']").count() == 1
    assert page.locator(".ac-tow [data-address='DD2002'] .label").text_content().startswith("DD2002")
    airliner = page.locator(".ac-airliner [data-address='4CA123'] .label").text_content()
    assert airliner.startswith("EIN123")
    assert page.locator("[data-address='DD3003']").count() == 0
    # The hostile registration: shown as text, never run.
    label = page.locator("[data-address='DD4004'] .label").text_content()
    assert label.startswith(HOSTILE)
    assert page.evaluate("window.p === undefined")
    # On the ground without an active flight (landed; standing before any flight): shown,
    # and a click says who it is with no flight to link.
    assert page.locator(".ac-glider [data-address='DD5005'].ac-no-flight").count() == 1
    page.locator("[data-address='DD6006']").click()
    page.wait_for_function("() => document.getElementById('panel-name').textContent === 'D-6666'")
    assert page.locator("#panel-link").is_hidden()
    # Airfields from the airports table as a vector layer (no tiles).
    page.wait_for_selector("path.runway", state="attached")

    before = _marker_latitude(page, "DD1001")
    with refdb.connect() as c:
        fly_on(c, traffic, "glider", 120)
    want = round(traffic.sims["glider"].fixes[-1].latitude, 6)
    page.wait_for_function("""([a, lat]) => [...soar.markers.values()].some((m) =>
        m.position.aircraft_address === a && Math.abs(m.getLatLng().lat - lat) < 1e-6)""",
                           arg=["DD1001", want])
    assert _marker_latitude(page, "DD1001") != before

    page.locator("[data-address='DD1001']").click()
    page.wait_for_selector("path.track", state="attached")
    page.wait_for_selector("#panel-baro svg polyline.baro-line", state="attached")
    assert page.locator("#panel-name").text_content() == "D-1234"
    assert page.locator("#panel-link").get_attribute("href") == f"/flights/{traffic.flights['glider']}"
    shot = Path(os.environ.get("SOAR_SCREENSHOT") or tmp_path / "web-map.png")
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 0


def test_flight_page_draws_track_barogram_and_links_downloads(database, soar_web, page):
    with database.connect() as c:
        traffic = live_traffic(c)
    base = soar_web(database.url("readonly"))
    fid = traffic.flights["landed"]
    page.goto(f"{base}/flights/{fid}")
    page.wait_for_function("() => window.soar && soar.ready === true")
    assert page.locator("path.track").count() == 1
    assert page.locator("#baro svg polyline.baro-line").count() == 1
    assert "D-5555" in page.locator("#facts").text_content()
    assert page.locator("#igc").get_attribute("href") == f"/api/v1/flights/{fid}/track.igc"
    # The hostile registration's flight: its facts as text.
    page.goto(f"{base}/flights/{traffic.flights['hostile']}")
    page.wait_for_function("() => window.soar && soar.ready === true")
    assert HOSTILE in page.locator("#facts").text_content()
    assert page.evaluate("window.p === undefined")



def test_receivers_and_statistics_pages_show_their_rows_as_text(database, soar_web, page):
    with database.connect() as c:
        live_traffic(c)
        c.execute("INSERT INTO receivers (name, latitude, longitude, version) "
                  "VALUES ('Koenigsdf', 47.83, 11.46, %s)", (HOSTILE,))
    base = soar_web(database.url("readonly"))
    page.goto(base + "/receivers")
    page.wait_for_function("() => window.soar && soar.ready === true")
    cells = page.locator("#receivers tbody td").all_text_contents()
    assert "Koenigsdf" in cells and HOSTILE in cells
    assert page.evaluate("window.p === undefined")
    page.goto(base + "/stats")
    page.wait_for_function("() => window.soar && soar.ready === true")
    # Today's flights per source: 4 OGN (the untracked aircraft's is not counted), 1 ADS-B.
    daily = page.locator("#daily tbody tr")
    assert daily.count() == 2
    by_source = {r.locator("td").nth(1).text_content(): r.locator("td").nth(2).text_content()
                 for r in daily.all()}
    assert by_source == {"ogn": "4", "adsb": "1"}
    assert page.locator("#aircraft tbody tr").count() >= 3


def test_logbook_page_shows_the_days_rows_and_links_the_csv(refdb, data_dir, soar_web, page):
    with refdb.connect() as c:
        for address in ("DDEFF7", "DDAC7C"):
            refdata.add_winch_flight(c, data_dir, address)
    assert run_workers(refdb.url("worker"), WorkerConfig(max_wait_s=2.0), threads=1,
                       drain=True).dead == 0
    base = soar_web(refdb.url("readonly"), "--window-h", "0")     # a 2019 recording
    day = date(2019, 4, 13)
    page.goto(f"{base}/airfields/DE-0066/logbook?date={day}")
    page.wait_for_function("() => window.soar && soar.ready === true")
    rows = page.locator("#rows tr")
    assert rows.count() == 1
    cells = rows.first.locator("td").all_text_contents()
    assert cells[0] == str(day) and cells[1] == "local" and cells[6] == "DDAC7C"
    assert cells[9] == "-" or cells[9] in ("winch", "aerotow", "self", "unknown")
    assert page.locator("#count").text_content() == "1 flights"
    csv_href = page.locator("#csv").get_attribute("href")
    csv_text = requests.get(base + csv_href, timeout=30).text
    assert csv_text.splitlines()[1].count("DDAC7C") == 1
