-- Retention without the owner's login: drop one chunk of fixes, only if it is a chunk
-- of fixes wholly older than `p_older_than` (at least a day: never the chunk being
-- written). SECURITY DEFINER so the worker, which keeps its own schedule
-- (`soar worker --prune-every 1d --keep 45d`), needs no ownership of the table: it may
-- drop old fixes and nothing else. The caller sets lock_timeout and calls this once per
-- chunk in its own transaction (soar.db.retention), so a busy chunk waits for the next
-- round instead of queueing every reader behind a DROP.
CREATE FUNCTION drop_fix_chunk_v1(p_chunk regclass, p_older_than interval)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
BEGIN
    IF p_older_than IS NULL OR p_older_than < interval '1 day' THEN
        RAISE EXCEPTION 'drop_fix_chunk_v1: keep at least 1 day of fixes, not %', p_older_than;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM show_chunks('fixes', older_than => now() - p_older_than) c
                    WHERE c = p_chunk) THEN
        RETURN false;
    END IF;
    EXECUTE format('DROP TABLE %s', p_chunk);
    RETURN true;
END
$$;
REVOKE ALL ON FUNCTION drop_fix_chunk_v1(regclass, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drop_fix_chunk_v1(regclass, interval) TO soar_worker;

-- Which chunks a prune would drop, with the rows in each when asked (counting scans).
CREATE FUNCTION old_fix_chunks_v1(p_older_than interval, p_count boolean DEFAULT false)
RETURNS TABLE (chunk regclass, fixes bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
DECLARE
    c regclass;
BEGIN
    FOR c IN SELECT x FROM show_chunks('fixes', older_than => now() - p_older_than) x
              ORDER BY x::text LOOP
        chunk := c;
        fixes := NULL;
        IF p_count THEN
            EXECUTE format('SELECT count(*) FROM %s', c) INTO fixes;
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION old_fix_chunks_v1(interval, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION old_fix_chunks_v1(interval, boolean) TO soar_worker;
