# Makefile for penelope_sandbox (PGXS)
#
#   make && make install      build and install into the server of PG_CONFIG
#   make installcheck         pg_regress (test/sql, test/expected) and the TAP
#                             tests (t/*.pl), each in a temporary instance of
#                             the installed server: no running server needed
#
# Warnings are errors only where the developers and CI ask for it
# (tools/lib.sh builds with COPT=-Werror); a packager's build never fails
# on a new compiler's new warning.

MODULE_big = penelope_sandbox
OBJS = $(WIN32RES) penelope_sandbox.o $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))

EXTENSION = penelope_sandbox
EXTVERSION = $(shell sed -n "s/^default_version = '\([^']*\)'/\1/p" penelope_sandbox.control)
PGFILEDESC = "penelope_sandbox - sanitize restored copies of production"

# The current version's script is assembled from topical pieces, in name
# order.  The scripts of released versions and the upgrade scripts between
# versions are committed, frozen, in updates/.
SCRIPT_PARTS = $(sort $(wildcard src/sql/*.sql))
DATA_built = $(EXTENSION)--$(EXTVERSION).sql
DATA = $(sort $(wildcard updates/$(EXTENSION)--*.sql))

# Command-line tools, installed into the server's bindir.
SCRIPTS = bin/pg_sandbox_refresh

REGRESS = $(patsubst test/sql/%.sql,%,$(sort $(wildcard test/sql/*.sql)))
REGRESS_OPTS = --inputdir=test --load-extension=plpgsql \
	--temp-instance=./tmp_check --temp-config=test/regress.conf
TAP_TESTS = 1

PG_CPPFLAGS = -I$(srcdir)/src
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers
EXTRA_CLEAN = $(EXTENSION)--$(EXTVERSION).sql

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)

# Header dependencies: the compiler writes them (.deps/*.Po) as it builds,
# so a change to any header rebuilds exactly the objects that include it.
# "override" because the server's Makefile.global sets autodepend to what
# its own configure said.
override autodepend = yes

include $(PGXS)

# (The directory is a prerequisite too: removing a piece changes it.)
$(EXTENSION)--$(EXTVERSION).sql: $(SCRIPT_PARTS) src/sql
	cat $(SCRIPT_PARTS) > $@

# LLVM bitcode (for JIT inlining) is compiled by its own rule, which knows
# no headers: it follows its object, which does.
$(patsubst %.o,%.bc,$(filter %.o,$(OBJS))): %.bc: %.o
