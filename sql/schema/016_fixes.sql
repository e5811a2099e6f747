-- Positions, the high-volume table. Kept lean for binary COPY: no foreign keys,
-- and a single index, (aircraft_id, time DESC), which serves every per-aircraft
-- window (runway detection, restart reload). The hypertable's default time index
-- is not created: nothing reads fixes by time alone, and each index costs about a
-- third of COPY throughput.
-- Units: altitude in metres MSL, ground speed km/h, climb m/s, turn deg/s, signal dB.
CREATE TABLE fixes (
    time              timestamptz      NOT NULL,   -- position time
    received_at       timestamptz      NOT NULL,
    aircraft_id       bigint           NOT NULL,
    receiver_id       integer,
    source            smallint         NOT NULL,   -- 1 OGN, 2 ADS-B
    latitude          double precision NOT NULL,
    longitude         double precision NOT NULL,
    altitude_m        real,
    ground_speed_kmh  real,
    track_deg         real,
    climb_rate_ms     real,
    turn_rate_degs    real,
    on_ground         boolean,
    signal_db         real,
    flight_id         uuid
);
SELECT create_hypertable('fixes', 'time',
                         chunk_time_interval => interval '1 day',
                         create_default_indexes => false);
CREATE INDEX fixes_aircraft_time_idx ON fixes (aircraft_id, time DESC);
