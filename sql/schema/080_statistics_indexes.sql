-- Statistics (revision 0007): the day of a flight, as every statistics view groups it,
-- is an immutable expression (UTC date), so `WHERE day >= ...` on a view is pushed
-- below its GROUP BY and served by these indexes: `soar stats --days N` reads the
-- flights of N days, not months of them. Flights are few next to fixes (one row per
-- flight); two more indexes cost ingest nothing measurable.
CREATE INDEX flights_day_idx
    ON flights (((COALESCE(takeoff_time, started_at) AT TIME ZONE 'UTC')::date));
CREATE INDEX flights_landing_day_idx
    ON flights (((landing_time AT TIME ZONE 'UTC')::date)) WHERE landing_time IS NOT NULL;
-- enrichment_failures: failed flights are rare; this keeps reading them cheap.
CREATE INDEX flights_enrichment_failed_idx ON flights (updated_at)
    WHERE takeoff_enrichment = 'failed' OR landing_enrichment = 'failed';
