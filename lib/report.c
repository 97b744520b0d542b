/*
 * report.c - the cost model behind `spz report`: storage by part and in
 * other formats, operations, analytical cycles and load balance, SRAM fit
 * and energy of an EIE image, plus the data its figures are drawn from.
 *
 * Everything is computed from the image alone (the zero pattern, the
 * widths and the PE split), so a model is reported through the image it
 * would pack to (spz_report_pack). Activity figures are expected values
 * at the given input density: a column costs work only when its input
 * activation is non-zero.
 */
#include "spz.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Fewest bits that hold every value 0..v (at least 1). */
static int bits_for(uint64_t v)
{
	int b = 1;
	while (b < 64 && (v >> b))
		b++;
	return b;
}

void spz_eie_visit(const spz_eie *e, const spz_eie_layer *l,
                   spz_eie_visit_fn fn, void *ctx)
{
	for (uint32_t k = 0; k < e->pes; k++) {
		const spz_eie_pe *pe = &l->pe[k];
		for (int64_t j = 0; j < l->cols; j++) {
			int64_t r = -1;
			for (uint32_t p = pe->ptr[j]; p < pe->ptr[j + 1]; p++) {
				r += 1 + pe->index[p];
				if (pe->code[p])
					fn(ctx, r * e->pes + k, j, pe->code[p]);
			}
		}
	}
}

/* The widest pointer value of a layer decides its pointer width: 16 bits
 * as in EIE when every PE's entry count fits, else 32. */
static int pointer_bits(const spz_eie *e, const spz_eie_layer *l)
{
	for (uint32_t k = 0; k < e->pes; k++)
		if (l->pe[k].n_entries > UINT16_MAX)
			return 32;
	return 16;
}

/* N:M check: counts of non-zeros per (row, group of m columns), row
 * major: a PE's rows then take rows x cols / m bytes / PEs, which stay in
 * cache while the visit walks that PE's columns. */
struct nm_ctx {
	uint8_t *count;
	int64_t groups;
	int m;
	int max;
};

static void nm_visit(void *ctx, int64_t row, int64_t col, uint8_t code)
{
	struct nm_ctx *c = ctx;
	(void)code;
	uint8_t *n = &c->count[row * c->groups + col / c->m];
	if (++*n > c->max)
		c->max = *n;
}

/* Tightest N (< m) that every group of m weights along a row obeys, 0
 * when none does or the row length is not a multiple of m. */
static int nm_pattern(const spz_eie *e, const spz_eie_layer *l, int m,
                      int *nomem)
{
	if (l->cols % m)
		return 0;
	struct nm_ctx c = {NULL, l->cols / m, m, 0};
	size_t n = (size_t)l->rows * (size_t)(l->cols / m);
	c.count = calloc(n ? n : 1, 1);
	if (!c.count) {
		*nomem = 1;
		return 0;
	}
	spz_eie_visit(e, l, nm_visit, &c);
	free(c.count);
	return c.max < m ? (c.max ? c.max : 1) : 0;
}

/* Picks the smallest of the formats (ties: the first listed). */
static void pick_best(spz_report_formats *f)
{
	const struct {
		const char *name;
		uint64_t bits;
	} all[] = {
		{"eie", f->eie}, {"csr", f->csr}, {"csc", f->csc},
		{"coo", f->coo}, {"bitmask", f->bitmask}, {"nm", f->nm},
		{"codebook-only", f->codebook_only}, {"dense", f->dense},
	};
	size_t best = 0;
	for (size_t i = 1; i < sizeof all / sizeof all[0]; i++)
		if (all[i].bits < all[best].bits &&
		    (f->nm_n || strcmp(all[i].name, "nm")))
			best = i;
	f->best = all[best].name;
}

static void layer_formats(spz_report_formats *f, const spz_report_layer *r,
                          uint64_t codebook_bits)
{
	uint64_t nnz = r->nonzeros, rows = (uint64_t)r->rows;
	uint64_t cols = (uint64_t)r->cols, n = rows * cols;
	uint64_t vb = (uint64_t)r->code_bits, ptr = (uint64_t)bits_for(nnz);
	uint64_t row_idx = (uint64_t)bits_for(rows ? rows - 1 : 0);
	uint64_t col_idx = (uint64_t)bits_for(cols ? cols - 1 : 0);
	f->eie = r->bits.entries + r->bits.padding + r->bits.pointers +
	         r->bits.codebook;
	f->csr = nnz * (vb + col_idx) + (rows + 1) * ptr + codebook_bits;
	f->csc = nnz * (vb + row_idx) + (cols + 1) * ptr + codebook_bits;
	f->coo = nnz * (vb + row_idx + col_idx) + codebook_bits;
	f->bitmask = n + nnz * vb + codebook_bits;
	if (f->nm_n)
		f->nm = rows * (cols / (uint64_t)f->nm_m) * (uint64_t)f->nm_n *
		        (vb + (uint64_t)bits_for((uint64_t)f->nm_m - 1)) +
		        codebook_bits;
	/* Deep Compression's rate counts the codebook at the original 32
	 * bits and log2 k bits per weight, k the codebook size. */
	f->codebook_only = n * vb + (uint64_t)r->codebook_size * 32;
	f->codebook_only_rate = f->codebook_only
		? (double)(n * 32) / (double)f->codebook_only : 0;
	f->dense = n * 32;
	f->csr_words = 2 * nnz + rows + 1;
	f->csc_words = 2 * nnz + cols + 1;
	f->coo_words = 3 * nnz;
	f->dense_words = n;
	f->csr_beats_dense = 2.0 * (double)nnz <
	                     (double)rows * ((double)cols - 1) - 1;
	f->csr_beats_coo = f->csr_words < f->coo_words;
	pick_best(f);
}

/* Energy of one inference at input density d (see spz_report_energy). */
static void layer_energy(spz_report_energy *en, const spz_report_layer *r,
                         const spz_energy_table *t, uint32_t pes, double d)
{
	double entries = (double)(r->nonzeros + r->padding);
	double real = (double)r->nonzeros, n = (double)r->macs_dense;
	double bias_rows = r->has_bias ? (double)r->rows : 0;
	en->matrix_sram = spz_energy_sram(t, d * entries * r->entry_bits);
	en->pointer_sram = spz_energy_sram(t, d * (double)r->cols * pes * 2 *
	                                          r->pointer_bits);
	en->multiply = d * real * spz_energy_mult(t, 16);
	en->accumulate = d * real * spz_energy_add(t, 16);
	en->bias = bias_rows * spz_energy_add(t, 16);
	en->total = en->matrix_sram + en->pointer_sram + en->multiply +
	            en->accumulate + en->bias;
	en->dense_dram = spz_energy_dram(t, 32.0 * (n + bias_rows));
	en->dense_compute = n * (t->float_mult_32 + t->float_add_32) +
	                    bias_rows * t->float_add_32;
	en->dense_total = en->dense_dram + en->dense_compute;
}

static void energy_add(spz_report_energy *a, const spz_report_energy *b)
{
	a->matrix_sram += b->matrix_sram;
	a->pointer_sram += b->pointer_sram;
	a->multiply += b->multiply;
	a->accumulate += b->accumulate;
	a->bias += b->bias;
	a->total += b->total;
	a->dense_dram += b->dense_dram;
	a->dense_compute += b->dense_compute;
	a->dense_total += b->dense_total;
}

static double ratio(double a, double b)
{
	return b > 0 ? a / b : 0;
}

/* Time, rate and balance from the cycle figures. */
static void timing(spz_report_layer *r, double clock_mhz)
{
	r->load_balance = r->cycles_estimate > 0
		? r->cycles_theoretical / r->cycles_estimate : 1;
	r->time_us = r->cycles_estimate / clock_mhz;
	r->per_second = r->time_us > 0 ? 1e6 / r->time_us : 0;
}

static int layer_report(spz_report_layer *r, const spz_eie *e,
                        const spz_eie_layer *l, const spz_report_options *o,
                        size_t li, spz_error *err)
{
	uint32_t pes = e->pes;
	double d = o->layer_act_density ? o->layer_act_density[li]
	                                : o->act_density;
	if (!(d >= 0 && d <= 1))
		return spz_fail(err, SPZ_EINVAL, "layer '%s': activation "
		                "density %g is outside 0..1", l->node, d);
	r->name = l->node;
	r->rows = l->rows;
	r->cols = l->cols;
	r->code_bits = l->code_bits;
	r->index_bits = e->index_bits;
	r->entry_bits = l->code_bits + e->index_bits;
	r->pointer_bits = pointer_bits(e, l);
	r->codebook_size = l->codebook_size;
	r->has_bias = l->bias != NULL;
	r->nonzeros = l->nonzeros;
	r->padding = l->padding;
	r->pe_entries = calloc(pes, sizeof *r->pe_entries);
	r->pe_padding = calloc(pes, sizeof *r->pe_padding);
	r->pe_work = calloc(pes, sizeof *r->pe_work);
	if (!r->pe_entries || !r->pe_padding || !r->pe_work)
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	uint64_t work = 0, max_work = 0, max_entries = 0;
	for (uint32_t k = 0; k < pes; k++) {
		const spz_eie_pe *pe = &l->pe[k];
		uint64_t pad = 0;
		r->pe_entries[k] = pe->n_entries;
		for (uint64_t p = 0; p < pe->n_entries; p++)
			pad += pe->code[p] == 0;
		r->pe_padding[k] = pad;
		r->pe_work[k] = spz_eie_pe_work(e, l, k, NULL);
		work += r->pe_work[k];
		if (r->pe_work[k] > max_work)
			max_work = r->pe_work[k];
		if (pe->n_entries > max_entries)
			max_entries = pe->n_entries;
	}
	uint64_t eb = (uint64_t)r->entry_bits, rows = (uint64_t)l->rows;
	uint64_t cols = (uint64_t)l->cols;
	r->bits.entries = l->nonzeros * eb;
	r->bits.padding = l->padding * eb;
	r->bits.pointers = (uint64_t)pes * (cols + 1) * (uint64_t)r->pointer_bits;
	r->bits.codebook = (uint64_t)l->codebook_size * 16;
	r->bits.bias = r->has_bias ? rows * 16 : 0;
	r->bits.header = o->layer_header_bits ? o->layer_header_bits[li] : 0;
	r->bits.total = r->bits.entries + r->bits.padding + r->bits.pointers +
	                r->bits.codebook + r->bits.bias + r->bits.header;
	r->dense_bits = 32 * (rows * cols + (r->has_bias ? rows : 0));
	r->compression_ratio = ratio((double)r->dense_bits,
	                             (double)r->bits.total);
	int nomem = 0;
	r->formats.nm_m = o->nm_m;
	r->formats.nm_n = nm_pattern(e, l, o->nm_m, &nomem);
	if (nomem)
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	if (!r->formats.nm_n)
		r->formats.nm_m = 0;
	layer_formats(&r->formats, r, r->bits.codebook);
	/* A Huffman image: the entries as coded on file (the formats above
	 * stay at fixed width, as they compare layouts). */
	if (o->layer_entry_bits) {
		r->bits.entries = o->layer_entry_bits[li];
		r->bits.padding = o->layer_padding_bits[li];
		r->bits.total = r->bits.entries + r->bits.padding +
		                r->bits.pointers + r->bits.codebook +
		                r->bits.bias + r->bits.header;
		r->compression_ratio = ratio((double)r->dense_bits,
		                             (double)r->bits.total);
	}
	r->act_density = d;
	r->macs_dense = rows * cols;
	r->macs_sparse = l->nonzeros;
	r->macs_effective = d * (double)l->nonzeros;
	r->cycles_theoretical = d * (double)work / pes;
	r->cycles_estimate = d * (double)max_work;
	timing(r, o->clock_mhz);
	r->sram_matrix_bytes = (max_entries * eb + 7) / 8;
	r->sram_pointer_bytes = ((cols + 1) * (uint64_t)r->pointer_bits + 7) / 8;
	r->sram_fits = r->sram_matrix_bytes <= o->sram_matrix_bytes &&
	               r->sram_pointer_bytes <= o->sram_pointer_bytes;
	layer_energy(&r->energy, r, &o->energy, pes, d);
	r->energy_ratio = ratio(r->energy.dense_total, r->energy.total);
	return 0;
}

/* The total: sums, with ratios recomputed from the sums. All layers are
 * resident at once, so the SRAM needed per PE adds up over layers. */
static int total_report(spz_report *rep, const spz_report_options *o,
                        spz_error *err)
{
	spz_report_layer *t = &rep->total;
	uint32_t pes = rep->pes;
	t->name = "total";
	t->index_bits = rep->index_bits;
	t->pe_entries = calloc(pes, sizeof *t->pe_entries);
	t->pe_padding = calloc(pes, sizeof *t->pe_padding);
	t->pe_work = calloc(pes, sizeof *t->pe_work);
	uint64_t *pe_bits = calloc(pes, sizeof *pe_bits);
	if (!t->pe_entries || !t->pe_padding || !t->pe_work || !pe_bits) {
		free(pe_bits);
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	}
	spz_report_formats *f = &t->formats;
	int nm_all = 1;
	for (size_t i = 0; i < rep->n_layers; i++) {
		const spz_report_layer *r = &rep->layers[i];
		t->nonzeros += r->nonzeros;
		t->padding += r->padding;
		t->bits.entries += r->bits.entries;
		t->bits.padding += r->bits.padding;
		t->bits.pointers += r->bits.pointers;
		t->bits.codebook += r->bits.codebook;
		t->bits.bias += r->bits.bias;
		t->bits.header += r->bits.header;
		t->dense_bits += r->dense_bits;
		f->eie += r->formats.eie;
		f->csr += r->formats.csr;
		f->csc += r->formats.csc;
		f->coo += r->formats.coo;
		f->bitmask += r->formats.bitmask;
		f->nm += r->formats.nm;
		nm_all = nm_all && r->formats.nm_n;
		f->codebook_only += r->formats.codebook_only;
		f->dense += r->formats.dense;
		f->csr_words += r->formats.csr_words;
		f->csc_words += r->formats.csc_words;
		f->coo_words += r->formats.coo_words;
		f->dense_words += r->formats.dense_words;
		t->macs_dense += r->macs_dense;
		t->macs_sparse += r->macs_sparse;
		t->macs_effective += r->macs_effective;
		t->cycles_theoretical += r->cycles_theoretical;
		t->cycles_estimate += r->cycles_estimate;
		t->sram_pointer_bytes += r->sram_pointer_bytes;
		energy_add(&t->energy, &r->energy);
		for (uint32_t k = 0; k < pes; k++) {
			t->pe_entries[k] += r->pe_entries[k];
			t->pe_padding[k] += r->pe_padding[k];
			t->pe_work[k] += r->pe_work[k];
			pe_bits[k] += r->pe_entries[k] * (uint64_t)r->entry_bits;
		}
	}
	uint64_t max_bits = 0;
	for (uint32_t k = 0; k < pes; k++)
		if (pe_bits[k] > max_bits)
			max_bits = pe_bits[k];
	free(pe_bits);
	t->sram_matrix_bytes = (max_bits + 7) / 8;
	t->sram_fits = t->sram_matrix_bytes <= o->sram_matrix_bytes &&
	               t->sram_pointer_bytes <= o->sram_pointer_bytes;
	t->bits.header += o->image_header_bits;
	t->bits.total = t->bits.entries + t->bits.padding + t->bits.pointers +
	                t->bits.codebook + t->bits.bias + t->bits.header;
	t->compression_ratio = ratio((double)t->dense_bits,
	                             (double)t->bits.total);
	if (!nm_all) {
		f->nm = 0;
		f->nm_n = f->nm_m = 0;
	} else {
		/* Mixed patterns: the total only says that every layer has one. */
		f->nm_n = rep->layers[0].formats.nm_n;
		f->nm_m = rep->layers[0].formats.nm_m;
	}
	f->codebook_only_rate = ratio((double)f->dense,
	                              (double)f->codebook_only);
	f->csr_beats_dense = f->csr_words < f->dense_words;
	f->csr_beats_coo = f->csr_words < f->coo_words;
	pick_best(f);
	t->act_density = t->macs_sparse
		? t->macs_effective / (double)t->macs_sparse : o->act_density;
	timing(t, o->clock_mhz);
	t->energy_ratio = ratio(t->energy.dense_total, t->energy.total);
	return 0;
}

static void free_layer(spz_report_layer *r)
{
	free(r->pe_entries);
	free(r->pe_padding);
	free(r->pe_work);
}

void spz_report_free(spz_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_layers; i++)
		free_layer(&r->layers[i]);
	free_layer(&r->total);
	free(r->layers);
	free(r);
}

int spz_report_compute(spz_report **out, const spz_eie *e,
                       const spz_report_options *o, spz_error *err)
{
	if (!(o->act_density >= 0 && o->act_density <= 1))
		return spz_fail(err, SPZ_EINVAL, "activation density %g is "
		                "outside 0..1", o->act_density);
	if (!(o->clock_mhz > 0) || !isfinite(o->clock_mhz))
		return spz_fail(err, SPZ_EINVAL, "clock %g MHz must be above 0",
		                o->clock_mhz);
	if (o->nm_m < 2 || o->nm_m > 16)
		return spz_fail(err, SPZ_EINVAL, "N:M group size %d is outside "
		                "2..16", o->nm_m);
	spz_report *rep = calloc(1, sizeof *rep);
	if (!rep || !(rep->layers = calloc(e->n_layers ? e->n_layers : 1,
	                                   sizeof *rep->layers))) {
		free(rep);
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	}
	rep->pes = e->pes;
	rep->index_bits = e->index_bits;
	rep->clock_mhz = o->clock_mhz;
	rep->sram_matrix_capacity = o->sram_matrix_bytes;
	rep->sram_pointer_capacity = o->sram_pointer_bytes;
	int rc = 0;
	for (size_t i = 0; !rc && i < e->n_layers; i++) {
		rep->n_layers++;
		rc = layer_report(&rep->layers[i], e, &e->layers[i], o, i, err);
	}
	if (!rc)
		rc = total_report(rep, o, err);
	if (rc) {
		spz_report_free(rep);
		return rc;
	}
	*out = rep;
	return 0;
}

/* ------------------------------------------------------------------ */
/* What-if packing of weights that are not quantized                   */

/* The codebook spz quantize would write at `bits` bits: 0 plus
 * min(2^bits - 1, distinct non-zero values) entries, so a weight with few
 * values costs here what it costs once quantized (its codebook is stored
 * with the layer). */
static int whatif_codebook_size(uint32_t *k, const spz_tensor *t, int bits,
                                spz_error *err)
{
	int64_t n = spz_tensor_elements(t), nz = 0;
	for (int64_t i = 0; i < n; i++)
		nz += t->data[i] != 0.0f;
	float *v = malloc((size_t)(nz ? nz : 1) * sizeof *v);
	if (!v)
		return spz_fail(err, SPZ_ENOMEM, "out of memory counting the "
		                "values of '%s'", t->name);
	for (int64_t i = 0, j = 0; i < n; i++)
		if (t->data[i] != 0.0f)
			v[j++] = t->data[i];
	int rc = spz_sort_floats(v, (size_t)nz, err);
	uint32_t d = 0, most = (1u << bits) - 1;
	for (int64_t i = 0; !rc && i < nz && d < most; i++)
		d += !i || v[i] != v[i - 1];
	free(v);
	*k = 1 + d;
	return rc;
}

int spz_report_pack(spz_eie **out, const spz_model *m,
                    const spz_eie_options *o, int bits, spz_error *err)
{
	if (bits < 1 || bits > 8)
		return spz_fail(err, SPZ_EINVAL, "code bits %d are outside 1..8",
		                bits);
	/* A shallow view of m: the tensor array is ours, and so are the
	 * codebooks and codes of the weights we mark; the rest is m's. */
	spz_model view = *m;
	spz_tensor *ts = malloc((m->n_tensors ? m->n_tensors : 1) * sizeof *ts);
	uint8_t *mine = calloc(m->n_tensors ? m->n_tensors : 1, 1);
	int rc = 0;
	if (!ts || !mine)
		rc = spz_fail(err, SPZ_ENOMEM, "out of memory");
	for (size_t i = 0; !rc && i < m->n_tensors; i++) {
		const spz_tensor *t = &m->tensors[i];
		const spz_node *node;
		ts[i] = *t;
		if (t->codebook || !t->data || t->ndims != 2 ||
		    !spz_model_is_weight(m, t, &node) ||
		    (strcmp(node->op, "Gemm") && strcmp(node->op, "MatMul")))
			continue;
		int64_t n = spz_tensor_elements(t);
		uint32_t k;
		if ((rc = whatif_codebook_size(&k, t, bits, err)))
			break;
		float *cb = malloc(k * sizeof *cb);
		uint8_t *codes = malloc((size_t)n + 1);
		if (!cb || !codes) {
			free(cb);
			free(codes);
			rc = spz_fail(err, SPZ_ENOMEM, "out of memory marking "
			              "the non-zeros of '%s'", t->name);
			break;
		}
		for (uint32_t c = 0; c < k; c++)
			cb[c] = (float)c;
		for (int64_t s = 0; s < n; s++)
			codes[s] = t->data[s] != 0.0f;
		ts[i].data = NULL;
		ts[i].bits = bits;
		ts[i].codebook = cb;
		ts[i].codebook_size = k;
		ts[i].codes = codes;
		mine[i] = 1;
	}
	if (!rc) {
		view.tensors = ts;
		rc = spz_eie_pack(out, &view, o, err);
	}
	for (size_t i = 0; ts && mine && i < m->n_tensors; i++)
		if (mine[i]) {
			free(ts[i].codebook);
			free(ts[i].codes);
		}
	free(ts);
	free(mine);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Figure data                                                         */

struct grid_ctx {
	uint32_t *count;
	uint32_t width, block;
};

static void grid_visit(void *ctx, int64_t row, int64_t col, uint8_t code)
{
	struct grid_ctx *g = ctx;
	(void)code;
	g->count[(size_t)(row / g->block) * g->width +
	         (size_t)(col / g->block)]++;
}

int spz_report_density_grid(float **out, uint32_t *width, uint32_t *height,
                            uint32_t *block, const spz_eie *e,
                            const spz_eie_layer *l, uint32_t max_side,
                            spz_error *err)
{
	if (max_side < 1)
		return spz_fail(err, SPZ_EINVAL, "a grid needs at least one "
		                "cell a side");
	int64_t side = l->rows > l->cols ? l->rows : l->cols;
	int64_t b = side > max_side ? (side + max_side - 1) / max_side : 1;
	if (b > UINT32_MAX)
		return spz_fail(err, SPZ_ERANGE, "layer '%s' is too large for a "
		                "density grid", l->node);
	uint32_t w = (uint32_t)((l->cols + b - 1) / b);
	uint32_t h = (uint32_t)((l->rows + b - 1) / b);
	size_t cells = (size_t)w * h;
	struct grid_ctx g = {calloc(cells ? cells : 1, sizeof *g.count), w,
	                     (uint32_t)b};
	float *grid = malloc((cells ? cells : 1) * sizeof *grid);
	if (!g.count || !grid) {
		free(g.count);
		free(grid);
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	}
	spz_eie_visit(e, l, grid_visit, &g);
	for (uint32_t y = 0; y < h; y++)
		for (uint32_t x = 0; x < w; x++) {
			int64_t ch = l->rows - (int64_t)y * b;
			int64_t cw = l->cols - (int64_t)x * b;
			double area = (double)(ch < b ? ch : b) *
			              (double)(cw < b ? cw : b);
			size_t c = (size_t)y * w + x;
			grid[c] = (float)(g.count[c] / area);
		}
	free(g.count);
	*out = grid;
	*width = w;
	*height = h;
	*block = (uint32_t)b;
	return 0;
}

void spz_histogram_free(spz_histogram *h)
{
	if (!h)
		return;
	free(h->bins);
	free(h->marks);
	free(h);
}

/* An empty histogram over [lo, hi] with the marks sorted ascending. */
static int histogram_new(spz_histogram **out, size_t n_bins, double lo,
                         double hi, const double *marks, size_t n_marks,
                         spz_error *err)
{
	if (n_bins < 1)
		return spz_fail(err, SPZ_EINVAL, "a histogram needs a bin");
	spz_histogram *h = calloc(1, sizeof *h);
	if (!h || !(h->bins = calloc(n_bins, sizeof *h->bins)) ||
	    !(h->marks = malloc((n_marks ? n_marks : 1) * sizeof *h->marks))) {
		spz_histogram_free(h);
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	}
	h->n_bins = n_bins;
	h->lo = lo;
	h->hi = hi;
	for (size_t i = 0; i < n_marks; i++) {
		size_t j = h->n_marks++;
		while (j > 0 && h->marks[j - 1] > marks[i]) {
			h->marks[j] = h->marks[j - 1];
			j--;
		}
		h->marks[j] = marks[i];
	}
	*out = h;
	return 0;
}

static void histogram_add(spz_histogram *h, double x, uint64_t count)
{
	size_t n = h->n_bins;
	size_t b = h->hi > h->lo ? (size_t)((x - h->lo) / (h->hi - h->lo) * n)
	                         : 0;
	h->bins[b < n ? b : n - 1] += count;
	h->count += count;
}

/* A histogram of codebook values v[1..k-1] occurring count[c] times;
 * entry 0 is the zero: neither binned nor marked. */
static int histogram_of_codes(spz_histogram **out, const double *v,
                              const uint64_t *count, uint32_t k,
                              uint64_t zeros, size_t n_bins, spz_error *err)
{
	double lo = 0, hi = 0;
	int any = 0;
	for (uint32_t c = 1; c < k; c++) {
		if (!count[c])
			continue;
		lo = !any || v[c] < lo ? v[c] : lo;
		hi = !any || v[c] > hi ? v[c] : hi;
		any = 1;
	}
	int rc = histogram_new(out, n_bins, lo, hi, v + 1, k ? k - 1 : 0, err);
	for (uint32_t c = 1; !rc && c < k; c++)
		if (count[c])
			histogram_add(*out, v[c], count[c]);
	if (!rc)
		(*out)->zeros = zeros;
	return rc;
}

int spz_histogram_of_tensor(spz_histogram **out, const spz_tensor *t,
                            size_t n_bins, spz_error *err)
{
	int64_t n = spz_tensor_elements(t);
	if (t->codebook) {
		double v[256];
		uint64_t count[256] = {0};
		for (int64_t i = 0; i < n; i++)
			count[t->codes[i]]++;
		for (uint32_t c = 0; c < t->codebook_size; c++)
			v[c] = t->codebook[c];
		return histogram_of_codes(out, v, count, t->codebook_size,
		                          count[0], n_bins, err);
	}
	/* Dense values: the range first, then the bins. */
	double lo = 0, hi = 0;
	int any = 0;
	uint64_t zeros = 0;
	for (int64_t i = 0; i < n; i++) {
		double x = t->data[i];
		if (x == 0) {
			zeros++;
			continue;
		}
		lo = !any || x < lo ? x : lo;
		hi = !any || x > hi ? x : hi;
		any = 1;
	}
	int rc = histogram_new(out, n_bins, lo, hi, NULL, 0, err);
	if (rc)
		return rc;
	for (int64_t i = 0; i < n; i++)
		if (t->data[i] != 0)
			histogram_add(*out, t->data[i], 1);
	(*out)->zeros = zeros;
	return 0;
}

int spz_histogram_of_layer(spz_histogram **out, const spz_eie *e,
                           const spz_eie_layer *l, size_t n_bins,
                           spz_error *err)
{
	/* Positions do not matter here: count the codes (0, the padding,
	 * is left out below). */
	uint64_t count[256] = {0};
	double v[256];
	for (uint32_t k = 0; k < e->pes; k++)
		for (uint64_t p = 0; p < l->pe[k].n_entries; p++)
			count[l->pe[k].code[p]]++;
	for (uint32_t i = 0; i < l->codebook_size; i++)
		v[i] = spz_from_fixed(l->codebook[i], l->codebook_frac);
	uint64_t zeros = (uint64_t)l->rows * (uint64_t)l->cols - l->nonzeros;
	return histogram_of_codes(out, v, count, l->codebook_size, zeros,
	                          n_bins, err);
}
