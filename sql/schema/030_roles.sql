-- Least-privilege roles. Roles are cluster-wide, so they are created only when
-- missing and never dropped by a downgrade (other databases may use them).
-- They can log in but have no password: on the embedded cluster the unix socket
-- (mode 0700) is the gate; in production the DBA sets passwords or grants these
-- roles to login users. None is a superuser.
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['soar_ingest', 'soar_worker', 'soar_readonly'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE', r);
        END IF;
    END LOOP;
END
$$;

DO $$
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO soar_ingest, soar_worker, soar_readonly',
                   current_database());
END
$$;
GRANT USAGE ON SCHEMA public TO soar_ingest, soar_worker, soar_readonly;

-- Ingest: COPY fixes, write flights, upsert aircraft and receivers, read what a
-- restart needs (active flights, last fixes) and airport elevations.
GRANT SELECT, INSERT ON fixes TO soar_ingest;
GRANT SELECT, INSERT, UPDATE ON aircraft, receivers, flights TO soar_ingest;
GRANT SELECT ON airports, runways TO soar_ingest;

-- Worker: read flights and fixes, write only the enrichment columns of flights,
-- fill the locations cache, use the queues.
GRANT SELECT ON fixes, flights, aircraft, receivers, airports, runways TO soar_worker;
GRANT SELECT, INSERT, UPDATE ON locations TO soar_worker;
GRANT UPDATE (departure_airport_id, arrival_airport_id,
              takeoff_runway, takeoff_runway_inferred,
              landing_runway, landing_runway_inferred,
              start_location_id, end_location_id,
              takeoff_enrichment, landing_enrichment, enrichment_error, updated_at)
    ON flights TO soar_worker;
GRANT USAGE ON SCHEMA pgmq TO soar_worker;
GRANT SELECT ON pgmq.meta TO soar_worker;
GRANT SELECT, INSERT, UPDATE, DELETE ON
    pgmq.q_flight_enrichment, pgmq.a_flight_enrichment,
    pgmq.q_flight_enrichment_dead, pgmq.a_flight_enrichment_dead
    TO soar_worker;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA pgmq TO soar_worker;

-- Read-only: everything in public (tables and the statistics views), nothing else.
GRANT SELECT ON ALL TABLES IN SCHEMA public TO soar_readonly;
GRANT USAGE ON SCHEMA pgmq TO soar_readonly;
GRANT SELECT ON pgmq.meta, pgmq.q_flight_enrichment, pgmq.q_flight_enrichment_dead TO soar_readonly;
