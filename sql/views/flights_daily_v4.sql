-- flights_daily, fourth version: source 3 (SBS/BaseStation lines, soar.feeds.sbs) is
-- 'sbs'; otherwise as the third (flights_daily_v3.sql). Statistics views aggregate
-- flights, never fixes.
CREATE OR REPLACE VIEW flights_daily AS
SELECT (COALESCE(f.takeoff_time, f.started_at) AT TIME ZONE 'UTC')::date AS day,
       CASE f.source WHEN 1 THEN 'ogn' WHEN 2 THEN 'adsb' WHEN 3 THEN 'sbs' END AS source,
       count(*)                                                             AS flights,
       count(*) FILTER (WHERE f.takeoff_time IS NOT NULL)                   AS with_takeoff,
       count(*) FILTER (WHERE f.landing_time IS NOT NULL)                   AS landed,
       count(*) FILTER (WHERE f.timed_out_at IS NOT NULL)                   AS timed_out,
       count(*) FILTER (WHERE f.landing_time IS NULL AND f.timed_out_at IS NULL) AS active,
       count(*) FILTER (WHERE f.towed_by_flight_id IS NOT NULL)             AS towed,
       round((COALESCE(extract(epoch FROM sum(f.landing_time - f.takeoff_time)), 0)
              / 3600)::numeric, 1)                                          AS flight_hours,
       avg(f.landing_time - f.takeoff_time)                                 AS mean_duration
FROM flights f
JOIN aircraft_public a ON a.id = f.aircraft_id
WHERE a.tracked AND f.spurious_reason IS NULL
GROUP BY 1, 2;
GRANT SELECT ON flights_daily TO soar_readonly;
