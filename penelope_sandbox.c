/*-------------------------------------------------------------------------
 *
 * penelope_sandbox.c
 *		Module entry point: settings and the production guard.
 *
 * penelope_sandbox makes a restored copy of a production database safe:
 * it de-identifies personal data and switches external integrations off,
 * in place, with set-based SQL driven by the rule catalog in schema
 * "sandbox".  This file loads the module, defines its settings and holds
 * the one check every sanitizing entry point makes first: never on a
 * production server.  The engine itself is in src/engine.c.
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
#include "fmgr.h"
#include "miscadmin.h"
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

void		_PG_init(void);

/*
 * Module load callback: define the settings.
 *
 * The SQL functions work whether or not the library is preloaded; the
 * background worker of a later version needs shared_preload_libraries.
 */
void
_PG_init(void)
{
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

	sandbox_masking_init();
	sandbox_engine_init();
	sandbox_worker_init();
	sandbox_discover_init();

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
