-- `soar queue status/check` (soar/products/queue_health.py): the queue_health view.

-- name: queue_health
SELECT queue, depth, visible, oldest_age_s, newest_age_s, total_messages, in_last_minute,
       out_last_minute
FROM queue_health

-- name: undelivered_notices
-- Overdue-alert notices the webhook refused at least once and that wait for another
-- try (the worker never dead-letters them): alert, notice, failed tries, last error.
SELECT (message->>'alert_id')::bigint, message->>'notice',
       COALESCE((message->>'failures')::int, 0), message->>'last_error'
  FROM pgmq.q_flight_enrichment
 WHERE message->>'event' = 'overdue_alert' AND message ? 'last_error'
 ORDER BY msg_id
