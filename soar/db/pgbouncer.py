"""PgBouncer in transaction mode in front of the embedded cluster.

Listens on a unix socket only (mode 0700, like the cluster's); as root it runs as the
`postgres` user, as the cluster does. Used by `soar db pgbouncer` and the tests that
check soar works through a transaction pooler.

The rules this module enforces: its folder under $SOAR_HOME and the files in it are
checked and written like the cluster's (no links followed, 0600 files, see
soar.db.embedded), and `stop` signals only the pgbouncer it started: a pidfile left by
a crash or a reboot may name any process by now, so the process must be pgbouncer
running with this folder's configuration (/proc/PID/cmdline) before it is signalled.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from soar.db.embedded import Cluster, check_private, open_private
from soar.db.sqlfiles import project_dir
from soar.errors import SoarError

log = logging.getLogger(__name__)

TEMPLATE = project_dir("pgbouncer") / "embedded.ini.in"
USERS = ("postgres", "soar_ingest", "soar_worker", "soar_readonly")


@dataclass
class Bouncer:
    cluster: Cluster
    port: int
    pool_size: int = 20          # server connections per database and user

    @property
    def home(self) -> Path:
        return self.cluster.home / "pgbouncer"

    @property
    def pidfile(self) -> Path:
        return self.home / "pgbouncer.pid"

    @property
    def ini(self) -> Path:
        return self.home / "pgbouncer.ini"

    @property
    def logfile(self) -> Path:
        return self.home / "pgbouncer.log"

    def url(self, dbname: str = "soar", user: str = "postgres") -> str:
        return f"postgresql://{user}@/{dbname}?host={self.home}&port={self.port}"

    def _write(self, path: Path, text: str, owner: tuple[int, int] | None) -> None:
        with os.fdopen(open_private(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, owner), "w") as f:
            f.write(text)

    def _write_config(self) -> Path:
        self.cluster.check_home()
        owners = self.cluster.trusted_uids()
        owner = self.cluster.server_ids()
        if not check_private(self.home, "dir", owners):
            self.home.mkdir(mode=0o700, parents=True)
        os.close(open_private(self.home, os.O_RDONLY | os.O_DIRECTORY, owner))
        auth = self.home / "userlist.txt"
        self._write(auth, "".join(f'"{u}" ""\n' for u in USERS), owner)
        self._write(self.ini, TEMPLATE.read_text().format(
            pg_socket_dir=self.cluster.rundir, pg_port=self.cluster.port, port=self.port,
            socket_dir=self.home, auth_file=auth, logfile=self.logfile,
            pidfile=self.pidfile, pool_size=self.pool_size), owner)
        os.close(open_private(self.logfile, os.O_WRONLY | os.O_CREAT | os.O_APPEND, owner))
        return self.ini

    def start(self) -> None:
        exe = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        if not os.path.exists(exe):
            raise SoarError("pgbouncer not installed: run `make setup`")
        ini = self._write_config()
        cmd = [exe, "-d", str(ini)]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SoarError(f"pgbouncer failed to start: {(proc.stderr or proc.stdout).strip()}")
        # Started means listening *and* its pidfile written: pgbouncer may open its
        # socket before it writes the pidfile (seen in CI), and a start that returned
        # in between left a stop() that found no pidfile, and so no pgbouncer to end.
        sock = self.home / f".s.PGSQL.{self.port}"
        for _ in range(200):
            pid = self._pid()
            if sock.exists() and pid is not None and self.owns(pid):
                return
            time.sleep(0.05)
        raise SoarError(f"pgbouncer did not open {sock} and write {self.pidfile}; see "
                        f"{self.home / 'pgbouncer.log'}")

    def _pid(self) -> int | None:
        """The PID in the pidfile (read without following a link), or None."""
        try:
            fd = os.open(self.pidfile, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            return None
        with os.fdopen(fd) as f:
            text = f.read(32).strip()
        return int(text) if text.isdigit() else None

    def owns(self, pid: int) -> bool:
        """Is `pid` the pgbouncer started with this folder's configuration?"""
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:       # gone, or no /proc: never signal what cannot be checked
            return False
        return os.path.basename(argv[0]) == b"pgbouncer" and os.fsencode(self.ini) in argv

    def stop(self) -> str:
        """SIGTERM our pgbouncer and wait (up to 5 s) until it is gone; what happened,
        in a few words. A pidfile naming another process is left alone."""
        pid = self._pid()
        if pid is None:
            return "not running"
        if not self.owns(pid):
            log.warning("%s names PID %d, which is not this pgbouncer (%s): not signalled",
                        self.pidfile, pid, self.ini)
            return f"not running (stale {self.pidfile} names PID {pid}, another process: left alone)"
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return "not running"
        for _ in range(100):
            if not self.owns(pid):      # gone (or, were the PID reused, not ours any more)
                return "stopped"
            time.sleep(0.05)
        return f"still stopping (PID {pid})"
