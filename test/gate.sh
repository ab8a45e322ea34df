#!/usr/bin/env bash
# test/gate.sh: the gate that keeps ordinary roles out of a sandbox copy
# until a sanitization of that copy has committed (issue 8, class 4).
#
# Every way in is tried: ordinary logins, fast-path function calls,
# walsender connections, sessions that were there before the database was
# marked or its extension re-created, copies made with CREATE DATABASE
# ... TEMPLATE, mixed-case names in the server's list, runs that roll back
# or are prepared, runs of another environment or with no rule, and a dump
# whose rules use a masker of its own.
source "$(dirname "$0")/../tools/testlib.sh"

# make_copy DB [ENV]: a database with PII and migration rules, readable by
# PUBLIC, marked as a sandbox of ENV (migration by default; - for none).
make_copy() {
	createdb "$1"
	sql "$1" <<-'SQL' >/dev/null
		CREATE EXTENSION penelope_sandbox;
		CREATE TABLE client (id int PRIMARY KEY, email text UNIQUE, active boolean);
		INSERT INTO client SELECT g, 'person' || g || '@mail.example.com', true
		  FROM generate_series(1, 1000) g;
		GRANT SELECT ON client TO PUBLIC;
		INSERT INTO sandbox.rule (environment, table_name, column_name, action, expression)
		VALUES ('migration', 'client', 'email', 'mask', $$'user' || id || '@example.invalid'$$),
		       ('migration', 'client', 'active', 'set', 'false');
	SQL
	[ "${2:-}" == - ] && return
	sql postgres -c "ALTER DATABASE \"$1\" SET penelope_sandbox.environment = '${2:-migration}'" >/dev/null
}

# clerk DB [psql args]: what an ordinary role gets when it reads the clients.
clerk() {
	local db=$1
	shift
	psql -X -A -t -U regress_clerk -d "$db" "$@" -c "SELECT count(*) FROM client" 2>&1
}

refused='is being prepared'

# fastpath CONNINFO FNOID LOID: call a function by the fast-path protocol
# (PQfn), as libpq's large object functions do, and print its result.
fastpath() {
	python3 - "$@" <<-'PY'
		import ctypes, sys
		pq = ctypes.CDLL("libpq.so.5")
		pq.PQconnectdb.restype = ctypes.c_void_p
		pq.PQconnectdb.argtypes = [ctypes.c_char_p]
		pq.PQstatus.argtypes = [ctypes.c_void_p]
		pq.PQerrorMessage.argtypes = [ctypes.c_void_p]
		pq.PQerrorMessage.restype = ctypes.c_char_p
		conn = pq.PQconnectdb(sys.argv[1].encode())
		if pq.PQstatus(conn) != 0:
		    print(pq.PQerrorMessage(conn).decode().strip())
		    sys.exit(0)
		class Arg(ctypes.Structure):
		    class U(ctypes.Union):
		        _fields_ = [("ptr", ctypes.c_void_p), ("integer", ctypes.c_int)]
		    _fields_ = [("len", ctypes.c_int), ("isint", ctypes.c_int), ("u", U)]
		arg = Arg()
		arg.len, arg.isint, arg.u.integer = 4, 1, int(sys.argv[3])
		buf = ctypes.create_string_buffer(4096)
		rlen = ctypes.c_int(0)
		pq.PQfn.restype = ctypes.c_void_p
		pq.PQfn.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
		                    ctypes.POINTER(ctypes.c_int), ctypes.c_int,
		                    ctypes.POINTER(Arg), ctypes.c_int]
		res = pq.PQfn(conn, int(sys.argv[2]), buf, ctypes.byref(rlen), 0, ctypes.byref(arg), 1)
		pq.PQresultStatus.argtypes = [ctypes.c_void_p]
		if pq.PQresultStatus(res) == 1:
		    print(buf.raw[:rlen.value].decode())
		else:
		    print(pq.PQerrorMessage(conn).decode().strip())
	PY
}

cluster_start "shared_preload_libraries = 'penelope_sandbox'" \
	"penelope_sandbox.server_role = 'sandbox'" \
	"penelope_sandbox.auto_sanitize = off" \
	"penelope_sandbox.naptime = 1" \
	"max_prepared_transactions = 2"
createuser regress_clerk
createuser regress_dba
createuser --replication regress_replicator
createuser --createdb regress_owner
cluster_conf "penelope_sandbox.admin_roles = 'regress_dba'"

echo "# (a) the copy opens only when the run's top-level transaction commits"
make_copy sub
sql sub -c "BEGIN" -c "SAVEPOINT s" -c "SELECT sandbox_sanitize('migration')" \
	-c "ROLLBACK TO SAVEPOINT s" -c "COMMIT" >/dev/null
like "$(clerk sub)" "$refused" "a run rolled back to a savepoint does not open the copy"
sql sub <<-'SQL' >/dev/null
	DO $$
	BEGIN
		PERFORM sandbox_sanitize('migration');
		RAISE EXCEPTION 'undo it';
	EXCEPTION WHEN raise_exception THEN
		NULL;
	END
	$$;
SQL
like "$(clerk sub)" "$refused" "a run undone by a PL/pgSQL exception block does not open the copy"
out=$(sql sub -c "BEGIN" -c "SELECT sandbox_sanitize('migration')" -c "PREPARE TRANSACTION 'p'")
like "$out" 'cannot prepare a transaction that sanitized a database' "PREPARE of a sanitizing transaction is refused"
sql sub -c "ROLLBACK PREPARED 'p'" >/dev/null 2>&1
sql sub -c "SELECT 1" >/dev/null
like "$(clerk sub)" "$refused" "and the copy stays closed after it"
is "$(sql sub -c "SELECT count(*) FROM pg_prepared_xacts")" 0 "no prepared transaction is left"
sql sub -c "BEGIN" -c "SAVEPOINT s" -c "SELECT sandbox_sanitize('migration')" -c "RELEASE s" -c "COMMIT" >/dev/null
is "$(clerk sub)" 1000 "a run in a released savepoint opens the copy when the transaction commits"

echo "# (b, f) every connection is decided when it starts, whatever the launcher has seen"
cluster_conf "penelope_sandbox.naptime = 3600"
sleep 1
make_copy fast
loid=$(sql fast -c "SELECT lo_from_bytea(0, 'SSN 123-45-6789')")
sql fast -c "GRANT SELECT ON LARGE OBJECT $loid TO PUBLIC" >/dev/null
fnoid=$(sql fast -c "SELECT 'pg_catalog.lo_get(oid)'::regprocedure::oid")
out=$(fastpath "host=$PGHOST port=$PGPORT dbname=fast user=regress_clerk" "$fnoid" "$loid")
like "$out" "$refused" "a fast-path call (lo_get) of an ordinary role is refused"
out=$(fastpath "host=$PGHOST port=$PGPORT dbname=fast user=regress_dba" "$fnoid" "$loid")
is "$out" 'SSN 123-45-6789' "(the same call of an admin role works)"
out=$(psql -X -A -t "host=$PGHOST port=$PGPORT dbname=fast replication=database user=regress_replicator" \
	-c "IDENTIFY_SYSTEM" 2>&1)
like "$out" "$refused" "a replication=database walsender of an ordinary role is refused"
out=$(psql -X -A -t -U regress_clerk -d fast -c '\echo connected' 2>&1)
like "$out" "$refused" "the login itself is refused, before any statement"
cluster_restart
out=$(psql -X -A -t -U regress_clerk -d fast -c '\echo connected' 2>&1)
like "$out" "$refused" "and right after a restart"

echo "# (c) the gate fails closed"
make_copy lockout
# The clerk logs in, then the check's catalog is locked and its lock_timeout
# makes any read of it fail: no later statement may get through.
(
	sleep 1
	sql postgres -c "BEGIN" -c "LOCK pg_db_role_setting IN ACCESS EXCLUSIVE MODE" -c "SELECT pg_sleep(4)" \
		-c "COMMIT" >/dev/null
) &
out=$(PGOPTIONS="-c lock_timeout=200" psql -X -A -t -U regress_clerk -d lockout \
	-c '\! sleep 2' -c "SELECT 1" -c "SELECT count(*) FROM client" 2>&1)
wait
like "$out" "$refused" "an ordinary role cannot log in, with the gate's catalog locked or not"
if grep -qx 1000 <<<"$out"; then is "read" "refused" "no statement reads the clients after a failed check"
else is "refused" "refused" "no statement reads the clients after a failed check"; fi
(sql postgres -c "BEGIN" -c "LOCK pg_shseclabel IN ACCESS EXCLUSIVE MODE" -c "SELECT pg_sleep(3)" -c "COMMIT" >/dev/null) &
sleep 1
out=$(PGOPTIONS="-c lock_timeout=200" psql -X -A -t -U regress_clerk -d lockout -c "SELECT count(*) FROM client" 2>&1)
wait
like "$out" 'FATAL' "a login whose check cannot read its catalog fails"
if grep -qx 1000 <<<"$out"; then is "read" "refused" "and reads nothing"
else is "refused" "refused" "and reads nothing"; fi
cluster_conf "penelope_sandbox.naptime = 1"

echo "# (d) a copy of a closed sandbox made with CREATE DATABASE ... TEMPLATE is closed too"
createdb -O regress_owner owned
sql owned -c "CREATE EXTENSION penelope_sandbox" >/dev/null
sql owned -c "CREATE TABLE client (id int, email text); INSERT INTO client SELECT g, 'p' || g || '@mail.example.com' FROM generate_series(1, 1000) g; GRANT SELECT ON client TO PUBLIC" >/dev/null
sql postgres -c "ALTER DATABASE owned SET penelope_sandbox.environment = 'migration'" >/dev/null
sleep 1.5
out=$(psql -X -A -t -U regress_owner -d postgres -c "CREATE DATABASE owned_copy TEMPLATE owned" 2>&1)
is "$out" "CREATE DATABASE" "the owner (with CREATEDB) copies the closed sandbox"
like "$(clerk owned_copy)" "$refused" "the copy is closed to ordinary roles"
is "$(sql postgres -c "SELECT setconfig::text FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE datname = 'owned_copy'")" \
	'{penelope_sandbox.environment=migration}' "the copy is marked with the same environment"
sleep 1.5
sql postgres -c "CREATE DATABASE owned_copy2 TEMPLATE owned" >/dev/null
like "$(clerk owned_copy2)" "$refused" "a superuser's copy is closed too"
make_copy open_src
sql open_src -c "SELECT sandbox_sanitize('migration')" >/dev/null
sleep 1.5
sql postgres -c "CREATE DATABASE open_copy TEMPLATE open_src" >/dev/null
is "$(clerk open_copy)" 1000 "a copy of a sanitized sandbox is not marked"

echo "# (e) names in penelope_sandbox.sandbox_databases are compared exactly"
createdb MixedCase
sql MixedCase -c "CREATE TABLE client (id int); INSERT INTO client SELECT generate_series(1, 1000); GRANT SELECT ON client TO PUBLIC" >/dev/null
cluster_conf "penelope_sandbox.sandbox_databases = '\"MixedCase\"=migration, other = migration'"
like "$(clerk MixedCase)" "$refused" "a double-quoted mixed-case name closes that database"
cluster_conf "penelope_sandbox.sandbox_databases = 'MixedCase=migration'"
is "$(sql postgres -c "SHOW penelope_sandbox.sandbox_databases")" '"MixedCase"=migration, other = migration' \
	"a bare mixed-case name is rejected, not folded to lower case"
like "$(grep -c 'must be double-quoted' "$CLUSTER_DIR/server.log")" '^[1-9]' "and the server log says why"
createdb listed_db
sql listed_db -c "CREATE TABLE client (id int); INSERT INTO client SELECT generate_series(1, 1000); GRANT SELECT ON client TO PUBLIC" >/dev/null
cluster_conf "penelope_sandbox.sandbox_databases = 'listed_db=migration'"
like "$(clerk listed_db)" "$refused" "a listed database is closed"
sql postgres -c "ALTER DATABASE listed_db RENAME TO unlisted_db" >/dev/null
like "$(clerk unlisted_db)" "$refused" "renamed out of the list, it stays closed"
cluster_conf "penelope_sandbox.sandbox_databases = ''"

echo "# (g) only a run of the marked environment that applied a rule opens the copy"
make_copy other_env
sql other_env -c "INSERT INTO sandbox.rule (environment, table_name, column_name, action, expression)
                  VALUES ('mirrored', 'client', 'active', 'set', 'false')" >/dev/null
like "$(sql other_env -c "SELECT sandbox_sanitize('mirrored')")" '^run [0-9]+' "a run of another environment succeeds"
like "$(clerk other_env)" "$refused" "but does not open a copy marked for migration"
make_copy norules mirrored
out=$(sql norules -c "SELECT sandbox_sanitize('mirrored')")
like "$out" 'has no rules in this database' "a run with no rule says it opens nothing"
like "$(clerk norules)" "$refused" "and the copy stays closed"

echo "# (h) sessions that were there before the copy closed are ended"
make_copy early -
out_file=$CLUSTER_DIR/early.out
psql -X -A -t -U regress_clerk -d early -c "SELECT pg_sleep(4)" -c "SELECT count(*) FROM client" >"$out_file" 2>&1 &
clerk_pid=$!
psql -X -A -t -U regress_dba -d early -c "SELECT pg_sleep(4)" -c "SELECT count(*) FROM client" >"$out_file.dba" 2>&1 &
sleep 1
sql postgres -c "ALTER DATABASE early SET penelope_sandbox.environment = 'migration'" >/dev/null
wait $clerk_pid
wait
like "$(cat "$out_file")" 'terminating connection' "an ordinary session connected before the mark is terminated"
is "$(grep -c '^1000$' "$out_file")" 0 "and reads nothing after the mark"
is "$(tail -n 1 "$out_file.dba")" 1000 "an admin session is left alone"

make_copy cleaned
sql cleaned -c "SELECT sandbox_sanitize('migration')" >/dev/null
pg_dump -Fc -f "$CLUSTER_DIR/cleaned.dump" cleaned
is "$(clerk cleaned)" 1000 "(the sanitized copy is open)"
psql -X -A -t -U regress_clerk -d cleaned -c "SELECT pg_sleep(5)" -c "SELECT count(*) FROM client" >"$out_file" 2>&1 &
clerk_pid=$!
sleep 1
pg_restore --clean --if-exists -d cleaned "$CLUSTER_DIR/cleaned.dump" 2>/dev/null
wait $clerk_pid
like "$(cat "$out_file")" 'terminating connection' "pg_restore --clean ends the sessions of ordinary roles"
like "$(clerk cleaned)" "$refused" "and closes the copy"
psql -X -A -t -U regress_clerk -d open_copy -c "SELECT pg_sleep(3)" -c "SELECT count(*) FROM client" >"$out_file" 2>&1 &
clerk_pid=$!
sleep 1
sql open_copy -c "BEGIN" -c "DROP EXTENSION penelope_sandbox CASCADE" -c "COMMIT" >/dev/null
wait $clerk_pid
is "$(tail -n 1 "$out_file")" 1000 "a database that is not marked keeps its sessions when its extension is dropped"

echo "# (i) a dump whose rules use a registered masker restores with them, and no rule never opens"
createdb masker_src
sql masker_src <<-'SQL' >/dev/null
	CREATE EXTENSION penelope_sandbox;
	CREATE TABLE client (id int PRIMARY KEY, note text);
	INSERT INTO client SELECT g, 'secret ' || g FROM generate_series(1, 100) g;
	GRANT SELECT ON client TO PUBLIC;
	CREATE FUNCTION public.mask_note(text) RETURNS text LANGUAGE sql IMMUTABLE
		AS $$ SELECT 'masked note' $$;
	CREATE FUNCTION public.is_masked_note(text) RETURNS boolean LANGUAGE sql IMMUTABLE
		AS $$ SELECT $1 = 'masked note' $$;
	INSERT INTO sandbox.masking_function VALUES ('public.mask_note(text)', 'public.is_masked_note(text)');
	INSERT INTO sandbox.rule (environment, table_name, column_name, action, expression)
	VALUES ('migration', 'client', 'note', 'mask', 'public.mask_note(note)');
SQL
pg_dump -Fc -f "$CLUSTER_DIR/masker.dump" masker_src
createdb masker_dst
sql postgres -c "ALTER DATABASE masker_dst SET penelope_sandbox.environment = 'migration'" >/dev/null
pg_restore -d masker_dst "$CLUSTER_DIR/masker.dump" 2>"$CLUSTER_DIR/restore.err"
is "$(cat "$CLUSTER_DIR/restore.err")" "" "the dump restores without an error"
is "$(sql masker_dst -c "SELECT count(*) FROM sandbox.rule")" 1 "the rule using the registered masker is restored"
is "$(sql masker_dst -c "SELECT count(*) FROM sandbox.masking_function WHERE masker = 'public.mask_note(text)'::regprocedure")" 1 \
	"and so is the masker's registration"
is "$(sql masker_dst -c "SELECT count(*) FROM sandbox.masking_function")" \
	"$(sql masker_src -c "SELECT count(*) FROM sandbox.masking_function")" "the shipped maskers are not duplicated"
like "$(sql masker_dst -c "SELECT sandbox_sanitize('migration')")" '1 rules' "the restored copy sanitizes with its rule"
is "$(clerk masker_dst | head -n 1)" 100 "and opens"

for db in $(sql postgres -c "SELECT datname FROM pg_database WHERE datname NOT IN ('postgres', 'template0', 'template1')"); do
	sql postgres -c "DROP DATABASE \"$db\" WITH (FORCE)" >/dev/null
done
make_copy empty_env mirrored
cluster_conf "penelope_sandbox.auto_sanitize = on"
for i in $(seq 1 50); do
	grep -q 'environment "mirrored" has no rules in database "empty_env"' "$CLUSTER_DIR/server.log" && break
	sleep 0.2
done
like "$(grep 'environment "mirrored" has no rules in database "empty_env"' "$CLUSTER_DIR/server.log" | head -n 1)" \
	'has no rules' "the launcher refuses to sanitize a copy with no rule"
is "$(sql empty_env -c "SELECT count(*) FROM sandbox.run WHERE status = 'succeeded'")" 0 "no run succeeds"
like "$(clerk empty_env)" "$refused" "and the copy stays closed"

finish
