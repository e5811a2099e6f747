-- The state of every pgmq queue, for monitoring without cron (view queue_health).
-- SECURITY DEFINER with a fixed search_path: pgmq.metrics_all() reads each queue's
-- table dynamically, which the read-only role may not; this function may, and returns
-- counts only, never a message. "In" and "out" per minute: messages enqueued in the
-- last minute (still waiting or already archived) and messages archived in it (the
-- archive's archived_at is indexed by pgmq). A dead-lettered message leaves its queue
-- by deletion and arrives in the dead queue: it counts there, not as "out".
CREATE FUNCTION queue_health_v1()
RETURNS TABLE (queue text, depth bigint, visible bigint, oldest_age_s integer,
               newest_age_s integer, total_messages bigint, in_last_minute bigint,
               out_last_minute bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pgmq
AS $$
DECLARE
    m record;
    archived_recently bigint;    -- archived in the last minute and enqueued in it too
BEGIN
    FOR m IN SELECT * FROM pgmq.metrics_all() ORDER BY queue_name LOOP
        queue := m.queue_name;
        depth := m.queue_length;
        oldest_age_s := m.oldest_msg_age_sec;
        newest_age_s := m.newest_msg_age_sec;
        total_messages := m.total_messages;
        EXECUTE format('SELECT count(*) FILTER (WHERE vt <= now()),
                               count(*) FILTER (WHERE enqueued_at > now() - interval ''1 minute'')
                          FROM pgmq.%I', 'q_' || m.queue_name)
           INTO visible, in_last_minute;
        EXECUTE format('SELECT count(*), count(*) FILTER (WHERE enqueued_at > now() - interval ''1 minute'')
                          FROM pgmq.%I WHERE archived_at > now() - interval ''1 minute''',
                       'a_' || m.queue_name)
           INTO out_last_minute, archived_recently;
        in_last_minute := in_last_minute + archived_recently;
        RETURN NEXT;
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION queue_health_v1() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION queue_health_v1() TO soar_readonly, soar_worker;
