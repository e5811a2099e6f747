-- The read-only role read every column of flights, among them the callsign of
-- aircraft whose owners withheld their identity (an ADS-B callsign is often the
-- registration): aircraft_public hid it on the aircraft row but not on the flight.
-- Now it reads flights like aircraft: every column but the callsign, and
-- flights_public with the callsign masked as aircraft_public masks it.
DO $$
DECLARE
    cols text;
BEGIN
    SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position) INTO cols
      FROM information_schema.columns
     WHERE table_schema = 'public' AND table_name = 'flights' AND column_name <> 'callsign';
    REVOKE SELECT ON flights FROM soar_readonly;
    EXECUTE format('GRANT SELECT (%s) ON flights TO soar_readonly', cols);
END
$$;

-- The flights table's columns, the callsign masked (a view's output column: a
-- caller's WHERE clause only ever sees the masked value).
CREATE VIEW flights_public AS
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
       f.updated_at
  FROM flights f JOIN aircraft a ON a.id = f.aircraft_id;
GRANT SELECT ON flights_public TO soar_readonly;
