-- Backfills (soar.backfill): flights in keyset chunks, so every chunk is one short
-- transaction and a re-run continues where the flights still need it.

-- name: flight_chunk
-- The next chunk of flights of the range, by (started_at, id).
SELECT started_at, id FROM flights
 WHERE started_at >= %(since)s AND started_at < %(until)s
   AND (started_at, id) > (%(after_t)s, %(after_id)s)
 ORDER BY started_at, id
 LIMIT %(chunk)s

-- name: count_range
SELECT count(*) FROM flights WHERE started_at >= %(since)s AND started_at < %(until)s

-- name: enrichment_candidates
-- Each end of the chunk's flights that needs enriching again: failed, pending with no
-- message anywhere (lost), or done without the runway / place asked for. An end whose
-- message is in the queue is being worked on: never a second message. An end whose
-- message is a dead letter is taken (the dead letter archived), as retry-dead would.
WITH ends AS (
    SELECT f.id, 'start' AS side,
           CASE WHEN f.takeoff_time IS NULL THEN 'airborne_start' ELSE 'takeoff' END AS event,
           f.takeoff_enrichment AS status,
           (f.takeoff_time IS NOT NULL AND f.takeoff_runway IS NULL) AS no_runway,
           (f.start_location_id IS NULL) AS no_location
      FROM flights f WHERE f.id = ANY(%(ids)s) AND f.spurious_reason IS NULL
    UNION ALL
    SELECT f.id, 'end',
           CASE WHEN f.landing_time IS NOT NULL THEN 'landing' ELSE 'timeout' END,
           f.landing_enrichment,
           (f.landing_time IS NOT NULL AND f.landing_runway IS NULL),
           (f.end_location_id IS NULL)
      FROM flights f WHERE f.id = ANY(%(ids)s) AND f.spurious_reason IS NULL
       AND (f.landing_time IS NOT NULL OR f.timed_out_at IS NOT NULL)
), queued AS (
    SELECT (message->>'flight_id') AS flight_id, message->>'event' AS event
      FROM pgmq.q_flight_enrichment
     WHERE message->>'flight_id' = ANY(%(id_texts)s)
), dead AS (
    SELECT msg_id, (message->>'flight_id') AS flight_id, message->>'event' AS event
      FROM pgmq.q_flight_enrichment_dead
     WHERE message->>'flight_id' = ANY(%(id_texts)s)
)
SELECT e.id, e.event, e.status,
       (SELECT array_agg(d.msg_id) FROM dead d
         WHERE d.flight_id = e.id::text AND d.event = e.event) AS dead_ids
  FROM ends e
 WHERE NOT EXISTS (SELECT 1 FROM queued q WHERE q.flight_id = e.id::text AND q.event = e.event)
   AND (e.status IN ('failed', 'pending')
        OR (e.status = 'done' AND %(missing)s IN ('runway', 'any') AND e.no_runway)
        OR (e.status = 'done' AND %(missing)s IN ('location', 'any') AND e.no_location))
 ORDER BY e.id, e.event

-- name: set_pending_takeoff_enrichment
UPDATE flights SET takeoff_enrichment = 'pending', updated_at = now() WHERE id = %s

-- name: set_pending_landing_enrichment
UPDATE flights SET landing_enrichment = 'pending', updated_at = now() WHERE id = %s

-- name: range_fixes
-- The fixes the tracker reads again, in the order ingest met them: by receive time
-- (a fix relayed late was seen late, and the tracker's answer depends on that), then
-- position time (chunk exclusion by time; the server sorts). NULL aircraft: all.
SELECT x.aircraft_id, x.time, x.received_at, x.source, x.latitude, x.longitude,
       x.altitude_m, x.ground_speed_kmh, x.track_deg, x.climb_rate_ms, x.turn_rate_degs,
       x.on_ground, x.signal_db, x.flight_id, a.aircraft_type
  FROM fixes x JOIN aircraft a ON a.id = x.aircraft_id
 WHERE x.time >= %(start)s AND x.time < %(end)s
   AND (%(aircraft)s::bigint[] IS NULL OR x.aircraft_id = ANY(%(aircraft)s::bigint[]))
 ORDER BY x.received_at, x.time, x.aircraft_id

-- name: range_flights
-- The stored flights of the range, with the columns the tracker writes.
SELECT id, aircraft_id, source, callsign, started_at, takeoff_time, takeoff_latitude,
       takeoff_longitude, takeoff_altitude_m, landing_time, landing_latitude,
       landing_longitude, landing_altitude_m, last_fix_at, last_latitude, last_longitude,
       timed_out_at, spurious_reason, end_reason, towed_by_flight_id, towed_by_aircraft_id,
       tow_release_time, tow_release_altitude_m, previous_callsign, launch_method
  FROM flights
 WHERE started_at >= %(since)s AND started_at < %(until)s
   AND (%(aircraft)s::bigint[] IS NULL OR aircraft_id = ANY(%(aircraft)s::bigint[]))

-- name: referencing_flights
-- Flights towed by one of these (deleting a tow flight clears their link).
SELECT id FROM flights WHERE towed_by_flight_id = ANY(%s::uuid[])

-- name: delete_flights
DELETE FROM flights WHERE id = ANY(%s::uuid[])

-- name: repoint_fixes
-- One chunk of fixes to their flight; unchanged rows are not rewritten, so a re-run
-- continues where an interrupted one stopped.
UPDATE fixes x SET flight_id = u.flight_id
  FROM unnest(%s::bigint[], %s::timestamptz[], %s::uuid[]) AS u(aircraft_id, time, flight_id)
 WHERE x.aircraft_id = u.aircraft_id AND x.time = u.time
   AND x.flight_id IS DISTINCT FROM u.flight_id
