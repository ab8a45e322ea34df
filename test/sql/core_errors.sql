--
-- core_errors: bad rules are rejected when written and when run, a
-- failure in the middle of a run rolls everything back with an error that
-- names the rule and holds no row value, production is refused, and a
-- second concurrent sanitization fails at once.
--
\set VERBOSITY terse
SET client_min_messages = warning;
SELECT NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'penelope_sandbox') AS ps_created \gset
SELECT NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'dblink') AS dblink_created \gset
CREATE EXTENSION IF NOT EXISTS penelope_sandbox;
UPDATE sandbox.discovery_policy SET on_failure = 'off'; -- the engine alone here: sql/discover.sql tests discovery and the leak scan
CREATE EXTENSION IF NOT EXISTS dblink;
RESET client_min_messages;
SELECT setval('sandbox.rule_id_seq', 200) AS rule_base;
SELECT coalesce(max(id), 0) AS ps_run_base FROM sandbox.run \gset

CREATE FUNCTION regress_sanitize(env text) RETURNS text LANGUAGE sql AS $$
	SELECT regexp_replace(regexp_replace(sandbox_sanitize(env),
		'^run [0-9]+: (.*) applied in [0-9.]+ s:', 'run N: \1 applied in T s:'),
		'; [0-9]+ checks ok$', '; checks ok')
$$;

-- Runs a statement that must fail; returns its SQLSTATE, message and
-- detail, and whether any part of the error (message, detail, hint,
-- context) contains one of the secret values.
CREATE FUNCTION regress_error(sql text, secrets text[],
	OUT state text, OUT message text, OUT detail text, OUT leaks_row_value boolean)
LANGUAGE plpgsql AS $$
DECLARE
	h text;
	c text;
BEGIN
	EXECUTE sql;
	RAISE EXCEPTION 'regress_error: % did not fail', sql;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
		detail = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT, c = PG_EXCEPTION_CONTEXT;
	IF message LIKE 'regress_error:%' THEN
		RAISE;
	END IF;
	leaks_row_value := EXISTS (SELECT FROM unnest(secrets) s
		WHERE position(s IN concat_ws(' ', message, detail, h, c)) > 0);
END
$$;

CREATE SCHEMA regress_err;
CREATE TABLE regress_err.account (
	id int PRIMARY KEY,
	login text NOT NULL UNIQUE,
	pin text,
	pin_number int CHECK (pin_number > 0),
	note text
);
INSERT INTO regress_err.account VALUES
	(1, 'SECRET-LOGIN-1', '1234', 1, 'SECRET-NOTE-1'),
	(2, 'SECRET-LOGIN-2', 'SECRET-PIN', 2, 'SECRET-NOTE-2');
CREATE TABLE regress_err.audit (id int, note text);
INSERT INTO regress_err.audit VALUES (1, 'SECRET-AUDIT');
CREATE VIEW regress_err.account_view AS SELECT id, login FROM regress_err.account;
CREATE TABLE regress_err.gen (id int, a text, b text GENERATED ALWAYS AS (upper(a)) STORED,
	c int GENERATED ALWAYS AS IDENTITY);
CREATE TABLE regress_err."Mixed Case" ("E-Mail" text);

SELECT count(*) AS rules_before FROM sandbox.rule \gset

--
-- Bad rules are rejected when written, with the rule id
--
-- missing table, wrong case, missing schema
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('mirrored', 'regress_err', 'nosuch', 'note', 'set', $$'x'$$);
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('mirrored', 'regress_err', 'mixed case', 'E-Mail', 'set', $$'x'$$);
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('mirrored', 'regress_err', '"Mixed Case"', 'E-Mail', 'set', $$'x'$$);
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('mirrored', 'nosuch_schema', 'account', 'note', 'set', $$'x'$$);
-- identifiers are names, never SQL
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('mirrored', 'regress_err', 'account; DROP TABLE regress_err.audit; --', 'note', 'set', $$'x'$$);
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('mirrored', 'regress_err', 'account', 'note = NULL, login', 'set', $$'x'$$);
-- missing column, wrong case
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('mirrored', 'regress_err', 'account', 'nosuch', 'set', $$'x'$$);
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('mirrored', 'regress_err', 'Mixed Case', 'e-mail', 'set', $$'x'$$);
-- wrong type
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('mirrored', 'regress_err', 'account', 'pin_number', 'set', 'now()');
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('mirrored', 'regress_err', 'account', 'pin_number', 'set', 'ARRAY[1]');
-- injection attempts in the expression and in the filter
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('mirrored', 'regress_err', 'account', 'note', 'set', '1) FROM pg_authid --');
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('mirrored', 'regress_err', 'account', 'note', 'set', '1), login = (2');
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('mirrored', 'regress_err', 'account', 'note', 'set', $$'x') AS note, (SELECT 1$$);
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression, filter)
	VALUES ('mirrored', 'regress_err', 'account', 'note', 'set', $$'x'$$, 'true) UNION SELECT (true');
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression, filter)
	VALUES ('mirrored', 'regress_err', 'account', 'note', 'set', $$'x'$$, 'true) ORDER BY (1');
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression, filter)
	VALUES ('mirrored', 'regress_err', 'account', 'note', 'set', $$'x'$$, 'true) WHERE (true');
-- a filter is exactly one expression too; "a) OR (b" is one expression
-- and means the same wherever it is embedded
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression, filter)
	VALUES ('mirrored', 'regress_err', 'account', 'note', 'set', $$'x'$$, 'id = 1) OR (id = 2')
	RETURNING id, filter;
DELETE FROM sandbox.rule WHERE environment = 'mirrored' AND table_schema = 'regress_err';
-- fields an action needs or does not take
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action)
	VALUES ('mirrored', 'regress_err', 'account', 'note', 'set');
INSERT INTO sandbox.rule (environment, table_schema, table_name, action, expression)
	VALUES ('mirrored', 'regress_err', 'account', 'mask', $$'x'$$);
INSERT INTO sandbox.rule (environment, table_schema, table_name, action, expression)
	VALUES ('mirrored', 'regress_err', 'account', 'delete', $$'x'$$);
INSERT INTO sandbox.rule (environment, table_schema, table_name, action, filter)
	VALUES ('mirrored', 'regress_err', 'account', 'truncate', 'id = 1');
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, filter)
	VALUES ('mirrored', 'regress_err', 'account', 'note', 'delete', 'id = 1');
INSERT INTO sandbox.rule (environment, table_schema, table_name, action)
	VALUES ('mirrored', 'regress_err', 'account', 'drop');
INSERT INTO sandbox.rule (environment, table_schema, table_name, action)
	VALUES ('nosuch_env', 'regress_err', 'account', 'truncate');
-- not a table, not writable, not allowed
INSERT INTO sandbox.rule (environment, table_schema, table_name, action)
	VALUES ('mirrored', 'regress_err', 'account_view', 'truncate');
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('mirrored', 'regress_err', 'gen', 'b', 'set', $$'x'$$);
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('mirrored', 'regress_err', 'gen', 'c', 'set', '1');
INSERT INTO sandbox.rule (environment, table_schema, table_name, action)
	VALUES ('mirrored', 'pg_catalog', 'pg_authid', 'truncate');
INSERT INTO sandbox.rule (environment, table_schema, table_name, action)
	VALUES ('mirrored', 'sandbox', 'run', 'truncate');
-- an expression that reads the column it writes cannot be verified
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('mirrored', 'regress_err', 'account', 'note', 'set', $$note || 'x'$$);
-- UPDATE is validated too
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('mirrored', 'regress_err', 'account', 'note', 'set', $$'fine'$$) RETURNING id AS good_rule \gset
UPDATE sandbox.rule SET expression = '1) FROM pg_authid --' WHERE id = :good_rule;
UPDATE sandbox.rule SET column_name = 'nosuch' WHERE id = :good_rule;
UPDATE sandbox.rule SET table_name = 'nosuch' WHERE id = :good_rule;
SELECT id, column_name, expression FROM sandbox.rule WHERE id = :good_rule;
DELETE FROM sandbox.rule WHERE id = :good_rule;
-- nothing was written, nothing was changed
SELECT count(*) - :rules_before AS rules_added FROM sandbox.rule;
SELECT count(*) AS audit_rows FROM regress_err.audit;
SELECT id, login, note FROM regress_err.account ORDER BY id;

--
-- Rules are validated again when they run: the table changed since
--
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression) VALUES
	('mirrored', 'regress_err', 'account', 'note', 'set', $$'masked'$$),
	('mirrored', 'regress_err', 'audit', 'note', 'set', $$'masked ' || id$$)
	RETURNING id, table_name;
ALTER TABLE regress_err.audit RENAME COLUMN note TO remark;
SELECT regress_sanitize('mirrored');
SELECT * FROM sandbox_plan('mirrored');
SELECT * FROM sandbox_verify('mirrored');
ALTER TABLE regress_err.audit RENAME COLUMN remark TO note;
ALTER TABLE regress_err.audit ALTER COLUMN note TYPE int[] USING NULL;
SELECT regress_sanitize('mirrored');
-- nothing changed: account (sorted first) was not masked
SELECT id, note FROM regress_err.account ORDER BY id;
DELETE FROM sandbox.rule WHERE environment = 'mirrored';
ALTER TABLE regress_err.audit ALTER COLUMN note TYPE text USING 'SECRET-AUDIT';

--
-- A failure in the middle of a run rolls everything back; the error
-- names the rule and holds no row value
--
-- (without the view, the auto strategy may rewrite regress_err.account)
DROP VIEW regress_err.account_view;
CREATE TABLE regress_err.first (id int, v text);
INSERT INTO regress_err.first VALUES (1, 'original');
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression, filter) VALUES
	('migration', 'regress_err', 'first', 'v', 'set', $$'changed'$$, NULL),
	('migration', 'regress_err', 'audit', NULL, 'truncate', NULL, NULL),
	('migration', 'regress_err', 'account', 'note', 'set', $$'n'$$, NULL),
	('migration', 'regress_err', 'account', 'login', 'set', $$'same-login'$$, NULL)
	RETURNING id, table_name, column_name;
-- audit is truncated and first rewritten before account fails
SELECT * FROM sandbox_plan('migration');
SELECT count(*) AS runs_before FROM sandbox.run \gset
\set VERBOSITY default
-- unique violation, by a rewrite
SELECT regress_sanitize('migration');
-- unique violation, by an update
SET penelope_sandbox.update_strategy = 'update';
SELECT regress_sanitize('migration');
\set VERBOSITY terse
SELECT * FROM regress_error($$SELECT sandbox_sanitize('migration')$$,
	ARRAY['SECRET-LOGIN-1', 'SECRET-LOGIN-2', 'same-login']);
RESET penelope_sandbox.update_strategy;
SELECT * FROM regress_error($$SELECT sandbox_sanitize('migration')$$,
	ARRAY['SECRET-LOGIN-1', 'SECRET-LOGIN-2', 'same-login']);
-- nothing changed, no run recorded
SELECT * FROM regress_err.first;
SELECT count(*) AS audit_rows FROM regress_err.audit;
SELECT id, login, note FROM regress_err.account ORDER BY id;
SELECT count(*) - :runs_before AS runs_added FROM sandbox.run;

-- a cast error on one row, after the other tables changed: the message of a data exception quotes the
-- value, so only the SQLSTATE is told
UPDATE sandbox.rule SET column_name = 'pin_number', expression = 'pin::int'
WHERE environment = 'migration' AND column_name = 'login';
\set VERBOSITY default
SELECT regress_sanitize('migration');
\set VERBOSITY terse
SELECT * FROM regress_error($$SELECT sandbox_sanitize('migration')$$, ARRAY['SECRET-PIN']);
SET penelope_sandbox.update_strategy = 'update';
SELECT * FROM regress_error($$SELECT sandbox_sanitize('migration')$$, ARRAY['SECRET-PIN']);
RESET penelope_sandbox.update_strategy;
-- a check constraint and a not-null constraint: the failing row is not shown
UPDATE sandbox.rule SET expression = '-1' WHERE environment = 'migration' AND column_name = 'pin_number';
\set VERBOSITY default
SELECT regress_sanitize('migration');
\set VERBOSITY terse
SELECT * FROM regress_error($$SELECT sandbox_sanitize('migration')$$,
	ARRAY['SECRET-LOGIN-1', 'SECRET-PIN', 'SECRET-NOTE-1']);
UPDATE sandbox.rule SET column_name = 'login', expression = 'NULL', filter = 'id = 2'
WHERE environment = 'migration' AND column_name = 'pin_number';
SELECT * FROM regress_error($$SELECT sandbox_sanitize('migration')$$,
	ARRAY['SECRET-LOGIN-1', 'SECRET-PIN', 'SECRET-NOTE-2']);
-- a trigger that would undo a rule does not fire, even with update_strategy = update
DELETE FROM sandbox.rule WHERE environment = 'migration' AND column_name = 'login';
CREATE FUNCTION regress_err.keep_note() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF OLD.id = 2 THEN
		NEW.note := OLD.note;
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER keep_note BEFORE UPDATE ON regress_err.account
	FOR EACH ROW EXECUTE FUNCTION regress_err.keep_note();
SET penelope_sandbox.update_strategy = 'update';
\set VERBOSITY default
SELECT regress_sanitize('migration');
\set VERBOSITY terse
RESET penelope_sandbox.update_strategy;
DROP TRIGGER keep_note ON regress_err.account;
-- the run applied its rules; the audit trigger copied nothing
SELECT * FROM regress_err.first;
SELECT count(*) AS audit_rows FROM regress_err.audit;
SELECT id, login, pin, pin_number, note FROM regress_err.account ORDER BY id;
SELECT count(*) - :runs_before AS runs_added FROM sandbox.run;
-- and with the bad rules gone the same environment runs
SELECT regress_sanitize('migration');
SELECT * FROM regress_err.first;
SELECT count(*) AS audit_rows FROM regress_err.audit;
SELECT id, login, note FROM regress_err.account ORDER BY id;

--
-- Production is never sanitized
--
SELECT sandbox_sanitize('production');
SELECT * FROM sandbox_plan('production');
SELECT sandbox_sanitize('nosuch');
-- nor in a transaction whose snapshot is older than the run's locks
SELECT count(*) AS runs_before FROM sandbox.run \gset
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT sandbox_sanitize('migration');
ROLLBACK;
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT sandbox_sanitize('migration');
ROLLBACK;
SELECT count(*) = :runs_before AS no_run_recorded FROM sandbox.run;
-- environments cannot inherit in a cycle
UPDATE sandbox.environment SET inherits = 'training_b' WHERE name = 'training_a';
INSERT INTO sandbox.environment (name, inherits) VALUES ('Bad Name', NULL);

--
-- A second sanitization of the database while one runs fails at once
--
SELECT 'dbname=' || current_database() || ' host=' || current_setting('unix_socket_directories')
	|| ' port=' || current_setting('port') AS connstr \gset
SELECT dblink_connect('regress_other', :'connstr');
SELECT dblink_exec('regress_other', 'BEGIN');
SELECT * FROM dblink('regress_other', $$SELECT sandbox_sanitize('mirrored') LIKE 'run %'$$) AS t(started boolean);
SET statement_timeout = '10s';
SELECT sandbox_sanitize('migration');
SELECT state, message FROM regress_error($$SELECT sandbox_sanitize('training_a')$$, '{}');
-- the same from a transaction holding the lock by hand
SELECT dblink_exec('regress_other', 'ROLLBACK');
SELECT dblink_exec('regress_other', 'BEGIN');
SELECT * FROM dblink('regress_other', 'SELECT pg_try_advisory_xact_lock(1346719301, 1396854616)') AS t(locked boolean);
SELECT state, message FROM regress_error($$SELECT sandbox_sanitize('migration')$$, '{}');
SELECT dblink_exec('regress_other', 'ROLLBACK');
-- once the other one is over, a run goes through
SELECT regress_sanitize('mirrored');
-- and while this session runs, the other one is refused
BEGIN;
SELECT regress_sanitize('mirrored');
SELECT * FROM dblink('regress_other', $$SELECT sandbox_sanitize('mirrored')$$) AS t(summary text);
ROLLBACK;
RESET statement_timeout;
SELECT dblink_disconnect('regress_other');

-- clean up
DELETE FROM sandbox.rule WHERE id > 200;
DELETE FROM sandbox.run WHERE id > :ps_run_base;
DROP SCHEMA regress_err CASCADE;
DROP FUNCTION regress_sanitize(text), regress_error(text, text[]);
\if :dblink_created
DROP EXTENSION dblink;
\endif
\if :ps_created
DROP EXTENSION penelope_sandbox;
\endif
