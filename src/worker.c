/*-------------------------------------------------------------------------
 *
 * worker.c
 *		Background workers: the launcher and the sanitizer.
 *
 * With penelope_sandbox in shared_preload_libraries and a server whose
 * penelope_sandbox.server_role is not "production", a launcher worker
 * looks, every penelope_sandbox.naptime seconds (and at once when a
 * commit closed a database), at every database marked as a sandbox that
 * is not open (gate.c decides both).  For each it terminates the sessions
 * of roles that may not be there, and starts a sanitizer worker once no
 * client has been active in it for a naptime (so that a restore in
 * progress is left to finish, while an idle monitoring connection does
 * not keep the copy closed).  A sanitizer that ends without opening the
 * database (it failed, or died even before connecting: the launcher
 * watches its handle) is retried a minute later, or at once after a
 * configuration reload.  The launcher keeps what it knows about each
 * database in its own memory, for the databases that exist now.  On a
 * production server it does nothing and holds no connection.
 *
 * sandbox_sanitize_async() queues a run; the sanitizer worker for it is
 * started when the calling transaction commits (nothing is started when
 * it rolls back, and PREPARE is refused).  A sanitizer first moves its
 * run from 'queued' to 'running' in a transaction of its own, holding a
 * session advisory lock (PENELOPE_RUN_LOCK_KEY1, run id) for as long as
 * it lives; the run itself is a second transaction.  A failure, a
 * cancellation (pg_cancel_backend) or a termination (pg_terminate_backend,
 * a fast shutdown) rolls the work back and is recorded in sandbox.run.
 * Runs whose worker is gone without a word (an immediate stop, a crash)
 * are marked failed by the next sanitizer of that database: in a closed
 * sandbox the launcher starts one, which sanitizes it again; every other
 * database is looked at once after the launcher starts, and a run cut
 * short there is marked failed and queued again.
 *
 * Sanitizers run with search_path = pg_catalog, pg_temp, like the
 * SECURITY DEFINER entry points, so the SQL they build names every type
 * the same way it is then resolved.
 *
 * Copyright (c) 2026, penelope_sandbox developers
 *
 * IDENTIFICATION
 *	  src/worker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/transam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_largeobject.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/vacuum.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_node.h"
#include "pgstat.h"
#include "portability/instr_time.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "penelope_sandbox.h"

PG_FUNCTION_INFO_V1(sandbox_sanitize_async);

PGDLLEXPORT void sandbox_launcher_main(Datum main_arg);
PGDLLEXPORT void sandbox_sanitizer_main(Datum main_arg);

/* A sanitizer that ended with its database still closed: retry after */
#define RETRY_AFTER_FAILURE_MS (60 * 1000)

/* Session advisory lock (key1, run id) held by the worker of a run */
#define PENELOPE_RUN_LOCK_KEY1 1346719314

/* ---- Settings ---- */

char	   *sandbox_launcher_database = NULL;
int			sandbox_naptime = 10;
bool		sandbox_auto_sanitize = true;

/* ---- Shared state: where to wake the launcher ---- */

typedef struct LauncherShared
{
	pg_atomic_uint32 launcher_procno;	/* INVALID_PGPROCNO if none */
} LauncherShared;

static LauncherShared *launcher_shared = NULL;

/* Hooks installed by _PG_init when the library is preloaded */
shmem_request_hook_type sandbox_prev_shmem_request_hook = NULL;
shmem_startup_hook_type sandbox_prev_shmem_startup_hook = NULL;

/* What a sanitizer worker is asked to do, passed in bgw_extra */
typedef struct SanitizerTask
{
	int64		run_id;			/* > 0: asynchronous run; AUTOMATIC_RUN: ledger
								 * row made here; RECOVER_RUNS: see
								 * recover_runs() */
	Oid			roleid;			/* role to connect as */
	char		environment[NAMEDATALEN];
} SanitizerTask;

#define AUTOMATIC_RUN 0
#define RECOVER_RUNS (-1)

StaticAssertDecl(sizeof(SanitizerTask) <= BGW_EXTRALEN,
				 "SanitizerTask does not fit in bgw_extra");

/* Asynchronous runs queued by this transaction, started at commit */
typedef struct PendingRun
{
	Oid			dboid;
	int			nest_level;
	SanitizerTask task;
} PendingRun;

static List *pending_runs = NIL;

/* What the launcher knows about a closed sandbox database */
typedef struct LauncherEntry
{
	Oid			dboid;			/* hash key */
	BackgroundWorkerHandle *handle; /* sanitizer started, or NULL */
	TimestampTz retry_after;	/* no new sanitizer before this */
	bool		seen;			/* seen in the current look */
} LauncherEntry;

/*
 * The launcher's recovery after a server start: the databases still to
 * look at for runs the stop cut short, and the worker looking at one.
 */
static List *databases_to_recover = NIL;
static bool recovery_listed = false;
static BackgroundWorkerHandle *recovery_handle = NULL;

/* The sanitizer was asked to terminate */
static volatile sig_atomic_t sanitizer_terminating = false;

/*
 * sandbox_shmem_request
 *		Ask for the shared state.
 */
void
sandbox_shmem_request(void)
{
	if (sandbox_prev_shmem_request_hook)
		sandbox_prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(LauncherShared)));
}

/*
 * sandbox_shmem_startup
 *		Create or attach to the shared state.
 */
void
sandbox_shmem_startup(void)
{
	bool		found;

	if (sandbox_prev_shmem_startup_hook)
		sandbox_prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	launcher_shared = ShmemInitStruct("penelope_sandbox", sizeof(LauncherShared), &found);
	if (!found)
		pg_atomic_init_u32(&launcher_shared->launcher_procno, INVALID_PGPROCNO);
	LWLockRelease(AddinShmemInitLock);
}

/*
 * sandbox_wake_launcher
 *		Make the launcher look at the databases now rather than after its
 *		nap (a commit closed a database).
 */
void
sandbox_wake_launcher(void)
{
	uint32		procno;

	if (launcher_shared == NULL)
		return;
	procno = pg_atomic_read_u32(&launcher_shared->launcher_procno);
	if (procno != INVALID_PGPROCNO)
		SetLatch(&ProcGlobal->allProcs[procno].procLatch);
}

/* ---- Starting a sanitizer ---- */

/*
 * start_sanitizer
 *		Register a dynamic background worker sanitizing a database.
 *		Returns false when no worker slot is free; *handle (if asked for)
 *		is allocated in the current memory context.
 */
static bool
start_sanitizer(Oid dboid, const SanitizerTask *task, BackgroundWorkerHandle **handle)
{
	BackgroundWorker worker = {0};
	BackgroundWorkerHandle *ignored;

	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(worker.bgw_library_name, "penelope_sandbox", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "sandbox_sanitizer_main", BGW_MAXLEN);
	snprintf(worker.bgw_name, BGW_MAXLEN, "penelope_sandbox sanitizer for database %u", dboid);
	strlcpy(worker.bgw_type, SANITIZER_TYPE, BGW_MAXLEN);
	worker.bgw_main_arg = ObjectIdGetDatum(dboid);
	memcpy(worker.bgw_extra, task, sizeof(SanitizerTask));

	return RegisterDynamicBackgroundWorker(&worker, handle ? handle : &ignored);
}

/* ---- The asynchronous entry point ---- */

/*
 * check_environment_exists
 *		Refuse an empty or unknown environment name; SPI is connected.
 */
static void
check_environment_exists(const char *environment)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(environment)};

	if (environment[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("environment name must not be empty")));
	if (strlen(environment) >= NAMEDATALEN)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("environment name is too long")));
	if (SPI_execute_with_args("SELECT FROM sandbox.environment WHERE name OPERATOR(pg_catalog.=) $1",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read sandbox.environment");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("environment \"%s\" does not exist", environment),
				 errhint("The environments are the rows of sandbox.environment.")));
}

/*
 * sandbox_sanitize_async(environment text) returns bigint
 *		Queue a run and return its id at once; its worker starts when this
 *		transaction commits.
 */
Datum
sandbox_sanitize_async(PG_FUNCTION_ARGS)
{
	char	   *environment = text_to_cstring(PG_GETARG_TEXT_PP(0));
	MemoryContext oldcxt;
	PendingRun *pending;

	sandbox_check_not_production(environment);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	check_environment_exists(environment);
	oldcxt = MemoryContextSwitchTo(TopMemoryContext);
	pending = palloc0(sizeof(PendingRun));
	MemoryContextSwitchTo(oldcxt);
	pending->task.run_id = sandbox_ledger_insert_run(environment, "queued");
	SPI_finish();

	pending->dboid = MyDatabaseId;
	pending->nest_level = GetCurrentTransactionNestLevel();
	pending->task.roleid = GetUserId();
	strlcpy(pending->task.environment, environment, NAMEDATALEN);
	oldcxt = MemoryContextSwitchTo(TopMemoryContext);
	pending_runs = lappend(pending_runs, pending);
	MemoryContextSwitchTo(oldcxt);

	PG_RETURN_INT64(pending->task.run_id);
}

/*
 * start_pending_runs
 *		At commit: start the worker of each run this transaction queued.
 *		Nothing here may fail: the transaction has committed.
 */
static void
start_pending_runs(void)
{
	ListCell   *lc;

	foreach(lc, pending_runs)
	{
		PendingRun *pending = lfirst(lc);

		if (!start_sanitizer(pending->dboid, &pending->task, NULL))
			ereport(WARNING,
					(errmsg("could not start a background worker for run " INT64_FORMAT,
							pending->task.run_id),
					 errdetail("The run is marked failed by the next sanitization of this database."),
					 errhint("Raise max_worker_processes, or run sandbox_sanitize() in a session.")));
	}
}

/*
 * sandbox_worker_xact_callback
 *		Start the queued runs' workers once the transaction that queued
 *		them has committed; forget them when it aborts; refuse to prepare.
 */
void
sandbox_worker_xact_callback(XactEvent event, void *arg)
{
	if (pending_runs == NIL)
		return;
	switch (event)
	{
		case XACT_EVENT_PRE_PREPARE:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot prepare a transaction that called sandbox_sanitize_async()"),
					 errhint("Commit it instead.")));
			break;
		case XACT_EVENT_COMMIT:
			start_pending_runs();
			list_free_deep(pending_runs);
			pending_runs = NIL;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			list_free_deep(pending_runs);
			pending_runs = NIL;
			break;
		default:
			break;
	}
}

/*
 * sandbox_worker_subxact_callback
 *		Runs queued in a subtransaction belong to its parent when it
 *		commits, and are gone (their rows too) when it aborts.
 */
void
sandbox_worker_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();
	ListCell   *lc;

	foreach(lc, pending_runs)
	{
		PendingRun *pending = lfirst(lc);

		if (pending->nest_level < level)
			continue;
		if (event == SUBXACT_EVENT_ABORT_SUB)
		{
			pending_runs = foreach_delete_current(pending_runs, lc);
			pfree(pending);
		}
		else if (event == SUBXACT_EVENT_COMMIT_SUB)
			pending->nest_level = level - 1;
	}
}

/* ---- The sanitizer worker ---- */

/*
 * sanitizer_sigterm
 *		SIGTERM (pg_terminate_backend, a fast shutdown) cancels the run,
 *		so that it is rolled back and recorded as failed before the worker
 *		exits.
 */
static void
sanitizer_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	sanitizer_terminating = true;
	InterruptPending = true;
	QueryCancelPending = true;
	SetLatch(MyLatch);
	errno = save_errno;
}

/*
 * run_sql
 *		Run one statement with parameters; SPI is connected.  Returns the
 *		first column of the first row as int64, or 0.
 */
static int64
run_sql(const char *sql, int nargs, Oid *argtypes, Datum *args)
{
	bool		isnull;
	Datum		value;

	if (SPI_execute_with_args(sql, nargs, argtypes, args, NULL, false, 1) < 0)
		elog(ERROR, "could not run: %s", sql);
	if (SPI_processed == 0 || SPI_tuptable == NULL)
		return 0;
	value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? 0 : DatumGetInt64(value);
}

/*
 * lock_run
 *		Take the session lock that shows this worker is alive for a run.
 */
static void
lock_run(int64 run_id)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, PENELOPE_RUN_LOCK_KEY1, (uint32) run_id, 2);
	(void) LockAcquire(&tag, ExclusiveLock, true, false);
}

/*
 * fail_dead_runs
 *		Mark failed the runs of this database whose worker is gone, other
 *		than own_run_id; SPI is connected.  Returns the environments of
 *		those runs.
 *
 * A run is alive while its worker holds its lock.  A queued run whose
 * worker has not started yet holds none: it is left alone for a minute,
 * unless it was queued before the server started (its worker never will).
 */
static List *
fail_dead_runs(int64 own_run_id)
{
	Oid			argtypes[3] = {OIDOID, INT8OID, INT8OID};
	Datum		args[3];
	List	   *environments = NIL;

	args[0] = ObjectIdGetDatum(MyDatabaseId);
	args[1] = Int64GetDatum((int64) GetSystemIdentifier());
	args[2] = Int64GetDatum(own_run_id);
	if (SPI_execute_with_args("UPDATE sandbox.run r SET status = 'failed', finished_at = pg_catalog.clock_timestamp(),"
							  " summary = 'interrupted: its worker ended before the run finished (server stop, crash or lack of a worker slot)'"
							  " WHERE r.database_oid OPERATOR(pg_catalog.=) $1"
							  " AND r.system_identifier OPERATOR(pg_catalog.=) $2"
							  " AND r.id OPERATOR(pg_catalog.<>) $3"
							  " AND r.status OPERATOR(pg_catalog.=) ANY ('{queued,running}')"
							  " AND (r.status OPERATOR(pg_catalog.=) 'running'"
							  "      OR r.started_at OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) '1 minute'::pg_catalog.interval)"
							  "      OR r.started_at OPERATOR(pg_catalog.<) pg_catalog.pg_postmaster_start_time())"
							  " AND NOT EXISTS (SELECT FROM pg_catalog.pg_locks l"
							  "  WHERE l.locktype OPERATOR(pg_catalog.=) 'advisory'"
							  "  AND l.database OPERATOR(pg_catalog.=) $1"
							  "  AND l.classid OPERATOR(pg_catalog.=) " CppAsString2(PENELOPE_RUN_LOCK_KEY1) "::pg_catalog.oid"
							  "  AND l.objid::pg_catalog.int8 OPERATOR(pg_catalog.=) r.id"
							  "  AND l.objsubid OPERATOR(pg_catalog.=) 2 AND l.granted)"
							  " RETURNING r.environment",
							  3, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "could not update sandbox.run");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *environment = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);

		if (!list_member(environments, makeString(environment)))
			environments = lappend(environments, makeString(environment));
	}
	return environments;
}

/*
 * claim_run
 *		In a transaction of its own: mark failed the runs of this database
 *		whose worker is gone, then make the run this worker does
 *		'running' (an automatic run's row is made here) and hold its lock.
 *		Returns the run id, or 0 when an asynchronous run is no longer
 *		queued.
 */
static int64
claim_run(SanitizerTask *task, const char *dbname)
{
	Oid			argtypes[4] = {TEXTOID, OIDOID, INT8OID, INT8OID};
	Datum		args[4];
	int64		run_id = task->run_id;

	args[0] = CStringGetTextDatum(task->environment);
	args[1] = ObjectIdGetDatum(MyDatabaseId);
	args[2] = Int64GetDatum((int64) GetSystemIdentifier());
	args[3] = Int64GetDatum(task->run_id);

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());

	if (run_sql("SELECT count(*) FROM pg_catalog.pg_extension"
				" WHERE extname OPERATOR(pg_catalog.=) 'penelope_sandbox'", 0, NULL, NULL) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("database \"%s\" is marked as a sandbox but has no penelope_sandbox extension",
						dbname),
				 errhint("Run CREATE EXTENSION penelope_sandbox in it; it stays closed to ordinary roles until it is sanitized.")));

	if (run_id != AUTOMATIC_RUN)
		lock_run(run_id);
	(void) fail_dead_runs(run_id);

	if (run_id != AUTOMATIC_RUN)
		run_id = run_sql("UPDATE sandbox.run SET status = 'running'"
						 " WHERE id OPERATOR(pg_catalog.=) $4"
						 " AND status OPERATOR(pg_catalog.=) 'queued' RETURNING id",
						 4, argtypes, args);
	else
	{
		if (run_sql("SELECT count(*) FROM sandbox.rule r"
					" JOIN sandbox.environment_chain($1) c ON r.environment OPERATOR(pg_catalog.=) c.name"
					" WHERE r.enabled", 4, argtypes, args) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_NO_DATA_FOUND),
					 errmsg("environment \"%s\" has no rules in database \"%s\"",
							task->environment, dbname),
					 errdetail("A sandbox is opened only by a run that applied at least one rule."),
					 errhint("Add the rules (sandbox_load_profile(), or restore them with the dump).")));
		run_id = sandbox_ledger_insert_run(task->environment, "running");
		lock_run(run_id);
	}

	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	return run_id;
}

/*
 * update_run
 *		Run "UPDATE sandbox.run SET <assignments> WHERE id = $1" in a
 *		transaction of its own, with the text value as $2.
 */
static void
update_run(int64 run_id, const char *assignments, const char *value)
{
	Oid			argtypes[2] = {INT8OID, TEXTOID};
	Datum		args[2];

	args[0] = Int64GetDatum(run_id);
	args[1] = CStringGetTextDatum(value);
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	run_sql(psprintf("UPDATE sandbox.run SET %s WHERE id OPERATOR(pg_catalog.=) $1", assignments),
			2, argtypes, args);
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
}

/*
 * record_failure
 *		Mark a run failed with the message of its error.  The engine's
 *		errors hold no row values, so the message is safe to keep.
 */
static void
record_failure(int64 run_id, const char *message)
{
	update_run(run_id,
			   "status = 'failed', finished_at = pg_catalog.clock_timestamp(), summary = $2",
			   psprintf("failed: %s", message));
}

/*
 * recover_runs
 *		After a server start, in a database with the extension: mark
 *		failed the runs that the stop or a crash cut short, and queue and
 *		start a new run of each of their environments.
 */
static void
recover_runs(Oid dboid, const char *dbname)
{
	List	   *environments;
	List	   *tasks = NIL;
	ListCell   *lc;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	if (run_sql("SELECT count(*) FROM pg_catalog.pg_extension"
				" WHERE extname OPERATOR(pg_catalog.=) 'penelope_sandbox'", 0, NULL, NULL) > 0)
	{
		environments = fail_dead_runs(0);
		foreach(lc, environments)
		{
			SanitizerTask *task = MemoryContextAllocZero(TopMemoryContext, sizeof(SanitizerTask));

			task->roleid = BOOTSTRAP_SUPERUSERID;
			strlcpy(task->environment, strVal(lfirst(lc)), NAMEDATALEN);
			task->run_id = sandbox_ledger_insert_run(task->environment, "queued");
			tasks = lappend(tasks, task);
		}
	}
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();

	foreach(lc, tasks)
	{
		SanitizerTask *task = lfirst(lc);

		ereport(LOG,
				(errmsg("penelope_sandbox runs environment \"%s\" again in database \"%s\" as run " INT64_FORMAT,
						task->environment, dbname, task->run_id),
				 errdetail("A run of it was cut short by a server stop or a crash.")));
		if (!start_sanitizer(dboid, task, NULL))
			ereport(WARNING,
					(errmsg("could not start a background worker for run " INT64_FORMAT, task->run_id),
					 errhint("Raise max_worker_processes.")));
	}
}

/*
 * count_large_objects
 *		The large objects of this database that a new snapshot sees; in a
 *		transaction, SPI not connected.
 */
static int64
count_large_objects(void)
{
	int64		count;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	count = run_sql("SELECT pg_catalog.count(*) FROM pg_catalog.pg_largeobject_metadata", 0, NULL, NULL);
	SPI_finish();
	return count;
}

/*
 * largeobject_relfilenode
 *		The file of pg_largeobject now; in a transaction.
 */
static Oid
largeobject_relfilenode(void)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(LargeObjectRelationId));
	Oid			relfilenode;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", LargeObjectRelationId);
	relfilenode = ((Form_pg_class) GETSTRUCT(tuple))->relfilenode;
	ReleaseSysCache(tuple);
	return relfilenode;
}

/*
 * wait_for_older_transactions
 *		Wait until no transaction of this database that began before limit
 *		(the first transaction id after the run) is still open: until then
 *		some snapshot may still see the rows of pg_largeobject the run
 *		deleted, and VACUUM FULL would copy them, recently dead, into the
 *		new file, bytes and all.  Waits as long as a lock wait may
 *		(lock_timeout, set by the caller from
 *		penelope_sandbox.lock_wait_timeout), then fails.  In a transaction.
 */
static void
wait_for_older_transactions(TransactionId limit)
{
	Relation	rel = table_open(LargeObjectRelationId, AccessShareLock);
	TimestampTz start = GetCurrentTimestamp();

	for (;;)
	{
		InvalidateCatalogSnapshot();
		if (TransactionIdFollowsOrEquals(GetOldestNonRemovableTransactionId(rel), limit))
			break;
		if (LockTimeout > 0 && TimestampDifferenceExceeds(start, GetCurrentTimestamp(), LockTimeout))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_IN_USE),
					 errmsg("a transaction older than the run was still open after %d ms (penelope_sandbox.lock_wait_timeout)",
							LockTimeout)));
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 100L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	table_close(rel, AccessShareLock);
}

/*
 * rewrite_large_objects
 *		After a run that unlinked large objects has committed: rewrite
 *		pg_largeobject (VACUUM FULL, which CLUSTER's machinery does: a new
 *		file of the live rows, the old one unlinked at commit), so that no
 *		page keeps a byte of the large objects unlinked, once no
 *		transaction older than limit can see them any more.  Returns NULL,
 *		or the message of the error that stopped it (logged as a WARNING).
 *
 * Outside any transaction.  VACUUM cannot run in a transaction block nor
 * through SPI: ExecVacuum is called as a top-level statement would be,
 * and runs its own transactions.  Whoever asked for the run, it runs as
 * the bootstrap superuser, who owns pg_largeobject (a VACUUM by anyone
 * else skips it with a mere WARNING); it runs no user code: the catalog
 * has no trigger, and its one index is a built-in btree.
 * penelope_sandbox.lock_wait_timeout (lock_timeout where it is 0) bounds
 * the wait for its lock, as for the run's tables, so that a session
 * holding a large object open does not queue every other large object
 * access behind ours.  When the lock does not come, the message says so
 * in words of its own (no value can be in it): the run has committed
 * all the same, and the caller notes in the ledger what the DBA must
 * run.
 */
static char *
rewrite_large_objects(MemoryContext workcxt, TransactionId limit)
{
	Oid			save_userid;
	int			save_sec_context;
	char	   *volatile error = NULL;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	if (sandbox_lock_wait_timeout > 0)
		SetConfigOption("lock_timeout", psprintf("%d", sandbox_lock_wait_timeout),
						PGC_SUSET, PGC_S_OVERRIDE);
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	pgstat_report_activity(STATE_RUNNING, "VACUUM FULL pg_catalog.pg_largeobject");
	PG_TRY();
	{
		VacuumStmt *stmt = makeNode(VacuumStmt);
		Oid			before = largeobject_relfilenode();

		wait_for_older_transactions(limit);
		stmt->options = list_make1(makeDefElem("full", NULL, -1));
		stmt->rels = list_make1(makeVacuumRelation(makeRangeVar("pg_catalog", "pg_largeobject", -1),
												   InvalidOid, NIL));
		stmt->is_vacuumcmd = true;
		SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID,
							   save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
		ExecVacuum(make_parsestate(NULL), stmt, true);
		SetUserIdAndSecContext(save_userid, save_sec_context);
		/* VACUUM skips, with a mere WARNING, a table it may not process */
		if (largeobject_relfilenode() == before)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("VACUUM FULL left pg_largeobject in its old file")));
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(workcxt);
		edata = CopyErrorData();
		HOLD_INTERRUPTS();
		FlushErrorState();
		AbortCurrentTransaction();
		SetUserIdAndSecContext(save_userid, save_sec_context);
		RESUME_INTERRUPTS();
		MemoryContextSwitchTo(workcxt);
		QueryCancelPending = false;
		error = edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE && LockTimeout > 0 ?
			psprintf("another session held a lock on it for more than %d ms (penelope_sandbox.lock_wait_timeout)",
					 LockTimeout) :
			edata->message;
		ereport(WARNING,
				(errcode(edata->sqlerrcode),
				 errmsg("penelope_sandbox could not rewrite pg_largeobject: %s", error),
				 errhint("Run VACUUM FULL pg_catalog.pg_largeobject as a superuser: the bytes of the large objects the run unlinked stay in its pages until then.")));
	}
	PG_END_TRY();
	MemoryContextSwitchTo(workcxt);
	pgstat_report_activity(STATE_IDLE, NULL);
	return error;
}

/*
 * note_in_ledger
 *		Append a note to the summary of a run, in a transaction of its own.
 */
static void
note_in_ledger(int64 run_id, const char *note)
{
	update_run(run_id, "summary = summary OPERATOR(pg_catalog.||) $2", note);
}

/*
 * sandbox_sanitizer_main
 *		Entry point of a sanitizer worker: main_arg is the database OID,
 *		bgw_extra a SanitizerTask.
 */
void
sandbox_sanitizer_main(Datum main_arg)
{
	Oid			dboid = DatumGetObjectId(main_arg);
	SanitizerTask task;
	MemoryContext workcxt;
	char	   *dbname;
	int64		run_id;
	volatile bool committed = false;	/* the run has committed */
	TransactionId after_run = InvalidTransactionId;	/* the first xid after it */

	memcpy(&task, MyBgworkerEntry->bgw_extra, sizeof(SanitizerTask));
	run_id = task.run_id;
	pqsignal(SIGTERM, sanitizer_sigterm);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, task.roleid, 0);
	pgstat_report_appname(SANITIZER_TYPE);
	SetConfigOption("search_path", SANDBOX_RULE_SEARCH_PATH, PGC_SUSET, PGC_S_OVERRIDE);
	/* as autovacuum: whatever the server's default, a run needs fresh snapshots */
	SetConfigOption("default_transaction_isolation", "read committed", PGC_SUSET, PGC_S_OVERRIDE);

	workcxt = AllocSetContextCreate(TopMemoryContext, "penelope_sandbox sanitizer",
									ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(workcxt);

	/* catalog look-ups need a transaction */
	StartTransactionCommand();
	dbname = MemoryContextStrdup(workcxt, get_database_name(dboid));
	CommitTransactionCommand();
	MemoryContextSwitchTo(workcxt);

	if (task.run_id == RECOVER_RUNS)
	{
		recover_runs(dboid, dbname);
		proc_exit(0);
	}

	PG_TRY();
	{
		char	   *summary;
		int64		large_objects;

		run_id = claim_run(&task, dbname);
		if (run_id == 0)
		{
			ereport(LOG,
					(errmsg("penelope_sandbox run " INT64_FORMAT " in database \"%s\" is no longer queued",
							task.run_id, dbname)));
			proc_exit(0);
		}
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		sandbox_report_progress = true;
		large_objects = count_large_objects();
		summary = sandbox_sanitize_environment(task.environment, run_id);
		/*
		 * The large objects the run unlinked, less those other sessions
		 * created meanwhile, plus those they unlinked: rare in a copy
		 * being sanitized, and at worst a rewrite for nothing, or none
		 * when as many were created as unlinked.
		 */
		large_objects -= count_large_objects();
		PopActiveSnapshot();
		CommitTransactionCommand();
		committed = true;
		after_run = ReadNextTransactionId();
		pgstat_report_activity(STATE_IDLE, NULL);
		ereport(LOG,
				(errmsg("penelope_sandbox sanitized database \"%s\": %s",
						dbname, summary)));

		/* their bytes stay in the pages of pg_largeobject until rewritten */
		if (large_objects > 0)
		{
			instr_time	start;
			instr_time	duration;
			char	   *error;

			INSTR_TIME_SET_CURRENT(start);
			error = rewrite_large_objects(workcxt, after_run);
			INSTR_TIME_SET_CURRENT(duration);
			INSTR_TIME_SUBTRACT(duration, start);
			if (error == NULL)
				ereport(LOG,
						(errmsg("penelope_sandbox rewrote pg_largeobject in database \"%s\" in %.3f s after run " INT64_FORMAT ", which unlinked " INT64_FORMAT " large objects",
								dbname, INSTR_TIME_GET_DOUBLE(duration), run_id, large_objects)));
			note_in_ledger(run_id,
						   error == NULL ?
						   psprintf("; pg_largeobject rewritten after the run had committed (" INT64_FORMAT " large objects unlinked)",
									large_objects) :
						   psprintf("; pg_largeobject could not be rewritten after the run (" INT64_FORMAT " large objects unlinked): %s; their bytes stay in its pages until a superuser runs VACUUM FULL pg_catalog.pg_largeobject",
									large_objects, error));
		}
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(workcxt);
		edata = CopyErrorData();
		HOLD_INTERRUPTS();
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
		RESUME_INTERRUPTS();
		MemoryContextSwitchTo(workcxt);
		pgstat_report_activity(STATE_IDLE, NULL);

		/* a cancellation or a termination still gets its failure recorded */
		QueryCancelPending = false;
		if (run_id != AUTOMATIC_RUN && !committed)
			record_failure(run_id,
						   sanitizer_terminating ? "terminated (pg_terminate_backend or a server stop)" :
						   edata->message);
	}
	PG_END_TRY();

	proc_exit(0);
}

/* ---- The launcher ---- */

/*
 * start_recovery
 *		After a server start, look at the databases that are not closed
 *		sandboxes one at a time, for runs the stop cut short (a closed
 *		sandbox is sanitized again anyway).
 */
static void
start_recovery(void)
{
	SanitizerTask task = {0};
	MemoryContext oldcxt;
	pid_t		pid;

	if (recovery_handle != NULL)
	{
		if (GetBackgroundWorkerPid(recovery_handle, &pid) != BGWH_STOPPED)
			return;
		pfree(recovery_handle);
		recovery_handle = NULL;
	}
	if (databases_to_recover == NIL)
		return;
	task.run_id = RECOVER_RUNS;
	task.roleid = BOOTSTRAP_SUPERUSERID;
	oldcxt = MemoryContextSwitchTo(TopMemoryContext);
	if (start_sanitizer(linitial_oid(databases_to_recover), &task, &recovery_handle))
		databases_to_recover = list_delete_first(databases_to_recover);
	else
		recovery_handle = NULL;
	MemoryContextSwitchTo(oldcxt);
}

/*
 * look_at_databases
 *		One look of the launcher: for each sandbox database that is not
 *		open, terminate the sessions that may not be there, and start a
 *		sanitizer when none is at work, none failed within the retry
 *		delay, and no client has been active in it for a naptime.
 */
static void
look_at_databases(HTAB *known)
{
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum(sandbox_naptime)};
	HASH_SEQ_STATUS seq;
	LauncherEntry *entry;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "looking for sandbox databases");

	if (SPI_execute_with_args("SELECT d.oid, d.datname,"
							  " EXISTS (SELECT FROM pg_catalog.pg_stat_activity a"
							  "  WHERE a.datid OPERATOR(pg_catalog.=) d.oid"
							  "  AND a.backend_type OPERATOR(pg_catalog.=) ANY ('{client backend,walsender}')"
							  "  AND (a.state IS DISTINCT FROM 'idle'"
							  "       OR a.state_change OPERATOR(pg_catalog.>) (pg_catalog.now()"
							  "          OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => $1)))),"
							  " EXISTS (SELECT FROM pg_catalog.pg_stat_activity a"
							  "  WHERE a.datid OPERATOR(pg_catalog.=) d.oid"
							  "  AND a.backend_type OPERATOR(pg_catalog.=) '" SANITIZER_TYPE "')"
							  " FROM pg_catalog.pg_database d"
							  " WHERE d.datallowconn AND NOT d.datistemplate",
							  1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_database");

	hash_seq_init(&seq, known);
	while ((entry = hash_seq_search(&seq)) != NULL)
		entry->seen = false;

	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	tupdesc = SPI_tuptable->tupdesc;
		bool		isnull;
		Oid			dboid = DatumGetObjectId(SPI_getbinval(tuple, tupdesc, 1, &isnull));
		char	   *dbname = SPI_getvalue(tuple, tupdesc, 2);
		bool		busy = DatumGetBool(SPI_getbinval(tuple, tupdesc, 3, &isnull));
		bool		sanitizing = DatumGetBool(SPI_getbinval(tuple, tupdesc, 4, &isnull));
		char	   *environment = sandbox_database_environment(dboid, dbname);
		TimestampTz now = GetCurrentTimestamp();
		bool		found;
		int			terminated;

		if (environment == NULL || sandbox_database_open(dboid, environment))
		{
			if (!recovery_listed)
			{
				MemoryContext oldcxt = MemoryContextSwitchTo(TopMemoryContext);

				databases_to_recover = lappend_oid(databases_to_recover, dboid);
				MemoryContextSwitchTo(oldcxt);
			}
			continue;
		}

		terminated = sandbox_close_database_sessions(dboid);
		if (terminated > 0)
			ereport(LOG,
					(errmsg("penelope_sandbox terminated %d sessions of database \"%s\", which is not sanitized",
							terminated, dbname)));

		entry = hash_search(known, &dboid, HASH_ENTER, &found);
		if (!found)
		{
			entry->handle = NULL;
			entry->retry_after = 0;
		}
		entry->seen = true;
		if (entry->handle != NULL)
		{
			pid_t		pid;

			if (GetBackgroundWorkerPid(entry->handle, &pid) != BGWH_STOPPED)
				continue;
			/* it ended, and the database is still closed */
			pfree(entry->handle);
			entry->handle = NULL;
			entry->retry_after = TimestampTzPlusMilliseconds(now, RETRY_AFTER_FAILURE_MS);
		}
		if (!sandbox_auto_sanitize || sanitizing || now < entry->retry_after)
			continue;
		if (busy)
		{
			elog(DEBUG1, "penelope_sandbox: database \"%s\" has active clients, waiting", dbname);
			continue;
		}
		{
			SanitizerTask task = {0};
			MemoryContext oldcxt = MemoryContextSwitchTo(TopMemoryContext);

			task.roleid = BOOTSTRAP_SUPERUSERID;
			strlcpy(task.environment, environment, NAMEDATALEN);
			if (!start_sanitizer(dboid, &task, &entry->handle))
			{
				entry->handle = NULL;
				entry->retry_after = TimestampTzPlusMilliseconds(now, RETRY_AFTER_FAILURE_MS);
				ereport(WARNING,
						(errmsg("penelope_sandbox could not start a sanitizer for database \"%s\"", dbname),
						 errhint("Raise max_worker_processes.")));
			}
			MemoryContextSwitchTo(oldcxt);
		}
	}

	recovery_listed = true;
	start_recovery();

	/* forget the databases that are gone, open, or no longer sandboxes */
	hash_seq_init(&seq, known);
	while ((entry = hash_seq_search(&seq)) != NULL)
	{
		if (entry->seen)
			continue;
		if (entry->handle != NULL)
			pfree(entry->handle);
		hash_search(known, &entry->dboid, HASH_REMOVE, NULL);
	}

	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*
 * launcher_shmem_exit
 *		The launcher is gone: nobody to wake.
 */
static void
launcher_shmem_exit(int code, Datum arg)
{
	pg_atomic_write_u32(&launcher_shared->launcher_procno, INVALID_PGPROCNO);
}

/*
 * launcher_nap
 *		Wait for a naptime, a wake-up or a reload; after a reload, every
 *		database may be tried again at once.
 */
static void
launcher_nap(HTAB *known)
{
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					 sandbox_naptime * 1000L, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
	if (ConfigReloadPending)
	{
		ConfigReloadPending = false;
		ProcessConfigFile(PGC_SIGHUP);
		if (known != NULL)
		{
			HASH_SEQ_STATUS seq;
			LauncherEntry *entry;

			hash_seq_init(&seq, known);
			while ((entry = hash_seq_search(&seq)) != NULL)
				entry->retry_after = 0;
		}
	}
}

/*
 * sandbox_launcher_main
 *		Entry point of the launcher worker.
 */
void
sandbox_launcher_main(Datum main_arg)
{
	HASHCTL		ctl = {0};
	HTAB	   *known;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	pg_atomic_write_u32(&launcher_shared->launcher_procno, MyProc->pgprocno);
	before_shmem_exit(launcher_shmem_exit, 0);

	/* on a production server: no connection, nothing to do */
	while (sandbox_server_role == SERVER_ROLE_PRODUCTION)
		launcher_nap(NULL);

	BackgroundWorkerInitializeConnection(sandbox_launcher_database, NULL, 0);
	pgstat_report_appname(LAUNCHER_TYPE);

	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(LauncherEntry);
	known = hash_create("penelope_sandbox databases", 64, &ctl, HASH_ELEM | HASH_BLOBS);

	for (;;)
	{
		/* a server that became a production server: start again, unconnected */
		if (sandbox_server_role == SERVER_ROLE_PRODUCTION)
			proc_exit(1);
		look_at_databases(known);
		launcher_nap(known);
	}
}
