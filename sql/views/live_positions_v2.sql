-- Where each aircraft heard recently is now, for the live map (`soar web`, revision
-- 0014): every tracked aircraft at its latest stored fix, in the air or on the ground,
-- with its active flight if it has one (flight_id NULL: standing before takeoff,
-- landed, or its flight timed out). It replaces live_positions (revision 0013), which
-- showed only aircraft with an active flight: users expect what OGN's live map and
-- tar1090 show. The caller says what "recently" is (sql/queries/web.sql `positions`:
-- a range of last_seen and of the fix time, which the planner sees as values).
--
-- Why this shape: nothing new is written by ingest. aircraft.last_seen is the time of
-- a fix, rewritten by the upsert at most every 10 minutes while an aircraft is heard
-- (the router's AIRCRAFT_REFRESH), so an aircraft heard since T has last_seen >= T - 10
-- minutes: a range of aircraft_last_seen_idx. Its latest fix is at or after last_seen,
-- one probe of the fixes index (aircraft_id, time DESC) bounded below by last_seen, so
-- that only the newest chunks are looked into; its active flight is one probe of
-- flights_one_active_per_aircraft.
--
-- Privacy, as flights_public and aircraft_public: aircraft marked not tracked never
-- appear; the registration and callsign of an aircraft not identified are NULL.
CREATE VIEW live_positions_v2 AS
SELECT a.id                                          AS aircraft_id,
       lpad(upper(to_hex(a.address)), 6, '0')        AS aircraft_address,
       a.registration,                               -- masked by aircraft_public
       COALESCE(f.callsign, a.callsign)              AS callsign,   -- masked
       a.model,
       a.aircraft_type,
       a.category,
       a.last_seen,
       f.id                                          AS flight_id,
       f.started_at,
       f.takeoff_time,
       x.source,
       x.time,
       x.latitude,
       x.longitude,
       x.altitude_m,
       x.ground_speed_kmh,
       x.track_deg,
       x.climb_rate_ms,
       x.on_ground
  FROM aircraft_public a
  CROSS JOIN LATERAL (
        SELECT time, source, latitude, longitude, altitude_m, ground_speed_kmh, track_deg,
               climb_rate_ms, on_ground
          FROM fixes
         WHERE fixes.aircraft_id = a.id
           AND fixes.time >= a.last_seen - interval '10 minutes'
         ORDER BY fixes.time DESC
         LIMIT 1) x
  LEFT JOIN flights_public f
         ON f.aircraft_id = a.id AND f.landing_time IS NULL AND f.timed_out_at IS NULL
        AND f.spurious_reason IS NULL
 WHERE a.tracked;
GRANT SELECT ON live_positions_v2 TO soar_readonly;

-- One name per thing: the map reads only the new view (the downgrade restores the old).
DROP VIEW live_positions;
