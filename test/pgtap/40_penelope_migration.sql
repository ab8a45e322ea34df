-- 40_penelope_migration.sql: the "penelope" profile (issue 4), the
-- catalog it loads, production, and the Migration environment: seed 000,
-- exactly, one assertion (or more) per line (see penelope_checks.psql).
BEGIN;
SELECT plan(76);

\ir penelope_setup.psql

-- ---- the profile and the catalog it loads ----
SELECT ok((SELECT message FROM profile_loaded) ~ '^profile "penelope" loaded for schema penelope: [1-9][0-9]* rules added',
	'sandbox_load_profile(''penelope'') loads the rules');
SELECT is(sandbox_load_profile('penelope'),
	'profile "penelope" loaded for schema penelope: 0 rules added, 28 feature policies set',
	'loading the profile again adds no rule');
SELECT is((SELECT count(*) FROM sandbox.rule WHERE environment = 'production'), 0::bigint,
	'production: no rules');
SELECT is((SELECT count(*) FROM sandbox.rule WHERE environment IN ('training_b', 'preview')), 0::bigint,
	'training_b and preview have no rules of their own: they inherit training_a');
SELECT is((SELECT count(*) FROM sandbox.rule WHERE description IS NULL OR description !~ '"'), 0::bigint,
	'every rule has a description quoting the line it implements');
SELECT is((SELECT count(*) FROM sandbox.rule WHERE environment = 'migration' AND description !~ '^Seed 000'), 0::bigint,
	'every migration rule quotes seed 000');
SELECT is((SELECT count(*) FROM sandbox.rule WHERE position('@schema@' IN coalesce(expression, '') || coalesce(filter, '')) > 0), 0::bigint,
	'@schema@ is replaced by the application schema');
SELECT set_eq($$SELECT DISTINCT feature FROM sandbox.rule$$,
	ARRAY['external_communications', 'ms_exchange', 'action_triggers', 'ors_srs', 'credit_card', 'dss',
		  'clientconnect', 'engage', 'general_ledger', 'sso', 'attachments', 'logos', 'client_contact',
		  'worker_contact', 'worker_accounts', 'phi'],
	'every rule belongs to a feature');
SELECT set_eq($$SELECT table_name::text, column_name::text FROM sandbox.rule WHERE restorable$$,
	$$VALUES ('comm_settings', 'sms_enabled'), ('comm_settings', 'client_delivery_enabled'),
		('comm_settings', 'worker_delivery_enabled'), ('exchange_settings', 'sync_enabled'),
		('action_trigger', 'enabled'), ('agency_settings', 'gl_enabled')$$,
	'restorable: only the switches of External Communications, MS Exchange, Action Triggers and General Ledger');
SELECT is((SELECT count(*) FROM sandbox.rule r
		WHERE r.restorable AND (r.action <> 'set' OR r.expression <> 'false'
			OR NOT EXISTS (SELECT FROM sandbox.feature f WHERE f.environment = r.environment
						   AND f.feature = r.feature AND f.policy = 'reenable')
			OR NOT EXISTS (SELECT FROM pg_constraint c WHERE c.contype = 'p'
						   AND c.conrelid = format('%I.%I', r.table_schema, r.table_name)::regclass))), 0::bigint,
	'every restorable rule sets a switch to false, of a reenable feature, on a table with a primary key');
SELECT is((SELECT count(*) FROM sandbox.rule r
		WHERE r.feature IN ('ms_exchange', 'ors_srs', 'credit_card', 'dss', 'clientconnect', 'sso')
		  AND (r.action IN ('truncate', 'delete') OR r.expression = 'NULL') AND r.restorable), 0::bigint,
	'credentials, queues, accounts and keys are never restorable');
SELECT set_eq($$SELECT environment, feature, policy FROM sandbox.feature$$,
	$$SELECT e, f, p FROM (VALUES ('migration'), ('mirrored'), ('training_a')) AS e (e)
	  CROSS JOIN (VALUES ('external_communications', 'reenable'), ('ms_exchange', 'reenable'),
		('action_triggers', 'reenable'), ('general_ledger', 'reenable'),
		('ors_srs', 'manual'), ('credit_card', 'manual'), ('dss', 'manual'),
		('clientconnect', 'locked'), ('engage', 'locked')) AS f (f, p)
	  UNION ALL VALUES ('mirrored', 'sso', 'manual')$$,
	'feature policies: External Communications, MS Exchange, Action Triggers, General Ledger reenable; ORS/SRS, Credit Card, DSS (and SSO in mirrored) manual; ClientConnect and Engage locked');
SELECT is((SELECT count(*) FROM sandbox.rule WHERE environment = 'migration' AND feature IN ('sso', 'phi')), 0::bigint,
	'migration: no SSO rule and no further de-identification (exactly seed 000)');

-- ---- plan ----
SELECT ok((SELECT count(t) = count(DISTINCT t) AND count(t) >= 14 FROM (
		SELECT substring(s FROM '(?:^UPDATE|^DELETE FROM|^WITH removed AS \(DELETE FROM|FROM ONLY) (penelope\.[a-z_]+)') AS t
		FROM sandbox_plan('migration') AS s) AS p),
	'sandbox_plan(''migration''): one statement per table');
SELECT is((SELECT count(*) FROM sandbox_plan('migration') AS s WHERE s LIKE 'TRUNCATE%'), 1::bigint,
	'sandbox_plan(''migration''): the queues, accounts and keys in one TRUNCATE');

-- ---- production ----
SELECT throws_ok($$SELECT sandbox_sanitize('production')$$, NULL, NULL,
	'production: sandbox_sanitize(''production'') is refused');
SELECT is((SELECT count(*) FROM penelope.comm_queue), (SELECT row_count FROM generated WHERE table_name = 'comm_queue'),
	'production: the refusal changes nothing');

-- ---- migration ----
SELECT lives_ok($$SELECT sandbox_sanitize('migration')$$, 'sanitize as migration');
\set env migration
\set training false
\set mirrored false
\ir penelope_checks.psql

SELECT * FROM finish();
ROLLBACK;
