-- The live map (live_positions_v2) finds the aircraft heard recently by this index:
-- a range of the newest last_seen values, and max(last_seen) as the newest data time.
-- Its write cost is the aircraft upsert's, which the router makes at most once per
-- aircraft per refresh interval or change (soar/ingest/router.py AIRCRAFT_REFRESH),
-- never per fix.
CREATE INDEX aircraft_last_seen_idx ON aircraft (last_seen);
