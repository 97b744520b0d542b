/*
 * eie.c - packing a quantized fully connected chain into the EIE storage
 * format (Han et al., ISCA 2016, section III): rows interleaved over PEs,
 * each PE's slice stored column by column as (code, relative row index)
 * entries with padding entries when a run of zeros exceeds the index range.
 *
 * The way back (unpack) and the checks every image must pass (validate)
 * live in eie_unpack.c.
 */
#include "spz.h"

#include <stdlib.h>
#include <string.h>

static char *dupstr(const char *s)
{
	if (!s)
		return NULL;
	size_t n = strlen(s) + 1;
	char *d = malloc(n);
	if (d)
		memcpy(d, s, n);
	return d;
}

static void free_layer(spz_eie_layer *l, uint32_t pes)
{
	free(l->node);
	free(l->op);
	free(l->weight);
	free(l->bias_name);
	free(l->act_node);
	free(l->input);
	free(l->linear_out);
	free(l->output);
	free(l->bias);
	for (uint32_t k = 0; l->pe && k < pes; k++) {
		free(l->pe[k].code);
		free(l->pe[k].index);
		free(l->pe[k].ptr);
	}
	free(l->pe);
}

void spz_eie_free(spz_eie *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->n_layers; i++)
		free_layer(&e->layers[i], e->pes);
	free(e->layers);
	free(e->name);
	free(e);
}

int64_t spz_eie_pe_rows(const spz_eie *e, const spz_eie_layer *l,
                        uint32_t k)
{
	return l->rows > k ? (l->rows - k + e->pes - 1) / e->pes : 0;
}

uint64_t spz_eie_pe_work(const spz_eie *e, const spz_eie_layer *l,
                         uint32_t k, const uint8_t *active)
{
	(void)e;
	const uint32_t *p = l->pe[k].ptr;
	uint64_t work = 0;
	for (int64_t j = 0; j < l->cols; j++) {
		if (active && !active[j])
			continue;
		uint32_t n = p[j + 1] - p[j];
		work += n ? n : 1;
	}
	return work;
}

/* Positions of the set bits of every byte value, for find_nonzeros. */
typedef struct nz_table {
	uint8_t pos[256][8];
	uint8_t count[256];
} nz_table;

static void nz_table_init(nz_table *t)
{
	memset(t, 0, sizeof *t);
	for (unsigned b = 0; b < 256; b++)
		for (unsigned q = 0; q < 8; q++)
			if (b >> q & 1)
				t->pos[b][t->count[b]++] = (uint8_t)q;
}

/*
 * Indices (base + position) of the non-zero bytes of p[0..n) into idx, in
 * order; returns their count. idx needs room for n + 8. Without a branch
 * per byte (at 9% density those mispredict): each 8-byte word gives an
 * 8-bit mask of its non-zero bytes, whose positions come from the table
 * and are stored whole while the count advances by the mask's popcount.
 */
static size_t find_nonzeros(const nz_table *t, const uint8_t *p, size_t n,
                            uint32_t base, uint32_t *idx)
{
	size_t c = 0, i = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	const uint64_t lo7 = UINT64_C(0x7F7F7F7F7F7F7F7F);
	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		/* Bit 0 of each byte set iff the byte is non-zero, then those
		 * 8 bits gathered into the top byte (byte q -> bit q). */
		uint64_t m = ((((w & lo7) + lo7) | w) & ~lo7) >> 7;
		unsigned b = (unsigned)((m * UINT64_C(0x0102040810204080)) >> 56);
		const uint8_t *ps = t->pos[b];
		for (int q = 0; q < 8; q++)
			idx[c + (size_t)q] = base + (uint32_t)i + ps[q];
		c += t->count[b];
	}
#else
	(void)t;
#endif
	for (; i < n; i++)
		if (p[i])
			idx[c++] = base + (uint32_t)i;
	return c;
}

/*
 * Where one (PE, column) cell stands while its entries are laid: the local
 * row of its previous slot (-1 before the first). An entry exists exactly
 * where the code is non-zero (code 0 is the zero weight and the padding
 * code), which keeps pack -> unpack -> pack byte-identical even when a
 * codebook value rounds to 0 in fixed point. A gap of g zero rows needs
 * g >> bits paddings (each padding slot stands for 2^bits rows: 2^bits - 1
 * zeros and itself), then an entry with z = g mod 2^bits; this reproduces
 * the paper's [0,0,1,2,0x18,3] -> v = [1,2,0,3], z = [2,0,15,2].
 *
 * Both passes use pe->ptr: pass 0 counts column j's slots in ptr[j + 1];
 * after the prefix sum, pass 1 writes column j at ptr[j]++ (so each ptr[j]
 * ends at ptr[j + 1]) and shift_back restores the pointers.
 */
typedef struct layout {
	int shift;
	uint8_t maxz;
	uint64_t nonzeros, padding;
} layout;

/* last is the cell's previous local row. */
static inline void count_slot(layout *lo, uint32_t *ptr, int32_t *last,
                              uint32_t j, int32_t r)
{
	uint32_t pad = (uint32_t)(r - *last - 1) >> lo->shift;
	ptr[j + 1] += pad + 1;
	lo->padding += pad;
	lo->nonzeros++;
	*last = r;
}

static inline void put_slot(const layout *lo, spz_eie_pe *pe, int32_t *last,
                            uint32_t j, int32_t r, uint8_t code)
{
	uint32_t gap = (uint32_t)(r - *last - 1);
	uint32_t at = pe->ptr[j];
	for (uint32_t p = gap >> lo->shift; p; p--, at++) {
		pe->code[at] = 0;
		pe->index[at] = lo->maxz;
	}
	pe->code[at] = code;
	pe->index[at] = (uint8_t)(gap & lo->maxz);
	pe->ptr[j] = at + 1;
	*last = r;
}

/* Turns counts in ptr[1..cols] into pointers and allocates the entries. */
static int lay_out(spz_eie_pe *pe, int64_t cols, const spz_eie_layer *l,
                   uint32_t k, spz_error *err)
{
	uint64_t total = 0;
	for (int64_t j = 0; j < cols; j++) {
		total += pe->ptr[j + 1];
		if (total > UINT32_MAX)
			return spz_fail(err, SPZ_ERANGE, "layer '%s': PE %u would "
			                "hold more than 4294967295 entries; use "
			                "more PEs", l->node, k);
		pe->ptr[j + 1] = (uint32_t)total;
	}
	pe->n_entries = total;
	pe->code = malloc(total + 1);
	pe->index = malloc(total + 1);
	if (!pe->code || !pe->index)
		return spz_fail(err, SPZ_ENOMEM, "out of memory packing '%s'",
		                l->weight);
	return 0;
}

static void shift_back(uint32_t *ptr, int64_t cols)
{
	for (int64_t j = cols; j > 0; j--)
		ptr[j] = ptr[j - 1];
	ptr[0] = 0;
}

/* Scratch shared by a layer's walks. */
typedef struct scratch {
	nz_table nz;
	int32_t *last;    /* per cell of the current walk: previous local row */
	uint32_t *idx;    /* found non-zero positions */
	size_t cap;       /* entries idx can hold */
	uint64_t *ends;   /* pack_rows: end of each local row's run in idx */
} scratch;

/* Makes room for `more` positions after `used` in s->idx. */
static int reserve(scratch *s, size_t used, size_t more)
{
	if (used + more <= s->cap)
		return 0;
	size_t cap = s->cap * 2 > used + more ? s->cap * 2 : used + more;
	uint32_t *n = realloc(s->idx, cap * sizeof *n);
	if (!n)
		return SPZ_ENOMEM;
	s->idx = n;
	s->cap = cap;
	return 0;
}

/*
 * Weight stored [rows, cols] (Gemm transB=1): PE by PE, its rows k,
 * k + pes, ... in order, scanned once; the positions found are kept
 * (O(non-zeros of one PE)) for the second pass, and the per-column state
 * is O(cols).
 */
static int pack_rows(spz_eie *e, spz_eie_layer *l, const uint8_t *codes,
                     layout *lo, scratch *s, spz_error *err)
{
	int64_t rows = l->rows, cols = l->cols;
	for (uint32_t k = 0; k < e->pes; k++) {
		spz_eie_pe *pe = &l->pe[k];
		size_t used = 0;
		for (int64_t j = 0; j < cols; j++)
			s->last[j] = -1;
		int32_t r = 0;
		for (int64_t i = k; i < rows; i += e->pes, r++) {
			if (reserve(s, used, (size_t)cols + 8))
				return spz_fail(err, SPZ_ENOMEM, "out of memory "
				                "packing '%s'", l->weight);
			used += find_nonzeros(&s->nz, codes + i * cols,
			                      (size_t)cols, 0, s->idx + used);
			s->ends[r] = used;
			for (size_t t = r ? s->ends[r - 1] : 0; t < used; t++)
				count_slot(lo, pe->ptr, &s->last[s->idx[t]],
				           s->idx[t], r);
		}
		int rc = lay_out(pe, cols, l, k, err);
		if (rc)
			return rc;
		for (int64_t j = 0; j < cols; j++)
			s->last[j] = -1;
		size_t t = 0;
		r = 0;
		for (int64_t i = k; i < rows; i += e->pes, r++) {
			const uint8_t *row = codes + i * cols;
			for (; t < s->ends[r]; t++)
				put_slot(lo, pe, &s->last[s->idx[t]], s->idx[t], r,
				         row[s->idx[t]]);
		}
		shift_back(pe->ptr, cols);
	}
	return 0;
}

/*
 * Weight stored [cols, rows] (MatMul, Gemm transB=0): column by column,
 * every PE's cell of that column at once; kof / rof map a row to its PE
 * and local row without a division per entry.
 */
static int pack_cols(spz_eie *e, spz_eie_layer *l, const uint8_t *codes,
                     layout *lo, scratch *s, spz_error *err)
{
	int64_t rows = l->rows, cols = l->cols;
	uint32_t *kof = malloc((size_t)rows * sizeof *kof);
	int32_t *rof = malloc((size_t)rows * sizeof *rof);
	int rc = kof && rof && !reserve(s, 0, (size_t)rows + 8)
	                 ? 0
	                 : spz_fail(err, SPZ_ENOMEM, "out of memory packing "
	                            "'%s'", l->weight);
	for (int64_t i = 0; !rc && i < rows; i++) {
		kof[i] = (uint32_t)(i % e->pes);
		rof[i] = (int32_t)(i / e->pes);
	}
	for (int pass = 0; !rc && pass < 2; pass++) {
		for (int64_t j = 0; j < cols; j++) {
			const uint8_t *col = codes + j * rows;
			size_t n = find_nonzeros(&s->nz, col, (size_t)rows, 0,
			                         s->idx);
			/* last[] is indexed by PE here: the cell is (k, j). */
			for (uint32_t k = 0; k < e->pes; k++)
				s->last[k] = -1;
			for (size_t t = 0; t < n; t++) {
				uint32_t i = s->idx[t], k = kof[i];
				if (pass == 0)
					count_slot(lo, l->pe[k].ptr, &s->last[k],
					           (uint32_t)j, rof[i]);
				else
					put_slot(lo, &l->pe[k], &s->last[k],
					         (uint32_t)j, rof[i], col[i]);
			}
		}
		for (uint32_t k = 0; !rc && pass == 0 && k < e->pes; k++)
			rc = lay_out(&l->pe[k], cols, l, k, err);
	}
	for (uint32_t k = 0; !rc && k < e->pes; k++)
		shift_back(l->pe[k].ptr, cols);
	free(kof);
	free(rof);
	return rc;
}

/* Packs one layer: pointers per PE, then the entries. */
static int pack_layer(spz_eie *e, spz_eie_layer *l, const spz_tensor *w,
                      spz_error *err)
{
	uint32_t pes = e->pes;
	int64_t cols = l->cols;
	size_t nlast = (size_t)(l->transposed ? pes : cols);
	size_t local = (size_t)((l->rows + pes - 1) / pes);
	layout lo = {.shift = e->index_bits,
	             .maxz = (uint8_t)SPZ_EIE_MAX_Z(e)};
	scratch *s = calloc(1, sizeof *s);
	if (s) {
		nz_table_init(&s->nz);
		s->last = malloc(nlast * sizeof *s->last);
		s->ends = malloc(local * sizeof *s->ends);
	}
	l->pe = calloc(pes, sizeof *l->pe);
	int rc = s && s->last && s->ends && l->pe ? 0 : SPZ_ENOMEM;
	for (uint32_t k = 0; !rc && k < pes; k++)
		if (!(l->pe[k].ptr = calloc((size_t)cols + 1, sizeof(uint32_t))))
			rc = SPZ_ENOMEM;
	if (rc)
		rc = spz_fail(err, rc, "out of memory packing '%s'", l->weight);
	else if (l->transposed)
		rc = pack_cols(e, l, w->codes, &lo, s, err);
	else
		rc = pack_rows(e, l, w->codes, &lo, s, err);
	l->nonzeros = lo.nonzeros;
	l->padding = lo.padding;
	if (s) {
		free(s->last);
		free(s->idx);
		free(s->ends);
		free(s);
	}
	return rc;
}

/*
 * v in 16-bit fixed point at the finest Q format that holds it; returns
 * the fraction bits. Rounding can shrink the extreme (-16384.4 at f bits
 * overflows at f + 1, but its rounded -16384 does not), and the values
 * unpack gives back would then pick f + 1 and pack differently; so when
 * every rounded value fits one bit finer, it moves there (exactly).
 */
static int fixed_vector(int16_t *q, const float *v, size_t n)
{
	int frac = spz_fixed_frac(v, n);
	int any = 0, half = 1;
	for (size_t i = 0; i < n; i++) {
		q[i] = spz_to_fixed(v[i], frac);
		any |= q[i] != 0;
		half &= q[i] >= -16384 && q[i] <= 16383;
	}
	if (any && half && frac < SPZ_FRAC_MAX) {
		frac++;
		for (size_t i = 0; i < n; i++)
			q[i] = (int16_t)(q[i] * 2);
	}
	return frac;
}

static int is_linear(const spz_node *n)
{
	return !strcmp(n->op, "Gemm") || !strcmp(n->op, "MatMul");
}

/* Fills the layer's shape and names from its Gemm/MatMul node. */
static int describe_layer(spz_eie_layer *l, const spz_model *m,
                          const spz_node *n, spz_error *err)
{
	if (n->n_inputs < 2 || n->n_outputs != 1)
		return spz_fail(err, SPZ_EUNSUPPORTED,
		                "node '%s': a %s layer needs an input, a weight "
		                "and one output", n->name, n->op);
	const spz_tensor *w = spz_model_tensor(m, n->inputs[1]);
	if (!w || w->ndims != 2)
		return spz_fail(err, SPZ_EUNSUPPORTED,
		                "node '%s': its weight '%s' must be a 2-D "
		                "initializer", n->name, n->inputs[1]);
	if (!w->codebook)
		return spz_fail(err, SPZ_EUNSUPPORTED,
		                "node '%s': weight '%s' is not quantized; run "
		                "'spz quantize' first", n->name, w->name);
	int gemm = !strcmp(n->op, "Gemm");
	if (gemm && (spz_node_number(n, "transA", 0) != 0 ||
	             spz_node_number(n, "alpha", 1) != 1 ||
	             spz_node_number(n, "beta", 1) != 1))
		return spz_fail(err, SPZ_EUNSUPPORTED,
		                "node '%s': Gemm with transA, alpha or beta "
		                "other than 0, 1, 1 cannot be packed", n->name);
	if (!gemm && n->n_inputs != 2)
		return spz_fail(err, SPZ_EUNSUPPORTED,
		                "node '%s': MatMul takes exactly 2 inputs",
		                n->name);
	l->transposed = !(gemm && spz_node_number(n, "transB", 0) == 1);
	l->rows = w->dims[l->transposed ? 1 : 0];
	l->cols = w->dims[l->transposed ? 0 : 1];
	if (l->rows < 1 || l->cols < 1 || l->rows > INT32_MAX ||
	    l->cols > INT32_MAX)
		return spz_fail(err, SPZ_EUNSUPPORTED,
		                "node '%s': weight '%s' of %lldx%lld cannot be "
		                "packed (each dim must be 1..2147483647)", n->name,
		                w->name, (long long)w->dims[0],
		                (long long)w->dims[1]);
	l->code_bits = w->bits;
	l->codebook_size = w->codebook_size;
	l->codebook_frac = fixed_vector(l->codebook, w->codebook,
	                                w->codebook_size);
	if (!(l->node = dupstr(n->name)) || !(l->op = dupstr(n->op)) ||
	    !(l->weight = dupstr(w->name)) ||
	    !(l->input = dupstr(n->inputs[0])) ||
	    !(l->linear_out = dupstr(n->outputs[0])) ||
	    !(l->output = dupstr(n->outputs[0])))
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	if (n->n_inputs >= 3 && n->inputs[2][0]) {
		const spz_tensor *b = spz_model_tensor(m, n->inputs[2]);
		if (!b || spz_tensor_elements(b) != l->rows)
			return spz_fail(err, SPZ_EUNSUPPORTED,
			                "node '%s': bias '%s' must be an "
			                "initializer of %lld values", n->name,
			                n->inputs[2], (long long)l->rows);
		float *bv = malloc((size_t)l->rows * sizeof *bv + 1);
		l->bias = malloc((size_t)l->rows * sizeof *l->bias + 1);
		l->bias_name = dupstr(b->name);
		if (!bv || !l->bias || !l->bias_name) {
			free(bv);
			return spz_fail(err, SPZ_ENOMEM, "out of memory");
		}
		for (int64_t i = 0; i < l->rows; i++)
			bv[i] = spz_tensor_value(b, i);
		l->bias_frac = fixed_vector(l->bias, bv, (size_t)l->rows);
		free(bv);
	}
	return 0;
}

int spz_eie_pack(spz_eie **out, const spz_model *m,
                 const spz_eie_options *opts, spz_error *err)
{
	if (opts->pes < 1 || opts->pes > 4096)
		return spz_fail(err, SPZ_EINVAL, "PE count %u is outside "
		                "1..4096", opts->pes);
	if (opts->index_bits < 2 || opts->index_bits > 8)
		return spz_fail(err, SPZ_EINVAL, "index bits %d are outside "
		                "2..8", opts->index_bits);
	if (m->n_inputs != 1 || m->n_outputs != 1)
		return spz_fail(err, SPZ_EUNSUPPORTED,
		                "the model must have one input and one output "
		                "to be packed (it has %zu and %zu)", m->n_inputs,
		                m->n_outputs);
	spz_eie *e = calloc(1, sizeof *e);
	if (!e || !(e->name = dupstr(m->name)) ||
	    !(e->layers = calloc(m->n_nodes ? m->n_nodes : 1,
	                         sizeof *e->layers))) {
		spz_eie_free(e);
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	}
	e->pes = opts->pes;
	e->index_bits = opts->index_bits;
	const char *cur = m->inputs[0];
	int rc = 0;
	for (size_t i = 0; !rc && i < m->n_nodes; i++) {
		const spz_node *n = &m->nodes[i];
		spz_eie_layer *prev = e->n_layers ? &e->layers[e->n_layers - 1]
		                                  : NULL;
		if (n->n_inputs < 1 || strcmp(n->inputs[0], cur)) {
			rc = spz_fail(err, SPZ_EUNSUPPORTED,
			              "node '%s' does not take the previous "
			              "layer's output '%s': spz pack needs a chain "
			              "of fully connected layers", n->name, cur);
		} else if (is_linear(n)) {
			spz_eie_layer *l = &e->layers[e->n_layers++];
			rc = describe_layer(l, m, n, err);
			if (!rc)
				rc = pack_layer(e, l, spz_model_tensor(m, n->inputs[1]),
				                err);
			cur = n->outputs[0];
		} else if (!strcmp(n->op, "Relu") && prev &&
		           prev->act == SPZ_ACT_NONE && n->n_outputs == 1) {
			prev->act = SPZ_ACT_RELU;
			free(prev->output);
			if (!(prev->act_node = dupstr(n->name)) ||
			    !(prev->output = dupstr(n->outputs[0])))
				rc = spz_fail(err, SPZ_ENOMEM, "out of memory");
			cur = n->outputs[0];
		} else {
			rc = spz_fail(err, SPZ_EUNSUPPORTED,
			              "node '%s' (%s) is not a fully connected "
			              "layer: spz pack takes a chain of Gemm/MatMul "
			              "layers, each optionally followed by Relu "
			              "(--format csr, csc or nm packs any graph)",
			              n->name, n->op);
		}
	}
	if (!rc && !e->n_layers)
		rc = spz_fail(err, SPZ_EUNSUPPORTED,
		              "the model has no Gemm or MatMul layer to pack");
	if (!rc && strcmp(cur, m->outputs[0]))
		rc = spz_fail(err, SPZ_EUNSUPPORTED,
		              "the graph output '%s' is not the last layer's "
		              "output '%s'", m->outputs[0], cur);
	for (size_t i = 1; !rc && i < e->n_layers; i++)
		if (e->layers[i].cols != e->layers[i - 1].rows)
			rc = spz_fail(err, SPZ_EUNSUPPORTED,
			              "layer '%s' takes %lld inputs but '%s' gives "
			              "%lld", e->layers[i].node,
			              (long long)e->layers[i].cols,
			              e->layers[i - 1].node,
			              (long long)e->layers[i - 1].rows);
	if (rc) {
		spz_eie_free(e);
		return rc;
	}
	*out = e;
	return 0;
}
