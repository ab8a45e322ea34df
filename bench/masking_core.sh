#!/usr/bin/env bash
# bench/masking_core.sh: the pure-C masking core, without a server.
#
# Builds bench/masking_core_bench.c with the core at -O2 and runs it: CPU
# time per value of each masker and its recogniser, and per byte of
# mask_text and is_masked_text on 7 KB notes (median of 7 runs each).
# The server-side figures (with fmgr, detoasting, and against md5) come
# from bench/masking.sh.
set -euo pipefail
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$(mktemp -d /tmp/masking_core_bench.XXXXXX)}
${CC:-gcc} -std=c99 -O2 -Wall -Wextra -Werror -I"$TOP/src" \
	"$TOP/src/mask_core.c" "$TOP/src/mask_dictionaries.c" "$TOP/src/mask_unicode.c" \
	"$TOP/bench/masking_core_bench.c" -o "$BUILD/masking_core_bench"
"$BUILD/masking_core_bench"
