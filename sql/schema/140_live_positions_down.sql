-- Downgrade of revision 0014: back to live_positions (re-created by its own file).
DROP VIEW IF EXISTS live_positions_v2;
DROP INDEX IF EXISTS aircraft_last_seen_idx;
