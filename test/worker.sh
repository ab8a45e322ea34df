#!/usr/bin/env bash
# test/worker.sh: what needs server restarts and background workers.
#
# The production guard, asynchronous runs (progress, cancellation), the
# automatic sanitization of a restored dump at start-up, the login check
# before and after it, and a server stopped mid-run.
source "$(dirname "$0")/../tools/testlib.sh"

# make_copy DB [slow]: a small database with PII and migration rules;
# "slow" adds a rule that sleeps 3 s, to catch a run in progress.
make_copy() {
	createdb "$1"
	sql "$1" <<-'SQL'
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
		             VALUES ('migration', 'client', 'note', 'set', 'NULL', 'id = 1 AND public.slow_down(3)')"
	fi
}

unmasked() { sql "$1" -c "SELECT count(*) FROM client WHERE email NOT LIKE '%@example.invalid'"; }

cluster_start "shared_preload_libraries = 'penelope_sandbox'" \
	"penelope_sandbox.server_role = 'production'" \
	"penelope_sandbox.naptime = 1"
createuser regress_clerk
createuser regress_dba
cluster_conf "penelope_sandbox.admin_roles = 'regress_dba'"

echo "# production guard"
make_copy prod
out=$(sql prod -c "SELECT sandbox_sanitize('migration')")
like "$out" 'this server is a production server' "sandbox_sanitize refuses on a production server"
out=$(sql prod -c "SELECT sandbox_sanitize_async('migration')")
like "$out" 'this server is a production server' "sandbox_sanitize_async refuses on a production server"
is "$(unmasked prod)" 1000 "nothing changed on the production server"
is "$(sql prod -c 'SELECT count(*) FROM sandbox.run')" 0 "no run recorded on the production server"

cluster_conf "penelope_sandbox.server_role = 'unset'"
out=$(sql prod -c "SELECT sandbox_sanitize('migration')")
like "$out" 'has not been identified as a sandbox server' "an unset server role refuses without confirmation"
out=$(sql prod -c "SET penelope_sandbox.confirm_database = 'other'" -c "SELECT sandbox_sanitize('migration')")
like "$out" 'has not been identified as a sandbox server' "confirming another database's name does not count"
out=$(sql prod -c "SET penelope_sandbox.confirm_database = 'prod'" -c "SELECT sandbox_sanitize('migration')")
like "$out" '^run [0-9]+: "migration" applied' "confirming the database's name lets it run"
is "$(unmasked prod)" 0 "the confirmed run masked every email"

cluster_conf "penelope_sandbox.server_role = 'sandbox'"

echo "# asynchronous run: progress, then success"
make_copy async slow
run=$(sql async -c "SELECT sandbox_sanitize_async('migration')")
like "$run" '^[0-9]+$' "sandbox_sanitize_async returns a run id at once"
wait_for async "SELECT count(*) = 1 FROM sandbox.progress WHERE current_step LIKE '%step % of %rows done)'" 10
is "$?" 0 "sandbox.progress shows the worker, its step and the rows done"
is "$(sql async -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'penelope_sandbox sanitizer'")" 1 \
	"pg_stat_activity shows the worker with its own backend_type"
wait_for async "SELECT status = 'succeeded' FROM sandbox.run WHERE id = $run" 20
is "$?" 0 "the asynchronous run succeeded"
is "$(unmasked async)" 0 "the asynchronous run masked every email"

echo "# asynchronous run: cancelled"
make_copy cancel slow
run=$(sql cancel -c "SELECT sandbox_sanitize_async('migration')")
wait_for cancel "SELECT count(*) = 1 FROM sandbox.progress" 10
sql cancel -c "SELECT pg_cancel_backend(pid) FROM sandbox.progress" >/dev/null
wait_for cancel "SELECT status = 'failed' FROM sandbox.run WHERE id = $run" 10
is "$?" 0 "a cancelled run is recorded as failed"
like "$(sql cancel -c "SELECT summary FROM sandbox.run WHERE id = $run")" 'canceling statement' \
	"the ledger says why it failed"
is "$(unmasked cancel)" 1000 "a cancelled run changed nothing"

echo "# a restored dump is sanitized at start-up, and closed until then"
cluster_conf "penelope_sandbox.auto_sanitize = off"
pg_dump -Fc -f "$CLUSTER_DIR/prod.dump" prod
createdb training
sql postgres -c "ALTER DATABASE training SET penelope_sandbox.environment = 'migration'" >/dev/null
pg_restore -d training "$CLUSTER_DIR/prod.dump"
sql training -c "UPDATE client SET email = 'person' || id || '@mail.example.com'" >/dev/null
out=$(psql -X -A -t -U regress_clerk -d training -c "SELECT count(*) FROM client" 2>&1)
like "$out" 'database "training" is being prepared' "an ordinary role cannot read an unsanitized copy"
out=$(psql -X -A -t -U regress_dba -d training -c "SELECT count(*) FROM client" 2>&1)
is "$out" 1000 "an admin role can"
sed -i '/penelope_sandbox.auto_sanitize/d' "$CLUSTER_DIR/data/postgresql.conf"
cluster_restart
wait_for training "SELECT count(*) = 1 FROM sandbox.run WHERE status = 'succeeded'
                   AND database_oid = (SELECT oid FROM pg_database WHERE datname = 'training')" 20
is "$?" 0 "the worker sanitized the restored copy at start-up, unasked"
is "$(unmasked training)" 0 "the restored copy is masked"
wait_for training "SELECT sandbox_database_ready()" 10
out=$(psql -X -A -t -U regress_clerk -d training -c "SELECT count(*) FROM client" 2>&1)
is "$out" 1000 "the ordinary role can connect once it is sanitized"

echo "# pg_restore --clean over a sanitized copy closes it again until it is sanitized"
cluster_conf "penelope_sandbox.auto_sanitize = off"
pg_restore --clean --if-exists -d training "$CLUSTER_DIR/prod.dump" 2>/dev/null
sql training -c "UPDATE client SET email = 'person' || id || '@mail.example.com'" >/dev/null
out=$(psql -X -A -t -U regress_clerk -d training -c "SELECT count(*) FROM client" 2>&1)
like "$out" 'database "training" is being prepared' "the clerk is refused after the restore"
sed -i '/penelope_sandbox.auto_sanitize/d' "$CLUSTER_DIR/data/postgresql.conf"
run_as_postgres $PG_BIN/pg_ctl -D "$CLUSTER_DIR/data" reload >/dev/null
wait_for training "SELECT sandbox_database_ready()" 20
is "$(unmasked training)" 0 "the worker sanitized the restored data"
out=$(psql -X -A -t -U regress_clerk -d training -c "SELECT count(*) FROM client" 2>&1)
is "$out" 1000 "and the clerk is let in again"

echo "# a database listed in penelope_sandbox.sandbox_databases is closed before its first scan"
cluster_conf "penelope_sandbox.sandbox_databases = 'listed=migration'" "penelope_sandbox.naptime = 3600"
createdb listed
out=$(psql -X -A -t -U regress_clerk -d listed -c "SELECT 1" 2>&1)
like "$out" 'database "listed" is being prepared' "the login check refuses a listed database at once"
dropdb listed
cluster_conf "penelope_sandbox.sandbox_databases = ''" "penelope_sandbox.naptime = 1"

echo "# the server stops mid-run; the worker completes the run after restart"
make_copy crash slow
sql postgres -c "ALTER DATABASE crash SET penelope_sandbox.environment = 'migration'" >/dev/null
cluster_conf "penelope_sandbox.auto_sanitize = off"
sql crash -c "SELECT sandbox_sanitize_async('migration')" >/dev/null
wait_for crash "SELECT count(*) = 1 FROM sandbox.progress" 10
run_as_postgres $PG_BIN/pg_ctl -D "$CLUSTER_DIR/data" -m immediate stop >/dev/null
run_as_postgres $PG_BIN/pg_ctl -D "$CLUSTER_DIR/data" -l "$CLUSTER_DIR/server.log" -w start >/dev/null
is "$(unmasked crash)" 1000 "after an immediate stop mid-run the data is intact and unsanitized"
is "$(sql crash -c "SELECT count(*) FROM sandbox.run WHERE status = 'succeeded'")" 0 "and no run succeeded"
sed -i '/penelope_sandbox.auto_sanitize/d' "$CLUSTER_DIR/data/postgresql.conf"
run_as_postgres $PG_BIN/pg_ctl -D "$CLUSTER_DIR/data" reload >/dev/null
wait_for crash "SELECT count(*) = 1 FROM sandbox.run WHERE status = 'succeeded'" 30
is "$?" 0 "the worker completed the sanitization after the restart"
is "$(unmasked crash)" 0 "the copy is masked"
like "$(sql crash -c "SELECT string_agg(summary, ';') FROM sandbox.run WHERE status = 'failed'")" \
	'interrupted' "the interrupted run is recorded as failed"

finish
