"""Reference-data sources for the importers: a local file (plain or .gz), a folder,
or an http(s) URL, streamed as bytes so COPY can take them without parsing in Python."""

from __future__ import annotations

import gzip
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import requests

from soar.errors import SoarError, first_line

CHUNK = 1 << 16


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def join(base: str, name: str) -> str:
    """`name` inside a folder or under a URL prefix."""
    if is_url(base):
        return base.rstrip("/") + "/" + name
    return str(Path(base) / name)


def exists(source: str, timeout: float = 30.0) -> bool:
    if not is_url(source):
        return Path(source).is_file()
    try:
        resp = requests.head(source, timeout=timeout, allow_redirects=True)
    except requests.RequestException:
        return False
    return resp.status_code == 200


@contextmanager
def open_bytes(source: str, timeout: float = 60.0) -> Iterator[BinaryIO]:
    """The decompressed bytes of a file or URL (gzip recognised by its magic bytes)."""
    tmp: str | None = None
    try:
        if is_url(source):
            fd, tmp = tempfile.mkstemp(prefix="soar-import-")
            try:
                with requests.get(source, stream=True, timeout=timeout) as resp:
                    if resp.status_code != 200:
                        raise SoarError(f"cannot download {source}: HTTP {resp.status_code}; "
                                        "check the URL or pass a local file with --source")
                    with os.fdopen(fd, "wb") as out:
                        for chunk in resp.iter_content(CHUNK):
                            out.write(chunk)
            except requests.RequestException as exc:
                raise SoarError(f"cannot download {source}: {type(exc).__name__}; "
                                "check the network or pass a local file with --source") from None
            path = Path(tmp)
        else:
            path = Path(source)
            if not path.is_file():
                raise SoarError(f"{source}: no such file; pass an existing file or folder with --source")
        with open(path, "rb") as raw:
            magic = raw.read(2)
            raw.seek(0)
            if magic == b"\x1f\x8b":
                with gzip.GzipFile(fileobj=raw) as gz:
                    yield gz
            else:
                yield raw
    finally:
        if tmp:
            os.unlink(tmp)


def read_header(stream: BinaryIO) -> tuple[list[str], bytes]:
    """The CSV header's column names (lower case, unquoted) and the raw header line."""
    line = stream.readline()
    if not line:
        raise SoarError("empty file")
    text = line.decode("utf-8-sig").strip()
    names = [c.strip().strip('"').strip().lower() for c in text.split(",")]
    return names, line


def copy_stream(stream: BinaryIO, copy) -> int:
    """Feed the rest of a stream to a psycopg COPY; returns bytes written."""
    total = 0
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            return total
        copy.write(chunk)
        total += len(chunk)



def load_csv(conn, source: str, table: str, required: tuple[str, ...], what: str) -> list[str]:
    """COPY a CSV into a new temporary table `table` (dropped at commit) of text columns
    named after its header; returns the header. `what` names the expected file in errors."""
    import psycopg
    from psycopg import sql

    with open_bytes(source) as stream:
        header, _ = read_header(stream)
        missing = [c for c in required if c not in header]
        if missing:
            raise SoarError(f"{source} is not {what}: missing column(s) {', '.join(missing)}")
        # Column names come from the file: quoted as identifiers, never pasted into SQL.
        cols = sql.SQL(", ").join(
            sql.SQL("{} text").format(sql.Identifier(c or f"_col{i}")) for i, c in enumerate(header))
        conn.execute(sql.SQL("CREATE TEMP TABLE {} ({}) ON COMMIT DROP").format(
            sql.Identifier(table), cols))
        try:
            with conn.cursor().copy(sql.SQL("COPY {} FROM STDIN (FORMAT csv)").format(
                    sql.Identifier(table))) as copy:
                copy_stream(stream, copy)
        except psycopg.errors.DataError as exc:
            raise SoarError(f"{source}: malformed CSV ({first_line(exc)})") from None
    return header
