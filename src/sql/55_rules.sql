/*
 * Rules a DBA can live with (src/rule_checks.c, src/mask_json.c): what
 * each masker writes, maskers for parts of jsonb documents and for the
 * elements of arrays, and a warning before the catalog is dropped.
 */

/*
 * How long a masker's output is, so that a rule writing a varchar(n) or
 * char(n) column is refused when its masker can never fit.
 */
ALTER TABLE sandbox.masking_function
	ADD COLUMN min_length integer CHECK (min_length >= 0),
	ADD COLUMN max_length integer CHECK (max_length >= min_length),
	ADD COLUMN preserves_length boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN sandbox.masking_function.min_length IS
	'Fewest characters the masker writes for a non-empty input (NULL: unknown); a rule on a shorter varchar(n)/char(n) column is refused';
COMMENT ON COLUMN sandbox.masking_function.max_length IS
	'Most characters the masker writes (NULL: no bound), for the DBA';
COMMENT ON COLUMN sandbox.masking_function.preserves_length IS
	'The output has exactly as many characters as the input: a rule masking a column into one at least as wide always fits';

UPDATE sandbox.masking_function SET min_length = 43, max_length = 43
	WHERE masker = 'sandbox.mask_email(text)'::regprocedure;
UPDATE sandbox.masking_function SET preserves_length = true
	WHERE masker IN ('sandbox.mask_phone(text)'::regprocedure, 'sandbox.mask_id(text)'::regprocedure);
UPDATE sandbox.masking_function SET min_length = 2, max_length = 11
	WHERE masker = 'sandbox.mask_first_name(text)'::regprocedure;
UPDATE sandbox.masking_function SET min_length = 2, max_length = 13
	WHERE masker = 'sandbox.mask_last_name(text)'::regprocedure;
UPDATE sandbox.masking_function SET max_length = 128
	WHERE masker = 'sandbox.mask_address(text)'::regprocedure;

/*
 * Masking what lies at a path of a jsonb document.  The masker is given
 * by its signature and must be a registered masker of text; the
 * recogniser applies that masker's recogniser to the same places.
 */
CREATE FUNCTION sandbox.mask_jsonb(doc jsonb, path text[], masker regprocedure)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'sandbox_mask_jsonb'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION sandbox.mask_jsonb(jsonb, text[], regprocedure) IS
	'The document with the strings and numbers at path (keys, indexes, * for all) masked by a registered masker of text';

CREATE FUNCTION sandbox.is_masked_jsonb(doc jsonb, path text[], masker regprocedure)
RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_is_masked_jsonb'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION sandbox.is_masked_jsonb(jsonb, text[], regprocedure) IS
	'Does the masker''s recogniser accept every string and number at path (true when the path leads nowhere)?';

/*
 * The maskers and recognisers on arrays of text: every non-null element
 * goes through the scalar function of the same name.  (No date[] overload:
 * it would make sandbox.mask_date('2020-01-01') ambiguous.)
 */
CREATE FUNCTION sandbox.mask_email(text[]) RETURNS text[]
AS 'MODULE_PATHNAME', 'sandbox_mask_elements' LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
CREATE FUNCTION sandbox.mask_phone(text[]) RETURNS text[]
AS 'MODULE_PATHNAME', 'sandbox_mask_elements' LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
CREATE FUNCTION sandbox.mask_first_name(text[]) RETURNS text[]
AS 'MODULE_PATHNAME', 'sandbox_mask_elements' LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
CREATE FUNCTION sandbox.mask_last_name(text[]) RETURNS text[]
AS 'MODULE_PATHNAME', 'sandbox_mask_elements' LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
CREATE FUNCTION sandbox.mask_full_name(text[]) RETURNS text[]
AS 'MODULE_PATHNAME', 'sandbox_mask_elements' LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
CREATE FUNCTION sandbox.mask_address(text[]) RETURNS text[]
AS 'MODULE_PATHNAME', 'sandbox_mask_elements' LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
CREATE FUNCTION sandbox.mask_text(text[]) RETURNS text[]
AS 'MODULE_PATHNAME', 'sandbox_mask_elements' LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
CREATE FUNCTION sandbox.mask_id(text[]) RETURNS text[]
AS 'MODULE_PATHNAME', 'sandbox_mask_elements' LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;

/*
 * Their run-token variants (see src/sql/21_masking_run_token.sql): during
 * a sanitization the engine calls these, and they pass the token on to
 * the scalar maskers' variants.
 */
CREATE FUNCTION sandbox.mask_jsonb(jsonb, text[], regprocedure, bytea) RETURNS jsonb
AS 'MODULE_PATHNAME', 'sandbox_mask_jsonb' LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
CREATE FUNCTION sandbox.mask_email(text[], bytea) RETURNS text[]
AS 'MODULE_PATHNAME', 'sandbox_mask_elements' LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
CREATE FUNCTION sandbox.mask_phone(text[], bytea) RETURNS text[]
AS 'MODULE_PATHNAME', 'sandbox_mask_elements' LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
CREATE FUNCTION sandbox.mask_first_name(text[], bytea) RETURNS text[]
AS 'MODULE_PATHNAME', 'sandbox_mask_elements' LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
CREATE FUNCTION sandbox.mask_last_name(text[], bytea) RETURNS text[]
AS 'MODULE_PATHNAME', 'sandbox_mask_elements' LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
CREATE FUNCTION sandbox.mask_full_name(text[], bytea) RETURNS text[]
AS 'MODULE_PATHNAME', 'sandbox_mask_elements' LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
CREATE FUNCTION sandbox.mask_address(text[], bytea) RETURNS text[]
AS 'MODULE_PATHNAME', 'sandbox_mask_elements' LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
CREATE FUNCTION sandbox.mask_text(text[], bytea) RETURNS text[]
AS 'MODULE_PATHNAME', 'sandbox_mask_elements' LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
CREATE FUNCTION sandbox.mask_id(text[], bytea) RETURNS text[]
AS 'MODULE_PATHNAME', 'sandbox_mask_elements' LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
GRANT EXECUTE ON FUNCTION sandbox.mask_jsonb(jsonb, text[], regprocedure, bytea),
	sandbox.mask_email(text[], bytea),
	sandbox.mask_phone(text[], bytea),
	sandbox.mask_first_name(text[], bytea),
	sandbox.mask_last_name(text[], bytea),
	sandbox.mask_full_name(text[], bytea),
	sandbox.mask_address(text[], bytea),
	sandbox.mask_text(text[], bytea),
	sandbox.mask_id(text[], bytea)
TO PUBLIC;

CREATE FUNCTION sandbox.is_masked_email(text[]) RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_is_masked_elements' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION sandbox.is_masked_phone(text[]) RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_is_masked_elements' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION sandbox.is_masked_first_name(text[]) RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_is_masked_elements' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION sandbox.is_masked_last_name(text[]) RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_is_masked_elements' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION sandbox.is_masked_full_name(text[]) RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_is_masked_elements' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION sandbox.is_masked_address(text[]) RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_is_masked_elements' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION sandbox.is_masked_text(text[]) RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_is_masked_elements' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION sandbox.is_masked_id(text[]) RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_is_masked_elements' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION sandbox.mask_email(text[]) IS 'Every non-null element masked by sandbox.mask_email(text)';
COMMENT ON FUNCTION sandbox.mask_phone(text[]) IS 'Every non-null element masked by sandbox.mask_phone(text)';
COMMENT ON FUNCTION sandbox.mask_first_name(text[]) IS 'Every non-null element masked by sandbox.mask_first_name(text)';
COMMENT ON FUNCTION sandbox.mask_last_name(text[]) IS 'Every non-null element masked by sandbox.mask_last_name(text)';
COMMENT ON FUNCTION sandbox.mask_full_name(text[]) IS 'Every non-null element masked by sandbox.mask_full_name(text)';
COMMENT ON FUNCTION sandbox.mask_address(text[]) IS 'Every non-null element masked by sandbox.mask_address(text)';
COMMENT ON FUNCTION sandbox.mask_text(text[]) IS 'Every non-null element masked by sandbox.mask_text(text)';
COMMENT ON FUNCTION sandbox.mask_id(text[]) IS 'Every non-null element masked by sandbox.mask_id(text)';
COMMENT ON FUNCTION sandbox.is_masked_email(text[]) IS 'Does sandbox.is_masked_email(text) accept every non-null element?';
COMMENT ON FUNCTION sandbox.is_masked_phone(text[]) IS 'Does sandbox.is_masked_phone(text) accept every non-null element?';
COMMENT ON FUNCTION sandbox.is_masked_first_name(text[]) IS 'Does sandbox.is_masked_first_name(text) accept every non-null element?';
COMMENT ON FUNCTION sandbox.is_masked_last_name(text[]) IS 'Does sandbox.is_masked_last_name(text) accept every non-null element?';
COMMENT ON FUNCTION sandbox.is_masked_full_name(text[]) IS 'Does sandbox.is_masked_full_name(text) accept every non-null element?';
COMMENT ON FUNCTION sandbox.is_masked_address(text[]) IS 'Does sandbox.is_masked_address(text) accept every non-null element?';
COMMENT ON FUNCTION sandbox.is_masked_text(text[]) IS 'Does sandbox.is_masked_text(text) accept every non-null element?';
COMMENT ON FUNCTION sandbox.is_masked_id(text[]) IS 'Does sandbox.is_masked_id(text) accept every non-null element?';

GRANT EXECUTE ON FUNCTION
	sandbox.mask_jsonb(jsonb, text[], regprocedure),
	sandbox.is_masked_jsonb(jsonb, text[], regprocedure),
	sandbox.mask_email(text[]), sandbox.mask_phone(text[]),
	sandbox.mask_first_name(text[]), sandbox.mask_last_name(text[]),
	sandbox.mask_full_name(text[]), sandbox.mask_address(text[]),
	sandbox.mask_text(text[]), sandbox.mask_id(text[]),
	sandbox.is_masked_email(text[]), sandbox.is_masked_phone(text[]),
	sandbox.is_masked_first_name(text[]), sandbox.is_masked_last_name(text[]),
	sandbox.is_masked_full_name(text[]), sandbox.is_masked_address(text[]),
	sandbox.is_masked_text(text[]), sandbox.is_masked_id(text[])
TO PUBLIC;

/* The array maskers have the lengths of their scalars, per element. */
INSERT INTO sandbox.masking_function (masker, recogniser, min_length, max_length, preserves_length)
	SELECT format('sandbox.%s(text[])', p.proname)::regprocedure,
		   format('sandbox.is_masked_%s(text[])', substr(p.proname, 6))::regprocedure,
		   m.min_length, m.max_length, m.preserves_length
	FROM sandbox.masking_function m
		JOIN pg_catalog.pg_proc p ON p.oid = m.masker
	WHERE p.proargtypes[0] = 'text'::regtype;
INSERT INTO sandbox.masking_function (masker, recogniser) VALUES
	('sandbox.mask_jsonb(jsonb, text[], regprocedure)',
	 'sandbox.is_masked_jsonb(jsonb, text[], regprocedure)');

/*
 * DROP EXTENSION penelope_sandbox takes every rule and the whole ledger
 * with it: say so, with the counts, before it happens.
 */
CREATE FUNCTION sandbox.warn_drop()
RETURNS event_trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'sandbox_warn_drop';
REVOKE ALL ON FUNCTION sandbox.warn_drop() FROM PUBLIC;

CREATE EVENT TRIGGER sandbox_warn_drop ON ddl_command_start
	WHEN TAG IN ('DROP EXTENSION')
	EXECUTE FUNCTION sandbox.warn_drop();

/* The checks between rules read the rules of one table (rule_checks.c). */
CREATE INDEX rule_table_idx ON sandbox.rule (table_schema, table_name);
