-- Airport and runway of a flight's takeoff or landing, decided in the database.
--
-- 1. The event (flights.takeoff_time / landing_time and its position) and the
--    aircraft's fixes in [event - p_window, event + p_window], read through the
--    (aircraft_id, time) index: a few dozen rows among millions.
-- 2. Ground track: the CIRCULAR mean of the fixes' tracks (atan2 of the summed
--    sines and cosines; the arithmetic mean of 355 and 5 would be 180), over fixes
--    moving at >= p_min_speed_kmh (standing aircraft report track 0), weighted
--    toward the event time (triangular weights: the ground roll or rollout counts
--    more than a turn 20 s later). When the tracks disagree (mean resultant length
--    < 0.3, e.g. circling) or no fix has a track, the bearing from the first to the
--    last fix of the window is used instead, if they are > 100 m apart.
-- 3. Airport: the nearest one (not closed; no heliport or balloonport for
--    aeroplanes) whose reference point OR one of whose runways is within
--    p_max_airport_m of the event position (large airports' runway ends are
--    several km from the reference point: CDG 26R is 2.2 km away).
-- 4. Runway, unless the aircraft type never uses one (3 helicopter, 4 skydiver,
--    6 hang glider, 7 paraglider, 11 balloon, 12 airship, 13 UAV):
--    a. among runway ends whose true heading is within p_max_heading_diff of the
--       track and that have both end positions, the one whose extended centre line
--       passes nearest the event position, if within 200 m of it and the position
--       is within 3 km of the runway (a takeoff detected after liftoff is beyond
--       the runway's end, on its centre line): runway_inferred = false (method
--       'position'); parallel runways are told apart this way;
--    b. else by heading alone among the airport's ends (idents and headings without
--       positions, as on most small fields): runway_inferred = true (method
--       'heading'); parallel runways (18L/18R, same heading) cannot be told apart
--       without positions, so their common number ('18') is returned;
--    c. else an ident from the track itself ('36' for 355 degrees), inferred
--       (method 'from_heading'), also when no airport is near.
-- Missing data gives NULLs and method 'none' / 'no_track' / 'no_runway_aircraft'.
CREATE OR REPLACE FUNCTION detect_runway(
    p_flight_id        uuid,
    p_event            text,
    p_window           interval         DEFAULT interval '20 seconds',
    p_max_airport_m    double precision DEFAULT 2000,
    p_max_heading_diff double precision DEFAULT 30,
    p_min_speed_kmh    real             DEFAULT 20,
    OUT airport_id          integer,
    OUT airport_ident       text,
    OUT airport_distance_m  double precision,
    OUT runway              text,
    OUT runway_inferred     boolean,
    OUT track_deg           double precision,
    OUT fix_count           integer,
    OUT method              text)
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    c_no_runway_types CONSTANT smallint[] := '{3,4,6,7,11,12,13}';
    c_max_lateral_m   CONSTANT double precision := 200;    -- off the extended centreline
    c_max_along_m     CONSTANT double precision := 3000;   -- from the runway (segment)
    v_aircraft_id  bigint;
    v_type         smallint;
    v_time         timestamptz;
    v_lat          double precision;
    v_lon          double precision;
    v_pt           geography;
    v_window_s     double precision := extract(epoch FROM p_window);
    v_track        double precision;
    v_resultant    double precision;
    v_count        integer;
    v_airport_id   integer;
    v_end          record;
    v_pos_ident    text;
    v_pos_lateral  double precision;
    v_min_diff     double precision;
    v_idents       text[] := '{}';
    v_numbers      text[] := '{}';
BEGIN
    IF p_event IS NULL OR p_event NOT IN ('takeoff', 'landing') THEN
        RAISE EXCEPTION 'detect_runway: event must be takeoff or landing, not %', p_event
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    SELECT f.aircraft_id, a.aircraft_type,
           CASE p_event WHEN 'takeoff' THEN f.takeoff_time ELSE f.landing_time END,
           CASE p_event WHEN 'takeoff' THEN f.takeoff_latitude ELSE f.landing_latitude END,
           CASE p_event WHEN 'takeoff' THEN f.takeoff_longitude ELSE f.landing_longitude END
      INTO v_aircraft_id, v_type, v_time, v_lat, v_lon
      FROM flights f
      JOIN aircraft a ON a.id = f.aircraft_id
     WHERE f.id = p_flight_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'detect_runway: flight % not found', p_flight_id
            USING ERRCODE = 'no_data_found';
    END IF;

    method := 'none';
    fix_count := 0;
    IF v_time IS NULL THEN
        RETURN;
    END IF;

    -- 2. circular mean of the track, weighted toward the event
    SELECT count(*)::integer,
           degrees(atan2(sum(m.w * sin(radians(m.track))), sum(m.w * cos(radians(m.track))))),
           sqrt(power(sum(m.w * sin(radians(m.track))), 2) + power(sum(m.w * cos(radians(m.track))), 2))
               / nullif(sum(m.w), 0)
      INTO v_count, v_track, v_resultant
      FROM (SELECT x.track_deg::double precision AS track,
                   1.0 - abs(extract(epoch FROM x.time - v_time)::double precision) / (v_window_s + 1.0) AS w
              FROM fixes x
             WHERE x.aircraft_id = v_aircraft_id
               AND x.time BETWEEN v_time - p_window AND v_time + p_window
               AND x.track_deg IS NOT NULL
               AND coalesce(x.ground_speed_kmh, p_min_speed_kmh) >= p_min_speed_kmh) m;
    fix_count := v_count;
    IF v_count = 0 OR v_resultant < 0.3 THEN
        v_track := NULL;
        -- Fallback: bearing from the first to the last fix of the window.
        SELECT degrees(ST_Azimuth(g.first_pt, g.last_pt))
          INTO v_track
          FROM (SELECT (array_agg(ST_SetSRID(ST_MakePoint(x.longitude, x.latitude), 4326)::geography
                                  ORDER BY x.time))[1] AS first_pt,
                       (array_agg(ST_SetSRID(ST_MakePoint(x.longitude, x.latitude), 4326)::geography
                                  ORDER BY x.time DESC))[1] AS last_pt
                  FROM fixes x
                 WHERE x.aircraft_id = v_aircraft_id
                   AND x.time BETWEEN v_time - p_window AND v_time + p_window) g
         WHERE g.first_pt IS NOT NULL AND ST_Distance(g.first_pt, g.last_pt) > 100;
    END IF;
    IF v_track IS NOT NULL THEN
        v_track := (v_track::numeric % 360 + 360) % 360;
    END IF;
    track_deg := v_track;

    -- The event position: the flight's, else the fix nearest the event time.
    IF v_lat IS NULL OR v_lon IS NULL THEN
        SELECT x.latitude, x.longitude
          INTO v_lat, v_lon
          FROM fixes x
         WHERE x.aircraft_id = v_aircraft_id
           AND x.time BETWEEN v_time - p_window AND v_time + p_window
         ORDER BY abs(extract(epoch FROM x.time - v_time))
         LIMIT 1;
        IF v_lat IS NULL THEN
            RETURN;
        END IF;
    END IF;
    v_pt := ST_SetSRID(ST_MakePoint(v_lon, v_lat), 4326)::geography;

    -- 3. nearest airport by reference point or runway
    SELECT c.id, c.ident, c.dist
      INTO v_airport_id, airport_ident, airport_distance_m
      FROM (SELECT ap.id, ap.ident,
                   LEAST(ST_Distance(ap.location, v_pt),
                         (SELECT min(ST_Distance(
                                     ST_MakeLine(
                                         ST_SetSRID(ST_MakePoint(r.le_longitude_deg, r.le_latitude_deg), 4326),
                                         ST_SetSRID(ST_MakePoint(r.he_longitude_deg, r.he_latitude_deg), 4326)
                                     )::geography, v_pt))
                            FROM runways r
                           WHERE r.airport_id = ap.id
                             AND r.le_latitude_deg IS NOT NULL AND r.le_longitude_deg IS NOT NULL
                             AND r.he_latitude_deg IS NOT NULL AND r.he_longitude_deg IS NOT NULL)) AS dist
              FROM airports ap
             WHERE ST_DWithin(ap.location, v_pt, p_max_airport_m + 5000)
               AND ap.type <> 'closed'
               AND (coalesce(v_type = ANY (c_no_runway_types), false)
                    OR ap.type NOT IN ('heliport', 'balloonport'))) c
     WHERE c.dist <= p_max_airport_m
     ORDER BY c.dist, c.id
     LIMIT 1;
    airport_id := v_airport_id;

    -- 4. runway
    IF coalesce(v_type = ANY (c_no_runway_types), false) THEN
        method := 'no_runway_aircraft';
        RETURN;
    END IF;
    IF v_track IS NULL THEN
        method := 'no_track';
        RETURN;
    END IF;

    IF v_airport_id IS NOT NULL THEN
        -- The airport's runway ends within p_max_heading_diff of the track, best
        -- heading first. An end without a heading of its own takes the other end's
        -- reciprocal, else its designator's number * 10.
        FOR v_end IN
            SELECT s.ident, s.diff, s.dist, s.lateral
              FROM (SELECT e.ident,
                           abs(((v_track - e.heading)::numeric + 540) % 360 - 180)::double precision AS diff,
                           CASE WHEN pos.ok
                                THEN ST_Distance(ST_MakeLine(
                                         ST_SetSRID(ST_MakePoint(r.le_longitude_deg, r.le_latitude_deg), 4326),
                                         ST_SetSRID(ST_MakePoint(r.he_longitude_deg, r.he_latitude_deg), 4326)
                                     )::geography, v_pt) END AS dist,
                           -- distance from the extended centre line, in a local plane
                           -- (metres east/north of the low end): |AB x AP| / |AB|
                           CASE WHEN pos.ok THEN
                               abs(pos.run_e * pos.pt_n - pos.run_n * pos.pt_e)
                                   / nullif(sqrt(pos.run_e * pos.run_e + pos.run_n * pos.run_n), 0) END AS lateral
                      FROM runways r
                      CROSS JOIN LATERAL (SELECT
                          r.le_latitude_deg IS NOT NULL AND r.le_longitude_deg IS NOT NULL
                              AND r.he_latitude_deg IS NOT NULL AND r.he_longitude_deg IS NOT NULL AS ok,
                          (r.he_longitude_deg - r.le_longitude_deg) * cos(radians(r.le_latitude_deg)) * 111320 AS run_e,
                          (r.he_latitude_deg - r.le_latitude_deg) * 110540 AS run_n,
                          (v_lon - r.le_longitude_deg) * cos(radians(r.le_latitude_deg)) * 111320 AS pt_e,
                          (v_lat - r.le_latitude_deg) * 110540 AS pt_n
                      ) AS pos
                      CROSS JOIN LATERAL (VALUES
                          (r.le_ident, coalesce(r.le_heading_degt,
                                                ((r.he_heading_degt + 180)::numeric % 360)::double precision,
                                                substring(r.le_ident FROM '^[0-9]{1,2}')::double precision * 10)),
                          (r.he_ident, coalesce(r.he_heading_degt,
                                                ((r.le_heading_degt + 180)::numeric % 360)::double precision,
                                                substring(r.he_ident FROM '^[0-9]{1,2}')::double precision * 10))
                      ) AS e (ident, heading)
                     WHERE r.airport_id = v_airport_id
                       AND NOT coalesce(r.closed, false)
                       AND e.ident IS NOT NULL AND e.heading IS NOT NULL) s
             WHERE s.diff <= p_max_heading_diff
             ORDER BY s.diff, s.ident
        LOOP
            IF v_end.lateral <= c_max_lateral_m AND v_end.dist <= c_max_along_m
               AND (v_pos_lateral IS NULL OR v_end.lateral < v_pos_lateral) THEN
                v_pos_ident := v_end.ident;
                v_pos_lateral := v_end.lateral;
            END IF;
            v_min_diff := coalesce(v_min_diff, v_end.diff);
            -- ends within 5 degrees of the best heading are parallels (18L, 18R)
            IF v_end.diff <= v_min_diff + 5 AND NOT (v_end.ident = ANY (v_idents)) THEN
                v_idents := array_append(v_idents, v_end.ident);
                v_numbers := array_append(v_numbers, substring(v_end.ident FROM '^[0-9]+'));
            END IF;
        END LOOP;

        -- a. positioned end whose centre line the event position is on
        IF v_pos_ident IS NOT NULL THEN
            runway := v_pos_ident;
            runway_inferred := false;
            method := 'position';
            RETURN;
        END IF;
        -- b. by heading alone
        IF cardinality(v_idents) > 0 THEN
            IF cardinality(v_idents) = 1 THEN
                runway := v_idents[1];
            ELSIF v_numbers[1] IS NOT NULL
                  AND (SELECT count(DISTINCT n) FROM unnest(v_numbers) AS n) = 1
                  AND array_position(v_numbers, NULL) IS NULL THEN
                runway := v_numbers[1];
            ELSE
                runway := v_idents[1];
            END IF;
            runway_inferred := true;
            method := 'heading';
            RETURN;
        END IF;
    END IF;

    -- c. nothing matches: an ident from the track
    runway := runway_ident_from_heading(v_track);
    runway_inferred := true;
    method := 'from_heading';
END
$$;
