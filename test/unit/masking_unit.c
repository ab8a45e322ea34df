/*-------------------------------------------------------------------------
 *
 * masking_unit.c
 *		Unit tests of the pure-C masking core, without a server.
 *
 * Built by test/masking_core.sh with AddressSanitizer and
 * UndefinedBehaviorSanitizer; prints one line per failed check and a
 * final "unit: N passed, M failed" line; exits non-zero on any failure.
 *
 * Copyright (c) 2026, penelope_sandbox developers
 *
 * IDENTIFICATION
 *	  test/unit/masking_unit.c
 *
 *-------------------------------------------------------------------------
 */
#define _POSIX_C_SOURCE 200809L

#include "mask_core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int	passed = 0;
static int	failed = 0;

/* Record one check; print what failed. */
#define CHECK(cond, ...) \
	do { \
		if (cond) \
			passed++; \
		else \
		{ \
			failed++; \
			printf("FAIL %s:%d: ", __FILE__, __LINE__); \
			printf(__VA_ARGS__); \
			printf("\n"); \
		} \
	} while (0)

static MaskKey key;
static MaskKey key2;

/* Output buffer big enough for every test. */
static char out[4 << 20];
static char out2[4 << 20];

/* ---- helpers ---- */

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* Number of adjacent duplicates in a sorted array of strings. */
static size_t
count_dups(char **v, size_t n)
{
	size_t		i,
				d = 0;

	qsort(v, n, sizeof(char *), cmp_str);
	for (i = 1; i < n; i++)
		if (strcmp(v[i - 1], v[i]) == 0)
			d++;
	return d;
}

/* Simple deterministic generator for test data. */
static uint64_t rng_state = 88172645463325252ULL;

static uint64_t
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static bool
same_shape(const char *a, const char *b, size_t len)
{
	size_t		i;

	for (i = 0; i < len; i++)
	{
		unsigned char x = (unsigned char) a[i],
					y = (unsigned char) b[i];
		bool		xd = x >= '0' && x <= '9',
					yd = y >= '0' && y <= '9';
		bool		xu = x >= 'A' && x <= 'Z',
					yu = y >= 'A' && y <= 'Z';
		bool		xl = x >= 'a' && x <= 'z',
					yl = y >= 'a' && y <= 'z';

		if (xd != yd || xu != yu || xl != yl)
			return false;
		if (!xd && !xu && !xl && x != y)
			return false;
	}
	return true;
}

/* ---- SipHash ---- */

static const uint64_t sip64_vectors[64] = {
	0x726fdb47dd0e0e31ULL, 0x74f839c593dc67fdULL, 0x0d6c8009d9a94f5aULL, 0x85676696d7fb7e2dULL,
	0xcf2794e0277187b7ULL, 0x18765564cd99a68dULL, 0xcbc9466e58fee3ceULL, 0xab0200f58b01d137ULL,
	0x93f5f5799a932462ULL, 0x9e0082df0ba9e4b0ULL, 0x7a5dbbc594ddb9f3ULL, 0xf4b32f46226bada7ULL,
	0x751e8fbc860ee5fbULL, 0x14ea5627c0843d90ULL, 0xf723ca908e7af2eeULL, 0xa129ca6149be45e5ULL,
	0x3f2acc7f57c29bdbULL, 0x699ae9f52cbe4794ULL, 0x4bc1b3f0968dd39cULL, 0xbb6dc91da77961bdULL,
	0xbed65cf21aa2ee98ULL, 0xd0f2cbb02e3b67c7ULL, 0x93536795e3a33e88ULL, 0xa80c038ccd5ccec8ULL,
	0xb8ad50c6f649af94ULL, 0xbce192de8a85b8eaULL, 0x17d835b85bbb15f3ULL, 0x2f2e6163076bcfadULL,
	0xde4daaaca71dc9a5ULL, 0xa6a2506687956571ULL, 0xad87a3535c49ef28ULL, 0x32d892fad841c342ULL,
	0x7127512f72f27cceULL, 0xa7f32346f95978e3ULL, 0x12e0b01abb051238ULL, 0x15e034d40fa197aeULL,
	0x314dffbe0815a3b4ULL, 0x027990f029623981ULL, 0xcadcd4e59ef40c4dULL, 0x9abfd8766a33735cULL,
	0x0e3ea96b5304a7d0ULL, 0xad0c42d6fc585992ULL, 0x187306c89bc215a9ULL, 0xd4a60abcf3792b95ULL,
	0xf935451de4f21df2ULL, 0xa9538f0419755787ULL, 0xdb9acddff56ca510ULL, 0xd06c98cd5c0975ebULL,
	0xe612a3cb9ecba951ULL, 0xc766e62cfcadaf96ULL, 0xee64435a9752fe72ULL, 0xa192d576b245165aULL,
	0x0a8787bf8ecb74b2ULL, 0x81b3e73d20b49b6fULL, 0x7fa8220ba3b2eceaULL, 0x245731c13ca42499ULL,
	0xb78dbfaf3a8d83bdULL, 0xea1ad565322a1a0bULL, 0x60e61c23a3795013ULL, 0x6606d7e446282b93ULL,
	0x6ca4ecb15c5f91e1ULL, 0x9f626da15c9625f3ULL, 0xe51b38608ef25f57ULL, 0x958a324ceb064572ULL,
};

static const uint8_t sip128_vectors[3][16] = {
	{0xa3, 0x81, 0x7f, 0x04, 0xba, 0x25, 0xa8, 0xe6, 0x6d, 0xf6, 0x72, 0x14, 0xc7, 0x55, 0x02, 0x93},
	{0xda, 0x87, 0xc1, 0xd8, 0x6b, 0x99, 0xaf, 0x44, 0x34, 0x76, 0x59, 0x11, 0x9b, 0x22, 0xfc, 0x45},
	{0x81, 0x77, 0x22, 0x8d, 0xa4, 0xa4, 0x5d, 0xc7, 0xfc, 0xa3, 0x8b, 0xde, 0xf6, 0x0a, 0xff, 0xe4},
};

/* The reference vectors of SipHash-2-4, one shot and incremental. */
static void
test_siphash(void)
{
	MaskSipKey	k = {0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};
	unsigned char msg[64];
	int			i,
				ok64 = 0,
				okinc = 0,
				ok128 = 0;

	for (i = 0; i < 64; i++)
		msg[i] = (unsigned char) i;
	for (i = 0; i < 64; i++)
	{
		MaskSipState st;
		int			j;

		if (mc_siphash64(&k, msg, (size_t) i) == sip64_vectors[i])
			ok64++;
		/* the same, fed one byte at a time */
		mc_siphash_init(&st, &k, false);
		for (j = 0; j < i; j++)
			mc_siphash_update(&st, msg + j, 1);
		if (mc_siphash_final64(&st) == sip64_vectors[i])
			okinc++;
	}
	for (i = 0; i < 3; i++)
	{
		uint64_t	h[2];
		uint8_t		b[16];
		int			j;

		mc_siphash128(&k, msg, (size_t) i, h);
		for (j = 0; j < 8; j++)
		{
			b[j] = (uint8_t) (h[0] >> (8 * j));
			b[8 + j] = (uint8_t) (h[1] >> (8 * j));
		}
		if (memcmp(b, sip128_vectors[i], 16) == 0)
			ok128++;
	}
	CHECK(ok64 == 64, "SipHash-2-4-64 vectors: %d of 64", ok64);
	CHECK(okinc == 64, "incremental SipHash vectors: %d of 64", okinc);
	CHECK(ok128 == 3, "SipHash-2-4-128 vectors: %d of 3", ok128);
}

/* ---- Dictionaries ---- */

static void
check_dictionary(const char *name, const char *const *d, size_t n, size_t min)
{
	size_t		i;
	bool		sorted = true,
				clean = true;

	for (i = 0; i < n; i++)
	{
		const char *w = d[i];
		size_t		j,
					l = strlen(w);

		if (i > 0 && strcmp(d[i - 1], w) >= 0)
			sorted = false;
		if (l == 0 || l > MC_MAX_WORD_LEN)
			clean = false;
		for (j = 0; j < l; j++)
			if (!((w[j] >= 'a' && w[j] <= 'z') || (w[j] >= 'A' && w[j] <= 'Z')))
				clean = false;
	}
	CHECK(n >= min, "%s has %zu entries, fewer than %zu", name, n, min);
	CHECK(sorted, "%s is not sorted without duplicates", name);
	CHECK(clean, "%s has an entry that is not 1-%d ASCII letters", name, MC_MAX_WORD_LEN);
}

static void
test_dictionaries(void)
{
	check_dictionary("first names", mc_first_names, mc_n_first_names, 1000);
	check_dictionary("last names", mc_last_names, mc_n_last_names, 1000);
	check_dictionary("street names", mc_street_names, mc_n_street_names, 200);
	check_dictionary("street types", mc_street_types, mc_n_street_types, 10);
	check_dictionary("cities", mc_cities, mc_n_cities, 500);
	check_dictionary("text words", mc_text_words, mc_n_text_words, 100);
}

/* ---- Email ---- */

static void
test_email(void)
{
	const size_t n = 1000000;
	char	  **v = malloc(n * sizeof(char *));
	char	   *pool = malloc(n * (MC_EMAIL_LEN + 1));
	size_t		i,
				len,
				bad_form = 0,
				same = 0;
	char		in[64];

	/* 1,000,000 distinct addresses give 1,000,000 distinct pseudonyms */
	for (i = 0; i < n; i++)
	{
		int			l = snprintf(in, sizeof(in), "user%zu@example%zu.com", i, i % 97);

		len = mc_mask_email(&key, in, (size_t) l, pool + i * (MC_EMAIL_LEN + 1));
		pool[i * (MC_EMAIL_LEN + 1) + len] = '\0';
		v[i] = pool + i * (MC_EMAIL_LEN + 1);
		if (len != MC_EMAIL_LEN || !mc_is_masked_email(v[i], len))
			bad_form++;
		if (strcmp(v[i], in) == 0)
			same++;
	}
	CHECK(bad_form == 0, "%zu masked emails not recognised", bad_form);
	CHECK(same == 0, "%zu emails masked to themselves", same);
	CHECK(count_dups(v, n) == 0, "duplicate pseudonyms among 1,000,000 distinct emails");
	free(v);
	free(pool);

	/* deterministic, normalised, keyed */
	len = mc_mask_email(&key, "Ann.Lee@Example.ORG", 19, out);
	mc_mask_email(&key, "  ann.lee@example.org\t", 22, out2);
	CHECK(memcmp(out, out2, len) == 0, "case and white space variants differ");
	mc_mask_email(&key, "ann.lee@example.org", 19, out2);
	CHECK(memcmp(out, out2, len) == 0, "masking is not deterministic");
	mc_mask_email(&key2, "ann.lee@example.org", 19, out2);
	CHECK(memcmp(out, out2, len) != 0, "the pseudonym does not depend on the key");
	mc_mask_email(&key, "ann.lee2@example.org", 20, out2);
	CHECK(memcmp(out, out2, len) != 0, "two addresses share a pseudonym");

	/* masking a masked address gives another one */
	memcpy(in, out, len);
	mc_mask_email(&key, in, len, out2);
	CHECK(memcmp(in, out2, len) != 0 && mc_is_masked_email(out2, len),
		  "re-masking a pseudonym");

	/* the recogniser */
	CHECK(!mc_is_masked_email("ann@example.org", 15), "real address recognised");
	CHECK(!mc_is_masked_email("", 0), "empty string recognised as a masked email");
	CHECK(!mc_is_masked_email("uaaaaaaaaaaaaaaaaaaaaaaaaa@example.invali", 42),
		  "wrong domain recognised");

	/* odd input */
	len = mc_mask_email(&key, "", 0, out);
	CHECK(len == MC_EMAIL_LEN && mc_is_masked_email(out, len), "empty email");
	len = mc_mask_email(&key, "not an email", 12, out);
	CHECK(len == MC_EMAIL_LEN && mc_is_masked_email(out, len), "'not an email'");
}

/* ---- Identifiers ---- */

static void
test_id(void)
{
	const size_t n = 1000000;
	char	  **v = malloc(n * sizeof(char *));
	char	   *pool = malloc(n * 12);
	size_t		i,
				bad_shape = 0,
				same = 0,
				no_inverse = 0;
	char		in[64];
	int			seen[676];
	int			a,
				b;
	bool		bijective,
				fixed;

	/* 1,000,000 distinct SSN-shaped ids: distinct, same shape, invertible */
	for (i = 0; i < n; i++)
	{
		char	   *o = pool + i * 12;

		snprintf(in, sizeof(in), "%03zu-%02zu-%04zu", (i * 7919) % 1000,
				 (i / 1000) % 100, (i / 100000) * 1000 + i % 1000);
		mc_mask_id(&key, in, 11, o);
		o[11] = '\0';
		v[i] = o;
		if (!same_shape(in, o, 11))
			bad_shape++;
		if (memcmp(in, o, 11) == 0)
			same++;
		if (i % 10 == 0)
		{
			mc_unmask_id(&key, o, 11, out);
			if (memcmp(out, in, 11) != 0)
				no_inverse++;
		}
	}
	CHECK(bad_shape == 0, "%zu ids changed shape", bad_shape);
	CHECK(same == 0, "%zu ids masked to themselves", same);
	CHECK(no_inverse == 0, "%zu ids not inverted by the inverse permutation", no_inverse);
	CHECK(count_dups(v, n) == 0, "duplicate masked ids among 1,000,000 distinct ids");
	free(v);
	free(pool);

	/* tiny shapes, exhaustively: a derangement and a bijection */
	for (a = 0; a < 2; a++)
	{
		int			size = a == 0 ? 10 : 676;

		memset(seen, 0, sizeof(seen));
		bijective = true;
		fixed = false;
		for (b = 0; b < size; b++)
		{
			int			k;

			if (a == 0)
			{
				in[0] = (char) ('0' + b);
				mc_mask_id(&key, in, 1, out);
				k = out[0] - '0';
				fixed |= out[0] == in[0];
				if (k < 0 || k >= 10)
					bijective = false;
			}
			else
			{
				in[0] = (char) ('A' + b / 26);
				in[1] = (char) ('a' + b % 26);
				mc_mask_id(&key, in, 2, out);
				k = (out[0] - 'A') * 26 + (out[1] - 'a');
				fixed |= memcmp(out, in, 2) == 0;
				if (out[0] < 'A' || out[0] > 'Z' || out[1] < 'a' || out[1] > 'z')
					bijective = false;
			}
			if (k >= 0 && k < size && seen[k]++)
				bijective = false;
		}
		CHECK(bijective, "tiny id shape %d is not permuted", a);
		CHECK(!fixed, "tiny id shape %d has a fixed point", a);
	}

	/* case and punctuation do not change the symbols */
	mc_mask_id(&key, "AB-123456", 9, out);
	mc_mask_id(&key, "ab 123456", 9, out2);
	for (i = 0; i < 9; i++)
		out2[i] = (out2[i] >= 'a' && out2[i] <= 'z') ? (char) (out2[i] - 32) : out2[i];
	CHECK(memcmp(out, out2, 2) == 0 && memcmp(out + 3, out2 + 3, 6) == 0,
		  "an id's pseudonym depends on its case or punctuation");

	/* letters that are not ASCII become ASCII letters of their case */
	i = mc_mask_id(&key, "N\xc3\xba\xc3\xb1" "12", 7, out);
	CHECK(i == 5 && same_shape("Nab12", out, 5), "accented letters of an id not replaced");

	/* nothing to mask */
	mc_mask_id(&key, "---", 3, out);
	CHECK(memcmp(out, "---", 3) == 0, "an id without symbols changed");
}

/* ---- Phones ---- */

static bool
phone_case(const char *in, const char *prefix)
{
	size_t		len = strlen(in);

	mc_mask_phone(&key, in, len, out);
	out[len] = '\0';
	if (!same_shape(in, out, len) || !mc_is_masked_phone(out, len) ||
		memcmp(in, out, len) == 0 || strncmp(out, prefix, strlen(prefix)) != 0)
	{
		printf("  phone %s -> %s (expected prefix %s)\n", in, out, prefix);
		return false;
	}
	return true;
}

static void
test_phone(void)
{
	size_t		i,
				bad = 0,
				same = 0,
				real_pass = 0;
	char		in[64];

	CHECK(phone_case("(212) 736-5000", "(") && memcmp(out + 6, "555-01", 6) == 0,
		  "North American number not in 555-01xx");
	CHECK(phone_case("+1 212 736 5000", "+1 ") && memcmp(out + 7, "555 01", 6) == 0,
		  "+1 number not in 555-01xx");
	CHECK(phone_case("07911 123456", "07700 900"), "UK mobile");
	CHECK(phone_case("+44 7911 123456", "+44 7700 900"), "UK mobile +44");
	CHECK(phone_case("+44 (0)20 7123 4567", "+44 (0)20 7946 0"), "London +44 (0)");
	CHECK(phone_case("0161 123 4567", "0163 296 0"), "UK geographic");
	CHECK(phone_case("0412 345 678", "0491 57"), "Australian mobile");
	CHECK(phone_case("+61 412 345 678", "+61 491 57"), "Australian mobile +61");
	CHECK(phone_case("(03) 9123 4567", "(03) 5550 "), "Australian landline");
	CHECK(phone_case("+49 30 1234567", "+49 3"), "German number keeps its country code");
	CHECK(phone_case("0049 30 1234567", "0049 3"), "00 prefix keeps its country code");

	/* a fictional number does not come out unchanged */
	CHECK(phone_case("555-0142", ""), "fictional number");
	CHECK(phone_case("(212) 555-0142", "("), "fictional number with area code");

	/* real numbers fail the recogniser */
	CHECK(!mc_is_masked_phone("(212) 736-5000", 14), "real NANP number recognised");
	CHECK(!mc_is_masked_phone("07911 123456", 12), "real UK number recognised");
	CHECK(!mc_is_masked_phone("0412 345 678", 12), "real AU number recognised");

	/* random numbers of all shapes: shape kept, recognised, changed */
	for (i = 0; i < 200000; i++)
	{
		size_t		len = 0,
					nd = 5 + rng() % 12,
					j;

		if (rng() % 3 == 0)
			in[len++] = '+';
		for (j = 0; j < nd; j++)
		{
			in[len++] = (char) ('0' + rng() % 10);
			if (rng() % 4 == 0)
				in[len++] = " -.()"[rng() % 5];
		}
		mc_mask_phone(&key, in, len, out);
		if (!same_shape(in, out, len) || !mc_is_masked_phone(out, len))
		{
			if (bad++ < 5)
				printf("  phone %.*s -> %.*s\n", (int) len, in, (int) len, out);
		}
		if (memcmp(in, out, len) == 0)
			same++;
		if (mc_is_masked_phone(in, len))
			real_pass++;
	}
	CHECK(bad == 0, "%zu random phone numbers badly masked", bad);
	CHECK(same == 0, "%zu phone numbers masked to themselves", same);
	CHECK(real_pass < 200000 / 20, "%zu of 200000 random numbers pass the recogniser", real_pass);

	/* odd values */
	mc_mask_phone(&key, "+", 1, out);
	CHECK(out[0] == '+', "'+'");
	mc_mask_phone(&key, "---", 3, out);
	CHECK(memcmp(out, "---", 3) == 0, "'---'");
	mc_mask_phone(&key, "12", 2, out);
	CHECK(memcmp(out, "12", 2) != 0 && mc_is_masked_phone(out, 2), "'12'");
	i = mc_mask_phone(&key, "tel: \xe2\x98\x8e 0412 345 678", 21, out);
	CHECK(i == 21 && memcmp(out, "xxx: \xe2\x98\x8e 0491 57", 16) == 0, "multibyte phone");

	/* deterministic whatever the punctuation of the digits */
	mc_mask_phone(&key, "2127365000", 10, out);
	mc_mask_phone(&key, "212-736-5000", 12, out2);
	CHECK(memcmp(out, out2, 3) == 0 && memcmp(out + 3, out2 + 4, 3) == 0 &&
		  memcmp(out + 6, out2 + 8, 4) == 0, "punctuation changes a phone's pseudonym");
}

/* ---- Names ---- */

static void
test_names(void)
{
	size_t		i,
				len,
				same = 0,
				bad = 0;
	char		in[256];

	/* every dictionary name maps to another dictionary name */
	for (i = 0; i < mc_n_first_names; i++)
	{
		len = mc_mask_first_name(&key, mc_first_names[i], strlen(mc_first_names[i]), out);
		if (len == strlen(mc_first_names[i]) && memcmp(out, mc_first_names[i], len) == 0)
			same++;
		if (!mc_is_masked_first_name(out, len))
			bad++;
	}
	for (i = 0; i < mc_n_last_names; i++)
	{
		len = mc_mask_last_name(&key, mc_last_names[i], strlen(mc_last_names[i]), out);
		if (len == strlen(mc_last_names[i]) && memcmp(out, mc_last_names[i], len) == 0)
			same++;
		if (!mc_is_masked_last_name(out, len))
			bad++;
	}
	CHECK(same == 0, "%zu names masked to themselves", same);
	CHECK(bad == 0, "%zu masked names not recognised", bad);

	/* case and white space do not matter */
	len = mc_mask_last_name(&key, "Smith", 5, out);
	CHECK(len == mc_mask_last_name(&key, " SMITH ", 7, out2) && memcmp(out, out2, len) == 0,
		  "case variants of a name differ");
	CHECK(mc_mask_last_name(&key, "", 0, out) == 0 && mc_mask_first_name(&key, "  ", 2, out) == 0,
		  "blank names are not blank");

	/* full names keep their form and agree with the parts */
	{
		char		f[64],
					l[64],
					expect[160];
		size_t		fl = mc_mask_first_name(&key, "John", 4, f),
					ll = mc_mask_last_name(&key, "Smith", 5, l);

		snprintf(expect, sizeof(expect), "%.*s %.*s", (int) fl, f, (int) ll, l);
		len = mc_mask_full_name(&key, "John Smith", 10, out);
		CHECK(len == strlen(expect) && memcmp(out, expect, len) == 0,
			  "full name does not agree with first and last name");
		snprintf(expect, sizeof(expect), "%.*s, %.*s", (int) ll, l, (int) fl, f);
		len = mc_mask_full_name(&key, "Smith, John", 11, out);
		CHECK(len == strlen(expect) && memcmp(out, expect, len) == 0,
			  "\"Last, First\" form not kept");
	}

	/* random strings as full names: recognised, never unchanged */
	bad = same = 0;
	for (i = 0; i < 100000; i++)
	{
		size_t		l = rng() % 40,
					j;

		for (j = 0; j < l; j++)
			in[j] = "abc ,XYZ\t-'\xc3\xa9"[rng() % 13];
		len = mc_mask_full_name(&key, in, l, out);
		if (len > mc_name_out_len(l) || !mc_is_masked_full_name(out, len))
		{
			if (bad++ < 5)
				printf("  full name [%.*s] -> [%.*s]\n", (int) l, in, (int) len, out);
		}
		if (len == l && l > 0 && memcmp(in, out, l) == 0)
			same++;
	}
	CHECK(bad == 0, "%zu random full names badly masked", bad);
	CHECK(same == 0, "%zu full names masked to themselves", same);
	CHECK(!mc_is_masked_full_name("Zzyzx Qwerty", 12), "made-up name recognised");
}

/* ---- Addresses, text, dates ---- */

static void
test_address(void)
{
	size_t		len,
				len2;

	len = mc_mask_address(&key, "12 High Street, Springfield", 27, out);
	CHECK(len <= MC_ADDRESS_MAX_LEN && mc_is_masked_address(out, len), "masked address form");
	len2 = mc_mask_address(&key, "12 HIGH STREET, SPRINGFIELD ", 28, out2);
	CHECK(len == len2 && memcmp(out, out2, len) == 0, "address case variants differ");
	len2 = mc_mask_address(&key, out, len, out2);
	CHECK(!(len == len2 && memcmp(out, out2, len) == 0) && mc_is_masked_address(out2, len2),
		  "re-masking an address");
	CHECK(!mc_is_masked_address("12 High Street, Springfield", 27), "real address recognised");
	len = mc_mask_address(&key, "", 0, out);
	CHECK(mc_is_masked_address(out, len), "empty address");
}

static void
test_text(void)
{
	const char *note = "Patient reports chest pain since Tuesday; referred to cardiology by Dr Smith.";
	size_t		n = strlen(note),
				len,
				i,
				bad = 0;
	char	   *big;

	len = mc_mask_text(&key, note, n, n, out);
	out[len] = '\0';
	CHECK(len <= n && len + 2 >= n, "text length %zu for %zu", len, n);
	CHECK(mc_is_masked_text(out, len), "masked text not recognised: %s", out);
	{
		/* no word of the note appears in the output */
		char		copy[256];
		char	   *tok,
				   *save;
		bool		shared = false;

		snprintf(copy, sizeof(copy), "%s", out);
		for (tok = strtok_r(copy, " .", &save); tok; tok = strtok_r(NULL, " .", &save))
		{
			char		lw[64];
			size_t		j;

			for (j = 0; tok[j] && j < 63; j++)
				lw[j] = (char) ((tok[j] >= 'A' && tok[j] <= 'Z') ? tok[j] + 32 : tok[j]);
			lw[j] = '\0';
			if (strstr("patient reports chest pain since tuesday referred to cardiology by dr smith", lw) &&
				strlen(lw) > 1)
				shared = true;
		}
		CHECK(!shared, "masked text shares a word with the original: %s", out);
	}
	CHECK(!mc_is_masked_text(note, n), "real text recognised");

	/* lengths 0..300: close to the input, recognised, never unchanged */
	for (i = 0; i <= 300; i++)
	{
		memset(out2, 'x', i);
		len = mc_mask_text(&key, out2, i, i, out);
		if (len > mc_text_out_len(i) || (i >= 2 && (len > i || len + 2 < i)) ||
			!mc_is_masked_text(out, len) || (i > 0 && len == 0))
			bad++;
	}
	CHECK(bad == 0, "%zu text lengths badly masked", bad);
	len = mc_mask_text(&key, "Eu", 2, 2, out);
	CHECK(!(len == 2 && memcmp(out, "Eu", 2) == 0), "two-letter text unchanged");

	/* 1 MB of text */
	big = malloc(1 << 20);
	memset(big, 'y', 1 << 20);
	len = mc_mask_text(&key, big, 1 << 20, 1 << 20, out);
	CHECK(len <= (1 << 20) && len + 2 >= (1 << 20) && mc_is_masked_text(out, len), "1 MB text");
	free(big);
}

static void
test_date(void)
{
	int32_t		today = 9000,
				d;
	size_t		bad = 0,
				far = 0;

	for (d = -40000; d < 9500; d++)
	{
		int32_t		m = mc_mask_date(&key, d, today, 180, -50000);

		if (m == d || m >= today || m < -50000)
			bad++;
		if (d < today - 200 && (m < d - 180 || m > d + 180))
			far++;
	}
	CHECK(bad == 0, "%zu dates unchanged, in the future or out of range", bad);
	CHECK(far == 0, "%zu dates moved more than the window", far);
	CHECK(mc_mask_date(&key, 100, today, 180, -50000) == mc_mask_date(&key, 100, today, 180, -50000),
		  "date masking not deterministic");
	CHECK(mc_mask_date(&key, -50000, today, 180, -50000) > -50000, "the first date");
	CHECK(mc_mask_date(&key, 100, today, 1, -50000) != 100, "window of one day");
}

/* ---- Every script: no letter or digit of the input survives ---- */

/* Is every byte ASCII? */
static bool
all_ascii(const char *s, size_t len)
{
	size_t		i;

	for (i = 0; i < len; i++)
		if ((unsigned char) s[i] >= 0x80)
			return false;
	return true;
}

/*
 * The "shape" of a UTF-8 string as the maskers keep it: per character,
 * 'A' for an upper-case letter or one without case, 'a' for a lower-case
 * one, '9' for a digit or number, nothing for a mark, the character
 * itself otherwise.  A letter of the input is compared by its case only.
 */
static size_t
shape_of(const char *s, size_t len, char *shape)
{
	size_t		i = 0,
				o = 0;

	while (i < len)
	{
		MaskChar	ch;
		size_t		l = mc_utf8_next(s + i, len - i, &ch);

		switch (ch.cls)
		{
			case MC_CHAR_UPPER:
			case MC_CHAR_LETTER:
				shape[o++] = 'A';
				break;
			case MC_CHAR_LOWER:
				shape[o++] = 'a';
				break;
			case MC_CHAR_DIGIT:
			case MC_CHAR_NUMBER:
				shape[o++] = '9';
				break;
			case MC_CHAR_MARK:
				break;
			case MC_CHAR_OTHER:
				memcpy(shape + o, s + i, l);
				o += l;
				break;
		}
		i += l;
	}
	return o;
}

/* Is every letter, digit, number or mark of the value ASCII? */
static bool
symbols_ascii(const char *s, size_t len)
{
	size_t		i = 0;

	while (i < len)
	{
		MaskChar	ch;

		i += mc_utf8_next(s + i, len - i, &ch);
		if (ch.cls != MC_CHAR_OTHER && ch.cp >= 0x80)
			return false;
	}
	return true;
}

/*
 * Mask an identifier of any script: ASCII out, the input's shape kept,
 * recognised, the original refused by the recogniser, deterministic and
 * keyed.
 */
static bool
id_case(const char *in, const char *expect_shape)
{
	size_t		len = strlen(in),
				ol,
				ol2,
				sl;
	char		shape[256];
	bool		ok;

	ol = mc_mask_id(&key, in, len, out);
	sl = shape_of(out, ol, shape);
	ok = ol <= len && symbols_ascii(out, ol) &&
		sl == strlen(expect_shape) && memcmp(shape, expect_shape, sl) == 0 &&
		mc_is_masked_id(out, ol) && !mc_is_masked_id(in, len);
	ol2 = mc_mask_id(&key, in, len, out2);
	ok = ok && ol2 == ol && memcmp(out, out2, ol) == 0;
	ol2 = mc_mask_id(&key2, in, len, out2);
	ok = ok && !(ol2 == ol && memcmp(out, out2, ol) == 0);
	if (!ok)
		printf("  id %s -> %.*s (shape %.*s, expected %s)\n", in, (int) ol, out,
			   (int) sl, shape, expect_shape);
	return ok;
}

/* Mask a phone number of any script: ASCII digits in a fictional range. */
static bool
phone_script_case(const char *in, const char *prefix)
{
	size_t		len = strlen(in),
				ol;
	bool		ok;

	ol = mc_mask_phone(&key, in, len, out);
	ok = ol <= len && strncmp(out, prefix, strlen(prefix)) == 0 &&
		mc_is_masked_phone(out, ol) && !mc_is_masked_phone(in, len);
	/* no digit, letter or mark that is not ASCII */
	ok = ok && symbols_ascii(out, ol);
	if (!ok)
		printf("  phone %s -> %.*s (expected prefix %s)\n", in, (int) ol, out, prefix);
	return ok;
}

static void
test_scripts(void)
{
	MaskChar	ch;
	int			v;
	size_t		i,
				len,
				len2,
				same,
				dups;
	char		in[64];
	char	  **ids;
	char	   *pool;

	/* classes */
	CHECK(mc_char_class(0x0391, &v) == MC_CHAR_UPPER, "Greek capital alpha");
	CHECK(mc_char_class(0x03AD, &v) == MC_CHAR_LOWER, "Greek small epsilon with tonos");
	CHECK(mc_char_class(0x5C71, &v) == MC_CHAR_LETTER, "CJK ideograph");
	CHECK(mc_char_class(0x0141, &v) == MC_CHAR_UPPER && mc_char_class(0x017A, &v) == MC_CHAR_LOWER,
		  "Polish letters");
	CHECK(mc_char_class(0xFF15, &v) == MC_CHAR_DIGIT && v == 5, "fullwidth five");
	CHECK(mc_char_class(0x0663, &v) == MC_CHAR_DIGIT && v == 3, "Arabic-Indic three");
	CHECK(mc_char_class(0x096F, &v) == MC_CHAR_DIGIT && v == 9, "Devanagari nine");
	CHECK(mc_char_class(0x00B2, &v) == MC_CHAR_DIGIT && v == 2, "superscript two");
	CHECK(mc_char_class(0x00BD, &v) == MC_CHAR_NUMBER, "one half");
	CHECK(mc_char_class(0x3007, &v) == MC_CHAR_NUMBER, "ideographic zero");
	CHECK(mc_char_class(0x0301, &v) == MC_CHAR_MARK, "combining acute");
	CHECK(mc_char_class(0x3000, &v) == MC_CHAR_OTHER && mc_char_class(0x30FB, &v) == MC_CHAR_OTHER &&
		  mc_char_class(0xFF0D, &v) == MC_CHAR_OTHER && mc_char_class(0x260E, &v) == MC_CHAR_OTHER,
		  "ideographic space, katakana middle dot, fullwidth hyphen, telephone sign");
	CHECK(mc_char_class(0x24B6, &v) == MC_CHAR_UPPER, "circled capital A");
	CHECK(mc_char_class(0xE000, &v) == MC_CHAR_LETTER && mc_char_class(0x0378, &v) == MC_CHAR_LETTER &&
		  mc_char_class(0xE0041, &v) == MC_CHAR_LETTER,
		  "private use, unassigned and tag characters count as letters");

	/* decoding: anything but well-formed UTF-8 is a one-byte letter */
	CHECK(mc_utf8_next("\xc3\xa9", 2, &ch) == 2 && ch.cp == 0xE9 && ch.cls == MC_CHAR_LOWER, "é");
	CHECK(mc_utf8_next("\xf0\x9f\x98\x80", 4, &ch) == 4 && ch.cp == 0x1F600 && ch.cls == MC_CHAR_OTHER,
		  "emoji");
	CHECK(mc_utf8_next("\xc3", 1, &ch) == 1 && ch.cls == MC_CHAR_LETTER, "truncated sequence");
	CHECK(mc_utf8_next("\xe0\x80\xaf", 3, &ch) == 1 && ch.cls == MC_CHAR_LETTER, "overlong form");
	CHECK(mc_utf8_next("\xed\xa0\x80", 3, &ch) == 1 && ch.cls == MC_CHAR_LETTER, "surrogate");
	CHECK(mc_utf8_next("\xf4\x90\x80\x80", 4, &ch) == 1 && ch.cls == MC_CHAR_LETTER, "beyond U+10FFFF");
	CHECK(mc_utf8_next("\x80", 1, &ch) == 1 && ch.cls == MC_CHAR_LETTER, "stray continuation byte");
	CHECK(mc_utf8_nchars("a\xc3\xa9\xe5\xb1\xb1\xf0\x9f\x98\x80 0123456789", 21) == 15,
		  "UTF-8 character count");
	CHECK(mc_is_ascii("0123456789abcdef", 16) && !mc_is_ascii("0123456789abcd\xc3\xa9", 16), "ASCII test");

	/* identifiers: Greek, CJK, Polish, Cyrillic, fullwidth and Arabic-Indic digits, marks */
	CHECK(id_case("\xce\x95\xce\xbb\xce\xad\xce\xbd\xce\xb7", "Aaaaa"), "Greek name as id");
	CHECK(id_case("\xce\x91\xce\x98-2041", "AA-9999"), "Greek id");
	CHECK(id_case("\xe5\xb1\xb1\xe7\x94\xb0\xe5\xa4\xaa\xe9\x83\x8e", "AAAA"), "CJK name as id");
	CHECK(id_case("\xe6\x9d\xb1\xe4\xba\xac\xe9\x83\xbd\xe5\x8d\x83\xe4\xbb\xa3\xe7\x94\xb0\xe5\x8c\xba" "1-1",
				  "AAAAAAA9-9"), "Japanese address as id");
	CHECK(id_case("\xc5\x81\xc3\xb3" "d\xc5\xba 12", "Aaaa 99"), "Polish city");
	CHECK(id_case("Z\xc3\xbcrich 8001", "Aaaaaa 9999"), "Latin-1 accents");
	CHECK(id_case("\xd0\x9c\xd0\xbe\xd1\x81\xd0\xba\xd0\xb2\xd0\xb0-7", "Aaaaaa-9"), "Cyrillic");
	CHECK(id_case("\xef\xbc\x91\xef\xbc\x92\xef\xbc\x93-\xef\xbc\x94\xef\xbc\x95", "999-99"),
		  "fullwidth digits");
	CHECK(id_case("\xd9\xa0\xd9\xa1\xd9\xa2\xd9\xa3\xd9\xa4\xd9\xa5", "999999"), "Arabic-Indic digits");
	CHECK(id_case("Jose\xcc\x81 Mari\xcc\x81" "a", "Aaaa Aaaaa"), "combining marks");
	CHECK(id_case("\xe0\xa4\xa8\xe0\xa4\xae\xe0\xa4\xb8\xe0\xa5\x8d\xe0\xa4\xa4\xe0\xa5\x87", "AAAA"),
		  "Devanagari with vowel signs");
	CHECK(id_case("\xe2\x91\xa0\xc2\xbd\xe3\x80\x87", "999"), "circled one, one half, ideographic zero");
	CHECK(id_case("\xff" "12", "A99"), "a byte that is not UTF-8");
	CHECK(id_case("\xef\xbc\xa1\xef\xbc\xa2\xe3\x80\x80\xef\xbc\x91\xef\xbc\x92", "AA\xe3\x80\x80" "99"),
		  "fullwidth letters and digits, ideographic space kept");

	/* digits of any script are read by their value */
	{
		const char *fw = "\xef\xbc\x91\xef\xbc\x92\xef\xbc\x93-45-\xd9\xa6\xd9\xa7\xd9\xa8\xd9\xa9";

		len = mc_mask_id(&key, fw, strlen(fw), out);
	}
	len2 = mc_mask_id(&key, "123-45-6789", 11, out2);
	CHECK(len == 11 && len2 == 11 && memcmp(out, out2, 11) == 0,
		  "a number in fullwidth and Arabic-Indic digits is not masked as the ASCII one");

	/* letters that differ give different values */
	len = mc_mask_id(&key, "\xce\x95\xce\xbb\xce\xad\xce\xbd\xce\xb7", 10, out);
	len2 = mc_mask_id(&key, "\xce\x95\xce\xbb\xce\xb5\xce\xbd\xce\xb7", 10, out2);
	CHECK(len == 5 && len2 == 5 && memcmp(out, out2, 5) != 0, "two Greek names share a pseudonym");

	/* distinct ids with the same Greek letter in the same place stay distinct */
	ids = malloc(100000 * sizeof(char *));
	pool = malloc(100000 * 8);
	same = 0;
	for (i = 0; i < 100000; i++)
	{
		int			l = snprintf(in, sizeof(in), "\xce\xa3%05zu", i);

		len = mc_mask_id(&key, in, (size_t) l, pool + i * 8);
		pool[i * 8 + len] = '\0';
		ids[i] = pool + i * 8;
		if (len != 6 || !all_ascii(ids[i], len))
			same++;
	}
	dups = count_dups(ids, 100000);
	CHECK(same == 0, "%zu Greek-lettered ids badly masked", same);
	CHECK(dups == 0, "%zu duplicates among 100,000 distinct Greek-lettered ids", dups);
	free(ids);
	free(pool);

	/* phones: digits of every script read by value, written in ASCII in fiction */
	CHECK(phone_script_case("+61 \xef\xbc\x94\xef\xbc\x91\xef\xbc\x92 \xef\xbc\x93\xef\xbc\x94\xef\xbc\x95"
							" \xef\xbc\x96\xef\xbc\x97\xef\xbc\x98", "+61 491 57"),
		  "Australian mobile in fullwidth digits");
	CHECK(phone_script_case("\xef\xbc\x8b\xef\xbc\x96\xef\xbc\x91 412 345 678", "\xef\xbc\x8b" "61 491 57"),
		  "fullwidth plus and country code");
	CHECK(phone_script_case("\xd9\xa0\xd9\xa4\xd9\xa1\xd9\xa2 \xd9\xa3\xd9\xa4\xd9\xa5 \xd9\xa6\xd9\xa7\xd9\xa8",
							"0491 57"), "Australian mobile in Arabic-Indic digits");
	CHECK(phone_script_case("+\xd9\xa6\xd9\xa1 \xd9\xa4\xd9\xa1\xd9\xa2 \xd9\xa3\xd9\xa4\xd9\xa5 \xd9\xa6\xd9\xa7\xd9\xa8",
							"+61 491 57"), "+61 in Arabic-Indic digits");
	CHECK(phone_script_case("(\xe0\xa5\xa8\xe0\xa5\xa7\xe0\xa5\xa8) 736-5000", "("),
		  "Devanagari area code");
	CHECK(phone_script_case("\xe6\x9d\x8e\xe5\x8d\x8e 138-0013-8000", "XX 1"), "a name before the number");
	CHECK(phone_script_case("Mum 0412 345 678", "Xxx 0491 57"), "a Latin word before the number");
	CHECK(phone_script_case("0412 345 678 \xce\x95\xce\xbb\xce\xad\xce\xbd\xce\xb7", "0491 57"),
		  "a Greek name after the number");
	CHECK(phone_script_case("0412 345 67\xd9\xa8\xcc\x81", "0491 57"), "a combining mark");
	/* fictional numbers written in other digits are not masked values */
	CHECK(!mc_is_masked_phone("(\xef\xbc\x92\xef\xbc\x91\xef\xbc\x92) \xef\xbc\x95\xef\xbc\x95\xef\xbc\x95"
							  "-\xef\xbc\x90\xef\xbc\x91\xef\xbc\x94\xef\xbc\x92", 34),
		  "a fictional number in fullwidth digits recognised");
	CHECK(!mc_is_masked_phone("0491 570 006 ext", 16), "letters other than x recognised");
	CHECK(mc_is_masked_phone("0491 570 006 xxx", 16), "the masker's own letters refused");
	{
		const char *fw = "+61 \xef\xbc\x94\xef\xbc\x91\xef\xbc\x92 \xef\xbc\x93\xef\xbc\x94\xef\xbc\x95"
			" \xef\xbc\x96\xef\xbc\x97\xef\xbc\x98";

		len = mc_mask_phone(&key, fw, strlen(fw), out);
	}
	len2 = mc_mask_phone(&key, "+61 412 345 678", 15, out2);
	CHECK(len == 15 && len2 == 15 && memcmp(out, out2, 15) == 0,
		  "a phone in fullwidth digits is not masked as the ASCII one");

	/* the other maskers write ASCII only, and their recognisers refuse the originals */
	{
		static const char *const originals[] = {
			"\xce\x95\xce\xbb\xce\xad\xce\xbd\xce\xb7 \xce\xa0\xce\xb1\xcf\x80\xce\xb1\xce\xb4\xce\xbf\xcf\x80\xce\xbf\xcf\x8d\xce\xbb\xce\xbf\xcf\x85",
			"\xe5\xb1\xb1\xe7\x94\xb0 \xe5\xa4\xaa\xe9\x83\x8e",
			"\xd0\x9c\xd0\xb0\xd1\x80\xd0\xb8\xd1\x8f \xd0\x98\xd0\xb2\xd0\xb0\xd0\xbd\xd0\xbe\xd0\xb2\xd0\xb0",
			"Zo\xc3\xab \xc5\x81ukasiewicz",
			"Jose\xcc\x81 Mari\xcc\x81\x61",
			"\xe6\x9d\xb1\xe4\xba\xac\xe9\x83\xbd\xe5\x8d\x83\xe4\xbb\xa3\xe7\x94\xb0\xe5\x8c\xba\xef\xbc\x91-\xef\xbc\x91",
		};
		size_t		k,
					bad = 0;

		for (k = 0; k < sizeof(originals) / sizeof(originals[0]); k++)
		{
			const char *o = originals[k];
			size_t		ol = strlen(o);

			len = mc_mask_first_name(&key, o, ol, out);
			bad += !all_ascii(out, len) || mc_is_masked_first_name(o, ol);
			len = mc_mask_last_name(&key, o, ol, out);
			bad += !all_ascii(out, len) || mc_is_masked_last_name(o, ol);
			len = mc_mask_full_name(&key, o, ol, out);
			bad += !all_ascii(out, len) || mc_is_masked_full_name(o, ol) || !mc_is_masked_full_name(out, len);
			len = mc_mask_address(&key, o, ol, out);
			bad += !all_ascii(out, len) || mc_is_masked_address(o, ol) || !mc_is_masked_address(out, len);
			len = mc_mask_email(&key, o, ol, out);
			bad += !all_ascii(out, len) || mc_is_masked_email(o, ol);
			len = mc_mask_text(&key, o, ol, mc_utf8_nchars(o, ol), out);
			bad += !all_ascii(out, len) || mc_is_masked_text(o, ol) || !mc_is_masked_text(out, len);
			if (bad > 0)
			{
				printf("  original %zu badly masked or recognised\n", k);
				break;
			}
		}
		CHECK(bad == 0, "a masker wrote a character of another script, or a recogniser took an original");
	}
}

/* ---- Dictionaries: the recognisers' hash tables ---- */

static void
test_dictionary_lookup(void)
{
	size_t		i,
				missed = 0,
				wrong = 0;
	char		w[32];

	for (i = 0; i < mc_n_first_names; i++)
		missed += !mc_is_masked_first_name(mc_first_names[i], strlen(mc_first_names[i]));
	for (i = 0; i < mc_n_last_names; i++)
		missed += !mc_is_masked_last_name(mc_last_names[i], strlen(mc_last_names[i]));
	for (i = 0; i < mc_n_text_words; i++)
	{
		size_t		l = strlen(mc_text_words[i]);

		missed += !mc_is_masked_text(mc_text_words[i], l);
		memcpy(w, mc_text_words[i], l);
		w[0] = (char) (w[0] - 32);
		w[l] = '.';
		missed += !mc_is_masked_text(w, l + 1);
		missed += mc_text_word_lens[i] != l;
		/* the word with a letter more, and with a NUL */
		memcpy(w, mc_text_words[i], l);
		w[l] = 'q';
		wrong += mc_is_masked_text(w, l + 1);
		w[l] = '\0';
		wrong += mc_is_masked_first_name(w, l + 1);
	}
	CHECK(missed == 0, "%zu dictionary entries not found", missed);
	CHECK(wrong == 0, "%zu words found that are not entries", wrong);
	CHECK(!mc_is_masked_first_name("Joh", 3) && !mc_is_masked_first_name("John\0", 5) &&
		  !mc_is_masked_last_name("smith", 5), "near misses found");
	CHECK(mc_is_masked_text("Lorem ipsum. Amet", 17), "a masked text refused");
	CHECK(!mc_is_masked_text("Lorem ipsum ", 12) && !mc_is_masked_text("Lorem  ipsum", 12) &&
		  !mc_is_masked_text(" Lorem", 6) && !mc_is_masked_text("Lorem..", 7) &&
		  !mc_is_masked_text("Lorem ipsumipsumipsumipsum", 26) && !mc_is_masked_text(".", 1),
		  "a text the masker never writes recognised");
}

/* ---- Every function on empty and 1 MB inputs ---- */

static void
test_big_and_empty(void)
{
	size_t		n = 1 << 20,
				i,
				len;
	char	   *big = malloc(n);
	char	   *o = malloc(mc_name_out_len(n));

	for (i = 0; i < n; i++)
		big[i] = "a1 B-\xc3\xa9+"[i % 8];
	len = mc_mask_email(&key, big, n, o);
	CHECK(mc_is_masked_email(o, len), "1 MB email");
	len = mc_mask_phone(&key, big, n, o);
	CHECK(len == n - n / 8 && mc_is_masked_phone(o, len) && !mc_is_masked_phone(big, n), "1 MB phone");
	len = mc_mask_id(&key, big, n, o);
	CHECK(len == n - n / 8 && mc_is_masked_id(o, len) && !mc_is_masked_id(big, n) &&
		  memchr(o, 0xc3, len) == NULL, "1 MB id");
	len = mc_mask_full_name(&key, big, n, o);
	CHECK(len <= mc_name_out_len(n) && mc_is_masked_full_name(o, len), "1 MB full name");
	len = mc_mask_address(&key, big, n, o);
	CHECK(mc_is_masked_address(o, len), "1 MB address");
	free(big);
	free(o);

	len = mc_mask_full_name(&key, "", 0, out);
	CHECK(len == 0, "empty full name");
	mc_mask_phone(&key, "", 0, out);
	mc_mask_id(&key, "", 0, out);
	CHECK(mc_mask_text(&key, "", 0, 0, out) == 0, "empty text");
}

int
main(void)
{
	uint8_t		secret[MC_SECRET_LEN];
	int			i;

	for (i = 0; i < MC_SECRET_LEN; i++)
		secret[i] = (uint8_t) (i * 7 + 1);
	mc_key_expand(&key, secret);
	secret[0] ^= 1;
	mc_key_expand(&key2, secret);

	test_siphash();
	test_dictionaries();
	test_email();
	test_id();
	test_phone();
	test_names();
	test_address();
	test_text();
	test_date();
	test_scripts();
	test_dictionary_lookup();
	test_big_and_empty();

	printf("unit: %d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
