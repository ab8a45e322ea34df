-- penelope_sandbox--<version>.sql (the current version, default_version of the
-- control file): assembled from the files in src/sql/ by the Makefile

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION penelope_sandbox" to load this file. \quit

CREATE SCHEMA sandbox;
COMMENT ON SCHEMA sandbox IS 'penelope_sandbox: rule catalog, run ledger and masking functions';

-- Table owners' statements run as the owner, and masking functions are
-- called from their rules: the schema must be usable by them.
GRANT USAGE ON SCHEMA sandbox TO PUBLIC;
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
/*
 * Masking functions (src/masking.c over the pure-C core src/mask_core.c)
 * and the masking key.
 */

/*
 * The masking key: one row, 32 bytes, readable by superusers only (and by
 * roles a superuser grants SELECT to: those, and only those, may call the
 * masking functions).
 *
 * It is deliberately NOT registered with pg_extension_config_dump, so
 * pg_dump never writes it out: a de-identified database is meant to be
 * handed around, and whoever holds its key can recompute the mapping
 * (enumerate every phone number, say) and re-identify people.  A restored
 * dump therefore starts without a key and makes a fresh random one on
 * first use; databases that must share pseudonyms get the same
 * passphrase through sandbox.set_secret_from_file() or
 * penelope_sandbox.secret.
 * Production never masks, so it never creates a key; a physical copy of a
 * database that did (a sandbox copied file by file) does carry its key.
 */
CREATE TABLE sandbox.secret (
	singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
	key bytea NOT NULL CHECK (length(key) = 32),
	origin text NOT NULL CHECK (origin IN ('random', 'passphrase')),
	created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE sandbox.secret IS
	'The masking key: made at random on first use, or derived from a passphrase by sandbox.set_secret_from_file()';
REVOKE ALL ON sandbox.secret FROM PUBLIC;

/*
 * The passphrase is read from a file on the server, never passed as SQL
 * text, which log_statement and pg_stat_statements would keep.
 */
CREATE FUNCTION sandbox.set_secret_from_file(path text)
RETURNS void
AS 'MODULE_PATHNAME', 'sandbox_set_secret_from_file'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION sandbox.set_secret_from_file(text) IS
	'Replace the masking key by one derived (PBKDF2-HMAC-SHA256) from the passphrase in the first line of a server file, so databases share pseudonyms';
REVOKE EXECUTE ON FUNCTION sandbox.set_secret_from_file(text) FROM PUBLIC;

/*
 * The maskers.
 *
 * STRICT: NULL in, NULL out.  STABLE rather than IMMUTABLE, because the
 * result depends on the key, which can change (and mask_date on today's
 * date).  PARALLEL RESTRICTED rather than PARALLEL SAFE: the key is cached
 * per transaction in the leader's memory and loaded from a table on first
 * use, which a parallel worker cannot do.  EXECUTE is granted to PUBLIC:
 * the key is the guard, and a role that may not read sandbox.secret gets
 * "permission denied to use the masking key".
 */
CREATE FUNCTION sandbox.mask_email(text) RETURNS text
AS 'MODULE_PATHNAME', 'sandbox_mask_email'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION sandbox.mask_email(text) IS
	'Keyed pseudonym u<26 base32 characters>@example.invalid; case and surrounding white space are ignored; distinct addresses stay distinct';

CREATE FUNCTION sandbox.mask_phone(text) RETURNS text
AS 'MODULE_PATHNAME', 'sandbox_mask_phone'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION sandbox.mask_phone(text) IS
	'Phone number of the same shape in ASCII digits (letters become x); North American, UK and Australian numbers land in ranges reserved for fiction';

CREATE FUNCTION sandbox.mask_first_name(text) RETURNS text
AS 'MODULE_PATHNAME', 'sandbox_mask_first_name'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION sandbox.mask_first_name(text) IS
	'Given name from a dictionary of over 1,000, never the input';

CREATE FUNCTION sandbox.mask_last_name(text) RETURNS text
AS 'MODULE_PATHNAME', 'sandbox_mask_last_name'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION sandbox.mask_last_name(text) IS
	'Surname from a dictionary of over 1,000, never the input';

CREATE FUNCTION sandbox.mask_full_name(text) RETURNS text
AS 'MODULE_PATHNAME', 'sandbox_mask_full_name'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION sandbox.mask_full_name(text) IS
	'Full name masked word by word ("First Middle Last" or "Last, First"), consistent with mask_first_name and mask_last_name';

CREATE FUNCTION sandbox.mask_date(date) RETURNS date
AS 'MODULE_PATHNAME', 'sandbox_mask_date'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION sandbox.mask_date(date) IS
	'Date moved by a keyed offset of 1 to penelope_sandbox.date_window days, always in the past';

CREATE FUNCTION sandbox.mask_address(text) RETURNS text
AS 'MODULE_PATHNAME', 'sandbox_mask_address'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION sandbox.mask_address(text) IS
	'Made-up address "<number> <Street> <Type>, <Town>"';

CREATE FUNCTION sandbox.mask_text(text) RETURNS text
AS 'MODULE_PATHNAME', 'sandbox_mask_text'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION sandbox.mask_text(text) IS
	'Made-up Latin sentences of about the same number of characters; no word of the input';

CREATE FUNCTION sandbox.mask_id(text) RETURNS text
AS 'MODULE_PATHNAME', 'sandbox_mask_id'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION sandbox.mask_id(text) IS
	'Identifier of the same shape by a keyed permutation: letters of any script become ASCII letters, digits ASCII digits, marks are dropped, other characters stay; distinct stays distinct';

/*
 * The recognisers: keyless, judging by form only, so IMMUTABLE and
 * PARALLEL SAFE.
 */
CREATE FUNCTION sandbox.is_masked_email(text) RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_is_masked_email'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION sandbox.is_masked_email(text) IS
	'Has the value the form of sandbox.mask_email output?';

CREATE FUNCTION sandbox.is_masked_phone(text) RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_is_masked_phone'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION sandbox.is_masked_phone(text) IS
	'Is the value in a fictional range, or a number carrying the mask_phone check digits (1 real number in 97 passes), in ASCII digits with no letter but x?';

CREATE FUNCTION sandbox.is_masked_first_name(text) RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_is_masked_first_name'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION sandbox.is_masked_first_name(text) IS
	'Is the value a given name of the dictionary (real names in it pass too)?';

CREATE FUNCTION sandbox.is_masked_last_name(text) RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_is_masked_last_name'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION sandbox.is_masked_last_name(text) IS
	'Is the value a surname of the dictionary (real names in it pass too)?';

CREATE FUNCTION sandbox.is_masked_full_name(text) RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_is_masked_full_name'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION sandbox.is_masked_full_name(text) IS
	'Is the value made of dictionary names in a form sandbox.mask_full_name writes?';

CREATE FUNCTION sandbox.is_masked_address(text) RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_is_masked_address'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION sandbox.is_masked_address(text) IS
	'Has the value the form of sandbox.mask_address output?';

CREATE FUNCTION sandbox.is_masked_text(text) RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_is_masked_text'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION sandbox.is_masked_text(text) IS
	'Is the value made of the words sandbox.mask_text writes?';

/*
 * mask_id keeps the form of its input but writes ASCII letters and digits
 * only: its recogniser refuses a letter, digit or combining mark of any
 * other script, and accepts every ASCII identifier (a masked one has the
 * form of a real one).  mask_date keeps the form of a date exactly: its
 * recogniser accepts every value, and exists so the masker can be
 * registered, which rules that read the column they write require.  Both
 * are C functions, as cheap as the verification that calls them for every
 * row needs them to be.
 */
CREATE FUNCTION sandbox.is_masked_id(text) RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_is_masked_id'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION sandbox.is_masked_id(text) IS
	'Holds the value no letter, digit or combining mark but ASCII ones, as sandbox.mask_id output?';

CREATE FUNCTION sandbox.is_masked_date(date) RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_is_masked_date'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION sandbox.is_masked_date(date) IS
	'Accepts every value: a masked date has the form of a real one';

GRANT EXECUTE ON FUNCTION
	sandbox.mask_email(text), sandbox.mask_phone(text),
	sandbox.mask_first_name(text), sandbox.mask_last_name(text),
	sandbox.mask_full_name(text), sandbox.mask_date(date),
	sandbox.mask_address(text), sandbox.mask_text(text), sandbox.mask_id(text),
	sandbox.is_masked_email(text), sandbox.is_masked_phone(text),
	sandbox.is_masked_first_name(text), sandbox.is_masked_last_name(text),
	sandbox.is_masked_full_name(text), sandbox.is_masked_address(text),
	sandbox.is_masked_text(text), sandbox.is_masked_id(text),
	sandbox.is_masked_date(date)
TO PUBLIC;

/* Each masker with its recogniser, for rule validation and sandbox_verify. */
INSERT INTO sandbox.masking_function (masker, recogniser) VALUES
	('sandbox.mask_email(text)', 'sandbox.is_masked_email(text)'),
	('sandbox.mask_phone(text)', 'sandbox.is_masked_phone(text)'),
	('sandbox.mask_first_name(text)', 'sandbox.is_masked_first_name(text)'),
	('sandbox.mask_last_name(text)', 'sandbox.is_masked_last_name(text)'),
	('sandbox.mask_full_name(text)', 'sandbox.is_masked_full_name(text)'),
	('sandbox.mask_address(text)', 'sandbox.is_masked_address(text)'),
	('sandbox.mask_text(text)', 'sandbox.is_masked_text(text)'),
	('sandbox.mask_id(text)', 'sandbox.is_masked_id(text)'),
	('sandbox.mask_date(date)', 'sandbox.is_masked_date(date)');
/*
 * The maskers' run-token variants (issue 8: the key is never an oracle).
 *
 * sandbox.mask_x(value, token) is the C function of sandbox.mask_x(value)
 * with one more argument: the run token of the transaction.  The engine
 * writes these calls into the SQL of rules (see
 * sandbox_rule_expression_sql() in src/catalog.c) and binds the token as
 * a parameter.  Inside a security-restricted operation, where rules run
 * as the table owner, only these calls may use the key; any other call
 * there is refused, so that owner code (a trigger, a CHECK constraint, a
 * domain, an index expression) cannot compute pseudonyms.  EXECUTE is
 * granted to PUBLIC, since rules run as the table owner: the token, a
 * random value that never leaves this backend, is the guard.
 */
CREATE FUNCTION sandbox.mask_email(text, bytea) RETURNS text
AS 'MODULE_PATHNAME', 'sandbox_mask_email'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
CREATE FUNCTION sandbox.mask_phone(text, bytea) RETURNS text
AS 'MODULE_PATHNAME', 'sandbox_mask_phone'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
CREATE FUNCTION sandbox.mask_first_name(text, bytea) RETURNS text
AS 'MODULE_PATHNAME', 'sandbox_mask_first_name'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
CREATE FUNCTION sandbox.mask_last_name(text, bytea) RETURNS text
AS 'MODULE_PATHNAME', 'sandbox_mask_last_name'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
CREATE FUNCTION sandbox.mask_full_name(text, bytea) RETURNS text
AS 'MODULE_PATHNAME', 'sandbox_mask_full_name'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
CREATE FUNCTION sandbox.mask_date(date, bytea) RETURNS date
AS 'MODULE_PATHNAME', 'sandbox_mask_date'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
CREATE FUNCTION sandbox.mask_address(text, bytea) RETURNS text
AS 'MODULE_PATHNAME', 'sandbox_mask_address'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
CREATE FUNCTION sandbox.mask_text(text, bytea) RETURNS text
AS 'MODULE_PATHNAME', 'sandbox_mask_text'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
CREATE FUNCTION sandbox.mask_id(text, bytea) RETURNS text
AS 'MODULE_PATHNAME', 'sandbox_mask_id'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;

GRANT EXECUTE ON FUNCTION
	sandbox.mask_email(text, bytea), sandbox.mask_phone(text, bytea),
	sandbox.mask_first_name(text, bytea), sandbox.mask_last_name(text, bytea),
	sandbox.mask_full_name(text, bytea), sandbox.mask_date(date, bytea),
	sandbox.mask_address(text, bytea), sandbox.mask_text(text, bytea),
	sandbox.mask_id(text, bytea)
TO PUBLIC;
/*
 * The engine: validation triggers, sanitize, plan and verify.
 *
 * The entry points live in pg_catalog so that they are callable
 * unqualified whatever the search_path, and cannot be shadowed by a
 * function of the same name in a user-writable schema.  They are
 * SECURITY DEFINER with a fixed search_path; the right to run them is the
 * EXECUTE privilege, revoked from PUBLIC.
 */

CREATE FUNCTION sandbox.validate_rule()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'sandbox_validate_rule_trigger';

/*
 * An update leaving the rule disabled is not validated: a rule whose
 * table or column was dropped can be disabled.  It is validated again
 * when it is enabled.
 */
CREATE TRIGGER validate_rule
	BEFORE INSERT ON sandbox.rule
	FOR EACH ROW EXECUTE FUNCTION sandbox.validate_rule();
CREATE TRIGGER validate_rule_update
	BEFORE UPDATE ON sandbox.rule
	FOR EACH ROW WHEN (NEW.enabled) EXECUTE FUNCTION sandbox.validate_rule();

/*
 * sandbox.environment.inherits names another environment, without a
 * cycle.  A constraint trigger rather than a self-referencing foreign
 * key, which would make every pg_dump of the database warn about circular
 * foreign-key constraints; like a foreign key it checks at the end of the
 * statement, so a restore may load the rows in any order.
 */
CREATE FUNCTION sandbox.check_environment_chain()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_OP = 'DELETE' OR NEW.name IS DISTINCT FROM OLD.name THEN
		IF EXISTS (SELECT FROM sandbox.environment WHERE inherits = OLD.name) THEN
			RAISE EXCEPTION 'environment "%" is inherited by another environment', OLD.name
				USING ERRCODE = 'foreign_key_violation',
					  HINT = 'Change the environments that inherit from it first.';
		END IF;
	END IF;
	IF TG_OP = 'DELETE' THEN
		RETURN NULL;
	END IF;
	IF NEW.inherits IS NOT NULL AND NOT EXISTS
		(SELECT FROM sandbox.environment WHERE name = NEW.inherits) THEN
		RAISE EXCEPTION 'environment "%" cannot inherit from "%", which does not exist',
			NEW.name, NEW.inherits
			USING ERRCODE = 'foreign_key_violation';
	END IF;
	IF EXISTS (
		WITH RECURSIVE chain(name, path) AS (
			SELECT NEW.inherits, ARRAY[NEW.name]
			UNION ALL
			SELECT e.inherits, c.path || e.name
			FROM sandbox.environment e JOIN chain c ON e.name = c.name
			WHERE e.name <> ALL (c.path))
		SELECT FROM chain WHERE name = NEW.name AND path <> ARRAY[NEW.name])
	THEN
		RAISE EXCEPTION 'environment "%" cannot inherit from "%"', NEW.name, NEW.inherits
			USING ERRCODE = 'invalid_recursion',
				  DETAIL = 'The chain of inherited environments would form a cycle.';
	END IF;
	RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER check_environment_chain
	AFTER INSERT OR UPDATE OR DELETE ON sandbox.environment
	FOR EACH ROW EXECUTE FUNCTION sandbox.check_environment_chain();

CREATE FUNCTION sandbox_sanitize(environment text)
RETURNS text
LANGUAGE C
STRICT VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'sandbox_sanitize';
COMMENT ON FUNCTION sandbox_sanitize(text) IS
	'Apply every rule of an environment to this database, record the run and verify it';

CREATE FUNCTION sandbox_plan(environment text)
RETURNS SETOF text
LANGUAGE C
STRICT VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'sandbox_plan';
COMMENT ON FUNCTION sandbox_plan(text) IS
	'The statements sandbox_sanitize would run, in order, with the rows each would touch';

CREATE FUNCTION sandbox_verify(environment text)
RETURNS TABLE (rule_id bigint, ok boolean, violations bigint, detail text,
			   environment text, feature text, relation text, column_name text,
			   action text)
LANGUAGE C
STRICT VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'sandbox_verify';
COMMENT ON FUNCTION sandbox_verify(text) IS
	'One row per rule of an environment: how many rows violate it now';

REVOKE ALL ON FUNCTION sandbox_sanitize(text), sandbox_plan(text), sandbox_verify(text)
	FROM PUBLIC;
REVOKE ALL ON FUNCTION sandbox.validate_rule(), sandbox.check_environment_chain() FROM PUBLIC;
/*
 * Running again: which rules a run of an already sanitized copy applies.
 *
 * A copy is one database of one server: its OID and the server's system
 * identifier, as in sandbox.run.  A restored dump carries the ledger of
 * the database it came from, whose runs never count for the copy.
 *
 * sandbox.run_rule files, for each succeeded run, the rules it applied
 * and a digest of their definitions.  sandbox.rules_already_applied() is
 * the one place that decides which rules a run leaves out: the mask rules
 * whose definition (table, column, action, expression, filter) a
 * succeeded run of this copy already applied.  Masking a masked value
 * again would change it (names, e-mail addresses, shifted dates drifting
 * out of their window); every other action gives the same result however
 * often it runs, and runs every time.  A rule added or changed since
 * applies once, like any new rule.
 */

CREATE TABLE sandbox.run_rule (
	run_id bigint NOT NULL REFERENCES sandbox.run (id) ON DELETE CASCADE,
	rule_id bigint NOT NULL,
	action text NOT NULL,
	definition_digest text NOT NULL,
	PRIMARY KEY (run_id, rule_id)
);
CREATE INDEX ON sandbox.run_rule (definition_digest);
COMMENT ON TABLE sandbox.run_rule IS
	'The rules each succeeded run applied, with a digest of their definitions';
REVOKE ALL ON sandbox.run_rule FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('sandbox.run_rule', '');

/* What makes two rules the same rule: what they do, not their id or environment. */
CREATE FUNCTION sandbox.rule_definition_digest(r sandbox.rule)
RETURNS text
LANGUAGE sql
IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT pg_catalog.md5(pg_catalog.jsonb_build_array(r.table_schema, r.table_name, r.column_name,
													   r.action, r.expression, r.filter)::text)
$$;

/* The succeeded runs of this copy (this database OID, this server). */
CREATE FUNCTION sandbox.copy_runs()
RETURNS SETOF sandbox.run
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT r.* FROM sandbox.run r
	WHERE r.status = 'succeeded'
	  AND r.database_oid = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())
	  AND r.system_identifier = (SELECT c.system_identifier FROM pg_control_system() c)
$$;

/* Of these rules, those a run of this copy leaves out (see above). */
CREATE FUNCTION sandbox.rules_already_applied(rule_ids bigint[])
RETURNS SETOF bigint
LANGUAGE sql
STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT r.id FROM sandbox.rule r
	WHERE r.id = ANY (rule_ids)
	  AND r.action = 'mask'
	  AND EXISTS (SELECT FROM sandbox.run_rule a JOIN sandbox.copy_runs() c ON c.id = a.run_id
				  WHERE a.definition_digest = sandbox.rule_definition_digest(r))
$$;

REVOKE ALL ON FUNCTION sandbox.rule_definition_digest(sandbox.rule), sandbox.copy_runs(),
	sandbox.rules_already_applied(bigint[]) FROM PUBLIC;
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
/*
 * Features: what a rule switches off, and whether it may come back.
 *
 * sandbox.rule.feature groups the rules of one feature (ms_exchange,
 * clientconnect, ...).  sandbox.feature says, per environment, whether
 * the feature may be re-enabled after sanitization (policy "reenable":
 * sandbox_enable_feature puts back the values of its restorable rules),
 * only by hand with new credentials ("manual": the extension does not
 * switch it back on), or never ("locked": a guard trigger on the tables
 * its switches live in rejects turning them back on).  Like rules,
 * policies are inherited: the nearest environment's policy wins.  A
 * feature name of sandbox.rule with no policy is a data action (phi,
 * client_contact, logos, ...), not a feature.
 */

CREATE TABLE sandbox.feature (
	environment text NOT NULL REFERENCES sandbox.environment (name)
		ON UPDATE CASCADE ON DELETE CASCADE,
	feature text NOT NULL,
	policy text NOT NULL CHECK (policy IN ('reenable', 'manual', 'locked')),
	description text,
	PRIMARY KEY (environment, feature)
);
COMMENT ON TABLE sandbox.feature IS
	'Per environment, whether a feature switched off by sanitization may be re-enabled';

/* Values overwritten by restorable rules, per run: what re-enabling puts back. */
CREATE TABLE sandbox.saved_value (
	run_id bigint NOT NULL REFERENCES sandbox.run (id) ON DELETE CASCADE,
	rule_id bigint NOT NULL,
	feature text NOT NULL,
	table_schema name NOT NULL,
	table_name name NOT NULL,
	column_name name NOT NULL,
	row_key jsonb NOT NULL,
	old_value jsonb
);
COMMENT ON TABLE sandbox.saved_value IS
	'Setting values switched off by restorable rules, put back by sandbox_enable_feature';

/* Who re-enabled what, when. */
CREATE TABLE sandbox.feature_event (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	run_id bigint REFERENCES sandbox.run (id) ON DELETE CASCADE,
	feature text NOT NULL,
	action text NOT NULL CHECK (action IN ('enabled')),
	who name NOT NULL DEFAULT session_user,
	at timestamptz NOT NULL DEFAULT clock_timestamp(),
	rows bigint NOT NULL
);
COMMENT ON TABLE sandbox.feature_event IS 'Features re-enabled after sanitization';

REVOKE ALL ON sandbox.feature, sandbox.saved_value, sandbox.feature_event FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('sandbox.feature', '');
SELECT pg_catalog.pg_extension_config_dump('sandbox.saved_value', '');
SELECT pg_catalog.pg_extension_config_dump('sandbox.feature_event', '');
SELECT pg_catalog.pg_extension_config_dump('sandbox.feature_event_id_seq', '');

/*
 * Profiles: rule sets shipped with the extension, copied into the
 * catalog by sandbox_load_profile().  "@schema@" in an expression or a
 * filter stands for the quoted schema the application lives in.
 */
CREATE TABLE sandbox.profile_rule (
	profile text NOT NULL,
	environment text NOT NULL,
	feature text,
	table_name name NOT NULL,
	column_name name,
	action text NOT NULL,
	expression text,
	filter text,
	restorable boolean NOT NULL DEFAULT false,
	description text
);
CREATE TABLE sandbox.profile_feature (
	profile text NOT NULL,
	environment text NOT NULL,
	feature text NOT NULL,
	policy text NOT NULL,
	description text,
	PRIMARY KEY (profile, environment, feature)
);
COMMENT ON TABLE sandbox.profile_rule IS 'Rules of the profiles shipped with the extension';
COMMENT ON TABLE sandbox.profile_feature IS 'Feature policies of the profiles shipped with the extension';
REVOKE ALL ON sandbox.profile_rule, sandbox.profile_feature FROM PUBLIC;

CREATE FUNCTION sandbox_load_profile(profile text, app_schema name DEFAULT 'penelope')
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	added_rules bigint;
	added_features bigint;
BEGIN
	IF NOT EXISTS (SELECT FROM sandbox.profile_rule p WHERE p.profile = sandbox_load_profile.profile) THEN
		RAISE EXCEPTION 'profile "%" does not exist', profile
			USING ERRCODE = 'undefined_object',
				  HINT = 'The profiles are listed in table sandbox.profile_rule.';
	END IF;

	INSERT INTO sandbox.rule (environment, feature, table_schema, table_name, column_name,
							  action, expression, filter, restorable, description)
	SELECT p.environment, p.feature, app_schema, p.table_name, p.column_name, p.action,
		   replace(p.expression, '@schema@', quote_ident(app_schema)),
		   replace(p.filter, '@schema@', quote_ident(app_schema)),
		   p.restorable, p.description
	FROM sandbox.profile_rule p
	WHERE p.profile = sandbox_load_profile.profile
	  AND NOT EXISTS (
		SELECT FROM sandbox.rule r
		WHERE r.environment = p.environment
		  AND r.table_schema = app_schema AND r.table_name = p.table_name
		  AND r.column_name IS NOT DISTINCT FROM p.column_name
		  AND r.action = p.action
		  AND r.expression IS NOT DISTINCT FROM replace(p.expression, '@schema@', quote_ident(app_schema))
		  AND r.filter IS NOT DISTINCT FROM replace(p.filter, '@schema@', quote_ident(app_schema)));
	GET DIAGNOSTICS added_rules = ROW_COUNT;

	INSERT INTO sandbox.feature (environment, feature, policy, description)
	SELECT f.environment, f.feature, f.policy, f.description
	FROM sandbox.profile_feature f
	WHERE f.profile = sandbox_load_profile.profile
	ON CONFLICT (environment, feature) DO UPDATE SET policy = EXCLUDED.policy;
	GET DIAGNOSTICS added_features = ROW_COUNT;

	RETURN format('profile "%s" loaded for schema %s: %s rules added, %s feature policies set',
				  profile, quote_ident(app_schema), added_rules, added_features);
END
$$;
COMMENT ON FUNCTION sandbox_load_profile(text, name) IS
	'Copy the rules and feature policies of a shipped profile into the catalog (idempotent)';
REVOKE ALL ON FUNCTION sandbox_load_profile(text, name) FROM PUBLIC;

/* Re-enabling a feature, and guarding a locked one. */

CREATE FUNCTION sandbox_enable_feature(feature text)
RETURNS text
LANGUAGE C
STRICT VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'sandbox_enable_feature';
COMMENT ON FUNCTION sandbox_enable_feature(text) IS
	'Put back the settings sanitization switched off for a feature whose policy is reenable';
REVOKE ALL ON FUNCTION sandbox_enable_feature(text) FROM PUBLIC;

CREATE FUNCTION sandbox.guard_locked_feature()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'sandbox_guard_locked_feature';
COMMENT ON FUNCTION sandbox.guard_locked_feature() IS
	'Trigger keeping the switch of a locked feature off';
/* Only the extension attaches guards: no one can make one the run would take for its own. */
REVOKE ALL ON FUNCTION sandbox.guard_locked_feature() FROM PUBLIC;

/*
 * The guards of locked features stay in place and at full strength: no
 * one drops them, disables them or makes them REPLICA or ORIGIN
 * triggers; no one renames, drops or rewrites a guarded column, renames
 * or moves a guarded table or gives it inheritance children, except by
 * dropping the table or the extension.  The event triggers fire ALWAYS,
 * so session_replication_role = replica does not switch them off.
 */
CREATE FUNCTION sandbox.protect_feature_locks()
RETURNS event_trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'sandbox_protect_feature_locks';
REVOKE ALL ON FUNCTION sandbox.protect_feature_locks() FROM PUBLIC;

CREATE EVENT TRIGGER sandbox_protect_feature_locks_drop ON sql_drop
	EXECUTE FUNCTION sandbox.protect_feature_locks();
CREATE EVENT TRIGGER sandbox_protect_feature_locks_alter ON ddl_command_end
	WHEN TAG IN ('ALTER TABLE', 'ALTER TRIGGER', 'CREATE TABLE')
	EXECUTE FUNCTION sandbox.protect_feature_locks();
ALTER EVENT TRIGGER sandbox_protect_feature_locks_drop ENABLE ALWAYS;
ALTER EVENT TRIGGER sandbox_protect_feature_locks_alter ENABLE ALWAYS;

/*
 * The live state of the switches of the features of an environment: per
 * set rule of a feature with a policy, the rows it applies to and how
 * many differ from its value now.  Read as the tables' owners.
 */
CREATE FUNCTION sandbox.feature_switches(environment text)
RETURNS TABLE (rule_id bigint, rows bigint, differing bigint)
LANGUAGE C
STRICT VOLATILE
AS 'MODULE_PATHNAME', 'sandbox_feature_switches';
REVOKE ALL ON FUNCTION sandbox.feature_switches(text) FROM PUBLIC;

/*
 * What this database is: which environment this copy was last sanitized
 * as, when, by which run, and the state of each feature and data action.
 * Applications call it before sending anything.
 *
 *	kind 'database'	the only row of a database never sanitized (here:
 *					a restored ledger of another copy does not count);
 *	kind 'feature'	a feature with a policy; state read from the live
 *					switches: 'disabled', 'enabled' (a switch is on
 *					again) or 'locked'; can_reenable says whether
 *					sandbox_enable_feature may switch it on, requires what
 *					the DBA must supply (the credentials sanitization
 *					cleared and that are still empty);
 *	kind 'data'		a data action (state 'applied').
 */
CREATE FUNCTION sandbox_status()
RETURNS TABLE (environment text, run_id bigint, sanitized_at timestamptz,
			   sanitized_by name, kind text, feature text, policy text, state text,
			   can_reenable boolean, requires text, detail text)
LANGUAGE sql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	WITH last_run AS (
		SELECT r.id, r.environment, r.finished_at, r.who
		FROM sandbox.last_run() r WHERE r.id IS NOT NULL
	), chain AS (
		SELECT c.name, c.depth
		FROM last_run l CROSS JOIN sandbox.environment_chain(l.environment) c
	), rules AS (
		SELECT DISTINCT ON (r.id) r.* FROM sandbox.rule r JOIN chain c ON c.name = r.environment
		WHERE r.enabled AND r.feature IS NOT NULL
	), features AS (
		SELECT DISTINCT r.feature FROM rules r
		UNION
		SELECT f.feature FROM sandbox.feature f JOIN chain c ON c.name = f.environment
	), policies AS (
		SELECT DISTINCT ON (f.feature) f.feature, f.policy
		FROM sandbox.feature f JOIN chain c ON c.name = f.environment
		ORDER BY f.feature, c.depth
	), switches AS (
		SELECT r.feature,
			   upper(btrim(r.expression)) = 'NULL' AS clears,
			   format('%I.%I.%I', r.table_schema, r.table_name, r.column_name) AS target,
			   s.rows, s.differing
		FROM last_run l
		CROSS JOIN sandbox.feature_switches(l.environment) s
		JOIN rules r ON r.id = s.rule_id
	), feature_state AS (
		SELECT p.feature, p.policy,
			   coalesce(bool_or(s.differing > 0) FILTER (WHERE NOT s.clears), false) AS on_again,
			   string_agg(DISTINCT s.target, ', ') FILTER (WHERE NOT s.clears AND s.differing > 0) AS on_targets,
			   string_agg(DISTINCT s.target, ', ') FILTER (WHERE s.clears AND s.differing = 0) AS still_cleared
		FROM policies p LEFT JOIN switches s ON s.feature = p.feature
		GROUP BY p.feature, p.policy
	)
	SELECT l.environment, l.id, l.finished_at, l.who,
		   CASE WHEN fs.feature IS NULL THEN 'data' ELSE 'feature' END,
		   f.feature, fs.policy,
		   CASE WHEN fs.feature IS NULL THEN 'applied'
				WHEN fs.policy = 'locked' AND NOT fs.on_again THEN 'locked'
				WHEN fs.on_again THEN 'enabled'
				ELSE 'disabled' END,
		   coalesce(fs.policy = 'reenable' AND NOT fs.on_again, false),
		   CASE WHEN fs.policy <> 'locked' AND fs.still_cleared IS NOT NULL
				THEN 'credentials: ' || fs.still_cleared END,
		   CASE WHEN fs.feature IS NULL
				THEN 'Data action: sanitization changed or removed this data; it is not put back.'
				WHEN fs.policy = 'locked'
				THEN 'Locked: it can never be switched back on in this database.'
				WHEN fs.on_again AND fs.still_cleared IS NOT NULL
				THEN format('Switched on again (%s), but %s are still empty: supply them, or it cannot work.',
							fs.on_targets, fs.still_cleared)
				WHEN fs.on_again
				THEN format('Switched on again (%s).', fs.on_targets)
				WHEN fs.policy = 'reenable'
				THEN format('Switched off by sanitization; sandbox_enable_feature(%L) puts its settings back%s.',
							f.feature,
							CASE WHEN fs.still_cleared IS NOT NULL
								 THEN ', then supply ' || fs.still_cleared ELSE '' END)
				ELSE format('Switched off by sanitization; the extension does not switch it back on%s.',
							CASE WHEN fs.still_cleared IS NOT NULL
								 THEN ': an administrator may, by hand, after supplying ' || fs.still_cleared
								 ELSE '' END)
		   END
	FROM last_run l CROSS JOIN features f LEFT JOIN feature_state fs USING (feature)
	UNION ALL
	SELECT NULL, NULL, NULL, NULL, 'database', NULL, NULL, 'never sanitized', false, NULL,
		   CASE WHEN EXISTS (SELECT FROM sandbox.run WHERE status = 'succeeded')
				THEN 'This copy has never been sanitized: the runs in its ledger were made on another database or server (a restored dump). Treat it as a copy of production.'
				ELSE 'This database has never been sanitized: treat it as a copy of production.' END
	WHERE NOT EXISTS (SELECT FROM last_run)
	ORDER BY 5 DESC, 6
$$;
COMMENT ON FUNCTION sandbox_status() IS
	'Which environment this database was sanitized as, by which run, and the live state of each feature';
GRANT EXECUTE ON FUNCTION sandbox_status() TO PUBLIC;
/*
 * The "penelope" profile: the rules and feature policies that make a
 * restored copy of a Penelope production database into each environment
 * of the specification: the vendor's pages "SaaS Migration Database" and
 * "SaaS Sandbox Database Options" (Bonterra Penelope documentation), and
 * their summary per environment type, with the facts of the sibling pages
 * on Mirrored and Training databases.  sandbox_load_profile('penelope')
 * copies it into sandbox.rule and sandbox.feature, replacing "@schema@" by
 * the schema Penelope lives in.  Every rule's description quotes the line
 * of the specification it implements; test/pgtap/4x_penelope_*.sql test
 * every line per environment.
 *
 * Environments.  The catalog inherits only through sandbox.environment
 * (training_b and preview inherit training_a), so the rules shared by
 * migration, mirrored and training_a are written once below and copied to
 * the three environments by a cross join with a list of environments; the
 * description is taken from the column of the environment's source.
 *
 *	- production: no rules (sandbox_sanitize refuses it).
 *	- migration: seed 000, exactly.
 *	- mirrored: migration plus SSO disabled and its secret cleared.
 *	- training_a (so training_b and preview): migration's shared list,
 *	  except that worker accounts stay active, plus full de-identification
 *	  of every client personal column and of worker names.
 *
 * Decisions where the specification leaves room (the conservative reading
 * each time):
 *
 *	- The communications queue is emptied as a whole (TRUNCATE), not only
 *	  its client and external items: the remaining "worker" items hold
 *	  the real addresses of workers the same rules de-identify, and
 *	  client names in their bodies; they would go out to real people as
 *	  soon as External Communications is re-enabled.
 *	- Queues, credentials, ClientConnect accounts and product keys are
 *	  never restorable: re-enabling a feature brings back its switches
 *	  only (seed 000 lists them as cleared, not disabled).  The SMS
 *	  gateway and SMTP settings, the DSS and General Ledger credentials
 *	  are not cleared: the specification does not list them, and External
 *	  Communications and General Ledger must work again once re-enabled.
 *	- A worker is exempt from contact de-identification if he is in ANY
 *	  of System Admin, External Admin and ACSO, and deactivated if he is
 *	  in ANY of Admin Exec, Clinical Worker, Intake Mgmt and Volunteer:
 *	  the two rules are independent, so a Clinical Worker who is also a
 *	  System Admin is deactivated and keeps his real email and SMS number
 *	  (his account stays reachable for whoever reactivates it).
 *	- worker.deactivated_at is left alone: the only honest value is the
 *	  time of the run, and a rule setting now() could not be verified in
 *	  a later transaction (sandbox_verify compares the column with the
 *	  expression); active = false is what disables the account.
 *	- Training: the vendor's Training page does not list ORS/SRS as
 *	  disabled nor the MS Exchange credentials as cleared; training gets
 *	  both anyway (everything Migration clears, as for the billing
 *	  documents logo and the locks, which
 *	  penelope-environments.md reads conservatively).  SSO is not
 *	  disabled in training (only Mirrored lists it; workers log in to
 *	  training to train).
 *	- Training: workers must be able to sign in and train
 *	  (penelope-environments.md, replacing an earlier reading that
 *	  deactivated them as in Migration).  Worker accounts stay active;
 *	  login names, password hashes and SSO stay as in production; worker
 *	  email and SMS are de-identified exactly as in Migration (System
 *	  Admin, External Admin and ACSO keep theirs), so nothing reaches a
 *	  worker from the copy.  Worker first and last names are still masked
 *	  (the training page lists "worker names" among what may not remain;
 *	  the login name, which workers need, is kept even where it is made
 *	  of the name).
 *	- Training keeps, as not identifying on their own: gender, state,
 *	  record and appointment timestamps, attachment-free agency data.  It
 *	  masks with mask_id (same shape, keyed, distinct stays distinct) the
 *	  identifiers and address parts no other masker fits: SSN, Medicare
 *	  number, address line 2, city, postcode.
 *	- Credit Card: with its production credentials cleared, the mode is
 *	  set to 'test', so the copy never tries the production gateway.
 *	- Feature policies: External Communications, MS Exchange, Action
 *	  Triggers and General Ledger "reenable"; ORS/SRS, Credit Card and DSS
 *	  (and SSO in mirrored) "manual": the extension does not switch them
 *	  back on (their credentials and queues are gone), an administrator
 *	  may by hand with new credentials; ClientConnect and Engage
 *	  "locked"; the same in mirrored and training_a (and so training_b and
 *	  preview).  Attachments, logos, contact details, worker accounts and
 *	  PHI have no policy: they are data actions, not features.
 *	- Feature names: external_communications, ms_exchange,
 *	  action_triggers, ors_srs, credit_card, dss, clientconnect, engage,
 *	  general_ledger, sso, attachments, logos, client_contact,
 *	  worker_contact, worker_accounts, phi.
 */

/* ---- Rules shared by migration, mirrored and training_a ---- */
INSERT INTO sandbox.profile_rule (profile, environment, feature, table_name, column_name,
								  action, expression, filter, restorable, description)
SELECT 'penelope', e.environment, r.feature, r.table_name, r.column_name,
	   r.action, r.expression, r.filter, r.restorable,
	   CASE e.environment
		   WHEN 'migration' THEN format('Seed 000 (Migration): "%s"', r.seed_000)
		   WHEN 'mirrored' THEN format('Mirrored, as Migration (penelope-environments.md); seed 000: "%s"', r.seed_000)
		   ELSE CASE WHEN r.training IS NOT NULL
					 THEN format('Training (penelope-environments.md): "%s"', r.training)
					 ELSE format('Training, conservative reading (as Migration, penelope-environments.md); seed 000: "%s"', r.seed_000)
				END
	   END
FROM (VALUES ('migration'), ('mirrored'), ('training_a')) AS e (environment)
CROSS JOIN (VALUES
	/* External Communications: three switches, re-enable-able */
	('external_communications', 'comm_settings', 'sms_enabled', 'set', 'false', NULL, true,
	 'Disabled: External Communications (SMS, Client Delivery and Worker Delivery)',
	 'Disabled: External Communications (SMS, Client Delivery, Worker Delivery)'),
	('external_communications', 'comm_settings', 'client_delivery_enabled', 'set', 'false', NULL, true,
	 'Disabled: External Communications (SMS, Client Delivery and Worker Delivery)',
	 'Disabled: External Communications (SMS, Client Delivery, Worker Delivery)'),
	('external_communications', 'comm_settings', 'worker_delivery_enabled', 'set', 'false', NULL, true,
	 'Disabled: External Communications (SMS, Client Delivery and Worker Delivery)',
	 'Disabled: External Communications (SMS, Client Delivery, Worker Delivery)'),
	('external_communications', 'comm_queue', NULL, 'truncate', NULL, NULL, false,
	 'Any items in the communications queue (client and external) will be cleared',
	 'Cleared: communications queue (client and external)'),

	/* MS Exchange */
	('ms_exchange', 'exchange_settings', 'sync_enabled', 'set', 'false', NULL, true,
	 'Disabled: MS Exchange',
	 'Disabled: MS Exchange'),
	('ms_exchange', 'exchange_queue', NULL, 'truncate', NULL, NULL, false,
	 'MS Exchange queue, error queue, and credentials will be cleared',
	 'Cleared: MS Exchange queue and error queue'),
	('ms_exchange', 'exchange_error_queue', NULL, 'truncate', NULL, NULL, false,
	 'MS Exchange queue, error queue, and credentials will be cleared',
	 'Cleared: MS Exchange queue and error queue'),
	('ms_exchange', 'exchange_settings', 'username', 'set', 'NULL', NULL, false,
	 'MS Exchange queue, error queue, and credentials will be cleared',
	 NULL),
	('ms_exchange', 'exchange_settings', 'password', 'set', 'NULL', NULL, false,
	 'MS Exchange queue, error queue, and credentials will be cleared',
	 NULL),

	/* Action Triggers */
	('action_triggers', 'action_trigger', 'enabled', 'set', 'false', NULL, true,
	 'Disabled: Action Triggers',
	 'Disabled: Action Triggers'),
	('action_triggers', 'action_trigger_queue', NULL, 'truncate', NULL, NULL, false,
	 'Action Trigger queue will be cleared',
	 'Cleared: Action Trigger queue'),

	/* ORS/SRS */
	('ors_srs', 'ors_settings', 'enabled', 'set', 'false', NULL, false,
	 'Disabled: ORS/SRS',
	 NULL),
	('ors_srs', 'ors_settings', 'username', 'set', 'NULL', NULL, false,
	 'ORS/SRS credentials will be cleared',
	 'Cleared: ORS/SRS credentials'),
	('ors_srs', 'ors_settings', 'password', 'set', 'NULL', NULL, false,
	 'ORS/SRS credentials will be cleared',
	 'Cleared: ORS/SRS credentials'),

	/* Credit Card */
	('credit_card', 'credit_card_settings', 'enabled', 'set', 'false', NULL, false,
	 'Disabled: Credit Card',
	 'Disabled: Credit Card'),
	('credit_card', 'credit_card_settings', 'production_merchant_id', 'set', 'NULL', NULL, false,
	 'Credit card production credentials will be cleared',
	 'Cleared: credit card production credentials'),
	('credit_card', 'credit_card_settings', 'production_api_key', 'set', 'NULL', NULL, false,
	 'Credit card production credentials will be cleared',
	 'Cleared: credit card production credentials'),
	('credit_card', 'credit_card_settings', 'mode', 'set', $$'test'$$, NULL, false,
	 'Credit card production credentials will be cleared (so the mode is test, never production)',
	 'Cleared: credit card production credentials (so the mode is test, never production)'),

	/* DSS */
	('dss', 'dss_settings', 'sync_enabled', 'set', 'false', NULL, false,
	 'DSS production queue will be cleared and synchronization deactivated',
	 'Cleared: DSS production queue (and synchronization deactivated)'),
	('dss', 'dss_queue', NULL, 'truncate', NULL, NULL, false,
	 'DSS production queue will be cleared and synchronization deactivated',
	 'Cleared: DSS production queue (and synchronization deactivated)'),

	/* ClientConnect: locked; accounts and keys (a key references its account) go together */
	('clientconnect', 'clientconnect_settings', 'enabled', 'set', 'false', NULL, false,
	 'Disabled: ClientConnect and Engage',
	 'Disabled: ClientConnect and Engage'),
	('clientconnect', 'clientconnect_settings', 'notifications_enabled', 'set', 'false', NULL, false,
	 'ClientConnect notifications will be deactivated, all accounts and product keys deleted',
	 'ClientConnect notifications deactivated, accounts and product keys deleted'),
	('clientconnect', 'clientconnect_account', NULL, 'truncate', NULL, NULL, false,
	 'ClientConnect notifications will be deactivated, all accounts and product keys deleted',
	 'ClientConnect notifications deactivated, accounts and product keys deleted'),
	('clientconnect', 'clientconnect_product_key', NULL, 'truncate', NULL, NULL, false,
	 'ClientConnect notifications will be deactivated, all accounts and product keys deleted',
	 'ClientConnect notifications deactivated, accounts and product keys deleted'),

	/* Engage: locked */
	('engage', 'engage_settings', 'client_communications_enabled', 'set', 'false', NULL, false,
	 'Engage client communications and Workflows will be deactivated',
	 'Engage client communications and Workflows deactivated'),
	('engage', 'engage_workflow', 'active', 'set', 'false', NULL, false,
	 'Engage client communications and Workflows will be deactivated',
	 'Engage client communications and Workflows deactivated'),

	/* General Ledger */
	('general_ledger', 'agency_settings', 'gl_enabled', 'set', 'false', NULL, true,
	 'Disabled: General Ledger',
	 'Disabled: General Ledger'),

	/* Attachments: every row, and the large objects of their content */
	('attachments', 'attachment', 'content_oid', 'delete', NULL, NULL, false,
	 'Attachments removed',
	 'Disabled: Attachments; attachments removed'),

	/* Logos */
	('logos', 'agency_settings', 'agency_logo', 'set', 'NULL', NULL, false,
	 'Agency logo removed',
	 'agency logo removed'),
	('logos', 'agency_settings', 'billing_documents_logo', 'set', 'NULL', NULL, false,
	 'Billing documents logo removed',
	 'Our conservative reading where the page is silent: billing documents logo removed'),

	/* Client contact details (training masks them like the other PHI) */
	('client_contact', 'client', 'email', 'mask', 'sandbox.mask_email(email)', NULL, false,
	 'Client email and phone details will be de-identified',
	 'no PHI may remain (... phone numbers, email addresses ...)'),
	('client_contact', 'client', 'mobile_phone', 'mask', 'sandbox.mask_phone(mobile_phone)', NULL, false,
	 'Client email and phone details will be de-identified',
	 'no PHI may remain (... phone numbers, email addresses ...)'),
	('client_contact', 'client', 'home_phone', 'mask', 'sandbox.mask_phone(home_phone)', NULL, false,
	 'Client email and phone details will be de-identified',
	 'no PHI may remain (... phone numbers, email addresses ...)'),
	('client_contact', 'client_contact', 'email', 'mask', 'sandbox.mask_email(email)', NULL, false,
	 'Client email and phone details will be de-identified',
	 'no PHI may remain (... phone numbers, email addresses ...)'),
	('client_contact', 'client_contact', 'phone', 'mask', 'sandbox.mask_phone(phone)', NULL, false,
	 'Client email and phone details will be de-identified',
	 'no PHI may remain (... phone numbers, email addresses ...)')
) AS r (feature, table_name, column_name, action, expression, filter, restorable, seed_000, training);

/* ---- Worker accounts in migration and mirrored: deactivated if in ANY of the four groups ---- */
INSERT INTO sandbox.profile_rule (profile, environment, feature, table_name, column_name,
								  action, expression, filter, restorable, description)
SELECT 'penelope', e.environment, 'worker_accounts', 'worker', 'active', 'set', 'false',
	   $$EXISTS (SELECT FROM @schema@.worker_user_group AS wug JOIN @schema@.user_group AS g ON g.id = wug.user_group_id WHERE wug.worker_id = worker.id AND g.name IN ('Admin Exec', 'Clinical Worker', 'Intake Mgmt', 'Volunteer'))$$,
	   false,
	   CASE e.environment WHEN 'migration' THEN 'Seed 000 (Migration): '
		   ELSE 'Mirrored, as Migration (penelope-environments.md); seed 000: ' END
	   || '"Worker accounts in the following User Groups will be deactivated: Admin Exec, Clinical Worker, Intake Mgmt, Volunteer"'
FROM (VALUES ('migration'), ('mirrored')) AS e (environment);

/*
 * ---- Worker contact details: exempt groups keep theirs ----
 * In migration and mirrored (seed 000), and in training, "as in Migration"
 * (penelope-environments.md).
 */
INSERT INTO sandbox.profile_rule (profile, environment, feature, table_name, column_name,
								  action, expression, filter, restorable, description)
SELECT 'penelope', e.environment, 'worker_contact', 'worker', r.column_name, 'mask', r.expression,
	   $$NOT EXISTS (SELECT FROM @schema@.worker_user_group AS wug JOIN @schema@.user_group AS g ON g.id = wug.user_group_id WHERE wug.worker_id = worker.id AND g.name IN ('System Admin', 'External Admin', 'ACSO'))$$,
	   false,
	   CASE e.environment WHEN 'migration' THEN 'Seed 000 (Migration): '
		   WHEN 'mirrored' THEN 'Mirrored, as Migration (penelope-environments.md); seed 000: '
		   ELSE 'Training (penelope-environments.md): "Worker email and SMS details are de-identified as in Migration (exempt groups keep theirs)"; seed 000: ' END
	   || '"Worker email and SMS details will be de-identified (all User Groups except System Admin and External Admin and ACSO)." A worker in any of the three keeps his.'
FROM (VALUES ('migration'), ('mirrored'), ('training_a')) AS e (environment)
CROSS JOIN (VALUES
	('email', 'sandbox.mask_email(email)'),
	('sms_number', 'sandbox.mask_phone(sms_number)')
) AS r (column_name, expression);

/* ---- Mirrored only: SSO ---- */
INSERT INTO sandbox.profile_rule (profile, environment, feature, table_name, column_name,
								  action, expression, filter, restorable, description)
VALUES
	('penelope', 'mirrored', 'sso', 'agency_settings', 'sso_enabled', 'set', 'false', NULL, false,
	 'Mirrored (penelope-environments.md): "Seed 001 adds that functions such as SSO ... must be disabled on copies; SSO is therefore disabled here too."'),
	('penelope', 'mirrored', 'sso', 'agency_settings', 'sso_client_secret', 'set', 'NULL', NULL, false,
	 'Mirrored (penelope-environments.md): "SSO is therefore disabled here too." (its secret cleared, so it cannot be switched back on against the production identity provider)');

/* ---- Training: no PHI may remain ---- */
INSERT INTO sandbox.profile_rule (profile, environment, feature, table_name, column_name,
								  action, expression, filter, restorable, description)
SELECT 'penelope', 'training_a', r.feature, r.table_name, r.column_name, 'mask',
	   format('sandbox.%s(%s)', r.masker, r.column_name), NULL, false,
	   'Training (penelope-environments.md): "a de-identified duplicate of Production: no PHI may remain ('
	   || r.what || ')"'
FROM (VALUES
	/* workers: names (login names, password hashes and accounts stay: workers sign in to train) */
	('phi', 'worker', 'first_name', 'mask_first_name', 'worker names'),
	('phi', 'worker', 'last_name', 'mask_last_name', 'worker names'),
	/* clients */
	('phi', 'client', 'first_name', 'mask_first_name', 'client names'),
	('phi', 'client', 'last_name', 'mask_last_name', 'client names'),
	('phi', 'client', 'preferred_name', 'mask_first_name', 'client names'),
	('phi', 'client', 'birth_date', 'mask_date', 'dates of birth'),
	('phi', 'client', 'address_line1', 'mask_address', 'addresses'),
	('phi', 'client', 'address_line2', 'mask_id', 'addresses'),
	('phi', 'client', 'city', 'mask_id', 'addresses'),
	('phi', 'client', 'postcode', 'mask_id', 'addresses'),
	('phi', 'client', 'ssn', 'mask_id', 'identifiers'),
	('phi', 'client', 'medicare_number', 'mask_id', 'identifiers'),
	('phi', 'client', 'notes', 'mask_text', 'free-text notes'),
	('phi', 'client_note', 'body', 'mask_text', 'free-text notes'),
	('phi', 'service_event', 'notes', 'mask_text', 'free-text notes')
) AS r (feature, table_name, column_name, masker, what);

/* ---- Feature policies ---- */
INSERT INTO sandbox.profile_feature (profile, environment, feature, policy, description)
SELECT 'penelope', e.environment, f.feature, f.policy, f.description
FROM (VALUES ('migration'), ('mirrored'), ('training_a')) AS e (environment)
CROSS JOIN (VALUES
	('external_communications', 'reenable', 'Seed 000: "After an upgrade what features can be re-enabled? External Communications"'),
	('ms_exchange', 'reenable', 'Seed 000: "After an upgrade what features can be re-enabled? MS Exchange"'),
	('action_triggers', 'reenable', 'Seed 000: "After an upgrade what features can be re-enabled? Action Triggers"'),
	('general_ledger', 'reenable', 'Seed 000: "After an upgrade what features can be re-enabled? General Ledger"'),
	('ors_srs', 'manual', 'Seed 000 lists ORS/SRS as disabled and its credentials as cleared, not as one of the features that can be re-enabled'),
	('credit_card', 'manual', 'Seed 000 lists Credit Card as disabled and its production credentials as cleared, not as one of the features that can be re-enabled'),
	('dss', 'manual', 'Seed 000: "DSS production queue will be cleared and synchronization deactivated"; not one of the features that can be re-enabled'),
	('clientconnect', 'locked', 'Seed 000: "ClientConnect and Engage cannot be enabled on the Migration database."'),
	('engage', 'locked', 'Seed 000: "ClientConnect and Engage cannot be enabled on the Migration database."')
) AS f (feature, policy, description);

/* Mirrored: SSO is disabled on copies (seed 001); an administrator may switch it on by hand. */
INSERT INTO sandbox.profile_feature (profile, environment, feature, policy, description)
VALUES ('penelope', 'mirrored', 'sso', 'manual',
		'Seed 001: functions such as SSO must be disabled on copies; its secret is cleared');
/*
 * Rules a DBA can live with (src/rule_checks.c, src/mask_json.c): what
 * each masker writes, maskers for parts of jsonb documents and for the
 * elements of arrays, and a warning before the catalog is dropped.
 */

/*
 * How long a masker's output is, so that a rule writing a varchar(n) or
 * char(n) column is refused when its masker can never fit.
 */
ALTER TABLE sandbox.masking_function
	ADD COLUMN min_length integer CHECK (min_length >= 0),
	ADD COLUMN max_length integer CHECK (max_length >= min_length),
	ADD COLUMN preserves_length boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN sandbox.masking_function.min_length IS
	'Fewest characters the masker writes for a non-empty input (NULL: unknown); a rule on a shorter varchar(n)/char(n) column is refused';
COMMENT ON COLUMN sandbox.masking_function.max_length IS
	'Most characters the masker writes (NULL: no bound), for the DBA';
COMMENT ON COLUMN sandbox.masking_function.preserves_length IS
	'The output has exactly as many characters as the input: a rule masking a column into one at least as wide always fits';

UPDATE sandbox.masking_function SET min_length = 43, max_length = 43
	WHERE masker = 'sandbox.mask_email(text)'::regprocedure;
UPDATE sandbox.masking_function SET preserves_length = true
	WHERE masker IN ('sandbox.mask_phone(text)'::regprocedure, 'sandbox.mask_id(text)'::regprocedure);
UPDATE sandbox.masking_function SET min_length = 2, max_length = 11
	WHERE masker = 'sandbox.mask_first_name(text)'::regprocedure;
UPDATE sandbox.masking_function SET min_length = 2, max_length = 13
	WHERE masker = 'sandbox.mask_last_name(text)'::regprocedure;
UPDATE sandbox.masking_function SET max_length = 128
	WHERE masker = 'sandbox.mask_address(text)'::regprocedure;

/*
 * Masking what lies at a path of a jsonb document.  The masker is given
 * by its signature and must be a registered masker of text; the
 * recogniser applies that masker's recogniser to the same places.
 */
CREATE FUNCTION sandbox.mask_jsonb(doc jsonb, path text[], masker regprocedure)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'sandbox_mask_jsonb'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION sandbox.mask_jsonb(jsonb, text[], regprocedure) IS
	'The document with the strings and numbers at path (keys, indexes, * for all) masked by a registered masker of text';

CREATE FUNCTION sandbox.is_masked_jsonb(doc jsonb, path text[], masker regprocedure)
RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_is_masked_jsonb'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION sandbox.is_masked_jsonb(jsonb, text[], regprocedure) IS
	'Does the masker''s recogniser accept every string and number at path (true when the path leads nowhere)?';

/*
 * The maskers and recognisers on arrays of text: every non-null element
 * goes through the scalar function of the same name.  (No date[] overload:
 * it would make sandbox.mask_date('2020-01-01') ambiguous.)
 */
CREATE FUNCTION sandbox.mask_email(text[]) RETURNS text[]
AS 'MODULE_PATHNAME', 'sandbox_mask_elements' LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
CREATE FUNCTION sandbox.mask_phone(text[]) RETURNS text[]
AS 'MODULE_PATHNAME', 'sandbox_mask_elements' LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
CREATE FUNCTION sandbox.mask_first_name(text[]) RETURNS text[]
AS 'MODULE_PATHNAME', 'sandbox_mask_elements' LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
CREATE FUNCTION sandbox.mask_last_name(text[]) RETURNS text[]
AS 'MODULE_PATHNAME', 'sandbox_mask_elements' LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
CREATE FUNCTION sandbox.mask_full_name(text[]) RETURNS text[]
AS 'MODULE_PATHNAME', 'sandbox_mask_elements' LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
CREATE FUNCTION sandbox.mask_address(text[]) RETURNS text[]
AS 'MODULE_PATHNAME', 'sandbox_mask_elements' LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
CREATE FUNCTION sandbox.mask_text(text[]) RETURNS text[]
AS 'MODULE_PATHNAME', 'sandbox_mask_elements' LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
CREATE FUNCTION sandbox.mask_id(text[]) RETURNS text[]
AS 'MODULE_PATHNAME', 'sandbox_mask_elements' LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;

/*
 * Their run-token variants (see src/sql/21_masking_run_token.sql): during
 * a sanitization the engine calls these, and they pass the token on to
 * the scalar maskers' variants.
 */
CREATE FUNCTION sandbox.mask_jsonb(jsonb, text[], regprocedure, bytea) RETURNS jsonb
AS 'MODULE_PATHNAME', 'sandbox_mask_jsonb' LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
CREATE FUNCTION sandbox.mask_email(text[], bytea) RETURNS text[]
AS 'MODULE_PATHNAME', 'sandbox_mask_elements' LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
CREATE FUNCTION sandbox.mask_phone(text[], bytea) RETURNS text[]
AS 'MODULE_PATHNAME', 'sandbox_mask_elements' LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
CREATE FUNCTION sandbox.mask_first_name(text[], bytea) RETURNS text[]
AS 'MODULE_PATHNAME', 'sandbox_mask_elements' LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
CREATE FUNCTION sandbox.mask_last_name(text[], bytea) RETURNS text[]
AS 'MODULE_PATHNAME', 'sandbox_mask_elements' LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
CREATE FUNCTION sandbox.mask_full_name(text[], bytea) RETURNS text[]
AS 'MODULE_PATHNAME', 'sandbox_mask_elements' LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
CREATE FUNCTION sandbox.mask_address(text[], bytea) RETURNS text[]
AS 'MODULE_PATHNAME', 'sandbox_mask_elements' LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
CREATE FUNCTION sandbox.mask_text(text[], bytea) RETURNS text[]
AS 'MODULE_PATHNAME', 'sandbox_mask_elements' LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
CREATE FUNCTION sandbox.mask_id(text[], bytea) RETURNS text[]
AS 'MODULE_PATHNAME', 'sandbox_mask_elements' LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
GRANT EXECUTE ON FUNCTION sandbox.mask_jsonb(jsonb, text[], regprocedure, bytea),
	sandbox.mask_email(text[], bytea),
	sandbox.mask_phone(text[], bytea),
	sandbox.mask_first_name(text[], bytea),
	sandbox.mask_last_name(text[], bytea),
	sandbox.mask_full_name(text[], bytea),
	sandbox.mask_address(text[], bytea),
	sandbox.mask_text(text[], bytea),
	sandbox.mask_id(text[], bytea)
TO PUBLIC;

CREATE FUNCTION sandbox.is_masked_email(text[]) RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_is_masked_elements' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION sandbox.is_masked_phone(text[]) RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_is_masked_elements' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION sandbox.is_masked_first_name(text[]) RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_is_masked_elements' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION sandbox.is_masked_last_name(text[]) RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_is_masked_elements' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION sandbox.is_masked_full_name(text[]) RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_is_masked_elements' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION sandbox.is_masked_address(text[]) RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_is_masked_elements' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION sandbox.is_masked_text(text[]) RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_is_masked_elements' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION sandbox.is_masked_id(text[]) RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_is_masked_elements' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION sandbox.mask_email(text[]) IS 'Every non-null element masked by sandbox.mask_email(text)';
COMMENT ON FUNCTION sandbox.mask_phone(text[]) IS 'Every non-null element masked by sandbox.mask_phone(text)';
COMMENT ON FUNCTION sandbox.mask_first_name(text[]) IS 'Every non-null element masked by sandbox.mask_first_name(text)';
COMMENT ON FUNCTION sandbox.mask_last_name(text[]) IS 'Every non-null element masked by sandbox.mask_last_name(text)';
COMMENT ON FUNCTION sandbox.mask_full_name(text[]) IS 'Every non-null element masked by sandbox.mask_full_name(text)';
COMMENT ON FUNCTION sandbox.mask_address(text[]) IS 'Every non-null element masked by sandbox.mask_address(text)';
COMMENT ON FUNCTION sandbox.mask_text(text[]) IS 'Every non-null element masked by sandbox.mask_text(text)';
COMMENT ON FUNCTION sandbox.mask_id(text[]) IS 'Every non-null element masked by sandbox.mask_id(text)';
COMMENT ON FUNCTION sandbox.is_masked_email(text[]) IS 'Does sandbox.is_masked_email(text) accept every non-null element?';
COMMENT ON FUNCTION sandbox.is_masked_phone(text[]) IS 'Does sandbox.is_masked_phone(text) accept every non-null element?';
COMMENT ON FUNCTION sandbox.is_masked_first_name(text[]) IS 'Does sandbox.is_masked_first_name(text) accept every non-null element?';
COMMENT ON FUNCTION sandbox.is_masked_last_name(text[]) IS 'Does sandbox.is_masked_last_name(text) accept every non-null element?';
COMMENT ON FUNCTION sandbox.is_masked_full_name(text[]) IS 'Does sandbox.is_masked_full_name(text) accept every non-null element?';
COMMENT ON FUNCTION sandbox.is_masked_address(text[]) IS 'Does sandbox.is_masked_address(text) accept every non-null element?';
COMMENT ON FUNCTION sandbox.is_masked_text(text[]) IS 'Does sandbox.is_masked_text(text) accept every non-null element?';
COMMENT ON FUNCTION sandbox.is_masked_id(text[]) IS 'Does sandbox.is_masked_id(text) accept every non-null element?';

GRANT EXECUTE ON FUNCTION
	sandbox.mask_jsonb(jsonb, text[], regprocedure),
	sandbox.is_masked_jsonb(jsonb, text[], regprocedure),
	sandbox.mask_email(text[]), sandbox.mask_phone(text[]),
	sandbox.mask_first_name(text[]), sandbox.mask_last_name(text[]),
	sandbox.mask_full_name(text[]), sandbox.mask_address(text[]),
	sandbox.mask_text(text[]), sandbox.mask_id(text[]),
	sandbox.is_masked_email(text[]), sandbox.is_masked_phone(text[]),
	sandbox.is_masked_first_name(text[]), sandbox.is_masked_last_name(text[]),
	sandbox.is_masked_full_name(text[]), sandbox.is_masked_address(text[]),
	sandbox.is_masked_text(text[]), sandbox.is_masked_id(text[])
TO PUBLIC;

/* The array maskers have the lengths of their scalars, per element. */
INSERT INTO sandbox.masking_function (masker, recogniser, min_length, max_length, preserves_length)
	SELECT format('sandbox.%s(text[])', p.proname)::regprocedure,
		   format('sandbox.is_masked_%s(text[])', substr(p.proname, 6))::regprocedure,
		   m.min_length, m.max_length, m.preserves_length
	FROM sandbox.masking_function m
		JOIN pg_catalog.pg_proc p ON p.oid = m.masker
	WHERE p.proargtypes[0] = 'text'::regtype;
INSERT INTO sandbox.masking_function (masker, recogniser) VALUES
	('sandbox.mask_jsonb(jsonb, text[], regprocedure)',
	 'sandbox.is_masked_jsonb(jsonb, text[], regprocedure)');

/*
 * DROP EXTENSION penelope_sandbox takes every rule and the whole ledger
 * with it: say so, with the counts, before it happens.
 */
CREATE FUNCTION sandbox.warn_drop()
RETURNS event_trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'sandbox_warn_drop';
REVOKE ALL ON FUNCTION sandbox.warn_drop() FROM PUBLIC;

CREATE EVENT TRIGGER sandbox_warn_drop ON ddl_command_start
	WHEN TAG IN ('DROP EXTENSION')
	EXECUTE FUNCTION sandbox.warn_drop();

/* The checks between rules read the rules of one table (rule_checks.c). */
CREATE INDEX rule_table_idx ON sandbox.rule (table_schema, table_name);
/*
 * Discovery of personal data no rule covers, and the leak scan of every
 * run (src/discover.c, src/leakscan.c).
 */

/*
 * Per environment (inherited like rules: the nearest environment with a
 * row decides): the kinds of personal data that must not remain
 * uncovered, and what an uncovered column, or an original value found
 * after the run, does to the run.  An environment with no policy of its
 * own or inherited is not checked.  penelope_sandbox.pii_check overrides
 * on_failure.
 */
CREATE TABLE sandbox.discovery_policy (
	environment text PRIMARY KEY REFERENCES sandbox.environment (name)
		ON UPDATE CASCADE ON DELETE CASCADE,
	required_kinds text[] NOT NULL
		CHECK (required_kinds <@ ARRAY['email', 'phone', 'name', 'birth_date', 'national_id',
									   'address', 'text_with_contacts', 'json_with_contacts',
									   'free_text']),
	on_failure text NOT NULL CHECK (on_failure IN ('error', 'warning', 'off')),
	description text
);
COMMENT ON TABLE sandbox.discovery_policy IS
	'Per environment: the kinds of personal data no column may hold uncovered, and what an uncovered column or a leak does to a run';

INSERT INTO sandbox.discovery_policy (environment, required_kinds, on_failure, description) VALUES
	('migration', ARRAY['email', 'phone', 'text_with_contacts', 'json_with_contacts'], 'warning',
	 'Contact details: seed 000 de-identifies client and worker email and phone details'),
	('mirrored', ARRAY['email', 'phone', 'text_with_contacts', 'json_with_contacts'], 'warning',
	 'As Migration: contact details'),
	('training_a', ARRAY['email', 'phone', 'name', 'birth_date', 'national_id', 'address',
						 'text_with_contacts', 'json_with_contacts', 'free_text'], 'error',
	 'Training: no PHI may remain (training_b and preview inherit this policy)');

/* Uncovered columns a run went on with (policy "warning") */
CREATE TABLE sandbox.run_uncovered (
	run_id bigint NOT NULL REFERENCES sandbox.run (id) ON DELETE CASCADE,
	table_schema name NOT NULL,
	table_name name NOT NULL,
	column_name name NOT NULL,
	kind text NOT NULL,
	evidence text NOT NULL,
	PRIMARY KEY (run_id, table_schema, table_name, column_name)
);
COMMENT ON TABLE sandbox.run_uncovered IS
	'Columns that looked like personal data and that no rule covered, per run (never a value)';

/* The leak scan of a run: counts only, never a value nor a fingerprint */
CREATE TABLE sandbox.leak_scan (
	run_id bigint PRIMARY KEY REFERENCES sandbox.run (id) ON DELETE CASCADE,
	policy text NOT NULL,
	originals bigint NOT NULL,
	originals_not_held bigint NOT NULL,
	complete boolean NOT NULL,
	memory_bytes bigint NOT NULL,
	originals_produced_by_masks bigint,
	tables_scanned integer NOT NULL,
	columns_scanned integer NOT NULL,
	relations_skipped integer NOT NULL,
	rows_scanned bigint NOT NULL,
	values_scanned bigint NOT NULL,
	hits bigint NOT NULL,
	collect_duration interval NOT NULL,
	scan_duration interval NOT NULL
);
COMMENT ON TABLE sandbox.leak_scan IS
	'Per run: how many distinct original values of masked columns were fingerprinted, what was scanned after the run, and how many originals were found';
COMMENT ON COLUMN sandbox.leak_scan.originals_produced_by_masks IS
	'Originals that the masks of the run also produced (a masked postcode is another postcode): a value equal to one of them is not counted as a hit.  NULL when the scan found no original, so that the masked columns were not read again';
COMMENT ON COLUMN sandbox.leak_scan.relations_skipped IS
	'Foreign tables, temporary tables and unpopulated materialized views, which are not scanned';

CREATE TABLE sandbox.leak_scan_hit (
	run_id bigint NOT NULL REFERENCES sandbox.leak_scan (run_id) ON DELETE CASCADE,
	table_schema name NOT NULL,
	table_name name NOT NULL,
	column_name name NOT NULL,
	hits bigint NOT NULL,
	PRIMARY KEY (run_id, table_schema, table_name, column_name)
);
COMMENT ON TABLE sandbox.leak_scan_hit IS
	'Per run and column: how many pieces of its values (whole values, emails, numbers) were original values of masked columns';

REVOKE ALL ON sandbox.discovery_policy, sandbox.run_uncovered, sandbox.leak_scan,
	sandbox.leak_scan_hit FROM PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('sandbox.discovery_policy',
	$$WHERE environment NOT IN ('migration', 'mirrored', 'training_a')$$);
SELECT pg_catalog.pg_extension_config_dump('sandbox.run_uncovered', '');
SELECT pg_catalog.pg_extension_config_dump('sandbox.leak_scan', '');
SELECT pg_catalog.pg_extension_config_dump('sandbox.leak_scan_hit', '');

CREATE FUNCTION sandbox_discover(environment text DEFAULT NULL)
RETURNS TABLE (relation text, column_name text, kind text, evidence text,
			   by_name boolean, content_share double precision, sampled bigint,
			   required boolean, covered boolean, covered_by text)
LANGUAGE C
CALLED ON NULL INPUT VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'sandbox_discover';
COMMENT ON FUNCTION sandbox_discover(text) IS
	'Columns that look like personal data (by name, or by a bounded sample of their content), and the rule of the environment that covers each';
REVOKE ALL ON FUNCTION sandbox_discover(text) FROM PUBLIC;

/*
 * A masker for free text an environment keeps but whose contact details
 * it de-identifies: each email address and phone number inside the text
 * is replaced by mask_email's or mask_phone's pseudonym, the rest is kept.
 */
CREATE FUNCTION sandbox.mask_contacts(text) RETURNS text
AS 'MODULE_PATHNAME', 'sandbox_mask_contacts'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION sandbox.mask_contacts(text) IS
	'Free text with every email address and phone number inside replaced by the pseudonyms of mask_email and mask_phone';

CREATE FUNCTION sandbox.is_masked_contacts(text) RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_is_masked_contacts'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION sandbox.is_masked_contacts(text) IS
	'Whether every email address and phone number inside a text has the form of a masked one';

-- its run-token variant (see src/sql/21_masking_run_token.sql)
CREATE FUNCTION sandbox.mask_contacts(text, bytea) RETURNS text
AS 'MODULE_PATHNAME', 'sandbox_mask_contacts'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;

GRANT EXECUTE ON FUNCTION sandbox.mask_contacts(text), sandbox.mask_contacts(text, bytea),
	sandbox.is_masked_contacts(text) TO PUBLIC;
INSERT INTO sandbox.masking_function (masker, recogniser) VALUES
	('sandbox.mask_contacts(text)', 'sandbox.is_masked_contacts(text)');
/*
 * The "penelope" profile, completed by discovery (issue 11).
 *
 * sandbox_discover('migration') on the reference schema finds one column
 * of contact details no rule of seed 000 covered: penelope.client_note.body,
 * whose case notes hold clients' phone numbers ("Contact on 0412 ..."),
 * and the leak scan of a migration run finds those numbers equal to the
 * originals of the masked client phone columns.  Seed 000's "Client
 * email and phone details will be de-identified" covers them; the notes
 * themselves stay (migration keeps them), with each email address and
 * phone number inside replaced by its pseudonym.  Mirrored, as Migration.
 * Training masks the whole note already.
 */
INSERT INTO sandbox.profile_rule (profile, environment, feature, table_name, column_name,
								  action, expression, filter, restorable, description)
SELECT 'penelope', e.environment, 'client_contact', 'client_note', 'body', 'mask',
	   'sandbox.mask_contacts(body)', NULL, false,
	   CASE e.environment WHEN 'migration' THEN 'Seed 000 (Migration): '
		   ELSE 'Mirrored, as Migration (penelope-environments.md); seed 000: ' END
	   || '"Client email and phone details will be de-identified": also those written into case notes (found by sandbox_discover); the notes are kept'
FROM (VALUES ('migration'), ('mirrored')) AS e (environment);
