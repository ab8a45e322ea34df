/*-------------------------------------------------------------------------
 *
 * mask_json.c
 *		Masking parts of a value: paths inside a jsonb document, and the
 *		elements of an array.
 *
 * sandbox.mask_jsonb(doc, path, masker) applies a registered masker of
 * text to what lies at a path of a document, and leaves the rest as it
 * is; sandbox.is_masked_jsonb(doc, path, masker) applies that masker's
 * recogniser to the same places.  A rule
 *
 *		mask payload := sandbox.mask_jsonb(payload, '{contacts,*,email}',
 *										   'sandbox.mask_email(text)')
 *
 * is verified like any other mask: the pair is registered in
 * sandbox.masking_function, and sandbox_verify passes the path and the
 * masker on to the recogniser (see rule_checks.c).
 *
 * A path is a text[] as for jsonb_set: object keys, and array indexes
 * (from 0; negative ones count from the end).  "*" stands for every
 * member of an object or every element of an array.  Whatever the path
 * reaches is masked whole: a string is masked, a number is masked as its
 * text and stays a number when the masked text is one (else it becomes a
 * string), true, false and null stay; in an object or an array every
 * string and number inside is masked.  A path that leads nowhere changes
 * nothing.
 *
 * The masker is given by its signature and must be registered in
 * sandbox.masking_function, take and return text, and be executable by
 * the current user: mask_jsonb never calls a function the caller could
 * not call himself, nor one the DBA did not register.
 *
 * The array maskers are overloads of the scalar ones on arrays, such as
 * sandbox.mask_email(text[]): each masks every non-null element (of any
 * number of dimensions) with the scalar function of the same name, and
 * sandbox.is_masked_email(text[]) holds when every non-null element is
 * recognised.  NULL elements stay NULL.
 *
 * No error here shows a value being masked.
 *
 * Copyright (c) 2026, penelope_sandbox developers
 *
 * IDENTIFICATION
 *	  src/mask_json.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "parser/parse_func.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/regproc.h"
#include "utils/syscache.h"

#include "penelope_sandbox.h"

PG_FUNCTION_INFO_V1(sandbox_mask_jsonb);
PG_FUNCTION_INFO_V1(sandbox_is_masked_jsonb);
PG_FUNCTION_INFO_V1(sandbox_mask_elements);
PG_FUNCTION_INFO_V1(sandbox_is_masked_elements);

/* ---- jsonb ---- */

/* What a call of mask_jsonb or is_masked_jsonb keeps between rows */
typedef struct JsonMasker
{
	Oid			masker;			/* the masker the cache was made for */
	FmgrInfo	apply;			/* the masker, or its recogniser */
	bool		token;			/* apply is the masker's run-token variant */
} JsonMasker;

/* One walk over a document */
typedef struct JsonWalk
{
	char	  **path;			/* NUL-terminated path steps */
	int			npath;
	FmgrInfo   *apply;
	Oid			collation;
	bool		recognise;		/* check instead of mask */
	bool		all_recognised; /* recognise: so far, every value passed */
	Datum		token;			/* the run token passed on, or 0 */
} JsonWalk;

/*
 * json_masker
 *		The masker named by a call (or, to recognise, its recogniser),
 *		looked up once per call site.
 */
static FmgrInfo *
json_masker(FunctionCallInfo fcinfo, Oid masker, bool recognise, bool token)
{
	JsonMasker *cache = (JsonMasker *) fcinfo->flinfo->fn_extra;
	Oid			recogniser;
	Oid			target;
	HeapTuple	proctup;
	Form_pg_proc proc;
	bool		text_to_text;

	if (cache != NULL && cache->masker == masker && cache->token == token)
		return &cache->apply;

	recogniser = sandbox_registered_recogniser(masker);
	proctup = SearchSysCache1(PROCOID, ObjectIdGetDatum(masker));
	text_to_text = false;
	if (HeapTupleIsValid(proctup))
	{
		proc = (Form_pg_proc) GETSTRUCT(proctup);
		text_to_text = (proc->pronargs == 1 && proc->proargtypes.values[0] == TEXTOID &&
						proc->prorettype == TEXTOID && !proc->proretset);
		ReleaseSysCache(proctup);
	}
	if (!OidIsValid(recogniser) || !text_to_text)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("function %s is not a registered masker of text",
						format_procedure_qualified(masker)),
				 errhint("Name one of the maskers in sandbox.masking_function that take and return text, such as 'sandbox.mask_email(text)'.")));

	target = recognise ? recogniser : masker;
	if (token && !recognise)
	{
		/* called with the run token: pass it on to the masker's variant */
		target = sandbox_keyed_masker_variant(masker);
		if (!OidIsValid(target))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("function %s is not one of the extension's keyed maskers",
							format_procedure_qualified(masker)),
					 errdetail("During a sanitization, mask_jsonb applies only the maskers of schema %s.",
							   SANDBOX_SCHEMA)));
	}
	if (pg_proc_aclcheck(target, GetUserId(), ACL_EXECUTE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for function %s",
						format_procedure_qualified(target))));

	if (cache == NULL)
		cache = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(JsonMasker));
	fmgr_info_cxt(target, &cache->apply, fcinfo->flinfo->fn_mcxt);
	cache->masker = masker;
	cache->token = token;
	fcinfo->flinfo->fn_extra = cache;
	return &cache->apply;
}

/*
 * is_json_number
 *		Whether a string is a JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?
 *		([eE][+-]?[0-9]+)?
 */
static bool
is_json_number(const char *s)
{
	if (*s == '-')
		s++;
	if (*s == '0')
		s++;
	else if (*s >= '1' && *s <= '9')
		while (*s >= '0' && *s <= '9')
			s++;
	else
		return false;
	if (*s == '.')
	{
		s++;
		if (!(*s >= '0' && *s <= '9'))
			return false;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	if (*s == 'e' || *s == 'E')
	{
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (!(*s >= '0' && *s <= '9'))
			return false;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return *s == '\0';
}

/*
 * mask_scalar
 *		Mask (or recognise) one scalar in place.  Strings and numbers are
 *		masked; true, false and null stay.
 */
static void
mask_scalar(JsonWalk *walk, JsonbValue *v)
{
	text	   *in;
	Datum		out;

	if (v->type == jbvString)
		in = cstring_to_text_with_len(v->val.string.val, v->val.string.len);
	else if (v->type == jbvNumeric)
		in = cstring_to_text(DatumGetCString(DirectFunctionCall1(numeric_out,
																 NumericGetDatum(v->val.numeric))));
	else
		return;

	if (walk->token != (Datum) 0)
		out = FunctionCall2Coll(walk->apply, walk->collation, PointerGetDatum(in), walk->token);
	else
		out = FunctionCall1Coll(walk->apply, walk->collation, PointerGetDatum(in));
	if (walk->recognise)
	{
		if (!DatumGetBool(out))
			walk->all_recognised = false;
		return;
	}
	else
	{
		char	   *masked = text_to_cstring(DatumGetTextPP(out));

		if (v->type == jbvNumeric && is_json_number(masked))
			v->val.numeric = DatumGetNumeric(DirectFunctionCall3(numeric_in,
																 CStringGetDatum(masked),
																 ObjectIdGetDatum(InvalidOid),
																 Int32GetDatum(-1)));
		else
		{
			v->type = jbvString;
			v->val.string.val = masked;
			v->val.string.len = strlen(masked);
		}
	}
}

/*
 * step_matches_index
 *		Whether a path step names element index of an array of n.
 */
static bool
step_matches_index(const char *step, int index, int n)
{
	char	   *end;
	long		want;

	if (strcmp(step, "*") == 0)
		return true;
	errno = 0;
	want = strtol(step, &end, 10);
	if (errno != 0 || end == step || *end != '\0')
		return false;
	if (want < 0)
		want += n;
	return want == index;
}

/*
 * walk_container
 *		Copy a container into *state (state NULL: only recognise), masking
 *		what the path from level on reaches.  Returns the value the
 *		container's end gives (the document, at level 0).
 */
static JsonbValue *
walk_container(JsonWalk *walk, JsonbContainer *container, int level,
			   JsonbParseState **state)
{
	JsonbIterator *it = JsonbIteratorInit(container);
	JsonbIteratorToken tok;
	JsonbValue	v;
	JsonbValue *result = NULL;
	bool		everything = (level >= walk->npath);
	const char *step = everything ? NULL : walk->path[level];
	bool		matched = false;
	bool		raw_scalar = false;
	int			nelems = 0;
	int			index = 0;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		switch (tok)
		{
			case WJB_BEGIN_ARRAY:
				raw_scalar = v.val.array.rawScalar;
				nelems = v.val.array.nElems;
				if (state)
					result = pushJsonbValue(state, tok, &v);
				break;
			case WJB_BEGIN_OBJECT:
			case WJB_END_ARRAY:
			case WJB_END_OBJECT:
				if (state)
					result = pushJsonbValue(state, tok, NULL);
				break;
			case WJB_KEY:
				matched = everything || strcmp(step, "*") == 0 ||
					(strlen(step) == (size_t) v.val.string.len &&
					 memcmp(step, v.val.string.val, v.val.string.len) == 0);
				if (state)
					result = pushJsonbValue(state, tok, &v);
				break;
			case WJB_ELEM:
				/* a document that is one scalar is masked only whole */
				matched = raw_scalar ? everything :
					(everything || step_matches_index(step, index, nelems));
				index++;
				/* FALLTHROUGH */
			case WJB_VALUE:
				if (matched && v.type == jbvBinary)
				{
					/* the path goes on inside, or masks all of it */
					walk_container(walk, v.val.binary.data, level + 1, state);
					break;
				}
				if (matched && level + 1 >= walk->npath)
					mask_scalar(walk, &v);
				if (state)
					result = pushJsonbValue(state, tok, &v);
				break;
			case WJB_DONE:
				break;
		}
	}
	return result;
}

/*
 * json_walk_start
 *		Set up a walk from the arguments (doc, path, masker).
 */
static void
json_walk_start(FunctionCallInfo fcinfo, JsonWalk *walk, bool recognise)
{
	ArrayType  *path = PG_GETARG_ARRAYTYPE_P(1);
	Datum	   *steps;
	bool	   *nulls;
	int			n;

	if (ARR_NDIM(path) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("wrong number of array subscripts"),
				 errdetail("A path is a one-dimensional text array.")));
	deconstruct_array(path, TEXTOID, -1, false, TYPALIGN_INT, &steps, &nulls, &n);
	walk->path = palloc(sizeof(char *) * (n + 1));
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("path element at position %d is null", i + 1)));
		walk->path[i] = TextDatumGetCString(steps[i]);
	}
	walk->npath = n;
	walk->recognise = recognise;
	walk->all_recognised = true;
	walk->collation = DEFAULT_COLLATION_OID;
	walk->token = (PG_NARGS() == 4) ? PG_GETARG_DATUM(3) : (Datum) 0;
	walk->apply = json_masker(fcinfo, PG_GETARG_OID(2), recognise, walk->token != (Datum) 0);
}

/*
 * sandbox.mask_jsonb(doc jsonb, path text[], masker regprocedure)
 *		returns jsonb
 *		The document with what lies at the path masked by the masker.
 */
Datum
sandbox_mask_jsonb(PG_FUNCTION_ARGS)
{
	Jsonb	   *doc = PG_GETARG_JSONB_P(0);
	JsonWalk	walk;
	JsonbParseState *state = NULL;
	JsonbValue *result;

	json_walk_start(fcinfo, &walk, false);
	result = walk_container(&walk, &doc->root, 0, &state);
	PG_RETURN_JSONB_P(JsonbValueToJsonb(result));
}

/*
 * sandbox.is_masked_jsonb(doc jsonb, path text[], masker regprocedure)
 *		returns boolean
 *		Whether the masker's recogniser accepts every string and number
 *		at the path (true when the path leads nowhere).
 */
Datum
sandbox_is_masked_jsonb(PG_FUNCTION_ARGS)
{
	Jsonb	   *doc = PG_GETARG_JSONB_P(0);
	JsonWalk	walk;

	json_walk_start(fcinfo, &walk, true);
	walk_container(&walk, &doc->root, 0, NULL);
	PG_RETURN_BOOL(walk.all_recognised);
}

/* ---- Arrays ---- */

/* What an array masker keeps between rows */
typedef struct ElementMasker
{
	FmgrInfo	scalar;
	Oid			elemtype;
	int16		elemlen;
	bool		elembyval;
	char		elemalign;
	Oid			resulttype;		/* masking: the scalar's result type */
	bool		with_token;		/* pass the run token on, as argument 2 */
	int16		reslen;
	bool		resbyval;
	char		resalign;
} ElementMasker;

/*
 * element_masker
 *		The scalar function of the same name and schema as the called
 *		array function, applied to its element type.
 */
static ElementMasker *
element_masker(FunctionCallInfo fcinfo)
{
	ElementMasker *em = (ElementMasker *) fcinfo->flinfo->fn_extra;
	Oid			self = fcinfo->flinfo->fn_oid;
	HeapTuple	proctup;
	Form_pg_proc proc;
	Oid			arraytype;
	Oid			scalar;
	List	   *name;

	if (em != NULL)
		return em;

	proctup = SearchSysCache1(PROCOID, ObjectIdGetDatum(self));
	if (!HeapTupleIsValid(proctup))
		elog(ERROR, "cache lookup failed for function %u", self);
	proc = (Form_pg_proc) GETSTRUCT(proctup);
	arraytype = proc->pronargs >= 1 ? proc->proargtypes.values[0] : InvalidOid;
	name = list_make2(makeString(get_namespace_name(proc->pronamespace)),
					  makeString(pstrdup(NameStr(proc->proname))));
	ReleaseSysCache(proctup);

	em = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(ElementMasker));
	em->elemtype = get_element_type(arraytype);
	if (!OidIsValid(em->elemtype))
		elog(ERROR, "function %u does not take an array", self);
	/* called with the run token (see masking.c): its scalar variant too */
	em->with_token = (PG_NARGS() == 2);
	{
		Oid			scalar_args[2] = {em->elemtype, BYTEAOID};

		scalar = LookupFuncName(name, em->with_token ? 2 : 1, scalar_args, false);
	}
	if (pg_proc_aclcheck(scalar, GetUserId(), ACL_EXECUTE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for function %s",
						format_procedure_qualified(scalar))));
	fmgr_info_cxt(scalar, &em->scalar, fcinfo->flinfo->fn_mcxt);
	get_typlenbyvalalign(em->elemtype, &em->elemlen, &em->elembyval, &em->elemalign);
	em->resulttype = get_func_rettype(scalar);
	get_typlenbyvalalign(em->resulttype, &em->reslen, &em->resbyval, &em->resalign);
	fcinfo->flinfo->fn_extra = em;
	return em;
}

/*
 * sandbox.mask_<x>(anyarray of the scalar's type) returns the same array
 *		Every non-null element masked by the scalar sandbox.mask_<x>;
 *		dimensions and bounds are kept.
 */
Datum
sandbox_mask_elements(PG_FUNCTION_ARGS)
{
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(0);
	ElementMasker *em = element_masker(fcinfo);
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	if (em->resulttype != em->elemtype)
		elog(ERROR, "masker %u does not return its argument's type", em->scalar.fn_oid);
	deconstruct_array(arr, em->elemtype, em->elemlen, em->elembyval, em->elemalign,
					  &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			continue;
		if (em->with_token)
			elems[i] = FunctionCall2Coll(&em->scalar, PG_GET_COLLATION(), elems[i],
										 PG_GETARG_DATUM(1));
		else
			elems[i] = FunctionCall1Coll(&em->scalar, PG_GET_COLLATION(), elems[i]);
	}
	PG_RETURN_ARRAYTYPE_P(construct_md_array(elems, nulls, ARR_NDIM(arr), ARR_DIMS(arr),
											 ARR_LBOUND(arr), em->elemtype, em->elemlen,
											 em->elembyval, em->elemalign));
}

/*
 * sandbox.is_masked_<x>(array) returns boolean
 *		Whether the scalar recogniser accepts every non-null element.
 */
Datum
sandbox_is_masked_elements(PG_FUNCTION_ARGS)
{
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(0);
	ElementMasker *em = element_masker(fcinfo);
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	if (em->resulttype != BOOLOID)
		elog(ERROR, "recogniser %u does not return boolean", em->scalar.fn_oid);
	deconstruct_array(arr, em->elemtype, em->elemlen, em->elembyval, em->elemalign,
					  &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		if (!nulls[i] &&
			!DatumGetBool(FunctionCall1Coll(&em->scalar, PG_GET_COLLATION(), elems[i])))
			PG_RETURN_BOOL(false);
	}
	PG_RETURN_BOOL(true);
}
