-- `soar web` (soar/web/): the API's reads, as the read-only role, through the public
-- views (flights_public, aircraft_public, logbook, queue_health), live_positions_v3 and
-- the reference tables. Every query takes %(since)s, the start of the public window
-- (NULL: no window), and leaves out what is older.

-- name: newest_heard
-- Data time's "now" for the live map: the newest aircraft.last_seen (one probe of
-- aircraft_last_seen_idx), as the tracker's timeouts run on data time, so a replay of an
-- old recording shows its aircraft as live did.
SELECT max(last_seen) AS newest FROM aircraft_public

-- name: positions
-- The live map: each aircraft heard since %(heard_since)s at its latest fix, with its
-- active flight if any, in a box. live_positions_v3 (inlined: its argument is a value
-- to the planner) finds them by last_seen, then one probe of the fixes index each.
-- The box may cross the antimeridian (west > east).
SELECT aircraft_id, flight_id, aircraft_address, registration, callsign, model,
       aircraft_type, category, source, time, latitude, longitude, altitude_m,
       ground_speed_kmh, track_deg, climb_rate_ms, on_ground
  FROM live_positions_v3(%(heard_since)s::timestamptz)
 WHERE (%(since)s::timestamptz IS NULL OR time >= %(since)s::timestamptz)
   AND latitude BETWEEN %(south)s AND %(north)s
   AND CASE WHEN %(west)s <= %(east)s THEN longitude BETWEEN %(west)s AND %(east)s
            ELSE longitude >= %(west)s OR longitude <= %(east)s END
 ORDER BY aircraft_address, aircraft_id
 LIMIT %(limit)s

-- name: flights
-- One page of flights, newest first, keyset-paged on (started_at, id): `after_started`
-- and `after_id` are the last row of the previous page (NULL: the first page).
SELECT f.id, lpad(upper(to_hex(a.address)), 6, '0') AS aircraft_address,
       a.registration, f.callsign, a.model, a.aircraft_type, a.category, f.source,
       f.started_at, f.takeoff_time, f.landing_time, f.timed_out_at, f.end_reason,
       f.last_fix_at, dep.ident AS departure_airport, arr.ident AS arrival_airport,
       f.takeoff_runway, f.landing_runway,
       COALESCE(f.launch_method,
                CASE WHEN f.towed_by_aircraft_id IS NOT NULL THEN 'aerotow' END) AS launch_method,
       (f.landing_time IS NULL AND f.timed_out_at IS NULL) AS active
  FROM flights_public f
  JOIN aircraft_public a ON a.id = f.aircraft_id AND a.tracked
  LEFT JOIN airports dep ON dep.id = f.departure_airport_id
  LEFT JOIN airports arr ON arr.id = f.arrival_airport_id
 WHERE f.spurious_reason IS NULL
   AND (%(since)s::timestamptz IS NULL
        OR COALESCE(f.last_fix_at, f.started_at) >= %(since)s::timestamptz)
   AND (%(day_start)s::timestamptz IS NULL
        OR (f.started_at >= %(day_start)s::timestamptz AND f.started_at < %(day_end)s::timestamptz))
   AND (%(airfield_id)s::integer IS NULL
        OR f.departure_airport_id = %(airfield_id)s::integer
        OR f.arrival_airport_id = %(airfield_id)s::integer)
   AND (%(address)s::integer IS NULL OR a.address = %(address)s::integer)
   AND (%(active)s::boolean IS NULL
        OR (f.landing_time IS NULL AND f.timed_out_at IS NULL) = %(active)s::boolean)
   AND (%(after_started)s::timestamptz IS NULL
        OR (f.started_at, f.id) < (%(after_started)s::timestamptz, %(after_id)s::uuid))
 ORDER BY f.started_at DESC, f.id DESC
 LIMIT %(limit)s

-- name: flight_extra
-- What the flight page shows beside the export's columns (sql/queries/export.sql flight).
SELECT f.spurious_reason, dep.ident AS departure_airport, dep.name AS departure_name,
       arr.ident AS arrival_airport, arr.name AS arrival_name,
       f.takeoff_runway_inferred, f.landing_runway_inferred
  FROM flights_public f
  LEFT JOIN airports dep ON dep.id = f.departure_airport_id
  LEFT JOIN airports arr ON arr.id = f.arrival_airport_id
 WHERE f.id = %(id)s

-- name: airfields
-- The map's background: airfields in a box (not closed, not heliports unless asked),
-- with their runways as line segments where OurAirports knows both ends.
SELECT a.id, a.ident, a.name, a.type, a.latitude_deg, a.longitude_deg, a.elevation_ft,
       COALESCE(json_agg(json_build_array(r.le_ident, r.he_ident,
                                          r.le_latitude_deg, r.le_longitude_deg,
                                          r.he_latitude_deg, r.he_longitude_deg)
                         ORDER BY r.id) FILTER (WHERE r.id IS NOT NULL), '[]') AS runways
  FROM airports a
  LEFT JOIN runways r ON r.airport_id = a.id AND NOT COALESCE(r.closed, false)
                     AND r.le_latitude_deg IS NOT NULL AND r.he_latitude_deg IS NOT NULL
 WHERE a.type <> 'closed' AND (%(heliports)s OR a.type <> 'heliport')
   AND a.latitude_deg BETWEEN %(south)s AND %(north)s
   AND CASE WHEN %(west)s <= %(east)s THEN a.longitude_deg BETWEEN %(west)s AND %(east)s
            ELSE a.longitude_deg >= %(west)s OR a.longitude_deg <= %(east)s END
 GROUP BY a.id
 ORDER BY a.type = 'small_airport', a.ident
 LIMIT %(limit)s

-- name: receivers
-- Receivers heard in the window: the last beacon and its position.
SELECT id, name, latitude, longitude, altitude_m, version, platform, first_seen,
       last_seen AS last_beacon
  FROM receivers
 WHERE %(since)s::timestamptz IS NULL OR last_seen >= %(since)s::timestamptz
 ORDER BY name
 LIMIT %(limit)s

-- name: receiver_fixes_last_hour
-- Fixes per receiver in the last hour. fixes has no index on time alone
-- (docs/api.md, "Receivers"): chunk exclusion keeps this to the newest chunk, which
-- is scanned; the API caches the answer for a minute.
SELECT receiver_id, count(*) AS fixes
  FROM fixes
 WHERE time >= now() - interval '1 hour' AND time < now()
   AND receiver_id IS NOT NULL
 GROUP BY receiver_id

-- name: home
-- Where the map opens: the middle of the aircraft heard recently.
SELECT avg(latitude) AS latitude, avg(longitude) AS longitude, count(*) AS aircraft
  FROM live_positions_v3(%(heard_since)s::timestamptz)
 WHERE (%(since)s::timestamptz IS NULL OR time >= %(since)s::timestamptz)

-- name: ping
SELECT 1
