-- Trigger function: a new flight needs its departure enriched. The message is sent
-- in the same transaction as the INSERT, so a rolled-back flight leaves no message.
-- SECURITY DEFINER: the ingest role may write flights without any queue privilege.
CREATE OR REPLACE FUNCTION enqueue_flight_created() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM pgmq.send('flight_enrichment',
                      jsonb_build_object(
                          'flight_id', NEW.id,
                          'event', CASE WHEN NEW.takeoff_time IS NULL
                                        THEN 'airborne_start' ELSE 'takeoff' END));
    RETURN NULL;
END
$$;
