-- `soar stats`: the statistics views, summed over the last days (soar.products.statistics).
-- Every view is grouped by UTC day; `day >= %(since)s` is pushed below the grouping and
-- served by the day indexes (schema/080_statistics_indexes.sql).

-- name: daily
SELECT day, source, flights, with_takeoff, landed, timed_out, active, towed, flight_hours
  FROM flights_daily WHERE day >= %(since)s ORDER BY day, source

-- name: hourly
SELECT hour, sum(flights)::bigint AS flights, sum(takeoffs)::bigint AS takeoffs
  FROM flights_hourly WHERE day >= %(since)s GROUP BY hour ORDER BY hour

-- name: durations
SELECT bucket, sum(flights)::bigint AS flights
  FROM flight_durations WHERE day >= %(since)s
 GROUP BY bucket_order, bucket ORDER BY bucket_order

-- name: airports
SELECT ident, name, sum(departures)::bigint AS takeoffs, sum(arrivals)::bigint AS landings
  FROM airport_movements_daily WHERE day >= %(since)s
 GROUP BY ident, name ORDER BY sum(departures + arrivals) DESC, ident LIMIT %(top)s

-- name: runways
SELECT ident, runway, sum(takeoffs)::bigint AS takeoffs, sum(landings)::bigint AS landings
  FROM runway_use_daily WHERE day >= %(since)s
 GROUP BY ident, runway ORDER BY sum(takeoffs + landings) DESC, ident, runway LIMIT %(top)s

-- name: aircraft
SELECT address, address_type, registration, sum(flights)::bigint AS flights,
       sum(flight_hours) AS flight_hours
  FROM aircraft_flights_daily WHERE day >= %(since)s
 GROUP BY address, address_type, registration
 ORDER BY sum(flight_hours) DESC, sum(flights) DESC, address LIMIT %(top)s

-- name: tow_planes
SELECT address, registration, sum(tows)::bigint AS tows,
       sum(releases_found)::bigint AS releases_found,
       round(sum(mean_release_height_m * releases_found)
             / nullif(sum(releases_found) FILTER (WHERE mean_release_height_m IS NOT NULL), 0))
           AS mean_release_height_m
  FROM tow_plane_daily WHERE day >= %(since)s
 GROUP BY address, registration ORDER BY sum(tows) DESC, address LIMIT %(top)s

-- name: enrichment
SELECT COALESCE(sum(flights), 0)::bigint AS flights,
       COALESCE(sum(takeoffs), 0)::bigint AS takeoffs,
       COALESCE(sum(takeoff_runway), 0)::bigint AS takeoff_runway,
       COALESCE(sum(start_place), 0)::bigint AS start_place,
       COALESCE(sum(landings), 0)::bigint AS landings,
       COALESCE(sum(landing_runway), 0)::bigint AS landing_runway,
       COALESCE(sum(end_place), 0)::bigint AS end_place,
       COALESCE(sum(pending), 0)::bigint AS pending,
       COALESCE(sum(failed), 0)::bigint AS failed
  FROM enrichment_coverage_daily WHERE day >= %(since)s

-- name: failures
SELECT reason, flights, latest FROM enrichment_failures ORDER BY flights DESC, reason
