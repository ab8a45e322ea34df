#!/usr/bin/env bash
# test/launcher.sh: the launcher and the asynchronous path never get stuck
# (issue 10).
#
# Many databases created and dropped, columns of user-defined types,
# rolled-back DROP EXTENSION, idle connections, terminated and crashed
# runs, transactions that call sandbox_sanitize_async() and roll back or
# take their time, a sanitizer that dies while it connects, bad
# environment names, and a production server.
source "$(dirname "$0")/../tools/testlib.sh"

# make_copy DB [slow]: a database with PII and migration rules, readable by
# PUBLIC; "slow" adds a rule that sleeps 3 s, to catch a run in progress.
make_copy() {
	createdb "$1"
	sql "$1" <<-'SQL' >/dev/null
		CREATE EXTENSION penelope_sandbox;
		CREATE TABLE client (id int PRIMARY KEY, email text UNIQUE, active boolean, note text);
		INSERT INTO client SELECT g, 'person' || g || '@mail.example.com', true, 'note'
		  FROM generate_series(1, 1000) g;
		GRANT SELECT ON client TO PUBLIC;
		INSERT INTO sandbox.rule (environment, table_name, column_name, action, expression)
		VALUES ('migration', 'client', 'email', 'mask', $$'user' || id || '@example.invalid'$$),
		       ('migration', 'client', 'active', 'set', 'false');
	SQL
	if [ "${2:-}" == slow ]; then
		# a rule's filter may not call a volatile function such as pg_sleep
		sql "$1" -c "CREATE FUNCTION public.slow_down(float8) RETURNS boolean LANGUAGE plpgsql STABLE
		             AS \$\$BEGIN PERFORM pg_sleep(\$1); RETURN true; END\$\$" \
		         -c "INSERT INTO sandbox.rule (environment, table_name, column_name, action, expression, filter)
		             VALUES ('migration', 'client', 'note', 'set', 'NULL', 'id = 1 AND public.slow_down(3)')" >/dev/null
	fi
}

mark() { sql postgres -c "ALTER DATABASE \"$1\" SET penelope_sandbox.environment = '${2:-migration}'" >/dev/null; }
clerk() { psql -X -A -t -U regress_clerk -d "$1" -c "SELECT count(*) FROM client" 2>&1; }
unmasked() { sql "$1" -c "SELECT count(*) FROM client WHERE email NOT LIKE '%@example.invalid'"; }
refused='is being prepared'

cluster_start "shared_preload_libraries = 'penelope_sandbox'" \
	"penelope_sandbox.server_role = 'sandbox'" \
	"penelope_sandbox.auto_sanitize = off" \
	"penelope_sandbox.naptime = 1"
createuser regress_clerk

echo "# the launcher's memory does not fill up with databases that are gone"
for i in $(seq 1 66); do
	echo "CREATE DATABASE gone_$i STRATEGY FILE_COPY;"
	echo "ALTER DATABASE gone_$i SET penelope_sandbox.environment = 'migration';"
done | sql postgres >/dev/null
sleep 3
for i in $(seq 1 66); do echo "DROP DATABASE gone_$i;"; done | sql postgres >/dev/null
make_copy fresh
mark fresh
like "$(sql fresh -c "SELECT sandbox_sanitize('migration')")" '^run [0-9]+' "a copy made after 66 others came and went is sanitized"
is "$(clerk fresh)" 1000 "and opens"

echo "# background runs work on columns of user-defined types"
createdb udt
sql udt <<-'SQL' >/dev/null
	CREATE EXTENSION penelope_sandbox;
	CREATE TYPE public.mood AS ENUM ('happy', 'sad');
	CREATE DOMAIN public.email_address AS text CHECK (VALUE LIKE '%@%');
	CREATE TABLE client (id int PRIMARY KEY, email public.email_address, feeling public.mood);
	INSERT INTO client SELECT g, 'person' || g || '@mail.example.com', 'happy' FROM generate_series(1, 100) g;
	GRANT SELECT ON client TO PUBLIC;
	INSERT INTO sandbox.rule (environment, table_name, column_name, action, expression)
	VALUES ('migration', 'client', 'email', 'mask', $$sandbox.mask_email(email)$$),
	       ('migration', 'client', 'feeling', 'set', $$'sad'$$);
SQL
sql postgres -c "CREATE DATABASE udt_async TEMPLATE udt" >/dev/null
mark udt
cluster_conf "penelope_sandbox.auto_sanitize = on"
wait_for udt "SELECT count(*) = 1 FROM sandbox.run WHERE status = 'succeeded'" 20
is "$?" 0 "the launcher's run of a copy with an enum and a domain in public succeeds"
is "$(sql udt -c "SELECT count(*) FROM client WHERE feeling = 'happy' OR email LIKE '%mail.example.com'")" 0 \
	"and masks them"
cluster_conf "penelope_sandbox.auto_sanitize = off"
run=$(sql udt_async -c "SELECT sandbox_sanitize_async('migration')")
wait_for udt_async "SELECT status <> 'queued' AND status <> 'running' FROM sandbox.run WHERE id = $run" 20
is "$(sql udt_async -c "SELECT status FROM sandbox.run WHERE id = $run")" succeeded \
	"an asynchronous run of such a copy succeeds"

echo "# a rolled-back DROP or CREATE EXTENSION leaves an open copy open"
sql fresh -c "BEGIN" -c "DROP EXTENSION penelope_sandbox CASCADE" -c "ROLLBACK" >/dev/null
is "$(clerk fresh)" 1000 "after a rolled-back DROP EXTENSION"
sql fresh -c "BEGIN" -c "DROP EXTENSION penelope_sandbox CASCADE" -c "CREATE EXTENSION penelope_sandbox" -c "ROLLBACK" >/dev/null
is "$(clerk fresh)" 1000 "after a rolled-back DROP and CREATE EXTENSION"
sql fresh -c "DROP EXTENSION penelope_sandbox CASCADE" >/dev/null 2>&1
like "$(clerk fresh)" "$refused" "(a committed DROP EXTENSION closes it)"

echo "# an idle connection does not keep a copy closed"
make_copy idle
mark idle
sql idle -c "SELECT sandbox_sanitize('migration')" >/dev/null
pg_dump -Fc -f "$CLUSTER_DIR/idle.dump" idle
mkfifo "$CLUSTER_DIR/idle.fifo"
psql -X -q -d idle <"$CLUSTER_DIR/idle.fifo" >/dev/null 2>&1 &
monitor=$!
exec {hold}>"$CLUSTER_DIR/idle.fifo"
pg_restore --clean --if-exists -d idle "$CLUSTER_DIR/idle.dump" 2>/dev/null
sql idle -c "UPDATE client SET email = 'person' || id || '@mail.example.com'" >/dev/null
like "$(clerk idle)" "$refused" "(pg_restore --clean closes the copy)"
cluster_conf "penelope_sandbox.auto_sanitize = on"
wait_for idle "SELECT sandbox_database_ready()" 20
is "$?" 0 "the launcher sanitizes it while an admin's idle session stays connected"
is "$(unmasked idle)" 0 "the restored data is masked"
is "$(sql idle -c "SELECT count(*) FROM pg_stat_activity WHERE datname = 'idle' AND backend_type = 'client backend' AND pid <> pg_backend_pid()")" 1 \
	"and the idle session is still there"
exec {hold}>&-
wait $monitor
cluster_conf "penelope_sandbox.auto_sanitize = off"

echo "# the asynchronous worker starts when the caller commits"
make_copy later slow
mark later
sql later -c "SELECT sandbox_sanitize('migration')" >/dev/null
(sql later -c "BEGIN" -c "SELECT sandbox_sanitize_async('migration')" -c "SELECT pg_sleep(3)" \
	-c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'penelope_sandbox sanitizer'" \
	-c "ROLLBACK" >"$CLUSTER_DIR/later.out") &
sleep 1.5
is "$(clerk later)" 1000 "an open copy stays open while a transaction that queued a run is in progress"
wait
is "$(tail -n 1 "$CLUSTER_DIR/later.out")" 0 "no worker starts before the caller commits"
sleep 1
is "$(sql later -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'penelope_sandbox sanitizer'")" 0 \
	"nor after it rolls back"
is "$(sql later -c "SELECT count(*) FROM sandbox.run WHERE status IN ('queued', 'running')")" 0 "and nothing is left queued"
out=$(sql later -c "BEGIN" -c "SELECT sandbox_sanitize_async('migration')" -c "SELECT pg_sleep(1.5)" -c "COMMIT")
run=$(head -n 1 <<<"$out")
wait_for later "SELECT status = 'running' FROM sandbox.run WHERE id = $run" 10
is "$?" 0 "the ledger shows the run 'running' while it runs"
wait_for later "SELECT status = 'succeeded' FROM sandbox.run WHERE id = $run" 20
is "$?" 0 "the run queued by a transaction that took its time succeeds"
out=$(sql later -c "BEGIN" -c "SELECT sandbox_sanitize_async('migration')" -c "PREPARE TRANSACTION 'p'")
like "$out" 'cannot prepare' "a transaction that queued a run cannot be prepared"

echo "# a terminated run is recorded as failed, and a marked copy is sanitized again"
make_copy killed slow
mark killed
run=$(sql killed -c "SELECT sandbox_sanitize_async('migration')")
wait_for killed "SELECT count(*) = 1 FROM sandbox.progress" 10
sql killed -c "SELECT pg_terminate_backend(pid) FROM sandbox.progress" >/dev/null
wait_for killed "SELECT status = 'failed' FROM sandbox.run WHERE id = $run" 10
is "$?" 0 "pg_terminate_backend of an asynchronous run leaves it failed"
like "$(sql killed -c "SELECT summary FROM sandbox.run WHERE id = $run")" 'terminated' "the ledger says it was terminated"
is "$(unmasked killed)" 1000 "and nothing was changed"
cluster_conf "penelope_sandbox.auto_sanitize = on"
wait_for killed "SELECT sandbox_database_ready()" 20
is "$?" 0 "the launcher sanitizes the marked copy again"
cluster_conf "penelope_sandbox.auto_sanitize = off"

echo "# a run cut short by an immediate stop is marked failed and done again"
make_copy crashed slow
run=$(sql crashed -c "SELECT sandbox_sanitize_async('migration')")
wait_for crashed "SELECT count(*) = 1 FROM sandbox.progress" 10
run_as_postgres $PG_BIN/pg_ctl -D "$CLUSTER_DIR/data" -m immediate stop >/dev/null
run_as_postgres $PG_BIN/pg_ctl -D "$CLUSTER_DIR/data" -l "$CLUSTER_DIR/server.log" -w start >/dev/null
wait_for crashed "SELECT count(*) = 1 FROM sandbox.run WHERE status = 'succeeded'" 30
is "$?" 0 "the run of an unmarked copy is done again after the restart"
is "$(sql crashed -c "SELECT status FROM sandbox.run WHERE id = $run")" failed "the interrupted run is marked failed"
like "$(sql crashed -c "SELECT summary FROM sandbox.run WHERE id = $run")" 'interrupted' "and says why"
is "$(sql crashed -c "SELECT count(*) FROM sandbox.run WHERE status IN ('queued', 'running')")" 0 "nothing is left queued or running"
is "$(unmasked crashed)" 0 "the copy is masked"

echo "# a sanitizer that dies while it connects is started again"
make_copy dying
mark dying
(sql postgres -c "BEGIN" -c "ALTER DATABASE dying RENAME TO dying_renamed" -c "SELECT pg_sleep(6)" -c "ROLLBACK" >/dev/null) &
sleep 1
cluster_conf "penelope_sandbox.auto_sanitize = on"
wait_for postgres "SELECT count(*) = 1 FROM pg_locks WHERE NOT granted AND locktype = 'object'
                   AND classid = 'pg_database'::regclass" 10
is "$?" 0 "(the sanitizer waits for the database while it connects)"
sql postgres -c "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE NOT granted AND locktype = 'object'
                 AND classid = 'pg_database'::regclass" >/dev/null
wait
run_as_postgres $PG_BIN/pg_ctl -D "$CLUSTER_DIR/data" reload >/dev/null
wait_for dying "SELECT sandbox_database_ready()" 20
is "$?" 0 "the launcher starts another sanitizer, which sanitizes the copy"
cluster_conf "penelope_sandbox.auto_sanitize = off"

echo "# sandbox_sanitize_async refuses bad environment names"
like "$(sql later -c "SELECT sandbox_sanitize_async('')")" 'must not be empty' "an empty name"
like "$(sql later -c "SELECT sandbox_sanitize_async('no_such_environment')")" \
	'environment "no_such_environment" does not exist' "an unknown name"
is "$(sql later -c "SELECT count(*) FROM sandbox.run WHERE environment NOT IN ('migration')")" 0 "and queues nothing"

echo "# on a production server the launcher does nothing and holds no connection"
cluster_conf "penelope_sandbox.server_role = 'production'"
sleep 2
is "$(sql postgres -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'penelope_sandbox launcher' AND datid IS NOT NULL")" 0 \
	"the launcher is connected to no database"
out=$(sql template1 -c "CREATE DATABASE copy_of_postgres TEMPLATE postgres" 2>&1)
is "$out" "" "CREATE DATABASE ... TEMPLATE postgres works"

finish
