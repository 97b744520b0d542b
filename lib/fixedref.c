/*
 * fixedref.c - the references spz run is checked against: the functional
 * 16-bit fixed-point model (the emulator's arithmetic with no notion of
 * time), the dense float32 model recovered from an image, and the
 * calibration of activation Q formats from the float model.
 *
 * Both fixed-point implementations (here and emu.c) accumulate each row in
 * increasing column order and finish rows with spz_eie_finish_row, which
 * is what makes them agree bit for bit even when the accumulator
 * saturates. The reference walks PE by PE (sequential reads of each PE's
 * slice); the emulator walks cycle by cycle.
 */
#include "spz.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fixed_acc.h"

/* v * 2^sh rounded half away from zero, saturated to [lo, hi]; counts a
 * saturation in *sat. |v| < 2^62 (it is a 48-bit accumulator or less). */
static int64_t shift_sat(int64_t v, int sh, int64_t lo, int64_t hi,
                         uint64_t *sat)
{
	int64_t r;
	if (v == 0)
		return 0;
	if (sh >= 0) {
		if (sh >= 62 || v > (hi >> sh) || v < -((-lo) >> sh)) {
			(*sat)++;
			return v > 0 ? hi : lo;
		}
		return v * ((int64_t)1 << sh);
	}
	int n = -sh;
	if (n >= 63) {
		r = 0;
	} else {
		uint64_t m = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
		m = (m + ((uint64_t)1 << (n - 1))) >> n;
		r = v < 0 ? -(int64_t)m : (int64_t)m;
	}
	if (r > hi || r < lo) {
		(*sat)++;
		return r > hi ? hi : lo;
	}
	return r;
}

int16_t spz_eie_finish_row(int64_t acc, const spz_eie_layer *l, int64_t row,
                           int fin, int fout, uint64_t *saturated)
{
	int s = l->codebook_frac + fin;
	uint64_t sat = 0;
	if (l->bias) {
		int64_t b = shift_sat(l->bias[row], s - l->bias_frac,
		                      SPZ_ACC_MIN, SPZ_ACC_MAX, &sat);
		int64_t sum = acc + b;
		if (sum > SPZ_ACC_MAX || sum < SPZ_ACC_MIN)
			sat++;
		acc = spz_acc_add(acc, b);
	}
	int64_t v = shift_sat(acc, fout - s, INT16_MIN, INT16_MAX, &sat);
	if (l->act == SPZ_ACT_RELU && v < 0)
		v = 0;
	if (saturated)
		*saturated += sat;
	return (int16_t)v;
}

static int frac_ok(int f)
{
	return f >= SPZ_FRAC_MIN && f <= SPZ_FRAC_MAX;
}

int spz_eie_fixed_layer(int16_t *y, const spz_eie *e, size_t layer,
                        const int16_t *x, int fin, int fout, spz_error *err)
{
	if (layer >= e->n_layers)
		return spz_fail(err, SPZ_EINVAL, "layer %zu does not exist (the "
		                "image has %zu)", layer, e->n_layers);
	if (!frac_ok(fin) || !frac_ok(fout))
		return spz_fail(err, SPZ_EINVAL, "activation fraction bits %d, "
		                "%d are outside %d..%d", fin, fout, SPZ_FRAC_MIN,
		                SPZ_FRAC_MAX);
	const spz_eie_layer *l = &e->layers[layer];
	int64_t *acc = calloc((size_t)l->rows + 1, sizeof *acc);
	int64_t *nz = malloc(((size_t)l->cols + 1) * sizeof *nz);
	if (!acc || !nz) {
		free(acc);
		free(nz);
		return spz_fail(err, SPZ_ENOMEM, "out of memory running '%s'",
		                l->node);
	}
	size_t n_nz = 0;
	for (int64_t j = 0; j < l->cols; j++)
		if (x[j])
			nz[n_nz++] = j;
	int64_t pes = e->pes;
	for (uint32_t k = 0; k < e->pes; k++) {
		const spz_eie_pe *pe = &l->pe[k];
		for (size_t t = 0; t < n_nz; t++) {
			int64_t j = nz[t];
			int32_t a = x[j];
			int64_t i = (int64_t)k - pes;
			for (uint32_t p = pe->ptr[j]; p < pe->ptr[j + 1]; p++) {
				i += (1 + (int64_t)pe->index[p]) * pes;
				if (pe->code[p])
					acc[i] = spz_acc_add(
						acc[i],
						(int32_t)l->codebook[pe->code[p]] * a);
			}
		}
	}
	for (int64_t i = 0; i < l->rows; i++)
		y[i] = spz_eie_finish_row(acc[i], l, i, fin, fout, NULL);
	free(acc);
	free(nz);
	return 0;
}

/* Two buffers of elem-byte values as wide as the widest layer, for
 * passing activations from layer to layer; *a holds a copy of x. */
static int two_buffers(void **a, void **b, const spz_eie *e, size_t elem,
                       const void *x, spz_error *err)
{
	size_t w = 1;
	for (size_t i = 0; i < e->n_layers; i++) {
		if ((size_t)e->layers[i].rows > w)
			w = (size_t)e->layers[i].rows;
		if ((size_t)e->layers[i].cols > w)
			w = (size_t)e->layers[i].cols;
	}
	*a = malloc(w * elem);
	*b = malloc(w * elem);
	if (!*a || !*b) {
		free(*a);
		free(*b);
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	}
	memcpy(*a, x, (size_t)e->layers[0].cols * elem);
	return 0;
}

int spz_eie_fixed_forward(int16_t *y, const spz_eie *e, const int *frac,
                          const int16_t *x, spz_error *err)
{
	void *va, *vb;
	int rc = two_buffers(&va, &vb, e, sizeof(int16_t), x, err);
	if (rc)
		return rc;
	int16_t *a = va, *b = vb;
	for (size_t l = 0; !rc && l < e->n_layers; l++) {
		rc = spz_eie_fixed_layer(b, e, l, a, frac[l], frac[l + 1], err);
		int16_t *t = a;
		a = b;
		b = t;
	}
	if (!rc)
		memcpy(y, a, (size_t)e->layers[e->n_layers - 1].rows * sizeof *y);
	free(a);
	free(b);
	return rc;
}

static void widen(float *lo, float *hi, const float *v, int64_t n)
{
	for (int64_t i = 0; i < n; i++) {
		if (v[i] < *lo)
			*lo = v[i];
		if (v[i] > *hi)
			*hi = v[i];
	}
}

int spz_eie_float_forward(float *y, const spz_eie *e, const float *x,
                          float *lo, float *hi, spz_error *err)
{
	void *va, *vb;
	int rc = two_buffers(&va, &vb, e, sizeof(float), x, err);
	if (rc)
		return rc;
	float *a = va, *b = vb;
	int64_t pes = e->pes;
	for (size_t n = 0; n < e->n_layers; n++) {
		const spz_eie_layer *l = &e->layers[n];
		float cb[256];
		for (uint32_t c = 0; c < l->codebook_size; c++)
			cb[c] = (float)spz_from_fixed(l->codebook[c],
			                              l->codebook_frac);
		if (lo)
			widen(&lo[n], &hi[n], a, l->cols);
		memset(b, 0, (size_t)l->rows * sizeof *b);
		for (uint32_t k = 0; k < e->pes; k++) {
			const spz_eie_pe *pe = &l->pe[k];
			for (int64_t j = 0; j < l->cols; j++) {
				float v = a[j];
				if (v == 0)
					continue;
				int64_t i = (int64_t)k - pes;
				for (uint32_t p = pe->ptr[j]; p < pe->ptr[j + 1];
				     p++) {
					i += (1 + (int64_t)pe->index[p]) * pes;
					if (pe->code[p])
						b[i] += cb[pe->code[p]] * v;
				}
			}
		}
		for (int64_t i = 0; i < l->rows; i++) {
			if (l->bias)
				b[i] += (float)spz_from_fixed(l->bias[i],
				                              l->bias_frac);
			if (l->act == SPZ_ACT_RELU && b[i] < 0)
				b[i] = 0;
		}
		float *t = a;
		a = b;
		b = t;
	}
	int64_t rows = e->layers[e->n_layers - 1].rows;
	if (lo)
		widen(&lo[e->n_layers], &hi[e->n_layers], a, rows);
	memcpy(y, a, (size_t)rows * sizeof *y);
	free(a);
	free(b);
	return 0;
}

int spz_eie_calibrate(int *frac, const spz_eie *e, const float *x,
                      size_t batch, spz_error *err)
{
	size_t n = e->n_layers + 1, cols = (size_t)e->layers[0].cols;
	for (size_t s = 0; s < batch; s++)
		for (size_t i = 0; i < cols; i++)
			if (!isfinite(x[s * cols + i]))
				return spz_fail(err, SPZ_ERANGE, "input vector %zu: "
				                "%s value at index %zu", s,
				                isnan(x[s * cols + i]) ? "NaN"
				                                       : "infinite",
				                i);
	float *lo = calloc(2 * n, sizeof *lo);
	float *y = malloc((size_t)e->layers[e->n_layers - 1].rows * sizeof *y);
	if (!lo || !y) {
		free(lo);
		free(y);
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	}
	float *hi = lo + n;
	int rc = 0;
	for (size_t s = 0; !rc && s < batch; s++)
		rc = spz_eie_float_forward(y, e, x + s * cols, lo, hi, err);
	for (size_t l = 0; !rc && l < n; l++) {
		float r[2] = {lo[l], hi[l]};
		frac[l] = spz_fixed_frac(r, 2);
	}
	free(lo);
	free(y);
	return rc;
}

void spz_output_error(double *max_abs, double *max_rel, const float *want,
                      const float *got, size_t n)
{
	double ea = 0, top = 0;
	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)got[i] - (double)want[i]);
		if (d > ea)
			ea = d;
		if (fabs((double)want[i]) > top)
			top = fabs((double)want[i]);
	}
	*max_abs = ea;
	*max_rel = top > 0 ? ea / top : ea;
}
