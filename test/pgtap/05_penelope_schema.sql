/*
 * test/pgtap/05_penelope_schema.sql: the Penelope reference schema
 * (demo/penelope_schema.sql) and its data generator
 * (demo/penelope_generate.sql).
 *
 * Loads both into this transaction, generates 1,000 clients, and checks the
 * shape of the result: tables, sizes, user groups, large objects, every
 * feature switch on with its credentials, foreign keys and indexes back in
 * place, and determinism (a second run, in another time zone, yields the
 * same data, and the data matches a pinned checksum).  Everything is rolled
 * back at the end, large objects included.
 */
BEGIN;
SELECT plan(34);

\ir ../../demo/penelope_schema.sql
\ir ../../demo/penelope_generate.sql

SELECT has_schema('penelope');
SELECT tables_are('penelope', ARRAY[
	'agency_settings', 'user_group', 'worker', 'worker_user_group', 'client',
	'client_contact', 'client_note', 'service_event', 'attachment',
	'comm_settings', 'comm_queue', 'exchange_settings', 'exchange_queue',
	'exchange_error_queue', 'action_trigger', 'action_trigger_queue',
	'ors_settings', 'credit_card_settings', 'dss_settings', 'dss_queue',
	'clientconnect_settings', 'clientconnect_account',
	'clientconnect_product_key', 'engage_settings', 'engage_workflow'
]);
SELECT has_function('penelope', 'generate', ARRAY['integer']);
SELECT has_index('penelope', 'client', 'client_email_idx', ARRAY['email'],
	'client has an index on email');
SELECT has_index('penelope', 'client', 'client_name_idx', ARRAY['last_name', 'first_name'],
	'client has an index on last_name');

/* generate() drops and re-creates foreign keys and indexes: remember them. */
CREATE TEMP TABLE ddl_before AS
SELECT conrelid::regclass::text AS tbl, conname::text AS name, pg_get_constraintdef(oid) AS def
FROM pg_constraint WHERE connamespace = 'penelope'::regnamespace
UNION ALL
SELECT indrelid::regclass::text, indexrelid::regclass::text, pg_get_indexdef(indexrelid)
FROM pg_index WHERE indrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'penelope'::regnamespace);

SELECT throws_ok('SELECT penelope.generate(0)', 'P0001', NULL, 'generate(0) is refused');
SELECT lives_ok('SELECT penelope.generate(1000)', 'generate(1000) runs');

SELECT set_eq(
	$$SELECT conrelid::regclass::text, conname::text, pg_get_constraintdef(oid)
	  FROM pg_constraint WHERE connamespace = 'penelope'::regnamespace
	  UNION ALL
	  SELECT indrelid::regclass::text, indexrelid::regclass::text, pg_get_indexdef(indexrelid)
	  FROM pg_index WHERE indrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'penelope'::regnamespace)$$,
	'SELECT tbl, name, def FROM ddl_before',
	'constraints and indexes are all back after generate()');
SELECT cmp_ok((SELECT count(*)::integer FROM ddl_before WHERE def LIKE 'FOREIGN KEY%'), '>=', 19,
	'the schema has real foreign keys');

/* Sizes. */
SELECT is((SELECT count(*) FROM penelope.client), 1000::bigint, '1000 clients');
SELECT is((SELECT count(*) FROM penelope.worker), 20::bigint, 'greatest(20, scale / 50) workers');
SELECT is((SELECT count(*) FROM penelope.service_event), 1000::bigint, 'a service event per client');
SELECT is((SELECT count(*) FROM penelope.client_note), 1000::bigint, 'a case note per client');
SELECT is((SELECT count(*) FROM penelope.attachment), 200::bigint, 'an attachment per 5 clients');
SELECT is_empty($$
	SELECT 'comm_queue' WHERE NOT EXISTS (SELECT FROM penelope.comm_queue WHERE audience = 'client')
	UNION ALL SELECT 'comm_queue external' WHERE NOT EXISTS (SELECT FROM penelope.comm_queue WHERE audience = 'external')
	UNION ALL SELECT 'client_contact' WHERE NOT EXISTS (SELECT FROM penelope.client_contact)
	UNION ALL SELECT 'exchange_queue' WHERE NOT EXISTS (SELECT FROM penelope.exchange_queue)
	UNION ALL SELECT 'exchange_error_queue' WHERE NOT EXISTS (SELECT FROM penelope.exchange_error_queue)
	UNION ALL SELECT 'action_trigger_queue' WHERE NOT EXISTS (SELECT FROM penelope.action_trigger_queue)
	UNION ALL SELECT 'dss_queue' WHERE NOT EXISTS (SELECT FROM penelope.dss_queue)
	UNION ALL SELECT 'clientconnect_account' WHERE NOT EXISTS (SELECT FROM penelope.clientconnect_account)
	UNION ALL SELECT 'clientconnect_product_key' WHERE NOT EXISTS (SELECT FROM penelope.clientconnect_product_key)
	UNION ALL SELECT 'engage_workflow' WHERE NOT EXISTS (SELECT FROM penelope.engage_workflow)
	UNION ALL SELECT 'action_trigger' WHERE NOT EXISTS (SELECT FROM penelope.action_trigger)
	UNION ALL SELECT 'exchange-synced event' WHERE NOT EXISTS (SELECT FROM penelope.service_event WHERE exchange_sync)
$$, 'every queue and list has rows');

/* Workers and user groups. */
SELECT set_eq('SELECT name FROM penelope.user_group', ARRAY[
	'System Admin', 'External Admin', 'ACSO', 'Admin Exec', 'Clinical Worker',
	'Intake Mgmt', 'Volunteer', 'Supervisor', 'Finance', 'Reception'],
	'every user group exists');
SELECT is((SELECT count(DISTINCT user_group_id) FROM penelope.worker_user_group), 10::bigint,
	'every user group has members');
SELECT is_empty('SELECT id FROM penelope.worker w WHERE NOT EXISTS
	(SELECT FROM penelope.worker_user_group m WHERE m.worker_id = w.id)',
	'every worker is in a user group');
SELECT isnt_empty($$
	SELECT m.worker_id FROM penelope.worker_user_group m JOIN penelope.user_group g ON g.id = m.user_group_id
	GROUP BY m.worker_id
	HAVING bool_or(g.name = 'System Admin') AND bool_or(g.name = 'Clinical Worker')$$,
	'some worker is both System Admin and Clinical Worker');
SELECT cmp_ok((SELECT count(*)::integer FROM (SELECT worker_id FROM penelope.worker_user_group
	GROUP BY worker_id HAVING count(*) > 1) AS multi), '>=', 6, 'several workers are in two groups');
SELECT isnt_empty('SELECT FROM penelope.worker WHERE active AND email IS NOT NULL AND sms_number IS NOT NULL',
	'active workers with email and SMS number');

/* Attachments: inline and large objects. */
SELECT is((SELECT count(*) FROM penelope.attachment a
	JOIN pg_largeobject_metadata m ON m.oid = a.content_oid), 10::bigint,
	'5% of the attachments are real large objects');
SELECT cmp_ok((SELECT min(length(lo_get(content_oid))) FROM penelope.attachment WHERE content_oid IS NOT NULL),
	'>=', 1000, 'the large objects have content');
SELECT is((SELECT count(*) FROM penelope.attachment WHERE content IS NOT NULL), 190::bigint,
	'the other attachments are inline bytea');

/* A production copy: every switch on, every credential and logo set. */
SELECT is_empty($$
	SELECT s.tbl, j.key
	FROM (SELECT 'agency_settings' AS tbl, to_jsonb(t) AS r FROM penelope.agency_settings t
		UNION ALL SELECT 'comm_settings', to_jsonb(t) FROM penelope.comm_settings t
		UNION ALL SELECT 'exchange_settings', to_jsonb(t) FROM penelope.exchange_settings t
		UNION ALL SELECT 'ors_settings', to_jsonb(t) FROM penelope.ors_settings t
		UNION ALL SELECT 'credit_card_settings', to_jsonb(t) FROM penelope.credit_card_settings t
		UNION ALL SELECT 'dss_settings', to_jsonb(t) FROM penelope.dss_settings t
		UNION ALL SELECT 'clientconnect_settings', to_jsonb(t) FROM penelope.clientconnect_settings t
		UNION ALL SELECT 'engage_settings', to_jsonb(t) FROM penelope.engage_settings t) AS s,
		jsonb_each(s.r) AS j
	WHERE j.value IN ('null', 'false', '""')
	UNION ALL
	SELECT 'action_trigger', name FROM penelope.action_trigger WHERE NOT enabled
	UNION ALL
	SELECT 'engage_workflow', name FROM penelope.engage_workflow WHERE NOT active
$$, 'every feature switch is on and every setting filled in');
SELECT is((SELECT count(*) FROM (SELECT FROM penelope.agency_settings UNION ALL SELECT FROM penelope.comm_settings
	UNION ALL SELECT FROM penelope.exchange_settings UNION ALL SELECT FROM penelope.ors_settings
	UNION ALL SELECT FROM penelope.credit_card_settings UNION ALL SELECT FROM penelope.dss_settings
	UNION ALL SELECT FROM penelope.clientconnect_settings UNION ALL SELECT FROM penelope.engage_settings) AS s),
	8::bigint, 'each settings table has its one row');
SELECT throws_ok('INSERT INTO penelope.comm_settings (id) VALUES (2)', '23514', NULL,
	'settings tables cannot hold a second row');

/* Realistic-looking PII. */
SELECT is_empty($$
	SELECT id FROM penelope.client
	WHERE birth_date NOT BETWEEN '1930-01-01' AND '2015-12-31'
		OR email !~ '^[a-z]+[._]?[a-z]+[0-9]+@[a-z.]+\.[a-z]+$'
		OR ssn !~ '^\d{3}-\d{2}-\d{4}$'
		OR address_line1 IS NULL OR postcode !~ '^\d{4}$'$$,
	'client birth dates, emails, identifiers and addresses look right');
SELECT cmp_ok((SELECT count(DISTINCT regexp_replace(mobile_phone, '\d', '9', 'g'))::integer
	FROM penelope.client), '>=', 5, 'mobile numbers come in several formats');

/* Identity sequences continue after the generated ids. */
WITH i AS (INSERT INTO penelope.client (first_name, last_name) VALUES ('New', 'Client') RETURNING id)
SELECT is((SELECT id FROM i), 1001::bigint, 'the identity sequences are moved past the generated ids');

/*
 * Determinism.  A checksum per table (large objects by their content, not
 * their OID), read under fixed output settings.
 */
CREATE TEMP VIEW checksum AS
SELECT tbl, md5(string_agg(r, E'\n' ORDER BY r COLLATE "C")) AS sum
FROM (
	SELECT 'client' AS tbl, t::text AS r FROM penelope.client t WHERE id <= 1000
	UNION ALL SELECT 'client_contact', t::text FROM penelope.client_contact t
	UNION ALL SELECT 'client_note', t::text FROM penelope.client_note t
	UNION ALL SELECT 'worker', t::text FROM penelope.worker t
	UNION ALL SELECT 'worker_user_group', t::text FROM penelope.worker_user_group t
	UNION ALL SELECT 'user_group', t::text FROM penelope.user_group t
	UNION ALL SELECT 'service_event', t::text FROM penelope.service_event t
	UNION ALL SELECT 'attachment', concat_ws('|', id, client_id, uploaded_by, file_name, mime_type,
		md5(content), md5(lo_get(content_oid)), uploaded_at) FROM penelope.attachment
	UNION ALL SELECT 'comm_queue', t::text FROM penelope.comm_queue t
	UNION ALL SELECT 'exchange_queue', t::text FROM penelope.exchange_queue t
	UNION ALL SELECT 'exchange_error_queue', t::text FROM penelope.exchange_error_queue t
	UNION ALL SELECT 'action_trigger', t::text FROM penelope.action_trigger t
	UNION ALL SELECT 'action_trigger_queue', t::text FROM penelope.action_trigger_queue t
	UNION ALL SELECT 'dss_queue', t::text FROM penelope.dss_queue t
	UNION ALL SELECT 'clientconnect_account', t::text FROM penelope.clientconnect_account t
	UNION ALL SELECT 'clientconnect_product_key', t::text FROM penelope.clientconnect_product_key t
	UNION ALL SELECT 'engage_workflow', t::text FROM penelope.engage_workflow t
	UNION ALL SELECT 'settings', concat_ws('|', a, c, e, o, cc, d, ccs, es)::text
		FROM penelope.agency_settings a, penelope.comm_settings c, penelope.exchange_settings e,
			penelope.ors_settings o, penelope.credit_card_settings cc, penelope.dss_settings d,
			penelope.clientconnect_settings ccs, penelope.engage_settings es
) AS s
GROUP BY tbl;

SET LOCAL TimeZone = 'UTC';
SET LOCAL DateStyle = 'ISO, YMD';
SET LOCAL bytea_output = 'hex';
CREATE TEMP TABLE first_run AS SELECT * FROM checksum;
CREATE TEMP TABLE first_run_lo AS SELECT content_oid FROM penelope.attachment WHERE content_oid IS NOT NULL;

/*
 * The pinned checksum of everything generate(1000) makes.  If you change
 * the generator on purpose, put the new value printed by the failure here.
 */
SELECT is((SELECT md5(string_agg(tbl || ':' || sum, ',' ORDER BY tbl COLLATE "C")) FROM first_run),
	'7f797bdf6789a6bd511bde9bab7e9c68', 'generate(1000) makes exactly the pinned data');

/* Again, from a caller in another time zone: the same data. */
SET LOCAL TimeZone = 'America/New_York';
SELECT lives_ok('SELECT penelope.generate(1000)', 'generate(1000) runs again over existing data');
SET LOCAL TimeZone = 'UTC';
SELECT set_eq('SELECT * FROM checksum', 'SELECT * FROM first_run',
	'the same scale gives the same data, whatever the time zone');
SELECT is_empty('SELECT FROM first_run_lo f JOIN pg_largeobject_metadata m ON m.oid = f.content_oid',
	'a new run unlinks the large objects of the previous one');

SELECT * FROM finish();
ROLLBACK;
