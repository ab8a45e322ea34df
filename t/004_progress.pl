# Copyright (c) 2026, penelope_sandbox developers
#
# t/004_progress.pl: a long job shows where it is.
#
# sandbox.progress reads like pg_stat_progress_cluster while a session runs
# sandbox_sanitize (phase, step of steps, the table with its size, the rows
# done), and the session's pg_stat_activity entry shows its own statement
# again afterwards.  pg_sandbox_refresh shows a live progress line on a
# terminal (restore: objects done of the archive's total; sanitize: step,
# table, rows done) and, not on a terminal, one plain line per sanitize
# step and no control characters.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('progress');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'penelope_sandbox'
penelope_sandbox.server_role = 'sandbox'
});
$node->start;

# prod: PII, and a rule whose filter sleeps 2 s on the one row of "slow",
# to catch the run at that step
$node->safe_psql('postgres', 'CREATE DATABASE prod');
$node->safe_psql('prod', q{
	CREATE EXTENSION penelope_sandbox;
	CREATE TABLE customer (id int PRIMARY KEY, email text NOT NULL);
	INSERT INTO customer SELECT g, 'person' || g || '@corp.example.com' FROM generate_series(1, 2000) g;
	CREATE TABLE slow (id int, v text);
	INSERT INTO slow VALUES (1, 'secret');
	CREATE TABLE session (id int, token text);
	INSERT INTO session SELECT g, md5(g::text) FROM generate_series(1, 100) g;
	ANALYZE;
	-- a rule's filter may not call a volatile function such as pg_sleep
	CREATE FUNCTION public.slow_down(float8) RETURNS boolean LANGUAGE plpgsql STABLE
		AS $$BEGIN PERFORM pg_sleep($1); RETURN true; END$$;
	INSERT INTO sandbox.rule (environment, table_name, column_name, action, expression, filter) VALUES
	  ('migration', 'customer', 'email', 'set', $$'user' || id || '@example.invalid'$$, NULL),
	  ('migration', 'session', NULL, 'delete', NULL, 'true'),
	  ('migration', 'slow', 'v', 'set', $$'x'$$, 'public.slow_down(2)');
});
my $tempdir = PostgreSQL::Test::Utils::tempdir;
my $dump = "$tempdir/prod.dump";
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-h', $node->host, '-p', $node->port, 'prod' ],
	'pg_dump of the production copy');

note 'sandbox.progress while a session runs sandbox_sanitize';
$node->safe_psql('postgres', 'CREATE DATABASE live TEMPLATE prod');
my $bg = $node->background_psql('live');
my $bg_pid = $bg->query_safe('SELECT pg_backend_pid()');
$bg->query_until(qr/started/, "\\echo started\nSELECT sandbox_sanitize('migration');\n");
ok($node->poll_query_until('live',
		q{SELECT count(*) = 1 FROM sandbox.progress WHERE relation = 'public.slow'}),
	'sandbox.progress shows the session at the slow step');
my $row = $node->safe_psql('live', qq{
	SELECT concat_ws('|', pid = $bg_pid, phase, step BETWEEN 1 AND steps_total, relid = 'slow'::regclass,
		heap_blks_total, heap_tuples_total, rows_done, run_id > 0, elapsed >= interval '0',
		current_step LIKE '%step % of %rows done)')
	FROM sandbox.progress});
is($row, 't|rewriting heap|t|t|1|1|2000|t|t|t',
	'pid, phase, step of steps, relid, heap_blks_total, heap_tuples_total, rows done by the steps before');
ok($node->poll_query_until('live', q{SELECT count(*) = 0 FROM sandbox.progress}),
	'the row goes when the run ends');
is($node->safe_psql('live', "SELECT state || ': ' || query FROM pg_stat_activity WHERE pid = $bg_pid"),
	"idle: SELECT sandbox_sanitize('migration');",
	'the session shows its own statement again');
$bg->quit;

# refresh(TARGET, TTY): run pg_sandbox_refresh; with TTY under script(1),
# a pseudo-terminal, and a parallel restore.  Returns its exit status and what it wrote to stderr
# (through the terminal, when TTY).
sub refresh
{
	my ($target, $tty) = @_;
	my @cmd = ('bin/pg_sandbox_refresh', '--env', 'migration', '--dump', $dump, '--target', $target,
		'-h', $node->host, '-p', $node->port);
	my ($out, $err);
	if ($tty)
	{
		push @cmd, '--jobs', '2';
		my $line = join(' ', map { "'$_'" } @cmd) . ' >/dev/null';
		IPC::Run::run [ 'script', '-qefc', $line, '/dev/null' ], '<', \undef, '>', \$out, '2>', \$err;
		return ($? >> 8, $out);
	}
	IPC::Run::run \@cmd, '<', \undef, '>', \$out, '2>', \$err;
	return ($? >> 8, $err);
}

note 'pg_sandbox_refresh, not on a terminal';
my ($rc, $log) = refresh('training_log', 0);
is($rc, 0, 'the refresh succeeds');
like($log, qr/^pg_sandbox_refresh: sanitize: step \d+ of \d+, rewriting heap public\.slow \(1 blocks(, ~1 rows)?\)$/m,
	'a line for the slow step, with its table and size');
unlike($log, qr/[\r\033]/, 'no carriage return or escape sequence');
unlike($log, qr/restore: \d+ of/, 'no restore progress');
my @steps = ($log =~ /sanitize: (step \d+ of \d+, [a-z ]+)/g);
is(scalar(@steps), scalar(keys %{ { map { $_ => 1 } @steps } }), 'one line per step');

note 'pg_sandbox_refresh on a terminal';
($rc, my $screen) = refresh('training_tty', 1);
is($rc, 0, 'the refresh succeeds on a terminal');
like($screen, qr/\r\033\[Kpg_sandbox_refresh: restore: \d+ of \d+ objects, 0:00:\d\d/,
	'a live line counts the objects restored of the total');
my ($last_done, $last_total) = ($screen =~ /.*restore: (\d+) of (\d+) objects/s);
is($last_done, $last_total, 'the count reaches the total');
like($screen, qr/\r\033\[Kpg_sandbox_refresh: sanitize: step \d+ of \d+, rewriting heap public\.slow \(1 blocks(, ~1 rows)?\), 2000 rows done, 0:00:\d\d/,
	'a live line shows the sanitizer at its step, with rows done and elapsed time');
like($screen, qr/sanitized in \d+s/, 'and the ordinary messages still come');

is($node->safe_psql('training_tty', q{SELECT count(*) FROM customer WHERE email NOT LIKE '%@example.invalid'}),
	'0', 'the refreshed copy is sanitized');

$node->stop;
done_testing();
