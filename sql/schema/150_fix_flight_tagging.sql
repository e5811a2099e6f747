-- Revision 0015: ingest may set one column of a stored fix, its flight_id (the fixes
-- of a flight's confirmation window that an earlier batch stored before the flight
-- existed: soar.tracker.store, the create statement). Nothing else of a fix changes.
GRANT UPDATE (flight_id) ON fixes TO soar_ingest;
