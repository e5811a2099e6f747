-- flights_hourly, second version: source 3 (SBS/BaseStation lines) is 'sbs'; otherwise
-- as flights_hourly.sql: flights by UTC day and hour of the takeoff (or of the first
-- fix when first seen airborne), with the takeoffs in that hour.
CREATE OR REPLACE VIEW flights_hourly AS
SELECT (COALESCE(f.takeoff_time, f.started_at) AT TIME ZONE 'UTC')::date       AS day,
       extract(hour FROM COALESCE(f.takeoff_time, f.started_at) AT TIME ZONE 'UTC')::int AS hour,
       CASE f.source WHEN 1 THEN 'ogn' WHEN 2 THEN 'adsb' WHEN 3 THEN 'sbs' END AS source,
       count(*)                                                                    AS flights,
       count(*) FILTER (WHERE f.takeoff_time IS NOT NULL)                          AS takeoffs
FROM flights f
JOIN aircraft_public a ON a.id = f.aircraft_id
WHERE a.tracked AND f.spurious_reason IS NULL
GROUP BY 1, 2, 3;
GRANT SELECT ON flights_hourly TO soar_readonly;
