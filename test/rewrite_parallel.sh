#!/usr/bin/env bash
# test/rewrite_parallel.sh: the pass of a rewrite computed by parallel
# workers (issue 9, speed; src/parallel.c).
#
# The same database is sanitized twice: by the backend alone
# (max_parallel_maintenance_workers = 0) and with workers
# (min_parallel_table_scan_size = 0, so that every table qualifies).
# Checked here:
#  - which tables the workers computed: those whose pass reads the table
#    alone and calls only PARALLEL SAFE functions or the extension's own;
#    not a rule calling an owner function that is not PARALLEL SAFE, a
#    filter with a subquery, a domain column, a CHECK constraint calling
#    a function declared PARALLEL UNSAFE, an owner operator whose function
#    is not PARALLEL SAFE, a CHECK constraint calling a VOLATILE function
#    on a table whose new values are stored out of line; and an owner's
#    index on exactly the pass's filter does not change the workers' scan;
#  - both runs give the same rows at the same ctids, keep and rebuild the
#    same indexes, leave sound indexes and no original in any page;
#  - owner code in a worker: a message it raises is silenced and counted,
#    an error it raises (holding a value) fails the run with the engine's
#    error, leaving the table as it was, and neither reaches the server
#    log; it cannot use the masking key, nor change a setting beyond its
#    call; a cancelled run leaves no worker.
# Run by tools/test.sh after the main cluster stopped: starts its own.
source "$(dirname "$0")/../tools/testlib.sh"

cluster_start "shared_preload_libraries = 'penelope_sandbox'" "penelope_sandbox.server_role = 'sandbox'" \
	"max_worker_processes = 16" "max_parallel_workers = 8"

q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$@"; }
SERIAL="SET max_parallel_maintenance_workers = 0"
PARALLEL="SET min_parallel_table_scan_size = 0; SET max_parallel_maintenance_workers = 2"

createdb tp
q tp >/dev/null <<'SQL'
CREATE EXTENSION penelope_sandbox;
CREATE EXTENSION pageinspect;
CREATE EXTENSION amcheck;
CREATE ROLE regress_app;
GRANT CREATE ON SCHEMA public TO regress_app;
SET ROLE regress_app;
-- masks, a typmod, a CHECK constraint, a generated column, a filtered
-- rule and a delete rule
CREATE TABLE public.pa (id int PRIMARY KEY, email text, phone varchar(40), ssn text,
	kind text CHECK (kind IN ('a', 'b')), email_len int GENERATED ALWAYS AS (length(email)) STORED);
CREATE INDEX pa_email ON public.pa (email);
INSERT INTO public.pa (id, email, phone, ssn, kind) SELECT g, 'origsecret' || g || '@example.com',
	'+1 (212) 555-' || lpad((g % 10000)::text, 4, '0'), 'origsecret-' || g, CASE WHEN g % 3 = 0 THEN 'a' ELSE 'b' END
	FROM generate_series(1, 20000) g;
-- notes stored out of line: the spool
CREATE TABLE public.pb (id int PRIMARY KEY, note text);
ALTER TABLE public.pb ALTER COLUMN note SET STORAGE EXTERNAL;
INSERT INTO public.pb SELECT g, CASE WHEN g % 5 = 0 THEN repeat('origsecret note ' || g || ' ', 200) ELSE 'origsecret ' || g END
	FROM generate_series(1, 5000) g;
-- a partitioned table
CREATE TABLE public.pc (id int, email text) PARTITION BY RANGE (id);
CREATE TABLE public.pc1 PARTITION OF public.pc FOR VALUES FROM (0) TO (10000);
CREATE TABLE public.pc2 PARTITION OF public.pc FOR VALUES FROM (10000) TO (30000);
INSERT INTO public.pc SELECT g, 'origsecret' || g || '@example.com' FROM generate_series(1, 25000) g;
-- a rule calling an owner function that is not PARALLEL SAFE
CREATE FUNCTION public.unsafe_upper(text) RETURNS text LANGUAGE sql IMMUTABLE AS 'SELECT upper($1)';
CREATE TABLE public.pd (id int PRIMARY KEY, name text);
INSERT INTO public.pd SELECT g, 'origsecret' || g FROM generate_series(1, 5000) g;
-- a filter with a subquery
CREATE TABLE public.pe (id int PRIMARY KEY, email text);
INSERT INTO public.pe SELECT g, 'origsecret' || g || '@example.com' FROM generate_series(1, 5000) g;
CREATE TABLE public.pe_keep (id int);
INSERT INTO public.pe_keep VALUES (7), (8);
-- a domain column
CREATE DOMAIN public.email_address AS text CHECK (VALUE LIKE '%@%');
CREATE TABLE public.pf (id int PRIMARY KEY, email public.email_address);
INSERT INTO public.pf SELECT g, 'origsecret' || g || '@example.com' FROM generate_series(1, 5000) g;
-- a CHECK constraint calling a function with an EXCEPTION block (a
-- subtransaction, which the leader cannot start in parallel mode)
CREATE FUNCTION public.valid_code(v text) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS
	$$BEGIN RETURN v::int >= 0; EXCEPTION WHEN invalid_text_representation THEN RETURN false; END$$;
CREATE TABLE public.pg (id int PRIMARY KEY, code text CHECK (public.valid_code(code)), email text);
INSERT INTO public.pg SELECT g, g::text, 'origsecret' || g || '@example.com' FROM generate_series(1, 5000) g;
-- a filter with an owner operator whose function is not PARALLEL SAFE
CREATE FUNCTION public.longer_than(text, int) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT length($1) > $2';
CREATE OPERATOR public.>>> (LEFTARG = text, RIGHTARG = int, FUNCTION = public.longer_than);
CREATE TABLE public.pi (id int PRIMARY KEY, email text);
INSERT INTO public.pi SELECT g, 'origsecret' || g || '@example.com' FROM generate_series(1, 5000) g;
-- a CHECK constraint calling a VOLATILE function (each call starts a
-- command, which the leader cannot once it has written a TOASTed value)
-- declared PARALLEL SAFE, and new values stored out of line
CREATE FUNCTION public.note_ok(v text) RETURNS boolean LANGUAGE plpgsql VOLATILE PARALLEL SAFE AS
	$$BEGIN PERFORM FROM pg_catalog.pg_am LIMIT 1; RETURN length(v) > 0; END$$;
CREATE TABLE public.pv (id int PRIMARY KEY, note text CHECK (public.note_ok(note)));
ALTER TABLE public.pv ALTER COLUMN note SET STORAGE EXTERNAL;
INSERT INTO public.pv SELECT g, 'origsecret ' || g FROM generate_series(1, 2000) g;
-- an owner's index on exactly the pass's filter: the workers scan each
-- chunk by its TID range all the same, and the rows stay in ctid order
CREATE TABLE public.pw (id int PRIMARY KEY, email text);
INSERT INTO public.pw SELECT g, 'origsecret' || g || '@example.com' FROM generate_series(1, 5000) g
	ORDER BY g % 7, g;
CREATE INDEX pw_deleted ON public.pw ((COALESCE(id > 4900, false)), id);
-- owner functions declared PARALLEL SAFE: one raises a message holding
-- the value, one an error for one row, one calls a masker itself
CREATE FUNCTION public.noisy(v text) RETURNS text LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS
	$$BEGIN RAISE WARNING 'noisy saw %', v; RETURN 'quiet' || length(v); END$$;
CREATE FUNCTION public.failing(v text) RETURNS text LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS
	$$BEGIN IF v = 'origsecret4321@example.com' THEN RAISE EXCEPTION 'failing saw %', v; END IF; RETURN 'x'; END$$;
CREATE FUNCTION public.keyed(v text) RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS
	$$SELECT sandbox.mask_email(v)$$;
CREATE FUNCTION public.slow(v text) RETURNS text LANGUAGE plpgsql STABLE PARALLEL SAFE AS
	$$BEGIN PERFORM pg_sleep(0.001); RETURN 'slow'; END$$;
CREATE FUNCTION public.setter(v text) RETURNS text LANGUAGE plpgsql STABLE PARALLEL SAFE AS
	$$BEGIN PERFORM set_config('work_mem', '1234kB', false); RETURN 'set'; END$$;
CREATE TABLE public.ph (id int PRIMARY KEY, email text, tag text);
INSERT INTO public.ph SELECT g, 'origsecret' || g || '@example.com', 'origtag' FROM generate_series(1, 10000) g;
RESET ROLE;
INSERT INTO sandbox.environment (name) VALUES ('p'), ('noisy'), ('failing'), ('keyed'), ('slow'), ('setter');
INSERT INTO sandbox.rule (environment, table_name, column_name, action, expression, filter) VALUES
	('p', 'pa', 'email', 'mask', 'sandbox.mask_email(email)', NULL),
	('p', 'pa', 'phone', 'mask', 'sandbox.mask_phone(phone)', NULL),
	('p', 'pa', 'ssn', 'mask', 'sandbox.mask_id(ssn)', 'kind = ''a'''),
	('p', 'pa', 'ssn', 'set', '''none''', 'kind = ''b'''),
	('p', 'pa', NULL, 'delete', NULL, 'id % 97 = 0'),
	('p', 'pb', 'note', 'mask', 'sandbox.mask_text(note)', NULL),
	('p', 'pc', 'email', 'mask', 'sandbox.mask_email(email)', NULL),
	('p', 'pd', 'name', 'set', $$public.unsafe_upper('name' || id)$$, NULL),
	('p', 'pe', 'email', 'mask', 'sandbox.mask_email(email)', 'id NOT IN (SELECT id FROM public.pe_keep)'),
	('p', 'pe', 'email', 'set', '''kept@example.invalid''', 'id IN (SELECT id FROM public.pe_keep)'),
	('p', 'pf', 'email', 'mask', 'sandbox.mask_email(email)', NULL),
	('p', 'pg', 'email', 'mask', 'sandbox.mask_email(email)', NULL),
	('p', 'pi', 'email', 'mask', 'sandbox.mask_email(email)', 'email OPERATOR(public.>>>) 20'),
	('p', 'pi', 'email', 'set', '''short@example.invalid''', 'NOT email OPERATOR(public.>>>) 20'),
	('p', 'pv', 'note', 'set', $$repeat('long note ', 400) || id$$, NULL),
	('p', 'pw', 'email', 'mask', 'sandbox.mask_email(email)', NULL),
	('p', 'pw', NULL, 'delete', NULL, 'id > 4900'),
	('noisy', 'ph', 'tag', 'set', 'public.noisy(email)', NULL),
	('failing', 'ph', 'tag', 'set', 'public.failing(email)', NULL),
	('keyed', 'ph', 'tag', 'set', 'public.keyed(email)', NULL),
	('slow', 'ph', 'tag', 'set', 'public.slow(email)', NULL),
	('setter', 'ph', 'tag', 'set', 'public.setter(email)', NULL);
-- each table's rows with their ctids, and which of its files are new
CREATE FUNCTION public.contents() RETURNS TABLE (tbl text, digest text) LANGUAGE plpgsql AS $$
DECLARE t text;
BEGIN
	FOREACH t IN ARRAY '{pa,pb,pc1,pc2,pd,pe,pf,pg,pi,pv,pw}'::text[] LOOP
		tbl := t;
		EXECUTE format('SELECT count(*) || '':'' || md5(string_agg(ctid::text || t::text, '','' ORDER BY ctid)) FROM public.%I t', t)
			INTO digest;
		RETURN NEXT;
	END LOOP;
END $$;
CREATE TABLE public.before_run AS
	SELECT c.oid::regclass AS rel, c.relfilenode FROM pg_class c
	WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'i');
CREATE FUNCTION public.files() RETURNS text LANGUAGE sql AS $$
	SELECT string_agg(b.rel::text || ':' || CASE WHEN c.relfilenode = b.relfilenode THEN 'kept' ELSE 'new' END, ' ' ORDER BY b.rel::text)
	FROM public.before_run b JOIN pg_class c ON c.oid = b.rel WHERE b.rel::text ~ '^p[a-givw]'
$$;
-- the key, made now, is the same in every copy of this database
SELECT sandbox.mask_email('warm-up') IS NOT NULL;
VACUUM (FREEZE, ANALYZE);
SQL
q tp -f "$(dirname "$0")/storage_checks.sql"

# ---- the same run, by the backend alone and with workers ----
for mode in serial parallel; do
	createdb -T tp "$mode"
done
serial_out=$(q serial -c "$SERIAL" -c "SET client_min_messages = debug1" -c "SELECT sandbox_sanitize('p') IS NOT NULL" 2>&1)
parallel_out=$(q parallel -c "$PARALLEL" -c "SET client_min_messages = debug1" -c "SELECT sandbox_sanitize('p') IS NOT NULL" 2>&1)
is "$(q serial -c "SELECT status FROM sandbox.run")|$(q parallel -c "SELECT status FROM sandbox.run")" "succeeded|succeeded" \
	"the run succeeds by the backend alone and with workers"
is "$(grep -c 'parallel workers' <<<"$serial_out")" "0" "with max_parallel_maintenance_workers = 0, no pass runs in workers"
is "$(grep -o 'table "[a-z0-9]*" were computed by 2 parallel workers' <<<"$parallel_out" | grep -o '"[a-z0-9]*"' | tr -d '"' | sort | tr '\n' ' ')" \
	"pa pb pc1 pc2 pw " \
	"workers computed pa, pb (the spool), each partition of pc and pw (an owner index on the pass's filter); not pd (an owner function not PARALLEL SAFE), pe (a subquery), pf (a domain), pg (a CHECK constraint calling a PARALLEL UNSAFE function), pi (an owner operator whose function is not PARALLEL SAFE), pv (a CHECK constraint calling a VOLATILE function)"
is "$(q parallel -c "SELECT * FROM public.contents()" | tr '\n' ' ')" "$(q serial -c "SELECT * FROM public.contents()" | tr '\n' ' ')" \
	"both runs leave the same rows at the same ctids in every table"
is "$(q parallel -c "SELECT public.files()")" "$(q serial -c "SELECT public.files()")" \
	"both runs keep and rebuild the same files"
is "$(q parallel -c "SELECT count(*) FROM public.pa WHERE email LIKE 'origsecret%' OR ssn LIKE 'origsecret%' OR email_len <> length(email)")|$(q parallel -c "SELECT count(*) FROM public.pa")" \
	"0|19794" "with workers, pa is masked, its generated column recomputed, and the rows of its delete rule gone"
is "$(q parallel -c "SELECT count(*) FILTER (WHERE note = repeat('long note ', 400) || id) || ':'
	|| (SELECT pg_relation_size(reltoastrelid) > 0 FROM pg_class WHERE oid = 'public.pv'::regclass) FROM public.pv")" \
	"2000:true" "with workers, pv's new notes are written, out of line, its VOLATILE CHECK function called in the backend alone"
stats_with_originals="SELECT count(*) FROM pg_stats WHERE schemaname = 'public'
	AND tablename IN ('pa', 'pb', 'pc', 'pc1', 'pc2', 'pd', 'pe', 'pf', 'pg', 'pi', 'pv', 'pw')
	AND concat(most_common_vals::text, histogram_bounds::text) LIKE '%origsecret%'"
before=$(q tp -c "$stats_with_originals")
is "$([ "$before" -gt 0 ] && echo yes)|$(q parallel -c "$stats_with_originals")" "yes|0" \
	"pg_stats showed originals before the run ($before columns), none after it with workers"
for t in pa pb pc1 pc2 pw; do
	is "$(q parallel -c "SELECT coalesce(string_agg(r::text, ' '), 'none') FROM public.storage_of('public.$t') r
		WHERE public.pages_with(r, 'origsecret') > 0")" "none" \
		"with workers, no block of $t's heap, TOAST table or indexes holds an original"
	is "$(q parallel -c "SELECT public.sound('public.$t')")" \
		"$(q parallel -c "SELECT count(*) FROM public.storage_of('public.$t') r JOIN pg_class c ON c.oid = r WHERE c.relkind = 'i'") indexes checked, 0 heap problems" \
		"amcheck finds every index of $t holding every row, and its heap sound"
done

# ---- owner code in a worker ----
log_lines() { wc -l < "$CLUSTER_DIR/server.log"; }
log_since() { tail -n +"$1" "$CLUSTER_DIR/server.log"; }

createdb -T tp noisy
start=$(log_lines)
out=$(q noisy -c "$PARALLEL" -c "SET client_min_messages = debug1" -c "SELECT sandbox_sanitize('noisy') IS NOT NULL" 2>&1)
is "$(grep -c 'table "ph" were computed by 2 parallel workers' <<<"$out")|$(q noisy -c "SELECT status FROM sandbox.run")" "1|succeeded" \
	"a rule calling an owner function declared PARALLEL SAFE runs in workers"
is "$(grep -c 'origsecret' <<<"$out")|$(log_since "$start" | grep -c 'origsecret')" "0|0" \
	"the warnings it raised with each value reached neither the client nor the server log"
like "$(q noisy -c "SELECT summary FROM sandbox.run")" "10000 messages of owner code silenced" \
	"the run's summary counts the messages the workers silenced"

createdb -T tp failing
start=$(log_lines)
out=$(q failing -c "$PARALLEL" -c "SELECT sandbox_sanitize('failing')" 2>&1)
like "$out" "ERROR" "an owner function failing in a worker fails the run"
is "$(grep -c 'origsecret' <<<"$out")|$(log_since "$start" | grep -c 'origsecret')" "0|0" \
	"the value in its error reached neither the client nor the server log"
is "$(q failing -c "SELECT count(*) FROM public.ph WHERE tag = 'origtag'")|$(q failing -c "SELECT count(*) FROM sandbox.run WHERE status = 'succeeded'")" \
	"10000|0" "the table is as it was, and no run is recorded as succeeded"

createdb -T tp keyed
start=$(log_lines)
out=$(q keyed -c "$PARALLEL" -c "SELECT sandbox_sanitize('keyed')" 2>&1)
like "$out" "ERROR" "an owner function calling a masker in a worker fails the run: the key is not the owner's"
is "$(log_since "$start" | grep -c 'origsecret')|$(q keyed -c "SELECT count(*) FROM public.ph WHERE tag = 'origtag'")" \
	"0|10000" "... with nothing in the server log, and the table as it was"

createdb -T tp setter
# one session, going on after the error: the setting as the session sees it then
out=$(psql -X -A -t -q -d setter -c "$PARALLEL" -c "SELECT sandbox_sanitize('setter')" -c "SHOW work_mem" 2>&1)
like "$out" "ERROR" "an owner function declared PARALLEL SAFE that changes a setting fails the run in a worker"
is "$(tail -1 <<<"$out")|$(q setter -c "SELECT count(*) FROM public.ph WHERE tag = 'origtag'")" \
	"4MB|10000" "... the setting does not outlive it, and the table is as it was"

createdb -T tp slow
out=$(q slow -c "$PARALLEL" -c "SET statement_timeout = '1s'" -c "SELECT sandbox_sanitize('slow')" 2>&1)
like "$out" "ERROR" "a run cancelled by statement_timeout while workers compute the rows fails"
wait_for slow "SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'parallel worker'" 10
is "$?|$(q slow -c "SELECT count(*) FROM public.ph WHERE tag = 'origtag'")" "0|10000" \
	"... leaving no worker behind, and the table as it was"

cluster_stop
finish
