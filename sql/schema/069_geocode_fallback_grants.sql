-- Privileges for what migration 0005 adds. The worker inserts new location rows (it
-- needs no UPDATE on locations for the fallback or the re-geocoding), keeps the
-- fallback work list, and re-points flights only through repoint_fallback_location.
GRANT SELECT, INSERT, DELETE ON geocode_fallbacks TO soar_worker;
GRANT UPDATE (last_at) ON geocode_fallbacks TO soar_worker;
GRANT SELECT ON geocode_fallbacks TO soar_readonly;

REVOKE EXECUTE ON FUNCTION repoint_fallback_location(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION repoint_fallback_location(bigint, bigint) TO soar_worker;
