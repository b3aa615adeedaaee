WITH col_width AS MATERIALIZED (
    -- avg_width of every column pg_stats shows (the privilege and row-security filters of the
    -- view still apply), read once for the whole database; summed over the inherited and
    -- non-inherited rows of a column, as the former per-table subqueries did.
    SELECT a.attrelid, a.attnum, sum(st.avg_width) AS width
      FROM pg_stats st
      JOIN pg_namespace sn ON sn.nspname = st.schemaname
      JOIN pg_class sc ON sc.relnamespace = sn.oid AND sc.relname = st.tablename
      JOIN pg_attribute a ON a.attrelid = sc.oid AND a.attname = st.attname
     WHERE st.schemaname NOT IN ('pg_catalog', 'information_schema')
       AND st.schemaname !~ '^pg_(toast|temp_)'
     GROUP BY a.attrelid, a.attnum
), row_width AS (
    SELECT attrelid, sum(width) AS width FROM col_width GROUP BY attrelid
), key_width AS (
    SELECT i.indexrelid, sum(cw.width) AS width
      FROM pg_index i
      JOIN col_width cw ON cw.attrelid = i.indrelid AND cw.attnum = ANY (i.indkey)
     GROUP BY i.indexrelid
), idx AS (
    SELECT i.indrelid,
           sum(ic.relpages) AS pages,
           sum(ceil(GREATEST(tc.reltuples, 0) * (12 + COALESCE(kw.width::bigint, 8))
               / (current_setting('block_size')::int * 0.9 - 24)) + 1) AS expected_pages
      FROM pg_index i
      JOIN pg_class ic ON ic.oid = i.indexrelid
      JOIN pg_class tc ON tc.oid = i.indrelid
      LEFT JOIN key_width kw ON kw.indexrelid = i.indexrelid
     WHERE tc.relkind IN ('r', 'm')
     GROUP BY i.indrelid
)
SELECT n.nspname AS schema,
       c.relname AS name,
       c.relkind AS kind,
       COALESCE(pg_stat_get_live_tuples(c.oid), 0) AS live_tuples,
       COALESCE(pg_stat_get_dead_tuples(c.oid), 0) AS dead_tuples,
       COALESCE(pg_stat_get_mod_since_analyze(c.oid), 0) AS mod_since_analyze,
       (COALESCE(pg_stat_get_last_analyze_time(c.oid), pg_stat_get_last_autoanalyze_time(c.oid)) IS NOT NULL) AS analyzed,
       age(c.relfrozenxid) AS xid_age,
       ((c.relpages::bigint + COALESCE(t.relpages, 0)) * current_setting('block_size')::int) AS table_bytes,
       (COALESCE(idx.pages, 0)::bigint * current_setting('block_size')::int) AS index_bytes,
       (COALESCE(idx.expected_pages, 0)::bigint * current_setting('block_size')::int) AS index_expected_bytes,
       c.reltablespace AS tablespace,
       c.relpages::bigint AS pages,
       current_setting('block_size')::int AS block_size,
       COALESCE(rw.width, 0)::int AS row_width,
       COALESCE((SELECT option_value::int FROM pg_options_to_table(c.reloptions)
                  WHERE option_name = 'fillfactor'), 100) AS fillfactor
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_class t ON t.oid = c.reltoastrelid
  LEFT JOIN idx ON idx.indrelid = c.oid
  LEFT JOIN row_width rw ON rw.attrelid = c.oid
 WHERE c.relkind IN ('r', 'm')
   AND c.relpersistence <> 't'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname !~ '^pg_(toast|temp_)'
