--
-- security_owner: a hostile table owner (issue 8, classes 1, 2, 3, 6, 7
-- and 8).  regress_app is an ordinary role that owns the tables, types,
-- domains, functions, operators and triggers of schema regress_so; the
-- superuser sanitizes.  Nothing regress_app wrote may run with the
-- superuser's rights, leave a setting behind, compute a mask, put a row
-- value into a message, or read a secret.
--
-- Owner code records what it saw in regress_so.seen; regress_so.escalate()
-- tries to make regress_app a superuser, which succeeds only when it runs
-- with a superuser's rights.  regress_so_status shows both.
--
\set VERBOSITY terse
SET client_min_messages = warning;
SELECT NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'penelope_sandbox') AS so_created \gset
CREATE EXTENSION IF NOT EXISTS penelope_sandbox;
CREATE EXTENSION IF NOT EXISTS pageinspect;
RESET client_min_messages;
SELECT setval('sandbox.rule_id_seq', 800) AS rule_base;
SELECT coalesce(max(id), 0) AS so_run_base FROM sandbox.run \gset

CREATE ROLE regress_app;
CREATE ROLE regress_third;
CREATE ROLE regress_verifier;
CREATE SCHEMA regress_so AUTHORIZATION regress_app;
CREATE SCHEMA regress_so_evil AUTHORIZATION regress_app;
GRANT USAGE ON SCHEMA regress_so, regress_so_evil TO PUBLIC;
GRANT CREATE ON SCHEMA regress_so TO regress_third;
INSERT INTO sandbox.environment (name, disable_outbound) VALUES
	('regress_so_analysis', false), ('regress_so_settings', false),
	('regress_so_key', false), ('regress_so_messages', false),
	('regress_so_cron', true);

SET ROLE regress_app;
CREATE TABLE regress_so.seen (tag text, who name);
GRANT SELECT, INSERT ON regress_so.seen TO PUBLIC;
CREATE FUNCTION regress_so.escalate(tag text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	BEGIN
		EXECUTE 'ALTER ROLE regress_app SUPERUSER';
	EXCEPTION WHEN others THEN
		NULL;
	END;
	INSERT INTO regress_so.seen VALUES (tag, current_user);
	RETURN true;
END
$$;
CREATE TABLE regress_so.client (id int PRIMARY KEY, surname text, email text, phone text, active boolean);
INSERT INTO regress_so.client VALUES
	(1, 'Zyxwicz', 'zoe.zyxwicz@example.com', '555-0101', true),
	(2, 'Quorvane', 'quinn@example.com', '555-0102', true);
RESET ROLE;

CREATE VIEW regress_so_status AS
	SELECT (SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_app') AS app_is_superuser,
		   (SELECT string_agg(DISTINCT who, ', ') FROM regress_so.seen) AS owner_code_ran_as;
CREATE FUNCTION regress_so_reset() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	ALTER ROLE regress_app NOSUPERUSER;
	DELETE FROM regress_so.seen;
END
$$;

--
-- Class 1: analysing rule text never runs owner code as the caller.
-- Coercing a literal to an array or a composite of a domain evaluates
-- the domain's CHECK while the rule is parsed.
--
SET ROLE regress_app;
CREATE DOMAIN regress_so.checked AS text CHECK (regress_so.escalate('domain check'));
CREATE TYPE regress_so.pair AS (a regress_so.checked, b int);
RESET ROLE;
-- 1a. an array of the owner's domain in an expression, written by a superuser
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('regress_so_analysis', 'regress_so', 'client', 'phone', 'set',
			$$(('{x}'::regress_so.checked[])[1])::text$$)
	RETURNING id;
SELECT * FROM regress_so_status;
SELECT regress_so_reset();
-- 1b. a composite holding the domain, in a filter
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression, filter)
	VALUES ('regress_so_analysis', 'regress_so', 'client', 'email', 'set', $$'x@invalid'$$,
			$$('(y,1)'::regress_so.pair).b = 1$$)
	RETURNING id;
SELECT * FROM regress_so_status;
SELECT regress_so_reset();
-- 1c. plan, verify and sanitize analyse the rules again
SELECT count(*) > 0 AS planned FROM sandbox_plan('regress_so_analysis');
SELECT * FROM regress_so_status;
SELECT regress_so_reset();
SELECT count(*) > 0 AS verified FROM sandbox_verify('regress_so_analysis');
SELECT * FROM regress_so_status;
SELECT regress_so_reset();
-- 1d. a third role's domain is refused before anything of it runs
SET ROLE regress_third;
CREATE FUNCTION regress_so.third_check(text) RETURNS boolean LANGUAGE sql AS $$
	INSERT INTO regress_so.seen VALUES ('third domain', current_user) RETURNING true
$$;
CREATE DOMAIN regress_so.third_dom AS text CHECK (regress_so.third_check(VALUE));
RESET ROLE;
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('regress_so_analysis', 'regress_so', 'client', 'phone', 'set',
			$$(('{x}'::regress_so.third_dom[])[1])::text$$);
SELECT * FROM regress_so_status;
SELECT regress_so_reset();
-- 1e. a type whose input function belongs to a third role is refused
CREATE TYPE regress_so.tin;
CREATE FUNCTION regress_so.tin_in(cstring) RETURNS regress_so.tin LANGUAGE internal IMMUTABLE STRICT AS 'textin';
CREATE FUNCTION regress_so.tin_out(regress_so.tin) RETURNS cstring LANGUAGE internal IMMUTABLE STRICT AS 'textout';
CREATE TYPE regress_so.tin (INPUT = regress_so.tin_in, OUTPUT = regress_so.tin_out, LIKE = text);
ALTER FUNCTION regress_so.tin_in(cstring) OWNER TO regress_third;
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression, filter)
	VALUES ('regress_so_analysis', 'regress_so', 'client', 'phone', 'set', $$'000'$$,
			$$'x'::regress_so.tin IS NOT NULL$$);
-- 1f. so is a cast whose function belongs to a third role
SET ROLE regress_app;
CREATE TYPE regress_so.app_rec AS (n int);
RESET ROLE;
SET ROLE regress_third;
CREATE FUNCTION regress_so.third_cast(regress_so.app_rec) RETURNS text LANGUAGE sql AS $$
	INSERT INTO regress_so.seen VALUES ('third cast', current_user) RETURNING 'c'
$$;
RESET ROLE;
SET ROLE regress_app;
CREATE CAST (regress_so.app_rec AS text) WITH FUNCTION regress_so.third_cast(regress_so.app_rec);
RESET ROLE;
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('regress_so_analysis', 'regress_so', 'client', 'phone', 'set', $$(ROW(id)::regress_so.app_rec)::text$$);
SELECT * FROM regress_so_status;
SELECT regress_so_reset();
DELETE FROM sandbox.rule WHERE environment = 'regress_so_analysis';

--
-- Class 2: settings changed by owner code do not outlive the restricted
-- call.  regress_so.hijack() moves search_path to a schema whose "="
-- operator on bigint escalates, and leaves a setting of its own.
--
SET ROLE regress_app;
CREATE FUNCTION regress_so_evil.int8eq(bigint, bigint) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	PERFORM regress_so.escalate('shadowing operator');
	RETURN $1 OPERATOR(pg_catalog.=) $2;
END
$$;
CREATE OPERATOR regress_so_evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = regress_so_evil.int8eq);
CREATE FUNCTION regress_so.hijack() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_catalog.set_config('search_path', 'regress_so_evil, pg_catalog', false);
	PERFORM pg_catalog.set_config('regress.leak', 'owner code was here', false);
	RETURN true;
END
$$;
CREATE FUNCTION regress_so.hijack_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM regress_so.hijack();
	RETURN NEW;
END
$$;
CREATE FUNCTION regress_so.hijack_text(text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	PERFORM regress_so.hijack();
	RETURN $1;
END
$$;
RESET ROLE;
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('regress_so_settings', 'regress_so', 'client', 'phone', 'set', $$'000'$$);
-- 2a. a CHECK constraint, evaluated by a rewrite (adding it runs it here
-- as regress_app: reset what it changed)
SET ROLE regress_app;
ALTER TABLE regress_so.client ADD CONSTRAINT hijack CHECK (regress_so.hijack_text(phone) IS NOT NULL);
RESET ROLE;
RESET search_path;
RESET regress.leak;
SELECT sandbox_sanitize('regress_so_settings') ~ '^run \d+: ' AS sanitized;
SELECT * FROM public.regress_so_status;
SELECT current_setting('search_path') AS search_path, current_setting('regress.leak', true) AS leaked_setting;
SELECT public.regress_so_reset();
ALTER TABLE regress_so.client DROP CONSTRAINT hijack;
RESET search_path;
RESET regress.leak;
-- 2b. a row trigger, with the UPDATE strategy
UPDATE regress_so.client SET phone = '555-0' || id;
CREATE TRIGGER hijack BEFORE UPDATE ON regress_so.client FOR EACH ROW EXECUTE FUNCTION regress_so.hijack_trigger();
SET penelope_sandbox.update_strategy = 'update';
SELECT sandbox_sanitize('regress_so_settings') ~ '^run \d+: ' AS sanitized;
RESET penelope_sandbox.update_strategy;
SELECT * FROM public.regress_so_status;
SELECT current_setting('search_path') AS search_path, current_setting('regress.leak', true) AS leaked_setting;
SELECT public.regress_so_reset();
DROP TRIGGER hijack ON regress_so.client;
RESET search_path;
RESET regress.leak;
-- 2c. an index expression, evaluated by an UPDATE (creating the index
-- runs it here as regress_app)
UPDATE regress_so.client SET phone = '555-0' || id;
SET ROLE regress_app;
CREATE INDEX client_hijack ON regress_so.client (regress_so.hijack_text(phone));
RESET ROLE;
RESET search_path;
RESET regress.leak;
SET penelope_sandbox.update_strategy = 'update';
SELECT sandbox_sanitize('regress_so_settings') ~ '^run \d+: ' AS sanitized;
RESET penelope_sandbox.update_strategy;
SELECT * FROM public.regress_so_status;
SELECT current_setting('search_path') AS search_path, current_setting('regress.leak', true) AS leaked_setting;
SELECT public.regress_so_reset();
DROP INDEX regress_so.client_hijack;
RESET search_path;
RESET regress.leak;

--
-- Class 3: the key is never an oracle.  Owner code tries to compute the
-- pseudonym of a guessed address during a run; a role granted only
-- sandbox_verify tries after verifying.
--
SET ROLE regress_app;
CREATE TABLE regress_so.oracle (tag text, pseudonym text);
CREATE FUNCTION regress_so.probe(tag text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	BEGIN
		INSERT INTO regress_so.oracle VALUES (tag, sandbox.mask_email('guess@example.com'));
	EXCEPTION WHEN others THEN
		INSERT INTO regress_so.oracle VALUES (tag, 'refused ' || SQLSTATE);
	END;
	RETURN true;
END
$$;
CREATE FUNCTION regress_so.probe_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM regress_so.probe(TG_ARGV[0]);
	RETURN NEW;
END
$$;
CREATE DOMAIN regress_so.probed AS text CHECK (regress_so.probe('domain check'));
CREATE TABLE regress_so.contact (id int PRIMARY KEY, email regress_so.probed);
INSERT INTO regress_so.contact VALUES (1, 'ann@example.com');
RESET ROLE;
DELETE FROM regress_so.oracle;
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('regress_so_key', 'regress_so', 'client', 'email', 'mask', 'sandbox.mask_email(email)'),
		   ('regress_so_key', 'regress_so', 'contact', 'email', 'mask', 'sandbox.mask_email(email)');
-- 3a. a trigger and 3b. a CHECK constraint of the owner, 3c. the domain of a column
CREATE TRIGGER probe BEFORE UPDATE ON regress_so.client FOR EACH ROW EXECUTE FUNCTION regress_so.probe_trigger('trigger');
ALTER TABLE regress_so.client ADD CONSTRAINT probe CHECK (regress_so.probe('check constraint')) NOT VALID;
SET penelope_sandbox.update_strategy = 'update';
SELECT sandbox_sanitize('regress_so_key') ~ '^run \d+: ' AS sanitized;
RESET penelope_sandbox.update_strategy;
SELECT DISTINCT tag, pseudonym LIKE '%@example.invalid' AS computed_a_mask, pseudonym LIKE 'refused%' AS refused
FROM regress_so.oracle ORDER BY 1;
DROP TRIGGER probe ON regress_so.client;
ALTER TABLE regress_so.client DROP CONSTRAINT probe;
-- the engine's own masks did run
SELECT bool_and(email LIKE '%@example.invalid') AS client_masked FROM regress_so.client;
SELECT bool_and(email LIKE '%@example.invalid') AS contact_masked FROM regress_so.contact;
-- 3d. a role granted only sandbox_verify cannot mask after verifying
GRANT EXECUTE ON FUNCTION sandbox_verify(text) TO regress_verifier;
SET ROLE regress_verifier;
BEGIN;
SELECT count(*) > 0 AS verified FROM sandbox_verify('regress_so_key');
SELECT sandbox.mask_email('guess@example.com') LIKE '%@example.invalid' AS computed_a_mask;
ROLLBACK;
-- 3e. nor with a guessed run token
SELECT sandbox.mask_email('guess@example.com', '\x00'::bytea);
RESET ROLE;
-- 3f. a superuser outside a run still masks directly
SELECT sandbox.mask_email('Guess@Example.com') = sandbox.mask_email(' guess@example.com ') AS admin_masks;
BEGIN;
SET LOCAL ROLE regress_app;
SELECT sandbox.mask_email('guess@example.com');
ROLLBACK;

--
-- Class 6: no row value in any message.  Owner code makes server errors
-- (class 42) and notices out of row values.
--
CREATE FUNCTION regress_so_message_of(sql text, needle text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	state text;
	message text;
	detail text;
	hint text;
	context text;
BEGIN
	EXECUTE sql;
	RETURN 'no error';
EXCEPTION WHEN others THEN
	GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
		detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT, context = PG_EXCEPTION_CONTEXT;
	RETURN state || ': ' || message ||
		CASE WHEN concat_ws(' ', message, detail, hint, context) ~* needle
			 THEN ' [SHOWS THE ROW VALUE]' ELSE ' [no row value]' END;
END
$$;
-- A run fires no user trigger, so the owner's code here sits where a run
-- does evaluate it as the owner: CHECK constraints on the rewritten rows.
SET ROLE regress_app;
CREATE FUNCTION regress_so.select_surname(s text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format('SELECT %s', s);
	RETURN true;
END
$$;
CREATE FUNCTION regress_so.from_surname(s text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE 'SELECT * FROM ' || quote_ident(s);
	RETURN true;
END
$$;
CREATE FUNCTION regress_so.chatty(s text, e text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	RAISE WARNING 'warning about %', s;
	RAISE NOTICE 'notice about %', e;
	RETURN true;
END
$$;
RESET ROLE;
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('regress_so_messages', 'regress_so', 'client', 'phone', 'set', $$'000'$$);
UPDATE regress_so.client SET surname = 'Zyxwicz' WHERE id = 1;
-- 6a. "column ... does not exist" names the value
ALTER TABLE regress_so.client ADD CONSTRAINT leak CHECK (regress_so.select_surname(surname)) NOT VALID;
SELECT regress_so_message_of($$SELECT sandbox_sanitize('regress_so_messages')$$, 'zyxwicz|quorvane');
ALTER TABLE regress_so.client DROP CONSTRAINT leak;
-- 6b. "relation ... does not exist" names the value
ALTER TABLE regress_so.client ADD CONSTRAINT leak CHECK (regress_so.from_surname(surname)) NOT VALID;
SELECT regress_so_message_of($$SELECT sandbox_sanitize('regress_so_messages')$$, 'zyxwicz|quorvane');
ALTER TABLE regress_so.client DROP CONSTRAINT leak;
-- 6c. owner WARNING and NOTICE are silenced during a run, and counted
ALTER TABLE regress_so.client ADD CONSTRAINT leak CHECK (regress_so.chatty(surname, email)) NOT VALID;
SET client_min_messages = notice;
SELECT regexp_replace(sandbox_sanitize('regress_so_messages'), '^.*checks ok', '...') AS summary_end;
RESET client_min_messages;
ALTER TABLE regress_so.client DROP CONSTRAINT leak;
-- 6d. sandbox_enable_feature: a CHECK violation would print the failing row
INSERT INTO sandbox.feature (environment, feature, policy) VALUES ('regress_so_messages', 'regress_so_switch', 'reenable');
INSERT INTO sandbox.rule (environment, feature, table_schema, table_name, column_name, action, expression, restorable)
	VALUES ('regress_so_messages', 'regress_so_switch', 'regress_so', 'client', 'active', 'set', 'false', true);
SELECT sandbox_sanitize('regress_so_messages') ~ '^run \d+: ' AS sanitized;
ALTER TABLE regress_so.client ADD CONSTRAINT active_only_for_some CHECK (NOT active OR surname <> 'Zyxwicz') NOT VALID;
SELECT regress_so_message_of($$SELECT sandbox_enable_feature('regress_so_switch')$$, 'zyxwicz|quorvane');
ALTER TABLE regress_so.client DROP CONSTRAINT active_only_for_some;

--
-- Class 8: name parameters are whole NameData, zero-padded on disk
--
CREATE FUNCTION regress_so_name_padded(t bytea, off int) RETURNS boolean LANGUAGE sql AS $$
	SELECT ltrim(encode(substring(t FROM off + position('\x00'::bytea IN substring(t FROM off FOR 64)) FOR
		64 - position('\x00'::bytea IN substring(t FROM off FOR 64))), 'hex'), '0') = ''
$$;
SELECT bool_and(regress_so_name_padded(t_data, 13) AND regress_so_name_padded(t_data, 77)) AS run_step_names_padded
FROM generate_series(0, pg_relation_size('sandbox.run_step') / current_setting('block_size')::int - 1) b,
	 heap_page_items(get_raw_page('sandbox.run_step', b::int))
WHERE t_data IS NOT NULL;
SELECT bool_and(regress_so_name_padded(t_data, 21) AND regress_so_name_padded(t_data, 85)
				AND regress_so_name_padded(t_data, 149)) AS saved_value_names_padded
FROM generate_series(0, pg_relation_size('sandbox.saved_value') / current_setting('block_size')::int - 1) b,
	 heap_page_items(get_raw_page('sandbox.saved_value', b::int))
WHERE t_data IS NOT NULL;

--
-- Class 7: secrets and production
--
-- 7a. the secret cannot be set where every role reads it
DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET penelope_sandbox.secret = %L', current_database(), 'a passphrase of a database'); END $$;
ALTER ROLE regress_app SET penelope_sandbox.secret = 'a passphrase of a role';
SELECT count(*) AS readable_secrets FROM pg_db_role_setting WHERE array_to_string(setconfig, ' ') LIKE '%penelope_sandbox.secret%';
DO $$ BEGIN EXECUTE format('ALTER DATABASE %I RESET penelope_sandbox.secret', current_database()); END $$;
ALTER ROLE regress_app RESET penelope_sandbox.secret;
-- 7b. a passphrase is never SQL text (log_statement would record it)
SELECT to_regprocedure('sandbox.set_secret(text)') IS NULL AS no_passphrase_argument;
-- 7c. the pg_cron step keeps only the extension's own jobs, whole commands
CREATE SCHEMA cron;
CREATE TABLE cron.job (jobid bigint PRIMARY KEY, command text, database text DEFAULT current_database(), active boolean DEFAULT true);
INSERT INTO cron.job (jobid, command) VALUES
	(1, $$SELECT sandbox_sanitize('training_a')$$),
	(2, $$SELECT pg_catalog.sandbox_verify('training_a');$$),
	(3, $cmd$
	DO $$
	DECLARE
		failing bigint;
	BEGIN
		SELECT count(*) INTO failing FROM sandbox_verify('training_a') WHERE NOT ok;
		IF failing > 0 THEN
			RAISE EXCEPTION 'sandbox_verify(training_a): % checks fail', failing;
		END IF;
	END
	$$
	$cmd$),
	(4, $$SELECT send_to_production() -- sandbox_sanitize$$),
	(5, $$SELECT send_to_production(); SELECT sandbox_verify('training_a')$$),
	(6, $$SELECT sandbox_sanitize('training_a'), send_to_production()$$);
SELECT sandbox_sanitize('regress_so_cron') ~ '^run \d+: ' AS sanitized;
SELECT jobid, active FROM cron.job ORDER BY jobid;
DROP SCHEMA cron CASCADE;
-- 7d. on a production server plan and verify refuse, and no key is made
DELETE FROM sandbox.secret;
ALTER SYSTEM SET penelope_sandbox.server_role = 'production';
-- (a backend reads the reloaded file between statements)
SELECT pg_reload_conf();
SELECT pg_sleep(0.3) FROM generate_series(1, 1);
SELECT pg_sleep(0.3) FROM generate_series(1, 1);
SELECT pg_sleep(0.3) FROM generate_series(1, 1);
SELECT pg_sleep(0.3) FROM generate_series(1, 1);
SHOW penelope_sandbox.server_role;
SELECT count(*) FROM sandbox_plan('regress_so_key');
SELECT count(*) FROM sandbox_verify('regress_so_key');
SELECT count(*) AS keys FROM sandbox.secret;
ALTER SYSTEM RESET penelope_sandbox.server_role;
-- (a backend reads the reloaded file between statements)
SELECT pg_reload_conf();
SELECT pg_sleep(0.3) FROM generate_series(1, 1);
SELECT pg_sleep(0.3) FROM generate_series(1, 1);
SELECT pg_sleep(0.3) FROM generate_series(1, 1);
SELECT pg_sleep(0.3) FROM generate_series(1, 1);
SHOW penelope_sandbox.server_role;

-- clean up
RESET search_path;
DELETE FROM sandbox.rule WHERE id > 800;
DELETE FROM sandbox.feature WHERE environment LIKE 'regress_so%';
DELETE FROM sandbox.run WHERE id > :so_run_base;
DELETE FROM sandbox.environment WHERE name LIKE 'regress_so%';
DROP VIEW regress_so_status;
DROP SCHEMA regress_so, regress_so_evil CASCADE;
DROP FUNCTION regress_so_reset(), regress_so_message_of(text, text), regress_so_name_padded(bytea, int);
REVOKE ALL ON FUNCTION sandbox_verify(text) FROM regress_verifier;
DROP ROLE regress_app, regress_third, regress_verifier;
DROP EXTENSION pageinspect;
\if :so_created
DROP EXTENSION penelope_sandbox;
\endif
