-- Downgrade of migration 0002 (enrichment): its functions, the places table, the
-- queue notification, and the privileges it granted.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'soar_worker')
       AND to_regclass('pgmq.notify_insert_throttle') IS NOT NULL THEN
        REVOKE ALL ON pgmq.notify_insert_throttle FROM soar_worker;
    END IF;
END
$$;
SELECT pgmq.disable_notify_insert('flight_enrichment')
  FROM pgmq.meta WHERE queue_name = 'flight_enrichment';
DROP FUNCTION IF EXISTS
    update_flight_takeoff_enrichment(uuid, text, integer, text, boolean, bigint, text),
    update_flight_landing_enrichment(uuid, text, integer, text, boolean, bigint, text),
    detect_runway(uuid, text, interval, double precision, double precision, real),
    nearest_place(double precision, double precision, double precision),
    runway_ident_from_heading(double precision);
DROP TABLE IF EXISTS places;
