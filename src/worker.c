/*-------------------------------------------------------------------------
 *
 * worker.c
 *		Background workers and the "no unmasked window" login check.
 *
 * With penelope_sandbox in shared_preload_libraries:
 *
 *	- a launcher worker looks, every penelope_sandbox.naptime seconds, for
 *	  databases marked as sandboxes (ALTER DATABASE ... SET
 *	  penelope_sandbox.environment, or penelope_sandbox.sandbox_databases
 *	  in postgresql.conf) that have no successful run of their own in
 *	  sandbox.run, and starts a sanitizer worker for each once nobody is
 *	  connected to it (so that a restore in progress is left to finish);
 *
 *	- until such a database has been sanitized, a ClientAuthentication
 *	  hook refuses connections to it from every role but superusers and
 *	  penelope_sandbox.admin_roles: nobody reads production data from a
 *	  fresh copy, not even in the seconds before it is sanitized.
 *
 * sandbox_sanitize_async() starts the same sanitizer worker on demand,
 * preloaded or not.  The sanitizer runs sandbox_sanitize_environment()
 * in a transaction of its own, shows its steps in pg_stat_activity, and
 * records a failure or a cancellation (pg_cancel_backend) in sandbox.run
 * after rolling the work back.
 *
 * Which run counts as "this database's own": one that succeeded with
 * this database's OID on a server with this system identifier.  A dump
 * restored into a new database gets a new OID, so production's ledger
 * (or another copy's) never passes for it; a physical copy of a
 * sanitized database keeps both, and is rightly taken as sanitized.
 *
 * Copyright (c) 2026, penelope_sandbox developers
 *
 * IDENTIFICATION
 *	  src/worker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/indexing.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_database.h"
#include "catalog/pg_db_role_setting.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "libpq/auth.h"
#include "libpq/libpq-be.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "penelope_sandbox.h"

PG_FUNCTION_INFO_V1(sandbox_sanitize_async);
PG_FUNCTION_INFO_V1(sandbox_database_ready);

PGDLLEXPORT void sandbox_launcher_main(Datum main_arg);
PGDLLEXPORT void sandbox_sanitizer_main(Datum main_arg);

#define LAUNCHER_TYPE	"penelope_sandbox launcher"
#define SANITIZER_TYPE	"penelope_sandbox sanitizer"
#define ENVIRONMENT_SETTING "penelope_sandbox.environment"

/* Databases whose state the launcher can track at once */
#define MAX_TRACKED_DATABASES 64

/* A failed automatic run is retried after this long */
#define RETRY_AFTER_FAILURE_MS (60 * 1000)

/* ---- Settings ---- */

static char *sandbox_environment = NULL;
static char *sandbox_databases = NULL;
static char *sandbox_admin_roles = NULL;
static char *sandbox_launcher_database = NULL;
static int	sandbox_naptime = 10;
static bool sandbox_auto_sanitize = true;

/* ---- Shared state ---- */

typedef enum DatabaseState
{
	DB_UNKNOWN = 0,				/* not looked at since server start */
	DB_RUNNING,					/* a sanitizer is at work */
	DB_READY,					/* sanitized: open to everyone */
	DB_FAILED					/* the last automatic run failed */
} DatabaseState;

typedef struct TrackedDatabase
{
	Oid			dboid;
	bool		marked;			/* seen marked as a sandbox by the launcher */
	DatabaseState state;
	TimestampTz retry_after;	/* DB_FAILED: not before this */
} TrackedDatabase;

typedef struct SandboxShared
{
	LWLock	   *lock;
	TrackedDatabase databases[MAX_TRACKED_DATABASES];
} SandboxShared;

static SandboxShared *shared = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static ClientAuthentication_hook_type prev_client_auth_hook = NULL;
static ExecutorStart_hook_type prev_executor_start_hook = NULL;
static ProcessUtility_hook_type prev_process_utility_hook = NULL;

static bool sanitized_in_this_transaction = false;

/* What a sanitizer worker is asked to do, passed in bgw_extra */
typedef struct SanitizerTask
{
	int64		run_id;			/* 0: automatic run, ledger row made here */
	bool		check_only;		/* automatic: only look for a successful run */
	Oid			roleid;			/* role to connect as */
	char		environment[NAMEDATALEN];
} SanitizerTask;

StaticAssertDecl(sizeof(SanitizerTask) <= BGW_EXTRALEN,
				 "SanitizerTask does not fit in bgw_extra");

/*
 * sandbox_shmem_request
 *		Ask for the shared state and its lock.
 */
static void
sandbox_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(SandboxShared)));
	RequestNamedLWLockTranche("penelope_sandbox", 1);
}

/*
 * sandbox_shmem_startup
 *		Create or attach to the shared state.
 */
static void
sandbox_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("penelope_sandbox", sizeof(SandboxShared), &found);
	if (!found)
	{
		memset(shared, 0, sizeof(SandboxShared));
		shared->lock = &(GetNamedLWLockTranche("penelope_sandbox"))->lock;
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * tracked_database
 *		The shared entry of a database, created if asked; the caller holds
 *		the lock (exclusively to create).  NULL when absent or full.
 */
static TrackedDatabase *
tracked_database(Oid dboid, bool create)
{
	TrackedDatabase *free_slot = NULL;

	for (int i = 0; i < MAX_TRACKED_DATABASES; i++)
	{
		TrackedDatabase *db = &shared->databases[i];

		if (db->dboid == dboid)
			return db;
		if (db->dboid == InvalidOid && free_slot == NULL)
			free_slot = db;
	}
	if (create && free_slot != NULL)
	{
		free_slot->dboid = dboid;
		free_slot->marked = false;
		free_slot->state = DB_UNKNOWN;
		return free_slot;
	}
	return NULL;
}

/*
 * get_database_state
 *		A database's state; DB_UNKNOWN without shared memory.
 */
static DatabaseState
get_database_state(Oid dboid, TimestampTz *retry_after, bool *marked)
{
	DatabaseState state = DB_UNKNOWN;
	TrackedDatabase *db;

	if (marked)
		*marked = false;
	if (shared == NULL)
		return DB_UNKNOWN;
	LWLockAcquire(shared->lock, LW_SHARED);
	db = tracked_database(dboid, false);
	if (db != NULL)
	{
		state = db->state;
		if (retry_after)
			*retry_after = db->retry_after;
		if (marked)
			*marked = db->marked;
	}
	LWLockRelease(shared->lock);
	return state;
}

/*
 * set_database_state
 *		Record a database's state, if shared memory is there.
 */
static void
set_database_state(Oid dboid, DatabaseState state)
{
	TrackedDatabase *db;

	if (shared == NULL)
		return;
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	db = tracked_database(dboid, true);
	if (db != NULL)
	{
		db->state = state;
		if (state == DB_FAILED)
			db->retry_after = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
														  RETRY_AFTER_FAILURE_MS);
	}
	else
		elog(WARNING, "penelope_sandbox tracks at most %d databases", MAX_TRACKED_DATABASES);
	LWLockRelease(shared->lock);
}

/*
 * note_database_marked
 *		Record that the launcher saw a database marked as a sandbox, so
 *		the login check knows it before any database is selected.
 */
static void
note_database_marked(Oid dboid)
{
	TrackedDatabase *db;

	if (shared == NULL)
		return;
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	db = tracked_database(dboid, true);
	if (db != NULL)
		db->marked = true;
	LWLockRelease(shared->lock);
}

/*
 * retry_failed_now
 *		Let the launcher try the failed databases again at once (after a
 *		configuration reload, which may be what fixes them).
 */
static void
retry_failed_now(void)
{
	if (shared == NULL)
		return;
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < MAX_TRACKED_DATABASES; i++)
		shared->databases[i].retry_after = 0;
	LWLockRelease(shared->lock);
}

/* ---- Which databases are sandboxes ---- */

/*
 * environment_from_server_list
 *		The environment penelope_sandbox.sandbox_databases gives a
 *		database name ("training=training_a, migration=migration"), or
 *		NULL.
 */
static char *
environment_from_server_list(const char *dbname)
{
	char	   *list;
	List	   *items;
	ListCell   *lc;

	if (sandbox_databases == NULL || sandbox_databases[0] == '\0')
		return NULL;
	list = pstrdup(sandbox_databases);
	if (!SplitIdentifierString(list, ',', &items))
		return NULL;			/* rejected by the check hook already */
	foreach(lc, items)
	{
		char	   *item = lfirst(lc);
		char	   *eq = strchr(item, '=');

		if (eq == NULL)
			continue;
		*eq = '\0';
		if (strcmp(item, dbname) == 0)
			return pstrdup(eq + 1);
	}
	return NULL;
}

/*
 * environment_from_database_setting
 *		The value of penelope_sandbox.environment set with ALTER DATABASE
 *		for a database, read from pg_db_role_setting (the login check runs
 *		before database settings are applied), or NULL.
 */
static char *
environment_from_database_setting(Oid dboid)
{
	Relation	rel;
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple	tuple;
	char	   *result = NULL;
	const char *prefix = ENVIRONMENT_SETTING "=";

	rel = table_open(DbRoleSettingRelationId, AccessShareLock);
	ScanKeyInit(&keys[0], Anum_pg_db_role_setting_setdatabase,
				BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(dboid));
	ScanKeyInit(&keys[1], Anum_pg_db_role_setting_setrole,
				BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(InvalidOid));
	scan = systable_beginscan(rel, DbRoleSettingDatidRolidIndexId, true,
							  NULL, 2, keys);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		Datum		config = heap_getattr(tuple, Anum_pg_db_role_setting_setconfig,
										  RelationGetDescr(rel), &isnull);
		Datum	   *items;
		int			nitems;

		if (!isnull)
		{
			deconstruct_array(DatumGetArrayTypeP(config), TEXTOID, -1, false,
							  TYPALIGN_INT, &items, NULL, &nitems);
			for (int i = 0; i < nitems && result == NULL; i++)
			{
				char	   *item = TextDatumGetCString(items[i]);

				if (strncmp(item, prefix, strlen(prefix)) == 0)
					result = pstrdup(item + strlen(prefix));
			}
		}
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return result;
}

/*
 * sandbox_database_environment
 *		The environment a database is a sandbox of, or NULL when it is not
 *		marked as one.  The database's own setting wins over the server's
 *		list.  Needs an open transaction; works before the backend has
 *		chosen its database.
 */
static char *
sandbox_database_environment(Oid dboid, const char *dbname)
{
	char	   *environment = environment_from_database_setting(dboid);

	if (environment == NULL)
		environment = environment_from_server_list(dbname);
	return environment;
}

/* ---- The login check ---- */

/*
 * may_enter_unsanitized
 *		Whether a role may connect to a sandbox database before it is
 *		sanitized: superusers and members of penelope_sandbox.admin_roles.
 */
static bool
may_enter_unsanitized(Oid roleid)
{
	char	   *list;
	List	   *names;
	ListCell   *lc;

	if (superuser_arg(roleid))
		return true;
	if (sandbox_admin_roles == NULL || sandbox_admin_roles[0] == '\0')
		return false;
	list = pstrdup(sandbox_admin_roles);
	if (!SplitIdentifierString(list, ',', &names))
		return false;
	foreach(lc, names)
	{
		Oid			admin = get_role_oid(lfirst(lc), true);

		if (OidIsValid(admin) && is_member_of_role(roleid, admin))
			return true;
	}
	return false;
}

/*
 * refuse_unsanitized
 *		End the session: the database is not sanitized yet.
 */
static void
refuse_unsanitized(const char *dbname)
{
	ereport(FATAL,
			(errcode(ERRCODE_CANNOT_CONNECT_NOW),
			 errmsg("database \"%s\" is being prepared", dbname),
			 errdetail("It is a sandbox copy that has not been sanitized yet."),
			 errhint("Try again in a few minutes.")));
}

/*
 * login_database_oid
 *		The OID of a database by name, during authentication.
 *
 * get_database_oid() insists on an index scan, which needs relcache
 * entries that cannot be built before a database is selected; this scans
 * the way the server's own GetDatabaseTuple() does at that point.
 */
static Oid
login_database_oid(const char *dbname)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Oid			result = InvalidOid;

	ScanKeyInit(&key, Anum_pg_database_datname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum(dbname));
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = systable_beginscan(rel, DatabaseNameIndexId, criticalSharedRelcachesBuilt,
							  NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
		result = ((Form_pg_database) GETSTRUCT(tuple))->oid;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return result;
}

/*
 * sandbox_client_authentication
 *		Refuse a login to a sandbox database that is not sanitized yet,
 *		unless the role may enter it.
 *
 * At this point no database is selected yet, so only what needs no
 * database catalog is known: the server's list of sandbox databases, and
 * the databases the launcher has seen marked.  A database marked with
 * ALTER DATABASE that the launcher has not seen yet is caught by
 * check_session_database() at the session's first statement.
 */
static void
sandbox_client_authentication(Port *port, int status)
{
	Oid			dboid;
	Oid			roleid;
	bool		marked;

	if (prev_client_auth_hook)
		prev_client_auth_hook(port, status);

	if (status != STATUS_OK || port->database_name == NULL ||
		sandbox_server_role == SERVER_ROLE_PRODUCTION)
		return;
	dboid = login_database_oid(port->database_name);
	if (!OidIsValid(dboid))
		return;
	if (get_database_state(dboid, NULL, &marked) == DB_READY)
		return;
	if (!marked && environment_from_server_list(port->database_name) == NULL)
		return;

	roleid = get_role_oid(port->user_name, true);
	if (!OidIsValid(roleid) || may_enter_unsanitized(roleid))
		return;
	refuse_unsanitized(port->database_name);
}

/*
 * check_session_database
 *		At a session's first statement, with the database chosen: refuse
 *		to go on in a sandbox database that is not sanitized yet.
 */
static void
check_session_database(void)
{
	static bool checked = false;

	if (checked || MyBackendType != B_BACKEND ||
		sandbox_server_role == SERVER_ROLE_PRODUCTION)
		return;
	checked = true;

	if (get_database_state(MyDatabaseId, NULL, NULL) == DB_READY ||
		may_enter_unsanitized(GetSessionUserId()) ||
		sandbox_database_environment(MyDatabaseId, get_database_name(MyDatabaseId)) == NULL)
		return;
	refuse_unsanitized(get_database_name(MyDatabaseId));
}

/*
 * sandbox_executor_start
 *		ExecutorStart hook: check_session_database() first.
 */
static void
sandbox_executor_start(QueryDesc *queryDesc, int eflags)
{
	check_session_database();
	if (prev_executor_start_hook)
		prev_executor_start_hook(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

/*
 * sandbox_process_utility
 *		ProcessUtility hook: check_session_database() first; and the
 *		database is no longer taken as sanitized once the extension is
 *		dropped or created in it.
 */
static void
sandbox_process_utility(PlannedStmt *pstmt, const char *queryString,
						bool readOnlyTree, ProcessUtilityContext context,
						ParamListInfo params, QueryEnvironment *queryEnv,
						DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *stmt = pstmt->utilityStmt;

	check_session_database();
	if (prev_process_utility_hook)
		prev_process_utility_hook(pstmt, queryString, readOnlyTree, context,
								  params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);

	/*
	 * Dropping or creating the extension is what "pg_restore --clean" of a
	 * dump into an existing sandbox does: production's data and ledger may
	 * be arriving, so the database is closed until the launcher has looked
	 * at its ledger again.
	 */
	if ((IsA(stmt, DropStmt) && ((DropStmt *) stmt)->removeType == OBJECT_EXTENSION &&
		 list_member(((DropStmt *) stmt)->objects, makeString("penelope_sandbox"))) ||
		(IsA(stmt, CreateExtensionStmt) &&
		 strcmp(((CreateExtensionStmt *) stmt)->extname, "penelope_sandbox") == 0))
		set_database_state(MyDatabaseId, DB_UNKNOWN);
}

/*
 * sandbox_xact_callback
 *		When a transaction that sanitized this database commits, open the
 *		database to everyone.
 */
static void
sandbox_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT && sanitized_in_this_transaction)
		set_database_state(MyDatabaseId, DB_READY);
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT)
		sanitized_in_this_transaction = false;
}

/*
 * sandbox_note_sanitized
 *		Called by the engine after a successful run: see
 *		sandbox_xact_callback().
 */
void
sandbox_note_sanitized(void)
{
	sanitized_in_this_transaction = true;
}

/* ---- Starting a sanitizer ---- */

/*
 * start_sanitizer
 *		Register a dynamic background worker sanitizing a database.
 *		Returns false when no worker slot is free.
 */
static bool
start_sanitizer(Oid dboid, const SanitizerTask *task)
{
	BackgroundWorker worker = {0};
	BackgroundWorkerHandle *handle;

	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(worker.bgw_library_name, "penelope_sandbox", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "sandbox_sanitizer_main", BGW_MAXLEN);
	snprintf(worker.bgw_name, BGW_MAXLEN, "penelope_sandbox sanitizer for database %u", dboid);
	strlcpy(worker.bgw_type, SANITIZER_TYPE, BGW_MAXLEN);
	worker.bgw_main_arg = ObjectIdGetDatum(dboid);
	memcpy(worker.bgw_extra, task, sizeof(SanitizerTask));

	return RegisterDynamicBackgroundWorker(&worker, &handle);
}

/*
 * insert_queued_run
 *		Insert a sandbox.run row with status 'queued'; SPI is connected.
 */
static int64
insert_queued_run(const char *environment)
{
	Oid			argtypes[3] = {TEXTOID, OIDOID, INT8OID};
	Datum		args[3];
	bool		isnull;

	args[0] = CStringGetTextDatum(environment);
	args[1] = ObjectIdGetDatum(MyDatabaseId);
	args[2] = Int64GetDatum((int64) GetSystemIdentifier());
	if (SPI_execute_with_args("INSERT INTO sandbox.run (environment, database_oid, system_identifier, status)"
							  " VALUES ($1, $2, $3, 'queued') RETURNING id",
							  3, argtypes, args, NULL, false, 1) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "could not insert into sandbox.run");
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * sandbox_sanitize_async(environment text) returns bigint
 *		Queue a run, start a background worker for it, and return the run
 *		id at once.  The worker starts once this transaction commits.
 */
Datum
sandbox_sanitize_async(PG_FUNCTION_ARGS)
{
	char	   *environment = text_to_cstring(PG_GETARG_TEXT_PP(0));
	SanitizerTask task = {0};

	sandbox_check_not_production(environment);
	if (strlen(environment) >= NAMEDATALEN)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("environment name is too long")));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	task.run_id = insert_queued_run(environment);
	SPI_finish();

	task.roleid = GetUserId();
	strlcpy(task.environment, environment, NAMEDATALEN);
	if (!start_sanitizer(MyDatabaseId, &task))
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("could not start a background worker for the sanitization"),
				 errhint("Raise max_worker_processes, or run sandbox_sanitize() in this session.")));

	PG_RETURN_INT64(task.run_id);
}

/*
 * sandbox_database_ready() returns boolean
 *		Whether this database is open to every role: not a sandbox, or a
 *		sandbox whose sanitization succeeded since the server started.
 */
Datum
sandbox_database_ready(PG_FUNCTION_ARGS)
{
	char	   *environment = sandbox_database_environment(MyDatabaseId,
														   get_database_name(MyDatabaseId));

	PG_RETURN_BOOL(environment == NULL || get_database_state(MyDatabaseId, NULL, NULL) == DB_READY);
}

/* ---- The sanitizer worker ---- */

/*
 * run_in_transaction_sql
 *		Run one statement with parameters in a transaction of its own.
 *		Returns the first column of the first row as int64, or 0.
 */
static int64
run_in_transaction_sql(const char *sql, int nargs, Oid *argtypes, Datum *args)
{
	int64		result = 0;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_execute_with_args(sql, nargs, argtypes, args, NULL, false, 1) < 0)
		elog(ERROR, "could not run: %s", sql);
	if (SPI_processed > 0 && SPI_tuptable != NULL)
	{
		bool		isnull;
		Datum		value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			result = DatumGetInt64(value);
	}
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	return result;
}

/*
 * prepare_automatic_run
 *		For a database marked as a sandbox: 0 when it has a successful run
 *		of its own already, -1 when not and check_only is set, else the id
 *		of a new queued run.  Runs left
 *		'running' or 'queued' by a server stop are marked failed first.
 */
static int64
prepare_automatic_run(const char *dbname, const char *environment, bool check_only)
{
	Oid			argtypes[3] = {TEXTOID, OIDOID, INT8OID};
	Datum		args[3];

	args[0] = CStringGetTextDatum(environment);
	args[1] = ObjectIdGetDatum(MyDatabaseId);
	args[2] = Int64GetDatum((int64) GetSystemIdentifier());

	if (run_in_transaction_sql("SELECT count(*) FROM pg_catalog.pg_extension"
							   " WHERE extname = 'penelope_sandbox'", 0, NULL, NULL) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("database \"%s\" is marked as a sandbox but has no penelope_sandbox extension",
						dbname),
				 errhint("Run CREATE EXTENSION penelope_sandbox in it; it stays closed to ordinary roles until it is sanitized.")));

	if (run_in_transaction_sql("SELECT count(*) FROM sandbox.last_run() WHERE environment = $1",
							   1, argtypes, args) > 0)
		return 0;
	if (check_only)
		return -1;

	run_in_transaction_sql("UPDATE sandbox.run SET status = 'failed', finished_at = pg_catalog.clock_timestamp(),"
						   " summary = 'interrupted: the server stopped during the run'"
						   " WHERE status IN ('queued', 'running') AND database_oid = $2"
						   " AND system_identifier = $3 AND environment = $1",
						   3, argtypes, args);
	return run_in_transaction_sql("INSERT INTO sandbox.run (environment, database_oid, system_identifier, status)"
								  " VALUES ($1, $2, $3, 'queued') RETURNING id",
								  3, argtypes, args);
}

/*
 * wait_for_queued_run
 *		Wait until the transaction that queued a run has committed; false
 *		if the row never appears (that transaction rolled back).
 */
static bool
wait_for_queued_run(int64 run_id)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(run_id)};

	for (int i = 0; i < 600; i++)
	{
		if (run_in_transaction_sql("SELECT count(*) FROM sandbox.run WHERE id = $1 AND status = 'queued'",
								   1, argtypes, args) > 0)
			return true;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 100L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	return false;
}

/*
 * record_failure
 *		Mark a run failed with the message of its error.  The engine's
 *		errors hold no row values, so the message is safe to keep.
 */
static void
record_failure(int64 run_id, const char *message)
{
	Oid			argtypes[2] = {INT8OID, TEXTOID};
	Datum		args[2];

	args[0] = Int64GetDatum(run_id);
	args[1] = CStringGetTextDatum(psprintf("failed: %s", message));
	run_in_transaction_sql("UPDATE sandbox.run SET status = 'failed',"
						   " finished_at = pg_catalog.clock_timestamp(), summary = $2 WHERE id = $1",
						   2, argtypes, args);
}

/*
 * sanitizer_exit
 *		On any exit, a database still shown as being sanitized is shown as
 *		failed, so the launcher tries again later.
 */
static void
sanitizer_exit(int code, Datum arg)
{
	Oid			dboid = DatumGetObjectId(arg);

	if (get_database_state(dboid, NULL, NULL) == DB_RUNNING)
		set_database_state(dboid, DB_FAILED);
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

	memcpy(&task, MyBgworkerEntry->bgw_extra, sizeof(SanitizerTask));
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, task.roleid, 0);
	pgstat_report_appname(SANITIZER_TYPE);
	before_shmem_exit(sanitizer_exit, main_arg);
	set_database_state(dboid, DB_RUNNING);

	workcxt = AllocSetContextCreate(TopMemoryContext, "penelope_sandbox sanitizer",
									ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(workcxt);

	/* catalog look-ups need a transaction */
	StartTransactionCommand();
	dbname = MemoryContextStrdup(workcxt, get_database_name(dboid));
	CommitTransactionCommand();
	MemoryContextSwitchTo(workcxt);

	if (task.run_id == 0)
	{
		task.run_id = prepare_automatic_run(dbname, task.environment, task.check_only);
		if (task.run_id == 0)
		{
			set_database_state(dboid, DB_READY);
			proc_exit(0);
		}
		if (task.run_id < 0)
		{
			/* penelope_sandbox.auto_sanitize is off: a DBA runs it */
			set_database_state(dboid, DB_FAILED);
			proc_exit(0);
		}
	}
	else if (!wait_for_queued_run(task.run_id))
		proc_exit(0);

	PG_TRY();
	{
		char	   *summary;

		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		sandbox_report_progress = true;
		summary = sandbox_sanitize_environment(task.environment, task.run_id);
		PopActiveSnapshot();
		CommitTransactionCommand();
		pgstat_report_activity(STATE_IDLE, NULL);
		ereport(LOG,
				(errmsg("penelope_sandbox sanitized database \"%s\": %s",
						dbname, summary)));
		set_database_state(dboid, DB_READY);
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

		/* a termination still gets its failure recorded */
		ProcDiePending = false;
		QueryCancelPending = false;
		record_failure(task.run_id, edata->message);
		set_database_state(dboid, DB_FAILED);
	}
	PG_END_TRY();

	proc_exit(0);
}

/* ---- The launcher ---- */

/*
 * launch_pending_sanitizers
 *		Start a sanitizer for each sandbox database not known to be
 *		sanitized, not being sanitized, not waiting to retry, and with no
 *		client connected.
 */
static void
launch_pending_sanitizers(void)
{
	List	   *pending = NIL;
	ListCell   *lc;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "looking for sandbox databases");

	if (SPI_execute("SELECT d.oid, d.datname,"
					" EXISTS (SELECT FROM pg_catalog.pg_stat_activity a"
					"  WHERE a.datid = d.oid AND a.backend_type = 'client backend')"
					" FROM pg_catalog.pg_database d"
					" WHERE d.datallowconn AND NOT d.datistemplate",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_database");

	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	tupdesc = SPI_tuptable->tupdesc;
		bool		isnull;
		Oid			dboid = DatumGetObjectId(SPI_getbinval(tuple, tupdesc, 1, &isnull));
		char	   *dbname = SPI_getvalue(tuple, tupdesc, 2);
		bool		busy = DatumGetBool(SPI_getbinval(tuple, tupdesc, 3, &isnull));
		char	   *environment = sandbox_database_environment(dboid, dbname);
		TimestampTz retry_after = 0;
		DatabaseState state;

		if (environment == NULL)
			continue;
		note_database_marked(dboid);
		state = get_database_state(dboid, &retry_after, NULL);
		if (state == DB_READY || state == DB_RUNNING ||
			(state == DB_FAILED && GetCurrentTimestamp() < retry_after))
			continue;
		if (busy)
		{
			elog(DEBUG1, "penelope_sandbox: database \"%s\" has clients, waiting", dbname);
			continue;
		}
		{
			MemoryContext oldcxt = MemoryContextSwitchTo(TopTransactionContext);
			SanitizerTask *task = palloc0(sizeof(SanitizerTask));

			task->roleid = BOOTSTRAP_SUPERUSERID;
			task->check_only = !sandbox_auto_sanitize;
			strlcpy(task->environment, environment, NAMEDATALEN);
			pending = lappend(pending, list_make2(task, (void *) (uintptr_t) dboid));
			MemoryContextSwitchTo(oldcxt);
		}
	}

	foreach(lc, pending)
	{
		SanitizerTask *task = linitial(lfirst(lc));
		Oid			dboid = (Oid) (uintptr_t) lsecond(lfirst(lc));

		set_database_state(dboid, DB_RUNNING);
		if (!start_sanitizer(dboid, task))
		{
			set_database_state(dboid, DB_FAILED);
			ereport(WARNING,
					(errmsg("penelope_sandbox could not start a sanitizer for database %u", dboid),
					 errhint("Raise max_worker_processes.")));
		}
	}

	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*
 * sandbox_launcher_main
 *		Entry point of the launcher worker.
 */
void
sandbox_launcher_main(Datum main_arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(sandbox_launcher_database, NULL, 0);
	pgstat_report_appname(LAUNCHER_TYPE);

	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			retry_failed_now();
		}
		if (sandbox_server_role != SERVER_ROLE_PRODUCTION)
			launch_pending_sanitizers();

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 sandbox_naptime * 1000L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* ---- Module initialisation ---- */

/*
 * check_sandbox_databases
 *		GUC check hook: "dbname=environment, ..."
 */
static bool
check_sandbox_databases(char **newval, void **extra, GucSource source)
{
	char	   *list = pstrdup(*newval);
	List	   *items;
	ListCell   *lc;

	if (!SplitIdentifierString(list, ',', &items))
	{
		GUC_check_errdetail("List syntax is invalid.");
		return false;
	}
	foreach(lc, items)
	{
		if (strchr(lfirst(lc), '=') == NULL)
		{
			GUC_check_errdetail("Each item is database=environment.");
			return false;
		}
	}
	return true;
}

/*
 * sandbox_worker_init
 *		Define the settings; when preloaded, also the shared state, the
 *		login check and the launcher.
 */
void
sandbox_worker_init(void)
{
	BackgroundWorker worker = {0};

	DefineCustomStringVariable("penelope_sandbox.environment",
							   "Environment this database is a sandbox of.",
							   "Set it with ALTER DATABASE ... SET: with the library "
							   "preloaded, the database is then sanitized automatically "
							   "and closed to ordinary roles until it is.",
							   &sandbox_environment, NULL,
							   PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("penelope_sandbox.sandbox_databases",
							   "Databases that are sandboxes, as database=environment, comma-separated.",
							   NULL,
							   &sandbox_databases, "",
							   PGC_SIGHUP, 0, check_sandbox_databases, NULL, NULL);
	DefineCustomStringVariable("penelope_sandbox.admin_roles",
							   "Roles that may connect to a sandbox database before it is sanitized.",
							   "Superusers always may.",
							   &sandbox_admin_roles, "",
							   PGC_SIGHUP, GUC_LIST_INPUT, NULL, NULL, NULL);
	DefineCustomIntVariable("penelope_sandbox.naptime",
							"Seconds between two looks of the launcher for sandbox databases.",
							NULL,
							&sandbox_naptime, 10, 1, 3600,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomBoolVariable("penelope_sandbox.auto_sanitize",
							 "Sanitize sandbox databases automatically.",
							 NULL,
							 &sandbox_auto_sanitize, true,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	if (!process_shared_preload_libraries_in_progress)
		return;

	/* a postmaster setting can only be defined while preloading */
	DefineCustomStringVariable("penelope_sandbox.launcher_database",
							   "Database the launcher connects to.",
							   NULL,
							   &sandbox_launcher_database, "postgres",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = sandbox_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = sandbox_shmem_startup;
	prev_client_auth_hook = ClientAuthentication_hook;
	ClientAuthentication_hook = sandbox_client_authentication;
	prev_executor_start_hook = ExecutorStart_hook;
	ExecutorStart_hook = sandbox_executor_start;
	prev_process_utility_hook = ProcessUtility_hook;
	ProcessUtility_hook = sandbox_process_utility;
	RegisterXactCallback(sandbox_xact_callback, NULL);

	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 10;
	strlcpy(worker.bgw_library_name, "penelope_sandbox", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "sandbox_launcher_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, LAUNCHER_TYPE, BGW_MAXLEN);
	strlcpy(worker.bgw_type, LAUNCHER_TYPE, BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}
