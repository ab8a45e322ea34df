#!/usr/bin/env bash
# tools/valgrind.sh: the extension's C code under Valgrind's memcheck.
#
# Starts a throwaway cluster whose postmaster (and so every backend and
# background worker it forks) runs under memcheck, runs the pg_regress
# files of test/sql/ and a choice of pgTAP files against it, stops it, and
# reads memcheck's reports: every error whose stack passes through
# penelope_sandbox.so is printed, and any such error fails the script.
# Errors entirely inside the server are counted and left alone (the
# Debian server is not built with USE_VALGRIND, so memcheck cannot see
# palloc chunks; it still sees reads of uninitialised memory, invalid
# reads and writes of malloc'd blocks, and bad system-call arguments).
#
# Not part of tools/test.sh: a run takes 20 to 40 minutes on two cores.
# Usage: tools/valgrind.sh [pgTAP file names...]
#   (default: 30_rewrite 32_rewrite_keep_ctids 20_masking 45_running_again 50_discover)
source "$(dirname "$0")/lib.sh"

PGTAP_FILES=("$@")
[ ${#PGTAP_FILES[@]} -gt 0 ] || PGTAP_FILES=(30_rewrite 32_rewrite_keep_ctids 20_masking 45_running_again 50_discover)

install_dependencies
if ! command -v valgrind >/dev/null; then
	[ "$(id -u)" -eq 0 ] || die "valgrind is missing; run as root or install it"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends valgrind >/dev/null
fi
build_and_install

# A cluster as tools/test.sh makes it, then restarted under memcheck: pg_ctl
# starts the wrapper instead of postgres.  Every rewrite's pass is computed
# by two parallel workers (src/parallel.c), whatever the table's size; the
# planner makes no parallel plan of its own.
cluster_start "shared_preload_libraries = 'penelope_sandbox'" \
	"penelope_sandbox.server_role = 'sandbox'" \
	"max_parallel_workers_per_gather = 0" "max_parallel_maintenance_workers = 2" \
	"min_parallel_table_scan_size = 0"
run_as_postgres $PG_BIN/pg_ctl -D "$CLUSTER_DIR/data" -w stop >/dev/null
VG_LOGS=$CLUSTER_DIR/valgrind
mkdir "$VG_LOGS"
cat >"$CLUSTER_DIR/postgres-under-valgrind" <<EOF
#!/bin/sh
exec valgrind --quiet --leak-check=no --error-limit=no --num-callers=30 --track-origins=yes \\
	--read-var-info=no --log-file=$VG_LOGS/%p.log $PG_BIN/postgres "\$@"
EOF
chmod 755 "$CLUSTER_DIR/postgres-under-valgrind"
[ "$(id -u)" -ne 0 ] || chown -R postgres: "$VG_LOGS" "$CLUSTER_DIR/postgres-under-valgrind"
log "starting the postmaster under valgrind (slow)"
run_as_postgres $PG_BIN/pg_ctl -D "$CLUSTER_DIR/data" -l "$CLUSTER_DIR/server.log" \
	-p "$CLUSTER_DIR/postgres-under-valgrind" -t 600 -w start >/dev/null ||
	{ cat "$CLUSTER_DIR/server.log" >&2; die "the cluster did not start under valgrind"; }

failed=0
log "pg_regress (test/sql/) against the cluster under valgrind"
make_installcheck TAP_TESTS= \
	REGRESS_OPTS="--inputdir=test --load-extension=plpgsql --dbname=contrib_regression" || failed=1
log "pgTAP: ${PGTAP_FILES[*]}"
createdb pgtap
psql -X -q -d pgtap -c 'CREATE EXTENSION pgtap' >/dev/null
for f in "${PGTAP_FILES[@]}"; do
	pg_prove -d pgtap "$TOP/test/pgtap/$f.sql" || failed=1
done
run_as_postgres $PG_BIN/pg_ctl -D "$CLUSTER_DIR/data" -t 600 -w stop >/dev/null

# One memcheck report per process; an error is a block of "==PID== " lines
# ending with an empty one.  An error is the extension's when the first
# frame of its stack outside the C library is in the extension (a fault in
# its code, or in a libc call it made), or when the uninitialised bytes
# were allocated by it (the first frame past the allocators); an invalid
# read, write or free is the extension's when its stack passes through the
# extension at all (the server has none of its own).  Errors whose
# stack reaches the server first are the server's own (padding written to
# WAL or to the relcache init file, regex copies), even when the extension
# called that part of the server.
ours_frame="penelope_sandbox\\.so$(for c in "$TOP"/penelope_sandbox.c "$TOP"/src/*.c; do
	printf '|\\(%s:' "$(basename "$c" | sed 's/\./\\./')"; done)"
allocator_frame=': (\\?\\?\\?|palloc[a-z0-9_]*|repalloc[a-z_]*|MemoryContext[A-Za-z]*|pstrdup|pnstrdup|psprintf) \\('
classify() {
	awk -v OURS="$ours_frame" -v ALLOCATOR="$allocator_frame" '
	function flush() {
		if (block != "")
			printf "%s\n%s\n\036\n", (mine ? "OURS" : "THEIRS"), block
		block = ""; mine = 0; decided = 0; origin = 0; origin_decided = 0
	}
	/^==[0-9]+== [A-Z]/ && block == "" { block = $0; next }
	block != "" && /^==[0-9]+== *$/ { flush(); next }
	block != "" {
		block = block "\n" $0
		if ($0 ~ /Uninitialised value was created/) { origin = 1; next }
		if ($0 !~ /(at|by) 0x[0-9A-F]+:/) next
		if (!origin && !decided) {
			if ($0 ~ OURS) { mine = 1; decided = 1 }
			else if ($0 ~ /\(in [^)]*\/postgres\)/ && block !~ /^[^\n]*(Invalid|free)/) decided = 1
		} else if (origin && !origin_decided) {
			if ($0 ~ OURS) { mine = 1; origin_decided = 1 }
			else if ($0 ~ /\(in [^)]*\/postgres\)/ && $0 !~ ALLOCATOR) origin_decided = 1
		}
	}
	END { flush() }' "$@"
}
report=$CLUSTER_DIR/memcheck.txt
classify "$VG_LOGS"/*.log >"$report"
ours=$(grep -c '^OURS$' "$report" || true)
theirs=$(grep -c '^THEIRS$' "$report" || true)
awk 'BEGIN { RS = "\036\n" } /^OURS\n/ { sub(/^OURS\n/, ""); print }' "$report"
log "memcheck: $ours error(s) of penelope_sandbox, $theirs of the server alone," \
	"in $(ls "$VG_LOGS" | wc -l) processes"
if [ "$ours" -ne 0 ] || [ $failed -ne 0 ]; then
	keep=$(mktemp -d /tmp/penelope_sandbox_valgrind.XXXXXX)
	cp -r "$VG_LOGS" "$report" "$CLUSTER_DIR/server.log" "$keep"/
	die "valgrind run failed; memcheck's logs kept in $keep"
fi
log "valgrind: no error in penelope_sandbox's code"
