# Copyright (c) 2026, penelope_sandbox developers
#
# t/003_cron.pl: the pg_cron recipe of docs/pg_cron.md, for real.
#
# A cluster with pg_cron and penelope_sandbox preloaded, pg_cron in
# "postgres" connecting over the node's socket, a sandbox database
# "training" with PII and migration rules, and a job scheduled in it with
# cron.schedule_in_database running sandbox_sanitize('migration') every
# minute.  Waits (at most 90 s) for the job to succeed, then checks
# cron.job_run_details, sandbox.run and the data, and unschedules.  The
# nightly verify job of the recipe runs in the same minute against an
# unsanitized copy and must fail there.  Last, sanitizing the database
# pg_cron lives in deactivates the jobs that are not the sandbox's own.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use SandboxTest;
use Time::HiRes qw(sleep time);

my $node = PostgreSQL::Test::Cluster->new('cron');
use_node($node);
$node->init;
# pg_cron connects with libpq to cron.host (default localhost, and the node
# listens on its private socket only): point it at the socket directory.
$node->append_conf('postgresql.conf', "
shared_preload_libraries = 'pg_cron,penelope_sandbox'
cron.database_name = 'postgres'
cron.host = '" . $node->host . "'
penelope_sandbox.server_role = 'sandbox'
");
$node->start;

$node->safe_psql('postgres', 'CREATE EXTENSION pg_cron');
is($node->safe_psql('postgres',
		q{SELECT to_regprocedure('cron.schedule_in_database(text,text,text,text,text,boolean)') IS NOT NULL}),
	't', 'pg_cron has cron.schedule_in_database');

# make_sandbox(DB): a restored copy with PII and rules for "migration"
sub make_sandbox
{
	my ($db) = @_;
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, q{
		CREATE EXTENSION penelope_sandbox;
		CREATE TABLE customer (id int PRIMARY KEY, email text NOT NULL UNIQUE, active boolean NOT NULL);
		INSERT INTO customer SELECT g, 'person' || g || '@corp.example.com', true
		  FROM generate_series(1, 1000) g;
		CREATE TABLE session (id int, token text);
		INSERT INTO session SELECT g, md5(g::text) FROM generate_series(1, 100) g;
		INSERT INTO sandbox.rule (environment, table_name, column_name, action, expression, filter) VALUES
		  ('migration', 'customer', 'email', 'set', $$'user' || id || '@example.invalid'$$, NULL),
		  ('migration', 'customer', 'active', 'set', 'false', NULL),
		  ('migration', 'session', NULL, 'truncate', NULL, NULL);
	});
}
make_sandbox('training');
make_sandbox('training_dirty');

sub unmasked
{
	my ($db) = @_;
	return $node->safe_psql($db,
		q{SELECT count(*) FROM customer WHERE email NOT LIKE '%@example.invalid' OR active});
}
is(unmasked('training'), '1000', 'training starts with 1000 unmasked customers');

# The nightly verify job of docs/pg_cron.md: fails (so that
# cron.job_run_details says so) when a rule does not hold.
my $verify_sql = q{DO $$
DECLARE
	failing bigint;
BEGIN
	SELECT count(*) INTO failing FROM sandbox_verify('migration') WHERE NOT ok;
	IF failing > 0 THEN
		RAISE EXCEPTION 'sandbox_verify(migration): % checks fail', failing;
	END IF;
END
$$};

note 'scheduling';
my $job = $node->safe_psql('postgres', q{
	SELECT cron.schedule_in_database('sanitize-training', '* * * * *',
		$$SELECT sandbox_sanitize('migration')$$, 'training')});
like($job, qr/^[0-9]+$/, 'cron.schedule_in_database returns a job id');
my $vjob = $node->safe_psql('postgres',
	"SELECT cron.schedule_in_database('verify-training-dirty', '* * * * *', "
	  . quote_literal($verify_sql) . ", 'training_dirty')");
like($vjob, qr/^[0-9]+$/, 'the verify job is scheduled');
is($node->safe_psql('postgres',
		q{SELECT database || ' ' || username || ' ' || active FROM cron.job WHERE jobname = 'sanitize-training'}),
	'training postgres true', 'cron.job shows the job for database training');

note 'waiting for the next minute (at most 90 s)';
my $start = time;
my $ran = wait_for('postgres',
	"SELECT count(*) = 2 FROM cron.job_run_details WHERE jobid IN ($job, $vjob) AND status IN ('succeeded', 'failed')",
	90);
ok($ran, 'both jobs ran within 90 s');
note sprintf('waited %d s', time - $start);

is($node->safe_psql('postgres', "SELECT status FROM cron.job_run_details WHERE jobid = $job ORDER BY runid LIMIT 1"),
	'succeeded', 'cron.job_run_details: the sanitize job succeeded');
is($node->safe_psql('training', q{
		SELECT count(*) FROM sandbox.run r JOIN pg_database d ON d.oid = r.database_oid
		 WHERE d.datname = current_database() AND r.environment = 'migration' AND r.status = 'succeeded'}),
	'1', 'sandbox.run shows a succeeded run of training');
is(unmasked('training'), '0', 'training is sanitized');
is($node->safe_psql('training', 'SELECT count(*) FROM session'), '0', 'sessions truncated');
is($node->safe_psql('training', q{SELECT count(*) FROM sandbox_verify('migration') WHERE NOT ok}),
	'0', 'sandbox_verify: every check holds');
my ($rc, $out, $err) = $node->psql('training', $verify_sql);
is("$rc|$err", '0|', q{the recipe's verify block passes on the sanitized training});

is($node->safe_psql('postgres', "SELECT status FROM cron.job_run_details WHERE jobid = $vjob ORDER BY runid LIMIT 1"),
	'failed', 'cron.job_run_details: the verify job failed on the unsanitized copy');
like($node->safe_psql('postgres',
		"SELECT return_message FROM cron.job_run_details WHERE jobid = $vjob ORDER BY runid LIMIT 1"),
	qr/sandbox_verify\(migration\): [0-9]+ checks fail/, 'its return_message says why');
is(unmasked('training_dirty'), '1000', 'the verify job changed nothing');

note 'unscheduling';
is($node->safe_psql('postgres', q{SELECT cron.unschedule('sanitize-training')}), 't',
	q{cron.unschedule('sanitize-training')});
is($node->safe_psql('postgres', q{SELECT cron.unschedule('verify-training-dirty')}), 't',
	q{cron.unschedule('verify-training-dirty')});
is($node->safe_psql('postgres', 'SELECT count(*) FROM cron.job'), '0', 'no job left');

note 'sanitizing the database pg_cron lives in deactivates its other jobs';
$node->safe_psql('postgres', q{SELECT cron.schedule('nightly-mail', '0 3 * * *', 'SELECT 1')});
$node->safe_psql('postgres', q{SELECT cron.schedule('own-verify', '0 4 * * *', $$SELECT sandbox_verify('migration')$$)});
$node->safe_psql('postgres', 'CREATE EXTENSION penelope_sandbox');
like($node->safe_psql('postgres', q{SELECT sandbox_sanitize('migration')}), qr/^run [0-9]+/,
	'sandbox_sanitize runs in the cron database');
is($node->safe_psql('postgres', q{SELECT string_agg(jobname || '=' || active, ',' ORDER BY jobname) FROM cron.job}),
	'nightly-mail=false,own-verify=true',
	q{the job aimed at production is deactivated, the sandbox's own is kept});
is($node->safe_psql('postgres', q{SELECT ok FROM sandbox_verify('migration') WHERE detail LIKE '%pg_cron%'}),
	't', 'sandbox_verify checks the pg_cron jobs');
$node->safe_psql('postgres', q{UPDATE cron.job SET active = true WHERE jobname = 'nightly-mail'});
is($node->safe_psql('postgres', q{SELECT violations FROM sandbox_verify('migration') WHERE detail LIKE '%pg_cron%'}),
	'1', 'and reports a job switched back on');

$node->stop;
done_testing();

