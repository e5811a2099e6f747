-- aircraft_flight_totals (views/aircraft_flight_totals.sql), now reading aircraft
-- through aircraft_public: one place decides what is hidden. Same columns.
CREATE OR REPLACE VIEW aircraft_flight_totals AS
SELECT lpad(upper(to_hex(a.address)), 6, '0')                      AS address,
       a.address_type,
       a.registration,                                     -- NULL unless identified
       count(f.id)                                                 AS flights,
       count(f.landing_time)                                       AS landed,
       COALESCE(sum(f.landing_time - f.takeoff_time), interval '0') AS flight_time,
       max(COALESCE(f.takeoff_time, f.started_at))                 AS last_flight
FROM aircraft_public a
JOIN flights f ON f.aircraft_id = a.id AND f.spurious_reason IS NULL
WHERE a.tracked
GROUP BY a.id, a.address, a.address_type, a.registration;
