-- TimescaleDB for the fixes hypertable, PostGIS for airport and place lookups.
-- pgmq is installed by the migration itself: as an extension where the server has
-- one, else from the SQL that the pgmq Python package ships.
CREATE EXTENSION IF NOT EXISTS timescaledb;
CREATE EXTENSION IF NOT EXISTS postgis;
