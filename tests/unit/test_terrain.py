"""Terrain sources: SRTM tiles generated here (3 and 1 arc-second), no download."""

from __future__ import annotations

import struct
from array import array

import pytest

from helpers.srtm import write_tile
from soar.reference.terrain import VOID, SrtmTiles, tile_name


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


