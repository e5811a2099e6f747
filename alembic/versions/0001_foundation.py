"""Foundation: tables, fixes hypertable, pgmq queues, enqueue triggers, roles.

Revision ID: 0001
Revises:
"""
from alembic import op
from soar.db import pgmq_install, sqlfiles

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# The SQL files this revision applies, relative to sql/, in order. Released: their
# contents are frozen (alembic/sql.sha256; tests/unit/test_migrations_frozen.py).
UPGRADE_FILES_BEFORE_PGMQ = (
    "schema/001_extensions.sql",
)
# pgmq_install.ensure(conn) runs here, between the two tuples.
UPGRADE_FILES_AFTER_PGMQ = (
    "schema/010_aircraft.sql",
    "schema/011_receivers.sql",
    "schema/012_airports.sql",
    "schema/013_runways.sql",
    "schema/014_locations.sql",
    "schema/015_flights.sql",
    "schema/016_fixes.sql",
    "schema/020_queues.sql",
    "functions/enqueue_flight_created.sql",
    "functions/enqueue_flight_ended.sql",
    "triggers/flights_enqueue_created.sql",
    "triggers/flights_enqueue_ended.sql",
    "schema/030_roles.sql",
)
DOWNGRADE_FILES = (
    "schema/001_down.sql",
)


def _conn():
    return op.get_bind().connection.driver_connection


def upgrade() -> None:
    conn = _conn()
    sqlfiles.execute(conn, *UPGRADE_FILES_BEFORE_PGMQ)
    pgmq_install.ensure(conn)
    sqlfiles.execute(conn, *UPGRADE_FILES_AFTER_PGMQ)


def downgrade() -> None:
    conn = _conn()
    sqlfiles.execute(conn, *DOWNGRADE_FILES)
    for queue in ("flight_enrichment", "flight_enrichment_dead"):
        conn.execute("SELECT pgmq.drop_queue(%s) FROM pgmq.meta WHERE queue_name = %s",
                     (queue, queue))
    pgmq_install.drop_if_unused(conn)
