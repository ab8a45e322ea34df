#!/usr/bin/env bash
# tools/test.sh: the whole test suite, from a fresh Debian machine.
#
# Installs what is missing, builds with -Werror, runs "make installcheck"
# (pg_regress: test/sql/ + test/expected/; TAP: t/*.pl; each in temporary
# instances), every pgTAP file in test/pgtap/ with pg_prove in a throwaway
# cluster, then the script-driven suites in test/*.sh, and exits non-zero
# on any failure.  Usage: tools/test.sh
source "$(dirname "$0")/lib.sh"

install_dependencies
build_and_install

failed=0
log "make installcheck: pg_regress"
make_installcheck TAP_TESTS= || failed=1
log "make installcheck: TAP (t/)"
make_installcheck REGRESS= || failed=1

# The suites start their own clusters where they need other settings.
cluster_start "shared_preload_libraries = 'penelope_sandbox'" "penelope_sandbox.server_role = 'sandbox'"
log "pgTAP"
createdb pgtap
psql -X -q -d pgtap -c 'CREATE EXTENSION pgtap' >/dev/null
if ! pg_prove -d pgtap --ext .sql "$TOP"/test/pgtap/; then
	failed=1
fi
cluster_stop

for suite in "$TOP"/test/*.sh; do
	[ -e "$suite" ] || continue
	log "$(basename "$suite")"
	bash "$suite" || failed=1
done

if [ $failed -ne 0 ]; then
	die "some tests failed"
fi
log "all tests passed"
