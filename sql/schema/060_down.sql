-- Downgrade of migration 0005 (geocoding fallback). The older schema allows one
-- location per cell: where a cell has both, its flights keep the Pelias row and the
-- 'places' row goes; a fallback place not yet re-geocoded stays, as before 0005.
DROP FUNCTION IF EXISTS repoint_fallback_location(bigint, bigint);
DROP TABLE IF EXISTS geocode_fallbacks;
DROP INDEX IF EXISTS flights_start_location_idx;
DROP INDEX IF EXISTS flights_end_location_idx;

UPDATE flights x SET start_location_id = t.id
  FROM locations f
  JOIN locations t ON t.lat_e3 = f.lat_e3 AND t.lon_e3 = f.lon_e3 AND t.source = 'pelias'
 WHERE x.start_location_id = f.id AND f.source = 'places';
UPDATE flights x SET end_location_id = t.id
  FROM locations f
  JOIN locations t ON t.lat_e3 = f.lat_e3 AND t.lon_e3 = f.lon_e3 AND t.source = 'pelias'
 WHERE x.end_location_id = f.id AND f.source = 'places';
DELETE FROM locations f
 USING locations t
 WHERE t.lat_e3 = f.lat_e3 AND t.lon_e3 = f.lon_e3
   AND f.source = 'places' AND t.source = 'pelias';

ALTER TABLE locations
    DROP CONSTRAINT locations_source_check,
    DROP CONSTRAINT locations_cell_source_key,
    ADD CONSTRAINT locations_cell_key UNIQUE (lat_e3, lon_e3);
