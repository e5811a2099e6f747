-- Retention of fixes (soar.db.retention): whole chunks only, through the functions of
-- sql/functions/drop_fix_chunk_v1.sql (the worker's login may call them).

-- name: cutoff
SELECT now() - %s::interval

-- name: old_chunks
SELECT chunk::text, fixes FROM old_fix_chunks_v1(%s::interval, %s)

-- name: drop_chunk
SELECT drop_fix_chunk_v1(%s::regclass, %s::interval)

-- name: fix_columns
SELECT attname::text, format_type(atttypid, atttypmod)
  FROM pg_attribute
 WHERE attrelid = 'fixes'::regclass AND attnum > 0 AND NOT attisdropped
 ORDER BY attnum
