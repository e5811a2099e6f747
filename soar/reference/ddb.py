"""OGN's device database (DDB): registrations, models, and each owner's privacy
choices onto `aircraft` rows.

`tracked = N`: the ingest stores no fixes of the device (the running pipeline re-reads
this every 5 minutes); `identified = N`: its registration is not shown. Format of
DDB's /download: a CSV whose values are quoted with `'`, lines starting with `#` are
comments: DEVICE_TYPE (F FLARM, I ICAO, O OGN), DEVICE_ID (6 hex digits),
AIRCRAFT_MODEL, REGISTRATION, CN, TRACKED, IDENTIFIED (Y/N), then optional columns.

The rules this module enforces: an empty TRACKED or IDENTIFIED means yes (OGN's
default: only an explicit N withholds), any other value than Y, N or empty skips the
line (counted); a registration, model or competition number longer than its column
holds (soar.columns) is dropped, counted in `too_long`; a registration from the DDB is
marked so that ingest never replaces it with an APRS `reg` token (anyone can transmit
any text). The privacy choices are fetched over HTTPS, never plain HTTP from another
host (nor redirected to it), since whoever could alter them in transit could make soar
store the positions of aircraft whose owners said no; the download is capped in size
and in total time (`DownloadLimits`), so a hostile or broken server can neither fill
the memory nor hold the import for ever.
"""

from __future__ import annotations

import csv
import io
import time
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

import psycopg

from soar.columns import COMPETITION_NUMBER_MAX, MODEL_MAX, REGISTRATION_MAX
from soar.db import sqlfiles
from soar.errors import SoarError
from soar.net import is_loopback
from soar.records import AddressType, aircraft_id

if TYPE_CHECKING:
    import requests

DEFAULT_SOURCE = "https://ddb.glidernet.org/download/"
DEVICE_TYPES = {"F": AddressType.FLARM, "I": AddressType.ICAO, "O": AddressType.OGN}
# TRACKED / IDENTIFIED values; empty is OGN's default, yes.
FLAGS = {"Y": True, "N": False, "": True}

UPSERT = sqlfiles.queries("queries/reference.sql")["ddb_upsert"]


@dataclass(frozen=True)
class DownloadLimits:
    """What a DDB download may take (the published file is a few MB, fetched in seconds)."""
    max_bytes: int = 64 << 20       # bytes after decompression; more is not the DDB
    deadline_s: float = 300.0       # the whole download, connect to last byte
    read_timeout_s: float = 30.0    # silence on the connection before giving up
    max_redirects: int = 5


@dataclass
class DdbImport:
    devices: int = 0
    skipped: int = 0        # rows with an unknown device type or a malformed id
    too_long: int = 0       # registrations, models, competition numbers over their limit
    untracked: int = 0
    unidentified: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        too_long = f", {self.too_long} values too long dropped" if self.too_long else ""
        return (f"ddb: {self.devices} devices ({self.untracked} not tracked, {self.unidentified} "
                f"not identified, {self.skipped} skipped{too_long}) in {self.seconds:.1f} s")


def _fit(value: str, limit: int, dropped: list) -> str | None:
    value = value.strip()
    if len(value) > limit:
        dropped.append(value)
        return None
    return value or None


def parse(text: str, too_long: list | None = None) -> tuple[list[tuple], int]:
    """Rows ready for UPSERT, and how many lines were skipped; values over their
    column's limit are dropped and appended to `too_long`."""
    rows, skipped = [], 0
    dropped = too_long if too_long is not None else []
    lines = (line for line in text.splitlines() if line.strip() and not line.startswith("#"))
    for rec in csv.reader(lines, quotechar="'"):
        try:
            kind, device, model, registration, cn, tracked, identified = rec[:7]
            address_type = DEVICE_TYPES[kind.strip().upper()]
            device = device.strip()
            address = int(device, 16)
            if len(device) != 6:
                raise ValueError(device)
            is_tracked = FLAGS[tracked.strip().upper()]
            is_identified = FLAGS[identified.strip().upper()]
        except (ValueError, KeyError):
            skipped += 1
            continue
        registration = _fit(registration, REGISTRATION_MAX, dropped)
        model = _fit(model, MODEL_MAX, dropped)
        rows.append((aircraft_id(address_type, address), address, int(address_type),
                     registration, model if model != "Unknown" else None,
                     is_tracked, is_identified, _fit(cn, COMPETITION_NUMBER_MAX, dropped),
                     registration is not None))
    return rows, skipped



def check_source(source: str) -> None:
    """Refuse plain HTTP from another host (the privacy choices could be altered on the
    way); HTTPS, a local file, or HTTP on loopback (a local mirror, the tests) pass."""
    if source.lower().startswith("http://") and not is_loopback(urlsplit(source).hostname):
        raise SoarError(f"{source}: the device database carries owners' privacy choices; "
                        f"fetch it over https:// (default {DEFAULT_SOURCE}) or pass a local "
                        "file with --source")


def download(source: str, limits: DownloadLimits | None = None) -> bytes:
    """The body at `source` (https://, or http:// on loopback), following redirects
    only to where check_source allows and never from https:// down to http://; over
    `max_bytes` or `deadline_s` it stops with a one-line SoarError naming the fix."""
    # requests (and its TLS stack) is imported on use, not with the module: `soar`
    # imports this module at every start to show the default source in --help.
    import requests
    import urllib3

    limits = limits or DownloadLimits()
    deadline = time.monotonic() + limits.deadline_s
    url = source
    for _ in range(limits.max_redirects + 1):
        check_source(url)
        remaining = deadline - time.monotonic()
        try:
            resp = requests.get(url, stream=True, allow_redirects=False,
                                timeout=(min(10.0, remaining), min(limits.read_timeout_s, remaining)))
        except requests.RequestException as exc:
            raise _failed(source, limits, exc) from None
        with resp:
            if resp.is_redirect:
                target = urljoin(url, resp.headers.get("Location", ""))
                if url.lower().startswith("https://") and not target.lower().startswith("https://"):
                    raise SoarError(f"{source} redirected to {target}: the device database is "
                                    "only fetched over https://; pass an https:// URL or a "
                                    "local file with --source")
                url = target
                continue
            if resp.status_code != 200:
                raise SoarError(f"cannot download {source}: HTTP {resp.status_code}; check the "
                                "URL or pass a local file with --source")
            declared = resp.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > limits.max_bytes:
                raise _too_big(source, limits)
            try:
                return _read(resp, source, limits, deadline)
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
                raise _failed(source, limits, exc) from None
    raise SoarError(f"{source}: more than {limits.max_redirects} redirects; pass the final "
                    "https:// URL or a local file with --source")


def _read(resp: requests.Response, source: str, limits: DownloadLimits, deadline: float) -> bytes:
    import urllib3

    raw = resp.raw
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    body = bytearray()
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _too_slow(source, limits)
        if sock is not None:           # a silent or dripping server cannot pass the deadline
            sock.settimeout(min(limits.read_timeout_s, remaining))
        try:
            piece = raw.read1(1 << 16, decode_content=True)
        except (TimeoutError, urllib3.exceptions.TimeoutError) as exc:
            if deadline - time.monotonic() <= 0:
                raise _too_slow(source, limits) from None
            raise _failed(source, limits, exc) from None
        if not piece:
            return bytes(body)
        body += piece
        if len(body) > limits.max_bytes:
            raise _too_big(source, limits)


def _gunzip(data: bytes, source: str, limits: DownloadLimits) -> bytes:
    try:
        out = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data, limits.max_bytes + 1)
    except zlib.error:
        raise SoarError(f"{source}: a damaged gzip file; download it again or pass a local "
                        "file with --source") from None
    if len(out) > limits.max_bytes:
        raise _too_big(source, limits)
    return out


def _too_big(source: str, limits: DownloadLimits) -> SoarError:
    return SoarError(f"{source}: more than {limits.max_bytes} bytes, not the device database; "
                     "check the URL, or download the file yourself and pass it with --source")


def _too_slow(source: str, limits: DownloadLimits) -> SoarError:
    return SoarError(f"{source}: the download took longer than {limits.deadline_s:g} s; check "
                     "the network, or download the file yourself and pass it with --source")


def _failed(source: str, limits: DownloadLimits, exc: BaseException) -> SoarError:
    import requests
    import urllib3

    text = str(exc)
    if isinstance(exc, (TimeoutError, requests.Timeout, urllib3.exceptions.TimeoutError)) \
            or "timed out" in text:
        return SoarError(f"cannot download {source}: no data for {limits.read_timeout_s:g} s; "
                         "check the network or pass a local file with --source")
    return SoarError(f"cannot download {source}: {type(exc).__name__}; check the network or "
                     "pass a local file with --source")


def import_ddb(conn: psycopg.Connection, source: str,
               limits: DownloadLimits | None = None) -> DdbImport:
    from soar.reference import sources

    check_source(source)
    started = time.monotonic()
    try:
        if sources.is_url(source):
            data = download(source, limits)
            if data[:2] == b"\x1f\x8b":       # a gzip file served as is (not Content-Encoding)
                data = _gunzip(data, source, limits or DownloadLimits())
            text = data.decode("utf-8", errors="replace")
        else:
            with sources.open_bytes(source) as stream:
                text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace").read()
    except SoarError:
        raise
    except (OSError, EOFError) as exc:
        raise SoarError(f"cannot read the DDB from {source}: {exc}") from None
    dropped: list = []
    rows, skipped = parse(text, dropped)
    if not rows:
        raise SoarError(f"{source} holds no DDB device lines ('F','DD1234','model','reg',...)")
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(UPSERT, rows)
    return DdbImport(devices=len(rows), skipped=skipped, too_long=len(dropped),
                     untracked=sum(1 for r in rows if not r[5]),
                     unidentified=sum(1 for r in rows if not r[6]),
                     seconds=time.monotonic() - started)
