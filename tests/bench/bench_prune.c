/*
 * bench_prune.c - pruning a 4096x9216 float32 layer (AlexNet's fc6):
 * magnitude at S = 0.91 and 2:4, each against a memcpy of the tensor in
 * the same run (targets: <= 6x and <= 3x), and global magnitude pruning
 * over ten such tensors (target: <= 2 s).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "spz.h"

static void die(const spz_error *err)
{
	fprintf(stderr, "bench: %s\n", err->text);
	exit(1);
}

static float *alloc_floats(size_t n)
{
	float *p = malloc(n * sizeof *p);
	if (!p) {
		fprintf(stderr, "bench: out of memory\n");
		exit(1);
	}
	return p;
}

void bench_prune(void)
{
	const int64_t rows = 4096, cols = 9216, n = rows * cols;
	const int64_t dims[2] = {rows, cols};
	spz_model *m;
	spz_error err = {0};
	if (spz_gen_layer(&m, rows, cols, 1.0, 1, &err))
		die(&err);
	const float *orig = spz_model_tensor(m, "fc.weight")->data;
	size_t bytes = (size_t)n * sizeof(float);
	float *w = alloc_floats((size_t)n);
	double base = bench_memcpy_seconds(bytes);
	printf("\n== prune, %lldx%lld float32 (%.0f MB) ==\n", (long long)rows,
	       (long long)cols, bytes / 1e6);
	bench_report("memcpy (baseline)", base, (double)bytes, 0);

	double best = 1e9;
	spz_prune_stats st;
	for (int r = 0; r < 3; r++) {
		memcpy(w, orig, bytes);
		double t = bench_now();
		if (spz_prune_magnitude(&st, &w, &n, 1,
		                        (int64_t)(0.91 * (double)n + 0.5), &err))
			die(&err);
		t = bench_now() - t;
		best = t < best ? t : best;
	}
	bench_report("magnitude S=0.91 (best of 3; target <= 6x)", best,
	             (double)bytes, base);

	best = 1e9;
	for (int r = 0; r < 3; r++) {
		memcpy(w, orig, bytes);
		double t = bench_now();
		if (spz_prune_nm(&st, w, dims, 2, 1, 2, 4, SPZ_NM_PARTIAL_REFUSE,
		                 &err))
			die(&err);
		t = bench_now() - t;
		best = t < best ? t : best;
	}
	bench_report("2:4 along the input dim (best of 3; target <= 3x)", best,
	             (double)bytes, base);
	free(w);

	/* Ten layers at different scales, as the layers of a network are. */
	enum { LAYERS = 10 };
	float *lw[LAYERS];
	int64_t ln[LAYERS];
	spz_prune_stats lst[LAYERS];
	for (int i = 0; i < LAYERS; i++) {
		float s = 1.0f + 0.37f * (float)i;
		lw[i] = alloc_floats((size_t)n);
		ln[i] = n;
		for (int64_t j = 0; j < n; j++)
			lw[i][j] = orig[j] * s;
	}
	double t = bench_now();
	if (spz_prune_magnitude(lst, lw, ln, LAYERS,
	                        (int64_t)(0.91 * (double)n * LAYERS + 0.5),
	                        &err))
		die(&err);
	t = bench_now() - t;
	bench_report("global S=0.91 over 10 such layers (target <= 2 s)", t,
	             (double)bytes * LAYERS, 0);
	for (int i = 0; i < LAYERS; i++)
		free(lw[i]);
	spz_model_free(m);
}
