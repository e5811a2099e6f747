-- `soar flights list`: flights with their aircraft, airports, runways, places and tow.
-- Parameters: since (timestamptz or NULL), address (int or NULL), limit.
-- Aircraft are read through aircraft_public (the read-only role's only way to them),
-- which hides the registration of aircraft not identified in the device database; and
-- flights through flights_public, which hides their callsign the same way (an ADS-B
-- callsign is often the registration).
SELECT f.id,
       lpad(upper(to_hex(a.address)), 6, '0')                    AS aircraft_address,
       a.registration,
       f.callsign,                                      -- masked by flights_public
       f.previous_callsign,                             -- likewise (revision 0008)
       f.started_at,
       f.takeoff_time,
       f.landing_time,
       f.timed_out_at,
       f.end_reason,
       dep.ident                                                 AS departure_airport,
       arr.ident                                                 AS arrival_airport,
       f.takeoff_runway,
       f.takeoff_runway_inferred,
       f.landing_runway,
       f.landing_runway_inferred,
       NULLIF(concat_ws(', ', sl.city, sl.region, sl.country_code), '') AS start_location,
       NULLIF(concat_ws(', ', el.city, el.region, el.country_code), '') AS end_location,
       -- A timed-out flight lasted until its last fix, not until it was declared lost.
       EXTRACT(EPOCH FROM COALESCE(f.landing_time, f.last_fix_at, f.timed_out_at)
                          - COALESCE(f.takeoff_time, f.started_at)) AS duration_s,
       lpad(upper(to_hex(tow.address)), 6, '0')                  AS towed_by_aircraft_address,
       f.tow_release_time,
       f.tow_release_altitude_m,
       -- aerotow, winch, self or unknown (revision 0008); flights stored before the
       -- tracker decided it have none, but a tow link is an aerotow.
       COALESCE(f.launch_method,
                CASE WHEN f.towed_by_aircraft_id IS NOT NULL THEN 'aerotow' END) AS launch_method,
       f.spurious_reason,
       f.takeoff_enrichment,
       f.landing_enrichment
FROM flights_public f
JOIN aircraft_public a         ON a.id = f.aircraft_id
LEFT JOIN aircraft_public tow  ON tow.id = f.towed_by_aircraft_id
LEFT JOIN airports dep         ON dep.id = f.departure_airport_id
LEFT JOIN airports arr         ON arr.id = f.arrival_airport_id
LEFT JOIN locations sl         ON sl.id = f.start_location_id
LEFT JOIN locations el         ON el.id = f.end_location_id
WHERE (%(since)s::timestamptz IS NULL OR f.started_at >= %(since)s::timestamptz)
  AND (%(address)s::integer IS NULL OR a.address = %(address)s::integer)
  AND a.tracked
ORDER BY f.started_at, f.id
LIMIT %(limit)s
