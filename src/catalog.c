/*-------------------------------------------------------------------------
 *
 * catalog.c
 *		Reading and validating the rule catalog.
 *
 * A rule is SQL text written by a DBA: an expression assigned to a column
 * and a filter choosing rows.  Before any of it runs it is parsed here,
 * exactly once per use, against the table it targets and under a fixed
 * search_path, and checked structurally:
 *
 *	- the text is one scalar expression, nothing else (no second
 *	  statement, no FROM, no trailing clause smuggled past a parenthesis);
 *	- it is assignable to the column's type, or boolean for a filter;
 *	- it reaches only trusted functions and types: owned by a superuser
 *	  or by the table's owner.  Rules run with the rights of the table
 *	  owner (see engine.c), so code owned by anybody else could be used to
 *	  act as that owner: that is how PostgreSQL Anonymizer's masking rules
 *	  were turned into privilege escalations.
 *
 * Analysing rule text already runs code (type input functions, domain
 * constraints), so it is analysed as the table's owner inside a
 * security-restricted operation, never as the caller.  The engine never
 * runs the text as written: it runs the analysed tree, deparsed, with
 * the run token passed to the keyed maskers (sandbox_rule_expression_sql).
 *
 * The same validation runs in the trigger on sandbox.rule (when a rule is
 * written) and in the engine (when it runs, since tables change).  Errors
 * name the rule id and what is wrong; they never contain row values.
 *
 * Copyright (c) 2026, penelope_sandbox developers
 *
 * IDENTIFICATION
 *	  src/catalog.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/genam.h"
#include "access/relation.h"
#include "access/table.h"
#include "catalog/catalog.h"
#include "catalog/namespace.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_language.h"
#include "catalog/pg_range.h"
#include "catalog/pg_class.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_coerce.h"
#include "parser/parse_collate.h"
#include "parser/parse_expr.h"
#include "parser/parse_relation.h"
#include "parser/parse_type.h"
#include "parser/parser.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/ruleutils.h"
#include "utils/syscache.h"

#include "penelope_sandbox.h"

PG_FUNCTION_INFO_V1(sandbox_validate_rule_trigger);

static const char *const action_names[] = {
	[ACTION_MASK] = "mask",
	[ACTION_SET] = "set",
	[ACTION_DELETE] = "delete",
	[ACTION_TRUNCATE] = "truncate",
};

/* ---- Small helpers ---- */

/*
 * sandbox_action_name
 *		The catalog spelling of an action.
 */
const char *
sandbox_action_name(RuleAction action)
{
	return action_names[action];
}

/*
 * parse_action
 *		Map the catalog spelling of an action to the enum.
 */
static RuleAction
parse_action(int64 rule_id, const char *action)
{
	for (int i = 0; i < (int) lengthof(action_names); i++)
	{
		if (strcmp(action, action_names[i]) == 0)
			return (RuleAction) i;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("rule %lld has an unknown action \"%s\"",
					(long long) rule_id, action),
			 errhint("The action is one of mask, set, delete and truncate.")));
	pg_unreachable();
}

/*
 * rule_text_column
 *		A text column of a sandbox.rule row, by name, or NULL.
 */
static char *
rule_text_column(HeapTuple tuple, TupleDesc tupdesc, const char *name)
{
	int			attnum = SPI_fnumber(tupdesc, name);

	if (attnum <= 0)
		elog(ERROR, "sandbox.rule has no column \"%s\"", name);
	return SPI_getvalue(tuple, tupdesc, attnum);
}

/*
 * rule_from_tuple
 *		Fill in a rule from a row of sandbox.rule, or of a query returning
 *		its columns under their own names: the one decoder of a rule, for
 *		sandbox_load_rules() and the trigger on sandbox.rule.  Strings are
 *		palloc'd in the current memory context; the fields that
 *		sandbox_validate_rule() fills in are left alone.
 */
static void
rule_from_tuple(SandboxRule *rule, HeapTuple tuple, TupleDesc tupdesc)
{
	bool		isnull;

	rule->id = DatumGetInt64(SPI_getbinval(tuple, tupdesc,
										   SPI_fnumber(tupdesc, "id"), &isnull));
	rule->environment = rule_text_column(tuple, tupdesc, "environment");
	rule->feature = rule_text_column(tuple, tupdesc, "feature");
	rule->table_schema = rule_text_column(tuple, tupdesc, "table_schema");
	rule->table_name = rule_text_column(tuple, tupdesc, "table_name");
	rule->column_name = rule_text_column(tuple, tupdesc, "column_name");
	rule->action = parse_action(rule->id, rule_text_column(tuple, tupdesc, "action"));
	rule->expression = rule_text_column(tuple, tupdesc, "expression");
	rule->filter = rule_text_column(tuple, tupdesc, "filter");
	rule->restorable = DatumGetBool(SPI_getbinval(tuple, tupdesc,
												  SPI_fnumber(tupdesc, "restorable"), &isnull));
}

/*
 * rule_relation_name
 *		The rule's target as a quoted, schema-qualified name for messages.
 */
static char *
rule_relation_name(const SandboxRule *rule)
{
	return quote_qualified_identifier(rule->table_schema, rule->table_name);
}

/* ---- Loading the rules of an environment ---- */

/*
 * sandbox_load_rules
 *		Every enabled rule of an environment and of the environments it
 *		inherits from, nearest first, then by id.
 *
 * The caller must be connected to SPI.  The rules are not validated here;
 * see sandbox_validate_rule().
 */
List *
sandbox_load_rules(const char *environment)
{
	static const char *chain_sql =
		"SELECT pg_catalog.count(*), pg_catalog.bool_or(cycle) FROM sandbox.environment_chain($1)";
	static const char *rules_sql =
		"SELECT r.id, r.environment, r.feature, r.table_schema,"
		"       r.table_name, r.column_name, r.action, r.expression, r.filter,"
		"       r.restorable"
		"  FROM sandbox.rule r JOIN sandbox.environment_chain($1) c ON c.name OPERATOR(pg_catalog.=) r.environment"
		" WHERE r.enabled"
		" ORDER BY c.depth, r.id";
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	bool		isnull;
	List	   *rules = NIL;
	MemoryContext callercxt = CurrentMemoryContext;

	args[0] = CStringGetTextDatum(environment);

	if (SPI_execute_with_args(chain_sql, 1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read sandbox.environment");
	if (DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("environment \"%s\" does not exist", environment),
				 errhint("The environments are listed in table sandbox.environment.")));
	if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)) && !isnull)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_RECURSION),
				 errmsg("environment \"%s\" inherits from itself", environment),
				 errdetail("The chain of sandbox.environment.inherits forms a cycle.")));

	if (SPI_execute_with_args(rules_sql, 1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read sandbox.rule");

	for (uint64 i = 0; i < SPI_processed; i++)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(callercxt);
		SandboxRule *rule = palloc0(sizeof(SandboxRule));

		rule_from_tuple(rule, SPI_tuptable->vals[i], SPI_tuptable->tupdesc);
		rules = lappend(rules, rule);
		MemoryContextSwitchTo(oldcxt);
	}
	SPI_freetuptable(SPI_tuptable);

	return rules;
}

/*
 * sandbox_environment_disables_outbound
 *		Whether sanitizing as this environment closes PostgreSQL's own
 *		outbound channels (see outbound.c).  The caller must be connected
 *		to SPI; the environment exists.
 */
bool
sandbox_environment_disables_outbound(const char *environment)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(environment)};
	bool		isnull;
	bool		result;

	if (SPI_execute_with_args("SELECT disable_outbound FROM sandbox.environment WHERE name OPERATOR(pg_catalog.=) $1",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not read sandbox.environment");
	result = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	return result;
}

/* ---- Parsing rule SQL ---- */

/*
 * What a rule may reach.  Rule text is analysed as the table's owner
 * inside a security-restricted operation (see analyse_rule_sql), because
 * analysis already runs code: coercing a literal to an array or a
 * composite of a domain calls the domain's input function, which checks
 * the domain's constraints, and a type modifier calls the type's typmod
 * input function.  On top of that, everything the text reaches must be
 * trusted, that is owned by a superuser or by the table's owner, so that
 * no third role's code ever acts with the owner's rights:
 *
 *	- every function, including those of operators and casts;
 *	- every type, with its input and typmod input functions; for a
 *	  domain its constraints' expressions and base type, for an array
 *	  its element type, for a composite its attributes' types, for a
 *	  range its subtype and canonical function.
 *
 * Types named in the text (casts) and the types of the columns it names
 * are checked before anything is analysed; the analysed tree is then
 * checked as a whole.
 */
typedef struct TrustContext
{
	const SandboxRule *rule;
	Oid			table_owner;
	List	   *types_seen;		/* OIDs of types already checked */
} TrustContext;

/*
 * role_trusted
 *		A superuser, or the table's owner.
 */
static bool
role_trusted(const TrustContext *trust, Oid role)
{
	return role == trust->table_owner || superuser_arg(role);
}

/*
 * check_function_trusted
 *		check_functions_in_node() callback: raise an error unless the
 *		function is owned by a superuser or by the table's owner.
 */
static bool
check_function_trusted(Oid funcid, void *context)
{
	TrustContext *trust = (TrustContext *) context;
	HeapTuple	proctup;
	Oid			owner;

	proctup = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	if (!HeapTupleIsValid(proctup))
		elog(ERROR, "cache lookup failed for function %u", funcid);
	owner = ((Form_pg_proc) GETSTRUCT(proctup))->proowner;
	ReleaseSysCache(proctup);

	if (!role_trusted(trust, owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("function %s is not trusted",
						format_procedure_qualified(funcid)),
				 errdetail("Rules run with the rights of the owner of the table they change; a function owned by another role could act with those rights."),
				 errhint("Use functions owned by a superuser or by the owner of table %s.",
						 rule_relation_name(trust->rule))));
	return false;
}

static void check_type_trusted(TrustContext *trust, Oid typid);
static bool trusted_walker(Node *node, void *context);

/*
 * check_domain_constraints_trusted
 *		Every function a domain's constraints call must be trusted.
 */
static void
check_domain_constraints_trusted(TrustContext *trust, Oid typid)
{
	Relation	conrel = table_open(ConstraintRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;

	ScanKeyInit(&key, Anum_pg_constraint_contypid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(typid));
	scan = systable_beginscan(conrel, ConstraintTypidIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		conbin = heap_getattr(tuple, Anum_pg_constraint_conbin,
										  RelationGetDescr(conrel), &isnull);

		if (!isnull)
		{
			Node	   *expr = stringToNode(TextDatumGetCString(conbin));

			(void) trusted_walker(expr, trust);
		}
	}
	systable_endscan(scan);
	table_close(conrel, AccessShareLock);
}

/*
 * check_type_trusted
 *		Raise an error unless a type, and everything its input path can
 *		run, is trusted.
 */
static void
check_type_trusted(TrustContext *trust, Oid typid)
{
	HeapTuple	typtup;
	Form_pg_type typ;

	if (!OidIsValid(typid) || list_member_oid(trust->types_seen, typid))
		return;
	trust->types_seen = lappend_oid(trust->types_seen, typid);
	check_stack_depth();

	typtup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));
	if (!HeapTupleIsValid(typtup))
		elog(ERROR, "cache lookup failed for type %u", typid);
	typ = (Form_pg_type) GETSTRUCT(typtup);

	if (!role_trusted(trust, typ->typowner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("type %s is not trusted", format_type_be_qualified(typid)),
				 errdetail("Reading a value of a type can run code of the type's owner, with the rights of the owner of the table the rule changes."),
				 errhint("Use types owned by a superuser or by the owner of table %s.",
						 rule_relation_name(trust->rule))));
	if (OidIsValid(typ->typinput))
		check_function_trusted(typ->typinput, trust);
	if (OidIsValid(typ->typmodin))
		check_function_trusted(typ->typmodin, trust);

	if (typ->typtype == TYPTYPE_DOMAIN)
	{
		check_domain_constraints_trusted(trust, typid);
		check_type_trusted(trust, typ->typbasetype);
	}
	else if (OidIsValid(typ->typelem) && IsTrueArrayType(typ))
		check_type_trusted(trust, typ->typelem);
	else if (typ->typtype == TYPTYPE_COMPOSITE && OidIsValid(typ->typrelid))
	{
		Relation	rel = relation_open(typ->typrelid, AccessShareLock);
		TupleDesc	desc = RelationGetDescr(rel);

		for (int i = 0; i < desc->natts; i++)
		{
			if (!TupleDescAttr(desc, i)->attisdropped)
				check_type_trusted(trust, TupleDescAttr(desc, i)->atttypid);
		}
		relation_close(rel, AccessShareLock);
	}
	else if (typ->typtype == TYPTYPE_RANGE || typ->typtype == TYPTYPE_MULTIRANGE)
	{
		Oid			rangeid = typ->typtype == TYPTYPE_RANGE ? typid : get_multirange_range(typid);
		HeapTuple	rngtup = SearchSysCache1(RANGETYPE, ObjectIdGetDatum(rangeid));

		if (HeapTupleIsValid(rngtup))
		{
			Form_pg_range rng = (Form_pg_range) GETSTRUCT(rngtup);
			Oid			subtype = rng->rngsubtype;
			Oid			canonical = rng->rngcanonical;

			ReleaseSysCache(rngtup);
			if (OidIsValid(canonical))
				check_function_trusted(canonical, trust);
			check_type_trusted(trust, rangeid);
			check_type_trusted(trust, subtype);
		}
	}
	ReleaseSysCache(typtup);
}

/*
 * trusted_walker
 *		Check every function an expression calls and every type its
 *		values have, subqueries included.
 */
static bool
trusted_walker(Node *node, void *context)
{
	TrustContext *trust = (TrustContext *) context;

	if (node == NULL)
		return false;
	check_functions_in_node(node, check_function_trusted, context);
	switch (nodeTag(node))
	{
		case T_Const:
		case T_Var:
		case T_Param:
		case T_CoerceToDomain:
		case T_CoerceViaIO:
		case T_ArrayCoerceExpr:
		case T_RelabelType:
		case T_ArrayExpr:
		case T_RowExpr:
		case T_FuncExpr:
		case T_OpExpr:
			check_type_trusted(trust, exprType(node));
			break;
		default:
			break;
	}
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, trusted_walker, context, 0);
	return expression_tree_walker(node, trusted_walker, context);
}

/* What check_raw_types collects from raw rule text */
typedef struct RawNames
{
	List	   *type_names;		/* TypeName * */
	List	   *relations;		/* RangeVar * */
	List	   *columns;		/* last field of each ColumnRef, String */
} RawNames;

/*
 * raw_names_walker
 *		Collect the type names, relations and columns raw rule text names.
 */
static bool
raw_names_walker(Node *node, void *context)
{
	RawNames   *names = (RawNames *) context;

	if (node == NULL)
		return false;
	if (IsA(node, TypeCast))
		names->type_names = lappend(names->type_names, ((TypeCast *) node)->typeName);
	else if (IsA(node, RangeVar))
		names->relations = lappend(names->relations, node);
	else if (IsA(node, ColumnRef))
	{
		Node	   *last = llast(((ColumnRef *) node)->fields);

		if (IsA(last, String))
			names->columns = lappend(names->columns, last);
	}
	return raw_expression_tree_walker(node, raw_names_walker, context);
}

/*
 * check_relation_types_trusted
 *		The types of a relation's columns (only those named, when names
 *		is not NIL) must be trusted: literals compared with them are
 *		coerced to them while the rule is analysed.
 */
static void
check_relation_types_trusted(TrustContext *trust, Oid relid, List *names)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(desc, i);

		if (attr->attisdropped)
			continue;
		if (names != NIL && !list_member(names, makeString(NameStr(attr->attname))))
			continue;
		check_type_trusted(trust, attr->atttypid);
	}
	relation_close(rel, AccessShareLock);
}

/*
 * check_raw_types
 *		Before anything of a rule's text is analysed: the types it names,
 *		those of the target's columns it names, and those of the columns
 *		of every other relation it reads must be trusted.
 */
static void
check_raw_types(TrustContext *trust, Node *raw, Relation rel)
{
	RawNames	names = {0};
	ListCell   *lc;

	(void) raw_names_walker(raw, &names);
	foreach(lc, names.type_names)
	{
		Type		type = LookupTypeName(NULL, lfirst(lc), NULL, true);

		if (type != NULL)
		{
			Oid			typid = typeTypeId(type);

			ReleaseSysCache(type);
			check_type_trusted(trust, typid);
		}
	}
	check_relation_types_trusted(trust, RelationGetRelid(rel), names.columns);
	foreach(lc, names.relations)
	{
		Oid			relid = RangeVarGetRelid(lfirst(lc), NoLock, true);

		if (OidIsValid(relid))
			check_relation_types_trusted(trust, relid, NIL);
	}
}

/*
 * raw_rule_expression
 *		Parse rule SQL as exactly one scalar expression.
 *
 * The text is wrapped as "SELECT (<text>)"; anything but a single target
 * with no other clause means the text tried to be more than an
 * expression, and is rejected.  The engine embeds the text wrapped the
 * same way, see sandbox_wrap_sql().
 */
static Node *
raw_rule_expression(const SandboxRule *rule, const char *what, const char *sql)
{
	List	   *parsetree;
	SelectStmt *select;
	ResTarget  *target;

	parsetree = raw_parser(psprintf("SELECT %s", sandbox_wrap_sql(sql)), RAW_PARSE_DEFAULT);

	if (list_length(parsetree) == 1 &&
		IsA(((RawStmt *) linitial(parsetree))->stmt, SelectStmt))
	{
		select = (SelectStmt *) ((RawStmt *) linitial(parsetree))->stmt;
		if (select->op == SETOP_NONE &&
			list_length(select->targetList) == 1 &&
			select->distinctClause == NIL &&
			select->intoClause == NULL &&
			select->fromClause == NIL &&
			select->whereClause == NULL &&
			select->groupClause == NIL &&
			select->havingClause == NULL &&
			select->windowClause == NIL &&
			select->valuesLists == NIL &&
			select->sortClause == NIL &&
			select->limitOffset == NULL &&
			select->limitCount == NULL &&
			select->lockingClause == NIL &&
			select->withClause == NULL)
		{
			target = (ResTarget *) linitial(select->targetList);
			if (target->name == NULL && target->indirection == NIL)
				return target->val;
		}
	}

	ereport(ERROR,
			(errcode(ERRCODE_SYNTAX_ERROR),
			 errmsg("%s is not a single expression",
					what),
			 errdetail("A rule's %s must be one SQL expression, with no other clause or statement.",
					   what)));
	pg_unreachable();
}

/*
 * sandbox_wrap_sql
 *		Parenthesise rule SQL the way it was validated.
 */
char *
sandbox_wrap_sql(const char *sql)
{
	return psprintf("(%s)", sql);
}

/*
 * sandbox_keyed_masker_variant
 *		For one of the extension's keyed maskers, sandbox.mask_x(args), the
 *		variant sandbox.mask_x(args, bytea) taking the run token: the same C
 *		function, declared with one more argument, owned by a superuser.
 *		InvalidOid for any other function.  The composite maskers (on
 *		arrays, jsonb paths, contacts in free text) have such variants too,
 *		and pass the token on to the maskers they call.
 */
Oid
sandbox_keyed_masker_variant(Oid funcid)
{
	HeapTuple	proctup = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	Form_pg_proc proc;
	Oid			nspid = get_namespace_oid(SANDBOX_SCHEMA, true);
	Oid			variant = InvalidOid;

	if (!HeapTupleIsValid(proctup))
		elog(ERROR, "cache lookup failed for function %u", funcid);
	proc = (Form_pg_proc) GETSTRUCT(proctup);
	if (proc->pronamespace == nspid && proc->pronargs < FUNC_MAX_ARGS &&
		proc->prolang == ClanguageId)
	{
		Oid			argtypes[FUNC_MAX_ARGS];
		HeapTuple	varianttup;

		memcpy(argtypes, proc->proargtypes.values, proc->pronargs * sizeof(Oid));
		argtypes[proc->pronargs] = BYTEAOID;
		varianttup = SearchSysCache3(PROCNAMEARGSNSP,
									 NameGetDatum(&proc->proname),
									 PointerGetDatum(buildoidvector(argtypes, proc->pronargs + 1)),
									 ObjectIdGetDatum(nspid));
		if (HeapTupleIsValid(varianttup))
		{
			Form_pg_proc vproc = (Form_pg_proc) GETSTRUCT(varianttup);
			bool		isnull;
			char	   *src = TextDatumGetCString(SysCacheGetAttr(PROCOID, proctup,
																  Anum_pg_proc_prosrc, &isnull));
			char	   *vsrc = TextDatumGetCString(SysCacheGetAttr(PROCOID, varianttup,
																   Anum_pg_proc_prosrc, &isnull));

			if (vproc->prolang == ClanguageId && strcmp(src, vsrc) == 0 &&
				superuser_arg(vproc->proowner))
				variant = vproc->oid;
			ReleaseSysCache(varianttup);
		}
	}
	ReleaseSysCache(proctup);
	return variant;
}

/*
 * add_run_token_mutator
 *		Rewrite every call of a keyed masker into its variant taking the
 *		run token, parameter $SANDBOX_RUN_TOKEN_PARAM.
 */
static Node *
add_run_token_mutator(Node *node, void *context)
{
	if (node == NULL)
		return NULL;
	if (IsA(node, FuncExpr))
	{
		FuncExpr   *call = (FuncExpr *) expression_tree_mutator(node, add_run_token_mutator,
																context);
		Oid			variant = sandbox_keyed_masker_variant(call->funcid);

		if (OidIsValid(variant))
		{
			Param	   *token = makeNode(Param);

			token->paramkind = PARAM_EXTERN;
			token->paramid = SANDBOX_RUN_TOKEN_PARAM;
			token->paramtype = BYTEAOID;
			token->paramtypmod = -1;
			token->paramcollid = InvalidOid;
			token->location = -1;
			call->funcid = variant;
			call->args = lappend(list_copy(call->args), token);
		}
		return (Node *) call;
	}
	if (IsA(node, Query))
		return (Node *) query_tree_mutator((Query *) node, add_run_token_mutator, context, 0);
	return expression_tree_mutator(node, add_run_token_mutator, context);
}

/*
 * rule_sql_from_tree
 *		The SQL the engine runs for an analysed expression: deparsed under
 *		the rule search_path, so that every object outside pg_catalog is
 *		schema-qualified and the text means exactly what was analysed and
 *		checked, with the run token passed to every keyed masker.
 */
static char *
rule_sql_from_tree(Node *expr, Relation rel)
{
	Node	   *tokenised = add_run_token_mutator(expr, NULL);

	return deparse_expression(tokenised,
							  deparse_context_for(RelationGetRelationName(rel),
												  RelationGetRelid(rel)),
							  false, false);
}

/*
 * analyse_rule_sql
 *		Parse, analyse and coerce rule text.  Runs as the table's owner
 *		in an owner context (see the comment above TrustContext).
 */
static Node *
analyse_rule_sql(SandboxRule *rule, Relation rel, Node *raw, bool is_filter,
				 Oid coltype, int32 coltypmod, TrustContext *trust)
{
	const char *what = is_filter ? "filter" : "expression";
	ParseState *pstate;
	ParseNamespaceItem *nsitem;
	Node	   *expr;

	pstate = make_parsestate(NULL);
	pstate->p_sourcetext = is_filter ? rule->filter : rule->expression;
	nsitem = addRangeTableEntryForRelation(pstate, rel, AccessShareLock,
										   NULL, false, true);
	addNSItemToQuery(pstate, nsitem, false, true, true);

	expr = transformExpr(pstate, raw,
						 is_filter ? EXPR_KIND_WHERE : EXPR_KIND_UPDATE_SOURCE);
	if (is_filter)
		expr = coerce_to_boolean(pstate, expr, "the filter of a rule");
	else
	{
		Oid			exprtype = exprType(expr);
		Node	   *coerced;

		coerced = coerce_to_target_type(pstate, expr, exprtype,
										coltype, coltypmod,
										COERCION_ASSIGNMENT,
										COERCE_IMPLICIT_CAST, -1);
		if (coerced == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("expression is of type %s, but column \"%s\" is of type %s",
							format_type_be(exprtype), rule->column_name,
							format_type_be(coltype)),
					 errhint("Rewrite or cast the expression.")));
		expr = coerced;
	}
	assign_expr_collations(pstate, expr);

	if (expression_returns_set(expr))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s returns a set", what),
				 errdetail("A rule's %s must give one value per row.", what)));

	if (pstate->p_hasSubLinks)
		rule->has_sublink = true;

	trusted_walker(expr, trust);
	if (is_filter)
		rule->filter_sql = rule_sql_from_tree(expr, rel);
	else
		rule->expression_sql = rule_sql_from_tree(expr, rel);

	free_parsestate(pstate);
	return expr;
}

/*
 * transform_rule_sql
 *		Parse and analyse an expression (is_filter = false) or a filter
 *		(is_filter = true) of a rule against its table.
 *
 * An expression is coerced to the column's type by assignment rules, a
 * filter to boolean.  Sets rule->has_sublink when a subquery appears,
 * and rule->expression_sql or rule->filter_sql.
 *
 * Nothing the text reaches runs as the caller: the types it names are
 * checked first (catalog look-ups only), then it is analysed as the
 * table's owner in a security-restricted operation, and everything the
 * analysed tree reaches is checked.
 */
static Node *
transform_rule_sql(SandboxRule *rule, Relation rel, bool is_filter,
				   Oid coltype, int32 coltypmod)
{
	const char *what = is_filter ? "filter" : "expression";
	Node	   *raw;
	Node	   *expr;
	TrustContext trust = {0};
	SandboxOwnerContext context;

	raw = raw_rule_expression(rule, what, is_filter ? rule->filter : rule->expression);

	trust.rule = rule;
	trust.table_owner = rule->relowner;
	check_raw_types(&trust, raw, rel);
	if (!is_filter)
		check_type_trusted(&trust, coltype);

	sandbox_owner_context_enter(rule->relowner, &context);
	PG_TRY();
	{
		expr = analyse_rule_sql(rule, rel, raw, is_filter, coltype, coltypmod, &trust);
	}
	PG_CATCH();
	{
		sandbox_owner_context_abort(&context);
		PG_RE_THROW();
	}
	PG_END_TRY();
	sandbox_owner_context_leave(&context);
	return expr;
}

/*
 * sandbox_rule_expression_sql
 *		See penelope_sandbox.h.
 */
char *
sandbox_rule_expression_sql(const SandboxRule *rule, bool is_filter)
{
	const char *sql = is_filter ? rule->filter_sql : rule->expression_sql;

	if (sql == NULL)
	{
		if ((is_filter ? rule->filter : rule->expression) == NULL)
			return NULL;
		elog(ERROR, "rule %lld has not been validated", (long long) rule->id);
	}
	return psprintf("(%s)", sql);
}

/*
 * lookup_recogniser
 *		For a mask expression that is a call of a registered masking
 *		function, the function recognising its output; else InvalidOid.
 */
static Oid
lookup_recogniser(Node *expr)
{
	expr = strip_implicit_coercions(expr);
	if (!IsA(expr, FuncExpr))
		return InvalidOid;
	return sandbox_registered_recogniser(((FuncExpr *) expr)->funcid);
}

/* ---- Validation ---- */

/*
 * require_field
 *		Complain when a field an action needs is missing, or one it does
 *		not take is present.
 */
static void
require_field(const SandboxRule *rule, const char *field, const char *value,
			  bool wanted)
{
	if (wanted && value == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("%s is required for a %s rule",
						field, sandbox_action_name(rule->action))));
	if (!wanted && value != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be null for a %s rule",
						field, sandbox_action_name(rule->action))));
}

/*
 * validate_rule_body
 *		The checks of sandbox_validate_rule, run with the rule search_path.
 */
static void
validate_rule_body(SandboxRule *rule)
{
	Oid			nspid;
	Relation	rel;
	AttrNumber	attnum = InvalidAttrNumber;
	Oid			coltype = InvalidOid;
	int32		coltypmod = -1;
	Node	   *expr = NULL;
	Node	   *filter = NULL;

	/* Which fields each action takes */
	switch (rule->action)
	{
		case ACTION_MASK:
		case ACTION_SET:
			require_field(rule, "column_name", rule->column_name, true);
			require_field(rule, "expression", rule->expression, true);
			break;
		case ACTION_DELETE:
			require_field(rule, "expression", rule->expression, false);
			break;
		case ACTION_TRUNCATE:
			require_field(rule, "expression", rule->expression, false);
			require_field(rule, "filter", rule->filter, false);
			break;
	}

	/* The table: an ordinary or partitioned table outside system schemas */
	nspid = get_namespace_oid(rule->table_schema, true);
	if (OidIsValid(nspid) &&
		(IsCatalogNamespace(nspid) || IsToastNamespace(nspid) ||
		 strcmp(rule->table_schema, "information_schema") == 0 ||
		 strcmp(rule->table_schema, SANDBOX_SCHEMA) == 0))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("tables in schema \"%s\" cannot be sanitized",
						rule->table_schema)));
	rule->relid = OidIsValid(nspid) ? get_relname_relid(rule->table_name, nspid) : InvalidOid;
	if (!OidIsValid(rule->relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table %s does not exist",
						rule_relation_name(rule)),
				 errhint("A rule already written can be disabled (UPDATE sandbox.rule SET enabled = false WHERE id = %lld) or deleted; a disabled rule is validated again only when it is enabled.",
						 (long long) rule->id)));

	rel = relation_open(rule->relid, AccessShareLock);
	if (rel->rd_rel->relkind != RELKIND_RELATION &&
		rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("%s is not a table",
						rule_relation_name(rule))));
	rule->relowner = rel->rd_rel->relowner;

	/* The column */
	if (rule->column_name != NULL)
	{
		Form_pg_attribute attr;

		attnum = get_attnum(rule->relid, rule->column_name);
		if (attnum <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of table %s does not exist",
							rule->column_name,
							rule_relation_name(rule)),
					 errhint("A rule already written can be disabled (UPDATE sandbox.rule SET enabled = false WHERE id = %lld) or deleted; a disabled rule is validated again only when it is enabled.",
							 (long long) rule->id)));
		attr = TupleDescAttr(RelationGetDescr(rel), attnum - 1);
		coltype = attr->atttypid;
		coltypmod = attr->atttypmod;
		if (attr->attgenerated || attr->attidentity == ATTRIBUTE_IDENTITY_ALWAYS)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
					 errmsg("column \"%s\" of table %s cannot be written",
							rule->column_name,
							rule_relation_name(rule)),
					 errdetail("It is a generated or an identity column.")));
		if ((rule->action == ACTION_DELETE || rule->action == ACTION_TRUNCATE) &&
			getBaseType(coltype) != OIDOID)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" of a %s rule must hold large object ids",
							rule->column_name,
							sandbox_action_name(rule->action)),
					 errdetail("For delete and truncate rules, column_name names an oid column whose large objects are removed with the rows.")));
	}

	/* A restorable rule saves old values by primary key, see feature.c */
	if (rule->restorable)
	{
		if (rule->action != ACTION_SET || rule->feature == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("only a set rule of a feature can be restorable")));
		if (!OidIsValid(RelationGetPrimaryKeyIndex(rel)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
					 errmsg("table %s has no primary key, so the values a restorable rule overwrites could not be put back",
							rule_relation_name(rule))));
	}

	/* The expression and the filter */
	if (rule->filter != NULL)
		filter = transform_rule_sql(rule, rel, true, InvalidOid, -1);
	if (rule->expression != NULL)
	{
		Bitmapset  *attnos = NULL;

		expr = transform_rule_sql(rule, rel, false, coltype, coltypmod);

		pull_varattnos(expr, 1, &attnos);
		rule->expr_uses_column =
			bms_is_member(attnum - FirstLowInvalidHeapAttributeNumber, attnos);
		rule->expr_reads_row = !bms_is_empty(attnos);

		if (rule->action == ACTION_MASK)
			rule->recogniser = lookup_recogniser(expr);

		/*
		 * sandbox_verify must be able to prove every rule's effect: a value
		 * computed from the old value can only be recognised by the
		 * recogniser of a registered masking function.
		 */
		if (rule->expr_uses_column && !OidIsValid(rule->recogniser))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the effect of this %s rule cannot be verified",
							sandbox_action_name(rule->action)),
					 errdetail("The expression reads the column it writes and is not a call of a registered masking function."),
					 errhint("Call a function listed in sandbox.masking_function, such as sandbox.mask_email(%s), or register your function with its recogniser there.",
							 quote_identifier(rule->column_name))));
	}

	/* What the rule would do when it runs, and other rules (rule_checks.c) */
	sandbox_check_rule(rule, rel, attnum, expr, filter);

	relation_close(rel, NoLock);
}

/*
 * sandbox_validate_rule
 *		Check that a rule can run, filling in what the engine needs.
 *
 * Raises an error that begins "rule <id>:" and says what is wrong, with
 * no cursor position (the position would point into the statement that
 * wrote the rule, not into the rule).  With check_writer, the current
 * user must also be able to act as the table's owner: nobody writes
 * rules for a table he could not change himself.  The rule SQL is parsed
 * under SANDBOX_RULE_SEARCH_PATH, as it is when it runs.  The caller
 * must be connected to SPI.
 */
void
sandbox_validate_rule(SandboxRule *rule, bool check_writer)
{
	MemoryContext cxt = CurrentMemoryContext;
	int			save_nestlevel = NewGUCNestLevel();

	(void) set_config_option("search_path", SANDBOX_RULE_SEARCH_PATH,
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	PG_TRY();
	{
		validate_rule_body(rule);
		if (check_writer && !has_privs_of_role(GetUserId(), rule->relowner))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to write rules for table %s",
							rule_relation_name(rule)),
					 errdetail("Only a superuser or a member of the table's owner role may write rules for it.")));
		/* what involves other tables and rules: only for a rule written */
		if (check_writer)
			sandbox_check_rule_written(rule);
	}
	PG_CATCH();
	{
		sandbox_rethrow_for_rule(cxt, rule->id, NULL);
	}
	PG_END_TRY();
	AtEOXact_GUC(false, save_nestlevel);
}

/*
 * sandbox_rethrow_for_rule
 *		See penelope_sandbox.h: in a PG_CATCH block, raise the error being
 *		handled again with the rule's id before its message, so that the
 *		DBA knows which rule of a statement is refused; hint, unless NULL,
 *		replaces the error's own.  Errors above ERROR and cancels go on as
 *		they are.  cxt is the memory context the PG_TRY started in.
 */
void
sandbox_rethrow_for_rule(MemoryContext cxt, int64 rule_id, const char *hint)
{
	ErrorData  *edata;

	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	if (edata->elevel > ERROR ||
		ERRCODE_TO_CATEGORY(edata->sqlerrcode) == ERRCODE_OPERATOR_INTERVENTION)
		PG_RE_THROW();
	FlushErrorState();
	if (hint == NULL)
		hint = edata->hint;
	ereport(ERROR,
			(errcode(edata->sqlerrcode),
			 errmsg("rule %lld: %s", (long long) rule_id, edata->message),
			 edata->detail ? errdetail_internal("%s", edata->detail) : 0,
			 hint ? errhint("%s", hint) : 0));
	pg_unreachable();
}

/* ---- The trigger on sandbox.rule ---- */

/*
 * sandbox_validate_rule_trigger
 *		BEFORE INSERT OR UPDATE trigger on sandbox.rule: reject a rule
 *		that could not run, and a rule on a table its author could not
 *		change himself.
 */
Datum
sandbox_validate_rule_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	HeapTuple	tuple;
	TupleDesc	tupdesc;
	SandboxRule rule = {0};

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		elog(ERROR, "sandbox_validate_rule_trigger: not fired as a BEFORE INSERT OR UPDATE row trigger");

	tuple = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ?
		trigdata->tg_newtuple : trigdata->tg_trigtuple;
	tupdesc = trigdata->tg_relation->rd_att;

	rule_from_tuple(&rule, tuple, tupdesc);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	sandbox_validate_rule(&rule, true);
	SPI_finish();

	return PointerGetDatum(tuple);
}
