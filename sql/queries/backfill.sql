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
