/*-------------------------------------------------------------------------
 *
 * mask_core.c
 *		Pure-C masking core of penelope_sandbox.
 *
 * Every masked value is a function of the input and of a secret key: the
 * same input always gives the same output under one key (so joins survive
 * masking), and without the key nobody can recompute the mapping, not even
 * by enumerating a small input space such as phone numbers.
 *
 * Building blocks:
 *
 *	- SipHash-2-4 (Aumasson and Bernstein) is the keyed PRF, with 64- or
 *	  128-bit output.  One subkey per purpose is derived from the 256-bit
 *	  secret, so an email and a name that happen to be equal strings do not
 *	  share a hash.
 *
 *	- Emails become "u" + the 128-bit keyed hash of the normalised address
 *	  in base32 + "@example.invalid" (RFC 2606/6761: .invalid never
 *	  delivers).  128 bits make a collision among n distinct addresses
 *	  happen with probability below n^2 / 2^129: about 10^-21 for a
 *	  billion addresses, so UNIQUE constraints survive.
 *
 *	- Identifiers go through a keyed format-preserving permutation: a
 *	  Feistel network over the digit (radix 10) and letter (radix 26)
 *	  positions, with per-position modular addition, which is a bijection
 *	  of the set of strings of one shape whatever its round function.  To
 *	  guarantee that no value maps to itself, the permutation P is
 *	  conjugated with "add one": Q(x) = P(P^-1(x) + 1) is still a keyed
 *	  bijection, and has no fixed point.
 *
 *	  Letters and digits of every script take part (src/mask_unicode.c
 *	  classifies each code point): they come out as ASCII letters and
 *	  digits, so no letter or digit of the input's script survives.
 *
 *	- Phone numbers keep their shape, read digits of any script by value
 *	  and write ASCII digits; recognised national formats (North America,
 *	  the UK, Australia) land in the ranges reserved for drama; other
 *	  numbers get keyed digits with a mod-97 check so the recogniser can
 *	  tell them from real ones.
 *
 *	- Names, addresses and free text are drawn from the dictionaries in
 *	  mask_dictionaries.c; free text at about one nanosecond per byte
 *	  (SipHash of the input, then a SplitMix64 stream of words).
 *
 *	- Every recogniser refuses what its masker never writes (a letter or
 *	  digit that is not ASCII, above all), and costs less than the masker:
 *	  verification runs it over every row.
 *
 * Copyright (c) 2026, penelope_sandbox developers
 *
 * IDENTIFICATION
 *	  src/mask_core.c
 *
 *-------------------------------------------------------------------------
 */
#include "mask_core.h"

#include <string.h>

/* SSE2 (every x86-64) finds spaces 16 bytes at a time; MC_NO_SIMD tests the fallback. */
#if defined(__SSE2__) && !defined(MC_NO_SIMD)
#include <emmintrin.h>
#define MC_USE_SSE2 1
#endif

/* ---- Small helpers ---- */

/* Is c ASCII white space? */
static inline bool
mc_isspace(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static inline bool
mc_isdigit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static inline bool
mc_isupper(unsigned char c)
{
	return c >= 'A' && c <= 'Z';
}

static inline unsigned char
mc_tolower(unsigned char c)
{
	return mc_isupper(c) ? (unsigned char) (c + ('a' - 'A')) : c;
}

/*
 * Trim ASCII white space from both ends of [*in, *in + *len).
 */
static void
mc_trim(const char **in, size_t *len)
{
	const unsigned char *s = (const unsigned char *) *in;
	size_t		n = *len;

	while (n > 0 && mc_isspace(s[0]))
	{
		s++;
		n--;
	}
	while (n > 0 && mc_isspace(s[n - 1]))
		n--;
	*in = (const char *) s;
	*len = n;
}

/*
 * Case-insensitive (ASCII) equality of two byte strings.
 */
static bool
mc_equal_ci(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t		i;

	if (alen != blen)
		return false;
	for (i = 0; i < alen; i++)
		if (mc_tolower((unsigned char) a[i]) != mc_tolower((unsigned char) b[i]))
			return false;
	return true;
}

static inline uint64_t
mc_load64_le(const unsigned char *p)
{
	return (uint64_t) p[0] | ((uint64_t) p[1] << 8) |
		((uint64_t) p[2] << 16) | ((uint64_t) p[3] << 24) |
		((uint64_t) p[4] << 32) | ((uint64_t) p[5] << 40) |
		((uint64_t) p[6] << 48) | ((uint64_t) p[7] << 56);
}

/* Written out byte by byte, which compilers merge into one store. */
static inline void
mc_store64_le(unsigned char *p, uint64_t v)
{
	p[0] = (unsigned char) v;
	p[1] = (unsigned char) (v >> 8);
	p[2] = (unsigned char) (v >> 16);
	p[3] = (unsigned char) (v >> 24);
	p[4] = (unsigned char) (v >> 32);
	p[5] = (unsigned char) (v >> 40);
	p[6] = (unsigned char) (v >> 48);
	p[7] = (unsigned char) (v >> 56);
}

/* Number of trailing zero bits of x, which is not 0. */
static inline int
mc_ctz64(uint64_t x)
{
#if defined(__GNUC__) || defined(__clang__)
	return __builtin_ctzll(x);
#else
	int			n = 0;

	while ((x & 1) == 0)
	{
		x >>= 1;
		n++;
	}
	return n;
#endif
}

#define MC_ONES UINT64_C(0x0101010101010101)
#define MC_HIGHS UINT64_C(0x8080808080808080)

/* ---- Characters ---- */

/*
 * mc_char_class
 *		The class of a code point (see src/mask_unicode.py), and in *value
 *		the value of a digit (0 for any other class).  Anything beyond
 *		U+10FFFF, such as MC_INVALID_BYTE + byte, is a letter.
 */
MaskCharClass
mc_char_class(uint32_t cp, int *value)
{
	size_t		lo = 0,
				hi = mc_n_unicode_classes;
	uint32_t	e;
	MaskCharClass cls;

	if (cp < 0x800)
	{
		/* ASCII, Latin, Greek, Cyrillic, Hebrew, Arabic ...: one lookup */
		*value = mc_unicode_low[cp] >> 4;
		return (MaskCharClass) (mc_unicode_low[cp] & 0x0f);
	}
	*value = 0;
	if (cp > 0x10FFFF)
		return MC_CHAR_LETTER;

	/* the last range that starts at or before cp (the first starts at 0) */
	while (hi - lo > 1)
	{
		size_t		mid = lo + (hi - lo) / 2;

		if ((mc_unicode_classes[mid] >> 8) <= cp)
			lo = mid;
		else
			hi = mid;
	}
	e = mc_unicode_classes[lo];
	cls = (MaskCharClass) (e & 0x0f);
	if (cls == MC_CHAR_DIGIT)
		*value = (int) (((e >> 4) & 0x0f) + (cp - (e >> 8)));
	return cls;
}

/*
 * mc_decode
 *		Decode and classify the character at s (len > 0 bytes left); returns
 *		its length in bytes.  mc_utf8_next() is its exported form.
 *
 * A byte that does not start a well-formed UTF-8 sequence (a stray
 * continuation byte, an overlong form, a surrogate, a sequence cut short
 * or beyond U+10FFFF) is one character by itself, the letter
 * MC_INVALID_BYTE + byte.
 */
static inline size_t
mc_decode(const char *s, size_t len, MaskChar *ch)
{
	const unsigned char *p = (const unsigned char *) s;
	unsigned char c = p[0];
	uint32_t	cp = 0;
	size_t		n = 0,
				i;

	if (c < 0x80)
	{
		ch->cp = c;
		ch->len = 1;
		ch->cls = (MaskCharClass) (mc_unicode_low[c] & 0x0f);
		ch->value = mc_unicode_low[c] >> 4;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF)
	{
		n = 2;
		cp = c & 0x1F;
	}
	else if (c >= 0xE0 && c <= 0xEF)
	{
		n = 3;
		cp = c & 0x0F;
	}
	else if (c >= 0xF0 && c <= 0xF4)
	{
		n = 4;
		cp = c & 0x07;
	}
	if (n > 0 && n <= len)
	{
		for (i = 1; i < n; i++)
		{
			if ((p[i] & 0xC0) != 0x80)
				break;
			cp = (cp << 6) | (p[i] & 0x3F);
		}
		if (i == n &&
			!(n == 3 && cp < 0x800) &&
			!(n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) &&
			!(cp >= 0xD800 && cp <= 0xDFFF))
		{
			ch->cp = cp;
			ch->len = (uint32_t) n;
			ch->cls = mc_char_class(cp, &ch->value);
			return n;
		}
	}
	ch->cp = MC_INVALID_BYTE + c;
	ch->len = 1;
	ch->cls = MC_CHAR_LETTER;
	ch->value = 0;
	return 1;
}

/*
 * mc_utf8_next
 *		mc_decode(), for the tests and other callers outside this file.
 */
size_t
mc_utf8_next(const char *s, size_t len, MaskChar *ch)
{
	return mc_decode(s, len, ch);
}

/*
 * mc_utf8_nchars
 *		Number of characters of valid UTF-8 (the bytes that are not
 *		continuation bytes), eight bytes at a time.
 */
size_t
mc_utf8_nchars(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *) s;
	size_t		i = 0,
				cont = 0;

	for (; i + 8 <= len; i += 8)
	{
		uint64_t	x = mc_load64_le(p + i);

		/* a continuation byte is 10xxxxxx */
		x = (x & ~(x << 1)) & MC_HIGHS;
		cont += (size_t) (((x >> 7) * MC_ONES) >> 56);
	}
	for (; i < len; i++)
		if ((p[i] & 0xC0) == 0x80)
			cont++;
	return len - cont;
}

/*
 * mc_is_ascii
 *		Is every byte below 0x80?
 */
bool
mc_is_ascii(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *) s;
	uint64_t	acc = 0;
	size_t		i = 0;

	for (; i + 8 <= len; i += 8)
		acc |= mc_load64_le(p + i);
	for (; i < len; i++)
		acc |= p[i];
	return (acc & MC_HIGHS) == 0;
}

/* ---- SipHash-2-4 ---- */

#define MC_ROTL(x, b) (uint64_t) (((x) << (b)) | ((x) >> (64 - (b))))

#define MC_SIPROUND(v0, v1, v2, v3) \
	do { \
		v0 += v1; v1 = MC_ROTL(v1, 13); v1 ^= v0; v0 = MC_ROTL(v0, 32); \
		v2 += v3; v3 = MC_ROTL(v3, 16); v3 ^= v2; \
		v0 += v3; v3 = MC_ROTL(v3, 21); v3 ^= v0; \
		v2 += v1; v1 = MC_ROTL(v1, 17); v1 ^= v2; v2 = MC_ROTL(v2, 32); \
	} while (0)

/*
 * Absorb one 64-bit message word.
 */
static inline void
mc_sip_compress(MaskSipState *st, uint64_t m)
{
	uint64_t	v0 = st->v0,
				v1 = st->v1,
				v2 = st->v2,
				v3 = st->v3;

	v3 ^= m;
	MC_SIPROUND(v0, v1, v2, v3);
	MC_SIPROUND(v0, v1, v2, v3);
	v0 ^= m;
	st->v0 = v0;
	st->v1 = v1;
	st->v2 = v2;
	st->v3 = v3;
}

/*
 * mc_siphash_init
 *		Start a SipHash-2-4 computation, with 128-bit output if out128.
 */
void
mc_siphash_init(MaskSipState *st, const MaskSipKey *key, bool out128)
{
	st->v0 = UINT64_C(0x736f6d6570736575) ^ key->k0;
	st->v1 = UINT64_C(0x646f72616e646f6d) ^ key->k1;
	st->v2 = UINT64_C(0x6c7967656e657261) ^ key->k0;
	st->v3 = UINT64_C(0x7465646279746573) ^ key->k1;
	if (out128)
		st->v1 ^= 0xee;
	st->tail = 0;
	st->total = 0;
	st->ntail = 0;
}

/*
 * mc_siphash_update
 *		Absorb len bytes.
 */
void
mc_siphash_update(MaskSipState *st, const void *data, size_t len)
{
	const unsigned char *p = data;

	st->total += len;
	while (len > 0 && st->ntail > 0)
	{
		st->tail |= (uint64_t) *p++ << (8 * st->ntail);
		len--;
		if (++st->ntail == 8)
		{
			mc_sip_compress(st, st->tail);
			st->tail = 0;
			st->ntail = 0;
		}
	}
	while (len >= 8)
	{
		mc_sip_compress(st, mc_load64_le(p));
		p += 8;
		len -= 8;
	}
	while (len > 0)
	{
		st->tail |= (uint64_t) *p++ << (8 * st->ntail);
		st->ntail++;
		len--;
	}
}

/*
 * Absorb the final block and run the first finalization rounds.
 */
static void
mc_sip_finish(MaskSipState *st, uint64_t xor_v2)
{
	uint64_t	b = (st->total << 56) | st->tail;
	uint64_t	v0,
				v1,
				v2,
				v3;

	mc_sip_compress(st, b);
	v0 = st->v0;
	v1 = st->v1;
	v2 = st->v2 ^ xor_v2;
	v3 = st->v3;
	MC_SIPROUND(v0, v1, v2, v3);
	MC_SIPROUND(v0, v1, v2, v3);
	MC_SIPROUND(v0, v1, v2, v3);
	MC_SIPROUND(v0, v1, v2, v3);
	st->v0 = v0;
	st->v1 = v1;
	st->v2 = v2;
	st->v3 = v3;
}

/*
 * mc_siphash_final64
 *		The 64-bit result of a state started with out128 = false.
 */
uint64_t
mc_siphash_final64(MaskSipState *st)
{
	mc_sip_finish(st, 0xff);
	return st->v0 ^ st->v1 ^ st->v2 ^ st->v3;
}

/*
 * mc_siphash_final128
 *		The 128-bit result (out[0] = first 8 output bytes, little-endian) of
 *		a state started with out128 = true.
 */
void
mc_siphash_final128(MaskSipState *st, uint64_t out[2])
{
	uint64_t	v0,
				v1,
				v2,
				v3;

	mc_sip_finish(st, 0xee);
	out[0] = st->v0 ^ st->v1 ^ st->v2 ^ st->v3;
	v0 = st->v0;
	v1 = st->v1 ^ 0xdd;
	v2 = st->v2;
	v3 = st->v3;
	MC_SIPROUND(v0, v1, v2, v3);
	MC_SIPROUND(v0, v1, v2, v3);
	MC_SIPROUND(v0, v1, v2, v3);
	MC_SIPROUND(v0, v1, v2, v3);
	out[1] = v0 ^ v1 ^ v2 ^ v3;
}

/*
 * mc_siphash64
 *		SipHash-2-4 of a buffer, 64-bit output.
 */
uint64_t
mc_siphash64(const MaskSipKey *key, const void *data, size_t len)
{
	MaskSipState st;

	mc_siphash_init(&st, key, false);
	mc_siphash_update(&st, data, len);
	return mc_siphash_final64(&st);
}

/*
 * mc_siphash128
 *		SipHash-2-4 of a buffer, 128-bit output.
 */
void
mc_siphash128(const MaskSipKey *key, const void *data, size_t len,
			  uint64_t out[2])
{
	MaskSipState st;

	mc_siphash_init(&st, key, true);
	mc_siphash_update(&st, data, len);
	mc_siphash_final128(&st, out);
}

/*
 * mc_key_expand
 *		Derive one SipHash key per purpose from the 256-bit secret.
 *
 * subkey(p) = SipHash-128 under the first half of the secret of the
 * second half, a label and p: knowing one subkey reveals nothing about
 * the others or the secret.
 */
void
mc_key_expand(MaskKey *key, const uint8_t secret[MC_SECRET_LEN])
{
	static const char label[] = "penelope_sandbox masking subkey v1";
	MaskSipKey	master;
	int			p;

	master.k0 = mc_load64_le(secret);
	master.k1 = mc_load64_le(secret + 8);
	for (p = 0; p < MC_NUM_PURPOSES; p++)
	{
		MaskSipState st;
		uint64_t	out[2];
		unsigned char pb = (unsigned char) p;

		mc_siphash_init(&st, &master, true);
		mc_siphash_update(&st, secret + 16, 16);
		mc_siphash_update(&st, label, sizeof(label) - 1);
		mc_siphash_update(&st, &pb, 1);
		mc_siphash_final128(&st, out);
		key->sub[p].k0 = out[0];
		key->sub[p].k1 = out[1];
	}
}

/* ---- A keyed stream of small random numbers ---- */

/*
 * Seeded with a 128-bit keyed hash: the seed words come first, then
 * SipHash of a counter under the seed.  Values are drawn 16 bits at a
 * time, so "value % radix" has a bias below 2^-11 for radix <= 26.
 */
typedef struct MaskStream
{
	MaskSipKey	seed;
	uint64_t	word;
	uint64_t	counter;
	int			left;			/* 16-bit chunks left in word */
} MaskStream;

static void
mc_stream_init(MaskStream *s, const uint64_t h[2])
{
	s->seed.k0 = h[0];
	s->seed.k1 = h[1];
	s->word = h[0];
	s->counter = 0;
	s->left = 4;
}

/*
 * Next 16-bit value of the stream.
 */
static uint32_t
mc_stream_next(MaskStream *s)
{
	uint32_t	v;

	if (s->left == 0)
	{
		if (s->counter == 0)
			s->word = s->seed.k1;
		else
			s->word = mc_siphash64(&s->seed, &s->counter, sizeof(s->counter));
		s->counter++;
		s->left = 4;
	}
	v = (uint32_t) (s->word & 0xffff);
	s->word >>= 16;
	s->left--;
	return v;
}

/* A value in [0, n) from the stream (n <= 65536). */
static inline uint32_t
mc_stream_uniform(MaskStream *s, uint32_t n)
{
	return mc_stream_next(s) % n;
}

/*
 * Hash bytes into a 128-bit value under a subkey, ASCII-lower-cased,
 * with a one-byte domain tag in front.
 */
static void
mc_hash_lower(const MaskSipKey *key, unsigned char tag, const char *in,
			  size_t len, uint64_t out[2])
{
	MaskSipState st;
	unsigned char buf[128];
	size_t		i = 0;

	mc_siphash_init(&st, key, true);
	mc_siphash_update(&st, &tag, 1);
	while (i < len)
	{
		size_t		n = len - i < sizeof(buf) ? len - i : sizeof(buf);
		size_t		j;

		for (j = 0; j < n; j++)
			buf[j] = mc_tolower((unsigned char) in[i + j]);
		mc_siphash_update(&st, buf, n);
		i += n;
	}
	mc_siphash_final128(&st, out);
}

/* ---- Email ---- */

static const char mc_base32[] = "abcdefghijklmnopqrstuvwxyz234567";

/*
 * mc_mask_email
 *		Mask an email address; writes exactly MC_EMAIL_LEN bytes to out.
 *
 * Normalisation: white space around the address is trimmed and ASCII
 * letters are lower-cased in the whole address (local part included,
 * since applications, like most mail providers, treat "Ann@X.org" and
 * "ann@x.org" as one person).  Non-ASCII bytes are kept as they are.
 * Anything is accepted, including strings that are not addresses: they
 * get a pseudonym too.
 */
size_t
mc_mask_email(const MaskKey *key, const char *in, size_t len, char *out)
{
	uint64_t	h[2];
	unsigned char tag = 'E';
	int			i;

	mc_trim(&in, &len);
	for (;;)
	{
		mc_hash_lower(&key->sub[MC_PURPOSE_EMAIL], tag, in, len, h);

		/* 128 bits: 3 bits, then 25 groups of 5 bits */
		out[0] = 'u';
		out[1] = mc_base32[h[1] >> 61];
		for (i = 0; i < 25; i++)
		{
			int			bit = 124 - 5 * i;	/* top bit of this group */
			uint32_t	v;

			if (bit - 4 >= 64)
				v = (uint32_t) (h[1] >> (bit - 4 - 64)) & 31;
			else if (bit < 64)
				v = (uint32_t) (h[0] >> (bit - 4)) & 31;
			else
				v = (uint32_t) (((h[1] << (68 - bit)) | (h[0] >> (bit - 4))) & 31);
			out[2 + i] = mc_base32[v];
		}
		memcpy(out + MC_EMAIL_LOCAL_LEN, MC_EMAIL_DOMAIN, 16);

		/* Never the original (a 2^-128 event, but cheap to rule out). */
		if (!mc_equal_ci(out, MC_EMAIL_LEN, in, len))
			break;
		tag++;
	}
	return MC_EMAIL_LEN;
}

/*
 * mc_is_masked_email
 *		Does the value have the form of a masked email?  Keyless.
 */
bool
mc_is_masked_email(const char *in, size_t len)
{
	const unsigned char *p = (const unsigned char *) in;
	unsigned int bad = 0;
	size_t		i;

	if (len != MC_EMAIL_LEN || p[0] != 'u' || !(p[1] >= 'a' && p[1] <= 'h'))
		return false;
	/* base32: a-z and 2-7, tested without a branch per character */
	for (i = 2; i < MC_EMAIL_LOCAL_LEN; i++)
		bad |= (unsigned int) ((unsigned char) (p[i] - 'a') >= 26) &
			(unsigned int) ((unsigned char) (p[i] - '2') >= 6);
	return bad == 0 && memcmp(in + MC_EMAIL_LOCAL_LEN, MC_EMAIL_DOMAIN, 16) == 0;
}

/* ---- Phone numbers ---- */

typedef enum PhoneFormat
{
	PHONE_GENERIC,
	PHONE_NANP,					/* North America: 10 significant digits */
	PHONE_UK,					/* UK: 10 significant digits */
	PHONE_AU					/* Australia: 9 significant digits */
} PhoneFormat;

/* What mc_phone_parse found out about a phone number. */
typedef struct PhoneShape
{
	size_t		ndigits;		/* digits in the whole value */
	size_t		kept;			/* leading digits kept as they are */
	PhoneFormat format;
	char		sig[12];		/* NANP/UK/AU: first significant digits */
	bool		foreign;		/* holds what mc_mask_phone() never writes */
} PhoneShape;

/* Values with fewer digits than this hold no phone number. */
#define MC_PHONE_MIN_DIGITS 5

/* Generic masked numbers: all digits, as one number, are 42 modulo 97. */
#define MC_PHONE_CHECK 42

/*
 * North American area codes used for masked numbers.  555-0100 to
 * 555-0199 is reserved for fictional use in every area code.
 */
static const char *const mc_nanp_areas[] = {
	"201", "202", "206", "212", "213", "214", "215", "303", "305", "310",
	"312", "313", "404", "408", "412", "415", "416", "503", "504", "512",
	"602", "604", "612", "615", "617", "702", "713", "718", "720", "773",
	"786", "801", "808", "813", "816", "832", "858", "904", "917", "919"
};

/*
 * Australian mobile numbers reserved by ACMA for creative works, as
 * national significant numbers (0491 570 006 is "491570006").
 */
static const char *const mc_au_mobiles[] = {
	"491570006", "491570110", "491570156", "491570157", "491570158",
	"491570159", "491570313", "491570737", "491571266", "491571491",
	"491571804", "491572549", "491572665", "491572983", "491573087",
	"491573770", "491574118", "491574632", "491575254", "491575789",
	"491576398", "491576801", "491577426", "491577644", "491578148",
	"491578888", "491578957", "491579212", "491579455", "491579760"
};

#define lengthof_mc(a) (sizeof(a) / sizeof((a)[0]))

/*
 * UK ranges reserved by Ofcom for drama, as the first 7 national
 * significant digits; the last 3 digits are free.
 */
#define UK_MOBILE	"7700900"	/* 07700 900xxx */
#define UK_LONDON	"2079460"	/* 020 7946 0xxx */
#define UK_GEO		"1632960"	/* 01632 960xxx */
#define UK_03		"3069990"	/* 03069 990xxx */
#define UK_FREE		"8081570"	/* 0808 157 0xxx */
#define UK_PREMIUM	"9098790"	/* 0909 879 0xxx */

/*
 * Length of the country calling code at the start of d (ITU E.164
 * zones: 1 and 7 have one digit, a known set two, the rest three).
 */
static size_t
mc_country_code_len(const char *d, size_t n)
{
	static const char *const two[] = {
		"20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41",
		"43", "44", "45", "46", "47", "48", "49", "51", "52", "53", "54",
		"55", "56", "57", "58", "60", "61", "62", "63", "64", "65", "66",
		"81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98"
	};
	size_t		i;

	if (n == 0)
		return 0;
	if (d[0] == '1' || d[0] == '7')
		return 1;
	if (n < 2)
		return n;
	for (i = 0; i < lengthof_mc(two); i++)
		if (d[0] == two[i][0] && d[1] == two[i][1])
			return 2;
	return n < 3 ? n : 3;
}

/*
 * mc_phone_parse
 *		Work out the format of a phone number from its digits.
 */
static void
mc_phone_parse(const char *in, size_t len, PhoneShape *ps)
{
	char		d[16];			/* the first digits */
	size_t		nd = 0,
				i,
				ip = 0,
				sig = 0;
	bool		plus = false,
				seen = false;

	ps->foreign = false;
	for (i = 0; i < len;)
	{
		MaskChar	ch;

		i += mc_decode(in + i, len - i, &ch);
		if (ch.cls == MC_CHAR_DIGIT || ch.cls == MC_CHAR_NUMBER)
		{
			if (nd < sizeof(d))
				d[nd] = (char) ('0' + ch.value);
			nd++;
			seen = true;
			if (ch.cp >= 0x80)
				ps->foreign = true;
		}
		else if (MC_CHAR_IS_LETTER(ch.cls))
		{
			if (ch.cp != 'x' && ch.cp != 'X')
				ps->foreign = true;
		}
		else if (ch.cls == MC_CHAR_MARK)
			ps->foreign = true;
		else if ((ch.cp == '+' || ch.cp == 0xFF0B) && !seen)
			plus = true;		/* "+" or the fullwidth plus */
	}
	ps->ndigits = nd;
	ps->format = PHONE_GENERIC;
	ps->kept = 0;
	if (nd < MC_PHONE_MIN_DIGITS)
		return;					/* no phone number: replace every digit */
	if (nd > sizeof(d))
	{
		/* too long for any national format: keep a country code */
		ps->kept = plus ? mc_country_code_len(d, sizeof(d)) : 1;
		return;
	}

	if (!plus && d[0] == '0' && d[1] == '0' && nd >= 9)
	{
		plus = true;			/* "00" international prefix */
		ip = 2;
	}

	if (plus)
	{
		size_t		n = nd - ip;
		const char *cc = d + ip;

		if (cc[0] == '1' && n == 11)
		{
			ps->format = PHONE_NANP;
			sig = ip + 1;
		}
		else if (n >= 2 && cc[0] == '4' && cc[1] == '4' &&
				 (n == 12 || (n == 13 && cc[2] == '0')))
		{
			ps->format = PHONE_UK;
			sig = ip + n - 10;
		}
		else if (n >= 2 && cc[0] == '6' && cc[1] == '1' &&
				 (n == 11 || (n == 12 && cc[2] == '0')))
		{
			ps->format = PHONE_AU;
			sig = ip + n - 9;
		}
		else
		{
			/*
			 * Keep the country code and one more digit: the format is
			 * decided by them, so the recogniser finds it in the output.
			 */
			ps->kept = ip + mc_country_code_len(cc, n) + 1;
			if (ps->kept > nd)
				ps->kept = nd;
			return;
		}
	}
	else if (nd == 10 && d[0] >= '2' && d[0] <= '9')
		ps->format = PHONE_NANP;
	else if (nd == 11 && d[0] == '1' && d[1] >= '2' && d[1] <= '9')
	{
		ps->format = PHONE_NANP;
		sig = 1;
	}
	else if (nd == 11 && d[0] == '0')
	{
		ps->format = PHONE_UK;
		sig = 1;
	}
	else if (nd == 10 && d[0] == '0' &&
			 (d[1] == '2' || d[1] == '3' || d[1] == '4' || d[1] == '7' || d[1] == '8'))
	{
		ps->format = PHONE_AU;
		sig = 1;
	}
	else
	{
		/* keep the two digits the national formats are told apart by */
		ps->kept = 2;
		return;
	}
	ps->kept = sig;
	memcpy(ps->sig, d + sig, nd - sig);
	ps->sig[nd - sig] = '\0';
}

/*
 * The UK drama range for national significant number sig.
 */
static const char *
mc_uk_range(const char *sig)
{
	switch (sig[0])
	{
		case '7':
			return UK_MOBILE;
		case '2':
			return sig[1] == '0' ? UK_LONDON : UK_GEO;
		case '3':
			return UK_03;
		case '8':
			return UK_FREE;
		case '9':
			return UK_PREMIUM;
		default:
			return UK_GEO;
	}
}

/*
 * Write the masked significant digits of a recognised number into sig
 * (same length).  "bump" moves to the next value of the range, which is
 * how a value that would come out unchanged is perturbed.
 */
static void
mc_phone_fill_sig(PhoneShape *ps, MaskStream *s, uint32_t bump, char *sig)
{
	uint32_t	v;

	switch (ps->format)
	{
		case PHONE_NANP:
			memcpy(sig, mc_nanp_areas[mc_stream_uniform(s, lengthof_mc(mc_nanp_areas))], 3);
			memcpy(sig + 3, "55501", 5);
			v = (mc_stream_uniform(s, 100) + bump) % 100;
			sig[8] = (char) ('0' + v / 10);
			sig[9] = (char) ('0' + v % 10);
			break;
		case PHONE_UK:
			memcpy(sig, mc_uk_range(ps->sig), 7);
			v = (mc_stream_uniform(s, 1000) + bump) % 1000;
			sig[7] = (char) ('0' + v / 100);
			sig[8] = (char) ('0' + v / 10 % 10);
			sig[9] = (char) ('0' + v % 10);
			break;
		case PHONE_AU:
			if (ps->sig[0] == '4')
			{
				v = (mc_stream_uniform(s, lengthof_mc(mc_au_mobiles)) + bump) %
					lengthof_mc(mc_au_mobiles);
				memcpy(sig, mc_au_mobiles[v], 9);
			}
			else
			{
				/* (0X) 5550 xxxx in the area of the input, or (02) */
				sig[0] = (ps->sig[0] == '3' || ps->sig[0] == '7' || ps->sig[0] == '8') ?
					ps->sig[0] : '2';
				memcpy(sig + 1, "5550", 4);
				v = (mc_stream_uniform(s, 10000) + bump) % 10000;
				sig[5] = (char) ('0' + v / 1000);
				sig[6] = (char) ('0' + v / 100 % 10);
				sig[7] = (char) ('0' + v / 10 % 10);
				sig[8] = (char) ('0' + v % 10);
			}
			break;
		case PHONE_GENERIC:
			break;
	}
}

/*
 * One pass of phone masking into out; returns the length written.
 */
static size_t
mc_phone_fill(const PhoneShape *ps_in, const uint64_t h[2], uint32_t bump,
			  const char *in, size_t len, char *out)
{
	PhoneShape	ps = *ps_in;
	MaskStream	s;
	char		sig[12];
	size_t		i = 0,
				o = 0,
				k = 0;
	bool		check = ps.ndigits - ps.kept >= 3;
	uint32_t	rem = 0,
				x = 0;

	mc_stream_init(&s, h);
	if (ps.format != PHONE_GENERIC)
		mc_phone_fill_sig(&ps, &s, bump, sig);

	while (i < len)
	{
		MaskChar	ch;
		size_t		l = mc_decode(in + i, len - i, &ch);
		uint32_t	dv;

		i += l;
		if (ch.cls == MC_CHAR_OTHER)
		{
			memmove(out + o, in + i - l, l);
			o += l;
			continue;
		}
		if (ch.cls == MC_CHAR_MARK)
			continue;
		if (MC_CHAR_IS_LETTER(ch.cls))
		{
			out[o++] = ch.cls == MC_CHAR_LOWER ? 'x' : 'X';
			continue;
		}
		if (k < ps.kept)
			dv = (uint32_t) ch.value;
		else if (ps.format != PHONE_GENERIC)
			dv = (uint32_t) (sig[k - ps.kept] - '0');
		else if (check && k == ps.ndigits - 2)
		{
			/* the last two digits make the whole number 42 mod 97 */
			x = (MC_PHONE_CHECK + 97 - (rem * 3) % 97) % 97;
			dv = x / 10;
		}
		else if (check && k == ps.ndigits - 1)
			dv = x % 10;
		else
		{
			dv = mc_stream_uniform(&s, 10);
			if (k == ps.kept)
				dv = (dv + bump) % 10;
		}
		rem = (rem * 10 + dv) % 97;
		out[o++] = (char) ('0' + dv);
		k++;
	}
	return o;
}

/*
 * mc_mask_phone
 *		Mask a phone number into out (len bytes); returns the length of the
 *		masked value, at most len.
 *
 * Digits of any script (ASCII, fullwidth, Arabic-Indic, Devanagari ...)
 * are read by their value and written as ASCII digits; letters of any
 * script become "x" ("X" for an upper-case letter or one without case),
 * combining marks are dropped, and every other character stays where it
 * is (spaces, dashes, brackets, "+", symbols).  The international prefix
 * ("+" or "00") and the country code are kept.  North American, UK and
 * Australian numbers (national or international form) land in the ranges
 * reserved for fiction.  Other numbers keep the digit after the country
 * code (international form) or their first two digits (national form),
 * which decide how the number is read, and get keyed digits whose value is
 * 42 modulo 97, so that mc_is_masked_phone() can tell them apart from real
 * numbers (one in 97 real numbers passes by chance).  A value with fewer
 * than five digits is no phone number: its digits are replaced without a
 * check.  The digits alone (not the punctuation, nor their script) choose
 * the pseudonym.
 */
size_t
mc_mask_phone(const MaskKey *key, const char *in, size_t len, char *out)
{
	PhoneShape	ps;
	MaskSipState st;
	uint64_t	h[2] = {0, 0};
	unsigned char buf[64];
	size_t		i,
				n = 0,
				o;

	mc_phone_parse(in, len, &ps);
	if (ps.kept < ps.ndigits)
	{
		/* the key of the number is its digits, whatever the punctuation */
		mc_siphash_init(&st, &key->sub[MC_PURPOSE_PHONE], true);
		for (i = 0; i < len;)
		{
			MaskChar	ch;

			i += mc_decode(in + i, len - i, &ch);
			if (ch.cls == MC_CHAR_DIGIT || ch.cls == MC_CHAR_NUMBER)
			{
				buf[n++] = (unsigned char) ('0' + ch.value);
				if (n == sizeof(buf))
				{
					mc_siphash_update(&st, buf, n);
					n = 0;
				}
			}
		}
		if (n > 0)
			mc_siphash_update(&st, buf, n);
		mc_siphash_final128(&st, h);
	}

	o = mc_phone_fill(&ps, h, 0, in, len, out);
	if (o == len && memcmp(out, in, len) == 0 && ps.kept < ps.ndigits)
		o = mc_phone_fill(&ps, h, 1, in, len, out);
	return o;
}

/*
 * mc_is_masked_phone
 *		Could the value have come out of mc_mask_phone()?  Keyless.  A digit
 *		that is not ASCII, a letter other than "x" or "X", or a combining
 *		mark is never written by the masker.
 */
bool
mc_is_masked_phone(const char *in, size_t len)
{
	PhoneShape	ps;
	size_t		i,
				k = 0;
	uint32_t	rem = 0;

	mc_phone_parse(in, len, &ps);
	if (ps.foreign)
		return false;
	if (ps.ndigits < MC_PHONE_MIN_DIGITS)
		return true;
	switch (ps.format)
	{
		case PHONE_NANP:
			return ps.sig[0] >= '2' && ps.sig[0] <= '9' &&
				memcmp(ps.sig + 3, "55501", 5) == 0;
		case PHONE_UK:
			return memcmp(ps.sig, mc_uk_range(ps.sig), 7) == 0;
		case PHONE_AU:
			if (ps.sig[0] == '4')
			{
				for (i = 0; i < lengthof_mc(mc_au_mobiles); i++)
					if (memcmp(ps.sig, mc_au_mobiles[i], 9) == 0)
						return true;
				return false;
			}
			return (ps.sig[0] == '2' || ps.sig[0] == '3' || ps.sig[0] == '7' ||
					ps.sig[0] == '8') && memcmp(ps.sig + 1, "5550", 4) == 0;
		case PHONE_GENERIC:
			break;
	}
	if (ps.ndigits - ps.kept < 3)
		return true;
	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) in[i];

		if (mc_isdigit(c))
		{
			rem = (rem * 10 + (uint32_t) (c - '0')) % 97;
			k++;
		}
	}
	return rem == MC_PHONE_CHECK;
}

/* ---- Identifiers: a keyed format-preserving permutation ---- */

#define MC_ID_ROUNDS 8

/* In the compact form of an identifier, this bit marks a letter. */
#define MC_ID_LETTER 0x80

/*
 * Draw a value below the radix of compact symbol v (10 for a digit, 26
 * for a letter) from a random chunk of bits bits, by multiply-shift.
 * With 12-bit chunks the most likely value is at most 0.6% more likely
 * than the least; the permutation is a bijection whatever the draws.
 */
static inline unsigned char
mc_id_draw(unsigned char v, uint32_t chunk, int bits)
{
	return (unsigned char) (((v & MC_ID_LETTER) ? chunk * 26 : chunk * 10) >> bits);
}

/* Add x to compact symbol v modulo its radix (sign < 0: subtract). */
static inline unsigned char
mc_id_add(unsigned char v, unsigned char x, int sign)
{
	unsigned char flag = v & MC_ID_LETTER;
	unsigned char r = flag ? 26 : 10;
	unsigned char s = (unsigned char) (v & ~MC_ID_LETTER);

	if (sign > 0)
		s = (unsigned char) (s + x >= r ? s + x - r : s + x);
	else
		s = (unsigned char) (s >= x ? s - x : s + r - x);
	return (unsigned char) (flag | s);
}

/*
 * SipHash-2-4 (64-bit output) of the tweak, a round number and a half of
 * the symbols.  tweaked has absorbed the tweak, a multiple of 8 bytes.
 * Short halves, the usual case, take an inlined single-block path.
 */
static inline uint64_t
mc_id_prf(const MaskSipState *tweaked, unsigned char round,
		  const unsigned char *src, size_t nsrc)
{
	if (nsrc <= 6)
	{
		uint64_t	b = ((tweaked->total + 1 + nsrc) << 56) | round;
		uint64_t	v0 = tweaked->v0,
					v1 = tweaked->v1,
					v2 = tweaked->v2,
					v3 = tweaked->v3;
		size_t		i;

		for (i = 0; i < nsrc; i++)
			b |= (uint64_t) src[i] << (8 * (i + 1));
		v3 ^= b;
		MC_SIPROUND(v0, v1, v2, v3);
		MC_SIPROUND(v0, v1, v2, v3);
		v0 ^= b;
		v2 ^= 0xff;
		MC_SIPROUND(v0, v1, v2, v3);
		MC_SIPROUND(v0, v1, v2, v3);
		MC_SIPROUND(v0, v1, v2, v3);
		MC_SIPROUND(v0, v1, v2, v3);
		return v0 ^ v1 ^ v2 ^ v3;
	}
	else
	{
		MaskSipState st = *tweaked;

		mc_siphash_update(&st, &round, 1);
		mc_siphash_update(&st, src, nsrc);
		return mc_siphash_final64(&st);
	}
}

/*
 * The Feistel round function: add (sign > 0) or subtract the keyed
 * stream F(tweak, round, src) to dst, symbol by symbol, modulo each
 * symbol's radix.
 */
static void
mc_id_round(const MaskSipState *tweaked, unsigned char round,
			const unsigned char *src, size_t nsrc,
			unsigned char *dst, size_t ndst, int sign)
{
	uint64_t	w = mc_id_prf(tweaked, round, src, nsrc);
	size_t		i;

	if (ndst <= 5)
	{
		/* up to five 12-bit chunks of one 64-bit output */
		for (i = 0; i < ndst; i++, w >>= 12)
			dst[i] = mc_id_add(dst[i], mc_id_draw(dst[i], (uint32_t) (w & 0xfff), 12), sign);
	}
	else
	{
		/* a stream seeded with two outputs */
		uint64_t	h[2];
		MaskStream	s;

		h[0] = w;
		h[1] = mc_id_prf(tweaked, (unsigned char) (round | 0x40), src, nsrc);
		mc_stream_init(&s, h);
		for (i = 0; i < ndst; i++)
			dst[i] = mc_id_add(dst[i], mc_id_draw(dst[i], mc_stream_next(&s), 16), sign);
	}
}

/* The permutation P (forward) or P^-1 on n compact symbols v. */
static void
mc_id_permute(const MaskSipState *tweaked, unsigned char *v, size_t n,
			  bool forward)
{
	size_t		na = (n + 1) / 2;
	int			r;

	for (r = 0; r < MC_ID_ROUNDS; r++)
	{
		int			round = forward ? r : MC_ID_ROUNDS - 1 - r;
		int			sign = forward ? 1 : -1;

		if (round % 2 == 0)
			mc_id_round(tweaked, (unsigned char) round, v + na, n - na, v, na, sign);
		else
			mc_id_round(tweaked, (unsigned char) round, v, na, v + na, n - na, sign);
	}
}

/*
 * Add (delta = 1) or subtract (delta = -1) one to the symbols read as a
 * mixed-radix number, wrapping around.  No value is its own successor
 * when there are at least two values.
 */
static void
mc_id_step(unsigned char *v, size_t n, int delta)
{
	while (n > 0)
	{
		unsigned char *p = &v[--n];
		unsigned char before = *p;

		*p = mc_id_add(*p, 1, delta);
		if ((delta > 0 && (*p & ~MC_ID_LETTER) > (before & ~MC_ID_LETTER)) ||
			(delta < 0 && (*p & ~MC_ID_LETTER) < (before & ~MC_ID_LETTER)))
			return;				/* no carry */
	}
}

/*
 * Gather the symbols of in, in compact form, at the end of out (one byte
 * per symbol: its value, plus MC_ID_LETTER for a letter), and start the
 * keyed hash with the tweak.  Returns the number of symbols n; *outlen is
 * the length the masked value will have.
 *
 * Symbols are the letters, digits and numbers of any script (see
 * mc_utf8_next).  An ASCII letter has its place in the alphabet, without
 * case; a digit of any script its value, so "１２３" is read as "123"; every
 * other symbol (a letter of another script, a number such as "½") the
 * value of its code point modulo its radix.  The tweak is the sequence of
 * symbol classes, digit or letter, one bit each, and their number; when
 * the value holds symbols that are not ASCII letters or digits, or
 * combining marks, a keyed hash of their code points and places follows,
 * so that such values get a permutation of their own.  The tweak is
 * padded with zeros to a multiple of 8 bytes: an identifier gets the same
 * digits and letters whatever its punctuation or case.
 */
static size_t
mc_id_setup(const MaskKey *key, const char *in, size_t len, char *out,
			MaskSipState *tweaked, size_t *outlen)
{
	static const unsigned char zeros[8] = {0};
	unsigned char buf[64];
	unsigned char eb[64];
	MaskSipState extra;
	size_t		i = 0,
				n = 0,
				nb = 0,
				ne = 0,
				kept = 0;
	unsigned char bits = 0;
	bool		has_extra = false;
	uint64_t	n64;

	mc_siphash_init(tweaked, &key->sub[MC_PURPOSE_ID], false);
	mc_siphash_init(&extra, &key->sub[MC_PURPOSE_ID], true);
	while (i < len)
	{
		MaskChar	ch;
		uint32_t	note = 0;	/* code point to put into the tweak, + 1 */

		i += mc_decode(in + i, len - i, &ch);
		switch (ch.cls)
		{
			case MC_CHAR_OTHER:
				kept += ch.len;
				continue;
			case MC_CHAR_MARK:
				note = (ch.cp + 1) | UINT32_C(0x80000000);
				break;
			case MC_CHAR_DIGIT:
				out[n] = (char) ch.value;
				break;
			case MC_CHAR_NUMBER:
				out[n] = (char) (ch.cp % 10);
				note = ch.cp + 1;
				break;
			case MC_CHAR_UPPER:
			case MC_CHAR_LOWER:
			case MC_CHAR_LETTER:
				if (ch.cp < 0x80)
					out[n] = (char) (MC_ID_LETTER | (mc_tolower((unsigned char) ch.cp) - 'a'));
				else
				{
					out[n] = (char) (MC_ID_LETTER | (ch.cp % 26));
					note = ch.cp + 1;
				}
				bits |= (unsigned char) (1 << (n % 8));
				break;
		}
		if (note != 0)
		{
			/* the place (symbols before it) and the code point */
			uint64_t	e = ((uint64_t) n << 32) | note;

			mc_store64_le(eb + ne, e);
			ne += 8;
			if (ne == sizeof(eb))
			{
				mc_siphash_update(&extra, eb, ne);
				ne = 0;
			}
			has_extra = true;
		}
		if (ch.cls == MC_CHAR_MARK)
			continue;
		n++;
		if (n % 8 == 0)
		{
			buf[nb++] = bits;
			bits = 0;
			if (nb == sizeof(buf))
			{
				mc_siphash_update(tweaked, buf, nb);
				nb = 0;
			}
		}
	}
	if (n % 8 != 0)
		buf[nb++] = bits;
	if (nb > 0)
		mc_siphash_update(tweaked, buf, nb);
	n64 = n;
	mc_siphash_update(tweaked, &n64, sizeof(n64));
	if (has_extra)
	{
		uint64_t	h[2];
		unsigned char hb[16];

		if (ne > 0)
			mc_siphash_update(&extra, eb, ne);
		mc_siphash_final128(&extra, h);
		mc_store64_le(hb, h[0]);
		mc_store64_le(hb + 8, h[1]);
		mc_siphash_update(tweaked, hb, sizeof(hb));
	}
	if (tweaked->ntail > 0)
		mc_siphash_update(tweaked, zeros, (size_t) (8 - tweaked->ntail));

	/* every symbol and every kept byte comes from at least one input byte */
	memmove(out + len - n, out, n);
	*outlen = n + kept;
	return n;
}

/*
 * Write the masked value: each symbol of the input as the matching
 * compact symbol (at the end of out) in ASCII, a digit as a digit, a
 * letter as a letter of the input's case (upper case for a letter without
 * case), combining marks dropped, every other character copied.  Output
 * position o of symbol k never passes the place of compact symbol k, which
 * is read before it is overwritten.  Returns the length.
 */
static size_t
mc_id_finish(const char *in, size_t len, size_t n, char *out)
{
	const unsigned char *sym = (const unsigned char *) out + len - n;
	size_t		i = 0,
				o = 0,
				k = 0;

	while (i < len)
	{
		MaskChar	ch;
		size_t		l = mc_decode(in + i, len - i, &ch);
		unsigned char v;

		if (ch.cls == MC_CHAR_OTHER)
		{
			memmove(out + o, in + i, l);
			o += l;
		}
		else if (ch.cls != MC_CHAR_MARK)
		{
			v = sym[k++] & (unsigned char) ~MC_ID_LETTER;
			if (ch.cls == MC_CHAR_DIGIT || ch.cls == MC_CHAR_NUMBER)
				out[o++] = (char) ('0' + v);
			else if (ch.cls == MC_CHAR_LOWER)
				out[o++] = (char) ('a' + v);
			else
				out[o++] = (char) ('A' + v);
		}
		i += l;
	}
	return o;
}

/*
 * mc_mask_id
 *		Mask an identifier into out (len bytes); returns the length of the
 *		masked value, at most len.
 *
 * Every letter of any script becomes an ASCII letter (of the same case; a
 * letter without case, such as a Chinese character, an upper-case one),
 * every digit or number of any script an ASCII digit, combining marks are
 * dropped, and every other character (spaces, punctuation, symbols) stays
 * in place: the value keeps its shape and holds no letter or digit of its
 * own script.  For ASCII identifiers of one shape this is a keyed
 * permutation Q(x) = P(P^-1(x) + 1): distinct inputs give distinct outputs
 * (so UNIQUE constraints survive), and no output equals its input (letters
 * compared without case); values with other letters are permuted among
 * those with the same such letters in the same places.  A value without
 * letters, digits or marks is returned unchanged.
 */
size_t
mc_mask_id(const MaskKey *key, const char *in, size_t len, char *out)
{
	MaskSipState tweaked;
	size_t		outlen;
	size_t		n = mc_id_setup(key, in, len, out, &tweaked, &outlen);
	unsigned char *v = (unsigned char *) out + len - n;

	if (n > 0)
	{
		mc_id_permute(&tweaked, v, n, false);
		mc_id_step(v, n, 1);
		mc_id_permute(&tweaked, v, n, true);
	}
	return mc_id_finish(in, len, n, out);
}

/*
 * mc_unmask_id
 *		The inverse of mc_mask_id() on ASCII values, for the unit tests
 *		only: it is not offered in SQL.
 */
size_t
mc_unmask_id(const MaskKey *key, const char *in, size_t len, char *out)
{
	MaskSipState tweaked;
	size_t		outlen;
	size_t		n = mc_id_setup(key, in, len, out, &tweaked, &outlen);
	unsigned char *v = (unsigned char *) out + len - n;

	if (n > 0)
	{
		mc_id_permute(&tweaked, v, n, false);
		mc_id_step(v, n, -1);
		mc_id_permute(&tweaked, v, n, true);
	}
	return mc_id_finish(in, len, n, out);
}

/*
 * Does the value hold only characters a shape-keeping masker may write:
 * ASCII, and characters that are neither letters nor digits nor marks?
 */
static bool
mc_only_ascii_symbols(const char *in, size_t len)
{
	size_t		i = 0;

	if (mc_is_ascii(in, len))
		return true;
	while (i < len)
	{
		MaskChar	ch;

		if ((unsigned char) in[i] < 0x80)
		{
			i++;
			continue;
		}
		i += mc_decode(in + i, len - i, &ch);
		if (ch.cls != MC_CHAR_OTHER)
			return false;
	}
	return true;
}

/*
 * mc_is_masked_id
 *		Could the value have come out of mc_mask_id()?  Keyless: a masked
 *		identifier has the form of a real ASCII one, so this refuses only
 *		what mc_mask_id() never writes, a letter, digit or mark that is not
 *		ASCII (or a byte that is not UTF-8).
 */
bool
mc_is_masked_id(const char *in, size_t len)
{
	return mc_only_ascii_symbols(in, len);
}

/* ---- Names ---- */

/*
 * The hash of a word of at most 16 bytes, zero-padded, given as two
 * little-endian 64-bit words; src/mask_dictionaries.py computes it the
 * same way to build the mc_*_slots tables.
 */
static inline uint64_t
mc_dict_hash(uint64_t lo, uint64_t hi)
{
	uint64_t	h = lo * UINT64_C(0x9E3779B97F4A7C15) + hi * UINT64_C(0xC2B2AE3D27D4EB4F);

	return h ^ (h >> 29);
}

/*
 * Is [w, w + len) an entry of a dictionary?  One probe of its hash table,
 * rarely more.
 */
static bool
mc_in_dictionary(const char *const *dict, const uint16_t *slots, size_t nslots,
				 const char *w, size_t len)
{
	const unsigned char *u = (const unsigned char *) w;
	uint64_t	k[2] = {0, 0};
	size_t		i,
				j;
	uint16_t	idx;

	if (len == 0 || len > MC_MAX_WORD_LEN)
		return false;
	/* the zero-padded key; no entry holds a NUL */
	for (i = 0; i < len; i++)
	{
		if (u[i] == '\0')
			return false;
		k[i >> 3] |= (uint64_t) u[i] << (8 * (i & 7));
	}
	j = (size_t) mc_dict_hash(k[0], k[1]) & (nslots - 1);
	while ((idx = slots[j]) != 0)
	{
		const char *e = dict[idx - 1];

		/* e[len] is read only when e has at least len characters */
		for (i = 0; i < len && e[i] == w[i]; i++)
			;
		if (i == len && e[len] == '\0')
			return true;
		j = (j + 1) & (nslots - 1);
	}
	return false;
}

/* The arguments of mc_in_dictionary() that name dictionary "name". */
#define MC_DICT(name) mc_##name, mc_##name##_slots, mc_n_##name##_slots

/*
 * Pick a dictionary entry for a name: keyed hash of the trimmed,
 * lower-cased name, never the name itself.  Writes the entry to out and
 * returns its length.
 */
static size_t
mc_pick_name(const MaskKey *key, unsigned char tag, const char *const *dict,
			 size_t n, const char *in, size_t len, char *out)
{
	uint64_t	h[2];
	size_t		idx,
				wl;

	mc_trim(&in, &len);
	mc_hash_lower(&key->sub[MC_PURPOSE_NAME], tag, in, len, h);
	idx = (size_t) (h[0] % n);
	wl = strlen(dict[idx]);
	if (mc_equal_ci(dict[idx], wl, in, len))
	{
		idx = (idx + 1) % n;
		wl = strlen(dict[idx]);
	}
	memcpy(out, dict[idx], wl);
	return wl;
}

/*
 * mc_name_out_len
 *		Room needed for a masked name of an input of len bytes.
 */
size_t
mc_name_out_len(size_t len)
{
	/* every word of the input gives at most one word and two separators */
	return (len / 2 + 1) * (MC_MAX_WORD_LEN + 2) + 2;
}

/* Is the value empty or only white space? */
static bool
mc_blank(const char *in, size_t len)
{
	mc_trim(&in, &len);
	return len == 0;
}

/*
 * mc_mask_first_name
 *		A given name from the dictionary; "" for a blank value.
 */
size_t
mc_mask_first_name(const MaskKey *key, const char *in, size_t len, char *out)
{
	if (mc_blank(in, len))
		return 0;
	return mc_pick_name(key, 'F', mc_first_names, mc_n_first_names, in, len, out);
}

/*
 * mc_mask_last_name
 *		A surname from the dictionary; "" for a blank value.
 */
size_t
mc_mask_last_name(const MaskKey *key, const char *in, size_t len, char *out)
{
	if (mc_blank(in, len))
		return 0;
	return mc_pick_name(key, 'L', mc_last_names, mc_n_last_names, in, len, out);
}

/*
 * Mask each white-space separated word of in as a given name, writing
 * them separated by single spaces (with a leading space if lead).
 */
static size_t
mc_mask_given_words(const MaskKey *key, const char *in, size_t len, bool lead,
					char *out)
{
	size_t		i = 0,
				o = 0;

	while (i < len)
	{
		size_t		start;

		while (i < len && mc_isspace((unsigned char) in[i]))
			i++;
		if (i == len)
			break;
		start = i;
		while (i < len && !mc_isspace((unsigned char) in[i]))
			i++;
		if (o > 0 || lead)
			out[o++] = ' ';
		o += mc_pick_name(key, 'F', mc_first_names, mc_n_first_names,
						  in + start, i - start, out + o);
	}
	return o;
}

/*
 * mc_mask_full_name
 *		Mask a full name word by word, keeping its form.
 *
 * "Given [Middle ...] Family" gives given names for all words but the
 * last and a surname for the last; "Family, Given ..." (with a comma)
 * gives a surname for the part before the first comma and given names
 * for the words after it; a single word gives a given name.  Each word
 * maps as mc_mask_first_name() / mc_mask_last_name() map it, so a full
 * name stays consistent with separate name columns.  "" for a blank
 * value.
 */
size_t
mc_mask_full_name(const MaskKey *key, const char *in, size_t len, char *out)
{
	const char *comma;
	size_t		o,
				end,
				last;

	mc_trim(&in, &len);
	if (len == 0)
		return 0;

	comma = memchr(in, ',', len);
	if (comma != NULL)
	{
		size_t		cl = (size_t) (comma - in);

		o = mc_pick_name(key, 'L', mc_last_names, mc_n_last_names, in, cl, out);
		out[o++] = ',';
		o += mc_mask_given_words(key, comma + 1, len - cl - 1, true, out + o);
		return o;
	}

	/* find the last word */
	end = len;
	last = end;
	while (last > 0 && !mc_isspace((unsigned char) in[last - 1]))
		last--;
	if (last == 0)
		return mc_pick_name(key, 'F', mc_first_names, mc_n_first_names, in, len, out);
	o = mc_mask_given_words(key, in, last, false, out);
	out[o++] = ' ';
	o += mc_pick_name(key, 'L', mc_last_names, mc_n_last_names,
					  in + last, len - last, out + o);
	return o;
}

/*
 * mc_is_masked_first_name
 *		Is the value a dictionary given name (or empty)?  Keyless.
 */
bool
mc_is_masked_first_name(const char *in, size_t len)
{
	return len == 0 || mc_in_dictionary(MC_DICT(first_names), in, len);
}

/*
 * mc_is_masked_last_name
 *		Is the value a dictionary surname (or empty)?  Keyless.
 */
bool
mc_is_masked_last_name(const char *in, size_t len)
{
	return len == 0 || mc_in_dictionary(MC_DICT(last_names), in, len);
}

/*
 * Are all the single-space separated words of [in, in + len) given
 * names?  lead: the words start with a space.
 */
static bool
mc_all_given(const char *in, size_t len, bool lead)
{
	size_t		i = 0;

	while (i < len)
	{
		size_t		start;

		if (lead || i > 0)
		{
			if (in[i] != ' ')
				return false;
			i++;
		}
		start = i;
		while (i < len && in[i] != ' ')
			i++;
		if (!mc_in_dictionary(MC_DICT(first_names), in + start, i - start))
			return false;
	}
	return true;
}

/*
 * mc_is_masked_full_name
 *		Does the value have a form mc_mask_full_name() produces?  Keyless.
 */
bool
mc_is_masked_full_name(const char *in, size_t len)
{
	const char *comma;
	const char *sp;
	size_t		last;

	if (len == 0)
		return true;
	comma = memchr(in, ',', len);
	if (comma != NULL)
	{
		size_t		cl = (size_t) (comma - in);

		return mc_in_dictionary(MC_DICT(last_names), in, cl) &&
			mc_all_given(comma + 1, len - cl - 1, true);
	}
	sp = memchr(in, ' ', len);
	if (sp == NULL)
		return mc_in_dictionary(MC_DICT(first_names), in, len);
	last = len;
	while (in[last - 1] != ' ')
		last--;
	return mc_in_dictionary(MC_DICT(last_names), in + last, len - last) &&
		mc_all_given(in, last - 1, false);
}

/* ---- Addresses ---- */

/* Append a NUL-terminated string; returns the new length. */
static size_t
mc_append(char *out, size_t o, const char *s)
{
	size_t		n = strlen(s);

	memcpy(out + o, s, n);
	return o + n;
}

/*
 * mc_mask_address
 *		A made-up street address, "<number> <Street> <Type>, <Town>", at
 *		most MC_ADDRESS_MAX_LEN bytes.
 *
 * The input is trimmed and lower-cased before hashing, so one address
 * written in different cases gives one pseudonym.  The output is
 * entirely drawn from the keyed hash: nothing of the input survives.
 */
size_t
mc_mask_address(const MaskKey *key, const char *in, size_t len, char *out)
{
	uint64_t	h[2];
	MaskStream	s;
	uint32_t	number;
	size_t		o;
	char		num[8];
	int			nl = 0;
	uint32_t	bump = 0;

	mc_trim(&in, &len);
	mc_hash_lower(&key->sub[MC_PURPOSE_ADDRESS], 'A', in, len, h);
	for (;;)
	{
		mc_stream_init(&s, h);
		/* house numbers: mostly small */
		number = 1 + mc_stream_uniform(&s, mc_stream_uniform(&s, 2) ? 199 : 1999);
		number = (number + bump - 1) % 1999 + 1;
		nl = 0;
		do
		{
			num[nl++] = (char) ('0' + number % 10);
			number /= 10;
		} while (number > 0);
		o = 0;
		while (nl > 0)
			out[o++] = num[--nl];
		out[o++] = ' ';
		o = mc_append(out, o, mc_street_names[mc_stream_uniform(&s, (uint32_t) mc_n_street_names)]);
		out[o++] = ' ';
		o = mc_append(out, o, mc_street_types[mc_stream_uniform(&s, (uint32_t) mc_n_street_types)]);
		out[o++] = ',';
		out[o++] = ' ';
		o = mc_append(out, o, mc_cities[mc_stream_uniform(&s, (uint32_t) mc_n_cities)]);
		if (!mc_equal_ci(out, o, in, len))
			break;
		bump++;
	}
	return o;
}

/*
 * mc_is_masked_address
 *		Does the value have the form of a masked address?  Keyless.
 */
bool
mc_is_masked_address(const char *in, size_t len)
{
	size_t		i = 0,
				start;

	while (i < len && mc_isdigit((unsigned char) in[i]))
		i++;
	if (i == 0 || i > 4 || in[0] == '0' || i == len || in[i] != ' ')
		return false;
	start = ++i;
	while (i < len && in[i] != ' ')
		i++;
	if (i == len || !mc_in_dictionary(MC_DICT(street_names), in + start, i - start))
		return false;
	start = ++i;
	while (i < len && in[i] != ',')
		i++;
	if (i + 1 >= len || in[i + 1] != ' ' ||
		!mc_in_dictionary(MC_DICT(street_types), in + start, i - start))
		return false;
	i += 2;
	return mc_in_dictionary(MC_DICT(cities), in + i, len - i);
}

/* ---- Free text ---- */

/*
 * mc_text_out_len
 *		Room needed for a masked text of nchars characters.
 */
size_t
mc_text_out_len(size_t nchars)
{
	return nchars + MC_MAX_WORD_LEN + 2;
}

/*
 * A fast generator of random bits for the text masker: SplitMix64 (Steele,
 * Lea and Flood), seeded with the keyed hash of the text, handing out 16
 * bits at a time.  Knowing its state reveals only that hash, which is
 * what the masked text is a function of anyway.
 */
typedef struct MaskTextRng
{
	uint64_t	state;
	uint64_t	bits;
	int			left;			/* 16-bit chunks left in bits */
} MaskTextRng;

/* A value in [0, n) for n <= 65536, by multiply-shift (no division). */
static inline uint32_t
mc_text_draw(MaskTextRng *r, uint32_t n)
{
	uint32_t	v;

	if (r->left == 0)
	{
		uint64_t	z = (r->state += UINT64_C(0x9E3779B97F4A7C15));

		z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
		z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
		r->bits = z ^ (z >> 31);
		r->left = 4;
	}
	v = (uint32_t) (r->bits & 0xffff);
	r->bits >>= 16;
	r->left--;
	return (v * n) >> 16;
}

/*
 * A word no longer than room (room >= 2: the list has 2-letter words):
 * the drawn one, or the next that fits.
 */
static size_t
mc_text_word(MaskTextRng *r, size_t room)
{
	size_t		idx = mc_text_draw(r, (uint32_t) mc_n_text_words);
	size_t		tries;

	if (mc_text_word_lens[idx] <= room)
		return idx;
	for (tries = 1; tries < mc_n_text_words; tries++)
	{
		size_t		j = (idx + tries) % mc_n_text_words;

		if (mc_text_word_lens[j] <= room)
			return j;
	}
	return idx;					/* not reached */
}

/*
 * mc_mask_text
 *		Replace free text by made-up Latin-looking sentences of about the
 *		same length: nchars characters of input (the caller counts them in
 *		its encoding) give between nchars - 2 and nchars ASCII characters,
 *		and at least one word.  out must have room for
 *		mc_text_out_len(nchars) bytes.
 *
 * The words come from a fixed list of lorem-ipsum words (which avoids
 * words that are also common English words), chosen by a generator seeded
 * with a keyed hash of the whole input: no word of the input is copied.
 * Each word is written as the 16 bytes of its zero-padded key and then
 * overwritten by what follows, which is why out has room for a word more
 * than the text.  Empty text stays empty.
 */
size_t
mc_mask_text(const MaskKey *key, const char *in, size_t len, size_t nchars,
			 char *out)
{
	uint64_t	h[2];
	MaskTextRng r;
	unsigned char *o8 = (unsigned char *) out;
	size_t		o = 0;
	int			sentence_left = 0;
	bool		capital = true;

	if (nchars == 0)
		return 0;
	mc_siphash128(&key->sub[MC_PURPOSE_TEXT], in, len, h);
	r.state = h[0] ^ (h[1] << 1);
	r.bits = 0;
	r.left = 0;

	/*
	 * While any word, a full stop and a space fit, one random word per
	 * step with few branches: 16 bits choose the word, 16 more the length
	 * of the next sentence.
	 */
	sentence_left = 4 + (int) mc_text_draw(&r, 10);
	while (o + MC_MAX_WORD_LEN + 4 <= nchars)
	{
		uint64_t	z = (r.state += UINT64_C(0x9E3779B97F4A7C15));
		size_t		idx;

		z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
		z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
		z ^= z >> 31;
		if (o > 0)
			o8[o++] = ' ';
		idx = (size_t) (((z & 0xffff) * (uint64_t) mc_n_text_words) >> 16);
		mc_store64_le(o8 + o, mc_text_word_keys[idx][0]);
		mc_store64_le(o8 + o + 8, mc_text_word_keys[idx][1]);
		o8[o] &= (unsigned char) ~(capital ? 0x20 : 0);
		o += mc_text_word_lens[idx];
		capital = --sentence_left == 0;
		if (capital)
		{
			o8[o++] = '.';
			sentence_left = 4 + (int) ((((z >> 16) & 0xffff) * 10) >> 16);
		}
	}
	if (capital)
		sentence_left = 0;

	/* the last words, as many as fit */
	for (;;)
	{
		size_t		room = nchars > o ? nchars - o : 0;
		size_t		idx,
					wl;

		if (o > 0)
		{
			/* room for a space and a word of at least two letters? */
			if (room < 3)
				break;
			o8[o++] = ' ';
			room--;
		}
		if (sentence_left == 0)
			sentence_left = 4 + (int) mc_text_draw(&r, 10);
		idx = mc_text_word(&r, room < 2 ? 2 : room);
		wl = mc_text_word_lens[idx];
		mc_store64_le(o8 + o, mc_text_word_keys[idx][0]);
		mc_store64_le(o8 + o + 8, mc_text_word_keys[idx][1]);
		if (capital)
			o8[o] = (unsigned char) (o8[o] - ('a' - 'A'));
		o += wl;
		capital = false;
		sentence_left--;

		/* a full stop ends a sentence, and the text when no word fits */
		room = nchars > o ? nchars - o : 0;
		if (room >= 1 && (room < 3 || sentence_left == 0))
		{
			o8[o++] = '.';
			capital = true;
			sentence_left = 0;
		}
	}

	/* never the original: toggle the case of the first letter */
	if (o == len && memcmp(out, in, len) == 0)
		out[0] = (char) (out[0] ^ 0x20);
	return o;
}

/* The bytes of the first l of 16 bytes, as two 64-bit masks (0 <= l <= 16). */
static const uint64_t mc_text_mask[17][2] = {
	{0, 0},
	{UINT64_C(0x00000000000000ff), 0},
	{UINT64_C(0x000000000000ffff), 0},
	{UINT64_C(0x0000000000ffffff), 0},
	{UINT64_C(0x00000000ffffffff), 0},
	{UINT64_C(0x000000ffffffffff), 0},
	{UINT64_C(0x0000ffffffffffff), 0},
	{UINT64_C(0x00ffffffffffffff), 0},
	{~UINT64_C(0), 0},
	{~UINT64_C(0), UINT64_C(0x00000000000000ff)},
	{~UINT64_C(0), UINT64_C(0x000000000000ffff)},
	{~UINT64_C(0), UINT64_C(0x0000000000ffffff)},
	{~UINT64_C(0), UINT64_C(0x00000000ffffffff)},
	{~UINT64_C(0), UINT64_C(0x000000ffffffffff)},
	{~UINT64_C(0), UINT64_C(0x0000ffffffffffff)},
	{~UINT64_C(0), UINT64_C(0x00ffffffffffffff)},
	{~UINT64_C(0), ~UINT64_C(0)},
};

/*
 * The slot of a text word's key in mc_text_word_index; src/mask_dictionaries.py
 * computes it the same way to find a seed that gives every word a slot of
 * its own.
 */
static inline size_t
mc_text_slot(uint64_t lo, uint64_t hi)
{
	uint64_t	x = (lo ^ mc_text_word_seed) * UINT64_C(0xD6E8FEB86659FD93) + hi;

	return (size_t) ((x * UINT64_C(0x9E3779B97F4A7C15)) >> (64 - MC_TEXT_INDEX_BITS));
}

/*
 * Is [p + s, p + e) a list word, with an optional full stop and first
 * letter in upper case?  len is the length of the whole value, which may
 * be read up to 16 bytes from s.
 */
static inline bool
mc_text_word_ok(const unsigned char *p, size_t len, size_t s, size_t e)
{
	size_t		wl = e - s,
				l;
	uint64_t	lo,
				hi;
	uint8_t		idx;

	if (wl == 0 || wl > 16)
		return false;
	if (len - s >= 16)
	{
		lo = mc_load64_le(p + s);
		hi = mc_load64_le(p + s + 8);
	}
	else
	{
		unsigned char buf[16];

		memset(buf, 0, sizeof(buf));
		memcpy(buf, p + s, len - s);
		lo = mc_load64_le(buf);
		hi = mc_load64_le(buf + 8);
	}

	/* without its full stop, zero-padded, first letter lower-cased */
	l = wl - (p[e - 1] == '.');
	if (l == 0 || l > MC_MAX_WORD_LEN)
		return false;
	lo &= mc_text_mask[l][0];
	hi &= mc_text_mask[l][1];
	lo |= (uint64_t) ((unsigned char) ((lo & 0xff) - 'A') < 26) << 5;

	idx = mc_text_word_index[mc_text_slot(lo, hi)];
	return idx != 0 && mc_text_word_keys[idx - 1][0] == lo && mc_text_word_keys[idx - 1][1] == hi;
}

/*
 * mc_is_masked_text
 *		Is the value made of list words, as mc_mask_text() writes them?
 *		Keyless.
 *
 * The words are single-space separated, may end with a full stop and
 * start with a capital.  The spaces of each 64 bytes are found at once,
 * as a bit mask, so that finding the next word never waits for the
 * lookup of the previous one; each word, zero-padded like the keys of
 * the list, is looked up in the list's hash table.
 */
bool
mc_is_masked_text(const char *in, size_t len)
{
	const unsigned char *p = (const unsigned char *) in;
#ifndef MC_USE_SSE2
	const uint64_t lows = UINT64_C(0x7F7F7F7F7F7F7F7F);
#endif
	size_t		start = 0,
				base;

	if (len == 0)
		return true;
	for (base = 0; base < len; base += 64)
	{
		uint64_t	m = 0;
		size_t		k;

		if (len - base >= 64)
		{
#ifdef MC_USE_SSE2
			const __m128i spaces = _mm_set1_epi8(' ');

			for (k = 0; k < 4; k++)
			{
				__m128i		v = _mm_loadu_si128((const __m128i *) (const void *) (p + base + 16 * k));

				m |= (uint64_t) (uint32_t) _mm_movemask_epi8(_mm_cmpeq_epi8(v, spaces)) << (16 * k);
			}
#else
			for (k = 0; k < 8; k++)
			{
				/* the high bit of each byte that is a space, exactly */
				uint64_t	t = mc_load64_le(p + base + 8 * k) ^ (MC_ONES * ' ');
				uint64_t	z = ~(((t & lows) + lows) | t | lows);

				m |= (((z >> 7) * UINT64_C(0x0102040810204080)) >> 56) << (8 * k);
			}
#endif
		}
		else
		{
			for (k = 0; base + k < len; k++)
				if (p[base + k] == ' ')
					m |= UINT64_C(1) << k;
		}
		while (m != 0)
		{
			size_t		pos = base + (size_t) mc_ctz64(m);

			m &= m - 1;
			if (!mc_text_word_ok(p, len, start, pos))
				return false;
			start = pos + 1;
		}
	}
	return mc_text_word_ok(p, len, start, len);
}

/* ---- Dates ---- */

/*
 * mc_mask_date
 *		Move a date by a keyed offset of 1 to window days, either way,
 *		keeping it before today and not before min_day.
 *
 * Dates are days since any fixed epoch.  The offset depends on the date
 * alone (and the key), so one birth date always moves to the same date;
 * a value near today, or in the future, is moved backwards instead.  The
 * result never equals the input.
 */
int32_t
mc_mask_date(const MaskKey *key, int32_t day, int32_t today, int32_t window,
			 int32_t min_day)
{
	unsigned char b[4];
	uint64_t	h;
	int64_t		mag,
				cand;

	if (window < 1)
		window = 1;
	b[0] = (unsigned char) ((uint32_t) day);
	b[1] = (unsigned char) ((uint32_t) day >> 8);
	b[2] = (unsigned char) ((uint32_t) day >> 16);
	b[3] = (unsigned char) ((uint32_t) day >> 24);
	h = mc_siphash64(&key->sub[MC_PURPOSE_DATE], b, sizeof(b));
	mag = 1 + (int64_t) (h % (uint64_t) window);

	cand = (h >> 63) ? (int64_t) day + mag : (int64_t) day - mag;
	if (cand >= today)
		cand = (int64_t) day - mag;
	if (cand >= today)
		cand = (int64_t) today - 1 - (int64_t) ((h >> 32) % (uint64_t) window);
	if (cand < min_day)
	{
		cand = (int64_t) day + mag;
		if (cand >= today)
			cand = (int64_t) day + 1;
	}
	if (cand == day)			/* cannot happen; kept as a safety net */
		cand = day > min_day ? day - 1 : day + 1;
	return (int32_t) cand;
}
