/*-------------------------------------------------------------------------
 *
 * rule_checks.c
 *		Checks that make a rule one a DBA can live with: it can be
 *		verified, and it cannot fail in ways its text does not show.
 *
 * catalog.c parses and analyses a rule; sandbox_check_rule() then looks
 * at what the analysed expression and filter would do when they run:
 *
 *	- determinism: a filter, or an expression that sandbox_verify checks
 *	  by recomputing it (a rule without a recogniser), must not call a
 *	  volatile function (random(), gen_random_uuid(), clock_timestamp(),
 *	  nextval()...): the verification would compute another value and the
 *	  run could never succeed.  Stable functions (now(), current_date,
 *	  the maskers, which depend on the key) are accepted: a run and its
 *	  verification happen in one transaction, where they give one value;
 *	  a later sandbox_verify in another transaction re-evaluates them;
 *	- lengths: when the column is varchar(n) or char(n), a registered
 *	  masker whose output is never that short (sandbox.masking_function
 *	  .min_length) is refused; one that keeps the length of its input
 *	  (preserves_length) is accepted when it reads a column no longer
 *	  than the target;
 *	- masker arguments: a masker with more arguments than the value
 *	  (sandbox.mask_jsonb's path and masker) takes constants, which
 *	  sandbox_verify passes on to the recogniser; a function named by a
 *	  regprocedure constant must itself be a registered, trusted masker
 *	  of text, since the server's own trust check cannot see it;
 *	- other rules: an expression verified by recomputation that reads a
 *	  column another rule of a related environment (one of the same
 *	  inheritance chain) writes can never verify: the run computes it
 *	  from the old value of that column, the verification from the new
 *	  one.  Checked both ways: when the reading rule is written and when
 *	  the writing rule is; the error names both rules.
 *	- other tables, when a rule is written (sandbox_check_rule_written; the
 *	  planning of a run makes the same checks with the same code): a rule
 *	  on a table and another on one of its partitions or inheritance
 *	  children writing the same column, in environments a run applies
 *	  together;
 *	- foreign keys, at the end of every statement that writes, deletes or
 *	  disables rules or changes which environment inherits from which
 *	  (sandbox_check_rule_keys_trigger): a masked key that a foreign key
 *	  references while no rule of the environment's chain changes the
 *	  referencing columns.
 *
 * The same function runs when a rule is written and when it runs.  The
 * catalog tables are read with the rights of their owner, as the
 * referential-integrity triggers do: a role granted INSERT on sandbox.rule
 * need not read the rest of the catalog.
 *
 * It also holds the event trigger that warns before DROP EXTENSION
 * penelope_sandbox takes every rule and the whole ledger with it.
 *
 * Copyright (c) 2026, penelope_sandbox developers
 *
 * IDENTIFICATION
 *	  src/rule_checks.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "nodes/parsenodes.h"
#include "optimizer/optimizer.h"
#include "parser/parse_relation.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"
#include "utils/syscache.h"

#include "penelope_sandbox.h"

PG_FUNCTION_INFO_V1(sandbox_warn_drop);
PG_FUNCTION_INFO_V1(sandbox_check_rule_keys_trigger);

/*
 * While a rule is validated only to learn which columns its expression
 * reads (see rule_reading_column), sandbox_check_rule stores them here and
 * skips its own look at other rules.
 */
static Bitmapset **capture_reads = NULL;

/* ---- Reading the catalog with its owner's rights ---- */

/*
 * Enabled rules on the same table writing a column with mask or set,
 * other than the rule itself: $1 rule id, $2 schema, $3 table.  Whether
 * their environment is related is asked afterwards (QUERY_RELATED), for
 * the few rules found.
 */
#define SAME_TABLE_RULES_SQL \
	"SELECT r.id, r.environment, r.column_name::pg_catalog.text, r.action, r.expression, r.filter," \
	"       r.feature, r.restorable" \
	"  FROM sandbox.rule r" \
	" WHERE r.enabled AND r.id <> $1 AND r.table_schema = $2 AND r.table_name = $3" \
	"   AND r.action IN ('mask', 'set')"

/* The queries on the catalog, planned once per session */
typedef enum CatalogQuery
{
	QUERY_RECOGNISER,			/* $1 masker: its recogniser */
	QUERY_LENGTHS,				/* $1 masker: min_length, preserves_length */
	QUERY_WRITERS_OF,			/* rules of the table writing one of $4
								 * (text[]) */
	QUERY_READER_CANDIDATES,	/* rules of the table not writing $4 whose
								 * expression has the word $5 (a regular
								 * expression matching $4) */
	QUERY_RELATED,				/* does a run apply environments $1 and $2
								 * together? */
	QUERY_COUNTS,				/* rules and runs */
	QUERY_FAMILY_WRITERS,		/* rules other than $1 writing column $2 of
								 * one of the tables $3.$4 (text[]) */
	QUERY_CHAIN_RULES,			/* rules other than $1 that a run of
								 * environment $2 applies */
	QUERY_APPLYING_RULES,		/* enabled mask and set rules of a column
								 * whose runs apply one of environments $1
								 * (text[]) */
	NUM_CATALOG_QUERIES
} CatalogQuery;

static const char *const catalog_sql[NUM_CATALOG_QUERIES] = {
	[QUERY_RECOGNISER] =
	"SELECT recogniser::pg_catalog.oid FROM sandbox.masking_function"
	" WHERE masker = $1::pg_catalog.regprocedure",
	[QUERY_LENGTHS] =
	"SELECT min_length, preserves_length FROM sandbox.masking_function"
	" WHERE masker = $1::pg_catalog.regprocedure",
	[QUERY_WRITERS_OF] =
	SAME_TABLE_RULES_SQL " AND r.column_name::pg_catalog.text = ANY ($4) ORDER BY r.id",
	[QUERY_READER_CANDIDATES] =
	SAME_TABLE_RULES_SQL " AND r.column_name::pg_catalog.text <> $4"
	" AND r.expression ~* ('(^|[^[:alnum:]_$])' || $5 || '($|[^[:alnum:]_$])')"
	" ORDER BY r.id",
	[QUERY_RELATED] =
	"SELECT $1 = $2"
	" OR $1 IN (SELECT c.name FROM sandbox.environment_chain($2) c)"
	" OR $2 IN (SELECT c.name FROM sandbox.environment_chain($1) c)",
	[QUERY_COUNTS] =
	"SELECT (SELECT pg_catalog.count(*) FROM sandbox.rule),"
	" (SELECT pg_catalog.count(*) FROM sandbox.run)",
	[QUERY_FAMILY_WRITERS] =
	"SELECT r.id, r.environment, r.table_schema::pg_catalog.text, r.table_name::pg_catalog.text"
	"  FROM sandbox.rule r"
	" WHERE r.enabled AND r.id <> $1 AND r.column_name::pg_catalog.text = $2"
	"   AND r.action IN ('mask', 'set')"
	"   AND (r.table_schema::pg_catalog.text, r.table_name::pg_catalog.text) IN"
	"       (SELECT f.s, f.t FROM ROWS FROM (pg_catalog.unnest($3), pg_catalog.unnest($4)) AS f(s, t))"
	" ORDER BY r.id",
	[QUERY_CHAIN_RULES] =
	"SELECT r.id, r.environment, r.table_schema::pg_catalog.text, r.table_name::pg_catalog.text,"
	"       r.column_name::pg_catalog.text, r.action"
	"  FROM sandbox.rule r JOIN sandbox.environment_chain($2) c ON c.name = r.environment"
	" WHERE r.enabled AND r.id <> $1 AND r.action IN ('mask', 'set', 'truncate')"
	" ORDER BY c.depth, r.id",
	[QUERY_APPLYING_RULES] =
	"SELECT r.id, r.environment, r.table_schema::pg_catalog.text, r.table_name::pg_catalog.text,"
	"       r.column_name::pg_catalog.text, r.action"
	"  FROM sandbox.rule r"
	" WHERE r.enabled AND r.action IN ('mask', 'set') AND r.column_name IS NOT NULL"
	"   AND EXISTS (SELECT FROM sandbox.environment_chain(r.environment) c"
	"                WHERE c.name OPERATOR(pg_catalog.=) ANY ($1))"
	" ORDER BY r.id",
};

static const Oid catalog_argtypes[NUM_CATALOG_QUERIES][5] = {
	[QUERY_RECOGNISER] = {OIDOID},
	[QUERY_LENGTHS] = {OIDOID},
	[QUERY_WRITERS_OF] = {INT8OID, TEXTOID, TEXTOID, TEXTARRAYOID},
	[QUERY_READER_CANDIDATES] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID},
	[QUERY_RELATED] = {TEXTOID, TEXTOID},
	[QUERY_FAMILY_WRITERS] = {INT8OID, TEXTOID, TEXTARRAYOID, TEXTARRAYOID},
	[QUERY_CHAIN_RULES] = {INT8OID, TEXTOID},
	[QUERY_APPLYING_RULES] = {TEXTARRAYOID},
};

static const int catalog_nargs[NUM_CATALOG_QUERIES] = {
	[QUERY_RECOGNISER] = 1,
	[QUERY_LENGTHS] = 1,
	[QUERY_WRITERS_OF] = 4,
	[QUERY_READER_CANDIDATES] = 5,
	[QUERY_RELATED] = 2,
	[QUERY_COUNTS] = 0,
	[QUERY_FAMILY_WRITERS] = 4,
	[QUERY_CHAIN_RULES] = 2,
	[QUERY_APPLYING_RULES] = 1,
};

static SPIPlanPtr catalog_plans[NUM_CATALOG_QUERIES];

/*
 * catalog_query
 *		Run one of the read-only queries on the sandbox catalog as the
 *		owner of sandbox.rule (the extension's owner), under the rule
 *		search_path (whatever the caller's), so no operator of the
 *		caller's runs.  The plan is made on first use and kept for the
 *		session (the plan cache replans it after DDL).  The caller must be
 *		connected to SPI; the result is in SPI_tuptable.
 */
static void
catalog_query(CatalogQuery which, Datum *values)
{
	Oid			nspid = get_namespace_oid(SANDBOX_SCHEMA, false);
	Oid			relid = get_relname_relid("rule", nspid);
	HeapTuple	tuple;
	Oid			owner;
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;

	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(owner, save_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", SANDBOX_RULE_SEARCH_PATH,
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	if (catalog_plans[which] == NULL)
	{
		/* generic: the planning of a custom plan costs more than a run */
		SPIPlanPtr	plan = SPI_prepare_cursor(catalog_sql[which], catalog_nargs[which],
											  (Oid *) catalog_argtypes[which],
											  CURSOR_OPT_GENERIC_PLAN);

		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "could not plan a query on the sandbox catalog");
		catalog_plans[which] = plan;
	}
	if (SPI_execute_plan(catalog_plans[which], values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the sandbox catalog");
	AtEOXact_GUC(true, save_nestlevel);
	SetUserIdAndSecContext(save_userid, save_sec_context);
}

/*
 * sandbox_registered_recogniser
 *		The recogniser registered for a masker in sandbox.masking_function,
 *		or InvalidOid.  Usable outside a rule's validation (mask_json.c
 *		calls it from the maskers, as the table owner).
 */
Oid
sandbox_registered_recogniser(Oid masker)
{
	Datum		args[1] = {ObjectIdGetDatum(masker)};
	Oid			result = InvalidOid;
	bool		isnull;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	catalog_query(QUERY_RECOGNISER, args);
	if (SPI_processed == 1)
		result = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
												SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	return result;
}

/* ---- Determinism ---- */

/*
 * volatile_function_cb
 *		check_functions_in_node() callback: remember the first volatile
 *		function.
 */
static bool
volatile_function_cb(Oid funcid, void *context)
{
	if (func_volatile(funcid) != PROVOLATILE_VOLATILE)
		return false;
	*(Oid *) context = funcid;
	return true;
}

/*
 * volatile_function_walker
 *		Find a volatile function anywhere in an expression, subqueries
 *		included; its OID goes to *context.
 */
static bool
volatile_function_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (check_functions_in_node(node, volatile_function_cb, context))
		return true;
	if (IsA(node, NextValueExpr))
	{
		*(Oid *) context = F_NEXTVAL;
		return true;
	}
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, volatile_function_walker,
								 context, 0);
	return expression_tree_walker(node, volatile_function_walker, context);
}

/*
 * check_deterministic
 *		Refuse an expression or filter calling a volatile function.
 */
static void
check_deterministic(const SandboxRule *rule, Node *node, const char *what)
{
	Oid			funcid = InvalidOid;

	if (node == NULL || !volatile_function_walker(node, &funcid))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("the %s of this %s rule is not deterministic",
					what, sandbox_action_name(rule->action)),
			 errdetail("It calls the volatile function %s: sandbox_verify would compute other values than the run wrote, so the run could never be verified.",
					   format_procedure_qualified(funcid)),
			 errhint("Use a constant or a registered masking function (sandbox.masking_function); a function of your own that gives the same result for the same arguments must be declared IMMUTABLE or STABLE.")));
}

/* ---- Functions named by constants ---- */

/*
 * registered_text_masker
 *		Whether a function is registered in sandbox.masking_function and
 *		maps text to text.  The caller is connected to SPI.
 */
static bool
registered_text_masker(Oid funcid)
{
	Datum		args[1] = {ObjectIdGetDatum(funcid)};
	HeapTuple	proctup;
	Form_pg_proc proc;
	bool		result;

	catalog_query(QUERY_RECOGNISER, args);
	result = (SPI_processed > 0);
	SPI_freetuptable(SPI_tuptable);
	if (!result)
		return false;

	proctup = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	if (!HeapTupleIsValid(proctup))
		return false;
	proc = (Form_pg_proc) GETSTRUCT(proctup);
	result = (proc->pronargs == 1 && proc->proargtypes.values[0] == TEXTOID &&
			  proc->prorettype == TEXTOID && !proc->proretset);
	ReleaseSysCache(proctup);
	return result;
}

typedef struct ProcConstContext
{
	const SandboxRule *rule;
} ProcConstContext;

/*
 * proc_constant_walker
 *		Every regprocedure or regproc value in the expression must be a
 *		constant naming a registered masker of text owned by a superuser
 *		or by the table's owner: a function called by its OID escapes the
 *		trust check of catalog.c.
 */
static bool
proc_constant_walker(Node *node, void *context)
{
	ProcConstContext *cxt = (ProcConstContext *) context;
	Oid			type;

	if (node == NULL)
		return false;
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, proc_constant_walker, context, 0);
	if (!IsA(node, Const) && !IsA(node, Var) && !IsA(node, Param) &&
		!IsA(node, FuncExpr) && !IsA(node, OpExpr) && !IsA(node, CoerceViaIO) &&
		!IsA(node, RelabelType))
		return expression_tree_walker(node, proc_constant_walker, context);

	type = exprType(node);
	if (type == REGPROCEDUREOID || type == REGPROCOID)
	{
		Oid			funcid;
		Oid			owner;
		HeapTuple	proctup;

		if (!IsA(node, Const) || ((Const *) node)->constisnull)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a function given by its name must be a constant"),
					 errdetail("The rule names a function with a value of type %s that is not a constant, so the function it calls cannot be checked.",
							   format_type_be(type)),
					 errhint("Write the masker as a literal, such as 'sandbox.mask_email(text)'.")));
		funcid = DatumGetObjectId(((Const *) node)->constvalue);
		if (!registered_text_masker(funcid))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("function %s is not a registered masker of text",
							format_procedure_qualified(funcid)),
					 errdetail("A masker named by a rule must be listed in sandbox.masking_function and take and return text."),
					 errhint("Name one of the maskers in sandbox.masking_function, such as 'sandbox.mask_email(text)'.")));
		proctup = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
		if (!HeapTupleIsValid(proctup))
			elog(ERROR, "cache lookup failed for function %u", funcid);
		owner = ((Form_pg_proc) GETSTRUCT(proctup))->proowner;
		ReleaseSysCache(proctup);
		if (!superuser_arg(owner) && owner != cxt->rule->relowner)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("function %s is not trusted",
							format_procedure_qualified(funcid)),
					 errdetail("Rules run with the rights of the owner of the table they change; a function owned by another role could act with those rights.")));
		return false;
	}
	return expression_tree_walker(node, proc_constant_walker, context);
}

/*
 * recogniser_arguments
 *		For a mask expression verified by a recogniser: ", arg2, arg3" for
 *		a masker taking more than the value, so that sandbox_verify calls
 *		the recogniser with the same path and masker; NULL otherwise.
 */
static char *
recogniser_arguments(const SandboxRule *rule, Node *expr)
{
	FuncExpr   *call;
	StringInfoData buf;
	ListCell   *lc;

	expr = strip_implicit_coercions(expr);
	if (!IsA(expr, FuncExpr))
		return NULL;
	call = (FuncExpr *) expr;
	if (list_length(call->args) < 2)
		return NULL;
	if (get_func_nargs(rule->recogniser) != list_length(call->args))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("recogniser %s does not take the arguments of masker %s",
						format_procedure_qualified(rule->recogniser),
						format_procedure_qualified(call->funcid)),
				 errdetail("A masker with more arguments than the value needs a recogniser taking the same arguments.")));

	initStringInfo(&buf);
	for_each_from(lc, call->args, 1)
	{
		Node	   *arg = lfirst(lc);

		if (!IsA(arg, Const) || ((Const *) arg)->constisnull)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("argument %d of masker %s must be a constant, not null",
							foreach_current_index(lc) + 1,
							format_procedure_qualified(call->funcid)),
					 errdetail("sandbox_verify passes the arguments after the value to the recogniser, so they cannot depend on the row.")));
		appendStringInfo(&buf, ", %s", deparse_expression(arg, NIL, false, false));
	}
	return buf.data;
}

/* ---- Lengths ---- */

/*
 * character_limit
 *		The length limit n of a varchar(n) or char(n) type (or array or
 *		domain over one), or -1.
 */
static int32
character_limit(Oid type, int32 typmod)
{
	Oid			elemtype;

	type = getBaseTypeAndTypmod(type, &typmod);
	elemtype = get_element_type(type);
	if (OidIsValid(elemtype))
		type = getBaseTypeAndTypmod(elemtype, &typmod);
	if ((type == VARCHAROID || type == BPCHAROID) && typmod >= (int32) VARHDRSZ)
		return typmod - VARHDRSZ;
	return -1;
}

/*
 * check_output_length
 *		Refuse a masker whose output can never fit a varchar(n) or char(n)
 *		column.
 */
static void
check_output_length(const SandboxRule *rule, Relation rel, Oid coltype,
					int32 coltypmod, Node *expr)
{
	int32		limit = character_limit(coltype, coltypmod);
	FuncExpr   *call;
	Datum		args[1];
	bool		isnull;
	Datum		d;
	int32		min_length = -1;
	bool		preserves = false;
	Node	   *input;

	if (limit < 0)
		return;
	expr = strip_implicit_coercions(expr);
	if (!IsA(expr, FuncExpr) || ((FuncExpr *) expr)->args == NIL)
		return;
	call = (FuncExpr *) expr;

	args[0] = ObjectIdGetDatum(call->funcid);
	catalog_query(QUERY_LENGTHS, args);
	if (SPI_processed == 1)
	{
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (!isnull)
			min_length = DatumGetInt32(d);
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
		preserves = !isnull && DatumGetBool(d);
	}
	SPI_freetuptable(SPI_tuptable);

	/* a length-preserving masker of a column no longer than the target */
	input = strip_implicit_coercions(linitial(call->args));
	if (preserves && IsA(input, Var))
	{
		Var		   *var = (Var *) input;
		int32		input_limit = -1;

		if (var->varattno > 0)
		{
			Form_pg_attribute attr = TupleDescAttr(RelationGetDescr(rel), var->varattno - 1);

			input_limit = character_limit(attr->atttypid, attr->atttypmod);
		}
		if (input_limit >= 0 && input_limit <= limit)
			return;
	}

	if (min_length > limit)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("masker %s writes values of at least %d characters, too long for column \"%s\" of type %s",
						format_procedure_qualified(call->funcid), min_length,
						rule->column_name, format_type_with_typemod(coltype, coltypmod)),
				 errdetail("Every masked value would fail with \"value too long\"."),
				 errhint("Widen the column, or choose a masker whose output fits (see min_length and max_length in sandbox.masking_function).")));
}

/* ---- Other rules ---- */

/*
 * column_names_of
 *		The names of the columns in a set of attribute numbers (offset by
 *		FirstLowInvalidHeapAttributeNumber), as a text[] datum.
 */
static Datum
column_names_of(Relation rel, Bitmapset *attnos)
{
	List	   *names = NIL;
	Datum	   *elems;
	int			i = -1;
	int			n = 0;
	ListCell   *lc;

	while ((i = bms_next_member(attnos, i)) >= 0)
	{
		AttrNumber	attno = i + FirstLowInvalidHeapAttributeNumber;

		if (attno > 0)
			names = lappend(names,
							NameStr(TupleDescAttr(RelationGetDescr(rel), attno - 1)->attname));
	}
	elems = palloc(sizeof(Datum) * (list_length(names) + 1));
	foreach(lc, names)
		elems[n++] = CStringGetTextDatum(lfirst(lc));
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * rule_reading_column
 *		Validate another rule to learn whether its expression is verified
 *		by recomputation and reads a column; false when it does not, or
 *		when it does not validate (its own run reports that).
 */
static bool
rule_reading_column(SandboxRule *other, AttrNumber attnum)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	Bitmapset  *reads = NULL;
	Bitmapset **save_capture = capture_reads;
	volatile bool ok = false;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		capture_reads = &reads;
		sandbox_validate_rule(other, false);
		capture_reads = save_capture;
		ok = true;
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		capture_reads = save_capture;
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;

	return ok && !OidIsValid(other->recogniser) &&
		bms_is_member(attnum - FirstLowInvalidHeapAttributeNumber, reads);
}

/*
 * regex_literal
 *		A regular expression matching a name literally: ASCII punctuation
 *		is escaped.
 */
static char *
regex_literal(const char *name)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (const char *p = name; *p; p++)
	{
		if (IS_HIGHBIT_SET(*p) == false && !isalnum((unsigned char) *p) && *p != '_')
			appendStringInfoChar(&buf, '\\');
		appendStringInfoChar(&buf, *p);
	}
	return buf.data;
}

/*
 * environments_related
 *		Whether some run applies the rules of both environments: one is
 *		the other or inherits from it.
 */
static bool
environments_related(const char *a, const char *b)
{
	Datum		args[2] = {CStringGetTextDatum(a), CStringGetTextDatum(b)};
	bool		isnull;
	bool		result;

	if (strcmp(a, b) == 0)
		return true;
	catalog_query(QUERY_RELATED, args);
	result = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	return !isnull && result;
}

/*
 * related_rules
 *		The rules found by one of the queries on the rules of a rule's
 *		table, with $4 = arg, that a run applies together with the rule,
 *		as SandboxRule copies (with id, environment, column_name, action,
 *		expression, filter, feature and restorable).
 */
static List *
related_rules(const SandboxRule *rule, CatalogQuery which, Datum arg)
{
	Datum		args[5];
	List	   *found = NIL;
	List	   *result = NIL;
	ListCell   *lc;

	args[0] = Int64GetDatum(rule->id);
	args[1] = CStringGetTextDatum(rule->table_schema);
	args[2] = CStringGetTextDatum(rule->table_name);
	args[3] = arg;
	if (which == QUERY_READER_CANDIDATES)
		args[4] = CStringGetTextDatum(regex_literal(TextDatumGetCString(arg)));
	catalog_query(which, args);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	tupdesc = SPI_tuptable->tupdesc;
		SandboxRule *other = palloc0(sizeof(SandboxRule));
		bool		isnull;

		other->id = DatumGetInt64(SPI_getbinval(tuple, tupdesc, 1, &isnull));
		other->environment = SPI_getvalue(tuple, tupdesc, 2);
		other->column_name = SPI_getvalue(tuple, tupdesc, 3);
		other->action = strcmp(SPI_getvalue(tuple, tupdesc, 4), "mask") == 0 ?
			ACTION_MASK : ACTION_SET;
		other->expression = SPI_getvalue(tuple, tupdesc, 5);
		other->filter = SPI_getvalue(tuple, tupdesc, 6);
		other->feature = SPI_getvalue(tuple, tupdesc, 7);
		other->restorable = DatumGetBool(SPI_getbinval(tuple, tupdesc, 8, &isnull));
		other->table_schema = rule->table_schema;
		other->table_name = rule->table_name;
		found = lappend(found, other);
	}
	SPI_freetuptable(SPI_tuptable);

	foreach(lc, found)
	{
		SandboxRule *other = lfirst(lc);

		if (environments_related(rule->environment, other->environment))
			result = lappend(result, other);
	}
	return result;
}

/*
 * check_reads_no_written_column
 *		A rule verified by recomputing its expression must not read a
 *		column that a related rule writes.
 */
static void
check_reads_no_written_column(const SandboxRule *rule, Relation rel, Bitmapset *reads)
{
	List	   *writers;
	SandboxRule *writer;

	if (bms_is_empty(reads))
		return;
	writers = related_rules(rule, QUERY_WRITERS_OF, column_names_of(rel, reads));
	if (writers == NIL)
		return;
	writer = linitial(writers);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("the effect of this %s rule cannot be verified",
					sandbox_action_name(rule->action)),
			 errdetail("Its expression reads column \"%s\", which rule %lld (environment \"%s\") %ss: the run computes the expression from the old value of that column, the verification from the new one.",
					   writer->column_name, (long long) writer->id,
					   writer->environment, sandbox_action_name(writer->action)),
			 errhint("Compute the value from columns no rule writes, or from constants.")));
}

/*
 * check_column_not_read
 *		The column a mask or set rule writes must not be read by a related
 *		rule verified by recomputing its expression.
 *
 * Only the rules whose expression mentions the column's name are
 * validated to find out what they read.
 */
static void
check_column_not_read(const SandboxRule *rule, AttrNumber attnum)
{
	ListCell   *lc;

	foreach(lc, related_rules(rule, QUERY_READER_CANDIDATES,
							  CStringGetTextDatum(rule->column_name)))
	{
		SandboxRule *other = lfirst(lc);

		if (rule_reading_column(other, attnum))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the effect of rule %lld could not be verified any more",
							(long long) other->id),
					 errdetail("The expression of rule %lld (environment \"%s\") reads column \"%s\", which this rule %ss: the run computes that expression from the old value, the verification from the new one.",
							   (long long) other->id, other->environment,
							   rule->column_name, sandbox_action_name(rule->action)),
					 errhint("Change rule %lld to compute its value from columns no rule writes, or disable it first.",
							 (long long) other->id)));
	}
}

/* ---- Partitions and foreign keys, when a rule is written ---- */

/*
 * check_no_overlapping_rule
 *		A mask or set rule must not write a column that a related rule
 *		writes on an ancestor, a partition or an inheritance child of its
 *		table: a rule on a table applies to all of them, and one of the two
 *		rules could never verify.  The same refusal as when a run is
 *		planned (sandbox_refuse_overlapping_rule, engine.c).  A table in no
 *		inheritance tree costs two pg_inherits look-ups, no query.
 */
static void
check_no_overlapping_rule(const SandboxRule *rule)
{
	List	   *ancestors = sandbox_ancestors(rule->relid);
	List	   *family = list_concat(list_copy(ancestors),
									 list_delete_first(find_all_inheritors(rule->relid, NoLock, NULL)));
	List	   *found = NIL;
	Datum	   *schemas;
	Datum	   *names;
	Datum		args[4];
	char	   *qualname;
	ListCell   *lc;

	if (family == NIL)
		return;
	schemas = palloc(sizeof(Datum) * list_length(family));
	names = palloc(sizeof(Datum) * list_length(family));
	foreach(lc, family)
	{
		schemas[foreach_current_index(lc)] =
			CStringGetTextDatum(get_namespace_name(get_rel_namespace(lfirst_oid(lc))));
		names[foreach_current_index(lc)] = CStringGetTextDatum(get_rel_name(lfirst_oid(lc)));
	}
	args[0] = Int64GetDatum(rule->id);
	args[1] = CStringGetTextDatum(rule->column_name);
	args[2] = PointerGetDatum(construct_array(schemas, list_length(family), TEXTOID, -1, false, TYPALIGN_INT));
	args[3] = PointerGetDatum(construct_array(names, list_length(family), TEXTOID, -1, false, TYPALIGN_INT));
	catalog_query(QUERY_FAMILY_WRITERS, args);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		SandboxRule *other = palloc0(sizeof(SandboxRule));
		bool		isnull;

		other->id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		other->environment = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		other->table_schema = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3);
		other->table_name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 4);
		found = lappend(found, other);
	}
	SPI_freetuptable(SPI_tuptable);

	qualname = quote_qualified_identifier(rule->table_schema, rule->table_name);
	foreach(lc, found)
	{
		SandboxRule *other = lfirst(lc);
		char	   *other_qualname = quote_qualified_identifier(other->table_schema, other->table_name);
		Oid			other_relid = get_namespace_oid(other->table_schema, true);

		if (OidIsValid(other_relid))
			other_relid = get_relname_relid(other->table_name, other_relid);
		if (!environments_related(rule->environment, other->environment))
			continue;
		if (list_member_oid(ancestors, other_relid))
			sandbox_refuse_overlapping_rule(rule->id, rule->column_name, qualname,
											other->id, other_qualname);
		else
			sandbox_refuse_overlapping_rule(other->id, rule->column_name, other_qualname,
											rule->id, qualname);
	}
}

/*
 * A rule as a row of sandbox.rule read through SPI (a transition table, or
 * the rules of an environment chain): what decides the foreign key check
 * (environment, table, column, action, enabled).
 */
typedef struct RuleRow
{
	SandboxRule rule;			/* id, environment, table, column, action and
								 * relid (InvalidOid: no such table) */
	bool		enabled;
	List	   *referenced;		/* removed rules: the tables that foreign
								 * keys of the column reference */
} RuleRow;

/*
 * rule_relid
 *		The relation a rule names, or InvalidOid.
 */
static Oid
rule_relid(const char *schema, const char *table)
{
	Oid			nspid = get_namespace_oid(schema, true);

	return OidIsValid(nspid) ? get_relname_relid(table, nspid) : InvalidOid;
}

/*
 * rule_rows
 *		The rows of SPI_tuptable, columns id, environment, table_schema,
 *		table_name, column_name, action and (when with_enabled) enabled,
 *		as a list of RuleRow.
 */
static List *
rule_rows(bool with_enabled)
{
	List	   *result = NIL;

	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	tupdesc = SPI_tuptable->tupdesc;
		RuleRow    *row = palloc0(sizeof(RuleRow));
		char	   *action = SPI_getvalue(tuple, tupdesc, 6);
		bool		isnull;

		row->rule.id = DatumGetInt64(SPI_getbinval(tuple, tupdesc, 1, &isnull));
		row->rule.environment = SPI_getvalue(tuple, tupdesc, 2);
		row->rule.table_schema = SPI_getvalue(tuple, tupdesc, 3);
		row->rule.table_name = SPI_getvalue(tuple, tupdesc, 4);
		row->rule.column_name = SPI_getvalue(tuple, tupdesc, 5);
		row->rule.action = strcmp(action, "mask") == 0 ? ACTION_MASK :
			strcmp(action, "set") == 0 ? ACTION_SET :
			strcmp(action, "delete") == 0 ? ACTION_DELETE : ACTION_TRUNCATE;
		row->enabled = !with_enabled ||
			DatumGetBool(SPI_getbinval(tuple, tupdesc, 7, &isnull));
		row->rule.relid = rule_relid(row->rule.table_schema, row->rule.table_name);
		result = lappend(result, row);
	}
	SPI_freetuptable(SPI_tuptable);
	return result;
}

/*
 * chain_rule_rows
 *		The enabled mask, set and truncate rules other than rule id that a
 *		run of an environment applies (RuleRow: id, environment, table,
 *		column and action), read as the catalog's owner.
 */
static List *
chain_rule_rows(int64 id, const char *environment)
{
	Datum		args[2] = {Int64GetDatum(id), CStringGetTextDatum(environment)};

	catalog_query(QUERY_CHAIN_RULES, args);
	return rule_rows(false);
}

/*
 * chain_rules
 *		chain_rule_rows for a rule and its environment, as SandboxRule *:
 *		for sandbox_check_rule_keys.
 */
static List *
chain_rules(const SandboxRule *rule)
{
	List	   *result = NIL;
	ListCell   *lc;

	foreach(lc, chain_rule_rows(rule->id, rule->environment))
		result = lappend(result, &((RuleRow *) lfirst(lc))->rule);
	return result;
}

/*
 * sandbox_check_rule_written
 *		See penelope_sandbox.h: the check that involves other tables, made
 *		row by row when a validated rule is written (the planning of a run
 *		makes it again over the rules it applies): no overlapping rule on a
 *		parent or a partition.  The foreign keys are checked at the end of
 *		the statement (sandbox_check_rule_keys_trigger), when every rule it
 *		writes is there.
 */
void
sandbox_check_rule_written(SandboxRule *rule)
{
	if ((rule->action != ACTION_MASK && rule->action != ACTION_SET) ||
		rule->column_name == NULL || !OidIsValid(rule->relid))
		return;
	check_no_overlapping_rule(rule);
}

/* ---- Foreign keys, at the end of a statement changing rules ---- */

/*
 * transition_rules
 *		The rows of one of the trigger's transition tables (old_rules,
 *		new_rules) of sandbox.rule.  The name of a transition table is
 *		resolved before any relation of the search_path, and the query
 *		calls no function or operator: it runs as the caller.
 */
static List *
transition_rules(const char *name)
{
	char	   *sql = psprintf("SELECT id, environment, table_schema, table_name, column_name,"
							   " action, enabled FROM %s", name);

	if (SPI_execute(sql, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read transition table %s", name);
	return rule_rows(true);
}

/*
 * key_relevant
 *		Whether a rule row takes part in the foreign key check: an enabled
 *		mask or set rule of a column.
 */
static bool
key_relevant(const RuleRow *row)
{
	return row->enabled && row->rule.column_name != NULL &&
		(row->rule.action == ACTION_MASK || row->rule.action == ACTION_SET);
}

/*
 * row_kept
 *		Whether the other transition table holds the same rule with the
 *		same environment, table, column, action and enabled flag: an
 *		update that changed only its expression, filter or description
 *		changes nothing the foreign key check looks at.
 */
static bool
row_kept(const RuleRow *row, List *others)
{
	ListCell   *lc;

	foreach(lc, others)
	{
		const RuleRow *other = lfirst(lc);

		if (other->rule.id == row->rule.id && other->enabled == row->enabled &&
			other->rule.action == row->rule.action &&
			strcmp(other->rule.environment, row->rule.environment) == 0 &&
			strcmp(other->rule.table_schema, row->rule.table_schema) == 0 &&
			strcmp(other->rule.table_name, row->rule.table_name) == 0 &&
			(other->rule.column_name == NULL) == (row->rule.column_name == NULL) &&
			(other->rule.column_name == NULL ||
			 strcmp(other->rule.column_name, row->rule.column_name) == 0))
			return true;
	}
	return false;
}

/*
 * family_of
 *		A relation, its partitions or inheritance children, and its
 *		ancestors: the relations a rule on it concerns.
 */
static List *
family_of(Oid relid)
{
	return list_concat_unique_oid(find_all_inheritors(relid, NoLock, NULL),
								  sandbox_ancestors(relid));
}

/*
 * referenced_tables
 *		The tables that foreign keys of a column reference, the column
 *		being that of a relation of the rule's family (see
 *		sandbox_check_rule_keys, which looks the other way).
 */
static List *
referenced_tables(const SandboxRule *rule)
{
	List	   *result = NIL;
	ListCell   *lc;

	if (!OidIsValid(rule->relid))
		return NIL;
	foreach(lc, family_of(rule->relid))
	{
		Oid			relid = lfirst_oid(lc);
		ListCell   *lc2;

		foreach(lc2, sandbox_column_foreign_keys(relid, rule->column_name))
		{
			Form_pg_constraint con = (Form_pg_constraint) GETSTRUCT((HeapTuple) lfirst(lc2));

			if (con->conrelid == relid)
				result = list_append_unique_oid(result, con->confrelid);
		}
	}
	return result;
}

/*
 * applying_rules
 *		The enabled mask and set rules of a column whose runs apply one of
 *		the environments named (each environment itself, and those that
 *		inherit from it), read as the catalog's owner.
 */
static List *
applying_rules(List *environments)
{
	Datum	   *elems = palloc(sizeof(Datum) * (list_length(environments) + 1));
	Datum		args[1];
	ListCell   *lc;

	foreach(lc, environments)
		elems[foreach_current_index(lc)] = CStringGetTextDatum(lfirst(lc));
	args[0] = PointerGetDatum(construct_array(elems, list_length(environments),
											  TEXTOID, -1, false, TYPALIGN_INT));
	catalog_query(QUERY_APPLYING_RULES, args);
	return rule_rows(false);
}

/*
 * rules_around
 *		The rules whose relations change when environments get new parents:
 *		those that apply in them (theirs and their descendants', see
 *		applying_rules) and those of their new chains of parents, each once.
 *		A rule of the first kind and one of the second are related now.
 */
static List *
rules_around(List *environments)
{
	List	   *rules = applying_rules(environments);
	ListCell   *lc;

	foreach(lc, environments)
	{
		ListCell   *lc2;

		/* no rule has id 0: every rule of the chain */
		foreach(lc2, chain_rule_rows(0, lfirst(lc)))
		{
			RuleRow    *row = lfirst(lc2);
			bool		seen = false;
			ListCell   *lc3;

			if (row->rule.action != ACTION_MASK && row->rule.action != ACTION_SET)
				continue;
			foreach(lc3, rules)
				seen |= (((RuleRow *) lfirst(lc3))->rule.id == row->rule.id);
			if (!seen)
				rules = lappend(rules, row);
		}
	}
	return rules;
}

/*
 * recheck_rule
 *		Check a rule as if it were written now: its foreign keys, and when
 *		the chain of environments around it changed (chain_changed), the
 *		checks between the rules of that chain too: its partitions and
 *		parents, and whether a related rule reads the column it writes.
 *		The refusal begins "rule <id>:" as when the rule itself is
 *		written, keeps the check's message and detail, and takes hint
 *		instead of the check's own when the statement that fails wrote
 *		another row (a rule removed, an environment's parent changed).
 */
static void
recheck_rule(SandboxRule *rule, bool chain_changed, const char *hint)
{
	MemoryContext cxt = CurrentMemoryContext;

	if (!OidIsValid(rule->relid))
		return;
	PG_TRY();
	{
		if (chain_changed)
		{
			AttrNumber	attnum = get_attnum(rule->relid, rule->column_name);

			check_no_overlapping_rule(rule);
			if (attnum != InvalidAttrNumber)
				check_column_not_read(rule, attnum);
		}
		sandbox_check_rule_keys(rule, chain_rules);
	}
	PG_CATCH();
	{
		sandbox_rethrow_for_rule(cxt, rule->id, hint);
	}
	PG_END_TRY();
}

/*
 * removal_hint_for
 *		The hint of removal_hint, naming the removed rule.
 */
static char *
removal_hint_for(const SandboxRule *key, const RuleRow *culprit)
{
	return psprintf("This statement deletes, disables or moves rule %lld (environment \"%s\"), which %ss column %s of %s, the referencing side: delete or disable rule %lld (column %s of %s) in the same statement or before it, or keep rule %lld.",
					(long long) culprit->rule.id, culprit->rule.environment,
					sandbox_action_name(culprit->rule.action),
					quote_identifier(culprit->rule.column_name),
					quote_qualified_identifier(culprit->rule.table_schema, culprit->rule.table_name),
					(long long) key->id, quote_identifier(key->column_name),
					quote_qualified_identifier(key->table_schema, key->table_name),
					(long long) culprit->rule.id);
}

/*
 * removal_hint
 *		The hint of the refusal of a key rule left without the rule that
 *		masked the referencing side: the removed rule whose column a
 *		foreign key to the key rule's table (or a relation of its family)
 *		holds, or the first removed rule of a key.
 */
static char *
removal_hint(const SandboxRule *key, List *removed)
{
	List	   *family = family_of(key->relid);
	RuleRow    *culprit = NULL;
	ListCell   *lc;
	ListCell   *lc2;

	foreach(lc, removed)
	{
		RuleRow    *row = lfirst(lc);

		if (row->referenced == NIL)
			continue;
		if (culprit == NULL)
			culprit = row;
		foreach(lc2, row->referenced)
		{
			if (list_member_oid(family, lfirst_oid(lc2)))
				return removal_hint_for(key, row);
		}
	}
	return culprit ? removal_hint_for(key, culprit) : NULL;
}

/*
 * check_rule_statement
 *		For a statement on sandbox.rule: each rule it makes an enabled mask
 *		or set rule (inserted, enabled, moved to another environment,
 *		table or column) is checked as a key rule; and when it removes such
 *		a rule (deleted, disabled, moved) whose column holds a foreign key,
 *		every enabled rule of the environments that applied it (its own and
 *		those inheriting from it) is checked again, with the statement's
 *		rows all in place.
 */
static void
check_rule_statement(List *old_rows, List *new_rows)
{
	List	   *removed = NIL;
	List	   *environments = NIL;
	ListCell   *lc;

	foreach(lc, new_rows)
	{
		RuleRow    *row = lfirst(lc);

		if (key_relevant(row) && !row_kept(row, old_rows))
			recheck_rule(&row->rule, false, NULL);
	}

	foreach(lc, old_rows)
	{
		RuleRow    *row = lfirst(lc);

		if (!key_relevant(row) || row_kept(row, new_rows))
			continue;
		row->referenced = referenced_tables(&row->rule);
		if (row->referenced == NIL)
			continue;
		removed = lappend(removed, row);
		environments = lappend(environments, row->rule.environment);
	}
	if (removed == NIL)
		return;

	foreach(lc, applying_rules(environments))
	{
		RuleRow    *key = lfirst(lc);

		if (!OidIsValid(key->rule.relid))
			continue;
		recheck_rule(&key->rule, false, removal_hint(&key->rule, removed));
	}
}

/*
 * check_environment_statement
 *		For an UPDATE of sandbox.environment: when an environment's parent
 *		changed (or its name, with its parent), the rules its runs apply
 *		are no longer the same.  Every enabled mask or set rule of the
 *		environment, of those inheriting from it and of its new parents
 *		(rules_around) is checked again, as if written now: its foreign
 *		keys, its partitions and parents, and whether a rule now related
 *		reads the column it writes (check_column_not_read: of two related
 *		rules, one reading a column the other writes, the writer is among
 *		these, whichever side of the new link each is on).
 */
static void
check_environment_statement(void)
{
	List	   *changed = NIL;
	List	   *old_pairs;
	ListCell   *lc;

	if (SPI_execute("SELECT name, inherits FROM old_environments", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read transition table old_environments");
	old_pairs = NIL;
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		char	   *inherits = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);

		old_pairs = lappend(old_pairs, psprintf("%s/%s", name, inherits ? inherits : ""));
	}
	SPI_freetuptable(SPI_tuptable);
	if (SPI_execute("SELECT name, inherits FROM new_environments", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read transition table new_environments");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		char	   *inherits = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		char	   *pair = psprintf("%s/%s", name, inherits ? inherits : "");
		bool		found = false;

		foreach(lc, old_pairs)
			found |= (strcmp(lfirst(lc), pair) == 0);
		if (!found)
			changed = lappend(changed, name);
	}
	SPI_freetuptable(SPI_tuptable);
	if (changed == NIL)
		return;

	foreach(lc, rules_around(changed))
	{
		RuleRow    *rule = lfirst(lc);

		recheck_rule(&rule->rule, true,
					 psprintf("This statement changes the environments that environment \"%s\" inherits from, and rule %lld (column %s of %s) would no longer be accepted: change or disable that rule first, or keep the environment's parent.",
							  rule->rule.environment, (long long) rule->rule.id,
							  quote_identifier(rule->rule.column_name),
							  quote_qualified_identifier(rule->rule.table_schema, rule->rule.table_name)));
	}
}

/*
 * sandbox_check_rule_keys_trigger
 *		AFTER ... FOR EACH STATEMENT trigger, with transition tables, on
 *		sandbox.rule (INSERT, UPDATE, DELETE: old_rules, new_rules) and on
 *		sandbox.environment (UPDATE: old_environments, new_environments):
 *		refuse a statement after which a masked key that a foreign key
 *		references has no rule masking the referencing side in its
 *		environment's chain, with the refusal the planning of a run gives
 *		(sandbox_check_rule_keys, engine.c).
 *
 * Why at the end of the statement, and not in the BEFORE ROW trigger
 * that validates each rule: the check is about two rows, and one
 * statement may write, delete or disable both in any order (DELETE ...
 * WHERE environment = 'x'; an INSERT ... SELECT of a profile; the
 * ON UPDATE CASCADE of an environment renamed).  Row by row, the first
 * row would be judged against the other's old state.  At the end of the
 * statement every row is in place, the check runs once per statement
 * (not once per row), and the refusal comes from the statement that
 * breaks the key, with the rule that it concerns.  Not deferred to
 * COMMIT (a DEFERRABLE INITIALLY DEFERRED constraint trigger): an error
 * at COMMIT names no statement, and the engine, which reads the rules
 * inside the same transaction, would see the broken state meanwhile.
 * Two statements must therefore come in order: the key rule deleted or
 * disabled first, then the rule of the referencing column; the
 * referencing rule written first, then the key rule.
 *
 * Skipped while the extension's own scripts run (CREATE or ALTER
 * EXTENSION): they may move rules between environments in any order,
 * and DROP EXTENSION removes the tables without any trigger firing.  A
 * rule left unmatched is then refused by the planning of a run.
 */
Datum
sandbox_check_rule_keys_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	bool		on_rules;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event))
		elog(ERROR, "sandbox_check_rule_keys_trigger: not fired as an AFTER statement trigger");
	if (creating_extension)
		return PointerGetDatum(NULL);
	on_rules = (strcmp(RelationGetRelationName(trigdata->tg_relation), "rule") == 0);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_register_trigger_data(trigdata) != SPI_OK_TD_REGISTER)
		elog(ERROR, "could not register the transition tables");
	if (on_rules)
		check_rule_statement(trigdata->tg_oldtable ? transition_rules("old_rules") : NIL,
							 trigdata->tg_newtable ? transition_rules("new_rules") : NIL);
	else if (trigdata->tg_oldtable && trigdata->tg_newtable)
		check_environment_statement();
	SPI_finish();
	return PointerGetDatum(NULL);
}

/* ---- The entry point ---- */

/*
 * sandbox_check_rule
 *		The checks above, for a rule catalog.c has analysed: expr and
 *		filter are its analysed expression and filter (either may be
 *		NULL), attnum the column it writes (or InvalidAttrNumber).  Sets
 *		rule->recogniser_args.  Called with the rule search_path set and
 *		connected to SPI; an error is reported as one of the rule's.
 */
void
sandbox_check_rule(SandboxRule *rule, Relation rel, int attnum,
				   Node *expr, Node *filter)
{
	ProcConstContext proc_cxt = {rule};
	Bitmapset  *reads = NULL;
	bool		writes = (rule->action == ACTION_MASK || rule->action == ACTION_SET);

	check_deterministic(rule, filter, "filter");
	if (filter != NULL)
		proc_constant_walker(filter, &proc_cxt);
	if (expr == NULL)
		return;

	proc_constant_walker(expr, &proc_cxt);
	if (OidIsValid(rule->recogniser))
		rule->recogniser_args = recogniser_arguments(rule, expr);
	else
		check_deterministic(rule, expr, "expression");

	if (writes && attnum > 0)
	{
		Form_pg_attribute attr = TupleDescAttr(RelationGetDescr(rel), attnum - 1);

		check_output_length(rule, rel, attr->atttypid, attr->atttypmod, expr);
	}

	pull_varattnos(expr, 1, &reads);
	if (capture_reads != NULL)
	{
		*capture_reads = reads;
		return;
	}
	if (!writes || attnum <= 0)
		return;

	if (!OidIsValid(rule->recogniser))
		check_reads_no_written_column(rule, rel,
									  bms_del_member(bms_copy(reads),
													 attnum - FirstLowInvalidHeapAttributeNumber));
	check_column_not_read(rule, attnum);
}

/* ---- DROP EXTENSION ---- */

/*
 * drops_sandbox
 *		Whether a statement is a DROP EXTENSION naming penelope_sandbox.
 *		(DROP SCHEMA sandbox is refused by the server: the extension
 *		needs it.)
 */
static bool
drops_sandbox(Node *parsetree)
{
	DropStmt   *drop;
	ListCell   *lc;

	if (parsetree == NULL || !IsA(parsetree, DropStmt))
		return false;
	drop = (DropStmt *) parsetree;
	if (drop->removeType != OBJECT_EXTENSION)
		return false;
	foreach(lc, drop->objects)
	{
		if (strcmp(strVal(lfirst(lc)), "penelope_sandbox") == 0)
			return true;
	}
	return false;
}

/*
 * sandbox_warn_drop
 *		Event trigger on ddl_command_start for DROP EXTENSION: before
 *		penelope_sandbox goes, say how many rules and runs go with it and
 *		how to keep them.  Silent when there are none.
 */
Datum
sandbox_warn_drop(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	int64		rules;
	int64		runs;
	bool		isnull;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		elog(ERROR, "sandbox_warn_drop: not fired by an event trigger");
	trigdata = (EventTriggerData *) fcinfo->context;
	if (!drops_sandbox(trigdata->parsetree))
		PG_RETURN_VOID();

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	catalog_query(QUERY_COUNTS, NULL);
	rules = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	runs = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	SPI_finish();
	if (rules == 0 && runs == 0)
		PG_RETURN_VOID();

	ereport(WARNING,
			(errmsg("dropping penelope_sandbox destroys its %lld rules and the ledger of %lld runs",
					(long long) rules, (long long) runs),
			 errdetail("The rule catalog, feature policies, saved restorable values and the run ledger live in schema \"%s\" and go with the extension.",
					   SANDBOX_SCHEMA),
			 errhint("To keep them, first run: pg_dump --data-only --table='%s.*' --file=sandbox.sql %s, and restore that file after CREATE EXTENSION.",
					 SANDBOX_SCHEMA, quote_identifier(get_database_name(MyDatabaseId)))));
	PG_RETURN_VOID();
}
