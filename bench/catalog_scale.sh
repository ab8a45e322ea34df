#!/usr/bin/env bash
# bench/catalog_scale.sh: the engine's own cost with a large rule catalog
# (issue 10, "scale of the catalog").
#
# Starts a throwaway cluster and builds three catalogs, each in its own
# environment:
#
#   wide   300 tables x 3 rules (mask email, mask last name, set a flag),
#          ROWS rows per table;
#   many   one table carrying 200 rules: 50 columns x 4 rules with
#          filters (id % 4 = k), ROWS rows;
#   column one table carrying 200 filtered rules on one column.
#
# For each it times, median of 3, in one session:
#   write     inserting the rules (each is validated by the trigger);
#   plan      sandbox_plan() (load, validate, build, count rows per step);
#   sanitize  sandbox_sanitize() in a transaction rolled back afterwards
#             (strategy auto; "wide/update" is wide with update_strategy
#             = update, one UPDATE per table instead of ALTER TABLE);
#   bare      the same columns changed by plain UPDATEs (one per table,
#             the same expressions), rolled back;
# and reports sanitize - bare, the engine's own work (validation,
# planning, ledger, verification), in wall-clock seconds and in CPU
# seconds of the server process (steadier on a shared machine).
#
# Usage: bench/catalog_scale.sh [rows]   (default 10)
source "$(dirname "$0")/../tools/lib.sh"

ROWS=${1:-10}
install_dependencies
build_and_install
cluster_start "shared_preload_libraries = 'penelope_sandbox'" \
	"penelope_sandbox.server_role = 'sandbox'"

createdb bench
psql() { command psql -X -q -v ON_ERROR_STOP=1 -d bench "$@"; }
psql -c "CREATE EXTENSION penelope_sandbox" -c "SET client_min_messages = warning" \
	-c "SELECT sandbox.mask_email('warm up the key')" >/dev/null
psql -c "INSERT INTO sandbox.environment (name) VALUES ('wide'), ('many'), ('column')"

# ---- the tables ----
psql -v rows="$ROWS" <<'SQL'
SELECT format($f$CREATE TABLE public.t%1$s (id int PRIMARY KEY, email text, last_name text, active boolean);
	INSERT INTO public.t%1$s SELECT g, 'p' || g || '@corp.example', 'Name' || g, true
	FROM generate_series(1, %2$s) g$f$, lpad(i::text, 3, '0'), :rows)
FROM generate_series(1, 300) i \gexec
SELECT format('CREATE TABLE public.many (id int PRIMARY KEY, %s)',
	string_agg(format('c%s text', c), ', ')) FROM generate_series(1, 50) c \gexec
INSERT INTO public.many (id) SELECT g FROM generate_series(1, :rows) g;
CREATE TABLE public.onecol (id int PRIMARY KEY, v text);
INSERT INTO public.onecol SELECT g, 'x' FROM generate_series(1, :rows) g;
SQL

# ---- the rules, their statements, the bare UPDATEs ----
rules_sql() {
	case $1 in
	wide) cat <<'SQL'
INSERT INTO sandbox.rule (environment, table_name, column_name, action, expression)
SELECT 'wide', 't' || lpad(i::text, 3, '0'), c, a, e
FROM generate_series(1, 300) i,
	(VALUES ('email', 'mask', 'sandbox.mask_email(email)'),
	        ('last_name', 'mask', 'sandbox.mask_last_name(last_name)'),
	        ('active', 'set', 'false')) r(c, a, e)
ORDER BY i, c;
SQL
	;;
	many) cat <<'SQL'
INSERT INTO sandbox.rule (environment, table_name, column_name, action, expression, filter)
SELECT 'many', 'many', 'c' || c, 'set', format('''v%s''', k), format('id %% 4 = %s', k)
FROM generate_series(1, 50) c, generate_series(0, 3) k ORDER BY c, k;
SQL
	;;
	column) cat <<'SQL'
INSERT INTO sandbox.rule (environment, table_name, column_name, action, expression, filter)
SELECT 'column', 'onecol', 'v', 'set', format('''v%s''', k), format('id %% 200 = %s', k)
FROM generate_series(0, 199) k ORDER BY k;
SQL
	;;
	esac
}
bare_sql() {
	case $1 in
	wide) echo "SELECT format('UPDATE public.t%s SET email = sandbox.mask_email(email), last_name = sandbox.mask_last_name(last_name), active = false', lpad(i::text, 3, '0')) FROM generate_series(1, 300) i \\gexec" ;;
	many) echo "SELECT format('UPDATE public.many SET %s', string_agg(format('c%s = CASE id %% 4 WHEN 0 THEN ''v0'' WHEN 1 THEN ''v1'' WHEN 2 THEN ''v2'' ELSE ''v3'' END', c), ', ')) FROM generate_series(1, 50) c \\gexec" ;;
	column) echo "UPDATE public.onecol SET v = 'v' || (id % 200);" ;;
	esac
}

# seconds SQL...: "wall cpu": wall-clock seconds of the statements, and
# the CPU seconds (user + system) their server process spent meanwhile,
# read from /proc (the throwaway cluster runs on this machine), in a
# transaction rolled back (so every repetition starts from the same
# data).  The CPU time does not count the time spent waiting for a core,
# so it moves less than the wall clock on a loaded machine.
TICKS=$(getconf CLK_TCK)
CPU=$(mktemp /tmp/catalog_scale.XXXXXX); chmod 666 "$CPU"
seconds() {
	psql -A -t <<SQL | tail -1
SET client_min_messages = warning;
BEGIN;
SELECT pg_backend_pid() AS backend \gset
\setenv BACKEND :backend
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
\! awk '{print \$14 + \$15}' /proc/\$BACKEND/stat > $CPU.0
$1
\! awk '{print \$14 + \$15}' /proc/\$BACKEND/stat > $CPU.1
SELECT round((extract(epoch FROM clock_timestamp()) - :t0)::numeric, 3) AS wall \gset
\setenv WALL :wall
\! echo "\$WALL \$(echo "scale=3; (\$(cat $CPU.1) - \$(cat $CPU.0)) / $TICKS" | bc | sed 's/^\./0./')"
ROLLBACK;
SQL
}
median() { printf '%s\n' "$@" | sort -g | sed -n 2p; }
diff3() { echo "$1 - $2" | bc -l | sed 's/^\./0./; s/^-\./-0./'; }

log "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-12s %6s %8s %8s %8s %8s %8s | %9s %8s %8s %8s\n' catalog rules write plan sanitize bare engine \
	cpu:write sanitize bare engine
for entry in wide wide/update many column; do
	cat=${entry%%/*}
	strategy=auto
	[ "$entry" = "$cat" ] || strategy=${entry#*/}
	w=(); p=(); s=(); b=(); wc=(); sc=(); bc=()
	# the statements timed come after the rules are written: restart the clocks
	restart='SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
\! awk '"'"'{print $14 + $15}'"'"' /proc/$BACKEND/stat > '"$CPU.0"
	plan_sql="$(rules_sql $cat)
$restart
SELECT count(*) FROM sandbox_plan('$cat') \\g /dev/null"
	sanitize_sql="$(rules_sql $cat)
SET LOCAL penelope_sandbox.update_strategy = $strategy;
$restart
SELECT sandbox_sanitize('$cat') \\g /dev/null"
	for run in 1 2 3; do
		read -r t c <<<"$(seconds "$(rules_sql $cat)")"; w+=("$t"); wc+=("$c")
		read -r t c <<<"$(seconds "$plan_sql")"; p+=("$t")
		read -r t c <<<"$(seconds "$sanitize_sql")"; s+=("$t"); sc+=("$c")
		read -r t c <<<"$(seconds "$(bare_sql $cat)")"; b+=("$t"); bc+=("$c")
	done
	n=$(psql -A -t -c "BEGIN" -c "$(rules_sql $cat)" -c "SELECT count(*) FROM sandbox.rule WHERE environment = '$cat'" -c "ROLLBACK" | tail -1)
	W=$(median "${w[@]}"); P=$(median "${p[@]}"); S=$(median "${s[@]}"); B=$(median "${b[@]}")
	WC=$(median "${wc[@]}"); SC=$(median "${sc[@]}"); BC=$(median "${bc[@]}")
	printf '%-12s %6s %8s %8s %8s %8s %8s | %9s %8s %8s %8s\n' "$entry" "$n" "$W" "$P" "$S" "$B" \
		"$(diff3 "$S" "$B")" "$WC" "$SC" "$BC" "$(diff3 "$SC" "$BC")"
done
log "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
log "seconds, median of 3; $ROWS rows per table; engine = sanitize - bare; cpu: the server process's CPU seconds"
rm -f "$CPU" "$CPU".0 "$CPU".1
