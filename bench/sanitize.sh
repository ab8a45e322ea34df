#!/usr/bin/env bash
# bench/sanitize.sh: what sandbox_sanitize() costs, as ratios against a bare
# PostgreSQL UPDATE of the same columns measured in the same run.
#
# A. A synthetic clients table (BENCH_ROWS rows, default 2,000,000: id bigint
#    pk, first_name, last_name, email, phone, birth_date, address, notes;
#    btree indexes on email and last_name), as in
#    ../shared/performance-notes.md.  Each variant rewrites email, phone
#    and last_name of every row:
#      bare UPDATE col = col (the baseline, 1.00); bare UPDATE with cheap
#      expressions; bare ALTER TABLE ... TYPE ... USING with them;
#      sandbox_sanitize with three "set" rules of the same expressions,
#      update_strategy = update and auto (-> rewrite); and the same with the
#      masking functions sandbox.mask_email/mask_phone/mask_last_name (bare
#      UPDATE, bare ALTER, sanitize update, sanitize auto), if installed.
# B. The Penelope reference schema (demo/) at BENCH_SCALE (default
#    1,000,000) with sandbox_load_profile('penelope'): sandbox_sanitize per
#    environment (migration, mirrored, training_a; update_strategy auto)
#    against a bare UPDATE per table setting every column the
#    environment's mask and set rules touch to itself, in one transaction.
# C. A schema shaped like a real one (BENCH_REAL_ROWS clients, default
#    200,000): a view over masked columns, an updated_at trigger and an
#    audit trigger, a partitioned table, a filter with a subquery, a
#    filtered-only rule, a delete subset, TOASTed notes.  sandbox_sanitize
#    (migration) against a bare UPDATE of the same columns (triggers
#    firing, as they do for any UPDATE), in one transaction.  After each
#    run, every block of every table, TOAST table and index of the schema
#    is read with pageinspect: "pages with an original" counts those
#    holding the marker every original value carries.
#
# Every measurement starts from a fresh copy of a template database
# (createdb -T, strategy file_copy; the template is VACUUM FREEZE ANALYZEd),
# then CHECKPOINT, then the wall time of one psql call (date +%s.%N around
# it, connection included, the same for every variant; fsync being off,
# a sync first).  Variants are interleaved run by run, each run in a
# rotated order; the tables report the median of BENCH_RUNS
# (default 3) runs.  Also recorded: the size after, the dead tuples left
# (n_dead_tup, and pgstattuple's physical count in part A), the WAL written,
# and for sandbox_sanitize the time of its statements as its ledger
# (sandbox.run_step) records them: the rest is planning, verification and
# bookkeeping.
#
# The library is preloaded (it must be: loaded later, it fails defining a
# PGC_POSTMASTER setting).  Settings: shared_buffers 2GB, maintenance_work_mem 1GB, max_wal_size 8GB,
# checkpoint_timeout 30min, wal_level replica, penelope_sandbox.server_role
# 'sandbox'; fsync off (tools/lib.sh) and autovacuum off (so that no vacuum
# removes the dead tuples being counted or runs during a timing).
#
# Results: a markdown report on stdout and in bench/results/<date>.md.
#
# Environment: BENCH_ROWS (part A rows), BENCH_SCALE (part B scale),
# BENCH_A_VARIANTS (part A variants to run, by name; default all),
# BENCH_REAL_ROWS (part C clients), BENCH_RUNS (runs per variant),
# BENCH_PARTS (any of A, B and C; default ABC),
# BENCH_PII_CHECK (penelope_sandbox.pii_check for the runs; default off:
# discovery and the leak scan are measured by bench/leakscan.sh),
# BENCH_NO_BUILD=1 to use the installed extension as it is.
# Default sizes take about 15 minutes on 2 cores.
source "$(dirname "$0")/../tools/lib.sh"

ROWS=${BENCH_ROWS:-2000000}
SCALE=${BENCH_SCALE:-1000000}
RUNS=${BENCH_RUNS:-3}
REAL_ROWS=${BENCH_REAL_ROWS:-200000}
PARTS=${BENCH_PARTS:-ABC}
ENVIRONMENTS=(migration mirrored training_a)

install_dependencies
[ -n "${BENCH_NO_BUILD:-}" ] || build_and_install
cluster_start "shared_preload_libraries = 'penelope_sandbox'" \
	"penelope_sandbox.server_role = 'sandbox'" \
	"shared_buffers = 2GB" \
	"maintenance_work_mem = 1GB" \
	"max_wal_size = 8GB" \
	"checkpoint_timeout = 30min" \
	"wal_level = replica" \
	"autovacuum = off" \
	"penelope_sandbox.pii_check = '${BENCH_PII_CHECK:-off}'"

PSQL=(psql -X -q -v ON_ERROR_STOP=1)
sql() { "${PSQL[@]}" "$@"; }
val() { "${PSQL[@]}" -A -t "$@"; }
BENCH_START=$(date +%s)

# ---- results database ----
createdb results
sql -d results <<'EOF'
CREATE TABLE m (
	part text, variant text, run int,
	secs float8,			-- wall time of the psql call
	steps_secs float8,		-- sandbox_sanitize: its statements, from sandbox.run_step
	heap_bytes bigint, total_bytes bigint,
	dead_tup bigint,		-- pg_stat_user_tables.n_dead_tup
	dead_phys bigint,		-- pgstattuple dead_tuple_count (part A)
	wal_bytes numeric,
	methods text,
	verify_secs float8,		-- sandbox_verify of the environment, timed after the run
	orig_pages bigint);		-- part C: pages holding an original after the run
CREATE TABLE v (part text, variant text, ord int, label text, baseline text);
-- median, as the middle value (lower middle for an even count)
CREATE FUNCTION med(float8[]) RETURNS float8 LANGUAGE sql IMMUTABLE AS
$$ SELECT x FROM unnest($1) x ORDER BY x OFFSET (cardinality($1) - 1) / 2 LIMIT 1 $$;
EOF

# measure PART VARIANT RUN TEMPLATE STATS_SQL PSQL_ARGS...
#   copy TEMPLATE to bench_run, checkpoint, time psql PSQL_ARGS on it, then
#   record STATS_SQL's one row (heap_bytes, total_bytes, dead_tup, dead_phys,
#   steps_secs, methods).
measure() {
	local part=$1 variant=$2 run=$3 template=$4 stats=$5 t0 t1 lsn0 lsn1 row
	shift 5
	createdb -T "$template" -S file_copy bench_run
	sql -d bench_run -c CHECKPOINT
	sync		# fsync is off: write back the previous run's dirty pages now, not during this one
	lsn0=$(val -d bench_run -c "SELECT pg_current_wal_lsn()")
	t0=$(date +%s.%N)
	sql -d bench_run "$@" >/dev/null
	t1=$(date +%s.%N)
	lsn1=$(val -d bench_run -c "SELECT pg_current_wal_lsn()")
	sleep 1		# let the backend that ran the statement flush its statistics
	row=$(val -d bench_run -c "SELECT concat_ws(', ', quote_nullable(a), quote_nullable(b),
		quote_nullable(c), quote_nullable(d), quote_nullable(e), quote_nullable(f), quote_nullable(g))
		FROM ($stats) s (a, b, c, d, e, f, g)")
	local verify=NULL
	if [ -n "${VERIFY_ENV:-}" ]; then
		# what the verification that ends sandbox_sanitize costs, roughly: the
		# same checks, run again on the sanitized (and by now hinted) tables
		local v0
		v0=$(date +%s.%N)
		sql -d bench_run -c "SELECT count(*) FROM sandbox_verify('$VERIFY_ENV')" >/dev/null
		verify="$(date +%s.%N) - $v0"
	fi
	dropdb bench_run
	val -d results -c "INSERT INTO m (part, variant, run, secs, heap_bytes, total_bytes,
		dead_tup, dead_phys, steps_secs, methods, orig_pages, wal_bytes, verify_secs) VALUES ('$part', '$variant', $run,
		$t1 - $t0, $row, pg_wal_lsn_diff('$lsn1', '$lsn0'), $verify)" >/dev/null
	awk -v p="$part" -v v="$variant" -v r="$run" -v a="$t0" -v b="$t1" \
		'BEGIN { printf "    %s %-24s run %d: %7.2f s\n", p, v, r, b - a }' >&2
}

# ---- Part A: the synthetic clients table ----
part_a() {
	log "part A: building $ROWS clients rows"
	createdb tmpl_a
	sql -d tmpl_a -v rows="$ROWS" <<'EOF'
SET client_min_messages = warning;
CREATE EXTENSION penelope_sandbox;
CREATE EXTENSION pgstattuple;
CREATE TABLE clients AS
SELECT g::bigint AS id,
	(ARRAY['James','Mary','John','Patricia','Robert','Jennifer','Michael','Linda','David','Elizabeth'])[1 + g % 10]
		|| CASE WHEN g % 7 = 0 THEN '-Ann' ELSE '' END AS first_name,
	'Family' || ((g * 7919) % 50021) AS last_name,
	'client' || ((g * 48271) % 2147483647) || '@mail' || (g % 97) || '.example.com' AS email,
	'(' || (200 + g % 800) || ') ' || lpad(((g * 31) % 1000)::text, 3, '0') || '-' || lpad(((g * 17) % 10000)::text, 4, '0') AS phone,
	date '1930-01-01' + ((g * 13) % 30000)::int AS birth_date,
	((g * 7) % 9999 + 1) || ' ' || (ARRAY['Main','Oak','Pine','Maple','Cedar','Elm'])[1 + g % 6]
		|| ' Street, Springfield ' || lpad((g % 99999)::text, 5, '0') AS address,
	'Seen on visit ' || g || ', reports pain in the left knee after a fall; follow up in ' || (g % 12 + 1) || ' weeks.' AS notes
FROM generate_series(1::bigint, :rows) g;
ALTER TABLE clients ADD PRIMARY KEY (id);
CREATE INDEX clients_email_idx ON clients (email);
CREATE INDEX clients_last_name_idx ON clients (last_name);
-- environment migration: three "set" rules with the cheap expressions
INSERT INTO sandbox.rule (environment, table_name, column_name, action, expression) VALUES
	('migration', 'clients', 'email', 'set', $$'user' || id || '@example.invalid'$$),
	('migration', 'clients', 'phone', 'set', $$'555-01' || lpad((id % 100)::text, 2, '0')$$),
	('migration', 'clients', 'last_name', 'set', $$'Name' || id$$);
EOF
	HAVE_MASKS=$(val -d tmpl_a -c "SELECT to_regprocedure('sandbox.mask_email(text)') IS NOT NULL
		AND to_regprocedure('sandbox.mask_phone(text)') IS NOT NULL
		AND to_regprocedure('sandbox.mask_last_name(text)') IS NOT NULL")
	if [ "$HAVE_MASKS" = t ]; then
		# environment training_a: the three masks; make the masking key now,
		# so that no timing includes its creation
		sql -d tmpl_a <<'EOF'
INSERT INTO sandbox.rule (environment, table_name, column_name, action, expression) VALUES
	('training_a', 'clients', 'email', 'mask', 'sandbox.mask_email(email)'),
	('training_a', 'clients', 'phone', 'mask', 'sandbox.mask_phone(phone)'),
	('training_a', 'clients', 'last_name', 'mask', 'sandbox.mask_last_name(last_name)');
EOF
		val -d tmpl_a -c "SELECT sandbox.mask_email('warm-up') IS NOT NULL" >/dev/null
	else
		log "part A: the masking functions are not installed; skipping the mask variants"
	fi
	sql -d tmpl_a -c "VACUUM (FREEZE, ANALYZE)"
	val -d tmpl_a -c "SELECT 'A: clients ' || pg_size_pretty(pg_relation_size('clients')) || ' heap + '
		|| pg_size_pretty(pg_indexes_size('clients')) || ' indexes, ' || count(*) || ' rows' FROM clients" >&2
	HEAP_A=$(val -d tmpl_a -c "SELECT pg_relation_size('clients')")
	TOTAL_A=$(val -d tmpl_a -c "SELECT pg_total_relation_size('clients')")

	local cheap_e="'user' || id || '@example.invalid'"
	local cheap_p="'555-01' || lpad((id % 100)::text, 2, '0')"
	local cheap_n="'Name' || id"
	local upd_cheap="UPDATE clients SET email = $cheap_e, phone = $cheap_p, last_name = $cheap_n"
	local alt_cheap="ALTER TABLE clients ALTER COLUMN email TYPE text USING $cheap_e,
		ALTER COLUMN phone TYPE text USING $cheap_p, ALTER COLUMN last_name TYPE text USING $cheap_n"
	local upd_mask="UPDATE clients SET email = sandbox.mask_email(email), phone = sandbox.mask_phone(phone),
		last_name = sandbox.mask_last_name(last_name)"
	local alt_mask="ALTER TABLE clients ALTER COLUMN email TYPE text USING sandbox.mask_email(email),
		ALTER COLUMN phone TYPE text USING sandbox.mask_phone(phone),
		ALTER COLUMN last_name TYPE text USING sandbox.mask_last_name(last_name)"
	local stats="SELECT pg_relation_size('clients'), pg_total_relation_size('clients'),
		(SELECT n_dead_tup FROM pg_stat_user_tables WHERE relid = 'clients'::regclass),
		(SELECT dead_tuple_count FROM pgstattuple('clients')),
		(SELECT extract(epoch FROM sum(duration)) FROM sandbox.run_step),
		(SELECT string_agg(method, '+' ORDER BY step) FROM sandbox.run_step), NULL"

	val -d results >/dev/null <<EOF
INSERT INTO v VALUES
	('A', 'bare_noop', 1, '1. bare \`UPDATE clients SET email = email, phone = phone, last_name = last_name\`', 'bare_noop'),
	('A', 'bare_cheap', 2, '2. bare UPDATE, cheap expressions (\`''user''\|\|id\|\|''@example.invalid''\`, ...)', 'bare_noop'),
	('A', 'sanitize_cheap_update', 3, '3. sandbox_sanitize, 3 set rules (cheap), strategy update', 'bare_noop'),
	('A', 'sanitize_cheap_auto', 4, '4. sandbox_sanitize, 3 set rules (cheap), strategy auto', 'bare_noop'),
	('A', 'bare_alter_cheap', 5, '4b. bare \`ALTER TABLE ... TYPE text USING\` cheap expressions', 'bare_noop'),
	('A', 'sanitize_mask_update', 6, '5. sandbox_sanitize, mask_email/mask_phone/mask_last_name, strategy update', 'bare_noop'),
	('A', 'sanitize_mask_auto', 7, '5. sandbox_sanitize, the 3 masks, strategy auto', 'bare_noop'),
	('A', 'bare_mask', 8, '6. bare UPDATE with the 3 masks', 'bare_noop'),
	('A', 'bare_alter_mask', 9, '6b. bare \`ALTER TABLE ... TYPE text USING\` the 3 masks', 'bare_noop'),
	('A', 'floor_reindex', 10, '7. floor: \`REINDEX\` of the 2 indexes on masked columns, on a sanitized copy', 'bare_noop');
EOF
	local variants=(bare_noop bare_cheap sanitize_cheap_update sanitize_cheap_auto bare_alter_cheap)
	[ "$HAVE_MASKS" = t ] && variants+=(sanitize_mask_update sanitize_mask_auto bare_mask bare_alter_mask floor_reindex)
	# BENCH_A_VARIANTS: a subset, by name (bare_noop, the baseline, always runs)
	[ -n "${BENCH_A_VARIANTS:-}" ] && read -r -a variants <<<"bare_noop $BENCH_A_VARIANTS"
	if [[ " ${variants[*]} " == *" floor_reindex "* ]]; then
		# what any rewrite of these masks pays PostgreSQL for its indexes:
		# rebuilding the two on masked columns, over masked values
		createdb -T tmpl_a tmpl_a_masked
		# (its ledger emptied: the REINDEX has no engine steps)
		sql -d tmpl_a_masked -c "SELECT sandbox_sanitize('training_a')" -c "DELETE FROM sandbox.run" \
			-c "VACUUM (FREEZE, ANALYZE)" >/dev/null
	fi
	local run i n=${#variants[@]}
	for run in $(seq 1 "$RUNS"); do
		log "part A: run $run of $RUNS"
		# each run starts one variant further, so that no variant always follows the same one
		for i in $(seq 0 $((n - 1))); do
			local variant=${variants[$(( (i + run - 1) % n ))]}
			case $variant in
			bare_noop) measure A $variant "$run" tmpl_a "$stats" \
				-c "UPDATE clients SET email = email, phone = phone, last_name = last_name" ;;
			bare_cheap) measure A $variant "$run" tmpl_a "$stats" -c "$upd_cheap" ;;
			sanitize_cheap_update) VERIFY_ENV=migration measure A $variant "$run" tmpl_a "$stats" \
				-c "SET penelope_sandbox.update_strategy = update" -c "SELECT sandbox_sanitize('migration')" ;;
			sanitize_cheap_auto) VERIFY_ENV=migration measure A $variant "$run" tmpl_a "$stats" \
				-c "SET penelope_sandbox.update_strategy = auto" -c "SELECT sandbox_sanitize('migration')" ;;
			bare_alter_cheap) measure A $variant "$run" tmpl_a "$stats" -c "$alt_cheap" ;;
			sanitize_mask_update) VERIFY_ENV=training_a measure A $variant "$run" tmpl_a "$stats" \
				-c "SET penelope_sandbox.update_strategy = update" -c "SELECT sandbox_sanitize('training_a')" ;;
			sanitize_mask_auto) VERIFY_ENV=training_a measure A $variant "$run" tmpl_a "$stats" \
				-c "SET penelope_sandbox.update_strategy = auto" -c "SELECT sandbox_sanitize('training_a')" ;;
			bare_mask) measure A $variant "$run" tmpl_a "$stats" -c "$upd_mask" ;;
			bare_alter_mask) measure A $variant "$run" tmpl_a "$stats" -c "$alt_mask" ;;
			floor_reindex) measure A $variant "$run" tmpl_a_masked "$stats" \
				-c "REINDEX INDEX clients_email_idx" -c "REINDEX INDEX clients_last_name_idx" ;;
			esac
		done
	done
}

# ---- Part B: the Penelope reference schema ----
part_b() {
	log "part B: generating the Penelope schema at scale $SCALE"
	createdb tmpl_b
	sql -d tmpl_b -c "SET client_min_messages = warning" -c "CREATE EXTENSION penelope_sandbox" \
		-f "$TOP/demo/penelope_schema.sql" -f "$TOP/demo/penelope_generate.sql" >/dev/null
	sql -d tmpl_b -c "SET client_min_messages = warning" -c "SELECT penelope.generate($SCALE)" >/dev/null
	sql -d tmpl_b -c "SELECT sandbox_load_profile('penelope')" \
		-c "SELECT sandbox.mask_email('warm-up') IS NOT NULL" >/dev/null
	sql -d tmpl_b -c "VACUUM (FREEZE, ANALYZE)"
	val -d tmpl_b -c "SELECT 'B: schema penelope ' || pg_size_pretty(sum(pg_total_relation_size(c.oid)))
		|| ' (tables + indexes + toast)' FROM pg_class c WHERE c.relnamespace = 'penelope'::regnamespace
		AND c.relkind = 'r'" >&2
	TOTAL_B=$(val -d tmpl_b -c "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c
		WHERE c.relnamespace = 'penelope'::regnamespace AND c.relkind = 'r'")
	local stats="SELECT sum(pg_relation_size(c.oid)), sum(pg_total_relation_size(c.oid)),
		(SELECT sum(n_dead_tup) FROM pg_stat_user_tables WHERE schemaname = 'penelope'), NULL,
		(SELECT extract(epoch FROM sum(duration)) FROM sandbox.run_step),
		(SELECT string_agg(method || ' ×' || n || CASE WHEN n <= 3 THEN ' (' || tables || ')' ELSE '' END, '; ')
		 FROM (SELECT method, count(*) AS n, string_agg(table_name, ', ' ORDER BY table_name) AS tables
			   FROM sandbox.run_step WHERE method IN ('update', 'rewrite', 'delete') GROUP BY method) g)
		|| (SELECT '; slowest: ' || string_agg(format('%s %s %ss', table_name, method,
				round(extract(epoch FROM duration)::numeric, 1)), ', ' ORDER BY duration DESC)
			FROM (SELECT * FROM sandbox.run_step ORDER BY duration DESC LIMIT 4) t), NULL
		FROM pg_class c WHERE c.relnamespace = 'penelope'::regnamespace AND c.relkind = 'r'"
	local env ord=0 run
	declare -A BARE
	for env in "${ENVIRONMENTS[@]}"; do
		# the baseline: every column the environment's mask and set rules touch, set to itself
		BARE[$env]=$(val -d tmpl_b -c "SELECT string_agg(format('UPDATE %I.%I SET %s;', table_schema, table_name, cols), E'\n'
				ORDER BY table_name)
			FROM (SELECT table_schema, table_name,
					string_agg(DISTINCT format('%1\$I = %1\$I', column_name), ', ') AS cols
				FROM sandbox.rule WHERE environment = '$env' AND action IN ('mask', 'set') AND enabled
				GROUP BY 1, 2) t")
		ord=$((ord + 1))
		val -d results >/dev/null <<EOF
INSERT INTO v VALUES
	('B', 'bare_$env', $((ord * 2 - 1)), '$env: bare UPDATE of the same columns', 'bare_$env'),
	('B', 'sanitize_$env', $((ord * 2)), '$env: sandbox_sanitize (auto)', 'bare_$env');
EOF
	done
	for run in $(seq 1 "$RUNS"); do
		log "part B: run $run of $RUNS"
		for env in "${ENVIRONMENTS[@]}"; do
			if [ $((run % 2)) -eq 1 ]; then
				measure B "bare_$env" "$run" tmpl_b "$stats" -1 -c "${BARE[$env]}"
				VERIFY_ENV=$env measure B "sanitize_$env" "$run" tmpl_b "$stats" -c "SELECT sandbox_sanitize('$env')"
			else
				VERIFY_ENV=$env measure B "sanitize_$env" "$run" tmpl_b "$stats" -c "SELECT sandbox_sanitize('$env')"
				measure B "bare_$env" "$run" tmpl_b "$stats" -1 -c "${BARE[$env]}"
			fi
		done
	done
}

# ---- Part C: a schema shaped like a real one ----
part_c() {
	log "part C: building the realistic schema with $REAL_ROWS clients"
	createdb tmpl_c
	sql -d tmpl_c -v rows="$REAL_ROWS" <<'EOF'
SET client_min_messages = warning;
CREATE EXTENSION penelope_sandbox;
CREATE EXTENSION pageinspect;
CREATE SCHEMA app;
CREATE TABLE app.client (
	id bigint PRIMARY KEY, email text NOT NULL, first_name text, last_name text NOT NULL,
	phone text, status text NOT NULL, notes text, updated_at timestamptz NOT NULL DEFAULT '2020-01-01');
ALTER TABLE app.client ALTER COLUMN notes SET STORAGE EXTERNAL;
INSERT INTO app.client (id, email, first_name, last_name, phone, status, notes)
SELECT g, 'origsecret' || g || '@mail' || (g % 97) || '.example.com', 'First' || (g % 50),
	'Origsecret' || ((g * 7919) % 50021), '(555) 01' || lpad((g % 100)::text, 2, '0'),
	CASE WHEN g % 4 = 0 THEN 'inactive' ELSE 'active' END,
	CASE WHEN g % 10 = 0 THEN 'ORIGSECRET ' || repeat(md5(g::text), 100) ELSE 'Origsecret note ' || g END
FROM generate_series(1, :rows) g;
CREATE INDEX ON app.client (email);
CREATE INDEX ON app.client (last_name);
CREATE VIEW app.client_list AS SELECT id, email, last_name FROM app.client;
CREATE TABLE app.audit_log (tbl text, at timestamptz DEFAULT now(), old_row text);
CREATE FUNCTION app.audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO app.audit_log (tbl, old_row) VALUES (TG_TABLE_NAME, OLD::text); RETURN NULL; END $$;
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.updated_at := now(); RETURN NEW; END $$;
CREATE TRIGGER touch BEFORE UPDATE ON app.client FOR EACH ROW EXECUTE FUNCTION app.touch();
CREATE TRIGGER audit AFTER UPDATE OR DELETE ON app.client FOR EACH ROW EXECUTE FUNCTION app.audit();
CREATE TABLE app.visit (id bigint, client_id bigint, visit_date date NOT NULL, comment text)
	PARTITION BY RANGE (visit_date);
CREATE TABLE app.visit_2024 PARTITION OF app.visit FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE app.visit_2025 PARTITION OF app.visit FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
INSERT INTO app.visit SELECT g, 1 + (g * 31) % :rows, DATE '2024-01-01' + (g % 700), 'Origsecret visit ' || g
FROM generate_series(1, :rows * 2) g;
CREATE INDEX ON app.visit (client_id);
CREATE TABLE app.session (id bigint, client_id bigint, token text);
INSERT INTO app.session SELECT g, 1 + g % :rows, 'origsecret-' || md5(g::text) FROM generate_series(1, :rows / 2) g;
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression, filter) VALUES
	('migration', 'app', 'client', 'email', 'mask', 'sandbox.mask_email(email)', NULL),
	('migration', 'app', 'client', 'last_name', 'mask', 'sandbox.mask_last_name(last_name)', NULL),
	('migration', 'app', 'client', 'notes', 'set', $$'note ' || id$$, NULL),
	('migration', 'app', 'client', 'first_name', 'set', $$'Former'$$, $$status = 'inactive'$$),
	('migration', 'app', 'client', 'phone', 'set', 'NULL',
		$$id IN (SELECT v.client_id FROM app.visit v WHERE v.visit_date < '2024-07-01')$$),
	('migration', 'app', 'visit', 'comment', 'set', $$'visit ' || id$$, NULL),
	('migration', 'app', 'session', 'token', 'set', 'md5(id::text)', NULL),
	('migration', 'app', 'session', NULL, 'delete', NULL, 'id % 2 = 0');
EOF
	val -d tmpl_c -c "SELECT sandbox.mask_email('warm-up') IS NOT NULL" >/dev/null
	sql -d tmpl_c -c "VACUUM (FREEZE, ANALYZE)"
	TOTAL_C=$(val -d tmpl_c -c "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c
		WHERE c.relnamespace = 'app'::regnamespace AND c.relkind = 'r'")
	# pages of every table, TOAST table and index of the schema holding an original
	local orig="(SELECT count(*) FROM (
			SELECT c.oid::regclass AS rel FROM pg_class c WHERE c.relnamespace = 'app'::regnamespace AND c.relkind IN ('r', 'i', 'm')
			UNION ALL SELECT c.reltoastrelid::regclass FROM pg_class c WHERE c.relnamespace = 'app'::regnamespace AND c.reltoastrelid <> 0
			UNION ALL SELECT i.indexrelid::regclass FROM pg_class c JOIN pg_index i ON i.indrelid = c.reltoastrelid
				WHERE c.relnamespace = 'app'::regnamespace) r,
			generate_series(0, (pg_relation_size(r.rel) / 8192 - 1)::int) b,
			LATERAL (SELECT get_raw_page(r.rel::text, b) AS p) g
		WHERE position('origsecret'::bytea IN p) > 0 OR position('Origsecret'::bytea IN p) > 0
			OR position('ORIGSECRET'::bytea IN p) > 0)"
	local stats="SELECT sum(pg_relation_size(c.oid)), sum(pg_total_relation_size(c.oid)),
		(SELECT sum(n_dead_tup) FROM pg_stat_user_tables WHERE schemaname = 'app'), NULL,
		(SELECT extract(epoch FROM sum(duration)) FROM sandbox.run_step),
		(SELECT string_agg(method || ' ' || table_name, ', ' ORDER BY step) FROM sandbox.run_step),
		$orig
		FROM pg_class c WHERE c.relnamespace = 'app'::regnamespace AND c.relkind = 'r'"
	local bare="UPDATE app.client SET email = email, last_name = last_name, notes = notes, first_name = first_name,
		phone = phone; UPDATE app.visit SET comment = comment; UPDATE app.session SET token = token;"
	val -d results >/dev/null <<EOF
INSERT INTO v VALUES
	('C', 'bare_real', 1, 'bare UPDATE of the same columns (triggers fire)', 'bare_real'),
	('C', 'sanitize_real', 2, 'sandbox_sanitize(''migration'')', 'bare_real');
EOF
	local run
	for run in $(seq 1 "$RUNS"); do
		log "part C: run $run of $RUNS"
		if [ $((run % 2)) -eq 1 ]; then
			measure C bare_real "$run" tmpl_c "$stats" -1 -c "$bare"
			VERIFY_ENV=migration measure C sanitize_real "$run" tmpl_c "$stats" -c "SELECT sandbox_sanitize('migration')"
		else
			VERIFY_ENV=migration measure C sanitize_real "$run" tmpl_c "$stats" -c "SELECT sandbox_sanitize('migration')"
			measure C bare_real "$run" tmpl_c "$stats" -1 -c "$bare"
		fi
	done
}

case $PARTS in *A*) part_a ;; esac
case $PARTS in *B*) part_b ;; esac
case $PARTS in *C*) part_c ;; esac

# ---- Report ----
mkdir -p "$TOP/bench/results"
OUT="$TOP/bench/results/$(date +%F).md"
[ -e "$OUT" ] && OUT="$TOP/bench/results/$(date +%F-%H%M%S).md"
{
	echo "# sandbox_sanitize benchmark, $(date '+%F %H:%M')"
	echo
	echo "PostgreSQL $(val -d results -c 'SHOW server_version'), $(nproc) cores, median of $RUNS runs;"
	echo "each from a fresh copy of a VACUUM FREEZE ANALYZEd template database, after a CHECKPOINT;"
	echo "wall time of the psql call. Settings: shared_buffers 2GB, maintenance_work_mem 1GB,"
	echo "max_wal_size 8GB, checkpoint_timeout 30min, wal_level replica, fsync off, autovacuum off."
	echo "\"statements s\" is the time sandbox_sanitize's ledger (sandbox.run_step) gives its statements;"
	echo "the rest of its wall time is planning, verification and bookkeeping (\"engine extra s\");"
	echo "\"verify alone s\" is sandbox_verify() of the environment timed separately after the run."
	echo "Commit $(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo '?') (working tree may differ)."
	echo
	if [ -n "${HEAP_A:-}" ]; then
		echo "## A. Synthetic clients table, $ROWS rows, email + phone + last_name of every row"
		echo
		echo "Before: $(val -d results -c "SELECT pg_size_pretty($HEAP_A::bigint) || ' heap, ' || pg_size_pretty($TOTAL_A::bigint) || ' with indexes'")."
		echo
	fi
	val -d results <<'EOF'
WITH s AS (
	SELECT v.part, v.variant, v.ord, v.label, v.baseline,
		med(array_agg(m.secs)) AS secs, array_agg(round(m.secs::numeric, 1) ORDER BY m.run) AS runs,
		med(array_agg(m.steps_secs)) AS steps, med(array_agg(m.secs - m.steps_secs)) AS extra,
		med(array_agg(m.verify_secs)) AS verify,
		med(array_agg(m.total_bytes::float8)) AS total_bytes, med(array_agg(m.dead_tup::float8)) AS dead_tup,
		med(array_agg(m.dead_phys::float8)) AS dead_phys, med(array_agg(m.wal_bytes::float8)) AS wal,
		max(m.methods) AS methods
	FROM v JOIN m USING (part, variant) GROUP BY 1, 2, 3, 4, 5),
r AS (
	SELECT s.*, s.secs / b.secs AS ratio, b.secs AS bsecs FROM s JOIN s b ON b.part = s.part AND b.variant = s.baseline)
SELECT CASE WHEN row_number() OVER (ORDER BY ord) = 1 THEN
		E'| variant | median s | runs s | × bare UPDATE | statements s | engine extra s | verify alone s | total size after | dead tuples left (n_dead_tup / physical) | WAL | engine steps |\n|---|---|---|---|---|---|---|---|---|---|---|\n'
		ELSE '' END
	|| format('| %s | %s | %s | **%s** | %s | %s | %s | %s | %s / %s | %s | %s |', label, round(secs::numeric, 2),
		array_to_string(runs, ', '), to_char(ratio, 'FM0.00'),
		coalesce(round(steps::numeric, 2)::text, ''), coalesce(round(extra::numeric, 2)::text, ''), coalesce(round(verify::numeric, 2)::text, ''),
		pg_size_pretty(total_bytes::bigint), coalesce(dead_tup::bigint::text, '?'), coalesce(dead_phys::bigint::text, '?'),
		pg_size_pretty(wal::bigint), coalesce(methods, ''))
FROM r WHERE part = 'A' ORDER BY ord;
EOF
	if [ -n "${TOTAL_B:-}" ]; then
		echo
		echo "## B. Penelope reference schema, scale $SCALE, profile penelope, update_strategy auto"
		echo
		echo "Before: schema penelope $(val -d results -c "SELECT pg_size_pretty($TOTAL_B::bigint)") (tables, indexes, toast)."
		echo "The bare baseline is one UPDATE per table setting every column the environment's mask and set"
		echo "rules touch to itself, all in one transaction (no TRUNCATE/DELETE, which sandbox_sanitize also runs)."
		echo
	fi
	val -d results <<'EOF'
WITH s AS (
	SELECT v.part, v.variant, v.ord, v.label, v.baseline,
		med(array_agg(m.secs)) AS secs, array_agg(round(m.secs::numeric, 1) ORDER BY m.run) AS runs,
		med(array_agg(m.steps_secs)) AS steps, med(array_agg(m.secs - m.steps_secs)) AS extra,
		med(array_agg(m.verify_secs)) AS verify,
		med(array_agg(m.total_bytes::float8)) AS total_bytes, med(array_agg(m.dead_tup::float8)) AS dead_tup,
		med(array_agg(m.wal_bytes::float8)) AS wal, max(m.methods) AS methods
	FROM v JOIN m USING (part, variant) GROUP BY 1, 2, 3, 4, 5),
r AS (
	SELECT s.*, s.secs / b.secs AS ratio FROM s JOIN s b ON b.part = s.part AND b.variant = s.baseline)
SELECT CASE WHEN row_number() OVER (ORDER BY ord) = 1 THEN
		E'| variant | median s | runs s | × bare UPDATE | statements s | engine extra s | verify alone s | schema size after | n_dead_tup left | WAL | engine steps (≤3 tables named) |\n|---|---|---|---|---|---|---|---|---|---|---|\n'
		ELSE '' END
	|| format('| %s | %s | %s | **%s** | %s | %s | %s | %s | %s | %s | %s |', label, round(secs::numeric, 2),
		array_to_string(runs, ', '), to_char(ratio, 'FM0.00'),
		coalesce(round(steps::numeric, 2)::text, ''), coalesce(round(extra::numeric, 2)::text, ''), coalesce(round(verify::numeric, 2)::text, ''),
		pg_size_pretty(total_bytes::bigint), coalesce(dead_tup::bigint::text, '?'),
		pg_size_pretty(wal::bigint), coalesce(methods, ''))
FROM r WHERE part = 'B' ORDER BY ord;
EOF
	if [ -n "${TOTAL_C:-}" ]; then
		echo
		echo "## C. A schema shaped like a real one, $REAL_ROWS clients"
		echo
		echo "Before: schema app $(val -d results -c "SELECT pg_size_pretty($TOTAL_C::bigint)") (tables, indexes, toast)."
		echo "A view over masked columns, an updated_at and an audit trigger, a partitioned table, a subquery"
		echo "filter, a filtered-only rule, a delete subset, TOASTed notes. \"pages with an original\": blocks of"
		echo "every table, TOAST table and index of the schema holding an original value, read with pageinspect."
		echo
	fi
	val -d results <<'EOF'
WITH s AS (
	SELECT v.part, v.variant, v.ord, v.label, v.baseline,
		med(array_agg(m.secs)) AS secs, array_agg(round(m.secs::numeric, 1) ORDER BY m.run) AS runs,
		med(array_agg(m.steps_secs)) AS steps, med(array_agg(m.secs - m.steps_secs)) AS extra,
		med(array_agg(m.verify_secs)) AS verify,
		med(array_agg(m.total_bytes::float8)) AS total_bytes, med(array_agg(m.dead_tup::float8)) AS dead_tup,
		max(m.orig_pages) AS orig_pages, med(array_agg(m.wal_bytes::float8)) AS wal, max(m.methods) AS methods
	FROM v JOIN m USING (part, variant) GROUP BY 1, 2, 3, 4, 5),
r AS (
	SELECT s.*, s.secs / b.secs AS ratio FROM s JOIN s b ON b.part = s.part AND b.variant = s.baseline)
SELECT CASE WHEN row_number() OVER (ORDER BY ord) = 1 THEN
		E'| variant | median s | runs s | × bare UPDATE | statements s | engine extra s | verify alone s | schema size after | n_dead_tup left | pages with an original (max) | WAL | engine steps |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n'
		ELSE '' END
	|| format('| %s | %s | %s | **%s** | %s | %s | %s | %s | %s | %s | %s | %s |', label, round(secs::numeric, 2),
		array_to_string(runs, ', '), to_char(ratio, 'FM0.00'),
		coalesce(round(steps::numeric, 2)::text, ''), coalesce(round(extra::numeric, 2)::text, ''), coalesce(round(verify::numeric, 2)::text, ''),
		pg_size_pretty(total_bytes::bigint), coalesce(dead_tup::bigint::text, '?'), coalesce(orig_pages::text, '?'),
		pg_size_pretty(wal::bigint), coalesce(methods, ''))
FROM r WHERE part = 'C' ORDER BY ord;
EOF
	echo
	echo "Total benchmark time: $(( ($(date +%s) - BENCH_START) / 60 )) min."
} | tee "$OUT"
log "report written to $OUT"
