-- penelope_sandbox--1.1--1.2.sql: upgrade from 1.1 to 1.2
--
-- ALTER EXTENSION penelope_sandbox UPDATE runs this file on a 1.1
-- installation.  Afterwards the extension's objects must be exactly those a
-- fresh CREATE EXTENSION of 1.2 makes (src/sql/*.sql): t/001_upgrade.pl
-- compares the two and fails on any difference.  Every change made to
-- src/sql/ since 1.1 belongs here, written so that the data in the catalog
-- and the ledger (sandbox.rule, sandbox.environment, sandbox.run, ...)
-- survives: ALTER/CREATE OR REPLACE, never DROP and re-create a table.
--
-- The blocks follow the pieces of src/sql/ in their order.

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION penelope_sandbox UPDATE TO '1.2'" to load this file. \quit

/* ==== 20_masking.sql: sandbox.set_secret_from_file becomes the entry point pg_catalog.sandbox_set_secret_from_file (README "Names") ==== */

-- Renamed and moved, not re-created: its privileges (no EXECUTE for
-- PUBLIC) and its comment stay.  The C symbol is the same.
ALTER FUNCTION sandbox.set_secret_from_file(text) RENAME TO sandbox_set_secret_from_file;
ALTER FUNCTION sandbox.sandbox_set_secret_from_file(text) SET SCHEMA pg_catalog;
COMMENT ON TABLE sandbox.secret IS
	'The masking key: made at random on first use, or derived from a passphrase by sandbox_set_secret_from_file()';

/* ==== 30_engine.sql: foreign keys checked at the end of each statement on sandbox.rule and sandbox.environment, deletions and disablings included (issue 9) ==== */

CREATE FUNCTION sandbox.check_rule_keys()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'sandbox_check_rule_keys_trigger';
CREATE TRIGGER check_rule_keys_insert
	AFTER INSERT ON sandbox.rule REFERENCING NEW TABLE AS new_rules
	FOR EACH STATEMENT EXECUTE FUNCTION sandbox.check_rule_keys();
CREATE TRIGGER check_rule_keys_update
	AFTER UPDATE ON sandbox.rule REFERENCING OLD TABLE AS old_rules NEW TABLE AS new_rules
	FOR EACH STATEMENT EXECUTE FUNCTION sandbox.check_rule_keys();
CREATE TRIGGER check_rule_keys_delete
	AFTER DELETE ON sandbox.rule REFERENCING OLD TABLE AS old_rules
	FOR EACH STATEMENT EXECUTE FUNCTION sandbox.check_rule_keys();
CREATE TRIGGER check_rule_keys
	AFTER UPDATE ON sandbox.environment
	REFERENCING OLD TABLE AS old_environments NEW TABLE AS new_environments
	FOR EACH STATEMENT EXECUTE FUNCTION sandbox.check_rule_keys();
REVOKE ALL ON FUNCTION sandbox.check_rule_keys() FROM PUBLIC;

/* ==== 40_worker.sql: sandbox.database_ready becomes the entry point pg_catalog.sandbox_database_ready (README "Names") ==== */

ALTER FUNCTION sandbox.database_ready() RENAME TO sandbox_database_ready;
ALTER FUNCTION sandbox.sandbox_database_ready() SET SCHEMA pg_catalog;

/* ==== 60_discover.sql: originals_produced_by_masks counts the originals found that a mask also produced (issue 11) ==== */

COMMENT ON COLUMN sandbox.leak_scan.originals_produced_by_masks IS
	'Originals found outside the masked columns that a mask of the run also produced (a masked postcode is another postcode): set aside, not counted as hits; each counted once.  NULL when the scan found no original, so that the masked columns were not read again';
