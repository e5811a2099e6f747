"""The embedded default: a local PostgreSQL cluster that soar manages under $SOAR_HOME.

It listens on a unix socket in $SOAR_HOME/run (mode 0700) and on 127.0.0.1 only,
loads TimescaleDB, and trusts only the socket. initdb and pg_ctl refuse to run as
root, so as root the server runs as the `postgres` system user, which owns the data.

The rule this module enforces: soar works only in a $SOAR_HOME that nobody else
controls. An existing $SOAR_HOME must belong to the current user (as root: root or
the server's user) and be writable by no one else; the data folder, the socket folder
and the log are never symbolic links and belong to the same users; the log is written
0600. Otherwise another local user could plant a link and have the server (or root)
write, chmod or chown a file of their choosing, or read the server's log.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from soar.errors import SoarError, last_line

# The fix for an entry soar will not use. Never "remove": it may be a data folder.
MOVE_AWAY = "move it out of the way (soar creates a new one)"
DEFAULT_PORT = 54329
DATABASE = "soar"
SUPERUSER = "postgres"
SERVER_USER = "postgres"      # the system user that runs the server when soar runs as root


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def check_private(path: Path, kind: str, owners: set[int]) -> bool:
    """An entry under $SOAR_HOME soar may use: not a symbolic link, of the kind expected
    ('dir' or 'file'), owned by one of `owners`. False when it does not exist; a
    SoarError naming the fix otherwise."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(st.st_mode):
        raise SoarError(f"{path} is a symbolic link; soar does not follow links under its "
                        f"home: {MOVE_AWAY}")
    if not (stat.S_ISDIR(st.st_mode) if kind == "dir" else stat.S_ISREG(st.st_mode)):
        raise SoarError(f"{path} is not a {'folder' if kind == 'dir' else 'regular file'}: "
                        f"{MOVE_AWAY}")
    if st.st_uid not in owners:
        raise SoarError(f"{path} belongs to {_user_name(st.st_uid)}, not to soar's user: "
                        f"{MOVE_AWAY}")
    return True


def open_private(path: Path, flags: int, owner: tuple[int, int] | None = None) -> int:
    """os.open with O_NOFOLLOW, mode 0600, chowned to `owner` (uid, gid) if given; the
    descriptor, so nothing reopens the path in between."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise SoarError(f"cannot open {path}: {exc.strerror}; {MOVE_AWAY}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode) and not flags & os.O_DIRECTORY:
            raise SoarError(f"{path} is not a regular file: {MOVE_AWAY}")
        os.fchmod(fd, 0o700 if flags & os.O_DIRECTORY else 0o600)
        if owner:
            os.fchown(fd, *owner)
    except BaseException:
        os.close(fd)
        raise
    return fd


def pg_bindir() -> Path:
    """The newest installed PostgreSQL server's bin folder."""
    override = os.environ.get("SOAR_PG_BINDIR")
    if override:
        return Path(override)
    root = Path("/usr/lib/postgresql")
    majors = sorted((p for p in root.glob("*/bin/pg_ctl")), key=lambda p: int(p.parts[-3]))
    if majors:
        return majors[-1].parent
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    raise SoarError("no PostgreSQL server found: run `make setup` (installs it with apt)")


@dataclass
class Cluster:
    home: Path
    port: int = DEFAULT_PORT
    settings: dict[str, str] | None = None   # extra postgresql.conf lines (tests)

    @property
    def datadir(self) -> Path:
        return self.home / "pgdata"

    @property
    def rundir(self) -> Path:
        return self.home / "run"

    @property
    def logfile(self) -> Path:
        return self.home / "postgres.log"

    def conninfo(self, dbname: str = DATABASE, user: str = SUPERUSER) -> str:
        return f"host={self.rundir} port={self.port} dbname={dbname} user={user}"

    def url(self, dbname: str = DATABASE, user: str = SUPERUSER) -> str:
        return f"postgresql://{user}@/{dbname}?host={self.rundir}&port={self.port}"

    # -- running the server's tools as an unprivileged user ---------------------

    def _owner(self) -> str | None:
        """The system user that runs the server: None means the current user."""
        return SERVER_USER if os.geteuid() == 0 else None

    def server_ids(self) -> tuple[int, int] | None:
        """(uid, gid) of the server's system user when it is not the current user."""
        owner = self._owner()
        if not owner:
            return None
        try:
            pw = pwd.getpwnam(owner)
        except KeyError:
            raise SoarError(f"system user {owner!r} missing: run `make setup` "
                            "(the postgresql package creates it)") from None
        return pw.pw_uid, pw.pw_gid

    def trusted_uids(self) -> set[int]:
        """Who may own $SOAR_HOME and what is in it: the current user, and the server's
        user when that is another one."""
        ids = self.server_ids()
        return {os.geteuid()} | ({ids[0]} if ids else set())

    def check_home(self) -> None:
        """Refuse (SoarError naming the fix) a $SOAR_HOME that someone else owns or may
        write, or whose data folder, socket folder or log is a link or someone else's.
        A home that does not exist yet passes (soar creates it)."""
        try:
            st = os.lstat(self.home)
        except FileNotFoundError:
            return
        if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
            raise SoarError(f"{self.home} is not a folder (a link or a file): set SOAR_HOME "
                            "to a folder")
        owners = self.trusted_uids()
        if st.st_uid not in owners:
            raise SoarError(f"{self.home} belongs to {_user_name(st.st_uid)}, not to you: set "
                            "SOAR_HOME to a folder of your own")
        if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise SoarError(f"{self.home} can be written by other users (mode "
                            f"{stat.S_IMODE(st.st_mode):04o}): run `chmod go-w {self.home}`, "
                            "or set SOAR_HOME to a private folder")
        check_private(self.datadir, "dir", owners)
        check_private(self.rundir, "dir", owners)
        check_private(self.logfile, "file", owners)

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [str(pg_bindir() / args[0]), *args[1:]]
        owner = self._owner()
        if owner:
            cmd = ["runuser", "-u", owner, "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if check and proc.returncode != 0:
            reason = last_line(proc.stderr or proc.stdout, str(proc.returncode))
            raise SoarError(f"{args[0]} failed: {reason}"
                            f" (see {self.logfile})")
        return proc

    def _prepare_dirs(self) -> None:
        ids = self.server_ids()
        if not os.path.lexists(self.home):
            # The server's user must traverse the home when it is not ours (as root).
            self.home.mkdir(mode=0o755 if ids else 0o700, parents=True)
        self.check_home()
        # Each entry is opened without following links and changed through its
        # descriptor: nothing can swap the path between the check and the chmod.
        for d in (self.datadir, self.rundir):
            if not os.path.lexists(d):
                d.mkdir(mode=0o700)
            os.close(open_private(d, os.O_RDONLY | os.O_DIRECTORY, ids))
        os.close(open_private(self.logfile, os.O_WRONLY | os.O_CREAT | os.O_APPEND, ids))
        owner = self._owner()
        if owner:
            probe = subprocess.run(["runuser", "-u", owner, "--", "test", "-w", str(self.datadir)])
            if probe.returncode != 0:
                raise SoarError(f"user {owner!r} cannot reach {self.datadir}: choose a SOAR_HOME "
                                "whose parent folders others may traverse (e.g. under /var/lib or /tmp)")

    # -- lifecycle --------------------------------------------------------------

    def initialized(self) -> bool:
        return (self.datadir / "PG_VERSION").exists()

    def init(self) -> None:
        self._prepare_dirs()
        if self.initialized():
            return
        self._run("initdb", "-D", str(self.datadir), "-U", SUPERUSER, "-E", "UTF8",
                  "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256")
        conf = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.rundir}'",
            "shared_preload_libraries": "'timescaledb'",
            "timescaledb.telemetry_level": "off",
            "max_connections": "100",
            "shared_buffers": "256MB",
        }
        conf.update(self.settings or {})
        extra = "".join(f"{k} = {v}\n" for k, v in conf.items())
        with open(self.datadir / "postgresql.auto.conf", "a") as f:
            f.write("# written by soar\n" + extra)

    def running(self) -> bool:
        self.check_home()
        if not self.initialized():
            return False
        return self._run("pg_ctl", "-D", str(self.datadir), "status", check=False).returncode == 0

    def start(self) -> None:
        self.init()
        if self.running():
            return
        if _port_in_use(self.port):
            raise SoarError(f"port {self.port} on 127.0.0.1 is taken: set SOAR_DB_PORT to a free port")
        self._run("pg_ctl", "-D", str(self.datadir), "-l", str(self.logfile), "-w", "-t", "60",
                  "start")
        self._create_database()

    def stop(self) -> None:
        if self.running():
            self._run("pg_ctl", "-D", str(self.datadir), "-m", "fast", "-w", "stop")

    def _create_database(self) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.conninfo("postgres"), autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                (DATABASE,)).fetchone():
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def default_cluster() -> Cluster:
    home = Path(os.environ.get("SOAR_HOME", ".soar")).resolve()
    port = int(os.environ.get("SOAR_DB_PORT", DEFAULT_PORT))
    return Cluster(home=home, port=port)
