#!/usr/bin/env bash
# test/masking_core.sh: the pure-C masking core, without a server.
#
# Builds src/mask_core.c and src/mask_dictionaries.c with clang under
# AddressSanitizer and UndefinedBehaviorSanitizer into a unit-test binary
# (test/unit/masking_unit.c) and runs it, then builds the libFuzzer
# harness (test/unit/masking_fuzz.c) and fuzzes for a bounded time
# (MASKING_FUZZ_SECONDS, default 15).  Needs clang and libclang-rt-14-dev
# (tools/lib.sh installs them).  Exits non-zero on any failure; the last
# line is "N passed, M failed".
set -uo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$TOP/test/unit/build
FUZZ_SECONDS=${MASKING_FUZZ_SECONDS:-15}
CC=${CLANG:-clang}
CFLAGS=(-std=c99 -g -O1 -Wall -Wextra -Werror -I"$TOP/src")
CORE=("$TOP/src/mask_core.c" "$TOP/src/mask_dictionaries.c" "$TOP/src/mask_unicode.c")

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $*"; }

mkdir -p "$BUILD"

# 1. The core compiles on its own, warning-free, with no server headers.
if gcc -std=c99 -Wall -Wextra -Werror -pedantic -O2 -c "$TOP/src/mask_core.c" -o "$BUILD/mask_core.o" &&
	! grep -q 'postgres\|fmgr\|include "utils' "$TOP/src/mask_core.c" "$TOP/src/mask_core.h"; then
	ok "mask_core.c compiles standalone with gcc -pedantic"
else
	not_ok "mask_core.c compiles standalone with gcc -pedantic"
fi

# 2. Unit tests under ASan + UBSan.
if $CC "${CFLAGS[@]}" -fsanitize=address,undefined -fno-sanitize-recover=all \
	"${CORE[@]}" "$TOP/test/unit/masking_unit.c" -o "$BUILD/masking_unit"; then
	ok "unit tests build with -fsanitize=address,undefined"
	out=$("$BUILD/masking_unit" 2>&1)
	rc=$?
	echo "$out" | grep -v '^unit:' || true
	summary=$(echo "$out" | grep '^unit:' | tail -n 1)
	echo "$summary"
	up=$(echo "$summary" | sed -n 's/^unit: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
	uf=$(echo "$summary" | sed -n 's/^unit: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
	passed=$((passed + ${up:-0}))
	failed=$((failed + ${uf:-0}))
	if [ $rc -ne 0 ] && [ "${uf:-0}" -eq 0 ]; then
		not_ok "unit test binary exited with status $rc"
	fi
else
	not_ok "unit tests build with -fsanitize=address,undefined"
fi

# 2b. The same without SIMD (the portable code paths of other platforms).
if $CC "${CFLAGS[@]}" -DMC_NO_SIMD -fsanitize=address,undefined -fno-sanitize-recover=all \
	"${CORE[@]}" "$TOP/test/unit/masking_unit.c" -o "$BUILD/masking_unit_nosimd" &&
	"$BUILD/masking_unit_nosimd" > "$BUILD/nosimd.log" 2>&1; then
	ok "unit tests pass without SIMD ($(tail -n 1 "$BUILD/nosimd.log"))"
else
	grep -v '^unit:' "$BUILD/nosimd.log" || true
	not_ok "unit tests without SIMD"
fi

# 3. libFuzzer, bounded in time, from a small seed corpus.
if $CC "${CFLAGS[@]}" -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	"${CORE[@]}" "$TOP/test/unit/masking_fuzz.c" -o "$BUILD/masking_fuzz"; then
	ok "fuzz harness builds with -fsanitize=fuzzer,address,undefined"
	corpus=$BUILD/corpus
	mkdir -p "$corpus"
	i=0
	for seed in 'ann.lee@example.org' '+1 (212) 736-5000' '07911 123456' '+44 (0)20 7123 4567' \
		'0412 345 678' '123-45-6789' 'AB 12 34 56 C' 'Smith, John' 'Mary Ann Smith' \
		'12 High Street, Springfield' 'not an email' '+' '---' '' \
		"$(printf 'J\xc3\xbcrgen M\xc3\xbcller')" "$(printf '\xe6\x9d\x8e\xe5\x8d\x8e 0049 30 1234567')"; do
		printf '%s' "$seed" > "$corpus/seed$i"
		i=$((i + 1))
	done
	if (cd "$BUILD" && ./masking_fuzz -max_total_time="$FUZZ_SECONDS" -max_len=4096 -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 "$corpus" > fuzz.log 2>&1); then
		ok "fuzzing for ${FUZZ_SECONDS}s found nothing ($(grep -o 'stat::number_of_executed_units: *[0-9]*' "$BUILD/fuzz.log" | grep -o '[0-9]*$') runs)"
	else
		tail -n 40 "$BUILD/fuzz.log"
		not_ok "fuzzing found a failure (see $BUILD/fuzz.log and the crash-* file)"
	fi
else
	not_ok "fuzz harness builds"
fi

echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
