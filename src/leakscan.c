/*-------------------------------------------------------------------------
 *
 * leakscan.c
 *		The leak proof: after a run, no original value of a masked column
 *		is left anywhere in the database.
 *
 * Before the run's first statement, sandbox_leakscan_collect() takes a
 * fingerprint of every distinct original value of every column a mask
 * rule writes (the rows the rule applies to), and of every email address
 * and number of 9 to 15 digits inside those values (pii_value_pieces() in
 * discover.c).  A fingerprint is a 64-bit SipHash of the normalised piece
 * under a 128-bit key drawn from pg_strong_random() for this run alone.
 * The fingerprints live in a hash set in this backend's memory and are
 * never written anywhere: a stored fingerprint would be an oracle against
 * which anyone could test guesses of the original values.
 *
 * The cost is in the pieces of values that are no original, which are
 * most of them, so each scanned piece meets cheaper tests first:
 *
 *	- a value stored inline and uncompressed is not parsed at all when it
 *	  cannot hold a piece of an original (value_may_hold()): shorter than
 *	  the shortest piece, with no '@' (or no email held), fewer than 9
 *	  digits (or no number held), and, for a plain text, a trimmed length
 *	  that no whole original value has;
 *	- a piece of a length no original piece of its kind has is dropped;
 *	- the sieve, a bit array of about 12 bits per original under a key of
 *	  its own (sieve_hash(): NH over the piece, then mixed), drops most of
 *	  the rest, without SipHash and without touching the set;
 *	- only then is the piece fingerprinted and looked up.
 *
 * The sieve's words and the set's slots are read in batches, each
 * prefetched a few entries ahead, so that their cache misses overlap.  The
 * set (open addressing, at most 70% full, any size) is sized once from the
 * planner's estimates of the distinct values of the masked columns, and
 * grows by half when the estimate is short.
 *
 * After the run's verification, sandbox_leakscan_check() reads, with the
 * run's own changes visible:
 *
 *	1. every column of a type pii_column_type() accepts (text, varchar,
 *	   char, json, jsonb, domains over them, arrays of them) of every
 *	   table, partition and materialized view outside the system schemas
 *	   and the extension's own schema, but the masked columns: each piece
 *	   whose fingerprint is an original's is a candidate;
 *	2. only if there are candidates, the masked columns: whatever they
 *	   hold now is the masks' output, and the candidates they also hold (a
 *	   masked postcode is another postcode, a masked first name another
 *	   name from the dictionary) are marked "produced by a mask", since no
 *	   scan can tell such a value left over from the same value made by
 *	   the mask.  The candidates not so marked are the hits.  The sieve and
 *	   the table of lengths are first narrowed to the candidates
 *	   (sieve_narrow()), so that this read looks up the few pieces that
 *	   may be one, and skips the values that cannot hold one; the ledger's
 *	   originals_produced_by_masks counts the distinct candidates marked.
 *
 * Every table is read directly through its access method, with a snapshot
 * taken after the run's statements: no SQL, so no policy, trigger, rule,
 * operator or function of the table owner runs, and only core types are
 * decoded.  Only the original values of rules with a filter are read with
 * SQL, as the rules' statements are: as the table owner, inside a
 * security-restricted operation, with the rule search_path; an error
 * there names the rule and holds no value.
 *
 * The result goes into the ledger (sandbox.leak_scan and
 * sandbox.leak_scan_hit: counts of tables, columns, rows, values and hits
 * per column, never a value), and the run fails or warns per the
 * environment's policy (see discover.c).  Foreign tables (remote data),
 * temporary tables (not part of the copy, and other sessions' cannot be
 * read) and unpopulated materialized views are counted as skipped.
 *
 * Masked columns of a type that is neither text-like nor built in (a type
 * the table owner wrote, whose output function would run with the
 * sanitizer's rights) are not fingerprinted.
 *
 * Memory is bounded: penelope_sandbox.leak_scan_max_originals distinct
 * fingerprints at most (8 bytes each, in a table at most 70% full, plus
 * the sieve's 1.5 bytes per estimated original: 123 MiB for 10 million).
 * Past it the run does not sample silently: the scan is recorded as
 * incomplete, and the run fails or warns like a leak.
 *
 * Copyright (c) 2026, penelope_sandbox developers
 *
 * IDENTIFICATION
 *	  src/leakscan.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/tableam.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_statistic.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "port/pg_bitutils.h"
#include "portability/instr_time.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "mask_core.h"
#include "penelope_sandbox.h"

/* ---- Settings ---- */

int			sandbox_leak_scan_max_originals = 10000000;

/* Largest load factor of the fingerprint table, in percent */
#define FP_MAX_LOAD 70
#define FP_MIN_SLOTS 1024

/* Average width from which a column is taken for free text (see column_distinct) */
#define FREE_TEXT_WIDTH 64

/* Fingerprints added or looked up together, and how far ahead to prefetch */
#define FP_BATCH 64
#define FP_PREFETCH_AHEAD 8

/*
 * The sieve in front of the set: bits per estimated original, and the
 * piece lengths told apart (longer ones share the last).
 */
#define SIEVE_BITS_PER_ORIGINAL 12
#define SIEVE_LENGTHS 1024
#define SIEVE_KINDS 3
#define SIEVE_KEY_WORDS 16		/* a power of two */
#define SIEVE_ARENA 16384		/* bytes of pieces queued for the sieve */

/* A piece queued for the sieve */
typedef struct SievePiece
{
	uint64		h;				/* its sieve hash */
	PiiPiece	piece;
	uint32		offset;			/* in the arena, when looking up */
	uint32		len;
	void	   *arg;
} SievePiece;

/* Low bit of a slot: the fingerprint is also produced by a mask */
#define FP_IMAGE ((uint64) 1)

/* One column whose original values are fingerprinted */
typedef struct MaskedColumn
{
	Oid			relid;
	Oid			owner;
	char	   *qualname;
	char	   *column;
	AttrNumber	attnum;
	Oid			typid;
	PiiColumnType ct;
	bool		readable;		/* text-like; else its core output function */
	bool		skipped;		/* a type whose output function is not core */
	bool		via_sql;		/* filtered, partitioned or with children */
	List	   *rules;			/* its mask rules */
	List	   *descendants;	/* inheritance children and partitions */
} MaskedColumn;

struct LeakScan;
typedef void (*FpFound) (struct LeakScan *ls, uint64 *slot, void *arg, int pending);

/* The state of this backend's leak scan, between collect and check */
typedef struct LeakScan
{
	int64		run_id;
	char	   *environment;
	PiiCheck	check;
	MemoryContext cxt;
	MaskSipKey	key;
	uint64		sieve_key[2 + SIEVE_KEY_WORDS];
	uint64	   *sieve;			/* see sieve_hash() */
	uint64		nsieve;			/* its 64-bit words */
	uint64		lengths[SIEVE_KINDS][SIEVE_LENGTHS / 64];	/* of the pieces held */
	size_t		shortest;		/* bytes of the shortest value that may hold one */
	uint32		kinds;			/* the kinds of the pieces held: 1 << PiiPiece */
	uint64	   *slots;
	uint64		nslots;
	uint64		count;			/* distinct fingerprints held */
	uint64		dropped;		/* pieces not held: the maximum was reached */
	List	   *masked;			/* MaskedColumn */
	int64		collect_rows;
	double		collect_seconds;
	/* fingerprints waiting for fp_flush(), and what it does with them */
	FpFound		found;			/* NULL: add them */
	void	   *found_state;	/* for found() */
	int			nsieve_pending;
	SievePiece	sieve_pending[FP_BATCH];
	char		arena[SIEVE_ARENA];
	uint32		arena_used;
	int			npending;
	uint64		pending[FP_BATCH];
	void	   *pending_arg[FP_BATCH];
	uint64		pending_h[FP_BATCH];	/* when looking up: the piece's sieve hash, */
	uint32		pending_len[FP_BATCH];	/* its length */
	PiiPiece	pending_piece[FP_BATCH];	/* and kind, for found() */
} LeakScan;

static LeakScan *scan_state = NULL;
static bool callback_registered = false;

/* ---- The fingerprint set ---- */

/* A prefetch hint: the slot a fingerprint goes to is read soon */
#if defined(__GNUC__) || defined(__clang__)
#define fp_prefetch_addr(p) __builtin_prefetch(p)
#else
#define fp_prefetch_addr(p) ((void) 0)
#endif

#define SIP_ROTL(x, b) (uint64) (((x) << (b)) | ((x) >> (64 - (b))))
#define SIP_ROUND(v0, v1, v2, v3) \
	do { \
		v0 += v1; v1 = SIP_ROTL(v1, 13); v1 ^= v0; v0 = SIP_ROTL(v0, 32); \
		v2 += v3; v3 = SIP_ROTL(v3, 16); v3 ^= v2; \
		v0 += v3; v3 = SIP_ROTL(v3, 21); v3 ^= v0; \
		v2 += v1; v1 = SIP_ROTL(v1, 17); v1 ^= v2; v2 = SIP_ROTL(v2, 32); \
	} while (0)

/*
 * ascii_range8
 *		The bytes of w that are ASCII and in lo..hi, all at once: their high
 *		bit set in the result, every other bit clear (the sums never carry
 *		into the next byte, as each byte's high bit is cleared first).
 */
static inline uint64
ascii_range8(uint64 w, char lo, char hi)
{
	const uint64 ones = UINT64CONST(0x0101010101010101);
	const uint64 high = UINT64CONST(0x8080808080808080);
	uint64		low7 = w & ~high;
	uint64		ge_lo = low7 + ones * (0x80 - lo);
	uint64		gt_hi = low7 + ones * (0x80 - hi - 1);

	return ge_lo & ~gt_hi & ~w & high;
}

/*
 * ascii_lower8
 *		Eight bytes with their ASCII capitals lower-cased, all at once:
 *		a byte in 'A'..'Z' gets 0x20 added.
 */
static inline uint64
ascii_lower8(uint64 w)
{
	return w | (ascii_range8(w, 'A', 'Z') >> 2);
}

/*
 * fingerprint
 *		Keyed 64-bit hash of a piece, lower-cased (ASCII): SipHash-2-4 in
 *		one pass, eight bytes at a time, under the run's key with the
 *		piece's kind folded into it (a kind of its own key per kind).  The
 *		low bit is cleared (it carries FP_IMAGE), and zero marks an empty
 *		slot.
 */
static uint64
fingerprint(const MaskSipKey *key, PiiPiece piece, const char *s, size_t len)
{
	uint64		k0 = key->k0;
	uint64		k1 = key->k1 ^ ((uint64) piece * UINT64CONST(0x9e3779b97f4a7c15));
	uint64		v0 = k0 ^ UINT64CONST(0x736f6d6570736575);
	uint64		v1 = k1 ^ UINT64CONST(0x646f72616e646f6d);
	uint64		v2 = k0 ^ UINT64CONST(0x6c7967656e657261);
	uint64		v3 = k1 ^ UINT64CONST(0x7465646279746573);
	const unsigned char *p = (const unsigned char *) s;
	const unsigned char *end = p + (len & ~(size_t) 7);
	uint64		b = ((uint64) len) << 56;
	uint64		tail = 0;
	uint64		h;

	for (; p < end; p += 8)
	{
		uint64		m;

		memcpy(&m, p, 8);
		m = ascii_lower8(m);
		v3 ^= m;
		SIP_ROUND(v0, v1, v2, v3);
		SIP_ROUND(v0, v1, v2, v3);
		v0 ^= m;
	}
	for (int i = 0; i < (int) (len & 7); i++)
		tail |= ((uint64) p[i]) << (8 * i);
	b |= ascii_lower8(tail);
	v3 ^= b;
	SIP_ROUND(v0, v1, v2, v3);
	SIP_ROUND(v0, v1, v2, v3);
	v0 ^= b;
	v2 ^= 0xff;
	SIP_ROUND(v0, v1, v2, v3);
	SIP_ROUND(v0, v1, v2, v3);
	SIP_ROUND(v0, v1, v2, v3);
	SIP_ROUND(v0, v1, v2, v3);
	h = (v0 ^ v1 ^ v2 ^ v3) & ~FP_IMAGE;
	return h == 0 ? 2 : h;
}

/*
 * fp_home
 *		The first slot a fingerprint may occupy: its high bits scaled to
 *		the table's size (any size, not only a power of two).
 */
static inline uint64
fp_home(const LeakScan *ls, uint64 fp)
{
#ifdef HAVE_INT128
	return (uint64) (((uint128) fp * ls->nslots) >> 64);
#else
	return (fp >> 1) % ls->nslots;
#endif
}

/* The slot holding fp, or the empty slot where it would go */
static inline uint64 *
fp_slot(const LeakScan *ls, uint64 fp)
{
	uint64		i = fp_home(ls, fp);

	for (;;)
	{
		uint64	   *slot = &ls->slots[i];

		if (*slot == 0 || (*slot & ~FP_IMAGE) == fp)
			return slot;
		if (++i == ls->nslots)
			i = 0;
	}
}

/* Hint that the slot of fp is about to be read */
static inline void
fp_prefetch(const LeakScan *ls, uint64 fp)
{
	fp_prefetch_addr(&ls->slots[fp_home(ls, fp)]);
}

/* Allocate n zeroed 64-bit words (slots of the set, or the sieve) in the scan's context */
static uint64 *
fp_alloc(LeakScan *ls, uint64 n)
{
	return MemoryContextAllocExtended(ls->cxt, n * sizeof(uint64), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
}

/* The number of slots that holds n fingerprints at most FP_MAX_LOAD% full */
static uint64
fp_slots_for(uint64 n)
{
	return Max((uint64) FP_MIN_SLOTS, n * 100 / FP_MAX_LOAD + 1);
}

/*
 * fp_grow
 *		Move the set into a table half as large again, the slots of a batch of
 *		entries prefetched ahead of their placement.
 */
static void
fp_grow(LeakScan *ls)
{
	uint64	   *old = ls->slots;
	uint64		oldn = ls->nslots;
	uint64		batch[FP_BATCH];
	int			n = 0;

	ls->nslots = oldn + oldn / 2;
	ls->slots = fp_alloc(ls, ls->nslots);
	for (uint64 i = 0; i <= oldn; i++)
	{
		if (i < oldn && old[i] != 0)
		{
			batch[n++] = old[i];
			fp_prefetch(ls, old[i] & ~FP_IMAGE);
		}
		if (n == FP_BATCH || (i == oldn && n > 0))
		{
			for (int j = 0; j < n; j++)
				*fp_slot(ls, batch[j] & ~FP_IMAGE) = batch[j];
			n = 0;
		}
	}
	pfree(old);
}

/*
 * fp_add
 *		Add a fingerprint; past sandbox_leak_scan_max_originals, count it as
 *		dropped instead.
 */
static inline void
fp_add(LeakScan *ls, uint64 fp)
{
	uint64	   *slot = fp_slot(ls, fp);

	if (*slot != 0)
		return;
	if (ls->count >= (uint64) sandbox_leak_scan_max_originals)
	{
		ls->dropped++;
		return;
	}
	*slot = fp;
	ls->count++;
	if (ls->count * 100 > ls->nslots * FP_MAX_LOAD)
		fp_grow(ls);
}

/*
 * fp_flush
 *		Add or look up the pending fingerprints, each slot prefetched a
 *		few fingerprints ahead so that the cache misses of a set much
 *		larger than the caches overlap instead of following each other.
 *		Without ls->found the fingerprints are added; with it, found() is
 *		called with the slot of each one the set holds.
 */
static void
fp_flush(LeakScan *ls)
{
	int			n = ls->npending;

	for (int i = 0; i < Min(n, FP_PREFETCH_AHEAD); i++)
		fp_prefetch(ls, ls->pending[i]);
	for (int i = 0; i < n; i++)
	{
		uint64		fp = ls->pending[i];

		if (i + FP_PREFETCH_AHEAD < n)
			fp_prefetch(ls, ls->pending[i + FP_PREFETCH_AHEAD]);
		if (ls->found == NULL)
			fp_add(ls, fp);
		else
		{
			uint64	   *slot = fp_slot(ls, fp);

			if (*slot != 0)
				ls->found(ls, slot, ls->pending_arg[i], i);
		}
	}
	ls->npending = 0;
}

static inline void fp_push(LeakScan *ls, uint64 fp, void *arg, uint64 h,
						   PiiPiece piece, size_t len);

/* ---- The sieve: most pieces that are no original never reach the set ---- */

/*
 * sieve_hash
 *		A cheap keyed hash of a piece: its kind, its length and all its
 *		bytes (lower-cased), eight at a time, summed as NH does (the two
 *		halves of each word plus key words, multiplied), then mixed.  Two
 *		bits of one word of the sieve stand for it; a piece whose bits are
 *		not both set in the sieve, or whose length no original of its kind
 *		has, is no original, and is neither fingerprinted (SipHash) nor
 *		looked up in the set (a cache miss).  Like the set, the sieve lives
 *		in this backend's memory only, under keys drawn for the run.
 */
static inline uint64
sieve_hash(const LeakScan *ls, PiiPiece piece, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *) s;
	uint64		acc = ls->sieve_key[0] ^ (((uint64) len << 2) | (uint64) piece);
	size_t		i = 0;
	int			k = 0;

	for (;;)
	{
		uint64		w = 0,
					key = ls->sieve_key[2 + k];

		if (i + 8 <= len)
			memcpy(&w, p + i, 8);
		else if (i < len)
		{
			for (size_t j = 0; i + j < len; j++)
				w |= ((uint64) p[i + j]) << (8 * j);
		}
		else
			break;
		w = ascii_lower8(w);
		acc += (uint64) (uint32) ((uint32) w + (uint32) key) *
			(uint64) (uint32) ((uint32) (w >> 32) + (uint32) (key >> 32));
		i += 8;
		k = (k + 1) & (SIEVE_KEY_WORDS - 1);
	}
	acc ^= ls->sieve_key[1];
	acc ^= acc >> 33;
	acc *= UINT64CONST(0xff51afd7ed558ccd);
	acc ^= acc >> 33;
	acc *= UINT64CONST(0xc4ceb9fe1a85ec53);
	return acc ^ (acc >> 33);
}

/* The word of the sieve for a sieve hash */
static inline uint64 *
sieve_word(const LeakScan *ls, uint64 h)
{
#ifdef HAVE_INT128
	return &ls->sieve[(uint64) (((uint128) h * ls->nsieve) >> 64)];
#else
	return &ls->sieve[h % ls->nsieve];
#endif
}

/* The two bits of the sieve's word for a sieve hash */
static inline uint64
sieve_bits(uint64 h)
{
	return (UINT64CONST(1) << (h & 63)) | (UINT64CONST(1) << ((h >> 6) & 63));
}

/* Whether an original of the piece's kind has the piece's length */
static inline bool
sieve_length(const LeakScan *ls, PiiPiece piece, size_t len)
{
	size_t		l = Min(len, SIEVE_LENGTHS - 1);

	return (ls->lengths[piece][l / 64] & (UINT64CONST(1) << (l % 64))) != 0;
}

/*
 * sieve_flush
 *		Settle the pieces queued by sieve_push(), the sieve's words
 *		prefetched a few pieces ahead: when collecting, set their bits;
 *		when looking up, fingerprint the pieces whose bits are set and queue
 *		them for the set (fp_push()).
 */
static void
sieve_flush(LeakScan *ls)
{
	int			n = ls->nsieve_pending;

	for (int i = 0; i < Min(n, FP_PREFETCH_AHEAD); i++)
		fp_prefetch_addr(sieve_word(ls, ls->sieve_pending[i].h));
	ls->nsieve_pending = 0;
	ls->arena_used = 0;
	for (int i = 0; i < n; i++)
	{
		SievePiece *sp = &ls->sieve_pending[i];
		uint64	   *word = sieve_word(ls, sp->h);
		uint64		bits = sieve_bits(sp->h);

		if (i + FP_PREFETCH_AHEAD < n)
			fp_prefetch_addr(sieve_word(ls, ls->sieve_pending[i + FP_PREFETCH_AHEAD].h));
		if (ls->found == NULL)
			*word |= bits;
		else if ((*word & bits) == bits)
			fp_push(ls, fingerprint(&ls->key, sp->piece, ls->arena + sp->offset, sp->len),
					sp->arg, sp->h, sp->piece, sp->len);
	}
}

/*
 * sieve_push
 *		Queue a piece for the sieve.  When collecting (ls->found is NULL)
 *		the piece is an original: its length is noted and its sieve hash
 *		queued, and the caller fingerprints it.  When looking up, a piece
 *		of a length no original has is dropped at once; the others are
 *		copied into the arena with their sieve hash until sieve_flush().
 */
static inline void
sieve_push(LeakScan *ls, PiiPiece piece, const char *s, size_t len, void *arg)
{
	SievePiece *sp;

	if (ls->found == NULL)
	{
		size_t		l = Min(len, SIEVE_LENGTHS - 1);

		ls->lengths[piece][l / 64] |= UINT64CONST(1) << (l % 64);
	}
	else
	{
		if (!sieve_length(ls, piece, len))
			return;
		if (len > SIEVE_ARENA - ls->arena_used)
		{
			sieve_flush(ls);
			if (len > SIEVE_ARENA)
			{
				/* too long to queue: looked up at once */
				uint64		h = sieve_hash(ls, piece, s, len);
				uint64		bits = sieve_bits(h);

				if ((*sieve_word(ls, h) & bits) == bits)
					fp_push(ls, fingerprint(&ls->key, piece, s, len), arg, h, piece, len);
				return;
			}
		}
	}
	sp = &ls->sieve_pending[ls->nsieve_pending];
	sp->h = sieve_hash(ls, piece, s, len);
	sp->piece = piece;
	sp->arg = arg;
	if (ls->found != NULL)
	{
		sp->offset = ls->arena_used;
		sp->len = len;
		memcpy(ls->arena + ls->arena_used, s, len);
		ls->arena_used += len;
	}
	if (++ls->nsieve_pending == FP_BATCH)
		sieve_flush(ls);
}

/*
 * sieve_shortest
 *		After the collection: the fewest bytes a value must have to hold a
 *		piece of an original.  A whole value or an email address is as long
 *		as its piece; a number has at least 9 digits.
 */
static size_t
sieve_shortest(const LeakScan *ls)
{
	size_t		shortest = SIZE_MAX;

	for (int kind = 0; kind < SIEVE_KINDS; kind++)
	{
		for (size_t w = 0; w < SIEVE_LENGTHS / 64; w++)
		{
			if (ls->lengths[kind][w] != 0)
			{
				size_t		l = w * 64 + pg_rightmost_one_pos64(ls->lengths[kind][w]);

				shortest = Min(shortest, kind == PII_PIECE_NUMBER ? Min(l, 9) : l);
				break;
			}
		}
	}
	return shortest;
}

/*
 * sieve_kinds
 *		After the collection, or once the sieve stands for the candidates:
 *		the kinds of the pieces it stands for, 1 << PiiPiece each.
 */
static uint32
sieve_kinds(const LeakScan *ls)
{
	uint32		kinds = 0;

	for (int kind = 0; kind < SIEVE_KINDS; kind++)
	{
		for (size_t w = 0; w < SIEVE_LENGTHS / 64; w++)
		{
			if (ls->lengths[kind][w] != 0)
			{
				kinds |= 1 << kind;
				break;
			}
		}
	}
	return kinds;
}

/*
 * digits8
 *		How many of eight bytes are ASCII digits, all at once.
 */
static inline int
digits8(uint64 w)
{
	const uint64 ones = UINT64CONST(0x0101010101010101);

	return (int) (((ascii_range8(w, '0', '9') >> 7) * ones) >> 56);
}

/* Whether one of eight bytes is '@' (a zero byte of w ^ "@@@@@@@@") */
static inline bool
has_at8(uint64 w)
{
	const uint64 ones = UINT64CONST(0x0101010101010101);
	const uint64 high = UINT64CONST(0x8080808080808080);
	uint64		x = w ^ (ones * '@');

	return ((x - ones) & ~x & high) != 0;
}

/* White space as discover.c's trim() takes it */
static inline bool
trim_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/*
 * value_may_hold
 *		Whether a value of a scanned or masked column may hold a piece of an
 *		original (or, once the sieve is narrowed, of a candidate), so that
 *		a value that may not is neither detoasted nor parsed.  Values stored
 *		out of line (a TOAST pointer: VARATT_IS_SHORT() is true of it too,
 *		and its few bytes are not the value's) or compressed, and JSONB
 *		values (whose numbers are stored as numerics, not digits), always
 *		may.  Of the others, read in place:
 *
 *		- a value shorter than the shortest piece may not (any piece of a
 *		  text, JSON text or array of them is no longer than the value);
 *		- a value may hold an email address only if it has an '@', and a
 *		  number only if it has at least 9 digits (number_at() in
 *		  discover.c reads no shorter number): the pieces are made of the
 *		  value's own bytes, so these tests never drop one;
 *		- when whole values are held, a plain text (not an array, not
 *		  JSON, whose strings are pieces of their own) may be one only if
 *		  its trimmed length is the length of a whole value held.
 *
 *		Bytes of an array's header may pass for digits or '@': the test
 *		then keeps a value it could have dropped, never the reverse.
 */
static inline bool
value_may_hold(const LeakScan *ls, const PiiColumnType *ct, Datum value)
{
	struct varlena *v = (struct varlena *) DatumGetPointer(value);
	const unsigned char *s;
	size_t		len;
	int			digits = 0;
	bool		at = false;

	if (ct->form == PII_FORM_JSONB || VARATT_IS_EXTERNAL(v) || VARATT_IS_COMPRESSED(v))
		return true;
	len = VARSIZE_ANY_EXHDR(v);
	if (len < ls->shortest)
		return false;
	s = (const unsigned char *) VARDATA_ANY(v);
	if (ls->kinds & (1 << PII_PIECE_WHOLE))
	{
		const unsigned char *b = s;
		size_t		t = len;

		if (ct->is_array || ct->form != PII_FORM_TEXT)
			return true;
		while (t > 0 && trim_space(b[0]))
		{
			b++;
			t--;
		}
		while (t > 0 && trim_space(b[t - 1]))
			t--;
		if (sieve_length(ls, PII_PIECE_WHOLE, t))
			return true;
	}
	for (size_t i = 0; i < len; i += 8)
	{
		uint64		w = 0;

		memcpy(&w, s + i, Min(len - i, 8));
		digits += digits8(w);
		at |= has_at8(w);
	}
	return ((ls->kinds & (1 << PII_PIECE_EMAIL)) && at) ||
		((ls->kinds & (1 << PII_PIECE_NUMBER)) && digits >= 9);
}

/* Settle everything queued: the sieve's pieces, then the set's */
static void
pending_flush(LeakScan *ls)
{
	sieve_flush(ls);
	fp_flush(ls);
}

/*
 * fp_push
 *		Queue a fingerprint for fp_flush(), with what found() needs of it:
 *		arg, and the piece's sieve hash, kind and length.
 */
static inline void
fp_push(LeakScan *ls, uint64 fp, void *arg, uint64 h, PiiPiece piece, size_t len)
{
	ls->pending[ls->npending] = fp;
	ls->pending_arg[ls->npending] = arg;
	ls->pending_h[ls->npending] = h;
	ls->pending_piece[ls->npending] = piece;
	ls->pending_len[ls->npending] = (uint32) Min(len, SIEVE_LENGTHS - 1);
	if (++ls->npending == FP_BATCH)
		fp_flush(ls);
}

/* ---- Reading values ---- */

typedef void (*ValueCallback) (int column, Datum value, void *arg);

/*
 * scan_relation
 *		Call cb for each non-null value of the given columns of a table,
 *		read through its access method with a fresh snapshot (the run's
 *		own changes visible): no SQL, so nothing of the table owner runs.
 *		Returns the rows read.
 */
static int64
scan_relation(Oid relid, int ncols, const AttrNumber *attnums, ValueCallback cb, void *arg)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	Snapshot	snapshot;
	TableScanDesc scan;
	TupleTableSlot *slot;
	MemoryContext rowcxt = AllocSetContextCreate(CurrentMemoryContext, "leak scan row",
												 ALLOCSET_DEFAULT_SIZES);
	MemoryContext oldcxt;
	int64		rows = 0;

	snapshot = RegisterSnapshot(GetLatestSnapshot());
	scan = table_beginscan(rel, snapshot, 0, NULL);
	slot = table_slot_create(rel, NULL);
	oldcxt = MemoryContextSwitchTo(rowcxt);
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		if ((rows++ & 1023) == 0)
		{
			CHECK_FOR_INTERRUPTS();
			MemoryContextReset(rowcxt);
		}
		for (int i = 0; i < ncols; i++)
		{
			bool		isnull;
			Datum		value = slot_getattr(slot, attnums[i], &isnull);

			if (!isnull)
				cb(i, value, arg);
		}
	}
	MemoryContextSwitchTo(oldcxt);
	ExecDropSingleTupleTableSlot(slot);
	table_endscan(scan);
	UnregisterSnapshot(snapshot);
	relation_close(rel, NoLock);
	MemoryContextDelete(rowcxt);
	return rows;
}

/*
 * scan_column_sql
 *		Call cb for each non-null value of one masked column read with
 *		SQL: "SELECT column FROM table [WHERE filters]", as the table owner
 *		in a security-restricted operation with the rule search_path,
 *		through a cursor.  An error names the rules and holds no value.
 */
static int64
scan_column_sql(MaskedColumn *mc, const char *where, ValueCallback cb, void *arg)
{
	char	   *sql = psprintf("SELECT %s FROM %s%s", quote_identifier(mc->column),
							   mc->qualname, where);
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	Oid			save_userid;
	int			save_sec_context;
	int64		rows = 0;
	volatile int sqlerrcode = 0;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		int			save_nestlevel;
		Portal		portal;

		SetUserIdAndSecContext(mc->owner, save_sec_context |
							   SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
		save_nestlevel = NewGUCNestLevel();
		(void) set_config_option("search_path", SANDBOX_RULE_SEARCH_PATH,
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
		portal = SPI_cursor_open_with_args(NULL, sql, 0, NULL, NULL, NULL, true, 0);
		for (;;)
		{
			SPI_cursor_fetch(portal, true, 10000);
			if (SPI_processed == 0)
				break;
			for (uint64 i = 0; i < SPI_processed; i++)
			{
				bool		isnull;
				Datum		value = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);

				if (!isnull)
					cb(0, value, arg);
			}
			rows += SPI_processed;
			SPI_freetuptable(SPI_tuptable);
			CHECK_FOR_INTERRUPTS();
		}
		SPI_cursor_close(portal);
		AtEOXact_GUC(true, save_nestlevel);
		SetUserIdAndSecContext(save_userid, save_sec_context);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		SetUserIdAndSecContext(save_userid, save_sec_context);
		sqlerrcode = edata->sqlerrcode;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(oldcxt);
	CurrentResourceOwner = oldowner;

	if (sqlerrcode != 0)
	{
		StringInfoData ids;
		ListCell   *lc;

		initStringInfo(&ids);
		foreach(lc, mc->rules)
			appendStringInfo(&ids, "%s%lld", ids.len > 0 ? ", " : "",
							 (long long) ((SandboxRule *) lfirst(lc))->id);
		ereport(ERROR,
				(errcode(sqlerrcode),
				 errmsg("leak scan: could not read the original values of column %s of table %s",
						quote_identifier(mc->column), mc->qualname),
				 errdetail("Reading the rows of rules %s failed with SQLSTATE %s. Row values are not shown.",
						   ids.data, unpack_sql_state(sqlerrcode)),
				 errhint("Nothing was changed: the whole sanitization is rolled back.")));
	}
	return rows;
}

/* ---- Collect ---- */

/* What the value callback of a read of masked columns needs */
typedef struct CollectArg
{
	LeakScan   *ls;
	MaskedColumn **columns;		/* by the column numbers of the read */
	PiiPieceCallback piece;
} CollectArg;

static void
collect_piece(PiiPiece piece, const char *s, size_t len, void *arg)
{
	LeakScan   *ls = arg;

	sieve_push(ls, piece, s, len, NULL);
	fp_push(ls, fingerprint(&ls->key, piece, s, len), NULL, 0, piece, len);
}

/* The pieces of a value of a masked column, of any type */
static void
column_value_pieces(MaskedColumn *mc, Datum value, PiiPieceCallback cb, void *arg)
{
	if (mc->readable)
		pii_value_pieces(&mc->ct, value, cb, arg);
	else
	{
		/* a core type (mask_date's date): its text form */
		static const PiiColumnType text_type = {PII_FORM_TEXT};
		Oid			outfunc;
		bool		isvarlena;
		char	   *str;

		getTypeOutputInfo(mc->typid, &outfunc, &isvarlena);
		str = OidOutputFunctionCall(outfunc, value);
		pii_value_pieces(&text_type, PointerGetDatum(cstring_to_text(str)), cb, arg);
	}
}

static void
masked_value(int column, Datum value, void *arg)
{
	CollectArg *ca = arg;
	MaskedColumn *mc = ca->columns[column];

	if (mc->skipped)
		return;
	if (ca->ls->found != NULL && mc->readable && !value_may_hold(ca->ls, &mc->ct, value))
		return;
	column_value_pieces(ca->columns[column], value, ca->piece, ca->ls);
}

/*
 * read_masked_columns
 *		Call piece for each piece of each value of the masked columns:
 *		before the run, in the rows their rules apply to (filters); after
 *		it, in every row.  The columns read directly are read with one scan
 *		per table.  Returns the rows read.
 */
static int64
read_masked_columns(LeakScan *ls, bool before_run, PiiPieceCallback piece)
{
	List	   *relids = NIL;
	int64		rows = 0;
	ListCell   *lc;

	foreach(lc, ls->masked)
	{
		MaskedColumn *mc = lfirst(lc);
		CollectArg	ca = {ls, &mc, piece};
		StringInfoData where;
		ListCell   *lc2;

		if (mc->skipped)
			continue;
		if (!mc->via_sql)
		{
			relids = list_append_unique_oid(relids, mc->relid);
			continue;
		}
		initStringInfo(&where);
		foreach(lc2, mc->rules)
		{
			SandboxRule *rule = lfirst(lc2);

			if (!before_run || rule->filter == NULL)
			{
				resetStringInfo(&where);
				break;
			}
			appendStringInfo(&where, "%s%s", where.len == 0 ? " WHERE " : " OR ",
							 sandbox_wrap_sql(rule->filter));
		}
		rows += scan_column_sql(mc, where.data, masked_value, &ca);
	}

	foreach(lc, relids)
	{
		Oid			relid = lfirst_oid(lc);
		int			n = 0;
		MaskedColumn **columns = palloc(sizeof(MaskedColumn *) * list_length(ls->masked));
		AttrNumber *attnums = palloc(sizeof(AttrNumber) * list_length(ls->masked));
		CollectArg	ca = {ls, columns, piece};
		ListCell   *lc2;

		foreach(lc2, ls->masked)
		{
			MaskedColumn *mc = lfirst(lc2);

			if (mc->via_sql || mc->skipped || mc->relid != relid)
				continue;
			columns[n] = mc;
			attnums[n] = mc->attnum;
			n++;
		}
		rows += scan_relation(relid, n, attnums, masked_value, &ca);
	}
	return rows;
}

/* Free the state at the end of the transaction, whatever happened */
static void
leakscan_xact_callback(XactEvent event, void *arg)
{
	if (scan_state != NULL)
	{
		explicit_bzero(&scan_state->key, sizeof(scan_state->key));
		explicit_bzero(scan_state->sieve_key, sizeof(scan_state->sieve_key));
		scan_state = NULL;		/* its memory goes with TopTransactionContext */
	}
}

/*
 * masked_columns
 *		The columns the mask rules of a run write, one entry per column,
 *		with the rules (their filters decide the rows fingerprinted).
 */
static List *
masked_columns(List *rules)
{
	List	   *columns = NIL;
	ListCell   *lc;

	foreach(lc, rules)
	{
		SandboxRule *rule = lfirst(lc);
		MaskedColumn *mc = NULL;
		ListCell   *lc2;

		if (rule->action != ACTION_MASK)
			continue;
		foreach(lc2, columns)
		{
			MaskedColumn *c = lfirst(lc2);

			if (c->relid == rule->relid && strcmp(c->column, rule->column_name) == 0)
				mc = c;
		}
		if (mc == NULL)
		{
			Relation	rel = relation_open(rule->relid, AccessShareLock);

			mc = palloc0(sizeof(MaskedColumn));
			mc->relid = rule->relid;
			mc->owner = rule->relowner;
			mc->qualname = quote_qualified_identifier(rule->table_schema, rule->table_name);
			mc->column = pstrdup(rule->column_name);
			mc->attnum = get_attnum(rule->relid, rule->column_name);
			mc->typid = get_atttype(rule->relid, mc->attnum);
			mc->readable = pii_column_type(mc->typid, &mc->ct);
			if (!mc->readable)
			{
				/* never run an output function the table owner wrote */
				Oid			base = getBaseType(mc->typid);
				Oid			elem = get_element_type(base);

				mc->skipped = base >= FirstNormalObjectId ||
					(OidIsValid(elem) && getBaseType(elem) >= FirstNormalObjectId);
			}
			mc->via_sql = (rel->rd_rel->relkind != RELKIND_RELATION || rel->rd_rel->relhassubclass);
			if (rel->rd_rel->relhassubclass)
				mc->descendants = find_all_inheritors(rule->relid, NoLock, NULL);
			relation_close(rel, NoLock);
			columns = lappend(columns, mc);
		}
		mc->rules = lappend(mc->rules, rule);
		if (rule->filter != NULL)
			mc->via_sql = true;
	}
	return columns;
}

/*
 * column_distinct
 *		The planner's estimate of the distinct values of a column, from the
 *		statistics of its table (ANALYZE): its row count when there are
 *		none, 0 when the table was never counted either.  A column of free
 *		text (values wider than FREE_TEXT_WIDTH bytes on average) counts
 *		twice its rows: its values hold emails and numbers too, and ANALYZE
 *		underestimates the distinct values of long texts (a sample of notes
 *		written from a few templates looks repetitive), so that the set
 *		would otherwise grow, once or more, during the collection.
 */
static double
column_distinct(Oid relid, AttrNumber attnum)
{
	HeapTuple	tuple;
	double		rows = 0,
				distinct;

	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (HeapTupleIsValid(tuple))
	{
		rows = Max(((Form_pg_class) GETSTRUCT(tuple))->reltuples, 0);
		ReleaseSysCache(tuple);
	}
	distinct = rows;
	tuple = SearchSysCache3(STATRELATTINH, ObjectIdGetDatum(relid), Int16GetDatum(attnum),
							BoolGetDatum(false));
	if (HeapTupleIsValid(tuple))
	{
		Form_pg_statistic stats = (Form_pg_statistic) GETSTRUCT(tuple);

		if (stats->stadistinct > 0)
			distinct = Min(stats->stadistinct, rows);
		else if (stats->stadistinct < 0)
			distinct = -stats->stadistinct * rows;
		if (stats->stawidth > FREE_TEXT_WIDTH)
			distinct = 2 * rows;
		ReleaseSysCache(tuple);
	}
	return distinct;
}

/*
 * estimate_originals
 *		How many distinct originals the masked columns hold, from the
 *		statistics: the fingerprint set is made that large at once rather
 *		than grown (it still grows when the estimate is short, e.g. by the
 *		emails and numbers inside free text).
 */
static double
estimate_originals(List *masked)
{
	double		total = 0;
	ListCell   *lc;

	foreach(lc, masked)
	{
		MaskedColumn *mc = lfirst(lc);
		ListCell   *lc2;

		if (mc->skipped)
			continue;
		if (mc->descendants == NIL)
			total += column_distinct(mc->relid, mc->attnum);
		foreach(lc2, mc->descendants)
		{
			Oid			relid = lfirst_oid(lc2);
			AttrNumber	attnum = get_attnum(relid, mc->column);

			if (attnum != InvalidAttrNumber)
				total += column_distinct(relid, attnum);
		}
	}
	return total;
}

/*
 * sandbox_leakscan_collect
 *		Before a run's first statement: the discovery check of the
 *		environment's policy (against all_rules: a rule applied by an
 *		earlier run of this copy covers its column), then the fingerprints
 *		of the original values of every column the run's rules mask.  See penelope_sandbox.h.
 */
void
sandbox_leakscan_collect(int64 run_id, const char *environment, List *rules,
						 List *all_rules)
{
	uint32		required;
	PiiCheck	check;
	LeakScan   *ls;
	MemoryContext cxt;
	uint64		estimate;
	instr_time	start,
				duration;

	scan_state = NULL;
	check = pii_policy(environment, &required);
	pii_check_before_run(run_id, environment, all_rules, check, required);
	if (check == PII_CHECK_OFF)
		return;

	INSTR_TIME_SET_CURRENT(start);
	if (!callback_registered)
	{
		RegisterXactCallback(leakscan_xact_callback, NULL);
		callback_registered = true;
	}
	cxt = AllocSetContextCreate(TopTransactionContext, "penelope_sandbox leak scan",
								ALLOCSET_DEFAULT_SIZES);
	ls = MemoryContextAllocZero(cxt, sizeof(LeakScan));
	ls->cxt = cxt;
	ls->run_id = run_id;
	ls->check = check;
	ls->environment = MemoryContextStrdup(cxt, environment);
	if (!pg_strong_random(&ls->key, sizeof(ls->key)) ||
		!pg_strong_random(ls->sieve_key, sizeof(ls->sieve_key)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random key for the leak scan")));
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(cxt);

		ls->masked = masked_columns(rules);
		MemoryContextSwitchTo(oldcxt);
	}
	estimate = (uint64) Min(estimate_originals(ls->masked), (double) sandbox_leak_scan_max_originals);
	ls->nslots = fp_slots_for(estimate);
	ls->slots = fp_alloc(ls, ls->nslots);
	ls->nsieve = Max(estimate * SIEVE_BITS_PER_ORIGINAL / 64, 64);
	ls->sieve = fp_alloc(ls, ls->nsieve);

	CommandCounterIncrement();
	ls->found = NULL;
	ls->collect_rows = read_masked_columns(ls, true, collect_piece);
	pending_flush(ls);
	ls->shortest = sieve_shortest(ls);
	ls->kinds = sieve_kinds(ls);

	INSTR_TIME_SET_CURRENT(duration);
	INSTR_TIME_SUBTRACT(duration, start);
	ls->collect_seconds = INSTR_TIME_GET_DOUBLE(duration);
	scan_state = ls;
}

/* ---- Check ---- */

/* A fingerprint of a masked column's value after the run, held by the set */
static void
image_found(LeakScan *ls, uint64 *slot, void *arg, int pending)
{
	*slot |= FP_IMAGE;
}

static void
image_piece(PiiPiece piece, const char *s, size_t len, void *arg)
{
	LeakScan   *ls = arg;

	sieve_push(ls, piece, s, len, NULL);
}


/* One column of the scan for leaks */
typedef struct ScanColumn
{
	char	   *schema;
	char	   *table;
	char	   *name;
	PiiColumnType ct;
	bool		has_candidates;
	int64		hits;
} ScanColumn;

/*
 * A piece of a scanned value whose fingerprint is an original's: a hit,
 * unless a mask of the run produced the same value.
 */
typedef struct Candidate
{
	uint64	   *slot;			/* its slot in the fingerprint set */
	ScanColumn *column;
	uint64		h;				/* its sieve hash */
	uint32		len;			/* its length (at most SIEVE_LENGTHS - 1) */
	PiiPiece	piece;			/* its kind */
} Candidate;

/* What the value callback of the scan needs */
typedef struct ScanArg
{
	LeakScan   *ls;
	ScanColumn *columns;
	int			current;
	int64		values;
	Candidate  *candidates;
	uint64		ncandidates;
	uint64		maxcandidates;
	List	   *candidate_columns;	/* ScanColumn * with candidates */
} ScanArg;

/*
 * scan_found
 *		A fingerprint of a scanned value that the set holds: a candidate in
 *		the column arg.
 */
static void
scan_found(LeakScan *ls, uint64 *slot, void *arg, int pending)
{
	ScanArg    *sa = ls->found_state;
	ScanColumn *column = arg;

	if (sa->ncandidates == sa->maxcandidates)
	{
		/* bounded like the fingerprints: past it, the proof is incomplete */
		if (sa->maxcandidates >= (uint64) sandbox_leak_scan_max_originals)
		{
			ls->dropped++;
			return;
		}
		sa->maxcandidates = Min(Max(sa->maxcandidates * 2, 1024), (uint64) sandbox_leak_scan_max_originals);
		sa->candidates = sa->candidates == NULL ?
			MemoryContextAllocExtended(ls->cxt, sa->maxcandidates * sizeof(Candidate), MCXT_ALLOC_HUGE) :
			repalloc_huge(sa->candidates, sa->maxcandidates * sizeof(Candidate));
	}
	sa->candidates[sa->ncandidates].slot = slot;
	sa->candidates[sa->ncandidates].column = column;
	sa->candidates[sa->ncandidates].h = ls->pending_h[pending];
	sa->candidates[sa->ncandidates].len = ls->pending_len[pending];
	sa->candidates[sa->ncandidates].piece = ls->pending_piece[pending];
	sa->ncandidates++;
	if (!column->has_candidates)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(ls->cxt);

		column->has_candidates = true;
		sa->candidate_columns = lappend(sa->candidate_columns, column);
		MemoryContextSwitchTo(oldcxt);
	}
}

static void
scan_piece(PiiPiece piece, const char *s, size_t len, void *arg)
{
	ScanArg    *sa = arg;
	LeakScan   *ls = sa->ls;

	sieve_push(ls, piece, s, len, &sa->columns[sa->current]);
}

static void
scan_value(int column, Datum value, void *arg)
{
	ScanArg    *sa = arg;

	sa->current = column;
	sa->values++;
	if (!value_may_hold(sa->ls, &sa->columns[column].ct, value))
		return;
	pii_value_pieces(&sa->columns[column].ct, value, scan_piece, sa);
}

/*
 * sieve_narrow
 *		Before the masked columns are read again: make the sieve and the
 *		table of lengths stand for the candidates alone (the originals found
 *		outside the masked columns), so that a piece of a masked value is
 *		fingerprinted and looked up in the set only when it may be one of
 *		them.  The set itself is unchanged: a piece that passes is looked up
 *		there as before, and only a candidate's slot can be marked, since
 *		the pieces of any other original are dropped by the sieve (its bits
 *		are no longer set) or, if they pass it by chance, by the set's
 *		slot, which image_found() marks only when held; those marks are
 *		not counted.  The sieve keeps its size and key: a candidate's bits
 *		are those of its sieve hash, taken when it was found.
 */
static void
sieve_narrow(LeakScan *ls, const Candidate *candidates, uint64 n)
{
	memset(ls->lengths, 0, sizeof(ls->lengths));
	memset(ls->sieve, 0, ls->nsieve * sizeof(uint64));
	for (uint64 i = 0; i < n; i++)
	{
		const Candidate *c = &candidates[i];

		ls->lengths[c->piece][c->len / 64] |= UINT64CONST(1) << (c->len % 64);
		*sieve_word(ls, c->h) |= sieve_bits(c->h);
	}
	ls->shortest = sieve_shortest(ls);
	ls->kinds = sieve_kinds(ls);
}

/*
 * is_masked_column
 *		Whether a column of a relation is written by a mask rule of the run,
 *		directly or through a parent (inheritance or partitioning).
 */
static bool
is_masked_column(LeakScan *ls, Oid relid, const char *column)
{
	ListCell   *lc;

	foreach(lc, ls->masked)
	{
		MaskedColumn *mc = lfirst(lc);

		if (strcmp(mc->column, column) == 0 &&
			(mc->relid == relid || list_member_oid(mc->descendants, relid)))
			return true;
	}
	return false;
}

/*
 * sandbox_leakscan_check
 *		After a run's verification: scan the database for the original
 *		values fingerprinted before the run, record the result in the
 *		ledger, and fail or warn per the policy.  See penelope_sandbox.h.
 */
void
sandbox_leakscan_check(int64 run_id)
{
	LeakScan   *ls = scan_state;
	List	   *relations = NIL;
	List	   *hits = NIL;
	ScanArg		sa = {0};
	int64		rows = 0,
				values = 0,
				total_hits = 0,
				produced = -1;	/* -1: the masked columns were not read again */
	int			tables = 0,
				columns = 0,
				skipped = 0;
	instr_time	start,
				duration;
	StringInfoData where;
	bool		complete;
	int			elevel;
	ListCell   *lc;

	if (ls == NULL || ls->run_id != run_id)
		return;
	/* what a hit does; read now, as ls is freed before the report */
	elevel = ls->check == PII_CHECK_ERROR ? ERROR : WARNING;
	INSTR_TIME_SET_CURRENT(start);
	CommandCounterIncrement();

	/* 1. every text-like column but the masked ones, of every table */
	if (SPI_execute("SELECT c.oid, c.relkind = 'f' OR c.relpersistence = 't'"
					" OR (c.relkind = 'm' AND NOT c.relispopulated)"
					" FROM pg_catalog.pg_class c"
					" JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
					" WHERE c.relkind IN ('r', 'm', 'f')"
					" AND n.nspname NOT IN ('pg_catalog', 'information_schema', '" SANDBOX_SCHEMA "')"
					" AND n.nspname !~ '^pg_toast'"
					" ORDER BY n.nspname, c.relname",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_class");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Oid			relid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));

		if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull)))
			skipped++;
		else
			relations = lappend_oid(relations, relid);
	}
	SPI_freetuptable(SPI_tuptable);

	sa.ls = ls;
	ls->found = scan_found;
	ls->found_state = &sa;
	foreach(lc, relations)
	{
		Oid			relid = lfirst_oid(lc);
		Relation	rel = relation_open(relid, AccessShareLock);
		TupleDesc	desc = RelationGetDescr(rel);
		ScanColumn *cols = palloc0(sizeof(ScanColumn) * Max(desc->natts, 1));
		AttrNumber *attnums = palloc0(sizeof(AttrNumber) * Max(desc->natts, 1));
		int			ncols = 0;
		char	   *schema = get_namespace_name(RelationGetNamespace(rel));
		char	   *relname = pstrdup(RelationGetRelationName(rel));

		for (int a = 0; a < desc->natts; a++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, a);

			if (att->attisdropped || !pii_column_type(att->atttypid, &cols[ncols].ct))
				continue;
			if (is_masked_column(ls, relid, NameStr(att->attname)))
				continue;
			cols[ncols].schema = schema;
			cols[ncols].table = relname;
			cols[ncols].name = pstrdup(NameStr(att->attname));
			attnums[ncols] = att->attnum;
			ncols++;
		}
		relation_close(rel, NoLock);
		tables++;
		if (ncols == 0)
			continue;

		sa.columns = cols;
		rows += scan_relation(relid, ncols, attnums, scan_value, &sa);
		pending_flush(ls);
		columns += ncols;
	}
	values = sa.values;

	/*
	 * 2. Only when originals were found: the masked columns, whose values
	 * now are the masks' output, looked up against the originals found
	 * (the candidates) alone.  A found original that a mask also produced
	 * is no hit; produced counts these, once each.
	 */
	if (sa.ncandidates > 0)
	{
		produced = 0;
		sieve_narrow(ls, sa.candidates, sa.ncandidates);
		ls->found = image_found;
		rows += read_masked_columns(ls, false, image_piece);
		pending_flush(ls);
		for (uint64 i = 0; i < sa.ncandidates; i++)
		{
			if ((*sa.candidates[i].slot & FP_IMAGE) == 0)
				sa.candidates[i].column->hits++;
		}
		for (uint64 i = 0; i < sa.ncandidates; i++)
		{
			if ((*sa.candidates[i].slot & FP_IMAGE) != 0)
			{
				produced++;
				*sa.candidates[i].slot &= ~FP_IMAGE;
			}
		}
	}
	foreach(lc, sa.candidate_columns)
	{
		ScanColumn *column = lfirst(lc);

		if (column->hits > 0)
		{
			hits = lappend(hits, column);
			total_hits += column->hits;
		}
	}

	INSTR_TIME_SET_CURRENT(duration);
	INSTR_TIME_SUBTRACT(duration, start);
	complete = (ls->dropped == 0);

	/* the ledger: counts only */
	{
		Oid			argtypes[15] = {INT8OID, TEXTOID, INT8OID, INT8OID, BOOLOID, INT8OID,
			INT8OID, INT4OID, INT4OID, INT4OID, INT8OID, INT8OID, FLOAT8OID, FLOAT8OID, INT8OID};
		Datum		args[15];
		char		nulls[15];

		memset(nulls, ' ', sizeof(nulls));
		args[0] = Int64GetDatum(run_id);
		args[1] = CStringGetTextDatum(ls->check == PII_CHECK_ERROR ? "error" : "warning");
		args[2] = Int64GetDatum((int64) ls->count);
		args[3] = Int64GetDatum((int64) ls->dropped);
		args[4] = BoolGetDatum(complete);
		args[5] = Int64GetDatum((int64) ((ls->nslots + ls->nsieve) * sizeof(uint64)));
		args[6] = Int64GetDatum(produced);
		nulls[6] = (produced < 0) ? 'n' : ' ';
		args[7] = Int32GetDatum(tables);
		args[8] = Int32GetDatum(columns);
		args[9] = Int32GetDatum(skipped);
		args[10] = Int64GetDatum(rows);
		args[11] = Int64GetDatum(total_hits);
		args[12] = Float8GetDatum(ls->collect_seconds);
		args[13] = Float8GetDatum(INSTR_TIME_GET_DOUBLE(duration));
		args[14] = Int64GetDatum(values);
		if (SPI_execute_with_args("INSERT INTO sandbox.leak_scan (run_id, policy, originals,"
								  " originals_not_held, complete, memory_bytes, originals_produced_by_masks,"
								  " tables_scanned, columns_scanned, relations_skipped, rows_scanned, values_scanned,"
								  " hits, collect_duration, scan_duration)"
								  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $15, $12,"
								  " pg_catalog.make_interval(secs => $13), pg_catalog.make_interval(secs => $14))",
								  15, argtypes, args, nulls, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not insert into sandbox.leak_scan");
	}
	initStringInfo(&where);
	foreach(lc, hits)
	{
		ScanColumn *h = lfirst(lc);
		Oid			argtypes[5] = {INT8OID, NAMEOID, NAMEOID, NAMEOID, INT8OID};
		Datum		args[5];

		args[0] = Int64GetDatum(run_id);
		args[1] = DirectFunctionCall1(namein, CStringGetDatum(h->schema));
		args[2] = DirectFunctionCall1(namein, CStringGetDatum(h->table));
		args[3] = DirectFunctionCall1(namein, CStringGetDatum(h->name));
		args[4] = Int64GetDatum(h->hits);
		if (SPI_execute_with_args("INSERT INTO sandbox.leak_scan_hit (run_id, table_schema, table_name,"
								  " column_name, hits) VALUES ($1, $2, $3, $4, $5)",
								  5, argtypes, args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not insert into sandbox.leak_scan_hit");
		appendStringInfo(&where, "%s%s.%s (%lld)", where.len > 0 ? ", " : "",
						 quote_qualified_identifier(h->schema, h->table),
						 quote_identifier(h->name), (long long) h->hits);
	}

	/* forget the fingerprints and their key now */
	explicit_bzero(&ls->key, sizeof(ls->key));
	explicit_bzero(ls->sieve_key, sizeof(ls->sieve_key));
	scan_state = NULL;
	MemoryContextDelete(ls->cxt);

	if (total_hits > 0)
		ereport(elevel,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("leak scan: %lld original values of masked columns remain after run %lld",
						(long long) total_hits, (long long) run_id),
				 errdetail_internal("Found in: %s.", where.data),
				 elevel == ERROR ?
				 errhint("Nothing was changed: the whole sanitization is rolled back. Mask or remove these columns too.") :
				 errhint("Mask or remove these columns too; sandbox.leak_scan_hit lists them.")));
	if (!complete)
		ereport(elevel,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("leak scan of run %lld is incomplete", (long long) run_id),
				 errdetail("More than %d distinct original values: the pieces past the maximum were not fingerprinted.",
						   sandbox_leak_scan_max_originals),
				 errhint("Raise penelope_sandbox.leak_scan_max_originals (8 bytes each, 70%% full at most).")));
}

/* ---- sandbox_verify ---- */

/*
 * sandbox_leakscan_verify
 *		Add the leak scan of this database's last successful run, when it
 *		was a run of this environment and had one, to the result of
 *		sandbox_verify: one row, action "leak_scan".  The caller is
 *		connected to SPI.
 */
void
sandbox_leakscan_verify(Tuplestorestate *store, TupleDesc desc, const char *environment)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(environment)};
	Datum		values[9];
	bool		nulls[9] = {true, false, false, false, false, true, false, true, false};
	bool		isnull;
	int64		hits;
	bool		complete;
	char	   *detail;

	if (SPI_execute_with_args("SELECT s.run_id, s.hits, s.complete, s.tables_scanned, s.columns_scanned,"
							  " s.rows_scanned, s.originals,"
							  " (SELECT pg_catalog.string_agg(pg_catalog.format('%I.%I.%I (%s)',"
							  "   h.table_schema, h.table_name, h.column_name, h.hits), ', '"
							  "   ORDER BY h.table_schema, h.table_name, h.column_name)"
							  "  FROM sandbox.leak_scan_hit h WHERE h.run_id = s.run_id)"
							  " FROM sandbox.leak_scan s"
							  " WHERE s.run_id = (sandbox.last_run()).id"
							  " AND (sandbox.last_run()).environment = $1",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read sandbox.leak_scan");
	if (SPI_processed == 0)
		return;

	hits = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	complete = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	detail = psprintf("leak scan of run %s: %s original values of %s found in %s columns of %s tables (%s rows)%s%s%s",
					  SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1),
					  SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2),
					  SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 7),
					  SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 5),
					  SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4),
					  SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 6),
					  hits > 0 ? ": " : "",
					  hits > 0 ? SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 8) : "",
					  complete ? "" : "; incomplete: more originals than penelope_sandbox.leak_scan_max_originals");

	values[1] = BoolGetDatum(hits == 0 && complete);
	values[2] = Int64GetDatum(hits);
	values[3] = CStringGetTextDatum(detail);
	values[4] = CStringGetTextDatum(environment);
	values[6] = CStringGetTextDatum("whole database");
	values[8] = CStringGetTextDatum("leak_scan");
	tuplestore_putvalues(store, desc, values, nulls);
}
