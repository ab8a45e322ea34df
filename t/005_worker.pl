# Copyright (c) 2026, penelope_sandbox developers
#
# t/005_worker.pl: what needs server restarts and background workers.
#
# The production guard, asynchronous runs (progress, cancellation, parallel
# workers computing the rows for the sanitizer), the automatic
# sanitization of a restored dump at start-up, the login check before and
# after it, and a server stopped mid-run.  Last, the large
# objects that a run unlinks: an asynchronous run rewrites pg_largeobject
# after it has committed, so that no byte of them is left in its pages,
# and the synchronous call says what to run for the same result; when
# the rewrite cannot have its lock, the run stays succeeded and the
# ledger and the log say why and what to run.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use SandboxTest;
use Time::HiRes qw(sleep time);

my $node = PostgreSQL::Test::Cluster->new('worker');
use_node($node);
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'penelope_sandbox'
penelope_sandbox.server_role = 'production'
penelope_sandbox.naptime = 1
});
$node->start;
$node->safe_psql('postgres', 'CREATE ROLE regress_clerk LOGIN; CREATE ROLE regress_dba LOGIN');
set_conf('penelope_sandbox.admin_roles' => q{'regress_dba'});

my $tempdir = PostgreSQL::Test::Utils::tempdir;
my @conn = ('-h', $node->host, '-p', $node->port);

sub unmasked
{
	my ($db) = @_;
	return sql($db, q{SELECT count(*) FROM client WHERE email NOT LIKE '%@example.invalid'});
}

note 'production guard';
make_copy('prod');
like(sql('prod', q{SELECT sandbox_sanitize('migration')}), qr/this server is a production server/,
	'sandbox_sanitize refuses on a production server');
like(sql('prod', q{SELECT sandbox_sanitize_async('migration')}), qr/this server is a production server/,
	'sandbox_sanitize_async refuses on a production server');
is(unmasked('prod'), '1000', 'nothing changed on the production server');
is(sql('prod', 'SELECT count(*) FROM sandbox.run'), '0', 'no run recorded on the production server');

set_conf('penelope_sandbox.server_role' => q{'unset'});
like(sql('prod', q{SELECT sandbox_sanitize('migration')}), qr/has not been identified as a sandbox server/,
	'an unset server role refuses without confirmation');
like(sql('prod', q{SET penelope_sandbox.confirm_database = 'other'; SELECT sandbox_sanitize('migration')}),
	qr/has not been identified as a sandbox server/, q{confirming another database's name does not count});
like(sql('prod', q{SET penelope_sandbox.confirm_database = 'prod'; SELECT sandbox_sanitize('migration')}),
	qr/^run [0-9]+: "migration" applied/, q{confirming the database's name lets it run});
is(unmasked('prod'), '0', 'the confirmed run masked every email');

set_conf('penelope_sandbox.server_role' => q{'sandbox'});

note 'asynchronous run: progress, then success';
make_copy('async', 1);
my $run = sql('async', q{SELECT sandbox_sanitize_async('migration')});
like($run, qr/^[0-9]+$/, 'sandbox_sanitize_async returns a run id at once');
ok(wait_for('async', q{SELECT count(*) = 1 FROM sandbox.progress WHERE current_step LIKE '%step % of %rows done)'}, 10),
	'sandbox.progress shows the worker, its step and the rows done');
is(sql('async', q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'penelope_sandbox sanitizer'}), '1',
	'pg_stat_activity shows the worker with its own backend_type');
ok(wait_for('async', "SELECT status = 'succeeded' FROM sandbox.run WHERE id = $run", 20),
	'the asynchronous run succeeded');
is(unmasked('async'), '0', 'the asynchronous run masked every email');

note 'asynchronous run: cancelled';
make_copy('cancel', 1);
$run = sql('cancel', q{SELECT sandbox_sanitize_async('migration')});
wait_for('cancel', 'SELECT count(*) = 1 FROM sandbox.progress', 10);
sql('cancel', 'SELECT pg_cancel_backend(pid) FROM sandbox.progress');
ok(wait_for('cancel', "SELECT status = 'failed' FROM sandbox.run WHERE id = $run", 10),
	'a cancelled run is recorded as failed');
like(sql('cancel', "SELECT summary FROM sandbox.run WHERE id = $run"), qr/canceling statement/,
	'the ledger says why it failed');
is(unmasked('cancel'), '1000', 'a cancelled run changed nothing');

note 'asynchronous run: the rows computed by parallel workers, the sanitizer leading them,';
note 'in READ COMMITTED whatever the default isolation';
make_copy('async_parallel');
$node->safe_psql('async_parallel', q{
	INSERT INTO sandbox.rule (environment, table_name, column_name, action, expression)
	VALUES ('migration', 'client', 'note', 'mask', 'sandbox.mask_text(note)');
	ALTER DATABASE async_parallel SET min_parallel_table_scan_size = 0;
	ALTER DATABASE async_parallel SET log_min_messages = debug1;
	ALTER DATABASE async_parallel SET default_transaction_isolation = 'repeatable read';
});
my $log_offset = -s $node->logfile;
$run = sql('async_parallel', q{SELECT sandbox_sanitize_async('migration')});
ok(wait_for('async_parallel', "SELECT status = 'succeeded' FROM sandbox.run WHERE id = $run", 30),
	'the asynchronous run with parallel workers succeeded');
like(slurp_file($node->logfile, $log_offset), qr/the rows of table "client" were computed by 2 parallel workers/,
	'parallel workers computed the rows of client for the sanitizer');
is(unmasked('async_parallel'), '0', 'the asynchronous run with parallel workers masked every email');
is(sql('async_parallel', q{SELECT count(*) FILTER (WHERE note = sandbox.mask_text('note')) FROM client}), '1000',
	'the workers masked with the database key: every note is what a backend computes now');
$node->safe_psql('postgres', 'DROP DATABASE async_parallel');

note 'a restored dump is sanitized at start-up, and closed until then';
set_conf('penelope_sandbox.auto_sanitize' => 'off');
$node->command_ok([ 'pg_dump', @conn, '-Fc', '-f', "$tempdir/prod.dump", 'prod' ], '(pg_dump of prod)');
$node->safe_psql('postgres', 'CREATE DATABASE training');
$node->safe_psql('postgres', q{ALTER DATABASE training SET penelope_sandbox.environment = 'migration'});
$node->command_ok([ 'pg_restore', @conn, '-d', 'training', "$tempdir/prod.dump" ], '(pg_restore into training)');
sql('training', q{UPDATE client SET email = 'person' || id || '@mail.example.com'});
like(sql('training', 'SELECT count(*) FROM client', 'regress_clerk'), qr/database "training" is being prepared/,
	'an ordinary role cannot read an unsanitized copy');
is(sql('training', 'SELECT count(*) FROM client', 'regress_dba'), '1000', 'an admin role can');
$node->adjust_conf('postgresql.conf', 'penelope_sandbox.auto_sanitize', undef);
$node->restart;
ok(wait_for('training', q{SELECT count(*) = 1 FROM sandbox.run WHERE status = 'succeeded'
	AND database_oid = (SELECT oid FROM pg_database WHERE datname = 'training')}, 20),
	'the worker sanitized the restored copy at start-up, unasked');
is(unmasked('training'), '0', 'the restored copy is masked');
wait_for('training', 'SELECT sandbox_database_ready()', 10);
is(sql('training', 'SELECT count(*) FROM client', 'regress_clerk'), '1000',
	'the ordinary role can connect once it is sanitized');

note 'pg_restore --clean over a sanitized copy closes it again until it is sanitized';
set_conf('penelope_sandbox.auto_sanitize' => 'off');
$node->command_ok([ 'pg_restore', @conn, '--clean', '--if-exists', '-d', 'training', "$tempdir/prod.dump" ],
	'(pg_restore --clean into training)');
sql('training', q{UPDATE client SET email = 'person' || id || '@mail.example.com'});
like(sql('training', 'SELECT count(*) FROM client', 'regress_clerk'), qr/database "training" is being prepared/,
	'the clerk is refused after the restore');
set_conf('penelope_sandbox.auto_sanitize' => undef);
wait_for('training', 'SELECT sandbox_database_ready()', 20);
is(unmasked('training'), '0', 'the worker sanitized the restored data');
is(sql('training', 'SELECT count(*) FROM client', 'regress_clerk'), '1000', 'and the clerk is let in again');

note 'a database listed in penelope_sandbox.sandbox_databases is closed before its first scan';
set_conf('penelope_sandbox.sandbox_databases' => q{'listed=migration'}, 'penelope_sandbox.naptime' => '3600');
$node->safe_psql('postgres', 'CREATE DATABASE listed');
like(sql('listed', 'SELECT 1', 'regress_clerk'), qr/database "listed" is being prepared/,
	'the login check refuses a listed database at once');
$node->safe_psql('postgres', 'DROP DATABASE listed');
set_conf('penelope_sandbox.sandbox_databases' => q{''}, 'penelope_sandbox.naptime' => '1');

note 'the server stops mid-run; the worker completes the run after restart';
make_copy('crash', 1);
$node->safe_psql('postgres', q{ALTER DATABASE crash SET penelope_sandbox.environment = 'migration'});
set_conf('penelope_sandbox.auto_sanitize' => 'off');
sql('crash', q{SELECT sandbox_sanitize_async('migration')});
wait_for('crash', 'SELECT count(*) = 1 FROM sandbox.progress', 10);
$node->stop('immediate');
$node->start;
is(unmasked('crash'), '1000', 'after an immediate stop mid-run the data is intact and unsanitized');
is(sql('crash', q{SELECT count(*) FROM sandbox.run WHERE status = 'succeeded'}), '0', 'and no run succeeded');
set_conf('penelope_sandbox.auto_sanitize' => undef);
ok(wait_for('crash', q{SELECT count(*) = 1 FROM sandbox.run WHERE status = 'succeeded'}, 30),
	'the worker completed the sanitization after the restart');
is(unmasked('crash'), '0', 'the copy is masked');
like(sql('crash', q{SELECT string_agg(summary, ';') FROM sandbox.run WHERE status = 'failed'}), qr/interrupted/,
	'the interrupted run is recorded as failed');

note 'large objects unlinked by a run leave no byte in the pages of pg_largeobject';

# make_attachments(DB): a copy whose run deletes 20 attachments and
# unlinks their large objects (as the Penelope profile does), and keeps a
# logo's; pageinspect to read every page of pg_largeobject
sub make_attachments
{
	my ($db) = @_;
	make_copy($db);
	$node->safe_psql($db, q{
		CREATE EXTENSION pageinspect;
		CREATE TABLE attachment (id int PRIMARY KEY, content_oid oid);
		INSERT INTO attachment
		  SELECT g, lo_from_bytea(0, convert_to('DELETED-ATTACHMENT-' || g, 'UTF8')) FROM generate_series(1, 20) g;
		CREATE TABLE logo (id int PRIMARY KEY, image oid);
		INSERT INTO logo VALUES (1, lo_from_bytea(0, convert_to('KEPT-LOGO', 'UTF8')));
		INSERT INTO sandbox.rule (environment, table_name, column_name, action, expression, filter)
		VALUES ('migration', 'attachment', 'content_oid', 'delete', NULL, 'true');
	});
}

# pages_holding(DB, MARKER): the pages of pg_largeobject whose bytes hold
# MARKER, read with get_raw_page, every block of the relation
sub pages_holding
{
	my ($db, $marker) = @_;
	return sql($db, qq{
		SELECT count(*)
		  FROM generate_series(0, pg_relation_size('pg_catalog.pg_largeobject')
		                          / current_setting('block_size')::int - 1) AS b
		 WHERE position(convert_to('$marker', 'UTF8') IN get_raw_page('pg_catalog.pg_largeobject', b)) > 0});
}

my $relfilenode = q{SELECT relfilenode FROM pg_class WHERE oid = 'pg_catalog.pg_largeobject'::regclass};

make_attachments('attach');
ok(pages_holding('attach', 'DELETED-ATTACHMENT-') > 0,
	'(before the run the pages of pg_largeobject hold the attachments)');
my $before = sql('attach', $relfilenode);
$run = sql('attach', q{SELECT sandbox_sanitize_async('migration')});
ok(wait_for('attach', "SELECT status = 'succeeded' AND summary LIKE '%pg_largeobject rewritten%'
	FROM sandbox.run WHERE id = $run", 30),
	'an asynchronous run that unlinked large objects records in the ledger that it rewrote pg_largeobject');
like(sql('attach', "SELECT summary FROM sandbox.run WHERE id = $run"),
	qr/; pg_largeobject rewritten after the run had committed \(20 large objects unlinked\)/,
	'with the number of large objects unlinked');
is(sql('attach', q{SELECT (SELECT count(*) FROM attachment) || '|' || (SELECT count(*) FROM pg_largeobject_metadata)}),
	'0|1', 'the attachments and their large objects are gone, the logo is left');
isnt(sql('attach', $relfilenode), $before, 'pg_largeobject has a new file');
my $log = slurp_file($node->logfile);
like($log, qr/LOG:  penelope_sandbox rewrote pg_largeobject in database "attach" in [0-9.]+ s after run $run, which unlinked 20 large objects/,
	'the server log says so');
# (the statements logged hold the marker, never a large object's bytes)
unlike($log, qr/DELETED-ATTACHMENT-[0-9]/, 'without a byte of them');
is(pages_holding('attach', 'DELETED-ATTACHMENT-'), '0',
	'no page of pg_largeobject holds a byte of the unlinked large objects');
is(pages_holding('attach', 'KEPT-LOGO') . '|' . sql('attach', q{SELECT convert_from(lo_get(image), 'UTF8') FROM logo}),
	'1|KEPT-LOGO', 'the large object kept is intact, and found by the same probe');

$before = sql('attach', $relfilenode);
$run = sql('attach', q{SELECT sandbox_sanitize_async('migration')});
wait_for('attach', "SELECT status = 'succeeded' FROM sandbox.run WHERE id = $run", 20);
is(sql('attach', "SELECT status || '|' || (summary LIKE '%pg_largeobject%') FROM sandbox.run WHERE id = $run")
	  . '|' . sql('attach', $relfilenode), "succeeded|false|$before",
	'a run that unlinks no large object leaves pg_largeobject alone');

note 'the launcher rewrites pg_largeobject after its run too';
make_attachments('attach_auto');
ok(pages_holding('attach_auto', 'DELETED-ATTACHMENT-') > 0, '(the attachments are in the pages)');
$node->safe_psql('postgres', q{ALTER DATABASE attach_auto SET penelope_sandbox.environment = 'migration'});
ok(wait_for('attach_auto', q{SELECT count(*) = 1 FROM sandbox.run
	WHERE status = 'succeeded' AND summary LIKE '%pg_largeobject rewritten%'}, 30),
	q{the launcher's run of a marked copy rewrote pg_largeobject});
is(pages_holding('attach_auto', 'DELETED-ATTACHMENT-'), '0',
	'and no page holds a byte of the unlinked large objects');

note 'the synchronous call says what to run';
make_attachments('attach_sync');
my ($rc, $out, $err) = $node->psql('attach_sync', q{SELECT sandbox_sanitize('migration')});
like($err, qr/NOTICE:  20 large objects were unlinked; their bytes stay in the pages of pg_largeobject until it is rewritten/,
	'sandbox_sanitize says that the bytes of 20 large objects stay');
like($err, qr/HINT:  Once this transaction has committed, run VACUUM FULL pg_catalog\.pg_largeobject as a superuser, outside a transaction block\./,
	'and says what to run');
ok(pages_holding('attach_sync', 'DELETED-ATTACHMENT-') > 0, 'the bytes are there after the synchronous run');
$node->safe_psql('attach_sync', 'VACUUM FULL pg_catalog.pg_largeobject');
is(pages_holding('attach_sync', 'DELETED-ATTACHMENT-'), '0', 'and gone after the statement of the hint');

note 'the same when the attachments go through a DELETE (a foreign key references them)';

# make_linked_attachments(DB): make_attachments, and links to every
# attachment, deleted too: the attachments cannot be dropped by a rewrite
sub make_linked_attachments
{
	my ($db) = @_;
	make_attachments($db);
	$node->safe_psql($db, q{
		CREATE TABLE attachment_link (id int PRIMARY KEY, attachment_id int REFERENCES attachment);
		INSERT INTO attachment_link SELECT g, g FROM generate_series(1, 20) g;
		INSERT INTO sandbox.rule (environment, table_name, column_name, action, expression, filter)
		VALUES ('migration', 'attachment_link', NULL, 'delete', NULL, 'true');
	});
}
make_linked_attachments('attach_fk');
like(sql('attach_fk', q{SELECT string_agg(s, E'\n') FROM sandbox_plan('migration') s}),
	qr/WITH removed AS \(DELETE FROM public\.attachment WHERE/, '(the plan deletes the attachments with a DELETE)');
($rc, $out, $err) = $node->psql('attach_fk', q{SELECT sandbox_sanitize('migration')});
like($err, qr/NOTICE:  20 large objects were unlinked;/, 'sandbox_sanitize counts the large objects a DELETE unlinked');
like($err, qr/HINT:  Once this transaction has committed, run VACUUM FULL pg_catalog\.pg_largeobject/,
	'and says what to run');

make_linked_attachments('attach_fk_async');
$run = sql('attach_fk_async', q{SELECT sandbox_sanitize_async('migration')});
ok(wait_for('attach_fk_async', "SELECT status = 'succeeded' AND summary LIKE '%pg_largeobject rewritten%(20 large objects unlinked)'
	FROM sandbox.run WHERE id = $run", 30),
	'an asynchronous run whose DELETE unlinked large objects rewrites pg_largeobject');
is(pages_holding('attach_fk_async', 'DELETED-ATTACHMENT-'), '0',
	'no page of pg_largeobject holds a byte of them');

note 'pg_largeobject cannot be rewritten: the run stays succeeded, the ledger and the log say why and what to run';

# Another session holds a lock on pg_largeobject past
# penelope_sandbox.lock_wait_timeout, which bounds the rewrite's wait
# for its lock as it does the run's for its tables.
make_attachments('attach_locked');
set_conf('penelope_sandbox.lock_wait_timeout' => '200');
my $holder = $node->background_psql('attach_locked');
$holder->query_safe('BEGIN');
$holder->query_safe('LOCK TABLE pg_catalog.pg_largeobject IN ACCESS SHARE MODE');
$before = sql('attach_locked', $relfilenode);
$log_offset = -s $node->logfile;
$run = sql('attach_locked', q{SELECT sandbox_sanitize_async('migration')});
ok(wait_for('attach_locked', "SELECT status <> 'running' AND summary LIKE '%pg_largeobject%'
	FROM sandbox.run WHERE id = $run", 30), '(the run ended and noted pg_largeobject in the ledger)');
is(sql('attach_locked', "SELECT status FROM sandbox.run WHERE id = $run"), 'succeeded',
	'the run whose rewrite of pg_largeobject failed is recorded as succeeded');
like(sql('attach_locked', "SELECT summary FROM sandbox.run WHERE id = $run"),
	qr/; pg_largeobject could not be rewritten after the run \(20 large objects unlinked\): another session held a lock on it for more than 200 ms \(penelope_sandbox\.lock_wait_timeout\); their bytes stay in its pages until a superuser runs VACUUM FULL pg_catalog\.pg_largeobject$/,
	'the ledger says why it could not, and what to run');
unlike(sql('attach_locked', "SELECT summary FROM sandbox.run WHERE id = $run"), qr/pg_largeobject rewritten/,
	'and does not say that it was rewritten');
is(sql('attach_locked', q{SELECT (SELECT count(*) FROM attachment) || '|' || (SELECT count(*) FROM pg_largeobject_metadata)})
	  . '|' . unmasked('attach_locked'),
	'0|1|0', 'the data work of the run is committed: attachments and their large objects gone, emails masked');
is(sql('attach_locked', $relfilenode), $before, 'pg_largeobject keeps its file');
ok(pages_holding('attach_locked', 'DELETED-ATTACHMENT-') > 0,
	'the bytes of the unlinked large objects are still in its pages');
$log = substr(slurp_file($node->logfile), $log_offset);
like($log, qr/WARNING:  penelope_sandbox could not rewrite pg_largeobject: another session held a lock on it for more than 200 ms/,
	'the server log says it could not, and why');
like($log, qr/HINT:  Run VACUUM FULL pg_catalog\.pg_largeobject as a superuser/, 'and what to run');
unlike($log, qr/penelope_sandbox rewrote pg_largeobject in database "attach_locked"/, 'and not that it rewrote it');
unlike($log, qr/DELETED-ATTACHMENT-[0-9]/, 'without a byte of the large objects');
$holder->query_safe('COMMIT');
$holder->quit;
set_conf('penelope_sandbox.lock_wait_timeout' => undef);

note 'a transaction older than the run: the rewrite of pg_largeobject waits for it';

# A snapshot taken before the run still sees the rows of pg_largeobject the
# run deletes; a VACUUM FULL made while it is open copies them, bytes and
# all, into the new file as recently dead rows.  The rewrite waits for it.
make_attachments('attach_snapshot');
my $reader = $node->background_psql('attach_snapshot');
$reader->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
# (its snapshot, taken now, holds no lock on pg_largeobject)
$reader->query_safe('SELECT 1');
$before = sql('attach_snapshot', $relfilenode);
$run = sql('attach_snapshot', q{SELECT sandbox_sanitize_async('migration')});
ok(wait_for('attach_snapshot', "SELECT status = 'succeeded' FROM sandbox.run WHERE id = $run", 30),
	'(the run committed while a snapshot older than it was open)');
ok(wait_for('attach_snapshot', q{SELECT count(*) = 1 FROM pg_stat_activity
	WHERE datname = 'attach_snapshot' AND query = 'VACUUM FULL pg_catalog.pg_largeobject'}, 30),
	'the sanitizer is at the rewrite of pg_largeobject');
sleep(1);
is(sql('attach_snapshot', $relfilenode), $before,
	'it does not rewrite pg_largeobject while the older transaction is open');
$reader->query_safe('COMMIT');
$reader->quit;
ok(wait_for('attach_snapshot', "SELECT summary LIKE '%pg_largeobject rewritten%' FROM sandbox.run WHERE id = $run", 30),
	'once that transaction has ended, it rewrites pg_largeobject');
is(pages_holding('attach_snapshot', 'DELETED-ATTACHMENT-'), '0',
	'and no page of the new file holds a byte of the unlinked large objects');
$node->safe_psql('attach_locked', 'VACUUM FULL pg_catalog.pg_largeobject');
is(pages_holding('attach_locked', 'DELETED-ATTACHMENT-'), '0', 'the statement the ledger names removes them');

$node->stop;
done_testing();
