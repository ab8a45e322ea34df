#!/usr/bin/env bash
# test/refresh.sh: bin/pg_sandbox_refresh end to end, with real pg_dump
# and pg_restore.
#
# A small "production" database with synthetic PII and migration rules is
# dumped (custom, directory and plain formats) and refreshed into the
# sandbox "training": a first run creates it, a second keeps the previous
# copy as training__old_*, --drop-old drops it.  Failures (a rule breaking
# a unique constraint, an environment without rules, sessions on the
# target, an unmarked target, a production server, bad options) exit with
# their documented code, drop the temporary database and leave the target
# as it was.
source "$(dirname "$0")/../tools/testlib.sh"

REFRESH=$TOP/bin/pg_sandbox_refresh
WORK=$(mktemp -d /tmp/refresh_test.XXXXXX)

# refresh ARGS...: run the script, stderr into $WORK/err; sets $rc.
refresh() {
	"$REFRESH" "$@" 2>"$WORK/err"
	rc=$?
	[ "$rc" -eq 0 ] || sed 's/^/#   stderr: /' "$WORK/err"
}

# make_production DB [bad]: the extension, PII, and rules for "migration";
# "bad" adds a rule that violates a unique constraint.
make_production() {
	createdb "$1"
	sql "$1" <<-'SQL'
		CREATE EXTENSION penelope_sandbox;
		CREATE TABLE customer (id int PRIMARY KEY, email text NOT NULL UNIQUE,
		                       name text, active boolean NOT NULL);
		INSERT INTO customer SELECT g, 'person' || g || '@corp.example.com', 'Real Name ' || g, true
		  FROM generate_series(1, 500) g;
		CREATE TABLE integration (id int PRIMARY KEY, url text, enabled boolean NOT NULL);
		INSERT INTO integration VALUES (1, 'https://payments.example.com', true),
		                               (2, 'https://mailer.example.com', true);
		CREATE TABLE session (id int PRIMARY KEY, customer_id int REFERENCES customer, token text);
		INSERT INTO session SELECT g, g, md5(g::text) FROM generate_series(1, 100) g;
		CREATE TABLE audit_log (id int, entry text);
		INSERT INTO audit_log SELECT g, 'login of person' || g FROM generate_series(1, 300) g;
		INSERT INTO sandbox.rule (environment, table_name, column_name, action, expression, filter) VALUES
		  ('migration', 'customer', 'email', 'set', $$'user' || id || '@example.invalid'$$, NULL),
		  ('migration', 'customer', 'name', 'set', $$'Customer ' || id$$, NULL),
		  ('migration', 'integration', 'enabled', 'set', 'false', NULL),
		  ('migration', 'session', NULL, 'delete', NULL, 'true'),
		  ('migration', 'audit_log', NULL, 'truncate', NULL, NULL);
	SQL
	if [ "${2:-}" == slow ]; then
		sql "$1" <<-'SQL' >/dev/null
			CREATE TABLE slow (id int, v text);
			INSERT INTO slow VALUES (1, 'secret');
			-- a rule's filter may not call a volatile function such as pg_sleep
			CREATE FUNCTION public.slow_down(float8) RETURNS boolean LANGUAGE plpgsql STABLE
				AS $$BEGIN PERFORM pg_sleep($1); RETURN true; END$$;
			INSERT INTO sandbox.rule (environment, table_name, column_name, action, expression, filter)
			VALUES ('migration', 'slow', 'v', 'set', $$'x'$$, 'public.slow_down(3)');
		SQL
	fi
	if [ "${2:-}" == bad ]; then
		sql "$1" <<-'SQL' >/dev/null
			ALTER TABLE customer ADD login text UNIQUE;
			UPDATE customer SET login = 'login' || id;
			INSERT INTO sandbox.rule (environment, table_name, column_name, action, expression)
			VALUES ('migration', 'customer', 'login', 'set', $$'same-login'$$);
		SQL
	fi
}

db_exists() { sql postgres -v name="$1" <<<"SELECT EXISTS (SELECT FROM pg_database WHERE datname = :'name')"; }
db_oid() { sql postgres -v name="$1" <<<"SELECT oid FROM pg_database WHERE datname = :'name'"; }
count_like() { sql postgres -v pat="$1" <<<"SELECT count(*) FROM pg_database WHERE datname LIKE :'pat'"; }
unmasked() { sql "$1" -c "SELECT count(*) FROM customer WHERE email LIKE '%@corp.example.com' OR name LIKE 'Real%'"; }

run_suite() {
	echo "# production and its dumps"
	make_production prod >/dev/null
	make_production prod_bad bad >/dev/null
	pg_dump -Fc -f "$WORK/prod.dump" prod
	pg_dump -Fd -f "$WORK/prod.dir" prod
	pg_dump -Fp -f "$WORK/prod.sql" prod
	pg_dump -Fc -f "$WORK/bad.dump" prod_bad
	make_production prod_slow slow >/dev/null
	pg_dump -Fc -f "$WORK/slow.dump" prod_slow
	pg_dump -Fc -f "$WORK/norules.dump" postgres
	is "$(unmasked prod)" 500 "production holds 500 customers with real data"

	echo "# usage"
	refresh --help >/dev/null
	is "$rc" 0 "--help exits 0"
	"$REFRESH" --help 2>/dev/null | grep -q -- '--drop-old'
	is "$?" 0 "--help documents the options"
	refresh --dump "$WORK/prod.dump" --target training
	is "$rc" 1 "missing --env: exit 1"
	like "$(cat "$WORK/err")" '^pg_sandbox_refresh: error: --env is required' "missing --env: message prefixed pg_sandbox_refresh:"
	refresh --env migration --dump "$WORK/nonexistent.dump" --target training
	is "$rc" 1 "unreadable dump: exit 1"
	refresh --env migration --dump "$WORK/prod.dump" --target training --bogus
	is "$rc" 1 "unknown option: exit 1"
	refresh --env migration --dump "$WORK/prod.sql" --target training --jobs 2
	is "$rc" 1 "--jobs with a plain dump: exit 1"
	pg_dump -Fp --create -f "$WORK/create.sql" prod
	refresh --env migration --dump "$WORK/create.sql" --target training
	is "$rc" 1 "a plain dump made with --create: exit 1"
	is "$(db_exists training)" f "no database created by usage errors"

	echo "# first refresh: custom format, target does not exist yet"
	start=$SECONDS
	refresh --env migration --dump "$WORK/prod.dump" --target training
	is "$rc" 0 "refresh into a new target exits 0"
	echo "#   took $((SECONDS - start)) s"
	is "$(db_exists training)" t "target training exists"
	is "$(unmasked training)" 0 "no original e-mail or name left in training"
	is "$(sql training -c 'SELECT count(*) FROM customer')" 500 "every customer is still there"
	is "$(sql training -c 'SELECT bool_or(enabled) FROM integration')" f "integrations are disabled"
	is "$(sql training -c 'SELECT (SELECT count(*) FROM session) + (SELECT count(*) FROM audit_log)')" 0 \
		"sessions deleted and audit log truncated"
	is "$(sql training -v oid="$(db_oid training)" <<<"SELECT count(*) FROM sandbox.run
	      WHERE status = 'succeeded' AND environment = 'migration' AND database_oid = :'oid'")" 1 \
		"sandbox.run holds a succeeded run of the new database"
	is "$(sql postgres -c "SELECT array_to_string(setconfig, ',') FROM pg_db_role_setting s
	      JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = 'training' AND s.setrole = 0")" \
		"penelope_sandbox.environment=migration" "training is marked as a sandbox of migration"
	is "$(count_like '%\_\_refresh\_%')" 0 "no temporary database left"
	is "$(count_like 'training\_\_old\_%')" 0 "no old copy when there was no target"
	is "$(grep -vc '^pg_sandbox_refresh: ' "$WORK/err")" 0 "every message is prefixed pg_sandbox_refresh:"
	if grep -q 'corp.example.com\|Real Name' "$WORK/err"; then leaked=yes; else leaked=no; fi
	is "$leaked" no "no row value in the messages"

	echo "# second refresh: directory format, --jobs 2, the previous copy is kept"
	sql training -c "CREATE TABLE first_copy ()" >/dev/null
	sql postgres -c "CREATE ROLE trainer LOGIN" >/dev/null
	sql postgres -c "REVOKE CONNECT ON DATABASE training FROM PUBLIC; GRANT CONNECT ON DATABASE training TO trainer" >/dev/null
	first_oid=$(db_oid training)
	refresh --env migration --dump "$WORK/prod.dir" --target training --jobs 2
	is "$rc" 0 "second refresh exits 0"
	old=$(sql postgres -c "SELECT datname FROM pg_database WHERE datname LIKE 'training\_\_old\_%'")
	like "$old" '^training__old_[0-9]{14}$' "the previous copy is kept as training__old_<timestamp>"
	is "$(db_oid "$old")" "$first_oid" "the kept copy is the previous training"
	is "$(sql "$old" -c "SELECT to_regclass('first_copy') IS NOT NULL")" t "the kept copy still has its own objects"
	is "$(sql training -c "SELECT to_regclass('first_copy') IS NULL")" t "training is a new copy"
	is "$(unmasked training)" 0 "the new training is sanitized"
	is "$(sql postgres -c "SELECT has_database_privilege('trainer', 'training', 'CONNECT')::text
	      || has_database_privilege('public', 'training', 'CONNECT')::text")" truefalse \
		"the new copy has the privileges of the one it replaced"

	echo "# third refresh: plain SQL dump, --drop-old"
	second_oid=$(db_oid training)
	refresh --env migration --dump "$WORK/prod.sql" --target training --drop-old
	is "$rc" 0 "refresh from a plain dump with --drop-old exits 0"
	is "$(db_exists training)" t "training exists"
	is "$(unmasked training)" 0 "training is sanitized"
	is "$(sql postgres -v oid="$second_oid" <<<"SELECT count(*) FROM pg_database WHERE oid = :'oid'")" 0 \
		"--drop-old dropped the copy it replaced"
	is "$(count_like 'training\_\_old\_%')" 1 "the copy kept by the second refresh is still there"
	sql postgres -v name="$old" <<<'DROP DATABASE :"name"' >/dev/null

	# A marker that tells the current training apart: failures must keep it.
	sql training -c "CREATE TABLE keep_me ()" >/dev/null
	kept_oid=$(db_oid training)
	untouched() {
		[ "$(db_oid training)" == "$kept_oid" ] &&
			[ "$(sql training -c "SELECT to_regclass('keep_me') IS NOT NULL")" == t ] &&
			[ "$(count_like 'training\_\_old\_%')" == 0 ] && echo yes || echo no
	}

	echo "# a rule that violates a unique constraint: sanitize fails"
	refresh --env migration --dump "$WORK/bad.dump" --target training
	is "$rc" 3 "failing sanitization: exit 3"
	like "$(cat "$WORK/err")" '^pg_sandbox_refresh: ERROR: ' "the error is reported"
	if grep -q 'corp.example.com\|same-login\|DETAIL' "$WORK/err"; then leaked=yes; else leaked=no; fi
	is "$leaked" no "the error shows no row value"
	is "$(count_like '%\_\_refresh\_%')" 0 "the temporary database is dropped"
	is "$(untouched)" yes "training is untouched"

	echo "# --keep-failed keeps the temporary database"
	refresh --env migration --dump "$WORK/bad.dump" --target training --keep-failed
	is "$rc" 3 "failing sanitization with --keep-failed: exit 3"
	is "$(count_like 'training\_\_refresh\_%')" 1 "the temporary database is kept"
	is "$(untouched)" yes "training is untouched"
	kept=$(sql postgres -c "SELECT datname FROM pg_database WHERE datname LIKE 'training\_\_refresh\_%'")
	sql postgres -v name="$kept" <<<'DROP DATABASE :"name"' >/dev/null

	echo "# a dump without rules for the environment: nothing to publish"
	refresh --env migration --dump "$WORK/norules.dump" --target training
	is "$rc" 4 "a dump without rules: exit 4"
	like "$(cat "$WORK/err")" 'has no rules' "a dump without rules: the reason is given"
	is "$(count_like '%\_\_refresh\_%')" 0 "the temporary database is dropped"
	is "$(untouched)" yes "training is untouched"

	echo "# a corrupt dump: restore fails"
	printf 'PGDMP garbage' > "$WORK/corrupt.dump"
	refresh --env migration --dump "$WORK/corrupt.dump" --target training
	is "$rc" 2 "corrupt dump: exit 2"
	is "$(count_like '%\_\_refresh\_%')" 0 "the temporary database is dropped"
	is "$(untouched)" yes "training is untouched"

	echo "# SIGTERM during the run"
	"$REFRESH" --env migration --dump "$WORK/slow.dump" --target training 2>"$WORK/err" &
	pid=$!
	wait_for postgres "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE (query LIKE '%sandbox_sanitize(%' OR query LIKE 'penelope_sandbox run %') AND datname LIKE 'training\_\_refresh\_%')" 20
	kill -TERM "$pid"
	wait "$pid"
	is "$?" 143 "SIGTERM: exit 143"
	like "$(cat "$WORK/err")" 'dropped the temporary database' "SIGTERM: the temporary database is dropped"
	is "$(count_like '%\_\_refresh\_%')" 0 "no temporary database left"
	is "$(untouched)" yes "training is untouched"

	echo "# a session on the target"
	psql -X -q -d training -c "SELECT pg_sleep(60)" >/dev/null 2>&1 &
	sleeper=$!
	wait_for postgres "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE datname = 'training' AND query LIKE '%pg_sleep%')" 10
	refresh --env migration --dump "$WORK/prod.dump" --target training --wait 1
	is "$rc" 5 "a session on the target without --force: exit 5"
	is "$(count_like '%\_\_refresh\_%')" 0 "the temporary database is dropped"
	is "$(untouched)" yes "training is untouched"
	refresh --env migration --dump "$WORK/prod.dump" --target training --wait 1 --force
	is "$rc" 0 "with --force the refresh exits 0"
	wait "$sleeper"
	is "$?" 2 "the session on the old target was terminated"
	is "$(sql training -c "SELECT to_regclass('keep_me') IS NULL")" t "training is the new copy"
	is "$(unmasked training)" 0 "the new training is sanitized"

	echo "# guards"
	createdb not_a_sandbox
	refresh --env migration --dump "$WORK/prod.dump" --target not_a_sandbox
	is "$rc" 6 "an existing database not marked as a sandbox: exit 6"
	is "$(sql not_a_sandbox -c "SELECT count(*) FROM pg_class WHERE relname = 'customer'")" 0 "it is left alone"
	refresh --env migration --dump "$WORK/prod.dump" --target postgres
	is "$rc" 6 "the maintenance database as target: exit 6"
	refresh --env migration --dump "$WORK/prod.dump" --target "$(printf 'x%.0s' {1..50})"
	is "$rc" 1 "a target name too long for its suffixes: exit 1"
	sql postgres -c "ALTER SYSTEM SET penelope_sandbox.server_role = 'production'" -c "SELECT pg_reload_conf()" >/dev/null
	sleep 0.5
	refresh --env migration --dump "$WORK/prod.dump" --target training
	is "$rc" 6 "on a production server: exit 6"
	sql postgres -c "ALTER SYSTEM SET penelope_sandbox.server_role = 'unset'" -c "SELECT pg_reload_conf()" >/dev/null
	sleep 0.5
	refresh --env migration --dump "$WORK/prod.dump" --target training
	is "$rc" 6 "server role unset, no --confirm-not-production: exit 6"
	refresh --env migration --dump "$WORK/prod.dump" --target training --confirm-not-production
	is "$rc" 0 "server role unset with --confirm-not-production: exit 0"
	is "$(unmasked training)" 0 "training is sanitized"
	is "$(count_like '%\_\_refresh\_%')" 0 "no temporary database left"
}

# Twice: the library loaded on demand by the SQL functions, then preloaded,
# with its login check and its launcher, which may start sanitizing the
# temporary database on its own as soon as nobody is connected to it.
echo "# === penelope_sandbox not preloaded"
cluster_start "penelope_sandbox.server_role = 'sandbox'"
trap 'cluster_stop; rm -rf "$WORK"' EXIT
run_suite
cluster_stop
rm -rf "${WORK:?}"/*

echo "# === penelope_sandbox preloaded"
cluster_start "penelope_sandbox.server_role = 'sandbox'" \
	"shared_preload_libraries = 'penelope_sandbox'" "penelope_sandbox.naptime = 1"
trap 'cluster_stop; rm -rf "$WORK"' EXIT
run_suite

finish
