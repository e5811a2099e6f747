-- Offline reverse geocoding: the populated place (GeoNames cities1000, table
-- `places`) nearest to a point, within p_max_m metres. One probe of the GiST index
-- by KNN (ORDER BY location <-> point LIMIT 1); no row when nothing is that close.
CREATE OR REPLACE FUNCTION nearest_place(
    p_latitude  double precision,
    p_longitude double precision,
    p_max_m     double precision DEFAULT 50000
)
RETURNS TABLE (name text, admin1 text, admin2 text, country_code char(2),
               latitude double precision, longitude double precision, distance_m double precision)
LANGUAGE sql STABLE
AS $$
    SELECT n.name, n.admin1, n.admin2, n.country_code, n.latitude, n.longitude, n.distance_m
      FROM (SELECT p.name, p.admin1, p.admin2, p.country_code, p.latitude, p.longitude,
                   ST_Distance(p.location,
                               ST_SetSRID(ST_MakePoint(p_longitude, p_latitude), 4326)::geography)
                       AS distance_m
              FROM places p
             ORDER BY p.location <-> ST_SetSRID(ST_MakePoint(p_longitude, p_latitude), 4326)::geography
             LIMIT 1) n
     WHERE n.distance_m <= p_max_m
$$;
