# tools/lib.sh: shared shell functions of the project's commands (sourced).
#
# Everything here works on a fresh Debian 12 machine as root: it installs
# what is missing, builds the extension, and runs a throwaway PostgreSQL
# cluster owned by the unprivileged "postgres" account in a private
# directory, on a private Unix socket, with no TCP listener.

set -euo pipefail

PG_MAJOR=15
# PG_BIN may point at a private copy of the server (parallel work trees).
PG_BIN=${PG_BIN:-/usr/lib/postgresql/$PG_MAJOR/bin}
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# install_dependencies: apt packages the build, the tests and the demo need.
install_dependencies() {
	local pkgs=(postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR
		postgresql-$PG_MAJOR-pgtap pgtap postgresql-$PG_MAJOR-cron
		libipc-run-perl libkrb5-dev make gcc clang libclang-rt-14-dev)
	local missing=()
	for p in "${pkgs[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || die "missing packages (${missing[*]}); run as root or install them"
	log "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# build_and_install: compile with -Werror (development and CI only: the
# Makefile itself does not make warnings errors) and install into the server.
build_and_install() {
	log "building penelope_sandbox"
	make -C "$TOP" -s PG_CONFIG=$PG_BIN/pg_config COPT=-Werror
	make -C "$TOP" -s PG_CONFIG=$PG_BIN/pg_config install >/dev/null
}

# run_as_postgres CMD...: run a server binary as the unprivileged account.
run_as_postgres() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# cluster_start: initdb + start a throwaway cluster; sets PGHOST, PGPORT,
# PGUSER, CLUSTER_DIR and registers its removal on exit.
# Extra postgresql.conf lines may be passed as arguments.
cluster_start() {
	CLUSTER_DIR=$(mktemp -d /tmp/penelope_sandbox.XXXXXX)
	chmod 755 "$CLUSTER_DIR"
	[ "$(id -u)" -eq 0 ] && chown postgres: "$CLUSTER_DIR"
	export PGHOST=$CLUSTER_DIR PGPORT=${PGPORT:-$((20000 + RANDOM % 20000))} PGUSER=postgres PGDATABASE=postgres
	trap cluster_stop EXIT
	run_as_postgres $PG_BIN/initdb -D "$CLUSTER_DIR/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
	{
		echo "listen_addresses = ''"
		echo "unix_socket_directories = '$CLUSTER_DIR'"
		echo "port = $PGPORT"
		echo "fsync = off"
		echo "shared_buffers = 256MB"
		echo "max_wal_size = 4GB"
		echo "log_min_messages = warning"
		for line in "$@"; do echo "$line"; done
	} >> "$CLUSTER_DIR/data/postgresql.conf"
	run_as_postgres $PG_BIN/pg_ctl -D "$CLUSTER_DIR/data" -l "$CLUSTER_DIR/server.log" -w start >/dev/null \
		|| { cat "$CLUSTER_DIR/server.log" >&2; die "the throwaway cluster did not start"; }
	log "throwaway cluster on socket $PGHOST port $PGPORT"
}

cluster_stop() {
	[ -n "${CLUSTER_DIR:-}" ] || return 0
	run_as_postgres $PG_BIN/pg_ctl -D "$CLUSTER_DIR/data" -m immediate stop >/dev/null 2>&1 || true
	if [ -n "${KEEP_CLUSTER_LOG:-}" ]; then
		cp "$CLUSTER_DIR/server.log" "$KEEP_CLUSTER_LOG" 2>/dev/null || true
	fi
	rm -rf "$CLUSTER_DIR"
	CLUSTER_DIR=
}

# make_installcheck [MAKE ARGS...]: "make installcheck" (pg_regress and the
# TAP tests in t/, each in temporary instances of the installed server) as
# the unprivileged account, in a scratch copy of the tree, since initdb
# refuses root.  Extra arguments go to make (e.g. REGRESS= or
# PROVE_TESTS=t/002_dump_restore.pl).  The copy is removed on success and
# kept, with its logs (tmp_check/log/), on failure.
make_installcheck() {
	local dir rc=0
	dir=$(mktemp -d /tmp/penelope_sandbox_check.XXXXXX)
	tar -C "$TOP" --exclude=./.git --exclude=./tmp_check --exclude=./results -cf - . | tar -C "$dir" -xf -
	[ "$(id -u)" -ne 0 ] || chown -R postgres: "$dir"
	run_as_postgres make -C "$dir" -s PG_CONFIG=$PG_BIN/pg_config installcheck "$@" || rc=$?
	if [ $rc -eq 0 ]; then
		rm -rf "$dir"
	else
		cat "$dir/regression.diffs" >&2 2>/dev/null || true
		log "make installcheck failed; kept $dir"
	fi
	return $rc
}
