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
source "$(dirname "$0")/../tools/lib.sh"

SCALE=${BENCH_SCALE:-1000000}
ORIGINALS=${BENCH_ORIGINALS:-10000000}
RUNS=${BENCH_RUNS:-3}
PARTS=${BENCH_PARTS:-AB}

install_dependencies
[ -n "${BENCH_NO_BUILD:-}" ] || build_and_install
cluster_start "shared_preload_libraries = 'penelope_sandbox'" \
	"penelope_sandbox.server_role = 'sandbox'" \
	"shared_buffers = 2GB" \
	"maintenance_work_mem = 1GB" \
	"max_wal_size = 8GB" \
	"autovacuum = off"

q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
fresh() { dropdb --if-exists run >/dev/null 2>&1; createdb -T "$1" run; q -d run -c 'CHECKPOINT'; }

echo "# Discovery and leak scan, $(date -u +%F), $(nproc) cores"
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
	echo "| environment | run, pii_check off (s) | run with its policy (s) | fingerprinting (s) | scan (s) | leak scan / run | originals | rows scanned | hits |"
	echo "|---|---|---|---|---|---|---|---|---|"
	for env in migration training_a; do
		off=(); on=(); col=(); scn=(); info=""
		for r in $(seq "$RUNS"); do
			for mode in off environment; do
				fresh tpl_penelope
				s=$(date +%s.%N)
				q -d run -c "SET penelope_sandbox.pii_check = $mode" -c "SET client_min_messages = error" \
					-c "SELECT sandbox_sanitize('$env')" >/dev/null
				t=$(echo "$(date +%s.%N) - $s" | bc)
				if [ $mode = off ]; then
					off+=("$t")
				else
					on+=("$t")
					read -r c sc info < <(q -d run -F ' ' -c "SELECT extract(epoch FROM collect_duration), extract(epoch FROM scan_duration), originals || ' ' || rows_scanned || ' ' || hits FROM sandbox.leak_scan")
					col+=("$c"); scn+=("$sc")
				fi
			done
		done
		mo=$(printf '%s\n' "${off[@]}" | median)
		mn=$(printf '%s\n' "${on[@]}" | median)
		mc=$(printf '%s\n' "${col[@]}" | median)
		ms=$(printf '%s\n' "${scn[@]}" | median)
		ratio=$(echo "scale=3; ($mc + $ms) / $mo" | bc)
		set -- $info
		echo "| $env | $mo | $mn | $mc | $ms | $ratio | $1 | $2 | $3 |"
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
	fresh tpl_orig
	s=$(date +%s.%N)
	q -d run -c "SELECT sandbox_sanitize('bench')" >/dev/null
	t=$(echo "$(date +%s.%N) - $s" | bc)
	echo "## B. $ORIGINALS distinct originals"
	echo
	echo "| run (s) | originals | complete | memory (MB) | fingerprinting (s) | scan (s) |"
	echo "|---|---|---|---|---|---|"
	echo "| $t | $(q -d run -F ' | ' -c "SELECT originals, complete, round(memory_bytes / 1048576.0), round(extract(epoch FROM collect_duration), 2), round(extract(epoch FROM scan_duration), 2) FROM sandbox.leak_scan") |"
	echo
fi
