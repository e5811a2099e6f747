-- OurAirports airports.csv, columns as published. `location` is derived for
-- spatial lookups (nearest airport to a takeoff).
CREATE TABLE airports (
    id                 integer PRIMARY KEY,
    ident              text NOT NULL UNIQUE,
    type               text NOT NULL,
    name               text NOT NULL,
    latitude_deg       double precision NOT NULL,
    longitude_deg      double precision NOT NULL,
    elevation_ft       integer,
    continent          text,
    iso_country        text,
    iso_region         text,
    municipality       text,
    scheduled_service  boolean,
    gps_code           text,
    iata_code          text,
    local_code         text,
    location           geography(Point, 4326) GENERATED ALWAYS AS
                           (ST_SetSRID(ST_MakePoint(longitude_deg, latitude_deg), 4326)::geography) STORED
);
CREATE INDEX airports_location_idx ON airports USING gist (location);
