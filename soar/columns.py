"""What a database column can hold: the one definition the parsers (`soar.feeds`) and
validation (`soar.ingest.validate`) check values against, so that no value a single
message carries can make PostgreSQL refuse a whole batch.

- text: printable characters only, as `str.isprintable()` says: no control character
  (NUL included: PostgreSQL refuses it in text and jsonb), no format, surrogate
  (not encodable as UTF-8), private-use or unassigned code point, no separator but
  the ASCII space.
- real (float4): finite and within +-FLOAT4_MAX; psycopg sends a larger double as
  +-Infinity and a NaN as NaN, both of which the column would store.
- smallint, integer: their two's-complement ranges.
- numbers inside jsonb: finite (JSON has no NaN or Infinity).

Clean input costs one `isprintable()` per line or field and one chained comparison per
number; `printable` (the slow path) runs only on input that failed that check.
"""

from __future__ import annotations

FLOAT4_MAX = 3.4028234663852886e38          # the largest finite float4
SMALLINT_MIN, SMALLINT_MAX = -(1 << 15), (1 << 15) - 1
INTEGER_MIN, INTEGER_MAX = -(1 << 31), (1 << 31) - 1


def is_float4(x: float) -> bool:
    """Whether x fits a `real` column as a finite number (False for NaN and +-inf)."""
    return -FLOAT4_MAX <= x <= FLOAT4_MAX


def printable(text: str) -> str:
    """text without the characters a text column must not hold (see the module rule)."""
    return "".join(c for c in text if c.isprintable())
