/*-------------------------------------------------------------------------
 *
 * discover.c
 *		Find the columns that look like personal data, and whether the
 *		rules of an environment cover them.
 *
 * sandbox_discover(environment) returns one row per column of a user
 * table that looks like personal data, with its kind, the evidence and,
 * given an environment, the rule that covers it.  Two kinds of evidence:
 *
 *	- by name: the words of the column name (first_name, dob, ssn,
 *	  mobile, postcode, notes, ...);
 *	- by content: recognisers run over a bounded sample of the table,
 *	  "TABLESAMPLE SYSTEM (p) REPEATABLE (0) LIMIT 3n" where p aims at
 *	  n = penelope_sandbox.discover_sample_rows rows.  Only the share of
 *	  sampled values that matched is kept, never a value.
 *
 * Recognisers, all keyless and written here in C: an email address; a
 * phone number in the national formats the masks know (North America, the
 * UK, Australia) or in international form; national identifiers with
 * their check digits where they have one (US SSN by its ranges,
 * Australian Medicare and TFN, UK NHS number, UK National Insurance
 * number, Canadian SIN by Luhn); names from the masking dictionaries; a
 * street address ending with a street type; and emails or phone numbers
 * inside free text, JSON and arrays.
 *
 * How the sample is read.  The sample query runs as the caller (the
 * SECURITY DEFINER function's owner, a superuser), reads only columns of
 * the core string and JSON types (so no output or input function of a
 * type the table owner wrote ever runs), runs with row_security = off (so
 * a policy can neither run owner code nor hide rows: a caller subject to
 * one gets an error rather than a filtered sample), and selects from the
 * table ONLY, with no expression of the owner's.  A SELECT runs no
 * triggers and no rules on a table.  Nothing the table owner wrote runs
 * at all, so the read needs no security-restricted operation.
 *
 * The same recognisers are used by the leak scan (leakscan.c), through
 * pii_value_pieces(): the whole value, and the emails and phone numbers
 * inside it, each normalised so that one address or number written two
 * ways is one piece.
 *
 * A run's policy: sandbox.discovery_policy says, per environment
 * (inherited like rules), which kinds must not remain uncovered and what
 * an uncovered column, or a leak found after the run, does: "error",
 * "warning" or "off".  penelope_sandbox.pii_check overrides it.
 *
 * No value read here is ever put into a message, the ledger or a result.
 *
 * Copyright (c) 2026, penelope_sandbox developers
 *
 * IDENTIFICATION
 *	  src/discover.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "mask_core.h"
#include "penelope_sandbox.h"

PG_FUNCTION_INFO_V1(sandbox_discover);

/* ---- Settings ---- */

int			sandbox_pii_check = PII_CHECK_ENVIRONMENT;
int			sandbox_discover_sample_rows = 1000;

/* Names of the kinds, as sandbox_discover shows them and policies list them */
const char *const pii_kind_names[PII_NUM_KINDS] = {
	[PII_EMAIL] = "email",
	[PII_PHONE] = "phone",
	[PII_NAME] = "name",
	[PII_BIRTH_DATE] = "birth_date",
	[PII_NATIONAL_ID] = "national_id",
	[PII_ADDRESS] = "address",
	[PII_TEXT_WITH_CONTACTS] = "text_with_contacts",
	[PII_JSON_WITH_CONTACTS] = "json_with_contacts",
	[PII_FREE_TEXT] = "free_text",
};

/*
 * A whole-value kind is found by content when at least this share of the
 * sampled non-empty values match; a kind found inside values (free text,
 * JSON) when at least this share do.  Either way at least two distinct
 * values must match: one constant (the agency's own sending address in a
 * settings row) is configuration, not a person's data.
 */
#define DISCOVER_MIN_SHARE_WHOLE	0.5
#define DISCOVER_MIN_SHARE_INSIDE	0.01
#define DISCOVER_MIN_DISTINCT		2

/* ---- Character classes (ASCII only: every server encoding is a superset) ---- */

static inline bool
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static inline bool
is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline bool
is_alnum(unsigned char c)
{
	return is_digit(c) || is_alpha(c);
}

static inline bool
is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static inline unsigned char
to_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char) (c + ('a' - 'A')) : c;
}

/* Trim white space around [*s, *s + *len) */
static void
trim(const char **s, size_t *len)
{
	while (*len > 0 && is_space((unsigned char) (*s)[0]))
	{
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && is_space((unsigned char) (*s)[*len - 1]))
		(*len)--;
}

/* ---- Emails ---- */

static inline bool
is_email_local_char(unsigned char c)
{
	return is_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}

static inline bool
is_email_domain_char(unsigned char c)
{
	return is_alnum(c) || c == '.' || c == '-';
}

/*
 * email_at
 *		Given the '@' at position at, the extent [*start, *end) of the
 *		email address around it, or false when there is none: a local part,
 *		and a domain of at least two labels whose last one has at least two
 *		letters.
 */
static bool
email_at(const char *s, size_t len, size_t at, size_t *start, size_t *end)
{
	size_t		b = at,
				e = at + 1,
				lastdot = 0;

	while (b > 0 && is_email_local_char((unsigned char) s[b - 1]))
		b--;
	while (b < at && s[b] == '.')
		b++;
	if (b == at)
		return false;
	while (e < len && is_email_domain_char((unsigned char) s[e]))
		e++;
	while (e > at + 1 && (s[e - 1] == '.' || s[e - 1] == '-'))
		e--;
	for (size_t i = at + 1; i < e; i++)
	{
		if (s[i] == '.')
		{
			if (i == at + 1 || s[i - 1] == '.')
				return false;
			lastdot = i;
		}
	}
	if (lastdot == 0 || e - lastdot - 1 < 2)
		return false;
	for (size_t i = lastdot + 1; i < e; i++)
	{
		if (!is_alpha((unsigned char) s[i]))
			return false;
	}
	*start = b;
	*end = e;
	return true;
}

/* ---- Phone numbers and other long numbers ---- */

/* A number found in text: its digits, and where it ends */
typedef struct FoundNumber
{
	char		digits[16];
	int			ndigits;
	bool		plus;			/* written with a leading '+' */
	size_t		end;			/* one past its last digit */
} FoundNumber;

/*
 * number_at
 *		Read a number written the way phone numbers are (digits in groups
 *		separated by at most two of " -.()", an optional leading '+') that
 *		starts at position i, not glued to a letter or digit on either side.
 *		False when there is none or it has fewer than 9 or more than 15
 *		digits (E.164's maximum).
 */
static bool
number_at(const char *s, size_t len, size_t i, FoundNumber *n)
{
	unsigned char c = (unsigned char) s[i];
	int			seprun = 0;
	size_t		j;

	if (!(is_digit(c) || c == '+' || c == '('))
		return false;
	if (i > 0 && (is_alnum((unsigned char) s[i - 1]) || s[i - 1] == '_' ||
				  s[i - 1] == '.' || s[i - 1] == '-' || s[i - 1] == '+'))
		return false;

	n->ndigits = 0;
	n->plus = (c == '+');
	n->end = i;
	for (j = i; j < len; j++)
	{
		c = (unsigned char) s[j];
		if (is_digit(c))
		{
			if (n->ndigits == 16)
				return false;
			n->digits[n->ndigits++] = (char) c;
			n->end = j + 1;
			seprun = 0;
		}
		else if ((c == '+' && j == i) || c == ' ' || c == '-' || c == '.' || c == '(' || c == ')')
		{
			if (++seprun > 2)
				break;
		}
		else
			break;
	}
	if (n->ndigits < 9 || n->ndigits > 15)
		return false;
	/* glued to a letter, a digit or an address after its last digit */
	if (n->end < len && (is_alnum((unsigned char) s[n->end]) || s[n->end] == '@' ||
						 s[n->end] == '_'))
		return false;
	return true;
}

/*
 * national_phone
 *		Does a number (digits, with or without '+') read as a phone number
 *		in a format the masks know: North America, the UK, Australia, or
 *		any number in international form?
 */
static bool
national_phone(const FoundNumber *n)
{
	const char *d = n->digits;
	int			nd = n->ndigits;

	if (n->plus)
		return nd >= 8;
	if (nd == 10 && d[0] >= '2' && d[0] <= '9' && d[3] >= '2' && d[3] <= '9')
		return true;			/* NANP, (NPA) NXX-XXXX */
	if (nd == 11 && d[0] == '1' && d[1] >= '2' && d[1] <= '9' && d[4] >= '2' && d[4] <= '9')
		return true;			/* NANP with its country code */
	if (nd == 11 && d[0] == '0' && d[1] >= '1' && d[1] <= '9')
		return true;			/* UK national */
	if (nd == 10 && d[0] == '0' &&
		(d[1] == '2' || d[1] == '3' || d[1] == '4' || d[1] == '7' || d[1] == '8'))
		return true;			/* Australia national */
	if (nd >= 11 && d[0] == '0' && d[1] == '0')
		return true;			/* "00" international prefix */
	return false;
}

/* ---- National identifiers ---- */

/* The digits of a value made of digits and " -" only, or -1 */
static int
id_digits(const char *s, size_t len, char *d, int max)
{
	int			nd = 0;

	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (is_digit(c))
		{
			if (nd == max)
				return -1;
			d[nd++] = (char) (c - '0');
		}
		else if (c != ' ' && c != '-')
			return -1;
	}
	return nd;
}

/*
 * is_national_id
 *		Does a trimmed value have the form of a national identifier?
 *
 *	- US Social Security number: 3-2-4 digits, area not 000, 666 or 9xx,
 *	  group not 00, serial not 0000 (no check digit exists);
 *	- Australian Medicare number: 10 or 11 digits, first 2 to 6, ninth the
 *	  weighted check digit (1, 3, 7, 9, 1, 3, 7, 9 modulo 10);
 *	- UK NHS number: 10 digits, the last the modulo-11 check digit;
 *	- Australian Tax File Number: 9 digits, weighted sum (1, 4, 3, 7, 5,
 *	  8, 6, 9, 10) divisible by 11;
 *	- Canadian SIN: 9 digits, Luhn-valid, not starting with 0 or 8;
 *	- UK National Insurance number: two letters, six digits, A to D.
 */
static bool
is_national_id(const char *s, size_t len)
{
	char		d[12];
	int			nd;

	/* UK National Insurance number: AB123456C, spaces allowed */
	{
		char		c[9];
		int			n = 0;

		for (size_t i = 0; i < len && n <= 9; i++)
		{
			if (s[i] == ' ')
				continue;
			if (n < 9)
				c[n] = (char) to_lower((unsigned char) s[i]);
			n++;
		}
		if (n == 9 && is_alpha((unsigned char) c[0]) && is_alpha((unsigned char) c[1]) &&
			strchr("dfiquv", c[0]) == NULL && strchr("dfioquv", c[1]) == NULL &&
			c[8] >= 'a' && c[8] <= 'd')
		{
			bool		ok = true;

			for (int i = 2; i < 8; i++)
				ok &= is_digit((unsigned char) c[i]);
			if (ok)
				return true;
		}
	}

	nd = id_digits(s, len, d, 12);
	if (nd == 9 && len == 11 && (s[3] == '-' || s[3] == ' ') && s[6] == s[3])
	{
		int			area = d[0] * 100 + d[1] * 10 + d[2];

		if (area != 0 && area != 666 && area < 900 && (d[3] | d[4]) != 0 &&
			(d[5] | d[6] | d[7] | d[8]) != 0)
			return true;		/* SSN */
	}
	if ((nd == 10 || nd == 11) && d[0] >= 2 && d[0] <= 6)
	{
		static const int w[8] = {1, 3, 7, 9, 1, 3, 7, 9};
		int			sum = 0;

		for (int i = 0; i < 8; i++)
			sum += d[i] * w[i];
		if (sum % 10 == d[8])
			return true;		/* Medicare */
	}
	if (nd == 10)
	{
		int			sum = 0,
					check;

		for (int i = 0; i < 9; i++)
			sum += d[i] * (10 - i);
		check = 11 - sum % 11;
		if (check == 11)
			check = 0;
		if (check != 10 && check == d[9])
			return true;		/* NHS */
	}
	if (nd == 9)
	{
		static const int w[9] = {1, 4, 3, 7, 5, 8, 6, 9, 10};
		int			sum = 0,
					luhn = 0;

		for (int i = 0; i < 9; i++)
		{
			int			x = (i % 2 == 1) ? d[i] * 2 : d[i];

			sum += d[i] * w[i];
			luhn += x > 9 ? x - 9 : x;
		}
		if (sum % 11 == 0)
			return true;		/* TFN */
		if (luhn % 10 == 0 && d[0] != 0 && d[0] != 8)
			return true;		/* SIN */
	}
	return false;
}

/* ---- Names and addresses, from the masking dictionaries ---- */

/* Exact lookup in a strcmp-sorted dictionary */
static bool
in_dictionary(const char *const *dict, size_t n, const char *w)
{
	size_t		lo = 0,
				hi = n;

	while (lo < hi)
	{
		size_t		mid = lo + (hi - lo) / 2;
		int			c = strcmp(dict[mid], w);

		if (c == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/*
 * dictionary_word
 *		Is a word (apostrophes dropped, as the dictionaries write "Obrien")
 *		in one of the dictionaries, as written or capitalised?
 */
static bool
dictionary_word(const char *s, size_t len, const char *const *dict1, size_t n1,
				const char *const *dict2, size_t n2)
{
	char		w[MC_MAX_WORD_LEN + 1];
	size_t		n = 0;

	for (size_t i = 0; i < len; i++)
	{
		if (s[i] == '\'')
			continue;
		if (!is_alpha((unsigned char) s[i]) || n == MC_MAX_WORD_LEN)
			return false;
		w[n++] = s[i];
	}
	if (n < 2)
		return false;
	w[n] = '\0';
	if (in_dictionary(dict1, n1, w) || (dict2 && in_dictionary(dict2, n2, w)))
		return true;
	w[0] = (char) (to_lower((unsigned char) w[0]) - 'a' + 'A');
	for (size_t i = 1; i < n; i++)
		w[i] = (char) to_lower((unsigned char) w[i]);
	return in_dictionary(dict1, n1, w) || (dict2 && in_dictionary(dict2, n2, w));
}

/*
 * is_person_name
 *		One to four words ("Ann", "Ann Lee", "Lee, Ann", "Mary-Ann
 *		O'Brien"), every one (or hyphenated part) a given name or a surname
 *		of the dictionaries.
 */
static bool
is_person_name(const char *s, size_t len)
{
	size_t		i = 0;
	int			words = 0;

	while (i < len)
	{
		size_t		start;

		while (i < len && (is_space((unsigned char) s[i]) || s[i] == ','))
			i++;
		if (i == len)
			break;
		start = i;
		while (i < len && !is_space((unsigned char) s[i]) && s[i] != ',' && s[i] != '-')
			i++;
		if (!dictionary_word(s + start, i - start, mc_first_names, mc_n_first_names,
							 mc_last_names, mc_n_last_names))
			return false;
		if (i < len && s[i] == '-')
			i++;
		else if (++words > 4)
			return false;
	}
	return words > 0;
}

/*
 * is_street_address
 *		"[Unit 5/]12[A] Some Name Street[, anything]": a house number, one
 *		to four words, and a street type (the dictionary's or its usual
 *		abbreviation) before the end or a comma.
 */
static bool
is_street_address(const char *s, size_t len)
{
	static const char *const abbreviations[] = {
		"Ave", "Blvd", "Cct", "Cl", "Cres", "Ct", "Dr", "Gr", "Hwy", "Ln", "Pde",
		"Pl", "Rd", "St", "Tce", "Highway"
	};
	size_t		i = 0;
	int			words = 0;
	const char *slash = memchr(s, '/', len);

	if (slash != NULL)
		i = (size_t) (slash - s) + 1;
	if (i >= len || !is_digit((unsigned char) s[i]))
		return false;
	while (i < len && is_digit((unsigned char) s[i]))
		i++;
	if (i < len && is_alpha((unsigned char) s[i]))
		i++;
	while (i < len && s[i] != ',')
	{
		size_t		start;

		if (s[i] != ' ')
			return false;
		while (i < len && s[i] == ' ')
			i++;
		start = i;
		while (i < len && s[i] != ' ' && s[i] != ',')
		{
			if (!is_alpha((unsigned char) s[i]) && s[i] != '\'' && s[i] != '.')
				return false;
			i++;
		}
		if (i == start)
			return false;
		words++;
		if (words >= 2 && (i == len || s[i] == ','))
		{
			char		w[MC_MAX_WORD_LEN + 1];
			size_t		n = i - start;

			if (n > 0 && s[start + n - 1] == '.')
				n--;
			if (n == 0 || n > MC_MAX_WORD_LEN)
				return false;
			memcpy(w, s + start, n);
			w[n] = '\0';
			if (dictionary_word(w, n, mc_street_types, mc_n_street_types, NULL, 0))
				return true;
			w[0] = (char) (to_lower((unsigned char) w[0]) - 'a' + 'A');
			for (size_t k = 1; k < n; k++)
				w[k] = (char) to_lower((unsigned char) w[k]);
			for (size_t k = 0; k < lengthof(abbreviations); k++)
			{
				if (strcmp(w, abbreviations[k]) == 0)
					return true;
			}
			return false;
		}
		if (words > 5)
			return false;
	}
	return false;
}

/*
 * number_key
 *		The key of a number for the leak scan: North American, UK and
 *		Australian phone numbers as "NA", "UK" or "AU" and their national
 *		significant number, whether written in national or international
 *		form ("0412 345 678" and "+61 412 345 678" are one number); any
 *		other number as its digits, with "+" when written in international
 *		form.  Returns its length in out (at least 18 bytes).
 */
static size_t
number_key(const FoundNumber *n, char *out)
{
	const char *d = n->digits;
	int			nd = n->ndigits;
	bool		intl = n->plus;
	const char *tag = NULL;
	int			skip = 0;

	if (!intl && nd >= 11 && d[0] == '0' && d[1] == '0')
	{
		intl = true;
		d += 2;
		nd -= 2;
	}
	if (intl)
	{
		if (nd == 11 && d[0] == '1')
			tag = "NA";
		else if (d[0] == '4' && d[1] == '4' && (nd == 12 || (nd == 13 && d[2] == '0')))
			tag = "UK";
		else if (d[0] == '6' && d[1] == '1' && (nd == 11 || (nd == 12 && d[2] == '0')))
			tag = "AU";
	}
	else if ((nd == 10 && d[0] >= '2' && d[0] <= '9') ||
			 (nd == 11 && d[0] == '1' && d[1] >= '2' && d[1] <= '9'))
		tag = "NA";
	else if ((nd == 11 && d[0] == '0') || (nd == 12 && d[0] == '4' && d[1] == '4'))
		tag = "UK";				/* national, or international without "+" */
	else if ((nd == 10 && d[0] == '0') ||
			 (nd == 11 && d[0] == '6' && d[1] == '1' && strchr("23478", d[2]) != NULL))
		tag = "AU";				/* national, or international as JSON writes it */

	if (tag != NULL)
	{
		/* the national significant number: the last 9 (AU) or 10 digits */
		skip = nd - (tag[0] == 'A' ? 9 : 10);
		memcpy(out, tag, 2);
		memcpy(out + 2, d + skip, nd - skip);
		return (size_t) (2 + nd - skip);
	}
	if (intl)
	{
		out[0] = '+';
		memcpy(out + 1, d, nd);
		return (size_t) nd + 1;
	}
	memcpy(out, d, nd);
	return (size_t) nd;
}

/* ---- Emails and numbers inside text ---- */

typedef void (*SpanCallback) (bool email, size_t start, size_t end, const FoundNumber *n, void *arg);

/* The bytes at which an email address's '@' or a number may be found */
static const bool span_start[256] = {
	['@'] = true, ['+'] = true, ['('] = true,
	['0'] = true, ['1'] = true, ['2'] = true, ['3'] = true, ['4'] = true,
	['5'] = true, ['6'] = true, ['7'] = true, ['8'] = true, ['9'] = true,
};

/*
 * next_span
 *		The next email address or number of 9 to 15 digits (written as
 *		phone numbers are) in a text, looked for from *pos on: its extent
 *		[*start, *end), whether it is an email address, and for a number
 *		its digits in *n.  *pos moves past it.  False when there is none.
 */
static inline bool
next_span(const char *s, size_t len, size_t *pos, bool *email, size_t *start,
		  size_t *end, FoundNumber *n)
{
	for (size_t i = *pos; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (!span_start[c])
			continue;
		if (c == '@')
		{
			if (email_at(s, len, i, start, end))
			{
				*email = true;
				*pos = *end;
				return true;
			}
		}
		else if (number_at(s, len, i, n))
		{
			*email = false;
			*start = i;
			*end = n->end;
			*pos = n->end;
			return true;
		}
	}
	*pos = len;
	return false;
}

/*
 * find_spans
 *		Call cb for each email address and each number of 9 to 15 digits
 *		(written as phone numbers are) inside a text, left to right.
 */
static void
find_spans(const char *s, size_t len, SpanCallback cb, void *arg)
{
	FoundNumber n;
	size_t		pos = 0,
				b,
				e;
	bool		email;

	while (next_span(s, len, &pos, &email, &b, &e, &n))
		cb(email, b, e, email ? NULL : &n, arg);
}

/* ---- Pieces of a value: what the leak scan fingerprints ---- */

/* One email address or number found in a text, as a piece */
static inline void
emit_span(const char *s, bool email, size_t start, size_t end, const FoundNumber *n,
		  PiiPieceCallback cb, void *arg)
{
	if (email)
		cb(PII_PIECE_EMAIL, s + start, end - start, arg);
	else
	{
		char		key[20];

		cb(PII_PIECE_NUMBER, key, number_key(n, key), arg);
	}
}

/*
 * emit_text
 *		The pieces of one text value: when the whole trimmed value is an
 *		email address or a number, that alone; else the whole value, then
 *		each email address and number found inside it.  One pass over the
 *		text: a value that is an email address or a number is its own
 *		first span (a number only from its first byte; an email address
 *		whose local part starts the value at the first '@', looked for
 *		again only when the first span is something else).
 */
static void
emit_text(const char *s, size_t len, PiiPieceCallback cb, void *arg, bool inside_only)
{
	FoundNumber n;
	size_t		pos = 0,
				b,
				e;
	bool		email;

	trim(&s, &len);
	if (len == 0)
		return;

	if (!next_span(s, len, &pos, &email, &b, &e, &n))
	{
		if (!inside_only)
			cb(PII_PIECE_WHOLE, s, len, arg);
		return;
	}
	if (!inside_only)
	{
		const char *at;
		size_t		eb,
					ee;

		if (b == 0 && e == len)
		{
			emit_span(s, email, b, e, &n, cb, arg);
			return;
		}
		at = memchr(s, '@', len);
		if (at != NULL && email_at(s, len, (size_t) (at - s), &eb, &ee) && eb == 0 && ee == len)
		{
			cb(PII_PIECE_EMAIL, s, len, arg);
			return;
		}
		cb(PII_PIECE_WHOLE, s, len, arg);
	}
	do
		emit_span(s, email, b, e, &n, cb, arg);
	while (next_span(s, len, &pos, &email, &b, &e, &n));
}

/*
 * emit_json
 *		The pieces of a JSON text: each string as a text value of its own,
 *		and the numbers between them.  Strings with escapes other than \"
 *		\\ and \/ are taken as written.
 */
static void
emit_json(const char *s, size_t len, PiiPieceCallback cb, void *arg)
{
	StringInfoData buf;
	size_t		i = 0;

	initStringInfo(&buf);
	while (i < len)
	{
		FoundNumber n;

		if (s[i] == '"')
		{
			i++;

			resetStringInfo(&buf);
			while (i < len && s[i] != '"')
			{
				if (s[i] == '\\' && i + 1 < len)
				{
					char		e = s[i + 1];

					appendStringInfoChar(&buf, (e == '"' || e == '\\' || e == '/') ? e : '\\');
					if (e == '"' || e == '\\' || e == '/')
					{
						i += 2;
						continue;
					}
				}
				else
					appendStringInfoChar(&buf, s[i]);
				i++;
			}
			emit_text(buf.data, buf.len, cb, arg, false);
			i++;
		}
		else if (is_digit((unsigned char) s[i]) && number_at(s, len, i, &n))
		{
			char		key[20];

			cb(PII_PIECE_NUMBER, key, number_key(&n, key), arg);
			i = n.end;
		}
		else
			i++;
	}
	pfree(buf.data);
}

/*
 * pii_column_type
 *		Whether a column type is one the recognisers read: text, varchar,
 *		char, json, jsonb, domains over them, and arrays of those.  Only
 *		core types: no function of a type someone else wrote runs on
 *		their values.
 */
bool
pii_column_type(Oid typid, PiiColumnType *ct)
{
	Oid			base = getBaseType(typid);
	Oid			elem = get_element_type(base);
	Oid			scalar;

	memset(ct, 0, sizeof(*ct));
	if (OidIsValid(elem))
	{
		ct->is_array = true;
		ct->elemtype = elem;
		scalar = getBaseType(elem);
		get_typlenbyvalalign(elem, &ct->elmlen, &ct->elmbyval, &ct->elmalign);
	}
	else
		scalar = base;

	switch (scalar)
	{
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
			ct->form = PII_FORM_TEXT;
			return true;
		case JSONOID:
			ct->form = PII_FORM_JSON;
			return true;
		case JSONBOID:
			ct->form = PII_FORM_JSONB;
			return true;
		default:
			return false;
	}
}

/* The pieces of one scalar (non-array) datum */
static void
scalar_pieces(int form, Datum value, PiiPieceCallback cb, void *arg)
{
	if (form == PII_FORM_JSONB)
	{
		Jsonb	   *jb = DatumGetJsonbP(value);
		StringInfoData out;

		initStringInfo(&out);
		JsonbToCString(&out, &jb->root, VARSIZE(jb));
		emit_json(out.data, out.len, cb, arg);
		pfree(out.data);
		if ((Pointer) jb != DatumGetPointer(value))
			pfree(jb);
	}
	else
	{
		text	   *t = DatumGetTextPP(value);

		if (form == PII_FORM_JSON)
			emit_json(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), cb, arg);
		else
			emit_text(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), cb, arg, false);
		if ((Pointer) t != DatumGetPointer(value))
			pfree(t);
	}
}

/*
 * pii_value_pieces
 *		Call cb for each piece of a value of a column type accepted by
 *		pii_column_type(): whole values (trimmed), email addresses, and
 *		numbers of 9 to 15 digits (as number_key() writes them, the same
 *		whether a phone number is written in national or international
 *		form).
 */
void
pii_value_pieces(const PiiColumnType *ct, Datum value, PiiPieceCallback cb, void *arg)
{
	if (ct->is_array)
	{
		ArrayType  *arr = DatumGetArrayTypeP(value);
		Datum	   *elems;
		bool	   *nulls;
		int			n;

		deconstruct_array(arr, ct->elemtype, ct->elmlen, ct->elmbyval, ct->elmalign,
						  &elems, &nulls, &n);
		for (int i = 0; i < n; i++)
		{
			if (!nulls[i])
				scalar_pieces(ct->form, elems[i], cb, arg);
		}
		pfree(elems);
		pfree(nulls);
		if ((Pointer) arr != DatumGetPointer(value))
			pfree(arr);
	}
	else
		scalar_pieces(ct->form, value, cb, arg);
}

/* ---- Evidence by name ---- */

/* Words of column names that say a kind on their own */
static const struct
{
	const char *word;
	PiiKind		kind;
}			kind_words[] = {
	{"email", PII_EMAIL}, {"mail", PII_EMAIL},
	{"phone", PII_PHONE}, {"mobile", PII_PHONE}, {"tel", PII_PHONE},
	{"telephone", PII_PHONE}, {"fax", PII_PHONE}, {"cell", PII_PHONE},
	{"cellphone", PII_PHONE},
	{"dob", PII_BIRTH_DATE}, {"birthdate", PII_BIRTH_DATE}, {"birthday", PII_BIRTH_DATE},
	{"ssn", PII_NATIONAL_ID}, {"medicare", PII_NATIONAL_ID}, {"nhs", PII_NATIONAL_ID},
	{"tfn", PII_NATIONAL_ID}, {"sin", PII_NATIONAL_ID}, {"nino", PII_NATIONAL_ID},
	{"passport", PII_NATIONAL_ID},
	{"surname", PII_NAME}, {"nickname", PII_NAME}, {"firstname", PII_NAME},
	{"lastname", PII_NAME}, {"fullname", PII_NAME},
	{"address", PII_ADDRESS}, {"addr", PII_ADDRESS}, {"street", PII_ADDRESS},
	{"postcode", PII_ADDRESS}, {"postal", PII_ADDRESS}, {"zip", PII_ADDRESS},
	{"zipcode", PII_ADDRESS}, {"city", PII_ADDRESS}, {"suburb", PII_ADDRESS},
	{"town", PII_ADDRESS},
	{"note", PII_FREE_TEXT}, {"notes", PII_FREE_TEXT}, {"comment", PII_FREE_TEXT},
	{"comments", PII_FREE_TEXT}, {"narrative", PII_FREE_TEXT},
};

/* Words that make "name" a person's name */
static const char *const name_qualifiers[] = {
	"first", "last", "given", "family", "middle", "full", "preferred", "maiden"
};

/*
 * kind_by_name
 *		The kind a column name suggests, from its words (split at
 *		non-letters and at lower-to-upper case changes), or PII_NONE.
 *		Besides the words above: "name" with a qualifier (first_name,
 *		but not file_name or login_name), "birth" (birth_date), "sms"
 *		with "number", "driver" with "licence".  Boolean columns
 *		(sms_enabled) never hold personal data.
 */
static PiiKind
kind_by_name(const char *name, Oid typid)
{
	static const PiiKind precedence[] = {
		PII_EMAIL, PII_PHONE, PII_BIRTH_DATE, PII_NATIONAL_ID, PII_NAME, PII_ADDRESS,
		PII_FREE_TEXT
	};
	bool		found[PII_NUM_KINDS] = {0};
	bool		has_name = false,
				qualified = false,
				sms = false,
				number = false,
				driver = false,
				licence = false;
	size_t		len = strlen(name);
	size_t		i = 0;

	if (typid == BOOLOID)
		return PII_NONE;

	while (i < len)
	{
		char		w[NAMEDATALEN];
		int			n = 0;

		while (i < len && !is_alpha((unsigned char) name[i]))
			i++;
		if (i == len)
			break;
		do
		{
			w[n++] = (char) to_lower((unsigned char) name[i]);
			i++;
		} while (i < len && is_alpha((unsigned char) name[i]) && n < NAMEDATALEN - 1 &&
				 !(name[i] >= 'A' && name[i] <= 'Z' && name[i - 1] >= 'a' && name[i - 1] <= 'z'));
		w[n] = '\0';

		for (int k = 0; k < (int) lengthof(kind_words); k++)
		{
			if (strcmp(w, kind_words[k].word) == 0)
				found[kind_words[k].kind] = true;
		}
		for (int k = 0; k < (int) lengthof(name_qualifiers); k++)
			qualified |= (strcmp(w, name_qualifiers[k]) == 0);
		has_name |= (strcmp(w, "name") == 0);
		found[PII_BIRTH_DATE] |= (strcmp(w, "birth") == 0);
		sms |= (strcmp(w, "sms") == 0);
		number |= (strcmp(w, "number") == 0 || strcmp(w, "no") == 0 || strcmp(w, "num") == 0);
		driver |= (strcmp(w, "driver") == 0 || strcmp(w, "drivers") == 0 || strcmp(w, "driving") == 0);
		licence |= (strcmp(w, "licence") == 0 || strcmp(w, "license") == 0);
	}
	found[PII_NAME] |= (has_name && qualified);
	found[PII_PHONE] |= (sms && number);
	found[PII_NATIONAL_ID] |= (driver && licence);

	for (int k = 0; k < (int) lengthof(precedence); k++)
	{
		if (found[precedence[k]])
			return precedence[k];
	}
	return PII_NONE;
}

/* ---- Evidence by content ---- */

/* What the sample of one column showed */
typedef struct ColumnSample
{
	AttrNumber	attnum;
	char	   *name;
	Oid			typid;
	PiiColumnType ct;
	bool		readable;		/* a type the recognisers read */
	PiiKind		name_kind;
	int64		values;			/* non-null, non-empty values sampled */
	int64		matches[PII_NUM_KINDS];
	uint64		first_match[PII_NUM_KINDS]; /* hash of the first matching value */
	bool		distinct[PII_NUM_KINDS];	/* a second, different value matched */

	/* per value, while its pieces are looked at */
	bool		inside_contact;
} ColumnSample;

/* Count a match of a kind for the current value */
static void
count_match(ColumnSample *col, PiiKind kind, const char *s, size_t len)
{
	uint64		h = hash_bytes_extended((const unsigned char *) s, (int) len, 0) | 1;

	if (col->matches[kind]++ == 0)
		col->first_match[kind] = h;
	else if (col->first_match[kind] != h)
		col->distinct[kind] = true;
}

/* Piece callback of the sample: emails and numbers inside values */
static void
sample_piece(PiiPiece piece, const char *s, size_t len, void *arg)
{
	ColumnSample *col = arg;

	if (piece != PII_PIECE_WHOLE)
		col->inside_contact = true;
}

/*
 * sample_value
 *		Run the recognisers over one sampled value of a column.
 */
static void
sample_value(ColumnSample *col, Datum value)
{
	const char *s;
	size_t		len;
	text	   *t = NULL;

	col->inside_contact = false;
	if (col->ct.form != PII_FORM_TEXT || col->ct.is_array)
	{
		/* JSON and arrays: emails and numbers inside */
		pii_value_pieces(&col->ct, value, sample_piece, col);
		col->values++;
		/* each such value counts as distinct: comparing them is not worth it */
		if (col->inside_contact)
			count_match(col, col->ct.form == PII_FORM_TEXT ? PII_TEXT_WITH_CONTACTS : PII_JSON_WITH_CONTACTS,
						(const char *) &col->values, sizeof(col->values));
		return;
	}

	t = DatumGetTextPP(value);
	s = VARDATA_ANY(t);
	len = VARSIZE_ANY_EXHDR(t);
	trim(&s, &len);
	if (len == 0)
		return;
	col->values++;

	{
		const char *at = memchr(s, '@', len);
		size_t		b,
					e;
		FoundNumber n;
		bool		whole = false;

		if (at != NULL && email_at(s, len, (size_t) (at - s), &b, &e) && b == 0 && e == len)
		{
			count_match(col, PII_EMAIL, s, len);
			whole = true;
		}
		if (number_at(s, len, 0, &n) && n.end == len)
		{
			whole = true;
			if (national_phone(&n))
				count_match(col, PII_PHONE, s, len);
		}
		if (is_national_id(s, len))
		{
			count_match(col, PII_NATIONAL_ID, s, len);
			whole = true;
		}
		if (!whole && is_person_name(s, len))
			count_match(col, PII_NAME, s, len);
		if (!whole && is_street_address(s, len))
			count_match(col, PII_ADDRESS, s, len);
		if (!whole)
		{
			emit_text(s, len, sample_piece, col, true);
			if (col->inside_contact)
				count_match(col, PII_TEXT_WITH_CONTACTS, s, len);
		}
	}
	if ((Pointer) t != DatumGetPointer(value))
		pfree(t);
}

/*
 * content_kind
 *		The kind the sample shows, with the share of values that matched;
 *		PII_NONE when none reaches its threshold.
 */
static PiiKind
content_kind(const ColumnSample *col, double *share)
{
	PiiKind		best = PII_NONE;
	double		best_share = 0;

	/* on equal shares the first wins: an identifier is often also a number */
	static const PiiKind order[] = {
		PII_EMAIL, PII_NATIONAL_ID, PII_PHONE, PII_NAME, PII_ADDRESS, PII_BIRTH_DATE,
		PII_TEXT_WITH_CONTACTS, PII_JSON_WITH_CONTACTS, PII_FREE_TEXT
	};

	*share = 0;
	if (col->values == 0)
		return PII_NONE;
	for (int o = 0; o < (int) lengthof(order); o++)
	{
		PiiKind		k = order[o];
		double		s = (double) col->matches[k] / (double) col->values;
		bool		inside = (k == PII_TEXT_WITH_CONTACTS || k == PII_JSON_WITH_CONTACTS);

		if (!col->distinct[k] || col->matches[k] < DISCOVER_MIN_DISTINCT)
			continue;
		if (s < (inside ? DISCOVER_MIN_SHARE_INSIDE : DISCOVER_MIN_SHARE_WHOLE))
			continue;
		/* a whole-value kind wins over contacts found inside values */
		if (best == PII_NONE || (!inside && (s > best_share ||
											 best == PII_TEXT_WITH_CONTACTS ||
											 best == PII_JSON_WITH_CONTACTS)))
		{
			best = (PiiKind) k;
			best_share = s;
		}
	}
	*share = best_share;
	return best;
}

/* ---- Coverage ---- */

/*
 * covering_rule
 *		The rule of a list that covers a column: a mask or set rule writing
 *		it, or a truncate or delete rule of its table; NULL if none.
 *		*partial is set when the rule applies to the rows its filter
 *		selects only.
 */
static SandboxRule *
covering_rule(List *rules, const char *schema, const char *table, const char *column,
			  bool *partial)
{
	ListCell   *lc;
	SandboxRule *found = NULL;

	foreach(lc, rules)
	{
		SandboxRule *rule = lfirst(lc);

		if (strcmp(rule->table_schema, schema) != 0 || strcmp(rule->table_name, table) != 0)
			continue;
		if ((rule->action == ACTION_MASK || rule->action == ACTION_SET) &&
			strcmp(rule->column_name, column) != 0)
			continue;
		/* prefer a rule that covers every row */
		if (found == NULL || (found->filter != NULL && rule->filter == NULL) ||
			(found->filter == NULL && rule->filter == NULL && found->action != ACTION_TRUNCATE &&
			 rule->action == ACTION_TRUNCATE))
			found = rule;
	}
	*partial = (found != NULL && found->filter != NULL && found->action != ACTION_TRUNCATE);
	return found;
}

/* ---- The discovery itself ---- */

/*
 * sample_table
 *		Read the bounded sample of a table's readable columns and run the
 *		recognisers over it.
 */
static void
sample_table(Oid relid, List *columns)
{
	Relation	rel = table_open(relid, AccessShareLock);
	BlockNumber nblocks = (rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE) ? 0 :
		RelationGetNumberOfBlocks(rel);
	double		tuples = rel->rd_rel->reltuples;
	BlockNumber rel_pages = rel->rd_rel->relpages;
	double		percent;
	StringInfoData sql;
	int			save_nestlevel;
	ListCell   *lc;
	int			ncols = 0;
	char	   *qualname = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
													  RelationGetRelationName(rel));
	bool		partitioned = (rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE);

	table_close(rel, NoLock);

	/*
	 * Rows now: the density pg_class last recorded times the blocks now,
	 * as the planner estimates them (50 rows a block when never analyzed).
	 * SYSTEM returns whole blocks in physical order, so the percentage
	 * aims at the rows wanted, and the LIMIT, three times that, only
	 * bounds an estimate gone wrong.
	 */
	if (!partitioned)
		tuples = (rel_pages > 0 && tuples > 0 ? tuples / rel_pages : 50.0) * (double) nblocks;
	else if (tuples <= 0)
		tuples = 1e9;
	percent = tuples <= 0 ? 100.0 : Min(100.0, 100.0 * sandbox_discover_sample_rows / tuples);
	if (percent < 0.0001)
		percent = 0.0001;

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	foreach(lc, columns)
	{
		ColumnSample *col = lfirst(lc);

		if (!col->readable)
			continue;
		appendStringInfo(&sql, "%s%s", ncols++ > 0 ? ", " : "", quote_identifier(col->name));
	}
	if (ncols == 0)
		return;
	appendStringInfo(&sql, " FROM %s%s TABLESAMPLE SYSTEM (%g) REPEATABLE (0) LIMIT %d",
					 partitioned ? "" : "ONLY ", qualname, percent, 3 * sandbox_discover_sample_rows);

	save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("row_security", "off", PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	if (SPI_execute(sql.data, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not sample table %s", qualname);
	AtEOXact_GUC(true, save_nestlevel);

	for (uint64 r = 0; r < SPI_processed; r++)
	{
		int			fno = 0;

		CHECK_FOR_INTERRUPTS();
		foreach(lc, columns)
		{
			ColumnSample *col = lfirst(lc);
			bool		isnull;
			Datum		value;

			if (!col->readable)
				continue;
			value = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, ++fno, &isnull);
			if (!isnull)
				sample_value(col, value);
		}
	}
	SPI_freetuptable(SPI_tuptable);
}

/*
 * pii_discover
 *		Discover the personal-data columns of every user table.  With rules
 *		(of an environment), say which rule covers each.  Returns a list of
 *		PiiFinding.  The caller is connected to SPI.
 */
List *
pii_discover(List *rules)
{
	List	   *findings = NIL;
	List	   *tables = NIL;
	ListCell   *lc;

	/*
	 * Tables, partitioned tables and materialized views outside the system
	 * schemas and the extension's own; partitions are read through their
	 * parent; temporary tables are not part of the copy.
	 */
	if (SPI_execute("SELECT c.oid FROM pg_catalog.pg_class c"
					" JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
					" WHERE c.relkind IN ('r', 'p', 'm') AND NOT c.relispartition"
					" AND c.relpersistence <> 't'"
					" AND n.nspname NOT IN ('pg_catalog', 'information_schema', '" SANDBOX_SCHEMA "')"
					" AND n.nspname !~ '^pg_toast'"
					" ORDER BY n.nspname, c.relname",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_class");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		tables = lappend_oid(tables, DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
																	SPI_tuptable->tupdesc, 1, &isnull)));
	}
	SPI_freetuptable(SPI_tuptable);

	foreach(lc, tables)
	{
		Oid			relid = lfirst_oid(lc);
		Relation	rel;
		TupleDesc	desc;
		List	   *columns = NIL;
		char	   *schema;
		char	   *relname;
		ListCell   *lc2;
		bool		any_readable = false;

		rel = table_open(relid, AccessShareLock);
		desc = RelationGetDescr(rel);
		schema = get_namespace_name(RelationGetNamespace(rel));
		relname = pstrdup(RelationGetRelationName(rel));
		for (int a = 0; a < desc->natts; a++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, a);
			ColumnSample *col;

			if (att->attisdropped)
				continue;
			col = palloc0(sizeof(ColumnSample));
			col->attnum = att->attnum;
			col->name = pstrdup(NameStr(att->attname));
			col->typid = att->atttypid;
			col->readable = pii_column_type(att->atttypid, &col->ct);
			col->name_kind = kind_by_name(col->name, getBaseType(att->atttypid));
			any_readable |= col->readable;
			columns = lappend(columns, col);
		}
		table_close(rel, NoLock);

		if (any_readable)
			sample_table(relid, columns);

		foreach(lc2, columns)
		{
			ColumnSample *col = lfirst(lc2);
			double		share;
			PiiKind		ckind = col->readable ? content_kind(col, &share) : PII_NONE;
			PiiFinding *f;
			SandboxRule *rule;
			bool		partial = false;

			if (ckind == PII_NONE && col->name_kind == PII_NONE)
				continue;
			/* by name alone, a column of a type no recogniser reads */
			f = palloc0(sizeof(PiiFinding));
			f->relid = relid;
			f->schema = schema;
			f->table = relname;
			f->column = col->name;
			f->kind = col->name_kind != PII_NONE ? col->name_kind : ckind;
			f->by_name = (col->name_kind != PII_NONE);
			f->content_kind = ckind;
			f->share = (ckind != PII_NONE) ? share : -1;
			f->sampled = col->readable ? col->values : -1;
			if (rules != NIL)
			{
				rule = covering_rule(rules, schema, relname, col->name, &partial);
				if (rule != NULL)
				{
					f->covered = true;
					f->covered_by = psprintf("rule %lld (%s%s)", (long long) rule->id,
											  sandbox_action_name(rule->action),
											  partial ? ", rows matching its filter" : "");
				}
			}
			findings = lappend(findings, f);
		}
	}
	return findings;
}

/*
 * pii_evidence
 *		"name", "content: 93% of 1000 sampled values are email", or both.
 */
char *
pii_evidence(const PiiFinding *f)
{
	StringInfoData buf;

	initStringInfo(&buf);
	if (f->by_name)
		appendStringInfoString(&buf, "name");
	if (f->content_kind != PII_NONE)
		appendStringInfo(&buf, "%scontent: %.0f%% of %lld sampled values %s %s",
						 buf.len > 0 ? "; " : "", f->share * 100, (long long) f->sampled,
						 (f->content_kind == PII_TEXT_WITH_CONTACTS ||
						  f->content_kind == PII_JSON_WITH_CONTACTS) ? "hold" : "are",
						 f->content_kind == PII_TEXT_WITH_CONTACTS ||
						 f->content_kind == PII_JSON_WITH_CONTACTS ? "emails or phone numbers" :
						 pii_kind_names[f->content_kind]);
	return buf.data;
}

/* ---- Policies ---- */

/*
 * pii_policy
 *		The policy of an environment: the kinds that must not remain
 *		uncovered (a bit per PiiKind) and what a failure does.  The
 *		nearest environment of the chain with a row in
 *		sandbox.discovery_policy decides; none means "off".
 *		penelope_sandbox.pii_check, when not "environment", overrides the
 *		action (and an environment without a policy then requires every
 *		kind).  The caller is connected to SPI.
 */
PiiCheck
pii_policy(const char *environment, uint32 *required)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(environment)};
	PiiCheck	check = PII_CHECK_OFF;
	bool		found = false;

	*required = 0;
	if (SPI_execute_with_args("SELECT p.required_kinds, p.on_failure"
							  " FROM sandbox.environment_chain($1) c"
							  " JOIN sandbox.discovery_policy p ON p.environment = c.name"
							  " ORDER BY c.depth LIMIT 1",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read sandbox.discovery_policy");
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		kinds = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		char	   *action = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);

		found = true;
		if (!isnull)
		{
			Datum	   *elems;
			bool	   *nulls;
			int			n;

			deconstruct_array(DatumGetArrayTypeP(kinds), TEXTOID, -1, false, TYPALIGN_INT,
							  &elems, &nulls, &n);
			for (int i = 0; i < n; i++)
			{
				char	   *name;

				if (nulls[i])
					continue;
				name = TextDatumGetCString(elems[i]);
				for (int k = 0; k < PII_NUM_KINDS; k++)
				{
					if (strcmp(name, pii_kind_names[k]) == 0)
						*required |= (uint32) 1 << k;
				}
			}
		}
		check = strcmp(action, "error") == 0 ? PII_CHECK_ERROR :
			strcmp(action, "warning") == 0 ? PII_CHECK_WARNING : PII_CHECK_OFF;
	}
	SPI_freetuptable(SPI_tuptable);

	if (sandbox_pii_check != PII_CHECK_ENVIRONMENT)
	{
		check = (PiiCheck) sandbox_pii_check;
		if (!found)
			*required = ((uint32) 1 << PII_NUM_KINDS) - 1;
	}
	return check;
}

/*
 * pii_check_before_run
 *		Discovery before a run changes anything: the columns of a required
 *		kind that no rule covers fail the run (policy "error", naming them)
 *		or are reported (WARNING, and rows in sandbox.run_uncovered).
 */
void
pii_check_before_run(int64 run_id, const char *environment, List *rules,
					 PiiCheck check, uint32 required)
{
	List	   *findings;
	StringInfoData names;
	int			uncovered = 0;
	ListCell   *lc;

	if (check == PII_CHECK_OFF || required == 0)
		return;

	findings = pii_discover(rules);
	initStringInfo(&names);
	foreach(lc, findings)
	{
		PiiFinding *f = lfirst(lc);

		if (f->covered || (required & ((uint32) 1 << f->kind)) == 0)
			continue;
		uncovered++;
		appendStringInfo(&names, "%s%s.%s (%s)", names.len > 0 ? ", " : "",
						 quote_qualified_identifier(f->schema, f->table),
						 quote_identifier(f->column), pii_kind_names[f->kind]);
		if (check == PII_CHECK_WARNING)
		{
			Oid			argtypes[6] = {INT8OID, NAMEOID, NAMEOID, NAMEOID, TEXTOID, TEXTOID};
			Datum		args[6];

			args[0] = Int64GetDatum(run_id);
			args[1] = DirectFunctionCall1(namein, CStringGetDatum(f->schema));
			args[2] = DirectFunctionCall1(namein, CStringGetDatum(f->table));
			args[3] = DirectFunctionCall1(namein, CStringGetDatum(f->column));
			args[4] = CStringGetTextDatum(pii_kind_names[f->kind]);
			args[5] = CStringGetTextDatum(pii_evidence(f));
			if (SPI_execute_with_args("INSERT INTO sandbox.run_uncovered"
									  " (run_id, table_schema, table_name, column_name, kind, evidence)"
									  " VALUES ($1, $2, $3, $4, $5, $6)",
									  6, argtypes, args, NULL, false, 0) != SPI_OK_INSERT)
				elog(ERROR, "could not insert into sandbox.run_uncovered");
		}
	}
	if (uncovered == 0)
		return;

	ereport(check == PII_CHECK_ERROR ? ERROR : WARNING,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg_plural("%d column that looks like personal data is covered by no rule of environment \"%s\"",
						   "%d columns that look like personal data are covered by no rule of environment \"%s\"",
						   uncovered, uncovered, environment),
			 errdetail_internal("Uncovered: %s.", names.data),
			 check == PII_CHECK_ERROR ?
			 errhint("Nothing was changed. Add rules for these columns (SELECT * FROM sandbox_discover('%s') shows the evidence), or set penelope_sandbox.pii_check.", environment) :
			 errhint("SELECT * FROM sandbox_discover('%s') shows the evidence.", environment)));
}

/* ---- Masking the contact details inside free text ---- */

extern PGDLLEXPORT Datum sandbox_mask_email(PG_FUNCTION_ARGS);
extern PGDLLEXPORT Datum sandbox_mask_phone(PG_FUNCTION_ARGS);

typedef struct MaskArg
{
	const char *s;
	StringInfoData out;
	size_t		copied;			/* bytes of s already written */
	bool		all_masked;		/* for the recogniser */
	Datum		token;			/* the run token passed on (see masking.c), or 0 */
} MaskArg;

static void
mask_span(bool email, size_t start, size_t end, const FoundNumber *n, void *arg)
{
	MaskArg    *ma = arg;
	text	   *in = cstring_to_text_with_len(ma->s + start, (int) (end - start));
	text	   *out;

	appendBinaryStringInfo(&ma->out, ma->s + ma->copied, (int) (start - ma->copied));
	if (ma->token != (Datum) 0)
		out = DatumGetTextPP(DirectFunctionCall2(email ? sandbox_mask_email : sandbox_mask_phone,
												 PointerGetDatum(in), ma->token));
	else
		out = DatumGetTextPP(DirectFunctionCall1(email ? sandbox_mask_email : sandbox_mask_phone,
												 PointerGetDatum(in)));
	appendBinaryStringInfo(&ma->out, VARDATA_ANY(out), (int) VARSIZE_ANY_EXHDR(out));
	ma->copied = end;
}

static void
check_span(bool email, size_t start, size_t end, const FoundNumber *n, void *arg)
{
	MaskArg    *ma = arg;

	if (email ? !mc_is_masked_email(ma->s + start, end - start) :
		!mc_is_masked_phone(ma->s + start, end - start))
		ma->all_masked = false;
}

PG_FUNCTION_INFO_V1(sandbox_mask_contacts);

/*
 * sandbox.mask_contacts(text) returns text
 *		Free text with every email address inside it replaced by
 *		mask_email's pseudonym and every phone number (a number of 9 to 15
 *		digits written as phone numbers are) by mask_phone's, the rest of
 *		the text as it was: for case notes an environment keeps, but whose
 *		contact details it de-identifies.
 */
Datum
sandbox_mask_contacts(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	MaskArg		ma = {0};
	size_t		len = VARSIZE_ANY_EXHDR(t);

	ma.s = VARDATA_ANY(t);
	ma.token = (PG_NARGS() == 2) ? PG_GETARG_DATUM(1) : (Datum) 0;
	initStringInfo(&ma.out);
	find_spans(ma.s, len, mask_span, &ma);
	appendBinaryStringInfo(&ma.out, ma.s + ma.copied, (int) (len - ma.copied));
	PG_RETURN_TEXT_P(cstring_to_text_with_len(ma.out.data, ma.out.len));
}

PG_FUNCTION_INFO_V1(sandbox_is_masked_contacts);

/*
 * sandbox.is_masked_contacts(text) returns boolean
 *		Is every email address inside the text one of mask_email's, and
 *		every phone number one mask_phone could have made?  Keyless.
 */
Datum
sandbox_is_masked_contacts(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	MaskArg		ma = {0};

	ma.s = VARDATA_ANY(t);
	ma.all_masked = true;
	find_spans(ma.s, VARSIZE_ANY_EXHDR(t), check_span, &ma);
	PG_RETURN_BOOL(ma.all_masked);
}

/* ---- SQL-callable ---- */

/*
 * sandbox_discover(environment text DEFAULT NULL) returns table (...)
 *		One row per column that looks like personal data.
 */
Datum
sandbox_discover(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *environment = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	List	   *rules = NIL;
	uint32		required = 0;
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	if (environment != NULL)
	{
		rules = sandbox_load_rules(environment);
		(void) pii_policy(environment, &required);
	}

	foreach(lc, pii_discover(rules))
	{
		PiiFinding *f = lfirst(lc);
		Datum		values[10];
		bool		nulls[10] = {0};

		values[0] = CStringGetTextDatum(quote_qualified_identifier(f->schema, f->table));
		values[1] = CStringGetTextDatum(f->column);
		values[2] = CStringGetTextDatum(pii_kind_names[f->kind]);
		values[3] = CStringGetTextDatum(pii_evidence(f));
		values[4] = BoolGetDatum(f->by_name);
		nulls[5] = (f->content_kind == PII_NONE);
		values[5] = nulls[5] ? (Datum) 0 : Float8GetDatum(f->share);
		nulls[6] = (f->sampled < 0);
		values[6] = Int64GetDatum(f->sampled);
		if (environment == NULL)
			nulls[7] = nulls[8] = nulls[9] = true;
		else
		{
			values[7] = BoolGetDatum((required & ((uint32) 1 << f->kind)) != 0);
			values[8] = BoolGetDatum(f->covered);
			nulls[9] = (f->covered_by == NULL);
			values[9] = nulls[9] ? (Datum) 0 : CStringGetTextDatum(f->covered_by);
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}

	SPI_finish();
	return (Datum) 0;
}
