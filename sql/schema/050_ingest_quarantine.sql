-- Rows the database refused (a NUL in a text, a number out of a column's range, a
-- flight write whose foreign key is missing...). The ingest writer isolates each
-- refused row inside its batch (one savepoint per row; fixes by bisecting the COPY)
-- and writes it here in the same transaction as the batch's good rows, so nothing
-- is lost silently and one bad row never takes its batch with it. Operators read
-- this table (soar_readonly); rows stay until an operator deletes them.
CREATE TABLE ingest_quarantine (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time       timestamptz NOT NULL DEFAULT now(),
    what       text NOT NULL CHECK (what IN ('fix', 'aircraft', 'receiver', 'flight_op')),
    reason     text NOT NULL,           -- the server's (or the driver's) first error line
    -- The row's values as the writer held them, made text-safe (NUL bytes escaped as
    -- the four characters \x00, bytes as hex, non-finite floats as text), so this
    -- insert cannot fail for the reason the row did.
    raw        jsonb NOT NULL,
    batch_key  uuid NOT NULL            -- ingest_batches.key of the batch it came in
);
CREATE INDEX ingest_quarantine_time_idx ON ingest_quarantine (time);

GRANT INSERT ON ingest_quarantine TO soar_ingest;
GRANT SELECT ON ingest_quarantine TO soar_readonly;
