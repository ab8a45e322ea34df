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
