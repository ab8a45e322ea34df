-- 41_penelope_mirrored.sql: the Mirrored environment of the "penelope"
-- profile (issue 4): "exactly the same disabled functionality and the same
-- after-copy actions as Migration", plus SSO disabled (seed 001).  One
-- assertion (or more) per line, see penelope_checks.psql.
BEGIN;
SELECT plan(64);

\ir penelope_setup.psql

SELECT set_eq(
	$$SELECT feature, table_name, column_name, action, expression, filter, restorable FROM sandbox.rule WHERE environment = 'mirrored' AND feature <> 'sso'$$,
	$$SELECT feature, table_name, column_name, action, expression, filter, restorable FROM sandbox.rule WHERE environment = 'migration'$$,
	'mirrored: the same rules as migration, apart from SSO');
SELECT is((SELECT count(*) FROM sandbox.rule WHERE environment = 'mirrored' AND feature = 'sso'), 2::bigint,
	'mirrored: two SSO rules (switch off, secret cleared)');
SELECT is((SELECT count(*) FROM sandbox.rule WHERE environment = 'mirrored' AND description !~ '^Mirrored'), 0::bigint,
	'mirrored: every rule quotes the Mirrored line it implements');
SELECT set_eq($$SELECT feature, policy FROM sandbox.feature WHERE environment = 'mirrored'$$,
	$$SELECT feature, policy FROM sandbox.feature WHERE environment = 'migration' UNION ALL VALUES ('sso', 'manual')$$,
	'mirrored: the same feature policies as migration, plus SSO (manual)');

SELECT lives_ok($$SELECT sandbox_sanitize('mirrored')$$, 'sanitize as mirrored');
\set env mirrored
\set training false
\set mirrored true
\ir penelope_checks.psql

SELECT * FROM finish();
ROLLBACK;
