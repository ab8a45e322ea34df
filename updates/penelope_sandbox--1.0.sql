-- penelope_sandbox--1.0.sql: release 1.0, frozen (assembled from src/sql/ at 1.0).

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
 * passphrase through sandbox.set_secret() or penelope_sandbox.secret.
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
	'The masking key: made at random on first use, or derived from a passphrase by sandbox.set_secret()';
REVOKE ALL ON sandbox.secret FROM PUBLIC;

CREATE FUNCTION sandbox.set_secret(passphrase text)
RETURNS void
AS 'MODULE_PATHNAME', 'sandbox_set_secret'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION sandbox.set_secret(text) IS
	'Replace the masking key by one derived from a passphrase (PBKDF2-HMAC-SHA256), so databases share pseudonyms';
REVOKE EXECUTE ON FUNCTION sandbox.set_secret(text) FROM PUBLIC;

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
	'Phone number of the same shape; North American, UK and Australian numbers land in ranges reserved for fiction';

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
	'Identifier of the same shape (digits stay digits, letters letters, separators stay) by a keyed permutation: distinct stays distinct';

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
	'Is the value in a fictional range, or a number carrying the mask_phone check digits (1 real number in 97 passes)?';

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
 * mask_id and mask_date keep the form of their input exactly (any
 * identifier of a shape, any date), so nothing in a masked value can tell
 * it from a real one: their recognisers accept every value.  They exist
 * so the maskers can be registered, which rules that read the column they
 * write require.
 */
CREATE FUNCTION sandbox.is_masked_id(text) RETURNS boolean
AS 'SELECT true'
LANGUAGE sql STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION sandbox.is_masked_id(text) IS
	'Accepts every value: a masked identifier has the form of a real one';

CREATE FUNCTION sandbox.is_masked_date(date) RETURNS boolean
AS 'SELECT true'
LANGUAGE sql STRICT IMMUTABLE PARALLEL SAFE;
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

CREATE TRIGGER validate_rule
	BEFORE INSERT OR UPDATE ON sandbox.rule
	FOR EACH ROW EXECUTE FUNCTION sandbox.validate_rule();

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
	'Sanitize in a background worker once this transaction commits; returns the run id';
REVOKE ALL ON FUNCTION sandbox_sanitize_async(text) FROM PUBLIC;

CREATE FUNCTION sandbox.database_ready()
RETURNS boolean
LANGUAGE C
STRICT STABLE
AS 'MODULE_PATHNAME', 'sandbox_database_ready';
COMMENT ON FUNCTION sandbox.database_ready() IS
	'Whether this database is open to every role: not a sandbox, or sanitized since the server started';

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
/*
 * Features: what a rule switches off, and whether it may come back.
 *
 * sandbox.rule.feature groups the rules of one feature (ms_exchange,
 * clientconnect, ...).  sandbox.feature says, per environment, whether
 * the feature may be re-enabled after sanitization (policy "reenable":
 * sandbox_enable_feature puts back the values of its restorable rules)
 * or never (policy "locked": a guard trigger on the tables its switches
 * live in rejects turning them back on).  Like rules, policies are
 * inherited: the nearest environment's policy wins.
 */

CREATE TABLE sandbox.feature (
	environment text NOT NULL REFERENCES sandbox.environment (name)
		ON UPDATE CASCADE ON DELETE CASCADE,
	feature text NOT NULL,
	policy text NOT NULL CHECK (policy IN ('reenable', 'locked')),
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

/*
 * The guards of locked features stay in place: no one drops, disables or
 * renames them, except by dropping their table or the extension.
 */
CREATE FUNCTION sandbox.protect_feature_locks()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_EVENT = 'sql_drop' THEN
		IF EXISTS (SELECT FROM pg_event_trigger_dropped_objects()
				   WHERE object_type = 'trigger' AND object_identity LIKE 'sandbox\_lock\_%')
		   AND NOT EXISTS (SELECT FROM pg_event_trigger_dropped_objects()
						   WHERE object_type IN ('table', 'extension')
							  OR object_identity = 'sandbox.guard_locked_feature()')
		THEN
			RAISE EXCEPTION 'the guard of a locked feature cannot be dropped'
				USING ERRCODE = 'insufficient_privilege',
					  HINT = 'Locked features stay off in a sanitized database.';
		END IF;
	ELSIF EXISTS (SELECT FROM pg_trigger
				  WHERE tgfoid = 'sandbox.guard_locked_feature()'::regprocedure
					AND (tgenabled = 'D' OR tgname NOT LIKE 'sandbox\_lock\_%'))
	THEN
		RAISE EXCEPTION 'the guard of a locked feature cannot be disabled or renamed'
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'Locked features stay off in a sanitized database.';
	END IF;
END
$$;
REVOKE ALL ON FUNCTION sandbox.protect_feature_locks() FROM PUBLIC;

CREATE EVENT TRIGGER sandbox_protect_feature_locks_drop ON sql_drop
	EXECUTE FUNCTION sandbox.protect_feature_locks();
CREATE EVENT TRIGGER sandbox_protect_feature_locks_alter ON ddl_command_end
	WHEN TAG IN ('ALTER TABLE', 'ALTER TRIGGER')
	EXECUTE FUNCTION sandbox.protect_feature_locks();

/*
 * What this database is: which environment it was sanitized as, when, by
 * which run, and the state of each feature.  Applications call it before
 * sending anything; one row with NULLs means "never sanitized".
 */
CREATE FUNCTION sandbox_status()
RETURNS TABLE (environment text, run_id bigint, sanitized_at timestamptz,
			   sanitized_by name, feature text, policy text, state text)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	WITH last_run AS (
		SELECT r.id, r.environment, r.finished_at, r.who
		FROM sandbox.last_run() r WHERE r.id IS NOT NULL
	), chain AS (
		SELECT c.name, c.depth
		FROM last_run l CROSS JOIN sandbox.environment_chain(l.environment) c
	), features AS (
		SELECT DISTINCT r.feature FROM sandbox.rule r JOIN chain c ON c.name = r.environment
		WHERE r.enabled AND r.feature IS NOT NULL
		UNION
		SELECT f.feature FROM sandbox.feature f JOIN chain c ON c.name = f.environment
	), policies AS (
		SELECT DISTINCT ON (f.feature) f.feature, f.policy
		FROM sandbox.feature f JOIN chain c ON c.name = f.environment
		ORDER BY f.feature, c.depth
	)
	SELECT l.environment, l.id, l.finished_at, l.who, f.feature, p.policy,
		   CASE WHEN p.policy = 'locked' THEN 'locked'
				WHEN EXISTS (SELECT FROM sandbox.feature_event e
							 WHERE e.run_id = l.id AND e.feature = f.feature) THEN 'enabled'
				ELSE 'disabled' END
	FROM last_run l CROSS JOIN features f LEFT JOIN policies p USING (feature)
	UNION ALL
	SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL
	WHERE NOT EXISTS (SELECT FROM last_run)
	ORDER BY 5
$$;
COMMENT ON FUNCTION sandbox_status() IS
	'Which environment this database was sanitized as, by which run, and each feature''s state';
GRANT EXECUTE ON FUNCTION sandbox_status() TO PUBLIC;
/*
 * The "penelope" profile: the rules and feature policies that make a
 * restored copy of a Penelope production database into each environment
 * of the specification (/work/shared/seeds/000_*.txt for Migration,
 * 001_*.txt for the database options, penelope-environments.md for the
 * summary of the vendor's sibling pages).  sandbox_load_profile('penelope')
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
 *	- training_a (so training_b and preview): migration's shared list plus
 *	  full de-identification of every client and worker personal column.
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
 *	  documents logo, the worker accounts and the locks, which
 *	  penelope-environments.md reads conservatively).  SSO is not
 *	  disabled in training (only Mirrored lists it; workers log in to
 *	  training to train).
 *	- Training keeps, as not identifying on their own: gender, state,
 *	  record and appointment timestamps, attachment-free agency data,
 *	  password hashes.  It masks with mask_id (same shape, keyed, distinct
 *	  stays distinct) the identifiers and address parts no other masker
 *	  fits: SSN, Medicare number, login name (derived from the worker's
 *	  name; UNIQUE survives), address line 2, city, postcode.
 *	- Feature policies: External Communications, MS Exchange, Action
 *	  Triggers and General Ledger "reenable"; ClientConnect and Engage
 *	  "locked"; the same in mirrored and training_a (and so training_b
 *	  and preview).  ORS/SRS, Credit Card, DSS, SSO, attachments and the
 *	  logos get no policy: they cannot be re-enabled by
 *	  sandbox_enable_feature (their credentials, queues and files are
 *	  gone anyway), and nothing stops an administrator from switching
 *	  them on by hand with new credentials.
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
	 'no PHI may remain (... phone numbers, email addresses ...)'),

	/* Worker accounts: deactivated if in ANY of the four groups */
	('worker_accounts', 'worker', 'active', 'set', 'false',
	 $$EXISTS (SELECT FROM @schema@.worker_user_group AS wug JOIN @schema@.user_group AS g ON g.id = wug.user_group_id WHERE wug.worker_id = worker.id AND g.name IN ('Admin Exec', 'Clinical Worker', 'Intake Mgmt', 'Volunteer'))$$,
	 false,
	 'Worker accounts in the following User Groups will be deactivated: Admin Exec, Clinical Worker, Intake Mgmt, Volunteer',
	 'Our conservative reading where the page is silent: worker accounts handled as in Migration (Admin Exec, Clinical Worker, Intake Mgmt, Volunteer deactivated)')
) AS r (feature, table_name, column_name, action, expression, filter, restorable, seed_000, training);

/* ---- Worker contact details in migration and mirrored: exempt groups keep theirs ---- */
INSERT INTO sandbox.profile_rule (profile, environment, feature, table_name, column_name,
								  action, expression, filter, restorable, description)
SELECT 'penelope', e.environment, 'worker_contact', 'worker', r.column_name, 'mask', r.expression,
	   $$NOT EXISTS (SELECT FROM @schema@.worker_user_group AS wug JOIN @schema@.user_group AS g ON g.id = wug.user_group_id WHERE wug.worker_id = worker.id AND g.name IN ('System Admin', 'External Admin', 'ACSO'))$$,
	   false,
	   CASE e.environment WHEN 'migration' THEN 'Seed 000 (Migration): '
		   ELSE 'Mirrored, as Migration (penelope-environments.md); seed 000: ' END
	   || '"Worker email and SMS details will be de-identified (all User Groups except System Admin and External Admin and ACSO)." A worker in any of the three keeps his.'
FROM (VALUES ('migration'), ('mirrored')) AS e (environment)
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
	/* workers: everyone, System Admin included */
	('worker_contact', 'worker', 'email', 'mask_email', 'email addresses'),
	('worker_contact', 'worker', 'sms_number', 'mask_phone', 'phone numbers'),
	('phi', 'worker', 'first_name', 'mask_first_name', 'worker names'),
	('phi', 'worker', 'last_name', 'mask_last_name', 'worker names'),
	('phi', 'worker', 'login_name', 'mask_id', 'identifiers: the login name is made of the worker''s name'),
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
	('clientconnect', 'locked', 'Seed 000: "ClientConnect and Engage cannot be enabled on the Migration database."'),
	('engage', 'locked', 'Seed 000: "ClientConnect and Engage cannot be enabled on the Migration database."')
) AS f (feature, policy, description);
