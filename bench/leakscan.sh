#!/usr/bin/env bash
# bench/leakscan.sh: what discovery and the leak scan cost.
#
# A. The Penelope reference schema (demo/) at BENCH_SCALE clients (default
#    1,000,000) with sandbox_load_profile('penelope'):
#      - sandbox_discover('training_a'): wall time (its sample is bounded);
#      - sandbox_sanitize per environment (migration, training_a), with
#        penelope_sandbox.pii_check = off (no discovery, no leak scan) and
#        with the environment's own policy; from the ledger
#        (sandbox.leak_scan) the time of the fingerprinting before the
#        statements and of the scan after them, and the ratio of the two
#        to the run's own time with pii_check = off.
# B. Memory for BENCH_ORIGINALS distinct originals (default 10,000,000):
#    a table of that many distinct emails, one mask rule; the ledger's
#    memory_bytes, originals and durations.
#
# Every measurement starts from a fresh copy of a template database
# (createdb -T), then CHECKPOINT; medians of BENCH_RUNS (default 3) runs,
# variants interleaved.  Results: a markdown report on stdout.
# Environment: BENCH_SCALE, BENCH_ORIGINALS, BENCH_RUNS, BENCH_PARTS (A, B
# or AB), BENCH_NO_BUILD=1 to use the installed extension as it is.
#
# BENCH_BASELINE=<git revision>: part A also measures the library built
# from that revision (same SQL objects: only the C code may differ), in the
# same run: each repetition runs the baseline, then the current library,
# each after a restart of the server with its library installed, and the
# report has a row per library.  The load average is reported per row.
source "$(dirname "$0")/../tools/lib.sh"

SCALE=${BENCH_SCALE:-1000000}
ORIGINALS=${BENCH_ORIGINALS:-10000000}
RUNS=${BENCH_RUNS:-3}
PARTS=${BENCH_PARTS:-AB}

install_dependencies
[ -n "${BENCH_NO_BUILD:-}" ] || build_and_install
LIBDIR=$($PG_BIN/pg_config --pkglibdir)
WORK=$(mktemp -d /tmp/penelope_leakscan_bench.XXXXXX)
cp "$LIBDIR/penelope_sandbox.so" "$WORK/current.so"
# on exit: the current library installed again, the cluster and the copies removed
finish() {
	cluster_stop
	cp "$WORK/current.so" "$LIBDIR/penelope_sandbox.so.new"
	mv "$LIBDIR/penelope_sandbox.so.new" "$LIBDIR/penelope_sandbox.so"
	rm -rf "$WORK"
}
trap finish EXIT
variants=(current)
if [ -n "${BENCH_BASELINE:-}" ]; then
	log "building the baseline $BENCH_BASELINE"
	mkdir "$WORK/baseline"
	git -C "$TOP" archive "$BENCH_BASELINE" | tar -C "$WORK/baseline" -xf -
	make -C "$WORK/baseline" -s PG_CONFIG=$PG_BIN/pg_config >/dev/null
	cp "$WORK/baseline/penelope_sandbox.so" "$WORK/baseline.so"
	variants=(baseline current)
fi
cluster_start "shared_preload_libraries = 'penelope_sandbox'" \
	"penelope_sandbox.server_role = 'sandbox'" \
	"shared_buffers = 2GB" \
	"maintenance_work_mem = 1GB" \
	"max_wal_size = 8GB" \
	"autovacuum = off"
trap finish EXIT

q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }
# use_library VARIANT: install that library and restart the server with it
use_library() {
	cp "$WORK/$1.so" "$LIBDIR/penelope_sandbox.so.new"
	mv "$LIBDIR/penelope_sandbox.so.new" "$LIBDIR/penelope_sandbox.so"
	run_as_postgres $PG_BIN/pg_ctl -D "$CLUSTER_DIR/data" -l "$CLUSTER_DIR/server.log" -w restart >/dev/null
}
load1() { cut -d' ' -f1 /proc/loadavg; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
fresh() { dropdb --if-exists run >/dev/null 2>&1; createdb -T "$1" run; q -d run -c 'CHECKPOINT'; }

echo "# Discovery and leak scan, $(date -u +%F), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"
echo

if [[ $PARTS == *A* ]]; then
	log "generating the Penelope schema at scale $SCALE"
	createdb tpl_penelope
	q -d tpl_penelope -c 'CREATE EXTENSION penelope_sandbox' \
		-f "$TOP/demo/penelope_schema.sql" -f "$TOP/demo/penelope_generate.sql" \
		-c "SELECT count(*) FROM penelope.generate($SCALE)" \
		-c "SELECT sandbox_load_profile('penelope')" >/dev/null
	q -d tpl_penelope -c 'VACUUM FREEZE ANALYZE'

	echo "## A. Penelope schema, scale $SCALE"
	echo
	declare -a disc=()
	for r in $(seq "$RUNS"); do
		s=$(date +%s.%N)
		q -d tpl_penelope -c "SELECT count(*) FROM sandbox_discover('training_a')" >/dev/null
		disc+=("$(echo "$(date +%s.%N) - $s" | bc)")
	done
	echo "sandbox_discover('training_a'): median $(printf '%s\n' "${disc[@]}" | median) s of $RUNS runs"
	echo
	echo "| environment | library | run, pii_check off (s) | run with its policy (s) | fingerprinting (s) | scan (s) | leak scan / run | (run with − off) / off | originals | rows scanned | hits | memory (MiB) | load average |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
	for env in migration training_a; do
		declare -A off=() on=() col=() scn=() info=() loads=()
		for r in $(seq "$RUNS"); do
			for v in "${variants[@]}"; do
				[ ${#variants[@]} -eq 1 ] || use_library "$v"
				loads[$v]+="$(load1) "
				for mode in off environment; do
					fresh tpl_penelope
					s=$(date +%s.%N)
					q -d run -c "SET penelope_sandbox.pii_check = $mode" -c "SET client_min_messages = error" \
						-c "SELECT sandbox_sanitize('$env')" >/dev/null
					t=$(echo "$(date +%s.%N) - $s" | bc)
					if [ $mode = off ]; then
						off[$v]+="$t "
					else
						on[$v]+="$t "
						read -r c sc i < <(q -d run -F ' ' -c "SELECT extract(epoch FROM collect_duration), extract(epoch FROM scan_duration), originals || ' ' || rows_scanned || ' ' || hits || ' ' || round(memory_bytes / 1048576.0, 1) FROM sandbox.leak_scan")
						col[$v]+="$c "; scn[$v]+="$sc "; info[$v]="$i"
					fi
				done
				loads[$v]+="$(load1) "
			done
		done
		for v in "${variants[@]}"; do
			mo=$(printf '%s\n' ${off[$v]} | median)
			mn=$(printf '%s\n' ${on[$v]} | median)
			mc=$(printf '%s\n' ${col[$v]} | median)
			ms=$(printf '%s\n' ${scn[$v]} | median)
			ratio=$(echo "scale=3; ($mc + $ms) / $mo" | bc)
			marginal=$(echo "scale=3; ($mn - $mo) / $mo" | bc)
			ld=$(printf '%s\n' ${loads[$v]} | sort -g | awk '{a[NR]=$1} END {print a[1] "-" a[NR]}')
			set -- ${info[$v]}
			echo "| $env | $v | $mo | $mn | $mc | $ms | $ratio | $marginal | $1 | $2 | $3 | $4 | $ld |"
		done
		unset off on col scn info loads
	done
	echo
fi

if [[ $PARTS == *B* ]]; then
	log "a table of $ORIGINALS distinct emails"
	createdb tpl_orig
	q -d tpl_orig -c 'CREATE EXTENSION penelope_sandbox' \
		-c "CREATE TABLE people (id bigint PRIMARY KEY, email text)" \
		-c "INSERT INTO people SELECT i, 'person' || i || '@mail.example.org' FROM generate_series(1, $ORIGINALS) i" \
		-c "INSERT INTO sandbox.environment (name) VALUES ('bench')" \
		-c "INSERT INTO sandbox.rule (environment, table_name, column_name, action, expression) VALUES ('bench', 'people', 'email', 'mask', 'sandbox.mask_email(email)')" \
		-c "INSERT INTO sandbox.discovery_policy VALUES ('bench', '{}', 'warning')" \
		-c "SET penelope_sandbox.secret = 'bench passphrase, long enough'" >/dev/null
	q -d tpl_orig -c 'VACUUM FREEZE ANALYZE'
	echo "## B. $ORIGINALS distinct originals"
	echo
	echo "| library | run (s) | originals | complete | memory (MiB) | fingerprinting (s) | scan (s) | load average |"
	echo "|---|---|---|---|---|---|---|---|"
	for v in "${variants[@]}"; do
		[ ${#variants[@]} -eq 1 ] || use_library "$v"
		fresh tpl_orig
		s=$(date +%s.%N)
		q -d run -c "SELECT sandbox_sanitize('bench')" >/dev/null
		t=$(echo "$(date +%s.%N) - $s" | bc)
		echo "| $v | $t | $(q -d run -F ' | ' -c "SELECT originals, complete, round(memory_bytes / 1048576.0, 1), round(extract(epoch FROM collect_duration), 2), round(extract(epoch FROM scan_duration), 2) FROM sandbox.leak_scan") | $(load1) |"
	done
	echo
fi
