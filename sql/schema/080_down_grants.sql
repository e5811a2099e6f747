-- Revision 0007 undone, last step: the re-created 0006 views get the read-only
-- role's SELECT back (revision 0003 granted it in Python, after creating them).
GRANT SELECT ON flights_daily, airport_movements_daily TO soar_readonly;
