-- Trigger function: a flight that just landed or timed out needs its arrival
-- enriched. Fires only on the NULL -> value transition (see the trigger's WHEN).
CREATE OR REPLACE FUNCTION enqueue_flight_ended() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM pgmq.send('flight_enrichment',
                      jsonb_build_object(
                          'flight_id', NEW.id,
                          'event', CASE WHEN OLD.landing_time IS NULL AND NEW.landing_time IS NOT NULL
                                        THEN 'landing' ELSE 'timeout' END));
    RETURN NULL;
END
$$;
