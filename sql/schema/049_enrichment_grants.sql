-- Privileges for what migration 0002 adds. Functions are executable by PUBLIC by
-- default: take that away and grant each to the role that needs it.
GRANT SELECT ON places TO soar_worker, soar_readonly;

REVOKE EXECUTE ON FUNCTION
    runway_ident_from_heading(double precision),
    detect_runway(uuid, text, interval, double precision, double precision, real),
    nearest_place(double precision, double precision, double precision),
    update_flight_takeoff_enrichment(uuid, text, integer, text, boolean, bigint, text),
    update_flight_landing_enrichment(uuid, text, integer, text, boolean, bigint, text)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    runway_ident_from_heading(double precision),
    detect_runway(uuid, text, interval, double precision, double precision, real),
    nearest_place(double precision, double precision, double precision),
    update_flight_takeoff_enrichment(uuid, text, integer, text, boolean, bigint, text),
    update_flight_landing_enrichment(uuid, text, integer, text, boolean, bigint, text)
    TO soar_worker;
-- Read-only users may look, not write.
GRANT EXECUTE ON FUNCTION
    runway_ident_from_heading(double precision),
    detect_runway(uuid, text, interval, double precision, double precision, real),
    nearest_place(double precision, double precision, double precision)
    TO soar_readonly;

-- `soar queue retry-dead` sends into flight_enrichment as the worker; the queue's
-- notify trigger (pgmq.notify_queue_listeners, invoker's rights) then updates the
-- throttle row.
GRANT SELECT, UPDATE ON pgmq.notify_insert_throttle TO soar_worker;
