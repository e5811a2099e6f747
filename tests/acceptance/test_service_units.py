"""The systemd units an operator installs (deploy/ and the one setup-pgbouncer writes)
are valid units (systemd-analyze verify), run soar as itself with its own
least-privilege login (loaded from its own file: no unit loads the owner's), and
restart on failure."""

from __future__ import annotations

import re
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


# What every soar unit keeps from the system (the web server, the one facing the
# internet, adds more).
HARDENING = ("NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes")


def test_the_soar_units_are_valid_and_use_each_components_own_login(tmp_path):
    units = sorted(DEPLOY.glob("*.service"))
    assert [u.name for u in units] == ["soar-ingest.service", "soar-web.service",
                                       "soar-worker.service"]
    assert verify(units, tmp_path) == ""
    for unit, command, login in ((units[0], "soar run", "SOAR_INGEST_DATABASE_URL"),
                                 (units[1], "soar web", "SOAR_READONLY_DATABASE_URL"),
                                 (units[2], "soar worker", "SOAR_WORKER_DATABASE_URL")):
        text = unit.read_text()
        assert f"/bin/{command} $" in text
        assert login in text
        assert "Environment=SOAR_ALLOW_OWNER=0" in text and "--allow-owner" not in text
        assert "Restart=on-failure" in text and "User=soar" in text
        for hardening in HARDENING:
            assert f"\n{hardening}\n" in text, (unit.name, hardening)
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


OWNER_KEY = "SOAR_DATABASE_URL"
OWN_KEYS = {"ingest": {"SOAR_INGEST_DATABASE_URL", "SOAR_RUN_ARGS"},
            "worker": {"SOAR_WORKER_DATABASE_URL", "SOAR_WORKER_ARGS", "SOAR_WORKER_PELIAS_URL",
                       "SOAR_ALERT_WEBHOOK_URL", "SOAR_WORKER_ALERT_WEBHOOK_ALLOW_HTTP"},
            "web": {"SOAR_READONLY_DATABASE_URL", "SOAR_WEB_ARGS", "SOAR_WEB_TILE_URL"}}
# The login each service's file holds (the web server's is the read-only one).
OWN_LOGIN = {"ingest": "SOAR_INGEST_DATABASE_URL", "worker": "SOAR_WORKER_DATABASE_URL",
             "web": "SOAR_READONLY_DATABASE_URL"}


def environment_files(unit_text: str) -> list[str]:
    return [v.lstrip("-") for v in re.findall(r"^EnvironmentFile=(.+)$", unit_text, re.M)]


def test_no_unit_loads_the_owners_login():
    assert {u.name for u in DEPLOY.glob("*.service")} == {
        f"soar-{component}.service" for component in OWN_KEYS}
    for component in OWN_KEYS:
        text = (DEPLOY / f"soar-{component}.service").read_text()
        assert environment_files(text) == [str(pgbouncer_setup.service_env_file(
            "production", component))]
        assert str(pgbouncer_setup.env_file("production")) not in environment_files(text)
        assert not re.search(rf"^Environment=.*\b{OWNER_KEY}=", text, re.M)


def documented_file(name: str) -> str:
    """The example of /etc/soar/NAME in docs/operations.md (a fenced block after it)."""
    docs = (ROOT / "docs" / "operations.md").read_text()
    m = re.search(rf"`/etc/soar/{re.escape(name)}`[^`]*?:\n+```[a-z]*\n(.*?)```", docs, re.S)
    assert m, f"docs/operations.md shows no /etc/soar/{name}"
    return m.group(1)


def test_the_documented_service_files_hold_only_their_own_login_and_read_whole():
    for component, keys in OWN_KEYS.items():
        values = pgbouncer_setup.parse_env_text(documented_file(f"{component}.env"))
        assert OWNER_KEY not in values and set(values) <= keys, values
        assert OWN_LOGIN[component] in values
    ingest = pgbouncer_setup.parse_env_text(documented_file("ingest.env"))
    assert len(ingest["SOAR_RUN_ARGS"].split()) > 2          # an unquoted value keeps its words
    owner = pgbouncer_setup.parse_env_text(documented_file("env"))
    assert OWNER_KEY in owner


def test_ingest_shutdown_budget_ends_with_a_margin_below_the_units_stop_timeout():
    """systemd kills what has not stopped by TimeoutStopSec: the whole shutdown (the
    readers' joins and the writer share the deadline; then the grace; then spooling)
    must end well before it, or batches die unspooled."""
    from soar.ingest.pipeline import PipelineConfig

    unit = (DEPLOY / "soar-ingest.service").read_text()
    timeout = int(re.search(r"^TimeoutStopSec=(\d+)$", unit, flags=re.M).group(1))
    cfg = PipelineConfig()
    start = re.search(r"^ExecStart=(.*)$", unit, flags=re.M).group(1)
    assert "--shutdown-deadline" not in start           # the default budget is the one checked
    assert cfg.shutdown_deadline_s + cfg.abandon_grace_s + 30 <= timeout
