/*
 * test_sparse.c - the sparse form of a tensor (spz_tensor.mask): pruning
 * out of place (spz_prune_options.sparse_out) against pruning in place,
 * value for value and statistic for statistic, also with the values still
 * in a "file" (spz_tensor.src, here a source in memory that records how
 * it is read); the .spzm and JSON writers
 * giving the bytes of the equivalent dense model; the .spzm reader's
 * keep_sparse against its dense reading (its errors: test_spzm.c loads
 * every damaged file both ways); EIE packing from
 * the sparse form against packing the dense model, image byte for byte.
 */
#define _DEFAULT_SOURCE /* mprotect */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "testutil.h"

/* How a tensor's values are drawn. */
enum { VAL_TIES, VAL_ZERO, VAL_NORMAL, VAL_SAME };

static void fill(float *v, int64_t n, spz_rng *rng, int how)
{
	for (int64_t i = 0; i < n; i++) {
		switch (how) {
		case VAL_TIES: {
			/* Seven levels, +0.0 and -0.0 among them: ties
			 * everywhere, zeros of both signs. */
			int64_t k = (int64_t)spz_rng_below(rng, 9) - 4;
			v[i] = k == 4 ? -0.0f : (float)k * 0.25f;
			break;
		}
		case VAL_ZERO:
			v[i] = spz_rng_below(rng, 2) ? 0.0f : -0.0f;
			break;
		case VAL_NORMAL:
			v[i] = (float)spz_rng_normal(rng);
			break;
		default:
			v[i] = -1.5f;
		}
	}
}

static void node(spz_model *m, const char *op, const char *name,
                 const char *a, const char *b, const char *c,
                 const char *out)
{
	const char *in[3] = {a, b, c};
	spz_node *n;
	ck_assert_int_eq(spz_model_add_node(&n, m, op, name, in,
	                                    c ? 3 : b ? 2 : 1, &out, 1), 0);
	if (!strcmp(op, "Gemm"))
		ck_assert_int_eq(spz_node_set_number(n, "transB", 1), 0);
}

static void tensor(spz_model *m, const char *name, const int64_t *dims,
                   int nd, spz_rng *rng, int how)
{
	spz_tensor *t;
	spz_error err;
	ck_assert_int_eq(spz_model_add_tensor(&t, m, name, dims, nd, NULL,
	                                      &err), 0);
	fill(t->data, spz_tensor_elements(t), rng, how);
}

/*
 * Three weights, each more than a piece (16384 floats) of out-of-place
 * pruning: a Gemm [67, 520] (reduction along rows of 520), a MatMul
 * [520, 37] (down the columns, 37 lanes wide) and a Conv [5, 520, 3, 3]
 * (groups 9 apart), and a bias that is never pruned.
 */
static spz_model *zoo(uint64_t seed, int how)
{
	spz_model *m;
	spz_rng rng;
	spz_rng_seed(&rng, seed);
	ck_assert_int_eq(spz_model_new(&m, "zoo"), 0);
	ck_assert_int_eq(spz_model_add_input(m, "x"), 0);
	ck_assert_int_eq(spz_model_add_output(m, "y"), 0);
	tensor(m, "g.w", (int64_t[]){67, 520}, 2, &rng, how);
	tensor(m, "g.b", (int64_t[]){67}, 1, &rng, how);
	tensor(m, "m.w", (int64_t[]){520, 37}, 2, &rng, how);
	tensor(m, "c.w", (int64_t[]){5, 520, 3, 3}, 4, &rng, how);
	node(m, "Gemm", "g", "x", "g.w", "g.b", "h");
	node(m, "MatMul", "mm", "h", "m.w", NULL, "o");
	node(m, "Conv", "cv", "o", "c.w", NULL, "y");
	return m;
}

static int64_t count_stored(const float *v, int64_t n)
{
	int64_t c = 0;
	for (int64_t i = 0; i < n; i++) {
		uint32_t u;
		memcpy(&u, v + i, 4);
		c += u != 0;
	}
	return c;
}

/* A deferred tensor's source, in memory: it serves reads, records the
 * complete passes in order (first to last element) into *passes, and
 * fails the read that covers element fail_at (-1: none). No Check
 * assertion here: reads may come from pruning's reader thread. */
typedef struct msrc {
	float *v;
	int64_t n, next, fail_at;
	int *passes, *bad;
} msrc;

static int msrc_read(void *ctx, int64_t first, int64_t count, float *dst,
                     spz_error *err)
{
	msrc *s = ctx;
	if (first < 0 || count < 0 || first > s->n - count) {
		*s->bad = 1;
		return spz_fail(err, SPZ_EINVAL, "mock: out of range");
	}
	if (s->fail_at >= first && s->fail_at < first + count)
		return spz_fail(err, SPZ_EIO, "mock: cannot read");
	memcpy(dst, s->v + first, (size_t)count * sizeof *dst);
	if (first == 0)
		s->next = 0;
	if (first == s->next) {
		s->next += count;
		*s->passes += s->next == s->n;
	}
	return 0;
}

static void msrc_close(void *ctx)
{
	msrc *s = ctx;
	free(s->v);
	free(s);
}

/* Makes t deferred: its values move into a source (see msrc). */
static void defer(spz_tensor *t, int64_t fail_at, int *passes, int *bad)
{
	msrc *s = malloc(sizeof *s);
	spz_source *src = malloc(sizeof *src);
	ck_assert(s && src);
	int64_t n = spz_tensor_elements(t);
	*s = (msrc){malloc((size_t)n * sizeof(float) + 1), n, 0, fail_at,
	            passes, bad};
	ck_assert_ptr_nonnull(s->v);
	memcpy(s->v, t->data, (size_t)n * sizeof(float));
	*src = (spz_source){msrc_read, msrc_close, s, NULL, NULL};
	spz_tensor_drop_data(t);
	t->src = src;
}

static void same_bytes(const spz_model *a, const spz_model *b,
                       spz_file_kind kind)
{
	size_t la, lb;
	unsigned char *x = tu_model_bytes(a, kind, &la);
	unsigned char *y = tu_model_bytes(b, kind, &lb);
	ck_assert_uint_eq(la, lb);
	ck_assert_msg(!memcmp(x, y, la), "files differ");
	free(x);
	free(y);
}

/*
 * Prunes two copies of zoo(seed, how), in place and out of place, with
 * the same options (items: the weights, with per-layer sparsities s[]),
 * and checks: the same return, stats and records; the out-of-place
 * tensors sparse, their mask the stored (non +0.0) elements of the
 * in-place result, their values those elements; the same .spzm and JSON
 * bytes; densified, the same floats bit for bit.
 */
static void compare_mode(uint64_t seed, int how, spz_prune_options o,
                         const double *s, int mode);

/* A third way out of place: g.w and c.w deferred (read through a
 * source), m.w in memory. */
#define SOURCED 100

/* Every way out of place: the values in new memory, packed into the
 * tensor's own data, and read through sources. */
static void compare(uint64_t seed, int how, spz_prune_options o,
                    const double *s)
{
	compare_mode(seed, how, o, s, SPZ_SPARSE_READ);
	compare_mode(seed, how, o, s, SPZ_SPARSE_REUSE);
	compare_mode(seed, how, o, s, SOURCED);
}

static void compare_mode(uint64_t seed, int how, spz_prune_options o,
                         const double *s, int mode)
{
	static const char *const names[3] = {"g.w", "m.w", "c.w"};
	spz_model *a = zoo(seed, how), *b = zoo(seed, how);
	spz_prune_item ia[3], ib[3];
	for (int i = 0; i < 3; i++) {
		ia[i] = (spz_prune_item){spz_model_tensor(a, names[i]),
		                         s ? s[i] : 0.5, {0}};
		ib[i] = (spz_prune_item){spz_model_tensor(b, names[i]),
		                         s ? s[i] : 0.5, {0}};
	}
	spz_error ea = {0}, eb = {0};
	int passes = 0, bad = 0;
	if (mode == SOURCED) {
		defer(ib[0].tensor, -1, &passes, &bad);
		defer(ib[2].tensor, -1, &passes, &bad);
	}
	o.sparse_out = 0;
	int ra = spz_prune_model(a, ia, 3, &o, &ea);
	o.sparse_out = mode == SOURCED ? SPZ_SPARSE_REUSE : mode;
	int rb = spz_prune_model(b, ib, 3, &o, &eb);
	ck_assert_int_eq(bad, 0);
	/* Each source read whole in order (by the small-model fallback,
	 * which reads it into memory, or by the pass itself). */
	if (mode == SOURCED && !rb)
		ck_assert_int_ge(passes, 2);
	ck_assert_int_eq(ra, rb);
	ck_assert_str_eq(ea.text, eb.text);
	if (ra) {
		spz_model_free(a);
		spz_model_free(b);
		return;
	}
	for (int i = 0; i < 3; i++) {
		const spz_tensor *ta = ia[i].tensor, *tb = ib[i].tensor;
		int64_t n = spz_tensor_elements(ta);
		ck_assert(!memcmp(&ia[i].stats, &ib[i].stats,
		                  sizeof ia[i].stats));
		ck_assert(!memcmp(ta->prune, tb->prune, sizeof *ta->prune));
		ck_assert_ptr_null(tb->data);
		ck_assert_ptr_nonnull(tb->mask);
		ck_assert_int_eq(tb->nnz, count_stored(ta->data, n));
		/* One check at the end: Check writes out every assertion. */
		int64_t j = 0, bad = -1;
		for (int64_t e = 0; e < n && bad < 0; e++) {
			int set = (int)(tb->mask[e / 64] >> (e % 64) & 1);
			uint32_t u;
			memcpy(&u, ta->data + e, 4);
			if (set != (u != 0) ||
			    (set && memcmp(&tb->nz[j++], &ta->data[e], 4)))
				bad = e;
		}
		ck_assert_msg(bad < 0, "tensor %d differs at %lld", i,
		              (long long)bad);
		if (n % 64)
			ck_assert_uint_eq(tb->mask[n / 64] >> (n % 64), 0);
	}
	ck_assert_ptr_null(spz_model_tensor(b, "g.b")->mask);
	for (int i = 0; i < 3; i++)
		ck_assert_ptr_null(ib[i].tensor->src);
	same_bytes(a, b, SPZ_FILE_SPZM);
	/* JSON takes longer to write: the first cases of each mode. */
	if (seed % 10 == 0 && mode == SPZ_SPARSE_READ)
		same_bytes(a, b, SPZ_FILE_JSON);
	spz_error err;
	ck_assert_int_eq(spz_model_densify(b, &err), 0);
	for (int i = 0; i < 3; i++) {
		const spz_tensor *ta = ia[i].tensor, *tb = ib[i].tensor;
		ck_assert_ptr_null(tb->mask);
		ck_assert_ptr_null(tb->nz);
		ck_assert(!memcmp(ta->data, tb->data,
		                  (size_t)spz_tensor_elements(ta) * 4));
	}
	spz_model_free(a);
	spz_model_free(b);
}

static const int hows[] = {VAL_TIES, VAL_ZERO, VAL_NORMAL, VAL_SAME};

START_TEST(out_of_place_magnitude)
{
	static const double s[][3] = {{0, 0, 0},       {0.3, 0.5, 0.91},
	                              {0.999, 0.1, 0}, {0.5, 0.5, 0.5},
	                              {0.91, 0.91, 0.91}};
	for (size_t h = 0; h < 4; h++)
		for (size_t k = 0; k < sizeof s / sizeof s[0]; k++) {
			spz_prune_options o = SPZ_PRUNE_OPTIONS_INIT;
			compare(10 + k, hows[h], o, s[k]);
		}
}
END_TEST

START_TEST(out_of_place_global)
{
	static const double g[] = {0, 0.25, 0.5, 0.9, 0.999};
	for (size_t h = 0; h < 4; h++)
		for (size_t k = 0; k < sizeof g / sizeof g[0]; k++) {
			spz_prune_options o = SPZ_PRUNE_OPTIONS_INIT;
			o.global = 1;
			o.sparsity = g[k];
			compare(20 + k, hows[h], o, NULL);
		}
}
END_TEST

START_TEST(out_of_place_threshold)
{
	static const double t[] = {0, 0.25, 0.3, 0.75, 1e9};
	for (size_t h = 0; h < 4; h++)
		for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) {
			spz_prune_options o = SPZ_PRUNE_OPTIONS_INIT;
			o.mode = SPZ_PRUNE_THRESHOLD;
			o.threshold = t[k];
			compare(30 + k, hows[h], o, NULL);
		}
}
END_TEST

START_TEST(out_of_place_nm)
{
	/* Every lane shape (pairs, 4x4 tiles, strided) and the group of
	 * one; 520 is a multiple of 2, 4, 5 and 8 but not of 3 or 16. */
	static const int nm[][2] = {{1, 2}, {2, 4}, {1, 4}, {3, 4}, {2, 8},
	                            {4, 8}, {1, 16}, {8, 16}, {2, 3}, {3, 5},
	                            {6, 7}};
	for (size_t h = 0; h < 4; h++)
		for (size_t k = 0; k < sizeof nm / sizeof nm[0]; k++)
			for (int p = 0; p < 3; p++) {
				spz_prune_options o = SPZ_PRUNE_OPTIONS_INIT;
				o.mode = SPZ_PRUNE_NM;
				o.nm_n = nm[k][0];
				o.nm_m = nm[k][1];
				o.nm_partial = (spz_nm_partial)p;
				compare(40 + k, hows[h], o, NULL);
			}
}
END_TEST

/* Past 2^20 elements the selection samples and brackets first; read
 * through a source, one pass decides and builds (how 3: a source). */
START_TEST(out_of_place_large)
{
	int64_t dims[2] = {1100, 1000};
	for (int how = 0; how < 4; how++) {
		spz_model *a = NULL, *b = NULL;
		spz_rng rng;
		spz_rng_seed(&rng, 7);
		for (int c = 0; c < 2; c++) {
			spz_model **m = c ? &b : &a;
			spz_rng_seed(&rng, 7);
			ck_assert_int_eq(spz_model_new(m, "big"), 0);
			tensor(*m, "w", dims, 2, &rng,
			       how == 3 ? VAL_NORMAL : hows[how]);
		}
		spz_prune_item ia = {spz_model_tensor(a, "w"), 0.91, {0}};
		spz_prune_item ib = {spz_model_tensor(b, "w"), 0.91, {0}};
		spz_prune_options o = SPZ_PRUNE_OPTIONS_INIT;
		spz_error err;
		int passes = 0, bad = 0;
		if (how == 3)
			defer(ib.tensor, -1, &passes, &bad);
		ck_assert_int_eq(spz_prune_model(a, &ia, 1, &o, &err), 0);
		o.sparse_out = how == 1 ? SPZ_SPARSE_READ : SPZ_SPARSE_REUSE;
		ck_assert_int_eq(spz_prune_model(b, &ib, 1, &o, &err), 0);
		/* Normal values: the bracket holds, one pass in order. */
		if (how == 3)
			ck_assert_int_eq(passes, 1);
		ck_assert_int_eq(bad, 0);
		ck_assert(!memcmp(&ia.stats, &ib.stats, sizeof ia.stats));
		same_bytes(a, b, SPZ_FILE_SPZM);
		spz_model_free(a);
		spz_model_free(b);
	}
}
END_TEST

/* The data is only read: pruning out of place works on a read-only
 * buffer (a write would fault). The tensor is past glibc's largest mmap
 * threshold (32 MiB), so its data is a mapping of its own that free()
 * unmaps without writing to it; all of it but the page holding malloc's
 * header is made read-only. */
/* 2^22 elements or more are pruned out of place in two halves on two
 * threads (magnitude and N:M): the same stats and bytes as in place,
 * with values of every kind (ties everywhere and a bracket that misses,
 * zeros only, normal, one value; normal with one tie in 4096, the kept
 * ties' end falling anywhere; and normal with one group of 4 zeros in
 * 997, whose kept zeros are not stored, so that the first half of a 2:4
 * stores fewer than it can and the second half's values move down). */
START_TEST(out_of_place_halves)
{
	enum { R = 2100, C = 2000 };
	float *w = malloc((size_t)R * C * sizeof *w);
	ck_assert_ptr_nonnull(w);
	for (int how = 0; how < 6; how++)
		for (int mode = 0; mode < 2; mode++) {
			spz_rng rng;
			spz_rng_seed(&rng, 17 + (uint64_t)how);
			fill(w, (int64_t)R * C, &rng,
			     how >= 4 ? VAL_NORMAL : hows[how]);
			if (how == 4)
				for (int64_t i = 0; i < (int64_t)R * C; i += 4096)
					w[i] = 0.75f;
			if (how == 5)
				for (int64_t i = 0; i < (int64_t)R * C; i += 4 * 997)
					memset(w + i, 0, 4 * sizeof *w);
			spz_model *a = tu_gemm_model(R, C, w);
			spz_model *b = tu_gemm_model(R, C, w);
			spz_prune_item ia = {spz_model_tensor(a, "fc.weight"),
			                     0.91, {0}};
			spz_prune_item ib = {spz_model_tensor(b, "fc.weight"),
			                     0.91, {0}};
			spz_prune_options o = SPZ_PRUNE_OPTIONS_INIT;
			if (mode) {
				o.mode = SPZ_PRUNE_NM;
				o.nm_n = 2;
				o.nm_m = 4;
			}
			spz_error err = {0};
			ck_assert_int_eq(spz_prune_model(a, &ia, 1, &o, &err), 0);
			o.sparse_out = SPZ_SPARSE_READ;
			ck_assert_int_eq(spz_prune_model(b, &ib, 1, &o, &err), 0);
			ck_assert_ptr_nonnull(ib.tensor->mask);
			ck_assert(!memcmp(&ia.stats, &ib.stats, sizeof ia.stats));
			same_bytes(a, b, SPZ_FILE_SPZM);
			spz_model_free(a);
			spz_model_free(b);
		}
	free(w);
}
END_TEST

START_TEST(out_of_place_reads_only)
{
	const int64_t rows = 3000, cols = 3000, n = rows * cols;
	float *w = malloc((size_t)n * sizeof *w);
	spz_rng rng;
	spz_rng_seed(&rng, 5);
	fill(w, n, &rng, VAL_NORMAL);
	for (int mode = 0; mode < 3; mode++) {
		spz_model *a = tu_gemm_model(rows, cols, w);
		spz_model *b = tu_gemm_model(rows, cols, w);
		spz_tensor *t = spz_model_tensor(b, "fc.weight");
		uintptr_t from = ((uintptr_t)t->data + 4095) & ~(uintptr_t)4095;
		uintptr_t to = ((uintptr_t)(t->data + n)) & ~(uintptr_t)4095;
		ck_assert_int_eq(mprotect((void *)from, to - from, PROT_READ), 0);
		spz_prune_item ia = {spz_model_tensor(a, "fc.weight"), 0.8, {0}};
		spz_prune_item ib = {t, 0.8, {0}};
		spz_prune_options o = SPZ_PRUNE_OPTIONS_INIT;
		o.mode = mode == 0 ? SPZ_PRUNE_MAGNITUDE
		       : mode == 1 ? SPZ_PRUNE_THRESHOLD : SPZ_PRUNE_NM;
		o.threshold = 0.5;
		spz_error err;
		ck_assert_int_eq(spz_prune_model(a, &ia, 1, &o, &err), 0);
		o.sparse_out = SPZ_SPARSE_READ;
		ck_assert_int_eq(spz_prune_model(b, &ib, 1, &o, &err), 0);
		ck_assert_ptr_null(t->data); /* the mapping was freed */
		ck_assert(!memcmp(&ia.stats, &ib.stats, sizeof ia.stats));
		ck_assert_int_eq(spz_tensor_densify(t, &err), 0);
		ck_assert(!memcmp(ia.tensor->data, t->data,
		                  (size_t)n * sizeof *w));
		spz_model_free(a);
		spz_model_free(b);
	}
	free(w);
}
END_TEST

/*
 * A source pass over a big tensor in every mode and value kind against
 * in-place pruning, with layouts that defeat the sample: the sampled
 * blocks (128 blocks of 1024, evenly spaced) hold large values and the
 * rest small ones, so the bracket misses and the pass falls back to
 * reading into memory; the answer must not change.
 */
static void big_pair(spz_model **a, spz_model **b, int how, int trap)
{
	const int64_t rows = 1200, cols = 1024, n = rows * cols;
	spz_rng rng;
	for (int c = 0; c < 2; c++) {
		spz_model **m = c ? b : a;
		spz_rng_seed(&rng, 11);
		ck_assert_int_eq(spz_model_new(m, "big"), 0);
		ck_assert_int_eq(spz_model_add_input(*m, "x"), 0);
		ck_assert_int_eq(spz_model_add_output(*m, "y"), 0);
		tensor(*m, "w", (int64_t[]){rows, cols}, 2, &rng, how);
		node(*m, "Gemm", "g", "x", "w", NULL, "y");
		if (!trap)
			continue;
		float *v = spz_model_tensor(*m, "w")->data;
		int64_t stride = n / 128;
		for (int64_t i = 0; i < n; i++)
			v[i] = (float)(i % 7) * 0.01f;
		for (int64_t j = 0; j < 128; j++)
			for (int64_t i = 0; i < 1024; i++)
				v[j * stride + (stride - 1024) / 2 + i] = 50.0f;
	}
}

START_TEST(sourced_modes)
{
	for (int trap = 0; trap < 2; trap++)
		for (int how = 0; how < 4; how++)
			for (int mode = 0; mode < 4; mode++) {
				spz_model *a, *b;
				big_pair(&a, &b, hows[how], trap);
				spz_prune_item ia = {spz_model_tensor(a, "w"),
				                     0.7, {0}};
				spz_prune_item ib = {spz_model_tensor(b, "w"),
				                     0.7, {0}};
				spz_prune_options o = SPZ_PRUNE_OPTIONS_INIT;
				o.mode = mode == 3 ? SPZ_PRUNE_MAGNITUDE
				                   : (spz_prune_mode)(mode + 1);
				o.global = mode == 3;
				o.sparsity = 0.95;
				o.threshold = 0.5;
				o.nm_n = 2;
				o.nm_m = 4;
				int passes = 0, bad = 0;
				defer(ib.tensor, -1, &passes, &bad);
				spz_error err;
				ck_assert_int_eq(spz_prune_model(a, &ia, 1, &o,
				                                 &err), 0);
				o.sparse_out = SPZ_SPARSE_REUSE;
				ck_assert_msg(spz_prune_model(b, &ib, 1, &o,
				                              &err) == 0, "%s",
				              err.text);
				ck_assert_int_eq(bad, 0);
				ck_assert_int_ge(passes, 1);
				ck_assert(!memcmp(&ia.stats, &ib.stats,
				                  sizeof ia.stats));
				ck_assert_ptr_null(ib.tensor->src);
				same_bytes(a, b, SPZ_FILE_SPZM);
				spz_model_free(a);
				spz_model_free(b);
			}
}
END_TEST

/* A source that fails part way: the error comes back, nothing is left
 * half built (the sanitizer build checks for leaks), in each mode. */
START_TEST(sourced_read_error)
{
	for (int mode = 0; mode < 3; mode++)
		for (int at = 0; at < 3; at++) {
			spz_model *a, *b;
			big_pair(&a, &b, VAL_NORMAL, 0);
			spz_model_free(a);
			spz_tensor *t = spz_model_tensor(b, "w");
			int64_t n = spz_tensor_elements(t);
			int64_t fail = at == 0 ? 0 : at == 1 ? n / 2 : n - 1;
			int passes = 0, bad = 0;
			defer(t, fail, &passes, &bad);
			spz_prune_item it = {t, 0.8, {0}};
			spz_prune_options o = SPZ_PRUNE_OPTIONS_INIT;
			o.mode = (spz_prune_mode)(mode + 1);
			o.threshold = 0.5;
			o.nm_n = 2;
			o.nm_m = 4;
			o.sparse_out = SPZ_SPARSE_REUSE;
			spz_error err = {0};
			ck_assert_int_eq(spz_prune_model(b, &it, 1, &o, &err),
			                 SPZ_EIO);
			ck_assert_str_eq(err.text, "mock: cannot read");
			ck_assert_int_eq(bad, 0);
			spz_model_free(b);
		}
}
END_TEST

/* In place, a deferred tensor is refused (there is no data to prune);
 * spz_tensor_undefer reads it back whole. */
START_TEST(sourced_in_place_and_undefer)
{
	spz_model *a, *b;
	big_pair(&a, &b, VAL_NORMAL, 0);
	spz_tensor *t = spz_model_tensor(b, "w");
	int passes = 0, bad = 0;
	defer(t, -1, &passes, &bad);
	spz_prune_item it = {t, 0.5, {0}};
	spz_prune_options o = SPZ_PRUNE_OPTIONS_INIT;
	spz_error err = {0};
	ck_assert_int_eq(spz_prune_model(b, &it, 1, &o, &err), SPZ_EINVAL);
	ck_assert_str_eq(err.text, "tensor 'w': its values are still in the "
	                 "file; prune it out of place (sparse_out)");
	ck_assert_int_eq(spz_model_undefer(b, &err), 0);
	ck_assert_int_eq(passes, 1);
	ck_assert_ptr_null(t->src);
	ck_assert(!memcmp(t->data, spz_model_tensor(a, "w")->data,
	                  (size_t)spz_tensor_elements(t) * sizeof(float)));
	/* Undeferring what is not deferred changes nothing. */
	ck_assert_int_eq(spz_model_undefer(b, &err), 0);
	same_bytes(a, b, SPZ_FILE_SPZM);
	spz_model_free(a);
	spz_model_free(b);
}
END_TEST

/* A sparse-form tensor holding a NaN is refused by the .spzm writer by
 * the index of its element, as a dense one is. */
START_TEST(sparse_nan_refused)
{
	spz_model *m = zoo(3, VAL_NORMAL);
	spz_prune_item it = {spz_model_tensor(m, "g.w"), 0.9, {0}};
	spz_prune_options o = SPZ_PRUNE_OPTIONS_INIT;
	o.sparse_out = SPZ_SPARSE_READ;
	spz_error err = {0};
	ck_assert_int_eq(spz_prune_model(m, &it, 1, &o, &err), 0);
	spz_tensor *t = it.tensor;
	ck_assert_ptr_nonnull(t->mask);
	/* Stored value 5 is the element of the sixth set bit. */
	int64_t e = -1;
	for (int64_t i = 0, seen = 0; e < 0; i++)
		if (t->mask[i / 64] >> (i % 64) & 1 && seen++ == 5)
			e = i;
	t->nz[5] = NAN;
	size_t len;
	char *buf = NULL;
	FILE *f = open_memstream(&buf, &len);
	ck_assert_int_eq(spz_model_write(f, m, SPZ_FILE_SPZM, &err),
	                 SPZ_ERANGE);
	fclose(f);
	free(buf);
	char want[80];
	snprintf(want, sizeof want, "tensor 'g.w': NaN value at index %lld",
	         (long long)e);
	ck_assert_str_eq(err.text, want);
	spz_model_free(m);
}
END_TEST

/* A Gemm's 1024x1024 weight pruned 2:4 out of place (sparse form: 2.2
 * MB of bitmask payload). */
static spz_model *nm_sparse(void)
{
	spz_rng rng;
	spz_rng_seed(&rng, 3);
	float *w = malloc(1024 * 1024 * sizeof *w);
	ck_assert_ptr_nonnull(w);
	fill(w, 1024 * 1024, &rng, VAL_NORMAL);
	spz_model *m = tu_gemm_model(1024, 1024, w);
	free(w);
	spz_prune_item it = {spz_model_tensor(m, "fc.weight"), 0, {0}};
	spz_prune_options o = SPZ_PRUNE_OPTIONS_INIT;
	o.mode = SPZ_PRUNE_NM;
	o.nm_n = 2;
	o.nm_m = 4;
	o.sparse_out = SPZ_SPARSE_READ;
	spz_error err = {0};
	ck_assert_int_eq(spz_prune_model(m, &it, 1, &o, &err), 0);
	ck_assert_ptr_nonnull(it.tensor->mask);
	return m;
}

/* A sparse-form weight of 2 MB written into a file: the bytes of the
 * write to memory and of the same model densified; a NaN among its
 * values is refused by its element's index, leaving no file. (Checking,
 * CRCing and writing its values a piece at a time, as the writer
 * streams a big dense tensor, saved a pass over memory but cost as much
 * in write calls: fc6 2:4 whole processes, 72.7-86.0 ms without, 81.3-
 * 88.9 ms with, perf stat -r 10.) */
START_TEST(sparse_file_write)
{
	spz_model *m = nm_sparse();
	spz_error err = {0};
	char dir[256], a[300], b[300];
	tu_tmpdir(dir, sizeof dir);
	snprintf(a, sizeof a, "%s/sparse.spzm", dir);
	snprintf(b, sizeof b, "%s/dense.spzm", dir);
	ck_assert_msg(spz_model_save(m, a, SPZ_FILE_SPZM, &err) == 0, "%s",
	              err.text);
	size_t lm, la, lb;
	unsigned char *mem = tu_model_bytes(m, SPZ_FILE_SPZM, &lm);
	char *fa = tu_read_file(a, &la);
	ck_assert_uint_eq(la, lm);
	ck_assert(!memcmp(fa, mem, la));
	ck_assert_int_eq(spz_model_densify(m, &err), 0);
	ck_assert_msg(spz_model_save(m, b, SPZ_FILE_SPZM, &err) == 0, "%s",
	              err.text);
	char *fb = tu_read_file(b, &lb);
	ck_assert_uint_eq(la, lb);
	ck_assert(!memcmp(fa, fb, la));
	free(mem);
	free(fa);
	free(fb);
	spz_model_free(m);
	/* A NaN as stored value 100000. */
	m = nm_sparse();
	spz_tensor *t = spz_model_tensor(m, "fc.weight");
	int64_t e = -1;
	for (int64_t i = 0, seen = 0; e < 0; i++)
		if (t->mask[i / 64] >> (i % 64) & 1 && seen++ == 100000)
			e = i;
	t->nz[100000] = NAN;
	unlink(a);
	ck_assert_int_eq(spz_model_save(m, a, SPZ_FILE_SPZM, &err),
	                 SPZ_ERANGE);
	char want[80];
	snprintf(want, sizeof want, "tensor 'fc.weight': NaN value at index "
	         "%lld", (long long)e);
	ck_assert_msg(strstr(err.text, want), "%s", err.text);
	ck_assert_int_ne(access(a, F_OK), 0);
	spz_model_free(m);
}
END_TEST

START_TEST(densify_edges)
{
	spz_error err;
	/* Not sparse: left alone. */
	spz_model *m = zoo(1, VAL_TIES);
	spz_tensor *t = spz_model_tensor(m, "g.w");
	float *d = t->data;
	ck_assert_int_eq(spz_tensor_densify(t, &err), 0);
	ck_assert_ptr_eq(t->data, d);
	/* Empty and scalar tensors round-trip through the sparse form. */
	spz_tensor *e, *s;
	ck_assert_int_eq(spz_model_add_tensor(&e, m, "empty",
	                                      (int64_t[]){0, 3}, 2, NULL,
	                                      &err), 0);
	int64_t none[1] = {1}; /* no dims, but not NULL */
	ck_assert_int_eq(spz_model_add_tensor(&s, m, "scalar", none, 0,
	                                      (float[]){-0.0f}, &err), 0);
	spz_prune_item it[2] = {{spz_model_tensor(m, "empty"), 0.5, {0}},
	                        {spz_model_tensor(m, "scalar"), 0, {0}}};
	spz_prune_options o = SPZ_PRUNE_OPTIONS_INIT;
	o.sparse_out = SPZ_SPARSE_REUSE;
	ck_assert_int_eq(spz_prune_model(m, it, 2, &o, &err), 0);
	ck_assert_int_eq(it[0].tensor->nnz, 0);
	ck_assert_int_eq(it[1].tensor->nnz, 1); /* -0.0 is stored */
	ck_assert_int_eq(it[1].stats.nonzeros_before, 0);
	ck_assert_int_eq(spz_model_densify(m, &err), 0);
	ck_assert(signbit(it[1].tensor->data[0]));
	spz_model_free(m);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Reading with keep_sparse                                            */

static spz_model *read_path(const char *path, int keep, spz_error *err)
{
	spz_input in;
	spz_model *m = NULL;
	if (spz_input_open(&in, path, err))
		return NULL;
	in.keep_sparse = keep;
	int rc = spz_model_read(&m, &in, err);
	spz_input_close(&in);
	return rc ? NULL : m;
}

/* A pruned and 4-bit quantized zoo in a .spzm: its weights bitmasks. */
static void quantized_file(const char *path, double sparsity)
{
	spz_model *m = zoo(3, VAL_NORMAL);
	spz_prune_item it[3] = {{spz_model_tensor(m, "g.w"), sparsity, {0}},
	                        {spz_model_tensor(m, "m.w"), sparsity, {0}},
	                        {spz_model_tensor(m, "c.w"), sparsity, {0}}};
	spz_prune_options o = SPZ_PRUNE_OPTIONS_INIT;
	spz_error err;
	ck_assert_int_eq(spz_prune_model(m, it, 3, &o, &err), 0);
	spz_quant_options q = SPZ_QUANT_OPTIONS_INIT;
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(spz_quantize_tensor(NULL, it[i].tensor, &q,
		                                     &err), 0);
	ck_assert_int_eq(spz_model_save(m, path, SPZ_FILE_SPZM, &err), 0);
	spz_model_free(m);
}

START_TEST(keep_sparse_reads_the_same)
{
	char dir[256], path[300];
	tu_tmpdir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/q.spzm", dir);
	static const double s[] = {0.9, 0.5, 0.01};
	for (size_t k = 0; k < 3; k++) {
		quantized_file(path, s[k]);
		spz_error err;
		spz_model *d = read_path(path, 0, &err);
		spz_model *sp = read_path(path, 1, &err);
		ck_assert_ptr_nonnull(d);
		ck_assert_ptr_nonnull(sp);
		/* A bitmask payload is kept sparse, any other read dense. */
		ck_assert_int_eq(!!spz_model_tensor(sp, "g.w")->mask, k < 2);
		ck_assert_ptr_null(spz_model_tensor(d, "g.w")->mask);
		/* Written back: the file it came from. */
		size_t lf, ls;
		char *f = tu_read_file(path, &lf);
		unsigned char *w = tu_model_bytes(sp, SPZ_FILE_SPZM, &ls);
		ck_assert_uint_eq(lf, ls);
		ck_assert(!memcmp(f, w, lf));
		free(f);
		free(w);
		same_bytes(d, sp, SPZ_FILE_JSON);
		ck_assert_int_eq(spz_model_densify(sp, &err), 0);
		for (size_t i = 0; i < d->n_tensors; i++) {
			const spz_tensor *a = &d->tensors[i], *b = &sp->tensors[i];
			size_t n = (size_t)spz_tensor_elements(a);
			if (a->codebook)
				ck_assert(!memcmp(a->codes, b->codes, n));
			else
				ck_assert(!memcmp(a->data, b->data, n * 4));
		}
		spz_model_free(d);
		spz_model_free(sp);
	}
}
END_TEST

/* ------------------------------------------------------------------ */
/* EIE packing                                                         */

/* A two-layer chain: Gemm(transB=1) [70, 130] + Relu, then either a Gemm
 * [9, 70] or a MatMul [70, 9] with its Add; pruned, quantized at 4 bits,
 * the biases zero (bitmask payloads too). */
static void chain_file(const char *path, int matmul, double sparsity)
{
	spz_model *m;
	spz_rng rng;
	spz_rng_seed(&rng, 11);
	ck_assert_int_eq(spz_model_new(&m, "chain"), 0);
	ck_assert_int_eq(spz_model_add_input(m, "x"), 0);
	ck_assert_int_eq(spz_model_add_output(m, "y"), 0);
	tensor(m, "a.w", (int64_t[]){70, 130}, 2, &rng, VAL_NORMAL);
	tensor(m, "a.b", (int64_t[]){70}, 1, &rng, VAL_ZERO);
	if (matmul)
		tensor(m, "b.w", (int64_t[]){70, 9}, 2, &rng, VAL_NORMAL);
	else
		tensor(m, "b.w", (int64_t[]){9, 70}, 2, &rng, VAL_NORMAL);
	tensor(m, "b.b", (int64_t[]){9}, 1, &rng, VAL_TIES);
	node(m, "Gemm", "a", "x", "a.w", "a.b", "h");
	node(m, "Relu", "r", "h", NULL, NULL, "hr");
	if (matmul) {
		node(m, "MatMul", "b", "hr", "b.w", NULL, "z");
		node(m, "Add", "add", "z", "b.b", NULL, "y");
	} else {
		node(m, "Gemm", "b", "hr", "b.w", "b.b", "y");
	}
	spz_prune_item it[2] = {{spz_model_tensor(m, "a.w"), sparsity, {0}},
	                        {spz_model_tensor(m, "b.w"), sparsity, {0}}};
	spz_prune_options o = SPZ_PRUNE_OPTIONS_INIT;
	spz_error err;
	ck_assert_int_eq(spz_prune_model(m, it, 2, &o, &err), 0);
	spz_quant_options q = SPZ_QUANT_OPTIONS_INIT;
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(spz_quantize_tensor(NULL, it[i].tensor, &q,
		                                     &err), 0);
	ck_assert_msg(spz_model_save(m, path, SPZ_FILE_SPZM, &err) == 0, "%s",
	              err.text);
	spz_model_free(m);
}

/* The packed layers of a and b hold the same entries. */
static void same_layers(const spz_eie *a, const spz_eie *b)
{
	ck_assert_uint_eq(a->n_layers, b->n_layers);
	for (size_t i = 0; i < a->n_layers; i++) {
		const spz_eie_layer *x = &a->layers[i], *y = &b->layers[i];
		ck_assert_uint_eq(x->nonzeros, y->nonzeros);
		ck_assert_uint_eq(x->padding, y->padding);
		ck_assert_int_eq(!x->bias, !y->bias);
		ck_assert(!x->bias || !memcmp(x->bias, y->bias,
		                              (size_t)x->rows * 2));
		for (uint32_t k = 0; k < a->pes; k++) {
			const spz_eie_pe *p = &x->pe[k], *q = &y->pe[k];
			ck_assert_uint_eq(p->n_entries, q->n_entries);
			ck_assert(!memcmp(p->code, q->code, p->n_entries));
			ck_assert(!memcmp(p->index, q->index, p->n_entries));
			ck_assert(!memcmp(p->ptr, q->ptr,
			                  ((size_t)x->cols + 1) * 4));
		}
	}
}

static char *image_bytes(const spz_model *m, const spz_eie_options *o,
                         size_t *len)
{
	spz_eie *e;
	spz_error err = {0};
	ck_assert_msg(spz_eie_pack(&e, m, o, &err) == 0, "%s", err.text);
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	ck_assert_ptr_nonnull(f);
	ck_assert_msg(spz_eie_write(f, e, &err) == 0, "%s", err.text);
	ck_assert_int_eq(fclose(f), 0);
	spz_eie_free(e);
	return buf;
}

START_TEST(pack_from_sparse)
{
	char dir[256], path[300];
	tu_tmpdir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/c.spzm", dir);
	static const uint32_t pes[] = {1, 3, 64};
	static const double sp[] = {0.91, 0.5};
	for (int matmul = 0; matmul < 2; matmul++)
		for (size_t s = 0; s < 2; s++) {
			chain_file(path, matmul, sp[s]);
			spz_error err;
			spz_model *d = read_path(path, 0, &err);
			spz_model *k = read_path(path, 1, &err);
			ck_assert_ptr_nonnull(spz_model_tensor(k, "a.w")->mask);
			ck_assert_ptr_nonnull(spz_model_tensor(k, "a.b")->mask);
			for (size_t p = 0; p < 3; p++)
				for (int bits = 2; bits <= 8; bits += 3) {
					spz_eie_options o = SPZ_EIE_OPTIONS_INIT;
					o.pes = pes[p];
					o.index_bits = bits;
					/* fc_only: layers, not a chain (no
					 * Relu), so not an image to save. */
					spz_eie *x, *y;
					o.fc_only = 1;
					ck_assert_int_eq(spz_eie_pack(&x, d, &o,
					                              &err), 0);
					ck_assert_int_eq(spz_eie_pack(&y, k, &o,
					                              &err), 0);
					same_layers(x, y);
					spz_eie_free(x);
					spz_eie_free(y);
					o.fc_only = 0;
					{
						size_t la, lb;
						char *a = image_bytes(d, &o, &la);
						char *b = image_bytes(k, &o, &lb);
						ck_assert_uint_eq(la, lb);
						ck_assert_msg(!memcmp(a, b, la),
						              "image differs: matmul %d "
						              "pes %u bits %d", matmul,
						              o.pes, bits);
						free(a);
						free(b);
					}
				}
			spz_model_free(d);
			spz_model_free(k);
		}
}
END_TEST

Suite *sparse_suite(void)
{
	Suite *s = suite_create("sparse");
	TCase *c = tcase_create("core");
	tcase_set_timeout(c, 120);
	tcase_add_test(c, out_of_place_magnitude);
	tcase_add_test(c, out_of_place_global);
	tcase_add_test(c, out_of_place_threshold);
	tcase_add_test(c, out_of_place_nm);
	tcase_add_test(c, out_of_place_large);
	tcase_add_test(c, out_of_place_halves);
	tcase_add_test(c, out_of_place_reads_only);
	tcase_add_test(c, sourced_modes);
	tcase_add_test(c, sourced_read_error);
	tcase_add_test(c, sourced_in_place_and_undefer);
	tcase_add_test(c, sparse_nan_refused);
	tcase_add_test(c, sparse_file_write);
	tcase_add_test(c, densify_edges);
	tcase_add_test(c, keep_sparse_reads_the_same);
	tcase_add_test(c, pack_from_sparse);
	suite_add_tcase(s, c);
	return s;
}
