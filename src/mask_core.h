/*-------------------------------------------------------------------------
 *
 * mask_core.h
 *		Pure-C masking core of penelope_sandbox: keyed hashing, encodings,
 *		format-preserving permutation and name dictionaries.
 *
 * Nothing here includes a PostgreSQL header, allocates memory or keeps
 * state between calls: every function works on byte strings given by the
 * caller, writes into a buffer the caller sized with the matching *_len()
 * function, and depends only on its arguments and the key.  That lets the
 * core be unit-tested, sanitizer-checked and fuzzed without a server
 * (test/unit/), while src/masking.c wraps it for SQL.
 *
 * Text is handled as bytes.  Every server encoding of PostgreSQL is an
 * ASCII superset in which a byte below 0x80 is always a whole character,
 * so the core only ever reads, rewrites or replaces ASCII bytes and copies
 * every other byte unchanged: it never splits a multibyte character.  The
 * values it produces itself are plain ASCII.
 *
 * Copyright (c) 2026, penelope_sandbox developers
 *
 * IDENTIFICATION
 *	  src/mask_core.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MASK_CORE_H
#define MASK_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length in bytes of the masking key (the secret). */
#define MC_SECRET_LEN 32

/* Purposes for which separate subkeys are derived from the secret. */
typedef enum MaskPurpose
{
	MC_PURPOSE_EMAIL,
	MC_PURPOSE_PHONE,
	MC_PURPOSE_NAME,
	MC_PURPOSE_DATE,
	MC_PURPOSE_ADDRESS,
	MC_PURPOSE_TEXT,
	MC_PURPOSE_ID,
	MC_NUM_PURPOSES
} MaskPurpose;

/* A 128-bit SipHash key. */
typedef struct MaskSipKey
{
	uint64_t	k0;
	uint64_t	k1;
} MaskSipKey;

/* The expanded masking key: one SipHash key per purpose. */
typedef struct MaskKey
{
	MaskSipKey	sub[MC_NUM_PURPOSES];
} MaskKey;

/* Incremental SipHash-2-4 state (64- or 128-bit output). */
typedef struct MaskSipState
{
	uint64_t	v0,
				v1,
				v2,
				v3;
	uint64_t	tail;			/* pending bytes, little-endian */
	uint64_t	total;			/* bytes absorbed so far */
	int			ntail;			/* number of pending bytes */
} MaskSipState;

/* ---- Primitives ---- */

extern void mc_siphash_init(MaskSipState *st, const MaskSipKey *key, bool out128);
extern void mc_siphash_update(MaskSipState *st, const void *data, size_t len);
extern uint64_t mc_siphash_final64(MaskSipState *st);
extern void mc_siphash_final128(MaskSipState *st, uint64_t out[2]);
extern uint64_t mc_siphash64(const MaskSipKey *key, const void *data, size_t len);
extern void mc_siphash128(const MaskSipKey *key, const void *data, size_t len,
						  uint64_t out[2]);

extern void mc_key_expand(MaskKey *key, const uint8_t secret[MC_SECRET_LEN]);

/* ---- Email ---- */

/* Masked emails are "u" + 26 base32 characters + "@example.invalid". */
#define MC_EMAIL_LOCAL_LEN 27
#define MC_EMAIL_DOMAIN "@example.invalid"
#define MC_EMAIL_LEN (MC_EMAIL_LOCAL_LEN + 16)

extern size_t mc_mask_email(const MaskKey *key, const char *in, size_t len,
							char *out);
extern bool mc_is_masked_email(const char *in, size_t len);

/* ---- Phone numbers: the output is exactly as long as the input ---- */

extern void mc_mask_phone(const MaskKey *key, const char *in, size_t len,
						  char *out);
extern bool mc_is_masked_phone(const char *in, size_t len);

/* ---- Identifiers: the output is exactly as long as the input ---- */

extern void mc_mask_id(const MaskKey *key, const char *in, size_t len,
					   char *out);
extern void mc_unmask_id(const MaskKey *key, const char *in, size_t len,
						 char *out);

/* ---- Names: the output is at most mc_name_out_len(len) bytes ---- */

extern size_t mc_name_out_len(size_t len);
extern size_t mc_mask_first_name(const MaskKey *key, const char *in, size_t len,
								 char *out);
extern size_t mc_mask_last_name(const MaskKey *key, const char *in, size_t len,
								char *out);
extern size_t mc_mask_full_name(const MaskKey *key, const char *in, size_t len,
								char *out);
extern bool mc_is_masked_first_name(const char *in, size_t len);
extern bool mc_is_masked_last_name(const char *in, size_t len);
extern bool mc_is_masked_full_name(const char *in, size_t len);

/* ---- Addresses ---- */

#define MC_ADDRESS_MAX_LEN 128
extern size_t mc_mask_address(const MaskKey *key, const char *in, size_t len,
							  char *out);
extern bool mc_is_masked_address(const char *in, size_t len);

/* ---- Free text: the output is at most mc_text_out_len(nchars) bytes ---- */

extern size_t mc_text_out_len(size_t nchars);
extern size_t mc_mask_text(const MaskKey *key, const char *in, size_t len,
						   size_t nchars, char *out);
extern bool mc_is_masked_text(const char *in, size_t len);

/* ---- Dates, as days relative to any fixed epoch ---- */

extern int32_t mc_mask_date(const MaskKey *key, int32_t day, int32_t today,
							int32_t window, int32_t min_day);

/* ---- Dictionaries (mask_dictionaries.c) ---- */

/* Longest entry of any dictionary (checked by the unit tests). */
#define MC_MAX_WORD_LEN 15

extern const char *const mc_first_names[];
extern const size_t mc_n_first_names;
extern const char *const mc_last_names[];
extern const size_t mc_n_last_names;
extern const char *const mc_street_names[];
extern const size_t mc_n_street_names;
extern const char *const mc_street_types[];
extern const size_t mc_n_street_types;
extern const char *const mc_cities[];
extern const size_t mc_n_cities;
extern const char *const mc_text_words[];
extern const size_t mc_n_text_words;

#endif							/* MASK_CORE_H */
