-- Retention of fixes (soar.db.retention): whole chunks only.

-- name: cutoff
SELECT now() - %s::interval

-- name: chunks_older_than
-- The chunks wholly older than the cut-off; their rows are counted only when asked
-- (a dry run: counting scans them).
SELECT c::text,
       CASE WHEN %s THEN (SELECT count(*) FROM fixes f WHERE f.tableoid = c::regclass) END,
       n.nspname, k.relname
  FROM show_chunks('fixes', older_than => %s::timestamptz) AS c
  JOIN pg_class k ON k.oid = c::regclass
  JOIN pg_namespace n ON n.oid = k.relnamespace
 ORDER BY 1
