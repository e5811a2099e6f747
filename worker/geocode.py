"""Locations: a cache of reverse-geocoding results in the `locations` table, one row
per ~100 m cell (coordinates rounded to 1/1000 degree: lat_e3, lon_e3).

A cell already in the table costs one indexed SELECT and no HTTP call, so repeated
takeoffs from one airfield (geocoded at the airport's reference point) call Pelias
once. With no Pelias URL, the offline default looks up the nearest GeoNames place
in PostgreSQL (nearest_place(), a KNN probe of the places GiST index): no network.
The cache row is committed on its own, so a later failure of the flight update does
not cost another geocoding call on the retry.
"""

from __future__ import annotations

import logging
import math

import psycopg

from soar.db import sqlfiles
from worker import metrics
from worker.pelias import PeliasClient, Place

log = logging.getLogger(__name__)

QUERIES = sqlfiles.queries("queries/worker.sql")


def cell(lat: float, lon: float) -> tuple[int, int]:
    """The cache key: coordinates in thousandths of a degree, rounded half up."""
    return math.floor(lat * 1000 + 0.5), math.floor(lon * 1000 + 0.5)


class Geocoder:
    def __init__(self, pelias: PeliasClient | None = None, places_max_distance_m: float = 50_000):
        self.pelias = pelias
        self.places_max_distance_m = places_max_distance_m

    @property
    def source(self) -> str:
        return "pelias" if self.pelias else "places"

    def cached(self, conn: psycopg.Connection, lat: float, lon: float) -> int | None:
        lat_e3, lon_e3 = cell(lat, lon)
        row = conn.execute("SELECT id FROM locations WHERE lat_e3 = %s AND lon_e3 = %s",
                           (lat_e3, lon_e3)).fetchone()
        return row[0] if row else None

    def _offline(self, conn: psycopg.Connection, lat: float, lon: float) -> Place:
        row = conn.execute("SELECT name, admin1, country_code FROM nearest_place(%s, %s, %s)",
                           (lat, lon, self.places_max_distance_m)).fetchone()
        if not row:
            return Place(None, None, None, None)
        name, admin1, cc = row
        label = ", ".join(p for p in (name, admin1, cc) if p)
        return Place(name, admin1, cc.strip() if cc else None, label or None)

    def locate(self, conn: psycopg.Connection, lat: float, lon: float) -> int:
        """The id of the location row for this point's cell, geocoding on a miss.
        `conn` is in autocommit mode; PeliasError propagates (the caller retries)."""
        hit = self.cached(conn, lat, lon)
        if hit is not None:
            metrics.GEOCODE_LOOKUPS.labels("cache").inc()
            return hit
        if self.pelias:
            place = self.pelias.reverse(lat, lon)
        else:
            place = self._offline(conn, lat, lon)
        metrics.GEOCODE_LOOKUPS.labels(self.source).inc()
        lat_e3, lon_e3 = cell(lat, lon)
        row = conn.execute(
            QUERIES["insert_location"],
            (lat_e3, lon_e3, lat, lon, place.city, place.region, place.country_code, place.label,
             self.source)).fetchone()
        if row:
            return row[0]
        # Another worker stored this cell meanwhile: use its row.
        return self.cached(conn, lat, lon)
