-- Airfield logbook (revision 0009): `soar logbook AIRFIELD --date D` reads the flights
-- that took off from or landed at one airfield within a time range. Each end has its
-- own index on (airport, time at that end), the expressions the `logbook` view's two
-- branches filter on, so a day's logbook reads that day's flights of that field and
-- not every flight it ever had. Partial: most flights of an ADS-B feed have no airport
-- at one end. Flights are few next to fixes; the worker's UPDATE that sets the airport
-- is the only write these indexes add work to.
CREATE INDEX flights_departure_time_idx
    ON flights (departure_airport_id, (COALESCE(takeoff_time, started_at)))
    WHERE departure_airport_id IS NOT NULL;
CREATE INDEX flights_arrival_time_idx
    ON flights (arrival_airport_id, landing_time)
    WHERE arrival_airport_id IS NOT NULL;
