/*-------------------------------------------------------------------------
 *
 * outbound.c
 *		PostgreSQL's own channels out of a sanitized database.
 *
 * A copy of production carries more than application data that can
 * reach production systems: logical-replication subscriptions, user
 * mappings holding the credentials of foreign servers, and pg_cron jobs.
 * Unless its environment opts out (sandbox.environment.disable_outbound),
 * every sanitization also
 *
 *	- disables each subscription of the database and detaches it from its
 *	  replication slot (the slot on the publisher is left alone: dropping
 *	  it from a copy would break production's replication);
 *	- drops every user mapping of the database;
 *	- deactivates the pg_cron jobs of the database, except the sandbox's
 *	  own (exactly the commands docs/pg_cron.md schedules), when pg_cron
 *	  lives here.
 *
 * These are built-in steps: they run with the rights of the sanitizing
 * function's owner (a superuser), are recorded in the run ledger like
 * rule statements, and are checked by sandbox_verify.
 *
 * Copyright (c) 2026, penelope_sandbox developers
 *
 * IDENTIFICATION
 *	  src/outbound.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "penelope_sandbox.h"

/*
 * The sandbox's own pg_cron jobs: commands that are, as a whole, exactly
 * what docs/pg_cron.md schedules (white space aside): a call of
 * sandbox_sanitize or sandbox_verify on an environment, or the recipe's
 * block that fails when sandbox_verify finds a check that does not hold.
 * A command that merely mentions them (in a comment, or next to another
 * statement) is not one of them.
 */
#define ENVIRONMENT_LITERAL "''[a-z][a-z0-9_]*''"
#define OWN_CRON_CALL \
	"^\\s*SELECT\\s+(pg_catalog\\.)?sandbox_(sanitize|verify)\\(" ENVIRONMENT_LITERAL "\\)\\s*;?\\s*$"
#define OWN_CRON_VERIFY_BLOCK \
	"^\\s*DO\\s+\\$\\$\\s*DECLARE\\s+failing\\s+bigint;\\s*BEGIN\\s+" \
	"SELECT\\s+count\\(\\*\\)\\s+INTO\\s+failing\\s+FROM\\s+sandbox_verify\\(" ENVIRONMENT_LITERAL "\\)" \
	"\\s+WHERE\\s+NOT\\s+ok;\\s*IF\\s+failing\\s*>\\s*0\\s+THEN\\s+" \
	"RAISE\\s+EXCEPTION\\s+''sandbox_verify\\([a-z][a-z0-9_]*\\):\\s+%\\s+checks\\s+fail'',\\s*failing;" \
	"\\s*END\\s+IF;\\s*END\\s*\\$\\$\\s*;?\\s*$"

/* pg_cron jobs of this database that are not the sandbox's own */
#define FOREIGN_CRON_JOBS \
	"FROM cron.job WHERE database OPERATOR(pg_catalog.=) pg_catalog.current_database() AND active" \
	" AND command OPERATOR(pg_catalog.!~*) '" OWN_CRON_CALL "'" \
	" AND command OPERATOR(pg_catalog.!~*) '" OWN_CRON_VERIFY_BLOCK "'"

/*
 * new_outbound_step
 *		An OutboundStep, appended to a list.
 */
static List *
new_outbound_step(List *steps, const char *object, const char *sql,
				  const char *count_sql)
{
	OutboundStep *step = palloc0(sizeof(OutboundStep));

	step->object = pstrdup(object);
	step->sql = pstrdup(sql);
	step->count_sql = count_sql ? pstrdup(count_sql) : NULL;
	return lappend(steps, step);
}

/* A step changing one object */
#define ONE_OBJECT "SELECT 1::pg_catalog.int8"

/*
 * cron_is_here
 *		Whether pg_cron's job table is in this database.
 */
static bool
cron_is_here(void)
{
	if (SPI_execute("SELECT pg_catalog.to_regclass('cron.job') IS NOT NULL", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look for cron.job");
	return strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), "t") == 0;
}

/*
 * sandbox_outbound_steps
 *		The statements closing this database's outbound channels now, one
 *		per object.  The caller must be connected to SPI.
 */
List *
sandbox_outbound_steps(void)
{
	List	   *steps = NIL;
	List	   *subscriptions = NIL;
	List	   *mappings = NIL;
	ListCell   *lc;

	/* Subscriptions of this database that are enabled or hold a slot */
	if (SPI_execute(psprintf("SELECT subname FROM pg_catalog.pg_subscription"
							 " WHERE subdbid OPERATOR(pg_catalog.=) %u AND (subenabled OR subslotname IS NOT NULL)"
							 " ORDER BY subname", MyDatabaseId),
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_subscription");
	for (uint64 i = 0; i < SPI_processed; i++)
		subscriptions = lappend(subscriptions,
								SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	foreach(lc, subscriptions)
	{
		const char *name = quote_identifier(lfirst(lc));

		steps = new_outbound_step(steps, "subscription",
								  psprintf("ALTER SUBSCRIPTION %s DISABLE", name), ONE_OBJECT);
		steps = new_outbound_step(steps, "subscription",
								  psprintf("ALTER SUBSCRIPTION %s SET (slot_name = NONE)", name),
								  ONE_OBJECT);
	}

	/* User mappings, with the credentials they hold */
	if (SPI_execute("SELECT CASE WHEN umuser OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'"
					"  ELSE pg_catalog.quote_ident(usename) END,"
					" pg_catalog.quote_ident(srvname)"
					" FROM pg_catalog.pg_user_mappings ORDER BY srvname, usename",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_user_mappings");
	for (uint64 i = 0; i < SPI_processed; i++)
		mappings = lappend(mappings,
						   psprintf("DROP USER MAPPING FOR %s SERVER %s",
									SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1),
									SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2)));
	foreach(lc, mappings)
		steps = new_outbound_step(steps, "user mapping", lfirst(lc), ONE_OBJECT);

	/* pg_cron jobs aimed at this database */
	if (cron_is_here())
		steps = new_outbound_step(steps, "cron job",
								  "UPDATE cron.job SET active = false WHERE jobid OPERATOR(pg_catalog.=) ANY"
								  " (SELECT jobid " FOREIGN_CRON_JOBS ")",
								  "SELECT pg_catalog.count(*) " FOREIGN_CRON_JOBS);
	return steps;
}

/*
 * sandbox_outbound_checks
 *		Queries counting what is still open, each with its description.
 *		The caller must be connected to SPI.
 */
List *
sandbox_outbound_checks(void)
{
	List	   *checks = NIL;

	checks = new_outbound_step(checks, "no subscription of this database is enabled or holds a slot",
							   psprintf("SELECT pg_catalog.count(*) FROM pg_catalog.pg_subscription"
										" WHERE subdbid OPERATOR(pg_catalog.=) %u AND (subenabled OR subslotname IS NOT NULL)",
										MyDatabaseId), NULL);
	checks = new_outbound_step(checks, "no user mapping holds credentials of a foreign server",
							   "SELECT pg_catalog.count(*) FROM pg_catalog.pg_user_mappings", NULL);
	if (cron_is_here())
		checks = new_outbound_step(checks, "no pg_cron job but the sandbox's own is active here",
								   "SELECT pg_catalog.count(*) " FOREIGN_CRON_JOBS, NULL);
	return checks;
}
