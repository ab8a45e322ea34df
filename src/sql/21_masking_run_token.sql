/*
 * The maskers' run-token variants (issue 8: the key is never an oracle).
 *
 * sandbox.mask_x(value, token) is the C function of sandbox.mask_x(value)
 * with one more argument: the run token of the transaction.  The engine
 * writes these calls into the SQL of rules (see
 * sandbox_rule_expression_sql() in src/catalog.c) and binds the token as
 * a parameter.  Inside a security-restricted operation, where rules run
 * as the table owner, only these calls may use the key; any other call
 * there is refused, so that owner code (a trigger, a CHECK constraint, a
 * domain, an index expression) cannot compute pseudonyms.  EXECUTE is
 * granted to PUBLIC, since rules run as the table owner: the token, a
 * random value that never leaves this backend, is the guard.
 */
CREATE FUNCTION sandbox.mask_email(text, bytea) RETURNS text
AS 'MODULE_PATHNAME', 'sandbox_mask_email'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
CREATE FUNCTION sandbox.mask_phone(text, bytea) RETURNS text
AS 'MODULE_PATHNAME', 'sandbox_mask_phone'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
CREATE FUNCTION sandbox.mask_first_name(text, bytea) RETURNS text
AS 'MODULE_PATHNAME', 'sandbox_mask_first_name'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
CREATE FUNCTION sandbox.mask_last_name(text, bytea) RETURNS text
AS 'MODULE_PATHNAME', 'sandbox_mask_last_name'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
CREATE FUNCTION sandbox.mask_full_name(text, bytea) RETURNS text
AS 'MODULE_PATHNAME', 'sandbox_mask_full_name'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
CREATE FUNCTION sandbox.mask_date(date, bytea) RETURNS date
AS 'MODULE_PATHNAME', 'sandbox_mask_date'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
CREATE FUNCTION sandbox.mask_address(text, bytea) RETURNS text
AS 'MODULE_PATHNAME', 'sandbox_mask_address'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
CREATE FUNCTION sandbox.mask_text(text, bytea) RETURNS text
AS 'MODULE_PATHNAME', 'sandbox_mask_text'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
CREATE FUNCTION sandbox.mask_id(text, bytea) RETURNS text
AS 'MODULE_PATHNAME', 'sandbox_mask_id'
LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;

GRANT EXECUTE ON FUNCTION
	sandbox.mask_email(text, bytea), sandbox.mask_phone(text, bytea),
	sandbox.mask_first_name(text, bytea), sandbox.mask_last_name(text, bytea),
	sandbox.mask_full_name(text, bytea), sandbox.mask_date(date, bytea),
	sandbox.mask_address(text, bytea), sandbox.mask_text(text, bytea),
	sandbox.mask_id(text, bytea)
TO PUBLIC;
