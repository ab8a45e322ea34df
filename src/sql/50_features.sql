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
