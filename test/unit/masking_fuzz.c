/*-------------------------------------------------------------------------
 *
 * masking_fuzz.c
 *		libFuzzer harness over the pure-C masking core.
 *
 * Every input is masked by every function of the core; the harness aborts
 * (which libFuzzer reports as a crash) when a masked value breaks one of
 * the promised properties: the output is recognised by its recogniser,
 * keeps its length and shape where promised, differs from the input, and
 * an identifier's mask is inverted by the inverse permutation.  Memory
 * errors are caught by AddressSanitizer.  Run by test/masking_core.sh.
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

static bool
is_symbol(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
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
				has_symbol = false;

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
	for (i = 0; i < size; i++)
	{
		if (data[i] >= '0' && data[i] <= '9')
			has_digit = true;
		if (is_symbol(data[i]))
			has_symbol = true;
	}

	/* email */
	len = mc_mask_email(&key, in, size, out);
	if (len != MC_EMAIL_LEN || !mc_is_masked_email(out, len))
		fail("email form");
	if (size == len && memcmp(in, out, len) == 0)
		fail("email unchanged");

	/* phone: same length, non-digits in place, recognised, changed */
	mc_mask_phone(&key, in, size, out);
	for (i = 0; i < size; i++)
	{
		bool		d = data[i] >= '0' && data[i] <= '9';

		if (d != (out[i] >= '0' && out[i] <= '9'))
			fail("phone digit moved");
		if (!d && out[i] != in[i])
			fail("phone non-digit changed");
	}
	if (!mc_is_masked_phone(out, size))
		fail("phone not recognised");
	if (has_digit && memcmp(in, out, size) == 0)
		fail("phone unchanged");

	/* id: same shape, changed, inverted by mc_unmask_id */
	mc_mask_id(&key, in, size, out);
	for (i = 0; i < size; i++)
	{
		unsigned char a = data[i],
					b = (unsigned char) out[i];

		if (!is_symbol(a) && a != b)
			fail("id separator changed");
		if ((a >= '0' && a <= '9') != (b >= '0' && b <= '9') ||
			(a >= 'a' && a <= 'z') != (b >= 'a' && b <= 'z') ||
			(a >= 'A' && a <= 'Z') != (b >= 'A' && b <= 'Z'))
			fail("id class changed");
	}
	if (has_symbol && memcmp(in, out, size) == 0)
		fail("id unchanged");
	mc_unmask_id(&key, out, size, back);
	if (memcmp(back, in, size) != 0)
		fail("id not inverted");

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
