/*
 * demo/penelope_generate.sql: a deterministic generator of production-like
 * data for the reference schema in demo/penelope_schema.sql.
 *
 *     SELECT * FROM penelope.generate(10000);   -- 10,000 clients
 *
 * penelope.generate(scale) empties every penelope table (unlinking the large
 * objects its attachments own), then fills them with synthetic but
 * realistic-looking PII, as a restored copy of Production would hold it:
 * every feature switch ENABLED, every credential filled in, queues full.
 *
 * Sizes: scale clients; greatest(20, scale / 50) workers; one case note and
 * one service event per client; half a contact per client; an attachment
 * per 5 clients, every 20th of them (at most 50,000) a real large object;
 * queues a few percent of the clients.  It returns the row count per table.
 *
 * For speed it drops the schema's foreign keys and secondary indexes, loads,
 * and puts them back (validated) at the end, in the caller's transaction.
 * Measured on 2 cores: scale 10,000 in under a second, 1,000,000 in ~30 s.
 *
 * Every value is a pure function of the row's number (penelope.gen_hash
 * below, integer arithmetic only; no random(), no now()), and every table is
 * filled by one set-based INSERT ... SELECT FROM generate_series: the same
 * scale gives the same data, on any machine, in any time zone.  Only the
 * OIDs of the large objects differ from run to run.
 *
 * Usage: psql -f demo/penelope_schema.sql -f demo/penelope_generate.sql
 *        -c 'SELECT * FROM penelope.generate(10000)'
 */

/*
 * gen_hash(i, salt): a pseudo-random number in [0, 2^31 - 1) derived from
 * i and salt only: an affine map modulo the prime 2^31 - 1, squared.  Every
 * intermediate stays below 2^63, so bigint arithmetic never overflows.
 * Plain SQL, IMMUTABLE: the planner inlines it.
 */
CREATE FUNCTION penelope.gen_hash(i bigint, salt integer)
RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
	SELECT ((((i % 2147483629) * 1103515245 + salt * 7919 + 12345) % 2147483647)
		* (((i % 2147483629) * 1103515245 + salt * 7919 + 12345) % 2147483647)
		+ salt) % 2147483647
$$;

/* gen_digits(h, n): n decimal digits (n <= 8) taken from h. */
CREATE FUNCTION penelope.gen_digits(h bigint, n integer)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
	SELECT lpad((h % (10::bigint ^ n)::bigint)::text, n, '0')
$$;

/*
 * gen_mobile(h): a mobile number in one of several national formats.  Not
 * STRICT, or the planner would refuse to inline the CASE.
 */
CREATE FUNCTION penelope.gen_mobile(h bigint)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
	SELECT CASE h % 6
		WHEN 0 THEN '+61 4' || penelope.gen_digits(h / 6, 2) || ' '
			|| penelope.gen_digits(h / 600, 3) || ' ' || penelope.gen_digits(h / 600000, 3)
		WHEN 1 THEN '04' || penelope.gen_digits(h / 6, 2) || ' '
			|| penelope.gen_digits(h / 600, 3) || ' ' || penelope.gen_digits(h / 600000, 3)
		WHEN 2 THEN '04' || penelope.gen_digits(h / 6, 8)
		WHEN 3 THEN '+61' || '4' || penelope.gen_digits(h / 6, 8)
		WHEN 4 THEN '+1 (646) 555-' || penelope.gen_digits(h / 6, 4)
		ELSE '+44 7700 900' || penelope.gen_digits(h / 6, 3)
	END
$$;

/* gen_landline(h): a landline number in one of several national formats. */
CREATE FUNCTION penelope.gen_landline(h bigint)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
	SELECT CASE h % 5
		WHEN 0 THEN '(03) 9' || penelope.gen_digits(h / 5, 3) || ' ' || penelope.gen_digits(h / 5000, 4)
		WHEN 1 THEN '(02) 9' || penelope.gen_digits(h / 5, 3) || ' ' || penelope.gen_digits(h / 5000, 4)
		WHEN 2 THEN '07 3' || penelope.gen_digits(h / 5, 3) || ' ' || penelope.gen_digits(h / 5000, 4)
		WHEN 3 THEN '+61 8 9' || penelope.gen_digits(h / 5, 3) || ' ' || penelope.gen_digits(h / 5000, 4)
		ELSE '+1 (212) 555-' || penelope.gen_digits(h / 5, 4)
	END
$$;

/*
 * generate(scale): empty the penelope tables and fill them for scale
 * clients.  Not a loop over rows anywhere: one INSERT per table.  The hash
 * values of a row are computed once, in a subquery kept from being flattened
 * by OFFSET 0, so that the helper functions above inline on plain columns.
 */
CREATE FUNCTION penelope.generate(scale integer)
RETURNS TABLE (table_name text, row_count bigint)
LANGUAGE plpgsql
-- Fixed time zone: timestamps, day arithmetic and to_char are the same
-- whatever the caller's TimeZone setting.
SET search_path = pg_catalog, pg_temp
SET TimeZone = 'Australia/Melbourne'
SET maintenance_work_mem = '256MB'
AS $fn$
DECLARE
	-- The instant the copy was taken; every timestamp is relative to it.
	t0 constant timestamptz := '2024-06-28 17:30:00+10';

	n_worker constant bigint := greatest(20, scale / 50);
	n_contact constant bigint := greatest(1, scale / 2);
	n_note constant bigint := scale;
	n_event constant bigint := scale;
	n_attach constant bigint := greatest(20, scale / 5);
	n_lo constant bigint := least(greatest(1, n_attach / 20), 50000);
	n_comm constant bigint := greatest(10, scale / 10);
	n_exch constant bigint := greatest(5, scale / 20);
	n_exch_err constant bigint := greatest(3, scale / 100);
	n_trigger_q constant bigint := greatest(5, scale / 20);
	n_dss constant bigint := greatest(5, scale / 20);
	n_cc constant bigint := greatest(1, scale / 10);
	n_key constant bigint := n_cc + greatest(2, scale / 50);

	first_names constant text[] := ARRAY[
		'Olivia', 'Jack', 'Charlotte', 'Noah', 'Amelia', 'William', 'Isla',
		'Oliver', 'Mia', 'Thomas', 'Ava', 'James', 'Grace', 'Lucas', 'Chloe',
		'Henry', 'Zoe', 'Ethan', 'Ruby', 'Liam', 'Sophie', 'Mason', 'Harper',
		'Leo', 'Evelyn', 'Samuel', 'Matilda', 'Daniel', 'Emily', 'Benjamin',
		'Aaliyah', 'Mohammed', 'Priya', 'Arjun', 'Mei', 'Wei', 'Ngoc', 'Minh',
		'Fatima', 'Omar', 'Aroha', 'Tane', 'Siobhan', 'Declan', 'Margaret',
		'Robert', 'Dorothy', 'Kevin'];
	last_names constant text[] := ARRAY[
		'Smith', 'Jones', 'Williams', 'Brown', 'Wilson', 'Taylor', 'Johnson',
		'White', 'Martin', 'Anderson', 'Thompson', 'Nguyen', 'Thomas', 'Walker',
		'Harris', 'Lee', 'Ryan', 'Robinson', 'Kelly', 'King', 'Davis', 'Wright',
		'Evans', 'Roberts', 'Green', 'Hall', 'Wood', 'Jackson', 'Clarke',
		'Patel', 'Khan', 'Tran', 'Chen', 'Wang', 'Singh', 'Le', 'Kaur',
		'O''Brien', 'Murphy', 'McDonald', 'Papadopoulos', 'Rossi', 'Ngata',
		'Walsh', 'Campbell', 'Stewart', 'Mitchell', 'Young'];
	domains constant text[] := ARRAY[
		'gmail.com', 'outlook.com', 'hotmail.com', 'yahoo.com.au',
		'bigpond.com', 'icloud.com', 'mailbox.org.au', 'optusnet.com.au',
		'internode.on.net', 'protonmail.com'];
	streets constant text[] := ARRAY[
		'Sydney', 'George', 'Victoria', 'Albert', 'Church', 'High', 'Station',
		'Park', 'King', 'Queen', 'William', 'Elizabeth', 'Bridge', 'Railway',
		'Wattle', 'Banksia', 'Acacia', 'Hume', 'Princes', 'Pacific', 'Ocean',
		'Hill', 'Mitchell', 'Lygon'];
	street_types constant text[] := ARRAY[
		'Street', 'Road', 'Avenue', 'Parade', 'Crescent', 'Drive', 'Lane',
		'Court', 'Place', 'Terrace', 'Highway', 'Way'];
	-- Cities with their state and a plausible postcode prefix.
	cities constant text[] := ARRAY[
		'Melbourne', 'Geelong', 'Ballarat', 'Bendigo', 'Sydney', 'Newcastle',
		'Wollongong', 'Parramatta', 'Brisbane', 'Gold Coast', 'Townsville',
		'Perth', 'Fremantle', 'Adelaide', 'Hobart', 'Launceston', 'Darwin',
		'Canberra'];
	states constant text[] := ARRAY[
		'VIC', 'VIC', 'VIC', 'VIC', 'NSW', 'NSW', 'NSW', 'NSW', 'QLD', 'QLD',
		'QLD', 'WA', 'WA', 'SA', 'TAS', 'TAS', 'NT', 'ACT'];
	postcodes constant text[] := ARRAY[
		'30', '32', '33', '35', '20', '23', '25', '21', '40', '42', '48', '60',
		'61', '50', '70', '72', '08', '26'];
	sentences constant text[] := ARRAY[
		'Client attended with their mother and appeared anxious.',
		'Discussed current medication and reported side effects.',
		'Reports ongoing conflict with landlord over unpaid rent.',
		'Disclosed history of family violence; safety plan reviewed.',
		'Referred to GP for assessment of sleep difficulties.',
		'Client is on a mental health care plan (10 sessions).',
		'Missed last appointment; follow-up phone call made.',
		'Child protection worker contacted with client consent.',
		'Reports reduced alcohol use since last session.',
		'Working two casual jobs; finances are very tight.',
		'Court date set for next month; letter of support requested.',
		'Housing application lodged with the Department.',
		'Kessler K10 score 28, up from 22 at intake.',
		'Client prefers SMS reminders to the mobile on file.',
		'NDIS plan review due; supporting documents provided.',
		'Interpreter required (Vietnamese) for future sessions.'];
	groups constant text[] := ARRAY[
		'System Admin', 'External Admin', 'ACSO', 'Admin Exec',
		'Clinical Worker', 'Intake Mgmt', 'Volunteer', 'Supervisor',
		'Finance', 'Reception'];
	mime_types constant text[] := ARRAY[
		'application/pdf', 'image/jpeg', 'image/png',
		'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
		'text/plain'];
	extensions constant text[] := ARRAY['pdf', 'jpg', 'png', 'docx', 'txt'];
	doc_kinds constant text[] := ARRAY[
		'referral', 'consent_form', 'assessment', 'court_letter', 'id_scan',
		'gp_report', 'care_plan', 'invoice'];

	nf constant integer := cardinality(first_names);
	nl constant integer := cardinality(last_names);
	t record;
	fk_tables text[];
	fk_names name[];
	fk_defs text[];
	index_names text[];
	index_defs text[];
	ddl_no integer;
BEGIN
	IF scale IS NULL OR scale < 1 THEN
		RAISE EXCEPTION 'penelope.generate: scale must be a positive number of clients, not %', scale;
	END IF;

	/* Start from empty tables and fresh sequences. */
	PERFORM pg_catalog.lo_unlink(a.content_oid)
	FROM penelope.attachment AS a
	WHERE a.content_oid IS NOT NULL
		AND EXISTS (SELECT FROM pg_largeobject_metadata AS m WHERE m.oid = a.content_oid);
	EXECUTE (
		SELECT 'TRUNCATE ' || string_agg(format('penelope.%I', c.relname), ', ') || ' RESTART IDENTITY'
		FROM pg_class AS c
		WHERE c.relnamespace = 'penelope'::regnamespace AND c.relkind IN ('r', 'p'));

	/*
	 * Bulk-load the classic way: drop the foreign keys and the secondary
	 * indexes (remembering their definitions), load, then build the indexes
	 * in one sort each and validate each foreign key with one join, instead
	 * of a lookup per row.  All in this transaction: an error undoes it.
	 */
	SELECT array_agg(c.conrelid::regclass::text ORDER BY c.oid),
		array_agg(c.conname ORDER BY c.oid),
		array_agg(pg_get_constraintdef(c.oid) ORDER BY c.oid)
	INTO fk_tables, fk_names, fk_defs
	FROM pg_constraint AS c
	JOIN pg_class AS r ON r.oid = c.conrelid
	WHERE c.contype = 'f' AND r.relnamespace = 'penelope'::regnamespace;

	SELECT array_agg(i.indexrelid::regclass::text ORDER BY i.indexrelid),
		array_agg(pg_get_indexdef(i.indexrelid) ORDER BY i.indexrelid)
	INTO index_names, index_defs
	FROM pg_index AS i
	JOIN pg_class AS r ON r.oid = i.indrelid
	WHERE r.relnamespace = 'penelope'::regnamespace
		AND NOT EXISTS (SELECT FROM pg_constraint AS c WHERE c.conindid = i.indexrelid);

	FOR ddl_no IN 1 .. coalesce(cardinality(fk_names), 0) LOOP
		EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fk_tables[ddl_no], fk_names[ddl_no]);
	END LOOP;
	FOR ddl_no IN 1 .. coalesce(cardinality(index_names), 0) LOOP
		EXECUTE format('DROP INDEX %s', index_names[ddl_no]);
	END LOOP;

	/* Settings: a production copy, so every switch on, every secret set. */
	INSERT INTO penelope.agency_settings (id, agency_name, agency_logo,
		billing_documents_logo, sso_enabled, sso_provider_url, sso_client_id,
		sso_client_secret, gl_enabled, gl_export_url, gl_username, gl_password,
		updated_at)
	VALUES (1, 'Harbourside Family & Community Services',
		decode('89504e470d0a1a0a0000000d49484452' || repeat(md5('agency logo'), 64), 'hex'),
		decode('89504e470d0a1a0a0000000d49484452' || repeat(md5('billing logo'), 32), 'hex'),
		true, 'https://login.microsoftonline.com/harbourside.org.au/saml2',
		'penelope-prod-' || left(md5('sso client'), 12),
		'sso_' || md5('sso secret'),
		true, 'https://gl.harbourside.org.au/api/v2/journals', 'penelope-gl',
		'gl_' || md5('gl password'),
		t0);

	INSERT INTO penelope.comm_settings
	VALUES (1, true, true, true, 'https://api.smsbroadcast.com.au/api-adv.php',
		'smsk_live_' || md5('sms api key'), 'smtp.office365.com',
		'notifications@harbourside.org.au', 'smtp_' || md5('smtp password'));

	INSERT INTO penelope.exchange_settings
	VALUES (1, true, 'https://outlook.office365.com/EWS/Exchange.asmx',
		'svc-penelope@harbourside.org.au', 'ews_' || md5('exchange password'));

	INSERT INTO penelope.ors_settings
	VALUES (1, true, 'https://api.betteroutcomesnow.com/v3', 'harbourside',
		'ors_' || md5('ors password'));

	INSERT INTO penelope.credit_card_settings
	VALUES (1, true, 'production', 'MID-' || penelope.gen_digits(penelope.gen_hash(1, 900), 8),
		'sk_live_' || md5('card production key'),
		'MID-TEST-0001', 'sk_test_' || md5('card test key'));

	INSERT INTO penelope.dss_settings
	VALUES (1, true, 'https://dex.dss.gov.au/api/v1', 'ORG-' || penelope.gen_digits(penelope.gen_hash(1, 901), 6),
		'harbourside.dex', 'dex_' || md5('dss password'));

	INSERT INTO penelope.clientconnect_settings
	VALUES (1, true, true, 'https://harbourside.clientconnect.athenasoftware.net');

	INSERT INTO penelope.engage_settings
	VALUES (1, true, 'https://engage.bonterratech.com/api', 'eng_' || md5('engage key'));

	INSERT INTO penelope.engage_workflow (id, name, active)
	OVERRIDING SYSTEM VALUE
	VALUES (1, 'Appointment reminder (48h)', true),
		(2, 'Post-session feedback survey', true),
		(3, 'Missed appointment follow-up', true),
		(4, 'Intake welcome pack', true),
		(5, 'Annual consent renewal', true),
		(6, 'Birthday greeting', true);

	INSERT INTO penelope.action_trigger (id, name, event, enabled)
	OVERRIDING SYSTEM VALUE
	VALUES (1, 'Notify intake team of new referral', 'client.created', true),
		(2, 'Email supervisor on high K10 score', 'assessment.completed', true),
		(3, 'Send appointment confirmation', 'service_event.created', true),
		(4, 'Create task for closed case review', 'case.closed', true),
		(5, 'Alert on missed appointment', 'service_event.no_show', true),
		(6, 'Send invoice to funder', 'invoice.approved', true),
		(7, 'Notify worker of reassignment', 'case.reassigned', true),
		(8, 'Welcome SMS to new client', 'client.created', true);

	/* User groups, in the order of the groups array: ids 1 to 10. */
	INSERT INTO penelope.user_group (id, name, description)
	OVERRIDING SYSTEM VALUE
	SELECT g, groups[g], 'Penelope security group ' || groups[g]
	FROM generate_series(1, cardinality(groups)) AS g;

	/* Workers: 95% active; most use the agency domain, some a private one. */
	INSERT INTO penelope.worker (id, first_name, last_name, email, sms_number,
		login_name, password_hash, active, deactivated_at, created_at)
	OVERRIDING SYSTEM VALUE
	SELECT i, fn, ln,
		lower(replace(fn || '.' || ln, '''', '')) || i || '@'
			|| CASE WHEN h3 % 5 = 0 THEN domains[1 + h3 / 5 % cardinality(domains)]
				ELSE 'harbourside.org.au' END,
		CASE WHEN h4 % 10 <> 0 THEN penelope.gen_mobile(h4) END,
		lower(left(fn, 1) || replace(ln, '''', '')) || i,
		'$2b$12$' || md5('worker password ' || i),
		h5 % 20 <> 0,
		CASE WHEN h5 % 20 = 0 THEN t0 - (h5 / 20 % 700) * interval '1 day' END,
		t0 - (700 + h5 % 3000) * interval '1 day'
	FROM (
		SELECT i, first_names[1 + penelope.gen_hash(i, 1) % nf] AS fn,
			last_names[1 + penelope.gen_hash(i, 2) % nl] AS ln,
			penelope.gen_hash(i, 3) AS h3, penelope.gen_hash(i, 4) AS h4,
			penelope.gen_hash(i, 5) AS h5
		FROM generate_series(1, n_worker) AS i
		OFFSET 0
	) AS s;

	/*
	 * Group membership.  Workers 1-10 are one in each group; workers 11-16
	 * carry fixed pairs that matter for sanitization (an exempt group plus a
	 * group that is de-identified or deactivated); every other worker gets a
	 * weighted primary group and one in eight a second, different group.
	 */
	INSERT INTO penelope.worker_user_group (worker_id, user_group_id)
	SELECT w, g
	FROM (
		SELECT w, CASE
				WHEN w <= 10 THEN w
				WHEN w <= 16 THEN (ARRAY[1, 2, 3, 1, 8, 9])[w - 10]
				ELSE (ARRAY[5, 5, 5, 5, 5, 5, 5, 4, 4, 6, 6, 7, 7, 7, 8, 10, 10, 9, 3, 1])
					[1 + penelope.gen_hash(w, 6) % 20]
			END AS g1,
			CASE
				WHEN w <= 10 THEN NULL
				WHEN w <= 16 THEN (ARRAY[5, 6, 7, 4, 5, 10])[w - 10]
				WHEN penelope.gen_hash(w, 7) % 8 = 0 THEN 0  -- resolved below
			END AS g2
		FROM generate_series(1, n_worker) AS w
		OFFSET 0
	) AS s,
	LATERAL (VALUES (g1),
		(CASE WHEN g2 = 0 THEN 1 + (g1 + penelope.gen_hash(w, 8) % 9) % 10 ELSE g2 END)
	) AS m (g)
	WHERE g IS NOT NULL;

	/* Clients: the bulk of the PHI. */
	INSERT INTO penelope.client (id, first_name, last_name, preferred_name,
		birth_date, gender, address_line1, address_line2, city, state,
		postcode, email, mobile_phone, home_phone, ssn, medicare_number, notes,
		created_at)
	OVERRIDING SYSTEM VALUE
	SELECT i, fn, ln,
		CASE WHEN h3 % 5 = 0 THEN first_names[1 + h3 / 5 % nf] END,
		date '1930-01-01' + (h4 % 31411)::integer,
		CASE WHEN h5 % 20 < 9 THEN 'Female' WHEN h5 % 20 < 17 THEN 'Male'
			WHEN h5 % 20 = 17 THEN 'Non-binary' WHEN h5 % 20 = 18 THEN 'Prefer not to say' END,
		(1 + h6 % 240) || ' ' || streets[1 + h6 / 240 % cardinality(streets)] || ' '
			|| street_types[1 + h6 / 6000 % cardinality(street_types)],
		CASE h7 % 8 WHEN 0 THEN 'Unit ' || (1 + h7 / 8 % 40)
			WHEN 1 THEN 'Apartment ' || (100 + h7 / 8 % 1900)
			WHEN 2 THEN 'PO Box ' || (1 + h7 / 8 % 9000) END,
		cities[1 + h8 % cardinality(cities)],
		states[1 + h8 % cardinality(cities)],
		postcodes[1 + h8 % cardinality(cities)] || penelope.gen_digits(h8 / 100, 2),
		CASE WHEN h9 % 10 <> 0 THEN
			lower(replace(fn || CASE h9 % 3 WHEN 0 THEN '.' WHEN 1 THEN '_' ELSE '' END || ln, '''', ''))
			|| i || '@' || domains[1 + h9 / 10 % cardinality(domains)] END,
		CASE WHEN h10 % 12 <> 0 THEN penelope.gen_mobile(h10) END,
		CASE WHEN h11 % 2 = 0 THEN penelope.gen_landline(h11 / 2) END,
		CASE WHEN h12 % 7 <> 0 THEN penelope.gen_digits(h12, 3) || '-'
			|| penelope.gen_digits(h12 / 1000, 2) || '-' || penelope.gen_digits(h12 / 100000, 4) END,
		CASE WHEN h13 % 5 <> 0 THEN (2 + h13 / 5 % 4) || penelope.gen_digits(h13 / 20, 3) || ' '
			|| penelope.gen_digits(h13 / 20000, 5) || ' ' || (1 + h13 / 20 % 9) END,
		CASE WHEN h14 % 3 <> 0 THEN fn || ' ' || ln || ', born '
			|| to_char(date '1930-01-01' + (h4 % 31411)::integer, 'DD/MM/YYYY') || '. '
			|| sentences[1 + h14 % cardinality(sentences)] || ' '
			|| sentences[1 + h14 / 16 % cardinality(sentences)] END,
		t0 - (h15 % 5000) * interval '1 day' - (h15 / 5000 % 86400) * interval '1 second'
	FROM (
		SELECT i, first_names[1 + penelope.gen_hash(i, 11) % nf] AS fn,
			last_names[1 + penelope.gen_hash(i, 12) % nl] AS ln,
			penelope.gen_hash(i, 13) AS h3, penelope.gen_hash(i, 14) AS h4,
			penelope.gen_hash(i, 15) AS h5, penelope.gen_hash(i, 16) AS h6,
			penelope.gen_hash(i, 17) AS h7, penelope.gen_hash(i, 18) AS h8,
			penelope.gen_hash(i, 19) AS h9, penelope.gen_hash(i, 20) AS h10,
			penelope.gen_hash(i, 21) AS h11, penelope.gen_hash(i, 22) AS h12,
			penelope.gen_hash(i, 23) AS h13, penelope.gen_hash(i, 24) AS h14,
			penelope.gen_hash(i, 25) AS h15
		FROM generate_series(1, scale) AS i
		OFFSET 0
	) AS s;

	/* Extra contacts: work and private emails, emergency contacts' phones. */
	INSERT INTO penelope.client_contact (id, client_id, label, email, phone)
	OVERRIDING SYSTEM VALUE
	SELECT j, 1 + h1 % scale,
		(ARRAY['Work', 'Personal', 'Emergency contact', 'Partner', 'Parent'])[1 + h2 % 5],
		CASE WHEN h2 % 3 <> 2 THEN lower(replace(first_names[1 + h3 % nf] || '.'
			|| last_names[1 + h3 / 100 % nl], '''', '')) || j || '@'
			|| domains[1 + h3 / 10000 % cardinality(domains)] END,
		CASE WHEN h2 % 3 <> 0 THEN
			CASE WHEN h4 % 3 = 0 THEN penelope.gen_landline(h4 / 3) ELSE penelope.gen_mobile(h4 / 3) END END
	FROM (
		SELECT j, penelope.gen_hash(j, 31) AS h1, penelope.gen_hash(j, 32) AS h2,
			penelope.gen_hash(j, 33) AS h3, penelope.gen_hash(j, 34) AS h4
		FROM generate_series(1, n_contact) AS j
		OFFSET 0
	) AS s;

	/* Case notes. */
	INSERT INTO penelope.client_note (id, client_id, worker_id, written_at, body)
	OVERRIDING SYSTEM VALUE
	SELECT j, 1 + (j - 1) % scale, 1 + h1 % n_worker,
		t0 - (h2 % 2000) * interval '1 day' - (h2 / 2000 % 36000) * interval '1 second',
		'Session with ' || first_names[1 + h3 % nf] || '. '
			|| sentences[1 + h3 / 100 % cardinality(sentences)] || ' '
			|| sentences[1 + h3 / 10000 % cardinality(sentences)]
			|| CASE WHEN h1 % 4 = 0 THEN ' Contact on ' || penelope.gen_mobile(h2) || '.' ELSE '' END
	FROM (
		SELECT j, penelope.gen_hash(j, 41) AS h1, penelope.gen_hash(j, 42) AS h2,
			penelope.gen_hash(j, 43) AS h3
		FROM generate_series(1, n_note) AS j
		OFFSET 0
	) AS s;

	/* Service events; three in ten are synchronized with MS Exchange. */
	INSERT INTO penelope.service_event (id, client_id, worker_id, starts_at,
		ends_at, exchange_sync, exchange_item_id, notes)
	OVERRIDING SYSTEM VALUE
	SELECT j, 1 + h1 % scale, 1 + h2 % n_worker, st,
		st + (30 * (1 + h3 % 4)) * interval '1 minute',
		h3 / 4 % 10 < 3,
		CASE WHEN h3 / 4 % 10 < 3 THEN 'AAMkAG' || md5('exchange item ' || j) END,
		CASE WHEN h2 % 2 = 0 THEN sentences[1 + h2 / 2 % cardinality(sentences)] END
	FROM (
		SELECT j, h1, h2, h3,
			-- Weekdays (t0 is a Friday: skip 5 and 6 days back of every
			-- week) over four years, 08:00 to 17:30 in half hours.
			date_trunc('day', t0) - (h1 % 1040 / 5 * 7 + h1 % 1040 % 5) * interval '1 day'
				+ (h1 / 1460 % 20) * interval '30 minutes' + interval '8 hours' AS st
		FROM (
			SELECT j, penelope.gen_hash(j, 51) AS h1, penelope.gen_hash(j, 52) AS h2,
				penelope.gen_hash(j, 53) AS h3
			FROM generate_series(1, n_event) AS j
			OFFSET 0
		) AS hs
		OFFSET 0
	) AS s;

	/*
	 * Attachments: every 20th is stored as a large object (at most n_lo of
	 * them), the rest inline; one in ten belongs to the agency, not a client.
	 */
	INSERT INTO penelope.attachment (id, client_id, uploaded_by, file_name,
		mime_type, content, content_oid, uploaded_at)
	OVERRIDING SYSTEM VALUE
	SELECT j,
		CASE WHEN h1 % 10 <> 0 THEN 1 + h1 / 10 % scale END,
		1 + h2 % n_worker,
		doc_kinds[1 + h3 % cardinality(doc_kinds)] || '_' || j || '.'
			|| extensions[1 + h3 / 8 % cardinality(extensions)],
		mime_types[1 + h3 / 8 % cardinality(mime_types)],
		CASE WHEN NOT is_lo THEN body END,
		CASE WHEN is_lo THEN pg_catalog.lo_from_bytea(0, body) END,
		t0 - (h2 % 3000) * interval '1 day'
	FROM (
		SELECT j, h1, h2, h3,
			j % 20 = 0 AND j / 20 <= n_lo AS is_lo,
			CASE WHEN j % 20 = 0 AND j / 20 <= n_lo
				-- large objects: 1 to 4 kB
				THEN decode('255044462d312e340a' || repeat(md5('attachment ' || j), (64 + h3 % 192)::integer), 'hex')
				-- inline: 32 to 256 bytes
				ELSE decode('255044462d312e340a' || repeat(md5('attachment ' || j), (2 + h3 % 15)::integer), 'hex')
			END AS body
		FROM (
			SELECT j, penelope.gen_hash(j, 61) AS h1, penelope.gen_hash(j, 62) AS h2,
				penelope.gen_hash(j, 63) AS h3
			FROM generate_series(1, n_attach) AS j
			OFFSET 0
		) AS hs
		OFFSET 0
	) AS s;

	/* Communications queue: to clients, external contacts and workers. */
	INSERT INTO penelope.comm_queue (id, client_id, worker_id, audience,
		channel, recipient, subject, body, status, created_at, sent_at)
	OVERRIDING SYSTEM VALUE
	SELECT s.j,
		CASE WHEN s.audience <> 'worker' THEN c.id END,
		CASE WHEN s.audience = 'worker' THEN w.id END,
		s.audience, s.channel,
		CASE
			WHEN s.audience = 'worker' AND s.channel = 'email' THEN w.email
			WHEN s.audience = 'worker' THEN coalesce(w.sms_number, penelope.gen_mobile(s.h3))
			WHEN s.audience = 'external' AND s.channel = 'email'
				THEN 'intake' || s.j || '@' || (ARRAY['health.vic.gov.au', 'dcj.nsw.gov.au',
					'ndis.gov.au', 'medibank.com.au'])[1 + s.h3 % 4]
			WHEN s.audience = 'external' THEN penelope.gen_landline(s.h3)
			WHEN s.channel = 'email' THEN coalesce(c.email, 'client' || c.id || '@gmail.com')
			ELSE coalesce(c.mobile_phone, penelope.gen_mobile(s.h3))
		END,
		CASE WHEN s.channel = 'email' THEN
			(ARRAY['Appointment reminder', 'Your invoice', 'Referral update', 'Session summary'])[1 + s.h3 % 4] END,
		CASE s.audience
			WHEN 'client' THEN 'Hi ' || c.first_name || ', this is a reminder of your appointment on '
				|| to_char(t0 + (1 + s.h3 % 14) * interval '1 day', 'DD/MM/YYYY') || '. Reply Y to confirm.'
			WHEN 'external' THEN 'Referral update for ' || c.first_name || ' ' || c.last_name
				|| ' (DOB ' || to_char(c.birth_date, 'DD/MM/YYYY') || ').'
			ELSE 'You have a new case allocated: ' || c.first_name || ' ' || c.last_name || '.'
		END,
		CASE WHEN s.h4 % 10 < 6 THEN 'pending' WHEN s.h4 % 10 < 9 THEN 'sent' ELSE 'failed' END,
		t0 - (s.h4 / 10 % 72) * interval '1 hour',
		CASE WHEN s.h4 % 10 BETWEEN 6 AND 8 THEN t0 - (s.h4 / 10 % 72) * interval '1 hour' + interval '1 minute' END
	FROM (
		SELECT j, h1, h3, h4,
			CASE WHEN h2 % 20 < 12 THEN 'client' WHEN h2 % 20 < 17 THEN 'external' ELSE 'worker' END AS audience,
			CASE WHEN h2 / 20 % 2 = 0 THEN 'sms' ELSE 'email' END AS channel
		FROM (
			SELECT j, penelope.gen_hash(j, 71) AS h1, penelope.gen_hash(j, 72) AS h2,
				penelope.gen_hash(j, 73) AS h3, penelope.gen_hash(j, 74) AS h4
			FROM generate_series(1, n_comm) AS j
			OFFSET 0
		) AS hs
		OFFSET 0
	) AS s
	JOIN penelope.client AS c ON c.id = 1 + s.h1 % scale
	JOIN penelope.worker AS w ON w.id = 1 + s.h1 % n_worker;

	/* MS Exchange queue and error queue. */
	INSERT INTO penelope.exchange_queue (id, service_event_id, operation, queued_at)
	OVERRIDING SYSTEM VALUE
	SELECT j, 1 + penelope.gen_hash(j, 81) % n_event,
		(ARRAY['create', 'update', 'delete'])[1 + penelope.gen_hash(j, 82) % 3],
		t0 - (penelope.gen_hash(j, 83) % 3600) * interval '1 second'
	FROM generate_series(1, n_exch) AS j;

	INSERT INTO penelope.exchange_error_queue (id, service_event_id, operation,
		error_message, attempts, failed_at)
	OVERRIDING SYSTEM VALUE
	SELECT j, 1 + penelope.gen_hash(j, 84) % n_event,
		(ARRAY['create', 'update', 'delete'])[1 + penelope.gen_hash(j, 85) % 3],
		(ARRAY['ErrorItemNotFound: The specified object was not found in the store.',
			'ErrorAccessDenied: Access is denied. Check credentials and try again.',
			'ErrorServerBusy: The server cannot service this request right now.',
			'ErrorCalendarConflict: An appointment already exists at this time.'])
			[1 + penelope.gen_hash(j, 86) % 4],
		1 + penelope.gen_hash(j, 86) / 4 % 5,
		t0 - (penelope.gen_hash(j, 87) % 604800) * interval '1 second'
	FROM generate_series(1, n_exch_err) AS j;

	/* Action Trigger queue. */
	INSERT INTO penelope.action_trigger_queue (id, action_trigger_id, client_id,
		payload, queued_at)
	OVERRIDING SYSTEM VALUE
	SELECT j, 1 + h1 % 8, 1 + h2 % scale,
		'{"client_id": ' || (1 + h2 % scale) || ', "trigger": ' || (1 + h1 % 8) || '}',
		t0 - (h1 / 8 % 86400) * interval '1 second'
	FROM (
		SELECT j, penelope.gen_hash(j, 91) AS h1, penelope.gen_hash(j, 92) AS h2
		FROM generate_series(1, n_trigger_q) AS j
		OFFSET 0
	) AS s;

	/* DSS production queue. */
	INSERT INTO penelope.dss_queue (id, client_id, service_event_id, payload,
		status, queued_at)
	OVERRIDING SYSTEM VALUE
	SELECT j, 1 + h1 % scale,
		CASE WHEN h2 % 4 <> 0 THEN 1 + h2 / 4 % n_event END,
		'<Client><ClientId>' || (1 + h1 % scale) || '</ClientId><Slk>'
			|| upper(substr(md5('slk ' || (1 + h1 % scale)), 1, 14)) || '</Slk></Client>',
		CASE WHEN h2 / 4 % 10 < 8 THEN 'pending' ELSE 'failed' END,
		t0 - (h1 / 8 % 2592000) * interval '1 second'
	FROM (
		SELECT j, penelope.gen_hash(j, 101) AS h1, penelope.gen_hash(j, 102) AS h2
		FROM generate_series(1, n_dss) AS j
		OFFSET 0
	) AS s;

	/*
	 * ClientConnect accounts: the j-th account belongs to one client of the
	 * j-th block of scale / n_cc clients, so no client has two.
	 */
	INSERT INTO penelope.clientconnect_account (id, client_id, login_email,
		password_hash, created_at, last_login_at)
	OVERRIDING SYSTEM VALUE
	SELECT s.j, c.id, coalesce(c.email, 'client' || c.id || '@clientconnect.invalid'),
		'$2b$12$' || md5('portal password ' || s.j),
		t0 - (s.h % 1500) * interval '1 day',
		CASE WHEN s.h % 3 <> 0 THEN t0 - (s.h / 3 % 90) * interval '1 day' END
	FROM (
		SELECT j, penelope.gen_hash(j, 111) AS h
		FROM generate_series(1, n_cc) AS j
		OFFSET 0
	) AS s
	JOIN penelope.client AS c
		ON c.id = (s.j - 1) * (scale / n_cc) + 1 + s.h % (scale / n_cc);

	/* Product keys: one redeemed per account, and some spare ones. */
	INSERT INTO penelope.clientconnect_product_key (id, product_key, account_id,
		issued_at, redeemed_at)
	OVERRIDING SYSTEM VALUE
	SELECT j,
		upper(substr(k, 1, 5) || '-' || substr(k, 6, 5) || '-' || substr(k, 11, 5)
			|| '-' || substr(k, 16, 5) || '-' || substr(k, 21, 5)),
		CASE WHEN j <= n_cc THEN j END,
		t0 - (1500 + j % 200) * interval '1 day',
		CASE WHEN j <= n_cc THEN t0 - (1400 - j % 1000) * interval '1 day' END
	FROM (
		SELECT j, md5('product key ' || j) AS k
		FROM generate_series(1, n_key) AS j
		OFFSET 0
	) AS s;

	/* Put the indexes and the foreign keys back (validating the data). */
	FOR ddl_no IN 1 .. coalesce(cardinality(index_defs), 0) LOOP
		EXECUTE index_defs[ddl_no];
	END LOOP;
	FOR ddl_no IN 1 .. coalesce(cardinality(fk_names), 0) LOOP
		EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', fk_tables[ddl_no], fk_names[ddl_no], fk_defs[ddl_no]);
	END LOOP;

	/* Move every identity sequence past the explicit ids. */
	FOR t IN
		SELECT c.relname, a.attname
		FROM pg_class AS c
		JOIN pg_attribute AS a ON a.attrelid = c.oid
		WHERE c.relnamespace = 'penelope'::regnamespace AND c.relkind = 'r'
			AND a.attidentity <> ''
	LOOP
		EXECUTE format('SELECT setval(pg_get_serial_sequence(%L, %L), coalesce(max(%I), 0) + 1, false) FROM penelope.%I',
			'penelope.' || quote_ident(t.relname), t.attname, t.attname, t.relname);
	END LOOP;

	/* Give the planner statistics, and report what is there. */
	FOR t IN
		SELECT c.relname
		FROM pg_class AS c
		WHERE c.relnamespace = 'penelope'::regnamespace AND c.relkind = 'r'
		ORDER BY c.relname
	LOOP
		EXECUTE format('ANALYZE penelope.%I', t.relname);
		table_name := t.relname;
		EXECUTE format('SELECT count(*) FROM penelope.%I', t.relname) INTO row_count;
		RETURN NEXT;
	END LOOP;
END;
$fn$;

COMMENT ON FUNCTION penelope.generate(integer) IS
	'Empty the penelope tables and fill them deterministically for scale clients';
