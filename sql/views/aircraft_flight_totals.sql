-- Per aircraft: flights, landed flights and total time between takeoff and landing.
-- Registrations of aircraft not identified in the device database are not shown.
CREATE OR REPLACE VIEW aircraft_flight_totals AS
SELECT lpad(upper(to_hex(a.address)), 6, '0')                      AS address,
       a.address_type,
       CASE WHEN a.identified THEN a.registration END              AS registration,
       count(f.id)                                                 AS flights,
       count(f.landing_time)                                       AS landed,
       COALESCE(sum(f.landing_time - f.takeoff_time), interval '0') AS flight_time,
       max(COALESCE(f.takeoff_time, f.started_at))                 AS last_flight
FROM aircraft a
JOIN flights f ON f.aircraft_id = a.id AND f.spurious_reason IS NULL
WHERE a.tracked
GROUP BY a.id;
