/* test_prune.c - magnitude, threshold and N:M pruning against plain
 * reference implementations, and spz_prune_model's records and refusals. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* ---- references: obviously right, slow ---------------------------- */

static uint32_t key(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	return u & 0x7fffffffu;
}

static const float *ref_w;

/* Prune order: smaller |w| first; equal |w|: higher position first. */
static int by_prune_order(const void *a, const void *b)
{
	int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
	uint32_t ki = key(ref_w[i]), kj = key(ref_w[j]);
	if (ki != kj)
		return ki < kj ? -1 : 1;
	return i > j ? -1 : 1;
}

/* Zeroes the k first elements in prune order of w[0..n). */
static void ref_magnitude(float *w, int64_t n, int64_t k)
{
	int64_t *idx = malloc((size_t)(n ? n : 1) * sizeof *idx);
	for (int64_t i = 0; i < n; i++)
		idx[i] = i;
	ref_w = w;
	qsort(idx, (size_t)n, sizeof *idx, by_prune_order);
	for (int64_t i = 0; i < k; i++)
		w[idx[i]] = 0.0f;
	free(idx);
}

/* N:M along dim: each group keeps its n largest (ties: lower index). */
static void ref_nm(float *w, const int64_t *dims, int nd, int dim, int n,
                   int m, int prune_tail)
{
	int64_t outer = 1, inner = 1, len = dims[dim];
	for (int d = 0; d < dim; d++)
		outer *= dims[d];
	for (int d = dim + 1; d < nd; d++)
		inner *= dims[d];
	for (int64_t o = 0; o < outer; o++)
		for (int64_t j = 0; j < inner; j++)
			for (int64_t g = 0; g < len; g += m) {
				int glen = len - g < m ? (int)(len - g) : m;
				if (glen < m && !prune_tail)
					continue;
				float *p = w + (o * len + g) * inner + j;
				int drop[16] = {0};
				for (int a = 0; a < glen; a++) {
					int beaten = 0;
					for (int b = 0; b < glen; b++)
						beaten += key(p[b * inner]) >
						                  key(p[a * inner]) ||
						          (key(p[b * inner]) ==
						                   key(p[a * inner]) &&
						           b < a);
					drop[a] = beaten >= n;
				}
				for (int a = 0; a < glen; a++)
					if (drop[a])
						p[a * inner] = 0.0f;
			}
}

static int64_t zeros(const float *w, int64_t n)
{
	int64_t z = 0;
	for (int64_t i = 0; i < n; i++)
		z += w[i] == 0.0f;
	return z;
}

/* Random floats; with few_values, drawn from a small set so that ties
 * (and zeros, and -0) are everywhere. */
static void fill(float *w, int64_t n, spz_rng *r, int few_values)
{
	static const float set[] = {0.0f, -0.0f, 1.0f, -1.0f, 0.5f, 2.0f,
	                            -2.0f, 0.25f};
	for (int64_t i = 0; i < n; i++)
		w[i] = few_values ? set[spz_rng_below(r, 8)]
		                  : (float)spz_rng_normal(r);
}

static void assert_same(const float *a, const float *b, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		if (memcmp(&a[i], &b[i], sizeof a[i]) &&
		    !(a[i] == 0.0f && b[i] == 0.0f))
			ck_abort_msg("element %lld: %g vs %g", (long long)i,
			             (double)a[i], (double)b[i]);
}

/* ---- magnitude ----------------------------------------------------- */

START_TEST(magnitude_exact_count_and_ties)
{
	float w[5] = {1, -1, 1, 2, 1};
	float *wp = w;
	int64_t n = 5;
	spz_prune_stats st;
	ck_assert_int_eq(spz_prune_magnitude(&st, &wp, &n, 1, 2, NULL), 0);
	/* |w| = 1 four times: the two at the highest indices go. */
	float want[5] = {1, -1, 0, 2, 0};
	assert_same(w, want, 5);
	ck_assert_int_eq(st.elements, 5);
	ck_assert_int_eq(st.nonzeros_before, 5);
	ck_assert_int_eq(st.nonzeros_after, 3);
	ck_assert(st.threshold == 1.0f);
}
END_TEST

START_TEST(magnitude_matches_reference)
{
	spz_rng r;
	spz_rng_seed(&r, 7);
	for (int round = 0; round < 60; round++) {
		int64_t n = 1 + (int64_t)spz_rng_below(&r, 3000);
		int few = round % 3 == 0;
		float *w = malloc((size_t)n * sizeof *w);
		float *ref = malloc((size_t)n * sizeof *ref);
		fill(w, n, &r, few);
		memcpy(ref, w, (size_t)n * sizeof *w);
		int64_t z0 = zeros(w, n);
		int64_t k = (int64_t)spz_rng_below(&r, (uint64_t)n + 1);
		spz_prune_stats st;
		ck_assert_int_eq(spz_prune_magnitude(&st, &w, &n, 1, k, NULL),
		                 0);
		ref_magnitude(ref, n, k);
		assert_same(w, ref, n);
		/* Exactly k zeros, unless more were zero to begin with. */
		ck_assert_int_eq(zeros(w, n), k > z0 ? k : z0);
		ck_assert_int_eq(st.nonzeros_before, n - z0);
		ck_assert_int_eq(st.nonzeros_after, n - zeros(w, n));
		free(w);
		free(ref);
	}
}
END_TEST

/* Large enough for the sampled bracket, with a normal and a tie-heavy
 * tensor, and a layout built so that the sample lies (the fallback). */
START_TEST(magnitude_large_paths)
{
	spz_rng r;
	spz_rng_seed(&r, 11);
	int64_t n = (INT64_C(1) << 20) + 12345;
	float *w = malloc((size_t)n * sizeof *w);
	float *ref = malloc((size_t)n * sizeof *ref);
	for (int c = 0; c < 5; c++) {
		fill(w, n, &r, c == 1);
		if (c >= 3) /* ~200 copies of each value: ties in the bracket */
			for (int64_t i = 0; i < n; i++)
				w[i] = (float)spz_rng_below(&r, 5000) - 2500.0f;
		if (c == 2) {
			/* Sampled positions (stride/2 + j*stride) hold the big
			 * values, so the bracket misses. */
			int64_t stride = n >> 17;
			for (int64_t i = 0; i < n; i++)
				w[i] = i % stride == stride / 2 ? 100.0f + (float)i
				                                : (float)(i % 1000);
		}
		memcpy(ref, w, (size_t)n * sizeof *w);
		int64_t k = c == 2 ? n / 3 : (int64_t)(0.91 * (double)n);
		spz_prune_stats st[3];
		if (c == 4) {
			/* Global over three spans, the tie split in the middle. */
			float *ws[3] = {w, w + 1000, w + 400000};
			int64_t ns[3] = {1000, 399000, n - 400000};
			k = n / 2;
			ck_assert_int_eq(spz_prune_magnitude(st, ws, ns, 3, k,
			                                     NULL), 0);
		} else {
			ck_assert_int_eq(spz_prune_magnitude(st, &w, &n, 1, k,
			                                     NULL), 0);
		}
		ref_magnitude(ref, n, k);
		assert_same(w, ref, n);
		int64_t z = zeros(w, n);
		ck_assert_int_eq(z, k);
	}
	free(w);
	free(ref);
}
END_TEST

START_TEST(magnitude_global_vs_layer)
{
	/* Two layers at scales 1 and 100: per layer each loses half; ranked
	 * together the small one loses everything first. */
	float a[8], b[8];
	for (int i = 0; i < 8; i++) {
		a[i] = (float)(i + 1);
		b[i] = 100.0f * (float)(i + 1);
	}
	float *w[2] = {a, b};
	int64_t n[2] = {8, 8};
	spz_prune_stats st[2];
	ck_assert_int_eq(spz_prune_magnitude(st, w, n, 2, 8, NULL), 0);
	ck_assert_int_eq(st[0].nonzeros_after, 0);
	ck_assert_int_eq(st[1].nonzeros_after, 8);
	ck_assert(st[0].threshold == 8.0f && st[1].threshold == 8.0f);
	for (int i = 0; i < 8; i++)
		a[i] = (float)(i + 1);
	ck_assert_int_eq(spz_prune_magnitude(st, w, n, 1, 4, NULL), 0);
	ck_assert_int_eq(st[0].nonzeros_after, 4);

	/* Global equals the reference on the concatenation, ties across
	 * tensors included (earlier tensor kept first). */
	spz_rng r;
	spz_rng_seed(&r, 3);
	for (int round = 0; round < 20; round++) {
		int64_t ns[3], total = 0;
		float *ws[3];
		for (int t = 0; t < 3; t++) {
			ns[t] = (int64_t)spz_rng_below(&r, 700);
			total += ns[t];
		}
		float *cat = malloc((size_t)(total + 1) * sizeof *cat);
		for (int t = 0, off = 0; t < 3; off += (int)ns[t], t++) {
			ws[t] = malloc((size_t)(ns[t] + 1) * sizeof *ws[t]);
			fill(ws[t], ns[t], &r, round % 2);
			memcpy(cat + off, ws[t], (size_t)ns[t] * sizeof *cat);
		}
		int64_t k = (int64_t)spz_rng_below(&r, (uint64_t)total + 1);
		spz_prune_stats s3[3];
		ck_assert_int_eq(spz_prune_magnitude(s3, ws, ns, 3, k, NULL),
		                 0);
		ref_magnitude(cat, total, k);
		for (int t = 0, off = 0; t < 3; off += (int)ns[t], t++) {
			assert_same(ws[t], cat + off, ns[t]);
			ck_assert_int_eq(s3[t].elements, ns[t]);
			free(ws[t]);
		}
		free(cat);
	}
}
END_TEST

START_TEST(magnitude_edges)
{
	spz_prune_stats st;
	spz_error err = {0};
	/* All zeros: nothing changes, all count as pruned. */
	float z[6] = {0, -0.0f, 0, 0, 0, 0};
	float *zp = z;
	int64_t n = 6;
	ck_assert_int_eq(spz_prune_magnitude(&st, &zp, &n, 1, 3, NULL), 0);
	ck_assert_int_eq(st.nonzeros_before, 0);
	ck_assert_int_eq(st.nonzeros_after, 0);
	/* One element: k = 0 keeps it, k = 1 zeroes it. */
	float one = -3.0f, *op = &one;
	n = 1;
	ck_assert_int_eq(spz_prune_magnitude(&st, &op, &n, 1, 0, NULL), 0);
	ck_assert(one == -3.0f && st.threshold == 0.0f);
	ck_assert_int_eq(spz_prune_magnitude(&st, &op, &n, 1, 1, NULL), 0);
	ck_assert(one == 0.0f && st.threshold == 3.0f);
	/* Empty, and k out of range. */
	n = 0;
	ck_assert_int_eq(spz_prune_magnitude(&st, &op, &n, 1, 0, NULL), 0);
	ck_assert_int_eq(st.elements, 0);
	n = 1;
	ck_assert_int_eq(spz_prune_magnitude(&st, &op, &n, 1, 2, &err),
	                 SPZ_EINVAL);
	ck_assert(strstr(err.text, "cannot prune 2 of 1"));
}
END_TEST

START_TEST(threshold_prunes_below)
{
	float w[6] = {0.1f, -0.05f, 0.2f, -0.3f, 0.0f, 0.1f};
	spz_prune_stats st;
	ck_assert_int_eq(spz_prune_threshold(&st, w, 6, 0.1f, NULL), 0);
	float want[6] = {0.1f, 0, 0.2f, -0.3f, 0, 0.1f};
	assert_same(w, want, 6);
	ck_assert_int_eq(st.nonzeros_before, 5);
	ck_assert_int_eq(st.nonzeros_after, 4);
	ck_assert_int_eq(spz_prune_threshold(&st, w, 6, -1.0f, NULL),
	                 SPZ_EINVAL);
	ck_assert_int_eq(spz_prune_threshold(&st, w, 6, NAN, NULL),
	                 SPZ_EINVAL);
}
END_TEST

/* ---- N:M ----------------------------------------------------------- */

/* Every pattern 1 <= N < M <= 16 in three layouts (reduction dim last,
 * first, middle), sizes that leave vector tails, equals the reference. */
START_TEST(nm_every_pattern)
{
	spz_rng r;
	spz_rng_seed(&r, 5);
	for (int m = 2; m <= 16; m++)
		for (int n = 1; n < m; n++)
			for (int layout = 0; layout < 3; layout++) {
				int64_t dims[3];
				int nd, dim;
				int64_t g = 1 + (int64_t)spz_rng_below(&r, 9);
				if (layout == 0) {
					dims[0] = 3;
					dims[1] = g * m;
					nd = 2, dim = 1;
				} else if (layout == 1) {
					dims[0] = g * m;
					dims[1] = 1 + (int64_t)spz_rng_below(&r, 11);
					nd = 2, dim = 0;
				} else {
					dims[0] = 2;
					dims[1] = g * m;
					dims[2] = 1 + (int64_t)spz_rng_below(&r, 7);
					nd = 3, dim = 1;
				}
				int64_t cnt = spz_dims_elements(dims, nd);
				float *w = malloc((size_t)cnt * sizeof *w);
				float *ref = malloc((size_t)cnt * sizeof *ref);
				fill(w, cnt, &r, (m + n + layout) % 2);
				memcpy(ref, w, (size_t)cnt * sizeof *w);
				spz_prune_stats st;
				ck_assert_int_eq(spz_prune_nm(&st, w, dims, nd, dim, n,
				                              m, SPZ_NM_PARTIAL_REFUSE,
				                              NULL), 0);
				ref_nm(ref, dims, nd, dim, n, m, 0);
				assert_same(w, ref, cnt);
				ck_assert_int_eq(st.nonzeros_after,
				                 cnt - zeros(w, cnt));
				spz_tensor t = {.ndims = nd, .data = w};
				memcpy(t.dims, dims, sizeof dims);
				ck_assert(spz_tensor_nm_holds(&t, dim, n, m));
				free(w);
				free(ref);
			}
}
END_TEST

/* Rows long enough for the 16-lane kernel (reduction dim last, the
 * common Linear layout), with a tail of groups it leaves to the 4-lane
 * code; ties everywhere or none. Bit for bit the reference, and the
 * stats: the threshold is the largest |w| dropped. */
START_TEST(nm_wide_rows)
{
	spz_rng r;
	spz_rng_seed(&r, 11);
	for (int m = 2; m <= 16; m *= 2)
		for (int n = 1; n < m; n++)
			for (int few = 0; few < 2; few++) {
				int64_t dims[2] = {3, 96 + 2 * m};
				int64_t cnt = dims[0] * dims[1];
				float *w = malloc((size_t)cnt * sizeof *w);
				float *orig = malloc((size_t)cnt * sizeof *w);
				float *ref = malloc((size_t)cnt * sizeof *w);
				fill(w, cnt, &r, few);
				memcpy(orig, w, (size_t)cnt * sizeof *w);
				memcpy(ref, w, (size_t)cnt * sizeof *w);
				spz_prune_stats st;
				ck_assert_int_eq(spz_prune_nm(&st, w, dims, 2, 1, n,
				                              m, SPZ_NM_PARTIAL_REFUSE,
				                              NULL), 0);
				ref_nm(ref, dims, 2, 1, n, m, 0);
				ck_assert(!memcmp(w, ref, (size_t)cnt * sizeof *w));
				float most = 0.0f;
				int64_t before = 0;
				for (int64_t i = 0; i < cnt; i++) {
					before += orig[i] != 0.0f;
					if (orig[i] != 0.0f && ref[i] == 0.0f &&
					    fabsf(orig[i]) > most)
						most = fabsf(orig[i]);
				}
				ck_assert(st.threshold == most);
				ck_assert_int_eq(st.nonzeros_before, before);
				ck_assert_int_eq(st.nonzeros_after,
				                 cnt - zeros(w, cnt));
				free(w);
				free(orig);
				free(ref);
			}
}
END_TEST

START_TEST(nm_keeps_n_largest)
{
	/* 2:4 on one row: each group keeps exactly its two largest |w|. */
	float w[8] = {0.1f, -0.9f, 0.5f, 0.2f, 3, 3, 3, -3};
	int64_t dims[2] = {1, 8};
	spz_prune_stats st;
	ck_assert_int_eq(spz_prune_nm(&st, w, dims, 2, 1, 2, 4,
	                              SPZ_NM_PARTIAL_REFUSE, NULL), 0);
	float want[8] = {0, -0.9f, 0.5f, 0, 3, 3, 0, 0};
	assert_same(w, want, 8);
	ck_assert(st.threshold == 3.0f);
	ck_assert_int_eq(st.nonzeros_before, 8);
	ck_assert_int_eq(st.nonzeros_after, 4);
}
END_TEST

START_TEST(nm_partial_groups)
{
	int64_t dims[2] = {2, 6};
	float base[12] = {1, 2, 3, 4, 5, 6, -6, -5, -4, -3, -2, -1};
	float w[12], ref[12];
	spz_prune_stats st;
	spz_error err = {0};
	memcpy(w, base, sizeof w);
	ck_assert_int_eq(spz_prune_nm(&st, w, dims, 2, 1, 2, 4,
	                              SPZ_NM_PARTIAL_REFUSE, &err),
	                 SPZ_EUNSUPPORTED);
	ck_assert_str_eq(err.text,
	                 "dimension 1 (size 6) is not a multiple of 4");
	assert_same(w, base, 12);
	/* keep: the tail pair stays; prune: it keeps its 2 largest (all). */
	ck_assert_int_eq(spz_prune_nm(&st, w, dims, 2, 1, 2, 4,
	                              SPZ_NM_PARTIAL_KEEP, NULL), 0);
	memcpy(ref, base, sizeof ref);
	ref_nm(ref, dims, 2, 1, 2, 4, 0);
	assert_same(w, ref, 12);
	ck_assert(w[4] == 5 && w[5] == 6);
	/* 1:4 with prune: the tail pair keeps only its largest. */
	memcpy(w, base, sizeof w);
	ck_assert_int_eq(spz_prune_nm(&st, w, dims, 2, 1, 1, 4,
	                              SPZ_NM_PARTIAL_PRUNE, NULL), 0);
	memcpy(ref, base, sizeof ref);
	ref_nm(ref, dims, 2, 1, 1, 4, 1);
	assert_same(w, ref, 12);
	ck_assert(w[4] == 0 && w[5] == 6 && w[10] == -2 && w[11] == 0);
	/* A dimension shorter than M is all tail. */
	int64_t small[2] = {3, 3};
	float s[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
	ck_assert_int_eq(spz_prune_nm(&st, s, small, 2, 1, 1, 4,
	                              SPZ_NM_PARTIAL_PRUNE, NULL), 0);
	ck_assert_int_eq(st.nonzeros_after, 3);
	/* Bad patterns. */
	ck_assert_int_eq(spz_prune_nm(&st, w, dims, 2, 1, 4, 4,
	                              SPZ_NM_PARTIAL_KEEP, NULL), SPZ_EINVAL);
	ck_assert_int_eq(spz_prune_nm(&st, w, dims, 2, 1, 1, 17,
	                              SPZ_NM_PARTIAL_KEEP, NULL), SPZ_EINVAL);
	ck_assert_int_eq(spz_prune_nm(&st, w, dims, 2, 2, 1, 2,
	                              SPZ_NM_PARTIAL_KEEP, NULL), SPZ_EINVAL);
}
END_TEST

START_TEST(nm_single_and_zero)
{
	int64_t d1[2] = {1, 1};
	float one = 5.0f;
	spz_prune_stats st;
	ck_assert_int_eq(spz_prune_nm(&st, &one, d1, 2, 1, 1, 2,
	                              SPZ_NM_PARTIAL_PRUNE, NULL), 0);
	ck_assert(one == 5.0f);
	ck_assert_int_eq(st.nonzeros_after, 1);
	int64_t d[2] = {4, 8};
	float z[32] = {0};
	ck_assert_int_eq(spz_prune_nm(&st, z, d, 2, 1, 2, 4,
	                              SPZ_NM_PARTIAL_REFUSE, NULL), 0);
	ck_assert_int_eq(st.nonzeros_before, 0);
	ck_assert_int_eq(st.nonzeros_after, 0);
	ck_assert(st.threshold == 0.0f);
	spz_tensor t = {.ndims = 2, .dims = {4, 8}, .data = z};
	ck_assert(spz_tensor_nm_holds(&t, 1, 1, 16));
	z[0] = z[1] = 1;
	ck_assert(!spz_tensor_nm_holds(&t, 1, 1, 4));
	ck_assert(spz_tensor_nm_holds(&t, 1, 2, 4));
	ck_assert(spz_tensor_nm_holds(&t, 0, 1, 4));
	ck_assert(!spz_tensor_nm_holds(&t, 2, 1, 4));
}
END_TEST

/* ---- models -------------------------------------------------------- */

/* Gemm(transB=0) "a" [in=8, out=3], MatMul "b" [3, 4], Conv "c"
 * [O=2, I=4, 1, 1], plus a bias. */
static spz_model *three_ops(void)
{
	spz_model *m;
	ck_assert_int_eq(spz_model_new(&m, "ops"), 0);
	int64_t da[2] = {8, 3}, db[2] = {3, 4}, dc[4] = {2, 4, 1, 1}, bias = 3;
	float wa[24], wb[12], wc[8];
	for (int i = 0; i < 24; i++)
		wa[i] = (float)(i % 7) - 3.0f + 0.01f * (float)i;
	for (int i = 0; i < 12; i++)
		wb[i] = (float)i + 1.0f;
	for (int i = 0; i < 8; i++)
		wc[i] = (float)(8 - i);
	ck_assert_int_eq(spz_model_add_tensor(NULL, m, "a.w", da, 2, wa, NULL),
	                 0);
	ck_assert_int_eq(spz_model_add_tensor(NULL, m, "a.b", &bias, 1, NULL,
	                                      NULL), 0);
	ck_assert_int_eq(spz_model_add_tensor(NULL, m, "b.w", db, 2, wb, NULL),
	                 0);
	ck_assert_int_eq(spz_model_add_tensor(NULL, m, "c.w", dc, 4, wc, NULL),
	                 0);
	const char *ia[3] = {"x", "a.w", "a.b"}, *oa = "ya";
	const char *ib[2] = {"ya", "b.w"}, *ob = "yb";
	const char *ic[2] = {"yb", "c.w"}, *oc = "y";
	ck_assert_int_eq(spz_model_add_input(m, "x"), 0);
	ck_assert_int_eq(spz_model_add_node(NULL, m, "Gemm", "a", ia, 3, &oa,
	                                    1), 0);
	ck_assert_int_eq(spz_model_add_node(NULL, m, "MatMul", "b", ib, 2,
	                                    &ob, 1), 0);
	ck_assert_int_eq(spz_model_add_node(NULL, m, "Conv", "c", ic, 2, &oc,
	                                    1), 0);
	ck_assert_int_eq(spz_model_add_output(m, "y"), 0);
	return m;
}

START_TEST(reduction_dims)
{
	spz_model *m = three_ops();
	ck_assert_int_eq(spz_model_reduction_dim(m, spz_model_tensor(m, "a.w")),
	                 0);
	ck_assert_int_eq(spz_model_reduction_dim(m, spz_model_tensor(m, "b.w")),
	                 0);
	ck_assert_int_eq(spz_model_reduction_dim(m, spz_model_tensor(m, "c.w")),
	                 1);
	ck_assert_int_eq(spz_model_reduction_dim(m, spz_model_tensor(m, "a.b")),
	                 -1);
	spz_model_free(m);
	float w[6] = {1, 2, 3, 4, 5, 6};
	m = tu_gemm_model(2, 3, w);
	ck_assert_int_eq(
		spz_model_reduction_dim(m, spz_model_tensor(m, "fc.weight")), 1);
	spz_model_free(m);
}
END_TEST

START_TEST(model_nm_records)
{
	spz_model *m = three_ops();
	spz_prune_item items[3] = {{.tensor = spz_model_tensor(m, "a.w")},
	                           {.tensor = spz_model_tensor(m, "b.w")},
	                           {.tensor = spz_model_tensor(m, "c.w")}};
	spz_prune_options o = SPZ_PRUNE_OPTIONS_INIT;
	o.mode = SPZ_PRUNE_NM;
	o.nm_n = 1;
	o.nm_m = 2;
	spz_error err = {0};
	/* b.w's reduction dim has 3 rows: refused, and nothing changed. */
	ck_assert_int_eq(spz_prune_model(m, items, 3, &o, &err),
	                 SPZ_EUNSUPPORTED);
	ck_assert(strstr(err.text, "tensor 'b.w': its reduction dimension "
	                           "(dim 0, size 3) is not a multiple of 2"));
	for (int i = 0; i < 3; i++) {
		ck_assert_ptr_null(items[i].tensor->prune);
		ck_assert_int_eq(spz_tensor_nonzeros(items[i].tensor),
		                 spz_tensor_elements(items[i].tensor));
	}
	o.nm_partial = SPZ_NM_PARTIAL_KEEP;
	ck_assert_int_eq(spz_prune_model(m, items, 3, &o, &err), 0);
	for (int i = 0; i < 3; i++) {
		const spz_tensor *t = items[i].tensor;
		ck_assert_ptr_nonnull(t->prune);
		ck_assert_str_eq(t->prune->mode, "nm");
		ck_assert_int_eq(t->prune->nm_n, 1);
		ck_assert_int_eq(t->prune->nm_m, 2);
		ck_assert(spz_tensor_nm_holds(t, spz_model_reduction_dim(m, t),
		                              1, 2));
	}
	/* Conv [2, 4, 1, 1] along I: wc = 8..1, each pair keeps its first. */
	const float *c = items[2].tensor->data;
	ck_assert(c[0] == 8 && c[1] == 0 && c[2] == 6 && c[3] == 0);
	ck_assert_double_eq(items[2].tensor->prune->density, 0.5);
	ck_assert(items[2].tensor->prune->threshold == 7.0);
	/* MatMul [3, 4] along rows: rows 0 and 1 pair up, row 2 is kept. */
	const float *b = items[1].tensor->data;
	ck_assert(b[0] == 0 && b[4] == 5 && b[8] == 9);
	/* A bias has no reduction dimension. */
	spz_prune_item bias = {.tensor = spz_model_tensor(m, "a.b")};
	ck_assert_int_eq(spz_prune_model(m, &bias, 1, &o, &err),
	                 SPZ_EUNSUPPORTED);
	ck_assert(strstr(err.text, "'a.b' is not the weight"));
	spz_model_free(m);
}
END_TEST

START_TEST(model_magnitude_and_threshold)
{
	spz_model *m = three_ops();
	spz_prune_item items[2] = {
		{.tensor = spz_model_tensor(m, "a.w"), .sparsity = 0.5},
		{.tensor = spz_model_tensor(m, "b.w"), .sparsity = 0.25}};
	spz_prune_options o = SPZ_PRUNE_OPTIONS_INIT;
	spz_error err = {0};
	ck_assert_int_eq(spz_prune_model(m, items, 2, &o, &err), 0);
	ck_assert_int_eq(items[0].stats.nonzeros_after, 12);
	ck_assert_int_eq(items[1].stats.nonzeros_after, 9);
	const spz_prune_record *p = items[1].tensor->prune;
	ck_assert_str_eq(p->mode, "magnitude");
	ck_assert_str_eq(p->scope, "layer");
	ck_assert_double_eq(p->target, 0.25);
	ck_assert_double_eq(p->density, 0.75);
	ck_assert(p->threshold == 3.0);
	ck_assert_int_eq(p->nm_m, 0);

	/* Global: one threshold over both; b.w (1..12 less the pruned) */
	o.global = 1;
	o.sparsity = 0.9;
	ck_assert_int_eq(spz_prune_model(m, items, 2, &o, &err), 0);
	ck_assert_str_eq(items[0].tensor->prune->scope, "global");
	ck_assert_double_eq(items[0].tensor->prune->target, 0.9);
	ck_assert_int_eq(items[0].stats.nonzeros_after +
	                 items[1].stats.nonzeros_after, 36 - 32);

	/* Threshold: |w| < T, T kept as given, compared exactly. */
	spz_model_free(m);
	m = three_ops();
	spz_prune_item one = {.tensor = spz_model_tensor(m, "b.w")};
	one.tensor->data[0] = 0.1f; /* 0.1f > 0.1: kept */
	one.tensor->data[1] = nextafterf(0.1f, 0); /* < 0.1: pruned */
	o = (spz_prune_options)SPZ_PRUNE_OPTIONS_INIT;
	o.mode = SPZ_PRUNE_THRESHOLD;
	o.threshold = 0.1;
	ck_assert_int_eq(spz_prune_model(m, &one, 1, &o, &err), 0);
	ck_assert(one.tensor->data[0] == 0.1f && one.tensor->data[1] == 0);
	ck_assert_double_eq(one.tensor->prune->threshold, 0.1);
	ck_assert_str_eq(one.tensor->prune->mode, "threshold");
	spz_model_free(m);
}
END_TEST

START_TEST(model_refusals)
{
	spz_model *m = three_ops();
	spz_prune_item it = {.tensor = spz_model_tensor(m, "a.w"),
	                     .sparsity = 1.0};
	spz_prune_options o = SPZ_PRUNE_OPTIONS_INIT;
	spz_error err = {0};
	ck_assert_int_eq(spz_prune_model(m, &it, 1, &o, &err), SPZ_EINVAL);
	ck_assert(strstr(err.text, "tensor 'a.w': sparsity must be in [0, 1)"));
	it.sparsity = 0.5;
	spz_prune_item twice[2] = {it, it};
	ck_assert_int_eq(spz_prune_model(m, twice, 2, &o, &err), SPZ_EINVAL);
	ck_assert(strstr(err.text, "listed twice"));
	spz_tensor stranger = {.name = "x"};
	spz_prune_item bad = {.tensor = &stranger};
	ck_assert_int_eq(spz_prune_model(m, &bad, 1, &o, &err), SPZ_EINVAL);
	o.mode = SPZ_PRUNE_NM;
	o.nm_n = 3;
	o.nm_m = 2;
	ck_assert_int_eq(spz_prune_model(m, &it, 1, &o, &err), SPZ_EINVAL);

	/* A quantized tensor anywhere: refused with the reason. */
	spz_tensor *c = spz_model_tensor(m, "c.w");
	float *cb = calloc(2, sizeof *cb);
	uint8_t *codes = calloc(8, 1);
	cb[1] = 1.0f;
	spz_tensor_set_quantized(c, 1, cb, 2, codes);
	o = (spz_prune_options)SPZ_PRUNE_OPTIONS_INIT;
	ck_assert_int_eq(spz_prune_model(m, &it, 1, &o, &err),
	                 SPZ_EUNSUPPORTED);
	ck_assert_str_eq(err.text, "tensor 'c.w' is quantized: pruning after "
	                 "weight sharing would change its shared values and "
	                 "zero codes; prune before quantize");
	ck_assert_ptr_null(it.tensor->prune);
	/* nm_holds reads quantized tensors through their codebook. */
	ck_assert(spz_tensor_nm_holds(c, 1, 1, 4));
	c->codes[0] = c->codes[1] = 1;
	ck_assert(!spz_tensor_nm_holds(c, 1, 1, 4));
	spz_model_free(m);
}
END_TEST

Suite *prune_suite(void)
{
	Suite *s = suite_create("prune");
	TCase *tc = tcase_create("prune");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, magnitude_exact_count_and_ties);
	tcase_add_test(tc, magnitude_matches_reference);
	tcase_add_test(tc, magnitude_large_paths);
	tcase_add_test(tc, magnitude_global_vs_layer);
	tcase_add_test(tc, magnitude_edges);
	tcase_add_test(tc, threshold_prunes_below);
	tcase_add_test(tc, nm_every_pattern);
	tcase_add_test(tc, nm_wide_rows);
	tcase_add_test(tc, nm_keeps_n_largest);
	tcase_add_test(tc, nm_partial_groups);
	tcase_add_test(tc, nm_single_and_zero);
	tcase_add_test(tc, reduction_dims);
	tcase_add_test(tc, model_nm_records);
	tcase_add_test(tc, model_magnitude_and_threshold);
	tcase_add_test(tc, model_refusals);
	suite_add_tcase(s, tc);
	return s;
}
