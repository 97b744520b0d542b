/*
 * vectors_common.h - the run-vector harnesses (fuzz_vectors_json.c,
 * fuzz_vectors_raw.c): spz_vectors_load for a first layer of 4 inputs,
 * then the writer in the same form, whose output must read back to the
 * same floats.
 */
#ifndef SPZ_FUZZ_VECTORS_COMMON_H
#define SPZ_FUZZ_VECTORS_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* Inputs of the first layer; the corpus vectors have this many values. */
#define FUZZ_VECTOR_N 4

static int fuzz_vectors(const uint8_t *data, size_t size, int raw)
{
	float *v = NULL;
	size_t count = 0;
	int nested = 0;
	spz_error err = {0};
	int rc = spz_vectors_load(&v, &count, &nested, fuzz_file(0, data, size),
	                          FUZZ_VECTOR_N, raw, &err);
	if (rc) {
		fuzz_check_failure(rc, &err);
		return 0;
	}
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		fuzz_die("open_memstream failed", NULL);
	rc = spz_vectors_write(f, v, count, FUZZ_VECTOR_N, nested, raw, &err);
	if (fclose(f) || rc)
		fuzz_die("vectors the reader took do not write", &err);
	float *w = NULL;
	size_t count2 = 0;
	int nested2 = 0;
	rc = spz_vectors_load(&w, &count2, &nested2, fuzz_file(1, buf, len),
	                      FUZZ_VECTOR_N, raw, &err);
	if (rc)
		fuzz_die("vectors spz wrote do not read back", &err);
	if (count2 != count || nested2 != nested ||
	    memcmp(v, w, count * FUZZ_VECTOR_N * sizeof *v))
		fuzz_die("vectors read back differ from those written", NULL);
	free(w);
	free(buf);
	free(v);
	return 0;
}

#endif
