--
-- core_security: who may run and write rules, the rights rules run with,
-- and which functions a rule may call.
--
\set VERBOSITY terse
SET client_min_messages = warning;
SELECT NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'penelope_sandbox') AS ps_created \gset
CREATE EXTENSION IF NOT EXISTS penelope_sandbox;
RESET client_min_messages;
SELECT setval('sandbox.rule_id_seq', 300) AS rule_base;
SELECT coalesce(max(id), 0) AS ps_run_base FROM sandbox.run \gset

CREATE FUNCTION regress_sanitize(env text) RETURNS text LANGUAGE sql AS $$
	SELECT regexp_replace(regexp_replace(sandbox_sanitize(env),
		'^run [0-9]+: (.*) applied in [0-9.]+ s:', 'run N: \1 applied in T s:'),
		'; [0-9]+ checks ok$', '; checks ok')
$$;

CREATE ROLE regress_nobody;
CREATE ROLE regress_rule_writer;
CREATE ROLE regress_app_owner;
CREATE ROLE regress_other_owner;
CREATE ROLE regress_evil;
GRANT regress_app_owner TO regress_rule_writer;

CREATE SCHEMA regress_sec;
GRANT USAGE ON SCHEMA regress_sec TO PUBLIC;
GRANT CREATE ON SCHEMA regress_sec TO regress_app_owner, regress_evil;
CREATE TABLE regress_sec.customer (id int, email text, phone text);
INSERT INTO regress_sec.customer VALUES (1, 'a@example.com', '555-1'), (2, 'b@example.com', '555-2');
ALTER TABLE regress_sec.customer OWNER TO regress_app_owner;
CREATE TABLE regress_sec.other (id int, secret text);
INSERT INTO regress_sec.other VALUES (1, 's');
ALTER TABLE regress_sec.other OWNER TO regress_other_owner;

--
-- Admin functions and the catalog are not for PUBLIC
--
SELECT p.oid::regprocedure AS function, has_function_privilege('regress_nobody', p.oid, 'EXECUTE') AS public_can_execute,
	   p.prosecdef AS security_definer, p.proconfig
FROM pg_proc p
WHERE p.proname IN ('sandbox_sanitize', 'sandbox_plan', 'sandbox_verify')
  AND p.pronamespace = 'pg_catalog'::regnamespace
ORDER BY 1::text;
SELECT c.relname,
	   has_table_privilege('regress_nobody', c.oid, 'SELECT') AS can_select,
	   has_table_privilege('regress_nobody', c.oid, 'INSERT,UPDATE,DELETE,TRUNCATE') AS can_write
FROM pg_class c
WHERE c.relnamespace = 'sandbox'::regnamespace AND c.relkind = 'r'
  AND c.relname IN ('environment', 'rule', 'run', 'run_step')
ORDER BY 1;
SET ROLE regress_nobody;
SELECT sandbox_sanitize('training_a');
SELECT * FROM sandbox_plan('training_a');
SELECT * FROM sandbox_verify('training_a');
INSERT INTO sandbox.rule (environment, table_schema, table_name, action) VALUES ('training_a', 'regress_sec', 'customer', 'truncate');
UPDATE sandbox.rule SET enabled = false;
DELETE FROM sandbox.rule;
INSERT INTO sandbox.environment (name) VALUES ('regress_env');
SELECT count(*) FROM sandbox.rule;
SELECT count(*) FROM sandbox.run;
RESET ROLE;

--
-- A role granted INSERT on sandbox.rule writes rules only for the tables
-- whose owner it is a member of
--
GRANT SELECT, INSERT, UPDATE ON sandbox.rule TO regress_rule_writer;
SET ROLE regress_rule_writer;
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('mirrored', 'regress_sec', 'customer', 'email', 'set', $$'x@invalid'$$)
	RETURNING id, table_name;
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('mirrored', 'regress_sec', 'other', 'secret', 'set', $$'x'$$);
INSERT INTO sandbox.rule (environment, table_schema, table_name, action)
	VALUES ('mirrored', 'regress_sec', 'other', 'truncate');
-- nor move a rule of its own onto such a table
UPDATE sandbox.rule SET table_name = 'other', column_name = 'secret' WHERE id = 301;
-- it still cannot run anything
SELECT sandbox_sanitize('mirrored');
RESET ROLE;
SELECT id, table_name, column_name FROM sandbox.rule WHERE id > 300 ORDER BY id;

--
-- Rule expressions may call only functions owned by a superuser or by the
-- owner of the table
--
SET ROLE regress_evil;
CREATE FUNCTION regress_sec.evil_mask(text) RETURNS text LANGUAGE sql AS $$ SELECT 'evil' $$;
CREATE FUNCTION regress_sec.evil_filter(int) RETURNS boolean LANGUAGE sql AS $$ SELECT true $$;
RESET ROLE;
SET ROLE regress_app_owner;
CREATE FUNCTION regress_sec.owner_mask(int) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'owner' || $1 $$;
RESET ROLE;
CREATE FUNCTION regress_sec.super_mask(int) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'super' || $1 $$;
-- written by a superuser, still refused: the rule would run as regress_app_owner
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('training_a', 'regress_sec', 'customer', 'phone', 'set', $$regress_sec.evil_mask('x')$$);
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression, filter)
	VALUES ('training_a', 'regress_sec', 'customer', 'phone', 'set', $$'x'$$, 'regress_sec.evil_filter(id)');
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('training_a', 'regress_sec', 'customer', 'phone', 'set', $$(SELECT regress_sec.evil_mask('x'))$$);
-- an operator whose function is untrusted
SET ROLE regress_evil;
CREATE OPERATOR regress_sec.### (LEFTARG = text, RIGHTARG = text, FUNCTION = textcat);
CREATE FUNCTION regress_sec.evil_cat(text, text) RETURNS text LANGUAGE sql AS $$ SELECT $1 || $2 $$;
CREATE OPERATOR regress_sec.#### (LEFTARG = text, RIGHTARG = text, FUNCTION = regress_sec.evil_cat);
RESET ROLE;
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('training_a', 'regress_sec', 'customer', 'phone', 'set', $$'a' OPERATOR(regress_sec.####) 'b'$$);
-- functions of a superuser and of the owner are fine
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('training_a', 'regress_sec', 'customer', 'phone', 'set', 'regress_sec.owner_mask(id)')
	RETURNING id;
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression, filter)
	VALUES ('training_a', 'regress_sec', 'customer', 'email', 'set', $$regress_sec.super_mask(id) || '@invalid'$$, 'id = 1')
	RETURNING id;
SELECT * FROM sandbox_plan('training_a');
-- a function that changes hands after the rule was written is refused
-- when the rule runs, and nothing is changed
ALTER FUNCTION regress_sec.owner_mask(int) OWNER TO regress_evil;
SELECT sandbox_sanitize('training_a');
SELECT * FROM sandbox_plan('training_a');
SELECT * FROM regress_sec.customer ORDER BY id;
ALTER FUNCTION regress_sec.owner_mask(int) OWNER TO regress_app_owner;

--
-- Rules run as the owner of the table, in a security-restricted
-- operation: a trigger on the table sees the owner, not the superuser
--
CREATE TABLE regress_sec.trigger_log (table_name text, current_user_seen name, session_user_seen name);
GRANT INSERT ON regress_sec.trigger_log TO PUBLIC;
CREATE FUNCTION regress_sec.log_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO regress_sec.trigger_log VALUES (TG_TABLE_NAME, current_user, session_user);
	RETURN NEW;
END
$$;
CREATE TRIGGER log_user BEFORE UPDATE ON regress_sec.customer
	FOR EACH ROW EXECUTE FUNCTION regress_sec.log_user();
-- user triggers never fire in a run, not even in an UPDATE (update_strategy = update)
SET penelope_sandbox.update_strategy = 'update';
SELECT * FROM sandbox_plan('training_a');
SELECT regress_sanitize('training_a');
SELECT * FROM regress_sec.trigger_log;
SELECT * FROM regress_sec.customer ORDER BY id;
-- nor does a trigger that would try to leave the security-restricted operation
CREATE OR REPLACE FUNCTION regress_sec.log_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE 'SET ROLE postgres';
	RETURN NEW;
END
$$;
\set VERBOSITY default
SELECT regress_sanitize('training_a');
\set VERBOSITY terse
RESET penelope_sandbox.update_strategy;
DROP TRIGGER log_user ON regress_sec.customer;
-- the run as a whole is recorded with the session user
SELECT environment, who, status FROM sandbox.run WHERE id > :ps_run_base ORDER BY id;

-- a role granted EXECUTE may run sanitize, plan and verify
GRANT EXECUTE ON FUNCTION sandbox_sanitize(text), sandbox_plan(text), sandbox_verify(text) TO regress_rule_writer;
SET ROLE regress_rule_writer;
SELECT rule_id, ok, violations FROM sandbox_verify('training_a') WHERE rule_id IS NOT NULL ORDER BY rule_id;
SELECT count(*) AS statements FROM sandbox_plan('training_a');
SELECT regress_sanitize('training_a');
RESET ROLE;
REVOKE EXECUTE ON FUNCTION sandbox_sanitize(text), sandbox_plan(text), sandbox_verify(text) FROM regress_rule_writer;

-- clean up
DELETE FROM sandbox.rule WHERE id > 300;
DELETE FROM sandbox.run WHERE id > :ps_run_base;
REVOKE ALL ON sandbox.rule FROM regress_rule_writer;
DROP SCHEMA regress_sec CASCADE;
DROP FUNCTION regress_sanitize(text);
DROP ROLE regress_nobody, regress_rule_writer, regress_app_owner, regress_other_owner, regress_evil;
\if :ps_created
DROP EXTENSION penelope_sandbox;
\endif
