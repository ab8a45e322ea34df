/*-------------------------------------------------------------------------
 *
 * penelope_sandbox.c
 *		Module entry point: settings, hooks and the production guard.
 *
 * penelope_sandbox makes a restored copy of a production database safe:
 * it de-identifies personal data and switches external integrations off,
 * in place, with set-based SQL driven by the rule catalog in schema
 * "sandbox".  This file loads the module: _PG_init defines every setting
 * and installs every hook and callback, so this one screen shows what the
 * library changes in a server.  It also holds the one check every
 * sanitizing entry point makes first: never on a production server.  The
 * engine itself is in src/engine.c.
 *
 * Copyright (c) 2026, penelope_sandbox developers
 *
 * IDENTIFICATION
 *	  penelope_sandbox.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/dbcommands.h"
#include "commands/seclabel.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "utils/guc.h"

#include "penelope_sandbox.h"

PG_MODULE_MAGIC;

/* ---- Settings ---- */

int			sandbox_server_role = SERVER_ROLE_UNSET;
int			sandbox_update_strategy = STRATEGY_AUTO;
static char *sandbox_confirm_database = NULL;

static const struct config_enum_entry server_role_options[] = {
	{"unset", SERVER_ROLE_UNSET, false},
	{"production", SERVER_ROLE_PRODUCTION, false},
	{"sandbox", SERVER_ROLE_SANDBOX, false},
	{NULL, 0, false}
};

static const struct config_enum_entry update_strategy_options[] = {
	{"auto", STRATEGY_AUTO, false},
	{"update", STRATEGY_UPDATE, false},
	{"rewrite", STRATEGY_REWRITE, false},
	{NULL, 0, false}
};

static const struct config_enum_entry pii_check_options[] = {
	{"environment", PII_CHECK_ENVIRONMENT, false},
	{"error", PII_CHECK_ERROR, false},
	{"warning", PII_CHECK_WARNING, false},
	{"off", PII_CHECK_OFF, false},
	{NULL, 0, false}
};

void		_PG_init(void);

/*
 * Module load callback: every setting, callback and hook of the library.
 *
 * This is the one place that says what the library changes in a server:
 * each setting is defined here (its variable lives in the file of its
 * topic and is declared in penelope_sandbox.h), and each hook and
 * callback is installed here, chaining to the previous one.
 *
 * The SQL functions work whether or not the library is preloaded.  The
 * login gate, the shared state and the launcher need
 * shared_preload_libraries: a library loaded later in one backend would
 * check only that backend's connections and could not ask for shared
 * memory or register a background worker.
 */
void
_PG_init(void)
{
	/* ---- The production guard and the engine (penelope_sandbox.c, rewrite.c) ---- */

	DefineCustomEnumVariable("penelope_sandbox.server_role",
							 "What this server is: production, sandbox, or unset.",
							 "On a production server every sanitizing function "
							 "refuses to run. Set it in postgresql.conf: a restored "
							 "copy of a database does not carry it.",
							 &sandbox_server_role,
							 SERVER_ROLE_UNSET,
							 server_role_options,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	DefineCustomStringVariable("penelope_sandbox.confirm_database",
							   "Name of the current database, to confirm sanitizing it on a server whose role is unset.",
							   NULL,
							   &sandbox_confirm_database,
							   NULL,
							   PGC_USERSET,
							   0,
							   NULL, NULL, NULL);

	DefineCustomEnumVariable("penelope_sandbox.update_strategy",
							 "How tables with rules are changed: auto, update or rewrite.",
							 "\"auto\" and \"rewrite\" rewrite every table with mask, "
							 "set or delete rules into new files, which leaves no old "
							 "row version anywhere; \"update\" runs one UPDATE per "
							 "table, which leaves the old values in dead row versions "
							 "until VACUUM.",
							 &sandbox_update_strategy,
							 STRATEGY_AUTO,
							 update_strategy_options,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("penelope_sandbox.lock_wait_timeout",
							"How long a run may wait for the lock on one of its tables.",
							"0 leaves it to lock_timeout. When it runs out, the run "
							"fails with an error naming the table and its rules.",
							&sandbox_lock_wait_timeout,
							60000, 0, PG_INT32_MAX,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	/* ---- Masking: the key and the maskers (masking.c) ---- */

	DefineCustomStringVariable("penelope_sandbox.secret",
							   "Passphrase from which the masking key is derived, overriding sandbox.secret.",
							   "Databases with the same passphrase give the same pseudonyms. "
							   "Set it in postgresql.conf or with ALTER SYSTEM; it is refused "
							   "for a database or a role, whose settings every role can read, "
							   "and SET would be recorded by statement logging.",
							   &sandbox_secret_setting,
							   NULL,
							   PGC_SUSET,
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   sandbox_secret_check_hook, sandbox_secret_assign_hook, NULL);

	DefineCustomIntVariable("penelope_sandbox.date_window",
							"Largest number of days sandbox.mask_date() moves a date by.",
							NULL,
							&sandbox_date_window,
							180,
							1,
							3650,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	/* the key lives for one transaction at most */
	RegisterXactCallback(sandbox_masking_xact_callback, NULL);
	RegisterSubXactCallback(sandbox_masking_subxact_callback, NULL);

	/* ---- Owner code's messages are silenced (engine.c) ---- */

	sandbox_prev_emit_log_hook = emit_log_hook;
	emit_log_hook = sandbox_silence_owner_messages;

	/* ---- The gate on unsanitized copies (gate.c) ---- */

	DefineCustomStringVariable(SANDBOX_ENVIRONMENT_SETTING,
							   "Environment this database is a sandbox of.",
							   "Set it with ALTER DATABASE ... SET: with the library "
							   "preloaded, the database is then sanitized automatically "
							   "and closed to ordinary roles until it is.",
							   &sandbox_environment, NULL,
							   PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("penelope_sandbox.sandbox_databases",
							   "Databases that are sandboxes, as database=environment, comma-separated.",
							   "Names are compared exactly; double-quote a name with upper case letters.",
							   &sandbox_databases, "",
							   PGC_SIGHUP, 0, sandbox_databases_check_hook, NULL, NULL);
	DefineCustomStringVariable("penelope_sandbox.admin_roles",
							   "Roles that may connect to a sandbox database before it is sanitized.",
							   "Superusers always may.",
							   &sandbox_admin_roles, "",
							   PGC_SIGHUP, GUC_LIST_INPUT, NULL, NULL, NULL);

	/* the ready label: a committed sanitization of this very database */
	register_label_provider(SANDBOX_LABEL_PROVIDER, sandbox_relabel_hook);
	/* the connection check at the first commit; PREPARE after a run refused */
	RegisterXactCallback(sandbox_gate_xact_callback, NULL);
	RegisterSubXactCallback(sandbox_gate_subxact_callback, NULL);
	/* copies of closed databases stay closed; the ready label goes with the extension */
	sandbox_prev_process_utility_hook = ProcessUtility_hook;
	ProcessUtility_hook = sandbox_process_utility;
	sandbox_prev_object_access_hook = object_access_hook;
	object_access_hook = sandbox_object_access;

	/* the connection check must see every connection: preloaded only */
	sandbox_gate_enabled = process_shared_preload_libraries_in_progress;

	/* ---- The launcher and the sanitizers (worker.c) ---- */

	DefineCustomIntVariable("penelope_sandbox.naptime",
							"Seconds between two looks of the launcher for sandbox databases.",
							"Also how long a sandbox database must have had no active client before the launcher sanitizes it.",
							&sandbox_naptime, 10, 1, 3600,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomBoolVariable("penelope_sandbox.auto_sanitize",
							 "Sanitize sandbox databases automatically.",
							 NULL,
							 &sandbox_auto_sanitize, true,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);

	/* sandbox_sanitize_async(): workers start when the caller commits */
	RegisterXactCallback(sandbox_worker_xact_callback, NULL);
	RegisterSubXactCallback(sandbox_worker_subxact_callback, NULL);

	if (process_shared_preload_libraries_in_progress)
	{
		BackgroundWorker worker = {0};

		/* a postmaster setting can only be defined while preloading */
		DefineCustomStringVariable("penelope_sandbox.launcher_database",
								   "Database the launcher connects to.",
								   NULL,
								   &sandbox_launcher_database, "postgres",
								   PGC_POSTMASTER, 0, NULL, NULL, NULL);

		/* where to wake the launcher */
		sandbox_prev_shmem_request_hook = shmem_request_hook;
		shmem_request_hook = sandbox_shmem_request;
		sandbox_prev_shmem_startup_hook = shmem_startup_hook;
		shmem_startup_hook = sandbox_shmem_startup;

		worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
		worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
		worker.bgw_restart_time = 10;
		strlcpy(worker.bgw_library_name, "penelope_sandbox", BGW_MAXLEN);
		strlcpy(worker.bgw_function_name, "sandbox_launcher_main", BGW_MAXLEN);
		strlcpy(worker.bgw_name, LAUNCHER_TYPE, BGW_MAXLEN);
		strlcpy(worker.bgw_type, LAUNCHER_TYPE, BGW_MAXLEN);
		RegisterBackgroundWorker(&worker);
	}

	/* ---- Personal data no rule covers, and the leak scan (discover.c, leakscan.c) ---- */

	DefineCustomEnumVariable("penelope_sandbox.pii_check",
							 "What an uncovered personal-data column, or an original value found after a run, does to the run.",
							 "\"environment\" follows sandbox.discovery_policy; \"error\" fails the run, "
							 "\"warning\" reports and goes on, \"off\" skips discovery and the leak scan.",
							 &sandbox_pii_check,
							 PII_CHECK_ENVIRONMENT,
							 pii_check_options,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("penelope_sandbox.discover_sample_rows",
							"Rows sandbox_discover samples per table.",
							NULL,
							&sandbox_discover_sample_rows,
							1000,
							10,
							1000000,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("penelope_sandbox.leak_scan_max_originals",
							"Most distinct original values the leak scan fingerprints in memory.",
							"Each takes an 8-byte fingerprint in a table at most 70% full "
							"and 1.5 bytes of sieve. Past it the "
							"leak scan is incomplete, which fails or warns like a leak.",
							&sandbox_leak_scan_max_originals,
							10000000,
							1000,
							200000000,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("penelope_sandbox");
}

/* ---- Production guard ---- */

/*
 * sandbox_check_not_production_server
 *		Refuse to go on if penelope_sandbox.server_role says production.
 *		sandbox_plan and sandbox_verify check this much: they neither
 *		change data nor need a confirmation, but they run rule SQL and
 *		may need the masking key, which a production server never makes.
 */
void
sandbox_check_not_production_server(void)
{
	if (sandbox_server_role == SERVER_ROLE_PRODUCTION)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("this server is a production server"),
				 errdetail("penelope_sandbox.server_role is set to \"production\" in the server configuration."),
				 errhint("Sanitize a restored copy on a server configured with penelope_sandbox.server_role = 'sandbox'.")));
}

/*
 * sandbox_check_not_production
 *		Refuse to go on if the server or the environment is production.
 *
 * The server's role comes from postgresql.conf, never from a table: a
 * restored copy carries production's tables, including our catalog, but
 * not production's configuration file.  The system identifier is no help
 * either, since a physical copy keeps it.  Where the role is unset the
 * caller must name the current database in
 * penelope_sandbox.confirm_database, so a forgotten setting never lets a
 * sanitization through by accident.
 */
void
sandbox_check_not_production(const char *environment)
{
	const char *dbname;

	if (environment != NULL && strcmp(environment, "production") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("environment \"production\" is never sanitized"),
				 errhint("Name the environment this copy is for, such as \"migration\" or \"training_a\".")));

	sandbox_check_not_production_server();

	if (sandbox_server_role == SERVER_ROLE_SANDBOX)
		return;

	dbname = get_database_name(MyDatabaseId);
	if (sandbox_confirm_database == NULL ||
		dbname == NULL ||
		strcmp(sandbox_confirm_database, dbname) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this server has not been identified as a sandbox server"),
				 errdetail("penelope_sandbox.server_role is not set, so the server might be production."),
				 errhint("Set penelope_sandbox.server_role = 'sandbox' in postgresql.conf, or confirm this once with SET penelope_sandbox.confirm_database = '<name of this database>'.")));
}
