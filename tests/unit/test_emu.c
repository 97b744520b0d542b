/*
 * test_emu.c - the EIE emulator (lib/emu.c) against the functional
 * fixed-point reference and the float model (lib/fixedref.c), and the
 * behaviours of the micro-architecture that the timing model must show.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tquant.h"

/* A chain of n_dims - 1 Gemm layers (Relu between, random biases) with
 * about `density` of the weights non-zero, quantized and packed. */
static spz_eie *make_chain(const int64_t *dims, size_t n_dims,
                           double density, uint32_t pes, int index_bits,
                           uint64_t seed)
{
	spz_model *m;
	ck_assert_int_eq(spz_gen_mlp(&m, dims, n_dims, seed, NULL), 0);
	spz_rng r;
	spz_rng_seed(&r, seed ^ 0x5a5a);
	for (size_t i = 0; i < m->n_tensors; i++) {
		spz_tensor *t = &m->tensors[i];
		int64_t n = spz_tensor_elements(t);
		int weight = spz_model_is_weight(m, t, NULL);
		for (int64_t k = 0; k < n; k++) {
			if (weight && spz_rng_uniform(&r) >= density)
				t->data[k] = 0;
			else if (!weight)
				t->data[k] = (float)(spz_rng_normal(&r) * 0.1);
		}
	}
	ck_assert_int_eq(tq_quantize_model(m), 0);
	spz_eie_options po = SPZ_EIE_OPTIONS_INIT;
	po.pes = pes;
	po.index_bits = index_bits;
	spz_eie *e;
	spz_error err = {0};
	ck_assert_msg(spz_eie_pack(&e, m, &po, &err) == 0, "%s", err.text);
	spz_model_free(m);
	return e;
}

/* One layer from an explicit weight matrix (row-major [rows, cols]). */
static spz_eie *make_layer(int64_t rows, int64_t cols, const float *w,
                           uint32_t pes)
{
	spz_model *m = tu_gemm_model(rows, cols, w);
	ck_assert_int_eq(tq_quantize_model(m), 0);
	spz_eie_options po = SPZ_EIE_OPTIONS_INIT;
	po.pes = pes;
	spz_eie *e;
	ck_assert_int_eq(spz_eie_pack(&e, m, &po, NULL), 0);
	spz_model_free(m);
	return e;
}

/* n values, `density` of them non-zero, uniform in (-1, 1) or (0, 1]. */
static void random_input(float *x, int64_t n, double density, int sign,
                         uint64_t seed)
{
	spz_rng r;
	spz_rng_seed(&r, seed);
	for (int64_t j = 0; j < n; j++) {
		x[j] = 0;
		if (spz_rng_uniform(&r) < density)
			x[j] = (float)(sign ? 2 * spz_rng_uniform(&r) - 1
			                    : 1 - spz_rng_uniform(&r));
	}
}

static int16_t *to_fixed(const float *x, int64_t n, int frac)
{
	int16_t *q = malloc((size_t)n * sizeof *q + 1);
	for (int64_t j = 0; j < n; j++)
		q[j] = spz_to_fixed(x[j], frac);
	return q;
}

/* Emulates x (float) through e with the given FIFO depth; returns the
 * emulator (stats inside) and fills y (last layer, Q(frac[n_layers])). */
static spz_emu *emulate(const spz_eie *e, const float *x, uint32_t fifo,
                        int16_t *y, int *frac)
{
	spz_error err = {0};
	ck_assert_int_eq(spz_eie_calibrate(frac, e, x, 1, &err), 0);
	int16_t *q = to_fixed(x, e->layers[0].cols, frac[0]);
	spz_emu_options o = SPZ_EMU_OPTIONS_INIT;
	o.fifo_depth = fifo;
	spz_emu *emu;
	ck_assert_msg(spz_emu_new(&emu, e, &o, &err) == 0, "%s", err.text);
	ck_assert_msg(spz_emu_run(emu, y, q, frac, &err) == 0, "%s", err.text);
	free(q);
	return emu;
}

static const spz_emu_layer_stats *layer0(const spz_emu *emu)
{
	return &spz_emu_stats_get(emu)->layers[0];
}

/* An independent check of the reference: the layer as a dense int16
 * matrix rebuilt from the image, each row summed over every column in
 * order with the documented 48-bit saturating accumulator. */
static void dense_layer(int16_t *y, const spz_eie *e, size_t n,
                        const int16_t *x, int fin, int fout)
{
	const spz_eie_layer *l = &e->layers[n];
	int16_t *w = calloc((size_t)(l->rows * l->cols), sizeof *w);
	for (uint32_t k = 0; k < e->pes; k++)
		for (int64_t j = 0; j < l->cols; j++) {
			int64_t r = -1;
			for (uint32_t p = l->pe[k].ptr[j]; p < l->pe[k].ptr[j + 1];
			     p++) {
				r += 1 + l->pe[k].index[p];
				w[(r * e->pes + k) * l->cols + j] =
					l->codebook[l->pe[k].code[p]];
			}
		}
	const int64_t hi = (INT64_C(1) << 47) - 1, lo = -(INT64_C(1) << 47);
	for (int64_t i = 0; i < l->rows; i++) {
		int64_t acc = 0;
		for (int64_t j = 0; j < l->cols; j++) {
			acc += (int64_t)w[i * l->cols + j] * x[j];
			acc = acc > hi ? hi : acc < lo ? lo : acc;
		}
		y[i] = spz_eie_finish_row(acc, l, i, fin, fout, NULL);
	}
	free(w);
}

START_TEST(bit_exact_on_random_layers)
{
	spz_rng r;
	spz_rng_seed(&r, 2024);
	for (int t = 0; t < 48; t++) {
		size_t nl = 1 + spz_rng_below(&r, 3);
		int64_t dims[4];
		for (size_t i = 0; i <= nl; i++)
			dims[i] = 1 + (int64_t)spz_rng_below(&r, t < 40 ? 160 : 20);
		double wd = 0.01 + 0.6 * spz_rng_uniform(&r);
		uint32_t pes = 1 + (uint32_t)spz_rng_below(&r, 70);
		int ib = 2 + (int)spz_rng_below(&r, 4);
		spz_eie *e = make_chain(dims, nl + 1, wd, pes, ib, 100 + t);
		float *x = malloc((size_t)dims[0] * sizeof *x);
		random_input(x, dims[0], spz_rng_uniform(&r), 1, 300 + t);
		int frac[4];
		ck_assert_int_eq(spz_eie_calibrate(frac, e, x, 1, NULL), 0);
		/* Shift some formats so outputs and sums saturate too. */
		for (size_t i = 0; i <= nl; i++)
			if (t % 3 == 0)
				frac[i] += (int)spz_rng_below(&r, 7) - 2;
		int16_t *q = to_fixed(x, dims[0], frac[0]);
		int16_t want[160], got[160], mid[2][160];
		ck_assert_int_eq(spz_eie_fixed_forward(want, e, frac, q, NULL),
		                 0);
		/* The reference against a dense recomputation. */
		memcpy(mid[0], q, (size_t)dims[0] * sizeof *q);
		for (size_t i = 0; i < nl; i++)
			dense_layer(mid[(i + 1) & 1], e, i, mid[i & 1], frac[i],
			            frac[i + 1]);
		ck_assert_mem_eq(mid[nl & 1], want,
		                 (size_t)dims[nl] * sizeof *want);
		spz_emu_options o = SPZ_EMU_OPTIONS_INIT;
		o.fifo_depth = 1 + (uint32_t)spz_rng_below(&r, 12);
		spz_emu *emu;
		ck_assert_int_eq(spz_emu_new(&emu, e, &o, NULL), 0);
		ck_assert_int_eq(spz_emu_run(emu, got, q, frac, NULL), 0);
		ck_assert_msg(!memcmp(want, got, (size_t)dims[nl] * sizeof *got),
		              "case %d: emulator differs from the reference", t);
		/* Every PE cycle is exactly one of busy, idle, stalled. */
		const spz_emu_stats *s = spz_emu_stats_get(emu);
		for (size_t i = 0; i < nl; i++) {
			const spz_emu_layer_stats *ls = &s->layers[i];
			double sum = ls->pe_busy.mean + ls->pe_idle.mean +
			             ls->pe_stalled.mean;
			ck_assert(fabs(sum - (double)ls->cycles) < 1e-6 * ls->cycles);
		}
		spz_emu_free(emu);
		free(q);
		free(x);
		spz_eie_free(e);
	}
}
END_TEST

START_TEST(accumulator_saturates_in_column_order)
{
	/* 1 row, 300000 weights +1 (16384 in Q14) then 400000 weights -0.875
	 * (the most negative level of tq_quantize), inputs at the int16
	 * maximum: products of about 2^29. The 48-bit accumulator clips at
	 * 2^47 - 1 after 2^18 of the positive ones, so in Q(-10) the result
	 * is round((2^47 - 1 - 400000 * 14336 * 32767) / 2^39) = -86, where
	 * an unsaturated sum would give -49. */
	int64_t cols = 700000;
	float *w = malloc((size_t)cols * sizeof *w);
	for (int64_t j = 0; j < cols; j++)
		w[j] = j < 300000 ? 1.0f : -0.875f;
	spz_eie *e = make_layer(1, cols, w, 1);
	int16_t *x = malloc((size_t)cols * sizeof *x);
	for (int64_t j = 0; j < cols; j++)
		x[j] = INT16_MAX;
	int frac[2] = {15, -10};
	int16_t want, got;
	ck_assert_int_eq(spz_eie_fixed_forward(&want, e, frac, x, NULL), 0);
	spz_emu *emu;
	spz_emu_options o = SPZ_EMU_OPTIONS_INIT;
	ck_assert_int_eq(spz_emu_new(&emu, e, &o, NULL), 0);
	ck_assert_int_eq(spz_emu_run(emu, &got, x, frac, NULL), 0);
	ck_assert_int_eq(want, got);
	ck_assert_int_eq(got, -86);
	ck_assert_uint_gt(layer0(emu)->saturations, 0);
	spz_emu_free(emu);
	free(x);
	free(w);
	spz_eie_free(e);
}
END_TEST

START_TEST(close_to_float_on_sample_mlp)
{
	/* The demo's sample: LeNet-300-100 shape, about 10% of the weights
	 * kept. The default --tolerance of spz run is 1e-3 relative; 16-bit
	 * activations measured here stay below 2e-4. */
	int64_t dims[4] = {784, 300, 100, 10};
	spz_eie *e = make_chain(dims, 4, 0.1, 64, 4, 1);
	for (int s = 0; s < 6; s++) {
		float x[784], yf[10], yq[10];
		int16_t y[10];
		int frac[4];
		random_input(x, 784, s < 3 ? 1.0 : 0.35, 0, 40 + s);
		spz_emu *emu = emulate(e, x, 8, y, frac);
		ck_assert_int_eq(spz_eie_float_forward(yf, e, x, NULL, NULL,
		                                       NULL), 0);
		for (int i = 0; i < 10; i++)
			yq[i] = (float)spz_from_fixed(y[i], frac[3]);
		double ea, er;
		spz_output_error(&ea, &er, yf, yq, 10);
		ck_assert_msg(er < 2e-4 && er > 0, "relative error %g", er);
		spz_emu_free(emu);
	}
	spz_eie_free(e);
}
END_TEST

START_TEST(output_error_definition)
{
	float want[3] = {2, -4, 0}, got[3] = {2.5f, -4, 0.25f};
	double a, r;
	spz_output_error(&a, &r, want, got, 3);
	ck_assert(a == 0.5 && r == 0.125);
	float z[2] = {0, 0}, g[2] = {0, 0.5f};
	spz_output_error(&a, &r, z, g, 2);
	ck_assert(a == 0.5 && r == 0.5);
}
END_TEST

START_TEST(exact_timeline)
{
	/* 1 PE, 4 rows, 3 columns holding 2, 0 and 3 entries; FIFO 8. The
	 * spz.h timing model gives: broadcasts at cycles 1, 2, 3 (L = 1);
	 * pointer reads at 2, 3, 4; column 0 streams at 3-4, column 2 at
	 * 5-7; the last write at 11, so rows finish at 12-15: 16 cycles,
	 * 10 busy (2-7 and the 4 finishing rows), 6 idle. */
	float w[12] = {1, 0, 1, 0, 0, 1, 1, 0, 0, 0, 0, 1};
	spz_eie *e = make_layer(4, 3, w, 1);
	float x[3] = {1, 1, 1};
	int16_t y[4];
	int frac[2];
	spz_emu *emu = emulate(e, x, 8, y, frac);
	const spz_emu_layer_stats *s = layer0(emu);
	ck_assert_uint_eq(s->cycles, 16);
	ck_assert_uint_eq(s->pe_busy.max, 10);
	ck_assert_uint_eq(s->pe_idle.max, 6);
	ck_assert_uint_eq(s->pe_stalled.max, 0);
	ck_assert_uint_eq(s->entries, 5);
	ck_assert_uint_eq(s->pointer_reads, 3);
	ck_assert_uint_eq(s->ccu_stall_cycles, 0);
	ck_assert_uint_eq(s->cycles_fixed, 1 + 4);
	spz_emu_free(emu);
	/* FIFO 1: a broadcast waits until the previous one is popped, so
	 * they go out at 1, 3, 5 with the CCU stalled at 2 and 4; column 2
	 * is read at 6 and streams at 7-9: 18 cycles. */
	emu = emulate(e, x, 1, y, frac);
	s = layer0(emu);
	ck_assert_uint_eq(s->cycles, 18);
	ck_assert_uint_eq(s->ccu_stall_cycles, 2);
	ck_assert_uint_eq(s->pe_busy.max, 11);
	spz_emu_free(emu);
	spz_eie_free(e);
}
END_TEST

START_TEST(bypass_keeps_back_to_back_updates)
{
	/* Row 0 ends column 0 and starts column 1: issued on consecutive
	 * cycles, the second update must see the first (forwarded). */
	float w[2] = {1, 1};
	spz_eie *e = make_layer(1, 2, w, 1);
	float x[2] = {0.5f, 0.25f};
	int16_t y;
	int frac[2];
	spz_emu *emu = emulate(e, x, 8, &y, frac);
	ck_assert_uint_eq(layer0(emu)->bypasses, 1);
	ck_assert_double_eq_tol(spz_from_fixed(y, frac[1]), 0.75, 1e-4);
	/* L, broadcast, pointer read, 2 entries, drain, 1 finished row. */
	ck_assert_uint_eq(layer0(emu)->cycles, 1 + 1 + 1 + 2 + 4 + 1);
	spz_emu_free(emu);
	spz_eie_free(e);
}
END_TEST

START_TEST(zero_inputs_cost_nothing)
{
	int64_t rows = 200, cols = 300;
	spz_model *m;
	ck_assert_int_eq(spz_gen_layer(&m, rows, cols, 0.1, 3, NULL), 0);
	float *w = spz_model_tensor(m, "fc.weight")->data;
	float x[300];
	random_input(x, cols, 0.3, 1, 8);
	/* The largest weight sits in a kept column, so that both layers get
	 * the same codebook. */
	int64_t keep = 0;
	while (x[keep] == 0)
		keep++;
	w[keep] = 10;
	/* The same layer with only the columns of the non-zero inputs. */
	int64_t nz = 0;
	for (int64_t j = 0; j < cols; j++)
		nz += x[j] != 0;
	float *w2 = malloc((size_t)(rows * nz) * sizeof *w2), x2[300];
	for (int64_t i = 0, c = 0; i < rows; i++, c = 0)
		for (int64_t j = 0; j < cols; j++)
			if (x[j] != 0) {
				w2[i * nz + c] = w[i * cols + j];
				x2[c++] = x[j];
			}
	spz_eie *a = make_layer(rows, cols, w, 16);
	spz_eie *b = make_layer(rows, nz, w2, 16);
	int16_t ya[200], yb[200];
	int fa[2], fb[2];
	spz_emu *ea = emulate(a, x, 8, ya, fa), *eb = emulate(b, x2, 8, yb, fb);
	const spz_emu_layer_stats *sa = layer0(ea), *sb = layer0(eb);
	ck_assert_int_eq(fa[1], fb[1]);
	ck_assert_mem_eq(ya, yb, sizeof ya);
	ck_assert_uint_eq(sa->cycles, sb->cycles);
	ck_assert_uint_eq(sa->pe_busy.max, sb->pe_busy.max);
	ck_assert_uint_eq(sa->pe_busy.min, sb->pe_busy.min);
	ck_assert_uint_eq(sa->pe_idle.max, sb->pe_idle.max);
	ck_assert_uint_eq(sa->entries, sb->entries);
	spz_emu_free(ea);
	spz_emu_free(eb);
	/* All zero: only the fixed overhead (L = 2 for 16 PEs, 13 rows). */
	memset(x, 0, sizeof x);
	ea = emulate(a, x, 8, ya, fa);
	sa = layer0(ea);
	ck_assert_uint_eq(sa->cycles, 2 + 13);
	ck_assert_uint_eq(sa->cycles, sa->cycles_fixed);
	ck_assert_uint_eq(sa->entries + sa->pointer_reads, 0);
	ck_assert_uint_eq(sa->pe_busy.max, 13);
	spz_emu_free(ea);
	spz_eie_free(a);
	spz_eie_free(b);
	free(w2);
	spz_model_free(m);
}
END_TEST

START_TEST(fifo_depth)
{
	/* EIE section VI: at depth 1 the PEs idle about half the time;
	 * beyond 8 the gain is small. */
	int64_t dims[2] = {1024, 512};
	for (int s = 0; s < 2; s++) {
		spz_eie *e = make_chain(dims, 2, 0.1, 64, 4, 10 + s);
		float x[1024];
		int16_t y[512];
		int frac[2];
		random_input(x, 1024, 0.35, 0, 20 + s);
		uint64_t cyc[9];
		for (int d = 0; d < 9; d++) {
			spz_emu *emu = emulate(e, x, 1u << d, y, frac);
			cyc[d] = layer0(emu)->cycles;
			spz_emu_free(emu);
			if (d)
				ck_assert_uint_le(cyc[d], cyc[d - 1]);
		}
		ck_assert_msg(cyc[0] > cyc[3] * 1.4, "depth 1 %llu, 8 %llu",
		              (unsigned long long)cyc[0],
		              (unsigned long long)cyc[3]);
		ck_assert_msg(cyc[8] > cyc[3] * 0.95, "depth 8 %llu, 256 %llu",
		              (unsigned long long)cyc[3],
		              (unsigned long long)cyc[8]);
		spz_eie_free(e);
	}
}
END_TEST

START_TEST(more_pes_until_imbalance)
{
	int64_t dims[2] = {1024, 1024};
	float x[1024];
	int16_t y[1024];
	int frac[2];
	random_input(x, 1024, 0.35, 0, 9);
	uint64_t cyc[10];
	double lb[10];
	for (int p = 0; p < 10; p++) {
		spz_eie *e = make_chain(dims, 2, 0.1, 1u << p, 4, 5);
		spz_emu *emu = emulate(e, x, 8, y, frac);
		cyc[p] = layer0(emu)->cycles;
		lb[p] = layer0(emu)->load_balance;
		spz_emu_free(emu);
		spz_eie_free(e);
		if (p)
			ck_assert_uint_lt(cyc[p], cyc[p - 1]);
	}
	/* Doubling from 1 PE halves the cycles; from 32 to 64 (16 rows per
	 * PE) imbalance eats part of it, and past 256 PEs (4 rows) nothing
	 * is left to gain: every broadcast costs every PE a cycle anyway. */
	ck_assert(cyc[0] / (double)cyc[1] > 1.95);
	ck_assert(cyc[5] / (double)cyc[6] < 1.92);
	ck_assert(cyc[8] / (double)cyc[9] < 1.1);
	ck_assert(lb[0] > 0.99);
	ck_assert_msg(lb[6] < lb[3] - 0.05, "load balance 8 PEs %g, 64 %g",
	              lb[3], lb[6]);
}
END_TEST

START_TEST(padding_costs_cycles)
{
	/* 1 PE, 4 non-zeros per column: packed at rows 0-3, or spread at
	 * rows 0, 40, 80, 120 (two padding entries before each of the last
	 * three with 4-bit indices). Each padding entry is one more cycle. */
	float a[128 * 8], b[128 * 8];
	memset(a, 0, sizeof a);
	memset(b, 0, sizeof b);
	for (int j = 0; j < 8; j++)
		for (int k = 0; k < 4; k++) {
			a[k * 8 + j] = 1;
			b[(k * 40) * 8 + j] = 1;
		}
	spz_eie *ea = make_layer(128, 8, a, 1), *eb = make_layer(128, 8, b, 1);
	float x[8] = {1, 1, 1, 1, 1, 1, 1, 1};
	int16_t y[128];
	int frac[2];
	spz_emu *ma = emulate(ea, x, 8, y, frac), *mb = emulate(eb, x, 8, y, frac);
	ck_assert_uint_eq(layer0(ma)->padding_entries, 0);
	ck_assert_uint_eq(layer0(mb)->padding_entries, 8 * 6);
	ck_assert_uint_eq(layer0(mb)->cycles, layer0(ma)->cycles + 8 * 6);
	spz_emu_free(ma);
	spz_emu_free(mb);
	spz_eie_free(ea);
	spz_eie_free(eb);
}
END_TEST

/* The cycle summary of spz-run(1) and spz-report(1), to the cycle: a
 * single dense column with e entries per PE takes L before the first
 * broadcast, the broadcast cycle itself, one pointer read, e issues, 4 of
 * drain, and one cycle per row a PE finishes: L + 1 + 1 + e + 4 +
 * ceil(rows / N). The pages used to leave out the broadcast cycle. */
START_TEST(cycle_summary_counts_the_broadcast)
{
	static const uint32_t pes[] = {1, 4, 16, 64};
	for (size_t q = 0; q < sizeof pes / sizeof *pes; q++)
		for (int64_t per = 1; per <= 5; per += 4) {
			uint32_t n = pes[q];
			int64_t rows = per * n;
			float *w = malloc((size_t)rows * sizeof *w);
			for (int64_t i = 0; i < rows; i++)
				w[i] = 0.5f + (float)(i % 3);
			spz_eie *e = make_layer(rows, 1, w, n);
			float x[1] = {0.75f};
			int16_t *y = malloc((size_t)rows * sizeof *y);
			int frac[2];
			spz_emu *emu = emulate(e, x, 8, y, frac);
			const spz_emu_layer_stats *s = layer0(emu);
			uint64_t L = 1;
			while ((UINT64_C(1) << (2 * L)) < n)
				L++; /* max(1, ceil(log4 N)) */
			ck_assert_uint_eq(s->cycles_fixed, L + (uint64_t)per);
			ck_assert_uint_eq(s->cycles_analytical, (uint64_t)per);
			ck_assert_msg(s->cycles == L + 1 + 1 + (uint64_t)per + 4 +
			                           (uint64_t)per,
			              "%u PEs, %lld rows: %llu cycles", n,
			              (long long)rows, (unsigned long long)s->cycles);
			/* = analytical + fixed + 6, the report's estimate */
			ck_assert_uint_eq(s->cycles, s->cycles_analytical +
			                             s->cycles_fixed + 6);
			spz_emu_free(emu);
			spz_eie_free(e);
			free(y);
			free(w);
		}
}
END_TEST

START_TEST(analytical_estimate_agrees)
{
	/* spz report estimates a layer as the busiest PE's work, each
	 * broadcast column costing max(1, entries) (spz_eie_pe_work). Add
	 * the fixed overhead (L + rows per PE) and 6 cycles (the broadcast,
	 * the pointer read, 4 of drain) and the two agree within 10%. They differ because
	 *  - the emulator reads the pointers of an empty column while the
	 *    previous column still streams, where the estimate charges it a
	 *    cycle (emulator faster: sparse layers on many PEs, down to -9%
	 *    measured);
	 *  - a column whose pointers are read while the matrix read unit is
	 *    empty (after an empty column that followed a one-entry column,
	 *    or after the FIFO ran dry) costs a bubble, and with finite FIFOs
	 *    a PE whose FIFO is full holds the broadcast back while the
	 *    others starve (emulator slower, up to +4% measured).
	 * FIFOs deep enough never to fill remove the stalls, so they are
	 * never slower than depth 8. */
	spz_rng r;
	spz_rng_seed(&r, 77);
	for (int t = 0; t < 16; t++) {
		/* gen_mlp dims: inputs (columns) first, then rows. */
		int64_t dims[2] = {16 + (int64_t)spz_rng_below(&r, 600),
		                   16 + (int64_t)spz_rng_below(&r, 600)};
		double wd = 0.02 + 0.3 * spz_rng_uniform(&r);
		double ad = 0.1 + 0.9 * spz_rng_uniform(&r);
		uint32_t pes = 1u << spz_rng_below(&r, 7);
		spz_eie *e = make_chain(dims, 2, wd, pes, 4, 100 + t);
		const spz_eie_layer *l = &e->layers[0];
		float *x = malloc((size_t)dims[0] * sizeof *x);
		int16_t *y = malloc((size_t)dims[1] * sizeof *y);
		random_input(x, dims[0], ad, 0, 200 + t);
		uint8_t *active = malloc((size_t)dims[0]);
		int frac[2];
		ck_assert_int_eq(spz_eie_calibrate(frac, e, x, 1, NULL), 0);
		for (int64_t j = 0; j < dims[0]; j++)
			active[j] = spz_to_fixed(x[j], frac[0]) != 0;
		uint64_t wmax = 0, work = 0;
		for (uint32_t k = 0; k < pes; k++) {
			uint64_t wk = spz_eie_pe_work(e, l, k, active);
			work += wk;
			wmax = wk > wmax ? wk : wmax;
		}
		spz_emu *emu = emulate(e, x, 8, y, frac);
		const spz_emu_layer_stats *s = layer0(emu);
		ck_assert_uint_eq(s->cycles_analytical, wmax);
		ck_assert_uint_eq(s->work, work);
		ck_assert_uint_eq(s->cycles_theoretical, (work + pes - 1) / pes);
		double est = (double)(wmax + s->cycles_fixed + 6);
		ck_assert_msg(fabs((double)s->cycles - est) <= 0.10 * est,
		              "case %d: emulated %llu, estimated %.0f", t,
		              (unsigned long long)s->cycles, est);
		uint64_t at8 = s->cycles;
		spz_emu_free(emu);
		emu = emulate(e, x, 1u << 20, y, frac);
		ck_assert_uint_le(layer0(emu)->cycles, at8);
		ck_assert_uint_eq(layer0(emu)->ccu_stall_cycles, 0);
		spz_emu_free(emu);
		free(active);
		free(x);
		free(y);
		spz_eie_free(e);
	}
}
END_TEST

struct tr {
	int n, mac, fail_at;
	uint64_t first, last;
	int ccu;
};

static int collect(void *ctx, const spz_emu_event *ev)
{
	struct tr *t = ctx;
	if (t->n == 0)
		t->first = ev->cycle;
	t->last = ev->cycle;
	t->n++;
	t->mac += !strcmp(ev->event, "mac");
	t->ccu += ev->pe == -1;
	if (t->fail_at && t->n == t->fail_at)
		return SPZ_EIO;
	return 0;
}

START_TEST(trace_window)
{
	int64_t dims[3] = {40, 30, 20};
	spz_eie *e = make_chain(dims, 3, 0.3, 4, 4, 3);
	float x[40];
	random_input(x, 40, 1, 0, 4);
	int frac[3];
	ck_assert_int_eq(spz_eie_calibrate(frac, e, x, 1, NULL), 0);
	int16_t *q = to_fixed(x, 40, frac[0]), y[20];
	struct tr t = {0};
	spz_emu_options o = SPZ_EMU_OPTIONS_INIT;
	o.trace = collect;
	o.trace_ctx = &t;
	o.trace_from = 0;
	o.trace_to = UINT64_MAX;
	spz_emu *emu;
	ck_assert_int_eq(spz_emu_new(&emu, e, &o, NULL), 0);
	ck_assert_int_eq(spz_emu_run(emu, y, q, frac, NULL), 0);
	const spz_emu_stats *s = spz_emu_stats_get(emu);
	/* The whole run: every PE has at least one line per cycle, and each
	 * real entry is one "mac". */
	ck_assert_uint_eq(t.first, 0);
	ck_assert_uint_eq(t.last, s->cycles - 1);
	ck_assert_uint_ge((uint64_t)(t.n - t.ccu), 4 * s->cycles);
	ck_assert_uint_eq((uint64_t)t.mac,
	                  s->layers[0].entries - s->layers[0].padding_entries +
	                  s->layers[1].entries - s->layers[1].padding_entries);
	ck_assert_uint_eq(spz_emu_cycle(emu), s->cycles);
	spz_emu_free(emu);
	/* A window [10, 20) of the second run continues the cycle count. */
	memset(&t, 0, sizeof t);
	o.trace_from = 10;
	o.trace_to = 20;
	ck_assert_int_eq(spz_emu_new(&emu, e, &o, NULL), 0);
	ck_assert_int_eq(spz_emu_run(emu, y, q, frac, NULL), 0);
	ck_assert_uint_eq(t.first, 10);
	ck_assert_uint_eq(t.last, 19);
	spz_emu_free(emu);
	/* A failing callback stops the run with its code. */
	memset(&t, 0, sizeof t);
	t.fail_at = 5;
	o.trace_from = 0;
	spz_error err = {0};
	ck_assert_int_eq(spz_emu_new(&emu, e, &o, NULL), 0);
	ck_assert_int_eq(spz_emu_run(emu, y, q, frac, &err), SPZ_EIO);
	ck_assert(strstr(err.text, "trace"));
	spz_emu_free(emu);
	free(q);
	spz_eie_free(e);
}
END_TEST

START_TEST(bad_images_and_options)
{
	float w[6] = {1, 0, 2, 0, 0, 3};
	spz_eie *e = make_layer(3, 2, w, 1);
	spz_error err = {0};
	spz_emu *emu;
	spz_emu_options o = SPZ_EMU_OPTIONS_INIT;
	o.fifo_depth = 0;
	ck_assert_int_eq(spz_emu_new(&emu, e, &o, &err), SPZ_EINVAL);
	ck_assert(strstr(err.text, "FIFO"));
	o.fifo_depth = 8;
	int frac[2] = {12, 99};
	int16_t x[2] = {1, 1}, y[3];
	ck_assert_int_eq(spz_emu_new(&emu, e, &o, &err), 0);
	ck_assert_int_eq(spz_emu_run(emu, y, x, frac, &err), SPZ_EINVAL);
	spz_emu_free(emu);
	ck_assert_int_eq(spz_eie_fixed_forward(y, e, frac, x, &err),
	                 SPZ_EINVAL);
	/* A corrupt image is refused before anything is stepped. */
	e->layers[0].pe[0].ptr[1] = 7;
	ck_assert_int_eq(spz_emu_new(&emu, e, &o, &err), SPZ_EFORMAT);
	spz_eie_free(e);
	float bad[2] = {1, NAN};
	int64_t d[2] = {3, 2};
	e = make_chain(d, 2, 1, 1, 4, 1);
	ck_assert_int_eq(spz_eie_calibrate(frac, e, bad, 1, &err), SPZ_ERANGE);
	ck_assert_str_eq(err.text, "input vector 0: NaN value at index 1");
	spz_eie_free(e);
	spz_emu_free(NULL);
}
END_TEST

START_TEST(stats_accumulate_over_runs)
{
	int64_t dims[3] = {50, 40, 30};
	spz_eie *e = make_chain(dims, 3, 0.2, 8, 4, 6);
	float x[2][50];
	random_input(x[0], 50, 0.5, 0, 1);
	random_input(x[1], 50, 0.5, 0, 2);
	int frac[3];
	ck_assert_int_eq(spz_eie_calibrate(frac, e, x[0], 2, NULL), 0);
	spz_emu_options o = SPZ_EMU_OPTIONS_INIT;
	spz_emu *both, *one;
	ck_assert_int_eq(spz_emu_new(&both, e, &o, NULL), 0);
	uint64_t sum = 0, nnz = 0;
	int16_t y[30];
	for (int s = 0; s < 2; s++) {
		int16_t *q = to_fixed(x[s], 50, frac[0]);
		ck_assert_int_eq(spz_emu_new(&one, e, &o, NULL), 0);
		ck_assert_int_eq(spz_emu_run(one, y, q, frac, NULL), 0);
		ck_assert_int_eq(spz_emu_run(both, y, q, frac, NULL), 0);
		sum += spz_emu_stats_get(one)->cycles;
		nnz += spz_emu_stats_get(one)->layers[0].act_in_nonzero;
		spz_emu_free(one);
		free(q);
	}
	const spz_emu_stats *s = spz_emu_stats_get(both);
	ck_assert_uint_eq(s->runs, 2);
	ck_assert_uint_eq(s->cycles, sum);
	ck_assert_uint_eq(s->layers[0].act_in_nonzero, nnz);
	ck_assert_uint_eq(s->layers[0].act_in, 100);
	ck_assert_double_eq_tol(s->time_us, (double)sum / 800, 1e-9);
	ck_assert(s->energy_pj > 0);
	ck_assert(s->layers[0].frac_out == frac[1]);
	spz_emu_free(both);
	spz_eie_free(e);
}
END_TEST

Suite *emu_suite(void)
{
	Suite *s = suite_create("emu");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, bit_exact_on_random_layers);
	tcase_add_test(tc, accumulator_saturates_in_column_order);
	tcase_add_test(tc, close_to_float_on_sample_mlp);
	tcase_add_test(tc, output_error_definition);
	tcase_add_test(tc, exact_timeline);
	tcase_add_test(tc, bypass_keeps_back_to_back_updates);
	tcase_add_test(tc, zero_inputs_cost_nothing);
	tcase_add_test(tc, fifo_depth);
	tcase_add_test(tc, more_pes_until_imbalance);
	tcase_add_test(tc, padding_costs_cycles);
	tcase_add_test(tc, cycle_summary_counts_the_broadcast);
	tcase_add_test(tc, analytical_estimate_agrees);
	tcase_add_test(tc, trace_window);
	tcase_add_test(tc, bad_images_and_options);
	tcase_add_test(tc, stats_accumulate_over_runs);
	suite_add_tcase(s, tc);
	return s;
}
