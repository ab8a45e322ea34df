-- penelope_sandbox--1.0--1.1.sql: upgrade from 1.0 to 1.1
--
-- ALTER EXTENSION penelope_sandbox UPDATE runs this file on a 1.0
-- installation.  Afterwards the extension's objects must be exactly those a
-- fresh CREATE EXTENSION of 1.1 makes (src/sql/*.sql): t/010_upgrade.pl
-- compares the two and fails on any difference.  Every change made to
-- src/sql/ since 1.0 belongs here, written so that the data in the catalog
-- and the ledger (sandbox.rule, sandbox.environment, sandbox.run, ...)
-- survives: ALTER/CREATE OR REPLACE, never DROP and re-create a table.

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION penelope_sandbox UPDATE TO '1.1'" to load this file. \quit
