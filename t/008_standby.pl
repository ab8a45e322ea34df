# Copyright (c) 2026, penelope_sandbox developers
#
# t/008_standby.pl: a streaming standby replays every way the engine
# rewrites a table (src/rewrite.c) and ends with the same rows, at the same
# ctids, in sound indexes, with no original left in its pages:
#  - kept:    a primary key and an index on names kept, the pages written
#             during the pass, rows that no longer fit in their block moved;
#  - toasted: values stored out of line, so the rows go through a spool;
#  - dead:    dead row versions, so every index is rebuilt;
#  - plain:   no index to keep and larger than the small tables: a
#             transient heap swapped in, as CLUSTER does.
# A run rolled back first, and the committed run after it.  Before them, a
# run whose pass fails half-way through a table: neither the standby nor
# the primary after crash recovery keeps the files that pass made.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', q{
shared_preload_libraries = 'penelope_sandbox'
penelope_sandbox.server_role = 'sandbox'
});
$primary->start;

$primary->safe_psql('postgres', 'CREATE DATABASE sb');
$primary->safe_psql('sb', q{
SET client_min_messages = warning;
CREATE EXTENSION penelope_sandbox;
CREATE EXTENSION amcheck;
CREATE EXTENSION pageinspect;
CREATE TABLE public.kept (id int PRIMARY KEY, email text, name text);
CREATE INDEX kept_name ON public.kept (name);
CREATE INDEX kept_email ON public.kept (email);
INSERT INTO public.kept SELECT g, 'origsecret' || g || '@example.com', 'Name' || (g * 7919 % 20000)
	FROM generate_series(1, 20000) g;
CREATE TABLE public.toasted (id int PRIMARY KEY, email text, note text);
ALTER TABLE public.toasted ALTER COLUMN note SET STORAGE EXTERNAL;
INSERT INTO public.toasted SELECT g, 'origsecret' || g || '@example.com',
	CASE WHEN g % 10 = 0 THEN repeat('keptnote ' || g || ' ', 300) END FROM generate_series(1, 5000) g;
CREATE TABLE public.dead (id int PRIMARY KEY, email text);
INSERT INTO public.dead SELECT g, 'origsecret' || g || '@example.com' FROM generate_series(1, 5000) g;
CREATE TABLE public.plain (email text, filler text);
CREATE INDEX plain_email ON public.plain (email);
INSERT INTO public.plain SELECT 'origsecret' || g || '@example.com', repeat('f', 100)
	FROM generate_series(1, 20000) g;
VACUUM (FREEZE);
UPDATE public.dead SET email = email || '.au' WHERE id % 7 = 0;
INSERT INTO sandbox.environment (name) VALUES ('sb');
INSERT INTO sandbox.rule (environment, table_name, column_name, action, expression) VALUES
	('sb', 'kept', 'email', 'set', $$'maskedval' || repeat('y', id % 7) || id || '@example.invalid'$$),
	('sb', 'toasted', 'email', 'mask', 'sandbox.mask_email(email)'),
	('sb', 'dead', 'email', 'mask', 'sandbox.mask_email(email)'),
	('sb', 'plain', 'email', 'mask', 'sandbox.mask_email(email)');
-- a run whose pass fails half-way through kept, written during the pass
INSERT INTO sandbox.environment (name) VALUES ('sbfail');
INSERT INTO sandbox.rule (environment, table_name, column_name, action, expression) VALUES
	('sbfail', 'kept', 'email', 'set', $$'x' || (1 / (id - 15000))$$);
});

# orphans(NODE): the files of the database sb that belong to no relation
sub orphans
{
	my ($node) = @_;
	my $dir = $node->data_dir . '/'
	  . $node->safe_psql('sb', q{SELECT regexp_replace(pg_relation_filepath('pg_class'), '/[^/]*$', '')});
	my %known = map { $_ => 1 } split /\n/,
	  $node->safe_psql('sb', q{SELECT pg_relation_filenode(oid) FROM pg_class WHERE pg_relation_filenode(oid) IS NOT NULL});
	opendir(my $dh, $dir) or die "could not open $dir: $!";
	my @orphans = sort grep { /^(\d+)/ && !$known{$1} } readdir($dh);
	closedir($dh);
	return join(' ', @orphans);
}
$primary->safe_psql('sb', slurp_file('test/storage_checks.sql'));

$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;

my ($failed) = $primary->psql('sb', q{SELECT sandbox_sanitize('sbfail')});
isnt($failed, 0, 'a run whose pass fails half-way through kept fails');
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
is(orphans($standby), '', 'the standby keeps no file of the failed pass');
$primary->safe_psql('sb', q{BEGIN; SELECT sandbox_sanitize('sb'); ROLLBACK;});
$primary->safe_psql('sb', q{SELECT sandbox_sanitize('sb')});
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));

ok($primary->safe_psql('sb', q{SELECT count(*) FROM generate_series(0, (pg_relation_size('public.kept') / 8192 - 1)::int) b,
	heap_page_items(get_raw_page('public.kept', b)) WHERE lp_flags = 3}) > 0, 'some rows of kept moved');

foreach my $table (qw(kept toasted dead plain))
{
	my $rows = qq{SELECT count(*) || ':' || md5(string_agg(ctid::text || t::text, ',' ORDER BY ctid)) FROM public.$table t};
	is($standby->safe_psql('sb', $rows), $primary->safe_psql('sb', $rows),
		"the standby holds $table\'s rows, at the same ctids");
	is($standby->safe_psql('sb', qq{
		SELECT count(*) FROM public.storage_of('public.$table') r JOIN pg_class c ON c.oid = r
		CROSS JOIN LATERAL bt_index_check(r, true) WHERE c.relkind = 'i'}),
		$primary->safe_psql('sb', qq{SELECT count(*) FROM pg_index WHERE indrelid IN
			('public.$table'::regclass, (SELECT reltoastrelid FROM pg_class WHERE oid = 'public.$table'::regclass))}),
		"on the standby, amcheck finds every index of $table holding every row");
	is($standby->safe_psql('sb', qq{SELECT count(*) FROM verify_heapam('public.$table')}), '0',
		"on the standby, $table\'s heap is sound");
	is($standby->safe_psql('sb', qq{SELECT coalesce(string_agg(r::text, ' '), 'none') FROM public.storage_of('public.$table') r
		WHERE public.pages_with(r, 'origsecret') > 0}), 'none',
		"no block of $table\'s heap, TOAST table or indexes on the standby holds an original");
}

my $by_index = q{SET enable_seqscan = off; SET enable_bitmapscan = off;
	SELECT count(*) || ':' || md5(string_agg(id || name, ',' ORDER BY id)) FROM public.kept WHERE name BETWEEN 'Name1' AND 'Name5'};
my $by_scan = q{SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off;
	SELECT count(*) || ':' || md5(string_agg(id || name, ',' ORDER BY id)) FROM public.kept WHERE name BETWEEN 'Name1' AND 'Name5'};
is($standby->safe_psql('sb', $by_index), $primary->safe_psql('sb', $by_scan),
	'on the standby, a scan of the kept index on names returns what a sequential scan does on the primary');

$standby->stop;

# crash recovery replays the files the failed pass made, and unlinks them
($failed) = $primary->psql('sb', q{SELECT sandbox_sanitize('sbfail')});
isnt($failed, 0, 'the failing run fails again');
$primary->stop('immediate');
$primary->start;
$primary->safe_psql('sb', 'CHECKPOINT');
is(orphans($primary), '', 'after crash recovery the primary keeps no file of the failed pass');
$primary->stop;
done_testing();
