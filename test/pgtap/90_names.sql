-- 90_names.sql: the naming rule of the SQL functions (README "Names",
-- issue 12).  pg_catalog.sandbox_* are the entry points a DBA calls;
-- schema sandbox holds everything rules, triggers and the engine use, with
-- no prefix.  A function of the extension anywhere else, or named against
-- the rule, fails here.
BEGIN;
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS penelope_sandbox;
SELECT plan(6);

CREATE TEMP VIEW tap_names AS
SELECT p.oid::regprocedure::text AS function, n.nspname AS schema, p.proname AS name
FROM pg_depend d
JOIN pg_extension e ON e.oid = d.refobjid AND d.refclassid = 'pg_extension'::regclass
JOIN pg_proc p ON p.oid = d.objid AND d.classid = 'pg_proc'::regclass
JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE e.extname = 'penelope_sandbox' AND d.deptype = 'e';

SELECT is_empty($$SELECT function FROM tap_names WHERE schema NOT IN ('pg_catalog', 'sandbox')$$,
	'every function of the extension is in pg_catalog or in schema sandbox');
SELECT is_empty($$SELECT function FROM tap_names WHERE schema = 'pg_catalog' AND name NOT LIKE 'sandbox\_%'$$,
	'every function of the extension in pg_catalog is called sandbox_*');
SELECT is_empty($$SELECT function FROM tap_names WHERE schema = 'sandbox' AND name LIKE 'sandbox\_%'$$,
	'no function in schema sandbox repeats the prefix');
SELECT set_eq($$SELECT name FROM tap_names WHERE schema = 'pg_catalog'$$,
	ARRAY['sandbox_sanitize', 'sandbox_sanitize_async', 'sandbox_plan', 'sandbox_verify',
		  'sandbox_status', 'sandbox_discover', 'sandbox_enable_feature', 'sandbox_load_profile',
		  'sandbox_database_ready', 'sandbox_set_secret_from_file'],
	'the entry points are those the README lists');
SELECT is_empty($$SELECT c.oid::regclass::text FROM pg_depend d
	JOIN pg_extension e ON e.oid = d.refobjid AND d.refclassid = 'pg_extension'::regclass
	JOIN pg_class c ON c.oid = d.objid AND d.classid = 'pg_class'::regclass
	WHERE e.extname = 'penelope_sandbox' AND d.deptype = 'e'
	  AND c.relnamespace <> 'sandbox'::regnamespace$$,
	'every table, view and sequence of the extension is in schema sandbox');
SELECT ok(to_regprocedure('sandbox.database_ready()') IS NULL
		  AND to_regprocedure('sandbox.set_secret_from_file(text)') IS NULL,
	'the entry points of 1.1 in schema sandbox are gone');

SELECT * FROM finish();
ROLLBACK;
