#!/usr/bin/env bash
# bench/masking.sh: cost of the masking functions (issue 3).
#
# Starts a throwaway cluster, builds 1,000,000 rows of synthetic people,
# and times, in one session and median of 3, "SELECT count(f(col)) FROM t"
# for each masking function and for md5(email) and hashtext(email); the
# cost per value is the time above a bare "SELECT count(col)", so it is
# the function alone.  Parallel query is off, so every function runs in
# one process (the maskers are PARALLEL RESTRICTED, md5 is not).
#
# Then the three masks email/phone/last_name through sandbox_sanitize()
# against the same sanitize with constant-ish expressions, each on a fresh
# copy of the table with indexes on email and last_name, median of 3;
# and the same with md5-based pseudonyms for comparison.
#
# Then bench/masking_pairs.sql: each masker against its recogniser (ns per
# value, and their ratio: a recogniser must cost less than its masker),
# on Latin and non-Latin values, and mask_text on 7 KB TOASTed notes in ns
# per byte against md5 per byte.
#
# Usage: bench/masking.sh [rows]   (default 1000000)
# MASKING_BENCH_PARTS picks parts (default "functions pairs sanitize").
source "$(dirname "$0")/../tools/lib.sh"

ROWS=${1:-1000000}
PARTS=${MASKING_BENCH_PARTS:-functions pairs sanitize}
install_dependencies
build_and_install
cluster_start "shared_preload_libraries = 'penelope_sandbox'" \
	"penelope_sandbox.server_role = 'sandbox'" \
	"max_parallel_workers_per_gather = 0" \
	"maintenance_work_mem = '512MB'" \
	"checkpoint_timeout = '30min'"

createdb bench
psql -X -q -v ON_ERROR_STOP=1 -d bench -v rows="$ROWS" -f "$TOP/bench/masking_setup.sql"
if [[ " $PARTS " == *" functions "* ]]; then
	log "timing each function over $ROWS values"
	psql -X -q -v ON_ERROR_STOP=1 -d bench -v rows="$ROWS" -f "$TOP/bench/masking_functions.sql"
fi
if [[ " $PARTS " == *" pairs "* ]]; then
	log "maskers against recognisers over $ROWS values; mask_text per byte"
	psql -X -q -v ON_ERROR_STOP=1 -d bench -v rows="$ROWS" -f "$TOP/bench/masking_pairs.sql"
fi
if [[ " $PARTS " == *" sanitize "* ]]; then
	log "sanitize: three masks vs constant expressions, $ROWS rows"
	psql -X -q -v ON_ERROR_STOP=1 -d bench -v rows="$ROWS" -f "$TOP/bench/masking_sanitize.sql"
fi
