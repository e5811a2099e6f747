-- How far the worker has got: flights by enrichment state (queue monitoring without cron:
-- this view and `soar queue status` read the same tables the worker writes).
CREATE OR REPLACE VIEW enrichment_status AS
SELECT takeoff_enrichment, landing_enrichment, count(*) AS flights,
       min(created_at) AS oldest_created
FROM flights
GROUP BY 1, 2;
