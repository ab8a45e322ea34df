/*-------------------------------------------------------------------------
 *
 * penelope_sandbox.h
 *		Declarations shared by the C files of penelope_sandbox.
 *
 * The extension is split by topic:
 *
 *	penelope_sandbox.c		module load (every GUC and hook), the production guard
 *	src/catalog.c			reading and validating the rule catalog
 *	src/engine.c			plan, sanitize, verify and the run ledger
 *	src/gate.c				the gate on unsanitized copies
 *	src/worker.c			the launcher and sanitizer workers
 *	src/rewrite.c			the engine's table rewrite, statistics, locks
 *	src/mask_core.c			pure-C masking core (no server headers)
 *	src/masking.c			SQL-callable masking functions and the key
 *
 * Copyright (c) 2026, penelope_sandbox developers
 *
 * IDENTIFICATION
 *	  src/penelope_sandbox.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PENELOPE_SANDBOX_H
#define PENELOPE_SANDBOX_H

#include "access/tupdesc.h"
#include "access/xact.h"
#include "catalog/objectaccess.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "storage/ipc.h"
#include "tcop/utility.h"
#include "utils/elog.h"
#include "utils/guc.h"
#include "utils/tuplestore.h"

/* Schema holding the catalog tables and masking functions. */
#define SANDBOX_SCHEMA "sandbox"

/*
 * search_path under which rule expressions and filters are parsed, both
 * when a rule is written and when it runs, so a rule means the same thing
 * at both times and no object from a user-writable schema is picked up by
 * an unqualified name.
 */
#define SANDBOX_RULE_SEARCH_PATH "pg_catalog, pg_temp"

/* GUC values (penelope_sandbox.c) */
typedef enum SandboxServerRole
{
	SERVER_ROLE_UNSET,
	SERVER_ROLE_PRODUCTION,
	SERVER_ROLE_SANDBOX
} SandboxServerRole;

typedef enum SandboxUpdateStrategy
{
	STRATEGY_AUTO,
	STRATEGY_UPDATE,
	STRATEGY_REWRITE
} SandboxUpdateStrategy;

/*
 * ---- Settings and hooks: defined and installed by _PG_init
 * (penelope_sandbox.c), each kept in the file of its topic ----
 */

/* penelope_sandbox.c: the production guard, the engine */
extern int	sandbox_server_role;
extern int	sandbox_update_strategy;

/* rewrite.c */
extern int	sandbox_lock_wait_timeout;

/* masking.c: the key and the maskers */
extern char *sandbox_secret_setting;
extern int	sandbox_date_window;
extern bool sandbox_secret_check_hook(char **newval, void **extra, GucSource source);
extern void sandbox_secret_assign_hook(const char *newval, void *extra);
extern void sandbox_masking_xact_callback(XactEvent event, void *arg);
extern void sandbox_masking_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
											 SubTransactionId parentSubid, void *arg);

/* engine.c: owner code's messages */
extern emit_log_hook_type sandbox_prev_emit_log_hook;
extern void sandbox_silence_owner_messages(ErrorData *edata);

/* gate.c: which databases are sandboxes, who may enter them */
#define SANDBOX_ENVIRONMENT_SETTING "penelope_sandbox.environment"
#define SANDBOX_LABEL_PROVIDER "penelope_sandbox"
extern char *sandbox_environment;
extern char *sandbox_databases;
extern char *sandbox_admin_roles;
extern bool sandbox_gate_enabled;
extern bool sandbox_databases_check_hook(char **newval, void **extra, GucSource source);
extern void sandbox_relabel_hook(const ObjectAddress *object, const char *seclabel);
extern void sandbox_gate_xact_callback(XactEvent event, void *arg);
extern void sandbox_gate_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
										  SubTransactionId parentSubid, void *arg);
extern ProcessUtility_hook_type sandbox_prev_process_utility_hook;
extern void sandbox_process_utility(PlannedStmt *pstmt, const char *queryString,
									bool readOnlyTree, ProcessUtilityContext context,
									ParamListInfo params, QueryEnvironment *queryEnv,
									DestReceiver *dest, QueryCompletion *qc);
extern object_access_hook_type sandbox_prev_object_access_hook;
extern void sandbox_object_access(ObjectAccessType access, Oid classId, Oid objectId,
								  int subId, void *arg);

/* worker.c: the launcher and the sanitizers */
#define LAUNCHER_TYPE	"penelope_sandbox launcher"
#define SANITIZER_TYPE	"penelope_sandbox sanitizer"
extern char *sandbox_launcher_database;
extern int	sandbox_naptime;
extern bool sandbox_auto_sanitize;
extern void sandbox_worker_xact_callback(XactEvent event, void *arg);
extern void sandbox_worker_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
											SubTransactionId parentSubid, void *arg);
extern shmem_request_hook_type sandbox_prev_shmem_request_hook;
extern void sandbox_shmem_request(void);
extern shmem_startup_hook_type sandbox_prev_shmem_startup_hook;
extern void sandbox_shmem_startup(void);

/* discover.c and leakscan.c: personal data */
extern int	sandbox_pii_check;
extern int	sandbox_discover_sample_rows;
extern int	sandbox_leak_scan_max_originals;

/* penelope_sandbox.c */
extern void sandbox_check_not_production(const char *environment);

/*
 * One rule of the catalog, as read by catalog.c and used by engine.c.
 * Strings are palloc'd in the caller's memory context.
 */
typedef enum RuleAction
{
	ACTION_MASK,
	ACTION_SET,
	ACTION_DELETE,
	ACTION_TRUNCATE
} RuleAction;

typedef struct SandboxRule
{
	int64		id;
	char	   *environment;	/* environment the rule belongs to */
	char	   *feature;		/* may be NULL */
	char	   *table_schema;
	char	   *table_name;
	char	   *column_name;	/* may be NULL for delete/truncate */
	RuleAction	action;
	char	   *expression;		/* may be NULL */
	char	   *filter;			/* may be NULL */
	bool		restorable;		/* set rule whose old values are saved */

	/* Filled in by sandbox_validate_rule() */
	Oid			relid;
	Oid			relowner;
	bool		has_sublink;	/* expression or filter has a subquery */
	Oid			recogniser;		/* mask: recogniser function, or InvalidOid */
	bool		expr_uses_column;	/* expression reads the column it writes */
	bool		expr_reads_row; /* expression reads any column */
	char	   *expression_sql; /* what the engine runs: see
								 * sandbox_rule_expression_sql() */
	char	   *filter_sql;
	char	   *recogniser_args;	/* rule_checks.c: ", arg2, ..." the masker's
									 * constant arguments after the value, for
									 * the recogniser; or NULL */
} SandboxRule;

/* catalog.c */
extern List *sandbox_load_rules(const char *environment);
extern bool sandbox_environment_disables_outbound(const char *environment);
extern void sandbox_validate_rule(SandboxRule *rule, bool check_writer);

/*
 * In a PG_CATCH block: raise the error again as "rule N: message" (hint,
 * unless NULL, replacing the error's own).  cxt is the memory context the
 * PG_TRY started in.
 */
extern pg_attribute_noreturn() void sandbox_rethrow_for_rule(MemoryContext cxt, int64 rule_id,
															 const char *hint);
extern const char *sandbox_action_name(RuleAction action);
extern char *sandbox_wrap_sql(const char *sql);

/*
 * outbound.c: built-in steps closing PostgreSQL's own outbound channels
 * (subscriptions, user mappings, pg_cron jobs).  Both functions return
 * lists of OutboundStep: statements to run, and queries counting what is
 * still open.
 */
typedef struct OutboundStep
{
	char	   *object;			/* what it is about, for people */
	char	   *sql;
	char	   *count_sql;		/* steps: how many objects it changes */
} OutboundStep;

extern List *sandbox_outbound_steps(void);
extern List *sandbox_outbound_checks(void);

/*
 * engine.c
 *
 * sandbox_sanitize_environment() applies every rule of an environment in
 * the current transaction, verifies the result and returns a one-line
 * summary; any failure raises an error, which leaves the database as it
 * was once the transaction rolls back.  With run_id > 0 it records into
 * that existing sandbox.run row (created and committed beforehand by the
 * background worker) instead of inserting one.  With
 * sandbox_report_progress set, each step is shown in pg_stat_activity.
 */
extern char *sandbox_sanitize_environment(const char *environment, int64 run_id);

/*
 * sandbox_ledger_insert_run() inserts the sandbox.run row of a new run of
 * this database with a status ('queued', 'running') and returns its id:
 * the only INSERT INTO sandbox.run.  SPI must be connected.
 */
extern int64 sandbox_ledger_insert_run(const char *environment, const char *status);

/*
 * Rules of behaviour shared by the planning of a run (engine.c) and the
 * writing of a rule (catalog.c, rule_checks.c): a masked key that a
 * foreign key references needs its referencing columns masked by the same
 * run (sandbox_check_rule_keys refuses a validated rule that breaks it);
 * a rule on a parent and another on one of its partitions or children
 * must not write the same column (sandbox_refuse_overlapping_rule raises
 * the refusal).  sandbox_check_rule_written (rule_checks.c) makes the
 * second for each rule written; the first is made at the end of every
 * statement on sandbox.rule or sandbox.environment
 * (sandbox_check_rule_keys_trigger); sandbox_ancestors lists the parents of
 * a relation, theirs, and so on; sandbox_column_foreign_keys the foreign
 * keys (pg_constraint rows) a column takes part in, on either side.  SPI
 * must be connected.
 */
extern void sandbox_check_rule_keys(SandboxRule *rule,
									List *(*chain_rules) (const SandboxRule *rule));
extern void sandbox_check_rule_written(SandboxRule *rule);
extern List *sandbox_ancestors(Oid relid);
extern List *sandbox_column_foreign_keys(Oid relid, const char *column_name);
extern void sandbox_refuse_overlapping_rule(int64 child_rule, const char *column,
											const char *child, int64 parent_rule,
											const char *parent);
extern int	sandbox_run_as_owner(Oid owner, const char *sql,
								 int nargs, Oid *argtypes, Datum *values);
extern void sandbox_run_rule_sql(SandboxRule *rule, const char *sql);
extern bool sandbox_report_progress;	/* not a setting: set by sandbox_sanitize
										 * and the sanitizer worker */

/*
 * feature.c: re-enabling and locking the features rules switch off.
 * sandbox_save_restorable() runs before a table's rules, and
 * sandbox_lock_features() after a successful run.
 */
extern char *sandbox_feature_policy(const char *environment, const char *feature);
extern List *sandbox_primary_key_columns(Oid relid);
extern void sandbox_save_restorable(int64 run_id, Oid relid, List *rules);
extern void sandbox_lock_features(const char *environment, List *rules);

/*
 * masking.c
 *
 * sandbox_masking_prepare_key() loads the masking key into this
 * transaction, creating it on first use; the engine calls it as the
 * invoking (privileged) user before running rules as the table owners.
 */
extern void sandbox_masking_prepare_key(void);

/*
 * masking.c: the run token and the key, shared with the workers of a
 * parallel pass (parallel.c) in dynamic shared memory.
 */
extern Size sandbox_masking_shared_size(void);
extern void sandbox_masking_share(void *shared);
extern void sandbox_masking_adopt(const void *shared);

/*
 * worker.c
 *
 * sandbox_wake_launcher() makes the launcher look at the databases at
 * once.
 */
extern void sandbox_wake_launcher(void);

/* ---- gate.c: the gate on unsanitized copies ---- */

/*
 * sandbox_note_sanitized() is called by the engine after a successful run
 * in the run's transaction: when that transaction commits, and if the run
 * applied at least one rule, the database is open to every role.
 * sandbox_database_environment() is the environment a database is marked
 * with (NULL if it is not a sandbox), sandbox_database_open() whether a
 * committed run of that environment opened it,
 * sandbox_may_enter_unsanitized() whether a role may use a closed one,
 * and sandbox_close_database_sessions() terminates the sessions of the
 * roles that may not.
 */
extern void sandbox_note_sanitized(const char *environment, int64 run_id, int nrules);
extern char *sandbox_database_environment(Oid dboid, const char *dbname);
extern bool sandbox_database_open(Oid dboid, const char *environment);
extern bool sandbox_may_enter_unsanitized(Oid roleid);
extern int	sandbox_close_database_sessions(Oid dboid);

/* ---- Owner code and the key (issue 8: secowner) ---- */

/*
 * engine.c: an owner context is the only way the extension runs SQL or
 * analyses rule text as a table's owner: a security-restricted operation
 * with the rule search_path, every setting put back on leaving, and
 * every message below ERROR silenced (and counted).
 */
typedef struct SandboxOwnerContext
{
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
	int			save_depth;
} SandboxOwnerContext;

extern void sandbox_owner_context_enter(Oid owner, SandboxOwnerContext *context);
extern void sandbox_owner_context_leave(SandboxOwnerContext *context);
extern void sandbox_owner_context_abort(SandboxOwnerContext *context);
extern int64 sandbox_silenced_messages(void);
extern void sandbox_silence_server_log(void);
extern void sandbox_count_silenced_messages(int64 n);

/*
 * engine.c: run a statement touching a user table (relid) as its owner,
 * in a subtransaction; any error is replaced by one naming "what" and
 * holding no row value.  $1 of the statement is always the run token
 * (see below); the caller's own parameters are $2 onwards.
 */
extern void sandbox_run_guarded_sql(Oid relid, const char *what, const char *sql,
									int nargs, Oid *argtypes, Datum *values);

/*
 * catalog.c: the SQL text of a validated rule's expression (is_filter =
 * false) or filter, parenthesised, as every statement of the engine must
 * embed it: deparsed from the analysed tree, so every object is
 * schema-qualified or in pg_catalog, and every call of the extension's
 * keyed maskers takes the run token as parameter $SANDBOX_RUN_TOKEN_PARAM
 * (of type bytea, see sandbox_run_token()).  NULL for a missing filter.
 */
#define SANDBOX_RUN_TOKEN_PARAM 1
extern char *sandbox_rule_expression_sql(const SandboxRule *rule, bool is_filter);
extern Oid	sandbox_keyed_masker_variant(Oid funcid);

/*
 * masking.c: the run token, a random value for this transaction that the
 * engine binds as parameter $1 of every statement carrying rule SQL.
 * Inside a security-restricted operation the maskers work only when
 * called with it; anywhere else only for roles that may read
 * sandbox.secret.
 */
extern Datum sandbox_run_token(void);

/* penelope_sandbox.c: plan and verify refuse a production server too */
extern void sandbox_check_not_production_server(void);
/*
 * rule_checks.c
 *
 * sandbox_check_rule() is called by sandbox_validate_rule() with the
 * analysed expression and filter of a rule (either may be NULL) and the
 * number of the column it writes: it refuses rules that could never be
 * verified (volatile functions, reading a column another rule writes) and
 * maskers whose output can never fit the column, and fills in
 * rule->recogniser_args.
 */
struct RelationData;
extern void sandbox_check_rule(SandboxRule *rule, struct RelationData *rel,
							   int attnum, Node *expr, Node *filter);
extern Oid	sandbox_registered_recogniser(Oid masker);
/*
 * feature.c: running again.  sandbox_rules_to_apply() leaves out of a
 * run's rules those this copy already had applied (build_plan calls it
 * for sanitize and plan); sandbox_record_applied_rules() files what a
 * successful run applied, after sandbox_lock_features().
 */
extern List *sandbox_rules_to_apply(List *rules);
extern void sandbox_record_applied_rules(int64 run_id, List *rules);


/*
 * ---- discover.c and leakscan.c: personal data no rule covers, and the
 * proof that no original value survives a run ----
 */

/* What an uncovered column or a leak does to a run (penelope_sandbox.pii_check) */
typedef enum PiiCheck
{
	PII_CHECK_OFF,
	PII_CHECK_WARNING,
	PII_CHECK_ERROR,
	PII_CHECK_ENVIRONMENT		/* the GUC only: follow sandbox.discovery_policy */
} PiiCheck;

/* Kinds of personal data sandbox_discover reports */
typedef enum PiiKind
{
	PII_NONE = -1,
	PII_EMAIL,
	PII_PHONE,
	PII_NAME,
	PII_BIRTH_DATE,
	PII_NATIONAL_ID,
	PII_ADDRESS,
	PII_TEXT_WITH_CONTACTS,		/* free text holding emails or phone numbers */
	PII_JSON_WITH_CONTACTS,		/* JSON holding emails or phone numbers */
	PII_FREE_TEXT,				/* free text by its name (notes, comments) */
	PII_NUM_KINDS
} PiiKind;

extern const char *const pii_kind_names[PII_NUM_KINDS];

/* How a column type is read: text-like, JSON or JSONB, maybe an array */
#define PII_FORM_TEXT	1
#define PII_FORM_JSON	2
#define PII_FORM_JSONB	3

typedef struct PiiColumnType
{
	int			form;
	bool		is_array;
	Oid			elemtype;
	int16		elmlen;
	bool		elmbyval;
	char		elmalign;
} PiiColumnType;

/* The pieces of a value the leak scan fingerprints */
typedef enum PiiPiece
{
	PII_PIECE_WHOLE,			/* the whole trimmed value (or JSON string) */
	PII_PIECE_EMAIL,			/* an email address */
	PII_PIECE_NUMBER			/* a 9-15 digit number, normalised */
} PiiPiece;

typedef void (*PiiPieceCallback) (PiiPiece piece, const char *s, size_t len, void *arg);

/* One column sandbox_discover reports */
typedef struct PiiFinding
{
	Oid			relid;
	char	   *schema;
	char	   *table;
	char	   *column;
	PiiKind		kind;
	bool		by_name;
	PiiKind		content_kind;	/* PII_NONE: no evidence by content */
	double		share;			/* of the sampled values */
	int64		sampled;		/* values sampled, -1: type not read */
	bool		covered;
	char	   *covered_by;		/* "rule 12 (mask)" */
} PiiFinding;

extern bool pii_column_type(Oid typid, PiiColumnType *ct);
extern void pii_value_pieces(const PiiColumnType *ct, Datum value,
							 PiiPieceCallback cb, void *arg);
extern List *pii_discover(List *rules);
extern char *pii_evidence(const PiiFinding *f);
extern PiiCheck pii_policy(const char *environment, uint32 *required);
extern void pii_check_before_run(int64 run_id, const char *environment, List *rules,
								 PiiCheck check, uint32 required);

/*
 * The leak scan, called by the engine at two places of a run:
 * sandbox_leakscan_collect() before its first statement (it also runs the
 * discovery check of the environment's policy, against all its rules, those
 * a run of this copy already applied included: they cover their columns), sandbox_leakscan_check()
 * after its verification.  sandbox_leakscan_verify() adds the last run's
 * leak scan to sandbox_verify's result.
 */
extern void sandbox_leakscan_collect(int64 run_id, const char *environment, List *rules,
									 List *all_rules);
extern void sandbox_leakscan_check(int64 run_id);
extern void sandbox_leakscan_verify(Tuplestorestate *store, TupleDesc desc,
									const char *environment);

/* ---- rewrite.c: the engine's own table rewrite (issue 9) ---- */

/* A column's new value in a rewrite: SQL over the row's columns */
typedef struct RewriteColumn
{
	char	   *name;
	char	   *value_sql;
} RewriteColumn;

/* A user trigger switched off for the length of a run */
typedef struct SuspendedTrigger
{
	Oid			relid;
	char	   *name;
	char		enabled;		/* pg_trigger.tgenabled to put back */
} SuspendedTrigger;

extern char *sandbox_rewrite_select_sql(Oid relid, List *values, const char *keep_rows);
/*
 * A recogniser a rewrite applies to the values it writes into one column,
 * so that the run's verification need not read them again: the count of
 * non-null values it rejected comes back in violations.
 */
typedef struct RewriteCheck
{
	int64		rule_id;		/* the mask rule it verifies */
	AttrNumber	attnum;			/* the column, in the relation rewritten */
	Oid			recogniser;		/* a function of the value alone */
	int64		violations;
} RewriteCheck;

/* A rewrite to run (sandbox_rewrite_relation), and the rows it wrote */
typedef struct RewriteTarget
{
	Oid			relid;			/* the plain table rewritten */
	List	   *changed_columns;	/* names (String) of the columns its rules
									 * change */
	List	   *checks;			/* RewriteCheck *: recognisers of the values
								 * written */
	int64		rows;			/* set by run_in_subtransaction() */
} RewriteTarget;

extern int64 sandbox_rewrite_relation(RewriteTarget *target, Oid owner, const char *select_sql,
									  int nargs, Oid *argtypes, Datum *values);
extern void sandbox_forget_statistics(Oid relid, List *attnums);
extern bool sandbox_suspend_forced_row_security(Oid relid);
extern void sandbox_restore_forced_row_security(Oid relid);
extern List *sandbox_user_triggers(Oid relid);
extern void sandbox_set_user_triggers(List *triggers, bool enable);
extern void sandbox_lock_relation(Oid relid, int mode, const char *purpose);
extern int64 sandbox_dead_row_versions(Oid relid, int64 visible);

/* engine.c: sandbox_run_as_owner, sending a query's rows to a receiver */
struct _DestReceiver;
extern int	sandbox_run_as_owner_into(Oid owner, const char *sql, int nargs,
									  Oid *argtypes, Datum *values,
									  struct _DestReceiver *dest);

/*
 * parallel.c: the pass of a rewrite computed by parallel workers, when it
 * can be; false when the caller must run it itself.
 */
struct RelationData;
extern bool sandbox_parallel_pass(struct RelationData *rel, Oid owner, const char *select_sql,
								  int nargs, Oid *argtypes, Datum *values,
								  struct _DestReceiver *dest);

/*
 * masking.c: running again.  Whether a recogniser accepts only its
 * masker's output (see sandbox_rules_to_apply).
 */
extern bool sandbox_recogniser_is_exact(Oid recogniser);

#endif							/* PENELOPE_SANDBOX_H */
