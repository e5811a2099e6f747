-- Downgrade of revision 0017: back to the view live_positions_v2, as revision 0014
-- created it (repeated here: views/live_positions_v2.sql also drops the view before
-- it, which is gone by then).
DROP FUNCTION IF EXISTS live_positions_v3(timestamptz);
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
