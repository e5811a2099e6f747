-- Reference-data imports: OurAirports airports and runways (soar/reference/airports.py),
-- GeoNames places (soar/reference/places.py) and the OGN device database (soar/reference/ddb.py).

-- name: airports_invalid
SELECT count(*) FROM airports_in s
 WHERE coalesce(s.id, '') !~ '^[0-9]+$'
    OR nullif(s.ident, '') IS NULL OR s.latitude_deg IS NULL OR s.longitude_deg IS NULL

-- name: runways_invalid
SELECT count(*) FROM runways_in s
 WHERE coalesce(s.id, '') !~ '^[0-9]+$'
    OR coalesce(s.airport_ref, '') !~ '^[0-9]+$'

-- name: airports_free_moved_idents
-- An ident that moved to another id: free it first (ident is UNIQUE).
UPDATE airports a SET ident = '~' || a.id
  FROM airports_in s
 WHERE a.ident = s.ident AND a.id <> s.id::integer

-- name: airports_upsert
-- Unchanged rows are not rewritten (the IS DISTINCT FROM condition); returns the
-- counts of inserted and updated rows.
WITH up AS (
    INSERT INTO airports AS a (id, ident, type, name, latitude_deg, longitude_deg,
                               elevation_ft, continent, iso_country, iso_region,
                               municipality, scheduled_service, gps_code, iata_code,
                               local_code)
    SELECT s.id::integer, trim(s.ident), coalesce(nullif(trim(s.type), ''), 'unknown'),
           coalesce(s.name, ''), s.latitude_deg::double precision,
           s.longitude_deg::double precision,
           round(nullif(trim(s.elevation_ft), '')::numeric)::integer,
           nullif(trim(s.continent), ''), nullif(trim(s.iso_country), ''),
           nullif(trim(s.iso_region), ''),
           nullif(trim(s.municipality), ''),
           CASE lower(nullif(trim(s.scheduled_service), '')) WHEN 'yes' THEN true
                                                               WHEN 'no' THEN false END,
           nullif(trim(s.gps_code), ''), nullif(trim(s.iata_code), ''),
           nullif(trim(s.local_code), '')
      FROM airports_in s
    ON CONFLICT (id) DO UPDATE
       SET ident = EXCLUDED.ident, type = EXCLUDED.type, name = EXCLUDED.name,
           latitude_deg = EXCLUDED.latitude_deg, longitude_deg = EXCLUDED.longitude_deg,
           elevation_ft = EXCLUDED.elevation_ft, continent = EXCLUDED.continent,
           iso_country = EXCLUDED.iso_country, iso_region = EXCLUDED.iso_region,
           municipality = EXCLUDED.municipality,
           scheduled_service = EXCLUDED.scheduled_service, gps_code = EXCLUDED.gps_code,
           iata_code = EXCLUDED.iata_code, local_code = EXCLUDED.local_code
     WHERE (a.ident, a.type, a.name, a.latitude_deg, a.longitude_deg, a.elevation_ft,
            a.continent, a.iso_country, a.iso_region, a.municipality,
            a.scheduled_service, a.gps_code, a.iata_code, a.local_code)
           IS DISTINCT FROM
           (EXCLUDED.ident, EXCLUDED.type, EXCLUDED.name, EXCLUDED.latitude_deg,
            EXCLUDED.longitude_deg, EXCLUDED.elevation_ft, EXCLUDED.continent,
            EXCLUDED.iso_country, EXCLUDED.iso_region, EXCLUDED.municipality,
            EXCLUDED.scheduled_service, EXCLUDED.gps_code, EXCLUDED.iata_code,
            EXCLUDED.local_code)
    RETURNING (xmax = 0) AS inserted)
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up

-- name: runways_upsert
-- Runways whose airport is not in the airports file are left out (the JOIN; counted by
-- runways_without_airport). Unchanged rows are not rewritten; returns the counts of
-- inserted and updated rows. Flags read 1/yes and 0/no.
WITH up AS (
    INSERT INTO runways AS r (id, airport_id, airport_ident, length_ft, width_ft, surface,
                              lighted, closed,
                              le_ident, le_latitude_deg, le_longitude_deg, le_elevation_ft,
                              le_heading_degt, le_displaced_threshold_ft,
                              he_ident, he_latitude_deg, he_longitude_deg, he_elevation_ft,
                              he_heading_degt, he_displaced_threshold_ft)
    SELECT s.id::integer, s.airport_ref::integer, trim(s.airport_ident),
           round(nullif(trim(s.length_ft), '')::numeric)::integer,
           round(nullif(trim(s.width_ft), '')::numeric)::integer,
           nullif(trim(s.surface), ''),
           CASE lower(nullif(trim(s.lighted), '')) WHEN '1' THEN true WHEN 'yes' THEN true
                                                   WHEN '0' THEN false WHEN 'no' THEN false END,
           CASE lower(nullif(trim(s.closed), '')) WHEN '1' THEN true WHEN 'yes' THEN true
                                                  WHEN '0' THEN false WHEN 'no' THEN false END,
           nullif(trim(s.le_ident), ''),
           nullif(trim(s.le_latitude_deg), '')::double precision,
           nullif(trim(s.le_longitude_deg), '')::double precision,
           round(nullif(trim(s.le_elevation_ft), '')::numeric)::integer,
           nullif(trim(s.le_heading_degt), '')::double precision,
           round(nullif(trim(s.le_displaced_threshold_ft), '')::numeric)::integer,
           nullif(trim(s.he_ident), ''),
           nullif(trim(s.he_latitude_deg), '')::double precision,
           nullif(trim(s.he_longitude_deg), '')::double precision,
           round(nullif(trim(s.he_elevation_ft), '')::numeric)::integer,
           nullif(trim(s.he_heading_degt), '')::double precision,
           round(nullif(trim(s.he_displaced_threshold_ft), '')::numeric)::integer
      FROM runways_in s
      JOIN airports a ON a.id = s.airport_ref::integer
    ON CONFLICT (id) DO UPDATE
       SET airport_id = EXCLUDED.airport_id, airport_ident = EXCLUDED.airport_ident,
           length_ft = EXCLUDED.length_ft, width_ft = EXCLUDED.width_ft,
           surface = EXCLUDED.surface, lighted = EXCLUDED.lighted, closed = EXCLUDED.closed,
           le_ident = EXCLUDED.le_ident, le_latitude_deg = EXCLUDED.le_latitude_deg,
           le_longitude_deg = EXCLUDED.le_longitude_deg,
           le_elevation_ft = EXCLUDED.le_elevation_ft,
           le_heading_degt = EXCLUDED.le_heading_degt,
           le_displaced_threshold_ft = EXCLUDED.le_displaced_threshold_ft,
           he_ident = EXCLUDED.he_ident, he_latitude_deg = EXCLUDED.he_latitude_deg,
           he_longitude_deg = EXCLUDED.he_longitude_deg,
           he_elevation_ft = EXCLUDED.he_elevation_ft,
           he_heading_degt = EXCLUDED.he_heading_degt,
           he_displaced_threshold_ft = EXCLUDED.he_displaced_threshold_ft
     WHERE (r.airport_id, r.airport_ident, r.length_ft, r.width_ft, r.surface, r.lighted,
            r.closed, r.le_ident, r.le_latitude_deg, r.le_longitude_deg, r.le_elevation_ft,
            r.le_heading_degt, r.le_displaced_threshold_ft, r.he_ident, r.he_latitude_deg,
            r.he_longitude_deg, r.he_elevation_ft, r.he_heading_degt,
            r.he_displaced_threshold_ft)
           IS DISTINCT FROM
           (EXCLUDED.airport_id, EXCLUDED.airport_ident, EXCLUDED.length_ft,
            EXCLUDED.width_ft, EXCLUDED.surface, EXCLUDED.lighted, EXCLUDED.closed,
            EXCLUDED.le_ident, EXCLUDED.le_latitude_deg, EXCLUDED.le_longitude_deg,
            EXCLUDED.le_elevation_ft, EXCLUDED.le_heading_degt,
            EXCLUDED.le_displaced_threshold_ft, EXCLUDED.he_ident, EXCLUDED.he_latitude_deg,
            EXCLUDED.he_longitude_deg, EXCLUDED.he_elevation_ft, EXCLUDED.he_heading_degt,
            EXCLUDED.he_displaced_threshold_ft)
    RETURNING (xmax = 0) AS inserted)
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up

-- name: runways_without_airport
SELECT count(*) FROM runways_in s
 WHERE NOT EXISTS (SELECT 1 FROM airports a WHERE a.id = s.airport_ref::integer)

-- name: runways_prune
-- Runways that vanished from the source.
DELETE FROM runways r
 WHERE NOT EXISTS (SELECT 1 FROM runways_in s WHERE s.id::integer = r.id)

-- name: airports_prune
-- Airports that vanished from the source, unless a flight refers to them.
DELETE FROM airports a
 WHERE NOT EXISTS (SELECT 1 FROM airports_in s WHERE s.id::integer = a.id)
   AND NOT EXISTS (SELECT 1 FROM flights f WHERE f.departure_airport_id = a.id)
   AND NOT EXISTS (SELECT 1 FROM flights f WHERE f.arrival_airport_id = a.id)

-- name: places_insert
-- places_in always has admin1 and admin2 (places.py adds them, empty, when the file
-- lacks them). Rows without a name or a valid position are skipped.
INSERT INTO places (name, admin1, admin2, country_code, latitude, longitude)
SELECT v.name, v.admin1, v.admin2, v.cc, v.lat, v.lon
  FROM (SELECT nullif(trim(s.name), '') AS name,
               nullif(trim(s.admin1), '') AS admin1,
               nullif(trim(s.admin2), '') AS admin2,
               CASE WHEN length(trim(s.cc)) = 2 THEN upper(trim(s.cc)) END AS cc,
               CASE WHEN s.lat ~ '^\s*-?[0-9]+(\.[0-9]+)?\s*$'
                    THEN s.lat::double precision END AS lat,
               CASE WHEN s.lon ~ '^\s*-?[0-9]+(\.[0-9]+)?\s*$'
                    THEN s.lon::double precision END AS lon
          FROM places_in s) v
 WHERE v.name IS NOT NULL AND v.lat BETWEEN -90 AND 90 AND v.lon BETWEEN -180 AND 180

-- name: ddb_upsert
-- A device without a registration, model or competition id in the DDB keeps the one
-- already known.
INSERT INTO aircraft (id, address, address_type, registration, model, tracked, identified,
                      competition_number)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (id) DO UPDATE SET
    registration = COALESCE(EXCLUDED.registration, aircraft.registration),
    competition_number = COALESCE(EXCLUDED.competition_number, aircraft.competition_number),
    model        = COALESCE(EXCLUDED.model, aircraft.model),
    tracked      = EXCLUDED.tracked,
    identified   = EXCLUDED.identified

-- name: airport_elevations
-- Heliports are left out: many are rooftop pads with the roof's elevation.
SELECT latitude_deg, longitude_deg, elevation_ft FROM airports
WHERE elevation_ft IS NOT NULL AND type NOT IN ('closed', 'heliport')

-- name: analyze_airports
-- Fresh statistics for the spatial lookups after an import.
ANALYZE airports

-- name: analyze_runways
ANALYZE runways

-- name: places_truncate
TRUNCATE places

-- name: places_in_count
SELECT count(*) FROM places_in

-- name: analyze_places
ANALYZE places
