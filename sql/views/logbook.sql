-- The airfield logbook (revision 0009), what `soar logbook` prints and other tools
-- (a club's flight-office import, a web page) read: one row per flight and airfield
-- it took off from or landed at. A flight that took off and landed at the same field
-- is one row (`movement` 'local'); one that took off here and landed elsewhere, or
-- came from elsewhere and landed here, is a 'departure' or an 'arrival' row of this
-- field (and the opposite row of the other one). `movement_time` is the time of the
-- movement at this field (the takeoff, or for an arrival the landing); `day` is its
-- UTC date. Filter on `airfield_id` (or `airfield`) and `movement_time`: both branches
-- are served by the indexes of schema/100_logbook_indexes.sql.
--
-- Privacy, as flights_public and aircraft_public (revision 0006, 0007): it reads only
-- through them, so the registration and callsign of an aircraft not identified in the
-- device database are NULL here too (and so is a tow plane's registration: its address
-- is shown instead, which names no one); rows of aircraft marked not tracked are left
-- out, and so is the tow plane of a glider when the tow plane is not tracked. Flights
-- discarded as spurious are left out. The competition number is masked the same way. The read-only role reads this view and nothing
-- it does not already read.
CREATE VIEW logbook AS
WITH movements AS (
    SELECT f.id AS flight_id, f.departure_airport_id AS airfield_id,
           COALESCE(f.takeoff_time, f.started_at) AS movement_time
      FROM flights_public f
     WHERE f.departure_airport_id IS NOT NULL AND f.spurious_reason IS NULL
    UNION ALL
    SELECT f.id, f.arrival_airport_id, f.landing_time
      FROM flights_public f
     WHERE f.arrival_airport_id IS NOT NULL AND f.spurious_reason IS NULL
       AND f.landing_time IS NOT NULL
       AND f.departure_airport_id IS DISTINCT FROM f.arrival_airport_id
)
SELECT m.airfield_id,
       here.ident                                                    AS airfield,
       CASE WHEN f.departure_airport_id = f.arrival_airport_id THEN 'local'
            WHEN m.airfield_id = f.departure_airport_id THEN 'departure'
            ELSE 'arrival' END                                       AS movement,
       m.movement_time,
       (m.movement_time AT TIME ZONE 'UTC')::date                    AS day,
       f.id                                                          AS flight_id,
       f.takeoff_time,
       f.landing_time,
       f.end_reason,
       f.takeoff_runway,
       f.takeoff_runway_inferred,
       f.landing_runway,
       f.landing_runway_inferred,
       lpad(upper(to_hex(a.address)), 6, '0')                        AS aircraft_address,
       a.registration,                                  -- masked by aircraft_public
       COALESCE(f.callsign, a.callsign)                              AS callsign,  -- masked
       -- The DDB's competition id: not in aircraft_public (revision 0006), so read
       -- from aircraft here and masked as aircraft_public masks the registration.
       CASE WHEN cn.identified THEN cn.competition_number END        AS competition_number,
       a.model                                                       AS aircraft_model,
       -- The OGN aircraft type, else the ADS-B emitter category (DO-260B).
       COALESCE(CASE a.aircraft_type
            WHEN 1 THEN 'glider' WHEN 2 THEN 'tow plane' WHEN 3 THEN 'helicopter'
            WHEN 4 THEN 'skydiver' WHEN 5 THEN 'drop plane' WHEN 6 THEN 'hang glider'
            WHEN 7 THEN 'paraglider' WHEN 8 THEN 'piston aircraft'
            WHEN 9 THEN 'jet or turboprop' WHEN 11 THEN 'balloon' WHEN 12 THEN 'airship'
            WHEN 13 THEN 'UAV' WHEN 15 THEN 'static obstacle' END,
                CASE a.category
            WHEN 'A1' THEN 'light aircraft' WHEN 'A2' THEN 'small aircraft'
            WHEN 'A3' THEN 'large aircraft' WHEN 'A4' THEN 'large aircraft'
            WHEN 'A5' THEN 'heavy aircraft' WHEN 'A6' THEN 'high performance'
            WHEN 'A7' THEN 'rotorcraft' WHEN 'B1' THEN 'glider'
            WHEN 'B2' THEN 'lighter than air' WHEN 'B3' THEN 'skydiver'
            WHEN 'B4' THEN 'ultralight' WHEN 'B6' THEN 'UAV' END)   AS aircraft_type,
       -- Flights stored before the tracker decided launch methods (revision 0008) have
       -- none; their tow link is the evidence of an aerotow.
       COALESCE(f.launch_method,
                CASE WHEN f.towed_by_aircraft_id IS NOT NULL THEN 'aerotow' END)    AS launch_method,
       COALESCE(tow.registration, lpad(upper(to_hex(tow.address)), 6, '0')) AS tow_plane,
       f.tow_release_time,
       -- Above the field: against the glider's own altitude at takeoff (same device,
       -- same datum), else the field's elevation (OurAirports).
       round((f.tow_release_altitude_m
              - COALESCE(f.takeoff_altitude_m, dep.elevation_ft * 0.3048))::numeric)::integer
                                                                     AS release_height_m,
       round(EXTRACT(EPOCH FROM COALESCE(f.landing_time, f.last_fix_at, f.timed_out_at)
                                - COALESCE(f.takeoff_time, f.started_at)))::integer
                                                                     AS duration_s,
       dep.ident                                                     AS departure,
       arr.ident                                                     AS arrival,
       -- The other end: its airfield, else the place (an outlanding, the place a lost
       -- aircraft was last heard, or where one first seen airborne was first heard).
       CASE WHEN m.airfield_id = f.departure_airport_id
            THEN COALESCE(arr.ident, NULLIF(concat_ws(', ', el.city, el.country_code), ''))
            ELSE COALESCE(dep.ident, NULLIF(concat_ws(', ', sl.city, sl.country_code), ''))
       END                                                           AS other_end
  FROM movements m
  JOIN flights_public f        ON f.id = m.flight_id
  JOIN aircraft_public a       ON a.id = f.aircraft_id
  JOIN aircraft cn             ON cn.id = f.aircraft_id
  JOIN airports here           ON here.id = m.airfield_id
  LEFT JOIN aircraft_public tow ON tow.id = f.towed_by_aircraft_id AND tow.tracked
  LEFT JOIN airports dep       ON dep.id = f.departure_airport_id
  LEFT JOIN airports arr       ON arr.id = f.arrival_airport_id
  LEFT JOIN locations sl       ON sl.id = f.start_location_id
  LEFT JOIN locations el       ON el.id = f.end_location_id
 WHERE a.tracked;
GRANT SELECT ON logbook TO soar_readonly;
