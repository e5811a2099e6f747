"""Test layout: tests/unit needs nothing but Python; tests/integration needs the real
PostgreSQL (fixtures in helpers/database.py); tests/acceptance runs the `soar`
command and the whole system as a user does. Shared helpers live in tests/helpers."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.paths import SHARED_DATA

pytest_plugins = ["helpers.database"]

@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.fail(f"shared data not found at {SHARED_DATA}: set SOAR_SHARED_DATA")
    return SHARED_DATA


