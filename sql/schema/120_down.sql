-- Downgrade of revision 0012: the length constraints and the DDB mark go, and the SECURITY DEFINER
-- functions get back the search_path of their revisions (values made to fit stay so).
ALTER TABLE receivers DROP CONSTRAINT IF EXISTS receivers_name_length,
                      DROP CONSTRAINT IF EXISTS receivers_version_length,
                      DROP CONSTRAINT IF EXISTS receivers_platform_length,
                      DROP CONSTRAINT IF EXISTS receivers_status_size;
ALTER TABLE aircraft DROP COLUMN IF EXISTS registration_from_ddb,
                     DROP CONSTRAINT IF EXISTS aircraft_registration_length,
                     DROP CONSTRAINT IF EXISTS aircraft_callsign_length,
                     DROP CONSTRAINT IF EXISTS aircraft_model_length,
                     DROP CONSTRAINT IF EXISTS aircraft_competition_number_length,
                     DROP CONSTRAINT IF EXISTS aircraft_category_length;
ALTER TABLE flights DROP CONSTRAINT IF EXISTS flights_callsign_length,
                    DROP CONSTRAINT IF EXISTS flights_previous_callsign_length;
ALTER FUNCTION drop_fix_chunk_v1(regclass, interval) SET search_path = pg_catalog, public;
ALTER FUNCTION old_fix_chunks_v1(interval, boolean) SET search_path = pg_catalog, public;
ALTER FUNCTION queue_health_v1() SET search_path = pg_catalog, pgmq;
