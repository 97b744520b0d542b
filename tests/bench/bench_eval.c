/*
 * bench_eval.c - spz eval's float forward pass: a 784-300-100-10 MLP (Gemm
 * + Relu) on the 10,000 Fashion-MNIST test images ($SPZ_DATA, else 10,000
 * random samples), against three plain sgemm calls of the same shapes in
 * the same run: the ratio is what the graph walk, bias and Relu add. The
 * issue's budget is 0.3 s for the whole pass.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "spz.h"
#include "spz_format.h"

static void die(const spz_error *err)
{
	fprintf(stderr, "bench: %s\n", err->text);
	exit(1);
}

void bench_eval(void)
{
	spz_error err = {0};
	const int64_t dims[4] = {784, 300, 100, 10};
	spz_model *m;
	if (spz_gen_mlp(&m, dims, 4, 1, &err))
		die(&err);
	spz_dataset *d = NULL;
	const char *dir = getenv("SPZ_DATA");
	spz_data_options o = SPZ_DATA_OPTIONS_INIT;
	o.dir = dir;
	const char *what = "eval 784-300-100-10 MLP, 10000 Fashion-MNIST images";
	if (!dir || spz_dataset_load(&d, &o, &err)) {
		int64_t sd = 784;
		if (spz_dataset_new(&d, 10000, &sd, 1, 0, &err))
			die(&err);
		spz_rng r;
		spz_rng_seed(&r, 3);
		for (size_t i = 0; i < d->n * d->features; i++)
			d->x[i] = (float)spz_rng_uniform(&r);
		what = "eval 784-300-100-10 MLP, 10000 random samples";
	}
	size_t n = d->n;
	spz_forward *f;
	if (spz_forward_new(&f, m, d->dims, d->ndims, &err))
		die(&err);
	float *y = malloc(n * 10 * sizeof *y);
	float *h1 = malloc(n * 300 * sizeof *h1), *h2 = malloc(n * 100 * sizeof *h2);
	const float *w[3];
	for (int l = 0; l < 3; l++) {
		char name[32];
		snprintf(name, sizeof name, "fc%d.weight", l + 1);
		w[l] = spz_model_tensor(m, name)->data;
	}
	double best = 1e9, gemm = 1e9;
	for (int r = 0; r < 3; r++) {
		double t = bench_now();
		if (spz_forward_run(f, y, d->x, n, &err))
			die(&err);
		t = bench_now() - t;
		best = t < best ? t : best;
		t = bench_now();
		spz_sgemm(0, 1, n, 300, 784, 1, d->x, 784, w[0], 784, 0, h1, 300,
		          NULL);
		spz_sgemm(0, 1, n, 100, 300, 1, h1, 300, w[1], 300, 0, h2, 100,
		          NULL);
		spz_sgemm(0, 1, n, 10, 100, 1, h2, 100, w[2], 100, 0, y, 10, NULL);
		t = bench_now() - t;
		gemm = t < gemm ? t : gemm;
	}
	bench_report(what, best, (double)n * 784 * 4, gemm);
	bench_report("  plain sgemm of the same shapes (baseline)", gemm,
	             (double)n * 784 * 4, 0);
	free(y);
	free(h1);
	free(h2);
	spz_forward_free(f);
	spz_dataset_free(d);
	spz_model_free(m);
}
