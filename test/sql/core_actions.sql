--
-- core_actions: every action, combined filters in one statement per
-- table, environment inheritance, sandbox_plan / sandbox_verify, the run
-- ledger, quoted identifiers, large objects and the update strategy.
--
\set VERBOSITY terse
SET client_min_messages = warning;
SELECT NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'penelope_sandbox') AS ps_created \gset
CREATE EXTENSION IF NOT EXISTS penelope_sandbox;
UPDATE sandbox.discovery_policy SET on_failure = 'off'; -- the engine alone here: sql/discover.sql tests discovery and the leak scan
RESET client_min_messages;
-- stable rule ids and run ids for this file
SELECT setval('sandbox.rule_id_seq', 100) AS rule_base;
SELECT coalesce(max(id), 0) AS ps_run_base FROM sandbox.run \gset

-- the summary without its run id and timing
CREATE FUNCTION regress_sanitize(env text) RETURNS text LANGUAGE sql AS $$
	SELECT regexp_replace(regexp_replace(sandbox_sanitize(env),
		'^run [0-9]+: (.*) applied in [0-9.]+ s:', 'run N: \1 applied in T s:'),
		'; [0-9]+ checks ok$', '; checks ok')
$$;

-- built-in environments, and the inheritance between them
SELECT name, inherits FROM sandbox.environment ORDER BY name;

CREATE SCHEMA regress_app;
CREATE TABLE regress_app.client (
	id int PRIMARY KEY,
	name text NOT NULL,
	email text,
	vip boolean NOT NULL,
	country text,
	score int
);
INSERT INTO regress_app.client
	SELECT g, 'Name ' || g, 'person' || g || '@example.com', g % 3 = 0,
		   CASE WHEN g % 2 = 0 THEN 'FR' ELSE 'DE' END, g * 10
	FROM generate_series(1, 12) g;
CREATE TABLE regress_app.payment (
	id int PRIMARY KEY,
	client_id int REFERENCES regress_app.client,
	iban text,
	amount numeric
);
INSERT INTO regress_app.payment
	SELECT g, 1 + (g - 1) % 12, 'DE00SECRET' || g, g FROM generate_series(1, 24) g;
CREATE TABLE regress_app.session_log (id int, token text);
INSERT INTO regress_app.session_log SELECT g, md5(g::text) FROM generate_series(1, 5) g;
CREATE TABLE regress_app.webhook (id int, url text, active boolean);
INSERT INTO regress_app.webhook VALUES (1, 'https://prod.example.com/hook', true), (2, 'https://other', true);

-- training_a: every action; several filtered rules on client.email and
-- on client.name, which must all go into one statement for the table
INSERT INTO sandbox.rule (environment, feature, table_schema, table_name, column_name, action, expression, filter, description) VALUES
	('training_a', 'pii', 'regress_app', 'client', 'name', 'set', $$'Client ' || id$$, NULL, 'names'),
	('training_a', 'pii', 'regress_app', 'client', 'email', 'set', $$'vip' || id || '@invalid'$$, 'vip', 'vip e-mail'),
	('training_a', 'pii', 'regress_app', 'client', 'email', 'set', $$'fr' || id || '@invalid'$$, $$country = 'FR'$$, 'french e-mail'),
	('training_a', 'pii', 'regress_app', 'client', 'score', 'set', '0', 'score > 100', 'big scores'),
	('training_a', 'pii', 'regress_app', 'payment', 'iban', 'set', $$'DE00' || lpad(id::text, 18, '0')$$, NULL, 'ibans'),
	('training_a', 'old', 'regress_app', 'payment', NULL, 'delete', NULL, 'amount > 20 OR client_id = 12', 'old payments'),
	('training_a', 'old', 'regress_app', 'client', NULL, 'delete', NULL, 'id = 12', 'a closed client'),
	('training_a', 'sessions', 'regress_app', 'session_log', NULL, 'truncate', NULL, NULL, 'sessions')
	RETURNING id, action, column_name;
-- a disabled rule is never applied
INSERT INTO sandbox.rule (environment, feature, table_schema, table_name, column_name, action, expression, enabled) VALUES
	('training_a', 'pii', 'regress_app', 'client', 'country', 'set', $$'XX'$$, false)
	RETURNING id, enabled;
-- training_b inherits training_a; its own rule on client.email comes first
INSERT INTO sandbox.rule (environment, feature, table_schema, table_name, column_name, action, expression, filter) VALUES
	('training_b', 'integrations', 'regress_app', 'webhook', 'active', 'set', 'false', NULL),
	('training_b', 'integrations', 'regress_app', 'webhook', 'url', 'set', $$'https://localhost/disabled'$$, NULL),
	('training_b', 'pii', 'regress_app', 'client', 'email', 'set', $$'b' || id || '@invalid'$$, 'id <= 2')
	RETURNING id, environment;

-- the plan of training_a: one TRUNCATE, DELETEs children first, then ONE
-- statement per table for all its mask and set rules, filters in CASE
SELECT * FROM sandbox_plan('training_a');
-- exactly one UPDATE/ALTER statement per table
SELECT split_part(s, ' ', 1) AS verb,
	   substring(s FROM '(?:UPDATE|ALTER TABLE|DELETE FROM|TRUNCATE TABLE) ([a-z_.]+)') AS tbl,
	   count(*)
FROM sandbox_plan('training_a') s GROUP BY 1, 2 ORDER BY 2, 1;
-- the plan of training_b has training_a's rules too, its own first
SELECT * FROM sandbox_plan('training_b');

-- before: every rule is violated somewhere
SELECT rule_id, ok, violations, detail, environment, feature, relation, column_name, action
FROM sandbox_verify('training_b') WHERE rule_id IS NOT NULL ORDER BY rule_id;

-- nothing changed by plan and verify
SELECT count(*), count(*) FILTER (WHERE email LIKE '%@example.com') FROM regress_app.client;

-- sanitize training_b
SELECT regress_sanitize('training_b');

SELECT * FROM regress_app.client ORDER BY id;
SELECT id, client_id, iban, amount FROM regress_app.payment ORDER BY id;
SELECT count(*) AS sessions FROM regress_app.session_log;
SELECT * FROM regress_app.webhook ORDER BY id;

-- after: every rule holds
SELECT rule_id, ok, violations FROM sandbox_verify('training_b') WHERE rule_id IS NOT NULL ORDER BY rule_id;

-- the ledger: one run, one step per statement
SELECT environment, database_name = current_database() AS this_db, who, status,
	   finished_at >= started_at AS finished,
	   regexp_replace(regexp_replace(summary, '^run [0-9]+: (.*) applied in [0-9.]+ s:', 'run N: \1 applied in T s:'),
		'; [0-9]+ checks ok$', '; checks ok') AS summary
FROM sandbox.run WHERE id > :ps_run_base ORDER BY id;
SELECT step, table_schema, table_name, method, rule_ids, rows, duration >= '0'::interval AS timed
FROM sandbox.run_step WHERE run_id > :ps_run_base ORDER BY run_id, step;
SELECT count(*) AS statements_naming_the_rules
FROM sandbox.run_step s JOIN sandbox.run r ON r.id = s.run_id
WHERE r.id > :ps_run_base AND s.statement LIKE '%regress_app.%';

-- a second run of training_a alone: training_b's rules are not applied
UPDATE regress_app.webhook SET active = true;
UPDATE regress_app.client SET email = 'again@example.com' WHERE id = 1;
SELECT regress_sanitize('training_a');
SELECT id, email FROM regress_app.client WHERE id IN (1, 2, 3, 4) ORDER BY id;
SELECT active FROM regress_app.webhook ORDER BY id;

--
-- Identifiers with quotes, spaces and upper case
--
CREATE TABLE regress_app."Client Notes" (id int, "E-Mail" text, "Note ""quoted""" text, "UPPER" int);
INSERT INTO regress_app."Client Notes" VALUES (1, 'a@secret', 'n1', 1), (2, 'b@secret', 'n2', 2);
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression, filter) VALUES
	('mirrored', 'regress_app', 'Client Notes', 'E-Mail', 'set', $$'masked@invalid'$$, NULL),
	('mirrored', 'regress_app', 'Client Notes', 'Note "quoted"', 'set', $$'-'$$, '"UPPER" = 2'),
	('mirrored', 'regress_app', 'Client Notes', NULL, 'delete', NULL, '"UPPER" > 5');
SELECT * FROM sandbox_plan('mirrored');
SELECT regress_sanitize('mirrored');
SELECT * FROM regress_app."Client Notes" ORDER BY id;

--
-- Large objects: delete and truncate rules whose column_name names an
-- oid column unlink the large objects of the removed rows
--
CREATE TABLE regress_app.document (id int, doc oid, scan oid);
CREATE TABLE regress_app.scratch (id int, blob oid);
INSERT INTO regress_app.document
	SELECT g, lo_from_bytea(0, ('doc ' || g)::bytea), lo_from_bytea(0, ('scan ' || g)::bytea)
	FROM generate_series(1, 4) g;
INSERT INTO regress_app.scratch SELECT g, lo_from_bytea(0, 'x'::bytea) FROM generate_series(1, 3) g;
SELECT count(*) AS large_objects FROM pg_largeobject_metadata \gset
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, filter) VALUES
	('migration', 'regress_app', 'document', 'doc', 'delete', 'id > 2'),
	('migration', 'regress_app', 'document', 'scan', 'delete', 'id > 2'),
	('migration', 'regress_app', 'scratch', 'blob', 'truncate', NULL);
SELECT * FROM sandbox_plan('migration');
SELECT regress_sanitize('migration');
SELECT id FROM regress_app.document ORDER BY id;
SELECT count(*) AS scratch_rows FROM regress_app.scratch;
-- 2 rows x 2 large objects + 3 truncated = 7 fewer large objects
SELECT :large_objects - count(*) AS unlinked FROM pg_largeobject_metadata;
SELECT count(*) AS remaining_documents_objects FROM regress_app.document d
WHERE EXISTS (SELECT FROM pg_largeobject_metadata m WHERE m.oid IN (d.doc, d.scan));
-- a delete or truncate rule's column must hold large object ids
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, filter) VALUES
	('migration', 'regress_app', 'document', 'id', 'delete', 'id > 2');
SELECT lo_unlink(doc), lo_unlink(scan) FROM regress_app.document ORDER BY id;
DELETE FROM sandbox.rule WHERE environment = 'migration';

--
-- penelope_sandbox.update_strategy: auto rewrites a table when a rule
-- covers every row and updates it when rules are filtered or use a
-- subquery; the data comes out the same either way
--
CREATE TABLE regress_app.strat (id int PRIMARY KEY, a text, b text, c int);
CREATE TABLE regress_app.ref (id int, code text);
INSERT INTO regress_app.ref VALUES (1, 'R');
CREATE FUNCTION regress_reset_strat() RETURNS void LANGUAGE sql AS $$
	TRUNCATE regress_app.strat;
	INSERT INTO regress_app.strat SELECT g, 'a' || g, 'b' || g, g FROM generate_series(1, 10) g;
$$;
SELECT regress_reset_strat();
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression, filter) VALUES
	('migration', 'regress_app', 'strat', 'a', 'set', $$'A' || id$$, NULL),
	('migration', 'regress_app', 'strat', 'b', 'set', $$'B'$$, 'c > 5')
	RETURNING id;
SHOW penelope_sandbox.update_strategy;
-- auto, one rule covers all rows: rewrite
SELECT * FROM sandbox_plan('migration') WHERE position('strat' IN sandbox_plan) > 0;
SELECT regress_sanitize('migration');
CREATE TABLE regress_strat_rewrite AS SELECT * FROM regress_app.strat;
-- update
SELECT regress_reset_strat();
SET penelope_sandbox.update_strategy = 'update';
SELECT * FROM sandbox_plan('migration') WHERE position('strat' IN sandbox_plan) > 0;
SELECT regress_sanitize('migration');
CREATE TABLE regress_strat_update AS SELECT * FROM regress_app.strat;
-- rewrite even with filtered rules only
SELECT regress_reset_strat();
SET penelope_sandbox.update_strategy = 'rewrite';
UPDATE sandbox.rule SET filter = 'id % 2 = 0' WHERE environment = 'migration' AND column_name = 'a';
SELECT * FROM sandbox_plan('migration') WHERE position('strat' IN sandbox_plan) > 0;
SELECT regress_sanitize('migration');
CREATE TABLE regress_strat_rewrite_f AS SELECT * FROM regress_app.strat;
SELECT regress_reset_strat();
SET penelope_sandbox.update_strategy = 'update';
SELECT regress_sanitize('migration');
CREATE TABLE regress_strat_update_f AS SELECT * FROM regress_app.strat;
RESET penelope_sandbox.update_strategy;
-- auto with filtered rules only: update
SELECT regress_reset_strat();
SELECT * FROM sandbox_plan('migration') WHERE position('strat' IN sandbox_plan) > 0;
-- auto with a subquery: update
UPDATE sandbox.rule SET filter = NULL, expression = $$(SELECT code FROM regress_app.ref WHERE ref.id = 1) || id$$
WHERE environment = 'migration' AND column_name = 'a';
SELECT * FROM sandbox_plan('migration') WHERE position('strat' IN sandbox_plan) > 0;
-- identical results
SELECT (SELECT count(*) FROM (TABLE regress_strat_rewrite EXCEPT TABLE regress_strat_update) d) AS differ,
	   (SELECT count(*) FROM (TABLE regress_strat_update EXCEPT TABLE regress_strat_rewrite) d) AS differ_back,
	   (SELECT count(*) FROM (TABLE regress_strat_rewrite_f EXCEPT TABLE regress_strat_update_f) d) AS differ_f,
	   (SELECT count(*) FROM (TABLE regress_strat_update_f EXCEPT TABLE regress_strat_rewrite_f) d) AS differ_f_back;
SELECT * FROM regress_strat_rewrite ORDER BY id;
SELECT * FROM regress_strat_rewrite_f ORDER BY id;
-- the methods recorded in the ledger
SELECT method, count(*) FROM sandbox.run_step s JOIN sandbox.run r ON r.id = s.run_id
WHERE r.id > :ps_run_base AND r.environment = 'migration' AND s.table_name = 'strat'
GROUP BY method ORDER BY method;
-- an unknown strategy is refused
SET penelope_sandbox.update_strategy = 'sometimes';

-- clean up
DELETE FROM sandbox.rule WHERE id > 100;
DELETE FROM sandbox.run WHERE id > :ps_run_base;
DROP SCHEMA regress_app CASCADE;
DROP TABLE regress_strat_rewrite, regress_strat_update, regress_strat_rewrite_f, regress_strat_update_f;
DROP FUNCTION regress_sanitize(text), regress_reset_strat();
\if :ps_created
DROP EXTENSION penelope_sandbox;
\endif
