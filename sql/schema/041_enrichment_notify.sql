-- Wake-up hint for the enrichment workers: pgmq sends a (throttled) NOTIFY on
-- channel "pgmq.q_flight_enrichment.INSERT" after inserts into the queue. Lossy by
-- design and not sent for delayed messages: workers keep polling.
SELECT pgmq.enable_notify_insert('flight_enrichment', 250);
