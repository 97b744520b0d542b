/*
 * arch.c - cost models of the other designs `spz report` compares with
 * EIE: Cnvlutin against its DaDianNao baseline (cycles from the zero
 * pattern of a conv layer's input) and one A100 GEMM per layer, dense
 * against 2:4 sparse tensor cores (a roofline). Pure functions of the
 * layer's shape, its input zeros and a table of constants; spz.h states
 * every assumption.
 */
#include "spz.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define SIDE_MAX INT64_C(2147483647)

int spz_conv_shape_check(int64_t *h_out, int64_t *w_out,
                         const spz_conv_shape *s, spz_error *err)
{
	static const char *names[] = {"c_in", "h", "w", "c_out", "kh", "kw",
	                              "stride"};
	const int64_t v[] = {s->c_in, s->h, s->w, s->c_out, s->kh, s->kw,
	                     s->stride};
	for (int i = 0; i < 7; i++)
		if (v[i] < 1 || v[i] > SIDE_MAX)
			return spz_fail(err, SPZ_EINVAL, "layer shape: %s must be "
			                "in 1..2147483647, not %lld", names[i],
			                (long long)v[i]);
	if (s->pad < 0 || s->pad > SIDE_MAX)
		return spz_fail(err, SPZ_EINVAL, "layer shape: pad must be in "
		                "0..2147483647, not %lld", (long long)s->pad);
	if (s->kh > s->h + 2 * s->pad || s->kw > s->w + 2 * s->pad)
		return spz_fail(err, SPZ_EINVAL, "layer shape: a %lldx%lld "
		                "kernel does not fit a %lldx%lld input padded "
		                "by %lld", (long long)s->kh, (long long)s->kw,
		                (long long)s->h, (long long)s->w,
		                (long long)s->pad);
	if (h_out)
		*h_out = (s->h + 2 * s->pad - s->kh) / s->stride + 1;
	if (w_out)
		*w_out = (s->w + 2 * s->pad - s->kw) / s->stride + 1;
	return 0;
}

/* a * b into *r; 1 on overflow. */
static int mul_over(uint64_t *r, uint64_t a, uint64_t b)
{
	if (a && b > UINT64_MAX / a)
		return 1;
	*r = a * b;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Cnvlutin                                                             */

int spz_cnvlutin_layer(spz_cnv_result *out, const spz_conv_shape *s,
                       const uint8_t *mask, const spz_cnv_options *o,
                       spz_error *err)
{
	int64_t ho, wo;
	int rc = spz_conv_shape_check(&ho, &wo, s, err);
	if (rc)
		return rc;
	if (o->units < 1 || o->units > 4096 || o->lanes < 1 ||
	    o->lanes > 4096 || o->filters < 1 || o->filters > 4096)
		return spz_fail(err, SPZ_EINVAL, "cnvlutin: units, lanes and "
		                "filters must be in 1..4096");
	uint64_t lanes = (uint64_t)o->lanes;
	uint64_t per_pos = ((uint64_t)s->c_in + lanes - 1) / lanes;
	uint64_t positions, neurons, windows, bricks, base_window, cyc;
	uint64_t per_pass = (uint64_t)o->units * (uint64_t)o->filters;
	uint64_t passes = ((uint64_t)s->c_out + per_pass - 1) / per_pass;
	if (mul_over(&positions, (uint64_t)s->h, (uint64_t)s->w) ||
	    mul_over(&neurons, positions, (uint64_t)s->c_in) ||
	    mul_over(&windows, (uint64_t)ho, (uint64_t)wo) ||
	    mul_over(&bricks, (uint64_t)s->kh, (uint64_t)s->kw) ||
	    mul_over(&base_window, bricks, per_pos) ||
	    mul_over(&cyc, base_window, windows) ||
	    mul_over(&cyc, cyc, passes) || neurons > SIZE_MAX / 2)
		return spz_fail(err, SPZ_ERANGE, "cnvlutin: the layer is too "
		                "large to count in 64 bits");
	memset(out, 0, sizeof *out);
	out->h_out = ho;
	out->w_out = wo;
	out->windows = windows;
	out->passes = passes;
	out->bricks_per_window = base_window;
	out->neurons = neurons;
	out->cycles_baseline = cyc;
	out->dense_first = s->c_in < o->lanes;

	/* Non-zeros of every brick, position-major: nz[pos * per_pos + b]. */
	uint32_t *nz = malloc((size_t)(positions * per_pos) * sizeof *nz);
	uint64_t *lane = calloc((size_t)lanes, sizeof *lane);
	if (!nz || !lane) {
		free(nz);
		free(lane);
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	}
	memset(nz, 0, (size_t)(positions * per_pos) * sizeof *nz);
	uint64_t total_nz = 0;
	for (int64_t c = 0; c < s->c_in; c++) {
		const uint8_t *plane = mask ? mask + (uint64_t)c * positions
		                            : NULL;
		uint64_t b = (uint64_t)c / lanes;
		for (uint64_t p = 0; p < positions; p++)
			if (!plane || plane[p]) {
				nz[p * per_pos + b]++;
				total_nz++;
			}
	}
	out->nonzeros = total_nz;

	uint64_t cnv = 0;
	int over = 0;
	if (out->dense_first) {
		cnv = cyc;
	} else {
		for (int64_t oy = 0; oy < ho; oy++)
			for (int64_t ox = 0; ox < wo; ox++) {
				memset(lane, 0, (size_t)lanes * sizeof *lane);
				uint64_t t = 0;
				for (int64_t ky = 0; ky < s->kh; ky++) {
					int64_t y = oy * s->stride - s->pad + ky;
					for (int64_t kx = 0; kx < s->kw; kx++) {
						int64_t x = ox * s->stride - s->pad + kx;
						int in = y >= 0 && y < s->h && x >= 0 &&
						         x < s->w;
						const uint32_t *pb = in ? nz + ((uint64_t)y *
							(uint64_t)s->w + (uint64_t)x) * per_pos
							: NULL;
						/* t mod lanes without a division per brick */
						for (uint64_t b = 0; b < per_pos; b++) {
							if (pb)
								lane[t] += pb[b];
							if (++t == lanes)
								t = 0;
						}
					}
				}
				uint64_t worst = 1;
				for (uint64_t i = 0; i < lanes; i++)
					worst = lane[i] > worst ? lane[i] : worst;
				if (cnv + worst < cnv)
					over = 1;
				cnv += worst;
			}
		if (over || mul_over(&cnv, cnv, passes)) {
			free(nz);
			free(lane);
			return spz_fail(err, SPZ_ERANGE, "cnvlutin: the layer is "
			                "too large to count in 64 bits");
		}
	}
	free(nz);
	free(lane);
	out->cycles_cnv = cnv;
	out->speedup = cnv ? (double)cyc / (double)cnv : 1.0;
	return 0;
}

int spz_act_pattern(uint8_t *mask, uint64_t n, double density,
                    uint64_t seed, spz_error *err)
{
	if (!(density >= 0 && density <= 1))
		return spz_fail(err, SPZ_EINVAL, "activation density must be in "
		                "0..1");
	/* Knuth's selection sampling (TAOCP 3.4.2, algorithm S): exactly
	 * `want` of the n positions, each subset equally likely. */
	uint64_t want = (uint64_t)llround(density * (double)n);
	if (want > n)
		want = n;
	spz_rng rng;
	spz_rng_seed(&rng, seed);
	for (uint64_t i = 0; i < n; i++) {
		uint64_t left = n - i;
		int take = want && spz_rng_below(&rng, left) < want;
		mask[i] = (uint8_t)take;
		want -= (uint64_t)take;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* A100 2:4 tensor cores                                                */

const spz_table_key *spz_arch_table_keys(size_t *n)
{
	static const spz_table_key keys[] = {
		{"tc24_dense_tflops", offsetof(spz_arch_table, tc24_dense_tflops)},
		{"tc24_sparse_tflops",
		 offsetof(spz_arch_table, tc24_sparse_tflops)},
		{"tc24_bandwidth_gbps",
		 offsetof(spz_arch_table, tc24_bandwidth_gbps)},
		{"tc24_value_bytes", offsetof(spz_arch_table, tc24_value_bytes)},
		{"tc24_metadata_bits",
		 offsetof(spz_arch_table, tc24_metadata_bits)},
		{"cnv_clock_mhz", offsetof(spz_arch_table, cnv_clock_mhz)},
		{"tc24_clock_mhz", offsetof(spz_arch_table, tc24_clock_mhz)},
	};
	*n = sizeof keys / sizeof keys[0];
	return keys;
}

int spz_arch_table_check(const spz_arch_table *t, spz_error *err)
{
	size_t n;
	const spz_table_key *keys = spz_arch_table_keys(&n);
	for (size_t i = 0; i < n; i++) {
		double v = *(const double *)((const char *)t + keys[i].off);
		if (!(v > 0) || !isfinite(v))
			return spz_fail(err, SPZ_EINVAL, "%s must be a finite "
			                "number above 0", keys[i].key);
	}
	return 0;
}

int spz_tc24_gemm(spz_tc24_result *out, const spz_conv_shape *s,
                  uint64_t batch, int is_24, const spz_arch_table *t,
                  spz_error *err)
{
	int64_t ho, wo;
	int rc = spz_conv_shape_check(&ho, &wo, s, err);
	if (!rc)
		rc = spz_arch_table_check(t, err);
	if (rc)
		return rc;
	if (batch < 1)
		return spz_fail(err, SPZ_EINVAL, "the batch must be 1 or more");
	memset(out, 0, sizeof *out);
	/* Doubles: the products reach 1e30 for absurd shapes, where the
	 * relative rounding (1e-16) is far below the model's own error. */
	double m = (double)s->c_out;
	double k = (double)s->c_in * (double)s->kh * (double)s->kw;
	double n = (double)batch * (double)ho * (double)wo;
	double vb = t->tc24_value_bytes;
	double act = (double)batch * (double)s->c_in * (double)s->h *
	             (double)s->w * vb + n * m * vb;
	out->m = m;
	out->k = k;
	out->n = n;
	out->flops = 2 * m * k * n;
	out->bytes_dense = m * k * vb + act;
	/* flop/s per us: TFLOPS x 1e6; bytes per us: GB/s x 1e3. */
	double bw = t->tc24_bandwidth_gbps * 1e3;
	double math_d = out->flops / (t->tc24_dense_tflops * 1e6);
	double mem_d = out->bytes_dense / bw;
	out->time_dense_us = math_d > mem_d ? math_d : mem_d;
	out->memory_bound_dense = mem_d > math_d;
	out->sparse = is_24 != 0;
	if (out->sparse) {
		double kept = m * k / 2;
		out->bytes_sparse = kept * vb + kept * t->tc24_metadata_bits / 8 +
		                    act;
		double math_s = out->flops / (t->tc24_sparse_tflops * 1e6);
		double mem_s = out->bytes_sparse / bw;
		out->time_sparse_us = math_s > mem_s ? math_s : mem_s;
		out->memory_bound_sparse = mem_s > math_s;
	} else {
		out->bytes_sparse = out->bytes_dense;
		out->time_sparse_us = out->time_dense_us;
		out->memory_bound_sparse = out->memory_bound_dense;
	}
	out->speedup = out->time_dense_us / out->time_sparse_us;
	return 0;
}
