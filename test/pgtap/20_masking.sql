-- 20_masking.sql: the masking functions (issue 3) as the engine uses them:
-- rules calling the maskers, run as a non-superuser table owner with the
-- key prepared by the invoking superuser; UNIQUE constraints and joins
-- surviving; sandbox_verify with the registered recognisers; the API.
BEGIN;
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS penelope_sandbox;
SELECT plan(29);

DO $$ BEGIN PERFORM set_config('penelope_sandbox.confirm_database', current_database(), true); END $$;
SET LOCAL penelope_sandbox.secret = 'pgtap passphrase for the masking tests';

-- ---- the API ----
SELECT has_function('sandbox', 'mask_email', ARRAY['text'], 'mask_email(text)');
SELECT has_function('sandbox', 'mask_phone', ARRAY['text'], 'mask_phone(text)');
SELECT has_function('sandbox', 'mask_first_name', ARRAY['text'], 'mask_first_name(text)');
SELECT has_function('sandbox', 'mask_last_name', ARRAY['text'], 'mask_last_name(text)');
SELECT has_function('sandbox', 'mask_full_name', ARRAY['text'], 'mask_full_name(text)');
SELECT has_function('sandbox', 'mask_date', ARRAY['date'], 'mask_date(date)');
SELECT has_function('sandbox', 'mask_address', ARRAY['text'], 'mask_address(text)');
SELECT has_function('sandbox', 'mask_text', ARRAY['text'], 'mask_text(text)');
SELECT has_function('sandbox', 'mask_id', ARRAY['text'], 'mask_id(text)');
SELECT has_function('pg_catalog', 'sandbox_set_secret_from_file', ARRAY['text'], 'sandbox_set_secret_from_file(text)');
SELECT is((SELECT count(*)::int FROM sandbox.masking_function), 19,
	'19 maskers registered with their recognisers: 10 scalar (mask_contacts: issue 11), 8 on text[], mask_jsonb');
SELECT is((SELECT count(*)::int FROM pg_proc WHERE oid IN (SELECT masker FROM sandbox.masking_function)
	AND provolatile = 's' AND proparallel = 'r' AND proisstrict), 19,
	'maskers are STRICT STABLE PARALLEL RESTRICTED');
SELECT is((SELECT count(*)::int FROM pg_proc WHERE oid IN (SELECT recogniser FROM sandbox.masking_function)
	AND provolatile = 'i' AND proparallel = 's' AND proisstrict), 18,
	'recognisers are STRICT IMMUTABLE PARALLEL SAFE, but for is_masked_jsonb, which reads the registry');
SELECT ok(NOT has_table_privilege('public', 'sandbox.secret', 'SELECT'), 'PUBLIC cannot read the key');
SELECT ok(NOT has_function_privilege('public', 'sandbox_set_secret_from_file(text)', 'EXECUTE'), 'PUBLIC cannot set the key');

-- ---- fixtures: tables of a non-superuser owner ----
CREATE ROLE tap_m_owner;
CREATE SCHEMA tap_m AUTHORIZATION tap_m_owner;
CREATE TABLE tap_m.client (id int PRIMARY KEY, first_name text, last_name text,
	email text UNIQUE, phone text, ssn text UNIQUE, born date, address text, notes text);
CREATE TABLE tap_m.invoice (id int PRIMARY KEY, email text);
INSERT INTO tap_m.client
SELECT g, 'Given' || g % 3, 'Surname' || g % 4,
	'client' || g || '@Example.com', '(212) 736-' || lpad(g::text, 4, '0'),
	to_char(g * 7919 % 1000000000, 'FM000-00-0000'), date '1950-01-01' + g * 7,
	g || ' High Street, Springfield', 'Seen on ' || g || ' for a follow-up about chest pain.'
FROM generate_series(1, 2000) g;
INSERT INTO tap_m.invoice SELECT g, 'CLIENT' || (1 + g % 2000) || '@example.com' FROM generate_series(1, 3000) g;
ALTER TABLE tap_m.client OWNER TO tap_m_owner;
ALTER TABLE tap_m.invoice OWNER TO tap_m_owner;
CREATE TEMP TABLE tap_m_before AS SELECT * FROM tap_m.client;

INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression) VALUES
	('training_a', 'tap_m', 'client', 'first_name', 'mask', 'sandbox.mask_first_name(first_name)'),
	('training_a', 'tap_m', 'client', 'last_name', 'mask', 'sandbox.mask_last_name(last_name)'),
	('training_a', 'tap_m', 'client', 'email', 'mask', 'sandbox.mask_email(email)'),
	('training_a', 'tap_m', 'client', 'phone', 'mask', 'sandbox.mask_phone(phone)'),
	('training_a', 'tap_m', 'client', 'ssn', 'mask', 'sandbox.mask_id(ssn)'),
	('training_a', 'tap_m', 'client', 'born', 'mask', 'sandbox.mask_date(born)'),
	('training_a', 'tap_m', 'client', 'address', 'mask', 'sandbox.mask_address(address)'),
	('training_a', 'tap_m', 'client', 'notes', 'mask', 'sandbox.mask_text(notes)'),
	('training_a', 'tap_m', 'invoice', 'email', 'mask', 'sandbox.mask_email(email)');

SELECT is((SELECT count(*)::int FROM sandbox_verify('training_a') WHERE relation LIKE 'tap_m.%' AND NOT ok), 7,
	'verify before: the rules with a real recogniser are violated (id and date cannot be told)');

-- ---- the engine runs the masks as the owner, with the key it prepared ----
SELECT lives_ok($$SELECT sandbox_sanitize('training_a')$$, 'sanitize with every masker');
SELECT is((SELECT count(*)::int FROM sandbox_verify('training_a') WHERE relation LIKE 'tap_m.%' AND NOT ok), 0,
	'verify after: every masked column is recognised');
SELECT is((SELECT count(DISTINCT email)::int FROM tap_m.client), 2000, 'UNIQUE emails stay unique');
SELECT is((SELECT count(DISTINCT ssn)::int FROM tap_m.client), 2000, 'UNIQUE ids stay unique');
SELECT is((SELECT count(*)::int FROM tap_m.invoice i JOIN tap_m.client c USING (email)), 3000,
	'the same email in two tables (any case) stays equal: joins survive');
SELECT is((SELECT count(*)::int FROM tap_m.client c JOIN tap_m_before b USING (id)
	WHERE c.email = b.email OR c.phone = b.phone OR c.ssn = b.ssn OR c.born = b.born
	OR c.first_name = b.first_name OR c.last_name = b.last_name OR c.address = b.address OR c.notes = b.notes), 0,
	'no value kept its original');
SELECT is((SELECT count(*)::int FROM tap_m.client WHERE phone !~ '^\(\d{3}\) 555-01\d\d$'), 0,
	'every phone is in the fictional 555-01xx range, in the original shape');
SELECT is((SELECT count(*)::int FROM tap_m.client c JOIN tap_m_before b USING (id)
	WHERE translate(c.ssn, '0123456789', '9999999999') <> translate(b.ssn, '0123456789', '9999999999')), 0,
	'ids keep their shape');
SELECT is((SELECT count(*)::int FROM tap_m.client c JOIN tap_m_before b USING (id)
	WHERE abs(c.born - b.born) > 180 OR c.born >= current_date), 0, 'dates move by at most 180 days, into the past');
SELECT is((SELECT count(*)::int FROM tap_m.client c JOIN tap_m_before b USING (id)
	WHERE (c.email, c.last_name) IS DISTINCT FROM (sandbox.mask_email(b.email), sandbox.mask_last_name(b.last_name))), 0,
	'the engine''s pseudonyms are the functions'' (deterministic, one key)');
SELECT is((SELECT count(DISTINCT last_name)::int FROM tap_m.client), 4, 'one surname maps to one pseudonym');

-- a value put back by hand is found by verify
UPDATE tap_m.client SET email = 'client1@example.com' WHERE id = 1;
SELECT is((SELECT violations::int FROM sandbox_verify('training_a') WHERE relation = 'tap_m.client' AND column_name = 'email'), 1,
	'verify counts an unmasked email');

-- the table owner, within this transaction, uses the key the engine prepared; a new
-- transaction would refuse (tested by the regression suite)
SET LOCAL ROLE tap_m_owner;
SELECT throws_ok($$SELECT * FROM sandbox.secret$$, '42501', NULL, 'the owner cannot read the key');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
