-- The flight tracker's fixed queries (soar/tracker/store.py): the tow link, explaining
-- a flight write that changed no row, and the restart reload.

-- name: tow
-- The tow plane's flight is joined rather than referenced blindly: if its INSERT was
-- skipped, the glider's row is left alone instead of failing the foreign key.
UPDATE flights g
   SET towed_by_flight_id = t.id, towed_by_aircraft_id = t.aircraft_id, updated_at = now()
  FROM flights t
 WHERE g.id = %s AND t.id = %s

-- name: flight_exists
SELECT EXISTS (SELECT 1 FROM flights WHERE id = %s)

-- name: supersede_active
-- A new flight's INSERT was skipped by the one-active-flight index: the aircraft's
-- previous flight is still active because its end was lost (its batch never
-- committed). Close it where its fixes stopped (or, with none recorded, where the
-- new flight starts) so the new one can be stored.
UPDATE flights
   SET timed_out_at = coalesce(last_fix_at, %(started_at)s), end_reason = 'superseded',
       updated_at = now()
 WHERE aircraft_id = %(aircraft_id)s AND landing_time IS NULL AND timed_out_at IS NULL
RETURNING id

-- name: active_flights
-- Served by the partial unique index flights_one_active_per_aircraft.
SELECT f.id, f.aircraft_id, f.source, f.callsign, f.started_at, f.takeoff_time,
       a.aircraft_type, f.last_fix_at, f.last_latitude, f.last_longitude, f.timed_out_at,
       f.launch_method, f.takeoff_altitude_m
FROM flights f JOIN aircraft a ON a.id = f.aircraft_id
WHERE f.landing_time IS NULL AND f.timed_out_at IS NULL

-- name: resumable_flights
-- Timed out recently enough to resume, and still the aircraft's latest flight.
SELECT f.id, f.aircraft_id, f.source, f.callsign, f.started_at, f.takeoff_time,
       a.aircraft_type, f.last_fix_at, f.last_latitude, f.last_longitude, f.timed_out_at,
       f.launch_method, f.takeoff_altitude_m
FROM flights f JOIN aircraft a ON a.id = f.aircraft_id
WHERE f.landing_time IS NULL AND f.timed_out_at IS NOT NULL
  AND f.started_at > %(oldest)s AND f.last_fix_at > %(since)s
  AND NOT EXISTS (SELECT 1 FROM flights g WHERE g.aircraft_id = f.aircraft_id
                                            AND g.started_at > f.started_at)

-- name: last_fixes
-- The last fixes of each flight, newest first, through the (aircraft_id, time DESC) index.
SELECT x.aircraft_id, x.time, x.received_at, x.source, x.latitude, x.longitude,
       x.altitude_m, x.ground_speed_kmh, x.track_deg, x.climb_rate_ms, x.turn_rate_degs,
       x.on_ground, x.signal_db, x.flight_id
FROM unnest(%s::uuid[], %s::bigint[], %s::timestamptz[]) AS f(id, aircraft_id, started_at)
CROSS JOIN LATERAL (
    SELECT * FROM fixes
    WHERE fixes.aircraft_id = f.aircraft_id AND fixes.time >= f.started_at
      AND fixes.flight_id = f.id
    ORDER BY fixes.time DESC LIMIT %s) x

-- name: close_stale
-- Active flights found stale at start-up: timed out at their last fix + the timeout.
UPDATE flights f SET timed_out_at = u.last + %s, last_fix_at = u.last,
    end_reason = 'stale',
    last_latitude = coalesce(u.lat, f.last_latitude),
    last_longitude = coalesce(u.lon, f.last_longitude), updated_at = now()
FROM unnest(%s::uuid[], %s::timestamptz[], %s::float8[], %s::float8[]) AS u(id, last, lat, lon)
WHERE f.id = u.id AND f.landing_time IS NULL AND f.timed_out_at IS NULL

-- name: newest_start
-- The restart reload's "now" when none is given: the newest flight's start.
SELECT max(started_at) FROM flights
