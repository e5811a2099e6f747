-- Revision 0012: the longest text each column a feed fills may hold, as CHECK
-- constraints: the backstop behind the parsers, which apply the same limits at the
-- edge (soar/columns.py TEXT_MAX; tests/unit/test_text_limits.py keeps the two
-- equal). Without them one 6,000-character receiver name from anyone on APRS-IS
-- exceeded the btree row limit of receivers' unique index (SQLSTATE 54000) and
-- failed every batch that held it.
--
-- Values stored before this revision that are over a limit are made to fit first, by
-- the edge's own rules: a name of the aircraft (registration, callsign, model,
-- competition number, category) is dropped, a receiver's version and platform are
-- cut, an over-long receiver name keeps its first 48 characters and its id (unique,
-- like the name). Then each constraint is added NOT VALID and validated.
UPDATE receivers SET name = left(name, 48) || '~' || id WHERE char_length(name) > 64;
UPDATE receivers SET version = left(version, 32) WHERE char_length(version) > 32;
UPDATE receivers SET platform = left(platform, 64) WHERE char_length(platform) > 64;
UPDATE receivers SET status = NULL WHERE octet_length(status::text) > 4096;
UPDATE aircraft SET registration = NULL WHERE char_length(registration) > 16;
UPDATE aircraft SET callsign = NULL WHERE char_length(callsign) > 16;
UPDATE aircraft SET model = NULL WHERE char_length(model) > 64;
UPDATE aircraft SET competition_number = NULL WHERE char_length(competition_number) > 8;
UPDATE aircraft SET category = NULL WHERE char_length(category) > 8;
UPDATE flights SET callsign = NULL WHERE char_length(callsign) > 16;
UPDATE flights SET previous_callsign = NULL WHERE char_length(previous_callsign) > 16;

ALTER TABLE receivers ADD CONSTRAINT receivers_name_length CHECK (char_length(name) <= 64) NOT VALID;
ALTER TABLE receivers ADD CONSTRAINT receivers_version_length CHECK (char_length(version) <= 32) NOT VALID;
ALTER TABLE receivers ADD CONSTRAINT receivers_platform_length CHECK (char_length(platform) <= 64) NOT VALID;
ALTER TABLE receivers ADD CONSTRAINT receivers_status_size CHECK (octet_length(status::text) <= 4096) NOT VALID;
ALTER TABLE aircraft ADD CONSTRAINT aircraft_registration_length CHECK (char_length(registration) <= 16) NOT VALID;
ALTER TABLE aircraft ADD CONSTRAINT aircraft_callsign_length CHECK (char_length(callsign) <= 16) NOT VALID;
ALTER TABLE aircraft ADD CONSTRAINT aircraft_model_length CHECK (char_length(model) <= 64) NOT VALID;
ALTER TABLE aircraft ADD CONSTRAINT aircraft_competition_number_length CHECK (char_length(competition_number) <= 8) NOT VALID;
ALTER TABLE aircraft ADD CONSTRAINT aircraft_category_length CHECK (char_length(category) <= 8) NOT VALID;
ALTER TABLE flights ADD CONSTRAINT flights_callsign_length CHECK (char_length(callsign) <= 16) NOT VALID;
ALTER TABLE flights ADD CONSTRAINT flights_previous_callsign_length CHECK (char_length(previous_callsign) <= 16) NOT VALID;

ALTER TABLE receivers VALIDATE CONSTRAINT receivers_name_length;
ALTER TABLE receivers VALIDATE CONSTRAINT receivers_version_length;
ALTER TABLE receivers VALIDATE CONSTRAINT receivers_platform_length;
ALTER TABLE receivers VALIDATE CONSTRAINT receivers_status_size;
ALTER TABLE aircraft VALIDATE CONSTRAINT aircraft_registration_length;
ALTER TABLE aircraft VALIDATE CONSTRAINT aircraft_callsign_length;
ALTER TABLE aircraft VALIDATE CONSTRAINT aircraft_model_length;
ALTER TABLE aircraft VALIDATE CONSTRAINT aircraft_competition_number_length;
ALTER TABLE aircraft VALIDATE CONSTRAINT aircraft_category_length;
ALTER TABLE flights VALIDATE CONSTRAINT flights_callsign_length;
ALTER TABLE flights VALIDATE CONSTRAINT flights_previous_callsign_length;
