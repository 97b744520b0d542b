/*
 * test_load_progress.c - the progress hooks of model files: spz_input's
 * while a model is read (bytes done, never decreasing, ending at the
 * file's size; no hook, no calls; a pipe, of unknown size, gets none) and
 * spz_model_save_opts' while one is written (elements, ending at all;
 * the binary writers and external data in the middle too).
 */
#define _POSIX_C_SOURCE 200809L

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spz_format.h"
#include "testutil.h"

typedef struct seen {
	int calls, back;
	double last, total;
} seen;

static void note(void *ctx, double done, double total)
{
	seen *s = ctx;
	if (s->calls && (done < s->last || total != s->total))
		s->back++;
	s->calls++;
	s->last = done;
	s->total = total;
}

/* 512 x 600 weights: over 2^18 numbers, so JSON reports mid-tensor. */
static spz_model *model(void)
{
	int64_t rows = 512, cols = 600;
	float *w = malloc(sizeof *w * (size_t)(rows * cols));
	for (int64_t i = 0; i < rows * cols; i++)
		w[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
	spz_model *m = tu_gemm_model(rows, cols, w);
	free(w);
	return m;
}

static void check_kind(spz_file_kind kind, const char *ext, int min_calls)
{
	char dir[512], path[600];
	tu_tmpdir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/m%s", dir, ext);
	spz_model *m = model();
	spz_error err = {0};
	ck_assert_msg(spz_model_save(m, path, kind, &err) == 0, "%s", err.text);
	spz_model_free(m);
	size_t len;
	free(tu_read_file(path, &len));

	seen s = {0};
	spz_input in;
	ck_assert_int_eq(spz_input_open(&in, path, &err), 0);
	ck_assert_uint_eq(in.size, len);
	in.progress = note;
	in.progress_ctx = &s;
	ck_assert_msg(spz_model_read(&m, &in, &err) == 0, "%s", err.text);
	spz_input_close(&in);
	spz_model_free(m);
	ck_assert_int_ge(s.calls, min_calls);
	ck_assert_int_eq(s.back, 0);
	ck_assert(s.last == (double)len);
	ck_assert(s.total == (double)len);

	/* Nobody listening: spz_model_load and an input left as opened. */
	ck_assert_int_eq(spz_model_load(&m, path, &err), 0);
	spz_model_free(m);
}

START_TEST(json_progress) { check_kind(SPZ_FILE_JSON, ".json", 2); }
END_TEST

START_TEST(spzm_progress) { check_kind(SPZ_FILE_SPZM, ".spzm", 2); }
END_TEST

START_TEST(onnx_progress) { check_kind(SPZ_FILE_ONNX, ".onnx", 2); }
END_TEST

/* A pipe has no known size: the hook is never called. */
START_TEST(pipe_no_progress)
{
	spz_model *m = model();
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	spz_error err = {0};
	ck_assert_int_eq(spz_model_write(f, m, SPZ_FILE_SPZM, &err), 0);
	fclose(f);
	spz_model_free(m);
	int fds[2];
	ck_assert_int_eq(pipe(fds), 0);
	pid_t pid = fork();
	if (pid == 0) {
		close(fds[0]);
		size_t off = 0;
		while (off < len) {
			ssize_t w = write(fds[1], text + off, len - off);
			if (w <= 0)
				_exit(1);
			off += (size_t)w;
		}
		_exit(0);
	}
	close(fds[1]);
	int saved = dup(0);
	dup2(fds[0], 0);
	close(fds[0]);
	seen s = {0};
	spz_input in;
	ck_assert_int_eq(spz_input_open(&in, "-", &err), 0);
	ck_assert_uint_eq(in.size, 0);
	in.progress = note;
	in.progress_ctx = &s;
	int rc = spz_model_read(&m, &in, &err);
	spz_input_close(&in);
	dup2(saved, 0);
	close(saved);
	ck_assert_msg(rc == 0, "%s", err.text);
	spz_model_free(m);
	ck_assert_int_eq(s.calls, 0);
	free(text);
}
END_TEST

static void check_save(spz_file_kind kind, const char *ext, int min_calls)
{
	char dir[512], path[600];
	tu_tmpdir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/w%s", dir, ext);
	spz_model *m = model();
	seen s = {0};
	spz_save_opts so = SPZ_SAVE_OPTS_INIT;
	so.progress = note;
	so.progress_ctx = &s;
	spz_error err = {0};
	ck_assert_msg(spz_model_save_opts(m, path, kind, &so, &err) == 0, "%s",
	              err.text);
	/* 512 x 600 weights and 512 biases. */
	double total = 512.0 * 600 + 512;
	ck_assert_int_ge(s.calls, min_calls);
	ck_assert_int_eq(s.back, 0);
	ck_assert(s.last == total);
	ck_assert(s.total == total);
	/* No options: the same file, no calls. */
	char again[700];
	snprintf(again, sizeof again, "%s/again%s", dir, ext);
	ck_assert_int_eq(spz_model_save_opts(m, again, kind, NULL, &err), 0);
	spz_model_free(m);
	size_t n1, n2;
	char *a = tu_read_file(path, &n1), *b = tu_read_file(again, &n2);
	ck_assert_uint_eq(n1, n2);
	ck_assert(!memcmp(a, b, n1));
	free(a);
	free(b);
}

START_TEST(json_save_progress) { check_save(SPZ_FILE_JSON, ".json", 10); }
END_TEST

START_TEST(spzm_save_progress) { check_save(SPZ_FILE_SPZM, ".spzm", 1); }
END_TEST

START_TEST(onnx_save_progress) { check_save(SPZ_FILE_ONNX, ".onnx", 1); }
END_TEST

/* Two 16 MiB tensors (a weight and an unused initializer) of non-zero
 * values: the binary writers' pieces (SPZ_WPROG_BYTES, 8 MiB) tell
 * progress in the middle of each; a .spzm streams the one and writes the
 * other through stdio, both ticking. */
static spz_model *big_model(void)
{
	int64_t rows = 1024, cols = 4096, n = rows * cols;
	float *w = malloc(sizeof *w * (size_t)n);
	for (int64_t i = 0; i < n; i++)
		w[i] = (float)((i * 7919) % 1000 + 1) / 1000.0f;
	spz_model *m = tu_gemm_model(rows, cols, w);
	spz_error err = {0};
	ck_assert_int_eq(spz_model_add_tensor(NULL, m, "extra", &n, 1, w,
	                                      &err), 0);
	free(w);
	return m;
}

typedef struct mid {
	seen s;
	int middle; /* calls with 0 < done < total */
} mid;

static void note_mid(void *ctx, double done, double total)
{
	mid *m = ctx;
	note(&m->s, done, total);
	if (done > 0 && done < total)
		m->middle++;
}

/* kind 0: spz_model_save_opts as .spzm, 1: as ONNX, 2: ONNX with
 * external data, 3: JSON with external data. */
static void check_big_save(int how, int min_middle)
{
	static const char *const ext[] = {".spzm", ".onnx", ".onnx", ".json"};
	char dir[512], path[600];
	tu_tmpdir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/b%s", dir, ext[how]);
	spz_model *m = big_model();
	mid md = {{0}, 0};
	spz_save_opts so = SPZ_SAVE_OPTS_INIT;
	so.progress = note_mid;
	so.progress_ctx = &md;
	spz_error err = {0};
	int rc = how == 0 ? spz_model_save_opts(m, path, SPZ_FILE_SPZM, &so, &err)
	       : how == 1 ? spz_model_save_opts(m, path, SPZ_FILE_ONNX, &so, &err)
	       : how == 2 ? spz_onnx_save_opts(m, path, "b.bin", &so, &err)
	       : spz_json_save_external_opts(m, path, "b.bin", 1024, &so,
	                                     &err);
	ck_assert_msg(rc == 0, "%s", err.text);
	double total = 2.0 * 1024 * 4096 + 1024;
	ck_assert_int_ge(md.middle, min_middle);
	ck_assert_int_eq(md.s.back, 0);
	ck_assert(md.s.last == total);
	ck_assert(md.s.total == total);
	spz_model_free(m);
}

/* 32 MiB: 8 MiB pieces give 3 calls within each tensor of the .spzm
 * (the last piece of each ends it), 3 in the ONNX file; with external
 * data the 32 MiB go to the external file (JSON: by 8 MiB of floats). */
START_TEST(spzm_big_save_progress) { check_big_save(0, 4); }
END_TEST

START_TEST(onnx_big_save_progress) { check_big_save(1, 3); }
END_TEST

START_TEST(onnx_external_save_progress) { check_big_save(2, 3); }
END_TEST

START_TEST(json_external_save_progress) { check_big_save(3, 3); }
END_TEST

Suite *load_progress_suite(void)
{
	Suite *s = suite_create("load_progress");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, json_progress);
	tcase_add_test(tc, spzm_progress);
	tcase_add_test(tc, onnx_progress);
	tcase_add_test(tc, pipe_no_progress);
	tcase_add_test(tc, json_save_progress);
	tcase_add_test(tc, spzm_save_progress);
	tcase_add_test(tc, onnx_save_progress);
	tcase_add_test(tc, spzm_big_save_progress);
	tcase_add_test(tc, onnx_big_save_progress);
	tcase_add_test(tc, onnx_external_save_progress);
	tcase_add_test(tc, json_external_save_progress);
	suite_add_tcase(s, tc);
	return s;
}
