-- Revision 0012: every SECURITY DEFINER function searches pg_temp last. A search_path
-- that does not name pg_temp searches it FIRST, so a caller could create a temporary
-- table or function that shadows one the function means (PostgreSQL's "Writing
-- SECURITY DEFINER Functions Safely"). The enqueue functions already end in pg_temp.
ALTER FUNCTION drop_fix_chunk_v1(regclass, interval) SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION old_fix_chunks_v1(interval, boolean) SET search_path = pg_catalog, public, pg_temp;
ALTER FUNCTION queue_health_v1() SET search_path = pg_catalog, pgmq, pg_temp;
