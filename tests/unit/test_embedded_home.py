"""The embedded cluster works only in a $SOAR_HOME nobody else controls. Every case is
refused before any PostgreSQL program runs, so no server is needed."""

from __future__ import annotations

import os
import pwd
import stat
import tempfile
from pathlib import Path

import pytest

from soar.db.embedded import Cluster
from soar.errors import SoarError

AS_ROOT = os.geteuid() == 0


@pytest.fixture
def home():
    """A home like the tests' own: made by us, 0755 (as root the server user must
    traverse it)."""
    path = Path(tempfile.mkdtemp(prefix="soar-home-"))
    os.chmod(path, 0o755)
    yield path
    for p in sorted(path.rglob("*"), reverse=True):
        p.unlink() if p.is_symlink() or not p.is_dir() else p.rmdir()
    path.rmdir()


def _refused(cluster: Cluster, *words: str) -> str:
    for action in (cluster.init, cluster.running, cluster.stop):
        with pytest.raises(SoarError) as err:
            action()
        message = str(err.value)
        assert "\n" not in message and all(w in message for w in words), message
    return message


def test_a_home_others_can_write_is_refused(home):
    os.chmod(home, 0o777)
    _refused(Cluster(home=home), "can be written by other users (mode 0777)",
             f"chmod go-w {home}")
    os.chmod(home, 0o775)          # group-writable is others too
    _refused(Cluster(home=home), "mode 0775")
    assert list(home.iterdir()) == []          # nothing created in it


@pytest.mark.skipif(not AS_ROOT, reason="giving a folder to another user needs root")
def test_a_home_of_another_user_is_refused(home):
    nobody = pwd.getpwnam("nobody")
    os.chown(home, nobody.pw_uid, nobody.pw_gid)
    _refused(Cluster(home=home), "belongs to nobody, not to you", "SOAR_HOME")
    assert list(home.iterdir()) == []


def test_a_symlinked_logfile_is_refused_and_its_target_untouched(home, tmp_path):
    target = tmp_path / "someone-elses-file"
    target.write_text("theirs\n")
    os.chmod(target, 0o644)
    (home / "postgres.log").symlink_to(target)
    _refused(Cluster(home=home), f"{home / 'postgres.log'} is a symbolic link", "move it out of the way")
    assert target.read_text() == "theirs\n" and stat.S_IMODE(target.stat().st_mode) == 0o644
    # Dangling: the link would create the file wherever it points.
    (home / "postgres.log").unlink()
    (home / "postgres.log").symlink_to(tmp_path / "would-be-created")
    _refused(Cluster(home=home), "is a symbolic link")
    assert not (tmp_path / "would-be-created").exists()


@pytest.mark.parametrize("entry", ["pgdata", "run"])
def test_symlinked_data_and_socket_folders_are_refused(home, tmp_path, entry):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o755)
    (home / entry).symlink_to(elsewhere, target_is_directory=True)
    _refused(Cluster(home=home), f"{home / entry} is a symbolic link")
    assert stat.S_IMODE(elsewhere.stat().st_mode) == 0o755 and list(elsewhere.iterdir()) == []


def test_a_symlinked_home_is_refused(home, tmp_path):
    link = tmp_path / "link"
    link.symlink_to(home, target_is_directory=True)
    _refused(Cluster(home=link), "is not a folder (a link or a file)")


@pytest.mark.skipif(not AS_ROOT, reason="giving a file to another user needs root")
def test_a_log_of_another_user_is_refused(home):
    log = home / "postgres.log"
    log.write_text("")
    nobody = pwd.getpwnam("nobody")
    os.chown(log, nobody.pw_uid, nobody.pw_gid)
    _refused(Cluster(home=home), f"{log} belongs to nobody")
