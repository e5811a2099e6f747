"""OGN's device database (DDB): registrations, models, and each owner's privacy
choices onto `aircraft` rows.

`tracked = N`: the ingest stores no fixes of the device (the running pipeline re-reads
this every 5 minutes); `identified = N`: its registration is not shown. Format of
DDB's /download: a CSV whose values are quoted with `'`, lines starting with `#` are
comments: DEVICE_TYPE (F FLARM, I ICAO, O OGN), DEVICE_ID (6 hex digits),
AIRCRAFT_MODEL, REGISTRATION, CN, TRACKED, IDENTIFIED (Y/N), then optional columns.

The rules this module enforces: an empty TRACKED or IDENTIFIED means yes (OGN's
default: only an explicit N withholds), any other value than Y, N or empty skips the
line (counted); and the privacy choices are fetched over HTTPS, never plain HTTP from
another host, since whoever could alter them in transit could make soar store the
positions of aircraft whose owners said no.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import psycopg

from soar.db import sqlfiles
from soar.errors import SoarError
from soar.records import AddressType, aircraft_id
from soar.reference import sources

DEFAULT_SOURCE = "https://ddb.glidernet.org/download/"
DEVICE_TYPES = {"F": AddressType.FLARM, "I": AddressType.ICAO, "O": AddressType.OGN}
# TRACKED / IDENTIFIED values; empty is OGN's default, yes.
FLAGS = {"Y": True, "N": False, "": True}

UPSERT = sqlfiles.queries("queries/reference.sql")["ddb_upsert"]


@dataclass
class DdbImport:
    devices: int = 0
    skipped: int = 0        # rows with an unknown device type or a malformed id
    untracked: int = 0
    unidentified: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        return (f"ddb: {self.devices} devices ({self.untracked} not tracked, {self.unidentified} "
                f"not identified, {self.skipped} skipped) in {self.seconds:.1f} s")


def parse(text: str) -> tuple[list[tuple], int]:
    """Rows ready for UPSERT, and how many lines were skipped."""
    rows, skipped = [], 0
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
        rows.append((aircraft_id(address_type, address), address, int(address_type),
                     registration.strip() or None,
                     model.strip() if model.strip() and model.strip() != "Unknown" else None,
                     is_tracked, is_identified, cn.strip() or None))
    return rows, skipped


def _loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def check_source(source: str) -> None:
    """Refuse plain HTTP from another host (the privacy choices could be altered on the
    way); HTTPS, a local file, or HTTP on loopback (a local mirror, the tests) pass."""
    if source.lower().startswith("http://") and not _loopback(urlsplit(source).hostname):
        raise SoarError(f"{source}: the device database carries owners' privacy choices; "
                        f"fetch it over https:// (default {DEFAULT_SOURCE}) or pass a local "
                        "file with --source")


def import_ddb(conn: psycopg.Connection, source: str) -> DdbImport:
    check_source(source)
    started = time.monotonic()
    try:
        with sources.open_bytes(source) as stream:
            text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace").read()
    except SoarError:
        raise
    except OSError as exc:
        raise SoarError(f"cannot read the DDB from {source}: {exc}") from None
    rows, skipped = parse(text)
    if not rows:
        raise SoarError(f"{source} holds no DDB device lines ('F','DD1234','model','reg',...)")
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(UPSERT, rows)
    return DdbImport(devices=len(rows), skipped=skipped,
                     untracked=sum(1 for r in rows if not r[5]),
                     unidentified=sum(1 for r in rows if not r[6]),
                     seconds=time.monotonic() - started)
