"""Where the test data is: the real recordings in tests/data (each file's source and
licence in tests/data/README.md) and the small excerpts in tests/fixtures. Nothing
outside the checkout is read: a plain clone runs the suite."""

from __future__ import annotations

from pathlib import Path

_TESTS = Path(__file__).resolve().parents[1]
FIXTURES = _TESTS / "fixtures"
TEST_DATA = _TESTS / "data"
