/*
 * eie.c - packing a quantized fully connected chain into the EIE storage
 * format (Han et al., ISCA 2016, section III): rows interleaved over PEs,
 * each PE's slice stored column by column as (code, relative row index)
 * entries with padding entries when a run of zeros exceeds the index range.
 *
 * Also the way back (unpack) and the checks every image must pass
 * (validate), on which the file reader relies.
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

/*
 * The walk over one weight in storage order shared by both passes: calls
 * visit for every stored code != 0 with its PE k, local row r and column
 * j. Code 0 is the zero weight (and the padding code), so an entry exists
 * exactly where the code is non-zero: this keeps pack -> unpack -> pack
 * byte-identical even when a codebook value rounds to 0 in fixed point.
 * Row-major weights run row by row, transposed ones column by column; in
 * both, a (PE, column) cell sees its rows in increasing order. The PE and
 * local row are stepped, not divided, since this loop is the whole cost.
 */
typedef struct walk {
	int64_t *last;     /* per cell: local row of the previous slot, or -1 */
	uint64_t *count;   /* pass 0: entries per cell; pass 1: write cursor */
	int shift;         /* index bits: a gap g needs g >> shift paddings */
	uint64_t padding, nonzeros;
} walk;

static inline void visit(walk *wk, spz_eie_layer *l, int pass, uint32_t k,
                         size_t cell, int64_t r, uint8_t code)
{
	int64_t gap = r - wk->last[cell] - 1;
	uint64_t pad = (uint64_t)gap >> wk->shift;
	wk->last[cell] = r;
	if (pass == 0) {
		wk->count[cell] += pad + 1;
		wk->padding += pad;
		wk->nonzeros++;
		return;
	}
	spz_eie_pe *pe = &l->pe[k];
	uint64_t at = wk->count[cell];
	uint8_t maxz = (uint8_t)((1u << wk->shift) - 1);
	for (uint64_t p = 0; p < pad; p++, at++) {
		pe->code[at] = 0;
		pe->index[at] = maxz;
	}
	pe->code[at] = code;
	pe->index[at] = (uint8_t)((uint64_t)gap & maxz);
	wk->count[cell] = at + 1;
}

static void walk_weight(walk *wk, spz_eie_layer *l, const spz_tensor *w,
                        uint32_t pes, int pass)
{
	int64_t rows = l->rows, cols = l->cols;
	const uint8_t *codes = w->codes;
	if (!l->transposed) {
		uint32_t k = 0;
		int64_t r = 0;
		for (int64_t i = 0; i < rows; i++) {
			const uint8_t *row = codes + i * cols;
			size_t base = (size_t)k * (size_t)cols;
			for (int64_t j = 0; j < cols; j++)
				if (row[j])
					visit(wk, l, pass, k, base + (size_t)j, r,
					      row[j]);
			if (++k == pes) {
				k = 0;
				r++;
			}
		}
		return;
	}
	for (int64_t j = 0; j < cols; j++) {
		const uint8_t *col = codes + j * rows;
		uint32_t k = 0;
		int64_t r = 0;
		for (int64_t i = 0; i < rows; i++) {
			if (col[i])
				visit(wk, l, pass, k,
				      (size_t)k * (size_t)cols + (size_t)j, r,
				      col[i]);
			if (++k == pes) {
				k = 0;
				r++;
			}
		}
	}
}

/*
 * Packs one layer in two walks: the first counts each (PE, column) cell's
 * entries (padding included) to lay out the pointers, the second writes
 * them. A gap of g zero rows needs g >> bits paddings (each padding slot
 * stands for 2^bits rows: 2^bits - 1 zeros and itself), then an entry with
 * z = g mod 2^bits, which reproduces the paper's [0,0,1,2,0x18,3] ->
 * v = [1,2,0,3], z = [2,0,15,2].
 */
static int pack_layer(spz_eie *e, spz_eie_layer *l, const spz_tensor *w,
                      spz_error *err)
{
	uint32_t pes = e->pes;
	int64_t cols = l->cols;
	size_t cells = (size_t)pes * (size_t)cols;
	walk wk = {.shift = e->index_bits};
	wk.last = malloc((cells ? cells : 1) * sizeof *wk.last);
	wk.count = calloc(cells ? cells : 1, sizeof *wk.count);
	l->pe = calloc(pes, sizeof *l->pe);
	int rc = 0;
	if (!wk.last || !wk.count || !l->pe) {
		rc = spz_fail(err, SPZ_ENOMEM, "out of memory packing '%s'",
		              l->weight);
		goto done;
	}
	for (size_t c = 0; c < cells; c++)
		wk.last[c] = -1;
	walk_weight(&wk, l, w, pes, 0);
	l->nonzeros = wk.nonzeros;
	l->padding = wk.padding;
	/* Lay out pointers; count[] becomes each cell's write cursor. */
	for (uint32_t k = 0; k < pes; k++) {
		spz_eie_pe *pe = &l->pe[k];
		uint64_t *cnt = wk.count + (size_t)k * (size_t)cols;
		uint64_t total = 0;
		for (int64_t j = 0; j < cols; j++)
			total += cnt[j];
		if (total > UINT32_MAX) {
			rc = spz_fail(err, SPZ_ERANGE,
			              "layer '%s': PE %u would hold %llu entries "
			              "(at most 4294967295); use more PEs",
			              l->node, k, (unsigned long long)total);
			goto done;
		}
		pe->n_entries = total;
		pe->ptr = malloc(((size_t)cols + 1) * sizeof *pe->ptr);
		pe->code = malloc(total + 1);
		pe->index = malloc(total + 1);
		if (!pe->ptr || !pe->code || !pe->index) {
			rc = spz_fail(err, SPZ_ENOMEM, "out of memory packing "
			              "'%s'", l->weight);
			goto done;
		}
		uint64_t at = 0;
		for (int64_t j = 0; j < cols; j++) {
			pe->ptr[j] = (uint32_t)at;
			at += cnt[j];
			cnt[j] = pe->ptr[j];
		}
		pe->ptr[cols] = (uint32_t)at;
	}
	for (size_t c = 0; c < cells; c++)
		wk.last[c] = -1;
	walk_weight(&wk, l, w, pes, 1);
done:
	free(wk.last);
	free(wk.count);
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
			              "layers, each optionally followed by Relu",
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
