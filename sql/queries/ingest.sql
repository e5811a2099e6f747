-- The ingest writer's fixed statements (soar/ingest/writer.py). The fixes themselves
-- go in by binary COPY, whose column list stays in Python next to the row it writes.

-- name: upsert_receiver
-- Receivers: position and status arrive in separate beacons, so a NULL keeps what
-- the row already knows. RETURNING gives the id the fixes refer to.
INSERT INTO receivers (name, latitude, longitude, altitude_m, version, platform, status,
                       first_seen, last_seen)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (name) DO UPDATE SET
    latitude   = COALESCE(EXCLUDED.latitude, receivers.latitude),
    longitude  = COALESCE(EXCLUDED.longitude, receivers.longitude),
    altitude_m = COALESCE(EXCLUDED.altitude_m, receivers.altitude_m),
    version    = COALESCE(EXCLUDED.version, receivers.version),
    platform   = COALESCE(EXCLUDED.platform, receivers.platform),
    status     = COALESCE(EXCLUDED.status, receivers.status),
    last_seen  = GREATEST(receivers.last_seen, EXCLUDED.last_seen)
RETURNING id, name

-- name: upsert_aircraft
-- Aircraft: what a message did not say (NULL) keeps what is known; the privacy flags
-- (tracked, identified) come from OGN's device database and are never touched here,
-- nor is a registration the device database gave (an APRS `reg` token is anyone's text).
INSERT INTO aircraft (id, address, address_type, aircraft_type, category, registration,
                      callsign, model, first_seen, last_seen)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (id) DO UPDATE SET
    aircraft_type = COALESCE(EXCLUDED.aircraft_type, aircraft.aircraft_type),
    category      = COALESCE(EXCLUDED.category, aircraft.category),
    registration  = CASE WHEN aircraft.registration_from_ddb THEN aircraft.registration
                         ELSE COALESCE(EXCLUDED.registration, aircraft.registration) END,
    callsign      = COALESCE(EXCLUDED.callsign, aircraft.callsign),
    model         = COALESCE(EXCLUDED.model, aircraft.model),
    last_seen     = GREATEST(aircraft.last_seen, EXCLUDED.last_seen)

-- name: untracked_aircraft
-- Aircraft whose owner chose not to be tracked (OGN DDB): their fixes are never stored.
SELECT id FROM aircraft WHERE NOT tracked

-- name: statement_timeout
-- Per transaction (SET LOCAL semantics): holds through PgBouncer in transaction mode,
-- which drops the `options` startup parameter instead of passing it on.
SELECT set_config('statement_timeout', %s, true)

-- name: claim_batch
-- First in the batch's transaction. No row inserted: an earlier attempt committed this
-- batch and its acknowledgement was lost (or it is committing right now: this waits
-- for it, then inserts nothing).
INSERT INTO ingest_batches (key, fixes) VALUES (%s, %s)
ON CONFLICT (key) DO NOTHING

-- name: committed_batch
SELECT fixes, outcome FROM ingest_batches WHERE key = %s

-- name: record_batch_outcome
-- Only when the batch did not go in whole: what it stored, for a retry to count.
UPDATE ingest_batches SET fixes = %s, outcome = %s WHERE key = %s

-- name: prune_batch_keys
-- About once an hour: keys older than any retry can be (batch_keys_keep_h).
DELETE FROM ingest_batches WHERE committed_at < now() - %s

-- name: quarantine
INSERT INTO ingest_quarantine (what, reason, raw, batch_key) VALUES (%s, %s, %s, %s)

-- name: insert_aircraft_minimal
-- An aircraft whose full row the database refused: the row flights and fixes refer
-- to, with nothing but its address (the refused values are in ingest_quarantine).
INSERT INTO aircraft (id, address, address_type, first_seen, last_seen)
VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (id) DO NOTHING
