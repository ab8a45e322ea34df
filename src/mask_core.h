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
 * Text is UTF-8.  The maskers that keep the shape of a value (mask_id,
 * mask_phone) and their recognisers decode it into code points and
 * classify each with the Unicode tables of mask_unicode.c: every letter
 * and digit of any script is replaced by an ASCII one, combining marks are
 * dropped, and every other character (spaces, punctuation, symbols) is
 * copied unchanged.  A byte that does not start a valid UTF-8 sequence is
 * taken as one letter, so nothing is ever copied that was not understood.
 * The other maskers only hash their input and write values of their own.
 * Every value the core writes is valid in any server encoding (ASCII, plus
 * characters copied from the input), and src/masking.c converts the values
 * of a database that is not UTF-8 to UTF-8 and back.
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

/* ---- Characters (UTF-8) ---- */

/* The class of a character: see src/mask_unicode.py. */
typedef enum MaskCharClass
{
	MC_CHAR_OTHER = 0,			/* kept in place */
	MC_CHAR_UPPER,				/* letter with upper or title case */
	MC_CHAR_LOWER,				/* lower-case letter */
	MC_CHAR_LETTER,				/* letter without case, or unknown */
	MC_CHAR_DIGIT,				/* has a decimal digit value */
	MC_CHAR_NUMBER,				/* other number: masked like a digit */
	MC_CHAR_MARK				/* combining mark: dropped */
} MaskCharClass;

/* One decoded character. */
typedef struct MaskChar
{
	uint32_t	cp;				/* code point; MC_INVALID_BYTE + byte if invalid */
	uint32_t	len;			/* its length in bytes, at least 1 */
	MaskCharClass cls;
	int			value;			/* MC_CHAR_DIGIT: its value, 0-9 */
} MaskChar;

/* Code point given to a byte that starts no valid UTF-8 sequence. */
#define MC_INVALID_BYTE 0x110000

/* Is the class one of the letters, digits or numbers a masker replaces? */
#define MC_CHAR_IS_SYMBOL(cls) ((cls) >= MC_CHAR_UPPER && (cls) <= MC_CHAR_NUMBER)
#define MC_CHAR_IS_LETTER(cls) ((cls) >= MC_CHAR_UPPER && (cls) <= MC_CHAR_LETTER)

extern size_t mc_utf8_next(const char *s, size_t len, MaskChar *ch);
extern MaskCharClass mc_char_class(uint32_t cp, int *value);
extern size_t mc_utf8_nchars(const char *s, size_t len);
extern bool mc_is_ascii(const char *s, size_t len);

/* ---- Email ---- */

/* Masked emails are "u" + 26 base32 characters + "@example.invalid". */
#define MC_EMAIL_LOCAL_LEN 27
#define MC_EMAIL_DOMAIN "@example.invalid"
#define MC_EMAIL_LEN (MC_EMAIL_LOCAL_LEN + 16)

extern size_t mc_mask_email(const MaskKey *key, const char *in, size_t len,
							char *out);
extern bool mc_is_masked_email(const char *in, size_t len);

/* ---- Phone numbers: the output is at most as long as the input ---- */

extern size_t mc_mask_phone(const MaskKey *key, const char *in, size_t len,
							char *out);
extern bool mc_is_masked_phone(const char *in, size_t len);

/* ---- Identifiers: the output is at most as long as the input ---- */

extern size_t mc_mask_id(const MaskKey *key, const char *in, size_t len,
						 char *out);
extern size_t mc_unmask_id(const MaskKey *key, const char *in, size_t len,
						   char *out);
extern bool mc_is_masked_id(const char *in, size_t len);

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

/*
 * Hash tables of the dictionaries, for the recognisers: open addressing
 * with linear probing over mc_dict_hash() of the word, each slot holding
 * the index of an entry plus one (0: empty).  The number of slots is a
 * power of two, at least twice the number of entries.
 */
extern const uint16_t mc_first_names_slots[];
extern const size_t mc_n_first_names_slots;
extern const uint16_t mc_last_names_slots[];
extern const size_t mc_n_last_names_slots;
extern const uint16_t mc_street_names_slots[];
extern const size_t mc_n_street_names_slots;
extern const uint16_t mc_street_types_slots[];
extern const size_t mc_n_street_types_slots;
extern const uint16_t mc_cities_slots[];
extern const size_t mc_n_cities_slots;
extern const uint16_t mc_text_words_slots[];
extern const size_t mc_n_text_words_slots;

/*
 * The text words as two little-endian 64-bit words each, zero-padded (the
 * masker copies them 16 bytes at a time, the recogniser compares them so),
 * and their lengths.
 */
extern const uint64_t mc_text_word_keys[][2];
extern const uint8_t mc_text_word_lens[];

/*
 * A perfect hash of the text words, for mc_is_masked_text(): the word with
 * key (lo, hi), if any, is number mc_text_word_index[mc_text_slot(lo, hi)]
 * - 1 (0: none), mc_text_slot() using mc_text_word_seed.
 */
#define MC_TEXT_INDEX_BITS 10
extern const uint64_t mc_text_word_seed;
extern const uint8_t mc_text_word_index[1 << MC_TEXT_INDEX_BITS];

/* ---- Character classes (mask_unicode.c) ---- */

extern const uint32_t mc_unicode_classes[];
extern const size_t mc_n_unicode_classes;
extern const uint8_t mc_unicode_low[0x800];
extern const char mc_unicode_version[];

#endif							/* MASK_CORE_H */
