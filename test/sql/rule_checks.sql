--
-- rule_checks: rules a DBA can live with (issue 10).  Rules that could
-- never verify are refused when written and when run: volatile functions,
-- and an expression reading a column another rule of a related
-- environment writes; a rule whose column was dropped can still be
-- disabled; a masker whose output can never fit a varchar(n) column is
-- refused, and a value too long at run time names the rule and the
-- column; jsonb paths and array elements can be masked and verified;
-- DROP EXTENSION warns what it destroys.
--
\set VERBOSITY default
SET client_min_messages = warning;
SELECT NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'penelope_sandbox') AS ps_created \gset
CREATE EXTENSION IF NOT EXISTS penelope_sandbox;
RESET client_min_messages;
SELECT setval('sandbox.rule_id_seq', 500) AS rule_base;
SET penelope_sandbox.secret = 'regression passphrase, not a real one';

INSERT INTO sandbox.environment (name, inherits) VALUES
	('regress_rc_a', NULL), ('regress_rc_b', 'regress_rc_a'), ('regress_rc_c', NULL);
CREATE SCHEMA regress_rc;
CREATE TABLE regress_rc.person (
	id int PRIMARY KEY,
	first_name text,
	nickname text,
	email varchar(40),
	email_wide varchar(60),
	code varchar(8),
	label varchar(8),
	note text,
	payload jsonb,
	tags text[],
	short_tags varchar(10)[],
	stamp timestamptz,
	gone text
);
INSERT INTO regress_rc.person (id, first_name, email, email_wide, code, note, payload, tags) VALUES
	(1, 'Ann', 'ann@corp.example', 'ann@corp.example', 'AB-1234', 'x',
	 '{"contact": {"email": "ann@corp.example", "phone": "555-0100"}, "kind": "client",
	   "others": [{"email": "bob@corp.example"}, {"email": null}, {"name": "no email"}]}',
	 ARRAY['ann@corp.example', NULL, 'ann2@corp.example']),
	(2, 'Bob', NULL, NULL, 'CD-5678', 'yyyyyyyyyyyy', NULL, NULL),
	(3, 'Cy', 'cy@corp.example', 'cy@corp.example', NULL, NULL, '{"kind": "other"}', '{}');

-- ---- determinism ----
-- volatile functions in an expression verified by recomputation, or in a filter
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('regress_rc_a', 'regress_rc', 'person', 'note', 'set', $$md5(random()::text)$$);
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('regress_rc_a', 'regress_rc', 'person', 'note', 'set', $$gen_random_uuid()::text$$);
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('regress_rc_a', 'regress_rc', 'person', 'stamp', 'set', $$clock_timestamp()$$);
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('regress_rc_a', 'regress_rc', 'person', 'note', 'set', $$(SELECT 'n' || random())$$);
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression, filter)
	VALUES ('regress_rc_a', 'regress_rc', 'person', 'note', 'set', $$'gone'$$, $$random() < 0.5$$);
INSERT INTO sandbox.rule (environment, table_schema, table_name, action, filter)
	VALUES ('regress_rc_a', 'regress_rc', 'person', 'delete', $$random() < 0.5$$);
-- stable functions give one value within the run and its verification
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('regress_rc_a', 'regress_rc', 'person', 'stamp', 'set', $$now()$$)
	RETURNING id, column_name;
-- a function of one's own counts as PostgreSQL knows it: VOLATILE unless declared
CREATE FUNCTION regress_rc.tag(int) RETURNS text LANGUAGE sql AS $$ SELECT 'tag' || $1 $$;
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('regress_rc_a', 'regress_rc', 'person', 'note', 'set', $$regress_rc.tag(id)$$);
ALTER FUNCTION regress_rc.tag(int) IMMUTABLE;
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('regress_rc_a', 'regress_rc', 'person', 'note', 'set', $$regress_rc.tag(id)$$)
	RETURNING id, column_name;
-- a rule refused at run time too: written before the check existed
ALTER TABLE sandbox.rule DISABLE TRIGGER validate_rule;
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('regress_rc_c', 'regress_rc', 'person', 'note', 'set', $$random()::text$$);
ALTER TABLE sandbox.rule ENABLE TRIGGER validate_rule;
SELECT sandbox_sanitize('regress_rc_c');
DELETE FROM sandbox.rule WHERE environment = 'regress_rc_c';

-- ---- an expression reading a column another rule writes ----
-- the masking rule first, then the rule reading its column
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('regress_rc_a', 'regress_rc', 'person', 'email_wide', 'mask', $$sandbox.mask_email(email_wide)$$)
	RETURNING id, column_name;
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('regress_rc_b', 'regress_rc', 'person', 'note', 'set', $$'mail: ' || email_wide$$);
-- a masker call is verified by its recogniser: it may read a written column
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('regress_rc_b', 'regress_rc', 'person', 'nickname', 'mask', $$sandbox.mask_first_name(email_wide)$$)
	RETURNING id, column_name;
-- an unrelated environment never runs both
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('regress_rc_c', 'regress_rc', 'person', 'note', 'set', $$'mail: ' || email_wide$$)
	RETURNING id, column_name;
-- the reading rule first, then the rule writing its column
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('regress_rc_a', 'regress_rc', 'person', 'label', 'set', $$upper(first_name)$$)
	RETURNING id AS reading_rule \gset
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('regress_rc_b', 'regress_rc', 'person', 'first_name', 'mask', $$sandbox.mask_first_name(first_name)$$);
-- disabled, the reading rule no longer stands in the way
UPDATE sandbox.rule SET enabled = false WHERE id = :reading_rule;
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('regress_rc_b', 'regress_rc', 'person', 'first_name', 'mask', $$sandbox.mask_first_name(first_name)$$)
	RETURNING id, column_name;
-- and it cannot be enabled again
UPDATE sandbox.rule SET enabled = true WHERE id = :reading_rule;
DELETE FROM sandbox.rule WHERE environment IN ('regress_rc_a', 'regress_rc_b', 'regress_rc_c');
-- both rules in one statement, in either order
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression) VALUES
	('regress_rc_a', 'regress_rc', 'person', 'email_wide', 'mask', $$sandbox.mask_email(email_wide)$$),
	('regress_rc_a', 'regress_rc', 'person', 'note', 'set', $$'mail: ' || email_wide$$);
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression) VALUES
	('regress_rc_a', 'regress_rc', 'person', 'note', 'set', $$'mail: ' || email_wide$$),
	('regress_rc_a', 'regress_rc', 'person', 'email_wide', 'mask', $$sandbox.mask_email(email_wide)$$);
SELECT count(*) FROM sandbox.rule WHERE environment LIKE 'regress_rc_%';

-- ---- a rule whose column was dropped ----
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('regress_rc_c', 'regress_rc', 'person', 'gone', 'set', $$'g'$$)
	RETURNING id AS gone_rule \gset
ALTER TABLE regress_rc.person DROP COLUMN gone;
-- any change re-validates it, and the run refuses it; the hint says what works
UPDATE sandbox.rule SET description = 'old' WHERE id = :gone_rule;
SELECT sandbox_sanitize('regress_rc_c');
-- disabling works; enabling validates again
UPDATE sandbox.rule SET enabled = false WHERE id = :gone_rule;
UPDATE sandbox.rule SET enabled = true WHERE id = :gone_rule;
SELECT enabled FROM sandbox.rule WHERE id = :gone_rule;
DELETE FROM sandbox.rule WHERE id = :gone_rule;

-- ---- lengths ----
-- mask_email writes 43 characters: never fits varchar(40)
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('regress_rc_c', 'regress_rc', 'person', 'email', 'mask', $$sandbox.mask_email(email)$$);
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('regress_rc_c', 'regress_rc', 'person', 'short_tags', 'mask', $$sandbox.mask_email(short_tags)$$);
-- mask_id keeps the length of its input, a column no wider than the target
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('regress_rc_c', 'regress_rc', 'person', 'code', 'mask', $$sandbox.mask_id(code)$$)
	RETURNING id, column_name;
-- a value too long at run time names the rule and the column
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression, filter)
	VALUES ('regress_rc_c', 'regress_rc', 'person', 'label', 'set', $$'label-' || repeat('x', id)$$, 'id = 3')
	RETURNING id, column_name;
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('regress_rc_c', 'regress_rc', 'person', 'label', 'set', $$'label-' || id$$)
	RETURNING id, column_name;
SELECT sandbox_sanitize('regress_rc_c');
DELETE FROM sandbox.rule WHERE environment = 'regress_rc_c';

-- ---- jsonb paths ----
CREATE TEMP TABLE doc AS SELECT payload FROM regress_rc.person WHERE id = 1;
-- the address in the object is masked, everything else kept
SELECT jsonb_typeof(m -> 'contact' -> 'email') AS type,
	sandbox.is_masked_email(m -> 'contact' ->> 'email') AS masked,
	m #- '{contact,email}' = payload #- '{contact,email}' AS rest_kept
FROM doc, sandbox.mask_jsonb(payload, '{contact,email}', 'sandbox.mask_email(text)') m;
-- a path that leads nowhere changes nothing; null elements stay
SELECT sandbox.mask_jsonb(payload, '{contact,fax}', 'sandbox.mask_email(text)') = payload AS missing_key,
	sandbox.mask_jsonb(payload, '{others,7,email}', 'sandbox.mask_email(text)') = payload AS missing_index,
	sandbox.mask_jsonb(payload, '{kind,email}', 'sandbox.mask_email(text)') = payload AS through_scalar,
	sandbox.mask_jsonb(NULL, '{a}', 'sandbox.mask_email(text)') IS NULL AS null_doc
FROM doc;
-- every element of an array: *, and indexes from the end
SELECT jsonb_path_query_array(m, '$.others[*].email') AS emails_types,
	sandbox.is_masked_jsonb(m, '{others,*,email}', 'sandbox.mask_email(text)') AS recognised,
	sandbox.is_masked_jsonb(payload, '{others,*,email}', 'sandbox.mask_email(text)') AS original_recognised,
	m -> 'others' -> 2 = payload -> 'others' -> 2 AS element_without_key_kept
FROM doc, sandbox.mask_jsonb(payload, '{others,*,email}', 'sandbox.mask_email(text)') m
\gset
SELECT :'recognised' AS recognised, :'original_recognised' AS original_recognised,
	:'element_without_key_kept' AS element_without_key_kept,
	(SELECT array_agg(jsonb_typeof(e)) FROM jsonb_array_elements(:'emails_types'::jsonb) e) AS types;
SELECT sandbox.mask_jsonb(payload, '{others,-3,email}', 'sandbox.mask_email(text)')
	= sandbox.mask_jsonb(payload, '{others,0,email}', 'sandbox.mask_email(text)') AS negative_index
FROM doc;
-- nested arrays and numbers: a masked number stays a number when it is one
SELECT jsonb_typeof(m -> 0 -> 0) AS masked_number, m -> 0 -> 0 <> '12345' AS changed,
	jsonb_typeof(m -> 1 -> 0) AS masked_string, m -> 1 -> 1 AS kept_null, m -> 2 AS kept_bool
FROM sandbox.mask_jsonb('[[12345], ["AB-12", null], true]', '{}', 'sandbox.mask_id(text)') m;
-- a document that is one string
SELECT sandbox.is_masked_email(sandbox.mask_jsonb('"ann@corp.example"', '{}', 'sandbox.mask_email(text)') #>> '{}') AS scalar_doc;
-- only registered maskers of text, with a valid path
SELECT sandbox.mask_jsonb('{"a": "x"}', '{a}', 'pg_catalog.upper(text)');
SELECT sandbox.mask_jsonb('{"a": "x"}', '{a}', 'sandbox.mask_date(date)');
SELECT sandbox.mask_jsonb('{"a": "x"}', '{a,NULL}', 'sandbox.mask_email(text)');
-- a rule masking a path, verified by the recogniser at that path
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('regress_rc_c', 'regress_rc', 'person', 'payload', 'mask',
	        $$sandbox.mask_jsonb(payload, '{others,*,email}', 'sandbox.mask_email(text)')$$)
	RETURNING id, column_name;
-- the path and the masker must be constants, the masker registered and trusted
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('regress_rc_c', 'regress_rc', 'person', 'payload', 'mask',
	        $$sandbox.mask_jsonb(payload, ARRAY[note], 'sandbox.mask_email(text)')$$);
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('regress_rc_c', 'regress_rc', 'person', 'payload', 'mask',
	        $$sandbox.mask_jsonb(payload, NULL, 'sandbox.mask_email(text)')$$);
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('regress_rc_c', 'regress_rc', 'person', 'payload', 'mask',
	        $$sandbox.mask_jsonb(payload, '{a}', 'pg_catalog.upper(text)')$$);
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('regress_rc_c', 'regress_rc', 'person', 'payload', 'mask',
	        $$sandbox.mask_jsonb(payload, '{a}', note::regprocedure)$$);

-- ---- array elements ----
SELECT sandbox.is_masked_email(m) AS recognised, m[2] IS NULL AS null_kept,
	array_length(m, 1) AS n, sandbox.is_masked_email(tags) AS original_recognised
FROM regress_rc.person, sandbox.mask_email(tags) m WHERE id = 1;
SELECT array_dims(m) AS dims, sandbox.is_masked_phone(m) AS recognised
FROM sandbox.mask_phone('[0:1][1:2]={{555-0100,NULL},{555-0199,"(212) 736-5000"}}'::text[]) m;
SELECT sandbox.mask_email('{}'::text[]) AS empty, sandbox.mask_email(NULL::text[]) IS NULL AS null_array;
SELECT sandbox.is_masked_id(sandbox.mask_id(ARRAY['AB-1', NULL])) AS id_ok,
	(sandbox.mask_id(ARRAY[NULL, 'AB-1']))[1] IS NULL AS first_null_kept,
	length((sandbox.mask_id(ARRAY[NULL, 'AB-1']))[2]) AS length_kept;
INSERT INTO sandbox.rule (environment, table_schema, table_name, column_name, action, expression)
	VALUES ('regress_rc_c', 'regress_rc', 'person', 'tags', 'mask', $$sandbox.mask_email(tags)$$)
	RETURNING id, column_name;
SELECT regexp_replace(sandbox_sanitize('regress_rc_c'), '^run [0-9]+: (.*) applied in [0-9.]+ s', 'run N: \1 applied in T s') AS run;
SELECT rule_id, ok, violations, detail FROM sandbox_verify('regress_rc_c') WHERE rule_id IS NOT NULL ORDER BY rule_id;
SELECT sandbox.is_masked_email(tags) AS tags_masked,
	sandbox.is_masked_jsonb(payload, '{others,*,email}', 'sandbox.mask_email(text)') AS payload_masked,
	payload -> 'contact' ->> 'email' AS untouched_path
FROM regress_rc.person WHERE id = 1;
-- an original value put back is found by the verification
UPDATE regress_rc.person SET payload = jsonb_set(payload, '{others,0,email}', '"bob@corp.example"'),
	tags[3] = 'ann2@corp.example' WHERE id = 1;
SELECT rule_id, ok, violations FROM sandbox_verify('regress_rc_c') WHERE rule_id IS NOT NULL ORDER BY rule_id;

-- ---- DROP EXTENSION warns what it destroys ----
BEGIN;
-- (only this file's rules and runs, whatever other files left)
DELETE FROM sandbox.rule WHERE environment NOT LIKE 'regress_rc_%';
DELETE FROM sandbox.run WHERE environment NOT LIKE 'regress_rc_%';
DROP EXTENSION penelope_sandbox CASCADE;
ROLLBACK;
-- other drops say nothing
CREATE SCHEMA regress_rc_other;
DROP SCHEMA regress_rc_other;

-- clean up
DELETE FROM sandbox.rule WHERE environment LIKE 'regress_rc_%';
DELETE FROM sandbox.run_step WHERE run_id IN (SELECT id FROM sandbox.run WHERE environment LIKE 'regress_rc_%');
DELETE FROM sandbox.run WHERE environment LIKE 'regress_rc_%';
DELETE FROM sandbox.environment WHERE name IN ('regress_rc_b', 'regress_rc_c');
DELETE FROM sandbox.environment WHERE name = 'regress_rc_a';
DROP SCHEMA regress_rc CASCADE;
RESET penelope_sandbox.secret;
\if :ps_created
DROP EXTENSION penelope_sandbox;
\endif
