/*
 * model_common.h - the model harnesses (fuzz_model_json.c and
 * fuzz_model_spzm.c) share one body: they differ in their corpus, not in
 * the reader, since spz_model_load tells the formats apart by content.
 */
#ifndef SPZ_FUZZ_MODEL_COMMON_H
#define SPZ_FUZZ_MODEL_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* m as a .spzm in memory (malloc'd, *len bytes), NULL when the writer
 * refuses it (out of memory only: the reader validated m). */
static char *fuzz_spzm_bytes(const spz_model *m, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	if (!f)
		fuzz_die("open_memstream failed", NULL);
	spz_error err = {0};
	int rc = spz_model_write(f, m, SPZ_FILE_SPZM, &err);
	if (fclose(f))
		fuzz_die("writing to memory failed", NULL);
	if (rc) {
		if (rc != SPZ_ENOMEM)
			fuzz_die("a model the reader took is refused by the "
			         "writer", &err);
		free(buf);
		return NULL;
	}
	return buf;
}

/* Reads each deferred tensor of m as two parts of one pass, the second
 * first (spz_source.read_part, as prune's two threads do), into data of
 * its own, and checks the parts: the verdict of spz_model_undefer. */
static int fuzz_undefer_in_parts(spz_model *m, spz_error *err)
{
	for (size_t i = 0; i < m->n_tensors; i++) {
		spz_tensor *t = &m->tensors[i];
		spz_source *s = t->src;
		if (!s)
			continue;
		if (!s->read_part)
			return spz_tensor_undefer(t, err);
		int64_t n = spz_tensor_elements(t), at = n / 3;
		float *v = malloc(((size_t)n + 1) * sizeof *v);
		if (!v)
			return spz_fail(err, SPZ_ENOMEM, "out of memory");
		spz_part p[2] = {{.first = 0, .next = 0},
		                 {.first = at, .next = at}};
		int rc = s->read_part(s->ctx, &p[1], n - at, v + at, err);
		if (!rc)
			rc = s->read_part(s->ctx, &p[0], at, v, err);
		if (!rc)
			rc = s->check_parts(s->ctx, p, 2, err);
		if (rc) {
			free(v);
			return rc;
		}
		s->close(s->ctx);
		free(s);
		t->src = NULL;
		t->data = v;
	}
	return 0;
}

/*
 * The read that keeps bitmask payloads in the sparse form (pack's,
 * spz_input.keep_sparse; deferred 0) and the one that leaves every dense
 * payload in the file, read back by spz_model_undefer (prune's,
 * spz_input.defer_values; deferred 1) or as two parts of a pass
 * (deferred 2) must agree with the ordinary read
 * of the same bytes (path, already read into dense with result rc): they
 * fail exactly when that one does, and what they took writes the same
 * .spzm bytes.
 */
static void fuzz_sparse_read(const char *path, int rc, const spz_model *dense,
                             int deferred)
{
	spz_input in;
	spz_error err = {0};
	spz_model *m = NULL;
	/* Opening checks the file too (an empty one is refused there). */
	int rs = spz_input_open(&in, path, &err);
	if (!rs) {
		in.keep_sparse = !deferred;
		in.defer_values = deferred ? 1 : 0;
		rs = spz_model_read(&m, &in, &err);
		spz_input_close(&in);
		if (!rs && deferred == 1)
			rs = spz_model_undefer(m, &err);
		if (!rs && deferred == 2)
			rs = fuzz_undefer_in_parts(m, &err);
	}
	if (rs == SPZ_ENOMEM || rc == SPZ_ENOMEM) {
		spz_model_free(m);
		return;
	}
	if ((rs != 0) != (rc != 0))
		fuzz_die(rs ? "the sparse-keeping or deferring read refuses "
		              "what the dense read takes" :
		              "the sparse-keeping or deferring read takes what "
		              "the dense read refuses", rs ? &err : NULL);
	if (rs) {
		spz_model_free(m);
		fuzz_check_failure(rs, &err);
		return;
	}
	size_t la = 0, lb = 0;
	char *a = fuzz_spzm_bytes(dense, &la), *b = fuzz_spzm_bytes(m, &lb);
	if (a && b && (la != lb || memcmp(a, b, la)))
		fuzz_die("the sparse-keeping or deferring read writes other "
		         ".spzm bytes than the dense read", NULL);
	free(a);
	free(b);
	spz_model_free(m);
}

static inline int fuzz_model(const uint8_t *data, size_t size)
{
	spz_model *m = NULL;
	spz_error err = {0};
	const char *path = fuzz_file(0, data, size);
	int rc = spz_model_load(&m, path, &err);
	fuzz_sparse_read(path, rc, m, 0);
	fuzz_sparse_read(path, rc, m, 1);
	fuzz_sparse_read(path, rc, m, 2);
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
