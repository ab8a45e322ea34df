-- 46_feature_status.sql: a status that tells the truth (issue 10):
-- sandbox_status() reads the live switches, separates features from data
-- actions, says what re-enabling needs; sandbox_enable_feature names
-- unknown features, reports credentials to supply and runs guarded; the
-- ledger files a multi-table TRUNCATE under all its tables.
BEGIN;
SELECT plan(26);

\ir penelope_setup.psql

SELECT lives_ok($$SELECT sandbox_sanitize('migration')$$, 'sanitize as migration');

-- ---- features and data actions ----
SELECT set_eq($$SELECT feature FROM sandbox_status() WHERE kind = 'data'$$,
	$$VALUES ('attachments'), ('logos'), ('client_contact'), ('worker_contact'), ('worker_accounts')$$,
	'data actions are not features');
SELECT is((SELECT count(*) FROM sandbox_status() WHERE kind = 'feature' AND policy IS NULL), 0::bigint,
	'every feature has a policy (ORS/SRS, Credit Card and DSS too)');
SELECT set_eq($$SELECT feature FROM sandbox_status() WHERE can_reenable$$,
	$$VALUES ('external_communications'), ('ms_exchange'), ('action_triggers'), ('general_ledger')$$,
	'can_reenable: exactly the features seed 000 lets come back');
SELECT is((SELECT requires FROM sandbox_status() WHERE feature = 'ms_exchange'),
	'credentials: penelope.exchange_settings.password, penelope.exchange_settings.username',
	'MS Exchange: the status says which credentials the DBA must supply');
SELECT is((SELECT requires FROM sandbox_status() WHERE feature = 'ors_srs'),
	'credentials: penelope.ors_settings.password, penelope.ors_settings.username',
	'ORS/SRS: so does it for a feature switched on by hand only');
SELECT ok((SELECT detail ~ 'does not switch it back on' FROM sandbox_status() WHERE feature = 'dss'),
	'DSS: the status says the extension does not switch it back on');

-- ---- the live switches ----
UPDATE penelope.agency_settings SET gl_enabled = true;
SELECT is((SELECT state FROM sandbox_status() WHERE feature = 'general_ledger'), 'enabled',
	'a switch turned on by hand is reported enabled');
SELECT lives_ok($$SELECT sandbox_enable_feature('action_triggers')$$, 're-enable Action Triggers');
UPDATE penelope.action_trigger SET enabled = false;
SELECT is((SELECT state FROM sandbox_status() WHERE feature = 'action_triggers'), 'disabled',
	'a re-enabled feature switched off again by hand is reported disabled');
UPDATE penelope.agency_settings SET gl_enabled = false;

-- ---- MS Exchange: credentials must be supplied ----
SELECT alike(sandbox_enable_feature('ms_exchange'),
	'%: 1 values restored from run %; credentials must be supplied: penelope.exchange_settings.password, penelope.exchange_settings.username',
	're-enabling MS Exchange says the credentials must be supplied');
SELECT results_eq($$SELECT state, requires FROM sandbox_status() WHERE feature = 'ms_exchange'$$,
	$$VALUES ('enabled'::text, 'credentials: penelope.exchange_settings.password, penelope.exchange_settings.username'::text)$$,
	'sandbox_status: MS Exchange enabled, and still needs its credentials');
UPDATE penelope.exchange_settings SET username = 'sandbox', password = 'sandbox-secret';
SELECT is((SELECT requires FROM sandbox_status() WHERE feature = 'ms_exchange'), NULL,
	'sandbox_status: once supplied, nothing more is required');

-- ---- sandbox_enable_feature: clear refusals ----
SELECT throws_ok($$SELECT sandbox_enable_feature('nonexistent')$$, '42704',
	'feature "nonexistent" does not exist in environment "migration"',
	'an unknown feature: there is no such feature');
SELECT throws_ok($$SELECT sandbox_enable_feature('logos')$$, '42809',
	'"logos" is a data action of environment "migration", not a feature',
	'a data action is not a feature');
SELECT throws_ok($$SELECT sandbox_enable_feature('credit_card')$$, '42501',
	'feature "credit_card" cannot be re-enabled in environment "migration"',
	'Credit Card: switched on by hand only');

-- nothing saved for this copy: refused, not a silent "re-enabled"
SAVEPOINT nothing_saved;
DELETE FROM sandbox.saved_value WHERE feature = 'general_ledger';
SELECT throws_ok($$SELECT sandbox_enable_feature('general_ledger')$$, '55000',
	'no value saved by a run of this copy can re-enable feature "general_ledger"',
	'without saved values re-enabling refuses with the reason');
ROLLBACK TO SAVEPOINT nothing_saved;

-- ---- credit card ----
SELECT is((SELECT mode FROM penelope.credit_card_settings), 'test', 'credit card mode is not left at production');

-- ---- re-enabling runs guarded: a failing row is not printed ----
SAVEPOINT guarded;
ALTER TABLE penelope.comm_settings ADD CONSTRAINT sms_needs_gateway
	CHECK (NOT sms_enabled OR sms_gateway_url LIKE 'https://sandbox.%');
CREATE TEMP TABLE caught (sqlstate text, message text, detail text);
DO $$
DECLARE
	s text; m text; d text;
BEGIN
	PERFORM sandbox_enable_feature('external_communications');
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL;
	INSERT INTO caught VALUES (s, m, d);
END $$;
SELECT is((SELECT sqlstate FROM caught), '23514', 're-enabling against a CHECK constraint fails with its SQLSTATE');
SELECT alike((SELECT message FROM caught), 'restoring column % of table penelope.comm_settings (rule %) failed',
	'the error names the rule and the table');
SELECT ok((SELECT strpos(detail, 'sms_needs_gateway') > 0 FROM caught), 'the detail names the constraint');
SELECT ok((SELECT strpos(coalesce(message, '') || coalesce(detail, ''), (SELECT comm ->> 'sms_gateway_url' FROM before_settings)) = 0
			  AND strpos(coalesce(detail, ''), 'Failing row') = 0 FROM caught),
	'the error holds no row value (no failing row)');
ROLLBACK TO SAVEPOINT guarded;

-- ---- the ledger: one TRUNCATE, filed under all its tables ----
SELECT is((SELECT tables FROM sandbox.run_step WHERE method = 'truncate'),
	ARRAY['penelope.action_trigger_queue', 'penelope.clientconnect_account', 'penelope.clientconnect_product_key',
		  'penelope.comm_queue', 'penelope.dss_queue', 'penelope.exchange_error_queue', 'penelope.exchange_queue'],
	'the multi-table TRUNCATE is filed under every table it empties');
SELECT is((SELECT count(*) FROM sandbox.run_step WHERE method IN ('update', 'rewrite', 'delete') AND cardinality(tables) <> 1),
	0::bigint, 'every other statement under its one table');

-- ---- a restored ledger is not this copy's ----
UPDATE sandbox.run SET system_identifier = system_identifier + 1;
SELECT results_eq($$SELECT kind, state FROM sandbox_status()$$, $$VALUES ('database'::text, 'never sanitized'::text)$$,
	'a ledger from another server: never sanitized');
SELECT alike((SELECT detail FROM sandbox_status()), '%another database or server%',
	'and it says why');

SELECT * FROM finish();
ROLLBACK;
