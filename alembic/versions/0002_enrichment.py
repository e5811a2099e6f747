"""Enrichment: places table (offline geocoder), runway detection and flight update
functions, queue notifications, and the worker's privileges on them.

Revision ID: 0002
Revises: 0001
"""
from alembic import op
from soar.db import sqlfiles

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# The SQL files this revision applies, relative to sql/, in order. Released: their
# contents are frozen (alembic/sql.sha256; tests/unit/test_migrations_frozen.py).
UPGRADE_FILES = (
    "schema/040_places.sql",
    "functions/runway_ident_from_heading.sql",
    "functions/nearest_place.sql",
    "functions/detect_runway.sql",
    "functions/update_flight_takeoff_enrichment.sql",
    "functions/update_flight_landing_enrichment.sql",
    "schema/041_enrichment_notify.sql",
    "schema/049_enrichment_grants.sql",
)
DOWNGRADE_FILES = (
    "schema/040_down.sql",
)


def _conn():
    return op.get_bind().connection.driver_connection


def upgrade() -> None:
    sqlfiles.execute(_conn(), *UPGRADE_FILES)


def downgrade() -> None:
    sqlfiles.execute(_conn(), *DOWNGRADE_FILES)
