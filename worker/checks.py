"""What the worker needs before it starts, each missing piece named with its fix."""

from __future__ import annotations

import logging

from soar import db
from soar.db import sqlfiles
from soar.errors import SoarError

log = logging.getLogger(__name__)
QUERIES = sqlfiles.queries("queries/worker.sql")


def check_database(url: str, need_places: bool) -> None:
    """The worker's prerequisites, each failure naming its fix. With Pelias, places
    are not required but are the fallback while Pelias fails: a warning if missing."""
    with db.connect(url) as conn:
        if conn.execute(QUERIES["has_detect_runway"]).fetchone()[0] is None:
            raise SoarError("the database has no enrichment functions: run `soar db upgrade`")
        if conn.execute(QUERIES["has_repoint_fallback"]).fetchone()[0] is None:
            raise SoarError("the database lacks the geocoding fallback (migration 0005): "
                            "run `soar db upgrade`")
        if not conn.execute(QUERIES["has_airports"]).fetchone()[0]:
            raise SoarError("no airports loaded (no airport or runway can be found): "
                            "run `soar import airports`")
        has_places = conn.execute(QUERIES["has_places"]).fetchone()[0]
        if need_places and not has_places:
            raise SoarError("no places loaded for the offline geocoder: run `soar import places`, "
                            "or set SOAR_WORKER_PELIAS_URL to use a Pelias server")
        if not has_places:
            log.warning("no places loaded: while Pelias fails, flights get a location without "
                        "a name (re-geocoded when Pelias is back); run `soar import places`")
