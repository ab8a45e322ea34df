/*-------------------------------------------------------------------------
 *
 * engine.c
 *		Plan, sanitize, verify, and the run ledger.
 *
 * The rules of an environment become a short list of set-based
 * statements, in this order:
 *
 *	0. the built-in steps closing PostgreSQL's own outbound channels
 *	   (subscriptions, user mappings, pg_cron jobs; see outbound.c);
 *	1. large objects of truncated tables are unlinked, then one TRUNCATE
 *	   empties every truncated table at once;
 *	2. a DELETE for each table whose delete rules cannot be folded into
 *	   its rewrite (a foreign key references it), referencing tables
 *	   before referenced ones; the large objects of the rows removed are
 *	   unlinked first;
 *	3. one rewrite per plain table (each partition and inheritance child
 *	   of a table with rules), applying all its mask and set rules in a
 *	   single pass (rules with filters become CASE branches) and dropping
 *	   the rows its folded delete rules match: see rewrite.c.  It leaves
 *	   no old row version anywhere and fires no trigger.
 *
 * With penelope_sandbox.update_strategy = update, 2 and 3 are a DELETE and
 * an UPDATE per table instead, in place.
 *
 * Every table the run changes is locked ACCESS EXCLUSIVE for the whole
 * run; its user triggers and FORCE ROW LEVEL SECURITY are switched off
 * until the end.  After the steps, the foreign keys whose columns the
 * rules wrote are checked, materialized views over the changed tables
 * refreshed, and the statistics that could show a changed value forgotten
 * and computed again.
 *
 * Rows about to be removed are never updated first.  Each statement runs
 * as the owner of its table in an owner context: inside a
 * security-restricted operation and with a fixed search_path, as VACUUM
 * and REINDEX do, every setting put back afterwards, and every message
 * below ERROR silenced (owner code may put row values in them): index
 * expressions, constraints and rule functions act with the owner's rights,
 * never with those of the superuser running the sanitization, and leave
 * nothing behind.  Rule expressions appear in statements as
 * sandbox_rule_expression_sql() gives them, and every statement binds the
 * run token as $1 (see masking.c).
 *
 * Before a table's statement, the values its restorable rules overwrite
 * are saved; after the run, the switches of locked features are guarded
 * (see feature.c).  Every run ends with sandbox_verify's checks, and
 * fails if one does not hold.
 *
 * Everything happens in the caller's transaction, so an error leaves the
 * database as it was.  A failing statement's error is replaced with one
 * that names the rule and keeps only what cannot hold a row value (the
 * SQLSTATE, and the names of the table's constraint or column).
 *
 * Copyright (c) 2026, penelope_sandbox developers
 *
 * IDENTIFICATION
 *	  src/engine.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/index.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "nodes/params.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "portability/instr_time.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/ruleutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "penelope_sandbox.h"

PG_FUNCTION_INFO_V1(sandbox_sanitize);
PG_FUNCTION_INFO_V1(sandbox_plan);
PG_FUNCTION_INFO_V1(sandbox_verify);

bool		sandbox_report_progress = false;

/*
 * Key of the transaction-level advisory lock that keeps two sanitizations
 * of one database apart: pg_advisory_xact_lock(1346719301, 1396854616),
 * that is 'PENE', 'SBOX'.
 */
#define SANITIZE_LOCK_KEY1	0x50454E45
#define SANITIZE_LOCK_KEY2	0x53424F58

/* ---- Plan structures ---- */

/* The rules of one table, by kind */
typedef struct TableRules
{
	Oid			relid;
	Oid			owner;
	char	   *schema;
	char	   *name;
	char	   *qualname;		/* quoted, schema-qualified */
	List	   *truncates;		/* SandboxRule * */
	List	   *deletes;
	List	   *updates;		/* mask and set, nearest environment first */
	List	   *rules_all;		/* all of the above */
	bool		truncated;		/* emptied by the TRUNCATE step */
	bool		deletes_folded; /* rows dropped by the rewrite, no DELETE */
	int64		rows_now;		/* rows counted by the last verification */
} TableRules;

typedef enum StepMethod
{
	METHOD_BUILTIN,				/* close an outbound channel (outbound.c) */
	METHOD_UNLINK,				/* unlink large objects of a table */
	METHOD_TRUNCATE,
	METHOD_DELETE,
	METHOD_UPDATE,
	METHOD_REWRITE
} StepMethod;

static const char *const method_names[] = {
	[METHOD_BUILTIN] = "builtin",
	[METHOD_UNLINK] = "unlink",
	[METHOD_TRUNCATE] = "truncate",
	[METHOD_DELETE] = "delete",
	[METHOD_UPDATE] = "update",
	[METHOD_REWRITE] = "rewrite",
};

/* One statement of the plan */
typedef struct PlanStep
{
	StepMethod	method;
	TableRules *table;			/* the first table, for a TRUNCATE */
	List	   *rules;			/* SandboxRule * it applies */
	char	   *sql;			/* the statement */
	char	   *count_sql;		/* counts the rows it touches */
	bool		sql_returns_count;	/* sql is a SELECT returning that count */
	char	   *why;			/* for the plan: why this step is as it is */

	/* Filled in when the step has run */
	List	   *checks;			/* a rewrite: RewriteCheck * it counted */
	int			stepno;
	double		seconds;
	int64		rows;			/* rows (or objects) it changed */
} PlanStep;

typedef struct SanitizePlan
{
	bool		disable_outbound;	/* run the built-in steps of outbound.c */
	List	   *reenabled;		/* features re-enabled since the last run */
	List	   *rules;			/* the rules it applies, validated */
	List	   *all_rules;		/* every rule of the environment, applied
								 * already or not */
	List	   *tables;			/* TableRules *, by name */
	List	   *steps;			/* PlanStep *, in execution order */
	List	   *rewritten;		/* OIDs of the relations rewritten */
	List	   *foreign_keys;	/* ForeignKeyCheck *: to check after the steps */
	bool		in_run;			/* verifying the run that just rewrote */
	struct SanitizePlan *run;	/* verifying every rule after a run that
								 * left some out: that run's plan */

	/* Filled in by a run */
	List	   *locked;			/* OIDs of the relations locked */
	List	   *forced_rls;		/* OIDs: FORCE ROW LEVEL SECURITY suspended */
	List	   *triggers;		/* SuspendedTrigger *: user triggers off */
} SanitizePlan;

/* A foreign key the run must check itself (a rewrite fires no trigger) */
typedef struct ForeignKeyCheck
{
	char	   *name;
	Oid			conrelid;		/* referencing table */
	Oid			confrelid;		/* referenced table */
	List	   *columns;		/* referencing column names */
	List	   *ref_columns;	/* referenced column names, in the same order */
	bool		match_full;
} ForeignKeyCheck;

/* One row of sandbox_verify */
typedef struct VerifyResult
{
	SandboxRule *rule;			/* NULL for a built-in check */
	TableRules *table;
	int64		violations;
	char	   *detail;
} VerifyResult;

static int64 count_guarded(TableRules *table, List *rules, const char *sql);

/* ---- Running SQL as a table's owner ---- */

/*
 * How deep we are in owner contexts (sandbox_owner_context_enter), and
 * how many messages below ERROR were silenced there since the counter
 * was last reset.
 */
static int	owner_context_depth = 0;
static int64 silenced_messages = 0;

/*
 * Whether this process writes nothing to the server log: a worker of a
 * parallel pass (parallel.c), whose errors, which may hold a row's value,
 * go to the leader alone.
 */
static bool server_log_silenced = false;
emit_log_hook_type sandbox_prev_emit_log_hook = NULL;

/*
 * sandbox_silence_owner_messages
 *		emit_log_hook: a message below ERROR raised while code runs as a
 *		table owner goes neither to the client nor to the server log.
 *
 * Owner code (a trigger's RAISE WARNING, a NOTICE of a statement it
 * runs) may put row values into such a message.  It is counted instead
 * (from LOG up: DEBUG messages are dropped uncounted), and the count is
 * part of the run's summary.  Errors are not handled
 * here: every statement run as an owner is guarded, and its error
 * replaced (see report_rules_failure).  log_min_messages is lowered to
 * DEBUG5 inside an owner context, so that every message reaches this
 * hook, whatever client_min_messages the owner code sets.  Installed by
 * _PG_init.
 */
void
sandbox_silence_owner_messages(ErrorData *edata)
{
	if (server_log_silenced)
		edata->output_to_server = false;
	if (owner_context_depth > 0 && edata->elevel < ERROR)
	{
		edata->output_to_client = false;
		edata->output_to_server = false;
		if (edata->elevel >= LOG)
			silenced_messages++;
	}
	if (sandbox_prev_emit_log_hook)
		sandbox_prev_emit_log_hook(edata);
}

/*
 * sandbox_silence_server_log
 *		From now on, this process writes no message to the server log.
 */
void
sandbox_silence_server_log(void)
{
	server_log_silenced = true;
}

/*
 * sandbox_silenced_messages
 *		The messages silenced in this backend since the run started.
 */
int64
sandbox_silenced_messages(void)
{
	return silenced_messages;
}

/*
 * sandbox_count_silenced_messages
 *		Count n messages silenced elsewhere (by the workers of a parallel
 *		pass) as silenced here.
 */
void
sandbox_count_silenced_messages(int64 n)
{
	silenced_messages += n;
}

/*
 * sandbox_owner_context_enter
 *		Act as a table's owner, inside a security-restricted operation, as
 *		VACUUM and REINDEX do, with the rule search_path, and with every
 *		message below ERROR silenced.
 *
 * Whatever runs until sandbox_owner_context_leave() has the owner's
 * rights only, and every setting it changes (even with set_config(...,
 * false)) is put back on leaving: AtEOXact_GUC(false, ...), as VACUUM
 * does.  On an error, the caller catches it and calls
 * sandbox_owner_context_abort() before re-throwing it.
 */
void
sandbox_owner_context_enter(Oid owner, SandboxOwnerContext *context)
{
	GetUserIdAndSecContext(&context->save_userid, &context->save_sec_context);
	SetUserIdAndSecContext(owner, context->save_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	context->save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", SANDBOX_RULE_SEARCH_PATH,
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("log_min_messages", "debug5",
							 PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	context->save_depth = owner_context_depth++;
}

/*
 * sandbox_owner_context_leave
 *		Back to the caller's rights and settings.
 */
void
sandbox_owner_context_leave(SandboxOwnerContext *context)
{
	AtEOXact_GUC(false, context->save_nestlevel);
	SetUserIdAndSecContext(context->save_userid, context->save_sec_context);
	owner_context_depth = context->save_depth;
}

/*
 * sandbox_owner_context_abort
 *		After an error raised inside an owner context was caught: back to
 *		the caller's rights and settings at once, before the error is
 *		handled (the (sub)transaction abort that must follow would put the
 *		settings back too, but only after its own messages were raised
 *		with the owner context's log_min_messages).
 */
void
sandbox_owner_context_abort(SandboxOwnerContext *context)
{
	AtEOXact_GUC(false, context->save_nestlevel);
	SetUserIdAndSecContext(context->save_userid, context->save_sec_context);
	owner_context_depth = context->save_depth;
}

/*
 * execute_into
 *		SPI_execute_with_args, sending the rows to a receiver.
 */
static int
execute_into(const char *sql, int nargs, Oid *argtypes, Datum *values, DestReceiver *dest)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);
	SPIExecuteOptions options = {0};
	ParamListInfo params = makeParamList(nargs);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	for (int i = 0; i < nargs; i++)
	{
		params->params[i].value = values[i];
		params->params[i].isnull = false;
		params->params[i].pflags = PARAM_FLAG_CONST;
		params->params[i].ptype = argtypes[i];
	}
	options.params = params;
	options.dest = dest;
	return SPI_execute_plan_extended(plan, &options);
}

/*
 * sandbox_run_as_owner
 *		Execute one statement with the rights of a table owner.
 *
 * The statement runs in an owner context (see
 * sandbox_owner_context_enter), so nothing it sets off can act with the
 * rights of the caller or leave a setting behind.  It is never run
 * read-only: it must see the changes of the statements before it in the
 * run.  Returns the SPI result code; the result stays in SPI_tuptable /
 * SPI_processed.  The caller must run it in a subtransaction it rolls
 * back on error (run_guarded does).
 */
int
sandbox_run_as_owner(Oid owner, const char *sql, int nargs, Oid *argtypes, Datum *values)
{
	return sandbox_run_as_owner_into(owner, sql, nargs, argtypes, values, NULL);
}

/*
 * sandbox_run_as_owner_into
 *		sandbox_run_as_owner, sending the rows of a query to a receiver
 *		(dest) instead of SPI_tuptable when dest is not NULL: the rewrite
 *		(rewrite.c) builds the new heap from them.
 */
int
sandbox_run_as_owner_into(Oid owner, const char *sql, int nargs, Oid *argtypes,
						  Datum *values, DestReceiver *dest)
{
	SandboxOwnerContext context;
	int			ret;

	sandbox_owner_context_enter(owner, &context);
	PG_TRY();
	{
		if (dest == NULL)
			ret = SPI_execute_with_args(sql, nargs, argtypes, values, NULL, false, 0);
		else
			ret = execute_into(sql, nargs, argtypes, values, dest);
		if (ret < 0)
			elog(ERROR, "SPI_execute failed: error code %d", ret);
	}
	PG_CATCH();
	{
		sandbox_owner_context_abort(&context);
		PG_RE_THROW();
	}
	PG_END_TRY();
	sandbox_owner_context_leave(&context);
	return ret;
}

/* ---- Building SQL ---- */

/*
 * rule_condition
 *		"COALESCE((filter), false)" or "true": whether a rule applies to a
 *		row, never NULL.
 */
static char *
rule_condition(const SandboxRule *rule)
{
	if (rule->filter == NULL)
		return "true";
	return psprintf("COALESCE(%s, false)", sandbox_rule_expression_sql(rule, true));
}

/*
 * rows_where
 *		" WHERE (f1) OR (f2) ..." selecting the rows any of the rules
 *		touches, or "" when one of them touches every row.
 */
static char *
rows_where(List *rules)
{
	StringInfoData buf;
	List	   *seen = NIL;
	ListCell   *lc;

	foreach(lc, rules)
	{
		if (((SandboxRule *) lfirst(lc))->filter == NULL)
			return "";
	}

	initStringInfo(&buf);
	foreach(lc, rules)
	{
		SandboxRule *rule = lfirst(lc);
		ListCell   *lc2;
		bool		duplicate = false;

		foreach(lc2, seen)
			duplicate |= (strcmp(lfirst(lc2), rule->filter_sql) == 0);
		if (duplicate)
			continue;
		seen = lappend(seen, rule->filter_sql);
		appendStringInfoString(&buf, buf.len == 0 ? " WHERE " : " OR ");
		appendStringInfoString(&buf, sandbox_rule_expression_sql(rule, true));
	}
	return buf.data;
}

/*
 * column_names
 *		Distinct column names of the rules, in the order of the rules.
 */
static List *
column_names(List *rules)
{
	List	   *names = NIL;
	ListCell   *lc;

	foreach(lc, rules)
	{
		SandboxRule *rule = lfirst(lc);

		if (rule->column_name != NULL &&
			!list_member(names, makeString(rule->column_name)))
			names = lappend(names, makeString(rule->column_name));
	}
	return names;
}

/*
 * rules_for_column
 *		The rules of a list that write one column, in list order.
 */
static List *
rules_for_column(List *rules, const char *column)
{
	List	   *result = NIL;
	ListCell   *lc;

	foreach(lc, rules)
	{
		SandboxRule *rule = lfirst(lc);

		if (strcmp(rule->column_name, column) == 0)
			result = lappend(result, rule);
	}
	return result;
}

/*
 * column_value_sql
 *		The new value of a column under its rules: the first rule whose
 *		filter matches wins, and the column keeps its value where none
 *		does.
 */
static char *
column_value_sql(List *rules, const char *column)
{
	StringInfoData buf;
	ListCell   *lc;
	SandboxRule *first = linitial(rules);

	if (first->filter == NULL)
		return sandbox_rule_expression_sql(first, false);

	initStringInfo(&buf);
	appendStringInfoString(&buf, "CASE");
	foreach(lc, rules)
	{
		SandboxRule *rule = lfirst(lc);

		if (rule->filter == NULL)
		{
			appendStringInfo(&buf, " ELSE %s END", sandbox_rule_expression_sql(rule, false));
			return buf.data;
		}
		appendStringInfo(&buf, " WHEN %s THEN %s",
						 sandbox_rule_expression_sql(rule, true),
						 sandbox_rule_expression_sql(rule, false));
	}
	appendStringInfo(&buf, " ELSE %s END", quote_identifier(column));
	return buf.data;
}

/*
 * large_object_ids_sql
 *		"(SELECT c1::oid FROM src UNION SELECT c2::oid FROM src)": the
 *		large object ids held by the LO columns of the rules.
 */
static char *
large_object_ids_sql(List *rules, const char *source)
{
	StringInfoData buf;
	List	   *columns = column_names(rules);
	ListCell   *lc;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '(');
	foreach(lc, columns)
		appendStringInfo(&buf, "%sSELECT %s::pg_catalog.oid FROM %s",
						 foreach_current_index(lc) > 0 ? " UNION " : "",
						 quote_identifier(strVal(lfirst(lc))), source);
	appendStringInfoChar(&buf, ')');
	return buf.data;
}

/* The existing large objects among those ids, as "lo" of relation "l" */
#define EXISTING_LARGE_OBJECTS \
	" AS l(lo) WHERE lo IS NOT NULL AND EXISTS" \
	" (SELECT FROM pg_catalog.pg_largeobject_metadata m WHERE m.oid OPERATOR(pg_catalog.=) l.lo)"

/* ---- Building the plan ---- */

/*
 * table_rules_for
 *		The TableRules entry of a rule's table, created on first use.
 */
static TableRules *
table_rules_for(List **tables, SandboxRule *rule)
{
	ListCell   *lc;
	TableRules *table;

	foreach(lc, *tables)
	{
		table = lfirst(lc);
		if (table->relid == rule->relid)
			return table;
	}
	table = palloc0(sizeof(TableRules));
	table->relid = rule->relid;
	table->owner = rule->relowner;
	table->schema = rule->table_schema;
	table->name = rule->table_name;
	table->qualname = quote_qualified_identifier(rule->table_schema, rule->table_name);
	*tables = lappend(*tables, table);
	return table;
}

static int
compare_tables(const ListCell *a, const ListCell *b)
{
	const TableRules *ta = lfirst(a);
	const TableRules *tb = lfirst(b);

	return strcmp(ta->qualname, tb->qualname);
}

/*
 * find_table
 *		The TableRules of a relation, or NULL.
 */
static TableRules *
find_table(List *tables, Oid relid)
{
	ListCell   *lc;

	foreach(lc, tables)
	{
		if (((TableRules *) lfirst(lc))->relid == relid)
			return lfirst(lc);
	}
	return NULL;
}

/*
 * referencing_tables
 *		OIDs of the tables with a foreign key to a table.
 */
static List *
referencing_tables(Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(relid)};
	List	   *result = NIL;
	bool		isnull;

	if (SPI_execute_with_args("SELECT DISTINCT conrelid FROM pg_catalog.pg_constraint"
							  " WHERE contype OPERATOR(pg_catalog.=) 'f' AND confrelid OPERATOR(pg_catalog.=) $1 AND conrelid OPERATOR(pg_catalog.<>) $1",
							  1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_constraint");
	for (uint64 i = 0; i < SPI_processed; i++)
		result = lappend_oid(result,
							 DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
															SPI_tuptable->tupdesc, 1, &isnull)));
	return result;
}

/*
 * new_step
 *		Append a statement to the plan.
 */
static PlanStep *
new_step(SanitizePlan *plan, StepMethod method, TableRules *table, List *rules)
{
	PlanStep   *step = palloc0(sizeof(PlanStep));

	step->method = method;
	step->table = table;
	step->rules = rules;
	plan->steps = lappend(plan->steps, step);
	return step;
}

/*
 * plan_truncates
 *		The unlink steps and the single TRUNCATE of the truncated tables.
 *
 * TRUNCATE refuses a table referenced by a foreign key unless the
 * referencing table goes in the same statement: such tables must all
 * have truncate rules, and one owner.
 */
static void
plan_truncates(SanitizePlan *plan)
{
	StringInfoData sql;
	StringInfoData count_sql;
	List	   *rules = NIL;
	TableRules *first = NULL;
	ListCell   *lc;

	foreach(lc, plan->tables)
	{
		TableRules *table = lfirst(lc);
		ListCell   *lc2;

		if (table->truncates == NIL)
			continue;
		table->truncated = true;

		foreach(lc2, referencing_tables(table->relid))
		{
			TableRules *child = find_table(plan->tables, lfirst_oid(lc2));

			if (child == NULL || child->truncates == NIL)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("rule %lld: cannot truncate table %s, which table %s references",
								(long long) ((SandboxRule *) linitial(table->truncates))->id,
								table->qualname,
								quote_qualified_identifier(get_namespace_name(get_rel_namespace(lfirst_oid(lc2))),
													   get_rel_name(lfirst_oid(lc2)))),
						 errhint("Add a truncate rule for the referencing table to the same environment, or use a delete rule.")));
		}
		if (first != NULL && table->owner != first->owner)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("rule %lld: tables %s and %s have different owners and cannot be truncated together",
							(long long) ((SandboxRule *) linitial(table->truncates))->id,
							first->qualname, table->qualname)));
		if (first == NULL)
			first = table;

		if (column_names(table->truncates) != NIL)
		{
			PlanStep   *unlink = new_step(plan, METHOD_UNLINK, table, table->truncates);
			char	   *ids = large_object_ids_sql(table->truncates, table->qualname);

			unlink->sql = psprintf("SELECT pg_catalog.count(pg_catalog.lo_unlink(lo)) FROM %s"
								   EXISTING_LARGE_OBJECTS, ids);
			unlink->count_sql = psprintf("SELECT pg_catalog.count(lo) FROM %s"
										 EXISTING_LARGE_OBJECTS, ids);
			unlink->sql_returns_count = true;
		}
		rules = list_concat(rules, table->truncates);
	}
	if (first == NULL)
		return;

	initStringInfo(&sql);
	initStringInfo(&count_sql);
	appendStringInfoString(&sql, "TRUNCATE TABLE ");
	appendStringInfoString(&count_sql, "SELECT 0::pg_catalog.int8");
	foreach(lc, plan->tables)
	{
		TableRules *table = lfirst(lc);

		if (!table->truncated)
			continue;
		appendStringInfo(&sql, "%s%s", table == first ? "" : ", ", table->qualname);
		appendStringInfo(&count_sql, " + (SELECT pg_catalog.count(*) FROM %s)", table->qualname);
	}
	new_step(plan, METHOD_TRUNCATE, first, rules);
	((PlanStep *) llast(plan->steps))->sql = sql.data;
	((PlanStep *) llast(plan->steps))->count_sql = count_sql.data;
}

/*
 * plan_delete
 *		One DELETE for a table, unlinking the large objects of the rows it
 *		removes in the same statement.
 */
static void
plan_delete(SanitizePlan *plan, TableRules *table)
{
	PlanStep   *step = new_step(plan, METHOD_DELETE, table, table->deletes);
	char	   *where = rows_where(table->deletes);
	List	   *lo_columns = column_names(table->deletes);

	step->count_sql = psprintf("SELECT pg_catalog.count(*) FROM %s%s", table->qualname, where);
	if (lo_columns == NIL)
	{
		step->sql = psprintf("DELETE FROM %s%s", table->qualname, where);
		return;
	}

	{
		StringInfoData returning;
		ListCell   *lc;

		initStringInfo(&returning);
		foreach(lc, lo_columns)
			appendStringInfo(&returning, "%s%s", foreach_current_index(lc) > 0 ? ", " : "",
							 quote_identifier(strVal(lfirst(lc))));
		step->sql = psprintf("WITH removed AS (DELETE FROM %s%s RETURNING %s),"
							 " unlinked AS (SELECT pg_catalog.lo_unlink(lo) FROM %s" EXISTING_LARGE_OBJECTS ")"
							 " SELECT (SELECT pg_catalog.count(*) FROM removed),"
							 " (SELECT pg_catalog.count(*) FROM unlinked)",
							 table->qualname, where, returning.data,
							 large_object_ids_sql(table->deletes, "removed"));
		step->sql_returns_count = true;
	}
}

/*
 * plan_deletes
 *		DELETE steps, referencing tables before the tables they reference
 *		so that no foreign key sees a parent go before its children.
 */
static void
plan_deletes(SanitizePlan *plan)
{
	List	   *pending = NIL;
	ListCell   *lc;

	foreach(lc, plan->tables)
	{
		TableRules *table = lfirst(lc);

		if (table->deletes == NIL || table->truncated)
			continue;
		if (table->deletes_folded)
		{
			/* the rewrite drops the rows; their large objects go first */
			if (column_names(table->deletes) != NIL)
			{
				PlanStep   *unlink = new_step(plan, METHOD_UNLINK, table, table->deletes);
				char	   *ids = large_object_ids_sql(table->deletes,
													   psprintf("%s%s", table->qualname,
																rows_where(table->deletes)));

				unlink->sql = psprintf("SELECT pg_catalog.count(pg_catalog.lo_unlink(lo)) FROM %s"
									   EXISTING_LARGE_OBJECTS, ids);
				unlink->count_sql = psprintf("SELECT pg_catalog.count(lo) FROM %s"
											 EXISTING_LARGE_OBJECTS, ids);
				unlink->sql_returns_count = true;
			}
			continue;
		}
		pending = lappend(pending, table);
	}

	while (pending != NIL)
	{
		TableRules *next = NULL;

		/* the first pending table that no other pending table references */
		foreach(lc, pending)
		{
			TableRules *candidate = lfirst(lc);
			bool		referenced = false;
			ListCell   *lc2;

			foreach(lc2, referencing_tables(candidate->relid))
			{
				TableRules *child = find_table(pending, lfirst_oid(lc2));

				referenced |= (child != NULL && child != candidate);
			}
			if (!referenced)
			{
				next = candidate;
				break;
			}
		}
		if (next == NULL)		/* a cycle of foreign keys: keep name order */
			next = linitial(pending);
		plan_delete(plan, next);
		pending = list_delete_ptr(pending, next);
	}
}

/*
 * references_to
 *		Whether a foreign key references a relation or one of its
 *		partitions or inheritance children.
 */
static bool
references_to(Oid relid)
{
	ListCell   *lc;

	foreach(lc, find_all_inheritors(relid, NoLock, NULL))
	{
		if (referencing_tables(lfirst_oid(lc)) != NIL)
			return true;
		if (SPI_execute(psprintf("SELECT 1 FROM pg_catalog.pg_constraint WHERE contype = 'f'"
								 " AND confrelid = %u AND conrelid = %u LIMIT 1",
								 lfirst_oid(lc), lfirst_oid(lc)), true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read pg_constraint");
		if (SPI_processed > 0)
			return true;
	}
	return false;
}

/*
 * references_deleted
 *		Whether a table has a foreign key to a table that the plan deletes
 *		from: its own deletes must then run before that table's DELETE.
 */
static bool
references_deleted(SanitizePlan *plan, Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(relid)};

	if (SPI_execute_with_args("SELECT DISTINCT confrelid FROM pg_catalog.pg_constraint"
							  " WHERE contype = 'f' AND conrelid = $1 AND confrelid <> $1",
							  1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_constraint");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		TableRules *parent = find_table(plan->tables,
										DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
																	   SPI_tuptable->tupdesc, 1, &isnull)));

		if (parent != NULL && parent->deletes != NIL && !parent->truncated)
			return true;
	}
	return false;
}

/*
 * rel_owner
 *		The owner of a relation.
 */
static Oid
rel_owner(Oid relid)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	return owner;
}

/*
 * part_of
 *		A TableRules for one partition or inheritance child of a table
 *		(or the table itself): the same rules, the child's name and owner.
 */
static TableRules *
part_of(TableRules *table, Oid relid)
{
	TableRules *part;

	if (relid == table->relid)
		return table;
	part = palloc(sizeof(TableRules));
	*part = *table;
	part->relid = relid;
	part->owner = rel_owner(relid);
	part->schema = get_namespace_name(get_rel_namespace(relid));
	part->name = get_rel_name(relid);
	part->qualname = quote_qualified_identifier(part->schema, part->name);
	return part;
}

/*
 * trigger_names
 *		", triggers not fired: a, b" for the plan, or "".
 */
static char *
trigger_names(Oid relid)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, sandbox_user_triggers(relid))
		appendStringInfo(&buf, "%s%s", buf.len == 0 ? "; triggers not fired: " : ", ",
						 quote_identifier(((SuspendedTrigger *) lfirst(lc))->name));
	return buf.data;
}

/*
 * plan_rewrite
 *		Rewrite steps for a table, one per plain table among the table,
 *		its partitions and its inheritance children: all its mask and set
 *		rules as projections, and its delete rules as a qual when they are
 *		folded in (see build_plan).  A table with no rule of its own is
 *		copied as it is (after a DELETE cascaded into it, for instance),
 *		which leaves no dead row version behind.
 */
static void
plan_rewrite(SanitizePlan *plan, TableRules *table, const char *why)
{
	List	   *values = NIL;
	List	   *rules = list_copy(table->updates);
	char	   *keep_rows = NULL;
	ListCell   *lc;

	foreach(lc, column_names(table->updates))
	{
		RewriteColumn *column = palloc(sizeof(RewriteColumn));

		column->name = strVal(lfirst(lc));
		column->value_sql = column_value_sql(rules_for_column(table->updates, column->name),
											 column->name);
		values = lappend(values, column);
	}
	if (table->deletes_folded)
	{
		char	   *where = rows_where(table->deletes);

		keep_rows = (where[0] == '\0') ? "false" :
			psprintf("NOT COALESCE(%s, false)", where + strlen(" WHERE "));
		rules = list_concat(rules, table->deletes);
	}

	foreach(lc, find_all_inheritors(table->relid, NoLock, NULL))
	{
		Oid			relid = lfirst_oid(lc);
		PlanStep   *step;

		if (get_rel_relkind(relid) != RELKIND_RELATION)
			continue;
		step = new_step(plan, METHOD_REWRITE, part_of(table, relid), rules);
		step->sql = sandbox_rewrite_select_sql(relid, values, keep_rows);
		step->count_sql = psprintf("SELECT pg_catalog.count(*) FROM ONLY %s%s%s",
								   step->table->qualname, keep_rows ? " WHERE " : "",
								   keep_rows ? keep_rows : "");
		step->why = psprintf("%s%s", why ? why : "", trigger_names(relid));
	}
}

/*
 * plan_update
 *		One UPDATE applying every mask and set rule of a table: only with
 *		penelope_sandbox.update_strategy = update.
 */
static void
plan_update(SanitizePlan *plan, TableRules *table)
{
	List	   *columns = column_names(table->updates);
	PlanStep   *step = new_step(plan, METHOD_UPDATE, table, table->updates);
	char	   *where = rows_where(table->updates);
	StringInfoData sql;
	ListCell   *lc;

	initStringInfo(&sql);
	appendStringInfo(&sql, "UPDATE %s SET", table->qualname);
	foreach(lc, columns)
	{
		const char *column = strVal(lfirst(lc));
		char	   *value = column_value_sql(rules_for_column(table->updates, column), column);

		appendStringInfo(&sql, "%s %s = %s", foreach_current_index(lc) > 0 ? "," : "",
						 quote_identifier(column), value);
	}
	appendStringInfoString(&sql, where);
	step->sql = sql.data;
	step->count_sql = psprintf("SELECT pg_catalog.count(*) FROM %s%s", table->qualname, where);
	step->why = psprintf("; penelope_sandbox.update_strategy is update: old row versions stay until VACUUM%s",
						 trigger_names(table->relid));
}

/*
 * plan_cascade_rewrites
 *		Tables that a DELETE step changes through ON DELETE CASCADE, SET
 *		NULL or SET DEFAULT, and that no rule rewrites: a copy removes the
 *		dead row versions the cascade leaves.
 */
static void
plan_cascade_rewrites(SanitizePlan *plan)
{
	List	   *done = NIL;
	ListCell   *lc;

	foreach(lc, plan->steps)
	{
		PlanStep   *step = lfirst(lc);
		Oid			argtypes[1] = {OIDOID};
		Datum		args[1];

		if (step->method != METHOD_DELETE)
			continue;
		args[0] = ObjectIdGetDatum(step->table->relid);
		if (SPI_execute_with_args("SELECT DISTINCT c.conrelid FROM pg_catalog.pg_constraint c"
								  " WHERE c.contype = 'f' AND c.confdeltype IN ('c', 'n', 'd')"
								  " AND c.confrelid IN (SELECT pg_catalog.unnest(pg_catalog.array_append("
								  "  ARRAY(SELECT i.inhrelid FROM pg_catalog.pg_inherits i WHERE i.inhparent = $1), $1)))"
								  " ORDER BY 1",
								  1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read pg_constraint");
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			Oid			relid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
															   SPI_tuptable->tupdesc, 1, &isnull));
			TableRules *child = find_table(plan->tables, relid);

			if ((child != NULL && (child->updates != NIL || child->deletes != NIL) && !child->truncated) ||
				list_member_oid(done, relid))
				continue;
			done = lappend_oid(done, relid);
		}
	}
	foreach(lc, done)
	{
		Oid			relid = lfirst_oid(lc);
		TableRules *table = palloc0(sizeof(TableRules));

		table->relid = relid;
		table->owner = rel_owner(relid);
		table->schema = get_namespace_name(get_rel_namespace(relid));
		table->name = get_rel_name(relid);
		table->qualname = quote_qualified_identifier(table->schema, table->name);
		plan_rewrite(plan, table, "; a DELETE above cascades into it");
	}
}

/*
 * builtin_target
 *		A TableRules standing for the catalog a built-in step changes; its
 *		statements run with the rights of the sanitizing function's owner.
 */
static TableRules *
builtin_target(const char *object)
{
	TableRules *target = palloc0(sizeof(TableRules));

	target->owner = GetUserId();
	target->schema = "pg_catalog";
	target->name = pstrdup(object);
	target->qualname = target->name;
	return target;
}

/*
 * plan_outbound
 *		The built-in steps closing PostgreSQL's own outbound channels.
 */
static void
plan_outbound(SanitizePlan *plan)
{
	ListCell   *lc;

	foreach(lc, sandbox_outbound_steps())
	{
		OutboundStep *outbound = lfirst(lc);
		PlanStep   *step = new_step(plan, METHOD_BUILTIN, builtin_target(outbound->object), NIL);

		step->sql = outbound->sql;
		step->count_sql = outbound->count_sql;
	}
}

/*
 * column_changed
 *		Whether the mask and set rules of some tables (TableRules *) write
 *		a column of a relation: rules on the relation itself, on one of its
 *		ancestors or on one of its partitions or children.
 */
static bool
column_changed(List *tables, Oid relid, const char *column)
{
	ListCell   *lc;

	foreach(lc, tables)
	{
		TableRules *table = lfirst(lc);

		if (table->truncated || rules_for_column(table->updates, column) == NIL)
			continue;
		if (table->relid == relid ||
			list_member_oid(find_all_inheritors(table->relid, NoLock, NULL), relid) ||
			list_member_oid(find_all_inheritors(relid, NoLock, NULL), table->relid))
			return true;
	}
	return false;
}

/*
 * refuse_unmatched_key
 *		The rule of behaviour for a foreign key whose referenced columns
 *		some rules change: a rewrite cascades nothing, so the rules must
 *		change the referencing columns too, or the key can never hold
 *		afterwards.  Raises the refusal when they do not; tells whether
 *		the key has a changed column on either side.  The same function
 *		decides when a rule is written (sandbox_check_rule_keys) and when
 *		a run is planned (foreign_keys_to_check).
 */
static bool
refuse_unmatched_key(List *tables, ForeignKeyCheck *fk)
{
	bool		referencing_changed = false;
	bool		referenced_changed = false;

	for (int k = 0; k < list_length(fk->columns); k++)
	{
		referencing_changed |= column_changed(tables, fk->conrelid, list_nth(fk->columns, k));
		referenced_changed |= column_changed(tables, fk->confrelid, list_nth(fk->ref_columns, k));
	}
	if (referenced_changed && !referencing_changed)
	{
		char	   *referenced = quote_qualified_identifier(get_namespace_name(get_rel_namespace(fk->confrelid)),
															get_rel_name(fk->confrelid));
		char	   *referencing = quote_qualified_identifier(get_namespace_name(get_rel_namespace(fk->conrelid)),
															 get_rel_name(fk->conrelid));

		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the rules change the key of %s that foreign key %s of %s references, and no rule changes the referencing columns",
						referenced, quote_identifier(fk->name), referencing),
				 errdetail("A rewrite fires no ON UPDATE CASCADE and no foreign key trigger: the rows of %s would reference keys that no longer exist, and every run of the environment would be refused.",
						   referencing),
				 errhint("Mask the referencing columns with the same deterministic masking function, in the same environment or one it inherits from; write that rule first, or both rules in one statement.")));
	}
	return referencing_changed || referenced_changed;
}

/*
 * foreign_key_of
 *		A foreign key (a pg_constraint tuple) as ForeignKeyCheck.
 */
static ForeignKeyCheck *
foreign_key_of(HeapTuple tuple)
{
	Form_pg_constraint con = (Form_pg_constraint) GETSTRUCT(tuple);
	ForeignKeyCheck *fk = palloc0(sizeof(ForeignKeyCheck));
	AttrNumber	conkey[INDEX_MAX_KEYS];
	AttrNumber	confkey[INDEX_MAX_KEYS];
	int			n;

	fk->name = pstrdup(NameStr(con->conname));
	fk->conrelid = con->conrelid;
	fk->confrelid = con->confrelid;
	fk->match_full = (con->confmatchtype == FKCONSTR_MATCH_FULL);
	DeconstructFkConstraintRow(tuple, &n, conkey, confkey, NULL, NULL, NULL, NULL, NULL);
	for (int k = 0; k < n; k++)
	{
		fk->columns = lappend(fk->columns, get_attname(fk->conrelid, conkey[k], false));
		fk->ref_columns = lappend(fk->ref_columns, get_attname(fk->confrelid, confkey[k], false));
	}
	return fk;
}

/*
 * foreign_keys_to_check
 *		The foreign keys whose columns, on either side, the plan's rules
 *		write: a rewrite fires no foreign key trigger, so the run checks
 *		them itself after its steps (check_foreign_keys).  A key whose
 *		referenced columns are masked while no rule writes the referencing
 *		ones is refused (refuse_unmatched_key).
 */
static List *
foreign_keys_to_check(SanitizePlan *plan)
{
	List	   *result = NIL;
	Relation	conrel;
	SysScanDesc scan;
	HeapTuple	tuple;

	if (plan->tables == NIL)
		return NIL;
	conrel = table_open(ConstraintRelationId, AccessShareLock);
	scan = systable_beginscan(conrel, ConstraintOidIndexId, true, NULL, 0, NULL);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_constraint con = (Form_pg_constraint) GETSTRUCT(tuple);
		ForeignKeyCheck *fk;

		if (con->contype != CONSTRAINT_FOREIGN || OidIsValid(con->conparentid))
			continue;
		fk = foreign_key_of(tuple);
		if (refuse_unmatched_key(plan->tables, fk))
			result = lappend(result, fk);
	}
	systable_endscan(scan);
	table_close(conrel, AccessShareLock);
	return result;
}

/*
 * sandbox_column_foreign_keys
 *		The foreign keys in which a column of a relation takes part, on
 *		either side, as copies of their pg_constraint rows.  They are found
 *		through pg_depend (a foreign key depends on each of its columns,
 *		referencing and referenced), so a column in no key costs one index
 *		scan.
 */
List *
sandbox_column_foreign_keys(Oid relid, const char *column_name)
{
	List	   *result = NIL;
	AttrNumber	attnum = get_attnum(relid, column_name);
	Relation	deprel;
	ScanKeyData key[3];
	SysScanDesc scan;
	HeapTuple	tuple;

	if (attnum == InvalidAttrNumber)
		return NIL;
	deprel = table_open(DependRelationId, AccessShareLock);
	ScanKeyInit(&key[0], Anum_pg_depend_refclassid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(RelationRelationId));
	ScanKeyInit(&key[1], Anum_pg_depend_refobjid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	ScanKeyInit(&key[2], Anum_pg_depend_refobjsubid, BTEqualStrategyNumber,
				F_INT4EQ, Int32GetDatum((int32) attnum));
	scan = systable_beginscan(deprel, DependReferenceIndexId, true, NULL, 3, key);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_depend dep = (Form_pg_depend) GETSTRUCT(tuple);
		HeapTuple	contuple;

		if (dep->classid != ConstraintRelationId)
			continue;
		contuple = SearchSysCacheCopy1(CONSTROID, ObjectIdGetDatum(dep->objid));
		if (!HeapTupleIsValid(contuple))
			continue;
		if (((Form_pg_constraint) GETSTRUCT(contuple))->contype == CONSTRAINT_FOREIGN)
			result = lappend(result, contuple);
		else
			heap_freetuple(contuple);
	}
	systable_endscan(scan);
	table_close(deprel, AccessShareLock);
	return result;
}

/*
 * sandbox_check_rule_keys
 *		See penelope_sandbox.h: when a mask or set rule is written, refuse
 *		it if it changes a referenced key that no rule of its environment
 *		(and of those it inherits from) changes on the referencing side,
 *		as planning a run of that environment would.  chain_rules returns
 *		those rules (mask, set and truncate, with their table and column),
 *		read by the caller with the catalog owner's rights; it is called
 *		only when a key references the column.  Foreign keys are
 *		found through pg_depend (a foreign key depends on each referenced
 *		column), so a column no key references costs one index scan.
 */
void
sandbox_check_rule_keys(SandboxRule *rule, List *(*chain_rules) (const SandboxRule *rule))
{
	List	   *relids;
	List	   *keys = NIL;
	List	   *tables = NIL;
	ListCell   *lc;

	if ((rule->action != ACTION_MASK && rule->action != ACTION_SET) || rule->column_name == NULL)
		return;

	/* the relations whose column the rule changes, and their ancestors */
	relids = list_concat_unique_oid(find_all_inheritors(rule->relid, NoLock, NULL),
									sandbox_ancestors(rule->relid));
	foreach(lc, relids)
	{
		Oid			relid = lfirst_oid(lc);
		ListCell   *lc2;

		foreach(lc2, sandbox_column_foreign_keys(relid, rule->column_name))
		{
			HeapTuple	contuple = lfirst(lc2);
			Form_pg_constraint con = (Form_pg_constraint) GETSTRUCT(contuple);

			if (con->confrelid == relid && !OidIsValid(con->conparentid))
				keys = lappend(keys, foreign_key_of(contuple));
		}
	}
	if (keys == NIL)
		return;

	/* the rules a run of the environment applies, this one as written */
	foreach(lc, chain_rules(rule))
	{
		SandboxRule *other = lfirst(lc);
		TableRules *table;

		if (other->id == rule->id)
			continue;
		other->relid = get_namespace_oid(other->table_schema, true);
		if (OidIsValid(other->relid))
			other->relid = get_relname_relid(other->table_name, other->relid);
		if (!OidIsValid(other->relid))
			continue;
		table = table_rules_for(&tables, other);
		if (other->action == ACTION_TRUNCATE)
			table->truncated = true;
		else if (other->action == ACTION_MASK || other->action == ACTION_SET)
			table->updates = lappend(table->updates, other);
	}
	table_rules_for(&tables, rule)->updates =
		lappend(table_rules_for(&tables, rule)->updates, rule);
	foreach(lc, keys)
		(void) refuse_unmatched_key(tables, lfirst(lc));
}

/*
 * check_foreign_keys
 *		Check, after the steps, the foreign keys whose columns the run
 *		wrote: every referencing row must still find its referenced row.
 *		Run as the referencing table's owner, like the rules.
 */
static void
check_foreign_keys(SanitizePlan *plan)
{
	ListCell   *lc;

	foreach(lc, plan->foreign_keys)
	{
		ForeignKeyCheck *fk = lfirst(lc);
		TableRules *target = palloc0(sizeof(TableRules));
		StringInfoData sql;
		StringInfoData present;
		StringInfoData match;
		int64		broken;

		target->relid = fk->conrelid;
		target->owner = rel_owner(fk->conrelid);
		target->schema = get_namespace_name(get_rel_namespace(fk->conrelid));
		target->name = get_rel_name(fk->conrelid);
		target->qualname = quote_qualified_identifier(target->schema, target->name);

		initStringInfo(&present);
		initStringInfo(&match);
		for (int k = 0; k < list_length(fk->columns); k++)
		{
			const char *column = quote_identifier(list_nth(fk->columns, k));

			appendStringInfo(&present, "%sr.%s IS NOT NULL", k > 0 ? (fk->match_full ? " OR " : " AND ") : "",
							 column);
			appendStringInfo(&match, "%sp.%s OPERATOR(pg_catalog.=) r.%s", k > 0 ? " AND " : "",
							 quote_identifier(list_nth(fk->ref_columns, k)), column);
		}
		initStringInfo(&sql);
		appendStringInfo(&sql, "SELECT pg_catalog.count(*) FROM %s r WHERE (%s)"
						 " AND NOT EXISTS (SELECT FROM %s p WHERE %s)",
						 target->qualname, present.data,
						 quote_qualified_identifier(get_namespace_name(get_rel_namespace(fk->confrelid)),
													get_rel_name(fk->confrelid)),
						 match.data);
		broken = count_guarded(target, NIL, sql.data);
		if (broken > 0)
			ereport(ERROR,
					(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
					 errmsg("foreign key %s of %s does not hold after the rules: %lld rows reference a key the rules changed or removed",
							quote_identifier(fk->name), target->qualname, (long long) broken),
					 errhint("Nothing was changed: the whole sanitization is rolled back. Mask both sides of the key with the same deterministic masking function, or remove the referencing rows too.")));
	}
}

/*
 * sandbox_refuse_overlapping_rule
 *		See penelope_sandbox.h: the refusal of a mask or set rule on a
 *		partition or inheritance child (child_rule, on relation child)
 *		when a rule applied with it (parent_rule, on parent) writes the
 *		same column of an ancestor.  Raised by refuse_overlapping_rules
 *		when a run is planned and by rule_checks.c when a rule is written.
 */
void
sandbox_refuse_overlapping_rule(int64 child_rule, const char *column, const char *child,
								int64 parent_rule, const char *parent)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("rule %lld writes column %s of %s, which rule %lld on %s writes too",
					(long long) child_rule, quote_identifier(column), child,
					(long long) parent_rule, parent),
			 errdetail("A rule on a table applies to its partitions and inheritance children too: the rows of %s would hold either rule's value, and one of the two rules could never verify.",
					   child),
			 errhint("A rule on a table applies to its partitions and inheritance children: keep one of the two rules, or give the parent's rule a filter and the child's its own column.")));
}

/*
 * refuse_overlapping_rules
 *		A rule on a table applies to its partitions and inheritance
 *		children too.  Another rule for the same column on one of those
 *		would make the rows it covers hold either rule's value, and the
 *		other rule could never verify: refuse it.  (Also refused when the
 *		rule is written; a partition attached since is caught here.)
 */
static void
refuse_overlapping_rules(SanitizePlan *plan)
{
	ListCell   *lc;

	foreach(lc, plan->tables)
	{
		TableRules *parent = lfirst(lc);
		List	   *children;
		ListCell   *lc2;

		if (parent->updates == NIL || !has_subclass(parent->relid))
			continue;
		children = find_all_inheritors(parent->relid, NoLock, NULL);
		foreach(lc2, plan->tables)
		{
			TableRules *child = lfirst(lc2);
			ListCell   *lc3;

			if (child == parent || child->updates == NIL ||
				!list_member_oid(children, child->relid))
				continue;
			foreach(lc3, child->updates)
			{
				SandboxRule *rule = lfirst(lc3);
				List	   *same = rules_for_column(parent->updates, rule->column_name);

				if (same != NIL)
					sandbox_refuse_overlapping_rule(rule->id, rule->column_name, child->qualname,
													((SandboxRule *) linitial(same))->id,
													parent->qualname);
			}
		}
	}
}

/*
 * build_plan
 *		Load and validate the rules of an environment and turn them into
 *		statements.  For a run (sanitize, and the plan showing it), the
 *		rules this copy already had applied are left out (see
 *		sandbox_rules_to_apply in feature.c); verify checks them all.  The
 *		caller must be connected to SPI.
 */
static SanitizePlan *
build_plan(const char *environment, bool for_run)
{
	SanitizePlan *plan = palloc0(sizeof(SanitizePlan));
	ListCell   *lc;

	plan->all_rules = sandbox_load_rules(environment);
	plan->rules = for_run ? sandbox_rules_to_apply(plan->all_rules) : plan->all_rules;
	foreach(lc, plan->rules)
	{
		SandboxRule *rule = lfirst(lc);
		TableRules *table;

		sandbox_validate_rule(rule, false);
		table = table_rules_for(&plan->tables, rule);
		table->rules_all = lappend(table->rules_all, rule);
		switch (rule->action)
		{
			case ACTION_TRUNCATE:
				table->truncates = lappend(table->truncates, rule);
				break;
			case ACTION_DELETE:
				table->deletes = lappend(table->deletes, rule);
				break;
			case ACTION_MASK:
			case ACTION_SET:
				table->updates = lappend(table->updates, rule);
				break;
		}
	}
	list_sort(plan->tables, compare_tables);

	refuse_overlapping_rules(plan);
	plan->foreign_keys = foreign_keys_to_check(plan);

	plan->disable_outbound = sandbox_environment_disables_outbound(environment);
	if (plan->disable_outbound)
		plan_outbound(plan);
	plan_truncates(plan);

	/*
	 * A table's delete rules are folded into its rewrite when no foreign
	 * key references it: dropping rows then breaks nothing.  Otherwise a
	 * DELETE runs first, so that the foreign keys act, and the rewrite
	 * after it leaves no dead row version.
	 */
	foreach(lc, plan->tables)
	{
		TableRules *table = lfirst(lc);

		table->deletes_folded = (table->deletes != NIL && !table->truncated &&
								 sandbox_update_strategy != STRATEGY_UPDATE &&
								 !references_to(table->relid) &&
								 !references_deleted(plan, table->relid));
	}
	plan_deletes(plan);
	foreach(lc, plan->tables)
	{
		TableRules *table = lfirst(lc);

		if (table->truncated)
			continue;
		if (sandbox_update_strategy == STRATEGY_UPDATE)
		{
			if (table->updates != NIL)
				plan_update(plan, table);
		}
		else if (table->updates != NIL || table->deletes != NIL)
			plan_rewrite(plan, table,
						 table->deletes != NIL && !table->deletes_folded ?
						 "; rows deleted by the DELETE above, which a foreign key references" : NULL);
	}
	if (sandbox_update_strategy != STRATEGY_UPDATE)
	{
		plan_cascade_rewrites(plan);
	}
	return plan;
}

/* ---- Errors that carry no row values ---- */

/*
 * rule_id_list
 *		"3, 5, 8": the ids of a list of rules.
 */
static char *
rule_id_list(List *rules)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, rules)
		appendStringInfo(&buf, "%s%lld", foreach_current_index(lc) > 0 ? ", " : "",
						 (long long) ((SandboxRule *) lfirst(lc))->id);
	return buf.data;
}

/*
 * error_from_user_code
 *		Whether an error was raised by code written in a procedural
 *		language (a trigger, a function called by a rule): its message may
 *		say anything, including a row value, whatever its SQLSTATE.
 */
static bool
error_from_user_code(const ErrorData *edata)
{
	static const char *const pl_files[] = {
		"pl_exec.c", "plperl.c", "plpy_elog.c", "plpy_plpymodule.c", "pltcl.c"
	};

	if (edata->filename == NULL)
		return true;
	for (int i = 0; i < (int) lengthof(pl_files); i++)
	{
		if (strcmp(edata->filename, pl_files[i]) == 0)
			return true;
	}
	return false;
}

/*
 * error_is_environmental
 *		Errors about the session or the server rather than the data:
 *		cancellation, shutdown, lack of resources, lock and serialization
 *		failures.  Raised by the server itself, their messages hold no row
 *		values, and they are passed on as they are.
 */
static bool
error_is_environmental(const ErrorData *edata)
{
	if (error_from_user_code(edata))
		return false;
	switch (ERRCODE_TO_CATEGORY(edata->sqlerrcode))
	{
		case ERRCODE_TRANSACTION_ROLLBACK:
		case ERRCODE_INSUFFICIENT_RESOURCES:
		case ERRCODE_PROGRAM_LIMIT_EXCEEDED:
		case ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE:
		case ERRCODE_OPERATOR_INTERVENTION:
		case ERRCODE_SYSTEM_ERROR:
			return true;
		default:
			return false;
	}
}

/*
 * name_of_table_object
 *		Whether a name an error carries is that of a constraint or an
 *		index of the table (kind 'c') or of one of its columns (kind 'a')
 *		as the catalogs hold it now, after the failed statement was rolled
 *		back.  Owner code could have renamed an object after a row value
 *		during the statement; such a name no longer exists.
 */
static bool
name_of_table_object(Oid relid, const char *name, char kind)
{
	Oid			indexid;

	if (!OidIsValid(relid) || name == NULL)
		return false;
	if (kind == 'a')
		return get_attnum(relid, name) != InvalidAttrNumber;
	if (OidIsValid(get_relation_constraint_oid(relid, name, true)))
		return true;
	indexid = get_relname_relid(name, get_rel_namespace(relid));
	return OidIsValid(indexid) && get_rel_relkind(indexid) == RELKIND_INDEX &&
		IndexGetRelation(indexid, true) == relid;
}

/*
 * safe_error_detail
 *		What may be told of an error without risking a row value.
 *
 * Only the server's own integrity-constraint messages (SQLSTATE class
 * 23) are kept, and only when the constraint, index or column they name
 * is one of the table's as the catalogs hold it now.  Every other
 * message, whatever its class, is replaced by its SQLSTATE: a data
 * exception quotes the offending value, a trigger's RAISE may say
 * anything, and owner code can make a "column does not exist" (class 42)
 * out of a row value.  The error's own DETAIL is never kept: it is where
 * PostgreSQL puts key values and failing rows.
 */
static char *
safe_error_detail(const ErrorData *edata, Oid relid)
{
	StringInfoData buf;
	bool		constraint_ok = name_of_table_object(relid, edata->constraint_name, 'c');
	bool		column_ok = name_of_table_object(relid, edata->column_name, 'a');

	initStringInfo(&buf);
	if (!error_from_user_code(edata) &&
		ERRCODE_TO_CATEGORY(edata->sqlerrcode) == ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION &&
		(constraint_ok || column_ok) &&
		(edata->constraint_name == NULL || constraint_ok) &&
		(edata->column_name == NULL || column_ok))
		appendStringInfo(&buf, "The statement failed: %s.", edata->message);
	else
		appendStringInfo(&buf, "The statement failed with SQLSTATE %s.",
						 unpack_sql_state(edata->sqlerrcode));
	if (column_ok)
		appendStringInfo(&buf, " Column: %s.", edata->column_name);
	if (constraint_ok)
		appendStringInfo(&buf, " Constraint: %s.", edata->constraint_name);
	appendStringInfoString(&buf, " Row values are not shown.");
	return buf.data;
}

/*
 * probe_sql
 *		A query that evaluates one rule alone, to find the failing rule of
 *		a statement; NULL for rules that cannot fail alone.
 */
static char *
probe_sql(const SandboxRule *rule, const TableRules *table)
{
	const char *where = rule->filter ? psprintf(" WHERE %s", sandbox_rule_expression_sql(rule, true)) : "";

	switch (rule->action)
	{
		case ACTION_MASK:
		case ACTION_SET:
			{
				Oid			typid;
				int32		typmod;
				Oid			collid;

				get_atttypetypmodcoll(table->relid, get_attnum(table->relid, rule->column_name),
									  &typid, &typmod, &collid);

				/*
				 * A length limit is applied as an assignment applies it: a
				 * value too long fails instead of being cut (as a cast would).
				 */
				if ((typid == VARCHAROID || typid == BPCHAROID) && typmod >= 0)
					return psprintf("SELECT pg_catalog.count(pg_catalog.%s(CAST(%s AS %s), %d, false)) FROM %s%s",
									typid == VARCHAROID ? "varchar" : "bpchar",
									sandbox_rule_expression_sql(rule, false),
									format_type_be_qualified(typid), typmod,
									table->qualname, where);
				return psprintf("SELECT pg_catalog.count(CAST(%s AS %s)) FROM %s%s",
								sandbox_rule_expression_sql(rule, false),
								format_type_be_qualified(typid),
								table->qualname, where);
			}
		case ACTION_DELETE:
			return psprintf("SELECT pg_catalog.count(*) FROM %s%s", table->qualname, where);
		case ACTION_TRUNCATE:
			return NULL;
	}
	return NULL;
}

/*
 * run_in_subtransaction
 *		Run a statement as a table owner in a subtransaction, with the
 *		run token as parameter $1 and the caller's parameters after it.
 *		With rewrite, the statement is the SELECT of a rewrite of that
 *		table (sandbox_rewrite_relation), and rewrite->rows is set.  On
 *		error, roll the subtransaction back and return the error; else
 *		NULL.
 */
static ErrorData *
run_in_subtransaction(Oid owner, const char *sql, int nargs, Oid *argtypes, Datum *values,
					  RewriteTarget *rewrite)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	ErrorData  *volatile edata = NULL;
	Oid		   *types = palloc(sizeof(Oid) * (nargs + 1));
	Datum	   *args = palloc(sizeof(Datum) * (nargs + 1));

	StaticAssertStmt(SANDBOX_RUN_TOKEN_PARAM == 1, "the run token is $1");
	types[0] = BYTEAOID;
	args[0] = sandbox_run_token();
	for (int i = 0; i < nargs; i++)
	{
		types[i + 1] = argtypes[i];
		args[i + 1] = values[i];
	}

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);
	PG_TRY();
	{
		if (rewrite != NULL)
			rewrite->rows = sandbox_rewrite_relation(rewrite, owner, sql,
													 nargs + 1, types, args);
		else
			sandbox_run_as_owner(owner, sql, nargs + 1, types, args);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(oldcontext);
	CurrentResourceOwner = oldowner;
	return edata;
}

/*
 * report_rules_failure
 *		Raise the error of a failed statement, naming its rule: each rule
 *		is tried alone, and the first that fails alone is the culprit;
 *		where none does, the rules failed together.
 */
static void
report_rules_failure(List *rules, TableRules *table, ErrorData *edata)
{
	List	   *culprits = rules;
	ListCell   *lc;

	if (error_is_environmental(edata))
		ReThrowError(edata);

	foreach(lc, rules)
	{
		SandboxRule *rule = lfirst(lc);
		char	   *sql = (rule->relid == table->relid) ? probe_sql(rule, table) : NULL;
		ErrorData  *probe_error;

		if (sql == NULL)
			continue;
		probe_error = run_in_subtransaction(table->owner, sql, 0, NULL, NULL, NULL);
		if (probe_error != NULL)
		{
			culprits = list_make1(rule);
			if (!error_is_environmental(probe_error))
				edata = probe_error;
			break;
		}
	}

	/* name the column a single failing rule writes */
	if (list_length(culprits) == 1 && edata->column_name == NULL)
		edata->column_name = ((SandboxRule *) linitial(culprits))->column_name;

	ereport(ERROR,
			(errcode(edata->sqlerrcode),
			 list_length(culprits) == 1 ?
			 errmsg("rule %s failed on table %s", rule_id_list(culprits), table->qualname) :
			 errmsg("rules %s failed together on table %s", rule_id_list(culprits), table->qualname),
			 errdetail_internal("%s", safe_error_detail(edata, table->relid)),
			 errhint("Nothing was changed: the whole sanitization is rolled back.")));
}

/*
 * run_guarded
 *		Run a statement for some rules as the table's owner; an error is
 *		replaced by one that names the failing rule and holds no row value.
 */
static void
run_guarded(TableRules *table, List *rules, const char *sql)
{
	ErrorData  *edata = run_in_subtransaction(table->owner, sql, 0, NULL, NULL, NULL);

	if (edata != NULL)
		report_rules_failure(rules, table, edata);
}

/*
 * sandbox_run_guarded_sql
 *		See penelope_sandbox.h: run a statement on a table (relid) as its
 *		owner; an error names "what" and holds no row value.
 */
void
sandbox_run_guarded_sql(Oid relid, const char *what, const char *sql,
						int nargs, Oid *argtypes, Datum *values)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;
	ErrorData  *edata;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);

	edata = run_in_subtransaction(owner, sql, nargs, argtypes, values, NULL);

	if (edata == NULL)
		return;
	if (error_is_environmental(edata))
		ReThrowError(edata);
	ereport(ERROR,
			(errcode(edata->sqlerrcode),
			 errmsg("%s failed", what),
			 errdetail_internal("%s", safe_error_detail(edata, relid)),
			 errhint("Nothing was changed.")));
}

/*
 * rewrite_checks
 *		The recognisers a rewrite step can apply itself to the values it
 *		writes (RewriteCheck *): those of the mask rules that write every
 *		row of their column (the first rule of the column, without filter),
 *		whose recogniser takes the value alone and may be executed by the
 *		table's owner.  The run's verification then counts their
 *		violations from the rewrite instead of reading the table again
 *		(see verify_plan).
 */
static List *
rewrite_checks(PlanStep *step)
{
	List	   *checks = NIL;
	List	   *columns = NIL;
	ListCell   *lc;

	foreach(lc, step->rules)
	{
		SandboxRule *rule = lfirst(lc);
		RewriteCheck *check;

		if ((rule->action != ACTION_MASK && rule->action != ACTION_SET) ||
			rule->column_name == NULL)
			continue;
		/* only the first rule of a column writes every row of it */
		if (list_member(columns, makeString(rule->column_name)))
			continue;
		columns = lappend(columns, makeString(rule->column_name));
		if (rule->action != ACTION_MASK || rule->filter != NULL ||
			!OidIsValid(rule->recogniser) || rule->recogniser_args != NULL ||
			get_func_nargs(rule->recogniser) != 1 ||
			pg_proc_aclcheck(rule->recogniser, step->table->owner, ACL_EXECUTE) != ACLCHECK_OK)
			continue;
		check = palloc0(sizeof(RewriteCheck));
		check->rule_id = rule->id;
		check->attnum = get_attnum(step->table->relid, rule->column_name);
		check->recogniser = rule->recogniser;
		if (check->attnum == InvalidAttrNumber)
			continue;
		checks = lappend(checks, check);
	}
	return checks;
}

/*
 * rewrite_guarded
 *		run_guarded for a rewrite step (see rewrite.c): returns the rows
 *		written, and leaves the counts of its recognisers in step->checks.
 */
static int64
rewrite_guarded(PlanStep *step)
{
	RewriteTarget rewrite = {0};
	ErrorData  *edata;
	ListCell   *lc;

	step->checks = rewrite_checks(step);
	rewrite.relid = step->table->relid;
	rewrite.checks = step->checks;
	foreach(lc, step->rules)
	{
		SandboxRule *rule = lfirst(lc);

		if (rule->action == ACTION_MASK || rule->action == ACTION_SET)
			rewrite.changed_columns = lappend(rewrite.changed_columns,
											  makeString(rule->column_name));
	}
	edata = run_in_subtransaction(step->table->owner, step->sql, 0, NULL, NULL, &rewrite);
	if (edata != NULL)
	{
		step->checks = NIL;
		report_rules_failure(step->rules, step->table, edata);
	}
	return rewrite.rows;
}

/*
 * sandbox_run_rule_sql
 *		run_guarded() for one rule's own query, for feature.c: an error
 *		names the rule and holds no row value.
 */
void
sandbox_run_rule_sql(SandboxRule *rule, const char *sql)
{
	TableRules	table = {0};

	table.relid = rule->relid;
	table.owner = rule->relowner;
	table.qualname = quote_qualified_identifier(rule->table_schema, rule->table_name);
	run_guarded(&table, list_make1(rule), sql);
}

/*
 * count_guarded
 *		run_guarded for a query returning one count.
 */
static int64
count_guarded(TableRules *table, List *rules, const char *sql)
{
	bool		isnull;
	Datum		value;

	run_guarded(table, rules, sql);
	if (SPI_processed != 1)
		elog(ERROR, "counting query returned %llu rows", (unsigned long long) SPI_processed);
	value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? 0 : DatumGetInt64(value);
}

/* ---- Verification ---- */

/*
 * WINNER_ALIAS: the relation, joined laterally to each row in verify_plan,
 * whose column N holds the position of the rule that applies to the row's
 * column N (see winner_sql).
 */
#define WINNER_ALIAS "\"penelope_sandbox winner\""

/*
 * winner_sql
 *		"CASE WHEN f1 THEN 1 WHEN f2 THEN 2 ... ELSE k END": the position,
 *		among the rules of one column, of the rule that applies to a row
 *		(the first whose filter matches), or NULL where none does.  Rules
 *		after one without a filter never apply.
 */
static char *
winner_sql(List *rules)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "CASE");
	foreach(lc, rules)
	{
		SandboxRule *rule = lfirst(lc);

		if (rule->filter == NULL)
		{
			appendStringInfo(&buf, " ELSE %d", foreach_current_index(lc) + 1);
			break;
		}
		appendStringInfo(&buf, " WHEN %s THEN %d", sandbox_wrap_sql(rule->filter),
						 foreach_current_index(lc) + 1);
	}
	appendStringInfoString(&buf, " END");
	return buf.data;
}

/*
 * verify_check_sql
 *		A boolean SQL condition true for each row violating a rule, and
 *		the sentence describing what the rule guarantees.
 *
 * A mask or set rule is checked on the rows where it is the rule that
 * applies: the winner of its column (see winner_sql), computed once per
 * row, is the rule's position.  A restorable rule of a feature re-enabled
 * since is not checked.
 */
static char *
verify_check_sql(SandboxRule *rule, TableRules *table, List *reenabled, char **detail)
{
	List	   *columns;
	List	   *rules;
	int			position;
	char	   *applies;

	switch (rule->action)
	{
		case ACTION_TRUNCATE:
			*detail = "the table is empty";
			return "true";
		case ACTION_DELETE:
			*detail = "no row matches the filter";
			return rule_condition(rule);
		case ACTION_MASK:
		case ACTION_SET:
			break;
	}

	if (rule->restorable && list_member(reenabled, makeString(rule->feature)))
	{
		*detail = psprintf("feature %s was re-enabled after sanitization", rule->feature);
		return "false";
	}

	columns = column_names(table->updates);
	rules = rules_for_column(table->updates, rule->column_name);
	position = 0;
	for (int i = 0; i < list_length(rules); i++)
	{
		SandboxRule *r = list_nth(rules, i);

		if (r == rule)
		{
			position = i + 1;
			break;
		}
		if (r->filter == NULL)
		{
			*detail = psprintf("every row is covered by rule %lld", (long long) r->id);
			return "false";
		}
	}
	if (((SandboxRule *) linitial(rules))->filter == NULL)
		applies = "true";
	else
	{
		int			column = 0;
		ListCell   *lc;

		foreach(lc, columns)
		{
			if (strcmp(strVal(lfirst(lc)), rule->column_name) == 0)
				column = foreach_current_index(lc) + 1;
		}
		applies = psprintf("%s.\"%d\" = %d", WINNER_ALIAS, column, position);
	}

	if (OidIsValid(rule->recogniser))
	{
		char	   *recogniser = quote_qualified_identifier(get_namespace_name(get_func_namespace(rule->recogniser)),
															get_func_name(rule->recogniser));

		*detail = psprintf("%s holds values recognised by %s", rule->column_name, recogniser);
		return psprintf("%s AND %s IS NOT NULL AND NOT %s(%s%s)",
						applies, quote_identifier(rule->column_name),
						recogniser, quote_identifier(rule->column_name),
						rule->recogniser_args ? rule->recogniser_args : "");
	}

	*detail = psprintf("%s holds the value of the rule's expression", rule->column_name);
	return psprintf("%s AND %s IS DISTINCT FROM CAST(%s AS %s)",
					applies, quote_identifier(rule->column_name),
					sandbox_rule_expression_sql(rule, false),
					format_type_be(get_atttype(table->relid,
											   get_attnum(table->relid, rule->column_name))));
}

/*
 * winners_from_sql
 *		" CROSS JOIN LATERAL (SELECT w1, w2 OFFSET 0) AS winner("1", "2")"
 *		for the columns of a table whose first rule has a filter, or "".
 *		OFFSET 0 keeps the subquery from being pulled up, so each row's
 *		winners are computed once, however many rules check them: the
 *		query grows linearly with the rules.
 */
static char *
winners_from_sql(TableRules *table)
{
	StringInfoData select;
	StringInfoData names;
	bool		any_filtered = false;
	ListCell   *lc;

	initStringInfo(&select);
	initStringInfo(&names);
	foreach(lc, column_names(table->updates))
	{
		List	   *rules = rules_for_column(table->updates, strVal(lfirst(lc)));
		bool		filtered = (((SandboxRule *) linitial(rules))->filter != NULL);

		any_filtered |= filtered;
		appendStringInfo(&select, "%s%s", select.len > 0 ? ", " : "",
						 filtered ? winner_sql(rules) : "NULL::pg_catalog.int4");
		appendStringInfo(&names, "%s\"%d\"", names.len > 0 ? ", " : "",
						 foreach_current_index(lc) + 1);
	}
	if (!any_filtered)
		return "";
	return psprintf(" CROSS JOIN LATERAL (SELECT %s OFFSET 0) AS %s(%s)",
					select.data, WINNER_ALIAS, names.data);
}

/*
 * rewritten_whole
 *		Whether this run rewrote every plain table holding rows of a table
 *		(itself, its partitions and its inheritance children).
 */
static bool
rewritten_whole(SanitizePlan *plan, TableRules *table)
{
	ListCell   *lc;

	if (table->truncated || plan->rewritten == NIL)
		return false;
	foreach(lc, find_all_inheritors(table->relid, NoLock, NULL))
	{
		Oid			relid = lfirst_oid(lc);

		if (get_rel_relkind(relid) == RELKIND_RELATION &&
			!list_member_oid(plan->rewritten, relid))
			return false;
	}
	return true;
}

/*
 * verify_statistics
 *		For each mask rule with a recogniser taking text that masks every
 *		row of its column, on a table with a rewrite step: count the values
 *		pg_stats shows for its column (most common values, histogram
 *		bounds), on the table and on its partitions and children, that the
 *		recogniser rejects.  After a run that forgot and recomputed them
 *		there are none.  One query counts for every such rule (one planning
 *		of pg_stats, not one per rule), with a result per rule.
 */
static List *
verify_statistics(SanitizePlan *plan)
{
	List	   *results = NIL;
	List	   *recognisers = NIL;	/* OIDs, in CASE order */
	List	   *rewritten_rules = NIL;
	int			n = 0;
	int			capacity = 16;
	Datum	   *keys = palloc(sizeof(Datum) * capacity);
	Datum	   *schemas = palloc(sizeof(Datum) * capacity);
	Datum	   *names = palloc(sizeof(Datum) * capacity);
	Datum	   *columns = palloc(sizeof(Datum) * capacity);
	Datum	   *functions = palloc(sizeof(Datum) * capacity);
	TableRules *target = builtin_target("statistics");
	ListCell   *lc;

	foreach(lc, plan->steps)
	{
		if (((PlanStep *) lfirst(lc))->method == METHOD_REWRITE)
			rewritten_rules = list_concat(rewritten_rules, ((PlanStep *) lfirst(lc))->rules);
	}
	if (rewritten_rules == NIL)
		return NIL;

	foreach(lc, plan->rules)
	{
		SandboxRule *rule = lfirst(lc);
		TableRules *table = find_table(plan->tables, rule->relid);
		VerifyResult *result;
		char	   *recogniser;
		int			function;
		ListCell   *lc2;

		/* only a rule that masks every row of its column */
		if (rule->action != ACTION_MASK || !OidIsValid(rule->recogniser) || rule->filter != NULL ||
			get_func_nargs(rule->recogniser) != 1 || table == NULL || table->truncated ||
			linitial(rules_for_column(table->updates, rule->column_name)) != rule ||
			get_atttype(rule->relid, get_attnum(rule->relid, rule->column_name)) != TEXTOID ||
			!list_member_ptr(rewritten_rules, rule))
			continue;

		recogniser = quote_qualified_identifier(get_namespace_name(get_func_namespace(rule->recogniser)),
												get_func_name(rule->recogniser));
		result = palloc0(sizeof(VerifyResult));
		result->table = target;
		result->detail = psprintf("pg_stats shows only values of %s.%s recognised by %s",
								  table->qualname, quote_identifier(rule->column_name), recogniser);
		results = lappend(results, result);
		recognisers = list_append_unique_oid(recognisers, rule->recogniser);
		for (function = 0; list_nth_oid(recognisers, function) != rule->recogniser; function++)
			;

		/* one key row per relation holding rows of the table */
		foreach(lc2, find_all_inheritors(rule->relid, NoLock, NULL))
		{
			Oid			relid = lfirst_oid(lc2);

			if (n == capacity)
			{
				capacity *= 2;
				keys = repalloc(keys, sizeof(Datum) * capacity);
				schemas = repalloc(schemas, sizeof(Datum) * capacity);
				names = repalloc(names, sizeof(Datum) * capacity);
				columns = repalloc(columns, sizeof(Datum) * capacity);
				functions = repalloc(functions, sizeof(Datum) * capacity);
			}
			keys[n] = Int32GetDatum(list_length(results));
			schemas[n] = DirectFunctionCall1(namein, CStringGetDatum(get_namespace_name(get_rel_namespace(relid))));
			names[n] = DirectFunctionCall1(namein, CStringGetDatum(get_rel_name(relid)));
			columns[n] = DirectFunctionCall1(namein, CStringGetDatum(rule->column_name));
			functions[n] = Int32GetDatum(function);
			n++;
		}
	}
	if (results == NIL)
		return NIL;

	{
		Oid			argtypes[5] = {INT4ARRAYOID, NAMEARRAYOID, NAMEARRAYOID, NAMEARRAYOID, INT4ARRAYOID};
		Datum		args[5];
		StringInfoData sql;
		ErrorData  *edata;

		args[0] = PointerGetDatum(construct_array(keys, n, INT4OID, 4, true, TYPALIGN_INT));
		args[1] = PointerGetDatum(construct_array(schemas, n, NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR));
		args[2] = PointerGetDatum(construct_array(names, n, NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR));
		args[3] = PointerGetDatum(construct_array(columns, n, NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR));
		args[4] = PointerGetDatum(construct_array(functions, n, INT4OID, 4, true, TYPALIGN_INT));

		initStringInfo(&sql);
		appendStringInfoString(&sql, "SELECT k.i, pg_catalog.count(*) FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3),"
							   " pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6)) AS k(i, sch, tab, att, f)"
							   " JOIN pg_catalog.pg_stats s ON s.schemaname OPERATOR(pg_catalog.=) k.sch"
							   "  AND s.tablename OPERATOR(pg_catalog.=) k.tab AND s.attname OPERATOR(pg_catalog.=) k.att,"
							   " LATERAL pg_catalog.unnest(pg_catalog.array_cat("
							   "  s.most_common_vals::pg_catalog.text::pg_catalog.text[],"
							   "  s.histogram_bounds::pg_catalog.text::pg_catalog.text[])) AS v"
							   " WHERE v IS NOT NULL AND NOT CASE k.f");
		foreach(lc, recognisers)
		{
			Oid			func = lfirst_oid(lc);

			appendStringInfo(&sql, " WHEN %d THEN %s(v)", foreach_current_index(lc),
							 quote_qualified_identifier(get_namespace_name(get_func_namespace(func)),
														get_func_name(func)));
		}
		appendStringInfoString(&sql, " END GROUP BY k.i");

		/* $1 is the run token (run_in_subtransaction) */
		edata = run_in_subtransaction(target->owner, sql.data, 5, argtypes, args, NULL);
		if (edata != NULL)
			report_rules_failure(NIL, target, edata);
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			int			key = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));

			((VerifyResult *) list_nth(results, key - 1))->violations =
				DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
		}
	}
	return results;
}

/*
 * applied_as_defined
 *		Whether the run being verified applied a rule as the environment
 *		defines it: not left out as applied before, nor narrowed to the
 *		rows its recogniser rejects (see sandbox_rules_to_apply).
 */
static bool
applied_as_defined(SanitizePlan *plan, SandboxRule *rule)
{
	ListCell   *lc;

	if (plan->run == NULL)
		return true;
	foreach(lc, plan->run->rules)
	{
		SandboxRule *applied = lfirst(lc);

		if (applied->id == rule->id)
			return (applied->filter == NULL) ? (rule->filter == NULL) :
				(rule->filter != NULL && strcmp(applied->filter, rule->filter) == 0);
	}
	return false;
}

/*
 * rewrite_counted
 *		Whether every rewrite step of a run over a table (its partitions
 *		and children) applied a rule's recogniser to the values it wrote
 *		(see rewrite_checks); if so, the values rejected, in *violations.
 */
static bool
rewrite_counted(SanitizePlan *run, TableRules *table, SandboxRule *rule, int64 *violations)
{
	List	   *relids = find_all_inheritors(table->relid, NoLock, NULL);
	int64		total = 0;
	bool		any = false;
	ListCell   *lc;

	foreach(lc, run->steps)
	{
		PlanStep   *step = lfirst(lc);
		bool		found = false;
		ListCell   *lc2;

		if (step->table == NULL || !list_member_oid(relids, step->table->relid))
			continue;
		/* a statement changing the table after it was rewritten: read it */
		if (step->method != METHOD_REWRITE)
		{
			if (any)
				return false;
			continue;
		}
		if (step->stepno == 0)
			return false;
		foreach(lc2, step->checks)
		{
			RewriteCheck *check = lfirst(lc2);

			if (check->rule_id == rule->id)
			{
				total += check->violations;
				found = true;
			}
		}
		if (!found)
			return false;
		any = true;
	}
	if (!any)
		return false;
	*violations = total;
	return true;
}

/*
 * verify_plan
 *		Count, per rule, the rows violating it now: one scan per table,
 *		which also counts the table's rows (TableRules.rows_now).  For the
 *		relations a run rewrote, also count the dead row versions left in
 *		them (none, unless something changed them since).
 */
static List *
verify_plan(SanitizePlan *plan)
{
	List	   *results = NIL;
	List	   *visible_relids = NIL;	/* rewritten relations scanned, */
	List	   *visible_rows = NIL; /* and the rows the scan saw (int64 *) */
	ListCell   *lc;

	foreach(lc, plan->tables)
	{
		TableRules *table = lfirst(lc);
		List	   *table_results = NIL;
		List	   *scanned = NIL;	/* the results the scan counts */
		List	   *counted = NIL;	/* rewritten relations it counts */
		bool		proved = plan->in_run && rewritten_whole(plan, table);
		StringInfoData sql;
		bool		isnull;
		ListCell   *lc2;

		initStringInfo(&sql);
		appendStringInfoString(&sql, "SELECT pg_catalog.count(*)");
		foreach(lc2, plan->rules)
		{
			SandboxRule *rule = lfirst(lc2);
			VerifyResult *result;
			char	   *check;

			if (rule->relid != table->relid)
				continue;
			result = palloc0(sizeof(VerifyResult));
			result->rule = rule;
			result->table = table;
			check = verify_check_sql(rule, table, plan->reenabled, &result->detail);
			table_results = lappend(table_results, result);

			/*
			 * In a run, the rewrite that just wrote the table proves a set
			 * rule, a mask rule checked by its expression and a delete rule:
			 * it wrote exactly those values, and no row the filter matches.
			 * Only recognisers still need to read the data.
			 */
			if (proved && applied_as_defined(plan, rule) &&
				!(rule->action == ACTION_MASK && OidIsValid(rule->recogniser)))
			{
				result->detail = psprintf("%s (written so by the rewrite)", result->detail);
				continue;
			}

			/*
			 * A mask rule writing every row of its column, whose recogniser
			 * the rewrite applied to each value it wrote: its count.
			 */
			if (proved && applied_as_defined(plan, rule) && rule->action == ACTION_MASK &&
				rule->filter == NULL &&
				linitial(rules_for_column(table->updates, rule->column_name)) == rule &&
				rewrite_counted(plan->run ? plan->run : plan, table, rule, &result->violations))
			{
				result->detail = psprintf("%s (checked by the rewrite)", result->detail);
				continue;
			}
			appendStringInfo(&sql, ", pg_catalog.count(*) FILTER (WHERE %s)", check);
			scanned = lappend(scanned, result);
		}
		if (scanned == NIL && proved)
		{
			results = list_concat(results, table_results);
			continue;
		}

		/*
		 * The rows the scan sees in each relation of the table that the
		 * last run rewrote, for the residue check below.
		 */
		counted = NIL;
		if (!plan->in_run)
		{
			foreach(lc2, find_all_inheritors(table->relid, NoLock, NULL))
			{
				if (!list_member_oid(plan->rewritten, lfirst_oid(lc2)))
					continue;
				appendStringInfo(&sql, ", pg_catalog.count(*) FILTER (WHERE %s.tableoid OPERATOR(pg_catalog.=) %u)",
								 table->qualname, lfirst_oid(lc2));
				counted = lappend_oid(counted, lfirst_oid(lc2));
			}
		}
		appendStringInfo(&sql, " FROM %s%s", table->qualname,
						 strstr(sql.data, WINNER_ALIAS) ? winners_from_sql(table) : "");

		run_guarded(table, table->rules_all, sql.data);
		table->rows_now = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
													  SPI_tuptable->tupdesc, 1, &isnull));
		foreach(lc2, scanned)
		{
			VerifyResult *result = lfirst(lc2);

			result->violations =
				DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
											foreach_current_index(lc2) + 2, &isnull));
		}
		foreach(lc2, counted)
		{
			int64	   *rows = palloc(sizeof(int64));

			*rows = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
												list_length(scanned) + foreach_current_index(lc2) + 2,
												&isnull));
			visible_relids = lappend_oid(visible_relids, lfirst_oid(lc2));
			visible_rows = lappend(visible_rows, rows);
		}
		results = list_concat(results, table_results);
	}

	foreach(lc, plan->rewritten)
	{
		Oid			relid = lfirst_oid(lc);
		VerifyResult *result = palloc0(sizeof(VerifyResult));

		result->table = builtin_target("rewritten tables");
		result->detail = psprintf("no dead row version in %s",
								  quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
															 get_rel_name(relid)));
		/* in the run that wrote it, the new heap holds nothing else */
		if (plan->in_run)
			result->detail = psprintf("%s (a new heap)", result->detail);
		else
		{
			int64		visible = -1;	/* unknown */
			ListCell   *lc2;

			foreach(lc2, visible_relids)
			{
				if (lfirst_oid(lc2) == relid)
					visible = *(int64 *) list_nth(visible_rows, foreach_current_index(lc2));
			}
			result->violations = sandbox_dead_row_versions(relid, visible);
		}
		results = lappend(results, result);
	}

	results = list_concat(results, verify_statistics(plan));

	if (plan->disable_outbound)
	{
		foreach(lc, sandbox_outbound_checks())
		{
			OutboundStep *check = lfirst(lc);
			VerifyResult *result = palloc0(sizeof(VerifyResult));

			result->table = builtin_target("outbound channels");
			result->detail = check->object;
			result->violations = count_guarded(result->table, NIL, check->sql);
			results = lappend(results, result);
		}
	}
	return results;
}

/*
 * verify_run
 *		Verify a run: every rule of the environment, the ones it left out
 *		or narrowed because this copy had them applied before too (as
 *		sandbox_verify does), so that a run never succeeds with a row that
 *		a rule's recogniser rejects.  The run's own rewrites prove only the
 *		rules it applied as defined.
 */
static List *
verify_run(SanitizePlan *plan, const char *environment)
{
	SanitizePlan *all;
	ListCell   *lc;

	/* a narrowed rule is a copy, not one of all_rules */
	foreach(lc, plan->rules)
	{
		if (!list_member_ptr(plan->all_rules, lfirst(lc)))
			break;
	}
	if (lc == NULL && list_length(plan->rules) == list_length(plan->all_rules))
		return verify_plan(plan);

	all = build_plan(environment, false);
	all->in_run = true;
	all->run = plan;
	all->reenabled = plan->reenabled;
	all->rewritten = plan->rewritten;
	return verify_plan(all);
}

/*
 * reenabled_features
 *		Features re-enabled with sandbox_enable_feature() since this
 *		database's last successful run, as String nodes.
 */
static List *
reenabled_features(void)
{
	List	   *features = NIL;

	if (SPI_execute("SELECT DISTINCT e.feature FROM sandbox.feature_event e"
					" WHERE e.run_id OPERATOR(pg_catalog.=) (sandbox.last_run()).id",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read sandbox.feature_event");
	for (uint64 i = 0; i < SPI_processed; i++)
		features = lappend(features,
						   makeString(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1)));
	return features;
}

/*
 * rewritten_by_last_run
 *		OIDs of the relations this database's last successful run
 *		rewrote, from the ledger.
 */
static List *
rewritten_by_last_run(void)
{
	List	   *relids = NIL;

	if (SPI_execute("SELECT DISTINCT c.oid FROM sandbox.run_step s"
					" JOIN pg_catalog.pg_namespace n ON n.nspname = s.table_schema"
					" JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = s.table_name"
					" WHERE s.run_id = (sandbox.last_run()).id AND s.method = 'rewrite'"
					" ORDER BY 1", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read sandbox.run_step");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		relids = lappend_oid(relids, DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
																	SPI_tuptable->tupdesc, 1, &isnull)));
	}
	return relids;
}

/*
 * engine_settings
 *		Settings for the engine's own statements, until the returned GUC
 *		nest level is left: no JIT (compiling the query of a table with
 *		hundreds of rules took minutes, deaf to cancellation).
 */
static int
engine_settings(void)
{
	int			nestlevel = NewGUCNestLevel();

	(void) set_config_option("jit", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

/* ---- The run ledger ---- */

/*
 * sandbox_ledger_insert_run
 *		See penelope_sandbox.h: insert the sandbox.run row of a new run of
 *		this database (OID and system identifier) with a status, and
 *		return its id.  The one place that creates runs: the synchronous
 *		call, the queued asynchronous call and the launcher's automatic
 *		run all go through it.  SPI must be connected.
 */
int64
sandbox_ledger_insert_run(const char *environment, const char *status)
{
	Oid			argtypes[4] = {TEXTOID, OIDOID, INT8OID, TEXTOID};
	Datum		args[4];
	bool		isnull;

	args[0] = CStringGetTextDatum(environment);
	args[1] = ObjectIdGetDatum(MyDatabaseId);
	args[2] = Int64GetDatum((int64) GetSystemIdentifier());
	args[3] = CStringGetTextDatum(status);
	if (SPI_execute_with_args("INSERT INTO sandbox.run (environment, database_oid, system_identifier, status)"
							  " VALUES ($1, $2, $3, $4) RETURNING id",
							  4, argtypes, args, NULL, false, 1) != SPI_OK_INSERT_RETURNING ||
		SPI_processed != 1)
		elog(ERROR, "could not insert into sandbox.run");
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * ledger_start
 *		Insert the sandbox.run row of a new run, or mark an existing one
 *		(created by the background worker) as running.
 */
static int64
ledger_start(const char *environment, int64 run_id)
{
	Oid			argtypes[2] = {TEXTOID, INT8OID};
	Datum		args[2];

	if (run_id <= 0)
		return sandbox_ledger_insert_run(environment, "running");

	args[0] = CStringGetTextDatum(environment);
	args[1] = Int64GetDatum(run_id);
	if (SPI_execute_with_args("UPDATE sandbox.run SET status = 'running'"
							  " WHERE id OPERATOR(pg_catalog.=) $2 AND environment OPERATOR(pg_catalog.=) $1 RETURNING id",
							  2, argtypes, args, NULL, false, 1) != SPI_OK_UPDATE_RETURNING ||
		SPI_processed != 1)
		elog(ERROR, "run %lld of environment \"%s\" is not in sandbox.run",
			 (long long) run_id, environment);
	return run_id;
}

/*
 * ledger_steps
 *		Record the executed statements of a run, all in one INSERT (one
 *		row per step; "tables" lists every table of the statement, since a
 *		TRUNCATE empties several).  The rows go in with the run's other
 *		changes, in its transaction, so recording them at the end of the
 *		steps rather than after each changes nothing anybody can see.
 */
static void
ledger_steps(int64 run_id, List *steps)
{
	int			n = list_length(steps);
	Oid			argtypes[9] = {INT8OID, INT4ARRAYOID, NAMEARRAYOID, NAMEARRAYOID, TEXTARRAYOID,
	TEXTARRAYOID, TEXTARRAYOID, INT8ARRAYOID, FLOAT8ARRAYOID};
	Datum		args[9];
	Datum	   *stepnos,
			   *schemas,
			   *names,
			   *methods,
			   *rule_ids,
			   *statements,
			   *rows,
			   *seconds;
	ListCell   *lc;

	if (n == 0)
		return;
	stepnos = palloc(sizeof(Datum) * n);
	schemas = palloc(sizeof(Datum) * n);
	names = palloc(sizeof(Datum) * n);
	methods = palloc(sizeof(Datum) * n);
	rule_ids = palloc(sizeof(Datum) * n);
	statements = palloc(sizeof(Datum) * n);
	rows = palloc(sizeof(Datum) * n);
	seconds = palloc(sizeof(Datum) * n);
	foreach(lc, steps)
	{
		PlanStep   *step = lfirst(lc);
		int			i = foreach_current_index(lc);
		StringInfoData ids;
		ListCell   *lc2;

		initStringInfo(&ids);
		appendStringInfoChar(&ids, '{');
		foreach(lc2, step->rules)
			appendStringInfo(&ids, "%s%lld", foreach_current_index(lc2) > 0 ? "," : "",
							 (long long) ((SandboxRule *) lfirst(lc2))->id);
		appendStringInfoChar(&ids, '}');

		stepnos[i] = Int32GetDatum(step->stepno);
		schemas[i] = DirectFunctionCall1(namein, CStringGetDatum(step->table->schema));
		names[i] = DirectFunctionCall1(namein, CStringGetDatum(step->table->name));
		methods[i] = CStringGetTextDatum(method_names[step->method]);
		rule_ids[i] = CStringGetTextDatum(ids.data);
		statements[i] = CStringGetTextDatum(step->sql);
		rows[i] = Int64GetDatum(step->rows);
		seconds[i] = Float8GetDatum(step->seconds);
	}
	args[0] = Int64GetDatum(run_id);
	args[1] = PointerGetDatum(construct_array(stepnos, n, INT4OID, 4, true, TYPALIGN_INT));
	args[2] = PointerGetDatum(construct_array(schemas, n, NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR));
	args[3] = PointerGetDatum(construct_array(names, n, NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR));
	args[4] = PointerGetDatum(construct_array(methods, n, TEXTOID, -1, false, TYPALIGN_INT));
	args[5] = PointerGetDatum(construct_array(rule_ids, n, TEXTOID, -1, false, TYPALIGN_INT));
	args[6] = PointerGetDatum(construct_array(statements, n, TEXTOID, -1, false, TYPALIGN_INT));
	args[7] = PointerGetDatum(construct_array(rows, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[8] = PointerGetDatum(construct_array(seconds, n, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));

	if (SPI_execute_with_args("INSERT INTO sandbox.run_step (run_id, step, table_schema, table_name,"
							  " tables, method, rule_ids, statement, rows, duration)"
							  " SELECT $1, s.step, s.sch, s.tab,"
							  " COALESCE((SELECT pg_catalog.array_agg(DISTINCT pg_catalog.format('%I.%I',"
							  "  r.table_schema, r.table_name)) FROM sandbox.rule r"
							  "  WHERE r.id OPERATOR(pg_catalog.=) ANY (s.ids::pg_catalog.int8[])),"
							  "  ARRAY[pg_catalog.format('%I.%I', s.sch, s.tab)]),"
							  " s.method, s.ids::pg_catalog.int8[], s.statement, s.nrows,"
							  " pg_catalog.make_interval(secs => s.secs)"
							  " FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3), pg_catalog.unnest($4),"
							  "  pg_catalog.unnest($5), pg_catalog.unnest($6), pg_catalog.unnest($7),"
							  "  pg_catalog.unnest($8), pg_catalog.unnest($9))"
							  "  AS s(step, sch, tab, method, ids, statement, nrows, secs)",
							  9, argtypes, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not insert into sandbox.run_step");
}

/*
 * ledger_finish
 *		Mark a run succeeded, with its summary.
 */
static void
ledger_finish(int64 run_id, const char *summary)
{
	Oid			argtypes[2] = {INT8OID, TEXTOID};
	Datum		args[2] = {Int64GetDatum(run_id), CStringGetTextDatum(summary)};

	if (SPI_execute_with_args("UPDATE sandbox.run SET status = 'succeeded',"
							  " finished_at = pg_catalog.clock_timestamp(), summary = $2"
							  " WHERE id OPERATOR(pg_catalog.=) $1",
							  2, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update sandbox.run");
}

/* ---- Sanitize ---- */

/*
 * lock_out_concurrent_runs
 *		Take the sanitization lock of this database, or fail at once.
 */
static void
lock_out_concurrent_runs(void)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, SANITIZE_LOCK_KEY1, SANITIZE_LOCK_KEY2, 2);
	if (LockAcquire(&tag, ExclusiveLock, false, true) == LOCKACQUIRE_NOT_AVAIL)
		ereport(ERROR,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg("a sanitization of database \"%s\" is already running",
						get_database_name(MyDatabaseId)),
				 errhint("Wait for it to finish; sandbox.run shows its progress.")));
}

/*
 * lock_tables
 *		Lock every relation the plan changes ACCESS EXCLUSIVE, in OID
 *		order so that the run does not deadlock halfway, for the whole
 *		run: no row can come in behind the run, and nobody sees the
 *		switches it turns off for its length.  The tables a DELETE may
 *		cascade into are locked too.
 */
static void
lock_tables(SanitizePlan *plan)
{
	List	   *relids = NIL;
	ListCell   *lc;

	foreach(lc, plan->steps)
	{
		PlanStep   *step = lfirst(lc);

		if (step->method == METHOD_BUILTIN)
			continue;
		relids = list_append_unique_oid(relids, step->table->relid);
		if (step->method == METHOD_DELETE)
			relids = list_concat_unique_oid(relids, referencing_tables(step->table->relid));
	}
	foreach(lc, plan->tables)
	{
		TableRules *table = lfirst(lc);

		if (table->truncated || table->updates != NIL || table->deletes != NIL)
			relids = list_append_unique_oid(relids, table->relid);
	}
	list_sort(relids, list_oid_cmp);

	foreach(lc, relids)
	{
		Oid			relid = lfirst_oid(lc);
		const char *purpose = "the run";
		ListCell   *lc2;

		foreach(lc2, plan->steps)
		{
			PlanStep   *step = lfirst(lc2);

			if (step->method != METHOD_BUILTIN && step->table->relid == relid && step->rules != NIL)
			{
				purpose = psprintf("rules %s", rule_id_list(step->rules));
				break;
			}
		}
		sandbox_lock_relation(relid, AccessExclusiveLock, purpose);
	}
	plan->locked = relids;
}

/*
 * suspend_row_security_and_triggers
 *		For the length of the run, on every relation it locked: FORCE ROW
 *		LEVEL SECURITY is turned off (the owner, as whom the statements
 *		run, must see every row), and so is every user trigger (an audit
 *		trigger must not copy the originals, and a derived column has its
 *		own rule).  resume_row_security_and_triggers() puts both back.
 */
static void
suspend_row_security_and_triggers(SanitizePlan *plan)
{
	ListCell   *lc;

	foreach(lc, plan->locked)
	{
		Oid			relid = lfirst_oid(lc);

		if (sandbox_suspend_forced_row_security(relid))
			plan->forced_rls = lappend_oid(plan->forced_rls, relid);
		plan->triggers = list_concat(plan->triggers, sandbox_user_triggers(relid));
	}
	sandbox_set_user_triggers(plan->triggers, false);
}

static void
resume_row_security_and_triggers(SanitizePlan *plan)
{
	ListCell   *lc;

	sandbox_set_user_triggers(plan->triggers, true);
	foreach(lc, plan->forced_rls)
		sandbox_restore_forced_row_security(lfirst_oid(lc));
}

/*
 * deferred_foreign_keys
 *		"s.c1, s.c2": the foreign keys, deferred in this transaction by
 *		default, that reference a table a DELETE step changes.  Their
 *		checks cannot be deferred past the security-restricted operation
 *		the DELETE runs in, so the run makes them IMMEDIATE for its length;
 *		NULL if there are none.
 */
static char *
deferred_foreign_keys(SanitizePlan *plan)
{
	StringInfoData names;
	ListCell   *lc;

	initStringInfo(&names);
	foreach(lc, plan->steps)
	{
		PlanStep   *step = lfirst(lc);

		if (step->method != METHOD_DELETE)
			continue;
		if (SPI_execute(psprintf("SELECT pg_catalog.quote_ident(n.nspname) OPERATOR(pg_catalog.||) '.'"
								 " OPERATOR(pg_catalog.||) pg_catalog.quote_ident(c.conname)"
								 " FROM pg_catalog.pg_constraint c JOIN pg_catalog.pg_namespace n ON n.oid = c.connamespace"
								 " WHERE c.contype = 'f' AND c.condeferrable AND c.condeferred AND c.confrelid = %u",
								 step->table->relid), true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read pg_constraint");
		for (uint64 i = 0; i < SPI_processed; i++)
			appendStringInfo(&names, "%s%s", names.len > 0 ? ", " : "",
							 SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	}
	return names.len > 0 ? names.data : NULL;
}

/*
 * refresh_materialized_views
 *		Refresh the populated materialized views over the relations the
 *		run rewrote or emptied: they would keep every original otherwise.
 *		One catalog query for all the relations.  Returns their OIDs.
 */
static List *
refresh_materialized_views(List *relids)
{
	List	   *views = NIL;
	Oid			argtypes[1] = {OIDARRAYOID};
	Datum		args[1];
	Datum	   *oids;
	ListCell   *lc;

	if (relids == NIL)
		return NIL;
	oids = palloc(sizeof(Datum) * list_length(relids));
	foreach(lc, relids)
		oids[foreach_current_index(lc)] = ObjectIdGetDatum(lfirst_oid(lc));
	args[0] = PointerGetDatum(construct_array(oids, list_length(relids), OIDOID,
											  sizeof(Oid), true, TYPALIGN_INT));
	if (SPI_execute_with_args("SELECT DISTINCT r.ev_class FROM pg_catalog.pg_depend d"
							  " JOIN pg_catalog.pg_rewrite r ON r.oid OPERATOR(pg_catalog.=) d.objid"
							  " JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) r.ev_class"
							  " WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_rewrite'::pg_catalog.regclass"
							  " AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
							  " AND d.refobjid OPERATOR(pg_catalog.=) ANY ($1)"
							  " AND c.relkind OPERATOR(pg_catalog.=) 'm' AND c.relispopulated"
							  " ORDER BY 1",
							  1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_depend");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		views = lappend_oid(views, DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
																  SPI_tuptable->tupdesc, 1, &isnull)));
	}
	foreach(lc, views)
	{
		Oid			view = lfirst_oid(lc);

		if (SPI_execute(psprintf("REFRESH MATERIALIZED VIEW %s",
								 quote_qualified_identifier(get_namespace_name(get_rel_namespace(view)),
															get_rel_name(view))),
						false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "could not refresh materialized view %u", view);
	}
	return views;
}

/*
 * sandbox_ancestors
 *		See penelope_sandbox.h: the parents of a relation, theirs, and so
 *		on (inheritance and partitioning), read from pg_inherits without
 *		SPI.
 */
List *
sandbox_ancestors(Oid relid)
{
	List	   *result = NIL;
	List	   *pending;
	Relation	inhrel;

	if (!has_superclass(relid))
		return NIL;
	pending = list_make1_oid(relid);
	inhrel = table_open(InheritsRelationId, AccessShareLock);
	while (pending != NIL)
	{
		Oid			child = linitial_oid(pending);
		ScanKeyData key;
		SysScanDesc scan;
		HeapTuple	tuple;

		pending = list_delete_first(pending);
		ScanKeyInit(&key, Anum_pg_inherits_inhrelid, BTEqualStrategyNumber,
					F_OIDEQ, ObjectIdGetDatum(child));
		scan = systable_beginscan(inhrel, InheritsRelidSeqnoIndexId, true, NULL, 1, &key);
		while (HeapTupleIsValid(tuple = systable_getnext(scan)))
		{
			Oid			parent = ((Form_pg_inherits) GETSTRUCT(tuple))->inhparent;

			if (!list_member_oid(result, parent))
			{
				result = lappend_oid(result, parent);
				pending = lappend_oid(pending, parent);
			}
		}
		systable_endscan(scan);
	}
	table_close(inhrel, AccessShareLock);
	return result;
}

/*
 * statistics_follow_columns
 *		Whether ANALYZE of some columns of a relation recomputes every
 *		statistic that forgetting those columns removed: not when the
 *		relation has extended statistics or an index on an expression,
 *		whose statistics sandbox_forget_statistics() removes whole and
 *		ANALYZE with a column list does not (or not all) compute again.
 */
static bool
statistics_follow_columns(Relation rel)
{
	ListCell   *lc;

	if (RelationGetStatExtList(rel) != NIL)
		return false;
	foreach(lc, RelationGetIndexList(rel))
	{
		HeapTuple	tuple = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));
		bool		has_expressions;

		if (!HeapTupleIsValid(tuple))
			elog(ERROR, "cache lookup failed for index %u", lfirst_oid(lc));
		has_expressions = !heap_attisnull(tuple, Anum_pg_index_indexprs, NULL);
		ReleaseSysCache(tuple);
		if (has_expressions)
			return false;
	}
	return true;
}

/*
 * add_to_analyze
 *		Note that a relation is to be analyzed: the columns named (String
 *		nodes), or every column if columns is NIL.  A relation noted twice
 *		gets the union, or every column if either asked for all.
 */
static void
add_to_analyze(List **relids, List **columns, Oid relid, List *relation_columns)
{
	ListCell   *lc;

	foreach(lc, *relids)
	{
		if (lfirst_oid(lc) == relid)
		{
			ListCell   *cell = list_nth_cell(*columns, foreach_current_index(lc));
			List	   *known = lfirst(cell);

			lfirst(cell) = (known == NIL || relation_columns == NIL) ? NIL :
				list_union(known, relation_columns);
			return;
		}
	}
	*relids = lappend_oid(*relids, relid);
	*columns = lappend(*columns, relation_columns);
}

/*
 * renew_statistics
 *		Forget the statistics that may show a value the run changed or
 *		removed, then ANALYZE what it rewrote, so that pg_stats never shows
 *		an original: every column of a table that lost rows (truncated,
 *		deleted from, refreshed), the changed columns of the others, the
 *		statistics of their indexes, and the inherited statistics of their
 *		parents.  The statistics are deleted directly in the catalogs and
 *		one ANALYZE statement lists every relation, all in the run's
 *		transaction.  A relation that lost no row is analyzed for its
 *		changed columns only when that recomputes all it forgot
 *		(statistics_follow_columns): the other columns hold the same values
 *		in the same order, and their statistics stay true.
 */
static void
renew_statistics(SanitizePlan *plan, List *views)
{
	List	   *analyze = NIL;
	List	   *analyze_columns = NIL;	/* per relation: String nodes, or NIL */
	StringInfoData sql;
	ListCell   *lc;
	ListCell   *lc4;

	foreach(lc, plan->steps)
	{
		PlanStep   *step = lfirst(lc);
		TableRules *table = step->table;
		bool		lost_rows;
		List	   *relids;
		ListCell   *lc2;

		if (step->method == METHOD_BUILTIN || step->method == METHOD_UNLINK)
			continue;
		if (step->method == METHOD_TRUNCATE)
		{
			foreach(lc2, plan->tables)
			{
				if (((TableRules *) lfirst(lc2))->truncated)
					sandbox_forget_statistics(((TableRules *) lfirst(lc2))->relid, NIL);
			}
			continue;
		}
		lost_rows = table->deletes != NIL || step->method == METHOD_DELETE || table->updates == NIL;

		/* the relation and its ancestors, whose inherited statistics count it */
		relids = lcons_oid(table->relid, sandbox_ancestors(table->relid));
		foreach(lc2, relids)
		{
			Oid			relid = lfirst_oid(lc2);
			List	   *columns = NIL;
			List	   *attnums = NIL;
			Relation	rel;
			ListCell   *lc3;

			if (!lost_rows)
			{
				columns = column_names(table->updates);
				foreach(lc3, columns)
					attnums = lappend_int(attnums, get_attnum(relid, strVal(lfirst(lc3))));
			}
			sandbox_forget_statistics(relid, attnums);
			rel = relation_open(relid, NoLock);
			foreach(lc3, RelationGetIndexList(rel))
				sandbox_forget_statistics(lfirst_oid(lc3), NIL);
			if (!statistics_follow_columns(rel))
				columns = NIL;
			relation_close(rel, NoLock);
			add_to_analyze(&analyze, &analyze_columns, relid, columns);
		}
	}
	foreach(lc, views)
	{
		sandbox_forget_statistics(lfirst_oid(lc), NIL);
		add_to_analyze(&analyze, &analyze_columns, lfirst_oid(lc), NIL);
	}
	if (analyze == NIL)
		return;

	initStringInfo(&sql);
	appendStringInfoString(&sql, "ANALYZE ");
	forboth(lc, analyze, lc4, analyze_columns)
	{
		Oid			relid = lfirst_oid(lc);
		List	   *columns = lfirst(lc4);
		ListCell   *lc2;

		appendStringInfo(&sql, "%s%s", foreach_current_index(lc) > 0 ? ", " : "",
						 quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
													get_rel_name(relid)));
		foreach(lc2, columns)
			appendStringInfo(&sql, "%s%s", foreach_current_index(lc2) == 0 ? " (" : ", ",
							 quote_identifier(strVal(lfirst(lc2))));
		if (columns != NIL)
			appendStringInfoChar(&sql, ')');
	}
	if (SPI_execute(sql.data, false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not analyze the rewritten relations");
}

/*
 * report_progress
 *		Show where a run is in this session's pg_stat_activity entry, in the
 *		fixed form that view sandbox.progress takes apart (src/sql/40_worker.sql):
 *		the step, its table with the table's size in blocks and its estimated
 *		rows (-1 if unknown) when the step starts, and the rows the steps
 *		before it changed.
 *		A NULL step means the steps are done and the run verifies.  A step
 *		is one statement: progress moves from step to step.
 */
static void
report_progress(int64 run_id, int stepno, int nsteps, PlanStep *step, int64 rows_done)
{
	Oid			relid = InvalidOid;
	BlockNumber blocks = 0;
	double		tuples = -1;		/* unknown */

	if (!sandbox_report_progress)
		return;
	if (step == NULL)
	{
		pgstat_report_activity(STATE_RUNNING,
							   psprintf("penelope_sandbox run %lld: verifying after %d steps (%lld rows done)",
										(long long) run_id, nsteps, (long long) rows_done));
		return;
	}
	if (OidIsValid(step->table->relid))
	{
		Relation	rel = relation_open(step->table->relid, AccessShareLock);

		relid = RelationGetRelid(rel);
		if (RELKIND_HAS_STORAGE(rel->rd_rel->relkind))
			blocks = RelationGetNumberOfBlocks(rel);
		tuples = rel->rd_rel->reltuples;	/* -1: never vacuumed or analyzed */
		relation_close(rel, NoLock);
	}
	pgstat_report_activity(STATE_RUNNING,
						   psprintf("penelope_sandbox run %lld: step %d of %d: %s %s (relid %u, %u blocks, %.0f rows estimated, %lld rows done)",
									(long long) run_id, stepno, nsteps,
									method_names[step->method], step->table->qualname,
									relid, blocks, tuples, (long long) rows_done));
}

/*
 * empty_btree
 *		Whether an index is a B-tree holding its metapage alone.
 */
static bool
empty_btree(Oid relid)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	bool		result = rel->rd_rel->relam == BTREE_AM_OID &&
		RelationGetNumberOfBlocks(rel) <= 1;

	relation_close(rel, NoLock);
	return result;
}

/*
 * never_held_rows
 *		Whether a table (locked by the run) provably holds no row and no
 *		trace of one: no block in its heap nor in its TOAST table, and
 *		only B-tree indexes that never had a root page (their metapage
 *		alone; a B-tree never shrinks).  Rewriting it would only create
 *		and swap empty files, about as much work as a table of a few rows:
 *		the run skips it.  Its statistics are still forgotten and computed
 *		again (renew_statistics goes by the steps), and verification scans
 *		it instead of trusting a rewrite.
 */
static bool
never_held_rows(Oid relid)
{
	Relation	rel = relation_open(relid, NoLock);
	bool		result = RelationGetNumberOfBlocks(rel) == 0;
	List	   *indexes = NIL;
	ListCell   *lc;

	if (result)
	{
		indexes = RelationGetIndexList(rel);
		if (OidIsValid(rel->rd_rel->reltoastrelid))
		{
			Relation	toast = relation_open(rel->rd_rel->reltoastrelid, AccessShareLock);

			result = RelationGetNumberOfBlocks(toast) == 0;
			indexes = list_concat(indexes, RelationGetIndexList(toast));
			relation_close(toast, NoLock);
		}
	}
	relation_close(rel, NoLock);
	foreach(lc, indexes)
	{
		if (!result)
			break;
		result = empty_btree(lfirst_oid(lc));
	}
	return result;
}

/*
 * pin_search_path
 *		Every statement the engine runs with the caller's rights resolves
 *		names under the rule search_path, whoever called: the SQL entry
 *		points have it from their SET clause, the background worker gets
 *		it here.  It holds until the enclosing function (or, in the
 *		worker, the transaction) ends.
 */
static void
pin_search_path(void)
{
	(void) set_config_option("search_path", SANDBOX_RULE_SEARCH_PATH,
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

/*
 * check_isolation
 *		Refuse a run whose statements would all see the snapshot taken when
 *		its transaction began (REPEATABLE READ, SERIALIZABLE): the rows
 *		another session committed while the run waited for its locks would
 *		be neither seen nor sanitized, and a rewrite would drop them.
 */
static void
check_isolation(void)
{
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("a sanitization cannot run in a %s transaction",
						IsolationIsSerializable() ? "SERIALIZABLE" : "REPEATABLE READ"),
				 errdetail("Its snapshot was taken before the run locked its tables: rows committed in between would be neither seen nor sanitized."),
				 errhint("Run it in a READ COMMITTED transaction.")));
}

/*
 * sandbox_sanitize_environment
 *		Apply, record and verify every rule of an environment.  See
 *		penelope_sandbox.h.
 */
char *
sandbox_sanitize_environment(const char *environment, int64 run_id)
{
	MemoryContext callercxt = CurrentMemoryContext;
	SanitizePlan *plan;
	List	   *results;
	List	   *in_place = NIL;
	instr_time	run_start;
	instr_time	duration;
	int64		total_rows = 0;
	int			failed_checks = 0;
	int			stepno = 0;
	StringInfoData failures;
	char	   *summary;
	char	   *deferred;
	List	   *saved = NIL;
	int64		unlinked = 0;
	int			nestlevel;
	ListCell   *lc;

	sandbox_check_not_production(environment);
	check_isolation();
	pin_search_path();
	silenced_messages = 0;
	lock_out_concurrent_runs();
	INSTR_TIME_SET_CURRENT(run_start);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	nestlevel = engine_settings();

	plan = build_plan(environment, true);
	run_id = ledger_start(environment, run_id);
	lock_tables(plan);
	suspend_row_security_and_triggers(plan);
	deferred = deferred_foreign_keys(plan);
	if (deferred != NULL)
		(void) SPI_execute(psprintf("SET CONSTRAINTS %s IMMEDIATE", deferred), false, 0);
	sandbox_masking_prepare_key();
	sandbox_leakscan_collect(run_id, environment, plan->rules, plan->all_rules);

	foreach(lc, plan->steps)
	{
		PlanStep   *step = lfirst(lc);
		instr_time	step_start;
		instr_time	step_time;
		int64		rows;

		report_progress(run_id, ++stepno, list_length(plan->steps), step, total_rows);
		CHECK_FOR_INTERRUPTS();
		INSTR_TIME_SET_CURRENT(step_start);

		if ((step->method == METHOD_UPDATE || step->method == METHOD_REWRITE) &&
			!list_member_ptr(saved, step->rules))
		{
			/* once per table, partitions and children included */
			sandbox_save_restorable(run_id, step->table->relid, step->rules);
			saved = lappend(saved, step->rules);
		}

		/* Statements that do not report their rows are counted first */
		rows = (step->method == METHOD_TRUNCATE || step->method == METHOD_BUILTIN) ?
			count_guarded(step->table, step->rules, step->count_sql) : 0;
		if (step->method == METHOD_REWRITE && never_held_rows(step->table->relid))
			rows = 0;			/* nothing to rewrite; verify scans it */
		else if (step->method == METHOD_REWRITE)
		{
			rows = rewrite_guarded(step);
			plan->rewritten = lappend_oid(plan->rewritten, step->table->relid);
		}
		else
			run_guarded(step->table, step->rules, step->sql);
		if (step->sql_returns_count)
		{
			bool		isnull;

			rows = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
			/* a DELETE that unlinks large objects counts them second */
			if (step->method == METHOD_DELETE && SPI_tuptable->tupdesc->natts > 1)
				unlinked += DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
		}
		else if (step->method == METHOD_DELETE || step->method == METHOD_UPDATE)
			rows = (int64) SPI_processed;

		INSTR_TIME_SET_CURRENT(step_time);
		INSTR_TIME_SUBTRACT(step_time, step_start);
		step->stepno = stepno;
		step->seconds = INSTR_TIME_GET_DOUBLE(step_time);
		step->rows = rows;
		total_rows += rows;
		if (step->method == METHOD_UNLINK)
			unlinked += rows;
		if (step->method == METHOD_UPDATE || (step->method == METHOD_DELETE &&
											  sandbox_update_strategy == STRATEGY_UPDATE))
			in_place = list_append_unique_ptr(in_place, step->table->qualname);
	}

	ledger_steps(run_id, plan->steps);
	check_foreign_keys(plan);

	/* Nothing the run changed may stay visible elsewhere */
	renew_statistics(plan, refresh_materialized_views(plan->locked));

	/* The run holds only if every rule's effect can be seen in the data */
	report_progress(run_id, stepno, list_length(plan->steps), NULL, total_rows);
	plan->in_run = true;
	results = verify_run(plan, environment);
	resume_row_security_and_triggers(plan);
	if (deferred != NULL)
		(void) SPI_execute(psprintf("SET CONSTRAINTS %s DEFERRED", deferred), false, 0);
	initStringInfo(&failures);
	foreach(lc, results)
	{
		VerifyResult *result = lfirst(lc);

		if (result->violations == 0)
			continue;
		failed_checks++;
		if (result->rule == NULL)
			appendStringInfo(&failures, "%sBuilt-in check: %lld objects do not hold (%s).",
							 failures.len > 0 ? " " : "",
							 (long long) result->violations, result->detail);
		else
			appendStringInfo(&failures, "%sRule %lld on table %s: %lld rows do not hold (%s).",
							 failures.len > 0 ? " " : "",
							 (long long) result->rule->id, result->table->qualname,
							 (long long) result->violations, result->detail);
	}
	if (failed_checks > 0)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("verification failed after sanitizing as \"%s\": %d of %d checks", environment,
						failed_checks, list_length(results)),
				 errdetail_internal("%s", failures.data),
				 errhint("Nothing was changed: the whole sanitization is rolled back. A trigger or a rule that undoes another can cause this.")));
	sandbox_leakscan_check(run_id);

	INSTR_TIME_SET_CURRENT(duration);
	INSTR_TIME_SUBTRACT(duration, run_start);
	summary = psprintf("run %lld: \"%s\" applied in %.3f s: %d rules, %d statements, %lld rows; %d checks ok",
					   (long long) run_id, environment,
					   INSTR_TIME_GET_DOUBLE(duration),
					   list_length(plan->rules), list_length(plan->steps),
					   (long long) total_rows, list_length(results));
	if (silenced_messages > 0)
		summary = psprintf("%s; %lld messages of owner code silenced", summary,
						   (long long) silenced_messages);
	ledger_finish(run_id, summary);
	sandbox_lock_features(environment, plan->rules);
	sandbox_record_applied_rules(run_id, plan->rules);
	sandbox_note_sanitized(environment, run_id, list_length(plan->rules));

	if (unlinked > 0)
		ereport(NOTICE,
				(errmsg("%lld large objects were unlinked; their bytes stay in the pages of pg_largeobject until it is rewritten",
						(long long) unlinked),
				 errhint("Once this transaction has committed, run VACUUM FULL pg_catalog.pg_largeobject as a superuser, outside a transaction block. sandbox_sanitize_async() and the background worker do it themselves.")));
	if (in_place != NIL)
	{
		StringInfoData tables;

		initStringInfo(&tables);
		foreach(lc, in_place)
			appendStringInfo(&tables, "%s%s", foreach_current_index(lc) > 0 ? ", " : "",
							 (char *) lfirst(lc));
		ereport(NOTICE,
				(errmsg("tables changed in place keep the old values in dead row versions until they are vacuumed"),
				 errhint("Run VACUUM on %s once this transaction has committed.", tables.data)));
	}

	summary = MemoryContextStrdup(callercxt, summary);
	AtEOXact_GUC(true, nestlevel);
	SPI_finish();
	return summary;
}

/* ---- SQL-callable functions ---- */

/*
 * sandbox_sanitize(environment text) returns text
 */
Datum
sandbox_sanitize(PG_FUNCTION_ARGS)
{
	char	   *environment = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *summary;

	/* Meanwhile the steps show in pg_stat_activity and sandbox.progress */
	sandbox_report_progress = true;
	summary = sandbox_sanitize_environment(environment, 0);
	pgstat_report_activity(STATE_RUNNING, debug_query_string);

	PG_RETURN_TEXT_P(cstring_to_text(summary));
}

/*
 * begin_report
 *		The common start of sandbox_plan and sandbox_verify, which return
 *		their rows in materialize mode: refuse a production server, pin
 *		search_path, set up the result's tuplestore, connect to SPI and
 *		take the engine's settings.  Returns the GUC nest level, to put
 *		back with AtEOXact_GUC(true, ...) before SPI_finish().
 */
static int
begin_report(FunctionCallInfo fcinfo)
{
	sandbox_check_not_production_server();
	pin_search_path();
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	return engine_settings();
}

/*
 * sandbox_plan(environment text) returns setof text
 *		The statements sandbox_sanitize would run, in order, each with the
 *		number of rows it would touch now.
 */
Datum
sandbox_plan(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *environment = text_to_cstring(PG_GETARG_TEXT_PP(0));
	SanitizePlan *plan;
	int			nestlevel;
	ListCell   *lc;

	nestlevel = begin_report(fcinfo);
	if (strcmp(environment, "production") == 0)
		sandbox_check_not_production(environment);

	plan = build_plan(environment, true);
	sandbox_masking_prepare_key();
	foreach(lc, plan->steps)
	{
		PlanStep   *step = lfirst(lc);
		int64		rows = count_guarded(step->table, step->rules, step->count_sql);
		Datum		value;
		bool		isnull = false;

		value = CStringGetTextDatum(psprintf("%s; -- %s%s%s: %lld %s%s",
											 step->sql, method_names[step->method],
											 step->rules ? ", rules " : "",
											 rule_id_list(step->rules), (long long) rows,
											 step->method == METHOD_BUILTIN ? "objects" : "rows",
											 step->why ? step->why : ""));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &isnull);
	}

	AtEOXact_GUC(true, nestlevel);
	SPI_finish();
	return (Datum) 0;
}

/*
 * sandbox_verify(environment text) returns table (...)
 *		One row per rule of the environment: how many rows violate it now.
 */
Datum
sandbox_verify(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *environment = text_to_cstring(PG_GETARG_TEXT_PP(0));
	SanitizePlan *plan;
	int			nestlevel;
	ListCell   *lc;

	nestlevel = begin_report(fcinfo);
	plan = build_plan(environment, false);
	plan->reenabled = reenabled_features();
	plan->rewritten = rewritten_by_last_run();
	sandbox_masking_prepare_key();
	foreach(lc, verify_plan(plan))
	{
		VerifyResult *result = lfirst(lc);
		SandboxRule *rule = result->rule;
		Datum		values[9];
		bool		nulls[9] = {0};

		values[1] = BoolGetDatum(result->violations == 0);
		values[2] = Int64GetDatum(result->violations);
		values[3] = CStringGetTextDatum(result->detail);
		values[4] = CStringGetTextDatum(rule ? rule->environment : environment);
		values[6] = CStringGetTextDatum(result->table->qualname);
		if (rule == NULL)
		{
			/* a built-in check */
			nulls[0] = nulls[5] = nulls[7] = true;
			values[8] = CStringGetTextDatum("builtin");
		}
		else
		{
			values[0] = Int64GetDatum(rule->id);
			nulls[5] = (rule->feature == NULL);
			values[5] = nulls[5] ? (Datum) 0 : CStringGetTextDatum(rule->feature);
			nulls[7] = (rule->column_name == NULL);
			values[7] = nulls[7] ? (Datum) 0 : CStringGetTextDatum(rule->column_name);
			values[8] = CStringGetTextDatum(sandbox_action_name(rule->action));
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	sandbox_leakscan_verify(rsinfo->setResult, rsinfo->setDesc, environment);

	AtEOXact_GUC(true, nestlevel);
	SPI_finish();
	return (Datum) 0;
}
