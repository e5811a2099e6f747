-- Revision 0008 undone: flights_public loses the two columns (a view cannot drop
-- columns in place, so it is dropped here and 081_flights_public.sql, applied after this
-- file, creates the 0007 version again), then the columns go.
DROP VIEW IF EXISTS flights_public;
ALTER TABLE flights
    DROP COLUMN IF EXISTS launch_method,
    DROP COLUMN IF EXISTS previous_callsign;
ALTER TABLE aircraft DROP COLUMN IF EXISTS competition_number;
