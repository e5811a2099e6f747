-- One row per transmitting device. The id is derived from the address
-- ((address_type << 24) | address), so the ingest path never needs a lookup to
-- know it; an ICAO address heard over OGN and over ADS-B is the same aircraft.
CREATE TABLE aircraft (
    id             bigint PRIMARY KEY,
    address        integer  NOT NULL CHECK (address BETWEEN 0 AND 16777215),
    -- 0 random, 1 ICAO, 2 FLARM, 3 OGN; Naviter's 4-digit id flags carry 4 and 5 too.
    address_type   smallint NOT NULL CHECK (address_type BETWEEN 0 AND 63),
    aircraft_type  smallint,              -- OGN aircraft type 0..15
    category       text,                  -- ADS-B emitter category, e.g. A3
    registration   text,
    callsign       text,
    model          text,
    -- Privacy (OGN device database): not tracked => no fixes stored;
    -- not identified => registration not shown.
    tracked        boolean  NOT NULL DEFAULT true,
    identified     boolean  NOT NULL DEFAULT true,
    first_seen     timestamptz NOT NULL DEFAULT now(),
    last_seen      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT aircraft_address_key UNIQUE (address, address_type),
    CONSTRAINT aircraft_id_matches_address CHECK (id = (address_type::bigint << 24) | address)
);
