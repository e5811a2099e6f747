-- The worker's result for a flight's arrival (event landing or timeout), in one UPDATE:
-- airport, runway and its inferred flag, location, status ('done', 'failed' or
-- 'pending') and error. Idempotent; independent of the other end's enrichment, so
-- the two may arrive in any order. Unless 'done', values not passed (NULL) keep what
-- is there; enrichment_error holds this end's error, and is cleared on success
-- unless the other end has failed. Returns false when the flight does not exist.
CREATE OR REPLACE FUNCTION update_flight_landing_enrichment(
    p_flight_id        uuid,
    p_status           text,
    p_airport_id       integer,
    p_runway           text,
    p_runway_inferred  boolean,
    p_location_id      bigint,
    p_error            text DEFAULT NULL
)
RETURNS boolean
LANGUAGE plpgsql
AS $$
BEGIN
    IF p_status IS NULL OR p_status NOT IN ('pending', 'done', 'failed') THEN
        RAISE EXCEPTION 'update_flight_landing_enrichment: status must be pending, done or failed, not %',
            p_status USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE flights f
       SET arrival_airport_id = CASE WHEN p_status <> 'done' THEN coalesce(p_airport_id, f.arrival_airport_id)
                                     ELSE p_airport_id END,
           landing_runway = CASE WHEN p_status <> 'done' THEN coalesce(p_runway, f.landing_runway)
                                     ELSE p_runway END,
           landing_runway_inferred = CASE WHEN p_status <> 'done'
                                     THEN coalesce(p_runway_inferred, f.landing_runway_inferred)
                                     ELSE p_runway_inferred END,
           end_location_id = CASE WHEN p_status <> 'done' THEN coalesce(p_location_id, f.end_location_id)
                                     ELSE p_location_id END,
           landing_enrichment = p_status,
           enrichment_error = CASE WHEN p_status = 'failed' THEN p_error
                                   WHEN p_status = 'pending' THEN f.enrichment_error
                                   WHEN f.takeoff_enrichment = 'failed' THEN f.enrichment_error
                                   ELSE NULL END,
           updated_at = now()
     WHERE f.id = p_flight_id;
    RETURN FOUND;
END
$$;
