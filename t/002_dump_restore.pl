# Copyright (c) 2026, penelope_sandbox developers
#
# t/002_dump_restore.pl: pg_dump -> pg_restore into a fresh database keeps
# the user-written rules and environments of penelope_sandbox, and does not
# duplicate the built-in environments; a second cycle keeps one copy.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('dump_restore');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'penelope_sandbox'
penelope_sandbox.server_role = 'sandbox'
});
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE dr_source');
$node->safe_psql('dr_source', q{
CREATE EXTENSION penelope_sandbox;
CREATE TABLE public.client (id int, email text, "Mixed Col" text);
INSERT INTO public.client VALUES (1, 'a@example.com', 'x');
INSERT INTO sandbox.environment (name, inherits, description) VALUES ('qa', 'training_b', 'user-written');
UPDATE sandbox.environment SET description = 'changed built-in' WHERE name = 'preview';
INSERT INTO sandbox.rule (environment, feature, table_name, column_name, action, expression, filter, enabled, description) VALUES
	('qa', 'pii', 'client', 'email', 'set', $$'q' || id || '@invalid'$$, 'id > 0', true, 'qa e-mail'),
	('training_a', NULL, 'client', 'Mixed Col', 'set', $$'-'$$, NULL, false, NULL);
});

my $tempdir = PostgreSQL::Test::Utils::tempdir;
my @conn = ('-h', $node->host, '-p', $node->port);

# dump_and_restore(SOURCE, TARGET, FILE): pg_dump -Fc, createdb, pg_restore;
# returns the exit status of pg_dump and pg_restore and pg_restore's stderr
sub dump_and_restore
{
	my ($source, $target, $file) = @_;
	my ($out, $err);
	my $dump_ok = IPC::Run::run [ 'pg_dump', @conn, '-Fc', '-f', $file, $source ], '>', \$out, '2>', \$err;
	$node->safe_psql('postgres', "CREATE DATABASE $target");
	my $restore_ok = IPC::Run::run [ 'pg_restore', @conn, '-d', $target, $file ], '>', \$out, '2>', \$err;
	return ($dump_ok, $restore_ok, $err);
}

my ($dump_ok, $restore_ok, $restore_err) = dump_and_restore('dr_source', 'dr_target', "$tempdir/dr.dump");
ok($dump_ok, 'pg_dump succeeds');
ok($restore_ok, 'pg_restore succeeds');
unlike($restore_err, qr/error/i, 'pg_restore reports no error');

my $rules_sql = q{SELECT string_agg(concat_ws('|', id, environment, feature, table_schema, table_name, column_name, action, expression, filter, enabled, description), E'\n' ORDER BY id) FROM sandbox.rule};
my $envs_sql = q{SELECT string_agg(concat_ws('|', name, inherits), ',' ORDER BY name) FROM sandbox.environment};

is($node->safe_psql('dr_target', $rules_sql), $node->safe_psql('dr_source', $rules_sql),
	'user-written rules are kept');
is($node->safe_psql('dr_target', $envs_sql), $node->safe_psql('dr_source', $envs_sql),
	'environments: user-written kept, built-in not duplicated');
is($node->safe_psql('dr_target', q{SELECT count(DISTINCT name) FROM sandbox.environment}), '7',
	'each environment once');
is($node->safe_psql('dr_target', q{INSERT INTO sandbox.rule (environment, table_name, column_name, action, expression) VALUES ('qa', 'client', 'Mixed Col', 'set', $$'z'$$) RETURNING id > 2}),
	't', 'rule ids continue after the restored ones');
like($node->safe_psql('dr_target', q{SELECT sandbox_sanitize('qa')}), qr/^run /, 'the restored rules run');
is($node->safe_psql('dr_target', q{SELECT email || '|' || "Mixed Col" FROM client}), 'q1@invalid|z',
	'the restored rule applied');

my ($dump2_ok, $restore2_ok) = dump_and_restore('dr_target', 'dr_target2', "$tempdir/dr.dump.2");
ok($dump2_ok && $restore2_ok, 'a second dump/restore cycle succeeds');
is($node->safe_psql('dr_target2', $envs_sql), $node->safe_psql('dr_target', $envs_sql),
	'a second cycle keeps one copy of each environment');
is($node->safe_psql('dr_target2', $rules_sql), $node->safe_psql('dr_target', $rules_sql),
	'a second cycle keeps one copy of each rule');

$node->stop;
done_testing();
