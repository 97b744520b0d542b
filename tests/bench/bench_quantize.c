/*
 * bench_quantize.c - k-means weight sharing at 4 bits on the non-zeros of
 * a 4096x9216 layer pruned to 9% density (AlexNet fc6 after Deep
 * Compression's pruning, about 3.4 M values). The baseline is sorting
 * those values in the same run: Lloyd sorts once and then costs O(k log n)
 * per iteration, so it should stay within 2x of the sort. Lloyd runs with
 * the default options, which converge (about 600 steps here), and once
 * more with a progress hook, whose cost should not show.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "spz.h"

static int cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return (x > y) - (x < y);
}

/* A progress hook that only counts, like one that draws rarely. */
static void count_calls(void *ctx, double done, double total)
{
	(void)done;
	(void)total;
	++*(size_t *)ctx;
}

static void die(const spz_error *err)
{
	fprintf(stderr, "bench: %s\n", err->text);
	exit(1);
}

void bench_quantize(void)
{
	const int64_t rows = 4096, cols = 9216;
	spz_model *m;
	spz_error err = {0};
	if (spz_gen_layer(&m, rows, cols, 0.09, 1, &err))
		die(&err);
	spz_tensor *t = spz_model_tensor(m, "fc.weight");
	int64_t n = rows * cols, nz = 0;
	float *v = malloc((size_t)n * sizeof *v), *s = NULL;
	for (int64_t i = 0; i < n; i++)
		if (t->data[i] != 0.0f)
			v[nz++] = t->data[i];
	s = malloc((size_t)nz * sizeof *s);
	printf("\n== k-means, 4 bits, %lld non-zeros of a %lldx%lld layer "
	       "(9%% density) ==\n", (long long)nz, (long long)rows,
	       (long long)cols);
	/* Sort and Lloyd interleaved, best of 5 each: the same cache and
	 * allocator state for both. */
	float c[15];
	spz_kmeans_stats st;
	spz_kmeans_options o = SPZ_KMEANS_OPTIONS_INIT, oh = o;
	size_t calls = 0;
	oh.progress = count_calls;
	oh.progress_ctx = &calls;
	double sort_best = 1e9, lloyd_best = 1e9, hook_best = 1e9, t0;
	for (int r = 0; r < 5; r++) {
		memcpy(s, v, (size_t)nz * sizeof *s);
		t0 = bench_now();
		if (spz_sort_floats(s, (size_t)nz, &err))
			die(&err);
		t0 = bench_now() - t0;
		sort_best = t0 < sort_best ? t0 : sort_best;
		/* With and without the hook, in turn first: the second run
		 * of a round was measured slower whichever it was. */
		for (int h = 0; h < 2; h++) {
			int hook = (h + r) % 2;
			t0 = bench_now();
			if (spz_kmeans_1d(c, &st, v, (size_t)nz, hook ? &oh : &o,
			                  &err))
				die(&err);
			t0 = bench_now() - t0;
			double *best = hook ? &hook_best : &lloyd_best;
			*best = t0 < *best ? t0 : *best;
		}
	}
	memcpy(s, v, (size_t)nz * sizeof *s);
	t0 = bench_now();
	qsort(s, (size_t)nz, sizeof *s, cmp_float);
	double q_best = bench_now() - t0;
	double bytes = (double)nz * sizeof(float);
	bench_report("sort non-zeros, radix (baseline)", sort_best, bytes, 0);
	bench_report("sort non-zeros, libc qsort", q_best, bytes, sort_best);

	char what[96];
	snprintf(what, sizeof what, "Lloyd linear, %d it%s, incl. its sort",
	         st.iterations, st.converged ? " converged" : "");
	bench_report(what, lloyd_best, bytes, sort_best);
	snprintf(what, sizeof what, "the same with a progress hook (%zu calls)",
	         calls / 5);
	bench_report(what, hook_best, bytes, lloyd_best);
	double lloyd_sse = st.sse;

	o.optimal = 1;
	t0 = bench_now();
	if (spz_kmeans_1d(c, &st, v, (size_t)nz, &o, &err))
		die(&err);
	t0 = bench_now() - t0;
	bench_report("optimal (DP), once", t0, bytes, sort_best);
	printf("%-52s %.6g vs %.6g (optimal %.3f%% lower)\n",
	       "squared error Lloyd vs optimal", lloyd_sse, st.sse,
	       100 * (lloyd_sse - st.sse) / lloyd_sse);

	spz_quant_options qo = SPZ_QUANT_OPTIONS_INIT;
	spz_quant_stats qs;
	t0 = bench_now();
	if (spz_quantize_tensor(&qs, t, &qo, &err))
		die(&err);
	t0 = bench_now() - t0;
	bench_report("spz_quantize_tensor (all 37.7 M weights, Lloyd)", t0,
	             (double)n * sizeof(float), sort_best);
	free(v);
	free(s);
	spz_model_free(m);
}
