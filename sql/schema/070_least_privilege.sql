-- Least privilege, column by column (revision 0006). Until now ingest could write any
-- column of aircraft, flights and receivers, and the worker could rewrite cached
-- locations. Table-level REVOKE also removes column-level grants, so each table
-- starts clean here and gets exactly the columns its writer's statements name.

-- Ingest: the columns of sql/queries/ingest.sql (upsert_aircraft, upsert_receiver)
-- and soar/tracker/store.py (INSERT_COLUMNS, UPDATE_COLUMNS, the tow link and
-- close_stale in sql/queries/tracker.sql). Never the privacy flags (aircraft.tracked,
-- identified: the device database's, imported by the owner) nor the enrichment columns
-- of flights (the worker's).
REVOKE INSERT, UPDATE ON aircraft, flights, receivers FROM soar_ingest;
GRANT INSERT (id, address, address_type, aircraft_type, category, registration, callsign,
              model, first_seen, last_seen)
    ON aircraft TO soar_ingest;
GRANT UPDATE (aircraft_type, category, registration, callsign, model, last_seen)
    ON aircraft TO soar_ingest;
GRANT INSERT (id, aircraft_id, source, callsign, started_at, takeoff_time,
              takeoff_latitude, takeoff_longitude, takeoff_altitude_m,
              last_fix_at, last_latitude, last_longitude,
              towed_by_flight_id, towed_by_aircraft_id)
    ON flights TO soar_ingest;
GRANT UPDATE (callsign, landing_time, landing_latitude, landing_longitude, landing_altitude_m,
              last_fix_at, last_latitude, last_longitude, timed_out_at, spurious_reason,
              end_reason, tow_release_time, tow_release_altitude_m,
              towed_by_flight_id, towed_by_aircraft_id, updated_at)
    ON flights TO soar_ingest;
GRANT INSERT (name, latitude, longitude, altitude_m, version, platform, status,
              first_seen, last_seen)
    ON receivers TO soar_ingest;
GRANT UPDATE (latitude, longitude, altitude_m, version, platform, status, last_seen)
    ON receivers TO soar_ingest;

-- Worker: the locations cache is insert-only (INSERT ... ON CONFLICT DO NOTHING in
-- sql/queries/worker.sql); a cached place is never rewritten by the worker.
REVOKE UPDATE ON locations FROM soar_worker;

-- Nobody but the owner creates objects in public. PostgreSQL 15 no longer grants this
-- to PUBLIC in new databases; older servers and upgraded clusters still do.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
