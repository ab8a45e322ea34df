# Copyright (c) 2026, penelope_sandbox developers
#
# t/007_launcher.pl: the launcher and the asynchronous path never get stuck
# (issue 10).
#
# Many databases created and dropped, columns of user-defined types,
# rolled-back DROP EXTENSION, idle connections, terminated and crashed
# runs, transactions that call sandbox_sanitize_async() and roll back or
# take their time, a sanitizer that dies while it connects, bad
# environment names, and a production server.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use SandboxTest;
use Time::HiRes qw(sleep time);

my $node = PostgreSQL::Test::Cluster->new('launcher');
use_node($node);
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'penelope_sandbox'
penelope_sandbox.server_role = 'sandbox'
penelope_sandbox.auto_sanitize = off
penelope_sandbox.naptime = 1
});
$node->start;
$node->safe_psql('postgres', 'CREATE ROLE regress_clerk LOGIN');
# the tools started here reach the node through PGHOST and PGPORT
$ENV{PGHOST} = $node->host;
$ENV{PGPORT} = $node->port;

my $tempdir = PostgreSQL::Test::Utils::tempdir;
my $refused = qr/is being prepared/;

# mark(DB, [ENVIRONMENT]): mark DB as a sandbox of ENVIRONMENT (migration)
sub mark
{
	my ($db, $environment) = @_;
	$environment //= 'migration';
	$node->safe_psql('postgres', qq{ALTER DATABASE "$db" SET penelope_sandbox.environment = '$environment'});
}

sub clerk
{
	return sql($_[0], 'SELECT count(*) FROM client', 'regress_clerk');
}

sub unmasked
{
	return sql($_[0], q{SELECT count(*) FROM client WHERE email NOT LIKE '%@example.invalid'});
}

sub sanitizers
{
	return sql($_[0], q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'penelope_sandbox sanitizer'});
}

note q{the launcher's memory does not fill up with databases that are gone};
$node->safe_psql('postgres', join("\n", map {
	"CREATE DATABASE gone_$_ STRATEGY FILE_COPY;\n"
	  . "ALTER DATABASE gone_$_ SET penelope_sandbox.environment = 'migration';"
} 1 .. 66));
sleep 3;
$node->safe_psql('postgres', join("\n", map { "DROP DATABASE gone_$_;" } 1 .. 66));
make_copy('fresh');
mark('fresh');
like(sql('fresh', q{SELECT sandbox_sanitize('migration')}), qr/^run [0-9]+/,
	'a copy made after 66 others came and went is sanitized');
is(clerk('fresh'), '1000', 'and opens');

note 'background runs work on columns of user-defined types';
$node->safe_psql('postgres', 'CREATE DATABASE udt');
$node->safe_psql('udt', q{
	CREATE EXTENSION penelope_sandbox;
	CREATE TYPE public.mood AS ENUM ('happy', 'sad');
	CREATE DOMAIN public.email_address AS text CHECK (VALUE LIKE '%@%');
	CREATE TABLE client (id int PRIMARY KEY, email public.email_address, feeling public.mood);
	INSERT INTO client SELECT g, 'person' || g || '@mail.example.com', 'happy' FROM generate_series(1, 100) g;
	GRANT SELECT ON client TO PUBLIC;
	INSERT INTO sandbox.rule (environment, table_name, column_name, action, expression)
	VALUES ('migration', 'client', 'email', 'mask', $$sandbox.mask_email(email)$$),
	       ('migration', 'client', 'feeling', 'set', $$'sad'$$);
});
$node->safe_psql('postgres', 'CREATE DATABASE udt_async TEMPLATE udt');
mark('udt');
set_conf('penelope_sandbox.auto_sanitize' => 'on');
ok(wait_for('udt', q{SELECT count(*) = 1 FROM sandbox.run WHERE status = 'succeeded'}, 20),
	q{the launcher's run of a copy with an enum and a domain in public succeeds});
is(sql('udt', q{SELECT count(*) FROM client WHERE feeling = 'happy' OR email LIKE '%mail.example.com'}), '0',
	'and masks them');
set_conf('penelope_sandbox.auto_sanitize' => 'off');
my $run = sql('udt_async', q{SELECT sandbox_sanitize_async('migration')});
wait_for('udt_async', "SELECT status <> 'queued' AND status <> 'running' FROM sandbox.run WHERE id = $run", 20);
is(sql('udt_async', "SELECT status FROM sandbox.run WHERE id = $run"), 'succeeded',
	'an asynchronous run of such a copy succeeds');

note 'a rolled-back DROP or CREATE EXTENSION leaves an open copy open';
sql('fresh', 'BEGIN; DROP EXTENSION penelope_sandbox CASCADE; ROLLBACK');
is(clerk('fresh'), '1000', 'after a rolled-back DROP EXTENSION');
sql('fresh', 'BEGIN; DROP EXTENSION penelope_sandbox CASCADE; CREATE EXTENSION penelope_sandbox; ROLLBACK');
is(clerk('fresh'), '1000', 'after a rolled-back DROP and CREATE EXTENSION');
sql('fresh', 'DROP EXTENSION penelope_sandbox CASCADE');
like(clerk('fresh'), $refused, '(a committed DROP EXTENSION closes it)');

note 'an idle connection does not keep a copy closed';
make_copy('idle');
mark('idle');
sql('idle', q{SELECT sandbox_sanitize('migration')});
$node->command_ok([ 'pg_dump', '-Fc', '-f', "$tempdir/idle.dump", 'idle' ], '(pg_dump of idle)');
my $monitor = $node->background_psql('idle');
$node->command_ok([ 'pg_restore', '--clean', '--if-exists', '-d', 'idle', "$tempdir/idle.dump" ],
	'(pg_restore --clean into idle)');
sql('idle', q{UPDATE client SET email = 'person' || id || '@mail.example.com'});
like(clerk('idle'), $refused, '(pg_restore --clean closes the copy)');
set_conf('penelope_sandbox.auto_sanitize' => 'on');
ok(wait_for('idle', 'SELECT sandbox_database_ready()', 20),
	q{the launcher sanitizes it while an admin's idle session stays connected});
is(unmasked('idle'), '0', 'the restored data is masked');
is(sql('idle', q{SELECT count(*) FROM pg_stat_activity WHERE datname = 'idle'
	AND backend_type = 'client backend' AND pid <> pg_backend_pid()}), '1',
	'and the idle session is still there');
$monitor->quit;
set_conf('penelope_sandbox.auto_sanitize' => 'off');

note 'the asynchronous worker starts when the caller commits';
make_copy('later', 1);
mark('later');
sql('later', q{SELECT sandbox_sanitize('migration')});
my $caller = $node->background_psql('later');
$caller->query_safe('BEGIN');
$caller->query_safe(q{SELECT sandbox_sanitize_async('migration')});
sleep 1.5;
is(clerk('later'), '1000', 'an open copy stays open while a transaction that queued a run is in progress');
$caller->query_safe('SELECT pg_sleep(1.5)');
is($caller->query_safe(q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'penelope_sandbox sanitizer'}),
	'0', 'no worker starts before the caller commits');
$caller->query_safe('ROLLBACK');
$caller->quit;
sleep 1;
is(sanitizers('later'), '0', 'nor after it rolls back');
is(sql('later', q{SELECT count(*) FROM sandbox.run WHERE status IN ('queued', 'running')}), '0',
	'and nothing is left queued');
($run) = split /\n/, $node->safe_psql('later',
	q{BEGIN; SELECT sandbox_sanitize_async('migration'); SELECT pg_sleep(1.5); COMMIT});
ok(wait_for('later', "SELECT status = 'running' FROM sandbox.run WHERE id = $run", 10),
	q{the ledger shows the run 'running' while it runs});
ok(wait_for('later', "SELECT status = 'succeeded' FROM sandbox.run WHERE id = $run", 20),
	'the run queued by a transaction that took its time succeeds');
like(sql('later', q{BEGIN; SELECT sandbox_sanitize_async('migration'); PREPARE TRANSACTION 'p'}), qr/cannot prepare/,
	'a transaction that queued a run cannot be prepared');

note 'a terminated run is recorded as failed, and a marked copy is sanitized again';
make_copy('killed', 1);
mark('killed');
$run = sql('killed', q{SELECT sandbox_sanitize_async('migration')});
wait_for('killed', 'SELECT count(*) = 1 FROM sandbox.progress', 10);
sql('killed', 'SELECT pg_terminate_backend(pid) FROM sandbox.progress');
ok(wait_for('killed', "SELECT status = 'failed' FROM sandbox.run WHERE id = $run", 10),
	'pg_terminate_backend of an asynchronous run leaves it failed');
like(sql('killed', "SELECT summary FROM sandbox.run WHERE id = $run"), qr/terminated/,
	'the ledger says it was terminated');
is(unmasked('killed'), '1000', 'and nothing was changed');
set_conf('penelope_sandbox.auto_sanitize' => 'on');
ok(wait_for('killed', 'SELECT sandbox_database_ready()', 20), 'the launcher sanitizes the marked copy again');
set_conf('penelope_sandbox.auto_sanitize' => 'off');

note 'a run cut short by an immediate stop is marked failed and done again';
make_copy('crashed', 1);
$run = sql('crashed', q{SELECT sandbox_sanitize_async('migration')});
wait_for('crashed', 'SELECT count(*) = 1 FROM sandbox.progress', 10);
$node->stop('immediate');
$node->start;
ok(wait_for('crashed', q{SELECT count(*) = 1 FROM sandbox.run WHERE status = 'succeeded'}, 30),
	'the run of an unmarked copy is done again after the restart');
is(sql('crashed', "SELECT status FROM sandbox.run WHERE id = $run"), 'failed', 'the interrupted run is marked failed');
like(sql('crashed', "SELECT summary FROM sandbox.run WHERE id = $run"), qr/interrupted/, 'and says why');
is(sql('crashed', q{SELECT count(*) FROM sandbox.run WHERE status IN ('queued', 'running')}), '0',
	'nothing is left queued or running');
is(unmasked('crashed'), '0', 'the copy is masked');

note 'a sanitizer that dies while it connects is started again';
make_copy('dying');
mark('dying');
my ($out, $err) = ('', '');
my $renamer = IPC::Run::start [ 'psql', '-X', '-q', '-d', 'postgres',
	'-c', 'BEGIN', '-c', 'ALTER DATABASE dying RENAME TO dying_renamed', '-c', 'SELECT pg_sleep(6)', '-c', 'ROLLBACK' ],
  '<', \undef, '>', \$out, '2>', \$err;
sleep 1;
set_conf('penelope_sandbox.auto_sanitize' => 'on');
my $waiting = q{FROM pg_locks WHERE NOT granted AND locktype = 'object' AND classid = 'pg_database'::regclass};
ok(wait_for('postgres', "SELECT count(*) = 1 $waiting", 10), '(the sanitizer waits for the database while it connects)');
sql('postgres', "SELECT pg_terminate_backend(pid) $waiting");
$renamer->finish;
$node->reload;
ok(wait_for('dying', 'SELECT sandbox_database_ready()', 20),
	'the launcher starts another sanitizer, which sanitizes the copy');
set_conf('penelope_sandbox.auto_sanitize' => 'off');

note 'sandbox_sanitize_async refuses bad environment names';
like(sql('later', q{SELECT sandbox_sanitize_async('')}), qr/must not be empty/, 'an empty name');
like(sql('later', q{SELECT sandbox_sanitize_async('no_such_environment')}),
	qr/environment "no_such_environment" does not exist/, 'an unknown name');
is(sql('later', q{SELECT count(*) FROM sandbox.run WHERE environment NOT IN ('migration')}), '0', 'and queues nothing');

note 'on a production server the launcher does nothing and holds no connection';
set_conf('penelope_sandbox.server_role' => q{'production'});
sleep 2;
is(sql('postgres', q{SELECT count(*) FROM pg_stat_activity
	WHERE backend_type = 'penelope_sandbox launcher' AND datid IS NOT NULL}), '0',
	'the launcher is connected to no database');
is(sql('template1', 'CREATE DATABASE copy_of_postgres TEMPLATE postgres'), '',
	'CREATE DATABASE ... TEMPLATE postgres works');

$node->stop;
done_testing();
