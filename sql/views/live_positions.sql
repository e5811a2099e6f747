-- Where each aircraft in the air is now, for the live map (`soar web`, revision 0012):
-- one row per active flight (not landed, not timed out, not spurious) with its
-- aircraft's latest stored fix.
--
-- Why this shape: the ingest path already keeps one row per airborne aircraft up to
-- date in the batch's own transaction (flights.last_fix_at, by the writer's flight
-- UPDATE), and the partial unique index flights_one_active_per_aircraft lists those
-- rows. The latest fix is then one probe of the fixes index (aircraft_id, time DESC)
-- per active flight. Nothing new is written per batch and no index is added to fixes
-- (each one costs about a third of COPY throughput): the live map costs ingest nothing.
--
-- Privacy, as flights_public and aircraft_public: aircraft marked not tracked never
-- appear; the registration and callsign of an aircraft not identified are NULL.
CREATE VIEW live_positions AS
SELECT f.id                                          AS flight_id,
       f.aircraft_id,
       lpad(upper(to_hex(a.address)), 6, '0')        AS aircraft_address,
       a.registration,                               -- masked by aircraft_public
       COALESCE(f.callsign, a.callsign)              AS callsign,   -- masked
       a.model,
       a.aircraft_type,
       a.category,
       f.source,
       f.started_at,
       f.takeoff_time,
       f.last_fix_at,
       x.time,
       x.latitude,
       x.longitude,
       x.altitude_m,
       x.ground_speed_kmh,
       x.track_deg,
       x.climb_rate_ms,
       x.on_ground
  FROM flights_public f
  JOIN aircraft_public a ON a.id = f.aircraft_id AND a.tracked
  CROSS JOIN LATERAL (
        SELECT time, latitude, longitude, altitude_m, ground_speed_kmh, track_deg,
               climb_rate_ms, on_ground
          FROM fixes
         WHERE fixes.aircraft_id = f.aircraft_id AND fixes.time >= f.started_at
         ORDER BY fixes.time DESC
         LIMIT 1) x
 WHERE f.landing_time IS NULL AND f.timed_out_at IS NULL AND f.spurious_reason IS NULL;
GRANT SELECT ON live_positions TO soar_readonly;
