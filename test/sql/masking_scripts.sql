--
-- masking_scripts: no masker leaves a letter or digit of any script as it
-- was, and no recogniser accepts what its masker never writes (issue 8,
-- class 9).  Greek, CJK, Polish and Latin-1 accents, Cyrillic, Devanagari,
-- fullwidth and Arabic-Indic digits, combining marks; in UTF8, LATIN1,
-- EUC_JP and SQL_ASCII databases.
--
\set VERBOSITY terse
SET client_min_messages = warning;
SELECT NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'penelope_sandbox') AS ps_created \gset
CREATE EXTENSION IF NOT EXISTS penelope_sandbox;
RESET client_min_messages;
SELECT current_database() AS ps_db \gset
SET penelope_sandbox.secret = 'regression passphrase, not a real one';

-- The characters of a value that are not ASCII, in order.
CREATE FUNCTION pg_temp.foreign_chars(t text) RETURNS text LANGUAGE sql IMMUTABLE
AS $$ SELECT regexp_replace(t, '[\x01-\x7f]', '', 'g') $$;

CREATE TABLE regress_ms_value (script text, v text);
INSERT INTO regress_ms_value VALUES
	('Greek', 'Ελένη Παπαδοπούλου'),
	('Greek', 'ΑΘ-2041'),
	('CJK', '山田太郎'),
	('CJK', '東京都千代田区１－１'),
	('Polish', 'Łódź 12'),
	('Polish', 'Grzegorz Brzęczyszczykiewicz'),
	('Latin-1', 'Zoë Ærø-Ñandú'),
	('Cyrillic', 'Москва 101000'),
	('Cyrillic', 'Мария Иванова'),
	('Devanagari', 'नमस्ते १२३'),
	('fullwidth', '１２３-４５-６７８９'),
	('fullwidth', 'ＡＢ　１２３４５６'),
	('Arabic-Indic', '٠١٢٣٤٥٦٧٨٩'),
	('Arabic-Indic', 'أحمد ٤٢'),
	('marks', E'Jose\u0301 Mari\u0301a'),
	('marks', E'Zo\u0308e 12\u20e3');

-- ---- mask_id: every letter and digit replaced, ASCII only, separators kept ----
SELECT script, v, sandbox.mask_id(v) AS id, pg_temp.foreign_chars(sandbox.mask_id(v)) AS kept,
	sandbox.is_masked_id(sandbox.mask_id(v)) AS recognised, sandbox.is_masked_id(v) AS original_recognised
FROM regress_ms_value ORDER BY script, v;
-- no original letter or digit anywhere in the value, let alone in place:
-- the only characters that are not ASCII are the separators kept
SELECT count(*) AS ids_keeping_a_character
FROM regress_ms_value, LATERAL regexp_split_to_table(pg_temp.foreign_chars(sandbox.mask_id(v)), '') c
WHERE c <> '' AND c NOT IN ('　', '－');
SELECT count(*) AS ids_keeping_one_in_place
FROM regress_ms_value, LATERAL generate_series(1, length(v)) i
WHERE substr(v, i, 1) > E'\x7f' AND substr(sandbox.mask_id(v), i, 1) = substr(v, i, 1)
	AND substr(v, i, 1) NOT IN ('　', '－');
-- a number in fullwidth or Arabic-Indic digits is the same number
SELECT sandbox.mask_id('１２３-４５-６７８９') = sandbox.mask_id('123-45-6789') AS fullwidth_same,
	sandbox.mask_id('٠١٢٣٤٥٦٧٨٩') = sandbox.mask_id('0123456789') AS arabic_indic_same,
	sandbox.mask_id('Ελένη') <> sandbox.mask_id('Ελενη') AS accents_count;
-- distinct ids with the same Greek letter stay distinct
SELECT count(DISTINCT sandbox.mask_id('Σ-' || lpad(i::text, 6, '0'))) AS distinct_greek_ids
FROM generate_series(1, 100000) i;

-- ---- mask_phone: ASCII digits in fictional ranges, letters become x ----
SELECT v, sandbox.mask_phone(v) AS phone, sandbox.is_masked_phone(sandbox.mask_phone(v)) AS recognised,
	sandbox.is_masked_phone(v) AS original_recognised
FROM (VALUES ('+61 ４１２ ３４５ ６７８'), ('＋６１ ４１２ ３４５ ６７８'), ('٠٤١٢ ٣٤٥ ٦٧٨'),
	('+٦١ ٤١٢ ٣٤٥ ٦٧٨'), ('(२१२) ७३६-५०००'), ('李华 138-0013-8000'), ('Ελένη 0412 345 678'),
	('Mum 07911 123456'), (E'0412 345 67\u0668\u0301')) t(v);
-- the fictional ranges written in other digits are not masked values
SELECT sandbox.is_masked_phone('(２１２) ５５５-０１４２') AS fullwidth_fiction,
	sandbox.is_masked_phone('٠٤٩١ ٥٧٠ ٠٠٦') AS arabic_indic_fiction,
	sandbox.is_masked_phone('0491 570 006 ext') AS other_letters,
	sandbox.is_masked_phone('(212) 555-0142') AS ascii_fiction;
-- the digits alone choose the pseudonym, whatever their script
SELECT sandbox.mask_phone('＋６１ ４１２ ３４５ ６７８') = '＋' || substr(sandbox.mask_phone('+61 412 345 678'), 2)
	AS fullwidth_same;

-- ---- the maskers that write values of their own: ASCII, recognised ----
SELECT script, v,
	sandbox.mask_first_name(v) AS first, sandbox.mask_last_name(v) AS last,
	sandbox.mask_full_name(v) AS full_name,
	pg_temp.foreign_chars(sandbox.mask_address(v) || sandbox.mask_email(v) || sandbox.mask_text(v)) AS foreign_in_others,
	sandbox.is_masked_full_name(sandbox.mask_full_name(v)) AND sandbox.is_masked_address(sandbox.mask_address(v))
		AND sandbox.is_masked_email(sandbox.mask_email(v)) AND sandbox.is_masked_text(sandbox.mask_text(v)) AS recognised,
	sandbox.is_masked_first_name(v) OR sandbox.is_masked_last_name(v) OR sandbox.is_masked_full_name(v)
		OR sandbox.is_masked_address(v) OR sandbox.is_masked_email(v) OR sandbox.is_masked_text(v) AS original_recognised
FROM regress_ms_value ORDER BY script, v;
SELECT v, sandbox.mask_text(v) AS text, length(sandbox.mask_text(v)) - length(v) AS len_diff
FROM (VALUES ('Ελένη έπεσε στο σπίτι και πονάει το γόνατο.'), ('患者は自宅で転倒し、膝の痛みを訴えている。')) t(v);

-- ---- other server encodings: the same masks, converted ----
SELECT sandbox.mask_id('Zoë Ærø-Ñandú ½²') AS utf8_id, sandbox.mask_phone('Tél ²¹² 736 5000') AS utf8_phone \gset
SELECT sandbox.mask_id('山田太郎 ０９０－１２３４') AS utf8_cjk_id, sandbox.mask_phone('Москва ０９０－１２３４－５６７８') AS utf8_cjk_phone \gset
CREATE DATABASE regress_ms_latin1 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
CREATE DATABASE regress_ms_eucjp ENCODING 'EUC_JP' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
\c regress_ms_latin1
SET client_encoding = 'UTF8';
SET client_min_messages = warning;
CREATE EXTENSION penelope_sandbox;
SET penelope_sandbox.secret = 'regression passphrase, not a real one';
SELECT v, sandbox.mask_id(v) AS id, sandbox.is_masked_id(sandbox.mask_id(v)) AS id_ok, sandbox.is_masked_id(v) AS id_original,
	sandbox.mask_phone(v) AS phone, sandbox.is_masked_phone(sandbox.mask_phone(v)) AS phone_ok,
	sandbox.is_masked_phone(v) AS phone_original
FROM (VALUES ('Zoë Ærø-Ñandú ½²'), ('Tél ²¹² 736 5000'), ('µª º ß 12')) t(v);
SELECT sandbox.mask_id('Zoë Ærø-Ñandú ½²') = :'utf8_id' AS id_as_in_utf8,
	sandbox.mask_phone('Tél ²¹² 736 5000') = :'utf8_phone' AS phone_as_in_utf8,
	length(sandbox.mask_text('Zoë Ærø-Ñandú')) AS text_len;
\c regress_ms_eucjp
SET client_encoding = 'UTF8';
SET client_min_messages = warning;
CREATE EXTENSION penelope_sandbox;
SET penelope_sandbox.secret = 'regression passphrase, not a real one';
SELECT v, sandbox.mask_id(v) AS id, sandbox.is_masked_id(sandbox.mask_id(v)) AS id_ok, sandbox.is_masked_id(v) AS id_original,
	sandbox.mask_phone(v) AS phone, sandbox.is_masked_phone(sandbox.mask_phone(v)) AS phone_ok,
	sandbox.is_masked_phone(v) AS phone_original
FROM (VALUES ('山田太郎 ０９０－１２３４'), ('Москва ０９０－１２３４－５６７８'), ('ΑΘΗΝΑ　ａｂｃ'), ('ｶﾀｶﾅ 12')) t(v);
SELECT sandbox.mask_id('山田太郎 ０９０－１２３４') = :'utf8_cjk_id' AS id_as_in_utf8,
	sandbox.mask_phone('Москва ０９０－１２３４－５６７８') = :'utf8_cjk_phone' AS phone_as_in_utf8,
	length(sandbox.mask_text('患者は自宅で転倒した')) AS text_len;
-- SQL_ASCII: the server knows no encoding; UTF-8 is read as such, and every
-- other byte above 0x7f counts as a letter
CREATE DATABASE regress_ms_sqlascii ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
\c regress_ms_sqlascii
SET client_min_messages = warning;
CREATE EXTENSION penelope_sandbox;
SET penelope_sandbox.secret = 'regression passphrase, not a real one';
SELECT encode(convert_to(v, 'SQL_ASCII'), 'escape') AS v, sandbox.mask_id(v) AS id, sandbox.is_masked_id(sandbox.mask_id(v)) AS id_ok,
	sandbox.is_masked_id(v) AS id_original, sandbox.mask_phone(v) AS phone, sandbox.is_masked_phone(v) AS phone_original
FROM (VALUES (E'Zo\xc3\xab 12'), (E'Zo\xeb 12'), (E'\xff\xfe 0412 345 678')) t(v);
\c :ps_db
DROP DATABASE regress_ms_latin1;
DROP DATABASE regress_ms_eucjp;
DROP DATABASE regress_ms_sqlascii;

-- ---- clean up ----
DROP TABLE regress_ms_value;
\if :ps_created
DROP EXTENSION penelope_sandbox;
\endif
