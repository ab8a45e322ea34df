#!/usr/bin/env bash
# tools/demo.sh: the main job on a built-in demo database.
#
# Installs what is missing, builds the extension, starts a throwaway
# cluster, creates a Penelope-shaped database with synthetic data
# (DEMO_SCALE clients, default 10000), sanitizes it as a Migration copy
# (DEMO_ENV, default migration) and prints the run summary, a before and
# after sample of client and worker rows, sandbox_verify and
# sandbox_status.  Usage: tools/demo.sh
source "$(dirname "$0")/lib.sh"

SCALE=${DEMO_SCALE:-10000}
ENVIRONMENT=${DEMO_ENV:-migration}

install_dependencies
build_and_install
cluster_start "shared_preload_libraries = 'penelope_sandbox'" \
	"penelope_sandbox.server_role = 'sandbox'"

psql_demo() { psql -X -q -v ON_ERROR_STOP=1 -d penelope_demo "$@"; }

log "creating the demo database: the Penelope reference schema with $SCALE clients"
createdb penelope_demo
psql_demo -f "$TOP/demo/penelope_schema.sql" -f "$TOP/demo/penelope_generate.sql"
psql_demo -c "SELECT penelope.generate($SCALE)" >/dev/null
psql_demo <<-'SQL'
	CREATE EXTENSION penelope_sandbox;
	SELECT sandbox_load_profile('penelope');
SQL
# The "before" sample is kept outside the database, in files of the
# throwaway cluster's directory: a copy of originals inside it would be a
# leak, and the run's leak scan would rightly report it.
psql_demo <<-SQL
	\\copy (SELECT id, first_name, last_name, email, mobile_phone, birth_date FROM penelope.client ORDER BY id LIMIT 5) TO '$CLUSTER_DIR/before_client.csv' CSV
	\\copy (SELECT w.id, w.first_name, w.last_name, w.email, w.sms_number, w.active, string_agg(g.name, ', ' ORDER BY g.name) FROM penelope.worker w JOIN penelope.worker_user_group wug ON wug.worker_id = w.id JOIN penelope.user_group g ON g.id = wug.user_group_id WHERE w.id <= 16 GROUP BY w.id ORDER BY w.id) TO '$CLUSTER_DIR/before_worker.csv' CSV
SQL

log "sanitizing as \"$ENVIRONMENT\""
psql_demo -P pager=off <<-SQL
	\\echo
	\\echo '== sandbox_sanitize'
	SELECT sandbox_sanitize('$ENVIRONMENT') AS summary;
	SELECT step, method, table_schema || '.' || table_name AS "table", rows,
		   round(extract(epoch FROM duration) * 1000, 1) AS ms
	FROM sandbox.run_step WHERE run_id = (SELECT max(id) FROM sandbox.run) ORDER BY step;

	CREATE TEMP TABLE demo_before_client (id bigint, first_name text, last_name text, email text,
		mobile_phone text, birth_date date);
	\\copy demo_before_client FROM '$CLUSTER_DIR/before_client.csv' CSV
	CREATE TEMP TABLE demo_before_worker (id bigint, first_name text, last_name text, email text,
		sms_number text, active boolean, groups text);
	\\copy demo_before_worker FROM '$CLUSTER_DIR/before_worker.csv' CSV

	\\echo '== clients, before and after'
	SELECT b.id, b.first_name || ' ' || b.last_name AS before_name, b.email AS before_email,
		   b.mobile_phone AS before_phone,
		   c.first_name || ' ' || c.last_name AS after_name, c.email AS after_email,
		   c.mobile_phone AS after_phone
	FROM demo_before_client b JOIN penelope.client c USING (id) ORDER BY id;

	\\echo '== workers, before and after'
	SELECT b.id, b.groups, b.email AS before_email, w.email AS after_email,
		   b.sms_number AS before_sms, w.sms_number AS after_sms,
		   b.active AS was_active, w.active AS active
	FROM demo_before_worker b JOIN penelope.worker w USING (id) ORDER BY id;

	\\echo '== sandbox_verify'
	SELECT rule_id, ok, violations, feature, relation, column_name, action, detail
	FROM sandbox_verify('$ENVIRONMENT');

	\\echo '== sandbox_status'
	SELECT feature, policy, state, environment, run_id FROM sandbox_status();
SQL

failed=$(psql_demo -A -t -c "SELECT count(*) FROM sandbox_verify('$ENVIRONMENT') WHERE NOT ok")
[ "$failed" -eq 0 ] || die "$failed verification checks failed"
log "done: every check holds"
