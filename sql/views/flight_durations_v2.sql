-- flight_durations, second version: source 3 (SBS/BaseStation lines) is 'sbs';
-- otherwise as flight_durations.sql: how long flights last (takeoff to landing), by
-- UTC day of the takeoff, in buckets a club or an airport reads.
CREATE OR REPLACE VIEW flight_durations AS
SELECT (COALESCE(f.takeoff_time, f.started_at) AT TIME ZONE 'UTC')::date AS day,   -- = takeoff day here
       CASE f.source WHEN 1 THEN 'ogn' WHEN 2 THEN 'adsb' WHEN 3 THEN 'sbs' END AS source,
       b.bucket_order,
       b.bucket,
       count(*) AS flights
FROM flights f
JOIN aircraft_public a ON a.id = f.aircraft_id
CROSS JOIN LATERAL (
    SELECT CASE
             WHEN d < interval '15 minutes' THEN 1 WHEN d < interval '30 minutes' THEN 2
             WHEN d < interval '1 hour' THEN 3     WHEN d < interval '2 hours' THEN 4
             WHEN d < interval '4 hours' THEN 5    WHEN d < interval '8 hours' THEN 6
             ELSE 7 END AS bucket_order,
           CASE
             WHEN d < interval '15 minutes' THEN '< 15 min' WHEN d < interval '30 minutes' THEN '15-30 min'
             WHEN d < interval '1 hour' THEN '30-60 min'    WHEN d < interval '2 hours' THEN '1-2 h'
             WHEN d < interval '4 hours' THEN '2-4 h'       WHEN d < interval '8 hours' THEN '4-8 h'
             ELSE '>= 8 h' END AS bucket
    FROM (SELECT f.landing_time - f.takeoff_time AS d) x
) b
WHERE a.tracked AND f.spurious_reason IS NULL
  AND f.takeoff_time IS NOT NULL AND f.landing_time IS NOT NULL
GROUP BY 1, 2, 3, 4;
GRANT SELECT ON flight_durations TO soar_readonly;
