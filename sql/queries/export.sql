-- `soar flights export` and `soar flights plot` (soar/products/export.py, plot.py): one
-- flight, its fixes, and the runways of its airports, as the read-only role reads them.

-- name: flight
-- By id or id prefix: the prefix as the id range it covers (the primary key's index).
-- Through flights_public and aircraft_public: no registration or callsign of an
-- aircraft not identified.
SELECT f.id, f.aircraft_id, f.source, f.callsign, f.started_at, f.takeoff_time,
       f.takeoff_altitude_m, f.landing_time, f.landing_altitude_m, f.last_fix_at,
       f.timed_out_at, f.end_reason, f.tow_release_time, f.tow_release_altitude_m,
       -- As `soar flights list`: a tow link is an aerotow when no method was decided.
       COALESCE(f.launch_method,
                CASE WHEN f.towed_by_aircraft_id IS NOT NULL THEN 'aerotow' END) AS launch_method,
       f.takeoff_runway, f.landing_runway,
       f.departure_airport_id, f.arrival_airport_id,
       lpad(upper(to_hex(a.address)), 6, '0') AS aircraft_address,
       a.registration, a.model, a.aircraft_type, a.tracked,
       lpad(upper(to_hex(tow.address)), 6, '0') AS tow_address, tow.registration AS tow_registration
  FROM flights_public f
  JOIN aircraft_public a ON a.id = f.aircraft_id
  LEFT JOIN aircraft_public tow ON tow.id = f.towed_by_aircraft_id AND tow.tracked
 WHERE f.id BETWEEN %(low)s AND %(high)s
 ORDER BY f.id
 LIMIT 6

-- name: fixes
-- The aircraft's fixes from the flight's first fix to its last (no end yet: all since),
-- over the fixes index (aircraft_id, time DESC).
SELECT time, latitude, longitude, altitude_m, ground_speed_kmh, track_deg, climb_rate_ms, source
  FROM fixes
 WHERE aircraft_id = %(aircraft_id)s
   AND time >= %(start)s AND time <= COALESCE(%(end)s::timestamptz, 'infinity')
 ORDER BY time

-- name: airports
SELECT id, ident, name, latitude_deg, longitude_deg, elevation_ft
  FROM airports WHERE id = ANY(%(ids)s)

-- name: runways
SELECT airport_id, le_ident, he_ident, length_ft, width_ft, closed,
       le_latitude_deg, le_longitude_deg, le_heading_degt,
       he_latitude_deg, he_longitude_deg, he_heading_degt
  FROM runways WHERE airport_id = ANY(%(ids)s)
 ORDER BY airport_id, id
