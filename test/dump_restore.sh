#!/usr/bin/env bash
# test/dump_restore.sh: pg_dump -> pg_restore into a fresh database keeps
# the user-written rules and environments of penelope_sandbox, and does
# not duplicate the built-in environments.  Run by tools/test.sh after
# the main cluster stopped: starts its own.
source "$(dirname "$0")/../tools/testlib.sh"

cluster_start "shared_preload_libraries = 'penelope_sandbox'" "penelope_sandbox.server_role = 'sandbox'"

# check NAME EXPECTED ACTUAL: is(), with the arguments in reading order
check() { is "$3" "$2" "$1"; }
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$@"; }

createdb dr_source
q dr_source <<'SQL'
CREATE EXTENSION penelope_sandbox;
CREATE TABLE public.client (id int, email text, "Mixed Col" text);
INSERT INTO public.client VALUES (1, 'a@example.com', 'x');
INSERT INTO sandbox.environment (name, inherits, description) VALUES ('qa', 'training_b', 'user-written');
UPDATE sandbox.environment SET description = 'changed built-in' WHERE name = 'preview';
INSERT INTO sandbox.rule (environment, feature, table_name, column_name, action, expression, filter, enabled, description) VALUES
	('qa', 'pii', 'client', 'email', 'set', $$'q' || id || '@invalid'$$, 'id > 0', true, 'qa e-mail'),
	('training_a', NULL, 'client', 'Mixed Col', 'set', $$'-'$$, NULL, false, NULL);
SQL

dump=$CLUSTER_DIR/dr.dump
run_as_postgres pg_dump -h "$PGHOST" -p "$PGPORT" -U postgres -Fc -f "$dump" dr_source 2>"$CLUSTER_DIR/dump.err"
check "pg_dump succeeds" 0 $?
createdb dr_target
run_as_postgres pg_restore -h "$PGHOST" -p "$PGPORT" -U postgres -d dr_target "$dump" 2>"$CLUSTER_DIR/restore.err"
rc=$?
check "pg_restore succeeds without errors" "0:" "$rc:$(grep -i error "$CLUSTER_DIR/restore.err" | head -3)"

rules_sql="SELECT string_agg(concat_ws('|', id, environment, feature, table_schema, table_name, column_name, action, expression, filter, enabled, description), E'\n' ORDER BY id) FROM sandbox.rule"
check "user-written rules are kept" "$(q dr_source -c "$rules_sql")" "$(q dr_target -c "$rules_sql" 2>&1)"
envs_sql="SELECT string_agg(concat_ws('|', name, inherits), ',' ORDER BY name) FROM sandbox.environment"
check "environments: user-written kept, built-in not duplicated" "$(q dr_source -c "$envs_sql")" "$(q dr_target -c "$envs_sql" 2>&1)"
check "each environment once" "7" "$(q dr_target -c "SELECT count(DISTINCT name) || '' FROM sandbox.environment" 2>&1)"
check "rule ids continue after the restored ones" "t" \
	"$(q dr_target -c "INSERT INTO sandbox.rule (environment, table_name, column_name, action, expression) VALUES ('qa', 'client', 'Mixed Col', 'set', \$\$'z'\$\$) RETURNING id > 2" 2>&1)"
check "the restored rules run" "t" \
	"$(q dr_target -c "SELECT sandbox_sanitize('qa') LIKE 'run %'" 2>/dev/null)"
check "the restored rule applied" "q1@invalid|z" "$(q dr_target -c "SELECT email || '|' || \"Mixed Col\" FROM client" 2>&1)"
check "a second dump/restore cycle keeps one copy" "ok" "$(
	run_as_postgres pg_dump -h "$PGHOST" -p "$PGPORT" -U postgres -Fc -f "$dump.2" dr_target 2>/dev/null &&
	createdb dr_target2 && run_as_postgres pg_restore -h "$PGHOST" -p "$PGPORT" -U postgres -d dr_target2 "$dump.2" 2>/dev/null &&
	[ "$(q dr_target2 -c "$envs_sql")" = "$(q dr_target -c "$envs_sql")" ] &&
	[ "$(q dr_target2 -c "$rules_sql")" = "$(q dr_target -c "$rules_sql")" ] && echo ok)"

finish
