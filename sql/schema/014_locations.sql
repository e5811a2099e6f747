-- Reverse-geocoding results, one per ~100 m cell. The key is two NOT NULL integers
-- (coordinates rounded to 1/1000 degree), so the unique constraint really holds:
-- a unique index over nullable columns let the old system store duplicates.
CREATE TABLE locations (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lat_e3        integer NOT NULL,
    lon_e3        integer NOT NULL,
    latitude      double precision NOT NULL,
    longitude     double precision NOT NULL,
    city          text,
    region        text,
    country_code  char(2),
    label         text,
    source        text NOT NULL,          -- 'pelias' or 'places' (offline)
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT locations_cell_key UNIQUE (lat_e3, lon_e3)
);
