/*
 * model_common.h - the model harnesses (fuzz_model_json.c and
 * fuzz_model_spzm.c) share one body: they differ in their corpus, not in
 * the reader, since spz_model_load tells the formats apart by content.
 */
#ifndef SPZ_FUZZ_MODEL_COMMON_H
#define SPZ_FUZZ_MODEL_COMMON_H

#include <stdio.h>
#include <stdlib.h>

#include "harness.h"

/*
 * What spz writes reads back (spz_model_write): a model the reader took
 * is written in kind and must load again. open_memstream keeps it in
 * memory; the bytes then go through the reader like any input.
 */
static void fuzz_round_trip(const spz_model *m, spz_file_kind kind)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		fuzz_die("open_memstream failed", NULL);
	spz_error err = {0};
	int rc = spz_model_write(f, m, kind, &err);
	if (fclose(f))
		fuzz_die("writing to memory failed", NULL);
	if (rc) {
		/* The writer may refuse only what validation refuses, and
		 * the reader validated this model. */
		fuzz_check_failure(rc, &err);
		if (rc != SPZ_ENOMEM)
			fuzz_die("a model the reader took is refused by the "
			         "writer", &err);
	} else {
		spz_model *again = NULL;
		rc = spz_model_load(&again, fuzz_file(1, buf, len), &err);
		if (rc && rc != SPZ_ENOMEM)
			fuzz_die("a model spz wrote does not read back", &err);
		spz_model_free(again);
	}
	free(buf);
}

static inline int fuzz_model(const uint8_t *data, size_t size)
{
	spz_model *m = NULL;
	spz_error err = {0};
	int rc = spz_model_load(&m, fuzz_file(0, data, size), &err);
	if (rc) {
		fuzz_check_failure(rc, &err);
		return 0;
	}
	fuzz_round_trip(m, SPZ_FILE_JSON);
	fuzz_round_trip(m, SPZ_FILE_SPZM);
	spz_model_free(m);
	return 0;
}

#endif
