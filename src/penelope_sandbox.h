/*-------------------------------------------------------------------------
 *
 * penelope_sandbox.h
 *		Declarations shared by the C files of penelope_sandbox.
 *
 * The extension is split by topic:
 *
 *	penelope_sandbox.c		module load, GUCs, the production guard
 *	src/catalog.c			reading and validating the rule catalog
 *	src/engine.c			plan, sanitize, verify and the run ledger
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

#include "nodes/pg_list.h"

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

extern int	sandbox_server_role;
extern int	sandbox_update_strategy;

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
} SandboxRule;

/* catalog.c */
extern List *sandbox_load_rules(const char *environment);
extern bool sandbox_environment_disables_outbound(const char *environment);
extern void sandbox_validate_rule(SandboxRule *rule, bool check_writer);
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
extern int	sandbox_run_as_owner(Oid owner, const char *sql,
								 int nargs, Oid *argtypes, Datum *values);
extern void sandbox_run_rule_sql(SandboxRule *rule, const char *sql);
extern bool sandbox_report_progress;

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
 * sandbox_masking_init() defines the masking settings (called from
 * _PG_init).  sandbox_masking_prepare_key() loads the masking key into
 * this transaction, creating it on first use; the engine calls it as the
 * invoking (privileged) user before running rules as the table owners.
 */
extern void sandbox_masking_init(void);
extern void sandbox_masking_prepare_key(void);

/*
 * worker.c
 *
 * sandbox_worker_init() registers the launcher and the login checks when
 * the library is preloaded (called from _PG_init).
 * sandbox_note_sanitized() tells it that this transaction sanitized the
 * database, which opens it to every role once the transaction commits.
 */
extern void sandbox_worker_init(void);
extern void sandbox_note_sanitized(void);

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

extern int	sandbox_lock_wait_timeout;
extern char *sandbox_rewrite_select_sql(Oid relid, List *values, const char *keep_rows);
extern int64 sandbox_rewrite_relation(Oid relid, Oid owner, const char *select_sql,
									  int nargs, Oid *argtypes, Datum *values);
extern void sandbox_forget_statistics(Oid relid, List *attnums);
extern bool sandbox_suspend_forced_row_security(Oid relid);
extern void sandbox_restore_forced_row_security(Oid relid);
extern List *sandbox_user_triggers(Oid relid);
extern void sandbox_set_user_triggers(List *triggers, bool enable);
extern void sandbox_lock_relation(Oid relid, int mode, const char *purpose);
extern int64 sandbox_dead_row_versions(Oid relid);

/* engine.c: sandbox_run_as_owner, sending a query's rows to a receiver */
struct _DestReceiver;
extern int	sandbox_run_as_owner_into(Oid owner, const char *sql, int nargs,
									  Oid *argtypes, Datum *values,
									  struct _DestReceiver *dest);

#endif							/* PENELOPE_SANDBOX_H */
