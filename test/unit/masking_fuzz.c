/*-------------------------------------------------------------------------
 *
 * masking_fuzz.c
 *		libFuzzer harness over the pure-C masking core.
 *
 * Every input is masked by every function of the core; the harness aborts
 * (which libFuzzer reports as a crash) when a masked value breaks one of
 * the promised properties: the output is recognised by its recogniser,
 * keeps its shape where promised (every letter and digit of any script
 * replaced by an ASCII one, marks dropped, everything else kept), differs
 * from the input, and an ASCII identifier's mask is inverted by the
 * inverse permutation; and no recogniser accepts a value holding a letter
 * or digit that is not ASCII.  Memory errors are caught by
 * AddressSanitizer.  Run by test/masking_core.sh.
 *
 * Copyright (c) 2026, penelope_sandbox developers
 *
 * IDENTIFICATION
 *	  test/unit/masking_fuzz.c
 *
 *-------------------------------------------------------------------------
 */
#include "mask_core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static MaskKey key;
static bool key_ready = false;

/* Abort with a message naming the property that failed. */
static void
fail(const char *what)
{
	fprintf(stderr, "property violated: %s\n", what);
	abort();
}

/*
 * Walk the input and the output of a shape-keeping masker (mask_id,
 * mask_phone) together: every letter, digit or number of the input (any
 * script, and any byte that is not UTF-8) must give one ASCII character
 * of the same kind (for a phone, a letter gives "x" or "X"), every mark
 * nothing, and every other character itself, byte for byte.
 */
static void
check_shape(const char *in, size_t len, const char *out, size_t olen,
			bool phone, const char *what)
{
	size_t		i = 0,
				o = 0;

	while (i < len)
	{
		MaskChar	ch;
		size_t		l = mc_utf8_next(in + i, len - i, &ch);

		if (ch.cls == MC_CHAR_OTHER)
		{
			if (o + l > olen || memcmp(in + i, out + o, l) != 0)
				fail(what);
			o += l;
		}
		else if (ch.cls != MC_CHAR_MARK)
		{
			unsigned char c;

			if (o >= olen)
				fail(what);
			c = (unsigned char) out[o++];
			if (ch.cls == MC_CHAR_DIGIT || ch.cls == MC_CHAR_NUMBER)
			{
				if (!(c >= '0' && c <= '9'))
					fail(what);
			}
			else if (phone ? !(c == 'x' || c == 'X') :
					 !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
				fail(what);
			else if (ch.cls == MC_CHAR_LOWER && !(c >= 'a' && c <= 'z'))
				fail(what);
			else if (ch.cls != MC_CHAR_LOWER && (c >= 'a' && c <= 'z'))
				fail(what);
		}
		i += l;
	}
	if (o != olen)
		fail(what);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *) data;
	size_t		cap = mc_name_out_len(size);
	char	   *out,
			   *back;
	size_t		len,
				i;
	bool		has_digit = false,
				has_symbol = false,
				ascii = true;

	if (!key_ready)
	{
		uint8_t		secret[MC_SECRET_LEN];

		for (i = 0; i < MC_SECRET_LEN; i++)
			secret[i] = (uint8_t) (0x5a ^ i);
		mc_key_expand(&key, secret);
		key_ready = true;
	}
	if (cap < mc_text_out_len(size))
		cap = mc_text_out_len(size);
	if (cap < MC_ADDRESS_MAX_LEN)
		cap = MC_ADDRESS_MAX_LEN;
	out = malloc(cap);
	back = malloc(size + 1);
	for (i = 0; i < size;)
	{
		MaskChar	ch;

		i += mc_utf8_next(in + i, size - i, &ch);
		if (ch.cls == MC_CHAR_DIGIT || ch.cls == MC_CHAR_NUMBER)
			has_digit = true;
		if (ch.cls != MC_CHAR_OTHER)
			has_symbol = true;
		if (ch.cp >= 0x80)
			ascii = false;
	}

	/* email */
	len = mc_mask_email(&key, in, size, out);
	if (len != MC_EMAIL_LEN || !mc_is_masked_email(out, len))
		fail("email form");
	if (size == len && memcmp(in, out, len) == 0)
		fail("email unchanged");

	/* phone: shape kept in ASCII, recognised, changed */
	len = mc_mask_phone(&key, in, size, out);
	check_shape(in, size, out, len, true, "phone shape");
	if (!mc_is_masked_phone(out, len) || !mc_is_masked_id(out, len))
		fail("phone not recognised");
	if (has_digit && len == size && memcmp(in, out, size) == 0)
		fail("phone unchanged");

	/* id: shape kept in ASCII, recognised, changed, inverted on ASCII */
	len = mc_mask_id(&key, in, size, out);
	check_shape(in, size, out, len, false, "id shape");
	if (!mc_is_masked_id(out, len))
		fail("id not recognised");
	if (has_symbol && len == size && memcmp(in, out, size) == 0)
		fail("id unchanged");
	if (ascii)
	{
		mc_unmask_id(&key, out, len, back);
		if (memcmp(back, in, size) != 0)
			fail("id not inverted");
	}

	/* no recogniser accepts a letter, digit or mark that is not ASCII */
	if (!mc_is_masked_id(in, size) &&
		(mc_is_masked_phone(in, size) ||
		 mc_is_masked_email(in, size) || mc_is_masked_first_name(in, size) ||
		 mc_is_masked_last_name(in, size) || mc_is_masked_full_name(in, size) ||
		 mc_is_masked_address(in, size) || mc_is_masked_text(in, size)))
		fail("a value with letters or digits of another script recognised");

	/* names */
	len = mc_mask_first_name(&key, in, size, out);
	if (len > cap || !mc_is_masked_first_name(out, len))
		fail("first name");
	len = mc_mask_last_name(&key, in, size, out);
	if (len > cap || !mc_is_masked_last_name(out, len))
		fail("last name");
	len = mc_mask_full_name(&key, in, size, out);
	if (len > cap || !mc_is_masked_full_name(out, len))
		fail("full name");
	if (len > 0 && len == size && memcmp(in, out, len) == 0)
		fail("full name unchanged");

	/* address */
	len = mc_mask_address(&key, in, size, out);
	if (len > MC_ADDRESS_MAX_LEN || !mc_is_masked_address(out, len))
		fail("address");

	/* text, counting bytes as characters */
	len = mc_mask_text(&key, in, size, size, out);
	if (len > mc_text_out_len(size) || !mc_is_masked_text(out, len))
		fail("text form");
	if (size >= 2 && (len > size || len + 2 < size))
		fail("text length");
	if (size > 0 && len == size && memcmp(in, out, len) == 0)
		fail("text unchanged");

	/* date, from the first four bytes */
	if (size >= 4)
	{
		int32_t		day;
		int32_t		m;

		memcpy(&day, data, 4);
		day %= 2000000;
		m = mc_mask_date(&key, day, 9000, 1 + (int32_t) (data[0] % 200), -2451545);
		if (m == day || m >= 9000 || m < -2451545)
			fail("date");
	}

	free(out);
	free(back);
	return 0;
}
