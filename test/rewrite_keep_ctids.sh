#!/usr/bin/env bash
# test/rewrite_keep_ctids.sh: an in-place rewrite that keeps the rows'
# ctids, and with them the indexes on columns no rule changes (issue 9,
# speed; src/rewrite.c, TidLayout and CtidWriter).
#
# Each new row is written at the ctid of the row it replaces; a row that no
# longer fits in its block moves after the last one, its old line pointer
# left dead.  If the old heap held nothing but its rows (no dead version,
# no HOT chain), the kept indexes get an entry for each row that moved and
# only the indexes holding a changed column are rebuilt.  kc has values
# stored out of line, so its rows go through a spool; the other tables'
# rows are written into the new files during the pass.  Checked here:
#  - which indexes kept their files, which were rebuilt; rows kept their
#    ctids and some moved; the blocks moved rows fill keep the room of the
#    table's fillfactor;
#  - amcheck: every row in every index (heapallindexed), the heap sound;
#    an index scan of each kept index returns what a sequential scan does;
#  - no block of the heap, its TOAST table or any index holds an original;
#    every row's ctid field names its own place;
#  - a rollback leaves the table as it was, and no file behind; a crash
#    after the commit replays it; VACUUM afterwards clears the dead line
#    pointers;
#  - a table with dead row versions or HOT chains, whose rewrite deletes
#    rows, or whose rows the pass returns out of ctid order (a caller's
#    planner settings), rebuilds every index instead.
# Run by tools/test.sh after the main cluster stopped: starts its own.
source "$(dirname "$0")/../tools/testlib.sh"

cluster_start "shared_preload_libraries = 'penelope_sandbox'" "penelope_sandbox.server_role = 'sandbox'"

q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$@"; }

createdb kc
q kc <<'SQL'
CREATE EXTENSION penelope_sandbox;
CREATE EXTENSION pageinspect;
CREATE EXTENSION amcheck;
CREATE TABLE public.kc (id int PRIMARY KEY, email text, name text, note text);
ALTER TABLE public.kc ALTER COLUMN note SET STORAGE EXTERNAL;
CREATE INDEX kc_email ON public.kc (email);
CREATE INDEX kc_lower_email ON public.kc (lower(email));
CREATE INDEX kc_name ON public.kc (name);
CREATE INDEX kc_lower_name_even ON public.kc (lower(name)) WHERE id % 2 = 0;
-- every tenth row has a note stored out of line; emails of uneven length
INSERT INTO public.kc SELECT g, 'origsecret' || repeat('x', g % 7) || g || '@example.com',
	'Name' || (g * 7919 % 20000), CASE WHEN g % 10 = 0 THEN repeat('keptnote ' || g || ' ', 300) END
	FROM generate_series(1, 20000) g;
-- shorter values: every row fits where it was
CREATE TABLE public.kf (id int PRIMARY KEY, email text);
CREATE INDEX kf_email ON public.kf (email);
INSERT INTO public.kf SELECT g, 'origsecret' || g || '@example.com' FROM generate_series(1, 20000) g;
-- the same, with dead row versions
CREATE TABLE public.kd (id int PRIMARY KEY, email text, name text);
CREATE INDEX kd_email ON public.kd (email);
INSERT INTO public.kd SELECT g, 'origsecret' || g || '@example.com', 'Name' || g FROM generate_series(1, 20000) g;
UPDATE public.kd SET email = 'origsecret-updated' || id || '@example.com' WHERE id % 100 = 0;
-- the same, and the run deletes some rows
CREATE TABLE public.ke (id int PRIMARY KEY, email text);
INSERT INTO public.ke SELECT g, 'origsecret' || g || '@example.com' FROM generate_series(1, 20000) g;
-- HOT chains: updates of a column no index holds, with room in each block
CREATE TABLE public.kt (id int PRIMARY KEY, email text, visits int) WITH (fillfactor = 70);
INSERT INTO public.kt SELECT g, 'origsecret' || g || '@example.com', 0 FROM generate_series(1, 5000) g;
-- ids in no order of the rows, and an index on the pass's filter (see
-- below) and the id: a scan of that index returns the rows out of ctid order
CREATE TABLE public.ko (id int PRIMARY KEY, email text);
INSERT INTO public.ko SELECT g, 'origsecret' || g || '@example.com' FROM generate_series(1, 5000) g
	ORDER BY (g * 7919) % 5003;
CREATE INDEX ko_deleted ON public.ko ((COALESCE(id > 4900, false)), id);
-- an empty TOAST table, and new values too long for a block
CREATE TABLE public.kl (id int PRIMARY KEY, note text);
ALTER TABLE public.kl ALTER COLUMN note SET STORAGE EXTERNAL;
INSERT INTO public.kl SELECT g, 'origsecret note ' || g FROM generate_series(1, 3000) g;
-- fillfactor 50, and new values six times as long: the rows that move
-- leave the same room in the blocks they move to
CREATE TABLE public.kw (id int PRIMARY KEY, email text) WITH (fillfactor = 50);
INSERT INTO public.kw SELECT g, 'origsecret' || g || '@example.com' FROM generate_series(1, 5000) g;
VACUUM (FREEZE) public.kc, public.ke, public.kf, public.kt, public.ko, public.kl, public.kw;
UPDATE public.kt SET visits = visits + 1 WHERE id % 3 = 0;
INSERT INTO sandbox.environment (name) VALUES ('kc'), ('ko');
INSERT INTO sandbox.rule (environment, table_name, column_name, action, expression, filter) VALUES
	-- 3 bytes longer than the originals: some rows no longer fit in their block
	('kc', 'kc', 'email', 'set', $$'maskedval' || repeat('y', id % 7) || id || '@example.invalid'$$, NULL),
	('kc', 'kf', 'email', 'set', $$'m' || id || '@x.invalid'$$, NULL),
	('kc', 'kd', 'email', 'mask', 'sandbox.mask_email(email)', NULL),
	('kc', 'ke', 'email', 'mask', 'sandbox.mask_email(email)', NULL),
	('kc', 'ke', NULL, 'delete', NULL, 'id % 50 = 0'),
	('kc', 'kt', 'email', 'mask', 'sandbox.mask_email(email)', NULL),
	('kc', 'kw', 'email', 'set', $$repeat('w', 150) || id || '@example.invalid'$$, NULL),
	('ko', 'kl', 'note', 'set', $$repeat('long note ' || id || ' ', 400)$$, NULL),
	('ko', 'ko', 'email', 'set', $$'maskedval' || id || '@example.invalid'$$, NULL),
	('ko', 'ko', NULL, 'delete', NULL, 'id > 4900');
-- the entries of a btree index, posting lists counted whole
CREATE FUNCTION public.index_entries(idx regclass) RETURNS bigint LANGUAGE sql AS $$
	SELECT sum(coalesce(array_length(i.tids, 1), 1))
	FROM generate_series(1, (pg_relation_size(idx) / 8192 - 1)::int) b,
		LATERAL bt_page_stats(idx::text, b) s, LATERAL bt_page_items(idx::text, b) i
	WHERE s.type = 'l' AND NOT (s.btpo_next <> 0 AND i.itemoffset = 1)
$$;
-- a digest of what a scan returns, to compare an index scan with a sequential one
CREATE FUNCTION public.digest(query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE result text;
BEGIN
	EXECUTE 'SELECT count(*) || '':'' || md5(string_agg(t::text, '','' ORDER BY t::text)) FROM (' || query || ') t' INTO result;
	RETURN result;
END $$;
CREATE TABLE public.before_run AS
	SELECT c.oid::regclass AS rel, c.relfilenode FROM pg_class c
	WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'i');
CREATE TABLE public.ctid_before AS SELECT id, ctid AS old_ctid FROM public.kc;
CREATE TABLE public.kt_ctid_before AS SELECT id, ctid AS old_ctid FROM public.kt;
CREATE TABLE public.kw_blocks_before AS SELECT pg_relation_size('public.kw') / 8192 AS blocks;
-- files of the database that no relation has (left by a rollback, say)
CREATE FUNCTION public.orphan_files() RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*) FROM pg_ls_dir('base/' || (SELECT oid FROM pg_database WHERE datname = current_database())) f
	WHERE f ~ '^[0-9]+$' AND f::oid NOT IN (SELECT pg_relation_filenode(oid) FROM pg_class WHERE pg_relation_filenode(oid) IS NOT NULL)
$$;
SQL
q kc -f "$(dirname "$0")/storage_checks.sql"

blocks=$(q kc -c "SELECT pg_relation_size('public.kc') / 8192")
is "$([ "$blocks" -gt 128 ] && echo yes)" "yes" "kc is larger than the small tables rewritten in place ($blocks blocks)"
is "$(q kc -c "SELECT public.pages_with('public.kc', 'origsecret') > 0")" "t" "before the run, kc's heap holds originals"

# ---- a rollback leaves everything as it was ----
q kc -c "BEGIN; SELECT sandbox_sanitize('kc'); ROLLBACK;" >/dev/null 2>&1
is "$(q kc -c "SELECT count(*) FROM public.kc WHERE email LIKE 'origsecret%'")|$(q kc -c "SELECT public.sound('public.kc')")" \
	"20000|6 indexes checked, 0 heap problems" "a run rolled back leaves kc's rows and indexes as they were"
is "$(q kc -c "SELECT count(*) FROM public.kc k JOIN public.ctid_before b USING (id) WHERE k.ctid = b.old_ctid")" "20000" \
	"... at their ctids"
is "$(q kc -c "CHECKPOINT" -c "SELECT public.orphan_files()")" "0" \
	"... and leaves no file behind: the new files it wrote while reading the old ones are gone"

out=$(q kc -c "SELECT sandbox_sanitize('kc')" 2>&1)
is "$?" "0" "the run succeeds"

# ---- which indexes were kept ----
is "$(q kc -c "SELECT string_agg(b.rel::text || ':' || CASE WHEN c.relfilenode = b.relfilenode THEN 'kept' ELSE 'new' END, ' ' ORDER BY b.rel::text)
	FROM public.before_run b JOIN pg_class c ON c.oid = b.rel WHERE b.rel::text ~ '^k[def]'")" \
	"kd:new kd_email:new kd_pkey:new ke:new ke_pkey:new kf:new kf_email:new kf_pkey:kept" \
	"kf (every row where it was) kept its primary key's files; kd (dead row versions) and ke (rows deleted by the run) had every index rebuilt"
is "$(q kc -c "SELECT string_agg(b.rel::text || ':' || CASE WHEN c.relfilenode = b.relfilenode THEN 'kept' ELSE 'new' END, ' ' ORDER BY b.rel::text)
	FROM public.before_run b JOIN pg_class c ON c.oid = b.rel WHERE b.rel::text ~ '^kt'")|$(q kc -c "SELECT count(*) FROM public.kt k JOIN public.kt_ctid_before b USING (id) WHERE k.ctid = b.old_ctid")" \
	"kt:new kt_pkey:new|5000" "kt (HOT chains) had every index rebuilt, each row written where its live version was"
moved=$(q kc -c "SELECT count(*) FROM public.kc k JOIN public.ctid_before b USING (id) WHERE k.ctid <> b.old_ctid")
kept=$(q kc -c "SELECT count(*) FROM public.kc k JOIN public.ctid_before b USING (id) WHERE k.ctid = b.old_ctid")
is "$([ "$moved" -gt 0 ] && [ "$kept" -gt $((moved * 9)) ] && echo yes)" "yes" \
	"most rows of kc kept their ctid ($kept), some moved ($moved)"
is "$(q kc -c "SELECT count(*) FROM generate_series(0, (pg_relation_size('public.kc') / 8192 - 1)::int) b,
	heap_page_items(get_raw_page('public.kc', b)) WHERE lp_flags = 3")" "$moved" \
	"each row that moved left a dead line pointer, and nothing else did"
is "$(q kc -c "SELECT string_agg(i::text || ':' || public.index_entries(i), ' ' ORDER BY i::text)
	FROM unnest('{kc_email,kc_lower_email,kc_lower_name_even,kc_name,kc_pkey}'::regclass[]) i")" \
	"kc_email:20000 kc_lower_email:20000 kc_lower_name_even:$((10000 + $(q kc -c "SELECT count(*) FROM public.kc k JOIN public.ctid_before b USING (id) WHERE k.ctid <> b.old_ctid AND id % 2 = 0"))) kc_name:$((20000 + moved)) kc_pkey:$((20000 + moved))" \
	"kc's indexes on email were rebuilt; those on id and name (a partial and an expression index too) were kept, with an entry more for each row that moved"

# the blocks kw's moved rows went to, the last one aside: the room its fillfactor keeps
is "$(q kc -c "SELECT count(*) > 0 AND min(h.upper - h.lower) >= 4096 - 4
	FROM generate_series((SELECT blocks FROM public.kw_blocks_before)::int, (pg_relation_size('public.kw') / 8192 - 2)::int) b,
		LATERAL page_header(get_raw_page('public.kw', b)) h")" "t" \
	"the blocks that kw's moved rows fill keep the room of its fillfactor (50)"

# ---- what the pages and indexes hold ----
# ---- rows out of ctid order: the pass scans an index of the owner's ----
q kc -c "CREATE TABLE public.ko_before AS SELECT c.oid::regclass AS rel, c.relfilenode FROM pg_class c WHERE c.relname ~ '^ko'"
plan=$(q kc -c "SET enable_seqscan = off" -c "SET enable_bitmapscan = off" -c "SELECT p FROM sandbox_plan('ko') AS p WHERE p LIKE '%FROM ONLY public.ko %'")
is "$(q kc -c "SET enable_seqscan = off" -c "SET enable_bitmapscan = off" -c "EXPLAIN (COSTS OFF) ${plan%%;*}" | head -1)" \
	"Index Scan using ko_deleted on ko" "with a caller's planner settings, the pass over ko scans the index on its filter"
is "$(q kc -c "SET enable_seqscan = off" -c "SET enable_bitmapscan = off" -c "SELECT sandbox_sanitize('ko') IS NOT NULL")" "t" \
	"a run under these settings succeeds"
is "$(q kc -c "SELECT string_agg(b.rel::text || ':' || CASE WHEN c.relfilenode = b.relfilenode THEN 'kept' ELSE 'new' END, ' ' ORDER BY b.rel::text)
	FROM public.ko_before b JOIN pg_class c ON c.oid = b.rel")|$(q kc -c "SELECT count(*) FROM public.ko WHERE email = 'maskedval' || id || '@example.invalid'")" \
	"ko:new ko_deleted:new ko_pkey:new|4900" "ko, its rows out of ctid order, had every index rebuilt, and holds every row it keeps, masked"

is "$(q kc -c "SELECT count(*) FROM public.kl WHERE note = repeat('long note ' || id || ' ', 400)")|$(q kc -c "SELECT pg_relation_size(reltoastrelid) > 0 FROM pg_class WHERE oid = 'public.kl'::regclass")|$(q kc -c "SELECT c.relfilenode = b.relfilenode FROM public.before_run b JOIN pg_class c ON c.oid = b.rel WHERE b.rel = 'public.kl_pkey'::regclass")" \
	"3000|t|t" "kl's new notes, too long for a block, went to its TOAST table, empty before, and its primary key was kept"

for t in kc kd ke kf kt ko kl; do
	is "$(q kc -c "SELECT coalesce(string_agg(r::text, ' '), 'none') FROM public.storage_of('public.$t') r
		WHERE public.pages_with(r, 'origsecret') > 0")" "none" \
		"no block of $t's heap, TOAST table or indexes holds an original"
	is "$(q kc -c "SELECT count(*) FROM generate_series(0, (pg_relation_size('public.$t') / 8192 - 1)::int) b,
		heap_page_items(get_raw_page('public.$t', b)) WHERE lp_flags = 1 AND t_ctid <> format('(%s,%s)', b, lp)::tid")" "0" \
		"every row of $t names its own place in its ctid field"
	is "$(q kc -c "SELECT public.sound('public.$t')")" \
		"$(q kc -c "SELECT count(*) FROM public.storage_of('public.$t') r JOIN pg_class c ON c.oid = r WHERE c.relkind = 'i'") indexes checked, 0 heap problems" \
		"amcheck finds every index of $t holding every row, and its heap sound"
done
is "$(q kc -c "SELECT count(*) FROM public.kc WHERE email = 'maskedval' || repeat('y', id % 7) || id || '@example.invalid'
	AND name = 'Name' || (id * 7919 % 20000) AND note IS NOT DISTINCT FROM CASE WHEN id % 10 = 0 THEN repeat('keptnote ' || id || ' ', 300) END")" \
	"20000" "every row of kc is masked, its other columns whole (notes stored out of line too)"
is "$(q kc -c "SELECT count(*) FROM public.ke")" "19600" "ke lost the rows its delete rule selects"
for query in "SELECT id, email FROM public.kc WHERE id BETWEEN 100 AND 9000" \
	"SELECT id, name FROM public.kc WHERE name BETWEEN 'Name1' AND 'Name5'" \
	"SELECT id FROM public.kc WHERE lower(name) BETWEEN 'name2' AND 'name7' AND id % 2 = 0"; do
	seq=$(q kc -c "SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off; SELECT public.digest(\$\$$query\$\$)")
	idx=$(q kc -c "SET enable_seqscan = off; SET enable_bitmapscan = off; SELECT public.digest(\$\$$query\$\$)")
	bmp=$(q kc -c "SET enable_seqscan = off; SET enable_indexscan = off; SELECT public.digest(\$\$$query\$\$)")
	is "$idx|$bmp" "$seq|$seq" "index and bitmap scans of a kept index return what a sequential scan does: ${query#SELECT }"
done
is "$(q kc -c "SELECT count(*) FROM sandbox_verify('kc') WHERE NOT ok")" "0" "sandbox_verify passes"

# ---- a crash after the commit: the new files and the kept indexes hold ----
cluster_restart -m immediate
is "$(q kc -c "SELECT count(*) FROM public.kc WHERE email LIKE 'maskedval%'")|$(q kc -c "SELECT public.sound('public.kc')")" \
	"20000|6 indexes checked, 0 heap problems" "after a crash and recovery, kc holds its masked rows, sound, in every index"
for t in kd kf kt ko kl; do
	is "$(q kc -c "SELECT public.sound('public.$t')")" \
		"$(q kc -c "SELECT count(*) FROM public.storage_of('public.$t') r JOIN pg_class c ON c.oid = r WHERE c.relkind = 'i'") indexes checked, 0 heap problems" \
		"after a crash and recovery, $t is sound in every index"
done

# ---- a hostile owner's index expression, run for the rows that move ----
createuser regress_app
q kc <<'SQL'
CREATE SCHEMA app AUTHORIZATION regress_app;
SET ROLE regress_app;
CREATE TABLE app.seen (who name, escalated boolean);
CREATE TABLE app.kh (id int PRIMARY KEY, email text, name text, filler text);
INSERT INTO app.kh SELECT g, 'origsecret' || g || '@example.com', 'Name' || g, repeat('f', 150)
	FROM generate_series(1, 3000) g;
CREATE FUNCTION app.spy(text) RETURNS text LANGUAGE sql IMMUTABLE AS 'SELECT $1';
CREATE INDEX kh_spy ON app.kh (app.spy(name));
-- immutable for CREATE INDEX, then replaced: it writes, and tries to escalate
CREATE OR REPLACE FUNCTION app.spy(text) RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE escalated boolean := true;
BEGIN
	BEGIN
		EXECUTE 'ALTER ROLE regress_app SUPERUSER';
	EXCEPTION WHEN others THEN escalated := false;
	END;
	PERFORM pg_catalog.set_config('work_mem', '1234kB', false);
	INSERT INTO app.seen VALUES (current_user, escalated);
	RETURN $1;
END $$;
RESET ROLE;
TRUNCATE app.seen;
INSERT INTO sandbox.environment (name) VALUES ('kh');
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression) VALUES
	('kh', 'app', 'kh', 'email', 'set', $$'maskedval' || id || '@example.invalid'$$);
CREATE TABLE public.kh_before AS SELECT relfilenode FROM pg_class WHERE oid = 'app.kh_spy'::regclass;
SQL
is "$(q kc -c "SET work_mem = '4MB'" -c "SELECT sandbox_sanitize('kh') IS NOT NULL" -c "SHOW work_mem")" "t
4MB" "a run over a table whose kept index calls owner code succeeds, and leaves the caller's settings as they were"
is "$(q kc -c "SELECT count(*) > 0 AND bool_and(who = 'regress_app' AND NOT escalated) FROM app.seen")|$(q kc -c "SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_app'")" \
	"t|f" "the index expression ran for the rows that moved, as the owner only, and could not make it a superuser"
is "$(q kc -c "SELECT count(*) FROM app.kh WHERE email LIKE 'origsecret%'")|$(q kc -c "SELECT public.index_entries('app.kh_spy') > 3000")" \
	"0|t" "... and the rows are masked, the index kept with entries for the rows that moved"

# ---- the table lives on ----
q kc -c "UPDATE public.kc SET name = name || '!' WHERE id % 3 = 0" -c "INSERT INTO public.kc VALUES (20001, 'a@example.invalid', 'Name20001')" \
	-c "VACUUM public.kc"
is "$(q kc -c "SELECT count(*) FROM generate_series(0, (pg_relation_size('public.kc') / 8192 - 1)::int) b,
	heap_page_items(get_raw_page('public.kc', b)) WHERE lp_flags = 3")|$(q kc -c "SELECT public.sound('public.kc')")" \
	"0|6 indexes checked, 0 heap problems" "updates, an insert and a VACUUM afterwards: no dead line pointer left, every index sound"
is "$(q kc -c "SET enable_seqscan = off; SELECT count(*) FROM public.kc WHERE id BETWEEN 1 AND 30000")" "20001" \
	"the primary key finds every row"

finish
