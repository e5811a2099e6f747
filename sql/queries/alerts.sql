-- Overdue alerts (worker/alerts.py, soar/products/alerts.py): the facts of a timed-out
-- flight, the raise, the sweep that clears, and the delivery bookkeeping.

-- name: flight_facts
-- The flight, its aircraft, its departure field and the place its end was geocoded to
-- (the worker evaluates after writing the `timeout` enrichment, in that transaction).
SELECT f.aircraft_id, f.source, f.callsign, f.takeoff_time, f.takeoff_latitude,
       f.takeoff_longitude, f.takeoff_altitude_m, f.landing_time, f.timed_out_at,
       f.end_reason, f.spurious_reason, f.last_fix_at,
       a.address, a.address_type, a.aircraft_type, a.registration, a.callsign, a.model,
       a.tracked, a.identified,
       dep.ident, dep.latitude_deg, dep.longitude_deg, dep.elevation_ft,
       l.city, l.region, l.country_code,
       extract(epoch FROM clock_timestamp() - f.last_fix_at)
  FROM flights f
  JOIN aircraft a ON a.id = f.aircraft_id
  LEFT JOIN airports dep ON dep.id = f.departure_airport_id
  LEFT JOIN locations l ON l.id = f.end_location_id
 WHERE f.id = %s

-- name: last_fixes
-- The aircraft's last fixes up to the flight's last one, latest first, through the
-- fixes index (aircraft_id, time DESC), with the receiver that heard each.
SELECT x.time, x.latitude, x.longitude, x.altitude_m, x.ground_speed_kmh, x.track_deg,
       x.climb_rate_ms, r.name
  FROM fixes x
  LEFT JOIN receivers r ON r.id = x.receiver_id
 WHERE x.aircraft_id = %(aircraft_id)s
   AND x.time <= %(until)s AND x.time > %(until)s - make_interval(secs => %(lookback_s)s)
 ORDER BY x.time DESC
 LIMIT %(limit)s

-- name: heard_after
SELECT EXISTS (SELECT 1 FROM fixes WHERE aircraft_id = %s AND time > %s)

-- name: nearest_airport
-- The nearest airport within the radius (GiST KNN probe), for the text and, when close
-- enough, for the ground elevation. Heliports are left out (rooftop pads).
SELECT n.ident, n.name, n.latitude_deg, n.longitude_deg, n.elevation_ft, n.distance_m
  FROM (SELECT ap.ident, ap.name, ap.latitude_deg, ap.longitude_deg, ap.elevation_ft,
               ST_Distance(ap.location,
                           ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)::geography)
                   AS distance_m
          FROM airports ap
         WHERE ap.type NOT IN ('closed', 'heliport', 'balloonport')
         ORDER BY ap.location <-> ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)::geography
         LIMIT 1) n
 WHERE n.distance_m <= %(radius_m)s

-- name: insert_alert
-- The same end of a flight processed twice (a re-enqueued timeout) raises nothing new.
INSERT INTO overdue_alerts (flight_id, aircraft_id, reason, last_heard_at, latitude, longitude,
                            altitude_m, height_m, height_reference, ground_speed_kmh,
                            track_deg, vertical_rate_ms, receivers, identified, message,
                            payload)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (flight_id, last_heard_at) DO NOTHING
RETURNING id

-- name: sweep
-- Clear the active alerts whose aircraft was heard again (a fix after the last one,
-- one probe of the fixes index per alert), whose flight resumed (timed_out_at back to
-- NULL) or landed, whose flight is gone, or whose aircraft is no longer tracked; and
-- queue the `cleared` notice of each, in this one statement. Two sweeps at once clear
-- each alert once: the UPDATE re-checks cleared_at on the row it locked.
WITH due AS (
    SELECT o.id,
           CASE WHEN f.id IS NULL THEN 'flight_deleted'
                WHEN f.landing_time IS NOT NULL THEN 'landing'
                WHEN f.timed_out_at IS NULL THEN 'resumed'
                WHEN NOT a.tracked THEN 'not_tracked'
                WHEN EXISTS (SELECT 1 FROM fixes x
                              WHERE x.aircraft_id = o.aircraft_id
                                AND x.time > o.last_heard_at) THEN 'heard_again'
           END AS why
      FROM overdue_alerts o
      JOIN aircraft a ON a.id = o.aircraft_id
      LEFT JOIN flights f ON f.id = o.flight_id
     WHERE o.cleared_at IS NULL
), cleared AS (
    UPDATE overdue_alerts o
       SET cleared_at = now(), cleared_reason = d.why, clear_delivery = 'pending'
      FROM due d
     WHERE o.id = d.id AND d.why IS NOT NULL AND o.cleared_at IS NULL
    RETURNING o.id, o.flight_id, o.cleared_reason
)
SELECT c.id, c.cleared_reason,
       pgmq.send(%s, jsonb_build_object('event', 'overdue_alert', 'alert_id', c.id,
                                        'flight_id', c.flight_id, 'notice', 'cleared'))
  FROM cleared c

-- name: clear_manual
-- `soar alerts clear ID`: a person closed it (the pilot phoned in).
WITH cleared AS (
    UPDATE overdue_alerts
       SET cleared_at = now(), cleared_reason = 'manual', clear_delivery = 'pending'
     WHERE id = %s AND cleared_at IS NULL
    RETURNING id, flight_id
)
SELECT c.id,
       pgmq.send(%s, jsonb_build_object('event', 'overdue_alert', 'alert_id', c.id,
                                        'flight_id', c.flight_id, 'notice', 'cleared'))
  FROM cleared c

-- name: notice
SELECT id, flight_id, raised_at, reason, message, payload, cleared_at, cleared_reason,
       raise_delivery, clear_delivery
  FROM overdue_alerts
 WHERE id = %s

-- name: mark_raise_delivery
UPDATE overdue_alerts SET raise_delivery = %s, delivery_error = %s WHERE id = %s

-- name: mark_clear_delivery
UPDATE overdue_alerts SET clear_delivery = %s, delivery_error = %s WHERE id = %s

-- name: active_count
SELECT count(*) FROM overdue_alerts WHERE cleared_at IS NULL

-- name: overdue_flights
-- `soar alerts list`, as the read-only role.
SELECT alert_id, flight_id, address, address_type, registration, callsign, aircraft_type,
       model, reason, last_heard_at, latitude, longitude, altitude_m, height_m,
       height_reference, ground_speed_kmh, track_deg, vertical_rate_ms, receivers,
       takeoff_time, departure_airport, raised_at, message, raise_delivery
  FROM overdue_flights
 ORDER BY last_heard_at DESC, alert_id

-- name: failed_timeouts
-- Flights whose `timeout` enrichment failed for good (dead-lettered, the flight marked
-- failed): the enrichment never evaluated them, so the sweep does, through the partial
-- index of failed enrichments (flights_enrichment_failed_idx), for alert_max_age_s
-- after they were marked. Those with an alert already are left out; the insert's
-- ON CONFLICT keeps a raise single anyway.
SELECT f.id
  FROM flights f
 WHERE (f.takeoff_enrichment = 'failed' OR f.landing_enrichment = 'failed')
   AND f.updated_at > now() - make_interval(secs => %(max_age_s)s)
   AND f.landing_enrichment = 'failed' AND f.timed_out_at IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM overdue_alerts o WHERE o.flight_id = f.id)
 ORDER BY f.updated_at
 LIMIT %(limit)s
