#!/usr/bin/env bash
# test/rewrite_in_place.sh: the rewrite of a small table in place (issue 10,
# scale of the catalog; src/rewrite.c, rewrite_in_place).
#
# A table of at most 128 blocks (heap and TOAST) gets new files of its own
# instead of a transient relation swapped in; so does a larger one with an
# index no rule changes (see test/rewrite_keep_ctids.sh).  Either way:
#  - no block of the heap, its TOAST table, the TOAST index or an index
#    holds an original (read with pageinspect), though the rows updated
#    and deleted before the run left theirs there;
#  - a value of a kept column stored out of line is still whole;
#  - a snapshot taken before the run sees every row after it, masked;
#  - the pages and indexes are sound (amcheck: xmin against relfrozenxid,
#    every row in its indexes), after a crash and recovery too;
#  - a unique index the new rows break fails the run, which changes
#    nothing.
# Run by tools/test.sh after the main cluster stopped: starts its own.
source "$(dirname "$0")/../tools/testlib.sh"

cluster_start "shared_preload_libraries = 'penelope_sandbox'" "penelope_sandbox.server_role = 'sandbox'"

q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$@"; }

createdb ip
q ip <<'SQL'
CREATE EXTENSION penelope_sandbox;
CREATE EXTENSION pageinspect;
CREATE EXTENSION amcheck;
CREATE TABLE public.small (id int PRIMARY KEY, email text, note text, kept text, code text UNIQUE);
ALTER TABLE public.small ALTER COLUMN note SET STORAGE EXTERNAL, ALTER COLUMN kept SET STORAGE EXTERNAL;
CREATE INDEX small_email ON public.small (email);
INSERT INTO public.small SELECT g, 'origsecret' || g || '@example.com',
	repeat('ORIGSECRET note ' || g || ' ', 200), repeat('keptvalue ', 400), 'c' || g
	FROM generate_series(1, 50) g;
-- dead row versions holding originals, in the heap, the TOAST table and the indexes
UPDATE public.small SET email = 'origsecret-updated' || id || '@example.com',
	note = repeat('ORIGSECRET updated ' || id || ' ', 200) WHERE id <= 10;
DELETE FROM public.small WHERE id > 45;
CREATE TABLE public.big (id int PRIMARY KEY, email text);
INSERT INTO public.big SELECT g, 'origsecret' || g || '@example.com' FROM generate_series(1, 30000) g;
INSERT INTO sandbox.environment (name) VALUES ('ip'), ('dup');
INSERT INTO sandbox.rule (environment, table_name, column_name, action, expression) VALUES
	('ip', 'small', 'email', 'mask', 'sandbox.mask_email(email)'),
	('ip', 'small', 'note', 'set', $$'note ' || id$$),
	('ip', 'big', 'email', 'mask', 'sandbox.mask_email(email)'),
	('dup', 'small', 'code', 'set', $$'same'$$);
CREATE TABLE public.before_run AS
	SELECT oid::regclass AS rel, relfilenode, reltoastrelid FROM pg_class WHERE oid IN ('public.small'::regclass, 'public.big'::regclass);
SQL
q ip -f "$(dirname "$0")/storage_checks.sql"

small_pages=$(q ip -c "SELECT pg_relation_size('public.small') / 8192 + pg_relation_size(reltoastrelid) / 8192 FROM pg_class WHERE oid = 'public.small'::regclass")
big_pages=$(q ip -c "SELECT pg_relation_size('public.big') / 8192")
is "$([ "$small_pages" -le 128 ] && [ "$big_pages" -gt 128 ] && echo yes)" "yes" \
	"small has at most 128 blocks of heap and TOAST ($small_pages), big more ($big_pages)"
toast=$(q ip -c "SELECT reltoastrelid::regclass FROM pg_class WHERE oid = 'public.small'::regclass")
is "$(q ip -c "SELECT string_agg(r::text, ' ' ORDER BY r::text) FROM public.storage_of('public.small') r
	WHERE public.pages_with(r, 'origsecret') + public.pages_with(r, 'ORIGSECRET') > 0")" "$toast small small_email" \
	"before the run, the heap, the TOAST table and the email index of small hold originals"
xmins_before=$(q ip -c "SELECT string_agg(xmin::text, ',' ORDER BY id) FROM public.small")

# ---- a snapshot taken before the run ----
fifo=$CLUSTER_DIR/old_snapshot.fifo
mkfifo "$fifo"
psql -X -q -A -t -d ip <"$fifo" >"$CLUSTER_DIR/old_snapshot.out" 2>&1 &
reader_pid=$!
exec 3>"$fifo"
echo "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT 'snapshot taken';" >&3
wait_for ip "SELECT count(*) = 1 FROM pg_stat_activity WHERE datname = 'ip' AND state = 'idle in transaction' AND backend_xmin IS NOT NULL" 20
is "$?" "0" "a session holds a snapshot taken before the run"

out=$(q ip -c "SELECT sandbox_sanitize('ip')" 2>&1)
is "$?" "0" "the run succeeds"

echo "SELECT count(*) || '|' || count(*) FILTER (WHERE email LIKE 'origsecret%' OR note LIKE 'ORIGSECRET%')
	|| '|' || count(*) FILTER (WHERE kept = repeat('keptvalue ', 400)) FROM public.small; COMMIT;" >&3
exec 3>&-
wait $reader_pid
is "$(tail -1 "$CLUSTER_DIR/old_snapshot.out")" "45|0|45" \
	"the snapshot taken before the run sees every row of small, masked, with its kept out-of-line values"

# ---- which way each table was rewritten ----
is "$(q ip -c "SELECT string_agg(b.rel::text || ':' || (c.relfilenode <> b.relfilenode) || ':' || (c.reltoastrelid = b.reltoastrelid), ' ' ORDER BY b.rel::text)
	FROM public.before_run b JOIN pg_class c ON c.oid = b.rel")" "big:true:true small:true:true" \
	"small got new files of its own (its TOAST table kept its OID), and so did big, whose primary key holds no masked column (test/rewrite_keep_ctids.sh)"

# ---- what the pages hold ----
is "$(q ip -c "SELECT coalesce(string_agg(r::text, ' '), 'none') FROM public.storage_of('public.small') r
	WHERE public.pages_with(r, 'origsecret') + public.pages_with(r, 'ORIGSECRET') > 0")" "none" \
	"no block of small's heap, TOAST table, TOAST index or indexes holds an original"
is "$(q ip -c "SELECT count(*) FROM public.small WHERE email LIKE '%@example.invalid' AND note = 'note ' || id
	AND kept = repeat('keptvalue ', 400) AND code = 'c' || id")" "45" "every row of small is masked, the kept columns whole"
is "$(q ip -c "SELECT string_agg(xmin::text, ',' ORDER BY id) FROM public.small")" "$xmins_before" \
	"each row of small keeps the xmin of the row it replaces"
is "$(q ip -c "SELECT count(*) FROM verify_heapam('public.small')")" "0" \
	"amcheck finds small's heap and TOAST table sound (no xmin before relfrozenxid)"
is "$(q ip -c "SELECT count(*) FROM public.storage_of('public.small') r JOIN pg_class c ON c.oid = r
	CROSS JOIN LATERAL bt_index_check(r, true) WHERE c.relkind = 'i'")" "4" \
	"amcheck finds every index of small, and its TOAST index, holding every row"
is "$(q ip -c "SELECT count(*) FROM public.storage_of('public.big') r WHERE public.pages_with(r, 'origsecret') > 0")" "0" \
	"no block of big holds an original"
is "$(q ip -c "SELECT count(*) FROM sandbox_verify('ip') WHERE NOT ok")" "0" "sandbox_verify passes"

# ---- the new files survive a crash (their WAL replayed) ----
cluster_restart -m immediate
is "$(q ip -c "SELECT count(*) FROM public.small WHERE email LIKE '%@example.invalid' AND note = 'note ' || id
	AND kept = repeat('keptvalue ', 400)")|$(q ip -c "SELECT count(*) FROM verify_heapam('public.small')")|$(q ip -c "SELECT count(*)
	FROM public.storage_of('public.small') r JOIN pg_class c ON c.oid = r CROSS JOIN LATERAL bt_index_check(r, true) WHERE c.relkind = 'i'")" \
	"45|0|4" "after a crash and recovery, small holds its masked rows, sound, in every index"

# ---- a unique index the new rows break ----
out=$(q ip -c "SELECT sandbox_sanitize('dup')" 2>&1)
is "$?" "1" "a run whose rows break a unique index of a small table fails"
like "$out" 'unique|duplicate' "... and says why"
is "$(q ip -c "SELECT count(DISTINCT code) FROM public.small")" "45" "... and changes nothing"

finish
