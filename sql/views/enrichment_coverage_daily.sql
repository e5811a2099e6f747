-- How much of each UTC day's flights the worker enriched: takeoffs and landings with
-- a runway and with a place, pending, failed.
CREATE VIEW enrichment_coverage_daily AS
SELECT (COALESCE(takeoff_time, started_at) AT TIME ZONE 'UTC')::date AS day,
       count(*)                                                        AS flights,
       count(*) FILTER (WHERE takeoff_time IS NOT NULL)                AS takeoffs,
       count(*) FILTER (WHERE takeoff_runway IS NOT NULL)              AS takeoff_runway,
       count(*) FILTER (WHERE start_location_id IS NOT NULL)           AS start_place,
       count(*) FILTER (WHERE landing_time IS NOT NULL)                AS landings,
       count(*) FILTER (WHERE landing_runway IS NOT NULL)              AS landing_runway,
       count(*) FILTER (WHERE end_location_id IS NOT NULL)             AS end_place,
       count(*) FILTER (WHERE takeoff_enrichment = 'pending'
                           OR landing_enrichment = 'pending')          AS pending,
       count(*) FILTER (WHERE takeoff_enrichment = 'failed'
                           OR landing_enrichment = 'failed')           AS failed
FROM flights
WHERE spurious_reason IS NULL
GROUP BY 1;
GRANT SELECT ON enrichment_coverage_daily TO soar_readonly;

-- Why enrichment failed, by the first line of the error (the worker writes
-- "<error class>: <text>"), with the day of the latest.
CREATE VIEW enrichment_failures AS
SELECT split_part(COALESCE(enrichment_error, 'unknown'), ':', 1) AS reason,
       count(*)                                                  AS flights,
       max(updated_at)                                           AS latest
FROM flights
WHERE takeoff_enrichment = 'failed' OR landing_enrichment = 'failed'
GROUP BY 1;
GRANT SELECT ON enrichment_failures TO soar_readonly;
