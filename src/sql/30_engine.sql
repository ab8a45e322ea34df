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
 * A masked key that a foreign key references needs a rule masking the
 * referencing columns in the same run.  Checked at the end of each
 * statement writing, deleting or disabling rules, or changing an
 * environment's parent, when all of its rows are in place: deleting both
 * rules in one statement is accepted whatever the order of the rows
 * (src/rule_checks.c, sandbox_check_rule_keys_trigger, says why not row
 * by row nor at commit).  The refusal is the one a run would give.
 */
CREATE FUNCTION sandbox.check_rule_keys()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'sandbox_check_rule_keys_trigger';
CREATE TRIGGER check_rule_keys_insert
	AFTER INSERT ON sandbox.rule REFERENCING NEW TABLE AS new_rules
	FOR EACH STATEMENT EXECUTE FUNCTION sandbox.check_rule_keys();
CREATE TRIGGER check_rule_keys_update
	AFTER UPDATE ON sandbox.rule REFERENCING OLD TABLE AS old_rules NEW TABLE AS new_rules
	FOR EACH STATEMENT EXECUTE FUNCTION sandbox.check_rule_keys();
CREATE TRIGGER check_rule_keys_delete
	AFTER DELETE ON sandbox.rule REFERENCING OLD TABLE AS old_rules
	FOR EACH STATEMENT EXECUTE FUNCTION sandbox.check_rule_keys();
CREATE TRIGGER check_rule_keys
	AFTER UPDATE ON sandbox.environment
	REFERENCING OLD TABLE AS old_environments NEW TABLE AS new_environments
	FOR EACH STATEMENT EXECUTE FUNCTION sandbox.check_rule_keys();

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
REVOKE ALL ON FUNCTION sandbox.validate_rule(), sandbox.check_environment_chain(),
	sandbox.check_rule_keys() FROM PUBLIC;
