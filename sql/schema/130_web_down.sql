-- Downgrade of revision 0012: the live map's view.
DROP VIEW IF EXISTS live_positions;
