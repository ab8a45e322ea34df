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
