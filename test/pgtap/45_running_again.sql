-- 45_running_again.sql: a copy sanitized again and again (issue 10,
-- "Running again"), on the "penelope" profile.  A second run leaves the
-- data exactly as the first left it, at a fraction of its cost; rules
-- added or changed since still apply; a ledger restored from another copy
-- does not count; re-enabling after any number of runs puts back what the
-- copy had before its first run.  Rows added after a run: an exact
-- recogniser (emails, phones) gets them masked by the next run; a name
-- the recogniser rejects fails the run, one it accepts stays as it is.
BEGIN;
SELECT plan(36);

\ir penelope_setup.psql

-- Production values of the switches External Communications re-enables
CREATE TEMP TABLE before_comm AS SELECT sms_enabled, client_delivery_enabled, worker_delivery_enabled FROM penelope.comm_settings;
SELECT ok((SELECT sms_enabled AND client_delivery_enabled AND worker_delivery_enabled FROM before_comm),
	'(External Communications is on in production)');

-- A digest of every column a rule of the environment writes, table by table
CREATE TEMP TABLE digest_of (env text, after_run int, digest text);
CREATE FUNCTION pg_temp.masked_digest(env text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	t record;
	d text := '';
	part text;
BEGIN
	FOR t IN SELECT r.table_name, string_agg(DISTINCT quote_ident(r.column_name), ', ') AS cols
			 FROM sandbox.rule r JOIN sandbox.environment_chain(env) c ON c.name = r.environment
			 WHERE r.action IN ('mask', 'set') GROUP BY r.table_name ORDER BY r.table_name
	LOOP
		EXECUTE format('SELECT md5(string_agg(row(%s)::text, E''\n'' ORDER BY id)) FROM penelope.%I', t.cols, t.table_name)
			INTO part;
		d := d || t.table_name || ':' || coalesce(part, '-') || ' ';
	END LOOP;
	RETURN md5(d);
END $$;

SAVEPOINT fresh_copy;

-- ---- training_a: the most masking, shifted birth dates ----
SELECT lives_ok($$SELECT sandbox_sanitize('training_a')$$, 'training_a: first run');
INSERT INTO digest_of VALUES ('training_a', 1, pg_temp.masked_digest('training_a'));
SELECT max(id) AS run1 FROM sandbox.run \gset
SELECT ok((SELECT count(*) FROM sandbox_plan('training_a') AS s WHERE s ~ '^(UPDATE penelope\.|SELECT ctid.* FROM ONLY penelope\.)(client|client_note|service_event|client_contact)[ ;]') = 0,
	'training_a: the plan of a second run leaves out the mask rules this copy already had applied');
SELECT lives_ok($$SELECT sandbox_sanitize('training_a')$$, 'training_a: second run');
INSERT INTO digest_of VALUES ('training_a', 2, pg_temp.masked_digest('training_a'));
SELECT max(id) AS run2 FROM sandbox.run \gset
SELECT is((SELECT digest FROM digest_of WHERE env = 'training_a' AND after_run = 2),
		  (SELECT digest FROM digest_of WHERE env = 'training_a' AND after_run = 1),
	'training_a: every masked column is exactly as the first run left it (names, emails, birth dates, notes)');
SELECT is((SELECT count(*) FROM penelope.client c JOIN before_client b USING (id)
		   WHERE abs(c.birth_date - b.birth_date) > current_setting('penelope_sandbox.date_window')::int), 0::bigint,
	'training_a: no birth date drifts beyond its window (penelope_sandbox.date_window days)');
SELECT ok((SELECT sum(rows) FROM sandbox.run_step WHERE run_id = :run2) * 10
		  < (SELECT sum(rows) FROM sandbox.run_step WHERE run_id = :run1),
	'training_a: the second run touches less than a tenth of the rows of the first');
SELECT is((SELECT count(*) FROM sandbox.run_step WHERE run_id = :run2
		   AND table_name IN ('client', 'client_note', 'service_event', 'client_contact')), 0::bigint,
	'training_a: the second run writes no client table');
SELECT is((SELECT count(*) FROM sandbox_verify('training_a') WHERE NOT ok), 0::bigint,
	'training_a: sandbox_verify checks every rule, the left-out ones too, and all hold');
SELECT lives_ok($$SELECT sandbox_sanitize('training_a')$$, 'training_a: third run');
SELECT is(pg_temp.masked_digest('training_a'), (SELECT digest FROM digest_of WHERE env = 'training_a' AND after_run = 1),
	'training_a: and a third run leaves it as the first left it');

ROLLBACK TO SAVEPOINT fresh_copy;

-- ---- rows added after a run, in columns whose recogniser is exact ----
-- (a data-only restore, an import, a migration script test)
SELECT lives_ok($$SELECT sandbox_sanitize('migration')$$, 'added rows: first migration run');
CREATE TEMP TABLE masked_once AS SELECT id, email, mobile_phone, home_phone FROM penelope.client;
INSERT INTO penelope.client (first_name, last_name, email, mobile_phone, home_phone) VALUES
	('Zebedee', 'Quartermaine', 'zebedee.quartermaine@example.org', '0412 345 678', '(02) 9876 5432'),
	('Ottilie', 'Fairweather', 'ottie.fairweather@gmail.com', '+61 400 111 222', NULL);
CREATE TEMP TABLE added AS SELECT * FROM penelope.client WHERE id NOT IN (SELECT id FROM masked_once);
SELECT lives_ok($$SELECT sandbox_sanitize('migration')$$, 'added rows: the second run succeeds');
SELECT is((SELECT count(*) FROM penelope.client c JOIN added a USING (id)
		   WHERE c.email = a.email OR NOT sandbox.is_masked_email(c.email)
			  OR c.mobile_phone = a.mobile_phone OR NOT sandbox.is_masked_phone(c.mobile_phone)
			  OR c.home_phone = a.home_phone OR NOT sandbox.is_masked_phone(c.home_phone)), 0::bigint,
	'added rows: their emails and phones are masked by the second run');
SELECT is((SELECT count(*) FROM penelope.client c JOIN added a USING (id)
		   WHERE c.email IS DISTINCT FROM sandbox.mask_email(a.email)
			  OR c.mobile_phone IS DISTINCT FROM sandbox.mask_phone(a.mobile_phone)), 0::bigint,
	'added rows: masked as a first run would have masked them');
SELECT is((SELECT md5(string_agg(row(id, email, mobile_phone, home_phone)::text, E'\n' ORDER BY id))
		   FROM penelope.client WHERE id IN (SELECT id FROM masked_once)),
		  (SELECT md5(string_agg(row(id, email, mobile_phone, home_phone)::text, E'\n' ORDER BY id)) FROM masked_once),
	'added rows: the values the first run masked are unchanged (digest)');
SELECT is((SELECT count(*) FROM sandbox_verify('migration') WHERE NOT ok), 0::bigint,
	'added rows: sandbox_verify holds after the second run');

ROLLBACK TO SAVEPOINT fresh_copy;

-- ---- rows added after a run, in columns whose recogniser is not exact ----
-- A name the recogniser accepts stays as it is (README, "Running again");
-- one it rejects fails the run's verification, until the DBA masks the
-- added rows with the rule's masker (or restores the copy afresh).
SELECT lives_ok($$SELECT sandbox_sanitize('training_a')$$, 'added names: first training_a run');
INSERT INTO penelope.client (first_name, last_name) VALUES ('Maria', 'Garcia');
SELECT max(id) AS accepted_id FROM penelope.client \gset
SELECT lives_ok($$SELECT sandbox_sanitize('training_a')$$,
	'added names: a run succeeds when the added names have the form of masked ones');
SELECT is((SELECT first_name || ' ' || last_name FROM penelope.client WHERE id = :accepted_id), 'Maria Garcia',
	'added names: and leaves them as they are (not masked again)');
INSERT INTO penelope.client (first_name, last_name) VALUES ('Zebedee', 'Quartermaine');
SELECT max(id) AS rejected_id FROM penelope.client \gset
SELECT throws_like($$SELECT sandbox_sanitize('training_a')$$, 'verification failed after sanitizing as "training_a"%',
	'added names: a run fails when an added name is one the recogniser rejects');
UPDATE penelope.client SET first_name = sandbox.mask_first_name(first_name),
	last_name = sandbox.mask_last_name(last_name) WHERE id = :rejected_id;
SELECT lives_ok($$SELECT sandbox_sanitize('training_a')$$,
	'added names: once the DBA masked the added row with the rules'' maskers, the run succeeds');
SELECT ok((SELECT first_name <> 'Zebedee' AND last_name <> 'Quartermaine'
			  AND sandbox.is_masked_first_name(first_name) AND sandbox.is_masked_last_name(last_name)
		   FROM penelope.client WHERE id = :rejected_id),
	'added names: and the added name stays masked');

ROLLBACK TO SAVEPOINT fresh_copy;

-- ---- migration: re-enabling after two runs ----
SELECT lives_ok($$SELECT sandbox_sanitize('migration')$$, 'migration: first run');
SELECT max(id) AS run1 FROM sandbox.run \gset
INSERT INTO digest_of VALUES ('migration', 1, pg_temp.masked_digest('migration'));
SELECT lives_ok($$SELECT sandbox_sanitize('migration')$$, 'migration: second run');
SELECT is(pg_temp.masked_digest('migration'), (SELECT digest FROM digest_of WHERE env = 'migration' AND after_run = 1),
	'migration: the second run leaves every masked column as the first left it');
SELECT is(sandbox_enable_feature('external_communications'),
	format('feature "external_communications" re-enabled in environment "migration": 3 values restored from run %s', :run1),
	'migration: re-enabling after two runs restores the values from before the first run');
SELECT results_eq($$SELECT sms_enabled, client_delivery_enabled, worker_delivery_enabled FROM penelope.comm_settings$$,
	$$SELECT * FROM before_comm$$,
	'migration: External Communications is as in production');
SELECT is((SELECT state FROM sandbox_status() WHERE feature = 'external_communications'), 'enabled',
	'sandbox_status: enabled');

-- a third run switches it off again; re-enabling again still gives production's values
SELECT lives_ok($$SELECT sandbox_sanitize('migration')$$, 'migration: third run, after re-enabling');
SELECT ok((SELECT NOT (sms_enabled OR client_delivery_enabled OR worker_delivery_enabled) FROM penelope.comm_settings),
	'migration: a run after re-enabling switches the feature off again (the vendor disables it on every upgrade)');
SELECT is(sandbox_enable_feature('external_communications'),
	format('feature "external_communications" re-enabled in environment "migration": 3 values restored from run %s', :run1),
	'migration: re-enabling again restores production''s values, not the ones a later run saved');

-- ---- rules added or changed since still apply ----
INSERT INTO sandbox.rule (environment, feature, table_schema, table_name, column_name, action, expression)
VALUES ('migration', 'phi', 'penelope', 'client', 'first_name', 'mask', 'sandbox.mask_first_name(first_name)');
SELECT lives_ok($$SELECT sandbox_sanitize('migration')$$, 'migration: a run after a rule was added');
SELECT is((SELECT count(*) FROM penelope.client c JOIN before_client b USING (id) WHERE c.first_name = b.first_name), 0::bigint,
	'migration: the new rule applies');
SELECT is((SELECT count(*) FROM penelope.client c JOIN before_client b USING (id)
		   WHERE c.email = b.email OR NOT sandbox.is_masked_email(c.email)), 0::bigint,
	'migration: client emails are still masked once (recognised, none original)');

-- ---- a ledger restored from another copy does not count ----
UPDATE sandbox.run SET database_oid = 0;
SELECT ok((SELECT count(*) FROM sandbox_plan('migration') AS s WHERE s ~ '^(UPDATE penelope\.|SELECT ctid.* FROM ONLY penelope\.)client[ ;]') = 1,
	'the runs of another copy (a restored ledger) do not count: every mask rule would apply');

SELECT * FROM finish();
ROLLBACK;
