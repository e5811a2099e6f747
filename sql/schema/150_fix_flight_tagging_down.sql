-- Downgrade of revision 0015.
REVOKE UPDATE (flight_id) ON fixes FROM soar_ingest;
