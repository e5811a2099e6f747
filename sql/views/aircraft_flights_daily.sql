-- Flights and flight hours per aircraft and UTC day, through aircraft_public (a
-- registration its owner withheld stays hidden).
CREATE VIEW aircraft_flights_daily AS
SELECT lpad(upper(to_hex(a.address)), 6, '0')                         AS address,
       a.address_type,
       a.registration,
       a.aircraft_type,
       (COALESCE(f.takeoff_time, f.started_at) AT TIME ZONE 'UTC')::date AS day,
       count(*)                                                        AS flights,
       count(f.landing_time)                                           AS landed,
       round((COALESCE(extract(epoch FROM sum(f.landing_time - f.takeoff_time)), 0)
              / 3600)::numeric, 2)                                     AS flight_hours
FROM flights f
JOIN aircraft_public a ON a.id = f.aircraft_id
WHERE a.tracked AND f.spurious_reason IS NULL
GROUP BY a.id, a.address, a.address_type, a.registration, a.aircraft_type, 5;
GRANT SELECT ON aircraft_flights_daily TO soar_readonly;
