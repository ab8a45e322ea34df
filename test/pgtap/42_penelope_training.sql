-- 42_penelope_training.sql: Training Option A and Training Option B (and
-- Preview, which inherits the same rules) of the "penelope" profile
-- (issue 4): a de-identified duplicate, no PHI may remain, plus the
-- vendor's Training list.  One assertion (or more) per line, see
-- penelope_checks.psql; both environments are applied to the same data,
-- one after the other rolled back, and must give the same data.
BEGIN;
SELECT plan(136);

\ir penelope_setup.psql

-- ---- the rules ----
SELECT is((SELECT count(*) FROM sandbox.rule WHERE environment = 'training_a' AND description !~ '^Training'), 0::bigint,
	'training_a: every rule quotes the Training line it implements');
SELECT set_eq(
	$$SELECT table_name::text, column_name::text FROM sandbox.rule
	  WHERE environment = 'training_a' AND action = 'mask' AND filter IS NULL$$,
	$$VALUES ('worker', 'first_name'), ('worker', 'last_name'), ('client', 'first_name'), ('client', 'last_name'), ('client', 'preferred_name'),
		('client', 'birth_date'), ('client', 'address_line1'), ('client', 'address_line2'), ('client', 'city'),
		('client', 'postcode'), ('client', 'email'), ('client', 'mobile_phone'), ('client', 'home_phone'),
		('client', 'ssn'), ('client', 'medicare_number'), ('client', 'notes'), ('client_contact', 'email'),
		('client_contact', 'phone'), ('client_note', 'body'), ('service_event', 'notes')$$,
	'training_a: every client personal column and the worker names are masked, for every row');
SELECT set_eq(
	$$SELECT column_name, expression, filter FROM sandbox.rule WHERE environment = 'training_a' AND action = 'mask' AND filter IS NOT NULL$$,
	$$SELECT column_name, expression, filter FROM sandbox.rule WHERE environment = 'migration' AND feature = 'worker_contact'$$,
	'training_a: worker email and SMS are de-identified as in Migration (exempt groups keep theirs), and nothing else is filtered');
SELECT is((SELECT count(*) FROM sandbox.rule WHERE environment = 'training_a' AND table_name = 'worker'
		   AND column_name IN ('active', 'login_name', 'password_hash', 'deactivated_at')), 0::bigint,
	'training_a: no rule touches worker accounts, login names or password hashes (workers sign in to train)');
-- Schema drift guard: a new text or date column in a personal table must
-- be masked or consciously kept here.
SELECT is((SELECT count(*) FROM information_schema.columns c
		WHERE c.table_schema = 'penelope'
		  AND c.table_name IN ('client', 'client_contact', 'client_note', 'service_event', 'worker', 'attachment')
		  AND c.data_type IN ('text', 'date', 'character varying', 'bytea')
		  AND NOT EXISTS (SELECT FROM sandbox.rule r WHERE r.environment = 'training_a'
						  AND r.table_name = c.table_name AND (r.column_name = c.column_name OR r.action = 'delete'))
		  AND (c.table_name, c.column_name) NOT IN (('client', 'gender'), ('client', 'state'),
			('client_contact', 'label'), ('worker', 'password_hash'), ('worker', 'login_name'), ('service_event', 'exchange_item_id'))), 0::bigint,
	'training_a: every text or date column of the personal tables is masked, removed, or deliberately kept');
SELECT is((SELECT count(*) FROM sandbox.rule WHERE environment = 'training_a' AND feature = 'sso'), 0::bigint,
	'training_a: SSO is left alone (only Mirrored lists it)');
SELECT results_eq($$SELECT s FROM sandbox_plan('training_b') AS s$$, $$SELECT s FROM sandbox_plan('training_a') AS s$$,
	'training_b: the same statements as training_a (one rule set serves both, by inheritance)');
SELECT results_eq($$SELECT s FROM sandbox_plan('preview') AS s$$, $$SELECT s FROM sandbox_plan('training_a') AS s$$,
	'preview: treated like training (the same statements)');
SELECT ok((SELECT count(t) = count(DISTINCT t) AND count(t) >= 16 FROM (
		SELECT substring(s FROM '(?:^UPDATE|^DELETE FROM|^WITH removed AS \(DELETE FROM|FROM ONLY) (penelope\.[a-z_]+)') AS t
		FROM sandbox_plan('training_a') AS s) AS p),
	'sandbox_plan(''training_a''): one statement per table');

SAVEPOINT before_sanitize;

-- ---- training_a ----
SELECT lives_ok($$SELECT sandbox_sanitize('training_a')$$, 'sanitize as training_a');
\set env training_a
\set training true
\set mirrored false
\ir penelope_checks.psql
SELECT md5(string_agg(t, E'\n' ORDER BY t)) AS training_a_data
FROM (SELECT c::text FROM penelope.client c UNION ALL SELECT w::text FROM penelope.worker w
	  UNION ALL SELECT n::text FROM penelope.client_note n UNION ALL SELECT s::text FROM penelope.agency_settings s) AS d (t) \gset

ROLLBACK TO SAVEPOINT before_sanitize;

-- ---- training_b ----
SELECT lives_ok($$SELECT sandbox_sanitize('training_b')$$, 'sanitize as training_b');
\set env training_b
\ir penelope_checks.psql
SELECT is((SELECT md5(string_agg(t, E'\n' ORDER BY t))
		FROM (SELECT c::text FROM penelope.client c UNION ALL SELECT w::text FROM penelope.worker w
			  UNION ALL SELECT n::text FROM penelope.client_note n UNION ALL SELECT s::text FROM penelope.agency_settings s) AS d (t)),
	:'training_a_data',
	'Training A and Training B differ only in their upgrade schedule, not in their data');

SELECT * FROM finish();
ROLLBACK;
