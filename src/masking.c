/*-------------------------------------------------------------------------
 *
 * masking.c
 *		SQL-callable masking functions and the masking key.
 *
 * The functions here are thin fmgr wrappers around the pure-C core in
 * mask_core.c; what they add is the key.  Every masked value depends on a
 * 256-bit secret, so that nobody without it can recompute the mapping or
 * enumerate a small input space (all phone numbers, all birth dates) to
 * undo it.
 *
 * Where the key comes from, in order:
 *
 *	1. the setting penelope_sandbox.secret, set in postgresql.conf or with
 *	   ALTER SYSTEM (never for a database or a role, whose settings every
 *	   role reads in pg_db_role_setting: that is refused): a passphrase
 *	   from which the key is derived, so several databases share
 *	   pseudonyms;
 *	2. the singleton table sandbox.secret, filled by
 *	   sandbox_set_secret_from_file() (a passphrase read from a file on
 *	   the server, so that it never appears in SQL text, which
 *	   log_statement would record) or, on first use, with 32 bytes from
 *	   pg_strong_random().
 *
 * Who may use the key is decided on every call of a masker:
 *
 *	- called with the run token (the variant sandbox.mask_x(value, token)
 *	  that the engine writes into the SQL of rules, binding the token of
 *	  the transaction as a parameter): always;
 *	- otherwise, never inside a security-restricted operation (owner code
 *	  running during a sanitization: a trigger, a CHECK constraint, a
 *	  domain, an index expression), and elsewhere only for roles that may
 *	  read sandbox.secret (superusers, and roles a superuser granted SELECT
 *	  on it).  The check is cached for the current user and transaction.
 *
 * Anyone else gets "permission denied to use the masking key".  That is
 * what makes the mapping impossible to enumerate, for an ordinary user
 * and for a hostile table owner alike.
 *
 * The key is loaded at most once per transaction and kept in this
 * backend's memory until the transaction ends.  The sanitizing engine
 * calls sandbox_masking_prepare_key() as the privileged invoking user
 * before it switches to each table owner to run the rules, so the masks
 * run there with the cached key and never need to read the table as the
 * owner.
 *
 * No error or log message here ever shows a value being masked, nor the
 * key or a passphrase.
 *
 * Copyright (c) 2026, penelope_sandbox developers
 *
 * IDENTIFICATION
 *	  src/masking.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "common/hmac.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "mask_core.h"
#include "penelope_sandbox.h"

/* ---- Settings ---- */

char	   *sandbox_secret_setting = NULL;
int			sandbox_date_window = 180;

/* ---- The key cache ---- */

/* The expanded key of the current transaction, when key_cached. */
static MaskKey cached_key;
static bool key_cached = false;

/* Did sandbox_set_secret_from_file() run in this transaction? */
static bool key_changed_in_xact = false;

/* The user last found allowed to read the key, in this transaction */
static Oid	key_user = InvalidOid;

/* The run token of this transaction, when run_token_made */
#define RUN_TOKEN_LEN 32
static uint8 run_token[RUN_TOKEN_LEN];
static bool run_token_made = false;

/*
 * Key derived from penelope_sandbox.secret: deriving is slow on purpose,
 * so the result is kept for the session along with the passphrase it came
 * from (in TopMemoryContext) and recomputed when the setting changes.
 */
static char *derived_from = NULL;
static uint8 derived_secret[MC_SECRET_LEN];

/* PBKDF2-HMAC-SHA256 parameters of passphrase-derived keys. */
#define MASKING_KDF_ITERATIONS 100000
#define MASKING_KDF_SALT "penelope_sandbox masking key v1"
#define MASKING_MIN_PASSPHRASE 16

/*
 * Forget the cached key, wiping it from memory.
 */
static void
masking_forget_key(void)
{
	if (key_cached)
		explicit_bzero(&cached_key, sizeof(cached_key));
	key_cached = false;
	key_user = InvalidOid;
}

/*
 * Transaction callback: the key lives for one transaction at most, so a
 * key changed or revoked by another session is seen by the next
 * transaction.
 */
void
sandbox_masking_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			masking_forget_key();
			key_changed_in_xact = false;
			explicit_bzero(run_token, sizeof(run_token));
			run_token_made = false;
			break;
		default:
			break;
	}
}

/*
 * Subtransaction callback: when sandbox.set_secret() ran in this
 * transaction, a rolled-back savepoint may have undone it, so the key is
 * read again.  Otherwise the cache stays, which the engine relies on.
 */
void
sandbox_masking_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						 SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB && key_changed_in_xact)
		masking_forget_key();
}

/*
 * Assign hook of penelope_sandbox.secret: a new value takes effect at
 * once, even within a transaction.
 */
void
sandbox_secret_assign_hook(const char *newval, void *extra)
{
	masking_forget_key();
}

/*
 * Check hook of penelope_sandbox.secret: refuse it for a database, a role
 * or a function (ALTER DATABASE/ROLE ... SET, CREATE FUNCTION ... SET, all
 * validated with source PGC_S_TEST), since every role can read those
 * settings in pg_db_role_setting or pg_proc.
 */
bool
sandbox_secret_check_hook(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	if (source == PGC_S_TEST || source == PGC_S_DATABASE || source == PGC_S_USER ||
		source == PGC_S_DATABASE_USER)
	{
		GUC_check_errcode(ERRCODE_INSUFFICIENT_PRIVILEGE);
		GUC_check_errmsg("penelope_sandbox.secret cannot be set for a database, a role or a function");
		GUC_check_errdetail("Every role can read such settings in pg_db_role_setting or pg_proc.");
		GUC_check_errhint("Set it in postgresql.conf or with ALTER SYSTEM, which only the server's operating system account can read.");
		return false;
	}
	return true;
}

/*
 * Derive a 256-bit key from a passphrase: PBKDF2-HMAC-SHA256 with a fixed
 * salt (so that every database derives the same key from the same
 * passphrase) and many iterations (so that guessing passphrases is slow).
 */
static void
masking_derive_key(const char *passphrase, uint8 *secret)
{
	pg_hmac_ctx *ctx = pg_hmac_create(PG_SHA256);
	uint8		u[PG_SHA256_DIGEST_LENGTH];
	const uint8 block[4] = {0, 0, 0, 1};
	size_t		plen = strlen(passphrase);
	int			i,
				j;

	StaticAssertStmt(PG_SHA256_DIGEST_LENGTH == MC_SECRET_LEN,
					 "the masking key is one SHA-256 block");
	if (ctx == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));

	if (pg_hmac_init(ctx, (const uint8 *) passphrase, plen) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) MASKING_KDF_SALT, strlen(MASKING_KDF_SALT)) < 0 ||
		pg_hmac_update(ctx, block, sizeof(block)) < 0 ||
		pg_hmac_final(ctx, u, sizeof(u)) < 0)
		goto fail;
	memcpy(secret, u, MC_SECRET_LEN);
	for (i = 1; i < MASKING_KDF_ITERATIONS; i++)
	{
		if (pg_hmac_init(ctx, (const uint8 *) passphrase, plen) < 0 ||
			pg_hmac_update(ctx, u, sizeof(u)) < 0 ||
			pg_hmac_final(ctx, u, sizeof(u)) < 0)
			goto fail;
		for (j = 0; j < MC_SECRET_LEN; j++)
			secret[j] ^= u[j];
		if (i % 4096 == 0)
			CHECK_FOR_INTERRUPTS();
	}
	pg_hmac_free(ctx);
	explicit_bzero(u, sizeof(u));
	return;

fail:
	pg_hmac_free(ctx);
	explicit_bzero(u, sizeof(u));
	explicit_bzero(secret, MC_SECRET_LEN);
	ereport(ERROR,
			(errcode(ERRCODE_INTERNAL_ERROR),
			 errmsg("could not derive the masking key")));
}

/*
 * OID of table sandbox.secret; an error if it is missing.
 */
static Oid
masking_secret_relid(void)
{
	Oid			nsp = get_namespace_oid(SANDBOX_SCHEMA, true);
	Oid			relid = OidIsValid(nsp) ? get_relname_relid("secret", nsp) : InvalidOid;

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table \"%s.secret\" does not exist", SANDBOX_SCHEMA),
				 errhint("Create the extension penelope_sandbox in this database.")));
	return relid;
}

/*
 * Read the key from sandbox.secret into secret, creating it with
 * pg_strong_random() when the table is empty.  Runs SQL as the current
 * user.
 */
static void
masking_table_key(Oid relid, uint8 *secret)
{
	bool		found = false;
	int			attempt;

	SPI_connect();
	for (attempt = 0; attempt < 2 && !found; attempt++)
	{
		if (SPI_execute("SELECT key FROM " SANDBOX_SCHEMA ".secret", false, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read the masking key");
		if (SPI_processed == 0 && attempt == 0)
		{
			Oid			argtypes[1] = {BYTEAOID};
			Datum		values[1];
			bytea	   *fresh = palloc(VARHDRSZ + MC_SECRET_LEN);

			if (pg_class_aclcheck(relid, GetUserId(), ACL_INSERT) != ACLCHECK_OK)
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("the masking key has not been created yet"),
						 errhint("A superuser creates it by calling any masking function once, or with sandbox.set_secret().")));
			SET_VARSIZE(fresh, VARHDRSZ + MC_SECRET_LEN);
			if (!pg_strong_random(VARDATA(fresh), MC_SECRET_LEN))
				ereport(ERROR,
						(errcode(ERRCODE_INTERNAL_ERROR),
						 errmsg("could not generate a random masking key")));
			values[0] = PointerGetDatum(fresh);
			if (SPI_execute_with_args("INSERT INTO " SANDBOX_SCHEMA ".secret (key, origin) "
									  "VALUES ($1, 'random') ON CONFLICT DO NOTHING",
									  1, argtypes, values, NULL, false, 0) != SPI_OK_INSERT)
				elog(ERROR, "could not store the masking key");
			explicit_bzero(VARDATA(fresh), MC_SECRET_LEN);
			pfree(fresh);
			continue;			/* read it back: another session may have won */
		}
		if (SPI_processed > 0)
		{
			bool		isnull;
			Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
			bytea	   *b;

			if (isnull)
				break;
			b = DatumGetByteaPP(d);
			if (VARSIZE_ANY_EXHDR(b) != MC_SECRET_LEN)
				break;
			memcpy(secret, VARDATA_ANY(b), MC_SECRET_LEN);
			found = true;
		}
	}
	SPI_finish();
	if (!found)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("could not load the masking key"),
				 errdetail("Table %s.secret holds no valid key.", SANDBOX_SCHEMA),
				 errhint("Retry the transaction, or set a key with sandbox.set_secret().")));
}

/*
 * sandbox_masking_prepare_key
 *		Load the masking key into this transaction, creating it on first
 *		use; a no-op when it is already loaded.
 *
 * The current user must be allowed to read sandbox.secret.
 */
void
sandbox_masking_prepare_key(void)
{
	Oid			relid;
	uint8		secret[MC_SECRET_LEN];

	if (key_cached)
		return;

	relid = masking_secret_relid();
	if (pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to use the masking key"),
				 errdetail("Masking functions need the key in table %s.secret, which this role may not read.",
						   SANDBOX_SCHEMA),
				 errhint("Ask your database administrator to run the sanitization, or to grant SELECT on %s.secret to a trusted role.",
						 SANDBOX_SCHEMA)));

	if (sandbox_secret_setting != NULL && sandbox_secret_setting[0] != '\0')
	{
		if (derived_from == NULL || strcmp(derived_from, sandbox_secret_setting) != 0)
		{
			if (derived_from != NULL)
			{
				explicit_bzero(derived_from, strlen(derived_from));
				pfree(derived_from);
				derived_from = NULL;
			}
			masking_derive_key(sandbox_secret_setting, derived_secret);
			derived_from = MemoryContextStrdup(TopMemoryContext, sandbox_secret_setting);
		}
		memcpy(secret, derived_secret, MC_SECRET_LEN);
	}
	else
		masking_table_key(relid, secret);

	mc_key_expand(&cached_key, secret);
	explicit_bzero(secret, sizeof(secret));
	key_cached = true;
}

/*
 * sandbox_run_token
 *		See penelope_sandbox.h: the run token of this transaction, made on
 *		first use, as a bytea datum.
 */
Datum
sandbox_run_token(void)
{
	bytea	   *token = palloc(VARHDRSZ + RUN_TOKEN_LEN);

	if (!run_token_made)
	{
		if (!pg_strong_random(run_token, RUN_TOKEN_LEN))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not generate a random run token")));
		run_token_made = true;
	}
	SET_VARSIZE(token, VARHDRSZ + RUN_TOKEN_LEN);
	memcpy(VARDATA(token), run_token, RUN_TOKEN_LEN);
	return PointerGetDatum(token);
}

/*
 * What a parallel pass (parallel.c) gives its workers: the run token and,
 * when it is loaded, the key of this transaction.  Lives in the pass's
 * dynamic shared memory, which only server code can map, and is wiped
 * there when the pass ends.
 */
typedef struct MaskingShared
{
	bool		key_cached;
	MaskKey		key;
	uint8		run_token[RUN_TOKEN_LEN];
} MaskingShared;

/*
 * sandbox_masking_shared_size
 *		The size of what sandbox_masking_share() writes.
 */
Size
sandbox_masking_shared_size(void)
{
	return sizeof(MaskingShared);
}

/*
 * sandbox_masking_share
 *		Write the run token of this transaction, which must be made, and
 *		the key, if loaded, into shared, for the workers of a parallel
 *		pass.
 */
void
sandbox_masking_share(void *shared)
{
	MaskingShared *s = shared;

	if (!run_token_made)
		elog(ERROR, "no run token to share");
	s->key_cached = key_cached;
	if (key_cached)
		memcpy(&s->key, &cached_key, sizeof(MaskKey));
	memcpy(s->run_token, run_token, RUN_TOKEN_LEN);
}

/*
 * sandbox_masking_adopt
 *		In a worker of a parallel pass: take the run token and the key the
 *		leader shared, so that the maskers called with the token work as
 *		they do in the leader.  The worker's transaction callback wipes
 *		them when it ends.
 */
void
sandbox_masking_adopt(const void *shared)
{
	const MaskingShared *s = shared;

	if (!IsParallelWorker())
		elog(ERROR, "only a parallel worker adopts the masking key");
	masking_forget_key();
	if (s->key_cached)
	{
		memcpy(&cached_key, &s->key, sizeof(MaskKey));
		key_cached = true;
	}
	memcpy(run_token, s->run_token, RUN_TOKEN_LEN);
	run_token_made = true;
}

/*
 * masking_refuse
 *		The error for a caller that may not use the key.
 */
static void
masking_refuse(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to use the masking key"),
			 errdetail_internal("%s", detail),
			 errhint("Ask your database administrator to run the sanitization, or to grant SELECT on %s.secret to a trusted role.",
					 SANDBOX_SCHEMA)));
}

/*
 * masking_token_matches
 *		Whether a token is the run token of this transaction, in constant
 *		time: four 64-bit words compared without branching on the data
 *		(inlined: the engine's maskers call it for every value).
 */
static inline bool
masking_token_matches(const bytea *token)
{
	const char *p = VARDATA_ANY(token);
	uint64		diff = 0;

	StaticAssertStmt(RUN_TOKEN_LEN % sizeof(uint64) == 0, "the run token is whole words");
	if (!run_token_made || VARSIZE_ANY_EXHDR(token) != RUN_TOKEN_LEN)
		return false;
	for (int i = 0; i < RUN_TOKEN_LEN; i += sizeof(uint64))
	{
		uint64		a;
		uint64		b;

		memcpy(&a, p + i, sizeof(uint64));
		memcpy(&b, run_token + i, sizeof(uint64));
		diff |= a ^ b;
	}
	return diff == 0;
}

/*
 * masking_key
 *		The key of this transaction, for a masker's caller that may use it
 *		(see the header comment), loading it when needed.
 */
static inline const MaskKey *
masking_key(FunctionCallInfo fcinfo)
{
	if (PG_NARGS() == 2)
	{
		/* the variant the engine writes into rule SQL */
		bytea	   *token = PG_GETARG_BYTEA_PP(1);

		if (unlikely(!masking_token_matches(token)))
			masking_refuse("The run token does not match.");
		if (unlikely(!key_cached))
			sandbox_masking_prepare_key();
		return &cached_key;
	}

	if (InSecurityRestrictedOperation())
		masking_refuse("Masking functions cannot be called by code running as a table owner during a sanitization, nor in any other security-restricted operation.");
	if (unlikely(GetUserId() != key_user))
	{
		if (pg_class_aclcheck(masking_secret_relid(), GetUserId(), ACL_SELECT) != ACLCHECK_OK)
			masking_refuse("Masking functions need the key in table sandbox.secret, which this role may not read.");
		if (!key_cached)
			sandbox_masking_prepare_key();
		key_user = GetUserId();
	}
	return &cached_key;
}

/* ---- Key management functions ---- */

PG_FUNCTION_INFO_V1(sandbox_set_secret_from_file);

/* Longest passphrase file read */
#define MASKING_MAX_PASSPHRASE 1024

/*
 * read_passphrase_file
 *		The first line of a file on the server, without its line end.
 *		The caller must be a superuser or a member of
 *		pg_read_server_files.  Error messages name the file, never what
 *		it holds.
 */
static char *
read_passphrase_file(const char *path)
{
	char	   *passphrase = palloc0(MASKING_MAX_PASSPHRASE + 1);
	FILE	   *file;
	size_t		len;

	if (!has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to read a passphrase file"),
				 errdetail("Only superusers and members of pg_read_server_files may read files on the server.")));
	if (!is_absolute_path(path))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the passphrase file must be named by an absolute path")));
	file = AllocateFile(path, "r");
	if (file == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open passphrase file \"%s\": %m", path)));
	len = fread(passphrase, 1, MASKING_MAX_PASSPHRASE, file);
	if (ferror(file))
	{
		explicit_bzero(passphrase, MASKING_MAX_PASSPHRASE);
		FreeFile(file);
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read passphrase file \"%s\": %m", path)));
	}
	FreeFile(file);
	passphrase[len] = '\0';
	passphrase[strcspn(passphrase, "\r\n")] = '\0';
	return passphrase;
}

/*
 * sandbox_set_secret_from_file(path text) returns void
 *		(sandbox.set_secret_from_file in releases 1.0 and 1.1)
 *		Replace the key in sandbox.secret by one derived from the
 *		passphrase in the first line of a file on the server, so that
 *		databases given the same passphrase share pseudonyms.
 *
 * The passphrase is never SQL text: log_statement and
 * pg_stat_statements would keep it.  EXECUTE is revoked from PUBLIC;
 * the statement runs as the caller, who must also be allowed to read
 * server files and to write sandbox.secret.
 */
Datum
sandbox_set_secret_from_file(PG_FUNCTION_ARGS)
{
	char	   *path = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *passphrase = read_passphrase_file(path);
	uint8		secret[MC_SECRET_LEN];
	bytea	   *b;
	Oid			argtypes[1] = {BYTEAOID};
	Datum		values[1];

	if (pg_mbstrlen(passphrase) < MASKING_MIN_PASSPHRASE)
	{
		explicit_bzero(passphrase, strlen(passphrase));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("passphrase is too short"),
				 errdetail("A masking passphrase must have at least %d characters.",
						   MASKING_MIN_PASSPHRASE)));
	}
	masking_derive_key(passphrase, secret);
	explicit_bzero(passphrase, strlen(passphrase));

	b = palloc(VARHDRSZ + MC_SECRET_LEN);
	SET_VARSIZE(b, VARHDRSZ + MC_SECRET_LEN);
	memcpy(VARDATA(b), secret, MC_SECRET_LEN);
	explicit_bzero(secret, sizeof(secret));
	values[0] = PointerGetDatum(b);

	SPI_connect();
	if (SPI_execute_with_args("INSERT INTO " SANDBOX_SCHEMA ".secret (key, origin) "
							  "VALUES ($1, 'passphrase') ON CONFLICT (singleton) DO UPDATE "
							  "SET key = excluded.key, origin = excluded.origin, "
							  "created_at = excluded.created_at",
							  1, argtypes, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not store the masking key");
	SPI_finish();
	explicit_bzero(VARDATA(b), MC_SECRET_LEN);

	/* the next masking call reads the new key (or the old, on rollback) */
	masking_forget_key();
	key_changed_in_xact = true;
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(sandbox_set_secret);

/*
 * sandbox.set_secret(passphrase text) of release 1.0
 *		Refused: the passphrase would be SQL text, which log_statement and
 *		pg_stat_statements keep.
 *
 * The symbol stays in the library so that the frozen 1.0 script (and a
 * 1.0 installation not yet updated) still loads; ALTER EXTENSION
 * penelope_sandbox UPDATE replaces the function by set_secret_from_file.
 */
Datum
sandbox_set_secret(PG_FUNCTION_ARGS)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("sandbox.set_secret() is no longer supported"),
			 errdetail("A passphrase given as SQL text is kept by log_statement and pg_stat_statements."),
			 errhint("Run ALTER EXTENSION penelope_sandbox UPDATE, then use sandbox_set_secret_from_file().")));
	PG_RETURN_VOID();
}

/* ---- Helpers of the wrappers ---- */

/* A text datum of len bytes, data to be filled by the caller. */
static inline text *
masking_alloc_text(size_t len)
{
	text	   *t;

	if (len > MaxAllocSize - VARHDRSZ)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("value too long to mask"),
				 errdetail("The masked value would exceed the maximum size of a text value.")));
	t = (text *) palloc(VARHDRSZ + len);
	SET_VARSIZE(t, VARHDRSZ + len);
	return t;
}

/* Shrink the length of a text datum to len bytes. */
static inline text *
masking_set_len(text *t, size_t len)
{
	SET_VARSIZE(t, VARHDRSZ + len);
	return t;
}

/* ---- Character encodings ---- */

/*
 * The maskers and recognisers of the core that read characters (mask_id,
 * mask_phone) take UTF-8.  In a UTF8 database a value is passed as it is,
 * and so in SQL_ASCII, where the server knows no encoding (bytes that are
 * not UTF-8 count as letters there, so they are masked).  In any other
 * database a value that is not plain ASCII is converted to UTF-8 with the
 * server's conversion functions, and the masked value converted back.
 */
static bool
masking_needs_utf8(const char *s, size_t len)
{
	int			enc = GetDatabaseEncoding();

	return enc != PG_UTF8 && enc != PG_SQL_ASCII && !mc_is_ascii(s, len);
}

/*
 * Convert len bytes from encoding "from" to encoding "to"; returns a
 * palloc'd string and its length in *outlen.  A character the conversion
 * cannot map is replaced by "bad" (never an error: the message would show
 * bytes of the value).
 */
static char *
masking_convert(const char *s, size_t len, int from, int to,
				const char *bad, size_t *outlen)
{
	static Oid	procs[2] = {InvalidOid, InvalidOid};
	int			which = to == PG_UTF8 ? 0 : 1;
	size_t		badlen = strlen(bad);
	size_t		cap,
				i = 0,
				o = 0;
	char	   *dst;

	/* the database encoding of a backend never changes */
	if (!OidIsValid(procs[which]))
	{
		procs[which] = FindDefaultConversionProc(from, to);
		if (!OidIsValid(procs[which]))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_FUNCTION),
					 errmsg("default conversion function for encoding \"%s\" to \"%s\" does not exist",
							pg_encoding_to_char(from), pg_encoding_to_char(to))));
	}
	if (len > (MaxAllocSize - 1) / MAX_CONVERSION_GROWTH)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("value too long to mask"),
				 errdetail("Values longer than %d bytes are masked in UTF8 databases only.",
						   (int) ((MaxAllocSize - 1) / MAX_CONVERSION_GROWTH))));

	cap = len * MAX_CONVERSION_GROWTH + 1;
	dst = palloc(cap);
	while (i < len)
	{
		int			done;
		size_t		l;

		done = pg_do_encoding_conversion_buf(procs[which], from, to,
											 (unsigned char *) s + i, (int) (len - i),
											 (unsigned char *) dst + o, (int) (cap - o),
											 true);
		i += (size_t) done;
		o += strlen(dst + o);
		if (i >= len)
			break;
		/* skip the character the conversion stopped at */
		l = (size_t) pg_encoding_mblen_bounded(from, s + i);
		i += Min(Max(l, 1), len - i);
		memcpy(dst + o, bad, badlen);
		o += badlen;
		dst[o] = '\0';
	}
	*outlen = o;
	return dst;
}

/*
 * Run a shape-keeping masker (output at most as long as its input) on a
 * text value, in UTF-8.
 */
static text *
masking_utf8_masker(FunctionCallInfo fcinfo, text *in,
					size_t (*masker) (const MaskKey *, const char *, size_t, char *))
{
	const MaskKey *key = masking_key(fcinfo);
	const char *s = VARDATA_ANY(in);
	size_t		len = VARSIZE_ANY_EXHDR(in);
	int			enc = GetDatabaseEncoding();
	text	   *out;
	char	   *u;
	char	   *m;
	char	   *back;
	size_t		ulen,
				mlen,
				blen;

	if (!masking_needs_utf8(s, len))
	{
		out = masking_alloc_text(len);
		return masking_set_len(out, masker(key, s, len, VARDATA(out)));
	}

	/* characters the server cannot map become U+E000, a letter, masked */
	u = masking_convert(s, len, enc, PG_UTF8, "\xee\x80\x80", &ulen);
	m = palloc(ulen + 1);
	mlen = masker(key, u, ulen, m);
	back = masking_convert(m, mlen, PG_UTF8, enc, "?", &blen);
	out = masking_alloc_text(blen);
	memcpy(VARDATA(out), back, blen);
	pfree(u);
	pfree(m);
	pfree(back);
	return out;
}

/* Run a recogniser of the core on a text value, in UTF-8. */
static bool
masking_utf8_recogniser(text *in, bool (*recogniser) (const char *, size_t))
{
	const char *s = VARDATA_ANY(in);
	size_t		len = VARSIZE_ANY_EXHDR(in);
	char	   *u;
	size_t		ulen;
	bool		result;

	if (!masking_needs_utf8(s, len))
		return recogniser(s, len);
	u = masking_convert(s, len, GetDatabaseEncoding(), PG_UTF8, "\xee\x80\x80", &ulen);
	result = recogniser(u, ulen);
	pfree(u);
	return result;
}

/* Number of characters of a text value, in the database encoding. */
static size_t
masking_nchars(const char *s, size_t len)
{
	if (GetDatabaseEncoding() == PG_UTF8)
		return mc_utf8_nchars(s, len);
	if (pg_database_encoding_max_length() == 1)
		return len;
	return (size_t) pg_mbstrlen_with_len(s, (int) len);
}

/* ---- Maskers ---- */

PG_FUNCTION_INFO_V1(sandbox_mask_email);

/*
 * sandbox.mask_email(text) returns text
 *		A keyed pseudonym at example.invalid, unique per address.
 */
Datum
sandbox_mask_email(PG_FUNCTION_ARGS)
{
	const MaskKey *key = masking_key(fcinfo);
	text	   *in = PG_GETARG_TEXT_PP(0);
	text	   *out = masking_alloc_text(MC_EMAIL_LEN);

	mc_mask_email(key, VARDATA_ANY(in), VARSIZE_ANY_EXHDR(in), VARDATA(out));
	PG_RETURN_TEXT_P(out);
}

PG_FUNCTION_INFO_V1(sandbox_mask_phone);

/*
 * sandbox.mask_phone(text) returns text
 *		A phone number of the same shape, in a fictional range, in ASCII
 *		digits whatever the digits of the input.
 */
Datum
sandbox_mask_phone(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(masking_utf8_masker(fcinfo, PG_GETARG_TEXT_PP(0), mc_mask_phone));
}

PG_FUNCTION_INFO_V1(sandbox_mask_id);

/*
 * sandbox.mask_id(text) returns text
 *		An identifier of the same shape in ASCII letters and digits: a keyed
 *		permutation, so distinct identifiers stay distinct.
 */
Datum
sandbox_mask_id(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(masking_utf8_masker(fcinfo, PG_GETARG_TEXT_PP(0), mc_mask_id));
}

/* Common body of the name maskers. */
static Datum
masking_name(FunctionCallInfo fcinfo,
			 size_t (*masker) (const MaskKey *, const char *, size_t, char *))
{
	const MaskKey *key = masking_key(fcinfo);
	text	   *in = PG_GETARG_TEXT_PP(0);
	size_t		len = VARSIZE_ANY_EXHDR(in);
	text	   *out = masking_alloc_text(mc_name_out_len(len));

	len = masker(key, VARDATA_ANY(in), len, VARDATA(out));
	PG_RETURN_TEXT_P(masking_set_len(out, len));
}

PG_FUNCTION_INFO_V1(sandbox_mask_first_name);

/*
 * sandbox.mask_first_name(text) returns text
 *		A given name from the shipped dictionary.
 */
Datum
sandbox_mask_first_name(PG_FUNCTION_ARGS)
{
	return masking_name(fcinfo, mc_mask_first_name);
}

PG_FUNCTION_INFO_V1(sandbox_mask_last_name);

/*
 * sandbox.mask_last_name(text) returns text
 *		A surname from the shipped dictionary.
 */
Datum
sandbox_mask_last_name(PG_FUNCTION_ARGS)
{
	return masking_name(fcinfo, mc_mask_last_name);
}

PG_FUNCTION_INFO_V1(sandbox_mask_full_name);

/*
 * sandbox.mask_full_name(text) returns text
 *		A full name of the same form, word by word.
 */
Datum
sandbox_mask_full_name(PG_FUNCTION_ARGS)
{
	return masking_name(fcinfo, mc_mask_full_name);
}

PG_FUNCTION_INFO_V1(sandbox_mask_address);

/*
 * sandbox.mask_address(text) returns text
 *		A made-up street address.
 */
Datum
sandbox_mask_address(PG_FUNCTION_ARGS)
{
	const MaskKey *key = masking_key(fcinfo);
	text	   *in = PG_GETARG_TEXT_PP(0);
	text	   *out = masking_alloc_text(MC_ADDRESS_MAX_LEN);
	size_t		len;

	len = mc_mask_address(key, VARDATA_ANY(in), VARSIZE_ANY_EXHDR(in), VARDATA(out));
	PG_RETURN_TEXT_P(masking_set_len(out, len));
}

PG_FUNCTION_INFO_V1(sandbox_mask_text);

/*
 * sandbox.mask_text(text) returns text
 *		Made-up sentences with about as many characters as the input.
 */
Datum
sandbox_mask_text(PG_FUNCTION_ARGS)
{
	const MaskKey *key = masking_key(fcinfo);
	text	   *in = PG_GETARG_TEXT_PP(0);
	size_t		len = VARSIZE_ANY_EXHDR(in);
	size_t		nchars = masking_nchars(VARDATA_ANY(in), len);
	text	   *out = masking_alloc_text(mc_text_out_len(nchars));

	len = mc_mask_text(key, VARDATA_ANY(in), len, nchars, VARDATA(out));
	PG_RETURN_TEXT_P(masking_set_len(out, len));
}

PG_FUNCTION_INFO_V1(sandbox_mask_date);

/*
 * sandbox.mask_date(date) returns date
 *		The date moved by a keyed offset of up to
 *		penelope_sandbox.date_window days, always before today.
 *		Infinite dates are returned as they are.
 */
Datum
sandbox_mask_date(PG_FUNCTION_ARGS)
{
	const MaskKey *key = masking_key(fcinfo);
	DateADT		d = PG_GETARG_DATEADT(0);

	if (DATE_NOT_FINITE(d))
		PG_RETURN_DATEADT(d);
	PG_RETURN_DATEADT(mc_mask_date(key, d, GetSQLCurrentDate(), sandbox_date_window,
								   DATETIME_MIN_JULIAN - POSTGRES_EPOCH_JDATE));
}

/* ---- Recognisers (keyless) ---- */

#define MASKING_RECOGNISER(sqlname, cname, core) \
PG_FUNCTION_INFO_V1(cname); \
Datum \
cname(PG_FUNCTION_ARGS) \
{ \
	text	   *in = PG_GETARG_TEXT_PP(0); \
	\
	PG_RETURN_BOOL(core(VARDATA_ANY(in), VARSIZE_ANY_EXHDR(in))); \
}

/*
 * sandbox.is_masked_email(text) ... sandbox.is_masked_text(text) returns
 * boolean: could the value have come out of the matching masker?  They
 * judge by form only (the domain, the fictional phone ranges and check
 * digits, the dictionaries, the script of letters and digits), need no key
 * and are IMMUTABLE.
 */
MASKING_RECOGNISER(is_masked_email, sandbox_is_masked_email, mc_is_masked_email)
MASKING_RECOGNISER(is_masked_first_name, sandbox_is_masked_first_name, mc_is_masked_first_name)
MASKING_RECOGNISER(is_masked_last_name, sandbox_is_masked_last_name, mc_is_masked_last_name)
MASKING_RECOGNISER(is_masked_full_name, sandbox_is_masked_full_name, mc_is_masked_full_name)
MASKING_RECOGNISER(is_masked_address, sandbox_is_masked_address, mc_is_masked_address)
MASKING_RECOGNISER(is_masked_text, sandbox_is_masked_text, mc_is_masked_text)

/*
 * sandbox_recogniser_is_exact
 *		Whether a recogniser accepts only its masker's own output, so that a
 *		value it rejects was certainly never masked: the one place deciding
 *		which already-applied mask rules a run applies again to the rows
 *		their recogniser rejects (see sandbox_rules_to_apply in feature.c).
 *
 * Exact: is_masked_email (only the masks' own domain and form),
 * is_masked_phone (fictional ranges, or the mask's check digits: a real
 * number passes 1 time in 97, and is then left as it is, as it would be
 * by verification), is_masked_contacts, and the text[] forms of the first
 * two.  Not exact: the names, address, text and id recognisers judge by
 * dictionaries and by the script of letters and digits, which real values
 * share (a real "Maria Lopez" or "12 Oak Street" has the form of a masked
 * one), and is_masked_date accepts any date; re-masking the values they
 * reject would also re-mask some masked values, and change them.
 * is_masked_jsonb depends on its masker argument and is left out.
 *
 * Keyed by the C symbol of a function of this extension (a C function in
 * schema sandbox: nobody else can create one there).
 */
bool
sandbox_recogniser_is_exact(Oid recogniser)
{
	HeapTuple	tuple;
	Form_pg_proc proc;
	Datum		prosrc;
	bool		isnull;
	char	   *symbol;
	bool		exact = false;

	if (!OidIsValid(recogniser))
		return false;
	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(recogniser));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for function %u", recogniser);
	proc = (Form_pg_proc) GETSTRUCT(tuple);
	if (proc->prolang == ClanguageId &&
		proc->pronamespace == get_namespace_oid(SANDBOX_SCHEMA, false))
	{
		prosrc = SysCacheGetAttr(PROCOID, tuple, Anum_pg_proc_prosrc, &isnull);
		symbol = isnull ? "" : TextDatumGetCString(prosrc);
		if (strcmp(symbol, "sandbox_is_masked_email") == 0 ||
			strcmp(symbol, "sandbox_is_masked_phone") == 0 ||
			strcmp(symbol, "sandbox_is_masked_contacts") == 0)
			exact = true;
		else if (strcmp(symbol, "sandbox_is_masked_elements") == 0)
			exact = (strcmp(NameStr(proc->proname), "is_masked_email") == 0 ||
					 strcmp(NameStr(proc->proname), "is_masked_phone") == 0);
	}
	ReleaseSysCache(tuple);
	return exact;
}

PG_FUNCTION_INFO_V1(sandbox_is_masked_phone);

/*
 * sandbox.is_masked_phone(text) returns boolean
 *		In a fictional range or carrying the check digits, in ASCII digits,
 *		with no letter but "x".
 */
Datum
sandbox_is_masked_phone(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(masking_utf8_recogniser(PG_GETARG_TEXT_PP(0), mc_is_masked_phone));
}

PG_FUNCTION_INFO_V1(sandbox_is_masked_id);

/*
 * sandbox.is_masked_id(text) returns boolean
 *		No letter, digit or combining mark that is not ASCII: a masked
 *		identifier has the form of a real ASCII one, so that is all there is
 *		to tell.
 */
Datum
sandbox_is_masked_id(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(masking_utf8_recogniser(PG_GETARG_TEXT_PP(0), mc_is_masked_id));
}

PG_FUNCTION_INFO_V1(sandbox_is_masked_date);

/*
 * sandbox.is_masked_date(date) returns boolean
 *		Always true: a masked date has the form of a real one.  In C, so
 *		that verification, which calls it for every row, costs next to
 *		nothing.
 */
Datum
sandbox_is_masked_date(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(true);
}
