"""Enrichment fallback: which geocoder gave a place, re-geocoding when Pelias is back.

Locations are cached per cell and source ('pelias' or 'places'), so a fallback place
never passes for Pelias' answer; geocode_fallbacks lists the fallback places flights
got, until re-geocoding re-points them (repoint_fallback_location).

Revision ID: 0005
Revises: 0004
"""
from alembic import op
from soar.db import sqlfiles

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# The SQL files this revision applies, relative to sql/, in order. Once released their
# contents are frozen (alembic/sql.sha256; tests/unit/test_migrations_frozen.py).
UPGRADE_FILES: tuple[str, ...] = (
    "schema/060_geocode_fallback.sql",
    "functions/repoint_fallback_location.sql",
    "schema/069_geocode_fallback_grants.sql",
)
DOWNGRADE_FILES: tuple[str, ...] = (
    "schema/060_down.sql",
)


def upgrade() -> None:
    sqlfiles.execute(op.get_bind().connection.driver_connection, *UPGRADE_FILES)


def downgrade() -> None:
    sqlfiles.execute(op.get_bind().connection.driver_connection, *DOWNGRADE_FILES)
