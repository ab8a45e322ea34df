/*
 * Masking functions (src/masking.c over the pure-C core src/mask_core.c)
 * and the masking key.
 */

/*
 * The masking key: one row, 32 bytes, readable by superusers only (and by
 * roles a superuser grants SELECT to: those, and only those, may call the
 * masking functions).
 *
 * It is deliberately NOT registered with pg_extension_config_dump, so
 * pg_dump never writes it out: a de-identified database is meant to be
 * handed around, and whoever holds its key can recompute the mapping
 * (enumerate every phone number, say) and re-identify people.  A restored
 * dump therefore starts without a key and makes a fresh random one on
 * first use; databases that must share pseudonyms get the same
 * passphrase through sandbox_set_secret_from_file() or
 * penelope_sandbox.secret.
 * Production never masks, so it never creates a key; a physical copy of a
 * database that did (a sandbox copied file by file) does carry its key.
 */
CREATE TABLE sandbox.secret (
	singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
	key bytea NOT NULL CHECK (length(key) = 32),
	origin text NOT NULL CHECK (origin IN ('random', 'passphrase')),
	created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE sandbox.secret IS
	'The masking key: made at random on first use, or derived from a passphrase by sandbox_set_secret_from_file()';
REVOKE ALL ON sandbox.secret FROM PUBLIC;

/*
 * The passphrase is read from a file on the server, never passed as SQL
 * text, which log_statement and pg_stat_statements would keep.
 */
CREATE FUNCTION sandbox_set_secret_from_file(path text)
RETURNS void
AS 'MODULE_PATHNAME', 'sandbox_set_secret_from_file'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION sandbox_set_secret_from_file(text) IS
	'Replace the masking key by one derived (PBKDF2-HMAC-SHA256) from the passphrase in the first line of a server file, so databases share pseudonyms';
REVOKE EXECUTE ON FUNCTION sandbox_set_secret_from_file(text) FROM PUBLIC;

/*
 * The maskers.
 *
 * STRICT: NULL in, NULL out.  STABLE rather than IMMUTABLE, because the
 * result depends on the key, which can change (and mask_date on today's
 * date).  PARALLEL RESTRICTED rather than PARALLEL SAFE: the key is cached
 * per transaction in the leader's memory and loaded from a table on first
 * use, which a parallel worker cannot do.  EXECUTE is granted to PUBLIC:
 * the key is the guard, and a role that may not read sandbox.secret gets
 * "permission denied to use the masking key".
 */
CREATE FUNCTION sandbox.mask_email(text) RETURNS text
AS 'MODULE_PATHNAME', 'sandbox_mask_email'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION sandbox.mask_email(text) IS
	'Keyed pseudonym u<26 base32 characters>@example.invalid; case and surrounding white space are ignored; distinct addresses stay distinct';

CREATE FUNCTION sandbox.mask_phone(text) RETURNS text
AS 'MODULE_PATHNAME', 'sandbox_mask_phone'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION sandbox.mask_phone(text) IS
	'Phone number of the same shape in ASCII digits (letters become x); North American, UK and Australian numbers land in ranges reserved for fiction';

CREATE FUNCTION sandbox.mask_first_name(text) RETURNS text
AS 'MODULE_PATHNAME', 'sandbox_mask_first_name'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION sandbox.mask_first_name(text) IS
	'Given name from a dictionary of over 1,000, never the input';

CREATE FUNCTION sandbox.mask_last_name(text) RETURNS text
AS 'MODULE_PATHNAME', 'sandbox_mask_last_name'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION sandbox.mask_last_name(text) IS
	'Surname from a dictionary of over 1,000, never the input';

CREATE FUNCTION sandbox.mask_full_name(text) RETURNS text
AS 'MODULE_PATHNAME', 'sandbox_mask_full_name'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION sandbox.mask_full_name(text) IS
	'Full name masked word by word ("First Middle Last" or "Last, First"), consistent with mask_first_name and mask_last_name';

CREATE FUNCTION sandbox.mask_date(date) RETURNS date
AS 'MODULE_PATHNAME', 'sandbox_mask_date'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION sandbox.mask_date(date) IS
	'Date moved by a keyed offset of 1 to penelope_sandbox.date_window days, always in the past';

CREATE FUNCTION sandbox.mask_address(text) RETURNS text
AS 'MODULE_PATHNAME', 'sandbox_mask_address'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION sandbox.mask_address(text) IS
	'Made-up address "<number> <Street> <Type>, <Town>"';

CREATE FUNCTION sandbox.mask_text(text) RETURNS text
AS 'MODULE_PATHNAME', 'sandbox_mask_text'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION sandbox.mask_text(text) IS
	'Made-up Latin sentences of about the same number of characters; no word of the input';

CREATE FUNCTION sandbox.mask_id(text) RETURNS text
AS 'MODULE_PATHNAME', 'sandbox_mask_id'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION sandbox.mask_id(text) IS
	'Identifier of the same shape by a keyed permutation: letters of any script become ASCII letters, digits ASCII digits, marks are dropped, other characters stay; distinct stays distinct';

/*
 * The recognisers: keyless, judging by form only, so IMMUTABLE and
 * PARALLEL SAFE.
 */
CREATE FUNCTION sandbox.is_masked_email(text) RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_is_masked_email'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION sandbox.is_masked_email(text) IS
	'Has the value the form of sandbox.mask_email output?';

CREATE FUNCTION sandbox.is_masked_phone(text) RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_is_masked_phone'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION sandbox.is_masked_phone(text) IS
	'Is the value in a fictional range, or a number carrying the mask_phone check digits (1 real number in 97 passes), in ASCII digits with no letter but x?';

CREATE FUNCTION sandbox.is_masked_first_name(text) RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_is_masked_first_name'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION sandbox.is_masked_first_name(text) IS
	'Is the value a given name of the dictionary (real names in it pass too)?';

CREATE FUNCTION sandbox.is_masked_last_name(text) RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_is_masked_last_name'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION sandbox.is_masked_last_name(text) IS
	'Is the value a surname of the dictionary (real names in it pass too)?';

CREATE FUNCTION sandbox.is_masked_full_name(text) RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_is_masked_full_name'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION sandbox.is_masked_full_name(text) IS
	'Is the value made of dictionary names in a form sandbox.mask_full_name writes?';

CREATE FUNCTION sandbox.is_masked_address(text) RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_is_masked_address'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION sandbox.is_masked_address(text) IS
	'Has the value the form of sandbox.mask_address output?';

CREATE FUNCTION sandbox.is_masked_text(text) RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_is_masked_text'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION sandbox.is_masked_text(text) IS
	'Is the value made of the words sandbox.mask_text writes?';

/*
 * mask_id keeps the form of its input but writes ASCII letters and digits
 * only: its recogniser refuses a letter, digit or combining mark of any
 * other script, and accepts every ASCII identifier (a masked one has the
 * form of a real one).  mask_date keeps the form of a date exactly: its
 * recogniser accepts every value, and exists so the masker can be
 * registered, which rules that read the column they write require.  Both
 * are C functions, as cheap as the verification that calls them for every
 * row needs them to be.
 */
CREATE FUNCTION sandbox.is_masked_id(text) RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_is_masked_id'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION sandbox.is_masked_id(text) IS
	'Holds the value no letter, digit or combining mark but ASCII ones, as sandbox.mask_id output?';

CREATE FUNCTION sandbox.is_masked_date(date) RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_is_masked_date'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION sandbox.is_masked_date(date) IS
	'Accepts every value: a masked date has the form of a real one';

GRANT EXECUTE ON FUNCTION
	sandbox.mask_email(text), sandbox.mask_phone(text),
	sandbox.mask_first_name(text), sandbox.mask_last_name(text),
	sandbox.mask_full_name(text), sandbox.mask_date(date),
	sandbox.mask_address(text), sandbox.mask_text(text), sandbox.mask_id(text),
	sandbox.is_masked_email(text), sandbox.is_masked_phone(text),
	sandbox.is_masked_first_name(text), sandbox.is_masked_last_name(text),
	sandbox.is_masked_full_name(text), sandbox.is_masked_address(text),
	sandbox.is_masked_text(text), sandbox.is_masked_id(text),
	sandbox.is_masked_date(date)
TO PUBLIC;

/* Each masker with its recogniser, for rule validation and sandbox_verify. */
INSERT INTO sandbox.masking_function (masker, recogniser) VALUES
	('sandbox.mask_email(text)', 'sandbox.is_masked_email(text)'),
	('sandbox.mask_phone(text)', 'sandbox.is_masked_phone(text)'),
	('sandbox.mask_first_name(text)', 'sandbox.is_masked_first_name(text)'),
	('sandbox.mask_last_name(text)', 'sandbox.is_masked_last_name(text)'),
	('sandbox.mask_full_name(text)', 'sandbox.is_masked_full_name(text)'),
	('sandbox.mask_address(text)', 'sandbox.is_masked_address(text)'),
	('sandbox.mask_text(text)', 'sandbox.is_masked_text(text)'),
	('sandbox.mask_id(text)', 'sandbox.is_masked_id(text)'),
	('sandbox.mask_date(date)', 'sandbox.is_masked_date(date)');
