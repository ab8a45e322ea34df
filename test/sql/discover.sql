--
-- discover: sandbox_discover (every kind, by name only, by content only,
-- covered or not), the policy of an environment and
-- penelope_sandbox.pii_check (error, warning, off), and the leak scan of
-- a run (hits in plain, free-text, JSON and array columns, no false hit
-- on masked values, the maximum of originals, sandbox_verify's row).
--
SET client_min_messages = warning;
SELECT NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'penelope_sandbox') AS ps_created \gset
CREATE EXTENSION IF NOT EXISTS penelope_sandbox;
RESET client_min_messages;
SET penelope_sandbox.discover_sample_rows = 1000;

CREATE SCHEMA regress_disc;

-- by content only: no column name says what it holds
CREATE TABLE regress_disc.content_only (
	id integer PRIMARY KEY,
	a text,			-- email addresses
	b varchar(40),	-- phone numbers, North American, UK and Australian
	c text,			-- US SSNs
	d text,			-- Australian Medicare numbers, check digit valid
	e text,			-- names from the dictionaries
	f text,			-- street addresses
	g text,			-- free text holding emails and phone numbers
	h jsonb,		-- JSON holding emails
	i text[],		-- arrays of phone numbers
	j char(12),		-- UK NHS numbers, check digit valid
	k text			-- nothing personal
);
INSERT INTO regress_disc.content_only
SELECT n,
	   'person' || n || '@mail.example.org',
	   (ARRAY['+1 (415) 555-' || lpad(n::text, 4, '0'), '020 7946 ' || lpad(n::text, 4, '0'),
			  '04' || lpad((12345000 + n)::text, 8, '0')])[1 + n % 3],
	   lpad((100 + n)::text, 3, '0') || '-45-' || lpad(n::text, 4, '0'),
	   '2123 4567' || ((2*1 + 1*3 + 2*7 + 3*9 + 4*1 + 5*3 + 6*7 + 7*9) % 10)::text || ' ' || (1 + n % 9),
	   (ARRAY['Olivia', 'Jack Smith', 'Brown, Grace', 'Mary-Ann Jones'])[1 + n % 4],
	   n || ' ' || (ARRAY['Oak Street', 'High Road', 'Station Avenue'])[1 + n % 3] || ', Springfield',
	   'Called back on 0412 345 ' || lpad(n::text, 3, '0') || ', wrote to person' || n || '@mail.example.org.',
	   jsonb_build_object('contact', 'person' || n || '@mail.example.org', 'n', n),
	   ARRAY['+61 412 345 ' || lpad(n::text, 3, '0')],
	   (ARRAY['943 476 5900', '943 476 5919', '943 476 5927', '943 476 5935'])[1 + n % 4],
	   'order ' || n
FROM generate_series(1, 40) AS n;

-- by name only: values no recogniser takes
CREATE TABLE regress_disc.name_only (
	id integer PRIMARY KEY,
	surname text,
	date_of_birth date,
	mobile bigint,
	home_address text,
	case_notes text,
	passport_no text,
	login_name text,		-- not a person's name by its words
	sms_enabled boolean		-- nor a phone number
);
INSERT INTO regress_disc.name_only
SELECT n, 'X' || n, date '1980-01-01' + n, 61400000000 + n, 'see file ' || n, 'ok', 'P' || n, 'u' || n, true
FROM generate_series(1, 20) AS n;

-- one constant address in a settings row is configuration, not people
CREATE TABLE regress_disc.settings (id integer PRIMARY KEY, sender text);
INSERT INTO regress_disc.settings VALUES (1, 'notifications@agency.example.org');

SELECT relation, column_name, kind, by_name, round(content_share::numeric, 2) AS share, sampled,
	   required, covered
FROM sandbox_discover()
WHERE relation LIKE 'regress_disc.%'
ORDER BY relation, column_name;

-- evidence is a sentence about counts, never a value
SELECT column_name, evidence FROM sandbox_discover()
WHERE relation = 'regress_disc.content_only' AND column_name IN ('a', 'g', 'h')
ORDER BY column_name;
SELECT count(*) AS evidence_with_a_value FROM sandbox_discover()
WHERE evidence ~ '@|[0-9]{4}' AND evidence !~ 'of [0-9]+ sampled';

-- ---- coverage by the rules of an environment ----
INSERT INTO sandbox.environment (name, description) VALUES ('regress_disc', 'discovery tests');
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression, filter) VALUES
	('regress_disc', 'regress_disc', 'content_only', 'a', 'mask', 'sandbox.mask_email(a)', NULL),
	('regress_disc', 'regress_disc', 'content_only', 'b', 'mask', 'sandbox.mask_phone(b)', 'id > 10'),
	('regress_disc', 'regress_disc', 'name_only', NULL, 'truncate', NULL, NULL);
INSERT INTO sandbox.discovery_policy (environment, required_kinds, on_failure)
VALUES ('regress_disc', ARRAY['email', 'phone', 'text_with_contacts', 'json_with_contacts'], 'error');

SELECT relation, column_name, kind, required, covered,
	   regexp_replace(covered_by, 'rule [0-9]+', 'rule N') AS covered_by
FROM sandbox_discover('regress_disc')
WHERE relation LIKE 'regress_disc.%'
ORDER BY relation, column_name;

-- ---- the policy: error, before anything changes ----
CREATE TEMP TABLE before_a AS SELECT id, a FROM regress_disc.content_only;
SELECT sandbox_sanitize('regress_disc');
SELECT count(*) AS unchanged FROM regress_disc.content_only c JOIN before_a b USING (id) WHERE c.a = b.a;
SELECT count(*) AS runs_left FROM sandbox.run WHERE environment = 'regress_disc';

-- penelope_sandbox.pii_check overrides the environment: warning
SET penelope_sandbox.pii_check = warning;
BEGIN;
SELECT sandbox_sanitize('regress_disc') IS NOT NULL AS sanitized;
SELECT table_name, column_name, kind FROM sandbox.run_uncovered ORDER BY 1, 2;
ROLLBACK;

-- off: no discovery, no leak scan, no warning
SET penelope_sandbox.pii_check = off;
BEGIN;
SELECT sandbox_sanitize('regress_disc') IS NOT NULL AS sanitized;
SELECT count(*) AS leak_scans FROM sandbox.leak_scan;
ROLLBACK;
RESET penelope_sandbox.pii_check;

-- an environment that inherits takes the policy of its parent
INSERT INTO sandbox.environment (name, inherits) VALUES ('regress_disc_child', 'regress_disc');
SELECT sandbox_sanitize('regress_disc_child');

-- ---- the leak scan ----
-- Every column of every kind is covered now, so discovery lets the run
-- through; copies of the masked originals are planted elsewhere.
DELETE FROM sandbox.rule WHERE environment = 'regress_disc';
DROP TABLE regress_disc.name_only, regress_disc.settings;
CREATE TABLE regress_disc.person (
	id integer PRIMARY KEY,
	email text,
	phone text,
	code text		-- one digit: its masks are other digits
);
INSERT INTO regress_disc.person
SELECT n, 'Client' || n || '@Mail.Example.org', '+61 412 555 ' || lpad(n::text, 3, '0'), (n % 10)::text
FROM generate_series(1, 30) AS n;
CREATE TABLE regress_disc.copies (
	id integer PRIMARY KEY,
	plain text,			-- a whole value
	note text,			-- free text around an email and a phone number
	payload jsonb,		-- JSON
	numbers varchar(30)[],	-- an array
	kept_code text		-- one digit too: a masked code looks like any code
);
INSERT INTO regress_disc.copies VALUES
	(1, 'client1@mail.example.org', 'Spoke to the client (CLIENT2@mail.example.org), call back on 0412 555 003 tomorrow.',
	 '{"to": ["client4@mail.example.org"], "sms": 61412555005}', ARRAY['+61 (0)412-555-006', 'none'], '7'),
	(2, 'nobody@elsewhere.example', 'Nothing to see.', '{"to": []}', ARRAY['+61 499 999 999'], '3');
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression) VALUES
	('regress_disc', 'regress_disc', 'person', 'email', 'mask', 'sandbox.mask_email(email)'),
	('regress_disc', 'regress_disc', 'person', 'phone', 'mask', 'sandbox.mask_phone(phone)'),
	('regress_disc', 'regress_disc', 'person', 'code', 'mask', 'sandbox.mask_id(code)'),
	('regress_disc', 'regress_disc', 'content_only', NULL, 'truncate', NULL);
-- discovery would stop the run at the copies (free text, JSON): the
-- policy requires no kind, so the leak scan is what finds them
UPDATE sandbox.discovery_policy SET required_kinds = '{}' WHERE environment = 'regress_disc';

-- error: the run fails after its statements, naming the columns
SELECT sandbox_sanitize('regress_disc');
SELECT count(*) AS leak_scans_kept FROM sandbox.leak_scan;

-- warning: the run succeeds, and the ledger holds the counts
UPDATE sandbox.discovery_policy SET on_failure = 'warning' WHERE environment = 'regress_disc';
SELECT sandbox_sanitize('regress_disc') IS NOT NULL AS sanitized;
SELECT policy, originals, originals_not_held, complete, memory_bytes > 0 AS memory_reported,
	   columns_scanned, hits
FROM sandbox.leak_scan ORDER BY run_id DESC LIMIT 1;
-- the originals found that a mask also produced, once each: the kept
-- codes '7' and '3' (not every original the masks produce)
SELECT originals_produced_by_masks FROM sandbox.leak_scan ORDER BY run_id DESC LIMIT 1;
SELECT table_name, column_name, hits FROM sandbox.leak_scan_hit ORDER BY 1, 2;
-- the masked columns themselves and the kept codes are no hit
SELECT count(*) AS masked_rows FROM regress_disc.person WHERE sandbox.is_masked_email(email);
-- no message, no ledger row holds a value
SELECT count(*) AS ledger_values FROM sandbox.leak_scan_hit h
WHERE h::text ~* 'client|412';

-- sandbox_verify shows the last run's leak scan
SELECT ok, violations, regexp_replace(detail, 'run [0-9]+', 'run N') AS detail
FROM sandbox_verify('regress_disc') WHERE action = 'leak_scan';

-- the copies masked too: a clean run
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression) VALUES
	('regress_disc', 'regress_disc', 'copies', 'plain', 'set', 'NULL'),
	('regress_disc', 'regress_disc', 'copies', 'note', 'mask', 'sandbox.mask_text(note)'),
	('regress_disc', 'regress_disc', 'copies', 'payload', 'set', 'NULL'),
	('regress_disc', 'regress_disc', 'copies', 'numbers', 'set', 'NULL');
UPDATE sandbox.discovery_policy SET on_failure = 'error' WHERE environment = 'regress_disc';
SELECT sandbox_sanitize('regress_disc') IS NOT NULL AS sanitized;
SELECT ok, violations FROM sandbox_verify('regress_disc') WHERE action = 'leak_scan';

-- past penelope_sandbox.leak_scan_max_originals the proof is incomplete,
-- and says so rather than sampling (the email rule, applied by an earlier
-- run, applies again to the rows added since, and fingerprints them)
INSERT INTO regress_disc.person
SELECT n, 'more' || n || '@mail.example.org', NULL, NULL FROM generate_series(100, 1300) AS n;
SET penelope_sandbox.leak_scan_max_originals = 1000;
SELECT sandbox_sanitize('regress_disc');
UPDATE sandbox.discovery_policy SET on_failure = 'warning' WHERE environment = 'regress_disc';
SELECT sandbox_sanitize('regress_disc') IS NOT NULL AS sanitized;
SELECT originals, originals_not_held > 0 AS some_not_held, complete FROM sandbox.leak_scan ORDER BY run_id DESC LIMIT 1;
SELECT ok FROM sandbox_verify('regress_disc') WHERE action = 'leak_scan';
RESET penelope_sandbox.leak_scan_max_originals;

-- values that the scan reads without parsing them all: a whole value
-- padded (char) or among spaces, free text stored out of line (TOAST), a
-- number in JSON text are still found; a kept code that a mask produced
-- is no hit: it is one of the ten codes (person.code, no longer masked,
-- holds codes too) counted as found and produced by the masks.  The
-- names are longer than a TOAST pointer (16 bytes), which must not be
-- taken for the value it points to
DELETE FROM sandbox.rule WHERE environment = 'regress_disc';
CREATE TABLE regress_disc.member (
	id integer PRIMARY KEY,
	full_name text,
	email text,
	phone text,
	code text
);
INSERT INTO regress_disc.member
SELECT n, 'Zebulon Quistorp-Vandermeer ' || n, 'member' || n || '@club.example.org', '+61 412 666 ' || lpad(n::text, 3, '0'),
	   (n % 10)::text
FROM generate_series(1, 30) AS n;
CREATE TABLE regress_disc.member_copies (
	id integer PRIMARY KEY,
	padded char(40),	-- a whole value, padded
	spaced text,		-- a whole value among spaces
	big text,			-- free text stored out of line
	doc json,			-- a number in JSON text
	kept_code text		-- a code the masks also produce
);
ALTER TABLE regress_disc.member_copies ALTER COLUMN big SET STORAGE EXTERNAL;
INSERT INTO regress_disc.member_copies VALUES
	(1, 'Zebulon Quistorp-Vandermeer 1', E'  Zebulon Quistorp-Vandermeer 2 \n', repeat('lorem ipsum ', 300) || 'write to member3@club.example.org',
	 '{"sms": 61412666004}', '7'),
	(2, 'nobody', 'nobody', repeat('lorem ipsum ', 300), '{"sms": 61499999999}', 'x');
SELECT pg_relation_size(reltoastrelid) > 0 AS big_out_of_line FROM pg_class
WHERE oid = 'regress_disc.member_copies'::regclass;
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression) VALUES
	('regress_disc', 'regress_disc', 'member', 'full_name', 'mask', 'sandbox.mask_full_name(full_name)'),
	('regress_disc', 'regress_disc', 'member', 'email', 'mask', 'sandbox.mask_email(email)'),
	('regress_disc', 'regress_disc', 'member', 'phone', 'mask', 'sandbox.mask_phone(phone)'),
	('regress_disc', 'regress_disc', 'member', 'code', 'mask', 'sandbox.mask_id(code)');
SELECT sandbox_sanitize('regress_disc') IS NOT NULL AS sanitized;
SELECT hits, originals_produced_by_masks FROM sandbox.leak_scan ORDER BY run_id DESC LIMIT 1;
SELECT table_name, column_name, hits FROM sandbox.leak_scan_hit
WHERE run_id = (SELECT max(run_id) FROM sandbox.leak_scan) ORDER BY 1, 2;

-- only the owner of the extension may discover
CREATE ROLE regress_disc_nobody;
SET ROLE regress_disc_nobody;
SELECT count(*) FROM sandbox_discover();
RESET ROLE;
DROP ROLE regress_disc_nobody;

-- ---- clean up ----
DROP SCHEMA regress_disc CASCADE;
DELETE FROM sandbox.run_step;
DELETE FROM sandbox.run;
DELETE FROM sandbox.rule WHERE environment LIKE 'regress_disc%';
DELETE FROM sandbox.environment WHERE name = 'regress_disc_child';
DELETE FROM sandbox.environment WHERE name = 'regress_disc';
\if :ps_created
DROP EXTENSION penelope_sandbox;
\endif
