-- Queue monitoring without cron: depth, waiting messages visible now, age of the
-- oldest, messages in and out in the last minute, per pgmq queue (the enrichment queue
-- and its dead letters). `soar queue status` prints it; `soar queue check` turns it
-- into an exit code for any external monitor.
CREATE VIEW queue_health AS SELECT * FROM queue_health_v1();
GRANT SELECT ON queue_health TO soar_readonly, soar_worker;
