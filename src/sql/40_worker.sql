/*
 * Background sanitization: the asynchronous entry point and what it shows
 * while it runs.
 */

CREATE FUNCTION sandbox_sanitize_async(environment text)
RETURNS bigint
LANGUAGE C
STRICT VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'sandbox_sanitize_async';
COMMENT ON FUNCTION sandbox_sanitize_async(text) IS
	'Queue a sanitization; a background worker runs it once this transaction commits; returns the run id';
REVOKE ALL ON FUNCTION sandbox_sanitize_async(text) FROM PUBLIC;

CREATE FUNCTION sandbox_database_ready()
RETURNS boolean
LANGUAGE C
STRICT STABLE
AS 'MODULE_PATHNAME', 'sandbox_database_ready';
COMMENT ON FUNCTION sandbox_database_ready() IS
	'Whether this database is open to every role: not a sandbox, or a sandbox a committed run of its environment sanitized';

/*
 * Sanitizations in progress, read like pg_stat_progress_cluster: one row
 * per sanitizer worker, and per session running sandbox_sanitize.  The
 * engine writes where a run is into its session's pg_stat_activity entry
 * (report_progress in src/engine.c); this view takes that apart.  A step is
 * one statement: heap_blks_total and heap_tuples_total (an estimate, NULL
 * before the table was first vacuumed or analyzed) describe the table of
 * the current step when it started; rows_done counts the rows the finished
 * steps deleted or updated (a rewritten table's rows count once the run
 * verifies, as in sandbox.run_step).
 */
CREATE VIEW sandbox.progress AS
	SELECT a.pid,
		   a.datid,
		   a.datname AS database_name,
		   a.m[1]::bigint AS run_id,
		   CASE
			   WHEN a.m[10] IS NOT NULL THEN 'verifying'
			   WHEN a.m[4] = 'builtin' THEN 'closing outbound channels'
			   WHEN a.m[4] = 'unlink' THEN 'unlinking large objects'
			   WHEN a.m[4] = 'truncate' THEN 'truncating'
			   WHEN a.m[4] = 'delete' THEN 'deleting rows'
			   WHEN a.m[4] = 'update' THEN 'updating rows'
			   WHEN a.m[4] = 'rewrite' THEN 'rewriting heap'
			   WHEN a.backend_type = 'penelope_sandbox sanitizer' THEN 'initializing'
		   END AS phase,
		   coalesce(a.m[2], a.m[10])::integer AS step,
		   coalesce(a.m[3], a.m[10])::integer AS steps_total,
		   nullif(a.m[6], '0')::oid AS relid,
		   a.m[5] AS relation,
		   a.m[7]::bigint AS heap_blks_total,
		   nullif(a.m[8], '-1')::bigint AS heap_tuples_total,
		   coalesce(a.m[9], a.m[11])::bigint AS rows_done,
		   coalesce(a.query_start, a.backend_start) AS started_at,
		   pg_catalog.clock_timestamp() - a.query_start AS elapsed,
		   a.query AS current_step
	FROM (SELECT s.*,
				 pg_catalog.regexp_match(s.query,
					 '^penelope_sandbox run ([0-9]+): (?:step ([0-9]+) of ([0-9]+): ([a-z]+) (.*) '
					 '[(]relid ([0-9]+), ([0-9]+) blocks, (-?[0-9]+) rows estimated, ([0-9]+) rows done[)]'
					 '|verifying after ([0-9]+) steps [(]([0-9]+) rows done[)])$') AS m
		  FROM pg_catalog.pg_stat_activity s) a
	WHERE a.backend_type = 'penelope_sandbox sanitizer'
	   OR (a.state = 'active' AND a.m IS NOT NULL);
COMMENT ON VIEW sandbox.progress IS
	'Sanitizations in progress (workers and sandbox_sanitize sessions): phase, step, table and its size, rows done';
REVOKE ALL ON sandbox.progress FROM PUBLIC;
