-- 32_rewrite_keep_ctids.sql: a rewrite that keeps the rows' ctids, and the
-- indexes on columns no rule changes (src/rewrite.c, TidLayout), inside
-- one transaction: a run rolled back to a savepoint after rows moved, then
-- a run that commits its subtransaction.  test/rewrite_keep_ctids.sh has
-- the crash, VACUUM and hostile-owner cases, which need their own cluster;
-- this file is also what tools/valgrind.sh runs over that code.
BEGIN;
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS penelope_sandbox;
CREATE EXTENSION IF NOT EXISTS pageinspect;
CREATE EXTENSION IF NOT EXISTS amcheck;
SELECT plan(11);

-- ---- fixtures ----
CREATE SCHEMA kt;
CREATE TABLE kt.client (id int PRIMARY KEY, email text, name text, note text, filler text);
ALTER TABLE kt.client ALTER COLUMN note SET STORAGE EXTERNAL;
CREATE INDEX client_email ON kt.client (email);
CREATE INDEX client_name ON kt.client (name) INCLUDE (id);
CREATE INDEX client_lower_name ON kt.client (lower(name)) WHERE id % 2 = 0;
CREATE INDEX client_filler ON kt.client USING hash (filler);
INSERT INTO kt.client SELECT g, 'ORIGSECRET' || g || '@example.com', 'Name' || (g * 7919 % 5000),
	CASE WHEN g % 25 = 0 THEN repeat('kept note ' || g || ' ', 300) END, repeat('f', 100 + g % 7)
	FROM generate_series(1, 5000) g;
INSERT INTO sandbox.environment (name) VALUES ('kt');
-- 5 bytes longer: a few rows of each full block no longer fit in it
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('kt', 'kt', 'client', 'email', 'set', $$'maskedvalue' || id || '@example.invalid'$$);
CREATE TEMP TABLE files AS
	SELECT c.relname, c.relfilenode FROM pg_class c WHERE c.relnamespace = 'kt'::regnamespace;
CREATE TEMP TABLE ctids AS SELECT id, ctid AS old_ctid FROM kt.client;

-- the rows a query returns, as one digest
CREATE FUNCTION pg_temp.digest(query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE result text;
BEGIN
	EXECUTE 'SELECT count(*) || '':'' || md5(string_agg(t::text, '','' ORDER BY t::text)) FROM ('
		|| query || ') t' INTO result;
	RETURN result;
END $$;
-- the same query by sequential scan, index scan and bitmap scan
CREATE FUNCTION pg_temp.scans_agree(query text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE seq text; idx text; bmp text;
BEGIN
	SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_indexonlyscan = off;
	seq := pg_temp.digest(query);
	RESET enable_indexscan; RESET enable_indexonlyscan; SET LOCAL enable_seqscan = off;
	idx := pg_temp.digest(query);
	SET LOCAL enable_indexscan = off; SET LOCAL enable_indexonlyscan = off; SET LOCAL enable_bitmapscan = on;
	bmp := pg_temp.digest(query);
	RESET enable_seqscan; RESET enable_indexscan; RESET enable_indexonlyscan; RESET enable_bitmapscan;
	RETURN seq = idx AND seq = bmp;
END $$;
-- every btree index holding every row (amcheck), the heap sound
CREATE FUNCTION pg_temp.sound() RETURNS boolean LANGUAGE sql AS $$
	SELECT (SELECT count(*) FROM verify_heapam('kt.client')) = 0
	AND (SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		 CROSS JOIN LATERAL bt_index_check(c.oid, true)
		 WHERE i.indrelid = 'kt.client'::regclass AND c.relam = 403) = 4
$$;
CREATE FUNCTION pg_temp.dead_line_pointers() RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*) FROM generate_series(0, (pg_relation_size('kt.client') / 8192 - 1)::int) b,
		heap_page_items(get_raw_page('kt.client', b)) WHERE lp_flags = 3
$$;

-- ---- a run rolled back to a savepoint ----
SAVEPOINT before_run;
SELECT sandbox_sanitize('kt');
SELECT pg_temp.dead_line_pointers() AS moved_in_rollback \gset
ROLLBACK TO SAVEPOINT before_run;
SELECT ok(:moved_in_rollback > 0,
	'the rolled-back run moved rows (and gave the kept indexes entries for them)');
SELECT is((SELECT count(*) FROM kt.client c JOIN ctids USING (id)
		   WHERE c.ctid = old_ctid AND c.email LIKE 'ORIGSECRET%'), 5000::bigint,
	'after the rollback every row is back, at its ctid, unmasked');
SELECT ok(pg_temp.sound() AND pg_temp.scans_agree($$SELECT id FROM kt.client WHERE name BETWEEN 'Name1' AND 'Name3'$$),
	'... and the indexes are sound, with no entry left by the rolled-back run');

-- ---- the run ----
SELECT lives_ok($$SELECT sandbox_sanitize('kt')$$, 'the run succeeds');
SELECT is((SELECT string_agg(f.relname || ':' || CASE WHEN c.relfilenode = f.relfilenode THEN 'same' ELSE 'new' END,
								' ' ORDER BY f.relname)
		   FROM files f JOIN pg_class c ON c.relname = f.relname AND c.relnamespace = 'kt'::regnamespace
		   WHERE c.relkind = 'i'),
	'client_email:new client_filler:new client_lower_name:new client_name:new client_pkey:new',
	'every index has new files: the one on email rebuilt, the others copied (rows moved)');
SELECT ok((SELECT count(*) FROM kt.client c JOIN ctids USING (id) WHERE c.ctid <> old_ctid)
		  = pg_temp.dead_line_pointers()
		  AND pg_temp.dead_line_pointers() BETWEEN 1 AND 500,
	'some rows moved, each leaving one dead line pointer; most kept their ctid');
SELECT is((SELECT count(*) FROM bt_page_items('kt.client_pkey', 1)) > 0
		  AND (SELECT sum(coalesce(array_length(i.tids, 1), 1))
			   FROM generate_series(1, (pg_relation_size('kt.client_pkey') / 8192 - 1)::int) b,
				   LATERAL bt_page_stats('kt.client_pkey', b) s, LATERAL bt_page_items('kt.client_pkey', b) i
			   WHERE s.type = 'l' AND NOT (s.btpo_next <> 0 AND i.itemoffset = 1))
			  = 5000 + pg_temp.dead_line_pointers(),
	true, 'the primary key was kept: an entry for every row, and one more for each row that moved');
SELECT ok(pg_temp.sound(), 'amcheck finds every btree index holding every row, and the heap sound');
SELECT ok(pg_temp.scans_agree($$SELECT id, email FROM kt.client WHERE id BETWEEN 10 AND 4000$$)
	AND pg_temp.scans_agree($$SELECT id, name FROM kt.client WHERE name BETWEEN 'Name1' AND 'Name3'$$)
	AND pg_temp.scans_agree($$SELECT id FROM kt.client WHERE lower(name) BETWEEN 'name2' AND 'name4' AND id % 2 = 0$$)
	AND pg_temp.scans_agree($$SELECT id FROM kt.client WHERE filler = repeat('f', 103)$$),
	'sequential, index and bitmap scans agree, through every kept index (btree, partial expression, hash)');
SELECT is((SELECT count(*) FROM kt.client WHERE email = 'maskedvalue' || id || '@example.invalid'
		   AND note IS NOT DISTINCT FROM CASE WHEN id % 25 = 0 THEN repeat('kept note ' || id || ' ', 300) END),
	5000::bigint, 'every row is masked, its note stored out of line whole');
SELECT is((SELECT count(*) FROM pg_class c,
		   LATERAL generate_series(0, (pg_relation_size(c.oid) / 8192 - 1)::int) b
		   WHERE c.relnamespace = 'kt'::regnamespace AND c.relkind IN ('r', 'i') AND pg_relation_size(c.oid) > 0
			 AND position('ORIGSECRET'::bytea IN get_raw_page(c.oid::regclass::text, b)) > 0), 0::bigint,
	'no block of the table or of any index holds an original');

SELECT * FROM finish();
ROLLBACK;
