-- A flight whose end was lost (its batch never committed) stays active and would
-- block the aircraft's next flight (flights_one_active_per_aircraft). The writer
-- then closes it with end_reason 'superseded' (timed out at its last fix) and
-- inserts the new flight; this allows that reason.
ALTER TABLE flights DROP CONSTRAINT flights_end_reason_check;
ALTER TABLE flights ADD CONSTRAINT flights_end_reason_check CHECK (end_reason IN
    ('landing', 'timeout', 'callsign_change', 'gap', 'stale', 'superseded'));
