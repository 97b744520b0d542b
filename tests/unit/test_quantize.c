/* test_quantize.c - weight sharing: sort, Lloyd, the exact optimum, the
 * tensor codebook, and how quantized models round-trip through files. */
#define _POSIX_C_SOURCE 200809L
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* n values: a mixture of a few normals, a fraction pruned to 0. */
static float *mixture(size_t n, double zero_frac, uint64_t seed)
{
	spz_rng r;
	spz_rng_seed(&r, seed);
	float *w = malloc(n * sizeof *w);
	ck_assert_ptr_nonnull(w);
	for (size_t i = 0; i < n; i++) {
		double centre = (double)spz_rng_below(&r, 5) - 2.0;
		float v = (float)(centre + 0.3 * spz_rng_normal(&r));
		w[i] = spz_rng_uniform(&r) < zero_frac || v == 0.0f ? 0.0f : v;
	}
	return w;
}

static int cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return (x > y) - (x < y);
}

/* Sum of squared errors of the non-zeros of t against the original w. */
static double tensor_sse(const spz_tensor *t, const float *w, int64_t n)
{
	double s = 0;
	for (int64_t i = 0; i < n; i++) {
		double e = (double)w[i] - spz_tensor_value(t, i);
		s += e * e;
	}
	return s;
}

/* Quantizes a copy of w [rows x cols] as fc.weight; the caller frees. */
static spz_model *quantized(const float *w, int64_t rows, int64_t cols,
                            const spz_quant_options *o, spz_quant_stats *st)
{
	spz_model *m = tu_gemm_model(rows, cols, w);
	spz_error err = {0};
	int rc = spz_quantize_tensor(st, spz_model_tensor(m, "fc.weight"), o,
	                             &err);
	ck_assert_msg(rc == 0, "quantize: %s", err.text);
	ck_assert_int_eq(spz_model_validate(m, &err), 0);
	return m;
}

START_TEST(sort_matches_qsort)
{
	spz_rng r;
	spz_rng_seed(&r, 9);
	size_t n = 20000;
	float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
	for (size_t i = 0; i < n; i++) {
		/* Wide exponents, both signs, some repeats. */
		a[i] = (float)(spz_rng_normal(&r) * pow(10, (double)spz_rng_below(&r, 20) - 10));
		if (i % 7 == 0)
			a[i] = a[i / 2];
	}
	memcpy(b, a, n * sizeof *a);
	ck_assert_int_eq(spz_sort_floats(a, n, NULL), 0);
	qsort(b, n, sizeof *b, cmp_float);
	ck_assert(!memcmp(a, b, n * sizeof *a));
	/* All keys sharing high bytes: the skipped passes still sort. */
	for (size_t i = 0; i < 1000; i++)
		a[i] = 1.0f + (float)((i * 7919) % 1000) * FLT_EPSILON;
	memcpy(b, a, 1000 * sizeof *a);
	ck_assert_int_eq(spz_sort_floats(a, 1000, NULL), 0);
	qsort(b, 1000, sizeof *b, cmp_float);
	ck_assert(!memcmp(a, b, 1000 * sizeof *a));
	free(a);
	free(b);
}
END_TEST

START_TEST(zero_stays_zero_nonzero_stays_nonzero)
{
	float *w = mixture(3000, 0.6, 1);
	for (int bits = 1; bits <= 8; bits++)
		for (int init = 0; init <= 4; init++) {
			spz_quant_options o = SPZ_QUANT_OPTIONS_INIT;
			o.bits = bits;
			o.init = init < 4 ? init : 0;
			o.optimal = init == 4;
			spz_quant_stats st;
			spz_model *m = quantized(w, 60, 50, &o, &st);
			const spz_tensor *t = spz_model_tensor(m, "fc.weight");
			ck_assert_ptr_null(t->data);
			ck_assert_int_eq(t->bits, bits);
			ck_assert_uint_eq(t->codebook_size, 1u << bits);
			ck_assert(t->codebook[0] == 0.0f);
			for (uint32_t j = 1; j < t->codebook_size; j++) {
				ck_assert(t->codebook[j] != 0.0f);
				if (j > 1)
					ck_assert(t->codebook[j] >= t->codebook[j - 1]);
			}
			int64_t nz = 0;
			for (int i = 0; i < 3000; i++) {
				ck_assert_int_eq(t->codes[i] == 0, w[i] == 0.0f);
				nz += w[i] != 0.0f;
			}
			ck_assert_int_eq(spz_tensor_nonzeros(t), nz);
			ck_assert_int_eq(st.nonzeros, nz);
			double sse = tensor_sse(t, w, 3000);
			ck_assert(fabs(st.mse - sse / 3000) <= 1e-12 + 1e-9 * st.mse);
			spz_model_free(m);
		}
	free(w);
}
END_TEST

/* The Lloyd fixed point: nearest centroid, centroid = mean of its values. */
static void check_fixed_point(const spz_tensor *t, const float *w,
                              int64_t n)
{
	uint32_t k = t->codebook_size;
	double *sum = calloc(k, sizeof *sum);
	int64_t *cnt = calloc(k, sizeof *cnt);
	for (int64_t i = 0; i < n; i++) {
		if (w[i] == 0.0f)
			continue;
		uint8_t c = t->codes[i];
		double d = fabs((double)w[i] - t->codebook[c]);
		for (uint32_t j = 1; j < k; j++)
			ck_assert_msg(d <= fabs((double)w[i] - t->codebook[j]),
			              "value %g: code %u is not the nearest",
			              (double)w[i], c);
		sum[c] += w[i];
		cnt[c]++;
	}
	for (uint32_t j = 1; j < k; j++) {
		ck_assert_msg(cnt[j] > 0, "cluster %u is empty", j);
		double mean = sum[j] / (double)cnt[j];
		ck_assert_msg(fabs(t->codebook[j] - mean) <= 4e-7 * fabs(mean),
		              "centroid %u = %.9g, mean %.9g", j,
		              (double)t->codebook[j], mean);
	}
	free(sum);
	free(cnt);
}

START_TEST(lloyd_reaches_a_fixed_point)
{
	for (int init = 0; init < 4; init++)
		for (uint64_t seed = 1; seed <= 3; seed++) {
			float *w = mixture(4000, 0.5, seed * 10 + (uint64_t)init);
			spz_quant_options o = SPZ_QUANT_OPTIONS_INIT;
			o.init = init;
			o.seed = seed;
			o.max_iter = 1000;
			spz_quant_stats st;
			spz_model *m = quantized(w, 40, 100, &o, &st);
			ck_assert_msg(st.converged, "init %d did not converge", init);
			ck_assert_int_gt(st.iterations, 0);
			check_fixed_point(spz_model_tensor(m, "fc.weight"), w, 4000);
			spz_model_free(m);
			free(w);
		}
}
END_TEST

START_TEST(optimal_never_worse_than_lloyd)
{
	for (uint64_t seed = 1; seed <= 6; seed++) {
		float *w = mixture(2500, 0.3, 100 + seed);
		spz_quant_options o = SPZ_QUANT_OPTIONS_INIT;
		o.bits = 2 + (int)(seed % 3);
		o.optimal = 1;
		spz_quant_stats best;
		spz_model *m = quantized(w, 50, 50, &o, &best);
		check_fixed_point(spz_model_tensor(m, "fc.weight"), w, 2500);
		spz_model_free(m);
		for (int init = 0; init < 4; init++) {
			o.optimal = 0;
			o.init = init;
			o.seed = seed;
			spz_quant_stats st;
			m = quantized(w, 50, 50, &o, &st);
			ck_assert_msg(best.mse <= st.mse * (1 + 1e-9),
			              "optimal %.12g > lloyd %.12g (init %d)",
			              best.mse, st.mse, init);
			spz_model_free(m);
		}
		free(w);
	}
}
END_TEST

/* Smallest SSE over all splits of sorted x[0..n) into k runs. */
static double brute(const double *x, size_t n, size_t k)
{
	if (k == 1) {
		double s = 0, q = 0;
		for (size_t i = 0; i < n; i++) {
			s += x[i];
			q += x[i] * x[i];
		}
		double v = q - s * s / (double)n;
		return v > 0 ? v : 0;
	}
	double best = INFINITY;
	for (size_t j = 1; j + k - 1 <= n; j++) {
		double v = brute(x, j, 1) + brute(x + j, n - j, k - 1);
		if (v < best)
			best = v;
	}
	return best;
}

START_TEST(optimal_matches_brute_force)
{
	spz_rng r;
	spz_rng_seed(&r, 77);
	for (int trial = 0; trial < 400; trial++) {
		size_t n = 2 + (size_t)spz_rng_below(&r, 11);
		size_t k = 1 + (size_t)spz_rng_below(&r, 5);
		float v[16];
		double x[16];
		for (size_t i = 0; i < n; i++) {
			/* Few distinct values sometimes, to hit duplicates. */
			v[i] = trial % 3 ? (float)spz_rng_normal(&r)
			                 : (float)(1 + spz_rng_below(&r, 4));
			if (spz_rng_below(&r, 2))
				v[i] = -v[i];
		}
		spz_kmeans_options o = SPZ_KMEANS_OPTIONS_INIT;
		o.k = k;
		o.optimal = 1;
		float c[8];
		spz_kmeans_stats st;
		ck_assert_int_eq(spz_kmeans_1d(c, &st, v, n, &o, NULL), 0);
		for (size_t i = 0; i < n; i++)
			x[i] = v[i];
		qsort(v, n, sizeof *v, cmp_float);
		for (size_t i = 0; i < n; i++)
			x[i] = v[i];
		size_t kk = st.clusters;
		double want = brute(x, n, kk);
		ck_assert_msg(fabs(st.sse - want) <= 1e-12 + 1e-6 * want,
		              "trial %d n %zu k %zu: dp %.12g brute %.12g", trial,
		              n, k, st.sse, want);
	}
}
END_TEST

/* Plain O(k n^2) DP for the optimum, to check the divide and conquer and
 * the bit-vector backtrack on sizes brute force cannot reach. */
static double dp_plain(const double *x, size_t n, size_t k)
{
	double *s1 = calloc(n + 1, sizeof *s1), *s2 = calloc(n + 1, sizeof *s2);
	double *d = malloc((n + 1) * sizeof *d), *e = malloc((n + 1) * sizeof *e);
	for (size_t i = 0; i < n; i++) {
		s1[i + 1] = s1[i] + x[i];
		s2[i + 1] = s2[i] + x[i] * x[i];
	}
#define SSE(a, b) (s2[b] - s2[a] - (s1[b] - s1[a]) * (s1[b] - s1[a]) / (double)((b) - (a)))
	for (size_t i = 0; i <= n; i++)
		d[i] = i ? SSE(0, i) : INFINITY;
	for (size_t m = 2; m <= k; m++) {
		for (size_t i = 0; i <= n; i++) {
			e[i] = INFINITY;
			for (size_t j = m - 1; j < i; j++)
				if (d[j] + SSE(j, i) < e[i])
					e[i] = d[j] + SSE(j, i);
		}
		memcpy(d, e, (n + 1) * sizeof *d);
	}
#undef SSE
	double v = d[n];
	free(s1);
	free(s2);
	free(d);
	free(e);
	return v;
}

START_TEST(optimal_matches_plain_dp)
{
	static const size_t ks[] = {2, 3, 7, 15, 40, 255};
	for (size_t q = 0; q < sizeof ks / sizeof *ks; q++) {
		size_t n = 700;
		float *v = mixture(n, 0, 500 + q);
		spz_kmeans_options o = SPZ_KMEANS_OPTIONS_INIT;
		o.k = ks[q];
		o.optimal = 1;
		float c[255];
		spz_kmeans_stats st;
		ck_assert_int_eq(spz_kmeans_1d(c, &st, v, n, &o, NULL), 0);
		ck_assert_uint_eq(st.clusters, ks[q]);
		qsort(v, n, sizeof *v, cmp_float);
		double *x = malloc(n * sizeof *x);
		for (size_t i = 0; i < n; i++)
			x[i] = v[i];
		double want = dp_plain(x, n, ks[q]);
		ck_assert_msg(fabs(st.sse - want) <= 1e-10 + 1e-6 * want,
		              "k %zu: dp %.12g plain %.12g", ks[q], st.sse, want);
		free(x);
		free(v);
	}
}
END_TEST

START_TEST(few_values_are_kept_exactly)
{
	float w[8] = {0, 3, -1, 3, 0, 2, -1, 2};
	spz_quant_options o = SPZ_QUANT_OPTIONS_INIT;
	spz_quant_stats st;
	spz_model *m = quantized(w, 2, 4, &o, &st);
	const spz_tensor *t = spz_model_tensor(m, "fc.weight");
	ck_assert_uint_eq(t->codebook_size, 4);
	ck_assert(t->codebook[0] == 0 && t->codebook[1] == -1 &&
	          t->codebook[2] == 2 && t->codebook[3] == 3);
	ck_assert(st.exact && st.mse == 0 && st.max_abs_error == 0);
	ck_assert(isinf(st.sqnr_db));
	for (int i = 0; i < 8; i++)
		ck_assert(spz_tensor_value(t, i) == w[i]);
	spz_model_free(m);

	float z[6] = {0, 0, -0.0f, 0, 0, 0};
	m = quantized(z, 2, 3, &o, &st);
	t = spz_model_tensor(m, "fc.weight");
	ck_assert_uint_eq(t->codebook_size, 1);
	ck_assert(t->codebook[0] == 0);
	ck_assert_int_eq(st.nonzeros, 0);
	spz_model_free(m);
}
END_TEST

START_TEST(zero_mean_centroid_is_not_zero)
{
	float w[4] = {-1, 1, -0.5f, 0.5f};
	spz_quant_options o = SPZ_QUANT_OPTIONS_INIT;
	o.bits = 1;
	spz_quant_stats st;
	spz_model *m = quantized(w, 2, 2, &o, &st);
	const spz_tensor *t = spz_model_tensor(m, "fc.weight");
	ck_assert_uint_eq(t->codebook_size, 2);
	ck_assert(t->codebook[1] == FLT_TRUE_MIN);
	ck_assert_int_eq(spz_tensor_nonzeros(t), 4);
	spz_model_free(m);
}
END_TEST

START_TEST(init_positions_and_max_iter_zero)
{
	float w[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
	spz_quant_options o = SPZ_QUANT_OPTIONS_INIT;
	o.bits = 2;
	o.max_iter = 0;
	spz_quant_stats st;
	spz_model *m = quantized(w, 2, 5, &o, &st);
	const spz_tensor *t = spz_model_tensor(m, "fc.weight");
	ck_assert(t->codebook[1] == 1 && t->codebook[2] == 5.5f &&
	          t->codebook[3] == 10);
	ck_assert_int_eq(st.iterations, 0);
	ck_assert(!st.converged);
	spz_model_free(m);
	/* --optimal ignores a zero max_iter, also for a single centroid. */
	float skew[4] = {1, 1, 1, 9}; /* mean 3, midrange 5 */
	o.bits = 1;
	o.optimal = 1;
	m = quantized(skew, 2, 2, &o, &st);
	ck_assert(spz_model_tensor(m, "fc.weight")->codebook[1] == 3);
	ck_assert(st.converged);
	spz_model_free(m);
	o.bits = 2;
	o.optimal = 0;
	o.init = SPZ_KMEANS_DENSITY; /* quantiles 1/6, 3/6, 5/6 */
	m = quantized(w, 2, 5, &o, &st);
	t = spz_model_tensor(m, "fc.weight");
	ck_assert(t->codebook[1] == 2 && t->codebook[2] == 6 &&
	          t->codebook[3] == 9);
	spz_model_free(m);
}
END_TEST

START_TEST(empty_clusters_are_refilled)
{
	/* Linear init puts centroids in the wide gaps: they start empty. */
	float w[12] = {1, 1.1f, 1.2f, 1.3f, 1.4f, 1.5f,
	               100, 100.2f, 100.4f, 100.6f, 100.8f, 101};
	spz_quant_options o = SPZ_QUANT_OPTIONS_INIT;
	o.bits = 3;
	spz_quant_stats st;
	spz_model *m = quantized(w, 3, 4, &o, &st);
	ck_assert(st.converged);
	check_fixed_point(spz_model_tensor(m, "fc.weight"), w, 12);
	spz_model_free(m);
}
END_TEST

START_TEST(seed_makes_it_deterministic)
{
	float *w = mixture(3000, 0.2, 42);
	int differ = 0;
	float first[16];
	for (int init = SPZ_KMEANS_RANDOM; init <= SPZ_KMEANS_KMEANSPP; init++)
		for (uint64_t seed = 1; seed <= 4; seed++) {
			spz_quant_options o = SPZ_QUANT_OPTIONS_INIT;
			o.init = init;
			o.seed = seed;
			o.max_iter = 2; /* stop early: the init still shows */
			spz_quant_stats st;
			spz_model *a = quantized(w, 30, 100, &o, &st);
			spz_model *b = quantized(w, 30, 100, &o, &st);
			const spz_tensor *ta = spz_model_tensor(a, "fc.weight");
			const spz_tensor *tb = spz_model_tensor(b, "fc.weight");
			ck_assert(!memcmp(ta->codebook, tb->codebook,
			                  16 * sizeof(float)));
			ck_assert(!memcmp(ta->codes, tb->codes, 3000));
			if (seed == 1)
				memcpy(first, ta->codebook, sizeof first);
			else
				differ += !!memcmp(first, ta->codebook, sizeof first);
			spz_model_free(a);
			spz_model_free(b);
		}
	ck_assert_int_gt(differ, 0);
	free(w);
}
END_TEST

START_TEST(bad_input_is_refused)
{
	float w[4] = {1, 2, NAN, 4};
	spz_model *m = tu_gemm_model(2, 2, w);
	spz_tensor *t = spz_model_tensor(m, "fc.weight");
	spz_quant_options o = SPZ_QUANT_OPTIONS_INIT;
	spz_error err = {0};
	ck_assert_int_eq(spz_quantize_tensor(NULL, t, &o, &err), SPZ_ERANGE);
	ck_assert_str_eq(err.text, "tensor 'fc.weight': NaN value at index 2");
	ck_assert_ptr_nonnull(t->data);
	ck_assert_ptr_null(t->codebook);
	t->data[2] = 3;
	o.bits = 0;
	ck_assert_int_eq(spz_quantize_tensor(NULL, t, &o, &err), SPZ_EINVAL);
	ck_assert_str_eq(err.text, "bits must be 1..8, not 0");
	o.bits = 9;
	ck_assert_int_eq(spz_quantize_tensor(NULL, t, &o, &err), SPZ_EINVAL);
	o.bits = 4;
	o.init = 7;
	ck_assert_int_eq(spz_quantize_tensor(NULL, t, &o, &err), SPZ_EINVAL);
	o.init = 0;
	o.max_iter = -1;
	ck_assert_int_eq(spz_quantize_tensor(NULL, t, &o, &err), SPZ_EINVAL);
	ck_assert_ptr_nonnull(t->data);
	float v[3] = {1, 0, 2};
	spz_kmeans_options ko = SPZ_KMEANS_OPTIONS_INIT;
	float c[15];
	ck_assert_int_eq(spz_kmeans_1d(c, NULL, v, 3, &ko, &err), SPZ_EINVAL);
	ck_assert_str_eq(err.text, "k-means value 1 is zero");
	ck_assert_int_eq(spz_kmeans_init_parse("kmeans++"), SPZ_KMEANS_KMEANSPP);
	ck_assert_int_eq(spz_kmeans_init_parse("nope"), -1);
	ck_assert_str_eq(spz_kmeans_init_name(SPZ_KMEANS_DENSITY), "density");
	spz_model_free(m);
}
END_TEST

START_TEST(requantize_only_when_asked)
{
	float *w = mixture(600, 0.4, 5);
	spz_quant_options o = SPZ_QUANT_OPTIONS_INIT;
	o.bits = 3;
	spz_quant_stats st;
	spz_model *m = quantized(w, 20, 30, &o, &st);
	spz_tensor *t = spz_model_tensor(m, "fc.weight");
	float cb[8];
	memcpy(cb, t->codebook, sizeof cb);
	spz_error err = {0};
	o.bits = 2;
	ck_assert_int_eq(spz_quantize_tensor(NULL, t, &o, &err),
	                 SPZ_EUNSUPPORTED);
	ck_assert(strstr(err.text, "tensor 'fc.weight' is already quantized "
	                           "(3 bits, 8 codebook entries)"));
	ck_assert(!memcmp(t->codebook, cb, sizeof cb));
	/* More bits than distinct values: the values come back exactly. */
	o.bits = 4;
	o.requantize = 1;
	ck_assert_int_eq(spz_quantize_tensor(&st, t, &o, &err), 0);
	ck_assert(st.exact);
	ck_assert_uint_eq(t->codebook_size, 8);
	ck_assert(!memcmp(t->codebook, cb, sizeof cb));
	ck_assert_int_eq(spz_tensor_dequantize(t, &err), 0);
	ck_assert_ptr_nonnull(t->data);
	ck_assert_ptr_null(t->codebook);
	for (int i = 0; i < 600; i++)
		ck_assert_int_eq(t->data[i] == 0, w[i] == 0);
	spz_model_free(m);
	free(w);
}
END_TEST

START_TEST(quantized_models_round_trip)
{
	char dir[512], pj[600], ps[600], pj2[600];
	tu_tmpdir(dir, sizeof dir);
	snprintf(pj, sizeof pj, "%s/q.json", dir);
	snprintf(ps, sizeof ps, "%s/q.spzm", dir);
	snprintf(pj2, sizeof pj2, "%s/q2.json", dir);
	for (int bits = 1; bits <= 8; bits += 3) {
		float *w = mixture(777, 0.5, 8);
		spz_quant_options o = SPZ_QUANT_OPTIONS_INIT;
		o.bits = bits;
		spz_quant_stats st;
		spz_model *m = quantized(w, 21, 37, &o, &st);
		spz_error err = {0};
		ck_assert_int_eq(spz_model_save(m, pj, SPZ_FILE_JSON, &err), 0);
		ck_assert_int_eq(spz_model_save(m, ps, SPZ_FILE_SPZM, &err), 0);
		const spz_tensor *t = spz_model_tensor(m, "fc.weight");
		for (int f = 0; f < 2; f++) {
			spz_model *b;
			ck_assert_int_eq(spz_model_load(&b, f ? ps : pj, &err), 0);
			const spz_tensor *u = spz_model_tensor(b, "fc.weight");
			ck_assert_int_eq(u->bits, bits);
			ck_assert_uint_eq(u->codebook_size, t->codebook_size);
			ck_assert(!memcmp(u->codebook, t->codebook,
			                  t->codebook_size * sizeof(float)));
			ck_assert(!memcmp(u->codes, t->codes, 777));
			if (f)
				ck_assert_int_eq(spz_model_save(b, pj2, SPZ_FILE_JSON,
				                                &err), 0);
			spz_model_free(b);
		}
		size_t la, lb;
		char *a = tu_read_file(pj, &la), *b = tu_read_file(pj2, &lb);
		ck_assert(la == lb && !memcmp(a, b, la));
		free(a);
		free(b);
		spz_model_free(m);
		free(w);
	}
}
END_TEST

Suite *quantize_suite(void)
{
	Suite *s = suite_create("quantize");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, sort_matches_qsort);
	tcase_add_test(tc, zero_stays_zero_nonzero_stays_nonzero);
	tcase_add_test(tc, lloyd_reaches_a_fixed_point);
	tcase_add_test(tc, optimal_never_worse_than_lloyd);
	tcase_add_test(tc, optimal_matches_brute_force);
	tcase_add_test(tc, optimal_matches_plain_dp);
	tcase_add_test(tc, few_values_are_kept_exactly);
	tcase_add_test(tc, zero_mean_centroid_is_not_zero);
	tcase_add_test(tc, init_positions_and_max_iter_zero);
	tcase_add_test(tc, empty_clusters_are_refilled);
	tcase_add_test(tc, seed_makes_it_deterministic);
	tcase_add_test(tc, bad_input_is_refused);
	tcase_add_test(tc, requantize_only_when_asked);
	tcase_add_test(tc, quantized_models_round_trip);
	suite_add_tcase(s, tc);
	return s;
}
