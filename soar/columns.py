"""What a database column can hold: the one definition the parsers (`soar.feeds`) and
validation (`soar.ingest.validate`) check values against, so that no value a single
message carries can make PostgreSQL refuse a whole batch.

- text: printable characters only, as `str.isprintable()` says: no control character
  (NUL included: PostgreSQL refuses it in text and jsonb), no format, surrogate
  (not encodable as UTF-8), private-use or unassigned code point, no separator but
  the ASCII space.
- real (float4): finite and within +-FLOAT4_MAX; psycopg sends a larger double as
  +-Infinity and a NaN as NaN, both of which the column would store.
- smallint: its two's-complement range; narrower CHECKs are validation's (address
  type 0-63, address 24 bits).
- numbers inside jsonb: finite (JSON has no NaN or Infinity).

Clean input costs one `isprintable()` per stored text field and one chained comparison per
number; `printable` (the slow path) runs only on input that failed that check.
"""

from __future__ import annotations

FLOAT4_MAX = 3.4028234663852886e38          # the largest finite float4
# A `real` column's finite range, for `REAL_MIN <= x <= REAL_MAX` inline on hot paths
# (False for NaN and +-inf, as is_float4).
REAL_MIN, REAL_MAX = -FLOAT4_MAX, FLOAT4_MAX
SMALLINT_MIN, SMALLINT_MAX = -(1 << 15), (1 << 15) - 1


def is_float4(x: float) -> bool:
    """Whether x fits a `real` column as a finite number (False for NaN and +-inf)."""
    return REAL_MIN <= x <= REAL_MAX


def printable(text: str) -> str:
    """text without the characters a text column must not hold (see the module rule)."""
    return "".join(c for c in text if c.isprintable())
