/*
 * bench_pack.c - EIE pack and unpack of the AlexNet fc6-sized layer
 * (4096x9216, 9% non-zeros, 4-bit codes) on 64 PEs, against a memcpy of
 * the dense float32 tensor in the same run; packing from the sparse form
 * of the tensor (mask and non-zero codes) too.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "spz.h"

static void die(const spz_error *err)
{
	fprintf(stderr, "bench: %s\n", err->text);
	exit(1);
}

/* Quantizes t in place to 4 bits: 15 levels evenly spaced over the
 * non-zero range, code 0 for zeros (enough for timing). */
static void quantize4(spz_tensor *t)
{
	int64_t n = spz_tensor_elements(t);
	float lo = 0, hi = 0;
	for (int64_t i = 0; i < n; i++) {
		lo = t->data[i] < lo ? t->data[i] : lo;
		hi = t->data[i] > hi ? t->data[i] : hi;
	}
	float *cb = malloc(16 * sizeof *cb);
	uint8_t *codes = malloc((size_t)n);
	if (!cb || !codes)
		exit(1);
	cb[0] = 0;
	for (int c = 1; c < 16; c++)
		cb[c] = lo + (hi - lo) * (float)(c - 1) / 14;
	for (int64_t i = 0; i < n; i++) {
		float v = t->data[i];
		int c = (int)((v - lo) / (hi - lo) * 14 + 0.5f) + 1;
		codes[i] = v == 0 ? 0 : (uint8_t)(c < 1 ? 1 : c > 15 ? 15 : c);
	}
	spz_tensor_set_quantized(t, 4, cb, 16, codes);
}

void bench_eie_pack(void)
{
	const int64_t rows = 4096, cols = 9216;
	spz_model *m;
	spz_error err = {0};
	if (spz_gen_layer(&m, rows, cols, 0.09, 1, &err))
		die(&err);
	quantize4(spz_model_tensor(m, "fc.weight"));
	size_t bytes = (size_t)(rows * cols) * sizeof(float);
	double base = bench_memcpy_seconds(bytes);
	printf("\n== EIE pack / unpack, %lldx%lld at 9%%, 4-bit codes, 64 PEs "
	       "==\n", (long long)rows, (long long)cols);
	bench_report("memcpy of the dense float32 (baseline)", base,
	             (double)bytes, 0);
	spz_eie_options o = SPZ_EIE_OPTIONS_INIT;
	double pbest = 1e9, ubest = 1e9;
	for (int r = 0; r < 3; r++) {
		spz_eie *e;
		double t = bench_now();
		if (spz_eie_pack(&e, m, &o, &err))
			die(&err);
		t = bench_now() - t;
		pbest = t < pbest ? t : pbest;
		spz_model *u;
		t = bench_now();
		if (spz_eie_unpack(&u, e, &err))
			die(&err);
		t = bench_now() - t;
		ubest = t < ubest ? t : ubest;
		spz_model_free(u);
		spz_eie_free(e);
	}
	bench_report("pack (best of 3)", pbest, (double)bytes, base);
	bench_report("unpack (best of 3)", ubest, (double)bytes, base);

	/* The same layer in the sparse form (what spz pack reads from a
	 * bitmask .spzm): mask and non-zero codes, no dense array. */
	spz_tensor *t = spz_model_tensor(m, "fc.weight");
	int64_t n = rows * cols, nnz = 0;
	uint64_t *mask = calloc((size_t)(n + 63) / 64, sizeof *mask);
	uint8_t *nzc = malloc((size_t)n);
	if (!mask || !nzc)
		exit(1);
	for (int64_t i = 0; i < n; i++)
		if (t->codes[i]) {
			mask[i / 64] |= UINT64_C(1) << (i % 64);
			nzc[nnz++] = t->codes[i];
		}
	spz_tensor_set_sparse(t, mask, nnz, NULL, nzc);
	double sbest = 1e9;
	for (int r = 0; r < 3; r++) {
		spz_eie *e;
		double t0 = bench_now();
		if (spz_eie_pack(&e, m, &o, &err))
			die(&err);
		t0 = bench_now() - t0;
		sbest = t0 < sbest ? t0 : sbest;
		spz_eie_free(e);
	}
	bench_report("pack from the sparse form (best of 3)", sbest,
	             (double)bytes, base);
	spz_model_free(m);
}
