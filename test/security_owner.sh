#!/usr/bin/env bash
# test/security_owner.sh: a hostile table owner against the background
# worker, and the server log (issue 8, classes 2, 3 and 6).
#
# sql/security_owner.sql covers the synchronous calls; this suite runs
# sandbox_sanitize_async, whose sanitizer is a background worker, and
# reads the server log, which pg_regress cannot: owner code may run only
# as the owner, leave no setting behind, compute no mask, and no row
# value may reach the log.
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
	CREATE TABLE app.client (id int PRIMARY KEY, surname text, email text);
	INSERT INTO app.client SELECT g, 'Xylocarpa' || g, 'xylo' || g || '@mail.example.com'
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
	CREATE FUNCTION app.hostile() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		PERFORM pg_catalog.set_config('search_path', 'evil, pg_catalog', false);
		BEGIN
			INSERT INTO app.seen VALUES ('mask: ' || sandbox.mask_email('guess@example.com'), current_user);
		EXCEPTION WHEN others THEN
			INSERT INTO app.seen VALUES ('mask refused', current_user);
		END;
		RAISE WARNING 'warning about %', OLD.surname;
		RAISE LOG 'log about %', OLD.email;
		RETURN NEW;
	END $$;
	CREATE TRIGGER hostile BEFORE UPDATE ON app.client FOR EACH ROW EXECUTE FUNCTION app.hostile();
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
# (the suite's own changes do not fire the owner's trigger; the data is
# production's again, so the ledger of the masks applied goes too)
sql sec -c "SET session_replication_role = replica" \
	-c "UPDATE app.client SET email = 'xylo' || id || '@mail.example.com', surname = 'Xylocarpa' || id" \
	-c "DELETE FROM sandbox.run_rule" >/dev/null
sql sec -c "ALTER ROLE regress_app NOSUPERUSER" >/dev/null
out=$(sql sec -c "SELECT sandbox_sanitize('migration')" -c "SHOW search_path")
like "$out" '"\$user", public$' "the caller's search_path is its own afterwards"
is "$(sql sec -c "SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_app'")" f \
	"owner code did not run as a superuser in the call"
sql sec <<-'SQL' >/dev/null
	SET session_replication_role = replica;
	UPDATE app.client SET surname = 'Xylocarpa' || id;
	RESET session_replication_role;
	DELETE FROM sandbox.run_rule;
	CREATE OR REPLACE FUNCTION app.hostile() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		EXECUTE 'SELECT * FROM ' || quote_ident(OLD.surname);
		RETURN NEW;
	END $$;
SQL
out=$(sql sec -c "SET penelope_sandbox.update_strategy = 'update'" -c "SELECT sandbox_sanitize('migration')")
like "$out" 'failed (together )?on table app.client' "an owner trigger's error fails the run"

echo "# the server log"
log=$(cat "$CLUSTER_DIR/server.log")
is "$(grep -c -E 'Xylocarpa|xylo[0-9]+@' <<<"$log")" 0 "no row value in the server log"
is "$(grep -c -E '^.*(WARNING|LOG): +(warning|log) about' <<<"$log")" 0 "no owner WARNING or LOG line in the server log"
like "$log" 'failed (together )?on table app.client' "the run's own error is in the log"

finish
