-- bench/masking_sanitize.sql: sandbox_sanitize with the three masks
-- email/phone/last_name against the same with constant-ish expressions,
-- and with md5 pseudonyms of the same cost (md5 of the id: a rule
-- reading the column it writes must call a registered masker), in turn,
-- three runs each.
SET client_min_messages = warning;

-- A fresh copy of the people table with the indexes of the reference
-- (email, last_name), and a rule set on it.
CREATE PROCEDURE bench_reset(kind text) LANGUAGE plpgsql AS $$
BEGIN
	DROP TABLE IF EXISTS client;
	CREATE TABLE client AS SELECT id, first_name, last_name, email, phone, born, address, notes FROM people;
	ALTER TABLE client ADD PRIMARY KEY (id);
	CREATE INDEX ON client (email);
	CREATE INDEX ON client (last_name);
	DELETE FROM sandbox.rule WHERE table_name = 'client';
	IF kind = 'masks' THEN
		INSERT INTO sandbox.rule (environment, table_name, column_name, action, expression) VALUES
			('training_a', 'client', 'email', 'mask', 'sandbox.mask_email(email)'),
			('training_a', 'client', 'phone', 'mask', 'sandbox.mask_phone(phone)'),
			('training_a', 'client', 'last_name', 'mask', 'sandbox.mask_last_name(last_name)');
	ELSIF kind = 'md5' THEN
		INSERT INTO sandbox.rule (environment, table_name, column_name, action, expression) VALUES
			('training_a', 'client', 'email', 'set', $e$md5(id::text) || '@example.invalid'$e$),
			('training_a', 'client', 'phone', 'set', $e$left(md5('p' || id), 12)$e$),
			('training_a', 'client', 'last_name', 'set', $e$left(md5('n' || id), 10)$e$);
	ELSE
		INSERT INTO sandbox.rule (environment, table_name, column_name, action, expression) VALUES
			('training_a', 'client', 'email', 'set', $e$'user' || id || '@example.invalid'$e$),
			('training_a', 'client', 'phone', 'set', $e$'555-0100'$e$),
			('training_a', 'client', 'last_name', 'set', $e$'Name' || id$e$);
	END IF;
END $$;
\set run 'CALL bench_reset(:''kind''); VACUUM ANALYZE client; CHECKPOINT; SELECT bench_time($$SELECT sandbox_sanitize(''training_a'')$$) AS t \\gset'
CREATE TEMP TABLE runs (kind text, secs float8);
\set kind constant
:run
INSERT INTO runs VALUES (:'kind', :t);
\set kind masks
:run
INSERT INTO runs VALUES (:'kind', :t);
\set kind md5
:run
INSERT INTO runs VALUES (:'kind', :t);
\set kind constant
:run
INSERT INTO runs VALUES (:'kind', :t);
\set kind masks
:run
INSERT INTO runs VALUES (:'kind', :t);
\set kind md5
:run
INSERT INTO runs VALUES (:'kind', :t);
\set kind constant
:run
INSERT INTO runs VALUES (:'kind', :t);
\set kind masks
:run
INSERT INTO runs VALUES (:'kind', :t);
\set kind md5
:run
INSERT INTO runs VALUES (:'kind', :t);

\pset footer off
WITH m AS (
	SELECT kind, (array_agg(secs ORDER BY secs))[2] AS median, array_agg(round(secs::numeric, 2) ORDER BY secs) AS all_runs
	FROM runs GROUP BY kind)
SELECT kind, round(median::numeric, 2) AS "median s", all_runs AS "runs s",
	round((median / (SELECT median FROM m WHERE kind = 'constant'))::numeric, 3) AS "× constant"
FROM m ORDER BY kind;
SELECT method AS "strategy of the last run" FROM sandbox.run_step
WHERE run_id = (SELECT max(id) FROM sandbox.run) AND table_name = 'client';
