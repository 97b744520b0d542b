/*
 * test_report.c - the cost report on hand-computable cases (the EIE
 * paper's Fig. 3 matrix, counted padding, textbook CSR/CSC sizes, Deep
 * Compression's rate), the figure data, the rasterizer and the PNG
 * encoder (decoded here with zlib).
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "testutil.h"

/*
 * The 16x8 matrix of EIE Fig. 3. PE0 (rows 0, 4, 8, 12) holds the paper's
 * W0,0 W8,0 W12,0 W4,1 W0,2 W12,2 W0,4 W4,4 W0,5 W12,5 W0,6 W8,7 W12,7;
 * the other PEs' non-zeros are ours (the paper does not list them):
 * PE1 W1,0 W13,1 W5,3 W9,3 W1,6 W13,7; PE2 W2,1 W6,1 W10,1 W14,1 W14,4
 * W2,7; PE3 none.
 */
static const int fig3[][2] = {
	{0, 0}, {8, 0}, {12, 0}, {4, 1}, {0, 2}, {12, 2}, {0, 4}, {4, 4},
	{0, 5}, {12, 5}, {0, 6}, {8, 7}, {12, 7},
	{1, 0}, {13, 1}, {5, 3}, {9, 3}, {1, 6}, {13, 7},
	{2, 1}, {6, 1}, {10, 1}, {14, 1}, {14, 4}, {2, 7},
};
#define FIG3_NNZ 25

/* A Gemm model of rows x cols with non-zeros at `at`, quantized to 4-bit
 * codes (code of the k-th non-zero: k % 15 + 1, codebook c -> c / 8). */
static spz_model *quantized_model(int64_t rows, int64_t cols,
                                  const int (*at)[2], size_t n)
{
	float *w = calloc((size_t)(rows * cols), sizeof *w);
	for (size_t k = 0; k < n; k++)
		w[at[k][0] * cols + at[k][1]] = 1;
	spz_model *m = tu_gemm_model(rows, cols, w);
	free(w);
	spz_tensor *t = spz_model_tensor(m, "fc.weight");
	float *cb = malloc(16 * sizeof *cb);
	uint8_t *codes = calloc((size_t)(rows * cols), 1);
	for (int c = 0; c < 16; c++)
		cb[c] = (float)c / 8;
	for (size_t k = 0; k < n; k++)
		codes[at[k][0] * cols + at[k][1]] = (uint8_t)(k % 15 + 1);
	spz_tensor_set_quantized(t, 4, cb, 16, codes);
	return m;
}

static spz_eie *pack(const spz_model *m, uint32_t pes, int index_bits)
{
	spz_eie_options o = SPZ_EIE_OPTIONS_INIT;
	o.pes = pes;
	o.index_bits = index_bits;
	spz_eie *e;
	spz_error err = {0};
	ck_assert_msg(spz_eie_pack(&e, m, &o, &err) == 0, "%s", err.text);
	return e;
}

static spz_report *report(const spz_eie *e, const spz_report_options *o)
{
	spz_report *r;
	spz_error err = {0};
	ck_assert_msg(spz_report_compute(&r, e, o, &err) == 0, "%s", err.text);
	return r;
}

#define EQ(a, b) ck_assert_msg(fabs((double)(a) - (double)(b)) < 1e-9 * \
                               (1 + fabs((double)(b))), \
                               "%s = %.17g, wanted %.17g", #a, \
                               (double)(a), (double)(b))

START_TEST(fig3_storage_and_cycles)
{
	spz_model *m = quantized_model(16, 8, fig3, FIG3_NNZ);
	spz_eie *e = pack(m, 4, 4);
	/* PE0 as the paper draws it. */
	static const uint32_t ptr0[9] = {0, 3, 4, 6, 6, 8, 10, 11, 13};
	ck_assert_uint_eq(e->layers[0].pe[0].n_entries, 13);
	for (int j = 0; j < 9; j++)
		ck_assert_uint_eq(e->layers[0].pe[0].ptr[j], ptr0[j]);
	spz_report_options o = SPZ_REPORT_OPTIONS_INIT;
	spz_report *r = report(e, &o);
	const spz_report_layer *l = &r->layers[0];
	ck_assert_uint_eq(r->n_layers, 1);
	ck_assert_str_eq(l->name, "fc");
	ck_assert_uint_eq(l->nonzeros, 25);
	ck_assert_uint_eq(l->padding, 0);
	/* Entries per PE: 13, 6, 6, 0. Work = sum over columns of
	 * max(1, n): PE0 3+1+2+1+2+2+1+2, PE1 1+1+1+2+1+1+1+1, PE2
	 * 1+4+1+1+1+1+1+1, PE3 eight empty columns. */
	static const uint64_t entries[4] = {13, 6, 6, 0}, work[4] = {14, 9, 11, 8};
	for (int k = 0; k < 4; k++) {
		ck_assert_uint_eq(l->pe_entries[k], entries[k]);
		ck_assert_uint_eq(l->pe_padding[k], 0);
		ck_assert_uint_eq(l->pe_work[k], work[k]);
		ck_assert_uint_eq(spz_eie_pe_work(e, &e->layers[0], (uint32_t)k,
		                                  NULL), work[k]);
	}
	EQ(l->cycles_theoretical, 42.0 / 4);
	EQ(l->cycles_estimate, 14);
	EQ(l->load_balance, 0.75);
	EQ(l->time_us, 14.0 / 800);
	EQ(l->per_second, 800e6 / 14);
	/* Bits: 25 entries x (4 + 4); 4 PEs x 9 pointers x 16; 16 codebook
	 * entries x 16; 16 bias values x 16. */
	ck_assert_int_eq(l->entry_bits, 8);
	ck_assert_int_eq(l->pointer_bits, 16);
	ck_assert_uint_eq(l->bits.entries, 200);
	ck_assert_uint_eq(l->bits.padding, 0);
	ck_assert_uint_eq(l->bits.pointers, 576);
	ck_assert_uint_eq(l->bits.codebook, 256);
	ck_assert_uint_eq(l->bits.bias, 256);
	ck_assert_uint_eq(l->bits.header, 0);
	ck_assert_uint_eq(l->bits.total, 1288);
	ck_assert_uint_eq(l->dense_bits, 32 * (128 + 16));
	EQ(l->compression_ratio, 4608.0 / 1288);
	/* Operations. */
	ck_assert_uint_eq(l->macs_dense, 128);
	ck_assert_uint_eq(l->macs_sparse, 25);
	EQ(l->macs_effective, 25);
	/* SRAM: PE0's 13 one-byte entries, 9 two-byte pointers. */
	ck_assert_uint_eq(l->sram_matrix_bytes, 13);
	ck_assert_uint_eq(l->sram_pointer_bytes, 18);
	ck_assert(l->sram_fits);
	/* The total of one layer is that layer. */
	ck_assert_uint_eq(r->total.bits.total, 1288);
	EQ(r->total.cycles_estimate, 14);
	EQ(r->total.load_balance, 0.75);
	spz_report_free(r);
	/* At activation density 0.5 every activity halves, balance stays. */
	o.act_density = 0.5;
	r = report(e, &o);
	EQ(r->layers[0].cycles_theoretical, 5.25);
	EQ(r->layers[0].cycles_estimate, 7);
	EQ(r->layers[0].load_balance, 0.75);
	EQ(r->layers[0].macs_effective, 12.5);
	EQ(r->total.act_density, 0.5);
	spz_report_free(r);
	/* A small SRAM does not fit. */
	o.sram_matrix_bytes = 12;
	r = report(e, &o);
	ck_assert(!r->layers[0].sram_fits);
	ck_assert(!r->total.sram_fits);
	spz_report_free(r);
	spz_eie_free(e);
	spz_model_free(m);
}
END_TEST

START_TEST(fig3_formats)
{
	spz_model *m = quantized_model(16, 8, fig3, FIG3_NNZ);
	spz_eie *e = pack(m, 4, 4);
	spz_report_options o = SPZ_REPORT_OPTIONS_INIT;
	spz_report *r = report(e, &o);
	const spz_report_formats *f = &r->layers[0].formats;
	/* Textbook words: CSR 2 NNZ + m + 1, CSC 2 NNZ + n + 1, COO 3 NNZ. */
	ck_assert_uint_eq(f->csr_words, 2 * 25 + 16 + 1);
	ck_assert_uint_eq(f->csc_words, 2 * 25 + 8 + 1);
	ck_assert_uint_eq(f->coo_words, 3 * 25);
	ck_assert_uint_eq(f->dense_words, 128);
	/* Bits at 4-bit codes: column index 3 bits (8 columns), row index
	 * 4 bits (16 rows), pointer 5 bits (0..25), codebook 256 bits. */
	ck_assert_uint_eq(f->csr, 25 * (4 + 3) + 17 * 5 + 256);
	ck_assert_uint_eq(f->csc, 25 * (4 + 4) + 9 * 5 + 256);
	ck_assert_uint_eq(f->coo, 25 * (4 + 4 + 3) + 256);
	ck_assert_uint_eq(f->bitmask, 128 + 25 * 4 + 256);
	ck_assert_uint_eq(f->eie, 200 + 576 + 256);
	ck_assert_uint_eq(f->dense, 128 * 32);
	/* Deep Compression: n b / (n log2 k + k b), n 128, k 16, b 32. */
	ck_assert_uint_eq(f->codebook_only, 128 * 4 + 16 * 32);
	EQ(f->codebook_only_rate, 128.0 * 32 / (128 * 4 + 16 * 32));
	/* Row 0 has W0,4 W0,5 W0,6 in one group of 4: the tightest
	 * pattern with M = 4 is 3:4; 16 rows x 2 groups x 3 slots x (4-bit
	 * code + 2-bit position). */
	ck_assert_int_eq(f->nm_n, 3);
	ck_assert_int_eq(f->nm_m, 4);
	ck_assert_uint_eq(f->nm, 16 * 2 * 3 * (4 + 2) + 256);
	ck_assert_str_eq(f->best, "bitmask");
	/* CSR beats dense when NNZ < (m (n - 1) - 1) / 2 = 55.5, and
	 * a coordinate list when 2 NNZ + m + 1 < 3 NNZ (NNZ > 17). */
	ck_assert(f->csr_beats_dense);
	ck_assert(f->csr_beats_coo);
	spz_report_free(r);
	/* With M = 8 every row group must hold at most N: row 0 holds 5. */
	o.nm_m = 8;
	r = report(e, &o);
	ck_assert_int_eq(r->layers[0].formats.nm_n, 5);
	ck_assert_int_eq(r->layers[0].formats.nm_m, 8);
	spz_report_free(r);
	/* M = 3 does not divide 8 columns: no pattern. */
	o.nm_m = 3;
	r = report(e, &o);
	ck_assert_int_eq(r->layers[0].formats.nm_n, 0);
	ck_assert_uint_eq(r->layers[0].formats.nm, 0);
	spz_report_free(r);
	spz_eie_free(e);
	spz_model_free(m);
}
END_TEST

/* The textbook CSR rule against dense storage, checked on its boundary:
 * 2 NNZ + m + 1 < m n  <=>  NNZ < (m (n - 1) - 1) / 2. */
START_TEST(csr_rule_boundary)
{
	/* m = 4, n = 4: (4 * 3 - 1) / 2 = 5.5, so 5 non-zeros win, 6 do
	 * not; against COO, 2 NNZ + 5 < 3 NNZ needs NNZ > 5. */
	static const int at[6][2] = {{0, 0}, {1, 1}, {2, 2}, {3, 3}, {0, 1},
	                             {0, 2}};
	for (size_t n = 5; n <= 6; n++) {
		spz_model *m = quantized_model(4, 4, at, n);
		spz_eie *e = pack(m, 2, 4);
		spz_report_options o = SPZ_REPORT_OPTIONS_INIT;
		spz_report *r = report(e, &o);
		const spz_report_formats *f = &r->layers[0].formats;
		ck_assert_uint_eq(f->csr_words, 2 * n + 5);
		ck_assert_int_eq(f->csr_beats_dense, n == 5);
		ck_assert_int_eq(f->csr_words < f->dense_words, n == 5);
		ck_assert_int_eq(f->csr_beats_coo, n == 6);
		spz_report_free(r);
		spz_eie_free(e);
		spz_model_free(m);
	}
}
END_TEST

START_TEST(padding_counted)
{
	/* The paper's column [0,0,1,2,0 x18,3] on one PE: one padding
	 * entry (z = 15 covers 16 zero rows, then 3 at z = 2). */
	static const int col[3][2] = {{2, 0}, {3, 0}, {22, 0}};
	spz_model *m = quantized_model(23, 1, col, 3);
	spz_eie *e = pack(m, 1, 4);
	spz_report_options o = SPZ_REPORT_OPTIONS_INIT;
	spz_report *r = report(e, &o);
	const spz_report_layer *l = &r->layers[0];
	ck_assert_uint_eq(l->nonzeros, 3);
	ck_assert_uint_eq(l->padding, 1);
	ck_assert_uint_eq(l->pe_padding[0], 1);
	ck_assert_uint_eq(l->pe_entries[0], 4);
	ck_assert_uint_eq(l->bits.padding, 8);
	EQ(l->cycles_estimate, 4);
	spz_report_free(r);
	spz_eie_free(e);
	spz_model_free(m);
	/* 2-bit indices (z <= 3): a 20-row column whose only non-zero is
	 * row 19 needs 19 / 4 = 4 padding entries, then z = 3; a second
	 * column with rows 0 and 9: gap 8 -> 2 padding entries, z = 0. */
	static const int two[3][2] = {{19, 0}, {0, 1}, {9, 1}};
	m = quantized_model(20, 2, two, 3);
	e = pack(m, 1, 2);
	r = report(e, &o);
	l = &r->layers[0];
	ck_assert_uint_eq(l->padding, 6);
	ck_assert_int_eq(l->entry_bits, 6);
	ck_assert_uint_eq(l->bits.entries, 3 * 6);
	ck_assert_uint_eq(l->bits.padding, 6 * 6);
	ck_assert_uint_eq(l->pe_work[0], 5 + 4);
	spz_report_free(r);
	spz_eie_free(e);
	/* On 2 PEs the gaps halve: row 19 is PE1's local row 9 (gap 9 -> 2
	 * paddings); rows 0 and 9 are PE0 local 0 and PE1 local 4 (gap 4 ->
	 * 1 padding). */
	e = pack(m, 2, 2);
	r = report(e, &o);
	ck_assert_uint_eq(r->layers[0].padding, 3);
	ck_assert_uint_eq(r->layers[0].pe_padding[0], 0);
	ck_assert_uint_eq(r->layers[0].pe_padding[1], 3);
	spz_report_free(r);
	spz_eie_free(e);
	spz_model_free(m);
}
END_TEST

START_TEST(energy_by_hand)
{
	spz_model *m = quantized_model(16, 8, fig3, FIG3_NNZ);
	spz_eie *e = pack(m, 4, 4);
	spz_report_options o = SPZ_REPORT_OPTIONS_INIT;
	spz_report *r = report(e, &o);
	const spz_report_energy *en = &r->layers[0].energy;
	/* 25 8-bit entry reads at 5 pJ / 32 bits; 8 columns x 4 PEs x 2
	 * 16-bit pointers; 25 16-bit mults (0.62) and adds (0.05); 16 bias
	 * adds. Dense: 144 values x 640 pJ, 128 x (3.7 + 0.9) + 16 x 0.9. */
	EQ(en->matrix_sram, 25 * 8 * 5.0 / 32);
	EQ(en->pointer_sram, 8 * 4 * 2 * 16 * 5.0 / 32);
	EQ(en->multiply, 25 * 0.62);
	EQ(en->accumulate, 25 * 0.05);
	EQ(en->bias, 16 * 0.05);
	EQ(en->total, 31.25 + 160 + 15.5 + 1.25 + 0.8);
	EQ(en->dense_dram, 144 * 640.0);
	EQ(en->dense_compute, 128 * 4.6 + 16 * 0.9);
	EQ(r->layers[0].energy_ratio, (92160 + 603.2) / 208.8);
	spz_report_free(r);
	/* An overridden table and half the activations. */
	o.energy.sram_read_32 = 10;
	o.act_density = 0.5;
	r = report(e, &o);
	EQ(r->layers[0].energy.matrix_sram, 0.5 * 25 * 8 * 10.0 / 32);
	EQ(r->layers[0].energy.bias, 0.8);
	EQ(r->layers[0].energy.dense_dram, 144 * 640.0);
	spz_report_free(r);
	spz_eie_free(e);
	spz_model_free(m);
}
END_TEST

/* Two layers: totals add up, per-layer densities apply, SRAM per PE adds
 * over resident layers, headers come from the options. */
START_TEST(two_layers_and_totals)
{
	spz_model *m;
	int64_t dims[3] = {8, 6, 4};
	ck_assert_int_eq(spz_gen_mlp(&m, dims, 3, 7, NULL), 0);
	spz_eie_options eo = SPZ_EIE_OPTIONS_INIT;
	eo.pes = 2;
	spz_eie *e;
	spz_error err = {0};
	ck_assert_msg(spz_report_pack(&e, m, &eo, 3, &err) == 0, "%s",
	              err.text);
	/* The what-if: dense weights as 3-bit codes, nothing changed in m. */
	ck_assert_ptr_null(spz_model_tensor(m, "fc1.weight")->codebook);
	ck_assert_int_eq(e->layers[0].code_bits, 3);
	ck_assert_uint_eq(e->layers[0].codebook_size, 8);
	ck_assert_uint_eq(e->layers[0].nonzeros, 48);
	ck_assert_uint_eq(e->layers[1].nonzeros, 24);
	double dens[2] = {1.0, 0.25};
	uint64_t heads[2] = {100, 50};
	spz_report_options o = SPZ_REPORT_OPTIONS_INIT;
	o.layer_act_density = dens;
	o.layer_header_bits = heads;
	o.image_header_bits = 7;
	spz_report *r = report(e, &o);
	const spz_report_layer *a = &r->layers[0], *b = &r->layers[1];
	const spz_report_layer *t = &r->total;
	/* fc1 [6, 8] on 2 PEs: 3 rows each, every column full: 24 entries,
	 * work 24 each; fc2 [4, 6]: 2 rows each, 12 entries. */
	EQ(a->cycles_estimate, 24);
	EQ(b->cycles_estimate, 0.25 * 12);
	EQ(t->cycles_estimate, 27);
	EQ(t->cycles_theoretical, 24 + 3);
	EQ(t->macs_effective, 48 + 6);
	EQ(t->act_density, 54.0 / 72);
	ck_assert_uint_eq(a->bits.header, 100);
	ck_assert_uint_eq(t->bits.header, 157);
	ck_assert_uint_eq(t->bits.total, a->bits.total + b->bits.total + 7);
	ck_assert_uint_eq(t->nonzeros, 72);
	ck_assert_uint_eq(t->macs_dense, 72);
	/* 7-bit entries: fc1 24 x 7 bits = 21 B, fc2 12 x 7 = 10.5 B per PE;
	 * resident together 36 x 7 = 252 bits = 32 B. */
	ck_assert_uint_eq(a->sram_matrix_bytes, 21);
	ck_assert_uint_eq(b->sram_matrix_bytes, 11);
	ck_assert_uint_eq(t->sram_matrix_bytes, 32);
	ck_assert_uint_eq(t->sram_pointer_bytes,
	                  a->sram_pointer_bytes + b->sram_pointer_bytes);
	ck_assert_uint_eq(t->pe_entries[0], 36);
	EQ(t->energy.total, a->energy.total + b->energy.total);
	EQ(t->compression_ratio, (double)t->dense_bits / (double)t->bits.total);
	spz_report_free(r);
	spz_eie_free(e);
	spz_model_free(m);
}
END_TEST

/* Payload bits from the report plus the non-payload bits from formats/
 * add up to the file spz_eie_write produces, for odd widths (byte
 * padding), 32-bit pointers, several layers and names. */
START_TEST(bits_add_up_to_the_file)
{
	static const struct {
		int64_t rows, cols;
		double density;
		uint32_t pes;
		int index_bits, code_bits;
	} cases[] = {
		{16, 8, 0.3, 4, 4, 4},  {37, 53, 0.1, 3, 2, 5},
		{64, 40, 0.05, 7, 3, 3}, {300, 300, 1.0, 1, 4, 4},
		{9, 200, 0.5, 16, 8, 8},
	};
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		spz_model *m;
		ck_assert_int_eq(spz_gen_layer(&m, cases[c].rows, cases[c].cols,
		                               cases[c].density, c + 1, NULL), 0);
		spz_eie_options eo = SPZ_EIE_OPTIONS_INIT;
		eo.pes = cases[c].pes;
		eo.index_bits = cases[c].index_bits;
		spz_eie *e;
		ck_assert_int_eq(spz_report_pack(&e, m, &eo, cases[c].code_bits,
		                                 NULL), 0);
		char *buf;
		size_t n;
		FILE *f = open_memstream(&buf, &n);
		ck_assert_int_eq(spz_eie_write(f, e, NULL), 0);
		fclose(f);
		uint64_t head = spz_eie_layer_header_bits(e, &e->layers[0]);
		spz_report_options o = SPZ_REPORT_OPTIONS_INIT;
		o.layer_header_bits = &head;
		o.image_header_bits = spz_eie_header_bits(e);
		spz_report *r = report(e, &o);
		ck_assert_msg(r->total.bits.total == 8 * (uint64_t)n,
		              "case %zu: %llu bits, file %zu bytes", c,
		              (unsigned long long)r->total.bits.total, n);
		if (c == 3)
			ck_assert_int_eq(r->layers[0].pointer_bits, 32);
		spz_report_free(r);
		free(buf);
		spz_eie_free(e);
		spz_model_free(m);
	}
	/* An MLP: three layers with Relu names and a bias each. */
	spz_model *m;
	int64_t dims[4] = {20, 12, 7, 3};
	ck_assert_int_eq(spz_gen_mlp(&m, dims, 4, 5, NULL), 0);
	spz_eie_options eo = SPZ_EIE_OPTIONS_INIT;
	eo.pes = 5;
	spz_eie *e;
	ck_assert_int_eq(spz_report_pack(&e, m, &eo, 4, NULL), 0);
	char *buf;
	size_t n;
	FILE *f = open_memstream(&buf, &n);
	ck_assert_int_eq(spz_eie_write(f, e, NULL), 0);
	fclose(f);
	uint64_t head[3];
	for (int i = 0; i < 3; i++)
		head[i] = spz_eie_layer_header_bits(e, &e->layers[i]);
	spz_report_options o = SPZ_REPORT_OPTIONS_INIT;
	o.layer_header_bits = head;
	o.image_header_bits = spz_eie_header_bits(e);
	spz_report *r = report(e, &o);
	ck_assert_uint_eq(r->total.bits.total, 8 * (uint64_t)n);
	spz_report_free(r);
	free(buf);
	spz_eie_free(e);
	spz_model_free(m);
}
END_TEST

/* The what-if codebook is the one spz quantize writes: 0 plus the
 * distinct non-zero values when there are fewer than 2^B - 1 of them (it
 * assumed a full 2^B codebook). Same image, byte for byte. */
START_TEST(whatif_codebook_matches_quantize)
{
	float w[32];
	for (int i = 0; i < 32; i++)
		w[i] = i % 4 == 0 ? 0.0f : (float)(i % 3) - 1.5f; /* 3 values */
	for (int bits = 1; bits <= 4; bits++) {
		spz_model *m = tu_gemm_model(4, 8, w);
		spz_eie_options eo = SPZ_EIE_OPTIONS_INIT;
		eo.pes = 2;
		spz_eie *a, *b;
		spz_error err = {0};
		ck_assert_msg(spz_report_pack(&a, m, &eo, bits, &err) == 0, "%s",
		              err.text);
		ck_assert_uint_eq(a->layers[0].codebook_size,
		                  bits == 1 ? 2 : 4);
		spz_quant_options qo = SPZ_QUANT_OPTIONS_INIT;
		qo.bits = bits;
		ck_assert_int_eq(spz_quantize_tensor(NULL, spz_model_tensor(m,
		                 "fc.weight"), &qo, &err), 0);
		ck_assert_int_eq(spz_eie_pack(&b, m, &eo, &err), 0);
		ck_assert_uint_eq(a->layers[0].codebook_size,
		                  b->layers[0].codebook_size);
		spz_report_options o = SPZ_REPORT_OPTIONS_INIT;
		spz_report *ra = report(a, &o), *rb = report(b, &o);
		ck_assert_uint_eq(ra->total.bits.total, rb->total.bits.total);
		spz_report_free(ra);
		spz_report_free(rb);
		spz_eie_free(a);
		spz_eie_free(b);
		spz_model_free(m);
	}
}
END_TEST

/* What spz-report(1) says of widths and N:M, checked on the code: a
 * dimension of 1 costs a 1-bit index (not ceil(log2 1) = 0), and N:M is
 * absent when the input dimension is not a multiple of M. */
START_TEST(index_widths_and_nm_absence)
{
	float w[4] = {1, 2, 3, 4};
	spz_model *m = tu_gemm_model(4, 1, w); /* one column */
	spz_eie_options eo = SPZ_EIE_OPTIONS_INIT;
	eo.pes = 2;
	spz_eie *e;
	ck_assert_int_eq(spz_report_pack(&e, m, &eo, 2, NULL), 0);
	spz_report_options o = SPZ_REPORT_OPTIONS_INIT;
	spz_report *r = report(e, &o);
	const spz_report_formats *f = &r->layers[0].formats;
	/* 4 codes of 2 bits, column index 1 bit, 5 pointers of 3 bits (0..4),
	 * codebook 0 + 3 values of 16 bits. */
	ck_assert_uint_eq(f->csr, 4 * (2 + 1) + 5 * 3 + 4 * 16);
	ck_assert_uint_eq(f->coo, 4 * (2 + 2 + 1) + 4 * 16);
	spz_report_free(r);
	spz_eie_free(e);
	spz_model_free(m);
	/* 2:4 along rows of 8 holds; along rows of 10 it is not reported. */
	float v[20];
	for (int cols = 8; cols <= 10; cols += 2) {
		for (int i = 0; i < 2 * cols; i++)
			v[i] = i % 4 < 2 ? 1.0f + (float)i : 0.0f;
		m = tu_gemm_model(2, cols, v);
		ck_assert_int_eq(spz_report_pack(&e, m, &eo, 4, NULL), 0);
		r = report(e, &o);
		f = &r->layers[0].formats;
		if (cols == 8)
			ck_assert(f->nm_n == 2 && f->nm_m == 4 && f->nm > 0);
		else
			ck_assert(f->nm_n == 0 && f->nm_m == 0 && f->nm == 0);
		spz_report_free(r);
		spz_eie_free(e);
		spz_model_free(m);
	}
}
END_TEST

START_TEST(bad_options)
{
	spz_model *m = quantized_model(16, 8, fig3, FIG3_NNZ);
	spz_eie *e = pack(m, 4, 4);
	spz_report_options o = SPZ_REPORT_OPTIONS_INIT;
	spz_report *r;
	spz_error err = {0};
	o.act_density = 1.5;
	ck_assert_int_eq(spz_report_compute(&r, e, &o, &err), SPZ_EINVAL);
	ck_assert(strstr(err.text, "outside 0..1"));
	o.act_density = 1;
	o.clock_mhz = 0;
	ck_assert_int_eq(spz_report_compute(&r, e, &o, &err), SPZ_EINVAL);
	o.clock_mhz = 800;
	double d = -0.1;
	o.layer_act_density = &d;
	ck_assert_int_eq(spz_report_compute(&r, e, &o, &err), SPZ_EINVAL);
	ck_assert(strstr(err.text, "layer 'fc'"));
	spz_eie *w;
	spz_eie_options eo = SPZ_EIE_OPTIONS_INIT;
	ck_assert_int_eq(spz_report_pack(&w, m, &eo, 9, &err), SPZ_EINVAL);
	spz_report_free(NULL);
	spz_eie_free(e);
	spz_model_free(m);
}
END_TEST

START_TEST(density_grid_and_histograms)
{
	spz_model *m = quantized_model(16, 8, fig3, FIG3_NNZ);
	spz_eie *e = pack(m, 4, 4);
	float *g;
	uint32_t w, h, block;
	ck_assert_int_eq(spz_report_density_grid(&g, &w, &h, &block, e,
	                                         &e->layers[0], 4, NULL), 0);
	ck_assert_uint_eq(block, 4);
	ck_assert_uint_eq(w, 2);
	ck_assert_uint_eq(h, 4);
	/* Non-zeros per 4x4 block, counted from the list above. */
	static const int count[8] = {4, 5, 3, 1, 3, 1, 4, 4};
	for (int c = 0; c < 8; c++)
		EQ(g[c], count[c] / 16.0);
	free(g);
	/* Quantized: one bar per used code, the 15 centroids as marks. */
	spz_histogram *hi;
	ck_assert_int_eq(spz_histogram_of_layer(&hi, e, &e->layers[0], 15,
	                                        NULL), 0);
	ck_assert_uint_eq(hi->count, 25);
	ck_assert_uint_eq(hi->zeros, 128 - 25);
	ck_assert_uint_eq(hi->n_marks, 15);
	EQ(hi->marks[0], 1.0 / 8);
	EQ(hi->marks[14], 15.0 / 8);
	EQ(hi->lo, 1.0 / 8);
	EQ(hi->hi, 15.0 / 8);
	/* Codes k % 15 + 1 for k = 0..24: codes 1..10 twice, 11..15 once;
	 * 15 bins over [1/8, 15/8] put code c in bin c - 1 (the last value
	 * in the last bin). */
	for (int b = 0; b < 15; b++)
		ck_assert_uint_eq(hi->bins[b], b < 10 ? 2 : 1);
	spz_histogram *ht;
	ck_assert_int_eq(spz_histogram_of_tensor(
		&ht, spz_model_tensor(m, "fc.weight"), 15, NULL), 0);
	for (int b = 0; b < 15; b++)
		ck_assert_uint_eq(ht->bins[b], hi->bins[b]);
	ck_assert_uint_eq(ht->n_marks, 15);
	spz_histogram_free(hi);
	spz_histogram_free(ht);
	spz_eie_free(e);
	spz_model_free(m);
	/* Dense values: range from the non-zeros, zeros not binned. */
	float v[6] = {-1, 0, 0.5, 1, 0, 0.25};
	m = tu_gemm_model(2, 3, v);
	ck_assert_int_eq(spz_histogram_of_tensor(
		&ht, spz_model_tensor(m, "fc.weight"), 4, NULL), 0);
	EQ(ht->lo, -1);
	EQ(ht->hi, 1);
	ck_assert_uint_eq(ht->zeros, 2);
	ck_assert_uint_eq(ht->n_marks, 0);
	/* Bins [-1,-.5) [-.5,0) [0,.5) [.5,1]: -1 | - | .25 | .5, 1. */
	ck_assert_uint_eq(ht->bins[0], 1);
	ck_assert_uint_eq(ht->bins[1], 0);
	ck_assert_uint_eq(ht->bins[2], 1);
	ck_assert_uint_eq(ht->bins[3], 2);
	spz_histogram_free(ht);
	spz_histogram_free(NULL);
	spz_model_free(m);
	/* Edge cells: 5x3 at 2 cells a side -> blocks of 3; the second row
	 * of cells covers 2 x 3 weights. */
	static const int edge[2][2] = {{4, 0}, {3, 2}};
	m = quantized_model(5, 3, edge, 2);
	e = pack(m, 2, 4);
	ck_assert_int_eq(spz_report_density_grid(&g, &w, &h, &block, e,
	                                         &e->layers[0], 2, NULL), 0);
	ck_assert_uint_eq(block, 3);
	ck_assert_uint_eq(w, 1);
	ck_assert_uint_eq(h, 2);
	EQ(g[0], 0);
	ck_assert(fabs(g[1] - 2.0 / 6) < 1e-6);
	free(g);
	spz_eie_free(e);
	spz_model_free(m);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Rasterizer and PNG                                                  */

static const uint8_t *px(const spz_rgb *img, uint32_t x, uint32_t y)
{
	ck_assert_uint_lt(x, img->width);
	ck_assert_uint_lt(y, img->height);
	return img->pixels + ((size_t)y * img->width + x) * 3;
}

static int is(const uint8_t *p, int r, int g, int b)
{
	return p[0] == r && p[1] == g && p[2] == b;
}

START_TEST(text_glyphs)
{
	spz_rgb img = {13, 7, calloc(13 * 7, 3), 0, 0, 0, 0};
	static const uint8_t white[3] = {255, 255, 255};
	spz_rgb_text(&img, 0, 0, "i1", white, 1);
	/* 'I' (lower case drawn as upper case): .###. then ..#.. */
	ck_assert(is(px(&img, 0, 0), 0, 0, 0));
	ck_assert(is(px(&img, 1, 0), 255, 255, 255));
	ck_assert(is(px(&img, 3, 0), 255, 255, 255));
	ck_assert(is(px(&img, 4, 0), 0, 0, 0));
	ck_assert(is(px(&img, 2, 3), 255, 255, 255));
	ck_assert(is(px(&img, 1, 3), 0, 0, 0));
	/* '1' starts 6 pixels on: ..#.. then .##.. */
	ck_assert(is(px(&img, 8, 0), 255, 255, 255));
	ck_assert(is(px(&img, 7, 1), 255, 255, 255));
	ck_assert(is(px(&img, 7, 0), 0, 0, 0));
	/* The spacing column stays empty; drawing off the edge clips. */
	for (uint32_t y = 0; y < 7; y++)
		ck_assert(is(px(&img, 5, y), 0, 0, 0));
	spz_rgb_text(&img, 10, 5, "W", white, 2);
	free(img.pixels);
}
END_TEST

START_TEST(heatmap_pixels)
{
	float grid[4] = {0.5, 0, 0, 0.25};
	spz_rgb *img;
	ck_assert_int_eq(spz_figure_heatmap(&img, grid, 2, 2, 1, 2, 2,
	                                    "tiny", NULL), 0);
	/* Zoom 256: each cell is 256 x 256 pixels; the densest cell (0.5)
	 * takes the end of the ramp. */
	ck_assert_uint_eq(img->plot_w, 512);
	ck_assert_uint_eq(img->plot_h, 512);
	uint8_t full[3], half[3];
	spz_figure_ramp(full, 1);
	spz_figure_ramp(half, 0.5);
	ck_assert(is(full, 8, 48, 107));
	uint32_t x = img->plot_x, y = img->plot_y;
	ck_assert(is(px(img, x + 10, y + 10), full[0], full[1], full[2]));
	ck_assert(is(px(img, x + 255, y + 255), full[0], full[1], full[2]));
	ck_assert(is(px(img, x + 256, y + 10), 255, 255, 255));
	ck_assert(is(px(img, x + 10, y + 300), 255, 255, 255));
	ck_assert(is(px(img, x + 300, y + 300), half[0], half[1], half[2]));
	/* The frame sits one pixel outside the plot. */
	ck_assert(is(px(img, x - 1, y + 5), 0, 0, 0));
	ck_assert(is(px(img, x + 512, y + 5), 0, 0, 0));
	/* The title is drawn (black pixels in the top band). */
	int dark = 0;
	for (uint32_t i = 0; i < img->width; i++)
		for (uint32_t j = 10; j < 24; j++)
			dark += is(px(img, i, j), 0, 0, 0);
	ck_assert_int_gt(dark, 20);
	spz_rgb_free(img);
	spz_rgb_free(NULL);
}
END_TEST

START_TEST(pe_bars_and_histogram_pixels)
{
	uint64_t entries[2] = {4, 2}, padding[2] = {1, 0};
	spz_rgb *img;
	ck_assert_int_eq(spz_figure_pe_bars(&img, entries, padding, 2, "pes",
	                                    NULL), 0);
	/* 2 bars of 300 px; PE0 full height with its top quarter padding,
	 * PE1 half height; the mean (3) is dashed at 3/4 of the height. */
	uint32_t x = img->plot_x, y = img->plot_y;
	ck_assert_uint_eq(img->plot_w, 600);
	ck_assert_uint_eq(img->plot_h, 300);
	ck_assert(is(px(img, x + 10, y + 10), 236, 140, 40));
	ck_assert(is(px(img, x + 10, y + 74), 236, 140, 40));
	ck_assert(is(px(img, x + 10, y + 76), 46, 94, 170));
	ck_assert(is(px(img, x + 10, y + 299), 46, 94, 170));
	ck_assert(is(px(img, x + 310, y + 100), 255, 255, 255));
	ck_assert(is(px(img, x + 310, y + 200), 46, 94, 170));
	ck_assert(is(px(img, x + 1, y + 75), 110, 110, 110));
	spz_rgb_free(img);
	spz_histogram h = {0};
	uint64_t bins[4] = {2, 0, 1, 4};
	double marks[1] = {0.5};
	h.n_bins = 4;
	h.lo = 0;
	h.hi = 1;
	h.bins = bins;
	h.count = 7;
	h.n_marks = 1;
	h.marks = marks;
	ck_assert_int_eq(spz_figure_histogram(&img, &h, "hist", NULL), 0);
	/* 4 bins of 150 px; bin 3 full height, bin 0 half; the centroid
	 * at 0.5 is a red line at x = 0.5 x 599. */
	x = img->plot_x;
	y = img->plot_y;
	ck_assert(is(px(img, x + 460, y + 5), 46, 94, 170));
	ck_assert(is(px(img, x + 10, y + 100), 255, 255, 255));
	ck_assert(is(px(img, x + 10, y + 200), 46, 94, 170));
	ck_assert(is(px(img, x + 160, y + 290), 255, 255, 255));
	ck_assert(is(px(img, x + 300, y + 100), 214, 39, 40));
	spz_rgb_free(img);
	spz_error err = {0};
	ck_assert_int_eq(spz_figure_pe_bars(&img, entries, padding, 0, "x",
	                                    &err), SPZ_EINVAL);
}
END_TEST

static uint32_t rd32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* Walks the chunks of a PNG: checks every CRC, IHDR, the order, and
 * inflates the IDAT data into *raw (malloc'd). */
static void decode_png(const unsigned char *png, size_t n, uint32_t *w,
                       uint32_t *h, unsigned char **raw, size_t *raw_n)
{
	ck_assert_uint_ge(n, 8);
	ck_assert(!memcmp(png, "\x89PNG\r\n\x1a\n", 8));
	size_t at = 8, idat_n = 0;
	unsigned char *idat = malloc(n);
	int chunks = 0, ended = 0;
	while (at < n) {
		ck_assert(!ended);
		ck_assert_uint_le(at + 12, n);
		uint32_t len = rd32(png + at);
		ck_assert_uint_le(at + 12 + len, n);
		const unsigned char *type = png + at + 4, *data = type + 4;
		uint32_t crc = (uint32_t)crc32(0, type, len + 4);
		ck_assert_uint_eq(crc, rd32(data + len));
		if (chunks++ == 0) {
			ck_assert(!memcmp(type, "IHDR", 4));
			ck_assert_uint_eq(len, 13);
			*w = rd32(data);
			*h = rd32(data + 4);
			ck_assert_int_eq(data[8], 8);
			ck_assert_int_eq(data[9], 2);
			ck_assert_int_eq(data[10], 0);
			ck_assert_int_eq(data[11], 0);
			ck_assert_int_eq(data[12], 0);
		} else if (!memcmp(type, "IDAT", 4)) {
			memcpy(idat + idat_n, data, len);
			idat_n += len;
		} else {
			ck_assert(!memcmp(type, "IEND", 4));
			ck_assert_uint_eq(len, 0);
			ended = 1;
		}
		at += 12 + len;
	}
	ck_assert(ended);
	uLongf want = (uLongf)(*h) * ((uLongf)(*w) * 3 + 1);
	*raw = malloc(want + 1);
	uLongf got = want + 1;
	ck_assert_int_eq(uncompress(*raw, &got, idat, idat_n), Z_OK);
	ck_assert_uint_eq(got, want);
	*raw_n = got;
	free(idat);
}

START_TEST(png_known_pixels)
{
	/* 3 x 2: red green blue / white black grey. */
	static const uint8_t rgb[18] = {255, 0, 0, 0, 255, 0, 0, 0, 255,
	                                255, 255, 255, 0, 0, 0, 128, 128, 128};
	unsigned char *png, *raw;
	size_t n, raw_n;
	uint32_t w, h;
	ck_assert_int_eq(spz_png_encode(&png, &n, rgb, 3, 2, NULL), 0);
	decode_png(png, n, &w, &h, &raw, &raw_n);
	ck_assert_uint_eq(w, 3);
	ck_assert_uint_eq(h, 2);
	ck_assert_uint_eq(raw_n, 2 * (1 + 9));
	for (int y = 0; y < 2; y++) {
		ck_assert_int_eq(raw[y * 10], 0); /* filter: none */
		ck_assert(!memcmp(raw + y * 10 + 1, rgb + y * 9, 9));
	}
	free(raw);
	free(png);
	spz_error err = {0};
	ck_assert_int_eq(spz_png_encode(&png, &n, rgb, 0, 2, &err),
	                 SPZ_EINVAL);
	/* A written figure reads back to its pixels. */
	char dir[256], path[300];
	tu_tmpdir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/h.png", dir);
	float grid[2] = {1, 0.25};
	spz_rgb *img;
	ck_assert_int_eq(spz_figure_heatmap(&img, grid, 2, 1, 1, 1, 2, "x",
	                                    NULL), 0);
	ck_assert_int_eq(spz_png_write(path, img->pixels, img->width,
	                               img->height, NULL), 0);
	unsigned char *file = (unsigned char *)tu_read_file(path, &n);
	ck_assert_ptr_nonnull(file);
	decode_png(file, n, &w, &h, &raw, &raw_n);
	ck_assert_uint_eq(w, img->width);
	ck_assert_uint_eq(h, img->height);
	for (uint32_t y = 0; y < h; y++)
		ck_assert(!memcmp(raw + y * (w * 3 + 1) + 1,
		                  img->pixels + (size_t)y * w * 3, w * 3));
	free(raw);
	free(file);
	spz_rgb_free(img);
	/* An unwritable path leaves nothing behind. */
	snprintf(path, sizeof path, "%s/no/such/dir.png", dir);
	ck_assert_int_eq(spz_png_write(path, rgb, 3, 2, &err), SPZ_EIO);
	snprintf(path, sizeof path, "%s/h.png", dir);
	remove(path);
	remove(dir);
}
END_TEST

Suite *report_suite(void)
{
	Suite *s = suite_create("report");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, fig3_storage_and_cycles);
	tcase_add_test(tc, fig3_formats);
	tcase_add_test(tc, csr_rule_boundary);
	tcase_add_test(tc, padding_counted);
	tcase_add_test(tc, energy_by_hand);
	tcase_add_test(tc, two_layers_and_totals);
	tcase_add_test(tc, bits_add_up_to_the_file);
	tcase_add_test(tc, whatif_codebook_matches_quantize);
	tcase_add_test(tc, index_widths_and_nm_absence);
	tcase_add_test(tc, bad_options);
	tcase_add_test(tc, density_grid_and_histograms);
	tcase_add_test(tc, text_glyphs);
	tcase_add_test(tc, heatmap_pixels);
	tcase_add_test(tc, pe_bars_and_histogram_pixels);
	tcase_add_test(tc, png_known_pixels);
	suite_add_tcase(s, tc);
	return s;
}
