-- Where each aircraft heard since `heard_since` is now, for the live map (`soar web`,
-- revision 0017): live_positions_v2 (revision 0014) as a function of that time, the
-- same rows and columns for the same `heard_since`. It replaces the view.
--
-- Why a function: the view bounded each aircraft's fixes below only by its own
-- last_seen, a value of the outer row, so TimescaleDB chose the chunks again for each
-- aircraft at run time: with 20 one-day chunks that was most of the read (EXPLAIN on
-- the web benchmark's database: about 0.07 ms of each 0.077 ms probe, 80 ms for 1,450
-- aircraft). Bounded also by the argument, which the planner sees as a value once this
-- SQL function is inlined into its caller (LANGUAGE sql, STABLE, one SELECT, not
-- SECURITY DEFINER), the chunks older than it are excluded once, at plan time.
--
-- As live_positions_v2: an aircraft heard since T has last_seen >= T - 10 minutes
-- (the writer rewrites last_seen at least that often while it is heard: the router's
-- AIRCRAFT_REFRESH), a range of aircraft_last_seen_idx; its latest fix, one probe of
-- the fixes index (aircraft_id, time DESC); its active flight, one probe of
-- flights_one_active_per_aircraft. Privacy through aircraft_public and flights_public:
-- aircraft not tracked never appear; the registration and callsign of an aircraft not
-- identified are NULL. Runs with the caller's rights (soar_readonly reads fixes).
CREATE FUNCTION live_positions_v3(heard_since timestamptz)
RETURNS TABLE (
    aircraft_id bigint,
    aircraft_address text,
    registration text,
    callsign text,
    model text,
    aircraft_type smallint,
    category text,
    last_seen timestamptz,
    flight_id uuid,
    started_at timestamptz,
    takeoff_time timestamptz,
    source smallint,
    "time" timestamptz,
    latitude double precision,
    longitude double precision,
    altitude_m real,
    ground_speed_kmh real,
    track_deg real,
    climb_rate_ms real,
    on_ground boolean)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
SELECT a.id,
       lpad(upper(to_hex(a.address)), 6, '0'),
       a.registration,
       COALESCE(f.callsign, a.callsign),
       a.model,
       a.aircraft_type,
       a.category,
       a.last_seen,
       f.id,
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
        SELECT fixes.time, fixes.source, fixes.latitude, fixes.longitude, fixes.altitude_m,
               fixes.ground_speed_kmh, fixes.track_deg, fixes.climb_rate_ms, fixes.on_ground
          FROM fixes
         WHERE fixes.aircraft_id = a.id
           AND fixes.time >= a.last_seen - interval '10 minutes'
           AND fixes.time >= heard_since
         ORDER BY fixes.time DESC
         LIMIT 1) x
  LEFT JOIN flights_public f
         ON f.aircraft_id = a.id AND f.landing_time IS NULL AND f.timed_out_at IS NULL
        AND f.spurious_reason IS NULL
 WHERE a.tracked
   AND a.last_seen >= heard_since - interval '10 minutes'
$$;
REVOKE ALL ON FUNCTION live_positions_v3(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION live_positions_v3(timestamptz) TO soar_readonly;

-- One name per thing: the map reads only the function (the downgrade restores the view).
DROP VIEW live_positions_v2;
