/*-------------------------------------------------------------------------
 *
 * feature.c
 *		Features switched off by sanitization: re-enable or lock.
 *
 * A feature (sandbox.rule.feature) is the group of rules that switch one
 * integration off.  Its policy in an environment (sandbox.feature,
 * inherited like rules) decides what may happen after sanitization:
 *
 *	reenable	sandbox_enable_feature() puts back the values that the
 *				feature's restorable rules overwrote, as saved during the
 *				run (never guessed); credentials and queues, cleared by
 *				rules that are not restorable, stay cleared.
 *	locked		after the run, a guard trigger on each column a rule of the
 *				feature switched off rejects any change back; an event
 *				trigger keeps those guards from being dropped, disabled or
 *				renamed, so only dropping the extension removes them.
 *
 * Copyright (c) 2026, penelope_sandbox developers
 *
 * IDENTIFICATION
 *	  src/feature.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relation.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/syscache.h"

#include "penelope_sandbox.h"

PG_FUNCTION_INFO_V1(sandbox_enable_feature);
PG_FUNCTION_INFO_V1(sandbox_guard_locked_feature);

/* ---- Helpers ---- */

/*
 * sandbox_feature_policy
 *		The policy ("reenable", "locked") of a feature in an environment,
 *		the nearest environment's first; NULL when it has none.  The
 *		caller must be connected to SPI.
 */
char *
sandbox_feature_policy(const char *environment, const char *feature)
{
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		args[2];
	char	   *policy = NULL;

	if (feature == NULL)
		return NULL;
	args[0] = CStringGetTextDatum(environment);
	args[1] = CStringGetTextDatum(feature);
	if (SPI_execute_with_args("SELECT f.policy FROM sandbox.feature f"
							  " JOIN sandbox.environment_chain($1) c ON c.name = f.environment"
							  " WHERE f.feature = $2 ORDER BY c.depth LIMIT 1",
							  2, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read sandbox.feature");
	if (SPI_processed == 1)
		policy = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	return policy;
}

/*
 * sandbox_primary_key_columns
 *		Names of the primary-key columns of a table; NIL without one.
 */
List *
sandbox_primary_key_columns(Oid relid)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	Oid			pkoid = RelationGetPrimaryKeyIndex(rel);
	List	   *columns = NIL;

	if (OidIsValid(pkoid))
	{
		Relation	index = index_open(pkoid, AccessShareLock);

		for (int i = 0; i < index->rd_index->indnkeyatts; i++)
		{
			AttrNumber	attnum = index->rd_index->indkey.values[i];

			columns = lappend(columns,
							  pstrdup(NameStr(TupleDescAttr(RelationGetDescr(rel), attnum - 1)->attname)));
		}
		index_close(index, AccessShareLock);
	}
	relation_close(rel, AccessShareLock);
	return columns;
}

/*
 * locked_error
 *		The error for an attempt to re-enable a locked feature.
 */
static void
locked_error(const char *feature, const char *environment, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("feature \"%s\" is locked in environment \"%s\"", feature, environment),
			 detail ? errdetail_internal("%s", detail) : 0,
			 errhint("A locked feature cannot be turned back on in a sanitized database.")));
}

/* ---- During a run ---- */

/*
 * sandbox_save_restorable
 *		Before a table's rules run, save the values its restorable rules
 *		are about to overwrite, keyed by primary key.
 *
 * The values are read as the table's owner (the rule's filter runs with
 * the owner's rights, as everywhere, and an error names the rule without
 * a row value) and stored as the caller.  The caller must be connected
 * to SPI.
 */
void
sandbox_save_restorable(int64 run_id, Oid relid, List *rules)
{
	StringInfoData key;
	bool		any_restorable = false;
	ListCell   *lc;

	foreach(lc, rules)
		any_restorable |= ((SandboxRule *) lfirst(lc))->restorable;
	if (!any_restorable)
		return;

	/* the primary key, as jsonb_build_object() arguments */
	initStringInfo(&key);
	foreach(lc, sandbox_primary_key_columns(relid))
		appendStringInfo(&key, "%s%s, %s", key.len > 0 ? ", " : "",
						 quote_literal_cstr(lfirst(lc)), quote_identifier(lfirst(lc)));

	foreach(lc, rules)
	{
		SandboxRule *rule = lfirst(lc);
		Oid			argtypes[7] = {INT8OID, INT8OID, TEXTOID, NAMEOID, NAMEOID, NAMEOID, TEXTOID};
		Datum		args[7];
		bool		isnull;
		Datum		saved;

		if (!rule->restorable)
			continue;

		sandbox_run_rule_sql(rule,
							 psprintf("SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array("
									  "pg_catalog.jsonb_build_object(%s), pg_catalog.to_jsonb(%s)))::text"
									  " FROM %s%s%s",
									  key.data, quote_identifier(rule->column_name),
									  quote_qualified_identifier(rule->table_schema, rule->table_name),
									  rule->filter ? " WHERE " : "",
									  rule->filter ? sandbox_rule_expression_sql(rule, true) : ""));
		saved = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (isnull)
			continue;			/* no row to save */

		args[0] = Int64GetDatum(run_id);
		args[1] = Int64GetDatum(rule->id);
		args[2] = CStringGetTextDatum(rule->feature);
		args[3] = DirectFunctionCall1(namein, CStringGetDatum(rule->table_schema));
		args[4] = DirectFunctionCall1(namein, CStringGetDatum(rule->table_name));
		args[5] = DirectFunctionCall1(namein, CStringGetDatum(rule->column_name));
		args[6] = datumCopy(saved, false, -1);
		if (SPI_execute_with_args("INSERT INTO sandbox.saved_value (run_id, rule_id, feature,"
								  " table_schema, table_name, column_name, row_key, old_value)"
								  " SELECT $1, $2, $3, $4, $5, $6, e->0, e->1"
								  " FROM pg_catalog.jsonb_array_elements($7::pg_catalog.jsonb) e",
								  7, argtypes, args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not insert into sandbox.saved_value");
	}
}

/*
 * sandbox_lock_features
 *		After a successful run, guard the columns that the rules of locked
 *		features switched off.
 *
 * A guard is a row trigger, one per rule, comparing the new value of the
 * column with the value the rule gave it.  Only rules that give every
 * row the same value (no filter, an expression reading no column) can be
 * guarded this way; they are what switching a feature off looks like.
 * The caller must be connected to SPI.
 */
void
sandbox_lock_features(const char *environment, List *rules)
{
	ListCell   *lc;

	foreach(lc, rules)
	{
		SandboxRule *rule = lfirst(lc);
		char	   *policy;
		char	   *trigger_name;
		char	   *value;
		char	   *qualname;

		if (rule->action != ACTION_SET || rule->filter != NULL || rule->expr_reads_row)
			continue;
		policy = sandbox_feature_policy(environment, rule->feature);
		if (policy == NULL || strcmp(policy, "locked") != 0)
			continue;

		trigger_name = psprintf("sandbox_lock_%lld", (long long) rule->id);
		if (SPI_execute(psprintf("SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid = %u AND tgname = %s",
								 rule->relid, quote_literal_cstr(trigger_name)),
						true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read pg_trigger");
		if (SPI_processed > 0)
			continue;

		qualname = quote_qualified_identifier(rule->table_schema, rule->table_name);
		sandbox_run_rule_sql(rule,
							 psprintf("SELECT CAST(%s AS %s)", sandbox_rule_expression_sql(rule, false),
									  format_type_be(get_atttype(rule->relid,
																 get_attnum(rule->relid, rule->column_name)))));
		value = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (SPI_execute(psprintf("CREATE TRIGGER %s BEFORE INSERT OR UPDATE OF %s ON %s"
								 " FOR EACH ROW EXECUTE FUNCTION sandbox.guard_locked_feature(%s, %s, %s, %s)",
								 quote_identifier(trigger_name),
								 quote_identifier(rule->column_name), qualname,
								 quote_literal_cstr(environment),
								 quote_literal_cstr(rule->feature),
								 quote_literal_cstr(rule->column_name),
								 value ? quote_literal_cstr(value) : "NULL"),
						false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "could not create trigger %s", trigger_name);
	}
}

/* ---- SQL-callable functions ---- */

/*
 * sandbox_guard_locked_feature
 *		BEFORE INSERT OR UPDATE row trigger guarding a locked feature.
 *		Arguments: environment, feature, column, locked value (NULL: the
 *		column must stay NULL).
 */
Datum
sandbox_guard_locked_feature(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	HeapTuple	tuple;
	TupleDesc	tupdesc;
	char	  **args;
	char	   *value;
	int			attnum;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) || trigdata->tg_trigger->tgnargs != 4)
		elog(ERROR, "sandbox.guard_locked_feature: not fired as a BEFORE row trigger with 4 arguments");

	args = trigdata->tg_trigger->tgargs;
	tuple = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ?
		trigdata->tg_newtuple : trigdata->tg_trigtuple;
	tupdesc = trigdata->tg_relation->rd_att;
	attnum = SPI_fnumber(tupdesc, args[2]);
	if (attnum <= 0)
		elog(ERROR, "sandbox.guard_locked_feature: column \"%s\" does not exist", args[2]);

	/* the trigger's 4th argument is NULL when the locked value is NULL */
	value = SPI_getvalue(tuple, tupdesc, attnum);
	if ((value == NULL) != (args[3] == NULL) ||
		(value != NULL && strcmp(value, args[3]) != 0))
		locked_error(args[1], args[0],
					 psprintf("Column %s of table %s keeps the value sanitization gave it.",
							  args[2], RelationGetRelationName(trigdata->tg_relation)));

	return PointerGetDatum(tuple);
}

/*
 * sandbox_enable_feature(feature text) returns text
 *		Put back the values the last run's restorable rules of a feature
 *		overwrote, if the feature's policy allows it, and log it.
 */
Datum
sandbox_enable_feature(PG_FUNCTION_ARGS)
{
	char	   *feature = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Oid			argtypes[2] = {INT8OID, TEXTOID};
	Datum		args[2];
	int64		run_id;
	char	   *environment;
	char	   *policy;
	int64		restored = 0;
	bool		isnull;
	SPITupleTable *saved;
	char	   *result;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/* the environment this database was last sanitized as */
	if (SPI_execute("SELECT id, environment FROM sandbox.last_run() WHERE id IS NOT NULL",
					true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read sandbox.run");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this database has not been sanitized"),
				 errhint("Features are re-enabled in a database sanitized with sandbox_sanitize().")));
	run_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	environment = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);

	policy = sandbox_feature_policy(environment, feature);
	if (policy != NULL && strcmp(policy, "locked") == 0)
		locked_error(feature, environment, NULL);
	if (policy == NULL || strcmp(policy, "reenable") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("feature \"%s\" cannot be re-enabled in environment \"%s\"", feature, environment),
				 errhint("Table sandbox.feature lists the features each environment may re-enable.")));

	/* one set-based UPDATE per restorable rule of the run */
	args[0] = Int64GetDatum(run_id);
	args[1] = CStringGetTextDatum(feature);
	if (SPI_execute_with_args("SELECT rule_id, table_schema, table_name, column_name,"
							  " pg_catalog.jsonb_agg(row_key || pg_catalog.jsonb_build_object(column_name::text, old_value))::text"
							  " FROM sandbox.saved_value WHERE run_id = $1 AND feature = $2"
							  " GROUP BY 1, 2, 3, 4 ORDER BY 1",
							  2, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read sandbox.saved_value");
	saved = SPI_tuptable;

	for (uint64 i = 0; i < saved->numvals; i++)
	{
		HeapTuple	tuple = saved->vals[i];
		char	   *schema = SPI_getvalue(tuple, saved->tupdesc, 2);
		char	   *table = SPI_getvalue(tuple, saved->tupdesc, 3);
		char	   *column = SPI_getvalue(tuple, saved->tupdesc, 4);
		Oid			rowsargtypes[1] = {TEXTOID};
		Datum		rows[1] = {CStringGetTextDatum(SPI_getvalue(tuple, saved->tupdesc, 5))};
		Oid			relid = get_relname_relid(table, get_namespace_oid(schema, false));
		char	   *qualname = quote_qualified_identifier(schema, table);
		StringInfoData match;
		ListCell   *lc;

		if (!OidIsValid(relid))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("table %s no longer exists", qualname)));
		initStringInfo(&match);
		foreach(lc, sandbox_primary_key_columns(relid))
			appendStringInfo(&match, "%st.%s OPERATOR(pg_catalog.=) r.%s", match.len > 0 ? " AND " : "",
							 quote_identifier(lfirst(lc)), quote_identifier(lfirst(lc)));

		sandbox_run_guarded_sql(relid, psprintf("restoring column %s of table %s",
												quote_identifier(column), qualname),
								psprintf("UPDATE %s t SET %s = r.%s"
										 " FROM pg_catalog.jsonb_populate_recordset(NULL::%s, $2::pg_catalog.jsonb) r"
										 " WHERE %s",
										 qualname, quote_identifier(column), quote_identifier(column),
										 qualname, match.data),
								1, rowsargtypes, rows);
		restored += SPI_processed;
	}

	{
		Oid			logtypes[3] = {INT8OID, TEXTOID, INT8OID};
		Datum		logargs[3] = {Int64GetDatum(run_id), CStringGetTextDatum(feature),
		Int64GetDatum(restored)};

		if (SPI_execute_with_args("INSERT INTO sandbox.feature_event (run_id, feature, action, rows)"
								  " VALUES ($1, $2, 'enabled', $3)",
								  3, logtypes, logargs, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not insert into sandbox.feature_event");
	}

	result = psprintf("feature \"%s\" re-enabled in environment \"%s\": %lld values restored from run %lld",
					  feature, environment, (long long) restored, (long long) run_id);
	SPI_finish();
	PG_RETURN_TEXT_P(cstring_to_text(result));
}
