# Copyright (c) 2026, penelope_sandbox developers
#
# t/001_upgrade.pl: ALTER EXTENSION penelope_sandbox UPDATE from every
# frozen release (updates/penelope_sandbox--X.sql) to the current version.
#
# A database at the old version gets the Penelope reference schema, the
# "penelope" profile, user-written environments and rules, and a
# sanitization (ledger rows); after the update the catalog and the ledger
# are unchanged and a sanitization works.  Then the extension's objects
# after the update are compared with those of a fresh CREATE EXTENSION of
# the current version, by pg_dump --binary-upgrade --schema-only (which,
# unlike a plain dump, writes out every member object of an extension with
# its definition, privileges and comments) and by the extension's
# configuration tables: a change to src/sql/ missing from the upgrade
# script fails here.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $current = slurp_file('penelope_sandbox.control');
$current =~ /^default_version = '([^']+)'/m or die "no default_version";
$current = $1;
my @releases = sort map { m{updates/penelope_sandbox--([^-]+)\.sql$} ? $1 : () }
  glob('updates/penelope_sandbox--*.sql');
ok(scalar(@releases) >= 1, 'there is a frozen release to upgrade from');

my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'penelope_sandbox'
penelope_sandbox.server_role = 'sandbox'
});
$node->start;

my $schema_sql = slurp_file('demo/penelope_schema.sql') . slurp_file('demo/penelope_generate.sql');

$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION penelope_sandbox');
is($node->safe_psql('fresh', q{SELECT extversion FROM pg_extension WHERE extname = 'penelope_sandbox'}),
	$current, "a fresh install is at $current");
my $fresh_objects = extension_objects('fresh');

foreach my $old (@releases)
{
	next if $old eq $current;
	my $db = 'from_' . ($old =~ s/\W/_/gr);

	note "from $old to $current";
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, $schema_sql);
	$node->safe_psql($db, q{SELECT penelope.generate(200)});
	$node->safe_psql($db, "CREATE EXTENSION penelope_sandbox VERSION '$old'");
	is($node->safe_psql($db, q{SELECT extversion FROM pg_extension WHERE extname = 'penelope_sandbox'}),
		$old, "$old installs from its frozen script");

	$node->safe_psql($db, q{
		SELECT sandbox_load_profile('penelope');
		CREATE TABLE public.contact (id int PRIMARY KEY, email text NOT NULL);
		INSERT INTO public.contact SELECT g, 'person' || g || '@corp.example.com' FROM generate_series(1, 10) g;
		INSERT INTO sandbox.environment (name, inherits, description) VALUES ('qa', 'migration', 'user-written');
		INSERT INTO sandbox.rule (environment, feature, table_name, column_name, action, expression, description) VALUES
			('migration', 'pii', 'contact', 'email', 'set', $$'c' || id || '@example.invalid'$$, 'user-written rule');
	});
	# The installed library is the current one, which needs the current
	# version's SQL objects: it cannot sanitize a database still at $old.
	# So the ledger rows and the guards of locked features are written as
	# a run of $old wrote them, for the update to carry over: 1.0's
	# sandbox_lock_features() (src/feature.c) made BEFORE INSERT OR UPDATE
	# OF the column triggers with 4 arguments (environment, feature,
	# column, value), 1.1's AFTER INSERT OR UPDATE triggers, fired ALWAYS,
	# with 6 (environment, feature, table, attnum, column, "=value").
	$node->safe_psql($db, (q{
		WITH r AS (
			INSERT INTO sandbox.run (environment, database_oid, system_identifier, finished_at, status, summary)
			SELECT 'migration', d.oid, c.system_identifier, clock_timestamp(), 'succeeded', 'recorded as by 1.0'
			FROM pg_database d, pg_control_system() c WHERE d.datname = current_database()
			RETURNING id)
		INSERT INTO sandbox.run_step (run_id, step, table_schema, table_name, method, rule_ids, statement, rows, duration)
		SELECT r.id, 1, 'public', 'contact', 'update', ARRAY[u.id], 'UPDATE public.contact SET email = ...', 10, '1 s'
		FROM r, sandbox.rule u WHERE u.table_name = 'contact';
		DO $$
		DECLARE
			g record;
		BEGIN
			FOR g IN SELECT r.id, r.environment, r.feature, r.table_schema, r.table_name, r.column_name
					 FROM sandbox.rule r JOIN sandbox.feature f USING (environment, feature)
					 WHERE f.policy = 'locked' AND r.action = 'set' AND r.expression = 'false' AND r.filter IS NULL
			LOOP
				EXECUTE format('UPDATE %I.%I SET %I = false', g.table_schema, g.table_name, g.column_name);
			END LOOP;
			FOR g IN SELECT r.id, r.environment, r.feature, r.table_schema, r.table_name, r.column_name
					 FROM sandbox.rule r JOIN sandbox.feature f USING (environment, feature)
					 WHERE f.policy = 'locked' AND r.action = 'set' AND r.expression = 'false' AND r.filter IS NULL
			LOOP
				IF __OLD__ = '1.0' THEN
					EXECUTE format('CREATE TRIGGER %I BEFORE INSERT OR UPDATE OF %I ON %I.%I FOR EACH ROW'
								   ' EXECUTE FUNCTION sandbox.guard_locked_feature(%L, %L, %L, %L)',
								   'sandbox_lock_' || g.id, g.column_name, g.table_schema, g.table_name,
								   g.environment, g.feature, g.column_name, 'f');
				ELSE
					-- as 1.1's sandbox_lock_features() (src/feature.c) made them
					EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE ON %I.%I FOR EACH ROW'
								   ' EXECUTE FUNCTION sandbox.guard_locked_feature(%L, %L, %L, %L, %L, %L)',
								   'sandbox_lock_' || g.id, g.table_schema, g.table_name,
								   g.environment, g.feature, format('%I.%I', g.table_schema, g.table_name),
								   (SELECT attnum FROM pg_attribute
									WHERE attrelid = format('%I.%I', g.table_schema, g.table_name)::regclass
									  AND attname = g.column_name)::text,
								   g.column_name, '=f');
					EXECUTE format('ALTER TABLE %I.%I ENABLE ALWAYS TRIGGER %I',
								   g.table_schema, g.table_name, 'sandbox_lock_' || g.id);
				END IF;
			END LOOP;
		END
		$$;
	}) =~ s/__OLD__/'$old'/gr);
	my $guards_sql = q{SELECT string_agg(tgrelid::regclass || ' ' || tgname || ' ' || tgnargs, ', ' ORDER BY 1)
		FROM pg_trigger WHERE tgfoid = 'sandbox.guard_locked_feature()'::regprocedure};
	my $guards_before = $node->safe_psql($db, $guards_sql);
	like($guards_before, $old eq '1.0' ? qr/ 4$/ : qr/ 6$/, "$old: the locked features have guards as $old made them");

	my %before = catalog_and_ledger($db);
	ok($before{runs} =~ /succeeded/ && $before{steps} ne '', "$old: the ledger holds the run and its steps");

	$node->safe_psql($db, 'ALTER EXTENSION penelope_sandbox UPDATE');
	is($node->safe_psql($db, q{SELECT extversion FROM pg_extension WHERE extname = 'penelope_sandbox'}),
		$current, "ALTER EXTENSION UPDATE brings $old to $current");

	(my $guards_expected = $guards_before) =~ s/ 4(,|$)/ 6$1/g;
	is($node->safe_psql($db, $guards_sql), $guards_expected,
		"$old -> $current: each guard of a locked feature is replaced by a guard of $current");

	my %after = catalog_and_ledger($db);
	foreach my $what (sort keys %before)
	{
		is($after{$what}, $before{$what}, "$old -> $current: $what survive the update");
	}

	$node->safe_psql($db,
		q{INSERT INTO public.contact SELECT g, 'person' || g || '@corp.example.com' FROM generate_series(11, 20) g});
	like($node->safe_psql($db, q{SELECT sandbox_sanitize('migration')}), qr/^run /,
		"$old -> $current: a sanitization runs after the update");
	is($node->safe_psql($db, q{SELECT count(*) FROM public.contact WHERE email NOT LIKE '%@example.invalid'}),
		'0', "$old -> $current: the user-written rule applied to the new rows");
	is($node->safe_psql($db, q{SELECT count(*) FROM sandbox.run WHERE status = 'succeeded'}),
		'2', "$old -> $current: the ledger has both runs");

	my $upgraded_objects = extension_objects($db);
	ok($upgraded_objects eq $fresh_objects,
		"$old -> $current: the extension's objects are those of a fresh $current install")
	  or diag(diff_lines($fresh_objects, $upgraded_objects));
}

$node->stop;
done_testing();

# catalog_and_ledger(DB): what a user wrote and what runs recorded, as text
sub catalog_and_ledger
{
	my ($db) = @_;
	my %q = (
		rules => q{SELECT string_agg(concat_ws('|', id, environment, feature, table_schema, table_name,
					column_name, action, expression, filter, enabled, description, restorable), E'\n' ORDER BY id)
				FROM sandbox.rule},
		environments => q{SELECT string_agg(concat_ws('|', name, inherits, description, disable_outbound),
					E'\n' ORDER BY name) FROM sandbox.environment},
		features => q{SELECT string_agg(t::text, E'\n' ORDER BY t::text) FROM sandbox.feature t},
		runs => q{SELECT string_agg(concat_ws('|', id, environment, database_name, status, summary,
					started_at, finished_at), E'\n' ORDER BY id) FROM sandbox.run},
		steps => q{SELECT string_agg(concat_ws('|', run_id, step, table_schema, table_name, method,
					rule_ids, rows), E'\n' ORDER BY run_id, step) FROM sandbox.run_step},
		saved_values => q{SELECT count(*) FROM sandbox.saved_value});
	return map { $_ => $node->safe_psql($db, $q{$_}) } keys %q;
}

# extension_objects(DB): the extension's member objects with their
# definitions (pg_dump --binary-upgrade --schema-only without the
# application's schemas), normalized: no comments, no OIDs, lines sorted
# (an upgrade may add a table's column at the end, a fresh install in the
# middle), plus the configuration tables registered for pg_dump.
sub extension_objects
{
	my ($db) = @_;
	my ($stdout, $stderr);
	IPC::Run::run [ 'pg_dump', '--binary-upgrade', '--schema-only', '--no-owner',
		'-N', 'public', '-N', 'penelope', '-h', $node->host, '-p', $node->port, $db ],
	  '>', \$stdout, '2>', \$stderr
	  or die "pg_dump $db failed: $stderr";
	# Dropped: comments, session settings, pg_dump's \restrict key,
	# sequence positions (data), OIDs and transaction ids.
	my @lines = grep {
		!/^--/ && !/^\s*$/ && !/binary_upgrade/ && !/^SET / && !/^SELECT pg_catalog\.set_config/
		  && !/^\\(un)?restrict / && !/^SELECT pg_catalog\.setval\(/
		  && !/^UPDATE pg_catalog\.pg_class$/ && !/^SET relfrozenxid/ && !/^WHERE oid = '\d+';$/
	} split /\n/, $stdout;
	s/,\s*$// foreach @lines;
	my $config = $node->safe_psql($db, q{
		SELECT string_agg(c::regclass::text || ' ' || coalesce(cond, ''), E'\n' ORDER BY c::regclass::text)
		FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS u(c, cond)
		WHERE e.extname = 'penelope_sandbox'});
	return join("\n", sort(@lines), "-- configuration tables:", $config);
}

# diff_lines(WANT, GOT): the lines only in one of them
sub diff_lines
{
	my ($want, $got) = @_;
	my (%w, %g);
	$w{$_}++ foreach split /\n/, $want;
	$g{$_}++ foreach split /\n/, $got;
	my @out;
	push @out, map { "only in a fresh install: $_" } grep { ($w{$_} // 0) > ($g{$_} // 0) } sort keys %w;
	push @out, map { "only after the update:   $_" } grep { ($g{$_} // 0) > ($w{$_} // 0) } sort keys %g;
	return join("\n", @out);
}
