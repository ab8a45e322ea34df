#!/usr/bin/env bash
# test/cron.sh: the pg_cron recipe of docs/pg_cron.md, for real.
#
# A cluster with pg_cron and penelope_sandbox preloaded, pg_cron in
# "postgres" connecting over the private socket, a
# sandbox database "training" with PII and migration rules, and a job
# scheduled in it with cron.schedule_in_database running
# sandbox_sanitize('migration') every minute.  Waits (at most 90 s) for
# the job to succeed, then checks cron.job_run_details, sandbox.run and the
# data, and unschedules.  The nightly verify job of the recipe runs in the
# same minute against an unsanitized copy and must fail there.  Last,
# sanitizing the database pg_cron lives in deactivates the jobs that are
# not the sandbox's own.
source "$(dirname "$0")/../tools/testlib.sh"

CONF=("cron.database_name = 'postgres'" "penelope_sandbox.server_role = 'sandbox'")

cluster_start "shared_preload_libraries = 'pg_cron,penelope_sandbox'" "${CONF[@]}"
# pg_cron connects with libpq to cron.host (default localhost, and this
# cluster has no TCP listener): point it at the private socket directory.
cluster_conf "cron.host = '$CLUSTER_DIR'"
cluster_restart

sql postgres -c "CREATE EXTENSION pg_cron" >/dev/null
is "$(sql postgres -c "SELECT to_regprocedure('cron.schedule_in_database(text,text,text,text,text,boolean)') IS NOT NULL")" t \
	"pg_cron has cron.schedule_in_database"

# make_sandbox DB: a restored copy with PII and rules for "migration".
make_sandbox() {
	createdb "$1"
	sql "$1" <<-'SQL' >/dev/null
		CREATE EXTENSION penelope_sandbox;
		CREATE TABLE customer (id int PRIMARY KEY, email text NOT NULL UNIQUE, active boolean NOT NULL);
		INSERT INTO customer SELECT g, 'person' || g || '@corp.example.com', true
		  FROM generate_series(1, 1000) g;
		CREATE TABLE session (id int, token text);
		INSERT INTO session SELECT g, md5(g::text) FROM generate_series(1, 100) g;
		INSERT INTO sandbox.rule (environment, table_name, column_name, action, expression, filter) VALUES
		  ('migration', 'customer', 'email', 'set', $$'user' || id || '@example.invalid'$$, NULL),
		  ('migration', 'customer', 'active', 'set', 'false', NULL),
		  ('migration', 'session', NULL, 'truncate', NULL, NULL);
	SQL
}
make_sandbox training
make_sandbox training_dirty
unmasked() { sql "$1" -c "SELECT count(*) FROM customer WHERE email NOT LIKE '%@example.invalid' OR active"; }
is "$(unmasked training)" 1000 "training starts with 1000 unmasked customers"

# The nightly verify job of docs/pg_cron.md: fails (so that
# cron.job_run_details says so) when a rule does not hold.
VERIFY_SQL=$(cat <<-'SQL'
	DO $$
	DECLARE
		failing bigint;
	BEGIN
		SELECT count(*) INTO failing FROM sandbox_verify('migration') WHERE NOT ok;
		IF failing > 0 THEN
			RAISE EXCEPTION 'sandbox_verify(migration): % checks fail', failing;
		END IF;
	END
	$$
SQL
)

echo "# scheduling"
job=$(sql postgres <<-'SQL'
	SELECT cron.schedule_in_database('sanitize-training', '* * * * *',
		$$SELECT sandbox_sanitize('migration')$$, 'training');
SQL
)
like "$job" '^[0-9]+$' "cron.schedule_in_database returns a job id"
vjob=$(sql postgres -v cmd="$VERIFY_SQL" <<-'SQL'
	SELECT cron.schedule_in_database('verify-training-dirty', '* * * * *', :'cmd', 'training_dirty');
SQL
)
like "$vjob" '^[0-9]+$' "the verify job is scheduled"
is "$(sql postgres -c "SELECT database || ' ' || username || ' ' || active FROM cron.job WHERE jobname = 'sanitize-training'")" \
	"training postgres true" "cron.job shows the job for database training"

echo "# waiting for the next minute (at most 90 s)"
start=$SECONDS
wait_for postgres "SELECT count(*) = 2 FROM cron.job_run_details WHERE jobid IN ($job, $vjob) AND status IN ('succeeded', 'failed')" 90
is "$?" 0 "both jobs ran within 90 s"
echo "#   waited $((SECONDS - start)) s"

is "$(sql postgres -c "SELECT status FROM cron.job_run_details WHERE jobid = $job ORDER BY runid LIMIT 1")" succeeded \
	"cron.job_run_details: the sanitize job succeeded"
is "$(sql training -c "SELECT count(*) FROM sandbox.run r JOIN pg_database d ON d.oid = r.database_oid
      WHERE d.datname = current_database() AND r.environment = 'migration' AND r.status = 'succeeded'")" 1 \
	"sandbox.run shows a succeeded run of training"
is "$(unmasked training)" 0 "training is sanitized"
is "$(sql training -c "SELECT count(*) FROM session")" 0 "sessions truncated"
is "$(sql training -c "SELECT count(*) FROM sandbox_verify('migration') WHERE NOT ok")" 0 "sandbox_verify: every check holds"
out=$(sql training -v cmd="$VERIFY_SQL" <<<":cmd")
is "$out" "" "the recipe's verify block passes on the sanitized training"

is "$(sql postgres -c "SELECT status FROM cron.job_run_details WHERE jobid = $vjob ORDER BY runid LIMIT 1")" failed \
	"cron.job_run_details: the verify job failed on the unsanitized copy"
like "$(sql postgres -c "SELECT return_message FROM cron.job_run_details WHERE jobid = $vjob ORDER BY runid LIMIT 1")" \
	'sandbox_verify\(migration\): [0-9]+ checks fail' "its return_message says why"
is "$(unmasked training_dirty)" 1000 "the verify job changed nothing"

echo "# unscheduling"
is "$(sql postgres -c "SELECT cron.unschedule('sanitize-training')")" t "cron.unschedule('sanitize-training')"
is "$(sql postgres -c "SELECT cron.unschedule('verify-training-dirty')")" t "cron.unschedule('verify-training-dirty')"
is "$(sql postgres -c "SELECT count(*) FROM cron.job")" 0 "no job left"

echo "# sanitizing the database pg_cron lives in deactivates its other jobs"
sql postgres -c "SELECT cron.schedule('nightly-mail', '0 3 * * *', 'SELECT 1')" >/dev/null
sql postgres -c "SELECT cron.schedule('own-verify', '0 4 * * *', \$\$SELECT sandbox_verify('migration')\$\$)" >/dev/null
sql postgres -c "CREATE EXTENSION penelope_sandbox" >/dev/null
like "$(sql postgres -c "SELECT sandbox_sanitize('migration')")" '^run [0-9]+' "sandbox_sanitize runs in the cron database"
is "$(sql postgres -c "SELECT string_agg(jobname || '=' || active, ',' ORDER BY jobname) FROM cron.job")" \
	"nightly-mail=false,own-verify=true" "the job aimed at production is deactivated, the sandbox's own is kept"
is "$(sql postgres -c "SELECT ok FROM sandbox_verify('migration') WHERE detail LIKE '%pg_cron%'")" t \
	"sandbox_verify checks the pg_cron jobs"
sql postgres -c "UPDATE cron.job SET active = true WHERE jobname = 'nightly-mail'" >/dev/null
is "$(sql postgres -c "SELECT violations FROM sandbox_verify('migration') WHERE detail LIKE '%pg_cron%'")" 1 \
	"and reports a job switched back on"

finish
