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
#include "progress.h"

#include <float.h>
#include <limits.h>
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

/* The sort, reporting each of its (at most four) passes to p. */
static int sort_floats(float *v, size_t n, spz_error *err, spz_prog *p)
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
		spz_prog_at(p, (d + 1) / 5.0);
	}
	for (size_t i = 0; i < n; i++)
		v[i] = key_float(a[i]);
	free(a);
	free(b);
	spz_prog_at(p, 1);
	return 0;
}

int spz_sort_floats(float *v, size_t n, spz_error *err)
{
	spz_prog p = spz_prog_root(NULL, NULL);
	return sort_floats(v, n, err, &p);
}

/* ------------------------------------------------------------------ */
/* Exact fixed-point sums                                              */

/*
 * Every finite float32 is an integer multiple of 2^-149, so over the
 * sorted values a fixed-point number with unit 2^L (L = the lowest set bit
 * of any value) holds each value, each prefix sum and each prefix sum of
 * squares exactly, in as many 64-bit limbs as the values' range needs:
 * one or two for trained weights, at most 11 for the full float32 range.
 * Sums over a run are differences of prefixes, exact whatever the range;
 * double prefix sums instead lose the small values next to large ones
 * (-3e8 beside 1, 2, 3, 4 made Lloyd stall with an unused centroid).
 */
#define KLIMBS 12

/* lo 64 bits of a * b, hi 64 bits to *hi. */
static uint64_t mul64(uint64_t a, uint64_t b, uint64_t *hi)
{
#ifdef __SIZEOF_INT128__
	unsigned __int128 p = (unsigned __int128)a * b;
	*hi = (uint64_t)(p >> 64);
	return (uint64_t)p;
#else
	uint64_t al = a & 0xFFFFFFFFu, ah = a >> 32;
	uint64_t bl = b & 0xFFFFFFFFu, bh = b >> 32;
	uint64_t ll = al * bl, lh = al * bh, hl = ah * bl, hh = ah * bh;
	uint64_t mid = (ll >> 32) + (lh & 0xFFFFFFFFu) + (hl & 0xFFFFFFFFu);
	*hi = hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
	return (mid << 32) | (ll & 0xFFFFFFFFu);
#endif
}

/* A nonzero finite float as sign, odd integer significand m and exponent
 * e: |f| = m * 2^e, m < 2^24. */
static void float_parts(float f, int *neg, uint32_t *m, int *e)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	*neg = (int)(u >> 31);
	uint32_t ex = (u >> 23) & 255, fr = u & 0x7FFFFFu;
	uint32_t sig = ex ? fr | 0x800000u : fr;
	int tz = __builtin_ctz(sig);
	*m = sig >> tz;
	*e = (ex ? (int)ex - 150 : -149) + tz;
}

static int bitlen64(uint64_t v)
{
	return v ? 64 - __builtin_clzll(v) : 0;
}

/* a[0..nl) += v * 2^s (v < 2^48), or -= when neg (two's complement). */
static void limbs_add_shifted(uint64_t *a, int nl, uint64_t v, int s,
                              int neg)
{
	int q = s / 64, b = s % 64;
	uint64_t lo = v << b, hi = b ? v >> (64 - b) : 0;
	if (!neg) {
		uint64_t c;
		a[q] += lo;
		c = a[q] < lo;
		for (int i = q + 1; i < nl && (c || hi); i++) {
			uint64_t t = a[i] + hi;
			uint64_t c2 = t < hi;
			a[i] = t + c;
			c = c2 | (a[i] < c);
			hi = 0;
		}
	} else {
		uint64_t bw = a[q] < lo;
		a[q] -= lo;
		for (int i = q + 1; i < nl && (bw || hi); i++) {
			uint64_t t = a[i] - hi;
			uint64_t b2 = a[i] < hi;
			a[i] = t - bw;
			bw = b2 | (t < bw);
			hi = 0;
		}
	}
}

/* r = a - b over nl limbs (two's complement); returns the borrow. */
static uint64_t limbs_sub(uint64_t *r, const uint64_t *a, const uint64_t *b,
                          int nl)
{
	uint64_t bw = 0;
	for (int i = 0; i < nl; i++) {
		uint64_t t = a[i] - b[i];
		uint64_t b2 = a[i] < b[i];
		r[i] = t - bw;
		bw = b2 | (t < bw);
	}
	return bw;
}

static void limbs_negate(uint64_t *a, int nl)
{
	uint64_t c = 1;
	for (int i = 0; i < nl; i++) {
		a[i] = ~a[i] + c;
		c = c && !a[i];
	}
}

/* 2^(64 i) as doubles, i < KLIMBS (exact: powers of two). */
static double limb_scale(int i)
{
	double s = 1;
	while (i-- > 0)
		s *= 18446744073709551616.0;
	return s;
}

/* ------------------------------------------------------------------ */
/* Shared state                                                        */

typedef struct kctx {
	const float *x; /* sorted values */
	size_t n, k;
	/* Exact prefix sums in units of 2^L (see below): s1 of the values,
	 * n1 limbs each, two's complement; s2 of their squares (units
	 * 2^2L), n2 limbs each, made on first use (only the optimum needs
	 * it); nd limbs hold c * s2 of a run of c values. */
	int L, n1, n2, nd;
	size_t step;    /* s1 holds the prefix of every step-th value */
	uint64_t *s1, *s2;
	/* The same prefixes rounded to double, made with s2: a cheap first
	 * estimate of a run's cost and a bound on its error. */
	double *p1, *p2;
	double scale[KLIMBS]; /* 2^(64 i) */
	double *c;      /* k centroids (float values), ascending */
	size_t *cut;    /* k + 1 cuts: cluster j is x[cut[j] .. cut[j+1]) */
	size_t *prev;   /* the previous assignment */
} kctx;

/* Sizes the fixed point for x[0..n) and fills s1. */
/* lo, hi: the lowest set bit and the top bit + 1 of any value (the
 * caller finds them while it checks the values). */
static int make_s1(kctx *z, int lo, int hi)
{
	int neg, e;
	uint32_t m;
	/* Every |value| < 2^(hi - L): a sum of n of them needs w + lg bits
	 * and a sign, a sum of squares 2w + lg, c times it 2w + 2 lg. */
	int w = hi - lo, lg = bitlen64((uint64_t)z->n);
	z->L = lo;
	z->n1 = (w + lg + 1 + 63) / 64;
	z->n2 = (2 * w + lg + 63) / 64;
	z->nd = (2 * w + 2 * lg + 63) / 64;
	for (int i = 0; i < KLIMBS; i++)
		z->scale[i] = limb_scale(i);
	/* Lloyd needs run sums at k cuts per step, so it keeps the prefix
	 * of every step-th value only and adds the few values after it:
	 * 1/32 of the memory, whose first touch alone cost several times
	 * the sort on a loaded machine. The optimum reads every prefix. */
	size_t n1 = (size_t)z->n1, step = z->step;
	if (!(z->s1 = malloc((z->n / step + 1) * n1 * sizeof *z->s1)))
		return SPZ_ENOMEM;
	uint64_t acc[KLIMBS] = {0};
	for (size_t q = 0; q < n1; q++)
		z->s1[q] = 0;
#ifdef __SIZEOF_INT128__
	if (n1 <= 2) { /* trained weights: one 128-bit add per value */
		unsigned __int128 a = 0;
		for (size_t i = 0; i < z->n; i++) {
			float_parts(z->x[i], &neg, &m, &e);
			unsigned __int128 v = (unsigned __int128)m << (e - z->L);
			a = neg ? a - v : a + v;
			if ((i + 1) % step == 0) {
				uint64_t *d = z->s1 + (i + 1) / step * n1;
				d[0] = (uint64_t)a;
				if (n1 == 2)
					d[1] = (uint64_t)(a >> 64);
			}
		}
		return 0;
	}
#endif
	for (size_t i = 0; i < z->n; i++) {
		float_parts(z->x[i], &neg, &m, &e);
		limbs_add_shifted(acc, z->n1, m, e - z->L, neg);
		if ((i + 1) % step == 0) {
			uint64_t *d = z->s1 + (i + 1) / step * n1;
			for (size_t q = 0; q < n1; q++)
				d[q] = acc[q];
		}
	}
	return 0;
}

/* a[0..nl) (two's complement when sgn) as a double, within a relative
 * 2^-52: the top two non-zero limbs, each rounded. */
static double limbs_double(const uint64_t *a, int nl, int sgn,
                           const double *scale)
{
	uint64_t m[KLIMBS];
	memcpy(m, a, (size_t)nl * sizeof *m);
	int neg = sgn && (m[nl - 1] >> 63);
	if (neg)
		limbs_negate(m, nl);
	int t = nl - 1;
	while (t > 0 && !m[t])
		t--;
	double v = !t ? (double)m[0]
	              : ((double)m[t] * 18446744073709551616.0 +
	                 (double)m[t - 1]) * scale[t - 1];
	return neg ? -v : v;
}

static int need_s2(kctx *z)
{
	if (z->s2)
		return 0;
	size_t n1 = (size_t)z->n1, n2 = (size_t)z->n2;
	z->s2 = malloc((z->n + 1) * n2 * sizeof *z->s2);
	z->p1 = malloc((z->n + 1) * sizeof *z->p1);
	z->p2 = malloc((z->n + 1) * sizeof *z->p2);
	if (!z->s2 || !z->p1 || !z->p2)
		return SPZ_ENOMEM;
	int neg, e;
	uint32_t m;
	z->p1[0] = z->p2[0] = 0;
	uint64_t acc[KLIMBS] = {0};
	for (size_t q = 0; q < n2; q++)
		z->s2[q] = 0;
	for (size_t i = 0; i < z->n; i++) {
		uint64_t *d = z->s2 + (i + 1) * n2;
		float_parts(z->x[i], &neg, &m, &e);
		limbs_add_shifted(acc, z->n2, (uint64_t)m * m, 2 * (e - z->L), 0);
		for (size_t q = 0; q < n2; q++)
			d[q] = acc[q];
		z->p1[i + 1] = limbs_double(z->s1 + (i + 1) * n1, z->n1, 1,
		                            z->scale);
		z->p2[i + 1] = limbs_double(d, z->n2, 0, z->scale);
	}
	return 0;
}

/* The exact prefix sum of x[0..i) into p[0..n1). */
static void prefix1(const kctx *z, size_t i, uint64_t *p)
{
	size_t n1 = (size_t)z->n1, q = i / z->step;
	int neg, e;
	uint32_t m;
	memcpy(p, z->s1 + q * n1, n1 * sizeof *p);
	for (size_t t = q * z->step; t < i; t++) {
		float_parts(z->x[t], &neg, &m, &e);
		limbs_add_shifted(p, z->n1, m, e - z->L, neg);
	}
}

/* |sum of x[a..b)| in units of 2^L into mag[0..n1); returns its sign. */
static int seg_sum(const kctx *z, size_t a, size_t b, uint64_t *mag)
{
	size_t n1 = (size_t)z->n1;
	uint64_t pa[KLIMBS], pb[KLIMBS];
	prefix1(z, a, pa);
	prefix1(z, b, pb);
	limbs_sub(mag, pb, pa, z->n1);
	int neg = (int)(mag[n1 - 1] >> 63);
	if (neg)
		limbs_negate(mag, z->n1);
	return neg;
}

/* The hot loop of the optimum is instantiated per limb count (below);
 * forced inlining lets each copy unroll its limb loops. */
#if defined(__GNUC__) || defined(__clang__)
#define KM_INLINE static inline __attribute__((always_inline))
#else
#define KM_INLINE static inline
#endif

/*
 * Squared error of x[a..b) about its mean, in units of 2^2L: the exact
 * integer c * sum x^2 - (sum x)^2 (never negative), rounded once to
 * double (but for the bits below the top two limbs), over c = b - a.
 * Exactly 0 for a run of equal values. n1, n2 are z's limb counts, nd >=
 * z->nd.
 */
KM_INLINE double seg_cost_n(const kctx *z, size_t a, size_t b, int n1,
                            int n2, int nd)
{
	uint64_t s[KLIMBS] = {0}, q[KLIMBS], d[KLIMBS];
	uint64_t c = (uint64_t)(b - a), hi, carry;
	const uint64_t *pb = z->s1 + b * (size_t)n1, *pa = z->s1 + a * (size_t)n1;
	carry = 0; /* borrow */
	for (int i = 0; i < n1; i++) {
		uint64_t t = pb[i] - pa[i], b2 = pb[i] < pa[i];
		s[i] = t - carry;
		carry = b2 | (t < carry);
	}
	if (s[n1 - 1] >> 63) { /* |s|: the square is the same */
		carry = 1;
		for (int i = 0; i < n1; i++) {
			s[i] = ~s[i] + carry;
			carry = carry && !s[i];
		}
	}
	/* q = s^2, kept to nd limbs: it is at most c * sum x^2 < 2^(64 nd),
	 * so every partial product at or above limb nd is 0. */
	for (int i = 0; i < nd; i++)
		q[i] = 0;
	for (int i = 0; i < n1; i++) {
		carry = 0;
		for (int j = 0; j < n1 && i + j < nd; j++) {
			uint64_t lo = mul64(s[i], s[j], &hi);
			lo += carry;
			hi += lo < carry;
			q[i + j] += lo;
			hi += q[i + j] < lo;
			carry = hi;
		}
		for (int t = i + n1; t < nd && carry; t++) {
			q[t] += carry;
			carry = q[t] < carry;
		}
	}
	/* d = c * (s2[b] - s2[a]) - q */
	pb = z->s2 + b * (size_t)n2;
	pa = z->s2 + a * (size_t)n2;
	carry = 0;
	for (int i = 0; i < n2; i++) {
		uint64_t t = pb[i] - pa[i], b2 = pb[i] < pa[i];
		d[i] = t - carry;
		carry = b2 | (t < carry);
	}
	for (int i = n2; i < nd; i++)
		d[i] = 0;
	carry = 0;
	for (int i = 0; i < nd; i++) {
		uint64_t lo = mul64(d[i], c, &hi);
		lo += carry;
		hi += lo < carry;
		d[i] = lo;
		carry = hi;
	}
	carry = 0;
	for (int i = 0; i < nd; i++) {
		uint64_t t = d[i] - q[i], b2 = d[i] < q[i];
		d[i] = t - carry;
		carry = b2 | (t < carry);
	}
	int t = nd - 1;
	while (t > 0 && !d[t])
		t--;
	double v = !t ? (double)d[0]
	              : ((double)d[t] * 18446744073709551616.0 +
	                 (double)d[t - 1]) * z->scale[t - 1];
	return v / (double)c;
}

/*
 * base + the cost of x[a..b), to within a relative 2^-36 of the sum: the
 * DP compares such sums, so that is the precision it needs. First from
 * the rounded prefixes: each is within 2^-52 of the exact one, so with
 * three more roundings the estimate is off by at most
 * 4u (qa + qb) + (6u |s| A + 2u s^2 + 9u^2 A^2) / c, u = 2^-53, bounded
 * below with a factor 4 to spare. When that bound is too large (a run of
 * close values far out in the prefix sums, a small DP total next to
 * large prefixes, values spanning a wide range), exactly. 2^-36 lets
 * about 97% of the candidates of a trained layer at 4 bits take the fast
 * path; 2^-40 would send a quarter of them to the exact one.
 */
KM_INLINE double seg_plus(const kctx *z, double base, size_t a, size_t b,
                          int n1, int n2, int nd)
{
	double pa = z->p1[a], pb = z->p1[b], qa = z->p2[a], qb = z->p2[b];
	double c = (double)(b - a), s = pb - pa;
	double A = (pa < 0 ? -pa : pa) + (pb < 0 ? -pb : pb);
	double as = s < 0 ? -s : s;
	double v = (qb - qa) - s * s / c;
	double err = 0x1p-49 * (qa + qb) +
	             (0x1p-48 * as * A + 0x1p-49 * s * s + 0x1p-100 * A * A) / c;
	double t = base + (v > 0 ? v : 0);
	if (err <= 0x1p-36 * t)
		return t;
	return base + seg_cost_n(z, a, b, n1, n2, nd);
}

/* The cost of x[a..b) (to 2^-36 of itself; exactly 0 only for equal
 * values, as the bound is rigorous). */
static double seg_cost(const kctx *z, size_t a, size_t b)
{
	return seg_plus(z, 0, a, b, z->n1, z->n2, z->nd);
}

/*
 * The float nearest to mag * 2^L / c (ties to even), by long division:
 * mag * 2^128 / c has at least 64 bits, enough for 24 and a guard bit,
 * and a non-zero remainder is the sticky bit.
 */
static float round_quotient(const uint64_t *mag, int nl, int L, uint64_t c)
{
	uint64_t num[KLIMBS + 2] = {0}, quo[KLIMBS + 2] = {0};
	int nq = nl + 2;
	memcpy(num + 2, mag, (size_t)nl * sizeof *num);
	uint64_t rem = 0;
	if (c <= 0xFFFFFFFFu) {
		for (int i = 2 * nq - 1; i >= 0; i--) {
			uint64_t dig = (num[i / 2] >> (32 * (i % 2))) & 0xFFFFFFFFu;
			uint64_t cur = rem << 32 | dig;
			quo[i / 2] |= (cur / c) << (32 * (i % 2));
			rem = cur % c;
		}
	} else {
		for (int i = 64 * nq - 1; i >= 0; i--) {
			uint64_t top = rem >> 63;
			rem = rem << 1 | ((num[i / 64] >> (i % 64)) & 1);
			if (top || rem >= c) {
				rem -= c;
				quo[i / 64] |= UINT64_C(1) << (i % 64);
			}
		}
	}
	int t = nq - 1;
	while (t > 0 && !quo[t])
		t--;
	if (!quo[t])
		return 0.0f;
	int scale = L - 128, b = 64 * t + bitlen64(quo[t]);
	int etop = b - 1 + scale, lsb = etop - 23 < -149 ? -149 : etop - 23;
	int r = lsb - scale; /* bits of quo below the float's last bit, >= 41 */
	uint64_t mant = 0;
	for (int i = 0; i < 24 && r + i < 64 * nq; i++)
		mant |= ((quo[(r + i) / 64] >> ((r + i) % 64)) & 1) << i;
	int guard = (int)((quo[(r - 1) / 64] >> ((r - 1) % 64)) & 1);
	int sticky = rem != 0;
	for (int i = 0; i < (r - 1) / 64 && !sticky; i++)
		sticky = quo[i] != 0;
	if ((r - 1) % 64)
		sticky |= (quo[(r - 1) / 64] & ((UINT64_C(1) << ((r - 1) % 64)) - 1)) != 0;
	if (guard && (sticky || (mant & 1)))
		mant++;
	/* Normal or subnormal alike: a carry into bit 24 bumps the exponent. */
	uint32_t u = ((uint32_t)(lsb + 149) << 23) + (uint32_t)mant;
	float f;
	memcpy(&f, &u, 4);
	return f;
}

/* The centroid of x[a..b): the float nearest its exact mean, never 0.0
 * (the codebook reserves 0 for zeros): a mean that rounds to 0 takes the
 * nearest non-zero float of its sign (+ for an exact 0). */
static double seg_centroid(const kctx *z, size_t a, size_t b)
{
	uint64_t mag[KLIMBS] = {0};
	int neg = seg_sum(z, a, b, mag);
	float f = round_quotient(mag, z->n1, z->L, (uint64_t)(b - a));
	if (f == 0.0f)
		f = FLT_TRUE_MIN;
	return neg ? -(double)f : (double)f;
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
			z->c[j] = seg_centroid(z, a, b);
	}
	if (!empty)
		return 0;
	/* Squared errors against the new centroids, from the values: one
	 * pass, only in steps that must refill, and no sums of squares to
	 * build (they cost more than all of Lloyd on a large layer). In double
	 * a term is 0 exactly when the value is the centroid (two distinct
	 * floats differ by 2^-149 or more, whose square is a normal double),
	 * so with more distinct values than clusters one is always positive. */
	for (size_t j = 0; j < k; j++) {
		double e = 0, c = z->c[j];
		for (size_t i = z->cut[j]; i < z->cut[j + 1]; i++)
			e += ((double)z->x[i] - c) * ((double)z->x[i] - c);
		sse[j] = e;
	}
	for (size_t j = 0; empty && j < k; j++) {
		if (z->cut[j] != z->cut[j + 1])
			continue;
		size_t t = k;
		for (size_t q = 0; q < k; q++)
			if (sse[q] > 0 && (t == k || sse[q] > sse[t]))
				t = q;
		if (t == k)
			break; /* no cluster left to split: keep it where it is */
		/* From the centroid, not the mean: the centroid is between the
		 * ends and differs from one of them, so the new centroid is a
		 * value no other centroid holds and the value goes to it. */
		size_t a = z->cut[t], b = z->cut[t + 1];
		double ct = z->c[t], lo = z->x[a], hi = z->x[b - 1];
		z->c[j] = ct - lo >= hi - ct ? lo : hi;
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
 * A step that finds an empty cluster is taken even past max_iter: the
 * refill strictly lowers the squared error, so this ends, and no
 * codebook entry is left unused.
 */
static int lloyd(kctx *z, int have_prev, int max_iter, spz_kmeans_stats *st,
                 spz_prog *p)
{
	double *sse = malloc(z->k * sizeof *sse);
	if (!sse)
		return SPZ_ENOMEM;
	size_t empty = 1;
	int it = 0, rc = 0;
	/* Progress: the steps to convergence are not known ahead, but the
	 * number of values a step moves falls roughly geometrically to 0,
	 * so log(first / now) over log(first) estimates the share done. */
	double moved0 = 0;
	for (;; it++) {
		assign(z);
		if (have_prev && p->fn) {
			double moved = 0;
			for (size_t j = 1; j < z->k; j++)
				moved += z->cut[j] > z->prev[j]
				                 ? (double)(z->cut[j] - z->prev[j])
				                 : (double)(z->prev[j] - z->cut[j]);
			if (moved0 == 0)
				moved0 = moved;
			if (moved0 > 0 && it % 8 == 0)
				spz_prog_at(p, log((moved0 + 1) / (moved + 1)) /
				                       log(moved0 + 1));
		}
		int same = have_prev && !memcmp(z->cut, z->prev,
		                                (z->k + 1) * sizeof *z->cut);
		empty = 0;
		for (size_t j = 0; j < z->k; j++)
			empty += z->cut[j] == z->cut[j + 1];
		if (same && !empty) {
			st->converged = 1;
			break;
		}
		/* Past max_iter only to refill; an empty cluster that stays
		 * in the same assignment could not be refilled. */
		if (it >= max_iter && (!empty || same))
			break;
		memcpy(z->prev, z->cut, (z->k + 1) * sizeof *z->cut);
		have_prev = 1;
		if ((rc = update(z, sse)))
			break;
	}
	st->iterations = it;
	free(sse);
	spz_prog_at(p, 1);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Initial centroids                                                   */

/* An initial centroid: a float, never 0.0 (reserved for zeros). */
static double centroid_of(double v)
{
	float f = (float)v;
	if (f == 0.0f)
		f = v < 0 ? -FLT_TRUE_MIN : FLT_TRUE_MIN;
	return f;
}

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

/* Layer m of the DP for i in [ilo, ihi], argmins searched in [jlo, jhi];
 * one copy per limb count (N1, N2, ND), 0 for z's own. */
#define KM_DC(NAME, N1, N2, ND)                                               \
	static void NAME(const kctx *z, const double *prev, double *cur,      \
	                 size_t *opt, size_t ilo, size_t ihi, size_t jlo,     \
	                 size_t jhi)                                          \
	{                                                                     \
		const int n1 = N1 ? N1 : z->n1, n2 = N2 ? N2 : z->n2;         \
		const int nd = ND ? ND : z->nd;                               \
		while (ilo <= ihi) {                                          \
			size_t mid = ilo + (ihi - ilo) / 2;                   \
			size_t hi = jhi < mid - 1 ? jhi : mid - 1;            \
			double best = INFINITY;                               \
			size_t bj = jlo;                                      \
			for (size_t j = jlo; j <= hi; j++) {                  \
				double v = seg_plus(z, prev[j], j, mid,       \
				                    n1, n2, nd);              \
				if (v < best) {                               \
					best = v;                             \
					bj = j;                               \
				}                                             \
			}                                                     \
			cur[mid] = best;                                      \
			opt[mid] = bj;                                        \
			if (mid > ilo)                                        \
				NAME(z, prev, cur, opt, ilo, mid - 1, jlo, bj); \
			/* The right half as a loop: depth stays log n. */    \
			ilo = mid + 1;                                        \
			jlo = bj;                                             \
		}                                                             \
	}

/* The limb counts the data sizes allow (see make_s1): one or two limbs of
 * sums cover trained weights; the rest take the generic copy. */
KM_DC(dc_any, 0, 0, 0)
KM_DC(dc_112, 1, 1, 2)
KM_DC(dc_122, 1, 2, 2)
KM_DC(dc_223, 2, 2, 3)
KM_DC(dc_234, 2, 3, 4)
KM_DC(dc_244, 2, 4, 4)

typedef void dc_fn(const kctx *, const double *, double *, size_t *, size_t,
                   size_t, size_t, size_t);

static dc_fn *dc_for(const kctx *z)
{
	static const struct { int n1, n2, nd; dc_fn *fn; } v[] = {
		{1, 1, 2, dc_112}, {1, 2, 2, dc_122}, {2, 2, 3, dc_223},
		{2, 3, 4, dc_234}, {2, 4, 4, dc_244}};
	for (size_t i = 0; i < sizeof v / sizeof *v; i++)
		if (z->n1 == v[i].n1 && z->n2 == v[i].n2 && z->nd <= v[i].nd)
			return v[i].fn;
	return dc_any;
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
static int optimal(kctx *z, spz_prog *p)
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
		prev[i] = seg_cost(z, 0, i);
	prev[0] = 0;
	dc_fn *dc = dc_for(z);
	for (size_t m = 2; m < k; m++) {
		dc(z, prev, cur, opt, m, n - (k - m), m - 1, n - 1);
		bits_put(bv + (m - 2) * words, opt, m, n - (k - m));
		double *t = prev;
		prev = cur;
		cur = t;
		spz_prog_at(p, (double)(m - 1) / (double)(k - 1));
	}
	/* Last layer: only i = n matters. */
	double best = INFINITY;
	size_t bj = k - 1;
	for (size_t j = k - 1; j < n; j++) {
		double v = seg_plus(z, prev[j], j, n, z->n1, z->n2, z->nd);
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
		z->c[j] = seg_centroid(z, z->cut[j], z->cut[j + 1]);
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
	int lo = INT_MAX, hi = INT_MIN; /* the bits in use, for make_s1 */
	for (size_t i = 0; i < n; i++) {
		if (!isfinite(values[i]) || values[i] == 0.0f)
			return spz_fail(err, SPZ_EINVAL, "k-means value %zu is %s",
			                i, isnan(values[i]) ? "NaN"
			                   : values[i] == 0.0f ? "zero"
			                                       : "infinite");
		int neg, e;
		uint32_t m;
		float_parts(values[i], &neg, &m, &e);
		lo = e < lo ? e : lo;
		hi = e + bitlen64(m) > hi ? e + bitlen64(m) : hi;
	}
	/* Shares of the work: the check above, the sort (Lloyd) or the
	 * sort and the squares (optimal), the iterations, the last pass. */
	spz_prog prog = spz_prog_root(o.progress, o.progress_ctx);
	int dp = o.optimal && o.k >= 2;
	spz_prog_at(&prog, 0.05);
	spz_prog p_sort = spz_prog_part(&prog, 0.05, dp ? 0.2 : 0.45);
	spz_prog p_iter = spz_prog_part(&prog, dp ? 0.25 : 0.5, 0.95);
	spz_kmeans_stats st = {0};
	if (!n) {
		st.exact = st.converged = 1;
		spz_prog_at(&prog, 1);
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
	if ((rc = sort_floats(x, n, err, &p_sort)))
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
		spz_prog_at(&prog, 1);
		rc = 0;
		goto out;
	}
	z.k = o.k;
	z.c = malloc(z.k * sizeof *z.c);
	z.cut = malloc((z.k + 1) * sizeof *z.cut);
	z.prev = malloc((z.k + 1) * sizeof *z.prev);
	z.step = o.optimal && z.k >= 2 ? 1 : 32;
	if (!z.c || !z.cut || !z.prev || make_s1(&z, lo, hi))
		goto out;
	/* The optimum needs one step: to settle ties at midpoints after the
	 * DP, or to reach the mean when k = 1. */
	int iters = o.optimal && o.max_iter < 1 ? 1 : o.max_iter;
	if (o.optimal && z.k >= 2) {
		if ((rc = need_s2(&z)))
			goto out;
		spz_prog_at(&prog, 0.25);
		if ((rc = optimal(&z, &p_iter)))
			goto out;
		memcpy(z.prev, z.cut, (z.k + 1) * sizeof *z.cut);
		spz_prog none = spz_prog_root(NULL, NULL);
		rc = lloyd(&z, 1, iters, &st, &none);
	} else {
		if ((rc = init_centroids(&z, &o)))
			goto out;
		spz_prog_at(&prog, 0.5);
		rc = lloyd(&z, 0, iters, &st, &p_iter);
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
	spz_prog_at(&prog, 1);
out:
	if (rc == SPZ_ENOMEM)
		spz_fail(err, rc, "out of memory for k-means of %zu values", n);
	if (!rc && stats)
		*stats = st;
	free(x);
	free(z.s1);
	free(z.s2);
	free(z.p1);
	free(z.p2);
	free(z.c);
	free(z.cut);
	free(z.prev);
	return rc;
}
