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

CREATE FUNCTION sandbox.database_ready()
RETURNS boolean
LANGUAGE C
STRICT STABLE
AS 'MODULE_PATHNAME', 'sandbox_database_ready';
COMMENT ON FUNCTION sandbox.database_ready() IS
	'Whether this database is open to every role: not a sandbox, or a sandbox a committed run of its environment sanitized';

/* Sanitizer workers at work, with their current step. */
CREATE VIEW sandbox.progress AS
	SELECT a.pid,
		   a.datname AS database_name,
		   a.backend_start AS started_at,
		   a.query AS current_step
	FROM pg_catalog.pg_stat_activity a
	WHERE a.backend_type = 'penelope_sandbox sanitizer';
COMMENT ON VIEW sandbox.progress IS 'Running sanitizer workers and the step each is at';
REVOKE ALL ON sandbox.progress FROM PUBLIC;
