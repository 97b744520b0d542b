/*
 * numtext.c - shortest round-trip decimal text for floats and doubles, so
 * that JSON written by spz reads back bit-identical and stays readable.
 */
#include "spz.h"

#include <stdio.h>
#include <stdlib.h>

char *spz_format_double(char buf[32], double v)
{
	for (int p = 1; p <= 17; p++) {
		snprintf(buf, 32, "%.*g", p, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	return buf;
}

char *spz_format_float(char buf[32], float v)
{
	/* Readers parse with strtod then narrow, so test exactly that. */
	for (int p = 1; p <= 17; p++) {
		snprintf(buf, 32, "%.*g", p, (double)v);
		if ((float)strtod(buf, NULL) == v)
			break;
	}
	return buf;
}
