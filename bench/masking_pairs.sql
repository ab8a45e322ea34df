-- bench/masking_pairs.sql: each masker against its recogniser, and
-- mask_text per byte against md5 per byte.
--
-- Verification runs a rule's recogniser over every row the rule wrote, so
-- a recogniser must cost less than its masker.  Each masker is timed over
-- the original column, its recogniser over the masked column (what verify
-- reads), both as "SELECT count(f(col))" minus a bare "SELECT count(col)"
-- of the same column, median of 3 after a warm-up.  Two non-Latin columns
-- (identifiers in Greek, Cyrillic, Polish and CJK, phone numbers in
-- fullwidth and Arabic-Indic digits) time the non-ASCII paths.
--
-- Then 7 KB notes, TOASTed and compressed as real notes are: the cost
-- per byte of mask_text and is_masked_text and of md5, above detoasting
-- (a bare "count(octet_length(note || ''))"), in ns per byte.
\pset footer off
SELECT count(*) AS rows FROM people \gset

-- Median over 7 rounds of time(stmt) - time(base), after one warm-up round.
CREATE FUNCTION pg_temp.bench_diff(stmt text, base text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
	d float8[] := '{}';
BEGIN
	PERFORM bench_time(stmt);
	PERFORM bench_time(base);
	FOR i IN 1..7 LOOP
		d := d || (bench_time(stmt) - bench_time(base));
	END LOOP;
	RETURN (SELECT x FROM unnest(d) x ORDER BY x OFFSET 3 LIMIT 1);
END $$;

CREATE TEMP TABLE intl AS
SELECT g AS id,
	(ARRAY['Ελένη-', 'Łódź ', 'Москва ', '山田太郎', 'Zoë '])[g % 5 + 1] || (g % 10000) AS ident,
	(ARRAY['+61 ４１２ ３４５ ', '٠٤١٢ ٣٤٥ ', '(212) 736-'])[g % 3 + 1] || lpad((g % 1000)::text, 3, '0') AS phone
FROM generate_series(1, :rows) g;

CREATE TEMP TABLE masked AS
SELECT p.id, sandbox.mask_email(email) AS email, sandbox.mask_phone(p.phone) AS phone,
	sandbox.mask_first_name(first_name) AS first_name, sandbox.mask_last_name(last_name) AS last_name,
	sandbox.mask_full_name(first_name || ' ' || last_name) AS full_name,
	sandbox.mask_id(ssn) AS ssn, sandbox.mask_date(born) AS born,
	sandbox.mask_address(address) AS address, sandbox.mask_text(notes) AS notes,
	sandbox.mask_id(i.ident) AS ident, sandbox.mask_phone(i.phone) AS intl_phone
FROM people p JOIN intl i USING (id);
VACUUM ANALYZE masked;

CREATE TEMP TABLE pairs (n int, masker text, recogniser text, src text, col text, mcol text);
INSERT INTO pairs VALUES
	(1, 'mask_email', 'is_masked_email', 'people', 'email', 'email'),
	(2, 'mask_phone', 'is_masked_phone', 'people', 'phone', 'phone'),
	(3, 'mask_phone', 'is_masked_phone', 'intl', 'phone', 'intl_phone'),
	(4, 'mask_first_name', 'is_masked_first_name', 'people', 'first_name', 'first_name'),
	(5, 'mask_last_name', 'is_masked_last_name', 'people', 'last_name', 'last_name'),
	(6, 'mask_full_name', 'is_masked_full_name', 'people', $$first_name || ' ' || last_name$$, 'full_name'),
	(7, 'mask_id', 'is_masked_id', 'people', 'ssn', 'ssn'),
	(8, 'mask_id', 'is_masked_id', 'intl', 'ident', 'ident'),
	(9, 'mask_date', 'is_masked_date', 'people', 'born', 'born'),
	(10, 'mask_address', 'is_masked_address', 'people', 'address', 'address'),
	(11, 'mask_text', 'is_masked_text', 'people', 'notes', 'notes');

CREATE TEMP TABLE pair_times AS
SELECT n, masker, recogniser, col,
	pg_temp.bench_diff(format('SELECT count(sandbox.%s(%s)) FROM %s', masker, col, src),
		format('SELECT count(%s) FROM %s', col, src)) AS masker_secs,
	pg_temp.bench_diff(format('SELECT count(sandbox.%s(%s)) FROM masked', recogniser, mcol),
		format('SELECT count(%s) FROM masked', mcol)) AS recogniser_secs
FROM pairs ORDER BY n;

SELECT masker || '(' || col || ')' AS "masker (column)",
	round((1e9 * masker_secs / :rows)::numeric) AS "masker ns/value",
	recogniser,
	round((1e9 * recogniser_secs / :rows)::numeric) AS "recogniser ns/value",
	round((recogniser_secs / nullif(masker_secs, 0))::numeric, 2) AS "recogniser/masker"
FROM pair_times ORDER BY n;

-- ---- mask_text on 7 KB notes ----
SELECT setseed(0.42);
CREATE TEMP TABLE notes AS
SELECT g AS id, string_agg(w, ' ') AS note
FROM generate_series(1, 4000) g,
	LATERAL (SELECT (ARRAY['patient', 'reports', 'pain', 'in', 'the', 'left', 'knee', 'after', 'a',
		'fall', 'at', 'home', 'daughter', 'visited', 'on', 'Tuesday', 'and', 'says', 'she',
		'is', 'eating', 'well', 'referred', 'to', 'physiotherapy', 'by', 'Dr', 'Smith.',
		'Medication', 'reviewed;', 'no', 'change.', 'Next', 'visit', '12/03,', 'phone', '0412', '345', '678.'])
		[1 + floor(random() * 39)::int + 0 * g] AS w
		FROM generate_series(1, 1160)) words
GROUP BY g;
VACUUM ANALYZE notes;
SELECT round(avg(octet_length(note))) AS note_bytes, sum(octet_length(note)) AS total_bytes,
	pg_size_pretty(pg_total_relation_size('notes')) AS on_disk
FROM notes \gset
SELECT :note_bytes AS "bytes per note", :total_bytes AS "bytes in all", :'on_disk' AS "on disk (TOASTed)";

CREATE TEMP TABLE masked_notes AS SELECT id, sandbox.mask_text(note) AS note FROM notes;
VACUUM ANALYZE masked_notes;

CREATE TEMP TABLE text_times AS
SELECT pg_temp.bench_diff('SELECT count(md5(note)) FROM notes', $$SELECT count(octet_length(note || '')) FROM notes$$) AS md5,
	pg_temp.bench_diff('SELECT count(sandbox.mask_text(note)) FROM notes', $$SELECT count(octet_length(note || '')) FROM notes$$) AS mask_text,
	pg_temp.bench_diff('SELECT count(sandbox.is_masked_text(note)) FROM masked_notes',
		$$SELECT count(octet_length(note || '')) FROM masked_notes$$) AS is_masked_text;

SELECT round((1e9 * md5 / :total_bytes)::numeric, 2) AS "md5 ns/byte",
	round((1e9 * mask_text / :total_bytes)::numeric, 2) AS "mask_text ns/byte",
	round((mask_text / md5)::numeric, 2) AS "mask_text / md5",
	round((1e9 * is_masked_text / :total_bytes)::numeric, 2) AS "is_masked_text ns/byte",
	round((1e6 * mask_text / 4000)::numeric, 1) AS "mask_text µs/note"
FROM text_times;
