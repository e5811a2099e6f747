-- Flight products (revision 0008), the columns the tracker now writes:
--  previous_callsign: a callsign change while continuously airborne no longer splits the
--    flight (docs/flight-detection.md); the flight takes the new callsign and keeps the
--    one before it here, so a search by either finds it.
--  launch_method: how a flight that took off was launched: aerotow (paired with a tow
--    plane), winch, self (climbed on its own) or unknown (not enough evidence: first
--    seen airborne, too few fixes). NULL until the tracker has decided.
ALTER TABLE flights
    ADD COLUMN previous_callsign text,
    ADD COLUMN launch_method     text
        CHECK (launch_method IN ('aerotow', 'winch', 'self', 'unknown'));

-- aircraft.competition_number: the glider's competition id from the device database
-- (its CN field), written by `soar import ddb`, never by ingest. Like the registration
-- it names someone: shown (by the logbook view) only for identified aircraft.
ALTER TABLE aircraft ADD COLUMN competition_number text;

-- Ingest writes both (soar/tracker/store.py INSERT_COLUMNS / UPDATE_COLUMNS).
GRANT INSERT (previous_callsign, launch_method) ON flights TO soar_ingest;
GRANT UPDATE (previous_callsign, launch_method) ON flights TO soar_ingest;

-- The read-only role reads the launch method; previous_callsign is a callsign and, like
-- the callsign, only through flights_public, masked for aircraft not identified.
GRANT SELECT (launch_method) ON flights TO soar_readonly;

CREATE OR REPLACE VIEW flights_public AS
SELECT f.id,
       f.aircraft_id,
       f.source,
       CASE WHEN a.identified THEN f.callsign END AS callsign,
       f.started_at,
       f.takeoff_time,
       f.takeoff_latitude,
       f.takeoff_longitude,
       f.takeoff_altitude_m,
       f.landing_time,
       f.landing_latitude,
       f.landing_longitude,
       f.landing_altitude_m,
       f.last_fix_at,
       f.last_latitude,
       f.last_longitude,
       f.timed_out_at,
       f.end_reason,
       f.spurious_reason,
       f.towed_by_flight_id,
       f.towed_by_aircraft_id,
       f.tow_release_time,
       f.tow_release_altitude_m,
       f.departure_airport_id,
       f.arrival_airport_id,
       f.takeoff_runway,
       f.takeoff_runway_inferred,
       f.landing_runway,
       f.landing_runway_inferred,
       f.start_location_id,
       f.end_location_id,
       f.takeoff_enrichment,
       f.landing_enrichment,
       f.enrichment_error,
       f.created_at,
       f.updated_at,
       CASE WHEN a.identified THEN f.previous_callsign END AS previous_callsign,
       f.launch_method
  FROM flights f JOIN aircraft a ON a.id = f.aircraft_id;
