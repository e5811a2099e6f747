-- Re-geocoding, for one fallback place: every flight end whose location is the
-- 'places' row p_from now points to p_to, the Pelias row of the same cell, and
-- p_from leaves the fallback work list. Returns the number of flight ends changed.
--
-- One call is one transaction. The work-list row is deleted FIRST: a worker that is
-- giving a flight this fallback place inserts or updates that row (and so locks it)
-- in the transaction that writes the flight, so the DELETE waits for that flight to
-- be committed, and the UPDATEs below (each statement sees what is committed when it
-- starts) then re-point it too. A worker that inserts the row anew after this DELETE
-- leaves it listed for the next round. Either way no flight keeps a fallback place
-- unlisted.
--
-- Invoker's rights: it writes only the location columns of flights, which the
-- worker may write anyway.
CREATE OR REPLACE FUNCTION repoint_fallback_location(p_from bigint, p_to bigint)
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    n_start integer;
    n_end integer;
BEGIN
    IF NOT EXISTS (SELECT 1
                     FROM locations f
                     JOIN locations t ON t.lat_e3 = f.lat_e3 AND t.lon_e3 = f.lon_e3
                    WHERE f.id = p_from AND f.source = 'places'
                      AND t.id = p_to AND t.source = 'pelias') THEN
        RAISE EXCEPTION 'repoint_fallback_location: % is not a places location with the pelias location % in its cell',
            p_from, p_to USING ERRCODE = 'invalid_parameter_value';
    END IF;
    DELETE FROM geocode_fallbacks WHERE location_id = p_from;
    UPDATE flights SET start_location_id = p_to, updated_at = now()
     WHERE start_location_id = p_from;
    GET DIAGNOSTICS n_start = ROW_COUNT;
    UPDATE flights SET end_location_id = p_to, updated_at = now()
     WHERE end_location_id = p_from;
    GET DIAGNOSTICS n_end = ROW_COUNT;
    RETURN n_start + n_end;
END
$$;
