"""A start of `soar` imports only what the command run needs: the command modules are
all imported to register their commands, so a library one of them imports at its top
is paid by every `soar` start (the acceptance tests start hundreds). This guards the
libraries the command bodies import instead."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Each is imported by the commands that use it, never by `import soar.cli` or --help.
DEFERRED = (
    "soar.ingest", "soar.feeds", "soar.simulate", "soar.web", "soar.backfill",
    "soar.reference.airports", "soar.reference.places", "soar.reference.sources",
    "soar_worker", "starlette", "uvicorn", "orjson", "requests",
    "rich.progress", "pyModeS", "aprslib", "alembic", "sqlalchemy", "matplotlib",
)

# Runs the app as `soar ARGS...` would (a command's error ends it like an exit), then
# lists the modules it imported.
SCRIPT = """
import sys
from soar.cli import app
try:
    app(sys.argv[1:], prog_name="soar")
except (SystemExit, Exception):
    pass
print("--- modules ---")
print("\\n".join(sorted(sys.modules)))
"""


def _imported(*args: str) -> tuple[str, set[str]]:
    done = subprocess.run([sys.executable, "-c", SCRIPT, *args], capture_output=True,
                          text=True, check=True, timeout=120)
    output, _, modules = done.stdout.partition("--- modules ---\n")
    return output, set(modules.split())


def _deferred_in(modules: set[str]) -> list[str]:
    return sorted(m for m in modules
                  if any(m == name or m.startswith(name + ".") for name in DEFERRED))


@pytest.mark.parametrize("args", [
    ["--help"],
    ["replay", "--help"],
    ["web", "--help"],
    ["db", "--help"],
], ids=" ".join)
def test_help_imports_no_command_library(args):
    output, modules = _imported(*args)
    assert "Usage: soar" in output          # the help was shown: the guard ran the command
    assert "soar.cli.ingest" in modules and "soar.cli.web" in modules
    assert _deferred_in(modules) == []


def test_the_guard_sees_a_command_library_imported():
    """A command body that runs imports its library: the guard's check is not blind."""
    _, modules = _imported("simulate", "--out", "/nonexistent/x", "--duration", "0")
    assert "soar.simulate" in _deferred_in(modules)
