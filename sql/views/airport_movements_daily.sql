-- Departures and arrivals per airport and UTC day (after enrichment).
CREATE OR REPLACE VIEW airport_movements_daily AS
WITH movements AS (
    SELECT departure_airport_id AS airport_id, date_trunc('day', takeoff_time) AS day,
           1 AS departures, 0 AS arrivals
    FROM flights WHERE departure_airport_id IS NOT NULL AND takeoff_time IS NOT NULL
      AND spurious_reason IS NULL
    UNION ALL
    SELECT arrival_airport_id, date_trunc('day', landing_time), 0, 1
    FROM flights WHERE arrival_airport_id IS NOT NULL AND landing_time IS NOT NULL
      AND spurious_reason IS NULL
)
SELECT ap.ident, ap.name, m.day, sum(m.departures) AS departures, sum(m.arrivals) AS arrivals
FROM movements m JOIN airports ap ON ap.id = m.airport_id
GROUP BY ap.ident, ap.name, m.day;
