/*-------------------------------------------------------------------------
 *
 * gate.c
 *		The gate: nobody but admin roles reads a sandbox copy before a
 *		sanitization of that very copy has committed.
 *
 * A database is a sandbox when it is marked as one: with ALTER DATABASE
 * ... SET penelope_sandbox.environment, or by name in the server's
 * penelope_sandbox.sandbox_databases.  A marked database is open to every
 * role only while it carries the extension's "ready label": a security
 * label of provider penelope_sandbox on the database, naming the marked
 * environment, the database's OID and the server's system identifier.
 *
 * The label is written by sandbox_note_sanitized() in the transaction of
 * a successful run that applied at least one rule, and removed in the
 * transaction that drops or creates the extension (pg_restore --clean).
 * Being a catalog row, it is transactional: a run in a subtransaction
 * that is rolled back leaves no label, nor does a prepared transaction
 * until COMMIT PREPARED (PREPARE of a sanitizing transaction is refused
 * all the same); a dump restored into another database, or onto another
 * server, never carries a label that fits it.  Only superusers may set a
 * label of this provider with SECURITY LABEL.
 *
 * Every connection to a database is decided once, from the catalogs, at
 * the end of its start-up: client backends (including those that only
 * send fast-path function calls) and walsenders of replication=database
 * alike.  The decision runs at the pre-commit of InitPostgres()'s own
 * transaction, the first commit of every backend: by then the database is
 * chosen and pg_db_role_setting can be read (the ClientAuthentication
 * hook runs before that, when only the shared catalogs of the relcache
 * init file can be read, and pg_db_role_setting is not one of them).  An
 * error while deciding is an error during start-up, which ends the
 * connection: the gate fails closed.
 *
 * Sessions that were connected before their database closed (it was just
 * marked, or its extension was dropped) are terminated by the launcher
 * (worker.c) with sandbox_close_database_sessions(), woken at the commit
 * that closed the database.  A copy of a closed database made with
 * CREATE DATABASE ... TEMPLATE, or a listed database renamed out of the
 * list, is marked with the same environment, so it is closed too.
 *
 * Copyright (c) 2026, penelope_sandbox developers
 *
 * IDENTIFICATION
 *	  src/gate.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_database.h"
#include "catalog/pg_db_role_setting.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "commands/extension.h"
#include "commands/seclabel.h"
#include "fmgr.h"
#include "libpq/libpq-be.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/scansup.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/rel.h"
#include "utils/varlena.h"

#include "penelope_sandbox.h"

PG_FUNCTION_INFO_V1(sandbox_database_ready);

/* ---- Settings ---- */

char	   *sandbox_environment = NULL;
char	   *sandbox_databases = NULL;
char	   *sandbox_admin_roles = NULL;

/* ---- Hooks (installed by _PG_init) ---- */

ProcessUtility_hook_type sandbox_prev_process_utility_hook = NULL;
object_access_hook_type sandbox_prev_object_access_hook = NULL;

/* The library is preloaded: the gate is on (set by _PG_init) */
bool		sandbox_gate_enabled = false;

/* This backend's connection has been let through the gate */
static bool connection_checked = false;

/*
 * Nesting level of the (sub)transaction that sanitized this database, 0
 * if none: PREPARE TRANSACTION is refused while it is set.
 */
static int	sanitized_nest_level = 0;

/* This transaction closed a database: wake the launcher at commit */
static bool wake_launcher_at_commit = false;

/* ---- Which databases are sandboxes ---- */

/*
 * parse_list_name
 *		Read one name of penelope_sandbox.sandbox_databases at *p: a
 *		double-quoted name (kept as written, "" for a quote) or a bare one
 *		(lower case letters, digits, _ and $ only, so nothing is folded
 *		silently).  Returns NULL and sets *error on bad syntax.
 */
static char *
parse_list_name(const char **p, const char **error)
{
	StringInfoData name;
	const char *s = *p;

	initStringInfo(&name);
	while (scanner_isspace(*s))
		s++;
	if (*s == '"')
	{
		for (s++;; s++)
		{
			if (*s == '\0')
			{
				*error = "A double-quoted name is not closed.";
				return NULL;
			}
			if (*s == '"')
			{
				if (s[1] != '"')
					break;
				s++;
			}
			appendStringInfoChar(&name, *s);
		}
		s++;
	}
	else
	{
		for (; *s != '\0' && *s != ',' && *s != '=' && !scanner_isspace(*s); s++)
		{
			if (isupper((unsigned char) *s))
			{
				*error = "A name with upper case letters must be double-quoted, as in \"Copy\"=migration.";
				return NULL;
			}
			appendStringInfoChar(&name, *s);
		}
	}
	while (scanner_isspace(*s))
		s++;
	if (name.len == 0)
	{
		*error = "Each item is database=environment.";
		return NULL;
	}
	*p = s;
	return name.data;
}

/*
 * parse_sandbox_databases
 *		Parse "db=environment, \"Db\"=environment" into two lists of the
 *		same length.  False with *error set on bad syntax.
 */
static bool
parse_sandbox_databases(const char *value, List **names, List **environments,
						const char **error)
{
	const char *p = value;

	*names = NIL;
	*environments = NIL;
	while (scanner_isspace(*p))
		p++;
	if (*p == '\0')
		return true;
	for (;;)
	{
		char	   *name;
		char	   *environment;

		if ((name = parse_list_name(&p, error)) == NULL)
			return false;
		if (*p++ != '=')
		{
			*error = "Each item is database=environment.";
			return false;
		}
		if ((environment = parse_list_name(&p, error)) == NULL)
			return false;
		*names = lappend(*names, name);
		*environments = lappend(*environments, environment);
		if (*p == '\0')
			return true;
		if (*p++ != ',')
		{
			*error = "Items are separated by commas.";
			return false;
		}
	}
}

/*
 * sandbox_databases_check_hook
 *		GUC check hook of penelope_sandbox.sandbox_databases.
 */
bool
sandbox_databases_check_hook(char **newval, void **extra, GucSource source)
{
	List	   *names;
	List	   *environments;
	const char *error = NULL;

	if (!parse_sandbox_databases(*newval, &names, &environments, &error))
	{
		GUC_check_errdetail("%s", error);
		return false;
	}
	return true;
}

/*
 * environment_from_server_list
 *		The environment penelope_sandbox.sandbox_databases gives a
 *		database, compared by exact name, or NULL.  A list that cannot be
 *		parsed (the check hook makes that impossible) marks every database.
 */
static char *
environment_from_server_list(const char *dbname)
{
	List	   *names;
	List	   *environments;
	const char *error = NULL;
	ListCell   *lc1,
			   *lc2;

	if (sandbox_databases == NULL)
		return NULL;
	if (!parse_sandbox_databases(sandbox_databases, &names, &environments, &error))
		return pstrdup("");
	forboth(lc1, names, lc2, environments)
	{
		if (strcmp(lfirst(lc1), dbname) == 0)
			return lfirst(lc2);
	}
	return NULL;
}

/*
 * environment_from_database_setting
 *		The value of penelope_sandbox.environment set for a database with
 *		ALTER DATABASE (or ALTER ROLE ALL IN DATABASE), read from
 *		pg_db_role_setting, or NULL.
 */
static char *
environment_from_database_setting(Oid dboid)
{
	Relation	rel;
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple	tuple;
	char	   *result = NULL;
	const char *prefix = SANDBOX_ENVIRONMENT_SETTING "=";

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
 *		list.  Needs a transaction and a selected database.
 */
char *
sandbox_database_environment(Oid dboid, const char *dbname)
{
	char	   *environment = environment_from_database_setting(dboid);

	if (environment == NULL && dbname != NULL)
		environment = environment_from_server_list(dbname);
	return environment;
}

/* ---- The ready label ---- */

/*
 * ready_label_prefix
 *		The ready label of a database for an environment, up to the run id.
 */
static char *
ready_label_prefix(Oid dboid, const char *environment)
{
	return psprintf("environment=%s database=%u system=" UINT64_FORMAT " run=",
					environment, dboid, GetSystemIdentifier());
}

/*
 * database_address
 *		The object address of a database, for its security labels.
 */
static ObjectAddress
database_address(Oid dboid)
{
	ObjectAddress address;

	ObjectAddressSet(address, DatabaseRelationId, dboid);
	return address;
}

/*
 * sandbox_database_open
 *		Whether a database marked as a sandbox of an environment carries
 *		the ready label of a committed run of that environment, made in
 *		this database on this server.
 */
bool
sandbox_database_open(Oid dboid, const char *environment)
{
	ObjectAddress address = database_address(dboid);
	char	   *label = GetSecurityLabel(&address, SANDBOX_LABEL_PROVIDER);
	char	   *prefix = ready_label_prefix(dboid, environment);
	const char *run;

	if (label == NULL || strncmp(label, prefix, strlen(prefix)) != 0)
		return false;
	run = label + strlen(prefix);
	if (*run == '\0')
		return false;
	for (; *run != '\0'; run++)
		if (!isdigit((unsigned char) *run))
			return false;
	return true;
}

/*
 * clear_ready_label
 *		Close this database until it is sanitized again, once the current
 *		transaction commits.
 */
static void
clear_ready_label(void)
{
	ObjectAddress address = database_address(MyDatabaseId);

	SetSecurityLabel(&address, SANDBOX_LABEL_PROVIDER, NULL);
	wake_launcher_at_commit = true;
}

/*
 * sandbox_note_sanitized
 *		Called by the engine after a successful run: the database opens
 *		when (and only if) the run's top-level transaction commits, and
 *		only if the run applied at least one rule.
 */
void
sandbox_note_sanitized(const char *environment, int64 run_id, int nrules)
{
	ObjectAddress address = database_address(MyDatabaseId);

	if (nrules <= 0)
	{
		if (sandbox_database_environment(MyDatabaseId, get_database_name(MyDatabaseId)) != NULL)
			ereport(WARNING,
					(errmsg("environment \"%s\" has no rules in this database", environment),
					 errdetail("A run that applied no rule does not open a sandbox database to ordinary roles.")));
		return;
	}
	SetSecurityLabel(&address, SANDBOX_LABEL_PROVIDER,
					 psprintf("%s" INT64_FORMAT,
							  ready_label_prefix(MyDatabaseId, environment), run_id));
	if (sanitized_nest_level == 0 || sanitized_nest_level > GetCurrentTransactionNestLevel())
		sanitized_nest_level = GetCurrentTransactionNestLevel();
}

/*
 * sandbox_relabel_hook
 *		SECURITY LABEL FOR penelope_sandbox: superusers only (a restore of
 *		a dump made with --create), and only on databases.
 */
void
sandbox_relabel_hook(const ObjectAddress *object, const char *seclabel)
{
	if (object->classId != DatabaseRelationId)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("penelope_sandbox labels only databases")));
	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to set a penelope_sandbox label"),
				 errdetail("The label records a committed sanitization of the database."),
				 errhint("Run sandbox_sanitize() in the database instead.")));
}

/* ---- Who may enter a closed database ---- */

/*
 * sandbox_may_enter_unsanitized
 *		Whether a role may use a sandbox database before it is sanitized:
 *		superusers and members of penelope_sandbox.admin_roles.  A list
 *		that cannot be parsed admits nobody but superusers.
 */
bool
sandbox_may_enter_unsanitized(Oid roleid)
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
 * database_closed_to
 *		Whether a role is kept out of a database now.
 */
static bool
database_closed_to(Oid dboid, const char *dbname, Oid roleid)
{
	char	   *environment;

	if (sandbox_server_role == SERVER_ROLE_PRODUCTION)
		return false;
	environment = sandbox_database_environment(dboid, dbname);
	return environment != NULL && !sandbox_database_open(dboid, environment) &&
		!sandbox_may_enter_unsanitized(roleid);
}

/*
 * check_connection
 *		Decide a new connection once its database is chosen: end it if
 *		the database is a sandbox that is not open and the role may not
 *		enter it.  Called at the pre-commit of the start-up transaction;
 *		see the file header.
 */
static void
check_connection(void)
{
	char	   *dbname;

	if (MyProcPort == NULL || !OidIsValid(MyDatabaseId) ||
		(MyBackendType != B_BACKEND && MyBackendType != B_WAL_SENDER))
	{
		connection_checked = true;
		return;
	}
	dbname = get_database_name(MyDatabaseId);
	if (dbname == NULL)
		elog(ERROR, "database %u does not exist", MyDatabaseId);
	if (database_closed_to(MyDatabaseId, dbname, GetSessionUserId()))
		ereport(FATAL,
				(errcode(ERRCODE_CANNOT_CONNECT_NOW),
				 errmsg("database \"%s\" is being prepared", dbname),
				 errdetail("It is a sandbox copy that has not been sanitized yet."),
				 errhint("Try again in a few minutes.")));
	connection_checked = true;
}

/*
 * sandbox_close_database_sessions
 *		Terminate the sessions of a database (client backends and
 *		walsenders) whose roles may not enter it while it is closed.
 *		Returns how many were signalled.  The caller is a superuser in a
 *		transaction.
 */
int
sandbox_close_database_sessions(Oid dboid)
{
	int			nbackends = pgstat_fetch_stat_numbackends();
	int			terminated = 0;

	for (int i = 1; i <= nbackends; i++)
	{
		LocalPgBackendStatus *local = pgstat_fetch_stat_local_beentry(i);
		PgBackendStatus *status;

		if (local == NULL)
			continue;
		status = &local->backendStatus;
		if (status->st_databaseid != dboid || status->st_procpid == MyProcPid ||
			(status->st_backendType != B_BACKEND &&
			 status->st_backendType != B_WAL_SENDER) ||
			sandbox_may_enter_unsanitized(status->st_userid))
			continue;
		if (DatumGetBool(DirectFunctionCall2(pg_terminate_backend,
											 Int32GetDatum(status->st_procpid),
											 Int64GetDatum(0))))
			terminated++;
	}
	return terminated;
}

/* ---- Marking copies ---- */

/*
 * mark_database
 *		Mark a database as a sandbox of an environment, in the current
 *		transaction, whatever the current user may set.
 */
static void
mark_database(Oid dboid, const char *environment)
{
	VariableSetStmt *set = makeNode(VariableSetStmt);
	A_Const    *value = makeNode(A_Const);
	Oid			saved_userid;
	int			saved_sec_context;

	value->val.sval.type = T_String;
	value->val.sval.sval = pstrdup(environment);
	value->location = -1;
	set->kind = VAR_SET_VALUE;
	set->name = SANDBOX_ENVIRONMENT_SETTING;
	set->args = list_make1(value);

	GetUserIdAndSecContext(&saved_userid, &saved_sec_context);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID,
						   saved_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	PG_TRY();
	{
		AlterSetting(dboid, InvalidOid, set);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(saved_userid, saved_sec_context);
	}
	PG_END_TRY();
	wake_launcher_at_commit = true;
}

/*
 * closed_environment
 *		The environment of a database that is marked and not open, or NULL.
 */
static char *
closed_environment(const char *dbname)
{
	Oid			dboid = get_database_oid(dbname, true);
	char	   *environment;

	if (!OidIsValid(dboid))
		return NULL;
	environment = sandbox_database_environment(dboid, dbname);
	if (environment == NULL || sandbox_database_open(dboid, environment))
		return NULL;
	return environment;
}

/* ---- Hooks ---- */

/*
 * sandbox_process_utility
 *		ProcessUtility hook:
 *		- CREATE DATABASE ... TEMPLATE of a closed sandbox makes a closed
 *		  sandbox of the same environment;
 *		- renaming a database listed in penelope_sandbox.sandbox_databases
 *		  while it is closed keeps it marked;
 *		- creating the extension closes the database (a restore of
 *		  production may be arriving), like dropping it (object access
 *		  hook); changing database settings may mark a database: both wake
 *		  the launcher at commit, which terminates the sessions that may
 *		  no longer be there.
 */
void
sandbox_process_utility(PlannedStmt *pstmt, const char *queryString,
						bool readOnlyTree, ProcessUtilityContext context,
						ParamListInfo params, QueryEnvironment *queryEnv,
						DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *stmt = pstmt->utilityStmt;
	char	   *copy_environment = NULL;
	const char *copy_name = NULL;

	if (sandbox_server_role != SERVER_ROLE_PRODUCTION)
	{
		if (IsA(stmt, CreatedbStmt))
		{
			CreatedbStmt *createdb = (CreatedbStmt *) stmt;
			const char *template = "template1";
			ListCell   *lc;

			foreach(lc, createdb->options)
			{
				DefElem    *option = lfirst(lc);

				if (strcmp(option->defname, "template") == 0 && option->arg != NULL)
					template = defGetString(option);
			}
			copy_environment = closed_environment(template);
			copy_name = createdb->dbname;
		}
		else if (IsA(stmt, RenameStmt) && ((RenameStmt *) stmt)->renameType == OBJECT_DATABASE)
		{
			RenameStmt *rename = (RenameStmt *) stmt;
			Oid			dboid = get_database_oid(rename->subname, true);

			if (OidIsValid(dboid) && environment_from_database_setting(dboid) == NULL &&
				environment_from_server_list(rename->subname) != NULL)
			{
				copy_environment = closed_environment(rename->subname);
				copy_name = rename->newname;
			}
		}
	}

	if (sandbox_prev_process_utility_hook)
		sandbox_prev_process_utility_hook(pstmt, queryString, readOnlyTree, context,
								  params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);

	if (copy_environment != NULL)
	{
		CommandCounterIncrement();
		mark_database(get_database_oid(copy_name, false), copy_environment);
	}
	if (IsA(stmt, CreateExtensionStmt) &&
		strcmp(((CreateExtensionStmt *) stmt)->extname, "penelope_sandbox") == 0)
		clear_ready_label();
	if (IsA(stmt, AlterDatabaseSetStmt) || IsA(stmt, AlterRoleSetStmt))
		wake_launcher_at_commit = true;
}

/*
 * sandbox_object_access
 *		Object access hook: dropping the extension, however it is dropped,
 *		closes the database in the same transaction.
 */
void
sandbox_object_access(ObjectAccessType access, Oid classId, Oid objectId,
					  int subId, void *arg)
{
	if (sandbox_prev_object_access_hook)
		sandbox_prev_object_access_hook(access, classId, objectId, subId, arg);

	if (access == OAT_DROP && classId == ExtensionRelationId)
	{
		char	   *name = get_extension_name(objectId);

		if (name != NULL && strcmp(name, "penelope_sandbox") == 0)
			clear_ready_label();
	}
}

/*
 * sandbox_gate_xact_callback
 *		The connection check at the first commit; PREPARE refused after a
 *		sanitization; the launcher woken after a commit that closed a
 *		database.
 */
void
sandbox_gate_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			if (sandbox_gate_enabled && !connection_checked)
				check_connection();
			break;
		case XACT_EVENT_PRE_PREPARE:
			if (sanitized_nest_level > 0)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot prepare a transaction that sanitized a database"),
						 errhint("Commit it instead.")));
			break;
		case XACT_EVENT_COMMIT:
			if (wake_launcher_at_commit)
				sandbox_wake_launcher();
			sanitized_nest_level = 0;
			wake_launcher_at_commit = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			sanitized_nest_level = 0;
			wake_launcher_at_commit = false;
			break;
		default:
			break;
	}
}

/*
 * sandbox_gate_subxact_callback
 *		A sanitization in a subtransaction belongs to its parent once the
 *		subtransaction commits, and is gone when it aborts.
 */
void
sandbox_gate_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					  SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();

	if (sanitized_nest_level < level)
		return;
	if (event == SUBXACT_EVENT_ABORT_SUB)
		sanitized_nest_level = 0;
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
		sanitized_nest_level = level - 1;
}

/* ---- SQL-callable ---- */

/*
 * sandbox_database_ready() returns boolean
 *		(sandbox.database_ready in releases 1.0 and 1.1)
 *		Whether this database is open to every role: not a sandbox, or a
 *		sandbox with a committed successful run of its environment.
 */
Datum
sandbox_database_ready(PG_FUNCTION_ARGS)
{
	char	   *environment = sandbox_database_environment(MyDatabaseId,
														   get_database_name(MyDatabaseId));

	PG_RETURN_BOOL(environment == NULL || sandbox_database_open(MyDatabaseId, environment));
}
