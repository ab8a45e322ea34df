--
-- outbound: PostgreSQL's own channels out of a sanitized copy.  Every
-- run disables the database's subscriptions (and detaches their slots),
-- drops its user mappings, and says so in the plan, the ledger and
-- sandbox_verify; an environment can opt out.
--
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS penelope_sandbox;
UPDATE sandbox.discovery_policy SET on_failure = 'off'; -- the engine alone here: sql/discover.sql tests discovery and the leak scan
CREATE EXTENSION IF NOT EXISTS postgres_fdw;
CREATE ROLE regress_out_app;

CREATE SERVER regress_prod FOREIGN DATA WRAPPER postgres_fdw
	OPTIONS (host 'prod.example.invalid', dbname 'penelope');
CREATE USER MAPPING FOR regress_out_app SERVER regress_prod
	OPTIONS (user 'app', password 'production-secret');
CREATE USER MAPPING FOR PUBLIC SERVER regress_prod
	OPTIONS (user 'reader', password 'another-secret');
CREATE SUBSCRIPTION "Regress Sub" CONNECTION 'host=prod.example.invalid dbname=penelope'
	PUBLICATION p WITH (connect = false);

-- an environment that keeps them: nothing happens to them
INSERT INTO sandbox.environment (name, description, disable_outbound)
	VALUES ('regress_keep', 'keeps outbound channels', false);
SELECT * FROM sandbox_plan('regress_keep');
SELECT sandbox_sanitize('regress_keep') ~ '^run \d+: "regress_keep" applied' AS sanitized;
SELECT count(*) AS user_mappings FROM pg_user_mappings;

-- the default: closed, one statement per object, in the plan first
SELECT * FROM sandbox_plan('mirrored');
SELECT sandbox_sanitize('mirrored') ~ '^run \d+: "mirrored" applied' AS sanitized;
SELECT subname, subenabled, subslotname FROM pg_subscription;
SELECT count(*) AS user_mappings FROM pg_user_mappings;
SELECT step, method, table_name, rows, statement FROM sandbox.run_step
WHERE run_id = (SELECT max(id) FROM sandbox.run) ORDER BY step;
SELECT ok, violations, detail, action FROM sandbox_verify('mirrored') WHERE rule_id IS NULL;

-- a channel opened again shows in sandbox_verify
CREATE USER MAPPING FOR regress_out_app SERVER regress_prod OPTIONS (user 'app');
SELECT ok, violations, detail FROM sandbox_verify('mirrored') WHERE rule_id IS NULL;

-- clean up
DROP SUBSCRIPTION "Regress Sub";
DROP USER MAPPING FOR regress_out_app SERVER regress_prod;
DROP SERVER regress_prod;
DELETE FROM sandbox.run_step;
DELETE FROM sandbox.run;
DELETE FROM sandbox.environment WHERE name = 'regress_keep';
DROP ROLE regress_out_app;
