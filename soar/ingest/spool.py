"""The shutdown spool: batches the database did not acknowledge by the shutdown
deadline, kept on disk and written at the next start before any new data.

Rules this module keeps:
- A file is one Batch, written atomically: a temporary name, fsync, rename, fsync
  of the folder. A crash while spooling leaves the whole file or none of it, never
  half a batch.
- A file is removed only after its batch was committed (or rejected by the database
  and counted): a crash while restoring leaves it to be written again. A batch keeps
  its idempotency key (`Batch.key`, set by the writer), so a batch committed once and
  also spooled (its commit acknowledgement lost, or committed by the restore just
  before a crash) is not stored twice.
- One folder per database (`<spool>/<dbname>-<hash of host, port, dbname>`): a start
  writes the spool of the database it writes to, never another one's.
- Format: a header line (`soar-spool 1`), then a pickle of {"soar": version,
  "target": database, "created": UTC time, "key": Batch.key, "batch": Batch}.
  Pickle because a Batch holds fixes, aircraft rows, receiver beacons and flight ops
  (dataclasses with datetimes and UUIDs) that a second format would have to keep in
  step with. Unpickling runs code named by the file, so only this user may have
  written it: the folders are created 0700 and refused if they are symlinks, owned
  by someone else or open to others; files are opened without following symlinks
  and refused unless they are regular files of this user that nobody else may write.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import pickle
import stat
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

from soar import __version__
from soar.errors import SoarError
from soar.units import UTC

HEADER = b"soar-spool 1\n"
SUFFIX = ".batch"


def target_of(conninfo: str) -> str:
    """The database a conninfo writes to, without user or password: host, port, name."""
    params = conninfo_to_dict(conninfo)
    return (f"{params.get('host') or params.get('hostaddr') or 'localhost'}:"
            f"{params.get('port') or 5432}/{params.get('dbname') or params.get('user') or ''}")


def _check_folder(path: Path) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise SoarError(f"spool folder {path} is missing: create it or set --spool-dir") from None
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise SoarError(f"spool folder {path} is a symlink or not a folder: remove it or set "
                        "--spool-dir to a folder of your own")
    if st.st_uid != os.geteuid():
        raise SoarError(f"spool folder {path} belongs to uid {st.st_uid}, not to this user: "
                        "set --spool-dir to a folder of your own")
    if st.st_mode & 0o077:
        raise SoarError(f"spool folder {path} is open to other users "
                        f"(mode {stat.S_IMODE(st.st_mode):o}): run `chmod 700 {path}`")


def _make_folder(path: Path) -> None:
    if not path.parent.exists():
        # The parent is usually $SOAR_HOME, where the embedded cluster lives too: as root
        # it must stay traversable by the `postgres` user that runs the server there
        # (soar.db.embedded makes it the same way); only the spool folders are 0700.
        mode = 0o755 if os.geteuid() == 0 else 0o700
        path.parent.mkdir(mode=mode, parents=True, exist_ok=True)
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        pass
    _check_folder(path)


class Spool:
    """The spool of one database: `add` at shutdown, `pending` + `load` + `remove` at
    the next start (under `restoring`, so two processes never write the same file)."""

    def __init__(self, root: Path, conninfo: str):
        self.root = Path(root).absolute()
        self.target = target_of(conninfo)
        name = self.target.rsplit("/", 1)[-1] or "db"
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:40]
        digest = hashlib.sha256(self.target.encode()).hexdigest()[:12]
        self.folder = self.root / f"{safe}-{digest}"
        self._seq = 0

    def prepare(self) -> None:
        """Create (0700) or check the folders; a SoarError names what is wrong."""
        _make_folder(self.root)
        _make_folder(self.folder)

    def add(self, batch) -> Path:
        """Write one batch atomically; returns its file."""
        self._seq += 1
        name = f"{time.time_ns():020d}-{os.getpid()}-{self._seq:06d}{SUFFIX}"
        record = {"soar": __version__, "target": self.target,
                  "created": datetime.now(UTC).isoformat(),
                  "key": getattr(batch, "key", None), "batch": batch}
        data = HEADER + pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)
        tmp = self.folder / f".{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        final = self.folder / name
        os.rename(tmp, final)
        self._sync_folder()
        return final

    def pending(self) -> list[Path]:
        """Spooled batches of this database, oldest first (the order they were made)."""
        if not self.folder.exists():
            return []
        return sorted(p for p in self.folder.iterdir()
                      if p.name.endswith(SUFFIX) and not p.name.startswith("."))

    def others(self) -> dict[Path, int]:
        """Spool folders of other databases that hold batches (for a warning)."""
        out = {}
        if self.root.is_dir():
            for d in self.root.iterdir():
                if d != self.folder and d.is_dir() and not d.is_symlink():
                    n = sum(1 for p in d.iterdir() if p.name.endswith(SUFFIX))
                    if n:
                        out[d] = n
        return out

    def load(self, path: Path):
        """The Batch in a spool file (after checking who wrote it)."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError as exc:
            raise SoarError(f"cannot open spooled batch {path}: {exc.strerror}") from None
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
                raise SoarError(f"spooled batch {path} is not a file of this user's own "
                                "(or others may write it): move it out of the spool folder")
            data = f.read()
        if not data.startswith(HEADER):
            raise SoarError(f"{path} is not a soar spool file (or a newer format): "
                            "move it out of the spool folder")
        try:
            # Safe to unpickle: the folder and the file were checked to be this user's own.
            record = pickle.loads(data[len(HEADER):])
        except Exception as exc:   # noqa: BLE001 -- any unpickling failure means the same
            raise SoarError(f"cannot read spooled batch {path} ({type(exc).__name__}: {exc}): "
                            "written by another version of soar? Run that version once to "
                            "write it, or move the file out of the spool folder") from None
        if record.get("target") != self.target:
            raise SoarError(f"spooled batch {path} is for {record.get('target')}, not "
                            f"{self.target}: move it to that database's spool folder")
        return record["batch"]

    def remove(self, path: Path) -> None:
        path.unlink()
        self._sync_folder()

    @contextlib.contextmanager
    def restoring(self) -> Iterator[bool]:
        """An exclusive lock on this database's spool; yields False (and waits for
        nothing) when another process holds it: that one writes the batches."""
        self.prepare()
        fd = os.open(self.folder / ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _sync_folder(self) -> None:
        fd = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
