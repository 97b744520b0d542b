/* testutil.c - helpers shared by the unit suites. */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tu_tmpdir(char *buf, size_t n)
{
	const char *base = getenv("TMPDIR");
	snprintf(buf, n, "%s/spz-unit-XXXXXX", base ? base : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(buf));
}

int tu_write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	size_t w = fwrite(data, 1, len, f);
	return fclose(f) == 0 && w == len ? 0 : -1;
}

char *tu_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 4096, n = 0;
	char *b = malloc(cap);
	size_t r;
	while (b && (r = fread(b + n, 1, cap - n - 1, f)) > 0) {
		n += r;
		if (cap - n < 2) {
			char *nb = realloc(b, cap *= 2);
			if (!nb) {
				free(b);
				b = NULL;
			}
			b = nb;
		}
	}
	fclose(f);
	if (b) {
		b[n] = 0;
		if (len)
			*len = n;
	}
	return b;
}

spz_model *tu_gemm_model(int64_t rows, int64_t cols, const float *w)
{
	spz_model *m;
	ck_assert_int_eq(spz_model_new(&m, "test"), 0);
	int64_t wd[2] = {rows, cols};
	ck_assert_int_eq(spz_model_add_tensor(NULL, m, "fc.weight", wd, 2, w,
	                                      NULL), 0);
	ck_assert_int_eq(spz_model_add_tensor(NULL, m, "fc.bias", &rows, 1,
	                                      NULL, NULL), 0);
	const char *ins[3] = {"input", "fc.weight", "fc.bias"};
	const char *out = "output";
	spz_node *n;
	ck_assert_int_eq(spz_model_add_node(&n, m, "Gemm", "fc", ins, 3, &out,
	                                    1), 0);
	ck_assert_int_eq(spz_node_set_number(n, "transB", 1), 0);
	ck_assert_int_eq(spz_model_add_input(m, "input"), 0);
	ck_assert_int_eq(spz_model_add_output(m, "output"), 0);
	return m;
}

unsigned char *tu_model_bytes(const spz_model *m, spz_file_kind kind,
                              size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	ck_assert_ptr_nonnull(f);
	spz_error err = {0};
	ck_assert_msg(spz_model_write(f, m, kind, &err) == 0, "%s", err.text);
	ck_assert_int_eq(fclose(f), 0);
	return (unsigned char *)buf;
}

void tu_save(const spz_model *m, const char *path, spz_file_kind kind)
{
	spz_error err = {0};
	ck_assert_msg(spz_model_save(m, path, kind, &err) == 0, "%s",
	              err.text);
}

spz_model *tu_read_deferred(const char *path)
{
	spz_input in;
	spz_error err = {0};
	ck_assert_msg(spz_input_open(&in, path, &err) == 0, "%s", err.text);
	in.defer_values = SPZ_DEFER_MIN;
	spz_model *m = NULL;
	int rc = spz_model_read(&m, &in, &err);
	spz_input_close(&in);
	ck_assert_msg(rc == 0, "%s", err.text);
	return m;
}
