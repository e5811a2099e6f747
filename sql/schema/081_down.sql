-- Revision 0007 undone, flights part: the read-only role reads all of flights again.
DROP VIEW IF EXISTS flights_public;
REVOKE SELECT ON flights FROM soar_readonly;     -- clears the column-level grant too
GRANT SELECT ON flights TO soar_readonly;
