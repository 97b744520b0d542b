/*
 * eie.c - packing a quantized fully connected chain into the EIE storage
 * format (Han et al., ISCA 2016, section III): rows interleaved over PEs,
 * each PE's slice stored column by column as (code, relative row index)
 * entries with padding entries when a run of zeros exceeds the index range.
 *
 * Two passes in the weight's storage order (sequential reads): the first
 * counts each (PE, column)'s entries to lay out the pointers, the second
 * writes the entries. Within a column, rows always arrive in increasing
 * order, which is all the relative indices need.
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

/* Is the layer's weight value at storage index s non-zero? */
static int nonzero(const spz_tensor *w, int64_t s)
{
	return w->codebook[w->codes[s]] != 0.0f;
}

/*
 * Packs one layer. last[k * cols + j] is the local row of the previous
 * entry slot of PE k in column j (-1 before the first); a gap of g zero
 * rows needs g / span padding entries, then an entry with z = g % span.
 */
static int pack_layer(spz_eie *e, spz_eie_layer *l, const spz_tensor *w,
                      spz_error *err)
{
	uint32_t pes = e->pes;
	int64_t rows = l->rows, cols = l->cols;
	int64_t span = (int64_t)SPZ_EIE_MAX_Z(e) + 1;
	size_t cells = (size_t)pes * (size_t)cols;
	int64_t *last = malloc(cells * sizeof *last);
	uint64_t *count = calloc(cells, sizeof *count);
	l->pe = calloc(pes, sizeof *l->pe);
	if (!last || !count || !l->pe) {
		free(last);
		free(count);
		return spz_fail(err, SPZ_ENOMEM, "out of memory packing '%s'",
		                l->weight);
	}
	for (int pass = 0; pass < 2; pass++) {
		for (size_t c = 0; c < cells; c++)
			last[c] = -1;
		int64_t n = rows * cols;
		for (int64_t s = 0; s < n; s++) {
			if (!nonzero(w, s))
				continue;
			int64_t i = l->transposed ? s % rows : s / cols;
			int64_t j = l->transposed ? s / rows : s % cols;
			uint32_t k = (uint32_t)(i % pes);
			int64_t r = i / pes;
			size_t cell = (size_t)k * (size_t)cols + (size_t)j;
			int64_t gap = r - last[cell] - 1;
			uint64_t pad = (uint64_t)(gap / span);
			last[cell] = r;
			if (pass == 0) {
				count[cell] += pad + 1;
				l->padding += pad;
				l->nonzeros++;
				continue;
			}
			spz_eie_pe *pe = &l->pe[k];
			uint64_t at = count[cell];
			for (uint64_t p = 0; p < pad; p++, at++) {
				pe->code[at] = 0;
				pe->index[at] = (uint8_t)(span - 1);
			}
			pe->code[at] = w->codes[s];
			pe->index[at] = (uint8_t)(gap % span);
			count[cell] = at + 1;
		}
		if (pass == 1)
			break;
		/* Lay out pointers; count[] becomes each cell's write cursor. */
		for (uint32_t k = 0; k < pes; k++) {
			spz_eie_pe *pe = &l->pe[k];
			uint64_t total = 0;
			for (int64_t j = 0; j < cols; j++)
				total += count[(size_t)k * (size_t)cols + (size_t)j];
			if (total > UINT32_MAX) {
				free(last);
				free(count);
				return spz_fail(err, SPZ_ERANGE,
				                "layer '%s': PE %u would hold %llu "
				                "entries (at most 4294967295); use "
				                "more PEs", l->node, k,
				                (unsigned long long)total);
			}
			pe->n_entries = total;
			pe->ptr = malloc(((size_t)cols + 1) * sizeof *pe->ptr);
			pe->code = malloc(total + 1);
			pe->index = malloc(total + 1);
			if (!pe->ptr || !pe->code || !pe->index) {
				free(last);
				free(count);
				return spz_fail(err, SPZ_ENOMEM,
				                "out of memory packing '%s'",
				                l->weight);
			}
			uint64_t at = 0;
			for (int64_t j = 0; j < cols; j++) {
				size_t cell = (size_t)k * (size_t)cols + (size_t)j;
				pe->ptr[j] = (uint32_t)at;
				at += count[cell];
				count[cell] = pe->ptr[j];
			}
			pe->ptr[cols] = (uint32_t)at;
		}
	}
	free(last);
	free(count);
	return 0;
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
	l->code_bits = w->bits;
	l->codebook_size = w->codebook_size;
	int frac = spz_fixed_frac(w->codebook, w->codebook_size);
	l->codebook_frac = frac;
	for (uint32_t c = 0; c < w->codebook_size; c++)
		l->codebook[c] = spz_to_fixed(w->codebook[c], frac);
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
		l->bias_frac = spz_fixed_frac(bv, (size_t)l->rows);
		for (int64_t i = 0; i < l->rows; i++)
			l->bias[i] = spz_to_fixed(bv[i], l->bias_frac);
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
