/* test_progress.c - the spz_progress_fn hooks of the long-running library
 * functions (k-means, weight sharing, gen, EIE packing, pruning): called,
 * never backwards, within [0, total], ending at total, the same calls for
 * the same input, and the result unchanged by listening. Also Lloyd's
 * default cap: it converges where the issue measured it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct rec {
	size_t calls;
	double first, last, total;
	int backwards, outside;
	double sum; /* of every done: the trace, for determinism */
} rec;

static void on_progress(void *ctx, double done, double total)
{
	rec *r = ctx;
	if (!(total > 0) || done < 0 || done > total * (1 + 1e-12))
		r->outside = 1;
	if (r->calls && (done / total) < (r->last / r->total) - 1e-12)
		r->backwards = 1;
	if (!r->calls)
		r->first = done;
	r->calls++;
	r->last = done;
	r->total = total;
	r->sum += done / total;
}

static void check_rec(const rec *r, const char *what)
{
	ck_assert_msg(r->calls > 0, "%s: never called", what);
	ck_assert_msg(!r->outside, "%s: done outside [0, total]", what);
	ck_assert_msg(!r->backwards, "%s: went backwards", what);
	ck_assert_msg(fabs(r->last / r->total - 1) < 1e-12,
	              "%s: ends at %g of %g", what, r->last, r->total);
}

/* n He-normal-like values (never 0). */
static float *normals(size_t n, uint64_t seed)
{
	spz_rng r;
	spz_rng_seed(&r, seed);
	float *v = malloc(n * sizeof *v);
	ck_assert_ptr_nonnull(v);
	for (size_t i = 0; i < n; i++)
		do
			v[i] = (float)(0.05 * spz_rng_normal(&r));
		while (v[i] == 0.0f);
	return v;
}

START_TEST(kmeans_reports_progress)
{
	size_t n = 200000;
	float *v = normals(n, 7);
	for (int optimal = 0; optimal <= 1; optimal++) {
		float c0[15], c1[15];
		spz_kmeans_stats s0, s1;
		spz_kmeans_options o = SPZ_KMEANS_OPTIONS_INIT;
		o.optimal = optimal;
		ck_assert_int_eq(spz_kmeans_1d(c0, &s0, v, n, &o, NULL), 0);
		rec r = {0}, r2 = {0};
		o.progress = on_progress;
		o.progress_ctx = &r;
		ck_assert_int_eq(spz_kmeans_1d(c1, &s1, v, n, &o, NULL), 0);
		check_rec(&r, optimal ? "optimal" : "lloyd");
		ck_assert_msg(r.calls >= 4, "only %zu calls", r.calls);
		/* Listening changes nothing. */
		ck_assert(!memcmp(c0, c1, sizeof c0));
		ck_assert_int_eq(s0.iterations, s1.iterations);
		/* The same calls every time: data, not the clock, decides. */
		o.progress_ctx = &r2;
		ck_assert_int_eq(spz_kmeans_1d(c1, &s1, v, n, &o, NULL), 0);
		ck_assert(r.calls == r2.calls && r.sum == r2.sum);
	}
	/* At most k distinct values (no Lloyd at all) and no values. */
	float c[15];
	spz_kmeans_stats st;
	rec r = {0};
	spz_kmeans_options o = SPZ_KMEANS_OPTIONS_INIT;
	o.progress = on_progress;
	o.progress_ctx = &r;
	ck_assert_int_eq(spz_kmeans_1d(c, &st, v, 10, &o, NULL), 0);
	ck_assert(st.exact);
	check_rec(&r, "exact");
	r = (rec){0};
	ck_assert_int_eq(spz_kmeans_1d(c, &st, v, 0, &o, NULL), 0);
	check_rec(&r, "no values");
	free(v);
}
END_TEST

START_TEST(default_cap_converges)
{
	/* Lloyd runs to convergence by default: 1 M He-normal weights at 4
	 * and 8 bits, from every init (the 4096x9216 layer's measurements
	 * are in spz.h beside SPZ_KMEANS_MAX_ITER). */
	size_t n = 1000000;
	float *v = normals(n, 11);
	spz_kmeans_options o = SPZ_KMEANS_OPTIONS_INIT;
	ck_assert_int_eq(o.max_iter, SPZ_KMEANS_MAX_ITER);
	spz_quant_options q = SPZ_QUANT_OPTIONS_INIT;
	ck_assert_int_eq(q.max_iter, SPZ_KMEANS_MAX_ITER);
	float c[255];
	for (int bits = 4; bits <= 8; bits += 4)
		for (int init = 0; init <= SPZ_KMEANS_KMEANSPP; init++) {
			spz_kmeans_stats st;
			o.k = ((size_t)1 << bits) - 1;
			o.init = init;
			ck_assert_int_eq(spz_kmeans_1d(c, &st, v, n, &o, NULL), 0);
			ck_assert_msg(st.converged, "%d bits, init %d: stopped "
			              "after %d steps", bits, init, st.iterations);
			ck_assert_int_lt(st.iterations, SPZ_KMEANS_MAX_ITER);
		}
	/* A cap below what it needs: not converged, exactly the cap. */
	o.k = 15;
	o.init = SPZ_KMEANS_LINEAR;
	o.max_iter = 5;
	spz_kmeans_stats st;
	ck_assert_int_eq(spz_kmeans_1d(c, &st, v, n, &o, NULL), 0);
	ck_assert(!st.converged && !st.exact);
	ck_assert_int_eq(st.iterations, 5);
	free(v);
}
END_TEST

START_TEST(quantize_tensor_reports_progress)
{
	spz_model *m;
	ck_assert_int_eq(spz_gen_layer(&m, 300, 400, 0.3, 5, NULL), 0);
	spz_model *m2;
	ck_assert_int_eq(spz_gen_layer(&m2, 300, 400, 0.3, 5, NULL), 0);
	spz_tensor *t = spz_model_tensor(m, "fc.weight");
	spz_tensor *t2 = spz_model_tensor(m2, "fc.weight");
	rec r = {0};
	spz_quant_options o = SPZ_QUANT_OPTIONS_INIT;
	ck_assert_int_eq(spz_quantize_tensor(NULL, t2, &o, NULL), 0);
	o.progress = on_progress;
	o.progress_ctx = &r;
	ck_assert_int_eq(spz_quantize_tensor(NULL, t, &o, NULL), 0);
	check_rec(&r, "quantize");
	ck_assert(!memcmp(t->codes, t2->codes, 300 * 400));
	ck_assert(!memcmp(t->codebook, t2->codebook,
	                  t->codebook_size * sizeof *t->codebook));
	/* A failure (already quantized) never reports past its start. */
	r = (rec){0};
	ck_assert_int_eq(spz_quantize_tensor(NULL, t, &o, NULL),
	                 SPZ_EUNSUPPORTED);
	ck_assert(!r.outside && !r.backwards);
	spz_model_free(m);
	spz_model_free(m2);
}
END_TEST

START_TEST(gen_reports_progress)
{
	rec r = {0};
	spz_gen_options o = SPZ_GEN_OPTIONS_INIT;
	o.seed = 9;
	o.progress = on_progress;
	o.progress_ctx = &r;
	spz_model *a, *b;
	/* 9 M weights: more than one report within the layer. */
	ck_assert_int_eq(spz_gen_layer_opts(&a, 3000, 3000, 0.5, &o, NULL), 0);
	check_rec(&r, "gen layer");
	ck_assert_uint_ge(r.calls, 3);
	ck_assert_int_eq(spz_gen_layer(&b, 3000, 3000, 0.5, 9, NULL), 0);
	ck_assert(!memcmp(spz_model_tensor(a, "fc.weight")->data,
	                  spz_model_tensor(b, "fc.weight")->data,
	                  9000000 * sizeof(float)));
	spz_model_free(a);
	spz_model_free(b);
	r = (rec){0};
	int64_t dims[] = {30, 20, 10};
	ck_assert_int_eq(spz_gen_mlp_opts(&a, dims, 3, &o, NULL), 0);
	check_rec(&r, "gen mlp");
	ck_assert_uint_eq(r.calls, 2); /* one per layer: small layers */
	ck_assert_int_eq(spz_gen_mlp(&b, dims, 3, 9, NULL), 0);
	ck_assert(!memcmp(spz_model_tensor(a, "fc2.weight")->data,
	                  spz_model_tensor(b, "fc2.weight")->data,
	                  200 * sizeof(float)));
	spz_model_free(a);
	spz_model_free(b);
	/* NULL options: the defaults (seed 1, no hook). */
	ck_assert_int_eq(spz_gen_layer_opts(&a, 20, 30, 0.5, NULL, NULL), 0);
	ck_assert_int_eq(spz_gen_layer(&b, 20, 30, 0.5, 1, NULL), 0);
	ck_assert(!memcmp(spz_model_tensor(a, "fc.weight")->data,
	                  spz_model_tensor(b, "fc.weight")->data,
	                  600 * sizeof(float)));
	spz_model_free(a);
	spz_model_free(b);
	ck_assert_int_eq(spz_gen_mlp_opts(&a, dims, 3, NULL, NULL), 0);
	spz_model_free(a);
	/* Bad arguments fail before any report. */
	r = (rec){0};
	ck_assert_int_eq(spz_gen_layer_opts(&a, 0, 3, 1, &o, NULL), SPZ_EINVAL);
	ck_assert_uint_eq(r.calls, 0);
}
END_TEST

START_TEST(pack_and_prune_report_progress)
{
	int64_t dims[] = {64, 48, 32, 10};
	spz_model *m;
	ck_assert_int_eq(spz_gen_mlp(&m, dims, 4, 3, NULL), 0);
	/* Prune in place: a tensor at a time, after a global selection. */
	spz_prune_item items[3] = {{0}};
	const char *names[] = {"fc1.weight", "fc2.weight", "fc3.weight"};
	for (int i = 0; i < 3; i++)
		items[i].tensor = spz_model_tensor(m, names[i]);
	rec r = {0};
	spz_prune_options po = SPZ_PRUNE_OPTIONS_INIT;
	po.global = 1;
	po.sparsity = 0.8;
	po.progress = on_progress;
	po.progress_ctx = &r;
	ck_assert_int_eq(spz_prune_model(m, items, 3, &po, NULL), 0);
	check_rec(&r, "prune");
	ck_assert_uint_eq(r.calls, 3);
	ck_assert(r.total == 64 * 48 + 48 * 32 + 32 * 10); /* by elements */
	/* Out of place, a piece (256 Ki floats) at a time, in every mode. */
	for (int mode = SPZ_PRUNE_MAGNITUDE; mode <= SPZ_PRUNE_NM; mode++) {
		spz_model *big;
		ck_assert_int_eq(spz_gen_layer(&big, 3000, 3000, 1.0, 5, NULL),
		                 0);
		spz_prune_item it = {spz_model_tensor(big, "fc.weight"), 0.9,
		                     {0}};
		spz_prune_options bo = SPZ_PRUNE_OPTIONS_INIT;
		bo.mode = (spz_prune_mode)mode;
		bo.threshold = 0.01;
		bo.sparse_out = SPZ_SPARSE_READ;
		bo.progress = on_progress;
		bo.progress_ctx = &r;
		r = (rec){0};
		ck_assert_int_eq(spz_prune_model(big, &it, 1, &bo, NULL), 0);
		check_rec(&r, "prune out of place");
		/* N:M of 2^22 elements or more runs in two halves, the
		 * first telling progress for both: half the calls. */
		ck_assert_uint_ge(r.calls, mode == SPZ_PRUNE_NM ? 15 : 30);
		ck_assert(r.total == 9000000);
		spz_model_free(big);
	}
	spz_quant_options qo = SPZ_QUANT_OPTIONS_INIT;
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(spz_quantize_tensor(NULL, items[i].tensor, &qo,
		                                     NULL), 0);
	/* Pack: by weights, one report per layer. */
	r = (rec){0};
	spz_eie_options eo = SPZ_EIE_OPTIONS_INIT;
	eo.pes = 4;
	eo.progress = on_progress;
	eo.progress_ctx = &r;
	spz_eie *e;
	ck_assert_int_eq(spz_eie_pack(&e, m, &eo, NULL), 0);
	check_rec(&r, "pack");
	ck_assert_uint_eq(r.calls, 3);
	ck_assert(r.total == 64 * 48 + 48 * 32 + 32 * 10);
	ck_assert(r.first == 64 * 48);
	spz_eie_free(e);
	spz_model_free(m);
}
END_TEST

Suite *progress_suite(void)
{
	Suite *s = suite_create("progress");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, kmeans_reports_progress);
	tcase_add_test(tc, default_cap_converges);
	tcase_add_test(tc, quantize_tensor_reports_progress);
	tcase_add_test(tc, gen_reports_progress);
	tcase_add_test(tc, pack_and_prune_report_progress);
	suite_add_tcase(s, tc);
	return s;
}
