/*-------------------------------------------------------------------------
 *
 * parallel.c
 *		The pass of a rewrite, computed by parallel workers.
 *
 * A rewrite's pass (see rewrite.c) is one SELECT computing every new row
 * of a table, read by a receiver that writes the new heap.  Most of its
 * time goes into the rules' expressions (the maskers); the receiver's own
 * work is a fraction of it.  On a large table, workers compute the rows
 * and the backend that runs the sanitization (the leader) only receives
 * and writes them:
 *
 *	- the table's blocks are cut into chunks of consecutive blocks; chunk c
 *	  goes to worker c modulo the number of workers, which runs the
 *	  pass's SELECT on it alone (a TID range scan) and sends the rows, in
 *	  ctid order, into its own queue in dynamic shared memory, then a
 *	  one-byte message that ends the chunk;
 *	- the leader reads the chunks in block order, each from the queue of
 *	  the worker that has it, and hands every row to the receiver, as the
 *	  executor would have: the rows reach it in ctid order, exactly as
 *	  from the sequential scan of a pass run by the leader alone, so that
 *	  the rewrite is the same in every respect.
 *
 * The workers are PostgreSQL's parallel workers (access/parallel.h): they
 * share the leader's transaction, snapshot and locks, run as the table
 * owner in the leader's security-restricted operation with its settings,
 * and any error of theirs is raised in the leader.  They get the run
 * token and the masking key from the leader (sandbox_masking_share), and
 * silence the messages of owner code as the leader does.
 *
 * A pass runs in parallel only when it can compute the same rows, and is
 * worth it (parallel_pass_workers): the table is permanent and at least
 * min_parallel_table_scan_size, max_parallel_maintenance_workers is not
 * 0, and the SELECT reads the table alone (no subquery), calls only
 * functions declared PARALLEL SAFE or the extension's own, and has no
 * domain coercion (whose constraints may call any function); and the
 * leader, in parallel mode while it receives the rows, can check them:
 * the table's CHECK constraints, generated columns and partition
 * constraint call no function declared PARALLEL UNSAFE or VOLATILE.
 * Otherwise, or if fewer workers than planned could be started, the
 * leader runs the pass alone.
 *
 * Copyright (c) 2026, penelope_sandbox developers
 *
 * IDENTIFICATION
 *	  src/parallel.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/paths.h"
#include "partitioning/partdesc.h"
#include "storage/bufmgr.h"
#include "storage/shm_mq.h"
#include "storage/shm_toc.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/partcache.h"
#include "utils/plancache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "penelope_sandbox.h"

/* Keys of the pass's shared memory table of contents */
#define PASS_KEY_SHARED		UINT64CONST(0x5053000000000001)
#define PASS_KEY_SQL		UINT64CONST(0x5053000000000002)
#define PASS_KEY_PARAMS		UINT64CONST(0x5053000000000003)
#define PASS_KEY_MASKING	UINT64CONST(0x5053000000000004)
#define PASS_KEY_QUEUES		UINT64CONST(0x5053000000000005)

/* The queue of each worker: room for a few chunks of rows ahead */
#define PASS_QUEUE_SIZE		(2 * 1024 * 1024)

/* Blocks per chunk: at most this, and at least 16 chunks per worker */
#define PASS_MAX_CHUNK_BLOCKS 64
#define PASS_MIN_CHUNKS_PER_WORKER 16

/* The message that ends a chunk: shorter than any tuple */
#define PASS_END_OF_CHUNK	"\0"
#define PASS_END_OF_CHUNK_LEN 1

/* What the leader shares with every worker */
typedef struct PassShared
{
	Oid			owner;			/* the table owner the SELECT runs as */
	int			nargs;			/* the parameters of the SELECT, without
								 * the two bounds of a chunk */
	int			nworkers;		/* workers the chunks are dealt to */
	BlockNumber nblocks;		/* blocks of the table */
	BlockNumber chunk_blocks;	/* blocks per chunk */
	int64		silenced[FLEXIBLE_ARRAY_MEMBER];	/* per worker: messages
													 * of owner code it
													 * silenced */
} PassShared;

PGDLLEXPORT void sandbox_parallel_pass_worker(dsm_segment *seg, shm_toc *toc);

/* ---- Whether a pass can run in parallel ---- */

/*
 * Where an expression is evaluated while workers run: in a worker (the
 * pass's SELECT) or in the leader, in parallel mode (the checks of the
 * receiver).
 */
typedef struct PassHazard
{
	bool		in_worker;
	Oid			extension;		/* this extension, or InvalidOid */
} PassHazard;

/*
 * function_forbidden
 *		check_functions_in_node() callback: whether a function may not be
 *		called where the PassHazard context says.  No function declared
 *		PARALLEL UNSAFE may be (it may write, or start a subtransaction, as
 *		a PL/pgSQL EXCEPTION block does).  In the leader, no VOLATILE one
 *		either: each call of a VOLATILE PL/pgSQL or SQL function starts a
 *		command, which the leader cannot do in parallel mode once it has
 *		written a value out of line.  In a worker, only functions declared
 *		PARALLEL SAFE and this extension's own (its maskers are PARALLEL
 *		RESTRICTED for the key alone, which the workers of a pass are
 *		given).
 */
static bool
function_forbidden(Oid funcid, void *context)
{
	PassHazard *hazard = context;
	char		parallel = func_parallel(funcid);

	if (parallel == PROPARALLEL_UNSAFE)
		return true;
	if (!hazard->in_worker)
		return func_volatile(funcid) == PROVOLATILE_VOLATILE;
	if (parallel == PROPARALLEL_SAFE)
		return false;
	return !OidIsValid(hazard->extension) ||
		getExtensionOfObject(ProcedureRelationId, funcid) != hazard->extension;
}

/*
 * expression_forbidden
 *		Expression walker: whether an expression holds something that
 *		cannot be evaluated where the PassHazard context says.  A worker
 *		also cannot evaluate what would read another table, use a sequence
 *		or check a domain's constraints (which may call any function).
 */
static bool
expression_forbidden(Node *node, void *context)
{
	PassHazard *hazard = context;

	if (node == NULL)
		return false;
	if (check_functions_in_node(node, function_forbidden, context))
		return true;
	if (hazard->in_worker &&
		(IsA(node, Query) || IsA(node, SubLink) || IsA(node, SubPlan) ||
		 IsA(node, CoerceToDomain) || IsA(node, NextValueExpr) ||
		 IsA(node, Aggref) || IsA(node, WindowFunc) || IsA(node, GroupingFunc) ||
		 (IsA(node, Param) && ((Param *) node)->paramkind != PARAM_EXTERN)))
		return true;
	return expression_tree_walker(node, expression_forbidden, context);
}

/*
 * query_safe_in_pass
 *		Whether the prepared SELECT of a pass, the pass's own SELECT wrapped
 *		to take the chunk bounds, reads one table alone, can be computed by
 *		workers, and scans each chunk by its TID range.
 */
static bool
query_safe_in_pass(SPIPlanPtr plan)
{
	List	   *sources = SPI_plan_get_plan_sources(plan);
	PassHazard	hazard = {true, get_extension_oid("penelope_sandbox", true)};
	CachedPlanSource *source;
	CachedPlan *cplan;
	Query	   *wrapper;
	Query	   *pass;
	bool		tid_range = false;
	ListCell   *lc;

	if (list_length(sources) != 1)
		return false;
	source = linitial(sources);
	if (list_length(source->query_list) != 1)
		return false;
	wrapper = linitial_node(Query, source->query_list);
	if (list_length(wrapper->rtable) != 1 ||
		linitial_node(RangeTblEntry, wrapper->rtable)->rtekind != RTE_SUBQUERY)
		return false;
	pass = linitial_node(RangeTblEntry, wrapper->rtable)->subquery;
	if (pass->commandType != CMD_SELECT || pass->hasSubLinks || pass->hasAggs ||
		pass->hasWindowFuncs || pass->hasTargetSRFs || pass->hasRowSecurity ||
		pass->cteList != NIL || pass->setOperations != NULL ||
		list_length(pass->rtable) != 1 ||
		linitial_node(RangeTblEntry, pass->rtable)->rtekind != RTE_RELATION ||
		query_tree_walker(pass, expression_forbidden, &hazard, 0))
		return false;

	/* each chunk must be read alone, not the whole table each time */
	cplan = SPI_plan_get_cached_plan(plan);
	if (cplan == NULL)
		return false;
	foreach(lc, cplan->stmt_list)
	{
		PlannedStmt *stmt = lfirst_node(PlannedStmt, lc);
		Plan	   *top = stmt->planTree;

		while (top != NULL && !IsA(top, TidRangeScan))
			top = IsA(top, SubqueryScan) ? ((SubqueryScan *) top)->subplan : outerPlan(top);
		tid_range |= (top != NULL);
	}
	ReleaseCachedPlan(cplan, NULL);	/* the plan is not saved */
	return tid_range;
}

/*
 * table_safe_in_pass
 *		Whether the leader can check the rows of rel in parallel mode: its
 *		CHECK constraints, stored generated columns and partition
 *		constraint call no function declared PARALLEL UNSAFE or VOLATILE.
 */
static bool
table_safe_in_pass(Relation rel)
{
	TupleConstr *constr = RelationGetDescr(rel)->constr;
	PassHazard	hazard = {false, InvalidOid};

	if (constr != NULL)
	{
		for (int i = 0; i < constr->num_check; i++)
		{
			if (expression_forbidden(stringToNode(constr->check[i].ccbin), &hazard))
				return false;
		}
		for (int i = 0; i < constr->num_defval; i++)
		{
			if (TupleDescAttr(RelationGetDescr(rel), constr->defval[i].adnum - 1)->attgenerated &&
				expression_forbidden(stringToNode(constr->defval[i].adbin), &hazard))
				return false;
		}
	}
	if (rel->rd_rel->relispartition &&
		expression_forbidden((Node *) RelationGetPartitionQual(rel), &hazard))
		return false;
	return true;
}

/*
 * parallel_pass_workers
 *		The workers a pass over rel should have: 0 when it is too small, or
 *		not permanent, or parallel maintenance is off.
 */
static int
parallel_pass_workers(Relation rel)
{
	if (max_parallel_maintenance_workers <= 0 ||
		rel->rd_rel->relpersistence != RELPERSISTENCE_PERMANENT ||
		IsInParallelMode() || !IsUnderPostmaster)
		return 0;
	if (RelationGetNumberOfBlocks(rel) < (BlockNumber) Max(min_parallel_table_scan_size, 1) ||
		!table_safe_in_pass(rel))
		return 0;
	return max_parallel_maintenance_workers;
}

/* ---- The leader ---- */

/*
 * receive_chunks
 *		Hand the rows of every chunk to dest, in block order, each chunk
 *		from the queue of the worker that computes it.
 */
static void
receive_chunks(ParallelContext *pcxt, shm_mq_handle **queues, PassShared *shared,
			   TupleDesc result_desc, DestReceiver *dest)
{
	TupleTableSlot *slot = MakeSingleTupleTableSlot(result_desc, &TTSOpsMinimalTuple);
	BlockNumber nchunks = (shared->nblocks + shared->chunk_blocks - 1) / shared->chunk_blocks;

	dest->rStartup(dest, CMD_SELECT, result_desc);
	for (BlockNumber chunk = 0; chunk < nchunks; chunk++)
	{
		shm_mq_handle *queue = queues[chunk % shared->nworkers];

		for (;;)
		{
			Size		nbytes;
			void	   *data;
			shm_mq_result result = shm_mq_receive(queue, &nbytes, &data, false);

			if (result != SHM_MQ_SUCCESS)
			{
				/* the worker is gone: raise its error, if it had one */
				WaitForParallelWorkersToFinish(pcxt);
				elog(ERROR, "a parallel worker of a rewrite ended before its last chunk");
			}
			if (nbytes == PASS_END_OF_CHUNK_LEN)
				break;
			ExecStoreMinimalTuple((MinimalTuple) data, slot, false);
			(void) dest->receiveSlot(slot, dest);
		}
	}
	dest->rShutdown(dest);
	ExecDropSingleTupleTableSlot(slot);
}

/*
 * run_parallel_pass
 *		Run the pass with nworkers workers, in an owner context, the
 *		prepared plan being the chunked SELECT.  Returns false, having
 *		sent no row, if fewer workers could be started.
 */
static bool
run_parallel_pass(Relation rel, Oid owner, SPIPlanPtr plan, const char *sql,
				  int nargs, Oid *argtypes, Datum *values, int nworkers,
				  DestReceiver *dest)
{
	CachedPlanSource *source = linitial(SPI_plan_get_plan_sources(plan));
	TupleDesc	result_desc = source->resultDesc;
	BlockNumber nblocks = RelationGetNumberOfBlocks(rel);
	Size		shared_size = add_size(offsetof(PassShared, silenced),
									   mul_size(sizeof(int64), nworkers));
	Size		params_size = 0;
	Size		queues_size = mul_size(PASS_QUEUE_SIZE, nworkers);
	ParallelContext *pcxt;
	PassShared *shared;
	char	   *shared_sql;
	char	   *params;
	char	   *masking;
	char	   *queue_space;
	shm_mq_handle **queues;
	int16	   *typlens = palloc(sizeof(int16) * Max(nargs, 1));
	bool	   *typbyvals = palloc(sizeof(bool) * Max(nargs, 1));
	char	   *owner_log_level = pstrdup(GetConfigOption("log_min_messages", false, false));
	bool		launched = false;

	for (int i = 0; i < nargs; i++)
	{
		get_typlenbyval(argtypes[i], &typlens[i], &typbyvals[i]);
		params_size = add_size(params_size, sizeof(Oid));
		params_size = add_size(params_size,
							   datumEstimateSpace(values[i], false, typbyvals[i], typlens[i]));
	}

	/*
	 * What a pass run by the leader alone would see: the run's changes so
	 * far, in a new snapshot.  The transaction has its XID already (the
	 * run wrote its ledger), which workers cannot assign.
	 */
	(void) GetCurrentTransactionId();
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());

	EnterParallelMode();
	pcxt = CreateParallelContext("penelope_sandbox", "sandbox_parallel_pass_worker", nworkers);
	shm_toc_estimate_chunk(&pcxt->estimator, shared_size);
	shm_toc_estimate_chunk(&pcxt->estimator, strlen(sql) + 1);
	shm_toc_estimate_chunk(&pcxt->estimator, Max(params_size, 1));
	shm_toc_estimate_chunk(&pcxt->estimator, sandbox_masking_shared_size());
	shm_toc_estimate_chunk(&pcxt->estimator, queues_size);
	shm_toc_estimate_keys(&pcxt->estimator, 5);

	/*
	 * The workers start with the server's log_min_messages, not the owner
	 * context's (DEBUG5, for the leader's emit_log_hook): they write
	 * nothing to the server log once started, and nothing below it
	 * before.
	 */
	(void) set_config_option("log_min_messages",
							 GetConfigOptionResetString("log_min_messages"),
							 PGC_SUSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	InitializeParallelDSM(pcxt);
	(void) set_config_option("log_min_messages", owner_log_level,
							 PGC_SUSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	if (pcxt->seg == NULL)
	{
		/* no dynamic shared memory to be had: the leader runs it alone */
		DestroyParallelContext(pcxt);
		ExitParallelMode();
		PopActiveSnapshot();
		return false;
	}

	shared = shm_toc_allocate(pcxt->toc, shared_size);
	memset(shared, 0, shared_size);
	shared->owner = owner;
	shared->nargs = nargs;
	shared->nworkers = nworkers;
	shared->nblocks = nblocks;
	shared->chunk_blocks = Max(1, Min(PASS_MAX_CHUNK_BLOCKS,
									  nblocks / (nworkers * PASS_MIN_CHUNKS_PER_WORKER)));
	shm_toc_insert(pcxt->toc, PASS_KEY_SHARED, shared);
	shared_sql = shm_toc_allocate(pcxt->toc, strlen(sql) + 1);
	strcpy(shared_sql, sql);
	shm_toc_insert(pcxt->toc, PASS_KEY_SQL, shared_sql);
	params = shm_toc_allocate(pcxt->toc, Max(params_size, 1));
	shm_toc_insert(pcxt->toc, PASS_KEY_PARAMS, params);
	masking = shm_toc_allocate(pcxt->toc, sandbox_masking_shared_size());
	shm_toc_insert(pcxt->toc, PASS_KEY_MASKING, masking);
	queue_space = shm_toc_allocate(pcxt->toc, queues_size);
	shm_toc_insert(pcxt->toc, PASS_KEY_QUEUES, queue_space);

	PG_TRY();
	{
		char	   *param = params;

		/* the parameters, the run token first, and the key */
		for (int i = 0; i < nargs; i++)
		{
			memcpy(param, &argtypes[i], sizeof(Oid));
			param += sizeof(Oid);
			datumSerialize(values[i], false, typbyvals[i], typlens[i], &param);
		}
		sandbox_masking_share(masking);

		queues = palloc(sizeof(shm_mq_handle *) * nworkers);
		for (int i = 0; i < nworkers; i++)
		{
			shm_mq	   *mq = shm_mq_create(queue_space + (Size) i * PASS_QUEUE_SIZE,
										   PASS_QUEUE_SIZE);

			shm_mq_set_receiver(mq, MyProc);
			queues[i] = shm_mq_attach(mq, pcxt->seg, NULL);
		}

		LaunchParallelWorkers(pcxt);
		launched = (pcxt->nworkers_launched == nworkers);
		if (launched)
		{
			/*
			 * A worker that failed to start is an error now: later, the
			 * leader would wait for it while the others wait for room in
			 * their queues.
			 */
			WaitForParallelWorkersToAttach(pcxt);
			for (int i = 0; i < nworkers; i++)
				shm_mq_set_handle(queues[i], pcxt->worker[i].bgwhandle);
			receive_chunks(pcxt, queues, shared, result_desc, dest);
			WaitForParallelWorkersToFinish(pcxt);
			for (int i = 0; i < nworkers; i++)
				sandbox_count_silenced_messages(shared->silenced[i]);
		}
	}
	PG_FINALLY();
	{
		/* the run token and the key leave shared memory before the workers are gone */
		explicit_bzero(params, Max(params_size, 1));
		explicit_bzero(masking, sandbox_masking_shared_size());
	}
	PG_END_TRY();

	DestroyParallelContext(pcxt);
	ExitParallelMode();
	PopActiveSnapshot();
	return launched;
}

/*
 * sandbox_parallel_pass
 *		Run the pass of a rewrite of rel (select_sql, from
 *		sandbox_rewrite_select_sql, with its parameters) in parallel
 *		workers as the table owner, sending its rows to dest in ctid order,
 *		if it can be (see the head of this file).  Returns false, having
 *		done nothing, when it cannot: the caller runs the pass itself.
 */
bool
sandbox_parallel_pass(Relation rel, Oid owner, const char *select_sql,
					  int nargs, Oid *argtypes, Datum *values, DestReceiver *dest)
{
	int			nworkers = parallel_pass_workers(rel);
	SandboxOwnerContext context;
	Oid		   *types;
	char	   *sql;
	bool		ran = false;

	if (nworkers == 0)
		return false;

	/* the pass's SELECT on one chunk: the bounds are the last parameters */
	sql = psprintf("SELECT * FROM (%s) pass WHERE pass.ctid >= $%d AND pass.ctid < $%d",
				   select_sql, nargs + 1, nargs + 2);
	types = palloc(sizeof(Oid) * (nargs + 2));
	memcpy(types, argtypes, sizeof(Oid) * nargs);
	types[nargs] = TIDOID;
	types[nargs + 1] = TIDOID;

	sandbox_owner_context_enter(owner, &context);
	PG_TRY();
	{
		SPIPlanPtr	plan = SPI_prepare(sql, nargs + 2, types);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		if (query_safe_in_pass(plan))
			ran = run_parallel_pass(rel, owner, plan, sql, nargs, argtypes, values,
									nworkers, dest);
		SPI_freeplan(plan);
	}
	PG_CATCH();
	{
		sandbox_owner_context_abort(&context);
		PG_RE_THROW();
	}
	PG_END_TRY();
	sandbox_owner_context_leave(&context);
	if (ran)
		elog(DEBUG1, "the rows of table \"%s\" were computed by %d parallel workers",
			 RelationGetRelationName(rel), nworkers);
	return ran;
}

/* ---- A worker ---- */

/* A receiver sending each row into a worker's queue */
typedef struct QueueSender
{
	DestReceiver pub;
	shm_mq_handle *queue;
} QueueSender;

/*
 * queue_send
 *		Send a row to the leader as a minimal tuple.
 */
static bool
queue_send(TupleTableSlot *slot, DestReceiver *self)
{
	QueueSender *sender = (QueueSender *) self;
	bool		should_free;
	MinimalTuple tuple = ExecFetchSlotMinimalTuple(slot, &should_free);

	if (shm_mq_send(sender->queue, tuple->t_len, tuple, false, false) != SHM_MQ_SUCCESS)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not send rows to the leader of a parallel rewrite")));
	if (should_free)
		pfree(tuple);
	return true;
}

/*
 * queue_startup, queue_shutdown, queue_destroy
 *		Nothing to do: the queue lives as long as the pass, and the end of
 *		a chunk is sent by the worker's loop.
 */
static void
queue_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
}

static void
queue_shutdown(DestReceiver *self)
{
}

static void
queue_destroy(DestReceiver *self)
{
}

/*
 * sandbox_parallel_pass_worker
 *		The main function of a worker of a parallel pass: compute the rows
 *		of chunks ParallelWorkerNumber, ParallelWorkerNumber + nworkers,
 *		and so on, and send them to the leader, each chunk ended by
 *		PASS_END_OF_CHUNK.
 *
 * It runs as the table owner in the leader's security-restricted
 * operation, with its settings, restored by ParallelWorkerMain().
 */
void
sandbox_parallel_pass_worker(dsm_segment *seg, shm_toc *toc)
{
	PassShared *shared;
	char	   *params;
	shm_mq	   *mq;
	int			nargs;
	Oid		   *types;
	ParamListInfo paramlist;
	ItemPointerData bounds[2];
	SandboxOwnerContext context;
	SPIExecuteOptions options = {0};
	QueueSender sender;
	SPIPlanPtr	plan;
	BlockNumber nchunks;

	/* an error may hold a row's value: it goes to the leader alone */
	sandbox_silence_server_log();

	shared = shm_toc_lookup(toc, PASS_KEY_SHARED, false);
	params = shm_toc_lookup(toc, PASS_KEY_PARAMS, false);
	mq = (shm_mq *) ((char *) shm_toc_lookup(toc, PASS_KEY_QUEUES, false) +
					 (Size) ParallelWorkerNumber * PASS_QUEUE_SIZE);
	shm_mq_set_sender(mq, MyProc);
	sender.pub.receiveSlot = queue_send;
	sender.pub.rStartup = queue_startup;
	sender.pub.rShutdown = queue_shutdown;
	sender.pub.rDestroy = queue_destroy;
	sender.pub.mydest = DestNone;
	sender.queue = shm_mq_attach(mq, seg, NULL);

	sandbox_masking_adopt(shm_toc_lookup(toc, PASS_KEY_MASKING, false));

	nargs = shared->nargs;
	types = palloc(sizeof(Oid) * (nargs + 2));
	paramlist = makeParamList(nargs + 2);
	for (int i = 0; i < nargs; i++)
	{
		bool		isnull;

		memcpy(&types[i], params, sizeof(Oid));
		params += sizeof(Oid);
		paramlist->params[i].value = datumRestore(&params, &isnull);
		paramlist->params[i].isnull = isnull;
		paramlist->params[i].pflags = PARAM_FLAG_CONST;
		paramlist->params[i].ptype = types[i];
	}
	for (int i = 0; i < 2; i++)
	{
		types[nargs + i] = TIDOID;
		paramlist->params[nargs + i].value = PointerGetDatum(&bounds[i]);
		paramlist->params[nargs + i].isnull = false;
		paramlist->params[nargs + i].pflags = PARAM_FLAG_CONST;
		paramlist->params[nargs + i].ptype = TIDOID;
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	sandbox_owner_context_enter(shared->owner, &context);
	/*
	 * Each chunk by its TID range, never the whole table, nor an index of
	 * the owner's matching the pass's filter, which would return the rows
	 * out of ctid order.
	 */
	(void) set_config_option("enable_seqscan", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("enable_indexscan", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("enable_bitmapscan", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	plan = SPI_prepare(shm_toc_lookup(toc, PASS_KEY_SQL, false), nargs + 2, types);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	options.params = paramlist;
	options.read_only = true;	/* a worker starts no command */
	options.dest = (DestReceiver *) &sender;

	nchunks = (shared->nblocks + shared->chunk_blocks - 1) / shared->chunk_blocks;
	for (BlockNumber chunk = ParallelWorkerNumber; chunk < nchunks; chunk += shared->nworkers)
	{
		int			ret;

		uint64		first = (uint64) chunk * shared->chunk_blocks;
		uint64		end = first + shared->chunk_blocks;

		ItemPointerSet(&bounds[0], (BlockNumber) first, 0);
		ItemPointerSet(&bounds[1], (BlockNumber) Min(end, (uint64) MaxBlockNumber), 0);
		ret = SPI_execute_plan_extended(plan, &options);
		if (ret < 0)
			elog(ERROR, "SPI_execute_plan_extended failed: error code %d", ret);
		if (shm_mq_send(sender.queue, PASS_END_OF_CHUNK_LEN, PASS_END_OF_CHUNK, false, true) !=
			SHM_MQ_SUCCESS)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not send rows to the leader of a parallel rewrite")));
	}

	/*
	 * The owner context is not left: the worker ends with it, and its
	 * transaction end puts the settings back.
	 */
	shared->silenced[ParallelWorkerNumber] = sandbox_silenced_messages();
	SPI_finish();
	shm_mq_detach(sender.queue);
}
