/*
 * The rule catalog.
 *
 * Only the extension owner (a superuser) and the roles it grants write
 * privileges to may change it; every row of sandbox.rule is validated when
 * written and again when it runs.
 */

CREATE TABLE sandbox.environment (
	name text PRIMARY KEY
		CHECK (name ~ '^[a-z][a-z0-9_]*$'),
	inherits text,				/* checked by trigger check_environment_chain */
	description text,
	disable_outbound boolean NOT NULL DEFAULT true,
	CHECK (inherits IS DISTINCT FROM name)
);
COMMENT ON COLUMN sandbox.environment.disable_outbound IS
	'Whether sanitizing disables subscriptions, drops user mappings and deactivates pg_cron jobs';
COMMENT ON TABLE sandbox.environment IS
	'Environment types; an environment applies its own rules and those of the one it inherits from';

INSERT INTO sandbox.environment (name, inherits, description) VALUES
	('production', NULL, 'The live database: never sanitized'),
	('migration', NULL, 'Duplicate of Production to test migration scripts'),
	('mirrored', NULL, 'Duplicate of Production for project work'),
	('training_a', NULL, 'De-identified duplicate, upgraded before Production'),
	('training_b', 'training_a', 'De-identified duplicate, upgraded with Production'),
	('preview', 'training_a', 'Treated like training: de-identified');

CREATE TABLE sandbox.rule (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	environment text NOT NULL REFERENCES sandbox.environment (name)
		ON UPDATE CASCADE,
	feature text,
	table_schema name NOT NULL DEFAULT 'public',
	table_name name NOT NULL,
	column_name name,
	action text NOT NULL CHECK (action IN ('mask', 'set', 'delete', 'truncate')),
	expression text,
	filter text,
	enabled boolean NOT NULL DEFAULT true,
	description text,
	restorable boolean NOT NULL DEFAULT false
);
CREATE INDEX ON sandbox.rule (environment);
COMMENT ON COLUMN sandbox.rule.restorable IS
	'For a set rule switching a feature off: the values it overwrites are saved, and sandbox_enable_feature puts them back';
COMMENT ON TABLE sandbox.rule IS
	'What sanitization does, per environment: mask or set a column, delete rows, truncate a table';

/*
 * Masking functions and the recogniser that proves a value came out of
 * them; sandbox_verify uses it for "mask" rules.
 */
CREATE TABLE sandbox.masking_function (
	masker regprocedure PRIMARY KEY,
	recogniser regprocedure NOT NULL
);
COMMENT ON TABLE sandbox.masking_function IS
	'Masking functions and their recognisers, used by sandbox_verify';

/* The run ledger. */
CREATE TABLE sandbox.run (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	environment text NOT NULL,
	database_name name NOT NULL DEFAULT current_database(),
	database_oid oid NOT NULL,
	system_identifier bigint NOT NULL,
	who name NOT NULL DEFAULT session_user,
	started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	finished_at timestamptz,
	status text NOT NULL DEFAULT 'running'
		CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
	summary text
);
COMMENT ON TABLE sandbox.run IS 'One row per sanitization run';

CREATE TABLE sandbox.run_step (
	run_id bigint NOT NULL REFERENCES sandbox.run (id) ON DELETE CASCADE,
	step integer NOT NULL,
	table_schema name NOT NULL,
	table_name name NOT NULL,
	tables text[],				/* every table of the statement, quoted */
	method text NOT NULL,
	rule_ids bigint[] NOT NULL,
	statement text NOT NULL,
	rows bigint,
	duration interval NOT NULL,
	PRIMARY KEY (run_id, step)
);
COMMENT ON TABLE sandbox.run_step IS 'One row per statement of a sanitization run';

/*
 * The environment and those it inherits from, nearest first (depth 0 is
 * the environment itself); "cycle" marks a chain that comes back on
 * itself.  Every reader of rules and policies goes through it.
 */
CREATE FUNCTION sandbox.environment_chain(environment text)
RETURNS TABLE (name text, depth integer, cycle boolean)
LANGUAGE sql
STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
	WITH RECURSIVE chain(name, inherits, depth, path) AS (
		SELECT e.name, e.inherits, 0, ARRAY[e.name]
		FROM sandbox.environment e WHERE e.name = $1
		UNION ALL
		SELECT e.name, e.inherits, c.depth + 1, c.path || e.name
		FROM sandbox.environment e JOIN chain c ON e.name = c.inherits
		WHERE e.name <> ALL (c.path))
	SELECT chain.name, chain.depth, chain.inherits = ANY (chain.path) FROM chain
$$;

/*
 * This database's last successful run: one with this database's OID on a
 * server with this system identifier.  A restored dump carries the
 * ledger of the database it came from, whose runs never qualify.  All
 * NULL when there is none.
 */
CREATE FUNCTION sandbox.last_run()
RETURNS sandbox.run
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT r.* FROM sandbox.run r
	WHERE r.status = 'succeeded'
	  AND r.database_oid = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())
	  AND r.system_identifier = (SELECT c.system_identifier FROM pg_control_system() c)
	ORDER BY r.id DESC LIMIT 1
$$;

REVOKE ALL ON FUNCTION sandbox.environment_chain(text), sandbox.last_run() FROM PUBLIC;

/* Nobody but the extension owner and roles it grants may read or write. */
REVOKE ALL ON sandbox.environment, sandbox.rule, sandbox.masking_function,
	sandbox.run, sandbox.run_step FROM PUBLIC;

/* User-written rules and environments, and the ledger, survive pg_dump. */
SELECT pg_catalog.pg_extension_config_dump('sandbox.environment',
	$$WHERE name NOT IN ('production', 'migration', 'mirrored', 'training_a', 'training_b', 'preview')$$);
SELECT pg_catalog.pg_extension_config_dump('sandbox.masking_function',
	$$WHERE masker::pg_catalog.oid OPERATOR(pg_catalog.<>) ALL (SELECT d.objid FROM pg_catalog.pg_depend d
		WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
		AND d.deptype OPERATOR(pg_catalog.=) 'e')$$);
SELECT pg_catalog.pg_extension_config_dump('sandbox.rule', '');
SELECT pg_catalog.pg_extension_config_dump('sandbox.rule_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('sandbox.run', '');
SELECT pg_catalog.pg_extension_config_dump('sandbox.run_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('sandbox.run_step', '');
