-- 43_penelope_features.sql: the feature policies of the "penelope"
-- profile (issue 4) at work: sandbox_status(), sandbox_enable_feature()
-- for the features seed 000 lets come back (External Communications, MS
-- Exchange, Action Triggers, General Ledger), and the locks on those it
-- forbids (ClientConnect and Engage), in migration and in training_b
-- (which inherits training_a's policies).
BEGIN;
SELECT plan(59);

\ir penelope_setup.psql

-- Production is not uniform: one Action Trigger is off there.  Re-enabling
-- must put back exactly what was there, not switch everything on.
UPDATE penelope.action_trigger SET enabled = false WHERE id = 3;
CREATE TEMP TABLE before_trigger AS SELECT id, enabled FROM penelope.action_trigger;

-- ---- API ----
SELECT has_function('sandbox_enable_feature', ARRAY['text'], 'sandbox_enable_feature(text)');
SELECT function_returns('sandbox_enable_feature', ARRAY['text'], 'text', 'sandbox_enable_feature returns text');
SELECT has_function('sandbox_status', 'sandbox_status()');
SELECT ok(NOT has_function_privilege('public', 'sandbox_enable_feature(text)', 'EXECUTE'),
	'PUBLIC cannot re-enable features');

-- ---- never sanitized ----
SELECT results_eq($$SELECT kind, state, detail FROM sandbox_status()$$,
	$$VALUES ('database'::text, 'never sanitized'::text,
		'This database has never been sanitized: treat it as a copy of production.'::text)$$,
	'sandbox_status: a never-sanitized database says so plainly, in one row');
SELECT throws_ok($$SELECT sandbox_enable_feature('external_communications')$$, NULL, NULL,
	'sandbox_enable_feature: refused in a never-sanitized database');

SAVEPOINT before_sanitize;

-- ---- migration ----
SELECT lives_ok($$SELECT sandbox_sanitize('migration')$$, 'sanitize as migration');
SELECT results_eq(
	$$SELECT DISTINCT environment, run_id, sanitized_by FROM sandbox_status()$$,
	$$SELECT 'migration'::text, max(id), session_user::name FROM sandbox.run$$,
	'sandbox_status: environment, run and who, on every row');
SELECT ok((SELECT bool_and(sanitized_at IS NOT NULL) FROM sandbox_status()), 'sandbox_status: when');
SELECT set_eq($$SELECT kind, feature, policy, state FROM sandbox_status()$$,
	$$VALUES ('feature', 'external_communications', 'reenable', 'disabled'), ('feature', 'ms_exchange', 'reenable', 'disabled'),
		('feature', 'action_triggers', 'reenable', 'disabled'), ('feature', 'general_ledger', 'reenable', 'disabled'),
		('feature', 'clientconnect', 'locked', 'locked'), ('feature', 'engage', 'locked', 'locked'),
		('feature', 'ors_srs', 'manual', 'disabled'), ('feature', 'credit_card', 'manual', 'disabled'),
		('feature', 'dss', 'manual', 'disabled'),
		('data', 'attachments', NULL, 'applied'), ('data', 'logos', NULL, 'applied'), ('data', 'client_contact', NULL, 'applied'),
		('data', 'worker_contact', NULL, 'applied'), ('data', 'worker_accounts', NULL, 'applied')$$,
	'sandbox_status: one row per feature (with its policy and live state) and per data action of migration');

-- External Communications
SELECT lives_ok($$SELECT sandbox_enable_feature('external_communications')$$,
	'migration: External Communications may be re-enabled');
SELECT ok((SELECT sms_enabled AND client_delivery_enabled AND worker_delivery_enabled FROM penelope.comm_settings),
	'External Communications: SMS, Client Delivery and Worker Delivery are back on');
SELECT is((SELECT count(*) FROM penelope.comm_queue), 0::bigint,
	'External Communications: the communications queue stays cleared');
SELECT results_eq(
	$$SELECT run_id, feature, action, who, rows > 0 FROM sandbox.feature_event$$,
	$$SELECT max(id), 'external_communications'::text, 'enabled'::text, session_user::name, true FROM sandbox.run$$,
	'External Communications: the re-enabling is recorded in sandbox.feature_event');
SELECT ok((SELECT at IS NOT NULL FROM sandbox.feature_event), 'sandbox.feature_event: when');
SELECT is((SELECT state FROM sandbox_status() WHERE feature = 'external_communications'), 'enabled',
	'sandbox_status: External Communications enabled');
SELECT is((SELECT state FROM sandbox_status() WHERE feature = 'ms_exchange'), 'disabled',
	'sandbox_status: the other features stay disabled');
SELECT ok((SELECT NOT sync_enabled FROM penelope.exchange_settings) AND (SELECT NOT gl_enabled FROM penelope.agency_settings)
		  AND NOT EXISTS (SELECT FROM penelope.action_trigger WHERE enabled),
	're-enabling one feature leaves the others off');

-- MS Exchange
SELECT lives_ok($$SELECT sandbox_enable_feature('ms_exchange')$$, 'migration: MS Exchange may be re-enabled');
SELECT ok((SELECT sync_enabled FROM penelope.exchange_settings), 'MS Exchange: synchronization back on');
SELECT ok((SELECT username IS NULL AND password IS NULL FROM penelope.exchange_settings),
	'MS Exchange: the credentials stay cleared');
SELECT is((SELECT count(*) FROM penelope.exchange_queue) + (SELECT count(*) FROM penelope.exchange_error_queue), 0::bigint,
	'MS Exchange: the queue and the error queue stay cleared');

-- Action Triggers
SELECT lives_ok($$SELECT sandbox_enable_feature('action_triggers')$$, 'migration: Action Triggers may be re-enabled');
SELECT set_eq($$SELECT id, enabled FROM penelope.action_trigger$$, $$SELECT id, enabled FROM before_trigger$$,
	'Action Triggers: exactly the production values come back (the one off in production stays off)');
SELECT is((SELECT count(*) FROM penelope.action_trigger_queue), 0::bigint,
	'Action Triggers: the queue stays cleared');

-- General Ledger
SELECT lives_ok($$SELECT sandbox_enable_feature('general_ledger')$$, 'migration: General Ledger may be re-enabled');
SELECT ok((SELECT gl_enabled FROM penelope.agency_settings), 'General Ledger: back on');
SELECT ok((SELECT agency_logo IS NULL AND billing_documents_logo IS NULL FROM penelope.agency_settings),
	'General Ledger: the logos of the same table stay removed');
SELECT is((SELECT count(*) FROM sandbox.feature_event), 4::bigint, 'four re-enablings recorded');
SELECT is((SELECT count(*) FROM sandbox_status() WHERE state = 'enabled'), 4::bigint,
	'sandbox_status: four features enabled');

-- The rest of the sanitization still holds
SELECT is((SELECT count(*) FROM sandbox_verify('migration')
		WHERE NOT ok AND feature NOT IN ('external_communications', 'ms_exchange', 'action_triggers', 'general_ledger')), 0::bigint,
	'after re-enabling, every rule of the other features still holds');

-- ClientConnect and Engage cannot be enabled on the Migration database
SELECT throws_ok($$SELECT sandbox_enable_feature('clientconnect')$$, '42501',
	'feature "clientconnect" is locked in environment "migration"',
	'migration: ClientConnect cannot be re-enabled');
SELECT throws_ok($$SELECT sandbox_enable_feature('engage')$$, '42501',
	'feature "engage" is locked in environment "migration"',
	'migration: Engage cannot be re-enabled');
SELECT throws_ok($$UPDATE penelope.clientconnect_settings SET enabled = true$$, '42501',
	'feature "clientconnect" is locked in environment "migration"',
	'migration: switching ClientConnect back on by hand is refused');
SELECT throws_ok($$UPDATE penelope.clientconnect_settings SET notifications_enabled = true$$, '42501',
	'feature "clientconnect" is locked in environment "migration"',
	'migration: switching ClientConnect notifications back on by hand is refused');
SELECT throws_ok($$UPDATE penelope.engage_settings SET client_communications_enabled = true$$, '42501',
	'feature "engage" is locked in environment "migration"',
	'migration: switching Engage client communications back on by hand is refused');
SELECT throws_ok($$UPDATE penelope.engage_workflow SET active = true WHERE id = 1$$, '42501',
	'feature "engage" is locked in environment "migration"',
	'migration: re-activating an Engage Workflow by hand is refused');
SELECT lives_ok($$UPDATE penelope.clientconnect_settings SET portal_url = 'https://portal.invalid'$$,
	'migration: other ClientConnect settings may still change');
SELECT lives_ok($$UPDATE penelope.engage_workflow SET name = name || ' (test)' WHERE id = 2$$,
	'migration: Engage Workflows may still be renamed');
SELECT ok((SELECT NOT enabled AND NOT notifications_enabled FROM penelope.clientconnect_settings)
		  AND (SELECT NOT client_communications_enabled FROM penelope.engage_settings)
		  AND NOT EXISTS (SELECT FROM penelope.engage_workflow WHERE active),
	'migration: ClientConnect and Engage are still off');
SELECT is((SELECT state FROM sandbox_status() WHERE feature = 'clientconnect'), 'locked',
	'sandbox_status: ClientConnect locked');

-- Features without a policy are not re-enabled by the extension
SELECT throws_ok($$SELECT sandbox_enable_feature('dss')$$, NULL, NULL,
	'migration: DSS has no re-enable policy');
SELECT throws_ok($$SELECT sandbox_enable_feature('credit_card')$$, NULL, NULL,
	'migration: Credit Card has no re-enable policy');
SELECT throws_ok($$SELECT sandbox_enable_feature('ors_srs')$$, NULL, NULL,
	'migration: ORS/SRS has no re-enable policy');
SELECT throws_ok($$SELECT sandbox_enable_feature('no_such_feature')$$, NULL, NULL,
	'an unknown feature is refused');

ROLLBACK TO SAVEPOINT before_sanitize;

-- ---- training_b: training_a's policies by inheritance ----
SELECT lives_ok($$SELECT sandbox_sanitize('training_b')$$, 'sanitize as training_b');
SELECT is((SELECT DISTINCT environment FROM sandbox_status()), 'training_b', 'sandbox_status: training_b');
SELECT set_eq($$SELECT feature, policy FROM sandbox_status() WHERE policy IS NOT NULL$$,
	$$VALUES ('external_communications', 'reenable'), ('ms_exchange', 'reenable'), ('action_triggers', 'reenable'),
		('general_ledger', 'reenable'), ('clientconnect', 'locked'), ('engage', 'locked'),
		('ors_srs', 'manual'), ('credit_card', 'manual'), ('dss', 'manual')$$,
	'sandbox_status: training_b inherits the policies of training_a');
SELECT ok((SELECT feature FROM sandbox_status() WHERE feature = 'phi') IS NOT NULL,
	'sandbox_status: training_b lists the PHI de-identification');
SELECT lives_ok($$SELECT sandbox_enable_feature('external_communications')$$,
	'training_b: External Communications may be re-enabled');
SELECT ok((SELECT sms_enabled AND client_delivery_enabled AND worker_delivery_enabled FROM penelope.comm_settings),
	'training_b: External Communications back on');
SELECT is((SELECT count(*) FROM penelope.client WHERE NOT sandbox.is_masked_email(email)), 0::bigint,
	'training_b: re-enabling leaves client addresses de-identified (messages go to fictional addresses)');
SELECT throws_ok($$SELECT sandbox_enable_feature('clientconnect')$$, '42501', NULL,
	'training_b: ClientConnect cannot be re-enabled');
SELECT throws_matching($$SELECT sandbox_enable_feature('clientconnect')$$,
	'^feature "clientconnect" is locked in environment "training_[ab]"$',
	'training_b: with the message naming the feature and the environment');
SELECT throws_ok($$UPDATE penelope.clientconnect_settings SET enabled = true$$, '42501', NULL,
	'training_b: switching ClientConnect back on by hand is refused');
SELECT throws_ok($$UPDATE penelope.engage_settings SET client_communications_enabled = true$$, '42501', NULL,
	'training_b: switching Engage client communications back on by hand is refused');

ROLLBACK TO SAVEPOINT before_sanitize;

-- ---- mirrored: SSO stays off ----
SELECT lives_ok($$SELECT sandbox_sanitize('mirrored')$$, 'sanitize as mirrored');
SELECT throws_ok($$SELECT sandbox_enable_feature('sso')$$, NULL, NULL,
	'mirrored: SSO has no re-enable policy');
SELECT results_eq($$SELECT policy, state FROM sandbox_status() WHERE feature = 'sso'$$,
	$$VALUES ('manual'::text, 'disabled'::text)$$,
	'sandbox_status: mirrored lists SSO, disabled, to be switched on by hand only');

SELECT * FROM finish();
ROLLBACK;
