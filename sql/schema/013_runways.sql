-- OurAirports runways.csv: one row per runway, a low (le_) and a high (he_) end.
-- Headings are true; idents are magnetic. Many small fields have no end positions.
CREATE TABLE runways (
    id                         integer PRIMARY KEY,
    airport_id                 integer NOT NULL REFERENCES airports (id) ON DELETE CASCADE,
    airport_ident              text NOT NULL,
    length_ft                  integer,
    width_ft                   integer,
    surface                    text,
    lighted                    boolean,
    closed                     boolean,
    le_ident                   text,
    le_latitude_deg            double precision,
    le_longitude_deg           double precision,
    le_elevation_ft            integer,
    le_heading_degt            double precision,
    le_displaced_threshold_ft  integer,
    he_ident                   text,
    he_latitude_deg            double precision,
    he_longitude_deg           double precision,
    he_elevation_ft            integer,
    he_heading_degt            double precision,
    he_displaced_threshold_ft  integer
);
CREATE INDEX runways_airport_id_idx ON runways (airport_id);
