-- Revision 0006 undone: the grants of 030_roles.sql and 049_enrichment_grants.sql as
-- they were. Runs after views/aircraft_flight_totals.sql and views/flights_daily.sql
-- (re-applied by the downgrade) no longer read aircraft_public.
DROP VIEW IF EXISTS aircraft_public;
REVOKE SELECT ON aircraft FROM soar_readonly;      -- clears the column-level grant too
GRANT SELECT ON aircraft TO soar_readonly;

-- Table-level REVOKE clears the column-level grants; then the table-level ones of 030.
REVOKE INSERT, UPDATE ON aircraft, flights, receivers FROM soar_ingest;
GRANT INSERT, UPDATE ON aircraft, flights, receivers TO soar_ingest;

GRANT UPDATE ON locations TO soar_worker;

-- CREATE on public for PUBLIC was the server's default before PostgreSQL 15 (and is
-- not since): restore that default, which is what the upgrade found unless a DBA had
-- changed it by hand.
DO $$
BEGIN
    IF current_setting('server_version_num')::integer < 150000 THEN
        GRANT CREATE ON SCHEMA public TO PUBLIC;
    END IF;
END
$$;
