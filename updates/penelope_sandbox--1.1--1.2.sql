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
