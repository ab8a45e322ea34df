/*
 * Discovery of personal data no rule covers, and the leak scan of every
 * run (src/discover.c, src/leakscan.c).
 */

/*
 * Per environment (inherited like rules: the nearest environment with a
 * row decides): the kinds of personal data that must not remain
 * uncovered, and what an uncovered column, or an original value found
 * after the run, does to the run.  An environment with no policy of its
 * own or inherited is not checked.  penelope_sandbox.pii_check overrides
 * on_failure.
 */
CREATE TABLE sandbox.discovery_policy (
	environment text PRIMARY KEY REFERENCES sandbox.environment (name)
		ON UPDATE CASCADE ON DELETE CASCADE,
	required_kinds text[] NOT NULL
		CHECK (required_kinds <@ ARRAY['email', 'phone', 'name', 'birth_date', 'national_id',
									   'address', 'text_with_contacts', 'json_with_contacts',
									   'free_text']),
	on_failure text NOT NULL CHECK (on_failure IN ('error', 'warning', 'off')),
	description text
);
COMMENT ON TABLE sandbox.discovery_policy IS
	'Per environment: the kinds of personal data no column may hold uncovered, and what an uncovered column or a leak does to a run';

INSERT INTO sandbox.discovery_policy (environment, required_kinds, on_failure, description) VALUES
	('migration', ARRAY['email', 'phone', 'text_with_contacts', 'json_with_contacts'], 'warning',
	 'Contact details: seed 000 de-identifies client and worker email and phone details'),
	('mirrored', ARRAY['email', 'phone', 'text_with_contacts', 'json_with_contacts'], 'warning',
	 'As Migration: contact details'),
	('training_a', ARRAY['email', 'phone', 'name', 'birth_date', 'national_id', 'address',
						 'text_with_contacts', 'json_with_contacts', 'free_text'], 'error',
	 'Training: no PHI may remain (training_b and preview inherit this policy)');

/* Uncovered columns a run went on with (policy "warning") */
CREATE TABLE sandbox.run_uncovered (
	run_id bigint NOT NULL REFERENCES sandbox.run (id) ON DELETE CASCADE,
	table_schema name NOT NULL,
	table_name name NOT NULL,
	column_name name NOT NULL,
	kind text NOT NULL,
	evidence text NOT NULL,
	PRIMARY KEY (run_id, table_schema, table_name, column_name)
);
COMMENT ON TABLE sandbox.run_uncovered IS
	'Columns that looked like personal data and that no rule covered, per run (never a value)';

/* The leak scan of a run: counts only, never a value nor a fingerprint */
CREATE TABLE sandbox.leak_scan (
	run_id bigint PRIMARY KEY REFERENCES sandbox.run (id) ON DELETE CASCADE,
	policy text NOT NULL,
	originals bigint NOT NULL,
	originals_not_held bigint NOT NULL,
	complete boolean NOT NULL,
	memory_bytes bigint NOT NULL,
	originals_produced_by_masks bigint,
	tables_scanned integer NOT NULL,
	columns_scanned integer NOT NULL,
	relations_skipped integer NOT NULL,
	rows_scanned bigint NOT NULL,
	values_scanned bigint NOT NULL,
	hits bigint NOT NULL,
	collect_duration interval NOT NULL,
	scan_duration interval NOT NULL
);
COMMENT ON TABLE sandbox.leak_scan IS
	'Per run: how many distinct original values of masked columns were fingerprinted, what was scanned after the run, and how many originals were found';
COMMENT ON COLUMN sandbox.leak_scan.originals_produced_by_masks IS
	'Originals found outside the masked columns that a mask of the run also produced (a masked postcode is another postcode): set aside, not counted as hits; each counted once.  NULL when the scan found no original, so that the masked columns were not read again';
COMMENT ON COLUMN sandbox.leak_scan.relations_skipped IS
	'Foreign tables, temporary tables and unpopulated materialized views, which are not scanned';

CREATE TABLE sandbox.leak_scan_hit (
	run_id bigint NOT NULL REFERENCES sandbox.leak_scan (run_id) ON DELETE CASCADE,
	table_schema name NOT NULL,
	table_name name NOT NULL,
	column_name name NOT NULL,
	hits bigint NOT NULL,
	PRIMARY KEY (run_id, table_schema, table_name, column_name)
);
COMMENT ON TABLE sandbox.leak_scan_hit IS
	'Per run and column: how many pieces of its values (whole values, emails, numbers) were original values of masked columns';

REVOKE ALL ON sandbox.discovery_policy, sandbox.run_uncovered, sandbox.leak_scan,
	sandbox.leak_scan_hit FROM PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('sandbox.discovery_policy',
	$$WHERE environment NOT IN ('migration', 'mirrored', 'training_a')$$);
SELECT pg_catalog.pg_extension_config_dump('sandbox.run_uncovered', '');
SELECT pg_catalog.pg_extension_config_dump('sandbox.leak_scan', '');
SELECT pg_catalog.pg_extension_config_dump('sandbox.leak_scan_hit', '');

CREATE FUNCTION sandbox_discover(environment text DEFAULT NULL)
RETURNS TABLE (relation text, column_name text, kind text, evidence text,
			   by_name boolean, content_share double precision, sampled bigint,
			   required boolean, covered boolean, covered_by text)
LANGUAGE C
CALLED ON NULL INPUT VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'sandbox_discover';
COMMENT ON FUNCTION sandbox_discover(text) IS
	'Columns that look like personal data (by name, or by a bounded sample of their content), and the rule of the environment that covers each';
REVOKE ALL ON FUNCTION sandbox_discover(text) FROM PUBLIC;

/*
 * A masker for free text an environment keeps but whose contact details
 * it de-identifies: each email address and phone number inside the text
 * is replaced by mask_email's or mask_phone's pseudonym, the rest is kept.
 */
CREATE FUNCTION sandbox.mask_contacts(text) RETURNS text
AS 'MODULE_PATHNAME', 'sandbox_mask_contacts'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION sandbox.mask_contacts(text) IS
	'Free text with every email address and phone number inside replaced by the pseudonyms of mask_email and mask_phone';

CREATE FUNCTION sandbox.is_masked_contacts(text) RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_is_masked_contacts'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION sandbox.is_masked_contacts(text) IS
	'Whether every email address and phone number inside a text has the form of a masked one';

-- its run-token variant (see src/sql/21_masking_run_token.sql)
CREATE FUNCTION sandbox.mask_contacts(text, bytea) RETURNS text
AS 'MODULE_PATHNAME', 'sandbox_mask_contacts'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;

GRANT EXECUTE ON FUNCTION sandbox.mask_contacts(text), sandbox.mask_contacts(text, bytea),
	sandbox.is_masked_contacts(text) TO PUBLIC;
INSERT INTO sandbox.masking_function (masker, recogniser) VALUES
	('sandbox.mask_contacts(text)', 'sandbox.is_masked_contacts(text)');
