"""Where the test data is: the real recordings in ../shared/data (beside the checkout,
or SOAR_SHARED_DATA) and the small excerpts in tests/fixtures."""

from __future__ import annotations

import os
from pathlib import Path

_TESTS = Path(__file__).resolve().parents[1]
FIXTURES = _TESTS / "fixtures"
SHARED_DATA = _TESTS.parents[1] / "shared" / "data"
if not SHARED_DATA.exists():  # a clone elsewhere: shared/ sits beside the checkout
    SHARED_DATA = Path(os.environ.get("SOAR_SHARED_DATA", "../shared/data")).resolve()
