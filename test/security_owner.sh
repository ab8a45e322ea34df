#!/usr/bin/env bash
# test/security_owner.sh: a hostile table owner against the background
# worker, and the server log (issue 8, classes 2, 3 and 6).
#
# sql/security_owner.sql covers the synchronous calls; this suite runs
# sandbox_sanitize_async, whose sanitizer is a background worker, and
# reads the server log, which pg_regress cannot: owner code may run only
# as the owner, leave no setting behind, compute no mask, and no row
# value may reach the log.  Last, owner functions in index expressions
# cannot read originals through an index the rewrite has not rebuilt yet.
source "$(dirname "$0")/../tools/testlib.sh"

cluster_start "shared_preload_libraries = 'penelope_sandbox'" \
	"penelope_sandbox.server_role = 'sandbox'" \
	"log_min_messages = notice" \
	"log_min_error_statement = panic"
createuser regress_app
createdb sec

sql sec <<-'SQL' >/dev/null
	CREATE EXTENSION penelope_sandbox;
	CREATE SCHEMA app AUTHORIZATION regress_app;
	CREATE SCHEMA evil AUTHORIZATION regress_app;
	SET ROLE regress_app;
	CREATE TABLE app.seen (tag text, who name);
	CREATE TABLE app.client (id int PRIMARY KEY, surname text, email text, note text);
	INSERT INTO app.client SELECT g, 'Xylocarpa' || g, 'xylo' || g || '@mail.example.com', 'Quorvane' || g
	  FROM generate_series(1, 50) g;
	CREATE FUNCTION app.escalate(tag text) RETURNS boolean LANGUAGE plpgsql AS $$
	BEGIN
		BEGIN
			EXECUTE 'ALTER ROLE regress_app SUPERUSER';
		EXCEPTION WHEN others THEN NULL;
		END;
		INSERT INTO app.seen VALUES (tag, current_user);
		RETURN true;
	END $$;
	CREATE FUNCTION evil.int8eq(bigint, bigint) RETURNS boolean LANGUAGE plpgsql AS $$
	BEGIN
		PERFORM app.escalate('shadowing operator');
		RETURN $1 OPERATOR(pg_catalog.=) $2;
	END $$;
	CREATE OPERATOR evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.int8eq);
	-- A run fires no user trigger: the owner's code sits in a CHECK
	-- constraint, which the rewrite evaluates, as the owner, on every row.
	CREATE FUNCTION app.hostile(note text) RETURNS boolean LANGUAGE plpgsql AS $$
	BEGIN
		PERFORM pg_catalog.set_config('search_path', 'evil, pg_catalog', false);
		BEGIN
			INSERT INTO app.seen VALUES ('mask: ' || sandbox.mask_email('guess@example.com'), current_user);
		EXCEPTION WHEN others THEN
			INSERT INTO app.seen VALUES ('mask refused', current_user);
		END;
		RAISE WARNING 'warning about %', note;
		RAISE LOG 'log about %', note;
		RETURN true;
	END $$;
	ALTER TABLE app.client ADD CONSTRAINT hostile CHECK (app.hostile(note)) NOT VALID;
	RESET ROLE;
	INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('migration', 'app', 'client', 'email', 'mask', 'sandbox.mask_email(email)'),
	       ('migration', 'app', 'client', 'surname', 'mask', 'sandbox.mask_last_name(surname)');
SQL

echo "# the asynchronous run"
run=$(sql sec -c "SELECT sandbox_sanitize_async('migration')")
like "$run" '^[0-9]+$' "sandbox_sanitize_async queues a run"
wait_for sec "SELECT status <> 'running' AND status <> 'queued' FROM sandbox.run WHERE id = $run" 60
is "$(sql sec -c "SELECT status FROM sandbox.run WHERE id = $run")" succeeded "the run succeeded"
like "$(sql sec -c "SELECT summary FROM sandbox.run WHERE id = $run")" 'messages of owner code silenced$' \
	"the summary counts the owner's messages"
is "$(sql sec -c "SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_app'")" f \
	"owner code did not run as a superuser in the worker"
is "$(sql sec -c "SELECT string_agg(DISTINCT who, ',') FROM app.seen")" regress_app "owner code ran as its owner"
is "$(sql sec -c "SELECT count(*) FROM app.seen WHERE tag LIKE 'mask:%'")" 0 "owner code computed no mask"
is "$(sql sec -c "SELECT count(*) FROM app.seen WHERE tag = 'mask refused'")" 50 "every try was refused"
is "$(sql sec -c "SELECT count(*) FROM app.client WHERE email NOT LIKE '%@example.invalid'")" 0 \
	"the engine's own masks applied"

echo "# the synchronous run, and an error made of a row value"
# (the suite's own changes do not run the owner's code)
sql sec -c "ALTER TABLE app.client DROP CONSTRAINT hostile" \
	-c "UPDATE app.client SET email = 'xylo' || id || '@mail.example.com', surname = 'Xylocarpa' || id" \
	-c "ALTER TABLE app.client ADD CONSTRAINT hostile CHECK (app.hostile(note)) NOT VALID" \
	-c "DELETE FROM sandbox.run_rule" >/dev/null   # original data again: every rule applies again
sql sec -c "ALTER ROLE regress_app NOSUPERUSER" >/dev/null
out=$(sql sec -c "SELECT sandbox_sanitize('migration')" -c "SHOW search_path")
like "$out" '"\$user", public$' "the caller's search_path is its own afterwards"
is "$(sql sec -c "SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_app'")" f \
	"owner code did not run as a superuser in the call"
sql sec <<-'SQL' >/dev/null
	ALTER TABLE app.client DROP CONSTRAINT hostile;
	UPDATE app.client SET surname = 'Xylocarpa' || id;
	DELETE FROM sandbox.run_rule;
	CREATE OR REPLACE FUNCTION app.hostile(note text) RETURNS boolean LANGUAGE plpgsql AS $$
	BEGIN
		EXECUTE 'SELECT * FROM ' || quote_ident(note);
		RETURN true;
	END $$;
	ALTER TABLE app.client ADD CONSTRAINT hostile CHECK (app.hostile(note)) NOT VALID;
SQL
out=$(sql sec -c "SELECT sandbox_sanitize('migration')")
like "$out" 'failed (together )?on table app.client' "an owner CHECK function's error fails the run"

echo "# the server log"
log=$(cat "$CLUSTER_DIR/server.log")
is "$(grep -c -E 'Xylocarpa|Quorvane|xylo[0-9]+@' <<<"$log")" 0 "no row value in the server log"
is "$(grep -c -E '^.*(WARNING|LOG): +(warning|log) about' <<<"$log")" 0 "no owner WARNING or LOG line in the server log"
like "$log" 'failed (together )?on table app.client' "the run's own error is in the log"


# ---- owner index expressions that read the table while its indexes are rebuilt ----
# The rewrite keeps the primary key and rebuilds the indexes holding email.
# While one index is rebuilt, or a moved row is entered in a kept index,
# the others still hold the original values; an owner function in an
# index expression, reading the table through them (an index-only scan
# returns the index's values), would copy originals into a table of its
# own. Two variants: an expression of an index rebuilt, and one of an
# index kept (evaluated for each row that moved).
createdb stale
sql stale <<-'SQL' >/dev/null
	CREATE EXTENSION penelope_sandbox;
	CREATE SCHEMA app AUTHORIZATION regress_app;
	SET ROLE regress_app;
	CREATE TABLE app.loot (tag text, email text);
	CREATE TABLE app.armed ();
	CREATE TABLE app.person (id int PRIMARY KEY, email text, name text);
	INSERT INTO app.person SELECT g, 'stolen' || g || '@mail.example.com', 'Name' || g FROM generate_series(1, 2000) g;
	-- an IMMUTABLE function may not write, but may call one that does
	CREATE FUNCTION app.steal(tag text) RETURNS void LANGUAGE plpgsql VOLATILE
		SET enable_seqscan = off SET enable_bitmapscan = off AS $$
	BEGIN
		IF EXISTS (SELECT FROM app.armed) AND NOT EXISTS (SELECT FROM app.loot WHERE loot.tag = steal.tag) THEN
			INSERT INTO app.loot VALUES (steal.tag, NULL);
			BEGIN
				INSERT INTO app.loot SELECT steal.tag, email FROM app.person
				  WHERE email >= 's' AND email < 't' ORDER BY email LIMIT 3;
			EXCEPTION WHEN others THEN
				NULL;	-- an index being rebuilt cannot be read: let the run go on
			END;
		END IF;
	END $$;
	CREATE FUNCTION app.peek(tag text, v text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
	BEGIN
		PERFORM app.steal(tag);
		RETURN v;
	END $$;
	-- made before the index on email, so rebuilt before it; a hash index,
	-- which the planner cannot use for the range read above
	CREATE INDEX person_peek_rebuilt ON app.person USING hash (app.peek('rebuilt', email));
	CREATE INDEX person_email ON app.person (email);
	CREATE INDEX person_peek_kept ON app.person (app.peek('kept', name));
	INSERT INTO app.armed DEFAULT VALUES;
	RESET ROLE;
	INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('migration', 'app', 'person', 'email', 'set', $$'maskedxx' || id || '@mail.example.com'$$);
	VACUUM (FREEZE) app.person;
SQL
out=$(sql stale -c "SELECT sandbox_sanitize('migration')")
like "$out" '^run [0-9]+: "migration" applied' "the run over person succeeds"
is "$(sql stale -c "SELECT string_agg(DISTINCT tag, ' ' ORDER BY tag) FROM app.loot")" "kept rebuilt" \
	"the owner's functions ran in the rebuilt index and for the moved rows in the kept one"
is "$(sql stale -c "SELECT count(*) FROM app.loot WHERE email LIKE 'stolen%'")" "0" \
	"they read no original through an index not rebuilt yet"
is "$(sql stale -c "SELECT count(*) FROM app.person WHERE email LIKE 'stolen%'")" "0" "person is masked"
is "$(sql stale -c "SELECT count(*) FROM pg_index WHERE indrelid = 'app.person'::regclass AND indisvalid")" "4" \
	"every index of person is valid after the run"

finish
