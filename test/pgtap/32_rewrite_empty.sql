-- 32_rewrite_empty.sql: a run skips the rewrite of a table that provably
-- never held a row (no heap or TOAST block, B-tree indexes with their
-- metapage alone), and still rewrites a table that is empty now but held
-- rows (their old versions stay in its pages until it is rewritten).
-- Either way the run verifies the table and renews its statistics.
BEGIN;
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS penelope_sandbox;
SELECT plan(8);

CREATE SCHEMA re;
CREATE TABLE re.never (id int PRIMARY KEY, email text);
CREATE INDEX never_email ON re.never (email);
CREATE TABLE re.emptied (id int PRIMARY KEY, email text);
INSERT INTO re.emptied VALUES (1, 'origsecret@example.com');
DELETE FROM re.emptied;
CREATE TABLE re.hashed (id int, email text);
CREATE INDEX hashed_email ON re.hashed USING hash (email);
CREATE TABLE re.full (id int PRIMARY KEY, email text);
INSERT INTO re.full VALUES (1, 'origsecret@example.com');

INSERT INTO sandbox.environment (name) VALUES ('re_env');
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
SELECT 're_env', 're', t, 'email', 'mask', 'sandbox.mask_email(email)'
FROM unnest(ARRAY['never', 'emptied', 'hashed', 'full']) t;

CREATE TEMP TABLE before_run AS
SELECT relname, relfilenode FROM pg_class WHERE relnamespace = 're'::regnamespace AND relkind = 'r';

SELECT lives_ok($$SELECT sandbox_sanitize('re_env')$$, 'the run succeeds');
SELECT is((SELECT c.relfilenode FROM pg_class c WHERE c.oid = 're.never'::regclass),
		  (SELECT relfilenode FROM before_run WHERE relname = 'never'),
		  'a table that never held a row is not rewritten');
SELECT isnt((SELECT c.relfilenode FROM pg_class c WHERE c.oid = 're.emptied'::regclass),
			(SELECT relfilenode FROM before_run WHERE relname = 'emptied'),
			'a table emptied by a DELETE is rewritten: its pages held rows');
SELECT isnt((SELECT c.relfilenode FROM pg_class c WHERE c.oid = 're.hashed'::regclass),
			(SELECT relfilenode FROM before_run WHERE relname = 'hashed'),
			'an empty table with an index other than a B-tree is rewritten');
SELECT isnt((SELECT c.relfilenode FROM pg_class c WHERE c.oid = 're.full'::regclass),
			(SELECT relfilenode FROM before_run WHERE relname = 'full'),
			'a table with rows is rewritten');
SELECT is((SELECT count(*)::int FROM sandbox.run_step
		   WHERE run_id = (SELECT max(id) FROM sandbox.run) AND table_schema = 're' AND method = 'rewrite'),
		  4, 'every table has its step in the ledger');
SELECT ok((SELECT bool_and(ok) FROM sandbox_verify('re_env')), 'sandbox_verify passes');
SELECT is((SELECT count(*)::int FROM sandbox_verify('re_env') WHERE detail LIKE 'no dead row version in re.%'),
		  4, 'the residue check covers every table of a rewrite step');

SELECT * FROM finish();
ROLLBACK;
