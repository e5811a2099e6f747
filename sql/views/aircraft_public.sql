-- Aircraft as the read-only role sees them (it has no SELECT on the aircraft table).
-- The device database's `identified = N` means the owner does not want the aircraft
-- identified: its registration is hidden, and so is its callsign (an ADS-B callsign
-- is often the registration, e.g. DEABC). The model, type and address stay: they are
-- broadcast by the device itself and name no one. Rows of not-tracked aircraft stay
-- too (with `tracked`), so statistics can leave them out explicitly.
-- The masks are the view's output columns, so a caller's WHERE clause or function
-- only ever sees the masked value; no security_barrier is needed.
CREATE VIEW aircraft_public AS
SELECT id,
       address,
       address_type,
       aircraft_type,
       category,
       CASE WHEN identified THEN registration END AS registration,
       CASE WHEN identified THEN callsign END     AS callsign,
       model,
       tracked,
       identified,
       first_seen,
       last_seen
FROM aircraft;

REVOKE SELECT ON aircraft FROM soar_readonly;
GRANT SELECT ON aircraft_public TO soar_readonly;
-- detect_runway (granted to the read-only role by 0002) runs with its caller's rights
-- and reads aircraft.id and aircraft_type: those two columns, which name no one, and
-- nothing else of the table.
GRANT SELECT (id, aircraft_type) ON aircraft TO soar_readonly;
