/*-------------------------------------------------------------------------
 *
 * masking_core_bench.c
 *		The pure-C masking core without a server: CPU time per value of
 *		each masker and recogniser, and per byte of mask_text, is_masked_text
 *		and SipHash on 7 KB notes.
 *
 * Built and run by bench/masking_core.sh with -O2.  Process CPU time (not
 * wall-clock time), median of 7 runs, so that a machine shared with other
 * work disturbs the figures as little as possible.
 *
 * Copyright (c) 2026, penelope_sandbox developers
 *
 * IDENTIFICATION
 *	  bench/masking_core_bench.c
 *
 *-------------------------------------------------------------------------
 */
#define _POSIX_C_SOURCE 200809L

#include "mask_core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RUNS 7

static MaskKey key;
static char out[1 << 16];
static volatile size_t sink;

typedef size_t (*Masker) (const MaskKey *, const char *, size_t, char *);
typedef bool (*Recogniser) (const char *, size_t);

/* Process CPU time in nanoseconds. */
static double
cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return x < y ? -1 : x > y;
}

static double
median(double *v)
{
	qsort(v, RUNS, sizeof(double), cmp_double);
	return v[RUNS / 2];
}

/* The values of one column: n values, NUL-separated in one buffer. */
typedef struct Column
{
	const char **v;
	size_t	   *len;
	size_t		n;
	size_t		bytes;
} Column;

static Column
make_column(size_t n, int (*gen) (char *, size_t, size_t))
{
	Column		c;
	size_t		i;
	char		buf[8192];

	c.v = malloc(n * sizeof(char *));
	c.len = malloc(n * sizeof(size_t));
	c.n = n;
	c.bytes = 0;
	for (i = 0; i < n; i++)
	{
		int			l = gen(buf, sizeof(buf), i);
		char	   *s = malloc((size_t) l + 1);

		memcpy(s, buf, (size_t) l + 1);
		c.v[i] = s;
		c.len[i] = (size_t) l;
		c.bytes += (size_t) l;
	}
	return c;
}

/* Mask every value of a column into a new column. */
static Column
mask_column(const Column *in, Masker m)
{
	Column		c;
	size_t		i;

	c.v = malloc(in->n * sizeof(char *));
	c.len = malloc(in->n * sizeof(size_t));
	c.n = in->n;
	c.bytes = 0;
	for (i = 0; i < in->n; i++)
	{
		size_t		l = m(&key, in->v[i], in->len[i], out);
		char	   *s = malloc(l + 1);

		memcpy(s, out, l);
		s[l] = '\0';
		c.v[i] = s;
		c.len[i] = l;
		c.bytes += l;
	}
	return c;
}

static double
time_masker(const Column *c, Masker m)
{
	double		t[RUNS];
	int			r;
	size_t		i;

	for (r = 0; r < RUNS; r++)
	{
		double		t0 = cpu_ns();

		for (i = 0; i < c->n; i++)
			sink += m(&key, c->v[i], c->len[i], out);
		t[r] = cpu_ns() - t0;
	}
	return median(t);
}

static double
time_recogniser(const Column *c, Recogniser f)
{
	double		t[RUNS];
	int			r;
	size_t		i;

	for (r = 0; r < RUNS; r++)
	{
		double		t0 = cpu_ns();

		for (i = 0; i < c->n; i++)
			sink += f(c->v[i], c->len[i]);
		t[r] = cpu_ns() - t0;
	}
	return median(t);
}

/* ---- the maskers as Masker ---- */

static size_t
text_masker(const MaskKey *k, const char *in, size_t len, char *o)
{
	return mc_mask_text(k, in, len, mc_utf8_nchars(in, len), o);
}

static size_t
siphash_only(const MaskKey *k, const char *in, size_t len, char *o)
{
	uint64_t	h[2];

	(void) o;
	mc_siphash128(&k->sub[MC_PURPOSE_TEXT], in, len, h);
	return (size_t) h[0] & 1;
}

static size_t
nchars_only(const MaskKey *k, const char *in, size_t len, char *o)
{
	(void) k;
	(void) o;
	return mc_utf8_nchars(in, len);
}

/* ---- data ---- */

static int
gen_email(char *b, size_t n, size_t i)
{
	return snprintf(b, n, "person%zu@mail%zu.example.com", i, i % 100);
}

static int
gen_phone(char *b, size_t n, size_t i)
{
	return snprintf(b, n, "(%zu) %03zu-%04zu", 200 + i % 800, i % 1000, i % 10000);
}

static int
gen_intl_phone(char *b, size_t n, size_t i)
{
	static const char *const p[] = {"+61 \xef\xbc\x94\xef\xbc\x91\xef\xbc\x92 \xef\xbc\x93\xef\xbc\x94\xef\xbc\x95 ",
	"\xd9\xa0\xd9\xa4\xd9\xa1\xd9\xa2 \xd9\xa3\xd9\xa4\xd9\xa5 ", "(212) 736-"};

	return snprintf(b, n, "%s%03zu", p[i % 3], i % 1000);
}

static int
gen_first(char *b, size_t n, size_t i)
{
	return snprintf(b, n, "%s", mc_first_names[(i * 7919) % mc_n_first_names]);
}

static int
gen_last(char *b, size_t n, size_t i)
{
	return snprintf(b, n, "%s", mc_last_names[(i * 7919) % mc_n_last_names]);
}

static int
gen_full(char *b, size_t n, size_t i)
{
	return snprintf(b, n, "%s %s", mc_first_names[(i * 7919) % mc_n_first_names],
					mc_last_names[(i * 104729) % mc_n_last_names]);
}

static int
gen_ssn(char *b, size_t n, size_t i)
{
	return snprintf(b, n, "%03zu-%02zu-%04zu", i % 1000, (i / 1000) % 100, i % 10000);
}

static int
gen_ident(char *b, size_t n, size_t i)
{
	static const char *const p[] = {"\xce\x95\xce\xbb\xce\xad\xce\xbd\xce\xb7-", "\xc5\x81\xc3\xb3" "d\xc5\xba ",
		"\xd0\x9c\xd0\xbe\xd1\x81\xd0\xba\xd0\xb2\xd0\xb0 ", "\xe5\xb1\xb1\xe7\x94\xb0\xe5\xa4\xaa\xe9\x83\x8e",
	"Zo\xc3\xab "};

	return snprintf(b, n, "%s%zu", p[i % 5], i % 10000);
}

static int
gen_address(char *b, size_t n, size_t i)
{
	return snprintf(b, n, "%zu Main Street, Springfield", i % 999 + 1);
}

static int
gen_note(char *b, size_t n, size_t i)
{
	static const char *const w[] = {"patient", "reports", "pain", "in", "the", "left", "knee", "after",
		"a", "fall", "at", "home", "daughter", "visited", "on", "Tuesday", "and", "says", "she", "is",
		"eating", "well", "referred", "to", "physiotherapy", "by", "Dr", "Smith.", "Medication",
	"reviewed;", "no", "change.", "Next", "visit", "12/03,", "phone", "0412", "345", "678."};
	size_t		o = 0;
	uint64_t	x = 0x9E3779B97F4A7C15ULL * (i + 1);

	while (o < 6600 && o + 20 < n)
	{
		const char *s;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		s = w[x % (sizeof(w) / sizeof(w[0]))];
		o += (size_t) snprintf(b + o, n - o, "%s%s", o ? " " : "", s);
	}
	return (int) o;
}

int
main(void)
{
	uint8_t		secret[MC_SECRET_LEN];
	size_t		i;
	const size_t n = 200000;
	struct
	{
		const char *name;
		const char *rname;
		int			(*gen) (char *, size_t, size_t);
		Masker		m;
		Recogniser	r;
	}			pairs[] = {
		{"mask_email", "is_masked_email", gen_email, mc_mask_email, mc_is_masked_email},
		{"mask_phone", "is_masked_phone", gen_phone, mc_mask_phone, mc_is_masked_phone},
		{"mask_phone (fullwidth, Arabic-Indic)", "is_masked_phone", gen_intl_phone, mc_mask_phone, mc_is_masked_phone},
		{"mask_first_name", "is_masked_first_name", gen_first, mc_mask_first_name, mc_is_masked_first_name},
		{"mask_last_name", "is_masked_last_name", gen_last, mc_mask_last_name, mc_is_masked_last_name},
		{"mask_full_name", "is_masked_full_name", gen_full, mc_mask_full_name, mc_is_masked_full_name},
		{"mask_id (SSN)", "is_masked_id", gen_ssn, mc_mask_id, mc_is_masked_id},
		{"mask_id (Greek, CJK, Polish ...)", "is_masked_id", gen_ident, mc_mask_id, mc_is_masked_id},
		{"mask_address", "is_masked_address", gen_address, mc_mask_address, mc_is_masked_address},
	};
	Column		notes,
				masked_notes;
	double		t_text,
				t_rec,
				t_sip,
				t_count;

	for (i = 0; i < MC_SECRET_LEN; i++)
		secret[i] = (uint8_t) (i * 7 + 1);
	mc_key_expand(&key, secret);

	printf("%-38s %10s  %-22s %10s  %s\n", "masker", "ns/value", "recogniser", "ns/value", "ratio");
	for (i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
	{
		Column		c = make_column(n, pairs[i].gen);
		Column		mc = mask_column(&c, pairs[i].m);
		double		tm = time_masker(&c, pairs[i].m) / n;
		double		tr = time_recogniser(&mc, pairs[i].r) / n;

		printf("%-38s %10.1f  %-22s %10.1f  %.2f\n", pairs[i].name, tm, pairs[i].rname, tr, tr / tm);
	}

	notes = make_column(2000, gen_note);
	masked_notes = mask_column(&notes, text_masker);
	t_text = time_masker(&notes, text_masker) / notes.bytes;
	t_rec = time_recogniser(&masked_notes, mc_is_masked_text) / masked_notes.bytes;
	t_sip = time_masker(&notes, siphash_only) / notes.bytes;
	t_count = time_masker(&notes, nchars_only) / notes.bytes;
	printf("\nnotes: %zu of %zu bytes on average\n", notes.n, notes.bytes / notes.n);
	printf("mask_text       %6.2f ns/byte (of which SipHash-2-4 %.2f, counting characters %.2f)\n",
		   t_text, t_sip, t_count);
	printf("is_masked_text  %6.2f ns/byte  (%.2f of mask_text)\n", t_rec, t_rec / t_text);
	return (int) (sink & 0);
}
