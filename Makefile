# Makefile for penelope_sandbox (PGXS)

MODULE_big = penelope_sandbox
OBJS = $(WIN32RES) penelope_sandbox.o $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))

EXTENSION = penelope_sandbox
DATA_built = penelope_sandbox--1.0.sql
PGFILEDESC = "penelope_sandbox - sanitize restored copies of production"

# Command-line tools, installed into the server's bindir.
SCRIPTS = bin/pg_sandbox_refresh

# The extension script is assembled from topical pieces, in name order.
SCRIPT_PARTS = $(sort $(wildcard src/sql/*.sql))

REGRESS = $(patsubst test/sql/%.sql,%,$(sort $(wildcard test/sql/*.sql)))
REGRESS_OPTS = --inputdir=test --load-extension=plpgsql

PG_CPPFLAGS = -I$(srcdir)/src -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers
EXTRA_CLEAN = penelope_sandbox--1.0.sql

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

penelope_sandbox--1.0.sql: $(SCRIPT_PARTS)
	cat $^ > $@

# PGXS tracks no header dependencies: every object is rebuilt when the
# shared header changes.
$(patsubst %.c,%.o,$(wildcard src/*.c)) penelope_sandbox.o: src/penelope_sandbox.h
