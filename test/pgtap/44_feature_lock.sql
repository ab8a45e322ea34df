-- 44_feature_lock.sql: a locked feature can never be switched back on,
-- by anyone (issue 8, class 5).  The tables belong to a non-superuser
-- owner, who is assumed hostile; each way around the lock is tried in at
-- least two variants:
--   1. ENABLE REPLICA / ENABLE (origin) / DISABLE of the guard;
--   2. an owner trigger that sets the switch when another column changes,
--      whatever its name, BEFORE or AFTER;
--   3. renaming or dropping the column (then adding a new one defaulting
--      to true), renaming the table, changing the column's type, hiding
--      rows in an inheritance child;
--   4. a trigger created beforehand with the name of the guard, so that
--      the run would skip its own;
--   5. session_replication_role = replica (a superuser, by accident);
--   6. INSERT of rows with the switch on;
--   7. making one's own guard, dropping the guard.
BEGIN;
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS penelope_sandbox;
DO $$ BEGIN PERFORM set_config('penelope_sandbox.confirm_database', current_database(), true); END $$;
SET LOCAL penelope_sandbox.secret = 'pgtap passphrase for the feature lock tests';
SELECT plan(43);

-- ---- fixtures: an application owned by a non-superuser ----
CREATE ROLE lock_owner;
CREATE SCHEMA lockapp AUTHORIZATION lock_owner;
CREATE SCHEMA lockapp_elsewhere AUTHORIZATION lock_owner;
SET ROLE lock_owner;
CREATE TABLE lockapp.portal (
	id integer PRIMARY KEY CHECK (id = 1),
	enabled boolean NOT NULL DEFAULT false,
	notifications boolean NOT NULL DEFAULT false,
	url text
);
INSERT INTO lockapp.portal VALUES (1, true, true, 'https://portal.example');
CREATE TABLE lockapp.flow (
	id integer PRIMARY KEY,
	name text NOT NULL,
	active boolean NOT NULL DEFAULT true
);
INSERT INTO lockapp.flow SELECT g, 'flow ' || g, true FROM generate_series(1, 5) g;
CREATE FUNCTION lockapp.switch_on() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_TABLE_NAME = 'portal' THEN
		NEW.enabled := true;
	ELSE
		NEW.active := true;
	END IF;
	RETURN NEW;
END $$;
CREATE FUNCTION lockapp.nothing() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
RESET ROLE;

INSERT INTO sandbox.environment (name, description) VALUES ('locktest', 'feature lock tests');
INSERT INTO sandbox.feature (environment, feature, policy) VALUES ('locktest', 'portal', 'locked');
CREATE TEMP TABLE lock_rules AS
WITH r AS (
	INSERT INTO sandbox.rule (environment, feature, table_schema, table_name, column_name, action, expression)
	VALUES ('locktest', 'portal', 'lockapp', 'portal', 'enabled', 'set', 'false'),
		   ('locktest', 'portal', 'lockapp', 'portal', 'notifications', 'set', 'false'),
		   ('locktest', 'portal', 'lockapp', 'flow', 'active', 'set', 'false')
	RETURNING id, table_name, column_name)
SELECT * FROM r;

-- 4. triggers named like the guards, made before the run (variants a, b)
SELECT format('SET ROLE lock_owner; CREATE TRIGGER %I BEFORE UPDATE ON lockapp.%I'
			  ' FOR EACH ROW EXECUTE FUNCTION lockapp.nothing(); RESET ROLE',
			  'sandbox_lock_' || id, table_name)
FROM lock_rules WHERE column_name IN ('enabled', 'active') \gexec

SELECT lives_ok($$SELECT sandbox_sanitize('locktest')$$, 'sanitize as locktest');
SELECT ok((SELECT NOT enabled AND NOT notifications FROM lockapp.portal)
		  AND NOT EXISTS (SELECT FROM lockapp.flow WHERE active),
	'the switches are off');
SELECT is((SELECT count(*)::int FROM pg_trigger
		   WHERE tgfoid = 'sandbox.guard_locked_feature()'::regprocedure
			 AND tgrelid IN ('lockapp.portal'::regclass, 'lockapp.flow'::regclass)), 3,
	'one guard per switch, found by function, not by name');
SELECT is((SELECT count(*)::int FROM pg_trigger
		   WHERE tgfoid = 'sandbox.guard_locked_feature()'::regprocedure AND tgenabled = 'A'), 3,
	'the guards fire ALWAYS (also in replica sessions)');

-- 4. the pre-made triggers did not replace the guards
SET ROLE lock_owner;
SELECT throws_ok($$UPDATE lockapp.portal SET enabled = true$$, '42501', NULL,
	'4a: a trigger named like the guard of portal.enabled does not stand in for it');
SELECT throws_ok($$UPDATE lockapp.flow SET active = true WHERE id = 2$$, '42501', NULL,
	'4b: a trigger named like the guard of flow.active does not stand in for it');

-- ---- 1. weakening the guard ----
CREATE TEMP TABLE guard AS
SELECT t.tgname, t.tgrelid::regclass AS rel FROM pg_trigger t
WHERE t.tgfoid = 'sandbox.guard_locked_feature()'::regprocedure AND t.tgrelid = 'lockapp.portal'::regclass
ORDER BY t.tgname LIMIT 1;
SELECT throws_ok(format('ALTER TABLE lockapp.portal ENABLE REPLICA TRIGGER %I', (SELECT tgname FROM guard)), '42501', NULL,
	'1a: the owner cannot make the guard a REPLICA trigger');
SELECT throws_ok(format('ALTER TABLE lockapp.portal ENABLE TRIGGER %I', (SELECT tgname FROM guard)), '42501', NULL,
	'1b: the owner cannot make the guard an ORIGIN trigger');
SELECT throws_ok(format('ALTER TABLE lockapp.portal DISABLE TRIGGER %I', (SELECT tgname FROM guard)), '42501', NULL,
	'1c: the owner cannot disable the guard');
SELECT throws_ok($$ALTER TABLE lockapp.flow DISABLE TRIGGER ALL$$, '42501', NULL,
	'1d: the owner cannot disable every trigger of a guarded table');
SELECT throws_ok($$ALTER TABLE lockapp.flow ENABLE TRIGGER ALL$$, '42501', NULL,
	'1e: nor make them all ORIGIN triggers');
SELECT throws_ok($$UPDATE lockapp.portal SET enabled = true$$, '42501', NULL,
	'1: the guard still holds');

-- ---- 2. an owner trigger switching the feature on behind the guard ----
SAVEPOINT owner_triggers;
CREATE TRIGGER zzz_switch_on BEFORE UPDATE ON lockapp.portal FOR EACH ROW EXECUTE FUNCTION lockapp.switch_on();
SELECT throws_ok($$UPDATE lockapp.portal SET url = 'https://elsewhere.example'$$, '42501', NULL,
	'2a: a BEFORE UPDATE trigger named to fire last, switching ClientConnect on when the URL changes, is caught');
DROP TRIGGER zzz_switch_on ON lockapp.portal;
CREATE TRIGGER aaa_switch_on BEFORE UPDATE ON lockapp.portal FOR EACH ROW EXECUTE FUNCTION lockapp.switch_on();
SELECT throws_ok($$UPDATE lockapp.portal SET url = 'https://elsewhere.example'$$, '42501', NULL,
	'2b: the same trigger named to fire first is caught');
CREATE TRIGGER "~~~switch_on" BEFORE INSERT OR UPDATE ON lockapp.flow FOR EACH ROW EXECUTE FUNCTION lockapp.switch_on();
SELECT throws_ok($$UPDATE lockapp.flow SET name = 'renamed' WHERE id = 1$$, '42501', NULL,
	'2c: a trigger switching a workflow on when it is renamed is caught');
SELECT throws_ok($$INSERT INTO lockapp.flow (id, name, active) VALUES (100, 'new', false)$$, '42501', NULL,
	'2d: a trigger switching a new workflow on after the guard has looked is caught');
ROLLBACK TO SAVEPOINT owner_triggers;
SELECT lives_ok($$UPDATE lockapp.portal SET url = 'https://elsewhere.example'$$,
	'2: other columns of a guarded table may still change');

-- ---- 3. renaming, dropping, retyping ----
SELECT throws_ok($$ALTER TABLE lockapp.portal RENAME COLUMN enabled TO enabled_was$$, '42501', NULL,
	'3a: a guarded column cannot be renamed (to add a new one defaulting to true)');
SELECT throws_ok($$ALTER TABLE lockapp.flow RENAME COLUMN active TO active_was$$, '42501', NULL,
	'3b: nor the guarded column of the other table');
SELECT throws_ok($$ALTER TABLE lockapp.portal DROP COLUMN notifications$$, '42501', NULL,
	'3c: a guarded column cannot be dropped');
SELECT throws_ok($$ALTER TABLE lockapp.flow DROP COLUMN active CASCADE$$, '42501', NULL,
	'3d: not even with CASCADE');
SELECT throws_ok($$ALTER TABLE lockapp.portal ALTER COLUMN enabled TYPE boolean USING true$$, '42501', NULL,
	'3e: a guarded column cannot be rewritten to true by ALTER COLUMN ... TYPE ... USING');
SELECT throws_ok($$ALTER TABLE lockapp.portal RENAME TO portal_was$$, '42501', NULL,
	'3f: a guarded table cannot be renamed (to put a new one in its place)');
SELECT throws_ok($$ALTER TABLE lockapp.flow SET SCHEMA lockapp_elsewhere$$, '42501', NULL,
	'3g: nor moved to another schema');
SELECT throws_ok($$CREATE TABLE lockapp.flow_more () INHERITS (lockapp.flow)$$, '42501', NULL,
	'3h: a guarded table cannot get inheritance children (whose rows it would show unguarded)');
SELECT lives_ok($$ALTER TABLE lockapp.portal RENAME COLUMN url TO portal_url$$,
	'3: other columns may still be renamed');
SELECT lives_ok($$ALTER TABLE lockapp.flow ADD COLUMN note text DEFAULT 'x'$$,
	'3: columns may still be added');

-- ---- 6. new rows ----
SELECT throws_ok($$INSERT INTO lockapp.flow (id, name) VALUES (200, 'defaulted')$$, '42501', NULL,
	'6a: a new workflow active by default is refused');
SELECT throws_ok($$INSERT INTO lockapp.flow (id, name, active) VALUES (201, 'explicit', true)$$, '42501', NULL,
	'6b: a new workflow explicitly active is refused');
SELECT throws_ok($$DELETE FROM lockapp.portal; INSERT INTO lockapp.portal VALUES (1, true, false, NULL)$$, '42501', NULL,
	'6c: deleting the settings row and inserting it again switched on is refused');
SELECT lives_ok($$INSERT INTO lockapp.flow (id, name, active) VALUES (202, 'off', false)$$,
	'6: a new workflow that stays off is accepted');

-- ---- 7. making and dropping guards ----
SELECT throws_ok($$CREATE TRIGGER my_guard AFTER INSERT OR UPDATE ON lockapp.flow FOR EACH ROW
	EXECUTE FUNCTION sandbox.guard_locked_feature('locktest', 'portal', 'lockapp.flow', '3', 'active', 't')$$, '42501', NULL,
	'7a: the owner cannot make guards of her own (that the run would take for its own)');
SELECT throws_ok(format('DROP TRIGGER %I ON lockapp.portal', (SELECT tgname FROM guard)), '42501', NULL,
	'7b: the owner cannot drop a guard');
RESET ROLE;

-- ---- 5. session_replication_role = replica ----
SET LOCAL session_replication_role = replica;
SELECT throws_ok($$UPDATE lockapp.portal SET enabled = true$$, '42501', NULL,
	'5a: in a replica session an update switching the feature on is refused');
SELECT throws_ok($$INSERT INTO lockapp.flow (id, name, active) VALUES (300, 'replica', true)$$, '42501', NULL,
	'5b: in a replica session an insert switching the feature on is refused');
SELECT throws_ok(format('ALTER TABLE lockapp.portal ENABLE REPLICA TRIGGER %I', (SELECT tgname FROM guard)), '42501', NULL,
	'5c: in a replica session the guard still cannot be weakened (the event trigger fires ALWAYS)');
RESET session_replication_role;

-- ---- the lock survives a second run, and the run leaves no second guard ----
SELECT lives_ok($$SELECT sandbox_sanitize('locktest')$$, 'sanitize as locktest a second time');
SELECT is((SELECT count(*)::int FROM pg_trigger
		   WHERE tgfoid = 'sandbox.guard_locked_feature()'::regprocedure
			 AND tgrelid IN ('lockapp.portal'::regclass, 'lockapp.flow'::regclass)), 3,
	'a second run finds the guards by function and adds none');
SELECT throws_ok($$UPDATE lockapp.portal SET enabled = true$$, '42501',
	'feature "portal" is locked in environment "locktest"',
	'the message names the feature and the environment');
SELECT throws_ok($$SELECT sandbox_enable_feature('portal')$$, '42501', NULL,
	'sandbox_enable_feature refuses a locked feature');
SELECT ok((SELECT NOT enabled AND NOT notifications FROM lockapp.portal)
		  AND NOT EXISTS (SELECT FROM lockapp.flow WHERE active),
	'after all of this, the switches are still off');

-- ---- dropping the table or the extension is still possible ----
SELECT lives_ok($$DROP TABLE lockapp.flow$$, 'a guarded table may be dropped with its guard');
SELECT is((SELECT count(*)::int FROM pg_trigger WHERE tgfoid = 'sandbox.guard_locked_feature()'::regprocedure
		   AND tgrelid = 'lockapp.portal'::regclass), 2, 'the other guards stay');

SELECT * FROM finish();
ROLLBACK;
