-- The active overdue alerts (not cleared), newest last heard first, as the read-only
-- role and `soar alerts list` see them: the registration and callsign masked for
-- aircraft whose owners withheld their identity (aircraft_public, flights_public),
-- the stored message too if it named an aircraft that is no longer identified, and
-- nothing of aircraft marked not tracked since (the worker's sweep clears those).
CREATE VIEW overdue_flights AS
SELECT o.id                                      AS alert_id,
       o.flight_id,
       o.aircraft_id,
       upper(lpad(to_hex(ap.address), 6, '0'))   AS address,
       ap.address_type,
       ap.registration,
       f.callsign,
       ap.aircraft_type,
       ap.model,
       o.reason,
       o.last_heard_at,
       o.latitude,
       o.longitude,
       o.altitude_m,
       o.height_m,
       o.height_reference,
       o.ground_speed_kmh,
       o.track_deg,
       o.vertical_rate_ms,
       o.receivers,
       f.takeoff_time,
       dep.ident                                 AS departure_airport,
       o.raised_at,
       CASE WHEN o.identified AND NOT ap.identified THEN NULL ELSE o.message END AS message,
       o.raise_delivery
  FROM overdue_alerts o
  JOIN aircraft_public ap ON ap.id = o.aircraft_id
  LEFT JOIN flights_public f ON f.id = o.flight_id
  LEFT JOIN airports dep ON dep.id = f.departure_airport_id
 WHERE o.cleared_at IS NULL
   AND ap.tracked;

GRANT SELECT ON overdue_flights TO soar_readonly;
