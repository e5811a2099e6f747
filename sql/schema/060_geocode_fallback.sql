-- Geocoding fallback (migration 0005). When Pelias fails or its circuit breaker is
-- open, the worker takes the nearest GeoNames place instead (source 'places'), so no
-- flight waits or is dead-lettered for geocoding alone. Such a place must not pass for
-- Pelias' answer, or its ~100 m cell would never be asked again: the cache is now one
-- row per cell AND source, and the worker looks up Pelias rows only while it has a
-- Pelias URL. A 'places' row used as a fallback is listed in geocode_fallbacks until
-- the cell has been geocoded by Pelias and its flights re-pointed to that row.
ALTER TABLE locations
    DROP CONSTRAINT locations_cell_key,
    ADD CONSTRAINT locations_cell_source_key UNIQUE (lat_e3, lon_e3, source),
    ADD CONSTRAINT locations_source_check CHECK (source IN ('pelias', 'places'));

-- Work list of the re-geocoding: 'places' locations that flights got while Pelias was
-- failing. The worker inserts (or touches: the row lock orders it against a concurrent
-- re-geocoding, see repoint_fallback_location) in the transaction that writes the
-- flight; re-geocoding deletes the row in the transaction that re-points the flights.
-- A row holds no flight: a flight that reached a fallback place after its row was
-- deleted lists it again, so a later round re-points it too.
CREATE TABLE geocode_fallbacks (
    location_id   bigint PRIMARY KEY REFERENCES locations (id) ON DELETE CASCADE,
    first_at      timestamptz NOT NULL DEFAULT now(),    -- first flight given this place
    last_at       timestamptz NOT NULL DEFAULT now()     -- latest one
);
CREATE INDEX geocode_fallbacks_first_at_idx ON geocode_fallbacks (first_at);

-- Re-pointing finds a location's flights through these (flights without a location,
-- all of them until the worker has been, are not indexed).
CREATE INDEX flights_start_location_idx ON flights (start_location_id)
    WHERE start_location_id IS NOT NULL;
CREATE INDEX flights_end_location_idx ON flights (end_location_id)
    WHERE end_location_id IS NOT NULL;
