/*
 * bench_run.c - the EIE emulator against the functional fixed-point
 * reference on the same image in the same run: a 4096x9216 layer (AlexNet
 * fc6's shape) at 9% weight density, 35% activation density, 64 PEs,
 * FIFO 8. Reports simulated entries per second and the ratio of the two.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/tquant.h"
#include "bench.h"
#include "spz.h"

static void die(const spz_error *err)
{
	fprintf(stderr, "bench: %s\n", err->text);
	exit(1);
}

void bench_run(void)
{
	const int64_t rows = 4096, cols = 9216;
	spz_error err = {0};
	spz_model *m;
	if (spz_gen_layer(&m, rows, cols, 0.09, 1, &err))
		die(&err);
	if (tq_quantize_model(m)) {
		fprintf(stderr, "bench: out of memory\n");
		exit(1);
	}
	spz_eie_options po = SPZ_EIE_OPTIONS_INIT;
	spz_eie *e;
	if (spz_eie_pack(&e, m, &po, &err))
		die(&err);
	spz_model_free(m);

	/* 35% of the inputs non-zero, uniform in (0, 1]. */
	float *xf = calloc((size_t)cols, sizeof *xf);
	int16_t *x = malloc((size_t)cols * sizeof *x);
	int16_t *y1 = malloc((size_t)rows * sizeof *y1);
	int16_t *y2 = malloc((size_t)rows * sizeof *y2);
	spz_rng rng;
	spz_rng_seed(&rng, 7);
	for (int64_t j = 0; j < cols; j++)
		if (spz_rng_uniform(&rng) < 0.35)
			xf[j] = (float)(1 - spz_rng_uniform(&rng));
	int frac[2];
	if (spz_eie_calibrate(frac, e, xf, 1, &err))
		die(&err);
	for (int64_t j = 0; j < cols; j++)
		x[j] = spz_to_fixed(xf[j], frac[0]);

	double ref = 1e9, emu_t = 1e9;
	uint64_t entries = 0, cycles = 0;
	for (int r = 0; r < 3; r++) {
		double t = bench_now();
		if (spz_eie_fixed_forward(y1, e, frac, x, &err))
			die(&err);
		t = bench_now() - t;
		ref = t < ref ? t : ref;
		spz_emu_options eo = SPZ_EMU_OPTIONS_INIT;
		spz_emu *emu;
		if (spz_emu_new(&emu, e, &eo, &err))
			die(&err);
		t = bench_now();
		if (spz_emu_run(emu, y2, x, frac, &err))
			die(&err);
		t = bench_now() - t;
		emu_t = t < emu_t ? t : emu_t;
		entries = spz_emu_stats_get(emu)->layers[0].entries;
		cycles = spz_emu_stats_get(emu)->cycles;
		spz_emu_free(emu);
	}
	if (memcmp(y1, y2, (size_t)rows * sizeof *y1))
		fprintf(stderr, "bench: emulator and reference differ\n");
	printf("\n== spz run: EIE emulator, %lldx%lld, 9%% weights, 35%% "
	       "activations, 64 PEs, FIFO 8 ==\n", (long long)rows,
	       (long long)cols);
	bench_report("functional fixed-point reference (baseline)", ref, 0, 0);
	bench_report("cycle-level emulator (best of 3)", emu_t, 0, ref);
	printf("%-52s %9.1f M entries/s (%llu entries, %llu cycles)\n",
	       "emulated entries per second", (double)entries / emu_t / 1e6,
	       (unsigned long long)entries, (unsigned long long)cycles);
	free(xf);
	free(x);
	free(y1);
	free(y2);
	spz_eie_free(e);
}
