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
 *	   the ctid of the row it comes from.  On a large table, parallel
 *	   workers run it chunk by chunk, and the rows still reach the
 *	   receiver in ctid order (see parallel.c);
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
 * files, made, swapped and dropped), most of a small table's rewrite.  So
 * is a table of any size with an index that holds no column the rules
 * change (a primary key, say): rebuilding that index is most of what a
 * rewrite costs, and it can be kept.  Steps 2 and 3 are the same, but the
 * table itself gets new files, and its old ones are unlinked at commit, as
 * in step 4.  The receiver writes each new row at the ctid of the row it
 * replaces, with that row's visibility (see CtidWriter); a row that no
 * longer fits in its block moves after the last one.  If the old heap held
 * nothing but the rows replaced (see TidLayout), only the indexes holding
 * a changed column are rebuilt, and the kept ones, copied to new files
 * first, get an entry for each row that moved; otherwise every index is.
 *
 * The receiver writes the pages straight into the new files while the
 * pass reads the old ones (create_heap_files, install_heap_files; see
 * rewrite_written()), unless out-of-line values must be read back from the
 * TOAST table.  Then it spools the rows to a temporary file (each with the
 * header of the row it replaces, its out-of-line values read back); the
 * table and its TOAST table get new, empty files, as TRUNCATE gives them
 * (RelationSetNewRelfilenode), and the rows are written from the spool:
 * at their ctids as above, or, if the old heap held more than the rows
 * replaced, one after the other by the CLUSTER machinery, every index
 * rebuilt (see rewrite_in_place()).
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
#include "access/multixact.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xloginsert.h"
#include "catalog/catalog.h"
#include "catalog/heap.h"
#include "catalog/index.h"
#include "catalog/indexing.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_statistic_ext.h"
#include "catalog/pg_trigger.h"
#include "catalog/storage.h"
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
#include "optimizer/optimizer.h"
#include "parser/parse_coerce.h"
#include "parser/parse_relation.h"
#include "pgstat.h"
#include "storage/buffile.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "storage/procarray.h"
#include "storage/smgr.h"
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
 * The largest table rewritten in place for its size alone: its heap and
 * TOAST blocks together (128 blocks, 1 MB).  What the in-place rewrite
 * saves is a fixed cost, a few milliseconds a table; in a table of 1 MB,
 * reading, checking and writing the rows cost more than that, so a larger
 * one gains little, unless it has an index the rewrite can keep (see the
 * head of this file).
 */
#define REWRITE_IN_PLACE_MAX_BLOCKS 128

/*
 * A row of an in-place rewrite, as a spool (a temporary file) keeps it
 * until it is written: the new row, its out-of-line values read back, and
 * the header of the row it replaces (its visibility, SizeofHeapTupleHeader
 * bytes), with that row's ctid and the number of line pointers of its
 * block.
 */
typedef struct KeptRow
{
	ItemPointerData old_tid;
	uint16		block_lines;	/* line pointers of the old row's block */
	HeapTuple	new_tuple;
	HeapTupleHeaderData old_header;	/* last: it ends in a flexible array */
} KeptRow;

/*
 * Whether the rows of an in-place rewrite, written at the ctids of the rows
 * they replace, leave the indexes on columns no rule changes right as they
 * are, so that they need not be rebuilt.  They do when the old heap held
 * nothing but those rows: each block's row versions are exactly the rows
 * the pass returned for it (no dead version, whose values the index would
 * keep, no HOT chain, no row deleted by the run), and no block holds a
 * redirect or dead line pointer an index entry could point at.  Rows come
 * in ctid order from the sequential scan; any other order gives up.
 *
 * A new row longer than the one it replaces may not fit in the block any
 * more: it is then moved to a block after the others, its old line pointer
 * is left dead, and the kept indexes get an entry for it.  If more than
 * 1 / REWRITE_MAX_MOVED_SHARE of the rows would move (estimated here, see
 * layout_add, or counted by the CtidWriter writing during the pass),
 * rebuilding every index costs less.
 */
#define REWRITE_MAX_MOVED_SHARE 10

typedef struct TidLayout
{
	bool		possible;		/* so far, the rows can keep their ctids */
	BlockNumber block;			/* the block of the last row, or
								 * InvalidBlockNumber */
	OffsetNumber last_offset;	/* the offset of the last row */
	int			rows;			/* new rows of that block so far */
	int			old_rows;		/* the row versions the old block holds */
	uint16		old_lines;		/* its line pointers */
	Size		free;			/* room left in the new block (estimated) */
	int64		moved;			/* rows that will move (estimated) */
	BlockNumber next_unchecked; /* the first block not yet checked */
} TidLayout;

/*
 * The pages of a heap whose rows keep their ctids, written block after
 * block into new files as the rows come in ctid order: each row at the
 * ctid of the row it replaces, with that row's visibility; a line pointer
 * no row takes stays unused.  A row that no longer fits in its block, or
 * comes after its block was written, goes to the moved spool, and is
 * written after the last block (write_moved_rows).
 */
typedef struct CtidWriter
{
	Relation	rel;			/* the table: its TOAST table takes long values */
	RelFileNode node;			/* the new files */
	bool		needs_wal;
	MemoryContext cxt;			/* where the moved spool lives */
	PGAlignedBlock block;		/* the page of block blkno, being filled */
	BlockNumber blkno;			/* the blocks before it are written */
	bool		page_used;
	Size		free;			/* room left in the page */
	BufFile    *moved;			/* KeptRow, or NULL while none moved */
	int64		moved_rows;
} CtidWriter;

static void ctid_writer_add(CtidWriter *w, ItemPointer old_tid, uint16 block_lines,
							HeapTupleHeader old_header, HeapTuple tuple);

/* ---- The receiver writing the new heap ---- */

typedef struct RewriteReceiver
{
	DestReceiver pub;
	Relation	old_rel;
	RewriteState rwstate;		/* into the transient heap, or NULL: */
	CtidWriter *writer;			/* in place, straight into new files, or */
	BufFile    *spool;			/* in place: KeptRow, in ctid order */
	TidLayout	layout;			/* in place: can the rows keep their ctids */
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

/* ---- The spool of an in-place rewrite ---- */

/*
 * spool_write
 *		Append a row to the spool: the old ctid, the line pointers of its
 *		block, the old header, the new row's length and its bytes.
 */
static void
spool_write(BufFile *spool, ItemPointer old_tid, uint16 block_lines,
			HeapTupleHeader old_header, HeapTuple new_tuple)
{
	uint32		len = new_tuple->t_len;

	BufFileWrite(spool, old_tid, sizeof(ItemPointerData));
	BufFileWrite(spool, &block_lines, sizeof(block_lines));
	BufFileWrite(spool, old_header, SizeofHeapTupleHeader);
	BufFileWrite(spool, &len, sizeof(len));
	BufFileWrite(spool, new_tuple->t_data, len);
}

/*
 * spool_rewind
 *		Go back to the first row of the spool.
 */
static void
spool_rewind(BufFile *spool)
{
	if (BufFileSeek(spool, 0, 0, SEEK_SET) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not rewind the rewrite's temporary file")));
}

/*
 * spool_read_exact
 *		Read size bytes of the spool; false at its end, an error if it ends
 *		within them.
 */
static bool
spool_read_exact(BufFile *spool, void *ptr, size_t size)
{
	size_t		got = BufFileRead(spool, ptr, size);

	if (got == 0)
		return false;
	if (got != size)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read from the rewrite's temporary file: read only %zu of %zu bytes",
						got, size)));
	return true;
}

/*
 * spool_read
 *		The next row of the spool, its new row allocated in the current
 *		memory context; false at the end.
 */
static bool
spool_read(BufFile *spool, KeptRow *row)
{
	uint32		len;

	if (!spool_read_exact(spool, &row->old_tid, sizeof(ItemPointerData)))
		return false;
	if (!spool_read_exact(spool, &row->block_lines, sizeof(row->block_lines)) ||
		!spool_read_exact(spool, &row->old_header, SizeofHeapTupleHeader) ||
		!spool_read_exact(spool, &len, sizeof(len)))
		elog(ERROR, "rewrite spool ends within a row");
	row->new_tuple = palloc(HEAPTUPLESIZE + len);
	row->new_tuple->t_data = (HeapTupleHeader) ((char *) row->new_tuple + HEAPTUPLESIZE);
	row->new_tuple->t_len = len;
	ItemPointerSetInvalid(&row->new_tuple->t_self);
	row->new_tuple->t_tableOid = InvalidOid;
	if (len > 0 && !spool_read_exact(spool, row->new_tuple->t_data, len))
		elog(ERROR, "rewrite spool ends within a row");
	return true;
}

/* ---- Keeping the ctids ---- */

/*
 * old_block_rows
 *		The row versions a block of the old heap holds (normal line
 *		pointers), or -1 if it holds a redirect or dead line pointer, which
 *		an index entry may point at with no row there.
 */
static int
old_block_rows(Page page)
{
	int			rows = 0;

	for (OffsetNumber offnum = FirstOffsetNumber;
		 offnum <= PageGetMaxOffsetNumber(page); offnum++)
	{
		ItemId		itemid = PageGetItemId(page, offnum);

		if (ItemIdIsNormal(itemid))
			rows++;
		else if (ItemIdIsUsed(itemid))
			return -1;
	}
	return rows;
}

/*
 * layout_end_block
 *		The pass has returned every row of the layout's current block: were
 *		they all of its row versions?
 */
static void
layout_end_block(TidLayout *layout)
{
	if (layout->block != InvalidBlockNumber && layout->rows != layout->old_rows)
		layout->possible = false;
}

/*
 * layout_check_empty
 *		The pass returned no row of the old heap's blocks from the first one
 *		not yet checked up to end (excluded): they must hold no row version.
 */
static void
layout_check_empty(TidLayout *layout, Relation rel, BlockNumber end)
{
	for (BlockNumber blkno = layout->next_unchecked; blkno < end && layout->possible; blkno++)
	{
		Buffer		buffer = ReadBuffer(rel, blkno);

		LockBuffer(buffer, BUFFER_LOCK_SHARE);
		if (old_block_rows(BufferGetPage(buffer)) != 0)
			layout->possible = false;
		UnlockReleaseBuffer(buffer);
	}
	layout->next_unchecked = Max(layout->next_unchecked, end);
}

/*
 * layout_add
 *		Account for a new row replacing the row at old_tid, whose header is
 *		old_header; old_buffer is that row's block, pinned.  The new row is
 *		flat_len long with its values all inline, stored_len with the values
 *		it keeps out of line as pointers.
 */
static void
layout_add(TidLayout *layout, Relation rel, Buffer old_buffer, ItemPointer old_tid,
		   HeapTupleHeader old_header, Size stored_len, Size flat_len)
{
	BlockNumber blkno = ItemPointerGetBlockNumber(old_tid);
	OffsetNumber offnum = ItemPointerGetOffsetNumber(old_tid);
	Size		len;

	if (!layout->possible)
		return;

	/* a row that was never updated: not in a HOT chain, no newer version */
	if ((old_header->t_infomask2 & (HEAP_HOT_UPDATED | HEAP_ONLY_TUPLE)) != 0 ||
		!((old_header->t_infomask & HEAP_XMAX_INVALID) != 0 ||
		  HEAP_XMAX_IS_LOCKED_ONLY(old_header->t_infomask)))
	{
		layout->possible = false;
		return;
	}

	if (blkno != layout->block)
	{
		if (layout->block != InvalidBlockNumber && blkno < layout->block)
		{
			layout->possible = false;
			return;
		}
		layout_end_block(layout);
		layout_check_empty(layout, rel, blkno);
		LockBuffer(old_buffer, BUFFER_LOCK_SHARE);
		layout->old_rows = old_block_rows(BufferGetPage(old_buffer));
		layout->old_lines = PageGetMaxOffsetNumber(BufferGetPage(old_buffer));
		LockBuffer(old_buffer, BUFFER_LOCK_UNLOCK);
		if (layout->old_rows < 0)
			layout->possible = false;
		layout->block = blkno;
		layout->rows = 0;
		layout->free = BLCKSZ - SizeOfPageHeaderData - layout->old_lines * sizeof(ItemIdData);
		layout->last_offset = InvalidOffsetNumber;
		layout->next_unchecked = blkno + 1;
	}
	else if (offnum <= layout->last_offset)
	{
		layout->possible = false;
		return;
	}
	layout->rows++;
	layout->last_offset = offnum;

	/* a long row will be TOASTed again: about as it was stored, at most the target */
	len = MAXALIGN(flat_len > TOAST_TUPLE_THRESHOLD ? Min(stored_len, TOAST_TUPLE_TARGET) : flat_len);
	if (len <= layout->free)
		layout->free -= len;
	else
		layout->moved++;
}

/*
 * layout_finish
 *		After the pass, which returned rows rows: can they keep their
 *		ctids?
 */
static bool
layout_finish(TidLayout *layout, Relation rel, int64 rows)
{
	if (layout->possible)
	{
		layout_end_block(layout);
		layout_check_empty(layout, rel, RelationGetNumberOfBlocks(rel));
	}
	return layout->possible && layout->moved <= rows / REWRITE_MAX_MOVED_SHARE;
}

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
	uint16		block_lines;
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
	block_lines = PageGetMaxOffsetNumber(page);
	LockBuffer(r->old_buffer, BUFFER_LOCK_UNLOCK);

	if (r->rwstate != NULL)
	{
		new_tuple = ExecCopySlotHeapTuple(slot);
		rewrite_heap_tuple(r->rwstate, &old_tuple, new_tuple);
	}
	else
	{
		/*
		 * In place: write the row into the new files, or spool it until
		 * the table has them.  Its out-of-line values are read back now,
		 * while the TOAST table holding them is still there; the old row
		 * is needed for its header only.
		 */
		Size		stored_len;

		new_tuple = ExecCopySlotHeapTuple(slot);
		stored_len = new_tuple->t_len;
		if (HeapTupleHasExternal(new_tuple))
			new_tuple = toast_flatten_tuple(new_tuple, tupdesc);
		layout_add(&r->layout, r->old_rel, r->old_buffer, tid, old_tuple.t_data,
				   stored_len, new_tuple->t_len);
		if (r->writer != NULL)
			ctid_writer_add(r->writer, tid, block_lines, old_tuple.t_data, new_tuple);
		else
			spool_write(r->spool, tid, block_lines, old_tuple.t_data, new_tuple);
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
 * toast_blocks
 *		The blocks of a table's TOAST table: 0 if it has none.
 */
static BlockNumber
toast_blocks(Relation rel)
{
	Relation	toast;
	BlockNumber blocks;

	if (!OidIsValid(rel->rd_rel->reltoastrelid))
		return 0;
	toast = table_open(rel->rd_rel->reltoastrelid, AccessExclusiveLock);
	blocks = RelationGetNumberOfBlocks(toast);
	table_close(toast, NoLock);
	return blocks;
}

/*
 * is_small
 *		At most REWRITE_IN_PLACE_MAX_BLOCKS blocks of heap and TOAST.
 */
static bool
is_small(Relation rel)
{
	BlockNumber blocks = RelationGetNumberOfBlocks(rel);

	return blocks <= REWRITE_IN_PLACE_MAX_BLOCKS &&
		blocks + toast_blocks(rel) <= REWRITE_IN_PLACE_MAX_BLOCKS;
}

/*
 * indexes_to_keep
 *		The valid indexes of a table that hold no column the rewrite may
 *		change: none of changed_columns (names, String) and no stored
 *		generated column (recomputed), in their keys, INCLUDE columns,
 *		expressions (a whole-row reference counts as every column) and
 *		predicates.  If every row keeps its ctid, they stay as they are.
 *		None for a table that is not permanent.
 */
static List *
indexes_to_keep(Relation rel, List *changed_columns)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	Bitmapset  *changed = NULL;
	List	   *keep = NIL;
	ListCell   *lc;

	/* an unlogged index has an init fork, which copy_index_files() leaves out */
	if (rel->rd_rel->relpersistence != RELPERSISTENCE_PERMANENT)
		return NIL;

	foreach(lc, changed_columns)
	{
		AttrNumber	attnum = attnameAttNum(rel, strVal(lfirst(lc)), false);

		if (attnum == InvalidAttrNumber)
			elog(ERROR, "rewrite of a column that does not exist");
		changed = bms_add_member(changed, attnum - FirstLowInvalidHeapAttributeNumber);
	}
	for (int i = 0; i < tupdesc->natts; i++)
		if (TupleDescAttr(tupdesc, i)->attgenerated == ATTRIBUTE_GENERATED_STORED)
			changed = bms_add_member(changed, i + 1 - FirstLowInvalidHeapAttributeNumber);
	changed = bms_add_member(changed, InvalidAttrNumber - FirstLowInvalidHeapAttributeNumber);

	foreach(lc, RelationGetIndexList(rel))
	{
		Relation	index = index_open(lfirst_oid(lc), AccessShareLock);
		Form_pg_index form = index->rd_index;
		Bitmapset  *used = NULL;

		/* 0 in indkey: an expression, whose columns come next */
		for (int i = 0; i < form->indnatts; i++)
			if (form->indkey.values[i] != InvalidAttrNumber)
				used = bms_add_member(used, form->indkey.values[i] - FirstLowInvalidHeapAttributeNumber);
		pull_varattnos((Node *) RelationGetIndexExpressions(index), 1, &used);
		pull_varattnos((Node *) RelationGetIndexPredicate(index), 1, &used);
		if (form->indisvalid && form->indisready && form->indislive &&
			!bms_overlap(used, changed))
			keep = lappend_oid(keep, RelationGetRelid(index));
		index_close(index, NoLock);
	}
	return keep;
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
 * create_heap_files
 *		New, empty files for the heap of rel, a permanent table, which keeps
 *		its old ones until install_heap_files(): a pass can read the old
 *		files while it writes the new ones.  Together, the two do what
 *		RelationSetNewRelfilenode() does.  The new files are unlinked on a
 *		rollback.
 */
static RelFileNode
create_heap_files(Relation rel)
{
	RelFileNode node = rel->rd_node;

	/*
	 * An XID before the files: should the pass fail, the abort record of
	 * the (sub)transaction, written only by one that has an XID, is what
	 * tells a standby and crash recovery to unlink them.
	 */
	(void) GetCurrentTransactionId();
	node.relNode = GetNewRelFileNode(rel->rd_rel->reltablespace, NULL, RELPERSISTENCE_PERMANENT);
	smgrclose(RelationCreateStorage(node, RELPERSISTENCE_PERMANENT, true));
	return node;
}

/*
 * install_heap_files
 *		Give rel the files node, made by create_heap_files(); its old ones
 *		are unlinked at commit.  The new files have no visibility map.
 */
static void
install_heap_files(Relation rel, RelFileNode node)
{
	Relation	classrel = table_open(RelationRelationId, RowExclusiveLock);
	HeapTuple	tuple = SearchSysCacheCopy1(RELOID, ObjectIdGetDatum(RelationGetRelid(rel)));
	Form_pg_class form;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", RelationGetRelid(rel));
	form = (Form_pg_class) GETSTRUCT(tuple);
	RelationDropStorage(rel);
	form->relfilenode = node.relNode;
	form->relallvisible = 0;
	CatalogTupleUpdate(classrel, &tuple->t_self, tuple);
	heap_freetuple(tuple);
	table_close(classrel, RowExclusiveLock);

	/* the relation cache follows, and knows the files are new in this transaction */
	CommandCounterIncrement();
	RelationAssumeNewRelfilenode(rel);
}

/*
 * hide_indexes_to_rebuild
 *		Mark the indexes of rel that are not in keep invalid, so that no
 *		query reads them, until rebuild_indexes() rebuilds them and
 *		reindex_index() marks them valid again.  From the moment the table
 *		has its new rows they hold the old values, and owner code runs
 *		before they are rebuilt (the expressions of the kept indexes, for
 *		the rows that move; those of each rebuilt index): an index-only
 *		scan would return originals.  A transactional update: a rollback
 *		leaves them as they were.  Every index is rebuilt when keep is NIL,
 *		by reindex_relation(), which hides them itself.
 */
static void
hide_indexes_to_rebuild(Relation rel, List *keep)
{
	Relation	indexrel;
	ListCell   *lc;

	if (keep == NIL)
		return;
	indexrel = table_open(IndexRelationId, RowExclusiveLock);
	foreach(lc, RelationGetIndexList(rel))
	{
		Oid			indexoid = lfirst_oid(lc);
		HeapTuple	tuple;

		if (list_member_oid(keep, indexoid))
			continue;
		tuple = SearchSysCacheCopy1(INDEXRELID, ObjectIdGetDatum(indexoid));
		if (!HeapTupleIsValid(tuple))
			elog(ERROR, "cache lookup failed for index %u", indexoid);
		((Form_pg_index) GETSTRUCT(tuple))->indisvalid = false;
		CatalogTupleUpdate(indexrel, &tuple->t_self, tuple);
		heap_freetuple(tuple);
	}
	table_close(indexrel, RowExclusiveLock);
	CacheInvalidateRelcache(rel);
	CommandCounterIncrement();
}

/*
 * rebuild_indexes
 *		Rebuild the indexes of rel that are not in keep (every one if keep
 *		is NIL) from its new rows, checking unique and exclusion
 *		constraints.  The kept ones point at the same rows, which hold the
 *		same values in their columns.
 */
static void
rebuild_indexes(Relation rel, List *keep)
{
	ReindexParams params = {0};
	ListCell   *lc;

	if (keep == NIL)
	{
		(void) reindex_relation(RelationGetRelid(rel),
								REINDEX_REL_SUPPRESS_INDEX_USE | REINDEX_REL_CHECK_CONSTRAINTS,
								&params);
		return;
	}
	foreach(lc, RelationGetIndexList(rel))
		if (!list_member_oid(keep, lfirst_oid(lc)))
			reindex_index(lfirst_oid(lc), false, rel->rd_rel->relpersistence, &params);
}

/*
 * carry_visibility
 *		Give a new row the visibility of the row it replaces (header
 *		old_header), and the ctid tid, where it is written.
 */
static void
carry_visibility(HeapTupleHeader new_header, HeapTupleHeader old_header, ItemPointer tid)
{
	memcpy(&new_header->t_choice.t_heap, &old_header->t_choice.t_heap, sizeof(HeapTupleFields));
	new_header->t_infomask &= ~HEAP_XACT_MASK;
	new_header->t_infomask2 &= ~HEAP2_XACT_MASK;
	new_header->t_infomask |= old_header->t_infomask & HEAP_XACT_MASK;
	new_header->t_infomask2 |= old_header->t_infomask2 & HEAP_KEYS_UPDATED;
	new_header->t_ctid = *tid;
}

/*
 * write_new_page
 *		Append block blkno to the (new, empty at first) files node, as
 *		CLUSTER's machinery does: WAL-logged whole if they need WAL, not
 *		through shared buffers.
 */
static void
write_new_page(RelFileNode *node, bool needs_wal, Page page, BlockNumber blkno)
{
	if (needs_wal)
		log_newpage(node, MAIN_FORKNUM, blkno, page, true);
	PageSetChecksumInplace(page, blkno);
	smgrextend(smgropen(*node, InvalidBackendId), MAIN_FORKNUM, blkno, (char *) page, true);
}

/*
 * add_line_pointer
 *		Add an unused line pointer at the end of a page's array.
 */
static ItemId
add_line_pointer(Page page)
{
	ItemId		itemid = PageGetItemId(page, PageGetMaxOffsetNumber(page) + 1);

	ItemIdSetUnused(itemid);
	((PageHeader) page)->pd_lower += sizeof(ItemIdData);
	PageSetHasFreeLinePointers(page);
	return itemid;
}

/*
 * index_moved_row
 *		Give each kept index (open, with its IndexInfo, its predicate
 *		prepared in estate) an entry for a row
 *		moved to a new ctid: its entry for the old ctid leads to a dead line
 *		pointer.  The values are those the row had, so no constraint is
 *		checked again.
 */
static void
index_moved_row(Relation rel, HeapTuple tuple, List *indexes, List *infos,
				TupleTableSlot *slot, EState *estate)
{
	Datum		values[INDEX_MAX_KEYS];
	bool		isnull[INDEX_MAX_KEYS];
	ListCell   *lc1,
			   *lc2;

	ExecStoreHeapTuple(tuple, slot, false);
	GetPerTupleExprContext(estate)->ecxt_scantuple = slot;
	forboth(lc1, indexes, lc2, infos)
	{
		Relation	index = lfirst(lc1);
		IndexInfo  *info = lfirst(lc2);

		if (info->ii_PredicateState != NULL &&
			!ExecQual(info->ii_PredicateState, GetPerTupleExprContext(estate)))
			continue;
		FormIndexDatum(info, slot, estate, values, isnull);
		(void) index_insert(index, values, isnull, &tuple->t_self, rel,
							UNIQUE_CHECK_NO, false, info);
	}
	ResetPerTupleExprContext(estate);
}

/*
 * copy_index_files
 *		Give an index new files holding a copy of its old ones, as ALTER
 *		INDEX ... SET TABLESPACE does, so that the entries added next are
 *		gone with them on a rollback: an index entry is not undone by a
 *		rollback, and this one would point at a row of the new heap.
 */
static void
copy_index_files(Relation index)
{
	RelFileNode old_node = index->rd_node;
	SMgrRelation old_files;

	FlushRelationBuffers(index);
	RelationSetNewRelfilenode(index, index->rd_rel->relpersistence);
	old_files = smgropen(old_node, index->rd_backend);
	RelationCopyStorage(old_files, RelationGetSmgr(index), MAIN_FORKNUM,
						index->rd_rel->relpersistence);
}

/*
 * write_moved_rows
 *		Write the rows of moved (KeptRow, already TOASTed, with their
 *		visibility) one after the other from block blkno on, leaving the
 *		room of the table's fillfactor in each block, and give each
 *		of the indexes keep an entry for them, in a copy of their files.
 *		Returns the number of blocks written.
 */
static BlockNumber
write_moved_rows(Relation rel, BufFile *moved, BlockNumber blkno, List *keep,
				 MemoryContext rowcxt)
{
	PGAlignedBlock block;
	Page		page = (Page) block.data;
	bool		page_used = false;
	EState	   *estate = CreateExecutorState();
	TupleTableSlot *slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsHeapTuple);
	List	   *indexes = NIL;
	List	   *infos = NIL;
	KeptRow		row;
	MemoryContext oldcxt;
	ListCell   *lc;

	/* the room the table's fillfactor keeps, as raw_heap_insert() does */
	Size		reserve = RelationGetTargetPageFreeSpace(rel, HEAP_DEFAULT_FILLFACTOR);

	foreach(lc, keep)
	{
		Relation	index = index_open(lfirst_oid(lc), AccessExclusiveLock);
		IndexInfo  *info = BuildIndexInfo(index);

		copy_index_files(index);
		info->ii_PredicateState = ExecPrepareQual(info->ii_Predicate, estate);
		indexes = lappend(indexes, index);
		infos = lappend(infos, info);
	}

	spool_rewind(moved);
	oldcxt = MemoryContextSwitchTo(rowcxt);
	PageInit(page, BLCKSZ, 0);
	while (spool_read(moved, &row))
	{
		HeapTuple	tuple = row.new_tuple;
		OffsetNumber offnum;

		CHECK_FOR_INTERRUPTS();
		if (page_used && PageGetFreeSpace(page) < MAXALIGN(tuple->t_len) + reserve)
		{
			write_new_page(&rel->rd_node, RelationNeedsWAL(rel), page, blkno++);
			PageInit(page, BLCKSZ, 0);
		}
		offnum = PageAddItem(page, (Item) tuple->t_data, tuple->t_len,
							 InvalidOffsetNumber, false, true);
		if (offnum == InvalidOffsetNumber)
			elog(ERROR, "could not write a moved row of relation \"%s\"",
				 RelationGetRelationName(rel));
		page_used = true;
		ItemPointerSet(&tuple->t_self, blkno, offnum);
		((HeapTupleHeader) PageGetItem(page, PageGetItemId(page, offnum)))->t_ctid = tuple->t_self;
		tuple->t_tableOid = RelationGetRelid(rel);
		index_moved_row(rel, tuple, indexes, infos, slot, estate);
		MemoryContextReset(rowcxt);
	}
	if (page_used)
		write_new_page(&rel->rd_node, RelationNeedsWAL(rel), page, blkno++);
	MemoryContextSwitchTo(oldcxt);

	foreach(lc, indexes)
		index_close(lfirst(lc), NoLock);
	ExecDropSingleTupleTableSlot(slot);
	FreeExecutorState(estate);
	return blkno;
}

/*
 * ctid_writer_start
 *		Start writing the pages of rel into the new, empty files node.
 */
static void
ctid_writer_start(CtidWriter *w, Relation rel, RelFileNode node, bool needs_wal)
{
	memset(w, 0, sizeof(CtidWriter));
	w->rel = rel;
	w->node = node;
	w->needs_wal = needs_wal;
	w->cxt = CurrentMemoryContext;
	PageInit((Page) w->block.data, BLCKSZ, 0);
}

/*
 * ctid_writer_add
 *		Write the new row tuple in place of the row at old_tid, whose
 *		header is old_header and whose block had block_lines line pointers.
 *		Blocks without a row are written empty.  Values too long for a
 *		block go to the TOAST table.
 */
static void
ctid_writer_add(CtidWriter *w, ItemPointer old_tid, uint16 block_lines,
				HeapTupleHeader old_header, HeapTuple tuple)
{
	Page		page = (Page) w->block.data;
	BlockNumber target = ItemPointerGetBlockNumber(old_tid);
	OffsetNumber offnum = ItemPointerGetOffsetNumber(old_tid);

	if (tuple->t_len > TOAST_TUPLE_THRESHOLD)
		tuple = heap_toast_insert_or_update(w->rel, tuple, NULL,
											HEAP_INSERT_SKIP_FSM | HEAP_INSERT_NO_LOGICAL);
	carry_visibility(tuple->t_data, old_header, old_tid);

	/*
	 * A row out of ctid order (which TidLayout refuses) finds its block
	 * written, or its line pointer taken: it moves.
	 */
	if (target > w->blkno || !w->page_used ||
		(target == w->blkno && offnum > PageGetMaxOffsetNumber(page)))
	{
		ItemId		dead;

		if (target != w->blkno || !w->page_used)
		{
			while (w->blkno < target)
			{
				write_new_page(&w->node, w->needs_wal, page, w->blkno++);
				PageInit(page, BLCKSZ, 0);
			}
			/* room for every line pointer the old block had */
			w->free = BLCKSZ - SizeOfPageHeaderData - block_lines * sizeof(ItemIdData);
			w->page_used = true;
		}

		/* line pointers the old block did not use stay unused */
		while (PageGetMaxOffsetNumber(page) + 1 < offnum)
			(void) add_line_pointer(page);
		if (MAXALIGN(tuple->t_len) <= w->free)
		{
			if (PageAddItem(page, (Item) tuple->t_data, tuple->t_len, offnum, false, true) != offnum)
				elog(ERROR, "could not write row (%u,%u) of relation \"%s\" at its place",
					 target, offnum, RelationGetRelationName(w->rel));
			w->free -= MAXALIGN(tuple->t_len);
			return;
		}

		/* it no longer fits in its block: it moves, leaving a dead line pointer */
		dead = add_line_pointer(page);
		ItemIdSetDead(dead);	/* a macro: its argument is evaluated thrice */
	}

	if (w->moved == NULL)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(w->cxt);

		w->moved = BufFileCreateTemp(false);
		MemoryContextSwitchTo(oldcxt);
	}
	spool_write(w->moved, old_tid, block_lines, old_header, tuple);
	w->moved_rows++;
}

/*
 * ctid_writer_end
 *		Write the last page.  Returns the number of blocks written.
 */
static BlockNumber
ctid_writer_end(CtidWriter *w)
{
	if (w->page_used)
		write_new_page(&w->node, w->needs_wal, (Page) w->block.data, w->blkno++);
	return w->blkno;
}

/*
 * finish_kept_layout
 *		After a CtidWriter wrote the pages of rel, which has the files it
 *		wrote them into: write the rows that moved after them, giving the
 *		indexes of keep an entry for each, and make the files durable.
 *		Returns the number of blocks of the table.
 */
static BlockNumber
finish_kept_layout(Relation rel, CtidWriter *w, List *keep, MemoryContext rowcxt)
{
	BlockNumber blocks = ctid_writer_end(w);

	if (w->moved != NULL)
	{
		blocks = write_moved_rows(rel, w->moved, blocks, keep, rowcxt);
		BufFileClose(w->moved);
		w->moved = NULL;
	}

	/* as end_heap_rewrite(): a checkpoint meanwhile did not sync these */
	if (w->needs_wal)
		smgrimmedsync(smgropen(w->node, InvalidBackendId), MAIN_FORKNUM);
	return blocks;
}

/*
 * write_keeping_ctids
 *		Write the spooled rows into the new files of the table, each at the
 *		ctid of the row it replaces (see CtidWriter).  Returns the number
 *		of blocks written.
 */
static BlockNumber
write_keeping_ctids(Relation rel, BufFile *spool, List *keep, MemoryContext rowcxt)
{
	CtidWriter *w = palloc(sizeof(CtidWriter));
	KeptRow		row;
	MemoryContext oldcxt;
	BlockNumber blocks;

	ctid_writer_start(w, rel, rel->rd_node, RelationNeedsWAL(rel));
	oldcxt = MemoryContextSwitchTo(rowcxt);
	while (spool_read(spool, &row))
	{
		CHECK_FOR_INTERRUPTS();
		ctid_writer_add(w, &row.old_tid, row.block_lines, &row.old_header, row.new_tuple);
		MemoryContextReset(rowcxt);
	}
	MemoryContextSwitchTo(oldcxt);
	blocks = finish_kept_layout(rel, w, keep, rowcxt);
	pfree(w);
	return blocks;
}

/*
 * rewrite_in_place
 *		Write the rows of the spool (KeptRow) into new files of the table
 *		itself, then rebuild its indexes.  rel is open and locked ACCESS
 *		EXCLUSIVE; nothing of it is in use any more.  With keep_ctids, each
 *		row is written at its old ctid, and only the indexes that are not
 *		in keep (see indexes_to_keep) are rebuilt.  Otherwise the rows are
 *		written one after the other, frozen against the limits of
 *		vacuum_set_xid_limits() as for the transient heap, and every index
 *		is rebuilt.
 */
static void
rewrite_in_place(Relation rel, BufFile *spool, int64 rows, bool keep_ctids, List *keep,
				 TransactionId oldest_xmin, TransactionId freeze_xid, MultiXactId cutoff_multi)
{
	Oid			relid = RelationGetRelid(rel);
	Oid			toastrelid = rel->rd_rel->reltoastrelid;
	TransactionId relfrozenxid = rel->rd_rel->relfrozenxid;
	MultiXactId relminmxid = rel->rd_rel->relminmxid;
	ReindexParams params = {0};
	MemoryContext rowcxt;

	spool_rewind(spool);
	if (keep_ctids)
		hide_indexes_to_rebuild(rel, keep);

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
	 * for an empty table; these rows keep their xmin: each branch below
	 * puts limits back that hold for them.
	 */
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "penelope_sandbox rewrite row",
								   ALLOCSET_DEFAULT_SIZES);
	if (keep_ctids)
	{
		BlockNumber pages = write_keeping_ctids(rel, spool, keep, rowcxt);

		/* the rows are as frozen as they were */
		set_class_limits(relid, relfrozenxid, relminmxid, pages, (double) rows);
		rebuild_indexes(rel, keep);
	}
	else
	{
		RewriteState rwstate;
		KeptRow		row;
		MemoryContext oldcxt;

		/* rewrite_heap_tuple() freezes against the table's limits: the old ones */
		set_class_limits(relid, relfrozenxid, relminmxid, InvalidBlockNumber, 0);
		rwstate = begin_heap_rewrite(rel, rel, oldest_xmin, freeze_xid, cutoff_multi);
		oldcxt = MemoryContextSwitchTo(rowcxt);
		while (spool_read(spool, &row))
		{
			HeapTupleData old_tuple;

			CHECK_FOR_INTERRUPTS();
			old_tuple.t_data = &row.old_header;
			old_tuple.t_len = SizeofHeapTupleHeader;
			old_tuple.t_tableOid = relid;
			old_tuple.t_self = row.old_tid;
			rewrite_heap_tuple(rwstate, &old_tuple, row.new_tuple);
			MemoryContextReset(rowcxt);
		}
		MemoryContextSwitchTo(oldcxt);
		end_heap_rewrite(rwstate);

		/* as finish_heap_swap(): the rows are frozen up to these limits */
		set_class_limits(relid, freeze_xid, cutoff_multi,
						 RelationGetNumberOfBlocks(rel), (double) rows);
		rebuild_indexes(rel, NIL);
	}
	MemoryContextDelete(rowcxt);
}

/*
 * rewrite_written
 *		After a pass whose rows w wrote into new files of rel (see
 *		CtidWriter), rows rows: give the table its new files, write the rows
 *		that moved after the others, and rebuild the indexes that are not
 *		kept.  With keep_indexes (see TidLayout), the indexes of keep stay
 *		as they are, with an entry more for each row that moved; otherwise
 *		every index is rebuilt.
 */
static void
rewrite_written(Relation rel, CtidWriter *w, int64 rows, bool keep_indexes, List *keep)
{
	TransactionId relfrozenxid = rel->rd_rel->relfrozenxid;
	MultiXactId relminmxid = rel->rd_rel->relminmxid;
	MemoryContext rowcxt = AllocSetContextCreate(CurrentMemoryContext, "penelope_sandbox rewrite row",
												 ALLOCSET_DEFAULT_SIZES);
	BlockNumber pages;

	if (!keep_indexes)
		keep = NIL;
	hide_indexes_to_rebuild(rel, keep);
	install_heap_files(rel, w->node);
	pages = finish_kept_layout(rel, w, keep, rowcxt);

	/* the rows are as frozen as they were */
	set_class_limits(RelationGetRelid(rel), relfrozenxid, relminmxid, pages, (double) rows);
	rebuild_indexes(rel, keep);
	MemoryContextDelete(rowcxt);
}

/*
 * sandbox_rewrite_relation
 *		Replace the rows of a plain table (partition or inheritance child
 *		included, its children excluded) with those select_sql returns
 *		(see sandbox_rewrite_select_sql), run as the table's owner with the
 *		given SPI parameters.  The caller holds ACCESS EXCLUSIVE on it.
 *		Each of target->checks (RewriteCheck *) has its recogniser called,
 *		as the owner, on every non-null value written into its column, and
 *		counts the values rejected.  Returns the number of rows written.
 *
 * A table is rewritten in place if it is small, or if it has an index that
 * holds none of target->changed_columns, which the rewrite may then keep;
 * otherwise through a transient heap (see the head of this file).
 */
int64
sandbox_rewrite_relation(RewriteTarget *target, Oid owner, const char *select_sql,
						 int nargs, Oid *argtypes, Datum *values)
{
	Oid			relid = target->relid;
	List	   *keep = NIL;
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

	/*
	 * Not in place: a table whose rewrite logical decoding must follow (a
	 * catalog, or a user_catalog_table under wal_level = logical), which
	 * CLUSTER's machinery maps from the old files to the new ones.
	 */
	in_place = false;
	if (!is_catalog && !RelationIsAccessibleInLogicalDecoding(old_rel))
	{
		keep = indexes_to_keep(old_rel, target->changed_columns);
		in_place = (keep != NIL || is_small(old_rel));
	}

	/*
	 * As CLUSTER does, everything from here runs as the table owner in a
	 * security-restricted operation: index expressions, generated columns
	 * and constraints included.
	 */
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(owner, save_sec_context | SECURITY_RESTRICTED_OPERATION);
	save_nestlevel = NewGUCNestLevel();

	/* the scan starts at the first block, so rows come in ctid order */
	(void) set_config_option("synchronize_seqscans", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);

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
	{
		/*
		 * Straight into new files of the table, unless its TOAST table
		 * holds values (read back in the pass, they are written after it
		 * has new files too) or it is not permanent.  Under wal_level
		 * minimal the new files are synced at commit instead of logged.
		 */
		if (relpersistence == RELPERSISTENCE_PERMANENT && toast_blocks(old_rel) == 0)
		{
			r->writer = palloc(sizeof(CtidWriter));
			ctid_writer_start(r->writer, old_rel, create_heap_files(old_rel), XLogIsNeeded());
		}
		else
			r->spool = BufFileCreateTemp(false);
		r->layout.possible = (keep != NIL);
		r->layout.block = InvalidBlockNumber;
	}
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
	r->nchecks = list_length(target->checks);
	r->checks = palloc(sizeof(RewriteCheck *) * (r->nchecks + 1));
	r->check_fn = palloc0(sizeof(FmgrInfo) * (r->nchecks + 1));
	foreach(lc, target->checks)
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
	/* workers compute the rows of a large table (parallel.c) */
	if (is_catalog ||
		!sandbox_parallel_pass(old_rel, owner, select_sql, nargs, argtypes, values,
							   (DestReceiver *) r))
		sandbox_run_as_owner_into(owner, select_sql, nargs, argtypes, values, (DestReceiver *) r);
	rows = r->rows;
	if (BufferIsValid(r->old_buffer))
		ReleaseBuffer(r->old_buffer);
	ExecDropSingleTupleTableSlot(r->slot);
	FreeExecutorState(r->estate);
	MemoryContextDelete(r->rowcxt);

	if (r->writer != NULL)
	{
		/* the writer knows how many rows moved, TOASTed ones included */
		r->layout.moved = r->writer->moved_rows;
		rewrite_written(old_rel, r->writer, rows, layout_finish(&r->layout, old_rel, rows), keep);
		pfree(r->writer);
		table_close(old_rel, NoLock);
	}
	else if (in_place)
	{
		rewrite_in_place(old_rel, r->spool, rows, layout_finish(&r->layout, old_rel, rows), keep,
						 oldest_xmin, freeze_xid, cutoff_multi);
		BufFileClose(r->spool);
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
