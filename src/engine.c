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
 *	2. one DELETE per table, referencing tables before referenced ones,
 *	   unlinking the large objects of the removed rows in the same
 *	   statement;
 *	3. one UPDATE per table applying all its mask and set rules in a
 *	   single pass (rules with filters become CASE branches), or, where
 *	   a rule covers every row and the table allows it, one ALTER TABLE
 *	   ... ALTER COLUMN ... TYPE ... USING that rewrites the table: about
 *	   four times faster, and it leaves no dead row versions holding the
 *	   old values.
 *
 * Rows about to be removed are never updated first.  Each statement runs
 * as the owner of its table in an owner context: inside a
 * security-restricted operation and with a fixed search_path, as VACUUM
 * and REINDEX do, every setting put back afterwards, and every message
 * below ERROR silenced (owner code may put row values in them): triggers,
 * index expressions and rule functions act with the owner's rights,
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

#include "access/relation.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/index.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "portability/instr_time.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
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

	/* Filled in when the step has run */
	int			stepno;
	double		seconds;
} PlanStep;

typedef struct SanitizePlan
{
	bool		disable_outbound;	/* run the built-in steps of outbound.c */
	List	   *reenabled;		/* features re-enabled since the last run */
	List	   *rules;			/* every rule, validated */
	List	   *tables;			/* TableRules *, by name */
	List	   *steps;			/* PlanStep *, in execution order */
} SanitizePlan;

/* One row of sandbox_verify */
typedef struct VerifyResult
{
	SandboxRule *rule;			/* NULL for a built-in check */
	TableRules *table;
	int64		violations;
	char	   *detail;
} VerifyResult;

/* ---- Running SQL as a table's owner ---- */

/*
 * How deep we are in owner contexts (sandbox_owner_context_enter), and
 * how many messages below ERROR were silenced there since the counter
 * was last reset.
 */
static int	owner_context_depth = 0;
static int64 silenced_messages = 0;
static emit_log_hook_type prev_emit_log_hook = NULL;

/*
 * silence_owner_messages
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
 * hook, whatever client_min_messages the owner code sets.
 */
static void
silence_owner_messages(ErrorData *edata)
{
	if (owner_context_depth > 0 && edata->elevel < ERROR)
	{
		edata->output_to_client = false;
		edata->output_to_server = false;
		if (edata->elevel >= LOG)
			silenced_messages++;
	}
	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

/*
 * sandbox_engine_init
 *		Install the hook silencing owner code's messages (from _PG_init).
 */
void
sandbox_engine_init(void)
{
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = silence_owner_messages;
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
	SandboxOwnerContext context;
	int			ret;

	sandbox_owner_context_enter(owner, &context);
	PG_TRY();
	{
		ret = SPI_execute_with_args(sql, nargs, argtypes, values, NULL, false, 0);
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
 * column_type_sql
 *		The declared type of a column with its collation, as ALTER TABLE
 *		... ALTER COLUMN ... TYPE takes it, so a rewrite keeps both.
 */
static char *
column_type_sql(Oid relid, const char *column)
{
	AttrNumber	attnum = get_attnum(relid, column);
	Oid			typid;
	int32		typmod;
	Oid			collid;
	char	   *result;

	get_atttypetypmodcoll(relid, attnum, &typid, &typmod, &collid);
	result = format_type_with_typemod(typid, typmod);
	if (OidIsValid(collid) && collid != get_typcollation(typid))
		result = psprintf("%s COLLATE %s", result, generate_collation_name(collid));
	return result;
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

		if (table->deletes != NIL && !table->truncated)
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
 * rewrite_refusal
 *		Why a table's updates cannot be done by a rewrite, or NULL.
 */
static const char *
rewrite_refusal(TableRules *table)
{
	Relation	rel;
	const char *reason = NULL;
	bool		covers_all = false;
	ListCell   *lc;

	if (sandbox_update_strategy == STRATEGY_UPDATE)
		return "penelope_sandbox.update_strategy is update";

	foreach(lc, table->updates)
	{
		SandboxRule *rule = lfirst(lc);

		if (rule->has_sublink)
			return "a rule has a subquery";

		/*
		 * ALTER TABLE ... USING takes no parameter, and the run token is
		 * one (see sandbox_rule_expression_sql).
		 */
		if (strstr(rule->expression_sql, "$1") != NULL ||
			(rule->filter_sql != NULL && strstr(rule->filter_sql, "$1") != NULL))
			return "a rule calls a keyed masking function";
		covers_all |= (rule->filter == NULL);
	}
	if (!covers_all && sandbox_update_strategy == STRATEGY_AUTO)
		return "no rule covers every row";

	rel = relation_open(table->relid, AccessShareLock);
	if (rel->rd_rel->relkind != RELKIND_RELATION)
		reason = "the table is partitioned";
	else if (rel->rd_rel->relhassubclass || rel->rd_rel->relispartition)
		reason = "the table has inheritance children or parents";
	else if (OidIsValid(rel->rd_rel->reloftype))
		reason = "the table is a typed table";
	relation_close(rel, NoLock);
	if (reason != NULL)
		return reason;

	/*
	 * ALTER COLUMN ... TYPE rebuilds the indexes, constraints, statistics
	 * and defaults of a column, but refuses columns that views, rules,
	 * generated columns, policies or trigger conditions use.  And a table
	 * with row-level UPDATE triggers is updated, not rewritten, so that
	 * the triggers see the change (a trigger that maintains a search
	 * column from a name must not keep the old name).
	 */
	foreach(lc, column_names(table->updates))
	{
		AttrNumber	attnum = get_attnum(table->relid, strVal(lfirst(lc)));
		char	   *sql;

		sql = psprintf("SELECT 1 FROM pg_catalog.pg_depend d"
					   " WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
					   " AND d.refobjid OPERATOR(pg_catalog.=) %u AND d.refobjsubid OPERATOR(pg_catalog.=) %d"
					   " AND NOT d.classid OPERATOR(pg_catalog.=) ANY (ARRAY['pg_catalog.pg_constraint'::pg_catalog.regclass,"
					   "  'pg_catalog.pg_statistic_ext'::pg_catalog.regclass])"
					   " AND NOT (d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
					   "  AND d.objsubid OPERATOR(pg_catalog.=) 0 AND (SELECT c.relkind FROM pg_catalog.pg_class c"
					   "   WHERE c.oid OPERATOR(pg_catalog.=) d.objid) OPERATOR(pg_catalog.=) ANY ('{i,I,S}'::pg_catalog.\"char\"[]))"
					   " AND NOT (d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_attrdef'::pg_catalog.regclass"
					   "  AND EXISTS (SELECT FROM pg_catalog.pg_attrdef a WHERE a.oid OPERATOR(pg_catalog.=) d.objid"
					   "   AND a.adrelid OPERATOR(pg_catalog.=) d.refobjid AND a.adnum OPERATOR(pg_catalog.=) d.refobjsubid))"
					   " LIMIT 1",
					   table->relid, (int) attnum);
		if (SPI_execute(sql, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read pg_depend");
		if (SPI_processed > 0)
			return "another object depends on a masked column";
	}
	if (SPI_execute(psprintf("SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid OPERATOR(pg_catalog.=) %u"
							 " AND NOT tgisinternal AND tgenabled OPERATOR(pg_catalog.<>) 'D'"
							 " AND (tgtype OPERATOR(pg_catalog.&) %d) OPERATOR(pg_catalog.<>) 0"
							 " AND (tgtype OPERATOR(pg_catalog.&) %d) OPERATOR(pg_catalog.<>) 0 LIMIT 1",
							 table->relid, TRIGGER_TYPE_ROW, TRIGGER_TYPE_UPDATE),
					true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_trigger");
	if (SPI_processed > 0)
		return "the table has row-level update triggers";
	return NULL;
}

/*
 * plan_update
 *		One statement applying every mask and set rule of a table.
 */
static void
plan_update(SanitizePlan *plan, TableRules *table)
{
	List	   *columns = column_names(table->updates);
	bool		rewrite = (rewrite_refusal(table) == NULL);
	PlanStep   *step = new_step(plan, rewrite ? METHOD_REWRITE : METHOD_UPDATE,
								table, table->updates);
	char	   *where = rows_where(table->updates);
	StringInfoData sql;
	ListCell   *lc;

	initStringInfo(&sql);
	appendStringInfo(&sql, rewrite ? "ALTER TABLE %s" : "UPDATE %s SET", table->qualname);
	foreach(lc, columns)
	{
		const char *column = strVal(lfirst(lc));
		char	   *value = column_value_sql(rules_for_column(table->updates, column), column);

		if (foreach_current_index(lc) > 0)
			appendStringInfoChar(&sql, ',');
		if (rewrite)
		{
			/* the rewrite applies the value to every row, so no WHERE */
			if (where[0] != '\0' && strncmp(value, "CASE", 4) != 0)
				value = psprintf("CASE WHEN %s THEN %s ELSE %s END",
								 where + strlen(" WHERE "), value, quote_identifier(column));
			appendStringInfo(&sql, " ALTER COLUMN %s TYPE %s USING %s",
							 quote_identifier(column),
							 column_type_sql(table->relid, column), value);
		}
		else
			appendStringInfo(&sql, " %s = %s", quote_identifier(column), value);
	}
	if (!rewrite)
		appendStringInfoString(&sql, where);

	step->sql = sql.data;
	/* a rewrite writes every row of the table again */
	step->count_sql = psprintf("SELECT pg_catalog.count(*) FROM %s%s", table->qualname,
							   rewrite ? "" : where);
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

	plan->rules = sandbox_load_rules(environment);
	if (for_run)
		plan->rules = sandbox_rules_to_apply(plan->rules);
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

	plan->disable_outbound = sandbox_environment_disables_outbound(environment);
	if (plan->disable_outbound)
		plan_outbound(plan);
	plan_truncates(plan);
	plan_deletes(plan);
	foreach(lc, plan->tables)
	{
		TableRules *table = lfirst(lc);

		if (table->updates != NIL && !table->truncated)
			plan_update(plan, table);
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
 *		On error, roll the subtransaction back and return the error; else
 *		NULL.
 */
static ErrorData *
run_in_subtransaction(Oid owner, const char *sql, int nargs, Oid *argtypes, Datum *values)
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
		probe_error = run_in_subtransaction(table->owner, sql, 0, NULL, NULL);
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
	ErrorData  *edata = run_in_subtransaction(table->owner, sql, 0, NULL, NULL);

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

	edata = run_in_subtransaction(owner, sql, nargs, argtypes, values);

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
 * verify_check_sql
 *		A boolean SQL condition true for each row violating a rule, and
 *		the sentence describing what the rule guarantees.
 *
 * A mask or set rule is checked on the rows where it is the rule that
 * applies: its filter matches, and no earlier rule for the column does.
 * A restorable rule of a feature re-enabled since is not checked.
 */
static char *
verify_check_sql(SandboxRule *rule, TableRules *table, List *reenabled, char **detail)
{
	StringInfoData applies;
	ListCell   *lc;

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

	initStringInfo(&applies);
	appendStringInfoString(&applies, rule_condition(rule));
	foreach(lc, table->updates)
	{
		SandboxRule *earlier = lfirst(lc);

		if (earlier == rule)
			break;
		if (strcmp(earlier->column_name, rule->column_name) != 0)
			continue;
		if (earlier->filter == NULL)
		{
			*detail = psprintf("every row is covered by rule %lld", (long long) earlier->id);
			return "false";
		}
		appendStringInfo(&applies, " AND NOT %s", rule_condition(earlier));
	}

	if (OidIsValid(rule->recogniser))
	{
		char	   *recogniser = quote_qualified_identifier(get_namespace_name(get_func_namespace(rule->recogniser)),
															get_func_name(rule->recogniser));

		*detail = psprintf("%s holds values recognised by %s", rule->column_name, recogniser);
		return psprintf("%s AND %s IS NOT NULL AND NOT %s(%s%s)",
						applies.data, quote_identifier(rule->column_name),
						recogniser, quote_identifier(rule->column_name),
						rule->recogniser_args ? rule->recogniser_args : "");
	}

	*detail = psprintf("%s holds the value of the rule's expression", rule->column_name);
	return psprintf("%s AND %s IS DISTINCT FROM CAST(%s AS %s)",
					applies.data, quote_identifier(rule->column_name),
					sandbox_rule_expression_sql(rule, false),
					format_type_be(get_atttype(table->relid,
											   get_attnum(table->relid, rule->column_name))));
}

/*
 * verify_plan
 *		Count, per rule, the rows violating it now: one scan per table,
 *		which also counts the table's rows (TableRules.rows_now).
 */
static List *
verify_plan(SanitizePlan *plan)
{
	List	   *results = NIL;
	ListCell   *lc;

	foreach(lc, plan->tables)
	{
		TableRules *table = lfirst(lc);
		List	   *table_results = NIL;
		StringInfoData sql;
		bool		isnull;
		ListCell   *lc2;

		initStringInfo(&sql);
		appendStringInfoString(&sql, "SELECT pg_catalog.count(*)");
		foreach(lc2, plan->rules)
		{
			SandboxRule *rule = lfirst(lc2);
			VerifyResult *result;

			if (rule->relid != table->relid)
				continue;
			result = palloc0(sizeof(VerifyResult));
			result->rule = rule;
			result->table = table;
			appendStringInfo(&sql, ", pg_catalog.count(*) FILTER (WHERE %s)",
							 verify_check_sql(rule, table, plan->reenabled, &result->detail));
			table_results = lappend(table_results, result);
		}
		appendStringInfo(&sql, " FROM %s", table->qualname);

		run_guarded(table, table->rules_all, sql.data);
		table->rows_now = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
													  SPI_tuptable->tupdesc, 1, &isnull));
		foreach(lc2, table_results)
		{
			VerifyResult *result = lfirst(lc2);

			result->violations =
				DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
											foreach_current_index(lc2) + 2, &isnull));
		}
		results = list_concat(results, table_results);
	}

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

/* ---- The run ledger ---- */

/*
 * ledger_start
 *		Insert the sandbox.run row of a new run, or mark an existing one
 *		(created by the background worker) as running.
 */
static int64
ledger_start(const char *environment, int64 run_id)
{
	Oid			argtypes[4] = {TEXTOID, OIDOID, INT8OID, INT8OID};
	Datum		args[4];
	bool		isnull;

	args[0] = CStringGetTextDatum(environment);
	args[1] = ObjectIdGetDatum(MyDatabaseId);
	args[2] = Int64GetDatum((int64) GetSystemIdentifier());
	args[3] = Int64GetDatum(run_id);

	if (run_id > 0)
	{
		if (SPI_execute_with_args("UPDATE sandbox.run SET status = 'running'"
								  " WHERE id OPERATOR(pg_catalog.=) $4 AND environment OPERATOR(pg_catalog.=) $1 RETURNING id",
								  4, argtypes, args, NULL, false, 1) != SPI_OK_UPDATE_RETURNING ||
			SPI_processed != 1)
			elog(ERROR, "run %lld of environment \"%s\" is not in sandbox.run",
				 (long long) run_id, environment);
		return run_id;
	}
	if (SPI_execute_with_args("INSERT INTO sandbox.run (environment, database_oid, system_identifier)"
							  " VALUES ($1, $2, $3) RETURNING id",
							  3, argtypes, args, NULL, false, 1) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "could not insert into sandbox.run");
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * ledger_step
 *		Record one executed statement.
 */
static void
ledger_step(int64 run_id, PlanStep *step, int64 rows)
{
	Oid			argtypes[9] = {INT8OID, INT4OID, NAMEOID, NAMEOID, TEXTOID,
	INT8ARRAYOID, TEXTOID, INT8OID, FLOAT8OID};
	Datum		args[9];
	Datum	   *ids = palloc(sizeof(Datum) * list_length(step->rules));
	ListCell   *lc;

	foreach(lc, step->rules)
		ids[foreach_current_index(lc)] = Int64GetDatum(((SandboxRule *) lfirst(lc))->id);

	args[0] = Int64GetDatum(run_id);
	args[1] = Int32GetDatum(step->stepno);
	args[2] = DirectFunctionCall1(namein, CStringGetDatum(step->table->schema));
	args[3] = DirectFunctionCall1(namein, CStringGetDatum(step->table->name));
	args[4] = CStringGetTextDatum(method_names[step->method]);
	args[5] = PointerGetDatum(construct_array(ids, list_length(step->rules),
											  INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[6] = CStringGetTextDatum(step->sql);
	args[7] = Int64GetDatum(rows);
	args[8] = Float8GetDatum(step->seconds);

	/* tables: every table of the statement (a TRUNCATE empties several) */
	if (SPI_execute_with_args("INSERT INTO sandbox.run_step (run_id, step, table_schema, table_name,"
							  " tables, method, rule_ids, statement, rows, duration)"
							  " VALUES ($1, $2, $3, $4,"
							  " COALESCE((SELECT pg_catalog.array_agg(DISTINCT pg_catalog.format('%I.%I',"
							  "  r.table_schema, r.table_name)) FROM sandbox.rule r"
							  "  WHERE r.id OPERATOR(pg_catalog.=) ANY ($6)),"
							  "  ARRAY[pg_catalog.format('%I.%I', $3, $4)]),"
							  " $5, $6, $7, $8, pg_catalog.make_interval(secs => $9))",
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
 *		Lock every table the plan changes, in OID order, in the mode its
 *		statement needs, so that the run does not deadlock halfway.
 */
static void
lock_tables(SanitizePlan *plan)
{
	List	   *relids = NIL;
	ListCell   *lc;

	foreach(lc, plan->steps)
	{
		if (((PlanStep *) lfirst(lc))->method != METHOD_BUILTIN)
			relids = list_append_unique_oid(relids, ((PlanStep *) lfirst(lc))->table->relid);
	}
	foreach(lc, plan->tables)
	{
		if (((TableRules *) lfirst(lc))->truncated)
			relids = list_append_unique_oid(relids, ((TableRules *) lfirst(lc))->relid);
	}
	list_sort(relids, list_oid_cmp);

	foreach(lc, relids)
	{
		Oid			relid = lfirst_oid(lc);
		LOCKMODE	mode = RowExclusiveLock;
		ListCell   *lc2;

		foreach(lc2, plan->steps)
		{
			PlanStep   *step = lfirst(lc2);

			if (step->method == METHOD_REWRITE && step->table->relid == relid)
				mode = AccessExclusiveLock;
		}
		if (find_table(plan->tables, relid)->truncated)
			mode = AccessExclusiveLock;
		LockRelationOid(relid, mode);
	}
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
	ListCell   *lc;

	sandbox_check_not_production(environment);
	pin_search_path();
	silenced_messages = 0;
	lock_out_concurrent_runs();
	INSTR_TIME_SET_CURRENT(run_start);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	plan = build_plan(environment, true);
	run_id = ledger_start(environment, run_id);
	lock_tables(plan);
	sandbox_masking_prepare_key();
	sandbox_leakscan_collect(run_id, environment, plan->rules);

	foreach(lc, plan->steps)
	{
		PlanStep   *step = lfirst(lc);
		instr_time	step_start;
		instr_time	step_time;
		int64		rows;

		report_progress(run_id, ++stepno, list_length(plan->steps), step, total_rows);
		CHECK_FOR_INTERRUPTS();
		INSTR_TIME_SET_CURRENT(step_start);

		if (step->method == METHOD_UPDATE || step->method == METHOD_REWRITE)
			sandbox_save_restorable(run_id, step->table->relid, step->rules);

		/*
		 * Statements that do not report their rows are counted first; but a
		 * rewrite changes every row of its table, which the verification
		 * below counts anyway, so its ledger row waits for that count.
		 */
		rows = (step->method == METHOD_TRUNCATE || step->method == METHOD_BUILTIN) ?
			count_guarded(step->table, step->rules, step->count_sql) : 0;
		run_guarded(step->table, step->rules, step->sql);
		if (step->sql_returns_count)
		{
			bool		isnull;

			rows = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		}
		else if (step->method == METHOD_DELETE || step->method == METHOD_UPDATE)
			rows = (int64) SPI_processed;

		INSTR_TIME_SET_CURRENT(step_time);
		INSTR_TIME_SUBTRACT(step_time, step_start);
		step->stepno = stepno;
		step->seconds = INSTR_TIME_GET_DOUBLE(step_time);
		if (step->method != METHOD_REWRITE)
			ledger_step(run_id, step, rows);
		total_rows += rows;
		if (step->method == METHOD_UPDATE || step->method == METHOD_DELETE)
			in_place = list_append_unique_ptr(in_place, step->table->qualname);
	}

	/* The run holds only if every rule's effect can be seen in the data */
	report_progress(run_id, stepno, list_length(plan->steps), NULL, total_rows);
	results = verify_plan(plan);
	foreach(lc, plan->steps)
	{
		PlanStep   *step = lfirst(lc);

		if (step->method == METHOD_REWRITE)
		{
			ledger_step(run_id, step, step->table->rows_now);
			total_rows += step->table->rows_now;
		}
	}
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
	ListCell   *lc;

	sandbox_check_not_production_server();
	if (strcmp(environment, "production") == 0)
		sandbox_check_not_production(environment);
	pin_search_path();

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	plan = build_plan(environment, true);
	sandbox_masking_prepare_key();
	foreach(lc, plan->steps)
	{
		PlanStep   *step = lfirst(lc);
		int64		rows = count_guarded(step->table, step->rules, step->count_sql);
		Datum		value;
		bool		isnull = false;

		value = CStringGetTextDatum(psprintf("%s; -- %s%s%s: %lld %s",
											 step->sql, method_names[step->method],
											 step->rules ? ", rules " : "",
											 rule_id_list(step->rules), (long long) rows,
											 step->method == METHOD_BUILTIN ? "objects" : "rows"));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &isnull);
	}

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
	ListCell   *lc;

	sandbox_check_not_production_server();
	pin_search_path();
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	plan = build_plan(environment, false);
	plan->reenabled = reenabled_features();
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

	SPI_finish();
	return (Datum) 0;
}
