/*
 * quantize.c - weight sharing for one tensor: a codebook whose entry 0 is
 * exactly 0.0 (the code of pruned weights and of EIE's padding) and whose
 * other entries are the 1-D k-means centroids of the non-zero weights, plus
 * one code per weight. Zeros stay zeros and non-zeros stay non-zeros, so
 * pruning's sparsity pattern is exactly what the packer sees afterwards.
 */
#include "spz.h"
#include "progress.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int spz_tensor_dequantize(spz_tensor *t, spz_error *err)
{
	if (!t->codebook)
		return 0;
	int64_t n = spz_tensor_elements(t);
	float *d = malloc((size_t)(n ? n : 1) * sizeof *d);
	if (!d)
		return spz_fail(err, SPZ_ENOMEM, "out of memory for tensor '%s'",
		                t->name);
	for (int64_t i = 0; i < n; i++)
		d[i] = t->codebook[t->codes[i]];
	free(t->codebook);
	free(t->codes);
	t->codebook = NULL;
	t->codes = NULL;
	t->codebook_size = 0;
	t->bits = 0;
	spz_tensor_set_data(t, d);
	return 0;
}

/* Code of the non-zero x: 1 + the number of midpoints below x, so a value
 * at a midpoint takes the lower centroid, as spz_kmeans_1d assigns. The
 * search is branch-free (conditional moves): on random weights every
 * branch of a plain binary search would be a coin toss. */
static uint8_t encode(const double *mid, size_t n_mid, float x)
{
	if (!n_mid)
		return 1;
	const double *base = mid;
	double v = x;
	for (size_t n = n_mid; n > 1; n -= n / 2)
		base = base[n / 2] < v ? base + n / 2 : base;
	return (uint8_t)(1 + (size_t)(base - mid) + (*base < v));
}

/* A spz_progress_fn that reports into a part (ctx) of a larger work. */
static void part_progress(void *ctx, double done, double total)
{
	spz_prog_at(ctx, done / total);
}

int spz_quantize_tensor(spz_quant_stats *stats, spz_tensor *t,
                        const spz_quant_options *opts, spz_error *err)
{
	const spz_quant_options o = opts ? *opts
	                                 : (spz_quant_options)SPZ_QUANT_OPTIONS_INIT;
	if (o.bits < 1 || o.bits > 8)
		return spz_fail(err, SPZ_EINVAL, "bits must be 1..8, not %d",
		                o.bits);
	/* init and max_iter are checked by spz_kmeans_1d, before t changes. */
	if (t->codebook && !o.requantize)
		return spz_fail(err, SPZ_EUNSUPPORTED,
		                "tensor '%s' is already quantized (%d bits, %u "
		                "codebook entries); re-quantizing must be asked "
		                "for explicitly", t->name, t->bits,
		                t->codebook_size);
	int64_t n = spz_tensor_elements(t), nz = 0;
	/* A quantized input is decoded into a copy: t changes only on success. */
	float *w = t->data;
	if (t->codebook) {
		if (!(w = malloc((size_t)(n ? n : 1) * sizeof *w)))
			return spz_fail(err, SPZ_ENOMEM, "out of memory for tensor "
			                "'%s'", t->name);
		for (int64_t i = 0; i < n; i++)
			w[i] = t->codebook[t->codes[i]];
	}
	for (int64_t i = 0; i < n; i++) {
		if (!isfinite(w[i])) {
			if (w != t->data)
				free(w);
			return spz_fail(err, SPZ_ERANGE,
			                "tensor '%s': %s value at index %lld",
			                t->name, isnan(w[i]) ? "NaN" : "infinite",
			                (long long)i);
		}
		nz += w[i] != 0.0f;
	}
	size_t k = ((size_t)1 << o.bits) - 1;
	float *vals = malloc((size_t)(nz ? nz : 1) * sizeof *vals);
	float *cb = malloc((k + 1) * sizeof *cb);
	double *mid = malloc(k * sizeof *mid);
	uint8_t *codes = malloc((size_t)(n ? n : 1));
	int rc = SPZ_ENOMEM;
	if (!vals || !cb || !mid || !codes) {
		spz_fail(err, rc, "out of memory for tensor '%s'", t->name);
		goto fail;
	}
	for (int64_t i = 0, j = 0; i < n; i++)
		if (w[i] != 0.0f)
			vals[j++] = w[i];
	/* Progress: the scan above is about a tenth of the work, the
	 * encoding below another; k-means the rest. */
	spz_prog prog = spz_prog_root(o.progress, o.progress_ctx);
	spz_prog_at(&prog, 0.1);
	spz_prog p_km = spz_prog_part(&prog, 0.1, 0.9);
	spz_kmeans_options ko = SPZ_KMEANS_OPTIONS_INIT;
	ko.k = k;
	ko.init = o.init;
	ko.max_iter = o.max_iter;
	ko.optimal = o.optimal;
	ko.seed = o.seed;
	if (o.progress) {
		ko.progress = part_progress;
		ko.progress_ctx = &p_km;
	}
	spz_kmeans_stats ks;
	if ((rc = spz_kmeans_1d(cb + 1, &ks, vals, (size_t)nz, &ko, err))) {
		if (rc == SPZ_ENOMEM)
			spz_fail(err, rc, "out of memory for tensor '%s'",
			         t->name);
		goto fail;
	}
	free(vals);
	vals = NULL;
	cb[0] = 0.0f;
	size_t kk = ks.clusters;
	for (size_t j = 0; j + 1 < kk; j++)
		mid[j] = ((double)cb[1 + j] + (double)cb[2 + j]) * 0.5;
	double noise = 0, signal = 0, maxe = 0;
	spz_prog p_enc = spz_prog_part(&prog, 0.9, 1.0);
	for (int64_t i = 0; i < n; i++) {
		if (!(i & ((1 << 22) - 1)))
			spz_prog_at(&p_enc, (double)i / (double)n);
		float x = w[i];
		if (x == 0.0f) { /* exact: no error to add */
			codes[i] = 0;
			continue;
		}
		uint8_t c = encode(mid, kk - 1, x);
		codes[i] = c;
		double e = fabs((double)x - (double)cb[c]);
		noise += e * e;
		signal += (double)x * (double)x;
		if (e > maxe)
			maxe = e;
	}
	if (stats) {
		spz_quant_stats s = {0};
		s.bits = o.bits;
		s.codebook_size = (uint32_t)(1 + kk);
		s.elements = n;
		s.nonzeros = nz;
		s.iterations = ks.iterations;
		s.converged = ks.converged;
		s.exact = ks.exact;
		s.mse = n ? noise / (double)n : 0;
		s.sqnr_db = noise > 0 ? 10 * log10(signal / noise) : INFINITY;
		s.max_abs_error = maxe;
		*stats = s;
	}
	if (w != t->data)
		free(w);
	free(mid);
	/* Shrink the codebook to the entries in use by construction. */
	float *small = realloc(cb, (1 + kk) * sizeof *cb);
	spz_tensor_set_quantized(t, o.bits, small ? small : cb,
	                         (uint32_t)(1 + kk), codes);
	spz_prog_at(&prog, 1);
	return 0;
fail:
	if (w != t->data)
		free(w);
	free(vals);
	free(cb);
	free(mid);
	free(codes);
	return rc;
}
