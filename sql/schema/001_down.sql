-- Downgrade of the foundation migration: everything it created in this database.
-- Extensions (timescaledb, postgis) and roles are shared infrastructure and stay;
-- the roles' privileges on this database are revoked.
DROP TABLE IF EXISTS fixes;  -- a hypertable must be dropped on its own
DROP TABLE IF EXISTS flights, locations, runways, airports, receivers, aircraft CASCADE;
DROP FUNCTION IF EXISTS enqueue_flight_created(), enqueue_flight_ended();
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['soar_ingest', 'soar_worker', 'soar_readonly'] LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('REVOKE ALL ON DATABASE %I FROM %I', current_database(), r);
            EXECUTE format('REVOKE ALL ON SCHEMA public FROM %I', r);
            IF EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'pgmq') THEN
                EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA pgmq FROM %I', r);
                EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA pgmq FROM %I', r);
                EXECUTE format('REVOKE ALL ON SCHEMA pgmq FROM %I', r);
            END IF;
        END IF;
    END LOOP;
END
$$;
