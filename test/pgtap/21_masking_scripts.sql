-- 21_masking_scripts.sql: the Penelope training profile over clients and
-- workers whose names, addresses and identifiers are written in other
-- scripts (issue 8, class 9).  After sanitize('training_a') no masked
-- column holds a letter or digit of the original that is not ASCII, in
-- place or anywhere; sandbox_verify's recognisers refuse the originals.
BEGIN;
SELECT plan(13);


\ir penelope_setup.psql

-- The characters of a value that are not ASCII, in order, but for the
-- one separator of the data below that is not ASCII (U+FF0D, a fullwidth
-- hyphen), which the maskers keep in place like any punctuation.
CREATE FUNCTION pg_temp.foreign_chars(t text) RETURNS text LANGUAGE sql IMMUTABLE
AS $$ SELECT regexp_replace(t, '[\x01-\x7f－]', '', 'g') $$;

-- Eight clients and two workers of other scripts.
CREATE TEMP TABLE intl (n int, first_name text, last_name text, line2 text, city text, postcode text,
	ssn text, medicare text, phone text, notes text);
INSERT INTO intl VALUES
	(1, 'Ελένη', 'Παπαδοπούλου', 'Διαμέρισμα 4', 'Αθήνα', 'ΤΚ 105 57', '１２３-４５-６７８９', 'Α 2951 48102 1',
		'+61 ４１２ ３４５ ６７８', 'Η Ελένη έπεσε στο σπίτι.'),
	(2, '太郎', '山田', '三階', '東京都千代田区', '１００－０００１', '٠١٢-٣٤-٥٦٧٨', '２９５１ ４８１０２ １',
		'٠٤١٢ ٣٤٥ ٦٧٨', '患者は自宅で転倒した。'),
	(3, 'Łukasz', 'Brzęczyszczykiewicz', 'Mieszkanie 7', 'Łódź', '90-001', '987-65-4321', 'PL 1234 56789 0',
		'0412 345 678', 'Łukasz upadł w domu.'),
	(4, 'Мария', 'Иванова', 'Квартира 12', 'Москва', '101000', '१२३-४५-६७८९', 'МС 2951 48102 1',
		'+7 ４９５ １２３ ４５ ６７', 'Мария упала дома.'),
	(5, E'Jose\u0301', E'Garci\u0301a', E'Piso 3\u00ba', E'Mo\u0301stoles', E'28\u00b9\u00b2\u00b3', 'ＸＹ１２３４５６', E'12\u20e3',
		'(२१२) ७३६-५०००', E'Jose\u0301 se cayo\u0301 en casa.'),
	(6, 'Zoë', 'Ærø-Ñandú', 'Étage ½', 'Zürich', 'CH-8001', 'ÅÄÖ 123', 'ß 9876',
		'Ελένη 0412 345 678', 'Zoë est tombée.'),
	(7, 'अमित', 'शर्मा', 'फ़्लैट ५', 'दिल्ली', '११०००१', '१२३४ ५६७८ ९०१२', 'म ४५६',
		'०४१२ ३४५ ६७८', 'अमित घर पर गिर गए।'),
	(8, 'أحمد', 'الهاشمي', 'شقة ٣', 'عمّان', '١١١٨١', '٩٨٧-٦٥-٤٣٢١', 'ع ٢٩٥١',
		'+٦١ ٤١٢ ٣٤٥ ٦٧٨', 'سقط أحمد في المنزل.');
UPDATE penelope.client c SET first_name = i.first_name, last_name = i.last_name, preferred_name = i.first_name,
	address_line1 = i.line2 || ', ' || i.city, address_line2 = i.line2, city = i.city, postcode = i.postcode,
	ssn = i.ssn, medicare_number = i.medicare, mobile_phone = i.phone, home_phone = i.phone, notes = i.notes
FROM intl i WHERE c.id = (SELECT id FROM penelope.client ORDER BY id OFFSET i.n - 1 LIMIT 1);
UPDATE penelope.worker w SET first_name = v.f, last_name = v.l, login_name = v.login
FROM (VALUES (1, 'Ελένη', 'Παπαδοπούλου', 'ελένη.π'), (2, '太郎', '山田', '山田太郎')) v (n, f, l, login)
WHERE w.id = (SELECT id FROM penelope.worker ORDER BY id OFFSET v.n - 1 LIMIT 1);

CREATE TEMP TABLE intl_before AS
SELECT i.n, c.* FROM penelope.client c JOIN intl i ON c.first_name = i.first_name;
CREATE TEMP TABLE intl_worker_before AS
SELECT w.* FROM penelope.worker w WHERE login_name IN ('ελένη.π', '山田太郎');

SELECT is((SELECT count(*) FROM intl_before), 8::bigint, 'eight clients of other scripts');

-- the recognisers refuse the originals before the run
SELECT is((SELECT count(*) FROM intl_before,
			LATERAL (VALUES (city), (postcode), (address_line2), (ssn), (medicare_number)) AS v (x)
		WHERE pg_temp.foreign_chars(v.x) <> '' AND sandbox.is_masked_id(v.x)), 0::bigint,
	'is_masked_id refuses every original city, postcode, address line 2, SSN and Medicare number not in ASCII');
SELECT is((SELECT count(*) FROM intl_before WHERE sandbox.is_masked_phone(mobile_phone) AND n <> 3), 0::bigint,
	'is_masked_phone refuses every original phone number');

SELECT lives_ok($$SELECT sandbox_sanitize('training_a')$$, 'sanitize as training_a');
SELECT is((SELECT count(*) FROM sandbox_verify('training_a') WHERE NOT ok), 0::bigint,
	'training_a: sandbox_verify is all ok');

-- after the run: by primary key, nothing of the original scripts is left
CREATE TEMP VIEW intl_after AS
SELECT b.id, b AS before, c AS after FROM intl_before b JOIN penelope.client c USING (id);

SELECT is((SELECT count(*) FROM intl_after
		WHERE pg_temp.foreign_chars((after).city || (after).postcode || (after).address_line2
			|| (after).ssn || (after).medicare_number) <> ''), 0::bigint,
	'city, postcode, address line 2, SSN and Medicare number: ASCII only after the run');
SELECT is((SELECT count(*) FROM intl_after, LATERAL (VALUES
			((before).city, (after).city), ((before).postcode, (after).postcode),
			((before).address_line2, (after).address_line2), ((before).ssn, (after).ssn),
			((before).medicare_number, (after).medicare_number)) AS v (b, a),
		LATERAL regexp_split_to_table(pg_temp.foreign_chars(v.b), '') ch
		WHERE ch <> '' AND position(ch IN v.a) > 0), 0::bigint,
	'no letter or digit of the original script survives anywhere in those columns');
SELECT is((SELECT count(*) FROM intl_after
		WHERE length((after).ssn) > length((before).ssn) OR (after).ssn !~ '^[A-Za-z0-9 -]*$'), 0::bigint,
	'SSNs keep their shape, in ASCII letters and digits');
SELECT is((SELECT count(DISTINCT (after).ssn) FROM intl_after WHERE (before).n IN (1, 4)), 1::bigint,
	'an SSN in fullwidth digits and the same SSN in Devanagari digits get one pseudonym');
SELECT is((SELECT count(*) FROM intl_after
		WHERE pg_temp.foreign_chars((after).first_name || (after).last_name || (after).preferred_name
			|| (after).address_line1 || (after).notes || (after).mobile_phone || (after).home_phone) <> ''), 0::bigint,
	'names, address line 1, notes and phones: ASCII only after the run');
SELECT is((SELECT count(*) FROM intl_after
		WHERE NOT sandbox.is_masked_phone((after).mobile_phone) OR (after).mobile_phone ~ '[^0-9 ()+xX-]'), 0::bigint,
	'phones in fullwidth, Arabic-Indic and Devanagari digits land in ASCII digits');
SELECT is((SELECT count(*) FROM penelope.worker w JOIN intl_worker_before b USING (id)
		WHERE pg_temp.foreign_chars(w.first_name || w.last_name) <> ''), 0::bigint,
	'workers: names in other scripts are ASCII after the run (training keeps login names, so workers can sign in)');
SELECT is((SELECT count(DISTINCT login_name) FROM penelope.worker), (SELECT count(*) FROM penelope.worker),
	'worker login names stay unique');

SELECT * FROM finish();
ROLLBACK;
