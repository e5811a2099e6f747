-- `soar queue status/check` (soar/products/queue_health.py): the queue_health view.

-- name: queue_health
SELECT queue, depth, visible, oldest_age_s, newest_age_s, total_messages, in_last_minute,
       out_last_minute
FROM queue_health
