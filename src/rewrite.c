/*-------------------------------------------------------------------------
 *
 * rewrite.c
 *		The engine's own table rewrite, and what goes with it.
 *
 * A table with mask, set or delete rules is rewritten, not updated:
 *
 *	1. make_new_heap() creates an empty heap like the table's, with its
 *	   own TOAST table;
 *	2. one executor pass, a SELECT run through SPI as the table owner
 *	   (see sandbox_run_as_owner_into() in engine.c), computes the new
 *	   rows: every rule of the table as a projection, filters as CASE,
 *	   delete filters as a qual, subqueries allowed.  Its first column is
 *	   the ctid of the row it comes from;
 *	3. a DestReceiver takes each row, recomputes the stored generated
 *	   columns, checks NOT NULL, CHECK and the partition constraint,
 *	   applies the recognisers of the run's verification to the values
 *	   it writes (RewriteCheck), and hands it to CLUSTER's rewrite
 *	   machinery (rewrite_heap_tuple()) with the header of the row it
 *	   replaces, so that each row keeps its visibility: a snapshot older than the run (a pg_dump waiting for
 *	   the lock) sees the masked rows, never an empty table;
 *	4. finish_heap_swap() swaps the new files in, as CLUSTER and VACUUM
 *	   FULL do: the table keeps its OID, grants, constraints, dependent
 *	   views, triggers, policies and comments; its indexes are rebuilt
 *	   from the new rows (unique and exclusion constraints are checked
 *	   there); the old heap, TOAST table and indexes are unlinked at
 *	   commit.
 *
 * Values written out of line are read back and written into the new TOAST
 * table, so no original value stays behind in the old one, and no row
 * version of the old heap survives.  No user trigger fires: a rewrite
 * inserts nothing and updates nothing.
 *
 * A small table (see REWRITE_IN_PLACE_MAX_BLOCKS) is rewritten in place
 * instead: steps 1 and 4 cost a few milliseconds whatever the size (a
 * transient relation with its catalog rows, TOAST table, TOAST index and
 * files, made, swapped and dropped), most of a small table's rewrite.
 * Steps 2 and 3 are the same, but the receiver keeps the new rows in
 * memory (each with the header of the row it replaces, its out-of-line
 * values read back); then the table itself gets new, empty files, as
 * TRUNCATE gives it (RelationSetNewRelfilenode), and so does its TOAST
 * table when it has blocks (an empty one holds no value); the rows are
 * written into them by the same CLUSTER machinery, keeping their
 * visibility, and the indexes are rebuilt (reindex_relation, checking
 * unique and exclusion constraints).  The old files are unlinked at
 * commit, as in step 4.  See rewrite_in_place().
 *
 * Also here: forgetting the statistics of changed
 * columns, suspending FORCE ROW LEVEL SECURITY and user triggers for the
 * length of a run, locking with penelope_sandbox.lock_wait_timeout, and
 * counting the dead row versions of a table (sandbox_verify's residue
 * check).
 *
 * Copyright (c) 2026, penelope_sandbox developers
 *
 * IDENTIFICATION
 *	  src/rewrite.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/heaptoast.h"
#include "access/htup_details.h"
#include "access/rewriteheap.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/multixact.h"
#include "access/xact.h"
#include "catalog/catalog.h"
#include "catalog/heap.h"
#include "catalog/index.h"
#include "catalog/indexing.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_statistic_ext.h"
#include "catalog/pg_trigger.h"
#include "commands/cluster.h"
#include "commands/defrem.h"
#include "commands/tablecmds.h"
#include "commands/trigger.h"
#include "commands/vacuum.h"
#include "executor/executor.h"
#include "executor/nodeModifyTable.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "parser/parse_coerce.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "storage/procarray.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "penelope_sandbox.h"

/* penelope_sandbox.lock_wait_timeout, in milliseconds; 0: lock_timeout */
int			sandbox_lock_wait_timeout = 60000;

/*
 * The largest table rewritten in place: its heap and TOAST blocks together
 * (128 blocks, 1 MB).  Its rows are held in memory until they are written:
 * about the table's size (out-of-line values are read back still
 * compressed) and some 150 bytes a row of bookkeeping, so 2 to 7 MB at
 * most (the more rows a block holds, the more), far under
 * maintenance_work_mem's default (64 MB), which CLUSTER may use for the
 * same rewrite.  What the in-place rewrite saves is a fixed cost, a few
 * milliseconds a table; in a table of 1 MB, reading, checking and writing
 * the rows cost more than that, so a larger one gains little, and keeps
 * the transient relation, which holds nothing in memory.
 */
#define REWRITE_IN_PLACE_MAX_BLOCKS 128

/*
 * A row kept for the in-place rewrite: the new row (no out-of-line value)
 * and the header of the row it replaces (its visibility, SizeofHeapTupleHeader
 * bytes), with that row's ctid.
 */
typedef struct KeptRow
{
	HeapTupleHeader old_header;
	ItemPointerData old_tid;
	HeapTuple	new_tuple;
} KeptRow;

/* ---- The receiver writing the new heap ---- */

typedef struct RewriteReceiver
{
	DestReceiver pub;
	Relation	old_rel;
	RewriteState rwstate;		/* into the transient heap, or NULL: */
	List	   *kept;			/* in place: KeptRow *, in keptcxt */
	MemoryContext keptcxt;
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot *slot;		/* a row of the table, to check and write */
	AttrNumber *attnums;		/* result column i + 2 -> attnum */
	FmgrInfo   *typmod_fn;		/* per attnum - 1: length coercion, or NULL */
	int			natts;			/* result columns after the ctid */
	bool		has_generated;
	bool		check;			/* the table has constraints to check */
	MemoryContext rowcxt;
	int64		rows;
	Buffer		old_buffer;		/* pinned: the block of the last row replaced */
	int			nchecks;
	RewriteCheck **checks;		/* recognisers of the values written */
	FmgrInfo   *check_fn;
} RewriteReceiver;

static void
rewrite_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	RewriteReceiver *r = (RewriteReceiver *) self;

	if (typeinfo->natts != r->natts + 1)
		elog(ERROR, "rewrite query returned %d columns, expected %d",
			 typeinfo->natts, r->natts + 1);
}

/*
 * rewrite_receive
 *		Write one new row in place of the row its ctid names.
 */
static bool
rewrite_receive(TupleTableSlot *result, DestReceiver *self)
{
	RewriteReceiver *r = (RewriteReceiver *) self;
	TupleTableSlot *slot = r->slot;
	TupleDesc	tupdesc = RelationGetDescr(r->old_rel);
	MemoryContext oldcxt;
	HeapTupleData old_tuple;
	HeapTuple	new_tuple;
	Page		page;
	OffsetNumber offnum;
	ItemId		itemid;
	ItemPointer tid;
	bool		isnull;

	CHECK_FOR_INTERRUPTS();
	oldcxt = MemoryContextSwitchTo(r->rowcxt);

	slot_getallattrs(result);
	tid = (ItemPointer) DatumGetPointer(slot_getattr(result, 1, &isnull));
	if (isnull)
		elog(ERROR, "rewrite query returned a row without ctid");

	ExecClearTuple(slot);
	for (int i = 0; i < tupdesc->natts; i++)
	{
		slot->tts_values[i] = (Datum) 0;
		slot->tts_isnull[i] = true;
	}
	for (int i = 0; i < r->natts; i++)
	{
		AttrNumber	attnum = r->attnums[i];
		Datum		value = result->tts_values[i + 1];
		bool		null = result->tts_isnull[i + 1];

		/* assignment semantics for varchar(n) and the like */
		if (!null && r->typmod_fn[attnum - 1].fn_oid != InvalidOid)
			value = FunctionCall3(&r->typmod_fn[attnum - 1], value,
								  Int32GetDatum(TupleDescAttr(tupdesc, attnum - 1)->atttypmod),
								  BoolGetDatum(false));
		slot->tts_values[attnum - 1] = value;
		slot->tts_isnull[attnum - 1] = null;
	}
	ExecStoreVirtualTuple(slot);

	if (r->has_generated)
		ExecComputeStoredGenerated(r->rri, r->estate, slot, CMD_INSERT);
	if (r->check)
		ExecConstraints(r->rri, slot, r->estate);
	if (r->old_rel->rd_rel->relispartition)
		ExecPartitionCheck(r->rri, slot, r->estate, true);

	/* the run's verification of mask rules, on the values as written */
	for (int i = 0; i < r->nchecks; i++)
	{
		AttrNumber	attnum = r->checks[i]->attnum;
		LOCAL_FCINFO(fcinfo, 1);
		Datum		recognised;

		if (slot->tts_isnull[attnum - 1])
			continue;
		/* as "NOT recogniser(value)" counts in SQL: a null result is no violation */
		InitFunctionCallInfoData(*fcinfo, &r->check_fn[i], 1,
								 TupleDescAttr(tupdesc, attnum - 1)->attcollation, NULL, NULL);
		fcinfo->args[0].value = slot->tts_values[attnum - 1];
		fcinfo->args[0].isnull = false;
		recognised = FunctionCallInvoke(fcinfo);
		if (!fcinfo->isnull && !DatumGetBool(recognised))
			r->checks[i]->violations++;
	}

	/*
	 * The header of the row replaced: its visibility carries over.  Rows
	 * come in block order, so the block's buffer stays pinned from one row
	 * to the next (the table is ours, ACCESS EXCLUSIVE: nothing else can
	 * change it meanwhile).
	 */
	if (!BufferIsValid(r->old_buffer) ||
		BufferGetBlockNumber(r->old_buffer) != ItemPointerGetBlockNumber(tid))
	{
		if (BufferIsValid(r->old_buffer))
			ReleaseBuffer(r->old_buffer);
		r->old_buffer = InvalidBuffer;
		r->old_buffer = ReadBuffer(r->old_rel, ItemPointerGetBlockNumber(tid));
	}
	LockBuffer(r->old_buffer, BUFFER_LOCK_SHARE);
	page = BufferGetPage(r->old_buffer);
	offnum = ItemPointerGetOffsetNumber(tid);
	itemid = (offnum >= FirstOffsetNumber && offnum <= PageGetMaxOffsetNumber(page)) ?
		PageGetItemId(page, offnum) : NULL;
	if (itemid == NULL || !ItemIdIsNormal(itemid))
		elog(ERROR, "could not fetch row (%u,%u) of relation \"%s\"",
			 ItemPointerGetBlockNumber(tid), offnum, RelationGetRelationName(r->old_rel));
	old_tuple.t_data = (HeapTupleHeader) PageGetItem(page, itemid);
	old_tuple.t_len = ItemIdGetLength(itemid);
	old_tuple.t_tableOid = RelationGetRelid(r->old_rel);
	old_tuple.t_self = *tid;
	LockBuffer(r->old_buffer, BUFFER_LOCK_UNLOCK);

	if (r->rwstate != NULL)
	{
		new_tuple = ExecCopySlotHeapTuple(slot);
		rewrite_heap_tuple(r->rwstate, &old_tuple, new_tuple);
	}
	else
	{
		/*
		 * In place: keep the row until the table has its new files.  Its
		 * out-of-line values are read back now, while the old TOAST table
		 * still holds them; rewrite_heap_tuple() reads nothing of the old
		 * row but its header.
		 */
		KeptRow    *kept;

		MemoryContextSwitchTo(r->keptcxt);
		kept = palloc(sizeof(KeptRow));
		kept->old_header = palloc(SizeofHeapTupleHeader);
		memcpy(kept->old_header, old_tuple.t_data, SizeofHeapTupleHeader);
		kept->old_tid = *tid;
		new_tuple = ExecCopySlotHeapTuple(slot);
		if (HeapTupleHasExternal(new_tuple))
		{
			HeapTuple	flat = toast_flatten_tuple(new_tuple, tupdesc);

			heap_freetuple(new_tuple);
			new_tuple = flat;
		}
		kept->new_tuple = new_tuple;
		r->kept = lappend(r->kept, kept);
	}

	r->rows++;
	MemoryContextSwitchTo(oldcxt);
	MemoryContextReset(r->rowcxt);
	ResetPerTupleExprContext(r->estate);
	return true;
}

static void
rewrite_shutdown(DestReceiver *self)
{
}

static void
rewrite_destroy(DestReceiver *self)
{
}

/*
 * sandbox_rewrite_select_sql
 *		The SELECT computing a relation's new rows: the ctid, then every
 *		column in attribute order, the new value where values gives one
 *		(a list of RewriteColumn), and only the rows keep_rows (SQL, or
 *		NULL for all) selects.
 *
 * A new value is cast to the column's type without its typmod; the
 * receiver applies the typmod with assignment semantics, so a value too
 * long for a varchar(n) is an error, as in an UPDATE, not truncated.
 * Stored generated columns are computed by the receiver.
 */
char *
sandbox_rewrite_select_sql(Oid relid, List *values, const char *keep_rows)
{
	Relation	rel = table_open(relid, AccessShareLock);
	TupleDesc	tupdesc = RelationGetDescr(rel);
	StringInfoData sql;

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ctid");
	for (int i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);
		const char *name = NameStr(att->attname);
		const char *value = NULL;
		ListCell   *lc;

		if (att->attisdropped)
			continue;
		if (att->attgenerated)
		{
			appendStringInfo(&sql, ", NULL::%s",
							 format_type_extended(att->atttypid, -1, FORMAT_TYPE_FORCE_QUALIFY));
			continue;
		}
		foreach(lc, values)
		{
			RewriteColumn *column = lfirst(lc);

			if (strcmp(column->name, name) == 0)
				value = column->value_sql;
		}
		if (value == NULL)
			appendStringInfo(&sql, ", %s", quote_identifier(name));
		else
			appendStringInfo(&sql, ", CAST(%s AS %s) AS %s", value,
							 format_type_extended(att->atttypid, -1, FORMAT_TYPE_FORCE_QUALIFY),
							 quote_identifier(name));
	}
	appendStringInfo(&sql, " FROM ONLY %s",
					 quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
												RelationGetRelationName(rel)));
	if (keep_rows != NULL)
		appendStringInfo(&sql, " WHERE %s", keep_rows);
	table_close(rel, NoLock);
	return sql.data;
}

/*
 * fits_in_place
 *		Whether a table is rewritten in place (see the head of this file):
 *		at most REWRITE_IN_PLACE_MAX_BLOCKS blocks of heap and TOAST, and
 *		not a table whose rewrite logical decoding must follow (a catalog,
 *		or a user_catalog_table under wal_level = logical), which CLUSTER's
 *		machinery maps from the old files to the new ones.
 */
static bool
fits_in_place(Relation rel)
{
	BlockNumber blocks;

	if (IsSystemRelation(rel) || RelationIsAccessibleInLogicalDecoding(rel))
		return false;
	blocks = RelationGetNumberOfBlocks(rel);
	if (OidIsValid(rel->rd_rel->reltoastrelid) && blocks <= REWRITE_IN_PLACE_MAX_BLOCKS)
	{
		Relation	toast = table_open(rel->rd_rel->reltoastrelid, AccessExclusiveLock);

		blocks += RelationGetNumberOfBlocks(toast);
		table_close(toast, NoLock);
	}
	return blocks <= REWRITE_IN_PLACE_MAX_BLOCKS;
}

/*
 * set_class_limits
 *		Set a relation's relfrozenxid and relminmxid in pg_class, and its
 *		relpages and reltuples when pages is not InvalidBlockNumber.
 */
static void
set_class_limits(Oid relid, TransactionId frozenxid, MultiXactId minmxid,
				 BlockNumber pages, double tuples)
{
	Relation	classrel = table_open(RelationRelationId, RowExclusiveLock);
	HeapTuple	tuple = SearchSysCacheCopy1(RELOID, ObjectIdGetDatum(relid));
	Form_pg_class form;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	form = (Form_pg_class) GETSTRUCT(tuple);
	form->relfrozenxid = frozenxid;
	form->relminmxid = minmxid;
	if (pages != InvalidBlockNumber)
	{
		form->relpages = (int32) pages;
		form->reltuples = tuples;
	}
	CatalogTupleUpdate(classrel, &tuple->t_self, tuple);
	heap_freetuple(tuple);
	table_close(classrel, RowExclusiveLock);
	CommandCounterIncrement();
}

/*
 * rewrite_in_place
 *		Write the rows kept by the receiver (KeptRow *) into new files of
 *		the table itself, then rebuild its indexes.  rel is open and
 *		locked ACCESS EXCLUSIVE; nothing of it is in use any more.  The
 *		limits are those of vacuum_set_xid_limits(), as for the transient
 *		heap.
 */
static void
rewrite_in_place(Relation rel, List *kept, TransactionId oldest_xmin,
				 TransactionId freeze_xid, MultiXactId cutoff_multi)
{
	Oid			relid = RelationGetRelid(rel);
	Oid			toastrelid = rel->rd_rel->reltoastrelid;
	TransactionId relfrozenxid = rel->rd_rel->relfrozenxid;
	MultiXactId relminmxid = rel->rd_rel->relminmxid;
	ReindexParams params = {0};
	RewriteState rwstate;
	ListCell   *lc;

	/*
	 * New, empty files for the heap; the old ones are unlinked at commit
	 * (at once on a rollback, the new ones).  The TOAST table too, unless
	 * it has no block (no value to hide, and none to keep): its index
	 * then starts empty too, before any value is written into it.
	 */
	RelationSetNewRelfilenode(rel, rel->rd_rel->relpersistence);
	if (OidIsValid(toastrelid))
	{
		Relation	toast = table_open(toastrelid, AccessExclusiveLock);

		if (RelationGetNumberOfBlocks(toast) > 0)
		{
			RelationSetNewRelfilenode(toast, toast->rd_rel->relpersistence);
			table_close(toast, NoLock);
			(void) reindex_relation(toastrelid, 0, &params);
		}
		else
			table_close(toast, NoLock);
	}

	/*
	 * RelationSetNewRelfilenode() advanced relfrozenxid to RecentXmin, as
	 * for an empty table; these rows keep their xmin, and
	 * rewrite_heap_tuple() freezes them against the table's limits: put
	 * the old ones back while they are written.
	 */
	set_class_limits(relid, relfrozenxid, relminmxid, InvalidBlockNumber, 0);

	rwstate = begin_heap_rewrite(rel, rel, oldest_xmin, freeze_xid, cutoff_multi);
	foreach(lc, kept)
	{
		KeptRow    *row = lfirst(lc);
		HeapTupleData old_tuple;

		CHECK_FOR_INTERRUPTS();
		old_tuple.t_data = row->old_header;
		old_tuple.t_len = SizeofHeapTupleHeader;
		old_tuple.t_tableOid = relid;
		old_tuple.t_self = row->old_tid;
		rewrite_heap_tuple(rwstate, &old_tuple, row->new_tuple);
	}
	end_heap_rewrite(rwstate);

	/* as finish_heap_swap(): the rows are frozen up to these limits */
	set_class_limits(relid, freeze_xid, cutoff_multi,
					 RelationGetNumberOfBlocks(rel), (double) list_length(kept));

	/* the indexes, from the new rows, checking unique and exclusion constraints */
	(void) reindex_relation(relid, REINDEX_REL_SUPPRESS_INDEX_USE | REINDEX_REL_CHECK_CONSTRAINTS,
							&params);
}

/*
 * sandbox_rewrite_relation
 *		Replace the rows of a plain table (partition or inheritance child
 *		included, its children excluded) with those select_sql returns
 *		(see sandbox_rewrite_select_sql), run as the table's owner with the
 *		given SPI parameters.  The caller holds ACCESS EXCLUSIVE on it.
 *		Each of checks (RewriteCheck *) has its recogniser called, as the
 *		owner, on every non-null value written into its column, and counts
 *		the values rejected.  Returns the number of rows written.
 *
 * A small table is rewritten in place, a larger one through a transient
 * heap (see the head of this file).
 */
int64
sandbox_rewrite_relation(Oid relid, Oid owner, const char *select_sql,
						 int nargs, Oid *argtypes, Datum *values, List *checks)
{
	Relation	old_rel;
	Relation	new_rel = NULL;
	Oid			new_relid = InvalidOid;
	TupleDesc	tupdesc;
	RewriteReceiver *r;
	TransactionId oldest_xmin;
	MultiXactId oldest_mxact;
	TransactionId freeze_xid;
	MultiXactId cutoff_multi;
	bool		is_catalog;
	bool		in_place;
	char		relpersistence;
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
	int64		rows;
	ListCell   *lc;

	old_rel = table_open(relid, AccessExclusiveLock);
	if (old_rel->rd_rel->relkind != RELKIND_RELATION &&
		old_rel->rd_rel->relkind != RELKIND_MATVIEW)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot rewrite \"%s\": it is not a table",
						RelationGetRelationName(old_rel))));
	if (old_rel->rd_rel->relam != HEAP_TABLE_AM_OID)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot rewrite \"%s\": its access method is not heap",
						RelationGetRelationName(old_rel))));
	CheckTableNotInUse(old_rel, "penelope_sandbox rewrite");
	is_catalog = IsSystemRelation(old_rel);
	relpersistence = old_rel->rd_rel->relpersistence;
	tupdesc = RelationGetDescr(old_rel);
	in_place = fits_in_place(old_rel);

	/*
	 * As CLUSTER does, everything from here runs as the table owner in a
	 * security-restricted operation: index expressions, generated columns
	 * and constraints included.
	 */
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(owner, save_sec_context | SECURITY_RESTRICTED_OPERATION);
	save_nestlevel = NewGUCNestLevel();

	if (!in_place)
	{
		new_relid = make_new_heap(relid, old_rel->rd_rel->reltablespace,
								  old_rel->rd_rel->relam, relpersistence,
								  AccessExclusiveLock);
		new_rel = table_open(new_relid, AccessExclusiveLock);
	}

	/* as copy_table_data(): freeze what can be, never going backwards */
	vacuum_set_xid_limits(old_rel, 0, 0, 0, 0, &oldest_xmin, &oldest_mxact,
						  &freeze_xid, &cutoff_multi);
	if (TransactionIdIsValid(old_rel->rd_rel->relfrozenxid) &&
		TransactionIdPrecedes(freeze_xid, old_rel->rd_rel->relfrozenxid))
		freeze_xid = old_rel->rd_rel->relfrozenxid;
	if (MultiXactIdIsValid(old_rel->rd_rel->relminmxid) &&
		MultiXactIdPrecedes(cutoff_multi, old_rel->rd_rel->relminmxid))
		cutoff_multi = old_rel->rd_rel->relminmxid;

	r = palloc0(sizeof(RewriteReceiver));
	r->pub.receiveSlot = rewrite_receive;
	r->pub.rStartup = rewrite_startup;
	r->pub.rShutdown = rewrite_shutdown;
	r->pub.rDestroy = rewrite_destroy;
	r->pub.mydest = DestNone;
	r->old_rel = old_rel;
	if (in_place)
		r->keptcxt = AllocSetContextCreate(CurrentMemoryContext, "penelope_sandbox rewrite rows",
										   ALLOCSET_DEFAULT_SIZES);
	else
		r->rwstate = begin_heap_rewrite(old_rel, new_rel, oldest_xmin, freeze_xid, cutoff_multi);
	r->estate = CreateExecutorState();
	r->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(r->rri, old_rel, 0, NULL, 0);
	r->slot = MakeSingleTupleTableSlot(tupdesc, &TTSOpsVirtual);
	r->attnums = palloc(sizeof(AttrNumber) * tupdesc->natts);
	r->typmod_fn = palloc0(sizeof(FmgrInfo) * tupdesc->natts);
	r->has_generated = (tupdesc->constr && tupdesc->constr->has_generated_stored);
	r->check = (tupdesc->constr != NULL);
	r->rowcxt = AllocSetContextCreate(CurrentMemoryContext, "penelope_sandbox rewrite row",
									  ALLOCSET_DEFAULT_SIZES);
	for (int i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);
		Oid			funcid;

		if (att->attisdropped)
			continue;
		r->attnums[r->natts++] = att->attnum;
		if (att->atttypmod >= 0 && !att->attgenerated &&
			find_typmod_coercion_function(att->atttypid, &funcid) == COERCION_PATH_FUNC)
			fmgr_info(funcid, &r->typmod_fn[i]);
	}

	r->old_buffer = InvalidBuffer;
	r->nchecks = list_length(checks);
	r->checks = palloc(sizeof(RewriteCheck *) * (r->nchecks + 1));
	r->check_fn = palloc0(sizeof(FmgrInfo) * (r->nchecks + 1));
	foreach(lc, checks)
	{
		RewriteCheck *check = lfirst(lc);
		Form_pg_attribute att;

		if (check->attnum < 1 || check->attnum > tupdesc->natts ||
			(att = TupleDescAttr(tupdesc, check->attnum - 1))->attisdropped)
			elog(ERROR, "rewrite check of a column that does not exist");
		check->violations = 0;
		r->checks[foreach_current_index(lc)] = check;
		fmgr_info(check->recogniser, &r->check_fn[foreach_current_index(lc)]);
	}
	sandbox_run_as_owner_into(owner, select_sql, nargs, argtypes, values, (DestReceiver *) r);
	rows = r->rows;
	if (BufferIsValid(r->old_buffer))
		ReleaseBuffer(r->old_buffer);
	ExecDropSingleTupleTableSlot(r->slot);
	FreeExecutorState(r->estate);
	MemoryContextDelete(r->rowcxt);

	if (in_place)
	{
		rewrite_in_place(old_rel, r->kept, oldest_xmin, freeze_xid, cutoff_multi);
		MemoryContextDelete(r->keptcxt);
		table_close(old_rel, NoLock);
	}
	else
	{
		end_heap_rewrite(r->rwstate);
		table_close(new_rel, NoLock);
		table_close(old_rel, NoLock);

		/*
		 * Swap the files, rebuild the indexes checking unique and
		 * exclusion constraints, and drop the old heap, TOAST table and
		 * indexes at commit.
		 */
		finish_heap_swap(relid, new_relid, is_catalog, false, true, true,
						 freeze_xid, cutoff_multi, relpersistence);
	}

	AtEOXact_GUC(false, save_nestlevel);
	SetUserIdAndSecContext(save_userid, save_sec_context);
	return rows;
}

/* ---- Statistics ---- */

/*
 * sandbox_forget_statistics
 *		Delete the statistics a relation holds on some columns (attnums, an
 *		integer List; NIL for every column), in pg_statistic, and every
 *		extended statistic on the relation, in pg_statistic_ext_data: they
 *		may show values the run changed.  ANALYZE afterwards computes them
 *		again from the new rows.
 */
void
sandbox_forget_statistics(Oid relid, List *attnums)
{
	Relation	stxrel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tuple;
	ListCell   *lc;

	if (attnums == NIL)
		RemoveStatistics(relid, 0);
	foreach(lc, attnums)
		RemoveStatistics(relid, (AttrNumber) lfirst_int(lc));

	stxrel = table_open(StatisticExtRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_statistic_ext_stxrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(stxrel, StatisticExtRelidIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Oid			stxoid = ((Form_pg_statistic_ext) GETSTRUCT(tuple))->oid;

		RemoveStatisticsDataById(stxoid, false);
		RemoveStatisticsDataById(stxoid, true);
	}
	systable_endscan(scan);
	table_close(stxrel, AccessShareLock);
	CommandCounterIncrement();
}

/* ---- Row security and user triggers, suspended for a run ---- */

/*
 * set_force_row_security
 *		Set pg_class.relforcerowsecurity of a relation.
 */
static void
set_force_row_security(Oid relid, bool force)
{
	Relation	classrel = table_open(RelationRelationId, RowExclusiveLock);
	HeapTuple	tuple = SearchSysCacheCopy1(RELOID, ObjectIdGetDatum(relid));

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	((Form_pg_class) GETSTRUCT(tuple))->relforcerowsecurity = force;
	CatalogTupleUpdate(classrel, &tuple->t_self, tuple);
	heap_freetuple(tuple);
	table_close(classrel, RowExclusiveLock);
	CacheInvalidateRelcacheByRelid(relid);
	CommandCounterIncrement();
}

/*
 * sandbox_suspend_forced_row_security
 *		If a relation has FORCE ROW LEVEL SECURITY, turn it off and return
 *		true: its owner, as whom the run's statements run, then sees every
 *		row.  The caller holds ACCESS EXCLUSIVE until the transaction ends,
 *		so nobody else sees the change, and restores it before the end.
 */
bool
sandbox_suspend_forced_row_security(Oid relid)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	bool		forced;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	forced = ((Form_pg_class) GETSTRUCT(tuple))->relforcerowsecurity;
	ReleaseSysCache(tuple);
	if (forced)
		set_force_row_security(relid, false);
	return forced;
}

/*
 * sandbox_restore_forced_row_security
 *		Undo sandbox_suspend_forced_row_security.
 */
void
sandbox_restore_forced_row_security(Oid relid)
{
	set_force_row_security(relid, true);
}

/*
 * sandbox_user_triggers
 *		The enabled user triggers of a relation, as SuspendedTrigger.
 */
List *
sandbox_user_triggers(Oid relid)
{
	Relation	tgrel = table_open(TriggerRelationId, AccessShareLock);
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tuple;
	List	   *result = NIL;

	ScanKeyInit(&key, Anum_pg_trigger_tgrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(tgrel, TriggerRelidNameIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_trigger trigger = (Form_pg_trigger) GETSTRUCT(tuple);
		SuspendedTrigger *st;

		if (trigger->tgisinternal || trigger->tgenabled == TRIGGER_DISABLED)
			continue;
		st = palloc(sizeof(SuspendedTrigger));
		st->relid = relid;
		st->name = pstrdup(NameStr(trigger->tgname));
		st->enabled = trigger->tgenabled;
		result = lappend(result, st);
	}
	systable_endscan(scan);
	table_close(tgrel, AccessShareLock);
	return result;
}

/*
 * sandbox_set_user_triggers
 *		Disable (enable = false) the triggers sandbox_user_triggers listed,
 *		or put back their previous state.  Run as the sanitizing user; the
 *		caller holds a lock on each table until the transaction ends.
 */
void
sandbox_set_user_triggers(List *triggers, bool enable)
{
	ListCell   *lc;

	foreach(lc, triggers)
	{
		SuspendedTrigger *st = lfirst(lc);
		Relation	rel = table_open(st->relid, NoLock);

		/* each partition's trigger is in the list: no recursion */
		EnableDisableTriggerNew2(rel, st->name, InvalidOid,
								 enable ? st->enabled : TRIGGER_DISABLED,
								 true, false, AccessExclusiveLock);
		table_close(rel, NoLock);
		CommandCounterIncrement();
	}
}

/* ---- Locks ---- */

/*
 * sandbox_lock_relation
 *		Lock a relation for a run, waiting at most
 *		penelope_sandbox.lock_wait_timeout (lock_timeout where it is 0).
 *		While it waits, pg_stat_activity says what for; an error names
 *		the table and what the run needs it for.
 */
void
sandbox_lock_relation(Oid relid, LOCKMODE mode, const char *purpose)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	char	   *relname;
	int			save_nestlevel;

	if (ConditionalLockRelationOid(relid, mode))
		return;

	relname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
										 get_rel_name(relid));
	pgstat_report_activity(STATE_RUNNING,
						   psprintf("penelope_sandbox: waiting for a lock on table %s (%s)",
									relname, purpose));
	save_nestlevel = NewGUCNestLevel();
	if (sandbox_lock_wait_timeout > 0)
		(void) set_config_option("lock_timeout", psprintf("%d", sandbox_lock_wait_timeout),
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	PG_TRY();
	{
		LockRelationOid(relid, mode);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		if (edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE)
			PG_RE_THROW();
		FlushErrorState();
		ereport(ERROR,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg("could not lock table %s for %s", relname, purpose),
				 errdetail("The run waited %d ms for another session's lock on the table.",
						   sandbox_lock_wait_timeout > 0 ? sandbox_lock_wait_timeout : LockTimeout),
				 errhint("Find the holder in pg_locks, or raise penelope_sandbox.lock_wait_timeout.")));
	}
	PG_END_TRY();
	AtEOXact_GUC(true, save_nestlevel);
	if (!sandbox_report_progress && debug_query_string != NULL)
		pgstat_report_activity(STATE_RUNNING, debug_query_string);
}

/* ---- Residue ---- */

/*
 * count_row_versions
 *		The row versions in the pages of a relation, in one pass over its
 *		blocks, each read through the ring and share-locked once, without
 *		pruning (which would remove dead versions before they are counted).
 *		With dead_only false, every line pointer holding a tuple counts (the
 *		line pointer arrays alone are read); with dead_only true, only the
 *		versions no snapshot of this transaction sees, judged against
 *		oldest_xmin.
 */
static int64
count_row_versions(Relation rel, BufferAccessStrategy strategy, bool dead_only,
				   TransactionId oldest_xmin)
{
	BlockNumber nblocks = RelationGetNumberOfBlocks(rel);
	int64		versions = 0;

	for (BlockNumber blkno = 0; blkno < nblocks; blkno++)
	{
		Buffer		buffer;
		Page		page;
		OffsetNumber maxoff;

		CHECK_FOR_INTERRUPTS();
		buffer = ReadBufferExtended(rel, MAIN_FORKNUM, blkno, RBM_NORMAL, strategy);
		LockBuffer(buffer, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buffer);
		maxoff = PageIsNew(page) ? InvalidOffsetNumber : PageGetMaxOffsetNumber(page);
		for (OffsetNumber offnum = FirstOffsetNumber; offnum <= maxoff; offnum++)
		{
			ItemId		itemid = PageGetItemId(page, offnum);
			HeapTupleData tuple;
			HTSV_Result state;

			if (!ItemIdIsNormal(itemid))
				continue;
			if (!dead_only)
			{
				versions++;
				continue;
			}
			tuple.t_data = (HeapTupleHeader) PageGetItem(page, itemid);
			tuple.t_len = ItemIdGetLength(itemid);
			tuple.t_tableOid = RelationGetRelid(rel);
			ItemPointerSet(&tuple.t_self, blkno, offnum);
			state = HeapTupleSatisfiesVacuum(&tuple, oldest_xmin, buffer);
			if (state == HEAPTUPLE_DEAD || state == HEAPTUPLE_RECENTLY_DEAD)
				versions++;
			else if (state == HEAPTUPLE_DELETE_IN_PROGRESS &&
					 TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetUpdateXid(tuple.t_data)))
				versions++;
		}
		UnlockReleaseBuffer(buffer);
	}
	return versions;
}

/*
 * sandbox_dead_row_versions
 *		The row versions of a table that no snapshot of this transaction
 *		sees but that are still in its pages: each may hold an old value.
 *
 * visible, when not -1, is the number of rows a scan of the table just saw
 * (sandbox_verify's own): when the pages hold no more row versions than
 * that, every version is one of those rows, and none is dead, which the
 * line pointers alone tell.  Otherwise each version is judged
 * (count_row_versions).
 */
int64
sandbox_dead_row_versions(Oid relid, int64 visible)
{
	Relation	rel = table_open(relid, AccessShareLock);
	BufferAccessStrategy strategy = GetAccessStrategy(BAS_BULKREAD);
	int64		dead = 0;

	if (visible < 0 ||
		count_row_versions(rel, strategy, false, InvalidTransactionId) > visible)
		dead = count_row_versions(rel, strategy, true,
								  GetOldestNonRemovableTransactionId(rel));
	FreeAccessStrategy(strategy);
	table_close(rel, AccessShareLock);
	return dead;
}
