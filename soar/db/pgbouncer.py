"""PgBouncer in transaction mode in front of the embedded cluster.

Listens on a unix socket only (mode 0700, like the cluster's); as root it runs as the
`postgres` user, as the cluster does. Used by `soar db pgbouncer` and the tests that
check soar works through a transaction pooler.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from soar.db.embedded import Cluster
from soar.db.sqlfiles import project_dir
from soar.errors import SoarError

TEMPLATE = project_dir("pgbouncer") / "embedded.ini.in"
USERS = ("postgres", "soar_ingest", "soar_worker", "soar_readonly")


@dataclass
class Bouncer:
    cluster: Cluster
    port: int

    @property
    def home(self) -> Path:
        return self.cluster.home / "pgbouncer"

    @property
    def pidfile(self) -> Path:
        return self.home / "pgbouncer.pid"

    def url(self, dbname: str = "soar", user: str = "postgres") -> str:
        return f"postgresql://{user}@/{dbname}?host={self.home}&port={self.port}"

    def _write_config(self) -> Path:
        self.home.mkdir(parents=True, exist_ok=True)
        os.chmod(self.home, 0o700)
        auth = self.home / "userlist.txt"
        auth.write_text("".join(f'"{u}" ""\n' for u in USERS))
        ini = self.home / "pgbouncer.ini"
        ini.write_text(TEMPLATE.read_text().format(
            pg_socket_dir=self.cluster.rundir, pg_port=self.cluster.port, port=self.port,
            socket_dir=self.home, auth_file=auth, logfile=self.home / "pgbouncer.log",
            pidfile=self.pidfile))
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            for p in (self.home, auth, ini):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        return ini

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
        sock = self.home / f".s.PGSQL.{self.port}"
        for _ in range(100):
            if sock.exists():
                return
            time.sleep(0.05)
        raise SoarError(f"pgbouncer did not open {sock}; see {self.home / 'pgbouncer.log'}")

    def stop(self) -> None:
        try:
            pid = int(self.pidfile.read_text().strip())
        except (FileNotFoundError, ValueError):
            return
        try:
            os.kill(pid, 15)
        except ProcessLookupError:
            return
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
