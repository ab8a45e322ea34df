# Copyright (c) 2026, penelope_sandbox developers
#
# t/006_refresh.pl: bin/pg_sandbox_refresh end to end, with real pg_dump
# and pg_restore.
#
# A small "production" database with synthetic PII and migration rules is
# dumped (custom, directory and plain formats) and refreshed into the
# sandbox "training": a first run creates it, a second keeps the previous
# copy as training__old_*, --drop-old drops it.  Failures (a rule breaking
# a unique constraint, an environment without rules, sessions on the
# target, an unmarked target, a production server, bad options) exit with
# their documented code, drop the temporary database and leave the target
# as it was.
#
# Twice: on a server where the library is loaded on demand by the SQL
# functions, then on one that preloads it, with its login check and its
# launcher, which may start sanitizing the temporary database on its own
# as soon as nobody is connected to it.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use SandboxTest;
use Time::HiRes qw(sleep time);

my $node;
my $work;
my $refresh = 'bin/pg_sandbox_refresh';

# refresh(ARGS...): run pg_sandbox_refresh; returns its exit status and
# what it wrote to stderr (shown when it fails)
sub refresh
{
	my ($out, $err) = ('', '');
	IPC::Run::run [ $refresh, @_ ], '<', \undef, '>', \$out, '2>', \$err;
	my $rc = $? >> 8;
	note join("\n", map { "  stderr: $_" } split /\n/, $err) if $rc != 0 && $err ne '';
	return ($rc, $err);
}

# set_server_role(ROLE): ALTER SYSTEM, reload, and wait until new sessions
# see it
sub set_server_role
{
	my ($role) = @_;
	$node->safe_psql('postgres',
		"ALTER SYSTEM SET penelope_sandbox.server_role = '$role'; SELECT pg_reload_conf()");
	$node->poll_query_until('postgres', "SELECT current_setting('penelope_sandbox.server_role') = '$role'")
	  or die "penelope_sandbox.server_role was not reloaded";
}

# make_production(DB, [VARIANT]): the extension, PII, and rules for
# "migration"; VARIANT "bad" adds a rule that violates a unique
# constraint, "slow" a rule that sleeps 3 s
sub make_production
{
	my ($db, $variant) = @_;
	$variant //= '';
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, q{
		CREATE EXTENSION penelope_sandbox;
		CREATE TABLE customer (id int PRIMARY KEY, email text NOT NULL UNIQUE,
		                       name text, active boolean NOT NULL);
		INSERT INTO customer SELECT g, 'person' || g || '@corp.example.com', 'Real Name ' || g, true
		  FROM generate_series(1, 500) g;
		CREATE TABLE integration (id int PRIMARY KEY, url text, enabled boolean NOT NULL);
		INSERT INTO integration VALUES (1, 'https://payments.example.com', true),
		                               (2, 'https://mailer.example.com', true);
		CREATE TABLE session (id int PRIMARY KEY, customer_id int REFERENCES customer, token text);
		INSERT INTO session SELECT g, g, md5(g::text) FROM generate_series(1, 100) g;
		CREATE TABLE audit_log (id int, entry text);
		INSERT INTO audit_log SELECT g, 'login of person' || g FROM generate_series(1, 300) g;
		INSERT INTO sandbox.rule (environment, table_name, column_name, action, expression, filter) VALUES
		  ('migration', 'customer', 'email', 'set', $$'user' || id || '@example.invalid'$$, NULL),
		  ('migration', 'customer', 'name', 'set', $$'Customer ' || id$$, NULL),
		  ('migration', 'integration', 'enabled', 'set', 'false', NULL),
		  ('migration', 'session', NULL, 'delete', NULL, 'true'),
		  ('migration', 'audit_log', NULL, 'truncate', NULL, NULL);
	});
	$node->safe_psql($db, q{
		CREATE TABLE slow (id int, v text);
		INSERT INTO slow VALUES (1, 'secret');
		-- a rule's filter may not call a volatile function such as pg_sleep
		CREATE FUNCTION public.slow_down(float8) RETURNS boolean LANGUAGE plpgsql STABLE
			AS $$BEGIN PERFORM pg_sleep($1); RETURN true; END$$;
		INSERT INTO sandbox.rule (environment, table_name, column_name, action, expression, filter)
		VALUES ('migration', 'slow', 'v', 'set', $$'x'$$, 'public.slow_down(3)');
	}) if $variant eq 'slow';
	$node->safe_psql($db, q{
		ALTER TABLE customer ADD login text UNIQUE;
		UPDATE customer SET login = 'login' || id;
		INSERT INTO sandbox.rule (environment, table_name, column_name, action, expression)
		VALUES ('migration', 'customer', 'login', 'set', $$'same-login'$$);
	}) if $variant eq 'bad';
}

sub db_exists
{
	return sql('postgres', 'SELECT EXISTS (SELECT FROM pg_database WHERE datname = ' . quote_literal($_[0]) . ')');
}

sub db_oid
{
	return sql('postgres', 'SELECT oid FROM pg_database WHERE datname = ' . quote_literal($_[0]));
}

sub count_like
{
	return sql('postgres', 'SELECT count(*) FROM pg_database WHERE datname LIKE ' . quote_literal($_[0]));
}

sub unmasked
{
	return sql($_[0], q{SELECT count(*) FROM customer WHERE email LIKE '%@corp.example.com' OR name LIKE 'Real%'});
}

# dump_to(DB, FORMAT, FILE, [OPTIONS]): pg_dump into $work
sub dump_to
{
	my ($db, $format, $file, @options) = @_;
	my ($out, $err);
	IPC::Run::run [ 'pg_dump', "-F$format", @options, '-f', "$work/$file", $db ], '>', \$out, '2>', \$err
	  or die "pg_dump of $db failed: $err";
}

sub run_suite
{
	my ($rc, $err);

	note 'production and its dumps';
	make_production('prod');
	make_production('prod_bad', 'bad');
	dump_to('prod', 'c', 'prod.dump');
	dump_to('prod', 'd', 'prod.dir');
	dump_to('prod', 'p', 'prod.sql');
	dump_to('prod_bad', 'c', 'bad.dump');
	make_production('prod_slow', 'slow');
	dump_to('prod_slow', 'c', 'slow.dump');
	dump_to('postgres', 'c', 'norules.dump');
	is(unmasked('prod'), '500', 'production holds 500 customers with real data');

	note 'usage';
	($rc) = refresh('--help');
	is($rc, 0, '--help exits 0');
	my ($help, $ignored);
	IPC::Run::run [ $refresh, '--help' ], '<', \undef, '>', \$help, '2>', \$ignored;
	like($help, qr/--drop-old/, '--help documents the options');
	($rc, $err) = refresh('--dump', "$work/prod.dump", '--target', 'training');
	is($rc, 1, 'missing --env: exit 1');
	like($err, qr/^pg_sandbox_refresh: error: --env is required/,
		'missing --env: message prefixed pg_sandbox_refresh:');
	($rc) = refresh('--env', 'migration', '--dump', "$work/nonexistent.dump", '--target', 'training');
	is($rc, 1, 'unreadable dump: exit 1');
	($rc) = refresh('--env', 'migration', '--dump', "$work/prod.dump", '--target', 'training', '--bogus');
	is($rc, 1, 'unknown option: exit 1');
	($rc) = refresh('--env', 'migration', '--dump', "$work/prod.sql", '--target', 'training', '--jobs', '2');
	is($rc, 1, '--jobs with a plain dump: exit 1');
	dump_to('prod', 'p', 'create.sql', '--create');
	($rc) = refresh('--env', 'migration', '--dump', "$work/create.sql", '--target', 'training');
	is($rc, 1, 'a plain dump made with --create: exit 1');
	is(db_exists('training'), 'f', 'no database created by usage errors');

	note 'first refresh: custom format, target does not exist yet';
	my $start = time;
	($rc, $err) = refresh('--env', 'migration', '--dump', "$work/prod.dump", '--target', 'training');
	is($rc, 0, 'refresh into a new target exits 0');
	note sprintf('took %.1f s', time - $start);
	is(db_exists('training'), 't', 'target training exists');
	is(unmasked('training'), '0', 'no original e-mail or name left in training');
	is(sql('training', 'SELECT count(*) FROM customer'), '500', 'every customer is still there');
	is(sql('training', 'SELECT bool_or(enabled) FROM integration'), 'f', 'integrations are disabled');
	is(sql('training', 'SELECT (SELECT count(*) FROM session) + (SELECT count(*) FROM audit_log)'), '0',
		'sessions deleted and audit log truncated');
	is(sql('training', q{SELECT count(*) FROM sandbox.run
		WHERE status = 'succeeded' AND environment = 'migration' AND database_oid = } . db_oid('training')),
		'1', 'sandbox.run holds a succeeded run of the new database');
	is(sql('postgres', q{SELECT array_to_string(setconfig, ',') FROM pg_db_role_setting s
		JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = 'training' AND s.setrole = 0}),
		'penelope_sandbox.environment=migration', 'training is marked as a sandbox of migration');
	is(count_like('%\_\_refresh\_%'), '0', 'no temporary database left');
	is(count_like('training\_\_old\_%'), '0', 'no old copy when there was no target');
	is(scalar(grep { !/^pg_sandbox_refresh: / } split(/\n/, $err)), 0,
		'every message is prefixed pg_sandbox_refresh:');
	unlike($err, qr/corp.example.com|Real Name/, 'no row value in the messages');

	note 'second refresh: directory format, --jobs 2, the previous copy is kept';
	$node->safe_psql('training', 'CREATE TABLE first_copy ()');
	$node->safe_psql('postgres', 'CREATE ROLE trainer LOGIN');
	$node->safe_psql('postgres',
		'REVOKE CONNECT ON DATABASE training FROM PUBLIC; GRANT CONNECT ON DATABASE training TO trainer');
	my $first_oid = db_oid('training');
	($rc) = refresh('--env', 'migration', '--dump', "$work/prod.dir", '--target', 'training', '--jobs', '2');
	is($rc, 0, 'second refresh exits 0');
	my $old = sql('postgres', q{SELECT datname FROM pg_database WHERE datname LIKE 'training\_\_old\_%'});
	like($old, qr/^training__old_[0-9]{14}$/, 'the previous copy is kept as training__old_<timestamp>');
	is(db_oid($old), $first_oid, 'the kept copy is the previous training');
	is(sql($old, q{SELECT to_regclass('first_copy') IS NOT NULL}), 't', 'the kept copy still has its own objects');
	is(sql('training', q{SELECT to_regclass('first_copy') IS NULL}), 't', 'training is a new copy');
	is(unmasked('training'), '0', 'the new training is sanitized');
	is(sql('postgres', q{SELECT has_database_privilege('trainer', 'training', 'CONNECT')::text
		|| has_database_privilege('public', 'training', 'CONNECT')::text}), 'truefalse',
		'the new copy has the privileges of the one it replaced');

	note 'third refresh: plain SQL dump, --drop-old';
	my $second_oid = db_oid('training');
	($rc) = refresh('--env', 'migration', '--dump', "$work/prod.sql", '--target', 'training', '--drop-old');
	is($rc, 0, 'refresh from a plain dump with --drop-old exits 0');
	is(db_exists('training'), 't', 'training exists');
	is(unmasked('training'), '0', 'training is sanitized');
	is(sql('postgres', "SELECT count(*) FROM pg_database WHERE oid = $second_oid"), '0',
		'--drop-old dropped the copy it replaced');
	is(count_like('training\_\_old\_%'), '1', 'the copy kept by the second refresh is still there');
	$node->safe_psql('postgres', qq{DROP DATABASE "$old"});

	# A marker that tells the current training apart: failures must keep it.
	$node->safe_psql('training', 'CREATE TABLE keep_me ()');
	my $kept_oid = db_oid('training');
	my $untouched = sub {
		return (db_oid('training') eq $kept_oid
			  && sql('training', q{SELECT to_regclass('keep_me') IS NOT NULL}) eq 't'
			  && count_like('training\_\_old\_%') eq '0') ? 'yes' : 'no';
	};

	note 'a rule that violates a unique constraint: sanitize fails';
	($rc, $err) = refresh('--env', 'migration', '--dump', "$work/bad.dump", '--target', 'training');
	is($rc, 3, 'failing sanitization: exit 3');
	like($err, qr/^pg_sandbox_refresh: ERROR: /m, 'the error is reported');
	unlike($err, qr/corp.example.com|same-login|DETAIL/, 'the error shows no row value');
	is(count_like('%\_\_refresh\_%'), '0', 'the temporary database is dropped');
	is($untouched->(), 'yes', 'training is untouched');

	note '--keep-failed keeps the temporary database';
	($rc) = refresh('--env', 'migration', '--dump', "$work/bad.dump", '--target', 'training', '--keep-failed');
	is($rc, 3, 'failing sanitization with --keep-failed: exit 3');
	is(count_like('training\_\_refresh\_%'), '1', 'the temporary database is kept');
	is($untouched->(), 'yes', 'training is untouched');
	my $kept = sql('postgres', q{SELECT datname FROM pg_database WHERE datname LIKE 'training\_\_refresh\_%'});
	$node->safe_psql('postgres', qq{DROP DATABASE "$kept"});

	note 'a dump without rules for the environment: nothing to publish';
	($rc, $err) = refresh('--env', 'migration', '--dump', "$work/norules.dump", '--target', 'training');
	is($rc, 4, 'a dump without rules: exit 4');
	like($err, qr/has no rules/, 'a dump without rules: the reason is given');
	is(count_like('%\_\_refresh\_%'), '0', 'the temporary database is dropped');
	is($untouched->(), 'yes', 'training is untouched');

	note 'a corrupt dump: restore fails';
	PostgreSQL::Test::Utils::append_to_file("$work/corrupt.dump", 'PGDMP garbage');
	($rc) = refresh('--env', 'migration', '--dump', "$work/corrupt.dump", '--target', 'training');
	is($rc, 2, 'corrupt dump: exit 2');
	is(count_like('%\_\_refresh\_%'), '0', 'the temporary database is dropped');
	is($untouched->(), 'yes', 'training is untouched');

	note 'SIGTERM during the run';
	my ($out, $term_err) = ('', '');
	my $h = IPC::Run::start [ $refresh, '--env', 'migration', '--dump', "$work/slow.dump", '--target', 'training' ],
	  '<', \undef, '>', \$out, '2>', \$term_err;
	wait_for('postgres', q{SELECT EXISTS (SELECT FROM pg_stat_activity
		WHERE (query LIKE '%sandbox_sanitize(%' OR query LIKE 'penelope_sandbox run %')
		AND datname LIKE 'training\_\_refresh\_%')}, 20);
	$h->signal('TERM');
	$h->finish;
	my $status = $h->full_result;
	is(($status & 127) ? 128 + ($status & 127) : $status >> 8, 143, 'SIGTERM: exit 143');
	like($term_err, qr/dropped the temporary database/, 'SIGTERM: the temporary database is dropped');
	is(count_like('%\_\_refresh\_%'), '0', 'no temporary database left');
	is($untouched->(), 'yes', 'training is untouched');

	note 'a session on the target';
	my $sleeper = IPC::Run::start [ 'psql', '-X', '-q', '-d', 'training', '-c', 'SELECT pg_sleep(60)' ],
	  '<', \undef, '>', \$out, '2>', \$err;
	wait_for('postgres', q{SELECT EXISTS (SELECT FROM pg_stat_activity
		WHERE datname = 'training' AND query LIKE '%pg_sleep%')}, 10);
	($rc) = refresh('--env', 'migration', '--dump', "$work/prod.dump", '--target', 'training', '--wait', '1');
	is($rc, 5, 'a session on the target without --force: exit 5');
	is(count_like('%\_\_refresh\_%'), '0', 'the temporary database is dropped');
	is($untouched->(), 'yes', 'training is untouched');
	($rc) = refresh('--env', 'migration', '--dump', "$work/prod.dump", '--target', 'training', '--wait', '1',
		'--force');
	is($rc, 0, 'with --force the refresh exits 0');
	$sleeper->finish;
	is($sleeper->full_result >> 8, 2, 'the session on the old target was terminated');
	is(sql('training', q{SELECT to_regclass('keep_me') IS NULL}), 't', 'training is the new copy');
	is(unmasked('training'), '0', 'the new training is sanitized');

	note 'guards';
	$node->safe_psql('postgres', 'CREATE DATABASE not_a_sandbox');
	($rc) = refresh('--env', 'migration', '--dump', "$work/prod.dump", '--target', 'not_a_sandbox');
	is($rc, 6, 'an existing database not marked as a sandbox: exit 6');
	is(sql('not_a_sandbox', q{SELECT count(*) FROM pg_class WHERE relname = 'customer'}), '0', 'it is left alone');
	($rc) = refresh('--env', 'migration', '--dump', "$work/prod.dump", '--target', 'postgres');
	is($rc, 6, 'the maintenance database as target: exit 6');
	($rc) = refresh('--env', 'migration', '--dump', "$work/prod.dump", '--target', 'x' x 50);
	is($rc, 1, 'a target name too long for its suffixes: exit 1');
	set_server_role('production');
	($rc) = refresh('--env', 'migration', '--dump', "$work/prod.dump", '--target', 'training');
	is($rc, 6, 'on a production server: exit 6');
	set_server_role('unset');
	($rc) = refresh('--env', 'migration', '--dump', "$work/prod.dump", '--target', 'training');
	is($rc, 6, 'server role unset, no --confirm-not-production: exit 6');
	($rc) = refresh('--env', 'migration', '--dump', "$work/prod.dump", '--target', 'training',
		'--confirm-not-production');
	is($rc, 0, 'server role unset with --confirm-not-production: exit 0');
	is(unmasked('training'), '0', 'training is sanitized');
	is(count_like('%\_\_refresh\_%'), '0', 'no temporary database left');
}

# start_node(NAME, SETTINGS): a new server; the tools reach it through
# PGHOST (set by PostgreSQL::Test::Cluster) and PGPORT
sub start_node
{
	my ($name, $settings) = @_;
	$node = PostgreSQL::Test::Cluster->new($name);
	use_node($node);
	$node->init;
	$node->append_conf('postgresql.conf', $settings);
	$node->start;
	$ENV{PGPORT} = $node->port;
	$ENV{PGHOST} = $node->host;
	$work = PostgreSQL::Test::Utils::tempdir;
}

note '=== penelope_sandbox not preloaded';
start_node('on_demand', q{
penelope_sandbox.server_role = 'sandbox'
});
run_suite();
$node->stop;

note '=== penelope_sandbox preloaded';
start_node('preloaded', q{
shared_preload_libraries = 'penelope_sandbox'
penelope_sandbox.server_role = 'sandbox'
penelope_sandbox.naptime = 1
});
run_suite();
$node->stop;

done_testing();
