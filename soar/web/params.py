"""Query parameters as the API accepts them: each parser returns the value or raises
a 400 ApiError whose message gives the parameter, what was wrong and an example."""

from __future__ import annotations

import math
import uuid
from datetime import date, datetime, timedelta, tzinfo
from typing import NamedTuple

from soar.errors import SoarError
from soar.products import flights as flight_products
from soar.products import logbook as logbook_products
from soar.units import UTC
from soar.web.config import WebConfig
from soar.web.errors import bad_request


class Box(NamedTuple):
    west: float
    south: float
    east: float
    north: float

    def contains(self, latitude: float, longitude: float) -> bool:
        if not self.south <= latitude <= self.north:
            return False
        if self.west <= self.east:
            return self.west <= longitude <= self.east
        return longitude >= self.west or longitude <= self.east     # across 180 deg

    def area_deg2(self) -> float:
        width = self.east - self.west if self.west <= self.east else 360 - self.west + self.east
        return width * (self.north - self.south)

    def as_params(self) -> dict:
        return self._asdict()


def box(text: str | None, config: WebConfig) -> Box:
    """bbox=west,south,east,north in degrees (west > east crosses the antimeridian), at
    most config.max_box_deg2 square degrees."""
    example = "e.g. bbox=10.5,47.2,12.5,48.4 (west,south,east,north in degrees)"
    if not text:
        raise bad_request(f"bbox is required: {example}")
    try:
        parts = [float(p) for p in text.split(",")]
    except ValueError:
        raise bad_request(f"bbox={text[:80]!r} is not four numbers: {example}") from None
    if len(parts) != 4 or not all(math.isfinite(p) for p in parts):
        raise bad_request(f"bbox={text[:80]!r} is not four numbers: {example}")
    b = Box(*parts)
    if not (-180 <= b.west <= 180 and -180 <= b.east <= 180 and -90 <= b.south <= b.north <= 90):
        raise bad_request(f"bbox={text[:80]!r}: longitudes within -180..180, latitudes within "
                          f"-90..90 and south <= north: {example}")
    if b.area_deg2() > config.max_box_deg2:
        raise bad_request(f"bbox covers {b.area_deg2():.0f} square degrees, more than the "
                          f"{config.max_box_deg2:g} allowed: zoom in or ask for a smaller box")
    return b


def page_size(text: str | None, config: WebConfig) -> int:
    if text is None:
        return config.default_page
    try:
        n = int(text)
    except ValueError:
        raise bad_request(f"limit={text[:20]!r}: give a whole number, 1 to {config.max_page}") from None
    if not 1 <= n <= config.max_page:
        raise bad_request(f"limit={n}: give 1 to {config.max_page} and follow `next` for more")
    return n


def day(text: str | None, name: str = "date") -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise bad_request(f"{name}={text[:20]!r}: give a day as YYYY-MM-DD, e.g. 2024-07-06") from None


def zone(text: str | None) -> tzinfo:
    try:
        return logbook_products.zone(text)
    except SoarError:
        raise bad_request(f"tz={(text or '')[:60]!r}: give an IANA time zone name such as "
                          "Europe/Berlin, or UTC (the default)") from None


def day_range(d: date, tz: tzinfo) -> tuple[datetime, datetime]:
    try:
        return logbook_products.day_range(d, d, tz)
    except OverflowError:
        raise bad_request(f"date={d}: give a day between year 1 and 9999") from None


def code(text: str, name: str = "airfield") -> str:
    """An airfield code as typed: printable, at most 40 characters (OurAirports idents
    have at most 10)."""
    if not text or len(text) > 40 or not text.isprintable():
        raise bad_request(f"{name} {text[:40]!r}: give an OurAirports ident or ICAO code, "
                          "e.g. LFPG or DE-0066")
    return text


def address(text: str | None) -> int | None:
    if not text:
        return None
    try:
        return flight_products.parse_address(text)
    except SoarError:
        raise bad_request(f"aircraft={text[:20]!r}: give the 24-bit address in hex, "
                          "e.g. DDEFF7") from None


def flag(text: str | None, name: str) -> bool | None:
    if text is None or text == "":
        return None
    value = text.strip().lower()
    if value in ("1", "true", "yes"):
        return True
    if value in ("0", "false", "no"):
        return False
    raise bad_request(f"{name}={text[:20]!r}: give true or false")


def flight_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise bad_request(f"flight id {text[:40]!r}: give the whole id as /api/v1/flights "
                          "lists it, e.g. 0f8c6a52-5d0b-4c57-9a53-1f8f3c2b9e11") from None


def cursor(text: str | None) -> tuple[datetime | None, uuid.UUID | None]:
    """The `after` of a flights page: `<started_at ISO>_<flight id>`, as `next` gives it."""
    if not text:
        return None, None
    try:
        started, fid = text.rsplit("_", 1)
        t = datetime.fromisoformat(started.replace("Z", "+00:00"))
        if t.tzinfo is None:
            raise ValueError
        return t, uuid.UUID(fid)
    except ValueError:
        raise bad_request("after: use the `next` link of the previous page as it is") from None


def make_cursor(started_at: datetime, fid) -> str:
    return f"{started_at.astimezone(UTC).isoformat().replace('+00:00', 'Z')}_{fid}"


def window_start(config: WebConfig, now: datetime | None = None) -> datetime | None:
    """The start of the public window (None: no window)."""
    if not config.public_window_h:
        return None
    return (now or datetime.now(UTC)) - timedelta(hours=config.public_window_h)
