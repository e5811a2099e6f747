-- Downgrade of revision 0017's flights index: back to the index on started_at alone.
CREATE INDEX flights_started_at_idx ON flights (started_at);
DROP INDEX IF EXISTS flights_started_at_id_idx;
