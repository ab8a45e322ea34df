# tools/testlib.sh: assertions for the script-driven suites in test/*.sh.
#
# Each suite sources this file, starts its own throwaway cluster with
# cluster_start, makes assertions, and ends with "finish", which prints
# the closing "N passed, M failed" line and sets the exit status.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
set +e

TESTS_PASSED=0
TESTS_FAILED=0

# sql DB QUERY...: run queries, print unaligned tuples only.
sql() {
	local db=$1
	shift
	psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$db" "$@" 2>&1
}

# is GOT WANT NAME
is() {
	if [ "$1" == "$2" ]; then
		TESTS_PASSED=$((TESTS_PASSED + 1))
		echo "ok - $3"
	else
		TESTS_FAILED=$((TESTS_FAILED + 1))
		echo "not ok - $3"
		echo "#   got:  '$1'"
		echo "#   want: '$2'"
	fi
}

# like GOT PATTERN NAME: GOT matches the extended regular expression.
like() {
	if grep -Eq -- "$2" <<<"$1"; then
		TESTS_PASSED=$((TESTS_PASSED + 1))
		echo "ok - $3"
	else
		TESTS_FAILED=$((TESTS_FAILED + 1))
		echo "not ok - $3"
		echo "#   got:  '$1'"
		echo "#   want: /$2/"
	fi
}

# wait_for DB QUERY SECONDS: wait until QUERY returns "t"; 0 if it did.
wait_for() {
	local deadline=$((SECONDS + $3))
	while [ $SECONDS -lt "$deadline" ]; do
		[ "$(sql "$1" -c "$2" 2>/dev/null)" == "t" ] && return 0
		sleep 0.2
	done
	return 1
}

# cluster_restart [pg_ctl restart options]
cluster_restart() {
	run_as_postgres $PG_BIN/pg_ctl -D "$CLUSTER_DIR/data" -l "$CLUSTER_DIR/server.log" -w "$@" restart >/dev/null
}

# cluster_conf LINE...: append settings and reload.
cluster_conf() {
	printf '%s\n' "$@" >> "$CLUSTER_DIR/data/postgresql.conf"
	run_as_postgres $PG_BIN/pg_ctl -D "$CLUSTER_DIR/data" reload >/dev/null
	sleep 0.5
}

finish() {
	echo "$TESTS_PASSED passed, $TESTS_FAILED failed"
	[ "$TESTS_FAILED" -eq 0 ]
}
