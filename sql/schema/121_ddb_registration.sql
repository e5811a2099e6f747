-- Revision 0012: the OGN device database's registration wins over an APRS `reg`
-- token, which anyone can transmit. `soar import ddb` marks a registration it wrote;
-- the ingest upsert (sql/queries/ingest.sql upsert_aircraft) leaves a marked one
-- alone. Rows imported before this revision are marked by the next import.
ALTER TABLE aircraft ADD COLUMN registration_from_ddb boolean NOT NULL DEFAULT false;
