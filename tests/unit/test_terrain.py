"""Terrain sources: SRTM tiles generated here (3 and 1 arc-second), no download."""

from __future__ import annotations

import math
import random
import struct
from array import array

import pytest

from helpers.srtm import write_tile
from soar.reference.terrain import VOID, AirportElevations, SrtmTiles, tile_name
from soar.units import M_PER_DEG


def test_srtm_3_arcsecond_tile_bilinear_and_voids(tmp_path):
    write_tile(tmp_path / "N47E011.hgt", 1201,
               lambda r, c: VOID if (r, c) == (600, 600) else 500 + r + 2 * c)
    srtm = SrtmTiles(tmp_path)
    assert tile_name(47.8287, 11.465) == "N47E011.hgt" and tile_name(-0.5, -0.5) == "S01W001.hgt"
    assert srtm(48.0, 11.0) == 500                                   # north-west corner
    assert srtm(47.0, 12.0) == 500 + 1200 + 2400                     # south-east corner
    lat, lon = 48 - 100.5 / 1200, 11 + 200.5 / 1200                  # between four samples
    assert srtm(lat, lon) == pytest.approx(500 + 100.5 + 401, abs=1e-6)
    near_void = srtm(48 - 600.5 / 1200, 11 + 600.5 / 1200)          # three valid neighbours
    assert near_void is not None and 500 + 600 + 1200 < near_void < 500 + 601 + 1202
    assert srtm(46.5, 11.5) is None                                  # no tile: None, no download


def test_srtm_1_arcsecond_tile(tmp_path):
    row = array("h", [0] * 3601)
    for c in range(3601):
        row[c] = 1000 + c // 100
    if struct.pack("=h", 1) != struct.pack(">h", 1):
        row.byteswap()
    (tmp_path / "S34W071.hgt").write_bytes(row.tobytes() * 3601)
    srtm = SrtmTiles(tmp_path)
    assert srtm(-33.5, -70.5) == pytest.approx(1000 + 1800 // 100, abs=0.01)
    (tmp_path / "N00E000.hgt").write_bytes(b"\0" * 1000)             # not a tile
    with pytest.raises(ValueError):
        srtm(0.5, 0.5)




def _brute_force(airports, lat, lon, radius_m):
    """The nearest airport within the radius by looking at every one of them."""
    best, best_d = None, radius_m
    for alat, alon, elev in airports:
        d = M_PER_DEG * math.hypot(alat - lat, (alon - lon) * math.cos(math.radians(lat)))
        if d <= best_d:
            best, best_d = elev, d
    return best


def test_airport_elevation_from_small_cells_equals_a_scan_of_every_airport():
    rng = random.Random(7)
    # A crowded region (many fields a few km apart, as in the Alps' foothills) and a
    # high latitude, where a degree of longitude is short.
    airports = [(rng.uniform(47.0, 48.0), rng.uniform(11.0, 12.5), rng.uniform(300, 900))
                for _ in range(400)]
    airports += [(rng.uniform(69.0, 69.5), rng.uniform(18.0, 20.0), rng.uniform(0, 100))
                 for _ in range(60)]
    elevations = AirportElevations(airports, radius_m=3000.0)
    elevations.FINE_CACHE_MAX = 500          # forgotten and rebuilt during the test
    points = [(rng.uniform(46.9, 48.1), rng.uniform(10.9, 12.6)) for _ in range(6000)]
    points += [(rng.uniform(68.9, 69.6), rng.uniform(17.9, 20.1)) for _ in range(3000)]
    # On and around the small cells' edges, and right next to airports.
    points += [(round(lat, 2) + d, round(lon, 2) - d) for lat, lon in points[:2000]
               for d in (0.0, 1e-9, -1e-9)]
    points += [(lat + rng.uniform(-0.03, 0.03), lon + rng.uniform(-0.04, 0.04))
               for lat, lon, _ in airports]
    found = 0
    for lat, lon in points:
        expected = _brute_force(airports, lat, lon, 3000.0)
        assert elevations.elevation(lat, lon) == expected, (lat, lon)
        assert elevations.nearest(lat, lon, 3000.0) == expected, (lat, lon)
        found += expected is not None
    assert 0 < found < len(points)           # both answers were exercised
    assert len(elevations._fine) <= 500
