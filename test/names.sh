#!/usr/bin/env bash
# test/names.sh: the C side of the naming rule (README "Names").
#
# A PostgreSQL 15 module exports every symbol that is not static, and the
# server loads modules with RTLD_GLOBAL: a global of ours with the same
# name as another module's is a silent clash.  So every symbol the
# installed library exports must start with sandbox_ (the module's own,
# pg_finfo_sandbox_* for the SQL-callable ones), pii_ (discovery) or mc_
# (the pure-C masking core), apart from the two PostgreSQL requires; and
# the core's prefix is the core's alone.  Exits non-zero on any failure;
# the last line is "N passed, M failed".
set -uo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
LIB=$($PG_BIN/pg_config --pkglibdir)/penelope_sandbox.so

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $*"; }

if [ ! -f "$LIB" ]; then
	not_ok "the library is installed ($LIB)"
	echo "$passed passed, $failed failed"
	exit 1
fi
exported=$(nm -D --defined-only "$LIB" | awk '{print $3}')

if [ "$(echo "$exported" | grep -c .)" -gt 100 ]; then
	ok "nm lists the library's exported symbols"
else
	not_ok "nm lists the library's exported symbols"
fi

stray=$(echo "$exported" | grep -Ev '^(sandbox_|pg_finfo_sandbox_|pii_|mc_)' |
	grep -Ev '^(Pg_magic_func|_PG_init)$')
if [ -z "$stray" ]; then
	ok "every exported symbol is sandbox_*, pii_* or mc_*"
else
	not_ok "every exported symbol is sandbox_*, pii_* or mc_*; not: $(echo $stray)"
fi

# mc_ belongs to the core: no file of the server side defines one
misplaced=
for src in "$TOP"/src/*.c "$TOP"/penelope_sandbox.c; do
	case $(basename "$src") in mask_core.c | mask_dictionaries.c | mask_unicode.c) continue ;; esac
	if grep -Eq '^mc_[a-z_0-9]+\(' "$src"; then
		misplaced="$misplaced $(basename "$src")"
	fi
done
if [ -z "$misplaced" ]; then
	ok "only the masking core defines mc_ functions"
else
	not_ok "only the masking core defines mc_ functions; also:$misplaced"
fi

echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
