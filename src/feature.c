/*-------------------------------------------------------------------------
 *
 * feature.c
 *		Features switched off by sanitization: re-enable, lock, report;
 *		and which rules a run applies again.
 *
 * A feature (sandbox.rule.feature) is the group of rules that switch one
 * integration off.  Its policy in an environment (sandbox.feature,
 * inherited like rules) decides what may happen after sanitization:
 *
 *	reenable	sandbox_enable_feature() puts back the values that the
 *				feature's restorable rules overwrote, as saved by the first
 *				run of this copy that overwrote them (never guessed);
 *				credentials and queues, cleared by rules that are not
 *				restorable, stay cleared, and the DBA is told so.
 *	manual		the extension never switches it back on (its credentials
 *				are gone); an administrator may, by hand, with new ones.
 *	locked		it can never be switched back on in this database.  After
 *				the run, an AFTER INSERT OR UPDATE row trigger (the guard),
 *				enabled ALWAYS and with no column list, checks the final
 *				row of every change of each switched-off column, found by
 *				attribute number; an event trigger keeps guards from being
 *				dropped or weakened and guarded columns and tables from
 *				being renamed, dropped, retyped, rewritten or inherited.
 *				Guards are recognised by their function, which only the
 *				extension may attach (EXECUTE is revoked from PUBLIC).
 *
 * A feature name without a policy is a data action (phi, client_contact,
 * logos, ...): rules that change data, not a switch.
 *
 * Running again: a mask rule changes a value computed from the value it
 * finds, so applying it twice gives a different value.  A mask rule whose
 * definition a succeeded run of this copy (database OID and system
 * identifier) already applied is left out of the plan; every other rule
 * (set, delete, truncate) gives the same result however often it runs and
 * runs every time.  Values saved for re-enabling are kept from the first
 * run of the copy that overwrote them.
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
#include "access/htup_details.h"
#include "access/relation.h"
#include "catalog/namespace.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_class.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "parser/parse_func.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/syscache.h"

#include "penelope_sandbox.h"

PG_FUNCTION_INFO_V1(sandbox_enable_feature);
PG_FUNCTION_INFO_V1(sandbox_guard_locked_feature);
PG_FUNCTION_INFO_V1(sandbox_protect_feature_locks);
PG_FUNCTION_INFO_V1(sandbox_feature_switches);

/* Arguments of a guard trigger */
enum
{
	GUARD_ARG_ENVIRONMENT,
	GUARD_ARG_FEATURE,
	GUARD_ARG_TABLE,			/* quoted, schema-qualified */
	GUARD_ARG_ATTNUM,
	GUARD_ARG_COLUMN,
	GUARD_ARG_VALUE,			/* "=" and the value's text, or "null" */
	GUARD_NARGS
};

/* Prefix of the names of guard triggers */
#define GUARD_NAME_PREFIX "sandbox_lock_"

/* ---- Helpers ---- */

/*
 * sandbox_feature_policy
 *		The policy ("reenable", "manual", "locked") of a feature in an
 *		environment, the nearest environment's first; NULL when it has
 *		none.  The caller must be connected to SPI.
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
							  " JOIN sandbox.environment_chain($1) c ON c.name OPERATOR(pg_catalog.=) f.environment"
							  " WHERE f.feature OPERATOR(pg_catalog.=) $2 ORDER BY c.depth LIMIT 1",
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
 * name_datum
 *		A C string as a NameData datum, for NAMEOID parameters: a name is
 *		a fixed-size, zero-padded buffer, never a bare C string.
 */
static Datum
name_datum(const char *str)
{
	return DirectFunctionCall1(namein, CStringGetDatum(str));
}

/*
 * relation_qualname
 *		The quoted, schema-qualified name of a relation.
 */
static char *
relation_qualname(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

/*
 * locked_error
 *		The error for an attempt to switch a locked feature back on.
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

/*
 * guard_error
 *		The error for DDL that would weaken the lock of a feature.
 */
static void
guard_error(const char *message, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg_internal("%s", message),
			 detail ? errdetail_internal("%s", detail) : 0,
			 errhint("Locked features stay off in a sanitized database; only dropping the table or the extension removes the lock.")));
}

/*
 * guard_function_oid
 *		The OID of sandbox.guard_locked_feature().
 */
static Oid
guard_function_oid(void)
{
	return LookupFuncName(list_make2(makeString(SANDBOX_SCHEMA),
									 makeString("guard_locked_feature")),
						  0, NULL, false);
}

/* ---- Running again ---- */

/*
 * unmasked_rows_filter
 *		For a mask rule applied before whose recogniser is exact (see
 *		sandbox_recogniser_is_exact), or that has none, the filter of the
 *		rows it still has to mask: its own filter, and a value the
 *		recogniser rejects or that is not the expression's, the way
 *		verify_check_sql in engine.c checks it, as schema-qualified
 *		SQL (the filter as validated and deparsed).  NULL for any other
 *		rule.  The rule must be validated.
 */
static char *
unmasked_rows_filter(SandboxRule *rule)
{
	char	   *recogniser;
	char	   *unmasked;

	if (rule->action != ACTION_MASK)
		return NULL;
	if (!OidIsValid(rule->recogniser))
	{
		/*
		 * Checked by its expression, which cannot read the column it
		 * writes (see sandbox_validate_rule): applying it again gives the
		 * same value, so it applies to the rows that do not hold it.
		 */
		unmasked = psprintf("%s IS DISTINCT FROM CAST(%s AS %s)",
							quote_identifier(rule->column_name),
							sandbox_rule_expression_sql(rule, false),
							format_type_be(get_atttype(rule->relid,
													   get_attnum(rule->relid, rule->column_name))));
	}
	else if (sandbox_recogniser_is_exact(rule->recogniser))
	{
		recogniser = quote_qualified_identifier(get_namespace_name(get_func_namespace(rule->recogniser)),
												get_func_name(rule->recogniser));
		unmasked = psprintf("%s IS NOT NULL AND NOT %s(%s%s)",
							quote_identifier(rule->column_name), recogniser,
							quote_identifier(rule->column_name),
							rule->recogniser_args ? rule->recogniser_args : "");
	}
	else
		return NULL;
	if (rule->filter == NULL)
		return unmasked;
	return psprintf("%s AND %s", sandbox_wrap_sql(rule->filter_sql), unmasked);
}

/*
 * has_unmasked_rows
 *		Whether any row of the rule's table matches a filter, read as the
 *		table's owner like every other query of a run on it.
 */
static bool
has_unmasked_rows(SandboxRule *rule, const char *filter)
{
	bool		isnull;

	sandbox_run_rule_sql(rule, psprintf("SELECT EXISTS (SELECT FROM %s WHERE %s)",
										quote_qualified_identifier(rule->table_schema,
																   rule->table_name),
										filter));
	return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * sandbox_rules_to_apply
 *		The rules of a list that a run applies: every rule except the mask
 *		rules whose definition a succeeded run of this copy already
 *		applied (see sandbox.rules_already_applied, the one place where
 *		that is decided).  Such a rule whose recogniser is exact still
 *		applies to the rows it rejects (rows added since the first run):
 *		it stays in the run, its filter narrowed to them, if there are
 *		any.  A NOTICE says how many were left out or narrowed.  The
 *		caller must be connected to SPI.
 */
List *
sandbox_rules_to_apply(List *rules)
{
	Datum	   *ids;
	Oid			argtypes[1] = {INT8ARRAYOID};
	Datum		args[1];
	int64	   *skipped;
	uint64		nskipped;
	int			nnarrowed = 0;
	List	   *result = NIL;
	bool		isnull;
	ListCell   *lc;

	if (rules == NIL)
		return NIL;
	ids = palloc(sizeof(Datum) * list_length(rules));
	foreach(lc, rules)
		ids[foreach_current_index(lc)] = Int64GetDatum(((SandboxRule *) lfirst(lc))->id);
	args[0] = PointerGetDatum(construct_array(ids, list_length(rules), INT8OID,
											  8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	if (SPI_execute_with_args("SELECT id FROM sandbox.rules_already_applied($1) AS id",
							  1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read sandbox.run_rule");
	nskipped = SPI_processed;
	skipped = palloc(sizeof(int64) * (nskipped + 1));
	for (uint64 i = 0; i < nskipped; i++)
		skipped[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));

	foreach(lc, rules)
	{
		SandboxRule *rule = lfirst(lc);
		bool		applied = false;
		char	   *filter;

		for (uint64 i = 0; i < nskipped && !applied; i++)
			applied = (skipped[i] == rule->id);
		if (!applied)
		{
			result = lappend(result, rule);
			continue;
		}
		sandbox_validate_rule(rule, false);
		filter = unmasked_rows_filter(rule);
		if (filter != NULL && has_unmasked_rows(rule, filter))
		{
			/* a copy: the environment's rule stays as defined, for verify */
			SandboxRule *narrowed = palloc(sizeof(SandboxRule));

			memcpy(narrowed, rule, sizeof(SandboxRule));
			narrowed->filter = filter;
			result = lappend(result, narrowed);
			nnarrowed++;
		}
	}
	if (nskipped > (uint64) nnarrowed)
		ereport(NOTICE,
				(errmsg("%llu mask rules already applied to this copy by an earlier run are left out",
						(unsigned long long) (nskipped - nnarrowed)),
				 errdetail("Masking a masked value again would change it; verification still checks every rule.")));
	if (nnarrowed > 0)
		ereport(NOTICE,
				(errmsg("%d mask rules already applied to this copy by an earlier run apply again, only to the rows their recogniser rejects",
						nnarrowed),
				 errdetail("Their recognisers accept only masked values: these rows were added since.")));
	return result;
}

/*
 * sandbox_record_applied_rules
 *		After a successful run, file the definitions of the rules it
 *		applied in sandbox.run_rule.  The caller must be connected to SPI.
 */
void
sandbox_record_applied_rules(int64 run_id, List *rules)
{
	Datum	   *ids;
	Oid			argtypes[2] = {INT8OID, INT8ARRAYOID};
	Datum		args[2];
	ListCell   *lc;

	if (rules == NIL)
		return;
	ids = palloc(sizeof(Datum) * list_length(rules));
	foreach(lc, rules)
		ids[foreach_current_index(lc)] = Int64GetDatum(((SandboxRule *) lfirst(lc))->id);
	args[0] = Int64GetDatum(run_id);
	args[1] = PointerGetDatum(construct_array(ids, list_length(rules), INT8OID,
											  8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	if (SPI_execute_with_args("INSERT INTO sandbox.run_rule (run_id, rule_id, action, definition_digest)"
							  " SELECT $1, r.id, r.action, sandbox.rule_definition_digest(r)"
							  " FROM sandbox.rule r WHERE r.id OPERATOR(pg_catalog.=) ANY ($2)",
							  2, argtypes, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not insert into sandbox.run_rule");
}

/* ---- During a run ---- */

/*
 * sandbox_save_restorable
 *		Before a table's rules run, save the values its restorable rules
 *		are about to overwrite, keyed by primary key.
 *
 * A row whose value an earlier succeeded run of this copy saved keeps
 * that value: re-enabling puts back what the copy had before it was
 * first sanitized, not what a previous run left.  The values are read as
 * the table's owner (the rule's filter runs with the owner's rights, as
 * everywhere, and an error names the rule without a row value) and
 * stored as the caller.  The caller must be connected to SPI.
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
		args[3] = name_datum(rule->table_schema);
		args[4] = name_datum(rule->table_name);
		args[5] = name_datum(rule->column_name);
		args[6] = datumCopy(saved, false, -1);
		if (SPI_execute_with_args("INSERT INTO sandbox.saved_value (run_id, rule_id, feature,"
								  " table_schema, table_name, column_name, row_key, old_value)"
								  " SELECT $1, $2, $3, $4, $5, $6, (e OPERATOR(pg_catalog.->) 0),"
								  " (e OPERATOR(pg_catalog.->) 1)"
								  " FROM pg_catalog.jsonb_array_elements($7::pg_catalog.jsonb) e"
								  " WHERE NOT EXISTS (SELECT FROM sandbox.saved_value s"
								  "  JOIN sandbox.copy_runs() c ON c.id OPERATOR(pg_catalog.=) s.run_id"
								  "  WHERE s.table_schema OPERATOR(pg_catalog.=) $4"
								  "  AND s.table_name OPERATOR(pg_catalog.=) $5"
								  "  AND s.column_name OPERATOR(pg_catalog.=) $6"
								  "  AND s.row_key OPERATOR(pg_catalog.=) (e OPERATOR(pg_catalog.->) 0))",
								  7, argtypes, args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not insert into sandbox.saved_value");
	}
}

/*
 * find_guard
 *		The name of the guard of a column of a table for a feature, or
 *		NULL.  Guards are recognised by their function, never by name.
 */
static char *
find_guard(Oid relid, const char *feature, AttrNumber attnum)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	Oid			guardfn = guard_function_oid();
	char	   *found = NULL;

	if (rel->trigdesc != NULL)
	{
		for (int i = 0; i < rel->trigdesc->numtriggers; i++)
		{
			Trigger    *trigger = &rel->trigdesc->triggers[i];

			if (trigger->tgfoid == guardfn && trigger->tgnargs == GUARD_NARGS &&
				strcmp(trigger->tgargs[GUARD_ARG_FEATURE], feature) == 0 &&
				atoi(trigger->tgargs[GUARD_ARG_ATTNUM]) == attnum)
			{
				found = pstrdup(trigger->tgname);
				break;
			}
		}
	}
	relation_close(rel, AccessShareLock);
	return found;
}

/*
 * free_guard_name
 *		"sandbox_lock_<rule id>", or with a suffix if a trigger of the
 *		table already has that name (perhaps made to make us skip ours).
 */
static char *
free_guard_name(Oid relid, int64 rule_id)
{
	for (int n = 1;; n++)
	{
		char	   *name = n == 1 ?
			psprintf(GUARD_NAME_PREFIX "%lld", (long long) rule_id) :
			psprintf(GUARD_NAME_PREFIX "%lld_%d", (long long) rule_id, n);
		Oid			argtypes[2] = {OIDOID, NAMEOID};
		Datum		args[2] = {ObjectIdGetDatum(relid), name_datum(name)};

		if (SPI_execute_with_args("SELECT 1 FROM pg_catalog.pg_trigger"
								  " WHERE tgrelid OPERATOR(pg_catalog.=) $1"
								  " AND tgname OPERATOR(pg_catalog.=) $2",
								  2, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read pg_trigger");
		if (SPI_processed == 0)
			return name;
	}
}

/*
 * sandbox_lock_features
 *		After a successful run, guard the columns that the rules of locked
 *		features switched off.
 *
 * A guard is an AFTER INSERT OR UPDATE row trigger with no column list,
 * enabled ALWAYS, one per rule: it sees the row as stored, after every
 * BEFORE trigger, in every session_replication_role, and compares the
 * column (by attribute number) with the value the rule gave it.  Only
 * rules that give every row the same value (no filter, an expression
 * reading no column) can be guarded this way; they are what switching a
 * feature off looks like.  The caller must be connected to SPI.
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
		AttrNumber	attnum;

		if (rule->action != ACTION_SET || rule->filter != NULL || rule->expr_reads_row)
			continue;
		policy = sandbox_feature_policy(environment, rule->feature);
		if (policy == NULL || strcmp(policy, "locked") != 0)
			continue;

		attnum = get_attnum(rule->relid, rule->column_name);
		trigger_name = find_guard(rule->relid, rule->feature, attnum);
		qualname = quote_qualified_identifier(rule->table_schema, rule->table_name);
		if (trigger_name == NULL)
		{
			sandbox_run_rule_sql(rule,
								 psprintf("SELECT CAST(%s AS %s)",
										  sandbox_rule_expression_sql(rule, false),
										  format_type_be_qualified(get_atttype(rule->relid, attnum))));
			value = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
			trigger_name = free_guard_name(rule->relid, rule->id);
			if (SPI_execute(psprintf("CREATE TRIGGER %s AFTER INSERT OR UPDATE ON %s"
									 " FOR EACH ROW EXECUTE FUNCTION sandbox.guard_locked_feature(%s, %s, %s, %s, %s, %s)",
									 quote_identifier(trigger_name), qualname,
									 quote_literal_cstr(environment),
									 quote_literal_cstr(rule->feature),
									 quote_literal_cstr(qualname),
									 quote_literal_cstr(psprintf("%d", (int) attnum)),
									 quote_literal_cstr(rule->column_name),
									 quote_literal_cstr(value ? psprintf("=%s", value) : "null")),
							false, 0) != SPI_OK_UTILITY)
				elog(ERROR, "could not create trigger %s", trigger_name);
		}
		/* new or found, the guard fires ALWAYS */
		if (SPI_execute(psprintf("ALTER TABLE %s ENABLE ALWAYS TRIGGER %s",
								 qualname, quote_identifier(trigger_name)),
						false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "could not enable trigger %s", trigger_name);
	}
}

/* ---- Guards ---- */

/*
 * guard_value_differs
 *		Whether a column of a row differs from the value a guard keeps.
 */
static bool
guard_value_differs(HeapTuple tuple, TupleDesc tupdesc, AttrNumber attnum, const char *locked)
{
	char	   *value = SPI_getvalue(tuple, tupdesc, attnum);

	if (strcmp(locked, "null") == 0)
		return value != NULL;
	return value == NULL || locked[0] != '=' || strcmp(value, locked + 1) != 0;
}

/*
 * sandbox_guard_locked_feature
 *		AFTER INSERT OR UPDATE row trigger guarding a locked feature.
 *		Arguments: environment, feature, table, attribute number, column
 *		name (for messages), locked value ("=" and its text, or "null").
 */
Datum
sandbox_guard_locked_feature(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	HeapTuple	tuple;
	TupleDesc	tupdesc;
	char	  **args;
	AttrNumber	attnum;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		trigdata->tg_trigger->tgnargs != GUARD_NARGS)
		elog(ERROR, "sandbox.guard_locked_feature: not fired as an AFTER row trigger with %d arguments",
			 GUARD_NARGS);

	args = trigdata->tg_trigger->tgargs;
	tuple = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ?
		trigdata->tg_newtuple : trigdata->tg_trigtuple;
	tupdesc = trigdata->tg_relation->rd_att;
	attnum = atoi(args[GUARD_ARG_ATTNUM]);
	if (attnum <= 0 || attnum > tupdesc->natts || TupleDescAttr(tupdesc, attnum - 1)->attisdropped)
		locked_error(args[GUARD_ARG_FEATURE], args[GUARD_ARG_ENVIRONMENT],
					 psprintf("Column %s of table %s, which the lock keeps off, is gone.",
							  args[GUARD_ARG_COLUMN], args[GUARD_ARG_TABLE]));

	if (guard_value_differs(tuple, tupdesc, attnum, args[GUARD_ARG_VALUE]))
		locked_error(args[GUARD_ARG_FEATURE], args[GUARD_ARG_ENVIRONMENT],
					 psprintf("Column %s of table %s keeps the value sanitization gave it.",
							  NameStr(TupleDescAttr(tupdesc, attnum - 1)->attname),
							  args[GUARD_ARG_TABLE]));

	return PointerGetDatum(NULL);
}

/*
 * check_guards_of
 *		Refuse the state of a relation if it weakens a lock: a guard that
 *		does not fire ALWAYS, AFTER, for every INSERT and UPDATE of every
 *		row; a guarded column renamed, dropped or retyped; a guarded table
 *		renamed or moved, inheriting children, or holding a row that is
 *		switched on (ALTER COLUMN ... TYPE ... USING rewrites a table
 *		without firing triggers).  The caller must be connected to SPI.
 */
static void
check_guards_of(Oid relid, Oid guardfn)
{
	Relation	rel;
	List	   *checks = NIL;
	char	   *qualname;

	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		return;
	rel = relation_open(relid, AccessShareLock);
	if (rel->trigdesc == NULL)
	{
		relation_close(rel, AccessShareLock);
		return;
	}
	qualname = relation_qualname(relid);

	for (int i = 0; i < rel->trigdesc->numtriggers; i++)
	{
		Trigger    *trigger = &rel->trigdesc->triggers[i];
		char	  **args = trigger->tgargs;
		AttrNumber	attnum;
		Form_pg_attribute attr;

		if (trigger->tgfoid != guardfn)
			continue;
		if (trigger->tgnargs != GUARD_NARGS)
			guard_error("a guard of a locked feature has the wrong arguments", NULL);
		if (trigger->tgenabled != TRIGGER_FIRES_ALWAYS)
			guard_error(psprintf("the guard of locked feature \"%s\" must stay enabled ALWAYS",
								 args[GUARD_ARG_FEATURE]),
						psprintf("Trigger %s on table %s.", trigger->tgname, qualname));
		if (!TRIGGER_FOR_ROW(trigger->tgtype) || !TRIGGER_FOR_AFTER(trigger->tgtype) ||
			!TRIGGER_FOR_INSERT(trigger->tgtype) || !TRIGGER_FOR_UPDATE(trigger->tgtype) ||
			trigger->tgnattr != 0 || trigger->tgqual != NULL)
			guard_error(psprintf("the guard of locked feature \"%s\" is not an AFTER INSERT OR UPDATE row trigger for every row",
								 args[GUARD_ARG_FEATURE]), NULL);
		if (strncmp(trigger->tgname, GUARD_NAME_PREFIX, strlen(GUARD_NAME_PREFIX)) != 0)
			guard_error(psprintf("the guard of locked feature \"%s\" cannot be renamed",
								 args[GUARD_ARG_FEATURE]),
						psprintf("Its name must begin with \"%s\".", GUARD_NAME_PREFIX));
		if (strcmp(qualname, args[GUARD_ARG_TABLE]) != 0)
			guard_error(psprintf("table %s holds a switch of locked feature \"%s\" and cannot be renamed or moved",
								 args[GUARD_ARG_TABLE], args[GUARD_ARG_FEATURE]), NULL);
		attnum = atoi(args[GUARD_ARG_ATTNUM]);
		if (attnum <= 0 || attnum > RelationGetNumberOfAttributes(rel))
			guard_error("a guard of a locked feature names no column", NULL);
		attr = TupleDescAttr(RelationGetDescr(rel), attnum - 1);
		if (attr->attisdropped || strcmp(NameStr(attr->attname), args[GUARD_ARG_COLUMN]) != 0)
			guard_error(psprintf("column %s of table %s is a switch of locked feature \"%s\" and cannot be renamed or dropped",
								 quote_identifier(args[GUARD_ARG_COLUMN]), qualname,
								 args[GUARD_ARG_FEATURE]), NULL);

		/* the rows must hold the locked value */
		checks = lappend(checks,
						 strcmp(args[GUARD_ARG_VALUE], "null") == 0 ?
						 psprintf("%s IS NOT NULL", quote_identifier(NameStr(attr->attname))) :
						 psprintf("%s IS DISTINCT FROM CAST(%s AS %s)",
								  quote_identifier(NameStr(attr->attname)),
								  quote_literal_cstr(args[GUARD_ARG_VALUE] + 1),
								  format_type_be(attr->atttypid)));
	}

	if (checks != NIL)
	{
		Oid			argtypes[1] = {OIDOID};
		Datum		args[1] = {ObjectIdGetDatum(relid)};
		StringInfoData sql;
		ListCell   *lc;
		bool		isnull;

		if (SPI_execute_with_args("SELECT 1 FROM pg_catalog.pg_inherits"
								  " WHERE inhparent OPERATOR(pg_catalog.=) $1",
								  1, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read pg_inherits");
		if (SPI_processed > 0)
			guard_error(psprintf("table %s holds a switch of a locked feature and cannot have inheritance children",
								 qualname), NULL);

		/* as the owner, as every query of the extension on a user table */
		initStringInfo(&sql);
		appendStringInfo(&sql, "SELECT pg_catalog.count(*) FROM ONLY %s WHERE ", qualname);
		foreach(lc, checks)
			appendStringInfo(&sql, "%s(%s)", foreach_current_index(lc) > 0 ? " OR " : "",
							 (char *) lfirst(lc));
		sandbox_run_as_owner(rel->rd_rel->relowner, sql.data, 0, NULL, NULL);
		if (DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) > 0)
			guard_error(psprintf("table %s would hold a switch of a locked feature that is on", qualname),
						"A command that rewrites the table changed a switch the lock keeps off.");
	}
	relation_close(rel, AccessShareLock);
}

/*
 * check_drops
 *		sql_drop: refuse dropping a guard or a guarded column, unless its
 *		table or the extension goes too.
 */
static void
check_drops(Oid guardfn)
{
	if (SPI_execute("SELECT 1 FROM pg_catalog.pg_event_trigger_dropped_objects()"
					" WHERE object_type OPERATOR(pg_catalog.=) 'extension'",
					true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the dropped objects");
	if (SPI_processed > 0)
		return;

	/* a guard, by name (it is gone from pg_trigger by now) */
	if (SPI_execute("SELECT 1 FROM pg_catalog.pg_event_trigger_dropped_objects() d"
					" WHERE d.object_type OPERATOR(pg_catalog.=) 'trigger'"
					" AND d.object_identity OPERATOR(pg_catalog.~~) 'sandbox\\_lock\\_%'"
					" AND NOT EXISTS (SELECT FROM pg_catalog.pg_event_trigger_dropped_objects() t"
					"  WHERE t.object_type OPERATOR(pg_catalog.=) 'table')",
					true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the dropped objects");
	if (SPI_processed > 0)
		guard_error("the guard of a locked feature cannot be dropped", NULL);

	/* a guarded column (its table stays, and so does the guard) */
	if (SPI_execute("SELECT d.objid, d.objsubid FROM pg_catalog.pg_event_trigger_dropped_objects() d"
					" WHERE d.object_type OPERATOR(pg_catalog.=) 'table column'",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the dropped objects");
	{
		SPITupleTable *columns = SPI_tuptable;
		uint64		ncolumns = SPI_processed;

		for (uint64 i = 0; i < ncolumns; i++)
		{
			bool		isnull;
			Oid			relid = DatumGetObjectId(SPI_getbinval(columns->vals[i], columns->tupdesc, 1, &isnull));
			int32		attnum = DatumGetInt32(SPI_getbinval(columns->vals[i], columns->tupdesc, 2, &isnull));
			Relation	rel;

			if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
				continue;
			rel = relation_open(relid, AccessShareLock);
			for (int t = 0; rel->trigdesc != NULL && t < rel->trigdesc->numtriggers; t++)
			{
				Trigger    *trigger = &rel->trigdesc->triggers[t];

				if (trigger->tgfoid == guardfn && trigger->tgnargs == GUARD_NARGS &&
					atoi(trigger->tgargs[GUARD_ARG_ATTNUM]) == attnum)
					guard_error(psprintf("column %s of table %s is a switch of locked feature \"%s\" and cannot be renamed or dropped",
										 quote_identifier(trigger->tgargs[GUARD_ARG_COLUMN]),
										 trigger->tgargs[GUARD_ARG_TABLE],
										 trigger->tgargs[GUARD_ARG_FEATURE]), NULL);
			}
			relation_close(rel, AccessShareLock);
		}
	}
}

/*
 * sandbox_protect_feature_locks
 *		Event trigger (ddl_command_end of ALTER TABLE, ALTER TRIGGER and
 *		CREATE TABLE; sql_drop), enabled ALWAYS: refuses any DDL that
 *		would weaken the lock of a feature.  See check_guards_of and
 *		check_drops.
 */
Datum
sandbox_protect_feature_locks(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	Oid			guardfn;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		elog(ERROR, "sandbox.protect_feature_locks: not fired by an event trigger");
	trigdata = (EventTriggerData *) fcinfo->context;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	guardfn = guard_function_oid();

	if (strcmp(trigdata->event, "sql_drop") == 0)
		check_drops(guardfn);
	else
	{
		SPITupleTable *relations;
		uint64		nrelations;

		/* the relations changed, their parents, the tables of changed triggers */
		if (SPI_execute("WITH changed AS ("
						" SELECT c.objid FROM pg_catalog.pg_event_trigger_ddl_commands() c"
						" WHERE c.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
						" UNION SELECT t.tgrelid FROM pg_catalog.pg_event_trigger_ddl_commands() c"
						" JOIN pg_catalog.pg_trigger t ON t.oid OPERATOR(pg_catalog.=) c.objid"
						" WHERE c.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::pg_catalog.regclass)"
						" SELECT objid FROM changed"
						" UNION SELECT i.inhparent FROM pg_catalog.pg_inherits i"
						" JOIN changed ON changed.objid OPERATOR(pg_catalog.=) i.inhrelid",
						false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read the changed objects");
		relations = SPI_tuptable;
		nrelations = SPI_processed;
		for (uint64 i = 0; i < nrelations; i++)
		{
			bool		isnull;

			check_guards_of(DatumGetObjectId(SPI_getbinval(relations->vals[i], relations->tupdesc, 1, &isnull)),
							guardfn);
		}
	}

	SPI_finish();
	PG_RETURN_VOID();
}

/* ---- Re-enabling ---- */

/*
 * feature_exists
 *		Whether an environment's chain has a policy or a rule for a
 *		feature.
 */
static bool
feature_exists(const char *environment, const char *feature)
{
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		args[2] = {CStringGetTextDatum(environment), CStringGetTextDatum(feature)};

	if (SPI_execute_with_args("SELECT 1 FROM sandbox.environment_chain($1) c"
							  " WHERE EXISTS (SELECT FROM sandbox.feature f"
							  "  WHERE f.environment OPERATOR(pg_catalog.=) c.name"
							  "  AND f.feature OPERATOR(pg_catalog.=) $2)"
							  " OR EXISTS (SELECT FROM sandbox.rule r"
							  "  WHERE r.environment OPERATOR(pg_catalog.=) c.name"
							  "  AND r.feature OPERATOR(pg_catalog.=) $2)",
							  2, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read sandbox.feature");
	return SPI_processed > 0;
}

/*
 * has_restorable_rules
 *		Whether an environment's chain has an enabled restorable rule for a
 *		feature.
 */
static bool
has_restorable_rules(const char *environment, const char *feature)
{
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		args[2] = {CStringGetTextDatum(environment), CStringGetTextDatum(feature)};

	if (SPI_execute_with_args("SELECT 1 FROM sandbox.rule r JOIN sandbox.environment_chain($1) c"
							  " ON c.name OPERATOR(pg_catalog.=) r.environment"
							  " WHERE r.enabled AND r.restorable AND r.feature OPERATOR(pg_catalog.=) $2",
							  2, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read sandbox.rule");
	return SPI_processed > 0;
}

/*
 * cleared_columns
 *		"penelope.exchange_settings.username, ...": the columns that the
 *		rules of a feature set to NULL (its credentials), or NULL.
 */
static char *
cleared_columns(const char *environment, const char *feature)
{
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		args[2] = {CStringGetTextDatum(environment), CStringGetTextDatum(feature)};
	bool		isnull;
	Datum		value;

	if (SPI_execute_with_args("SELECT pg_catalog.string_agg(DISTINCT pg_catalog.format('%I.%I.%I',"
							  " r.table_schema, r.table_name, r.column_name), ', ')"
							  " FROM sandbox.rule r JOIN sandbox.environment_chain($1) c"
							  " ON c.name OPERATOR(pg_catalog.=) r.environment"
							  " WHERE r.enabled AND r.feature OPERATOR(pg_catalog.=) $2"
							  " AND r.action OPERATOR(pg_catalog.=) 'set'"
							  " AND pg_catalog.upper(pg_catalog.btrim(r.expression)) OPERATOR(pg_catalog.=) 'NULL'",
							  2, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read sandbox.rule");
	value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? NULL : TextDatumGetCString(value);
}

/*
 * restore_column
 *		Put back the saved values of one column, as the table's owner, on
 *		the guarded path: an error names the rule and holds no row value.
 *		Returns the number of rows updated.
 */
static int64
restore_column(int64 rule_id, const char *schema, const char *table,
			   const char *column, const char *rows_json)
{
	Oid			nspid = get_namespace_oid(schema, true);
	Oid			relid = OidIsValid(nspid) ? get_relname_relid(table, nspid) : InvalidOid;
	char	   *qualname = quote_qualified_identifier(schema, table);
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(rows_json)};
	StringInfoData match;
	ListCell   *lc;

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table %s no longer exists", qualname),
				 errhint("Nothing was changed: the values saved for it cannot be put back.")));
	if (get_attnum(relid, column) == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column %s of table %s no longer exists", quote_identifier(column), qualname),
				 errhint("Nothing was changed: the values saved for it cannot be put back.")));

	initStringInfo(&match);
	foreach(lc, sandbox_primary_key_columns(relid))
		appendStringInfo(&match, "%st.%s OPERATOR(pg_catalog.=) r.%s", match.len > 0 ? " AND " : "",
						 quote_identifier(lfirst(lc)), quote_identifier(lfirst(lc)));
	if (match.len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
				 errmsg("table %s no longer has a primary key", qualname),
				 errhint("Nothing was changed: the saved values are keyed by the primary key.")));

	sandbox_run_guarded_sql(relid,
							psprintf("restoring column %s of table %s (rule %lld)",
									 quote_identifier(column), qualname, (long long) rule_id),
							psprintf("UPDATE %s t SET %s = r.%s"
									 " FROM pg_catalog.jsonb_populate_recordset(NULL::%s, $2::pg_catalog.jsonb) r"
									 " WHERE %s",
									 qualname, quote_identifier(column), quote_identifier(column),
									 qualname, match.data),
							1, argtypes, args);
	return (int64) SPI_processed;
}

/*
 * sandbox_enable_feature(feature text) returns text
 *		Put back the values that this copy's runs saved for the restorable
 *		rules of a feature (for each row, the value from before the first
 *		run that overwrote it), if the feature's policy allows it, and log
 *		it.
 */
Datum
sandbox_enable_feature(PG_FUNCTION_ARGS)
{
	char	   *feature = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	int64		run_id;
	char	   *environment;
	char	   *policy;
	char	   *cleared;
	char	   *runs = NULL;
	int64		restored = 0;
	bool		isnull;
	SPITupleTable *saved;
	uint64		nsaved;
	char	   *result;
	MemoryContext callercxt = CurrentMemoryContext;

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
	if (policy == NULL && !feature_exists(environment, feature))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("feature \"%s\" does not exist in environment \"%s\"", feature, environment),
				 errhint("sandbox_status() lists the features of this database.")));
	if (policy != NULL && strcmp(policy, "locked") == 0)
		locked_error(feature, environment, NULL);
	if (policy == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is a data action of environment \"%s\", not a feature", feature, environment),
				 errdetail("Data that sanitization changed or removed is not put back."),
				 errhint("sandbox_status() lists the features of this database.")));
	if (strcmp(policy, "reenable") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("feature \"%s\" cannot be re-enabled in environment \"%s\"", feature, environment),
				 errdetail("Its policy is \"%s\": sanitization cleared what it needs, so the extension does not switch it back on.",
						   policy),
				 errhint("An administrator may switch it on by hand after supplying new credentials.")));

	/* per row, the value saved by the first run of this copy that saved one */
	args[0] = CStringGetTextDatum(feature);
	if (SPI_execute_with_args("WITH first_saved AS ("
							  " SELECT DISTINCT ON (s.table_schema, s.table_name, s.column_name, s.row_key)"
							  "  s.run_id, s.rule_id, s.table_schema, s.table_name, s.column_name, s.row_key, s.old_value"
							  " FROM sandbox.saved_value s"
							  " JOIN sandbox.copy_runs() c ON c.id OPERATOR(pg_catalog.=) s.run_id"
							  " WHERE s.feature OPERATOR(pg_catalog.=) $1"
							  " ORDER BY s.table_schema, s.table_name, s.column_name, s.row_key, s.run_id)"
							  " SELECT pg_catalog.min(rule_id), table_schema, table_name, column_name,"
							  " pg_catalog.jsonb_agg(row_key OPERATOR(pg_catalog.||)"
							  "  pg_catalog.jsonb_build_object(column_name::pg_catalog.text, old_value))::pg_catalog.text,"
							  " (SELECT pg_catalog.string_agg(DISTINCT f.run_id::pg_catalog.text, ', ') FROM first_saved f)"
							  " FROM first_saved GROUP BY 2, 3, 4 ORDER BY 2, 3, 4",
							  1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read sandbox.saved_value");
	saved = SPI_tuptable;
	nsaved = SPI_processed;
	if (nsaved == 0 && has_restorable_rules(environment, feature))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no value saved by a run of this copy can re-enable feature \"%s\"", feature),
				 errdetail("The values the copy had before it was first sanitized are not in sandbox.saved_value (a ledger restored from another copy, or rows deleted from it)."),
				 errhint("Switch the feature on by hand, with the settings this copy should have.")));

	for (uint64 i = 0; i < nsaved; i++)
	{
		HeapTuple	tuple = saved->vals[i];

		runs = SPI_getvalue(tuple, saved->tupdesc, 6);
		restored += restore_column(DatumGetInt64(SPI_getbinval(tuple, saved->tupdesc, 1, &isnull)),
								   SPI_getvalue(tuple, saved->tupdesc, 2),
								   SPI_getvalue(tuple, saved->tupdesc, 3),
								   SPI_getvalue(tuple, saved->tupdesc, 4),
								   SPI_getvalue(tuple, saved->tupdesc, 5));
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

	result = psprintf("feature \"%s\" re-enabled in environment \"%s\": %lld values restored%s%s%s",
					  feature, environment, (long long) restored,
					  runs == NULL ? "" : strchr(runs, ',') ? " from runs " : " from run ",
					  runs == NULL ? "" : runs,
					  runs == NULL ? " (it has no restorable rule)" : "");

	/* credentials and the like, cleared for good: the DBA must supply them */
	cleared = cleared_columns(environment, feature);
	if (cleared != NULL)
	{
		ereport(NOTICE,
				(errmsg("feature \"%s\" needs what sanitization cleared before it can work", feature),
				 errdetail("Cleared and not put back: %s.", cleared),
				 errhint("Supply new credentials for this copy; production's must not be used here.")));
		result = psprintf("%s; credentials must be supplied: %s", result, cleared);
	}

	/* SPI_finish frees what was allocated since SPI_connect */
	result = MemoryContextStrdup(callercxt, result);
	SPI_finish();
	PG_RETURN_TEXT_P(cstring_to_text(result));
}

/* ---- Status ---- */

/*
 * sandbox_feature_switches(environment text)
 *		returns table (rule_id bigint, rows bigint, differing bigint)
 *
 * For each set rule of a feature with a policy, the rows it applies to
 * now and how many of them differ from the value it gives: the live
 * state of the feature's switches (rows switched back on) and of its
 * credentials (rows no longer cleared).  Read as the tables' owners.
 */
Datum
sandbox_feature_switches(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *environment = text_to_cstring(PG_GETARG_TEXT_PP(0));
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	foreach(lc, sandbox_load_rules(environment))
	{
		SandboxRule *rule = lfirst(lc);
		Datum		values[3];
		bool		nulls[3] = {0};
		bool		isnull;
		char	   *qualname;

		if (rule->action != ACTION_SET || sandbox_feature_policy(environment, rule->feature) == NULL)
			continue;
		sandbox_validate_rule(rule, false);
		qualname = quote_qualified_identifier(rule->table_schema, rule->table_name);
		sandbox_run_rule_sql(rule,
							 psprintf("SELECT pg_catalog.count(*), pg_catalog.count(*) FILTER"
									  " (WHERE %s IS DISTINCT FROM CAST(%s AS %s)) FROM %s%s%s",
									  quote_identifier(rule->column_name),
									  sandbox_wrap_sql(rule->expression),
									  format_type_be(get_atttype(rule->relid,
																 get_attnum(rule->relid, rule->column_name))),
									  qualname,
									  rule->filter ? " WHERE " : "",
									  rule->filter ? sandbox_wrap_sql(rule->filter) : ""));
		values[0] = Int64GetDatum(rule->id);
		values[1] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		values[2] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}

	SPI_finish();
	return (Datum) 0;
}
