/* test_quantize.c - weight sharing: sort, Lloyd, the exact optimum, the
 * tensor codebook, and how quantized models round-trip through files. */
#define _POSIX_C_SOURCE 200809L
#include <float.h>
#include <math.h>
#include <stdio.h>
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

/* ------------------------------------------------------------------ */
/* Exact reference: big integers in units of 2^-149 (every finite float
 * is an integer there), so sums, squares and costs of runs are compared
 * as exact rationals, whatever the range of the values.                */

#define BD 40 /* 32-bit digits: 1280 bits, room for c^2 P^2 sum x^2 */
typedef struct big {
	int neg;
	uint32_t d[BD];
} big;

static int mag_cmp(const big *a, const big *b)
{
	for (int i = BD - 1; i >= 0; i--)
		if (a->d[i] != b->d[i])
			return a->d[i] < b->d[i] ? -1 : 1;
	return 0;
}

static int big_zero(const big *a)
{
	for (int i = 0; i < BD; i++)
		if (a->d[i])
			return 0;
	return 1;
}

/* r = |a| + |b| or |a| - |b| (|a| >= |b|) on magnitudes. */
static void mag_add(big *r, const big *a, const big *b)
{
	uint64_t c = 0;
	for (int i = 0; i < BD; i++) {
		c += (uint64_t)a->d[i] + b->d[i];
		r->d[i] = (uint32_t)c;
		c >>= 32;
	}
	ck_assert(!c);
}

static void mag_sub(big *r, const big *a, const big *b)
{
	int64_t bw = 0;
	for (int i = 0; i < BD; i++) {
		int64_t t = (int64_t)a->d[i] - b->d[i] - bw;
		bw = t < 0;
		r->d[i] = (uint32_t)(t + (bw ? ((int64_t)1 << 32) : 0));
	}
	ck_assert(!bw);
}

static big big_add(big a, big b)
{
	big r = {0};
	if (a.neg == b.neg) {
		mag_add(&r, &a, &b);
		r.neg = a.neg;
	} else if (mag_cmp(&a, &b) >= 0) {
		mag_sub(&r, &a, &b);
		r.neg = a.neg;
	} else {
		mag_sub(&r, &b, &a);
		r.neg = b.neg;
	}
	if (big_zero(&r))
		r.neg = 0;
	return r;
}

static big big_neg(big a)
{
	a.neg = !a.neg && !big_zero(&a);
	return a;
}

static big big_mul(big a, big b)
{
	big r = {0};
	for (int i = 0; i < BD; i++) {
		uint64_t c = 0;
		if (!a.d[i])
			continue;
		for (int j = 0; i + j < BD; j++) {
			c += (uint64_t)a.d[i] * b.d[j] + r.d[i + j];
			r.d[i + j] = (uint32_t)c;
			c >>= 32;
		}
		ck_assert(!c);
	}
	r.neg = a.neg != b.neg && !big_zero(&r);
	return r;
}

static big big_small(int64_t v)
{
	big r = {0};
	r.neg = v < 0;
	uint64_t m = v < 0 ? (uint64_t)-v : (uint64_t)v;
	r.d[0] = (uint32_t)m;
	r.d[1] = (uint32_t)(m >> 32);
	return r;
}

static int big_cmp(big a, big b)
{
	big d = big_add(a, big_neg(b));
	return big_zero(&d) ? 0 : d.neg ? -1 : 1;
}

/* f * 2^149 exactly (an integer below 2^277, at most 24 bits wide). */
static big big_float(float f)
{
	int e;
	double d = ldexp(fabs((double)f), 149); /* exact: a power of two */
	double m = frexp(d, &e);                 /* d = m 2^e */
	int sh = e > 53 ? e - 53 : 0;
	big r = big_small((int64_t)ldexp(m, e - sh));
	for (; sh > 0; sh--)
		r = big_add(r, r);
	r.neg = f < 0;
	return r;
}

/* The cost of sorted x[a..b) times c: c sum X^2 - (sum X)^2 (units
 * 2^-298, an integer >= 0). */
static big run_cost_c(const float *x, size_t a, size_t b)
{
	big s = {0}, q = {0};
	for (size_t i = a; i < b; i++) {
		big v = big_float(x[i]);
		s = big_add(s, v);
		q = big_add(q, big_mul(v, v));
	}
	return big_add(big_mul(big_small((int64_t)(b - a)), q),
	               big_neg(big_mul(s, s)));
}

/* Exact total cost of the runs cut[0..k] as num / den. */
static void partition_cost(big *num, big *den, const float *x,
                           const size_t *cut, size_t k)
{
	big n = {0}, d = big_small(1);
	for (size_t j = 0; j < k; j++) {
		big c = big_small((int64_t)(cut[j + 1] - cut[j]));
		/* n/d + D/c = (n c + D d) / (d c) */
		n = big_add(big_mul(n, c),
		            big_mul(run_cost_c(x, cut[j], cut[j + 1]), d));
		d = big_mul(d, c);
	}
	*num = n;
	*den = d;
}

static int cost_cmp(big n1, big d1, big n2, big d2)
{
	return big_cmp(big_mul(n1, d2), big_mul(n2, d1));
}

/* The smallest exact total over every split of sorted x[0..n) into k
 * runs, by enumeration (as num / den). */
static void best_cost(big *bn, big *bd, const float *x, size_t n, size_t k,
                      size_t *cut, size_t j, int *have)
{
	if (j == k) {
		cut[k] = n;
		big num, den;
		partition_cost(&num, &den, x, cut, k);
		if (!*have || cost_cmp(num, den, *bn, *bd) < 0) {
			*bn = num;
			*bd = den;
			*have = 1;
		}
		return;
	}
	for (size_t c = cut[j - 1] + 1; c + (k - j) <= n; c++) {
		if (x[c] == x[c - 1])
			continue; /* equal values share a cluster in any optimum */
		cut[j] = c;
		best_cost(bn, bd, x, n, k, cut, j + 1, have);
	}
}

/* The runs of sorted x[0..n) that nearest-centroid assignment to c[0..k)
 * makes (ties to the lower centroid), compared exactly. */
static void exact_assign(size_t *cut, const float *x, size_t n,
                         const float *c, size_t k)
{
	size_t i = 0;
	cut[0] = 0;
	for (size_t j = 0; j + 1 < k; j++) {
		big mid2 = big_add(big_float(c[j]), big_float(c[j + 1]));
		while (i < n) {
			big x2 = big_float(x[i]);
			if (big_cmp(big_add(x2, x2), mid2) > 0)
				break;
			i++;
		}
		cut[j + 1] = i;
	}
	cut[k] = n;
}

/* c is the float nearest the exact mean of x[a..b) (or +-FLT_TRUE_MIN
 * when that is 0): |c n - S| is no larger than for either neighbour. */
static void check_centroid(float c, const float *x, size_t a, size_t b)
{
	big s = {0};
	for (size_t i = a; i < b; i++)
		s = big_add(s, big_float(x[i]));
	big cnt = big_small((int64_t)(b - a));
	big e = big_add(big_mul(big_float(c), cnt), big_neg(s));
	e.neg = 0;
	for (int dir = -1; dir <= 1; dir += 2) {
		float nb = nextafterf(c, dir * INFINITY);
		if (isinf(nb))
			continue;
		if (nb == 0.0f) /* c = +-TRUE_MIN: 0 is not a centroid */
			continue;
		big f = big_add(big_mul(big_float(nb), cnt), big_neg(s));
		f.neg = 0;
		ck_assert_msg(mag_cmp(&e, &f) <= 0, "centroid %.9g is not the "
		              "float nearest the mean of its %zu values", (double)c,
		              b - a);
	}
}

/* Runs k-means on v[0..n) and checks it against the exact reference:
 * every cluster used, centroids the rounded exact means, every value at
 * its nearest centroid, and for optimal the exact minimum. */
static void check_exact(const float *v, size_t n, size_t k, int optimal,
                        const char *what)
{
	float *x = malloc(n * sizeof *x), c[16];
	memcpy(x, v, n * sizeof *x);
	qsort(x, n, sizeof *x, cmp_float);
	size_t distinct = 1;
	for (size_t i = 1; i < n; i++)
		distinct += x[i] != x[i - 1];
	spz_kmeans_options o = SPZ_KMEANS_OPTIONS_INIT;
	o.k = k;
	o.optimal = optimal;
	o.max_iter = 1000;
	spz_kmeans_stats st;
	spz_error err = {0};
	ck_assert_msg(spz_kmeans_1d(c, &st, v, n, &o, &err) == 0, "%s: %s",
	              what, err.text);
	size_t kk = st.clusters, cut[17], bcut[17];
	ck_assert_uint_eq(kk, distinct < k ? distinct : k);
	ck_assert_msg(st.converged, "%s: did not converge", what);
	exact_assign(cut, x, n, c, kk);
	for (size_t j = 0; j < kk; j++) {
		ck_assert_msg(cut[j] < cut[j + 1], "%s: centroid %zu (%.9g) is "
		              "unused", what, j, (double)c[j]);
		if (j)
			ck_assert_msg(c[j - 1] < c[j], "%s: centroids not strictly "
			              "ascending", what);
		check_centroid(c[j], x, cut[j], cut[j + 1]);
	}
	if (optimal && kk < distinct) {
		big bn, bd, n1, d1;
		int have = 0;
		bcut[0] = 0;
		best_cost(&bn, &bd, x, n, kk, bcut, 1, &have);
		ck_assert(have);
		partition_cost(&n1, &d1, x, cut, kk);
		ck_assert_msg(cost_cmp(n1, d1, bn, bd) == 0, "%s: the optimal "
		              "codebook's clusters are not an exact optimum", what);
	}
	free(x);
}

START_TEST(wide_ranges_are_exact)
{
	/* The cases that lost everything to cancellation in double sums. */
	const float a[] = {-3e8f, 1, 2, 3, 4};
	const float b[] = {-1e18f, 1, 2, 3, 4};
	const float c[] = {1e30f, 1e-30f, -1e30f, -1e-30f};
	for (int opt = 0; opt <= 1; opt++) {
		check_exact(a, 5, 3, opt, "[-3e8, 1, 2, 3, 4]");
		check_exact(b, 5, 3, opt, "[-1e18, 1, 2, 3, 4]");
		for (size_t k = 1; k <= 3; k++)
			check_exact(c, 4, k, opt, "[1e30, 1e-30, -1e30, -1e-30]");
	}
	/* The numbers the issue quotes: MSE 0.2 (squared error 1 of 5). */
	float cb[3];
	spz_kmeans_stats st;
	spz_kmeans_options o = SPZ_KMEANS_OPTIONS_INIT;
	o.k = 3;
	for (o.optimal = 0; o.optimal <= 1; o.optimal++) {
		ck_assert_int_eq(spz_kmeans_1d(cb, &st, a, 5, &o, NULL), 0);
		ck_assert(cb[0] == -3e8f && cb[1] == 1.5f && cb[2] == 3.5f);
		ck_assert(st.sse == 1 && st.converged);
		ck_assert_int_eq(spz_kmeans_1d(cb, &st, b, 5, &o, NULL), 0);
		ck_assert(cb[0] == -1e18f && cb[1] == 1.5f && cb[2] == 3.5f);
		ck_assert(st.sse == 1);
		ck_assert_int_eq(spz_kmeans_1d(cb, &st, c, 4, &o, NULL), 0);
		ck_assert(cb[0] == -1e30f && cb[1] == FLT_TRUE_MIN &&
		          cb[2] == 1e30f);
	}
	/* Random wide ranges: exponents anywhere in float32's (subnormals
	 * included), a few shared values, both signs. */
	spz_rng r;
	spz_rng_seed(&r, 2024);
	for (int trial = 0; trial < 300; trial++) {
		size_t n = 2 + (size_t)spz_rng_below(&r, 8);
		size_t k = 1 + (size_t)spz_rng_below(&r, 4);
		float v[10];
		for (size_t i = 0; i < n; i++) {
			if (i && spz_rng_below(&r, 6) == 0) {
				v[i] = v[spz_rng_below(&r, i)];
				continue;
			}
			int e = (int)spz_rng_below(&r, 278) - 149;
			if (trial % 2) /* a narrower band, to mix scales less */
				e = (int)spz_rng_below(&r, 80) - 40;
			double m = 1 + spz_rng_uniform(&r);
			float f = (float)ldexp(m, e);
			if (f == 0.0f || isinf(f))
				f = 1;
			v[i] = spz_rng_below(&r, 2) ? -f : f;
		}
		char what[32];
		snprintf(what, sizeof what, "trial %d", trial);
		check_exact(v, n, k, 0, what);
		check_exact(v, n, k, 1, what);
	}
}
END_TEST

START_TEST(lloyd_leaves_no_entry_unused)
{
	/* Linear init puts the middle centroid in the empty gap, and with
	 * max_iter 0 or 1 there is no step left to refill it in: the refill
	 * is taken anyway. */
	const float v[] = {-3e8f, 1, 2, 3, 4};
	for (int it = 0; it <= 2; it++) {
		spz_kmeans_options o = SPZ_KMEANS_OPTIONS_INIT;
		o.k = 3;
		o.max_iter = it;
		float c[3];
		size_t cut[4];
		spz_kmeans_stats st;
		ck_assert_int_eq(spz_kmeans_1d(c, &st, v, 5, &o, NULL), 0);
		float x[5];
		memcpy(x, v, sizeof x);
		exact_assign(cut, x, 5, c, 3);
		for (size_t j = 0; j < 3; j++)
			ck_assert_msg(cut[j] < cut[j + 1], "max_iter %d: centroid "
			              "%zu unused", it, j);
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
	tcase_add_test(tc, wide_ranges_are_exact);
	tcase_add_test(tc, lloyd_leaves_no_entry_unused);
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
