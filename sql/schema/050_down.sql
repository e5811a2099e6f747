-- Downgrade of migration 0004 (ingest safety): the quarantine and idempotency
-- tables, and the 'superseded' end reason (such flights become 'stale', the nearest
-- older reason: closed because they were left active).
DROP TABLE IF EXISTS ingest_quarantine, ingest_batches;
UPDATE flights SET end_reason = 'stale' WHERE end_reason = 'superseded';
ALTER TABLE flights DROP CONSTRAINT flights_end_reason_check;
ALTER TABLE flights ADD CONSTRAINT flights_end_reason_check CHECK (end_reason IN
    ('landing', 'timeout', 'callsign_change', 'gap', 'stale'));
