"""The schema's length constraints (sql/schema/120_text_limits.sql) are the limits the
edge applies (soar.columns.TEXT_MAX): one set of numbers, checked equal here."""

from __future__ import annotations

import re
from pathlib import Path

from soar.columns import STATUS_MAX, TEXT_MAX

SQL = Path(__file__).resolve().parents[2] / "sql" / "schema" / "120_text_limits.sql"
_CHECK = re.compile(r"ALTER TABLE (\w+) ADD CONSTRAINT \w+ CHECK \(char_length\((\w+)\) <= (\d+)\)")
_FIT = re.compile(r"UPDATE (\w+) SET (\w+) = .*WHERE char_length\(\2\) > (\d+);")


def test_every_column_limit_is_a_check_constraint_of_the_same_length():
    text = SQL.read_text()
    checks = {f"{t}.{c}": int(n) for t, c, n in _CHECK.findall(text)}
    assert checks == TEXT_MAX
    fits = {f"{t}.{c}": int(n) for t, c, n in _FIT.findall(text)}
    assert fits == TEXT_MAX                       # what is made to fit first, too
    assert f"CHECK (octet_length(status::text) <= {STATUS_MAX})" in text


def test_a_changed_limit_would_be_caught():
    text = SQL.read_text().replace("char_length(registration) <= 16", "char_length(registration) <= 17")
    checks = {f"{t}.{c}": int(n) for t, c, n in _CHECK.findall(text)}
    assert checks != TEXT_MAX
