-- 30_rewrite.sql: the engine's own rewrite (issue 9) on a schema shaped
-- like a real one: a view and a materialized view over masked columns, an
-- updated_at trigger and an audit trigger, a generated column, CHECK,
-- domain and enum columns, a partitioned table, inheritance, a subquery
-- filter, a filtered-only rule, deletes (one folded into the rewrite, one
-- under a DEFERRABLE INITIALLY DEFERRED foreign key), TOASTed notes,
-- extended statistics and FORCE ROW LEVEL SECURITY.
--
-- Every original value carries the marker ORIGSECRET.  After the run,
-- every block of every table, TOAST table and index the run touched is
-- read with pageinspect: none may hold the marker; nor may pg_stats or
-- pg_stats_ext.
BEGIN;
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS penelope_sandbox;
CREATE EXTENSION IF NOT EXISTS pageinspect;
SELECT plan(47);

-- ---- fixtures ----
CREATE ROLE rw_owner;
CREATE ROLE rw_reader;
CREATE SCHEMA rw AUTHORIZATION rw_owner;
SET LOCAL ROLE rw_owner;

CREATE TYPE rw.status AS ENUM ('active', 'inactive', 'archived');
CREATE DOMAIN rw.email AS text CHECK (VALUE LIKE '%@%');
CREATE TABLE rw.client (
	id bigint PRIMARY KEY,
	email rw.email NOT NULL,
	first_name text,
	last_name varchar(60) NOT NULL CHECK (length(last_name) > 0),
	phone text,
	status rw.status NOT NULL DEFAULT 'active',
	notes text,
	updated_at timestamptz NOT NULL DEFAULT '2020-01-01',
	search text GENERATED ALWAYS AS (lower(last_name)) STORED
);
ALTER TABLE rw.client ALTER COLUMN notes SET STORAGE EXTERNAL;
CREATE INDEX client_email ON rw.client (email);
CREATE INDEX client_last ON rw.client (lower(last_name));
CREATE STATISTICS rw.client_stats (mcv) ON status, last_name FROM rw.client;
COMMENT ON TABLE rw.client IS 'clients';
GRANT SELECT ON rw.client TO rw_reader;
INSERT INTO rw.client (id, email, first_name, last_name, phone, status, notes)
SELECT g, 'origsecret' || g || '@example.com', 'Firstname' || g, 'Origsecret' || (g % 7),
	   '+1 555 0100 ' || g, CASE WHEN g % 3 = 0 THEN 'inactive' ELSE 'active' END::rw.status,
	   CASE WHEN g % 10 = 0 THEN 'ORIGSECRET ' || (SELECT string_agg(md5(g::text || i), ' ') FROM generate_series(1, 120) i) END
FROM generate_series(1, 300) g;

CREATE VIEW rw.client_v AS SELECT id, email, last_name FROM rw.client;
CREATE MATERIALIZED VIEW rw.client_mv AS SELECT id, email FROM rw.client;

CREATE TABLE rw.audit_log (tbl text, old_row text);
CREATE FUNCTION rw.audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO rw.audit_log VALUES (TG_TABLE_NAME, OLD::text); RETURN NULL; END $$;
CREATE FUNCTION rw.touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.updated_at := now(); RETURN NEW; END $$;
CREATE TRIGGER touch BEFORE UPDATE ON rw.client FOR EACH ROW EXECUTE FUNCTION rw.touch();
CREATE TRIGGER audit AFTER UPDATE OR DELETE ON rw.client FOR EACH ROW EXECUTE FUNCTION rw.audit();

-- a partitioned table, referencing clients with Django's default
CREATE TABLE rw.visit (
	id bigint, client_id bigint REFERENCES rw.client DEFERRABLE INITIALLY DEFERRED,
	visit_date date NOT NULL, comment text
) PARTITION BY RANGE (visit_date);
CREATE TABLE rw.visit_2024 PARTITION OF rw.visit FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE rw.visit_2025 PARTITION OF rw.visit FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE INDEX visit_comment ON rw.visit (comment);
CREATE TRIGGER audit AFTER UPDATE OR DELETE ON rw.visit FOR EACH ROW EXECUTE FUNCTION rw.audit();
INSERT INTO rw.visit SELECT g, 1 + g % 280, DATE '2024-06-01' + g, 'ORIGSECRET visit ' || g
FROM generate_series(1, 400) g;

-- a session log nothing references: its delete is folded into the rewrite
CREATE TABLE rw.session (id int, client_id bigint, token text);
INSERT INTO rw.session SELECT g, 1 + g % 280, 'ORIGSECRET-token-' || g FROM generate_series(1, 100) g;

-- inheritance
CREATE TABLE rw.contact (id int, email text);
CREATE TABLE rw.contact_emergency (relation text) INHERITS (rw.contact);
INSERT INTO rw.contact SELECT g, 'origsecret-c' || g || '@example.com' FROM generate_series(1, 20) g;
INSERT INTO rw.contact_emergency SELECT g, 'origsecret-e' || g || '@example.com', 'parent' FROM generate_series(1, 20) g;

-- FORCE ROW LEVEL SECURITY: the owner sees none of these rows
CREATE TABLE rw.private_note (id int, author text, body text);
INSERT INTO rw.private_note SELECT g, 'someone', 'ORIGSECRET note ' || g FROM generate_series(1, 30) g;
ALTER TABLE rw.private_note ENABLE ROW LEVEL SECURITY;
ALTER TABLE rw.private_note FORCE ROW LEVEL SECURITY;
CREATE POLICY own ON rw.private_note USING (author = current_user);
RESET ROLE;

ANALYZE rw.client, rw.visit, rw.session, rw.contact, rw.contact_emergency, rw.private_note, rw.client_mv;
CREATE TEMP TABLE before AS
	SELECT c.relname, c.oid, c.relfilenode FROM pg_class c WHERE c.relnamespace = 'rw'::regnamespace;

INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression, filter) VALUES
	('migration', 'rw', 'client', 'email', 'mask', 'sandbox.mask_email(email)', NULL),
	('migration', 'rw', 'client', 'last_name', 'mask', 'sandbox.mask_last_name(last_name)', NULL),
	('migration', 'rw', 'client', 'notes', 'mask', 'sandbox.mask_text(notes)', NULL),
	('migration', 'rw', 'client', 'first_name', 'set', $$'Kept'$$, $$status = 'inactive'$$),
	('migration', 'rw', 'client', 'phone', 'set', 'NULL', 'id IN (SELECT v.client_id FROM rw.visit v)'),
	('migration', 'rw', 'client', 'status', 'set', $$'archived'$$, 'id > 280'),
	('migration', 'rw', 'client', NULL, 'delete', NULL, 'id > 290'),
	('migration', 'rw', 'visit', 'comment', 'set', $$'visit ' || id$$, NULL),
	('migration', 'rw', 'visit', NULL, 'delete', NULL, 'client_id > 290'),
	('migration', 'rw', 'session', 'token', 'set', $$'token-' || id$$, NULL),
	('migration', 'rw', 'session', NULL, 'delete', NULL, 'id % 2 = 0'),
	('migration', 'rw', 'contact', 'email', 'mask', 'sandbox.mask_email(email)', NULL),
	('migration', 'rw', 'private_note', 'body', 'set', $$'note ' || id$$, NULL);

CREATE FUNCTION pg_temp.pages_with(rel regclass, marker text) RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*) FROM generate_series(0, (pg_relation_size(rel) / current_setting('block_size')::int - 1)::int) AS b
	WHERE position(convert_to(marker, 'UTF8') IN get_raw_page(rel::text, b)) > 0
$$;
SELECT ok((SELECT sum(pg_temp.pages_with(c.oid::regclass, 'origsecret')) FROM pg_class c
		   WHERE c.relnamespace = 'rw'::regnamespace AND c.relkind IN ('r', 'i', 'm')) > 0,
	'before the run, pageinspect finds originals in the pages');

-- ---- the plan ----
SELECT ok((SELECT bool_and(s ~ '^(SELECT ctid|DELETE FROM rw\.client |DELETE FROM rw\.visit )')
		   FROM sandbox_plan('migration') s WHERE s ~ ' rw\.'),
	'plan: every table is rewritten; only deletes under a foreign key run as DELETE');
SELECT is((SELECT count(*)::int FROM sandbox_plan('migration') s WHERE s ~ 'FROM ONLY rw\.(visit_2024|visit_2025)[ ;]'), 2,
	'plan: each partition is rewritten');
SELECT is((SELECT count(*)::int FROM sandbox_plan('migration') s WHERE s ~ 'FROM ONLY rw\.(contact|contact_emergency)[ ;]'), 2,
	'plan: an inheritance child is rewritten with its parent''s rules');
SELECT ok((SELECT s FROM sandbox_plan('migration') s WHERE s ~ 'FROM ONLY rw\.client[ ;]')
		  ~ 'triggers not fired: audit, touch$',
	'plan: the triggers a rewrite does not fire are listed');
SELECT ok((SELECT s FROM sandbox_plan('migration') s WHERE s ~ 'FROM ONLY rw\.session[ ;]')
		  ~ 'WHERE NOT COALESCE\(\(+id % 2\)? = 0\)+, false\)',
	'plan: a delete nothing references is folded into the rewrite');

-- ---- the run ----
SELECT lives_ok($$SELECT sandbox_sanitize('migration')$$, 'sanitize the realistic schema');
SELECT is((SELECT count(*)::int FROM sandbox_verify('migration') WHERE NOT ok), 0, 'verify: every check holds');
SELECT ok((SELECT count(*) FROM sandbox_verify('migration') WHERE detail LIKE 'no dead row version in rw.%') >= 7,
	'verify: the residue check covers the rewritten tables');

-- the tables keep their identity, dependent objects, grants and comments
SELECT is((SELECT count(*)::int FROM before b JOIN pg_class c ON c.oid = b.oid AND c.relname = b.relname
		   WHERE b.relname IN ('client', 'visit_2024', 'session', 'contact', 'private_note')), 5,
	'the rewritten tables keep their OIDs');
SELECT is((SELECT count(*)::int FROM before b JOIN pg_class c ON c.oid = b.oid
		   WHERE b.relname IN ('client', 'visit_2024', 'visit_2025', 'session', 'contact', 'contact_emergency', 'private_note')
		   AND c.relfilenode <> b.relfilenode), 7,
	'... and have new files');
SELECT is((SELECT count(*)::int FROM rw.client_v), 290, 'the view over masked columns still works');
SELECT ok(has_table_privilege('rw_reader', 'rw.client', 'SELECT'), 'grants are kept');
SELECT is(obj_description('rw.client'::regclass, 'pg_class'), 'clients', 'comments are kept');
SELECT is((SELECT count(*)::int FROM pg_trigger WHERE tgrelid = 'rw.client'::regclass AND NOT tgisinternal AND tgenabled = 'O'), 2,
	'the triggers are still there and enabled');
SELECT ok((SELECT relforcerowsecurity FROM pg_class WHERE oid = 'rw.private_note'::regclass),
	'FORCE ROW LEVEL SECURITY is on again');

-- what the rules did
SELECT is((SELECT count(*)::int FROM rw.audit_log), 0, 'no user trigger fired: the audit log copied nothing');
SELECT is((SELECT count(*)::int FROM rw.client WHERE updated_at <> '2020-01-01'), 0, 'the updated_at trigger did not fire');
SELECT is((SELECT count(*)::int FROM rw.client WHERE search IS DISTINCT FROM lower(last_name)), 0,
	'the stored generated column is recomputed');
SELECT is((SELECT count(*)::int FROM rw.client WHERE NOT sandbox.is_masked_email(email)), 0, 'every email is masked');
SELECT is((SELECT count(*)::int FROM rw.client WHERE first_name = 'Kept'), 96,
	'the filtered-only rule changed the rows its filter matches');
SELECT is((SELECT count(*)::int FROM rw.client WHERE first_name <> 'Kept' AND status = 'inactive'), 0,
	'... and no other');
SELECT is((SELECT count(*)::int FROM rw.client c WHERE phone IS NOT NULL
		   AND EXISTS (SELECT FROM rw.visit v WHERE v.client_id = c.id)), 0, 'the subquery filter applied');
SELECT is((SELECT count(*)::int FROM rw.client WHERE status = 'archived'), 10, 'the enum column is set');
SELECT is((SELECT count(*)::int FROM rw.client), 290, 'the delete under a deferred foreign key removed its rows');
SELECT is((SELECT count(*)::int FROM rw.session), 50, 'the folded delete removed its rows');
SELECT is((SELECT count(*)::int FROM rw.private_note WHERE body LIKE 'ORIGSECRET%'), 0,
	'rows that FORCE ROW LEVEL SECURITY hides from the owner are masked too');
SELECT is((SELECT count(*)::int FROM rw.contact_emergency WHERE NOT sandbox.is_masked_email(email)), 0,
	'the inheritance child is masked');
SELECT is((SELECT count(*)::int FROM rw.client_mv WHERE email LIKE 'origsecret%'), 0, 'the materialized view is refreshed');

-- ---- no original anywhere ----
CREATE TEMP TABLE touched AS
	SELECT c.oid::regclass AS rel FROM pg_class c
	WHERE c.relnamespace = 'rw'::regnamespace AND c.relkind IN ('r', 'm', 'i')
	UNION ALL
	SELECT t.oid::regclass FROM pg_class c JOIN pg_class t ON t.oid = c.reltoastrelid
	WHERE c.relnamespace = 'rw'::regnamespace
	UNION ALL
	SELECT i.indexrelid::regclass FROM pg_class c JOIN pg_index i ON i.indrelid = c.reltoastrelid
	WHERE c.relnamespace = 'rw'::regnamespace;
SELECT ok((SELECT count(*) FROM touched) >= 25, 'tables, partitions, children, TOAST tables and indexes are all scanned');
SELECT ok((SELECT sum(pg_relation_size(rel)) FROM touched WHERE rel::text LIKE 'pg_toast.%') > 0,
	'the notes were stored out of line');
SELECT is((SELECT string_agg(rel::text || ': ' || n, ', ') FROM (SELECT rel, pg_temp.pages_with(rel, 'ORIGSECRET') + pg_temp.pages_with(rel, 'origsecret') AS n
		   FROM touched) p WHERE n > 0), NULL,
	'no block of any touched table, TOAST table or index holds an original');
SELECT is((SELECT count(*)::int FROM pg_stats WHERE schemaname = 'rw'
		   AND (most_common_vals::text ILIKE '%origsecret%' OR histogram_bounds::text ILIKE '%origsecret%')), 0,
	'pg_stats shows no original');
SELECT is((SELECT count(*)::int FROM pg_stats_ext WHERE schemaname = 'rw'
		   AND most_common_vals::text ILIKE '%origsecret%'), 0,
	'pg_stats_ext shows no original');
SELECT ok((SELECT count(*) FROM pg_stats WHERE schemaname = 'rw' AND tablename = 'client' AND attname = 'email') = 1,
	'the rewritten tables are analyzed again');

-- ---- refusals and failures ----
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('migration', 'rw', 'client', 'last_name', 'set', $$''$$);
UPDATE sandbox.rule SET enabled = false WHERE table_name = 'client' AND column_name = 'last_name' AND action = 'mask';
SELECT throws_like($$SELECT sandbox_sanitize('migration')$$, 'rule% failed% on table rw.client',
	'a CHECK constraint is checked on the new rows, and names the rule');
DELETE FROM sandbox.rule WHERE table_name = 'client' AND column_name = 'last_name' AND action = 'set';
UPDATE sandbox.rule SET enabled = true WHERE table_name = 'client';
SELECT throws_like($q$INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('migration', 'rw', 'visit_2024', 'comment', 'set', $$'other'$$)$q$,
	'%writes column comment of rw.visit_2024, which rule % on rw.visit writes too%',
	'a rule on a partition and one on its parent for the same column are refused when written');

-- a masked key referenced ON UPDATE CASCADE: both sides masked alike, or refused
CREATE TABLE rw.account (code text PRIMARY KEY, label text);
CREATE TABLE rw.account_note (id int, account_code text REFERENCES rw.account ON UPDATE CASCADE, body text);
ALTER TABLE rw.account OWNER TO rw_owner;
ALTER TABLE rw.account_note OWNER TO rw_owner;
INSERT INTO rw.account SELECT 'ACC-' || g, 'l' FROM generate_series(1, 20) g;
INSERT INTO rw.account_note SELECT g, 'ACC-' || (1 + g % 20), 'b' FROM generate_series(1, 40) g;
SELECT throws_like($$INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('migration', 'rw', 'account', 'code', 'mask', 'sandbox.mask_id(code)')$$,
	'%the rules change the key of rw.account that foreign key account_note_account_code_fkey of rw.account_note references, and no rule changes the referencing columns',
	'a masked key whose referencing column no rule masks is refused when written, with the reason');
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('migration', 'rw', 'account_note', 'account_code', 'set', $$'ACC-0'$$);
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('migration', 'rw', 'account', 'code', 'mask', 'sandbox.mask_id(code)');
SELECT throws_like($$SELECT sandbox_sanitize('migration')$$,
	'foreign key account_note_account_code_fkey of rw.account_note does not hold after the rules: 40 rows%',
	'a foreign key the rules break is found after the rewrite');
UPDATE sandbox.rule SET action = 'mask', expression = 'sandbox.mask_id(account_code)'
	WHERE table_name = 'account_note';
SELECT lives_ok($$SELECT sandbox_sanitize('migration')$$,
	'a masked key and its referencing column masked by the same deterministic function');
SELECT is((SELECT count(*)::int FROM rw.account_note n JOIN rw.account a ON a.code = n.account_code
		   WHERE a.code NOT LIKE 'ACC-%'), 40, 'every referencing row still finds its masked key');

-- 200 filtered rules on one column: verification stays linear
CREATE TABLE rw.many (id int, v text);
ALTER TABLE rw.many OWNER TO rw_owner;
INSERT INTO rw.many SELECT g, 'ORIGSECRET' FROM generate_series(1, 2000) g;
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression, filter)
	SELECT 'migration', 'rw', 'many', 'v', 'set', format($$'r%s'$$, k), format('id %% 200 = %s', k)
	FROM generate_series(0, 199) k;
SET LOCAL statement_timeout = '60s';
SELECT lives_ok($$SELECT sandbox_sanitize('migration')$$, 'a run with 200 filtered rules on one column');
SELECT is((SELECT count(*)::int FROM sandbox_verify('migration') WHERE relation = 'rw.many' AND ok), 200,
	'each of the 200 rules verifies');
RESET statement_timeout;

-- a mask rule whose recogniser the rewrite applies to the values it writes
-- (the run's verification is folded into the rewrite): a value the
-- recogniser rejects still fails the run, counted exactly
CREATE FUNCTION rw.mask_len(text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'm' || length($1) $$;
CREATE FUNCTION rw.is_masked_len(text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT $1 <> 'm3' $$;
INSERT INTO sandbox.masking_function (masker, recogniser) VALUES ('rw.mask_len(text)', 'rw.is_masked_len(text)');
CREATE TABLE rw.lengths (id int, v text);
ALTER TABLE rw.lengths OWNER TO rw_owner;
INSERT INTO rw.lengths SELECT g, repeat('x', g % 4) FROM generate_series(1, 10) g;
INSERT INTO rw.lengths VALUES (11, NULL);
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('migration', 'rw', 'lengths', 'v', 'mask', 'rw.mask_len(v)');
CREATE FUNCTION pg_temp.run_detail() RETURNS text LANGUAGE plpgsql AS $$
DECLARE d text;
BEGIN
	PERFORM sandbox_sanitize('migration');
	RETURN 'no error';
EXCEPTION WHEN check_violation THEN
	GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
	RETURN d;
END $$;
SELECT matches(pg_temp.run_detail(),
	'on table rw\.lengths: 2 rows do not hold \(v holds values recognised by rw\.is_masked_len \(checked by the rewrite\)\)',
	'a value the recogniser rejects fails the run, counted by the rewrite that wrote it');
CREATE OR REPLACE FUNCTION rw.is_masked_len(text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT true $$;
SELECT lives_ok($$SELECT sandbox_sanitize('migration')$$,
	'and the run succeeds when the recogniser accepts every value written');

-- the residue check of sandbox_verify finds a row version changed since
-- the run, whether or not the scan saw as many rows as the pages hold
-- (measured inside a savepoint, asserted after it: pgTAP records each result
-- in a table that a rollback to the savepoint would empty)
SAVEPOINT residue;
UPDATE rw.client SET first_name = first_name WHERE id = (SELECT min(id) FROM rw.client);
SELECT coalesce((SELECT violations::int FROM sandbox_verify('migration')
	WHERE detail = 'no dead row version in rw.client'), -1) AS residue_after_update \gset
DELETE FROM rw.session WHERE id = (SELECT min(id) FROM rw.session);
SELECT coalesce((SELECT violations::int FROM sandbox_verify('migration')
	WHERE detail = 'no dead row version in rw.session'), -1) AS residue_after_delete \gset
ROLLBACK TO SAVEPOINT residue;
SELECT is(:residue_after_update, 1, 'verify: an updated row leaves a dead row version, found');
SELECT is(:residue_after_delete, 1, 'verify: a deleted row leaves a dead row version, found');

SELECT * FROM finish();
ROLLBACK;
