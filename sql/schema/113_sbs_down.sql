-- Downgrade of revision 0011 (SBS source): the 0007 versions of flights_hourly and
-- flight_durations are plain CREATE VIEWs, so the 0011 versions go first (the
-- downgrade then applies views/flights_hourly.sql, views/flight_durations.sql and
-- views/flights_daily_v3.sql). Stored fixes and flights with source 3 stay: the
-- views of 0007 show their source as NULL.
DROP VIEW IF EXISTS flights_hourly;
DROP VIEW IF EXISTS flight_durations;
