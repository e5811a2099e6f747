"""Test layout: tests/unit needs nothing but Python; tests/integration needs the real
PostgreSQL (fixtures in helpers/database.py); tests/acceptance runs the `soar`
command and the whole system as a user does. Shared helpers live in tests/helpers."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.paths import TEST_DATA

pytest_plugins = ["helpers.database"]

@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real recordings kept in the repository (tests/data/README.md)."""
    return TEST_DATA


