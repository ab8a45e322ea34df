#!/usr/bin/env bash
# test/rewrite.sh: the engine's rewrite seen from other sessions (issue 9,
# issue 10's lock wait).
#
#  - A pg_dump that starts while a run holds its tables (it takes its
#    snapshot, then waits for the lock) dumps every row of every rewritten
#    table, masked: an older snapshot never sees a rewritten table empty,
#    and never an original.
#  - A run waiting for a lock says so in pg_stat_activity, naming the
#    table and its rules, and gives up after
#    penelope_sandbox.lock_wait_timeout with an error naming both.
#  - After commit, the old files of the rewritten table are gone.
# Run by tools/test.sh after the main cluster stopped: starts its own.
source "$(dirname "$0")/../tools/testlib.sh"

cluster_start "shared_preload_libraries = 'penelope_sandbox'" "penelope_sandbox.server_role = 'sandbox'"

q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$@"; }

createdb rw
q rw <<'SQL'
CREATE EXTENSION penelope_sandbox;
CREATE TABLE public.client (id int PRIMARY KEY, email text, note text);
INSERT INTO public.client SELECT g, 'origsecret' || g || '@example.com', 'ORIGSECRET ' || g
	FROM generate_series(1, 20000) g;
CREATE TABLE public.visit (id int, client_id int REFERENCES public.client, comment text);
INSERT INTO public.visit SELECT g, 1 + g % 20000, 'ORIGSECRET visit' FROM generate_series(1, 5000) g;
INSERT INTO sandbox.rule (environment, table_name, column_name, action, expression) VALUES
	('migration', 'client', 'email', 'mask', 'sandbox.mask_email(email)'),
	('migration', 'client', 'note', 'set', $$'note ' || id$$),
	('migration', 'visit', 'comment', 'set', $$'visit'$$);
SQL

# ---- a pg_dump that starts while a run is going ----
old_files=$(q rw -c "SELECT string_agg(pg_relation_filepath(r), ' ') FROM unnest(ARRAY['public.client'::regclass,
	'public.client_pkey', (SELECT reltoastrelid FROM pg_class WHERE oid = 'public.client'::regclass)::regclass]) r")
q rw -c "BEGIN; SELECT sandbox_sanitize('migration'); SELECT pg_sleep(3); COMMIT;" >/dev/null 2>"$CLUSTER_DIR/run.err" &
run_pid=$!
wait_for rw "SELECT count(*) = 2 FROM pg_locks WHERE mode = 'AccessExclusiveLock' AND granted
	AND relation IN ('public.client'::regclass, 'public.visit'::regclass)" 20
is "$?" "0" "the run holds ACCESS EXCLUSIVE on every table it rewrites"
dump=$CLUSTER_DIR/rw.sql
run_as_postgres $PG_BIN/pg_dump -h "$PGHOST" -p "$PGPORT" -U postgres -t public.client -t public.visit -f "$dump" rw \
	2>"$CLUSTER_DIR/dump.err" &
dump_pid=$!
wait_for rw "SELECT count(*) > 0 FROM pg_stat_activity WHERE application_name = 'pg_dump' AND wait_event_type = 'Lock'" 20
is "$?" "0" "pg_dump took its snapshot and waits for the run's lock"
wait $run_pid
is "$?" "0" "the run commits"
wait $dump_pid
is "$?" "0" "pg_dump succeeds"
rows=$(awk '/^COPY public.client /{on=1; next} /^\\\.$/{on=0} on' "$dump" | wc -l)
is "$rows" "20000" "the dump holds every row of the rewritten table, not an empty table"
rows=$(awk '/^COPY public.visit /{on=1; next} /^\\\.$/{on=0} on' "$dump" | wc -l)
is "$rows" "5000" "... and of the other rewritten table"
is "$(grep -ci origsecret "$dump")" "0" "the dump holds no original value"
is "$(grep -c '@example.invalid' "$dump")" "20000" "the dump holds the masked values"

# ---- the old files are gone after commit ----
left=0
for f in $old_files; do
	[ -s "$CLUSTER_DIR/data/$f" ] && left=$((left + 1))
done
is "$left" "0" "after commit the old heap, TOAST table and index files are empty or gone"

# ---- a run that waits for a lock ----
q rw -c "UPDATE sandbox.rule SET expression = \$\$'n2 ' || id\$\$ WHERE column_name = 'note'"
q rw -c "BEGIN; LOCK TABLE public.visit IN ACCESS SHARE MODE; SELECT pg_sleep(8); COMMIT;" >/dev/null 2>&1 &
holder_pid=$!
wait_for rw "SELECT count(*) > 0 FROM pg_locks WHERE relation = 'public.visit'::regclass AND mode = 'AccessShareLock' AND granted" 20
q rw -c "SET penelope_sandbox.lock_wait_timeout = '3s'; SELECT sandbox_sanitize('migration')" >/dev/null \
	2>"$CLUSTER_DIR/wait.err" &
waiter_pid=$!
wait_for rw "SELECT count(*) > 0 FROM pg_stat_activity WHERE query LIKE 'penelope_sandbox: waiting for a lock on table public.visit (rules %)'" 10
is "$?" "0" "while it waits, pg_stat_activity names the table and the rules"
wait $waiter_pid
is "$?" "1" "the run gives up after penelope_sandbox.lock_wait_timeout"
like "$(cat "$CLUSTER_DIR/wait.err")" 'could not lock table public.visit for rules [0-9]+' "the error names the table and the rules"
like "$(cat "$CLUSTER_DIR/wait.err")" 'SQLSTATE|55P03|waited 3000 ms' "... and how long it waited"
is "$(q rw -c "SELECT count(*) FROM public.client WHERE note LIKE 'n2 %'")" "0" "nothing was changed"
wait $holder_pid

# ---- a run in a REPEATABLE READ transaction ----
# Its snapshot would be older than its locks: a row another session
# inserts, and one it updates, then commits while the run waits, would be
# neither seen nor written by the rewrite, and lost.
q rw -c "BEGIN; INSERT INTO public.client VALUES (30001, 'late@example.com', 'late');
	UPDATE public.client SET note = 'updated' WHERE id = 5; SELECT pg_sleep(3); COMMIT;" >/dev/null 2>&1 &
holder_pid=$!
wait_for rw "SELECT count(*) > 0 FROM pg_locks WHERE relation = 'public.client'::regclass AND mode = 'RowExclusiveLock' AND granted" 20
q rw -c "BEGIN ISOLATION LEVEL REPEATABLE READ" -c "SELECT sandbox_sanitize('migration')" -c "COMMIT" >/dev/null \
	2>"$CLUSTER_DIR/rr.err"
is "$?" "1" "a run in a REPEATABLE READ transaction is refused"
like "$(cat "$CLUSTER_DIR/rr.err")" 'cannot run in a REPEATABLE READ transaction' "the error says why"
wait $holder_pid
is "$(q rw -c "SELECT string_agg(id || ':' || note, ' ' ORDER BY id) FROM public.client WHERE id IN (5, 30001)")" \
	"5:updated 30001:late" "the rows the other session committed are there"

finish
