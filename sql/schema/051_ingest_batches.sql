-- Idempotency keys of committed ingest batches. The writer inserts its batch's key
-- (a uuid4 made when the router opened the batch) first in the batch's transaction;
-- when a commit's acknowledgement is lost (connection cut after COMMIT) the retry
-- finds the key, knows the batch is already stored and skips it, so no fix is
-- stored twice. The row also keeps what that commit stored, so the retry can count
-- it once. Kept for `batch_keys_keep_h` (7 days by default: longer than any retry,
-- including a batch spooled to disk and written at the next start), then deleted by
-- the writer about once an hour (one DELETE; no index on committed_at: an hourly
-- scan of a few hundred thousand narrow rows is cheaper than an index on every insert).
CREATE TABLE ingest_batches (
    key           uuid PRIMARY KEY,
    committed_at  timestamptz NOT NULL DEFAULT now(),   -- the transaction's start
    fixes         integer NOT NULL,                     -- fixes this batch stored
    -- NULL for a clean batch; else the other counts the commit made, e.g.
    -- {"quarantined": {"fix": 1, "aircraft": 1}, "flight_ops_skipped": {...},
    --  "flights_superseded": 1, "aircraft_lost": [ids with no row at all]}
    outcome       jsonb
);

GRANT SELECT, INSERT, DELETE ON ingest_batches TO soar_ingest;
GRANT UPDATE (fixes, outcome) ON ingest_batches TO soar_ingest;
