/*
 * run_io.c - the input and output vectors of spz run: JSON arrays (one
 * vector or a batch) and raw little-endian float32. Readers refuse a wrong
 * length or a value that is not a finite float32, naming vector and index.
 * Either is capped at SPZ_JSON_VECTORS_MAX bytes (json_strict.h).
 */
#include "json_strict.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Stores one JSON number as a float, refusing what float32 cannot hold. */
static int take(float *dst, const cJSON *v, const char *label, size_t vec,
                size_t i, spz_error *err)
{
	if (!cJSON_IsNumber(v))
		return spz_fail(err, SPZ_EFORMAT, "'%s': vector %zu, index %zu "
		                "is not a number", label, vec, i);
	float f = (float)v->valuedouble;
	if (!isfinite(v->valuedouble) || !isfinite(f))
		return spz_fail(err, SPZ_ERANGE, "'%s': vector %zu, index %zu: "
		                "value outside the float32 range", label, vec, i);
	*dst = f;
	return 0;
}

static int load_json(float **out, size_t *count, int *nested,
                     const char *label, cJSON *j, size_t n, spz_error *err)
{
	if (!cJSON_IsArray(j) || !cJSON_GetArraySize(j)) {
		cJSON_Delete(j);
		return spz_fail(err, SPZ_EFORMAT, "'%s': expected a JSON array "
		                "of numbers or an array of such arrays", label);
	}
	int batch = cJSON_IsArray(cJSON_GetArrayItem(j, 0));
	size_t m = batch ? (size_t)cJSON_GetArraySize(j) : 1;
	/* Every length first: the buffer is allocated only for values
	 * that are there (n comes from the image, m from the file). */
	int rc = 0;
	const cJSON *row = batch ? j->child : j;
	for (size_t s = 0; !rc && s < m; s++, row = row->next) {
		if (!cJSON_IsArray(row)) {
			rc = spz_fail(err, SPZ_EFORMAT, "'%s': item %zu of the "
			              "batch is not an array", label, s);
			break;
		}
		size_t got = (size_t)cJSON_GetArraySize(row);
		if (got != n)
			rc = spz_fail(err, SPZ_EFORMAT, "'%s': vector %zu has %zu "
			              "values, the first layer takes %zu", label, s,
			              got, n);
	}
	float *v = rc ? NULL : malloc(m * n * sizeof *v + 1);
	if (!rc && !v)
		rc = spz_fail(err, SPZ_ENOMEM, "out of memory");
	row = batch ? j->child : j;
	for (size_t s = 0; !rc && s < m; s++, row = row->next) {
		const cJSON *x = row->child;
		for (size_t i = 0; !rc && i < n; i++, x = x->next)
			rc = take(&v[s * n + i], x, label, s, i, err);
	}
	cJSON_Delete(j);
	if (rc) {
		free(v);
		return rc;
	}
	*out = v;
	*count = m;
	*nested = batch;
	return 0;
}

static int load_raw(float **out, size_t *count, int *nested,
                    const char *label, const unsigned char *b, size_t len,
                    size_t n, spz_error *err)
{
	if (!len || len % (4 * n))
		return spz_fail(err, SPZ_EFORMAT, "'%s': %zu bytes are not a "
		                "whole number of vectors of %zu float32", label,
		                len, n);
	size_t m = len / (4 * n);
	float *v = malloc(m * n * sizeof *v);
	if (!v)
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	for (size_t i = 0; i < m * n; i++) {
		uint32_t u = (uint32_t)b[4 * i] | (uint32_t)b[4 * i + 1] << 8 |
		             (uint32_t)b[4 * i + 2] << 16 |
		             (uint32_t)b[4 * i + 3] << 24;
		memcpy(&v[i], &u, 4);
		if (!isfinite(v[i])) {
			const char *what = isnan(v[i]) ? "NaN" : "infinite";
			free(v);
			return spz_fail(err, SPZ_ERANGE, "'%s': vector %zu, index "
			                "%zu is %s", label, i / n, i % n, what);
		}
	}
	*out = v;
	*count = m;
	*nested = m > 1;
	return 0;
}

int spz_vectors_load(float **out, size_t *count, int *nested,
                     const char *path, size_t n, int raw, spz_error *err)
{
	const char *label = strcmp(path, "-") ? path : "<stdin>";
	if (!raw) {
		cJSON *j = NULL;
		int rc = spz_json_load(&j, path, SPZ_JSON_VECTORS_MAX,
		                       "a run input", err);
		return rc ? rc : load_json(out, count, nested, label, j, n, err);
	}
	char *text;
	size_t len;
	int rc = spz_slurp_path(&text, &len, path, SPZ_JSON_VECTORS_MAX,
	                        "a run input", err);
	if (rc)
		return rc;
	rc = load_raw(out, count, nested, label, (const unsigned char *)text,
	              len, n, err);
	free(text);
	return rc;
}

int spz_vectors_write(FILE *f, const float *v, size_t count, size_t n,
                      int nested, int raw, spz_error *err)
{
	(void)err;
	if (raw) {
		for (size_t i = 0; i < count * n; i++) {
			uint32_t u;
			memcpy(&u, &v[i], 4);
			unsigned char b[4] = {(unsigned char)u,
			                      (unsigned char)(u >> 8),
			                      (unsigned char)(u >> 16),
			                      (unsigned char)(u >> 24)};
			fwrite(b, 1, 4, f);
		}
		return 0;
	}
	char buf[32];
	if (nested)
		fputs("[\n", f);
	for (size_t s = 0; s < count; s++) {
		fputs(nested ? "  [" : "[", f);
		for (size_t i = 0; i < n; i++)
			fprintf(f, "%s%s", i ? ", " : "",
			        spz_format_float(buf, v[s * n + i]));
		fputs(s + 1 < count ? "],\n" : "]\n", f);
	}
	if (nested)
		fputs("]\n", f);
	return 0;
}
