/*
 * numtext_all.c - checks spz_float_text against the trial printing spz
 * used before (the oracle: "%.*g" with the smallest precision that reads
 * back through strtod + (float)) on every float bit pattern, or on every
 * STEP-th one: `make numtext-all` (all 2^32, about 3 us each: hours on one
 * core), `./build/numtext_all 64` for a 1/64 sample. Not part of make
 * check; the unit suite json_numtext runs the same comparison on a random
 * sample and the extremes. Also checks that each text reads back with
 * strtof. Prints the count checked and the first mismatches.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spz.h"

static const char *oracle(char buf[32], float v)
{
	for (int p = 1; p <= 17; p++) {
		snprintf(buf, 32, "%.*g", p, (double)v);
		if ((float)strtod(buf, NULL) == v)
			break;
	}
	return buf;
}

int main(int argc, char **argv)
{
	uint64_t step = argc > 1 ? strtoull(argv[1], NULL, 10) : 1;
	uint64_t start = argc > 2 ? strtoull(argv[2], NULL, 10) : 0;
	if (!step) {
		fprintf(stderr, "usage: numtext_all [STEP [START]]\n");
		return 2;
	}
	uint64_t checked = 0, bad = 0;
	for (uint64_t u = start; u < ((uint64_t)1 << 32); u += step) {
		uint32_t bits = (uint32_t)u;
		float v;
		memcpy(&v, &bits, sizeof v);
		char a[32], b[32];
		spz_float_text(a, v);
		oracle(b, v);
		int ok = !strcmp(a, b);
		if (ok && isfinite(v)) {
			float back = strtof(a, NULL);
			ok = !memcmp(&back, &v, sizeof v);
		}
		if (!ok && bad++ < 20)
			printf("mismatch: %08x: \"%s\", trial printing \"%s\"\n",
			       (unsigned)bits, a, b);
		checked++;
		if (!(checked & ((1u << 24) - 1))) {
			fprintf(stderr, "numtext_all: %llu checked, at %08x\n",
			        (unsigned long long)checked, (unsigned)bits);
		}
	}
	printf("numtext_all: %llu float bit patterns checked (every %llu "
	       "from %llu), %llu mismatches\n", (unsigned long long)checked,
	       (unsigned long long)step, (unsigned long long)start,
	       (unsigned long long)bad);
	return bad != 0;
}
