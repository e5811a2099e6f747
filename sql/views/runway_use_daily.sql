-- Takeoffs and landings per airport, runway and UTC day (runways as the worker found
-- them; `inferred` ones were guessed from the track, not seen on the runway).
CREATE VIEW runway_use_daily AS
WITH uses AS (
    SELECT departure_airport_id AS airport_id, takeoff_runway AS runway,
           (COALESCE(takeoff_time, started_at) AT TIME ZONE 'UTC')::date AS day,
           1 AS takeoffs, 0 AS landings
    FROM flights WHERE departure_airport_id IS NOT NULL AND takeoff_runway IS NOT NULL
      AND takeoff_time IS NOT NULL AND spurious_reason IS NULL
    UNION ALL
    SELECT arrival_airport_id, landing_runway, (landing_time AT TIME ZONE 'UTC')::date, 0, 1
    FROM flights WHERE arrival_airport_id IS NOT NULL AND landing_runway IS NOT NULL
      AND landing_time IS NOT NULL AND spurious_reason IS NULL
)
SELECT ap.ident, ap.name, u.runway, u.day, sum(u.takeoffs)::bigint AS takeoffs,
       sum(u.landings)::bigint AS landings
FROM uses u JOIN airports ap ON ap.id = u.airport_id
GROUP BY ap.ident, ap.name, u.runway, u.day;
GRANT SELECT ON runway_use_daily TO soar_readonly;
