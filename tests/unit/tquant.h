/*
 * tquant.h - a trivial stand-in for spz quantize, shared by the unit tests
 * and the benchmarks that need quantized models: every non-zero weight of
 * a tensor maps to the nearest of 15 non-zero levels m·q/8, q in
 * -7..-1, 1..8 (m = largest |w|), zero stays code 0. Header-only so that
 * the benchmarks can use it without linking Check.
 */
#ifndef SPZ_TQUANT_H
#define SPZ_TQUANT_H

#include <math.h>
#include <stdlib.h>

#include "spz.h"

static inline int tq_quantize(spz_tensor *t)
{
	int64_t n = spz_tensor_elements(t);
	float m = 0;
	for (int64_t i = 0; i < n; i++)
		if (fabsf(t->data[i]) > m)
			m = fabsf(t->data[i]);
	if (m == 0)
		m = 1;
	float *cb = malloc(16 * sizeof *cb);
	uint8_t *codes = malloc((size_t)n + 1);
	if (!cb || !codes) {
		free(cb);
		free(codes);
		return -1;
	}
	cb[0] = 0;
	for (int c = 1; c < 16; c++)
		cb[c] = m * (float)(c < 8 ? c - 8 : c - 7) / 8;
	for (int64_t i = 0; i < n; i++) {
		float w = t->data[i];
		if (w == 0) {
			codes[i] = 0;
			continue;
		}
		long q = lroundf(w / m * 8);
		q = q < -7 ? -7 : q > 8 ? 8 : q;
		if (q == 0)
			q = w < 0 ? -1 : 1;
		codes[i] = (uint8_t)(q < 0 ? q + 8 : q + 7);
	}
	spz_tensor_set_quantized(t, 4, cb, 16, codes);
	return 0;
}

/* Quantizes every weight (input 1 of a Gemm/MatMul) of m. */
static inline int tq_quantize_model(spz_model *m)
{
	for (size_t i = 0; i < m->n_tensors; i++)
		if (spz_model_is_weight(m, &m->tensors[i], NULL) &&
		    tq_quantize(&m->tensors[i]))
			return -1;
	return 0;
}

#endif
