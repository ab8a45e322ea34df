-- 10_core.sql: the core engine (issue 2): actions, one statement per
-- table, inheritance, rollback on failure without row values, production,
-- concurrency, permissions, trusted functions, owner rights, large
-- objects and the update strategy.
BEGIN;
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS penelope_sandbox;
CREATE EXTENSION IF NOT EXISTS dblink;
SELECT plan(61);

-- ---- fixtures ----
CREATE ROLE tap_owner;
CREATE ROLE tap_other;
CREATE ROLE tap_nobody;
CREATE ROLE tap_writer IN ROLE tap_owner;
CREATE SCHEMA tap;
GRANT USAGE ON SCHEMA tap TO PUBLIC;
GRANT CREATE ON SCHEMA tap TO tap_owner, tap_other;

CREATE TABLE tap.person (id int PRIMARY KEY, name text, email text UNIQUE, kind text, pin text, n int);
INSERT INTO tap.person SELECT g, 'Real Name ' || g, 'real' || g || '@example.com',
	CASE g % 3 WHEN 0 THEN 'staff' WHEN 1 THEN 'client' ELSE 'other' END, 'PIN-SECRET-' || g, g
FROM generate_series(1, 9) g;
CREATE TABLE tap.note (id int, person_id int REFERENCES tap.person, body text);
INSERT INTO tap.note SELECT g, 1 + g % 9, 'body ' || g FROM generate_series(1, 18) g;
CREATE TABLE tap.token (id int, t text);
INSERT INTO tap.token SELECT g, md5(g::text) FROM generate_series(1, 4) g;
CREATE TABLE tap.hook (id int, url text);
INSERT INTO tap.hook VALUES (1, 'https://prod');

-- ---- concurrency (before any run of this transaction takes the lock) ----
SELECT dblink_connect('tap_other_session', format('dbname=%s host=%s port=%s', current_database(),
	current_setting('unix_socket_directories'), current_setting('port')));
SELECT dblink_exec('tap_other_session', 'BEGIN');
SELECT ok((SELECT l FROM dblink('tap_other_session', 'SELECT pg_try_advisory_xact_lock(1346719301, 1396854616)') AS t(l boolean)),
	'another session holds the sanitization lock');
SET LOCAL statement_timeout = '10s';
SELECT throws_ok($$SELECT sandbox_sanitize('mirrored')$$, '55P03', NULL,
	'a concurrent sanitization fails at once with 55P03');
SELECT throws_ok($$SELECT sandbox_sanitize('mirrored')$$, '55P03',
	format('a sanitization of database "%s" is already running', current_database()), 'with a clear message');
RESET statement_timeout;
SELECT dblink_exec('tap_other_session', 'ROLLBACK');

-- ---- each action, several filtered rules, inheritance ----
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression, filter) VALUES
	('training_a', 'tap', 'person', 'name', 'mask', $$'Person ' || id$$, NULL),
	('training_a', 'tap', 'person', 'email', 'set', $$'staff' || id || '@invalid'$$, $$kind = 'staff'$$),
	('training_a', 'tap', 'person', 'email', 'set', $$'client' || id || '@invalid'$$, $$kind = 'client'$$),
	('training_a', 'tap', 'person', 'pin', 'set', 'NULL', 'id > 3'),
	('training_a', 'tap', 'note', NULL, 'delete', NULL, 'id > 9'),
	('training_a', 'tap', 'token', NULL, 'truncate', NULL, NULL),
	('training_b', 'tap', 'hook', 'url', 'set', $$'https://localhost'$$, NULL),
	('training_b', 'tap', 'person', 'email', 'set', $$'b' || id || '@invalid'$$, 'id = 1');
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression, enabled)
	VALUES ('training_a', 'tap', 'person', 'kind', 'set', $$'disabled'$$, false);

SELECT is((SELECT count(*)::int FROM sandbox_plan('training_a') s WHERE s ~ '^(UPDATE tap\.person |SELECT ctid.* FROM ONLY tap\.person[; ])'), 1,
	'plan: all mask/set rules of a table, filtered or not, make ONE statement');
SELECT is((SELECT count(*)::int FROM sandbox_plan('training_a')), 3,
	'plan: training_a has truncate, delete, one statement for person, nothing for hook');
SELECT ok((SELECT s FROM sandbox_plan('training_a') s WHERE s ~ '^(UPDATE tap\.person |SELECT ctid.* FROM ONLY tap\.person[; ])')
	~ 'CASE WHEN \(+kind = ''staff''(::text)?\)+ THEN .* WHEN \(+kind = ''client''(::text)?\)+ THEN .* ELSE email END',
	'plan: filters are combined with CASE, the column kept where no filter matches');
SELECT results_eq(
	$$SELECT substring(s FROM '^(TRUNCATE|DELETE|UPDATE|SELECT ctid)') FROM sandbox_plan('training_a') s$$,
	ARRAY['TRUNCATE', 'SELECT ctid', 'SELECT ctid'],
	'plan: truncate, then the rewrites (a delete nothing references is folded into its table''s rewrite)');
SELECT ok((SELECT bool_and(s ~ ': [0-9]+ rows$') FROM sandbox_plan('training_a') s), 'plan: every statement has a row count');
SELECT ok((SELECT s FROM sandbox_plan('training_a') s WHERE s ~ 'FROM ONLY tap\.note ') LIKE '%WHERE NOT COALESCE(((id > 9)), false); -- rewrite, rules %: 9 rows',
	'plan: the rewrite of a table with a delete rule keeps the rows the filter does not match, and counts them');
SELECT is((SELECT count(*)::int FROM sandbox_plan('training_b') s WHERE s ~ 'tap\.(hook|token|note|person)'), 4,
	'plan: training_b applies its own rules and those of training_a');
SELECT ok((SELECT s FROM sandbox_plan('training_b') s WHERE s ~ '^(UPDATE tap\.person |SELECT ctid.* FROM ONLY tap\.person[; ])')
	~ 'CASE WHEN \(+id = 1\)+ .* WHEN \(+kind = ''staff''', 'plan: the inheriting environment''s rule comes first');
SELECT is((SELECT count(*)::int FROM sandbox_verify('training_b') WHERE rule_id IS NOT NULL AND NOT ok), 8,
	'verify before: one row per enabled rule, all violated');
SELECT is((SELECT count(*)::int FROM tap.person WHERE email LIKE '%@example.com'), 9, 'plan and verify change nothing');

SELECT lives_ok($$SELECT sandbox_sanitize('training_b')$$, 'sanitize training_b');
SELECT ok(NOT (SELECT l FROM dblink('tap_other_session', 'SELECT pg_try_advisory_xact_lock(1346719301, 1396854616)') AS t(l boolean)),
	'the sanitization lock is held until the transaction ends');
SELECT dblink_disconnect('tap_other_session');
SELECT results_eq($$SELECT id, name, email, pin FROM tap.person ORDER BY id$$,
	$$VALUES (1, 'Person 1', 'b1@invalid', 'PIN-SECRET-1'), (2, 'Person 2', 'real2@example.com', 'PIN-SECRET-2'),
	  (3, 'Person 3', 'staff3@invalid', 'PIN-SECRET-3'), (4, 'Person 4', 'client4@invalid', NULL),
	  (5, 'Person 5', 'real5@example.com', NULL), (6, 'Person 6', 'staff6@invalid', NULL),
	  (7, 'Person 7', 'client7@invalid', NULL), (8, 'Person 8', 'real8@example.com', NULL),
	  (9, 'Person 9', 'staff9@invalid', NULL)$$,
	'mask and set rules with combined filters and an inherited environment');
SELECT is((SELECT count(*)::int FROM tap.person WHERE kind = 'disabled'), 0, 'a disabled rule is not applied');
SELECT is((SELECT count(*)::int FROM tap.note), 9, 'delete rule removed the filtered rows');
SELECT is((SELECT count(*)::int FROM tap.token), 0, 'truncate rule emptied the table');
SELECT is((SELECT url FROM tap.hook), 'https://localhost', 'training_b''s own rule applied');
SELECT is((SELECT count(*)::int FROM sandbox_verify('training_b') WHERE rule_id IS NOT NULL AND ok), 8, 'verify after: every rule holds');
SELECT is((SELECT status FROM sandbox.run ORDER BY id DESC LIMIT 1), 'succeeded', 'run recorded as succeeded');
SELECT is((SELECT count(*)::int FROM sandbox.run_step WHERE run_id = (SELECT max(id) FROM sandbox.run)), 4,
	'one run_step per statement');
SELECT is((SELECT count(*)::int FROM sandbox.run_step WHERE run_id = (SELECT max(id) FROM sandbox.run)
	AND table_name = 'person' AND method IN ('update', 'rewrite')), 1, 'one update step for the person table');

-- ---- mid-run failure: everything rolled back, the rule named, no row value ----
UPDATE tap.hook SET url = 'https://prod';
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression) VALUES
	('mirrored', 'tap', 'hook', 'url', 'set', $$'changed'$$),
	('mirrored', 'tap', 'token', NULL, 'truncate', NULL);
INSERT INTO tap.token VALUES (1, 'x');
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('mirrored', 'tap', 'person', 'n', 'set', 'pin::int');
SELECT id AS cast_rule FROM sandbox.rule WHERE environment = 'mirrored' AND column_name = 'n' \gset
SELECT count(*) AS runs_before FROM sandbox.run \gset
CREATE FUNCTION tap.error_of(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE m text; d text; h text; c text; s text;
BEGIN
	EXECUTE sql;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL,
		h = PG_EXCEPTION_HINT, c = PG_EXCEPTION_CONTEXT;
	RETURN concat_ws(' | ', s, m, d, h, c);
END $$;
SELECT throws_ok($$SELECT sandbox_sanitize('mirrored')$$, '22P02',
	format('rule %s failed on table tap.person', :cast_rule), 'a cast error names the rule');
SELECT unalike(tap.error_of($$SELECT sandbox_sanitize('mirrored')$$), '%PIN-SECRET%',
	'the cast error holds no row value (message, detail, hint, context)');
SELECT is((SELECT url FROM tap.hook), 'https://prod', 'rolled back: the table changed earlier in the run');
SELECT is((SELECT count(*)::int FROM tap.token), 1, 'rolled back: the truncated table');
SELECT is((SELECT count(*)::int FROM sandbox.run), :runs_before, 'rolled back: no run recorded');
UPDATE sandbox.rule SET column_name = 'email', expression = $$'same@invalid'$$ WHERE id = :cast_rule;
SELECT throws_like($$SELECT sandbox_sanitize('mirrored')$$, format('%%rule%% %s %%failed on table tap.person', :cast_rule),
	'a unique violation names the rule');
SELECT unalike(tap.error_of($$SELECT sandbox_sanitize('mirrored')$$), '%example.com%',
	'the unique violation holds no key value');
SET LOCAL penelope_sandbox.update_strategy = 'update';
SELECT unalike(tap.error_of($$SELECT sandbox_sanitize('mirrored')$$), '%example.com%',
	'the unique violation by UPDATE holds no key value');
RESET penelope_sandbox.update_strategy;
SELECT is((SELECT url FROM tap.hook), 'https://prod', 'still nothing changed');
DELETE FROM sandbox.rule WHERE id = :cast_rule;

-- ---- production, concurrency ----
SELECT throws_ok($$SELECT sandbox_sanitize('production')$$, '42501',
	'environment "production" is never sanitized', 'production is refused');
SELECT throws_ok($$SELECT * FROM sandbox_plan('production')$$, '42501', NULL, 'production plan is refused');

-- ---- permissions ----
SELECT ok(NOT has_function_privilege('tap_nobody', 'sandbox_sanitize(text)', 'EXECUTE')
	AND NOT has_function_privilege('tap_nobody', 'sandbox_plan(text)', 'EXECUTE')
	AND NOT has_function_privilege('tap_nobody', 'sandbox_verify(text)', 'EXECUTE'), 'admin functions are not PUBLIC');
SET LOCAL ROLE tap_nobody;
SELECT throws_ok($$SELECT sandbox_sanitize('mirrored')$$, '42501', NULL, 'nobody cannot sanitize');
SELECT throws_ok($$SELECT * FROM sandbox_plan('mirrored')$$, '42501', NULL, 'nobody cannot plan');
SELECT throws_ok($$SELECT * FROM sandbox_verify('mirrored')$$, '42501', NULL, 'nobody cannot verify');
SELECT throws_ok($$INSERT INTO sandbox.rule (environment, table_schema, table_name, action) VALUES ('mirrored', 'tap', 'token', 'truncate')$$,
	'42501', NULL, 'nobody cannot write sandbox.rule');
SELECT throws_ok($$UPDATE sandbox.environment SET description = 'x'$$, '42501', NULL, 'nobody cannot write sandbox.environment');
RESET ROLE;

CREATE TABLE tap.owned (id int, v text, w text);
INSERT INTO tap.owned VALUES (1, 'a', 'b'), (2, 'c', 'd');
ALTER TABLE tap.owned OWNER TO tap_owner;
CREATE TABLE tap.foreign_owned (id int, v text);
ALTER TABLE tap.foreign_owned OWNER TO tap_other;
GRANT INSERT, SELECT ON sandbox.rule TO tap_writer;
SET LOCAL ROLE tap_writer;
SELECT lives_ok($$INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('preview', 'tap', 'owned', 'v', 'set', '''x''')$$, 'a granted role writes rules for tables of its role');
SELECT throws_like($$INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('preview', 'tap', 'foreign_owned', 'v', 'set', '''x''')$$,
	'rule %: permission denied to write rules for table tap.foreign_owned', 'but not for a table of another owner');
RESET ROLE;

-- ---- trusted functions ----
SET LOCAL ROLE tap_other;
CREATE FUNCTION tap.other_fn(int) RETURNS text LANGUAGE sql AS $$ SELECT 'o' || $1 $$;
RESET ROLE;
SET LOCAL ROLE tap_owner;
CREATE FUNCTION tap.owner_fn(int) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'w' || $1 $$;
RESET ROLE;
SELECT throws_like($$INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('preview', 'tap', 'owned', 'w', 'set', 'tap.other_fn(id)')$$,
	'rule %: function tap.other_fn(integer) is not trusted',
	'an expression calling a function of a non-superuser non-owner is rejected');
SELECT throws_like($$INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression, filter)
	VALUES ('preview', 'tap', 'owned', 'w', 'set', '''z''', 'tap.other_fn(id) IS NOT NULL')$$,
	'rule %: function tap.other_fn(integer) is not trusted', 'the same in a filter');
SELECT lives_ok($$INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression, filter)
	VALUES ('preview', 'tap', 'owned', 'w', 'set', 'tap.owner_fn(id)', 'id = 2')$$, 'a function of the table owner is trusted');
ALTER FUNCTION tap.owner_fn(int) OWNER TO tap_other;
SELECT throws_like($$SELECT sandbox_sanitize('preview')$$,
	'rule %: function tap.owner_fn(integer) is not trusted', 'trust is checked again when the rule runs');
ALTER FUNCTION tap.owner_fn(int) OWNER TO tap_owner;

-- ---- rules run as the table owner ----
CREATE TABLE tap.seen (who name, sess name);
GRANT INSERT ON tap.seen TO PUBLIC;
CREATE FUNCTION tap.remember() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO tap.seen VALUES (current_user, session_user); RETURN NEW; END $$;
CREATE TRIGGER remember BEFORE UPDATE ON tap.owned FOR EACH ROW EXECUTE FUNCTION tap.remember();
SET LOCAL penelope_sandbox.update_strategy = 'update';
SELECT lives_ok($$SELECT sandbox_sanitize('preview')$$, 'sanitize a table with a trigger');
RESET penelope_sandbox.update_strategy;
SELECT is((SELECT count(*)::int FROM tap.seen), 0,
	'a user trigger does not fire in a run, not even with update_strategy = update');
SELECT is((SELECT tgenabled FROM pg_trigger WHERE tgname = 'remember'), 'O'::"char",
	'the trigger is enabled again after the run');
SELECT results_eq($$SELECT id, v, w FROM tap.owned ORDER BY id$$, $$VALUES (1, 'x', 'b'), (2, 'x', 'w2')$$,
	'the owner''s rules applied');

-- ---- large objects ----
CREATE TABLE tap.doc (id int, blob oid);
CREATE TABLE tap.tmp_doc (id int, blob oid);
INSERT INTO tap.doc SELECT g, lo_from_bytea(0, 'd'::bytea) FROM generate_series(1, 5) g;
INSERT INTO tap.tmp_doc SELECT g, lo_from_bytea(0, 't'::bytea) FROM generate_series(1, 3) g;
SELECT count(*) AS lo_before FROM pg_largeobject_metadata \gset
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, filter) VALUES
	('migration', 'tap', 'doc', 'blob', 'delete', 'id > 3'),
	('migration', 'tap', 'tmp_doc', 'blob', 'truncate', NULL);
SELECT lives_ok($$SELECT sandbox_sanitize('migration')$$, 'sanitize with large-object rules');
SELECT is((SELECT count(*)::int FROM pg_largeobject_metadata), :lo_before - 5,
	'large objects of deleted and truncated rows are unlinked');
SELECT is((SELECT count(*)::int FROM tap.doc d JOIN pg_largeobject_metadata m ON m.oid = d.blob), 3,
	'large objects of the remaining rows are kept');

-- ---- update strategy ----
CREATE TABLE tap.s1 (id int, a text, b text);
CREATE TABLE tap.s2 (id int, a text, b text);
INSERT INTO tap.s1 SELECT g, 'a' || g, 'b' || g FROM generate_series(1, 20) g;
INSERT INTO tap.s2 SELECT * FROM tap.s1;
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression, filter) VALUES
	('preview', 'tap', 's1', 'a', 'set', $$'A' || id$$, NULL),
	('preview', 'tap', 's1', 'b', 'set', $$'B'$$, 'id % 3 = 0'),
	('mirrored', 'tap', 's2', 'a', 'set', $$'A' || id$$, NULL),
	('mirrored', 'tap', 's2', 'b', 'set', $$'B'$$, 'id % 3 = 0');
SELECT ok((SELECT bool_or(s ~ '^SELECT ctid.* FROM ONLY tap\.s1; -- rewrite') FROM sandbox_plan('preview') s), 'auto: rule covering all rows -> rewrite');
SET LOCAL penelope_sandbox.update_strategy = 'update';
SELECT ok((SELECT bool_or(s ~ '^UPDATE tap\.s2 .*-- update') FROM sandbox_plan('mirrored') s), 'update strategy -> UPDATE');
SELECT lives_ok($$SELECT sandbox_sanitize('mirrored')$$, 'sanitize by update');
RESET penelope_sandbox.update_strategy;
SELECT lives_ok($$SELECT sandbox_sanitize('preview')$$, 'sanitize by rewrite');
SELECT set_eq($$SELECT id, a, b FROM tap.s1$$, $$SELECT id, a, b FROM tap.s2$$, 'rewrite and update give identical results');
UPDATE sandbox.rule SET filter = 'id > 0' WHERE table_name = 's1' AND column_name = 'a';
SELECT ok((SELECT bool_or(s ~ '^SELECT ctid.* FROM ONLY tap\.s1; -- rewrite') FROM sandbox_plan('preview') s), 'auto: filtered rules only -> rewrite');
UPDATE sandbox.rule SET filter = NULL, expression = '(SELECT max(t.t) FROM tap.token t)' WHERE table_name = 's1' AND column_name = 'a';
SELECT ok((SELECT bool_or(s ~ '^SELECT ctid.* FROM ONLY tap\.s1; -- rewrite') FROM sandbox_plan('preview') s), 'auto: a subquery -> rewrite');

SELECT * FROM finish();
ROLLBACK;
