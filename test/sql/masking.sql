--
-- masking: the de-identification functions (issue 3).  Fixed pseudonyms
-- under a fixed passphrase, NULL and odd input, uniqueness over
-- 1,000,000 values, never the original, normalisation, joins, the key and
-- who may use it, other server encodings, and the registered recognisers.
--
\set VERBOSITY terse
SET client_min_messages = warning;
SELECT NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'penelope_sandbox') AS ps_created \gset
CREATE EXTENSION IF NOT EXISTS penelope_sandbox;
RESET client_min_messages;
SELECT current_database() AS ps_db \gset

-- A passphrase-derived key, so the pseudonyms below are the same on every run.
SET penelope_sandbox.secret = 'regression passphrase, not a real one';

-- ---- fixed pseudonyms ----
SELECT v, sandbox.mask_email(v) AS email, sandbox.is_masked_email(sandbox.mask_email(v)) AS ok
FROM (VALUES ('ann.lee@example.org'), ('bob@example.com'), ('')) t(v);
SELECT v, sandbox.mask_phone(v) AS phone, sandbox.is_masked_phone(sandbox.mask_phone(v)) AS ok
FROM (VALUES ('(212) 736-5000'), ('+1 212 736 5000'), ('07911 123456'),
	('+44 (0)20 7123 4567'), ('0412 345 678'), ('(03) 9123 4567'),
	('+49 30 1234567'), ('555-0142')) t(v);
SELECT v, sandbox.mask_first_name(v) AS first, sandbox.mask_last_name(v) AS last
FROM (VALUES ('John'), ('Smith'), ('Zoë')) t(v);
SELECT v, sandbox.mask_full_name(v) AS full_name, sandbox.is_masked_full_name(sandbox.mask_full_name(v)) AS ok
FROM (VALUES ('John Smith'), ('Smith, John'), ('Mary Ann Smith'), ('Cher')) t(v);
SELECT v, sandbox.mask_id(v) AS id
FROM (VALUES ('123-45-6789'), ('AB 12 34 56 C'), ('ab 12 34 56 c'), ('2951 48102 1')) t(v);
SELECT sandbox.mask_address('12 High Street, Springfield') AS address,
	sandbox.mask_text('Patient reports chest pain since Tuesday.') AS note;

-- ---- NULL in, NULL out ----
SELECT sandbox.mask_email(NULL) IS NULL AS email, sandbox.mask_phone(NULL) IS NULL AS phone,
	sandbox.mask_first_name(NULL) IS NULL AS first, sandbox.mask_last_name(NULL) IS NULL AS last,
	sandbox.mask_full_name(NULL) IS NULL AS full_name, sandbox.mask_date(NULL) IS NULL AS date,
	sandbox.mask_address(NULL) IS NULL AS address, sandbox.mask_text(NULL) IS NULL AS text,
	sandbox.mask_id(NULL) IS NULL AS id, sandbox.is_masked_email(NULL) IS NULL AS recogniser;

-- ---- odd input: a sensible value, never an error ----
SELECT v, sandbox.mask_email(v) AS email, sandbox.mask_phone(v) AS phone, sandbox.mask_id(v) AS id,
	sandbox.mask_full_name(v) AS full_name, length(sandbox.mask_text(v)) AS text_len
FROM (VALUES (''), ('not an email'), ('+'), ('---'), ('   '), ('Jürgen Müller-Lüdenscheidt'),
	('李华 138-0013-8000'), (E'tab\there')) t(v);

-- 1 MB values
SELECT sandbox.is_masked_email(sandbox.mask_email(v)) AS email,
	length(sandbox.mask_phone(v)) = length(v) AS phone_len,
	sandbox.mask_id(v) <> v AS id_changed,
	sandbox.is_masked_full_name(sandbox.mask_full_name(v)) AS full_name,
	sandbox.is_masked_address(sandbox.mask_address(v)) AS address,
	length(sandbox.mask_text(v)) BETWEEN length(v) - 2 AND length(v) AS text_len,
	sandbox.is_masked_text(sandbox.mask_text(v)) AS text
FROM (SELECT repeat('Ünï 12-', 150000) AS v) t;

-- ---- unique-preserving: 1,000,000 distinct emails and ids ----
SELECT count(DISTINCT sandbox.mask_email('user' || i || '@example.com')) AS distinct_emails,
	count(*) FILTER (WHERE NOT sandbox.is_masked_email(sandbox.mask_email('user' || i || '@example.com'))) AS unrecognised
FROM generate_series(1, 1000000) i;
SELECT count(DISTINCT sandbox.mask_id(to_char(i, 'FM000-00-0000'))) AS distinct_ids
FROM generate_series(1, 1000000) i;

-- ---- never the original, on 100,000 values each ----
SELECT count(*) FILTER (WHERE sandbox.mask_email(e) = e) AS email,
	count(*) FILTER (WHERE sandbox.mask_phone(p) = p) AS phone,
	count(*) FILTER (WHERE sandbox.mask_id(p) = p) AS id,
	count(*) FILTER (WHERE lower(sandbox.mask_first_name(n)) = lower(n)) AS first,
	count(*) FILTER (WHERE lower(sandbox.mask_last_name(n)) = lower(n)) AS last,
	count(*) FILTER (WHERE sandbox.mask_date(d) = d) AS date,
	count(*) FILTER (WHERE sandbox.mask_text(n) = n) AS text,
	count(*) FILTER (WHERE NOT sandbox.is_masked_phone(sandbox.mask_phone(p))) AS phone_unrecognised
FROM (SELECT sandbox.mask_email('x' || i || '@y.org') AS e,
		'+1 (' || (200 + i % 800) || ') 555-01' || lpad((i % 100)::text, 2, '0') AS p,
		sandbox.mask_first_name(i::text) AS n,
		date '1930-01-01' + i % 30000 AS d
	FROM generate_series(1, 100000) i) t;

-- every dictionary name maps to another name
SELECT count(*) AS same_first FROM (
	SELECT DISTINCT sandbox.mask_first_name(i::text) AS n FROM generate_series(1, 20000) i) t
WHERE sandbox.mask_first_name(n) = n;

-- ---- normalisation: case and surrounding white space ----
SELECT count(DISTINCT sandbox.mask_email(v)) AS email_variants
FROM (VALUES ('Ann.Lee@Example.org'), ('ann.lee@example.org'), ('  ANN.LEE@EXAMPLE.ORG '), (E'ann.lee@example.org\n')) t(v);
SELECT count(DISTINCT sandbox.mask_last_name(v)) AS name_variants
FROM (VALUES ('Smith'), ('SMITH'), (' smith ')) t(v);

-- ---- joins survive: the same email in two tables stays equal ----
CREATE TABLE regress_m_person (id int PRIMARY KEY, email text UNIQUE, phone text);
CREATE TABLE regress_m_order (id int, email text);
INSERT INTO regress_m_person SELECT i, 'p' || i || '@example.org', '0412 ' || lpad(i::text, 6, '0')
	FROM generate_series(1, 1000) i;
INSERT INTO regress_m_order SELECT i, 'P' || (i % 500 + 1) || '@Example.org' FROM generate_series(1, 2000) i;
UPDATE regress_m_person SET email = sandbox.mask_email(email), phone = sandbox.mask_phone(phone);
UPDATE regress_m_order SET email = sandbox.mask_email(email);
SELECT count(*) AS joined FROM regress_m_order o JOIN regress_m_person p USING (email);
SELECT count(*) FILTER (WHERE NOT sandbox.is_masked_phone(phone)) AS phones_outside_fiction,
	count(*) FILTER (WHERE phone NOT LIKE '0491 57____') AS phones_not_au_fiction
FROM regress_m_person;

-- ---- dates: within the window, in the past ----
SELECT count(*) FILTER (WHERE abs(sandbox.mask_date(d) - d) > 180) AS outside_window,
	count(*) FILTER (WHERE sandbox.mask_date(d) >= current_date) AS not_past
FROM (SELECT current_date - i AS d FROM generate_series(1, 40000) i) t;
SELECT sandbox.mask_date(current_date + 400) < current_date AS future_made_past,
	sandbox.mask_date('infinity') AS inf, sandbox.mask_date('-infinity') AS neg_inf;
SET penelope_sandbox.date_window = 3;
SELECT count(*) FILTER (WHERE abs(sandbox.mask_date(d) - d) > 3) AS outside_window_3
FROM (SELECT date '1950-01-01' + i AS d FROM generate_series(1, 10000) i) t;
RESET penelope_sandbox.date_window;

-- ---- free text keeps no word of the original ----
SELECT count(*) AS shared_words FROM
	regexp_split_to_table(lower(sandbox.mask_text(
		'The patient was seen at home by the nurse and her daughter, who reported a fall last week.')), '[ .]+') w
WHERE w <> '' AND w IN (SELECT regexp_split_to_table(lower(
		'The patient was seen at home by the nurse and her daughter, who reported a fall last week.'), '[ ,.]+'));

-- ---- the key ----
-- another passphrase, other pseudonyms
SELECT sandbox.mask_email('ann.lee@example.org') AS before \gset
SET penelope_sandbox.secret = 'a different regression passphrase';
SELECT sandbox.mask_email('ann.lee@example.org') <> :'before' AS key_changes_output;
RESET penelope_sandbox.secret;
-- without the setting, the table key: random, made on first use, 32 bytes
BEGIN;
DELETE FROM sandbox.secret;
SELECT sandbox.mask_email('ann.lee@example.org') <> :'before' AS table_key_differs;
SELECT origin, length(key) AS key_bytes FROM sandbox.secret;
-- set_secret_from_file derives the same key as the setting from the same
-- passphrase, read from a file on the server (never SQL text)
SELECT current_setting('data_directory') || '/regress_masking_passphrase' AS passphrase_file \gset
COPY (SELECT 'regression passphrase, not a real one') TO :'passphrase_file';
SELECT sandbox_set_secret_from_file(:'passphrase_file');
SELECT sandbox.mask_email('ann.lee@example.org') = :'before' AS set_secret_matches_setting;
SELECT origin FROM sandbox.secret;
COPY (SELECT 'too short') TO :'passphrase_file';
SELECT sandbox_set_secret_from_file(:'passphrase_file');
ROLLBACK;
-- a superuser's first use makes the table key
SELECT sandbox.mask_email('ann.lee@example.org') AS table_pseudonym \gset
SELECT :'table_pseudonym' <> :'before' AS random_key_in_use;
-- nobody but superusers may read the key or use it
CREATE ROLE regress_m_user;
SET ROLE regress_m_user;
SELECT sandbox.mask_email('ann.lee@example.org');
SELECT sandbox.mask_phone('0412 345 678');
SELECT * FROM sandbox.secret;
SELECT sandbox_set_secret_from_file('/etc/hostname');
SHOW penelope_sandbox.secret;
SELECT sandbox.is_masked_email('ann.lee@example.org') AS recognisers_need_no_key;
RESET ROLE;
-- a role granted SELECT on the key may use it
GRANT SELECT ON sandbox.secret TO regress_m_user;
SET ROLE regress_m_user;
SELECT sandbox.mask_email('ann.lee@example.org') = :'table_pseudonym' AS granted_role_masks;
RESET ROLE;
REVOKE SELECT ON sandbox.secret FROM regress_m_user;
DROP ROLE regress_m_user;
SELECT current_setting('penelope_sandbox.secret') = '' AS setting_hidden_when_unset;

-- ---- declarations ----
SELECT p.oid::regprocedure AS function, p.provolatile AS vol, p.proparallel AS par, p.proisstrict AS strict
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE (n.nspname = 'sandbox' AND (p.proname LIKE 'mask\_%' OR p.proname LIKE 'is\_masked\_%')) OR p.proname = 'sandbox_set_secret_from_file'
ORDER BY p.oid::regprocedure::text;
SELECT masker, recogniser FROM sandbox.masking_function ORDER BY masker::text;
SELECT has_function_privilege('public', 'sandbox_set_secret_from_file(text)', 'EXECUTE') AS public_set_secret,
	has_table_privilege('public', 'sandbox.secret', 'SELECT') AS public_reads_key;

-- ---- other server encodings ----
CREATE DATABASE regress_m_latin1 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
CREATE DATABASE regress_m_eucjp ENCODING 'EUC_JP' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
\c regress_m_latin1
SET client_encoding = 'UTF8';
SET client_min_messages = warning;
CREATE EXTENSION penelope_sandbox;
SET penelope_sandbox.secret = 'regression passphrase, not a real one';
SELECT v, sandbox.mask_email(v) = sandbox.mask_email(lower(v)) AS email_ci, sandbox.mask_phone(v) AS phone,
	sandbox.mask_id(v) AS id, length(sandbox.mask_text(v)) - length(v) AS text_len_diff,
	sandbox.is_masked_full_name(sandbox.mask_full_name(v)) AS full_name
FROM (VALUES ('Jürgen Müller'), ('Ñandú 0412 345 678'), ('Ærø 12-34')) t(v);
\c regress_m_eucjp
SET client_encoding = 'UTF8';
SET client_min_messages = warning;
CREATE EXTENSION penelope_sandbox;
SET penelope_sandbox.secret = 'regression passphrase, not a real one';
SELECT v, sandbox.mask_phone(v) AS phone, sandbox.mask_id(v) AS id,
	length(sandbox.mask_text(v)) - length(v) AS text_len_diff,
	sandbox.is_masked_text(sandbox.mask_text(v)) AS text
FROM (VALUES ('山田太郎 090-1234-5678'), ('東京都千代田区1-1'), ('メモ: 胸の痛み')) t(v);
\c :ps_db
DROP DATABASE regress_m_latin1;
DROP DATABASE regress_m_eucjp;

-- ---- clean up ----
DROP TABLE regress_m_person, regress_m_order;
\if :ps_created
DROP EXTENSION penelope_sandbox;
\endif
