-- The enrichment queue filled by the flights triggers, and its dead-letter queue.
SELECT pgmq.create('flight_enrichment');
SELECT pgmq.create('flight_enrichment_dead');
