"""Retention: fixes age out by whole chunks; flights and everything derived stay.

A chunk goes only when ALL of it is older than the cut-off (`show_chunks`; one day per
chunk, `sql/schema/016_fixes.sql`), so a prune never deletes rows one by one and never
touches the chunks ingest is writing. Each chunk is dropped in its own transaction
with a short `lock_timeout`: a reader holding an old chunk (a long report) makes that
chunk wait for the next prune instead of making the prune wait, because a DROP queued
behind a reader would queue every later reader and writer of that chunk behind itself
(the lock pile-up of the incident soar replaces). Flights keep their times,
positions, runways and places; only their fixes (the tracks) go. The drop goes
through `drop_fix_chunk_v1` (SECURITY DEFINER: old chunks of fixes only, at least a
day old), so the worker's login can run retention on its own schedule without owning
the table.
"""

from __future__ import annotations

import json
import os
import re
from datetime import timedelta
from pathlib import Path
from typing import NamedTuple

import psycopg
from psycopg import sql

from soar import db
from soar.db import sqlfiles
from soar.errors import SoarError

QUERIES = sqlfiles.queries("queries/retention.sql")
_UNITS = {"h": 3600, "d": 86400, "w": 7 * 86400}
MIN_KEEP = timedelta(days=1)      # the newest chunk is never a candidate


def parse_duration(text: str, what: str = "age",
                   minimum: timedelta = timedelta(hours=1)) -> timedelta:
    """'45d', '12h', '2w' -> timedelta; anything else is an error naming the format."""
    m = re.fullmatch(r"\s*(\d+)\s*([hdw])\s*", text or "")
    if not m:
        raise SoarError(f"{what} {text!r}: give a number and a unit h, d or w, e.g. 45d")
    value = timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])
    if value < minimum:
        raise SoarError(f"{what} {text!r}: at least {minimum}")
    return value


def parse_age(text: str) -> timedelta:
    """How old fixes may get: at least a day (never the chunk being written)."""
    return parse_duration(text, "age", MIN_KEEP)


LOCK_TIMEOUT_S = 2.0


class Pruned(NamedTuple):
    chunks: list[str]          # schema-qualified names of the chunks dropped (or, dry run, to drop)
    busy: list[str]            # chunks in use by someone else: left for the next prune
    fixes: int | None          # rows in them (counted only on a dry run: counting costs a scan)
    older_than: str            # the cut-off, as the server computed it (ISO, UTC)


def prune(url: str, older_than: timedelta, dry_run: bool = False,
          archive_dir: Path | None = None) -> Pruned:
    """Drop (or, dry run, list) the chunks of fixes wholly older than `older_than`, as
    any login allowed to call drop_fix_chunk_v1 (the owner, the worker).

    `archive_dir`: first write each chunk there (`write_chunk`), in the transaction
    that drops it, with the chunk locked: a chunk whose file cannot be written is not
    dropped (the error names it), and no row committed between the copy and the drop
    can be missed. The lock needs the owner's login."""
    with db.connect(url, autocommit=True) as conn:
        cutoff = conn.execute(QUERIES["cutoff"], (older_than,)).fetchone()[0]
        rows = conn.execute(QUERIES["old_chunks"], (older_than, dry_run)).fetchall()
        if dry_run:
            return Pruned([r[0] for r in rows], [], sum(r[1] for r in rows), cutoff.isoformat())
        dropped, busy = [], []
        for name, _ in rows:
            try:
                with conn.transaction():
                    conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(
                        sql.Literal(f"{int(LOCK_TIMEOUT_S * 1000)}ms")))
                    if archive_dir is not None:
                        conn.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(
                            sql.Identifier(*name.split("."))))
                        file = write_chunk(conn, name, archive_dir)
                    if conn.execute(QUERIES["drop_chunk"], (name, older_than)).fetchone()[0]:
                        dropped.append(name)
                    elif archive_dir is not None:
                        file.unlink()             # not dropped after all: no archive of it
            except psycopg.errors.LockNotAvailable:
                busy.append(name)
        return Pruned(dropped, busy, None, cutoff.isoformat())


# -- the chunk archive: `soar db prune --archive DIR`, `soar db restore-archive FILE` --

_MAGIC = b"soar-fixes-chunk 1\n"   # then one JSON line (columns, rows), then binary COPY
ARCHIVE_SUFFIX = ".fixes.zst"


def _columns(conn) -> list[list[str]]:
    return [[n, t] for n, t in conn.execute(QUERIES["fix_columns"]).fetchall()]


def write_chunk(conn, chunk: str, directory: Path) -> Path:
    """Write a chunk of fixes as zstd-compressed binary COPY, with its columns, to
    DIRECTORY/<chunk>.fixes.zst (fsynced, renamed into place); the path. Binary COPY:
    the rows exactly as stored, read back by the same COPY, no type conversions."""
    import zstandard  # only when archiving

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{chunk.rpartition('.')[2]}{ARCHIVE_SUFFIX}"
    tmp = path.with_name(path.name + ".part")
    rows = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
        sql.Identifier(*chunk.split(".")))).fetchone()[0]
    columns = _columns(conn)
    header = json.dumps({"chunk": chunk, "columns": columns, "rows": rows})
    names = sql.SQL(", ").join(sql.Identifier(n) for n, _ in columns)
    with open(tmp, "wb") as raw:
        with zstandard.ZstdCompressor(level=3, write_checksum=True).stream_writer(
                raw, closefd=False) as out:
            out.write(_MAGIC + header.encode() + b"\n")
            with conn.cursor().copy(sql.SQL("COPY (SELECT {} FROM {}) TO STDOUT (FORMAT binary)")
                                    .format(names, sql.Identifier(*chunk.split(".")))) as copy:
                for data in copy:
                    out.write(data)
        raw.flush()
        os.fsync(raw.fileno())
    os.replace(tmp, path)
    return path


def restore_chunk(url: str, path: Path) -> int:
    """Put an archived chunk's fixes back into `fixes` (one transaction); the rows.
    Restoring a file twice stores its rows twice (fixes has no unique key)."""
    import zstandard

    with open(path, "rb") as raw:
        reader = zstandard.ZstdDecompressor().stream_reader(raw)
        try:
            head = reader.read(len(_MAGIC))
            if head != _MAGIC:
                raise SoarError(f"{path}: not a chunk archive of `soar db prune --archive`")
            line = b""
            while not line.endswith(b"\n") and len(line) < 1 << 20:
                line += reader.read(1)
            meta = json.loads(line)
            with db.connect(url) as conn:
                if meta["columns"] != _columns(conn):
                    raise SoarError(f"{path}: its columns {meta['columns']} are not today's "
                                    "fixes columns; restore it into a database at the schema "
                                    "revision that pruned it")
                cols = sql.SQL(", ").join(sql.Identifier(n) for n, _ in meta["columns"])
                with conn.cursor().copy(sql.SQL("COPY fixes ({}) FROM STDIN (FORMAT binary)")
                                        .format(cols)) as copy:
                    while data := reader.read(1 << 16):
                        copy.write(data)
        except (zstandard.ZstdError, ValueError, KeyError) as exc:
            raise SoarError(f"{path}: damaged chunk archive ({exc}); nothing restored") from None
    return meta["rows"]
