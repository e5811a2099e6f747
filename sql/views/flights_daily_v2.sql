-- flights_daily (views/flights_daily.sql), now reading aircraft through
-- aircraft_public like every reader of the read-only side. Same columns.
CREATE OR REPLACE VIEW flights_daily AS
SELECT date_trunc('day', COALESCE(f.takeoff_time, f.started_at))           AS day,
       CASE f.source WHEN 1 THEN 'ogn' WHEN 2 THEN 'adsb' END               AS source,
       count(*)                                                             AS flights,
       count(*) FILTER (WHERE f.takeoff_time IS NOT NULL)                   AS with_takeoff,
       count(*) FILTER (WHERE f.landing_time IS NOT NULL)                   AS landed,
       count(*) FILTER (WHERE f.timed_out_at IS NOT NULL)                   AS timed_out,
       count(*) FILTER (WHERE f.landing_time IS NULL AND f.timed_out_at IS NULL) AS active,
       count(*) FILTER (WHERE f.towed_by_flight_id IS NOT NULL)             AS towed,
       avg(f.landing_time - f.takeoff_time)                                 AS mean_duration
FROM flights f
JOIN aircraft_public a ON a.id = f.aircraft_id
WHERE a.tracked AND f.spurious_reason IS NULL
GROUP BY 1, 2;
