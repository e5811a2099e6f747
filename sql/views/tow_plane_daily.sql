-- Aerotows per tow plane and UTC day: how many, and how high the gliders were
-- released (MSL, and above the departure airfield when the worker found it).
CREATE VIEW tow_plane_daily AS
SELECT lpad(upper(to_hex(t.address)), 6, '0')                          AS address,
       t.address_type,
       t.registration,
       (COALESCE(g.takeoff_time, g.started_at) AT TIME ZONE 'UTC')::date AS day,
       count(*)                                                         AS tows,
       count(g.tow_release_time)                                        AS releases_found,
       round(avg(g.tow_release_altitude_m)::numeric)                    AS mean_release_altitude_m,
       round(avg(g.tow_release_altitude_m - ap.elevation_ft * 0.3048)::numeric)
                                                                        AS mean_release_height_m
FROM flights g
JOIN aircraft_public t ON t.id = g.towed_by_aircraft_id
JOIN aircraft_public ga ON ga.id = g.aircraft_id
LEFT JOIN airports ap ON ap.id = g.departure_airport_id
WHERE g.towed_by_aircraft_id IS NOT NULL AND g.spurious_reason IS NULL
  AND t.tracked AND ga.tracked
GROUP BY t.id, t.address, t.address_type, t.registration, 4;
GRANT SELECT ON tow_plane_daily TO soar_readonly;
