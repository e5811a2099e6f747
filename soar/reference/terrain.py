"""Ground elevation for height-above-ground: SRTM tiles and airport elevations.

Nothing is downloaded: SRTM `.hgt` tiles are read from a directory the operator
fills (e.g. from viewfinderpanoramas.org or NASA EarthData), airport elevations come
from the `airports` table (OurAirports). `make_terrain()` combines them into the
`terrain(lat, lon) -> metres MSL | None` the flight tracker takes.
"""

from __future__ import annotations

import math
import mmap
import os
import struct
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path

from soar.db import sqlfiles
from soar.units import FEET_TO_M, M_PER_DEG

QUERIES = sqlfiles.queries("queries/reference.sql")

VOID = -32768
_BE_INT16 = struct.Struct(">h")


def tile_name(lat: float, lon: float) -> str:
    """SRTM tile covering (lat, lon), named by its south-west corner: N47E011.hgt."""
    return _name(math.floor(lat), math.floor(lon))


def _name(la: int, lo: int) -> str:
    return f"{'N' if la >= 0 else 'S'}{abs(la):02d}{'E' if lo >= 0 else 'W'}{abs(lo):03d}.hgt"


class _Tile:
    """One memory-mapped tile; samples are read on demand (a 1" tile is 26 MB)."""

    def __init__(self, path: Path):
        size = path.stat().st_size
        n = math.isqrt(size // 2)
        if n * n * 2 != size or n not in (1201, 3601):
            raise ValueError(f"{path}: {size} bytes is neither a 1 nor a 3 arc-second tile")
        self.n = n
        with open(path, "rb") as fh:
            self.mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)

    def sample(self, row: int, col: int) -> int:
        return _BE_INT16.unpack_from(self.mm, (row * self.n + col) * 2)[0]

    def close(self) -> None:
        self.mm.close()


class SrtmTiles:
    """Bilinear elevation from SRTM .hgt tiles in `directory`, a few tiles kept open.

    Row 0 of a tile is its north edge, column 0 its west edge; neighbouring tiles
    share their edge rows/columns, so interpolation never needs two tiles. Void
    samples (-32768) are left out; None when all four are void or the tile is absent.
    """

    def __init__(self, directory: str | os.PathLike, max_open: int = 32):
        self.directory = Path(directory)
        self.max_open = max_open
        self._tiles: OrderedDict[str, _Tile | None] = OrderedDict()

    def _tile(self, name: str) -> _Tile | None:
        tiles = self._tiles
        if name in tiles:
            tiles.move_to_end(name)
            return tiles[name]
        path = self.directory / name
        if not path.exists():           # some distributions use lower case names
            path = self.directory / name.lower()
        tile = _Tile(path) if path.exists() else None
        tiles[name] = tile
        if len(tiles) > self.max_open:
            _, old = tiles.popitem(last=False)
            if old is not None:
                old.close()
        return tile

    def elevation(self, lat: float, lon: float) -> float | None:
        fla, flo = math.floor(lat), math.floor(lon)
        # On a tile edge the neighbours to the south/west hold the same samples.
        for la, lo in ((fla, flo), (fla - (lat == fla), flo), (fla, flo - (lon == flo)),
                       (fla - (lat == fla), flo - (lon == flo))):
            tile = self._tile(_name(la, lo))
            if tile is not None:
                break
        else:
            return None
        last = tile.n - 1
        y = (la + 1 - lat) * last                  # rows from the north edge
        x = (lon - lo) * last
        r0, c0 = min(int(y), last - 1), min(int(x), last - 1)
        fy, fx = y - r0, x - c0
        total = weight = 0.0
        for r, c, w in ((r0, c0, (1 - fy) * (1 - fx)), (r0, c0 + 1, (1 - fy) * fx),
                        (r0 + 1, c0, fy * (1 - fx)), (r0 + 1, c0 + 1, fy * fx)):
            v = tile.sample(r, c)
            if v != VOID:
                total += v * w
                weight += w
        if weight <= 1e-9:
            return None
        return total / weight

    __call__ = elevation

    def close(self) -> None:
        for tile in self._tiles.values():
            if tile is not None:
                tile.close()
        self._tiles.clear()


class AirportElevations:
    """Nearest airport's elevation within `radius_m`, from an in-memory grid.

    A field's published elevation is the best ground height there is near a field
    (where takeoffs and landings happen); farther away it says nothing.
    """

    CELL = 0.1   # degrees
    # elevation() runs for every flying OGN fix (the tracker's height above ground), and
    # scanning nine grid cells each time was a large share of the router thread's CPU
    # (docs/benchmarks.md, the profile). Per small cell it keeps the few airports that
    # can be within the radius of some point of the cell (usually none), computed on
    # first use.
    FINE_PER_DEG = 100          # small cells of 0.01 degrees (1.1 km of latitude)
    # Half the diagonal of a small cell (787 m at most) plus room for the distance
    # formula's cosine being taken at the fix's latitude, not the cell centre's.
    FINE_MARGIN_M = 1000.0
    FINE_CACHE_MAX = 200_000    # small cells remembered (~50 MB at most), then forgotten

    def __init__(self, airports: Iterable[tuple[float, float, float]], radius_m: float = 3000.0):
        self.radius_m = radius_m
        self.grid: dict[tuple[int, int], list[tuple[float, float, float]]] = {}
        for lat, lon, elev_m in airports:
            self.grid.setdefault(self._cell(lat, lon), []).append((lat, lon, elev_m))
        self._fine: dict[tuple[int, int], tuple[tuple[float, float, float], ...]] = {}

    def _cell(self, lat: float, lon: float) -> tuple[int, int]:
        return int(math.floor(lat / self.CELL)), int(math.floor(lon / self.CELL))

    @classmethod
    def from_db(cls, conn, radius_m: float = 3000.0) -> AirportElevations:
        # Heliports are left out (sql/queries/reference.sql, airport_elevations).
        rows = conn.execute(QUERIES["airport_elevations"]).fetchall()
        return cls(((lat, lon, ft * FEET_TO_M) for lat, lon, ft in rows), radius_m)

    def __len__(self) -> int:
        return sum(len(v) for v in self.grid.values())

    def elevation(self, lat: float, lon: float) -> float | None:
        """nearest(lat, lon, radius_m), from the small cell's candidates."""
        key = (math.floor(lat * self.FINE_PER_DEG), math.floor(lon * self.FINE_PER_DEG))
        candidates = self._fine.get(key)
        if candidates is None:
            candidates = self._candidates(key)
        return _closest(candidates, lat, lon, self.radius_m) if candidates else None

    def _candidates(self, key: tuple[int, int]) -> tuple:
        if len(self._fine) >= self.FINE_CACHE_MAX:
            self._fine.clear()
        lat = (key[0] + 0.5) / self.FINE_PER_DEG
        lon = (key[1] + 0.5) / self.FINE_PER_DEG
        reach_m = self.radius_m + self.FINE_MARGIN_M
        coslat = math.cos(math.radians(lat))
        found = self._fine[key] = tuple(
            a for a in self._around(lat, lon, reach_m)
            if M_PER_DEG * math.hypot(a[0] - lat, (a[1] - lon) * coslat) <= reach_m)
        return found

    def near(self, lat: float, lon: float, radius_m: float) -> bool:
        """Is any airport within `radius_m`? (Resolving surface CPR positions.)"""
        return self.nearest(lat, lon, radius_m) is not None

    def nearest(self, lat: float, lon: float, radius_m: float) -> float | None:
        """The elevation of the nearest airport within `radius_m`, or None."""
        return _closest(self._around(lat, lon, radius_m), lat, lon, radius_m)

    def _around(self, lat: float, lon: float, radius_m: float):
        """The airports of the grid cells that `radius_m` around the point reaches."""
        cy, cx = self._cell(lat, lon)
        dlat = radius_m / M_PER_DEG
        dlon = dlat / max(math.cos(math.radians(lat)), 0.01)
        ny, nx = int(dlat / self.CELL) + 1, int(dlon / self.CELL) + 1
        for y in range(cy - ny, cy + ny + 1):
            for x in range(cx - nx, cx + nx + 1):
                yield from self.grid.get((y, x), ())

    __call__ = elevation


def _closest(airports, lat: float, lon: float, radius_m: float) -> float | None:
    """The elevation of the nearest of `airports` within `radius_m` of the point, or None."""
    coslat = math.cos(math.radians(lat))
    best, best_d = None, radius_m
    for alat, alon, elev in airports:
        d = M_PER_DEG * math.hypot(alat - lat, (alon - lon) * coslat)
        if d <= best_d:
            best, best_d = elev, d
    return best


def make_terrain(srtm: SrtmTiles | None = None,
                 airports: AirportElevations | None = None
                 ) -> Callable[[float, float], float | None] | None:
    """SRTM where a tile is present (it knows the ground everywhere), else the
    nearest airport's elevation, else None. None when neither source is configured."""
    if srtm is None and airports is None:
        return None
    if airports is None:
        return srtm.elevation
    if srtm is None:
        return airports.elevation

    def terrain(lat: float, lon: float) -> float | None:
        h = srtm.elevation(lat, lon)
        return h if h is not None else airports.elevation(lat, lon)
    return terrain
