-- penelope_sandbox--1.0--1.1.sql: upgrade from 1.0 to 1.1
--
-- ALTER EXTENSION penelope_sandbox UPDATE runs this file on a 1.0
-- installation.  Afterwards the extension's objects must be exactly those a
-- fresh CREATE EXTENSION of 1.1 makes (src/sql/*.sql): t/010_upgrade.pl
-- compares the two and fails on any difference.  Every change made to
-- src/sql/ since 1.0 belongs here, written so that the data in the catalog
-- and the ledger (sandbox.rule, sandbox.environment, sandbox.run, ...)
-- survives: ALTER/CREATE OR REPLACE, never DROP and re-create a table.

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION penelope_sandbox UPDATE TO '1.1'" to load this file. \quit

-- sandbox.progress reads like pg_stat_progress_cluster (phase, step, table,
-- its size, rows done) and shows sandbox_sanitize sessions too.
DROP VIEW sandbox.progress;
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
