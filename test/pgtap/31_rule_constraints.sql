-- 31_rule_constraints.sql: constraints as users declare them (issue 9),
-- refused when the rule is written rather than when a run is planned:
--   (a) a masked key that a foreign key references, while no rule of the
--       same run changes the referencing columns (a rewrite cascades
--       nothing, so the key could never hold);
--   (b) rules on a partitioned (or inheritance) parent and on one of its
--       partitions (children) for the same column (one could never
--       verify).
-- Environments count as they run: a rule of an environment it inherits
-- from applies with it; a rule of an unrelated environment does not.
-- (a) is checked at the end of every statement on sandbox.rule, so also
-- when the rule masking the referencing columns is deleted, disabled or
-- moved, and when an environment's parent changes.
BEGIN;
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS penelope_sandbox;
SELECT plan(50);

CREATE SCHEMA rc;
CREATE TABLE rc.account (code text PRIMARY KEY, label text);
CREATE TABLE rc.note (id int PRIMARY KEY, account_code text REFERENCES rc.account ON UPDATE CASCADE, body text);
CREATE TABLE rc.plain (id int PRIMARY KEY, v text);
INSERT INTO rc.account SELECT 'ACC-' || g, 'l' FROM generate_series(1, 5) g;
INSERT INTO rc.note SELECT g, 'ACC-' || (1 + g % 5), 'b' FROM generate_series(1, 10) g;
CREATE TABLE rc.visit (id int, visit_date date NOT NULL, comment text) PARTITION BY RANGE (visit_date);
CREATE TABLE rc.visit_2024 PARTITION OF rc.visit FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE rc.visit_2025 PARTITION OF rc.visit FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE rc.animal (id int, name text);
CREATE TABLE rc.dog (breed text) INHERITS (rc.animal);

INSERT INTO sandbox.environment (name) VALUES ('rc_base'), ('rc_other');
INSERT INTO sandbox.environment (name, inherits) VALUES ('rc_child', 'rc_base');

-- ---- (a) a masked key that a foreign key references ----
SELECT throws_ok($$INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('rc_base', 'rc', 'account', 'code', 'mask', 'sandbox.mask_id(code)')$$,
	'0A000', NULL, 'a masked key whose referencing column no rule masks is refused when written');
SELECT throws_like($$INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('rc_base', 'rc', 'account', 'code', 'mask', 'sandbox.mask_id(code)')$$,
	'rule %: the rules change the key of rc.account that foreign key note_account_code_fkey of rc.note references, and no rule changes the referencing columns',
	'the refusal names the rule, the key and both tables');

-- the refusal carries a detail and a hint
CREATE FUNCTION pg_temp.refusal(sql text) RETURNS text[] LANGUAGE plpgsql AS $f$
DECLARE
	state text; detail text; hint text;
BEGIN
	EXECUTE sql;
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
	RETURN ARRAY[state, detail, hint];
END
$f$;
SELECT ok((SELECT r[2] LIKE 'A rewrite fires no ON UPDATE CASCADE%' AND r[3] LIKE 'Mask the referencing columns%'
		   FROM pg_temp.refusal($$INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('rc_base', 'rc', 'account', 'code', 'mask', 'sandbox.mask_id(code)')$$) r),
	'the key refusal has a detail and a hint');

-- masking a column no key references is accepted
SELECT lives_ok($$INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('rc_base', 'rc', 'account', 'label', 'set', $q$'x'$q$)$$,
	'a column no foreign key references is accepted');

-- the referencing rule in an unrelated environment does not help
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('rc_other', 'rc', 'note', 'account_code', 'mask', 'sandbox.mask_id(account_code)');
SELECT throws_ok($$INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('rc_base', 'rc', 'account', 'code', 'mask', 'sandbox.mask_id(code)')$$,
	'0A000', NULL, 'a referencing rule of an unrelated environment does not make the key rule acceptable');

-- nor in an environment that inherits from the rule's: a run of rc_base lacks it
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('rc_child', 'rc', 'note', 'account_code', 'mask', 'sandbox.mask_id(account_code)');
SELECT throws_ok($$INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('rc_base', 'rc', 'account', 'code', 'mask', 'sandbox.mask_id(code)')$$,
	'0A000', NULL, 'a referencing rule only in an inheriting environment does not make the key rule acceptable');

-- in the rule's own environment chain it does: written first, then the key
SELECT lives_ok($$INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('rc_child', 'rc', 'account', 'code', 'mask', 'sandbox.mask_id(code)')$$,
	'a key rule whose referencing column a rule of the same environment masks is accepted');
DELETE FROM sandbox.rule WHERE environment LIKE 'rc_%' AND table_name IN ('account', 'note');
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('rc_base', 'rc', 'note', 'account_code', 'mask', 'sandbox.mask_id(account_code)');
SELECT lives_ok($$INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('rc_child', 'rc', 'account', 'code', 'mask', 'sandbox.mask_id(code)')$$,
	'a referencing rule of an inherited environment makes the key rule acceptable');
SELECT lives_ok($$SELECT sandbox_sanitize('rc_child')$$, 'and the run of that environment succeeds');
SELECT is((SELECT count(*)::int FROM rc.note n JOIN rc.account a ON a.code = n.account_code
		   WHERE a.code NOT LIKE 'ACC-%'), 10, 'every referencing row still finds its masked key');

-- both rules in one statement: checked at the end of the statement, so
-- the key rule may come first
DELETE FROM sandbox.rule WHERE environment LIKE 'rc_%' AND table_name IN ('account', 'note');
SELECT lives_ok($$INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('rc_base', 'rc', 'account', 'code', 'mask', 'sandbox.mask_id(code)'),
	       ('rc_base', 'rc', 'note', 'account_code', 'mask', 'sandbox.mask_id(account_code)')$$,
	'both rules in one statement, the key rule first, are accepted');
DELETE FROM sandbox.rule WHERE environment LIKE 'rc_%' AND table_name IN ('account', 'note');

-- an update that turns a rule into a key rule is checked too
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('rc_base', 'rc', 'account', 'label', 'set', $$'y'$$);
SELECT throws_ok($$UPDATE sandbox.rule SET column_name = 'code', action = 'mask', expression = 'sandbox.mask_id(code)'
	WHERE environment = 'rc_base' AND table_name = 'account' AND expression = $q$'y'$q$ $$,
	'0A000', NULL, 'an update making a rule mask a referenced key is refused too');

-- ---- (b) a parent and one of its partitions or children, same column ----
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('rc_base', 'rc', 'visit', 'comment', 'set', $$'c'$$);
SELECT throws_ok($$INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('rc_base', 'rc', 'visit_2024', 'comment', 'set', $q$'d'$q$)$$,
	'0A000', NULL, 'a rule on a partition is refused when its parent has one for the same column');
SELECT throws_like($$INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('rc_base', 'rc', 'visit_2024', 'comment', 'set', $q$'d'$q$)$$,
	'rule %: rule % writes column comment of rc.visit_2024, which rule % on rc.visit writes too',
	'the refusal names both rules and both tables');
SELECT ok((SELECT r[1] = '0A000' AND r[2] LIKE 'A rule on a table applies to its partitions%' AND r[3] LIKE 'A rule on a table applies%'
		   FROM pg_temp.refusal($$INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('rc_base', 'rc', 'visit_2024', 'comment', 'set', $q$'d'$q$)$$) r),
	'the overlap refusal has a detail and a hint');
SELECT throws_ok($$INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('rc_child', 'rc', 'visit_2025', 'comment', 'set', $q$'d'$q$)$$,
	'0A000', NULL, 'a rule on a partition is refused when the parent rule is in an inherited environment');
SELECT lives_ok($$INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('rc_other', 'rc', 'visit_2025', 'comment', 'set', $q$'d'$q$)$$,
	'a rule on a partition in an unrelated environment is accepted');
SELECT lives_ok($$INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('rc_base', 'rc', 'visit_2024', 'id', 'set', '0')$$,
	'a rule on a partition for another column is accepted');

-- the other order: the partition's rule first, then the parent's
DELETE FROM sandbox.rule WHERE environment LIKE 'rc_%' AND table_name LIKE 'visit%';
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('rc_child', 'rc', 'visit_2024', 'comment', 'set', $$'d'$$);
SELECT throws_like($$INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('rc_base', 'rc', 'visit', 'comment', 'set', $q$'c'$q$)$$,
	'rule %: rule % writes column comment of rc.visit_2024, which rule % on rc.visit writes too',
	'a rule on a parent is refused when a partition has one for the same column (environment inheriting it)');

-- a disabled rule does not count; enabling it again is checked
DELETE FROM sandbox.rule WHERE environment LIKE 'rc_%' AND table_name LIKE 'visit%';
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression, enabled)
	VALUES ('rc_base', 'rc', 'visit', 'comment', 'set', $$'c'$$, false);
SELECT lives_ok($$INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('rc_base', 'rc', 'visit_2024', 'comment', 'set', $q$'d'$q$)$$,
	'a disabled parent rule does not refuse a partition rule');
SELECT throws_ok($$UPDATE sandbox.rule SET enabled = true WHERE environment = 'rc_base' AND table_name = 'visit'$$,
	'0A000', NULL, 'enabling the parent rule again is refused');

-- inheritance children as well
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('rc_base', 'rc', 'animal', 'name', 'set', $$'a'$$);
SELECT throws_ok($$INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('rc_base', 'rc', 'dog', 'name', 'set', $q$'b'$q$)$$,
	'0A000', NULL, 'a rule on an inheritance child is refused when the parent has one for the same column');
SELECT lives_ok($$INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('rc_base', 'rc', 'dog', 'breed', 'set', $q$'b'$q$)$$,
	'a rule on a column of the child alone is accepted');

-- a table in no tree and referenced by no key: nothing to refuse
SELECT lives_ok($$INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('rc_base', 'rc', 'plain', 'v', 'set', $q$'p'$q$)$$,
	'a plain table is accepted');

-- ---- (a) again: deleting, disabling or moving the referencing rule ----
-- The key stays masked while the rule masking the referencing column
-- goes: refused by that statement, with the refusal a run would give.
DELETE FROM sandbox.rule WHERE environment LIKE 'rc_%';
-- tables no run of this test has sanitized (a run leaves out the rules
-- the copy already had applied)
CREATE TABLE rc.client (code text PRIMARY KEY);
CREATE TABLE rc.letter (id int PRIMARY KEY, client_code text REFERENCES rc.client, body text);
INSERT INTO rc.client VALUES ('C-1'), ('C-2');
INSERT INTO rc.letter VALUES (1, 'C-1', 'b'), (2, 'C-2', 'b');
INSERT INTO sandbox.environment (name) VALUES ('rc_keys');
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('rc_keys', 'rc', 'letter', 'client_code', 'mask', 'sandbox.mask_id(client_code)');
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('rc_keys', 'rc', 'client', 'code', 'mask', 'sandbox.mask_id(code)');
CREATE FUNCTION pg_temp.rule_id(env text, tab text) RETURNS bigint LANGUAGE sql AS
	$f$SELECT id FROM sandbox.rule WHERE environment = env AND table_name = tab$f$;

SELECT throws_ok($$DELETE FROM sandbox.rule WHERE environment = 'rc_keys' AND table_name = 'letter'$$,
	'0A000', NULL, 'deleting the rule of the referencing column of a masked key is refused');
SELECT throws_like($$DELETE FROM sandbox.rule WHERE environment = 'rc_keys' AND table_name = 'letter'$$,
	'rule ' || pg_temp.rule_id('rc_keys', 'client') || ': the rules change the key of rc.client that foreign key letter_client_code_fkey of rc.letter references, and no rule changes the referencing columns',
	'the refusal names the key rule, the key and both tables');
SELECT ok((SELECT r[2] LIKE 'A rewrite fires no ON UPDATE CASCADE%'
			  AND r[3] = format('This statement deletes, disables or moves rule %s (environment "rc_keys"), which masks column client_code of rc.letter, the referencing side: delete or disable rule %s (column code of rc.client) in the same statement or before it, or keep rule %s.',
							   pg_temp.rule_id('rc_keys', 'letter'), pg_temp.rule_id('rc_keys', 'client'),
							   pg_temp.rule_id('rc_keys', 'letter'))
		   FROM pg_temp.refusal($$DELETE FROM sandbox.rule WHERE environment = 'rc_keys' AND table_name = 'letter'$$) r),
	'the refusal of a deletion has the plan''s detail and a hint naming both rules, their columns and tables');

-- the same message as the plan of a run: with the check switched off,
-- the deletion goes through and sandbox_plan refuses the environment
-- (its message kept in a psql variable across the rollback)
CREATE TABLE pg_temp.messages (what text, message text);
CREATE FUNCTION pg_temp.message_of(sql text) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
	m text;
BEGIN
	EXECUTE sql;
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS m = MESSAGE_TEXT;
	RETURN m;
END
$f$;
INSERT INTO pg_temp.messages
	SELECT 'delete', pg_temp.message_of($$DELETE FROM sandbox.rule WHERE environment = 'rc_keys' AND table_name = 'letter'$$);
SAVEPOINT unchecked;
ALTER TABLE sandbox.rule DISABLE TRIGGER check_rule_keys_delete;
DELETE FROM sandbox.rule WHERE environment = 'rc_keys' AND table_name = 'letter';
SELECT pg_temp.message_of($$SELECT sandbox_plan('rc_keys')$$) AS plan_message \gset
ROLLBACK TO SAVEPOINT unchecked;
SELECT is((SELECT regexp_replace(message, '^rule [0-9]+: ', '') FROM pg_temp.messages WHERE what = 'delete'),
		  :'plan_message', 'the refusal of the deletion is the refusal of sandbox_plan');

SELECT throws_ok($$UPDATE sandbox.rule SET enabled = false WHERE environment = 'rc_keys' AND table_name = 'letter'$$,
	'0A000', NULL, 'disabling the rule of the referencing column is refused');
SELECT throws_ok($$UPDATE sandbox.rule SET environment = 'rc_other' WHERE environment = 'rc_keys' AND table_name = 'letter'$$,
	'0A000', NULL, 'moving the rule of the referencing column to an unrelated environment is refused');
SELECT throws_ok($$UPDATE sandbox.rule SET column_name = 'body', expression = 'sandbox.mask_text(body)'
	WHERE environment = 'rc_keys' AND table_name = 'letter'$$,
	'0A000', NULL, 'making the rule of the referencing column mask another column is refused');
SELECT lives_ok($$UPDATE sandbox.rule SET description = 'same rule' WHERE environment = 'rc_keys' AND table_name = 'letter'$$,
	'an update changing only the description of the referencing rule is accepted');

-- the legitimate ways
SELECT lives_ok($$DELETE FROM sandbox.rule WHERE environment = 'rc_keys' AND table_name IN ('letter', 'client')$$,
	'deleting both rules in one statement is accepted (referencing rule first in the table)');
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('rc_keys', 'rc', 'client', 'code', 'mask', 'sandbox.mask_id(code)'),
	       ('rc_keys', 'rc', 'letter', 'client_code', 'mask', 'sandbox.mask_id(client_code)');
SELECT lives_ok($$DELETE FROM sandbox.rule WHERE environment = 'rc_keys' AND table_name IN ('letter', 'client')$$,
	'deleting both rules in one statement is accepted (key rule first in the table)');
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('rc_keys', 'rc', 'client', 'code', 'mask', 'sandbox.mask_id(code)'),
	       ('rc_keys', 'rc', 'letter', 'client_code', 'mask', 'sandbox.mask_id(client_code)');
SELECT lives_ok($$UPDATE sandbox.rule SET enabled = false WHERE environment = 'rc_keys' AND table_name IN ('letter', 'client')$$,
	'disabling both rules in one statement is accepted');
SELECT lives_ok($$UPDATE sandbox.rule SET enabled = true WHERE environment = 'rc_keys' AND table_name IN ('letter', 'client')$$,
	'enabling both rules in one statement is accepted');
SELECT lives_ok($$DELETE FROM sandbox.rule WHERE environment = 'rc_keys' AND table_name = 'client'$$,
	'deleting the key rule first is accepted');
SELECT lives_ok($$DELETE FROM sandbox.rule WHERE environment = 'rc_keys' AND table_name = 'letter'$$,
	'and then the rule of the referencing column');

-- a role that may only write rules (no SELECT on the rest of the
-- catalog): the check reads the catalog as its owner, so the refusal is
-- the same, not a permission error
CREATE ROLE regress_rc_writer;
GRANT USAGE ON SCHEMA sandbox TO regress_rc_writer;
GRANT SELECT (id, environment, table_name), INSERT, DELETE ON sandbox.rule TO regress_rc_writer;
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('rc_keys', 'rc', 'client', 'code', 'mask', 'sandbox.mask_id(code)'),
	       ('rc_keys', 'rc', 'letter', 'client_code', 'mask', 'sandbox.mask_id(client_code)');
SET ROLE regress_rc_writer;
SELECT throws_ok($$DELETE FROM sandbox.rule WHERE environment = 'rc_keys' AND table_name = 'letter'$$,
	'0A000', NULL, 'a role that may only delete rules gets the same refusal');
SELECT lives_ok($$DELETE FROM sandbox.rule WHERE environment = 'rc_keys' AND table_name IN ('letter', 'client')$$,
	'and may delete both rules in one statement');
RESET ROLE;

-- an environment inheriting the referencing rule: its key rule counts too
INSERT INTO sandbox.environment (name, inherits) VALUES ('rc_keys_child', 'rc_keys');
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('rc_keys', 'rc', 'letter', 'client_code', 'mask', 'sandbox.mask_id(client_code)'),
	       ('rc_keys_child', 'rc', 'client', 'code', 'mask', 'sandbox.mask_id(code)');
SELECT throws_like($$DELETE FROM sandbox.rule WHERE environment = 'rc_keys' AND table_name = 'letter'$$,
	'rule ' || pg_temp.rule_id('rc_keys_child', 'client') || ': the rules change the key of rc.client%',
	'deleting the referencing rule an inheriting environment''s key rule relies on is refused');

-- ---- environment chains ----
SELECT throws_ok($$UPDATE sandbox.environment SET inherits = NULL WHERE name = 'rc_keys_child'$$,
	'0A000', NULL, 'an environment no longer inheriting the referencing rule of its key rule is refused');
SELECT ok((SELECT r[3] = format('This statement changes the environments that environment "rc_keys_child" inherits from, and rule %s (column code of rc.client) would no longer be accepted: change or disable that rule first, or keep the environment''s parent.',
								pg_temp.rule_id('rc_keys_child', 'client'))
		   FROM pg_temp.refusal($$UPDATE sandbox.environment SET inherits = 'rc_other' WHERE name = 'rc_keys_child'$$) r),
	'an environment moved under another parent is refused too, with a hint naming the environment and the rule');
SELECT lives_ok($$UPDATE sandbox.environment SET description = 'same chain' WHERE name LIKE 'rc_keys%'$$,
	'an update of an environment that keeps its parent is accepted');
SELECT lives_ok($$UPDATE sandbox.environment SET name = 'rc_keys_renamed' WHERE name = 'rc_keys_child'$$,
	'renaming an environment (its rules follow by ON UPDATE CASCADE) is accepted');
-- a parent's rule for the same column as a partition's, after a chain change
INSERT INTO sandbox.environment (name) VALUES ('rc_part');
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('rc_other', 'rc', 'visit', 'comment', 'set', $$'c'$$),
	       ('rc_part', 'rc', 'visit_2024', 'comment', 'set', $$'d'$$);
SELECT throws_like($$UPDATE sandbox.environment SET inherits = 'rc_other' WHERE name = 'rc_part'$$,
	'rule %: rule % writes column comment of rc.visit_2024, which rule % on rc.visit writes too',
	'an environment made to inherit a parent rule overlapping its partition rule is refused');

-- a rule that reads a column a rule of a new parent writes, and the other way round
INSERT INTO sandbox.environment (name) VALUES ('rc_reader'), ('rc_writer');
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('rc_other', 'rc', 'plain', 'v', 'set', $$'x'$$),
	       ('rc_reader', 'rc', 'plain', 'id', 'set', $$length(v)$$),
	       ('rc_other', 'rc', 'animal', 'id', 'set', $$length(name)$$),
	       ('rc_writer', 'rc', 'animal', 'name', 'set', $$'n'$$);
SELECT throws_like($$UPDATE sandbox.environment SET inherits = 'rc_other' WHERE name = 'rc_reader'$$,
	'rule ' || pg_temp.rule_id('rc_other', 'plain') || ': the effect of rule '
		|| pg_temp.rule_id('rc_reader', 'plain') || ' could not be verified any more',
	'an environment made to inherit a rule writing a column its own rule reads is refused');
SELECT throws_like($$UPDATE sandbox.environment SET inherits = 'rc_other' WHERE name = 'rc_writer'$$,
	'rule ' || pg_temp.rule_id('rc_writer', 'animal') || ': the effect of rule '
		|| pg_temp.rule_id('rc_other', 'animal') || ' could not be verified any more',
	'an environment made to inherit a rule reading a column its own rule writes is refused');

-- dropping a whole environment
SELECT lives_ok($$DELETE FROM sandbox.rule WHERE environment IN ('rc_keys', 'rc_keys_renamed');
	DELETE FROM sandbox.environment WHERE name IN ('rc_keys_renamed', 'rc_keys')$$,
	'dropping environments with all their rules is accepted');

-- DROP EXTENSION with key rules in place (no trigger fires)
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('rc_base', 'rc', 'letter', 'client_code', 'mask', 'sandbox.mask_id(client_code)'),
	       ('rc_base', 'rc', 'client', 'code', 'mask', 'sandbox.mask_id(code)');
SET LOCAL client_min_messages = error;
SELECT lives_ok($$DROP EXTENSION penelope_sandbox$$, 'DROP EXTENSION with a key rule and its referencing rule is accepted');

SELECT * FROM finish();
ROLLBACK;
