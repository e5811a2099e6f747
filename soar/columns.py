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
- text length: every text column a feed can fill has a maximum (`TEXT_MAX`, in
  characters), checked here at the edge and by a `CHECK (char_length(...) <= n)` in
  the schema as the backstop (sql/schema/120_text_limits.sql; a unit test keeps the
  two equal). Without one, a 6,000-character receiver name from anyone on APRS-IS
  exceeds the btree row limit of the unique index on `receivers.name` (SQLSTATE
  54000) and the batch holding it fails. What happens to a value over its limit
  (the message rejected, the value dropped or truncated) is each parser's choice,
  tabled in docs/ingest.md.

Clean input costs one `isprintable()` per stored text field and one chained comparison per
number; `printable` (the slow path) runs only on input that failed that check.
"""

from __future__ import annotations

FLOAT4_MAX = 3.4028234663852886e38          # the largest finite float4
# A `real` column's finite range, for `REAL_MIN <= x <= REAL_MAX` inline on hot paths
# (False for NaN and +-inf, as is_float4).
REAL_MIN, REAL_MAX = -FLOAT4_MAX, FLOAT4_MAX
SMALLINT_MIN, SMALLINT_MAX = -(1 << 15), (1 << 15) - 1

# The longest text (characters) each column may hold, by "table.column". Generous
# for real values (OGN receiver names have at most 9 characters, feed names are
# `sbs:HOST:PORT`, registrations about 10, ADS-B callsigns 8) and far below the
# btree row limit (2,704 bytes) an index on any of them would meet.
TEXT_MAX: dict[str, int] = {
    "receivers.name": 64,
    "receivers.version": 32,
    "receivers.platform": 64,
    "aircraft.registration": 16,
    "aircraft.callsign": 16,
    "aircraft.model": 64,
    "aircraft.competition_number": 8,
    "aircraft.category": 8,
    "flights.callsign": 16,
    "flights.previous_callsign": 16,
}
RECEIVER_NAME_MAX = TEXT_MAX["receivers.name"]
VERSION_MAX = TEXT_MAX["receivers.version"]
PLATFORM_MAX = TEXT_MAX["receivers.platform"]
REGISTRATION_MAX = TEXT_MAX["aircraft.registration"]
CALLSIGN_MAX = TEXT_MAX["aircraft.callsign"]
MODEL_MAX = TEXT_MAX["aircraft.model"]
COMPETITION_NUMBER_MAX = TEXT_MAX["aircraft.competition_number"]
# A receiver's free status texts (`rf`, `comment`) inside receivers.status (jsonb,
# no index): truncated to this; the whole document is held to STATUS_MAX bytes of
# JSON text by the schema (a status has a dozen short keys).
STATUS_TEXT_MAX = 256
STATUS_MAX = 4096


def is_float4(x: float) -> bool:
    """Whether x fits a `real` column as a finite number (False for NaN and +-inf)."""
    return REAL_MIN <= x <= REAL_MAX


def printable(text: str) -> str:
    """text without the characters a text column must not hold (see the module rule)."""
    return "".join(c for c in text if c.isprintable())
