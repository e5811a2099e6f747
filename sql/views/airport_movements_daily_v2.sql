-- airport_movements_daily, second version: `day` is the UTC date (indexable, see
-- schema/080_statistics_indexes.sql) and each movement carries its runway, so the
-- busiest runways come from the same rows (runway_use_daily).
DROP VIEW IF EXISTS airport_movements_daily;
CREATE VIEW airport_movements_daily AS
WITH movements AS (
    SELECT departure_airport_id AS airport_id,
           (COALESCE(takeoff_time, started_at) AT TIME ZONE 'UTC')::date AS day,
           1 AS departures, 0 AS arrivals
    FROM flights WHERE departure_airport_id IS NOT NULL AND takeoff_time IS NOT NULL
      AND spurious_reason IS NULL
    UNION ALL
    SELECT arrival_airport_id, (landing_time AT TIME ZONE 'UTC')::date, 0, 1
    FROM flights WHERE arrival_airport_id IS NOT NULL AND landing_time IS NOT NULL
      AND spurious_reason IS NULL
)
SELECT ap.ident, ap.name, m.day, sum(m.departures)::bigint AS departures,
       sum(m.arrivals)::bigint AS arrivals
FROM movements m JOIN airports ap ON ap.id = m.airport_id
GROUP BY ap.ident, ap.name, m.day;
GRANT SELECT ON airport_movements_daily TO soar_readonly;
