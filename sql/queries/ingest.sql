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
-- (tracked, identified) come from OGN's device database and are never touched here.
INSERT INTO aircraft (id, address, address_type, aircraft_type, category, registration,
                      callsign, model, first_seen, last_seen)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (id) DO UPDATE SET
    aircraft_type = COALESCE(EXCLUDED.aircraft_type, aircraft.aircraft_type),
    category      = COALESCE(EXCLUDED.category, aircraft.category),
    registration  = COALESCE(EXCLUDED.registration, aircraft.registration),
    callsign      = COALESCE(EXCLUDED.callsign, aircraft.callsign),
    model         = COALESCE(EXCLUDED.model, aircraft.model),
    last_seen     = GREATEST(aircraft.last_seen, EXCLUDED.last_seen)

-- name: untracked_aircraft
-- Aircraft whose owner chose not to be tracked (OGN DDB): their fixes are never stored.
SELECT id FROM aircraft WHERE NOT tracked
