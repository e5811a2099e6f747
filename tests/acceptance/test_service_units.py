"""The systemd units an operator installs (deploy/ and the one setup-pgbouncer writes)
are valid units (systemd-analyze verify), run soar as itself with its own
least-privilege login, and restart on failure."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from soar.db import pgbouncer_setup

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SOAR = Path(sys.executable).with_name("soar")


def verify(units: list[Path], tmp_path: Path) -> str:
    """systemd-analyze verify on copies whose programs exist on this machine (the
    installed paths do not) and whose user does (the `soar` user is the operator's)."""
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing: apt-get install systemd"
    copies = []
    for unit in units:
        text = unit.read_text().replace("/opt/soar/.venv/bin/soar", str(SOAR))
        text = text.replace("User=soar", "User=root").replace("Group=soar", "Group=root")
        copy = tmp_path / unit.name
        copy.write_text(text)
        copies.append(str(copy))
    out = subprocess.run([analyze, "verify", "--man=no", *copies], capture_output=True,
                         text=True, timeout=60)
    return (out.stdout + out.stderr).strip()


def test_the_soar_units_are_valid_and_use_each_components_own_login(tmp_path):
    units = sorted(DEPLOY.glob("*.service"))
    assert [u.name for u in units] == ["soar-ingest.service", "soar-worker.service"]
    assert verify(units, tmp_path) == ""
    for unit, command, login in ((units[0], "soar run", "SOAR_INGEST_DATABASE_URL"),
                                 (units[1], "soar worker", "SOAR_WORKER_DATABASE_URL")):
        text = unit.read_text()
        assert f"/bin/{command} $" in text
        assert "EnvironmentFile=/etc/soar/env" in text and login in text
        assert "Environment=SOAR_ALLOW_OWNER=0" in text and "--allow-owner" not in text
        assert "Restart=on-failure" in text and "User=soar" in text
    # The raw archive is on for the ingest, in its state directory (which it may write).
    assert "Environment=SOAR_ARCHIVE_DIR=/var/lib/soar/archive" in units[0].read_text()
    assert "ReadWritePaths=/var/lib/soar" in units[0].read_text()


def test_a_broken_unit_is_caught(tmp_path):
    # The guard above must be able to fail: a unit with a misspelt key is reported.
    bad = tmp_path / "src" / "soar-worker.service"
    bad.parent.mkdir()
    bad.write_text((DEPLOY / "soar-worker.service").read_text().replace("Restart=", "Restrat="))
    assert "Unknown key" in verify([bad], tmp_path)


def test_the_pgbouncer_unit_setup_writes_is_valid(tmp_path):
    ini = tmp_path / "pgbouncer-staging.ini"
    ini.write_text("")
    unit = tmp_path / "src" / "pgbouncer-staging.service"
    unit.parent.mkdir()
    exe = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    unit.write_text(pgbouncer_setup.unit("staging", ini, tmp_path / "env-staging", exe))
    assert verify([unit], tmp_path) == ""
