-- `soar logbook` (soar/products/logbook.py): the airfield, then its rows of the
-- `logbook` view (sql/views/logbook.sql) in a time range.

-- name: airfield_by_ident
SELECT id, ident, name, elevation_ft FROM airports WHERE ident = %(code)s

-- name: airfield_by_code
-- Not an OurAirports ident: the ICAO (GPS) code, else the IATA code, else the local
-- code (tier 1, 2, 3; the best tier wins, closed airfields last). A table scan, once
-- per command.
SELECT id, ident, name, elevation_ft,
       CASE WHEN gps_code = %(code)s THEN 1 WHEN iata_code = %(code)s THEN 2 ELSE 3 END AS tier
  FROM airports
 WHERE gps_code = %(code)s OR iata_code = %(code)s OR local_code = %(code)s
 ORDER BY tier, type = 'closed', ident
 LIMIT 5

-- name: rows
SELECT airfield, movement, movement_time, flight_id, takeoff_time, landing_time, end_reason,
       takeoff_runway, takeoff_runway_inferred, landing_runway, landing_runway_inferred,
       aircraft_address, registration, competition_number, callsign, aircraft_model,
       aircraft_type,
       launch_method, tow_plane, tow_release_time, release_height_m, duration_s,
       departure, arrival, other_end
  FROM logbook
 WHERE airfield_id = %(airfield_id)s
   AND movement_time >= %(start)s AND movement_time < %(end)s
 ORDER BY movement_time, flight_id

-- name: airports_empty
SELECT NOT EXISTS (SELECT 1 FROM airports)
