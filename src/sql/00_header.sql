-- penelope_sandbox--<version>.sql (the current version, default_version of the
-- control file): assembled from the files in src/sql/ by the Makefile

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION penelope_sandbox" to load this file. \quit

CREATE SCHEMA sandbox;
COMMENT ON SCHEMA sandbox IS 'penelope_sandbox: rule catalog, run ledger and masking functions';

-- Table owners' statements run as the owner, and masking functions are
-- called from their rules: the schema must be usable by them.
GRANT USAGE ON SCHEMA sandbox TO PUBLIC;
