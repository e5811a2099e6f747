"""The embedded default: a local PostgreSQL cluster that soar manages under $SOAR_HOME.

It listens on a unix socket in $SOAR_HOME/run (mode 0700) and on 127.0.0.1 only,
loads TimescaleDB, and trusts only the socket. initdb and pg_ctl refuse to run as
root, so as root the server runs as the `postgres` system user, which owns the data.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from soar.errors import SoarError, last_line

DEFAULT_PORT = 54329
DATABASE = "soar"
SUPERUSER = "postgres"


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
        return "postgres" if os.geteuid() == 0 else None

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
        self.home.mkdir(parents=True, exist_ok=True)
        for d in (self.datadir, self.rundir):
            d.mkdir(exist_ok=True)
            os.chmod(d, 0o700)
        self.logfile.touch(exist_ok=True)
        owner = self._owner()
        if owner:
            try:
                pw = pwd.getpwnam(owner)
            except KeyError:
                raise SoarError(f"system user {owner!r} missing: run `make setup` "
                                "(the postgresql package creates it)") from None
            for p in (self.datadir, self.rundir, self.logfile):
                os.chown(p, pw.pw_uid, pw.pw_gid)
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
