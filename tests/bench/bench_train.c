/*
 * bench_train.c - one epoch of spz train's 784-300-100-10 MLP on the
 * 60,000 Fashion-MNIST training images (target, issue 13: under 4 s on a
 * 2-core machine), against its baseline: the same GEMMs (shapes, batch 64,
 * count) on the same number of steps with nothing else, so the ratio shows
 * what the trainer adds (shuffling, bias, Relu, loss, Adam) to BLAS's
 * work. Skipped when the data set is not installed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <zlib.h>

#include "bench.h"
#include "spz.h"
#include "spz_format.h"

static float *filled(size_t n)
{
	float *p = malloc(n * sizeof(float));
	if (!p) {
		fprintf(stderr, "bench: out of memory\n");
		exit(1);
	}
	for (size_t i = 0; i < n; i++)
		p[i] = (float)((i * 2654435761u) % 1000) * 1e-3f - 0.5f;
	return p;
}

/* Forward (3), weight gradients (3) and input gradients (2) of each step. */
static double gemm_epoch(size_t n, size_t bs)
{
	const size_t d[4] = {784, 300, 100, 10};
	float *x[4], *w[3], *dw[3], *g[4];
	for (int l = 0; l < 4; l++) {
		x[l] = filled(bs * d[l]);
		g[l] = filled(bs * d[l]);
	}
	for (int l = 0; l < 3; l++) {
		w[l] = filled(d[l] * d[l + 1]);
		dw[l] = filled(d[l] * d[l + 1]);
	}
	double t = bench_now();
	for (size_t s = 0; s < n; s += bs) {
		size_t c = n - s < bs ? n - s : bs;
		for (int l = 0; l < 3; l++)
			spz_sgemm(0, 1, c, d[l + 1], d[l], 1, x[l], d[l], w[l],
			          d[l], 0, x[l + 1], d[l + 1], NULL);
		for (int l = 2; l >= 0; l--) {
			spz_sgemm(1, 0, d[l + 1], d[l], c, 1, g[l + 1], d[l + 1],
			          x[l], d[l], 0, dw[l], d[l], NULL);
			if (l)
				spz_sgemm(0, 0, c, d[l], d[l + 1], 1, g[l + 1],
				          d[l + 1], w[l], d[l], 0, g[l], d[l],
				          NULL);
		}
	}
	t = bench_now() - t;
	for (int l = 0; l < 4; l++) {
		free(x[l]);
		free(g[l]);
	}
	for (int l = 0; l < 3; l++) {
		free(w[l]);
		free(dw[l]);
	}
	return t;
}

/* Seconds to inflate the file alone (zlib, 1 MB reads), the floor of a
 * load; 0 when it cannot be read. */
static double inflate_seconds(const char *path)
{
	gzFile g = gzopen(path, "rb");
	char *buf = malloc(1u << 20);
	double t = bench_now();
	int r = 1;
	while (g && buf && (r = gzread(g, buf, 1u << 20)) > 0)
		;
	t = bench_now() - t;
	if (g)
		gzclose(g);
	free(buf);
	return r == 0 ? t : 0;
}

void bench_train(void)
{
	const char *dir = getenv("SPZ_DATA");
	spz_data_options o = SPZ_DATA_OPTIONS_INIT;
	o.dir = dir ? dir : "/usr/share/datasets/fashion-mnist";
	o.split = "train";
	spz_dataset *d;
	spz_error err = {0};
	/* Loading counts in every spz train run: inflate 47 MB of pixels
	 * and convert them to floats (188 MB), against a memcpy of the
	 * floats. */
	clock_t l0 = clock();
	double ls = bench_now();
	int lrc = spz_dataset_load(&d, &o, &err);
	ls = bench_now() - ls;
	double lcpu = (double)(clock() - l0) / CLOCKS_PER_SEC;
	if (lrc) {
		printf("%-52s skipped: %s\n", "train: one epoch", err.text);
		return;
	}
	double fbytes = (double)d->n * (double)d->features * sizeof(float);
	char lw[96];
	snprintf(lw, sizeof lw, "train: load %zu training images (IDX .gz)",
	         d->n);
	bench_report(lw, ls, fbytes, bench_memcpy_seconds((size_t)fbytes));
	bench_report("train: the same load, CPU seconds", lcpu, 0, 0);
	/* Against inflating alone: what the reader adds to zlib (the
	 * conversion to floats and the page faults of 188 MB). */
	char gz[4200];
	snprintf(gz, sizeof gz, "%s/train-images-idx3-ubyte.gz", o.dir);
	double inf = inflate_seconds(gz);
	if (inf > 0) {
		bench_report("train: inflate the images alone (zlib)", inf, 0, 0);
		bench_report("train: the load against inflating alone", ls, 0,
		             inf);
	}
	int64_t dims[4] = {784, 300, 100, 10};
	spz_model *m;
	spz_train_options to = SPZ_TRAIN_OPTIONS_INIT;
	to.epochs = 1;
	spz_trainer *t;
	if (spz_gen_mlp(&m, dims, 4, 1, &err) ||
	    spz_trainer_new(&t, m, d->features, &to, &err)) {
		fprintf(stderr, "bench: %s\n", err.text);
		exit(1);
	}
	double base = gemm_epoch(d->n, to.batch);
	/* On a shared machine the wall clock counts the other processes
	 * too; the CPU time of this process is printed beside it. */
	clock_t c0 = clock();
	double s = bench_now();
	if (spz_trainer_fit(t, d, NULL, &err)) {
		fprintf(stderr, "bench: %s\n", err.text);
		exit(1);
	}
	s = bench_now() - s;
	double cpu = (double)(clock() - c0) / CLOCKS_PER_SEC;
	char what[96];
	snprintf(what, sizeof what, "train: GEMMs of one epoch (%zu samples)",
	         d->n);
	bench_report(what, base, 0, 0);
	bench_report("train: one epoch 784-300-100-10, Adam (target < 4 s)", s,
	             0, base);
	bench_report("train: the same epoch, CPU seconds of spz (all threads)",
	             cpu, 0, 0);
	spz_trainer_free(t);
	spz_model_free(m);
	spz_dataset_free(d);
}
