-- bench/masking_setup.sql: synthetic people and the timing helper.
SET client_min_messages = warning;
CREATE EXTENSION penelope_sandbox;
CREATE TABLE people AS
SELECT g AS id,
	'Given' || (g % 5000) AS first_name,
	'Family' || (g % 20000) AS last_name,
	'person' || g || '@mail' || (g % 100) || '.example.com' AS email,
	'(' || (200 + g % 800) || ') ' || lpad((g % 1000)::text, 3, '0') || '-' || lpad((g % 10000)::text, 4, '0') AS phone,
	to_char(g, 'FM000-00-0000') AS ssn,
	date '1940-01-01' + (g % 25000) AS born,
	(g % 999 + 1) || ' Main Street, Springfield' AS address,
	'Seen on visit ' || g || ', reports pain in the left knee after a fall.' AS notes
FROM generate_series(1, :rows) g;
ALTER TABLE people ADD PRIMARY KEY (id);
VACUUM ANALYZE people;

-- Seconds one statement takes.
CREATE FUNCTION bench_time(stmt text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz;
BEGIN
	t0 := clock_timestamp();
	EXECUTE stmt;
	RETURN extract(epoch FROM clock_timestamp() - t0);
END $$;

-- Median of three timings of a statement (after one warm-up run).
CREATE FUNCTION bench_median(stmt text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
	t float8[] := '{}';
BEGIN
	PERFORM bench_time(stmt);
	FOR i IN 1..3 LOOP
		t := t || bench_time(stmt);
	END LOOP;
	RETURN (SELECT x FROM unnest(t) x ORDER BY x OFFSET 1 LIMIT 1);
END $$;

-- make the masking key now, so no timing includes its creation
SELECT sandbox.mask_email('warm-up') IS NOT NULL AS key_ready \gset
