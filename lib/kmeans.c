/*
 * kmeans.c - 1-D k-means for weight sharing (Deep Compression §3): Lloyd's
 * algorithm and the exact optimum, both over the values sorted once.
 *
 * In 1-D the clusters of a nearest-centroid assignment are runs of the
 * sorted values cut at the midpoints between consecutive centroids, so an
 * assignment is k - 1 cut indices found by binary search and a cluster's
 * sum is a difference of prefix sums: a Lloyd iteration is O(k log n)
 * whatever n is, and the sort dominates.
 *
 * The optimal clusters are runs too, so the optimum is the dynamic program
 * D[m][i] = min_j D[m-1][j] + SSE(x[j..i)) (m clusters on the first i
 * values). SSE of runs is Monge, so the argmin opt_m(i) is monotone in i:
 * each layer is computed by divide and conquer in O(n log n), and its
 * argmins, a monotone sequence, are kept as a unary-coded bit vector (at
 * most 2n bits) from which the backtrack decodes the one it needs.
 *
 * Centroids are float32 values held in doubles (the codebook is float), so
 * the midpoints are exact and the assignment here is the very one the
 * encoder makes with the stored codebook.
 */
#include "spz.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const init_names[] = {"linear", "density", "random",
                                         "kmeans++"};

const char *spz_kmeans_init_name(int init)
{
	if (init < 0 || init > SPZ_KMEANS_KMEANSPP)
		return NULL;
	return init_names[init];
}

int spz_kmeans_init_parse(const char *name)
{
	for (int i = 0; i <= SPZ_KMEANS_KMEANSPP; i++)
		if (!strcmp(name, init_names[i]))
			return i;
	return -1;
}

/* ------------------------------------------------------------------ */
/* Sorting                                                             */

/* Order-preserving map of float bits to unsigned: flip all bits of
 * negatives, the sign bit of the rest. */
static uint32_t float_key(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	return u ^ ((u >> 31) ? 0xFFFFFFFFu : 0x80000000u);
}

static float key_float(uint32_t k)
{
	uint32_t u = k ^ ((k >> 31) ? 0x80000000u : 0xFFFFFFFFu);
	float f;
	memcpy(&f, &u, 4);
	return f;
}

int spz_sort_floats(float *v, size_t n, spz_error *err)
{
	if (n < 2)
		return 0;
	uint32_t *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
	if (!a || !b) {
		free(a);
		free(b);
		return spz_fail(err, SPZ_ENOMEM, "out of memory sorting %zu "
		                "values", n);
	}
	/* One pass builds all four byte histograms. */
	size_t hist[4][256] = {{0}};
	for (size_t i = 0; i < n; i++) {
		uint32_t k = a[i] = float_key(v[i]);
		for (int d = 0; d < 4; d++)
			hist[d][(k >> (8 * d)) & 255]++;
	}
	for (int d = 0; d < 4; d++) {
		size_t *h = hist[d];
		if (h[(a[0] >> (8 * d)) & 255] == n)
			continue; /* every key has this digit: nothing moves */
		size_t sum = 0;
		for (int c = 0; c < 256; c++) {
			size_t t = h[c];
			h[c] = sum;
			sum += t;
		}
		for (size_t i = 0; i < n; i++)
			b[h[(a[i] >> (8 * d)) & 255]++] = a[i];
		uint32_t *t = a;
		a = b;
		b = t;
	}
	for (size_t i = 0; i < n; i++)
		v[i] = key_float(a[i]);
	free(a);
	free(b);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Shared state                                                        */

typedef struct kctx {
	const float *x; /* sorted values */
	size_t n, k;
	/* Prefix sums of x - shift and (x - shift)^2: shifting by the median
	 * keeps the squared-error differences away from cancellation. */
	double shift;
	double *s1, *s2; /* s2 is made on first use: Lloyd rarely needs it */
	double *c;      /* k centroids (float values), ascending */
	size_t *cut;    /* k + 1 cuts: cluster j is x[cut[j] .. cut[j+1]) */
	size_t *prev;   /* the previous assignment */
} kctx;

static int need_s2(kctx *z)
{
	if (z->s2)
		return 0;
	if (!(z->s2 = malloc((z->n + 1) * sizeof *z->s2)))
		return SPZ_ENOMEM;
	double a2 = 0;
	z->s2[0] = 0;
	for (size_t i = 0; i < z->n; i++) {
		double d = (double)z->x[i] - z->shift;
		z->s2[i + 1] = a2 += d * d;
	}
	return 0;
}

static double seg_sse(const kctx *z, size_t a, size_t b)
{
	double s = z->s1[b] - z->s1[a];
	double v = z->s2[b] - z->s2[a] - s * s / (double)(b - a);
	return v > 0 ? v : 0;
}

/* A centroid is a float, never 0.0: the codebook reserves 0 for zeros. */
static double centroid_of(double mean)
{
	float f = (float)mean;
	if (f == 0.0f)
		f = mean < 0 ? -FLT_TRUE_MIN : FLT_TRUE_MIN;
	return f;
}

static double seg_mean(const kctx *z, size_t a, size_t b)
{
	return z->shift + (z->s1[b] - z->s1[a]) / (double)(b - a);
}

/* Nearest-centroid assignment: cut[j+1] = number of values <= the midpoint
 * of c[j] and c[j+1], so ties go to the lower centroid. */
static void assign(kctx *z)
{
	size_t lo = 0;
	z->cut[0] = 0;
	for (size_t j = 0; j + 1 < z->k; j++) {
		double mid = (z->c[j] + z->c[j + 1]) * 0.5;
		size_t hi = z->n;
		while (lo < hi) {
			size_t m = lo + (hi - lo) / 2;
			if ((double)z->x[m] <= mid)
				lo = m + 1;
			else
				hi = m;
		}
		z->cut[j + 1] = lo;
	}
	z->cut[z->k] = z->n;
}

/* Centroids = means of the current clusters; empty clusters take the value
 * farthest from its centroid in the cluster of largest squared error. */
static int update(kctx *z, double *sse)
{
	size_t k = z->k, empty = 0;
	for (size_t j = 0; j < k; j++) {
		size_t a = z->cut[j], b = z->cut[j + 1];
		if (a == b)
			empty++;
		else
			z->c[j] = centroid_of(seg_mean(z, a, b));
	}
	if (!empty)
		return 0;
	if (need_s2(z))
		return SPZ_ENOMEM;
	for (size_t j = 0; j < k; j++)
		sse[j] = z->cut[j] == z->cut[j + 1]
		                 ? 0 : seg_sse(z, z->cut[j], z->cut[j + 1]);
	for (size_t j = 0; empty && j < k; j++) {
		if (z->cut[j] != z->cut[j + 1])
			continue;
		size_t t = k;
		for (size_t q = 0; q < k; q++)
			if (sse[q] > 0 && (t == k || sse[q] > sse[t]))
				t = q;
		if (t == k)
			break; /* no cluster left to split: keep it where it is */
		size_t a = z->cut[t], b = z->cut[t + 1];
		double mean = seg_mean(z, a, b);
		double lo = z->x[a], hi = z->x[b - 1];
		z->c[j] = mean - lo >= hi - mean ? lo : hi;
		sse[t] = 0; /* one donation per cluster and step */
	}
	/* Relocated centroids break the order: insertion sort. */
	for (size_t j = 1; j < k; j++) {
		double v = z->c[j];
		size_t q = j;
		for (; q > 0 && z->c[q - 1] > v; q--)
			z->c[q] = z->c[q - 1];
		z->c[q] = v;
	}
	return 0;
}

/*
 * Lloyd from the centroids in z->c. With have_prev, z->prev is the
 * assignment those centroids came from (the DP's), so an unchanged
 * assignment converges at once. Leaves the final assignment in z->cut.
 */
static int lloyd(kctx *z, int have_prev, int max_iter, spz_kmeans_stats *st)
{
	double *sse = malloc(z->k * sizeof *sse);
	if (!sse)
		return SPZ_ENOMEM;
	size_t empty = 1;
	int it = 0, rc = 0;
	for (;; it++) {
		assign(z);
		int same = have_prev && !memcmp(z->cut, z->prev,
		                                (z->k + 1) * sizeof *z->cut);
		empty = 0;
		for (size_t j = 0; j < z->k; j++)
			empty += z->cut[j] == z->cut[j + 1];
		if (same && !empty) {
			st->converged = 1;
			break;
		}
		if (it >= max_iter)
			break;
		memcpy(z->prev, z->cut, (z->k + 1) * sizeof *z->cut);
		have_prev = 1;
		if ((rc = update(z, sse)))
			break;
	}
	st->iterations = it;
	free(sse);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Initial centroids                                                   */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static int init_centroids(kctx *z, const spz_kmeans_options *o)
{
	size_t n = z->n, k = z->k;
	const float *x = z->x;
	double lo = x[0], hi = x[n - 1];
	spz_rng rng;
	spz_rng_seed(&rng, o->seed);
	switch (o->init) {
	case SPZ_KMEANS_LINEAR:
		for (size_t j = 0; j < k; j++)
			z->c[j] = centroid_of(
				k == 1 ? (lo + hi) * 0.5
				       : lo + (hi - lo) * (double)j / (double)(k - 1));
		break;
	case SPZ_KMEANS_DENSITY:
		for (size_t j = 0; j < k; j++)
			z->c[j] = x[(size_t)(((double)(2 * j + 1) * (double)n) /
			                     (double)(2 * k))];
		break;
	case SPZ_KMEANS_RANDOM: {
		/* Floyd's sampling: k distinct positions in O(k^2). */
		size_t *pos = malloc(k * sizeof *pos), got = 0;
		if (!pos)
			return SPZ_ENOMEM;
		for (size_t j = n - k; j < n; j++) {
			size_t t = (size_t)spz_rng_below(&rng, (uint64_t)j + 1), q;
			for (q = 0; q < got && pos[q] != t; q++)
				;
			pos[got] = q < got ? j : t;
			got++;
		}
		for (size_t j = 0; j < k; j++)
			z->c[j] = x[pos[j]];
		free(pos);
		break;
	}
	case SPZ_KMEANS_KMEANSPP: {
		/* D^2 sampling; O(n k), the distances kept in one array. */
		double *d2 = malloc(n * sizeof *d2);
		if (!d2)
			return SPZ_ENOMEM;
		double c = x[spz_rng_below(&rng, n)];
		z->c[0] = c;
		for (size_t j = 1; j < k; j++) {
			double total = 0;
			for (size_t i = 0; i < n; i++) {
				double d = ((double)x[i] - c) * ((double)x[i] - c);
				if (j == 1 || d < d2[i])
					d2[i] = d;
				total += d2[i];
			}
			double u = spz_rng_uniform(&rng) * total, acc = 0;
			size_t pick = n;
			for (size_t i = 0; i < n; i++) {
				if (d2[i] > 0)
					pick = i;
				acc += d2[i];
				if (d2[i] > 0 && acc > u)
					break;
			}
			c = pick < n ? x[pick] : x[0];
			z->c[j] = c;
		}
		free(d2);
		break;
	}
	}
	qsort(z->c, k, sizeof *z->c, cmp_double);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Exact optimum                                                       */

/* Layer m of the DP for i in [ilo, ihi], argmins searched in [jlo, jhi]. */
static void dc(const kctx *z, const double *prev, double *cur, size_t *opt,
               size_t ilo, size_t ihi, size_t jlo, size_t jhi)
{
	const double *s1 = z->s1, *s2 = z->s2;
	while (ilo <= ihi) {
		size_t mid = ilo + (ihi - ilo) / 2;
		size_t hi = jhi < mid - 1 ? jhi : mid - 1;
		double best = INFINITY, a1 = s1[mid], a2 = s2[mid];
		size_t bj = jlo;
		for (size_t j = jlo; j <= hi; j++) {
			double s = a1 - s1[j];
			double v = prev[j] + (a2 - s2[j]) - s * s / (double)(mid - j);
			if (v < best) {
				best = v;
				bj = j;
			}
		}
		cur[mid] = best;
		opt[mid] = bj;
		if (mid > ilo)
			dc(z, prev, cur, opt, ilo, mid - 1, jlo, bj);
		/* The right half as a loop: recursion depth stays log n. */
		ilo = mid + 1;
		jlo = bj;
	}
}

/* The argmins opt[m..n] of a layer as unary code: opt[i] - opt[i-1]
 * zeros then a one, from opt[m-1] = m - 1. */
static void bits_put(uint64_t *bv, const size_t *opt, size_t m, size_t n)
{
	size_t pos = 0, last = m - 1;
	for (size_t i = m; i <= n; i++) {
		pos += opt[i] - last;
		last = opt[i];
		bv[pos / 64] |= UINT64_C(1) << (pos % 64);
		pos++;
	}
}

/* opt[s] back from the bit vector: the zeros before the (s-m)-th one. */
static size_t bits_get(const uint64_t *bv, size_t m, size_t s)
{
	size_t want = s - m, ones = 0, w = 0;
	for (;; w++) {
		size_t c = (size_t)__builtin_popcountll(bv[w]);
		if (ones + c > want)
			break;
		ones += c;
	}
	uint64_t word = bv[w];
	for (; ones < want; ones++)
		word &= word - 1; /* drop the lowest one */
	size_t pos = w * 64 + (size_t)__builtin_ctzll(word);
	return m - 1 + (pos - want);
}

/* Optimal cuts into z->cut, centroids into z->c (k >= 2, n > k). */
static int optimal(kctx *z)
{
	size_t n = z->n, k = z->k, words = (2 * n + 2) / 64 + 1;
	double *prev = malloc((n + 1) * sizeof *prev);
	double *cur = malloc((n + 1) * sizeof *cur);
	size_t *opt = malloc((n + 1) * sizeof *opt);
	uint64_t *bv = calloc(words * (k > 2 ? k - 2 : 1), sizeof *bv);
	if (!prev || !cur || !opt || !bv) {
		free(prev);
		free(cur);
		free(opt);
		free(bv);
		return SPZ_ENOMEM;
	}
	for (size_t i = 1; i <= n; i++)
		prev[i] = seg_sse(z, 0, i);
	prev[0] = 0;
	for (size_t m = 2; m < k; m++) {
		dc(z, prev, cur, opt, m, n - (k - m), m - 1, n - 1);
		bits_put(bv + (m - 2) * words, opt, m, n - (k - m));
		double *t = prev;
		prev = cur;
		cur = t;
	}
	/* Last layer: only i = n matters. */
	double best = INFINITY;
	size_t bj = k - 1;
	for (size_t j = k - 1; j < n; j++) {
		double v = prev[j] + seg_sse(z, j, n);
		if (v < best) {
			best = v;
			bj = j;
		}
	}
	z->cut[k] = n;
	z->cut[k - 1] = bj;
	for (size_t m = k - 1; m >= 2; m--)
		z->cut[m - 1] = bits_get(bv + (m - 2) * words, m, z->cut[m]);
	z->cut[0] = 0;
	for (size_t j = 0; j < k; j++)
		z->c[j] = centroid_of(seg_mean(z, z->cut[j], z->cut[j + 1]));
	free(prev);
	free(cur);
	free(opt);
	free(bv);
	return 0;
}

/* ------------------------------------------------------------------ */

int spz_kmeans_1d(float *centroids, spz_kmeans_stats *stats,
                  const float *values, size_t n,
                  const spz_kmeans_options *opts, spz_error *err)
{
	const spz_kmeans_options o = opts ? *opts
	                                  : (spz_kmeans_options)SPZ_KMEANS_OPTIONS_INIT;
	if (o.k < 1)
		return spz_fail(err, SPZ_EINVAL, "k-means needs k >= 1");
	if (!spz_kmeans_init_name(o.init))
		return spz_fail(err, SPZ_EINVAL, "unknown k-means init %d",
		                o.init);
	if (o.max_iter < 0)
		return spz_fail(err, SPZ_EINVAL, "max_iter must be >= 0, not %d",
		                o.max_iter);
	for (size_t i = 0; i < n; i++)
		if (!isfinite(values[i]) || values[i] == 0.0f)
			return spz_fail(err, SPZ_EINVAL, "k-means value %zu is %s",
			                i, isnan(values[i]) ? "NaN"
			                   : values[i] == 0.0f ? "zero"
			                                       : "infinite");
	spz_kmeans_stats st = {0};
	if (!n) {
		st.exact = st.converged = 1;
		if (stats)
			*stats = st;
		return 0;
	}
	kctx z = {0};
	int rc = SPZ_ENOMEM;
	float *x = malloc(n * sizeof *x);
	if (!x)
		goto out;
	memcpy(x, values, n * sizeof *x);
	if ((rc = spz_sort_floats(x, n, err)))
		goto out;
	rc = SPZ_ENOMEM;
	z.x = x;
	z.n = n;
	size_t distinct = 1;
	for (size_t i = 1; i < n && distinct <= o.k; i++)
		distinct += x[i] != x[i - 1];
	if (distinct <= o.k) {
		/* Every value is its own centroid: no error at all. */
		size_t j = 0;
		for (size_t i = 0; i < n; i++)
			if (!i || x[i] != x[i - 1])
				centroids[j++] = x[i];
		st.clusters = j;
		st.exact = st.converged = 1;
		rc = 0;
		goto out;
	}
	z.k = o.k;
	z.shift = x[n / 2];
	z.s1 = malloc((n + 1) * sizeof *z.s1);
	z.c = malloc(z.k * sizeof *z.c);
	z.cut = malloc((z.k + 1) * sizeof *z.cut);
	z.prev = malloc((z.k + 1) * sizeof *z.prev);
	if (!z.s1 || !z.c || !z.cut || !z.prev)
		goto out;
	double a1 = 0;
	z.s1[0] = 0;
	for (size_t i = 0; i < n; i++)
		z.s1[i + 1] = a1 += (double)x[i] - z.shift;
	/* The optimum needs one step: to settle ties at midpoints after the
	 * DP, or to reach the mean when k = 1. */
	int iters = o.optimal && o.max_iter < 1 ? 1 : o.max_iter;
	if (o.optimal && z.k >= 2) {
		if ((rc = need_s2(&z)) || (rc = optimal(&z)))
			goto out;
		memcpy(z.prev, z.cut, (z.k + 1) * sizeof *z.cut);
		rc = lloyd(&z, 1, iters, &st);
	} else {
		if ((rc = init_centroids(&z, &o)))
			goto out;
		rc = lloyd(&z, 0, iters, &st);
	}
	if (rc)
		goto out;
	double sse = 0;
	for (size_t j = 0; j < z.k; j++) {
		centroids[j] = (float)z.c[j];
		for (size_t i = z.cut[j]; i < z.cut[j + 1]; i++) {
			double e = (double)x[i] - z.c[j];
			sse += e * e;
		}
	}
	st.clusters = z.k;
	st.sse = sse;
out:
	if (rc == SPZ_ENOMEM)
		spz_fail(err, rc, "out of memory for k-means of %zu values", n);
	if (!rc && stats)
		*stats = st;
	free(x);
	free(z.s1);
	free(z.s2);
	free(z.c);
	free(z.cut);
	free(z.prev);
	return rc;
}
