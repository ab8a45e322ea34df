-- 50_discover.sql: discovery and the leak scan on the Penelope profile
-- (issue 11).  The shipped profile passes its environments' policies;
-- planted originals (a client's email copied into free text, a comm_queue
-- row, a JSON column added to a table) are found in migration, and in
-- training nothing planted survives: the run fails until a rule covers
-- the plant, then no original is left.
BEGIN;
SELECT plan(24);

\ir penelope_setup.psql

-- ---- discovery on the reference schema ----
SELECT is((SELECT count(*) FROM sandbox_discover('migration') WHERE required AND NOT covered), 0::bigint,
	'migration: every column of contact details is covered (case notes by mask_contacts)');
SELECT is((SELECT count(*) FROM sandbox_discover('training_a') WHERE required AND NOT covered), 0::bigint,
	'training_a: every column of every kind of PHI is covered');
SELECT is((SELECT count(*) FROM sandbox_discover('preview') WHERE required AND NOT covered), 0::bigint,
	'preview: inherits the policy and the rules of training_a');
SELECT set_has($$SELECT relation || '.' || column_name || ':' || kind FROM sandbox_discover()$$,
	$$VALUES ('penelope.client.email:email'), ('penelope.client.mobile_phone:phone'),
		('penelope.client.first_name:name'), ('penelope.client.birth_date:birth_date'),
		('penelope.client.ssn:national_id'), ('penelope.client.address_line1:address'),
		('penelope.client.notes:free_text'), ('penelope.client_note.body:text_with_contacts'),
		('penelope.worker.sms_number:phone'), ('penelope.clientconnect_account.login_email:email')$$,
	'discovery finds every kind of personal data of the reference schema');
SELECT set_hasnt($$SELECT relation || '.' || column_name FROM sandbox_discover()$$,
	$$VALUES ('penelope.comm_settings.sms_enabled'), ('penelope.comm_settings.smtp_username'),
		('penelope.worker.login_name'), ('penelope.attachment.file_name'), ('penelope.user_group.name')$$,
	'no switch, constant setting, login or file name is taken for personal data');
SELECT is((SELECT count(*) FROM sandbox_discover() s JOIN before_client c ON s.evidence LIKE '%' || c.email || '%'), 0::bigint,
	'the evidence never holds a value');
SELECT is((SELECT covered_by ~ '^rule [0-9]+ \(mask, rows matching its filter\)$' FROM sandbox_discover('migration')
		WHERE relation = 'penelope.worker' AND column_name = 'email'), true,
	'migration: worker emails are covered for the rows of the rule''s filter');

-- ---- the plants ----
CREATE TEMP TABLE plant AS
SELECT id, email, row_number() OVER (ORDER BY id) AS n
FROM penelope.client WHERE email IS NOT NULL ORDER BY id LIMIT 6;
ALTER TABLE penelope.client ADD COLUMN extra jsonb DEFAULT '{"since": 2019}';
UPDATE penelope.client c SET extra = jsonb_build_object('contact', p.email, 'since', 2019)
FROM plant p WHERE p.id = c.id AND p.n <= 3;
UPDATE penelope.client c SET notes = coalesce(notes, '') || ' Write to ' || p.email || '.'
FROM plant p WHERE p.id = c.id AND p.n = 4;
UPDATE penelope.client_note n SET body = body || ' Her email: ' || p.email
FROM plant p WHERE p.n = 5 AND n.id = (SELECT min(id) FROM penelope.client_note);
INSERT INTO penelope.comm_queue (client_id, audience, channel, recipient, body)
SELECT id, 'client', 'email', email, 'Copy of ' || email FROM plant WHERE n = 6;
CREATE TEMP TABLE planted AS SELECT email FROM plant;

SAVEPOINT planted;

-- ---- migration: found ----
SELECT lives_ok($$SELECT sandbox_sanitize('migration')$$, 'migration: the run goes on (policy warning)');
SELECT is((SELECT policy FROM sandbox.leak_scan), 'warning', 'migration: the leak scan ran under the policy "warning"');
SELECT set_eq($$SELECT table_name::text, column_name::text, hits FROM sandbox.leak_scan_hit$$,
	$$VALUES ('client', 'extra', 3::bigint), ('client', 'notes', 1::bigint)$$,
	'migration: the JSON column and the free-text copy are found, with the number of originals in each');
SELECT is((SELECT count(*) FROM penelope.client_note WHERE NOT sandbox.is_masked_contacts(body)), 0::bigint,
	'migration: the email copied into a case note is masked with the note''s other contact details');
SELECT is((SELECT count(*) FROM penelope.comm_queue), 0::bigint,
	'migration: the comm_queue row went with the queue');
SELECT is((SELECT ok FROM sandbox_verify('migration') WHERE action = 'leak_scan'), false,
	'migration: sandbox_verify shows the leak scan of the run, not ok');
SELECT ok((SELECT detail ~ 'penelope\.client\.extra \(3\)' FROM sandbox_verify('migration') WHERE action = 'leak_scan'),
	'migration: ... naming the columns, with counts');
SELECT is((SELECT count(*) FROM sandbox.leak_scan s, planted p WHERE s::text LIKE '%' || p.email || '%')
		+ (SELECT count(*) FROM sandbox.leak_scan_hit h, planted p WHERE h::text LIKE '%' || p.email || '%')
		+ (SELECT count(*) FROM sandbox.run r, planted p WHERE r::text LIKE '%' || p.email || '%'), 0::bigint,
	'migration: the ledger holds no value');
SELECT cmp_ok((SELECT originals FROM sandbox.leak_scan), '>', 1000::bigint,
	'migration: the originals of every masked column were fingerprinted');
ROLLBACK TO SAVEPOINT planted;

-- ---- training: nothing planted survives ----
-- (three JSON values of a thousand are below discovery's threshold: the
-- leak scan is what finds them)
SELECT throws_like($$SELECT sandbox_sanitize('training_a')$$,
	'leak scan: 3 original values of masked columns remain after run %',
	'training_a: the JSON copy of three emails fails the run (policy error)');
SELECT is((SELECT count(*) FROM penelope.client WHERE extra ? 'contact'), 3::bigint,
	'training_a: ... and nothing was changed');
UPDATE penelope.client SET extra = jsonb_build_object('contact', email) WHERE email IS NOT NULL;
SELECT throws_like($$SELECT sandbox_sanitize('training_a')$$,
	'%covered by no rule of environment "training_a"%',
	'training_a: copied into most rows, discovery stops the run before it changes anything');
SELECT ok((SELECT required AND NOT covered AND kind = 'json_with_contacts' FROM sandbox_discover('training_a')
		WHERE relation = 'penelope.client' AND column_name = 'extra'),
	'training_a: sandbox_discover shows the column, uncovered');
INSERT INTO sandbox.rule (environment, feature, table_schema, table_name, column_name, action, expression, description)
VALUES ('training_a', 'phi', 'penelope', 'client', 'extra', 'set', 'NULL', 'test: the planted JSON column');
SELECT lives_ok($$SELECT sandbox_sanitize('training_a')$$, 'training_a: with a rule for the new column, the run succeeds');
SELECT is((SELECT hits FROM sandbox.leak_scan), 0::bigint, 'training_a: the leak scan finds no original');
SELECT is((SELECT count(*) FROM penelope.client c, planted p
		WHERE c::text LIKE '%' || p.email || '%')
		+ (SELECT count(*) FROM penelope.client_note n, planted p WHERE n::text LIKE '%' || p.email || '%')
		+ (SELECT count(*) FROM penelope.comm_queue), 0::bigint,
	'training_a: nothing planted survives');
SELECT is((SELECT ok FROM sandbox_verify('training_a') WHERE action = 'leak_scan'), true,
	'training_a: sandbox_verify shows a clean leak scan');

SELECT * FROM finish();
ROLLBACK;
