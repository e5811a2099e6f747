"""The embedded cluster's files: private folders and a 0600 log, on a real cluster."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

from helpers.net import free_port
from soar.db.embedded import Cluster


def test_the_running_clusters_log_is_written_0600(pg_cluster):
    st = os.lstat(pg_cluster.logfile)
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_size > 0                              # the server did write to it
    for d in (pg_cluster.datadir, pg_cluster.rundir):
        assert stat.S_IMODE(os.lstat(d).st_mode) == 0o700, d


def test_init_makes_an_existing_readable_log_private():
    home = Path(tempfile.mkdtemp(prefix="soar-init-"))
    os.chmod(home, 0o755)
    try:
        (home / "postgres.log").write_text("from an older soar\n")
        os.chmod(home / "postgres.log", 0o644)
        cluster = Cluster(home=home, port=free_port())
        cluster.init()
        assert cluster.initialized()
        assert stat.S_IMODE(os.lstat(cluster.logfile).st_mode) == 0o600
        assert cluster.logfile.read_text() == "from an older soar\n"     # kept, not truncated
        assert stat.S_IMODE(os.lstat(cluster.datadir).st_mode) == 0o700
        assert os.lstat(cluster.logfile).st_uid in cluster.trusted_uids()
    finally:
        shutil.rmtree(home, ignore_errors=True)
