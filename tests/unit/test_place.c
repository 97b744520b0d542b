/*
 * test_place.c - N:M pruning that puts a weight's stored values straight
 * into the .spzm being written (spz_spzm_placer_new, spz_value_sink): the
 * file must hold the bytes of the model pruned in memory and saved the
 * usual way, whether the guessed layout holds or not (a history step
 * added after the pass moves the data area), with the two halves of a
 * split pass meeting after a gap (groups of zeros store fewer values);
 * the placed values read back (densify, JSON); a NaN, bad arguments and
 * the cases with nothing to place; spz_prune_predict against the pass.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

/* A Gemm layer of rows x cols (a bias too), normal values; zero_groups:
 * every 997th group of 4 all zeros (2:4 then stores fewer than it can). */
static spz_model *layer(int64_t rows, int64_t cols, int zero_groups)
{
	float *w = malloc((size_t)(rows * cols) * sizeof *w);
	ck_assert_ptr_nonnull(w);
	spz_rng rng;
	spz_rng_seed(&rng, 23);
	for (int64_t i = 0; i < rows * cols; i++)
		w[i] = (float)spz_rng_normal(&rng);
	for (int64_t i = 0; zero_groups && i < rows * cols; i += 4 * 997)
		memset(w + i, 0, 4 * sizeof *w);
	spz_model *m = tu_gemm_model(rows, cols, w);
	free(w);
	return m;
}

/* A test's files: a folder, an input, the file expected, the output. */
typedef struct files {
	char dir[256], in[300], want[300], out[300];
} files;

static void files_new(files *f)
{
	tu_tmpdir(f->dir, sizeof f->dir);
	snprintf(f->in, sizeof f->in, "%s/in.spzm", f->dir);
	snprintf(f->want, sizeof f->want, "%s/want.spzm", f->dir);
	snprintf(f->out, sizeof f->out, "%s/out.spzm", f->dir);
}

static void files_done(const files *f)
{
	unlink(f->in);
	unlink(f->want);
	unlink(f->out);
	rmdir(f->dir);
}

/* spz_spzm_placer_new for item it of m into a new output *oo at path;
 * it must return rc. */
static spz_spzm_placer *placer_for(spz_output *oo, spz_value_sink *sink,
                                   const char *path, spz_model *m,
                                   spz_prune_item *it,
                                   const spz_prune_options *o, int rc,
                                   spz_error *err)
{
	ck_assert_int_eq(spz_output_open(oo, path, err), 0);
	spz_spzm_placer *pl = NULL;
	ck_assert_msg(spz_spzm_placer_new(&pl, sink, oo, m, it, 1, o, err) ==
	              rc, "%s", err->text);
	return pl;
}

static spz_prune_options nm_options(int n, int m, spz_nm_partial partial)
{
	spz_prune_options o = SPZ_PRUNE_OPTIONS_INIT;
	o.mode = SPZ_PRUNE_NM;
	o.nm_n = n;
	o.nm_m = m;
	o.nm_partial = partial;
	o.sparse_out = SPZ_SPARSE_REUSE;
	return o;
}

/* A step whose text is long enough to move the data area. */
static void long_step(spz_model *m)
{
	char text[300];
	memset(text, 'x', sizeof text - 1);
	text[sizeof text - 1] = 0;
	spz_param p = {"note", text};
	ck_assert_int_eq(spz_model_add_step(m, "test", &p, 1), 0);
}

/*
 * The model in src pruned N:M (o) in memory and saved; and read deferred,
 * pruned with its values put in place into out, saved there: the same
 * bytes; the placed tensor sparse with its values deferred to the file,
 * which read them back (JSON, densify) as the in-memory ones. move: a
 * step added after the pass (to both), so the guess misses.
 */
static void compare_placed(const files *fs, spz_model *src,
                           spz_prune_options o, int move)
{
	const char *in = fs->in, *want = fs->want, *out = fs->out;
	tu_save(src, in, SPZ_FILE_SPZM);
	spz_error err = {0};

	spz_model *a = tu_read_deferred(in);
	spz_prune_item ia = {spz_model_tensor(a, "fc.weight"), 0, {0}};
	ck_assert_msg(spz_prune_model(a, &ia, 1, &o, &err) == 0, "%s",
	              err.text);
	ck_assert_int_eq(spz_model_undefer(a, &err), 0);
	if (move)
		long_step(a);
	tu_save(a, want, SPZ_FILE_SPZM);

	spz_model *b = tu_read_deferred(in);
	spz_tensor *t = spz_model_tensor(b, "fc.weight");
	ck_assert_ptr_nonnull(t->src);
	ck_assert_int_eq(spz_tensor_undefer(spz_model_tensor(b, "fc.bias"),
	                                    &err), 0);
	spz_output oo;
	spz_value_sink sink;
	spz_prune_item ib = {t, 0, {0}};
	spz_spzm_placer *pl = placer_for(&oo, &sink, out, b, &ib, &o, 0, &err);
	ck_assert_ptr_nonnull(pl);
	ck_assert_ptr_eq(sink.tensor, t);
	o.sink = &sink;
	ck_assert_msg(spz_prune_model(b, &ib, 1, &o, &err) == 0, "%s",
	              err.text);
	spz_spzm_placer_free(pl);
	ck_assert(!memcmp(&ia.stats, &ib.stats, sizeof ia.stats));
	/* Sparse, its values deferred to the output. */
	ck_assert_ptr_nonnull(t->mask);
	ck_assert_ptr_null(t->nz);
	ck_assert_ptr_nonnull(t->src);
	ck_assert_int_eq(t->nnz, ib.stats.nonzeros_after);
	if (move)
		long_step(b);
	spz_save_opts so = SPZ_SAVE_OPTS_INIT;
	so.output = &oo;
	ck_assert_msg(spz_model_save_opts(b, out, SPZ_FILE_SPZM, &so, &err) ==
	              0, "%s", err.text);
	ck_assert_ptr_null(oo.f);
	size_t la, lb;
	char *x = tu_read_file(want, &la), *y = tu_read_file(out, &lb);
	ck_assert_ptr_nonnull(x);
	ck_assert_ptr_nonnull(y);
	ck_assert_uint_eq(la, lb);
	ck_assert_msg(!memcmp(x, y, la), "the placed file differs");
	free(x);
	free(y);

	/* The values read back from the (renamed) file: JSON expands
	 * them, densify reads them into memory. */
	size_t ja, jb;
	unsigned char *p = tu_model_bytes(a, SPZ_FILE_JSON, &ja);
	unsigned char *q = tu_model_bytes(b, SPZ_FILE_JSON, &jb);
	ck_assert_uint_eq(ja, jb);
	ck_assert(!memcmp(p, q, ja));
	free(p);
	free(q);
	ck_assert_int_eq(spz_tensor_densify(t, &err), 0);
	ck_assert_ptr_null(t->src);
	ck_assert_int_eq(spz_tensor_densify(ia.tensor, &err), 0);
	ck_assert(!memcmp(t->data, ia.tensor->data,
	                  (size_t)spz_tensor_elements(t) * sizeof(float)));
	spz_model_free(a);
	spz_model_free(b);
}

/* One pass (a 2.6 MB weight) and two halves (4.2 M weights), the guess
 * held or missed, 2:4 and 3:8 with partial groups pruned. */
START_TEST(placed_bytes)
{
	files fs;
	files_new(&fs);
	spz_model *small = layer(600, 1100, 0);
	spz_model *big = layer(1024, 4100, 0);
	for (int move = 0; move < 2; move++) {
		compare_placed(&fs, small,
		               nm_options(2, 4, SPZ_NM_PARTIAL_REFUSE), move);
		compare_placed(&fs, big,
		               nm_options(2, 4, SPZ_NM_PARTIAL_REFUSE), move);
		compare_placed(&fs, big,
		               nm_options(3, 8, SPZ_NM_PARTIAL_PRUNE), move);
	}
	spz_model_free(small);
	spz_model_free(big);
	files_done(&fs);
}
END_TEST

/* Groups of zeros in both halves: the first half stores fewer values
 * than it can, and the second half's, put after that room, move down. */
START_TEST(placed_halves_gap)
{
	files fs;
	files_new(&fs);
	spz_model *m = layer(2100, 2000, 1);
	for (int move = 0; move < 2; move++)
		compare_placed(&fs, m, nm_options(2, 4, SPZ_NM_PARTIAL_REFUSE),
		               move);
	spz_model_free(m);
	files_done(&fs);
}
END_TEST

/* A source over floats in memory (it owns them). */
static int mem_read(void *ctx, int64_t first, int64_t count, float *dst,
                    spz_error *err)
{
	(void)err;
	memcpy(dst, (const float *)ctx + first, (size_t)count * sizeof *dst);
	return 0;
}

static void mem_close(void *ctx)
{
	free(ctx);
}

/* Nothing to place: another mode, a weight under 1 MiB, a weight already
 * in memory, an output that is not empty. Nothing is filled then. */
START_TEST(placed_nothing)
{
	files fs;
	files_new(&fs);
	const char *in = fs.in, *out = fs.out;
	spz_model *src = layer(600, 1100, 0), *tiny = layer(100, 100, 0);
	tu_save(src, in, SPZ_FILE_SPZM);
	spz_error err = {0};
	for (int c = 0; c < 5; c++) {
		spz_model *m = c == 1 ? tiny : tu_read_deferred(in);
		spz_prune_item it = {spz_model_tensor(m, "fc.weight"), 0.5, {0}};
		spz_prune_options o = nm_options(2, 4, SPZ_NM_PARTIAL_REFUSE);
		if (c == 0)
			o.mode = SPZ_PRUNE_MAGNITUDE;
		if (c == 2)
			ck_assert_int_eq(spz_model_undefer(m, &err), 0);
		if (c == 3)
			o.sparse_out = 0;
		spz_output oo;
		ck_assert_int_eq(spz_output_open(&oo, out, &err), 0);
		if (c == 4)
			ck_assert_int_eq(fputs("x", oo.f) >= 0 &&
			                 fflush(oo.f) == 0, 1);
		spz_spzm_placer *pl = (spz_spzm_placer *)&err;
		spz_value_sink sink = {0};
		ck_assert_int_eq(spz_spzm_placer_new(&pl, &sink, &oo, m, &it, 1,
		                                     &o, &err), 0);
		ck_assert_ptr_null(pl); /* set to NULL */
		ck_assert_ptr_null(sink.tensor);
		spz_output_abort(&oo);
		if (c != 1)
			spz_model_free(m);
	}
	/* A tensor that is not an item must be in memory: the bias left
	 * in a source is refused. */
	spz_model *m = tu_read_deferred(in);
	spz_tensor *b = spz_model_tensor(m, "fc.bias");
	float *kept = b->data;
	b->data = NULL;
	b->src = calloc(1, sizeof *b->src);
	ck_assert_ptr_nonnull(b->src);
	*b->src = (spz_source){mem_read, mem_close, kept, NULL, NULL};
	spz_prune_item it = {spz_model_tensor(m, "fc.weight"), 0, {0}};
	spz_prune_options o = nm_options(2, 4, SPZ_NM_PARTIAL_REFUSE);
	spz_output oo;
	spz_value_sink sink;
	ck_assert_ptr_null(placer_for(&oo, &sink, out, m, &it, &o, SPZ_EINVAL,
	                              &err));
	ck_assert_str_eq(err.text, "tensor 'fc.bias': its values are still "
	                 "in a file");
	spz_output_abort(&oo);
	spz_model_free(m);
	spz_model_free(src);
	spz_model_free(tiny);
	files_done(&fs);
}
END_TEST

/* A NaN among the values put fails the pass with the element's index;
 * the output (aborted) leaves nothing. The values come from memory here:
 * a file's source would have refused the NaN itself. */
START_TEST(placed_nan)
{
	files fs;
	files_new(&fs);
	spz_model *src = layer(600, 1100, 0);
	tu_save(src, fs.in, SPZ_FILE_SPZM);
	spz_model *m = tu_read_deferred(fs.in);
	spz_tensor *w = spz_model_tensor(m, "fc.weight");
	spz_error err = {0};
	spz_prune_item it = {w, 0, {0}};
	spz_prune_options o = nm_options(2, 4, SPZ_NM_PARTIAL_REFUSE);
	spz_output oo;
	spz_value_sink sink;
	spz_spzm_placer *pl = placer_for(&oo, &sink, fs.out, m, &it, &o, 0,
	                                 &err);
	ck_assert_ptr_nonnull(pl);
	/* The same tensor with its values in memory, one of them NaN: a
	 * group's largest, so it is kept. */
	ck_assert_int_eq(spz_tensor_undefer(w, &err), 0);
	w->data[4 * 1000 + 2] = NAN;
	o.sink = &sink;
	o.sparse_out = SPZ_SPARSE_READ;
	ck_assert_int_eq(spz_prune_model(m, &it, 1, &o, &err), SPZ_ERANGE);
	ck_assert_str_eq(err.text, "tensor 'fc.weight': NaN value at index 4002");
	spz_spzm_placer_free(pl);
	spz_output_abort(&oo);
	ck_assert_int_eq(access(fs.out, F_OK), -1);
	spz_model_free(m);
	spz_model_free(src);
	files_done(&fs);
}
END_TEST

/* spz_prune_predict: the record and count of the pass (no value is
 * zero), the threshold aside; refusals with spz_prune_model's reasons. */
START_TEST(predict)
{
	spz_model *m = layer(30, 1003, 0);
	spz_tensor *w = spz_model_tensor(m, "fc.weight");
	spz_error err = {0};
	const spz_nm_partial parts[2] = {SPZ_NM_PARTIAL_KEEP,
	                                 SPZ_NM_PARTIAL_PRUNE};
	const int pat[3][2] = {{2, 4}, {3, 8}, {1, 2}};
	for (int k = 0; k < 3; k++)
		for (int p = 0; p < 2; p++) {
			spz_prune_options o = nm_options(pat[k][0], pat[k][1],
			                                 parts[p]);
			spz_prune_record rec;
			int64_t nnz;
			ck_assert_int_eq(spz_prune_predict(&rec, &nnz, m, w, &o,
			                                   &err), 0);
			spz_model *c = layer(30, 1003, 0);
			spz_prune_item it = {spz_model_tensor(c, "fc.weight"), 0,
			                     {0}};
			o.sparse_out = 0;
			ck_assert_int_eq(spz_prune_model(c, &it, 1, &o, &err), 0);
			ck_assert_int_eq(nnz, it.stats.nonzeros_after);
			spz_prune_record *got = it.tensor->prune;
			ck_assert_str_eq(rec.mode, got->mode);
			ck_assert_str_eq(rec.scope, got->scope);
			ck_assert(rec.target == got->target);
			ck_assert(rec.density == got->density);
			ck_assert_int_eq(rec.nm_n, got->nm_n);
			ck_assert_int_eq(rec.nm_m, got->nm_m);
			ck_assert(rec.threshold == 0);
			spz_model_free(c);
		}
	spz_prune_record rec;
	int64_t nnz;
	spz_prune_options o = nm_options(2, 4, SPZ_NM_PARTIAL_REFUSE);
	ck_assert_int_eq(spz_prune_predict(&rec, &nnz, m, w, &o, &err),
	                 SPZ_EUNSUPPORTED);
	ck_assert_str_eq(err.text, "tensor 'fc.weight': its reduction "
	                 "dimension (dim 1, size 1003) is not a multiple of "
	                 "4; say what to do with the last group "
	                 "(--nm-partial keep|prune)");
	ck_assert_int_eq(spz_prune_predict(&rec, &nnz, m,
	                                   spz_model_tensor(m, "fc.bias"), &o,
	                                   &err), SPZ_EUNSUPPORTED);
	o.mode = SPZ_PRUNE_THRESHOLD;
	ck_assert_int_eq(spz_prune_predict(&rec, &nnz, m, w, &o, &err),
	                 SPZ_EINVAL);
	spz_model_free(m);
}
END_TEST

Suite *place_suite(void)
{
	Suite *s = suite_create("place");
	TCase *c = tcase_create("core");
	tcase_set_timeout(c, 300);
	tcase_add_test(c, placed_bytes);
	tcase_add_test(c, placed_halves_gap);
	tcase_add_test(c, placed_nothing);
	tcase_add_test(c, placed_nan);
	tcase_add_test(c, predict);
	suite_add_tcase(s, c);
	return s;
}
