-- Revision 0009 undone: the logbook view and its indexes.
DROP VIEW IF EXISTS logbook;
DROP INDEX IF EXISTS flights_departure_time_idx;
DROP INDEX IF EXISTS flights_arrival_time_idx;
