-- The enrichment worker's fixed queries: pgmq calls (worker/messages.py), flight and fix
-- reads (worker/enrich.py) and the locations cache (worker/geocode.py).

-- name: read_messages
-- The read's own write (vt, read_ct) need not wait for the WAL flush: lost in a server
-- crash, the message only becomes visible again sooner. set_config(.., true) lasts
-- until this statement's commit: no session state (PgBouncer transaction pooling).
SELECT r.msg_id, r.read_ct, r.enqueued_at, r.vt, r.message
FROM set_config('synchronous_commit', 'off', true) AS s,
     pgmq.read(%s, %s, %s) AS r

-- name: set_vt
SELECT vt
FROM pgmq.set_vt(%s, %s::bigint, clock_timestamp() + make_interval(secs => %s))

-- name: flight
SELECT aircraft_id, started_at, takeoff_time, takeoff_latitude, takeoff_longitude,
       landing_time, landing_latitude, landing_longitude, last_fix_at, last_latitude,
       last_longitude, timed_out_at
FROM flights
WHERE id = %s

-- name: fixes_stored_after
SELECT EXISTS (SELECT 1 FROM fixes
               WHERE aircraft_id = %s AND time >= %s AND time < %s + interval '1 day')

-- name: fix_near
SELECT latitude, longitude
FROM fixes
WHERE aircraft_id = %s AND time BETWEEN %s AND %s
ORDER BY abs(extract(epoch FROM time - %s))
LIMIT 1

-- name: first_fix
SELECT latitude, longitude
FROM fixes
WHERE aircraft_id = %s AND time >= %s AND time < %s + interval '1 day'
ORDER BY time
LIMIT 1

-- name: last_fix
SELECT latitude, longitude
FROM fixes
WHERE aircraft_id = %s AND time >= %s AND time <= %s
ORDER BY time DESC
LIMIT 1

-- name: detect_runway
SELECT airport_id, airport_ident, runway, runway_inferred, track_deg, method
FROM detect_runway(%s, %s, make_interval(secs => %s))

-- name: cached_location
SELECT id FROM locations WHERE lat_e3 = %s AND lon_e3 = %s AND source = %s

-- name: cached_location_any
-- Offline geocoding: a Pelias row of the cell (from an earlier Pelias setup) is better.
SELECT id, source
FROM locations
WHERE lat_e3 = %s AND lon_e3 = %s
ORDER BY source = 'pelias' DESC
LIMIT 1

-- name: insert_location
INSERT INTO locations (lat_e3, lon_e3, latitude, longitude, city, region, country_code,
                       label, source)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (lat_e3, lon_e3, source) DO NOTHING
RETURNING id

-- name: note_fallback
-- In the transaction that gives a flight the fallback place: list it for re-geocoding.
-- DO UPDATE (not NOTHING) locks an existing row, so a concurrent re-geocoding of this
-- place waits for this flight (sql/functions/repoint_fallback_location.sql).
INSERT INTO geocode_fallbacks AS g (location_id)
VALUES (%s)
ON CONFLICT (location_id) DO UPDATE SET last_at = now()

-- name: fallback_candidates
SELECT g.location_id, l.latitude, l.longitude
FROM geocode_fallbacks g
JOIN locations l ON l.id = g.location_id
ORDER BY g.first_at, g.location_id
LIMIT %s

-- name: fallbacks_pending
SELECT count(*) FROM geocode_fallbacks

-- name: repoint_fallback_location
SELECT repoint_fallback_location(%s, %s)

-- name: update_takeoff_enrichment
-- The departure end of a flight (takeoff or airborne_start): one UPDATE, inside the
-- function (sql/functions/update_flight_takeoff_enrichment.sql).
SELECT update_flight_takeoff_enrichment(%s, %s, %s, %s, %s, %s, %s)

-- name: update_landing_enrichment
-- The arrival end (landing or timeout).
SELECT update_flight_landing_enrichment(%s, %s, %s, %s, %s, %s, %s)

-- name: alert_delivery_pending
-- `soar queue retry-dead` of an overdue_alert notice: its delivery is pending again.
UPDATE overdue_alerts
   SET raise_delivery = CASE WHEN %s = 'raised' AND raise_delivery = 'failed'
                             THEN 'pending' ELSE raise_delivery END,
       clear_delivery = CASE WHEN %s = 'cleared' AND clear_delivery = 'failed'
                             THEN 'pending' ELSE clear_delivery END
 WHERE id = %s

-- name: send
SELECT * FROM pgmq.send(%s, %s, %s::integer)

-- name: archive
SELECT pgmq.archive(%s, %s::bigint)

-- name: archive_aged
-- The message archived, and its age by the server's clock (the enrichment delay metric).
SELECT pgmq.archive(%s, %s::bigint), extract(epoch FROM clock_timestamp() - %s)

-- name: age_s
SELECT extract(epoch FROM clock_timestamp() - %s)

-- name: airport_point
SELECT latitude_deg, longitude_deg FROM airports WHERE id = %s

-- name: nearest_place
SELECT name, admin1, country_code FROM nearest_place(%s, %s, %s)

-- name: has_detect_runway
SELECT to_regprocedure('detect_runway(uuid, text, interval, double precision, double precision, real)')

-- name: has_repoint_fallback
SELECT to_regprocedure('repoint_fallback_location(bigint, bigint)')

-- name: has_airports
SELECT EXISTS (SELECT 1 FROM airports)

-- name: has_places
SELECT EXISTS (SELECT 1 FROM places)

-- name: failed_to_pending_takeoff_enrichment
-- A dead letter retried (`soar queue retry-dead`): its flight end is pending again.
UPDATE flights SET takeoff_enrichment = 'pending', updated_at = now()
WHERE id = %s AND takeoff_enrichment = 'failed'

-- name: failed_to_pending_landing_enrichment
UPDATE flights SET landing_enrichment = 'pending', updated_at = now()
WHERE id = %s AND landing_enrichment = 'failed'
