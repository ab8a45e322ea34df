-- bench/masking_functions.sql: cost per value of each function.
CREATE TEMP TABLE cases (n int, label text, expr text);
INSERT INTO cases VALUES
	(1, 'md5(email)', 'md5(email)'),
	(2, 'hashtext(email)', 'hashtext(email)'),
	(3, 'mask_email(email)', 'sandbox.mask_email(email)'),
	(4, 'mask_phone(phone)', 'sandbox.mask_phone(phone)'),
	(5, 'mask_first_name(first_name)', 'sandbox.mask_first_name(first_name)'),
	(6, 'mask_last_name(last_name)', 'sandbox.mask_last_name(last_name)'),
	(7, 'mask_full_name(first||'' ''||last)', 'sandbox.mask_full_name(first_name || '' '' || last_name)'),
	(8, 'mask_id(ssn)', 'sandbox.mask_id(ssn)'),
	(9, 'mask_date(born)', 'sandbox.mask_date(born)'),
	(10, 'mask_address(address)', 'sandbox.mask_address(address)'),
	(11, 'mask_text(notes)', 'sandbox.mask_text(notes)'),
	(12, 'is_masked_email(email)', 'sandbox.is_masked_email(email)');
-- the bare scan of the column each expression reads
CREATE TEMP TABLE base AS
SELECT c.col, bench_median(format('SELECT count(%s) FROM people', c.col)) AS secs
FROM (VALUES ('email'), ('phone'), ('first_name'), ('last_name'), ('ssn'), ('born'), ('address'), ('notes'),
	('first_name || '' '' || last_name')) c(col);
CREATE TEMP TABLE timed AS
SELECT n, label, expr, bench_median(format('SELECT count(%s) FROM people', expr)) AS secs,
	(SELECT b.secs FROM base b WHERE expr LIKE '%(' || b.col || ')' ORDER BY length(b.col) DESC LIMIT 1) AS base_secs
FROM cases ORDER BY n;
SELECT count(*) AS rows FROM people \gset
\pset footer off
SELECT label AS "function",
	round((1e6 * (secs - base_secs) / :rows)::numeric, 3) AS "µs/value",
	round(((secs - base_secs) / (SELECT secs - base_secs FROM timed WHERE n = 1))::numeric, 3) AS "× md5",
	round(secs::numeric, 3) AS "total s",
	round(base_secs::numeric, 3) AS "scan s"
FROM timed ORDER BY n;
