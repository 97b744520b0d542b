/*
 * eie_unpack.c - the way back from an EIE image to a quantized model, and
 * the checks that make an image safe to walk (the file reader runs them on
 * everything it reads, and unpack on whatever it is given).
 */
#include "spz.h"

#include <stdlib.h>
#include <string.h>

static int bad(spz_error *err, const char *fmt_layer, const spz_eie_layer *l)
{
	return spz_fail(err, SPZ_EFORMAT, fmt_layer, l->node ? l->node : "?");
}

/* Names a layer must carry; the optional ones go with their flags. */
static int check_names(const spz_eie_layer *l, size_t i, spz_error *err)
{
	const char *need[] = {l->node, l->op, l->weight, l->input,
	                      l->linear_out, l->output};
	for (size_t k = 0; k < sizeof need / sizeof need[0]; k++)
		if (!need[k] || !need[k][0])
			return spz_fail(err, SPZ_EFORMAT,
			                "layer %zu: a name is missing", i);
	if (strcmp(l->op, "Gemm") && strcmp(l->op, "MatMul"))
		return spz_fail(err, SPZ_EFORMAT, "layer '%s': operator '%s' is "
		                "neither Gemm nor MatMul", l->node, l->op);
	if (!strcmp(l->op, "MatMul") && !l->transposed)
		return bad(err, "layer '%s': a MatMul weight is always stored "
		           "[cols, rows]", l);
	if (!l->bias != !l->bias_name || (l->bias_name && !l->bias_name[0]))
		return bad(err, "layer '%s': bias and bias name disagree", l);
	if (l->bias && !strcmp(l->op, "MatMul"))
		return bad(err, "layer '%s': a MatMul layer has no bias", l);
	if (l->act != SPZ_ACT_NONE && l->act != SPZ_ACT_RELU)
		return spz_fail(err, SPZ_EFORMAT, "layer '%s': unknown "
		                "activation %d", l->node, l->act);
	if ((l->act == SPZ_ACT_RELU) != (l->act_node && l->act_node[0]))
		return bad(err, "layer '%s': activation and its node disagree",
		           l);
	if (l->act == SPZ_ACT_NONE && strcmp(l->output, l->linear_out))
		return bad(err, "layer '%s': without an activation the layer's "
		           "output must be its node's output", l);
	return 0;
}

static int check_shape(const spz_eie_layer *l, spz_error *err)
{
	int64_t dims[2] = {l->rows, l->cols};
	if (l->rows < 1 || l->cols < 1 || l->rows > INT32_MAX ||
	    l->cols > INT32_MAX || spz_dims_elements(dims, 2) < 0)
		return spz_fail(err, SPZ_ERANGE, "layer '%s': dims %lldx%lld are "
		                "out of range (each 1..2147483647)", l->node,
		                (long long)l->rows, (long long)l->cols);
	if (l->code_bits < 1 || l->code_bits > 8 || l->codebook_size < 1 ||
	    l->codebook_size > (1u << l->code_bits))
		return spz_fail(err, SPZ_ERANGE, "layer '%s': a codebook of %u "
		                "entries does not fit %d-bit codes", l->node,
		                l->codebook_size, l->code_bits);
	if (l->codebook[0] != 0)
		return bad(err, "layer '%s': codebook entry 0 must be 0", l);
	if (l->codebook_frac < SPZ_FRAC_MIN || l->codebook_frac > SPZ_FRAC_MAX ||
	    l->bias_frac < SPZ_FRAC_MIN || l->bias_frac > SPZ_FRAC_MAX)
		return spz_fail(err, SPZ_ERANGE, "layer '%s': Q format outside "
		                "%d..%d fraction bits", l->node, SPZ_FRAC_MIN,
		                SPZ_FRAC_MAX);
	return 0;
}

/*
 * One PE's slice: pointers from 0, within the entries, never decreasing,
 * ending at the entry count; codes within the codebook; decoded rows inside the PE's rows; a
 * code-0 entry only as padding (z at its maximum, never the last entry of
 * its column), which is the one form pack writes.
 */
static int check_pe(const spz_eie *e, const spz_eie_layer *l, uint32_t k,
                    uint64_t *nonzeros, uint64_t *padding, spz_error *err)
{
	const spz_eie_pe *pe = &l->pe[k];
	const char *nm = l->node;
	if (!pe->ptr || (pe->n_entries && (!pe->code || !pe->index)))
		return spz_fail(err, SPZ_EFORMAT, "layer '%s' PE %u: no data",
		                nm, k);
	if (pe->ptr[0] != 0)
		return spz_fail(err, SPZ_EFORMAT, "layer '%s' PE %u: pointer 0 "
		                "is %u, not 0", nm, k, pe->ptr[0]);
	for (int64_t j = 1; j <= l->cols; j++)
		if (pe->ptr[j] > pe->n_entries)
			return spz_fail(err, SPZ_EFORMAT, "layer '%s' PE %u: "
			                "pointer %lld (%u) is past the end of its "
			                "%llu entries", nm, k, (long long)j,
			                pe->ptr[j], (unsigned long long)pe->n_entries);
	for (int64_t j = 0; j < l->cols; j++)
		if (pe->ptr[j + 1] < pe->ptr[j])
			return spz_fail(err, SPZ_EFORMAT, "layer '%s' PE %u: "
			                "pointer %lld (%u) is below pointer %lld "
			                "(%u)", nm, k, (long long)(j + 1),
			                pe->ptr[j + 1], (long long)j, pe->ptr[j]);
	if (pe->ptr[l->cols] != pe->n_entries)
		return spz_fail(err, SPZ_EFORMAT, "layer '%s' PE %u: the last "
		                "pointer (%u) is not the entry count (%llu)", nm,
		                k, pe->ptr[l->cols],
		                (unsigned long long)pe->n_entries);
	unsigned maxz = SPZ_EIE_MAX_Z(e);
	int64_t local = spz_eie_pe_rows(e, l, k);
	const uint8_t *code = pe->code, *index = pe->index;
	uint32_t size = l->codebook_size;
	for (int64_t j = 0; j < l->cols; j++) {
		/* Branch-free over the column; the details only on failure. */
		uint64_t end = pe->ptr[j + 1], nz = 0;
		int64_t r = -1;
		unsigned badv = 0;
		for (uint64_t a = pe->ptr[j]; a < end; a++) {
			unsigned v = code[a], z = index[a];
			r += 1 + (int64_t)z;
			nz += v != 0;
			badv |= (v >= size) | (z > maxz) |
			        ((v == 0) & ((z != maxz) | (a + 1 == end)));
		}
		*nonzeros += nz;
		*padding += (end - pe->ptr[j]) - nz;
		if (!badv && r < local)
			continue;
		r = -1;
		for (uint64_t a = pe->ptr[j]; a < end; a++) {
			unsigned v = code[a], z = index[a];
			if (v >= size)
				return spz_fail(err, SPZ_ERANGE, "layer '%s' PE %u "
				                "entry %llu: code %u is outside the "
				                "codebook of %u", nm, k,
				                (unsigned long long)a, v, size);
			if (z > maxz)
				return spz_fail(err, SPZ_ERANGE, "layer '%s' PE %u "
				                "entry %llu: index %u exceeds %u", nm,
				                k, (unsigned long long)a, z, maxz);
			r += 1 + (int64_t)z;
			if (r >= local)
				return spz_fail(err, SPZ_ERANGE, "layer '%s' PE %u "
				                "column %lld: entry %llu lands on local "
				                "row %lld, past the PE's %lld rows", nm,
				                k, (long long)j,
				                (unsigned long long)a, (long long)r,
				                (long long)local);
			if (v == 0 && (z != maxz || a + 1 == end))
				return spz_fail(err, SPZ_EFORMAT, "layer '%s' PE %u "
				                "entry %llu: code 0 is only for padding "
				                "(index %u, before an entry of the "
				                "same column)", nm, k,
				                (unsigned long long)a, maxz);
		}
	}
	return 0;
}

int spz_eie_validate(const spz_eie *e, spz_error *err)
{
	if (e->pes < 1 || e->pes > 4096)
		return spz_fail(err, SPZ_ERANGE, "PE count %u is outside 1..4096",
		                e->pes);
	if (e->index_bits < 2 || e->index_bits > 8)
		return spz_fail(err, SPZ_ERANGE, "index bits %d are outside 2..8",
		                e->index_bits);
	if (e->n_layers < 1 || !e->layers || !e->name)
		return spz_fail(err, SPZ_EFORMAT, "the image has no layer");
	for (size_t i = 0; i < e->n_layers; i++) {
		const spz_eie_layer *l = &e->layers[i];
		int rc = check_names(l, i, err);
		if (!rc)
			rc = check_shape(l, err);
		if (rc)
			return rc;
		if (i && strcmp(l->input, e->layers[i - 1].output))
			return spz_fail(err, SPZ_EFORMAT, "layer '%s' takes '%s', "
			                "not the previous layer's output '%s'",
			                l->node, l->input, e->layers[i - 1].output);
		if (i && l->cols != e->layers[i - 1].rows)
			return spz_fail(err, SPZ_EFORMAT, "layer '%s' takes %lld "
			                "inputs but '%s' gives %lld", l->node,
			                (long long)l->cols, e->layers[i - 1].node,
			                (long long)e->layers[i - 1].rows);
		for (size_t p = 0; p <= i; p++) {
			const spz_eie_layer *o = &e->layers[p];
			if ((p < i && !strcmp(o->weight, l->weight)) ||
			    (l->bias_name && (!strcmp(o->weight, l->bias_name) ||
			                      (p < i && o->bias_name &&
			                       !strcmp(o->bias_name, l->bias_name)))))
				return spz_fail(err, SPZ_EFORMAT, "layer '%s': "
				                "tensor name used twice", l->node);
		}
		if (!l->pe)
			return bad(err, "layer '%s': no PE data", l);
		uint64_t nz = 0, pad = 0;
		for (uint32_t k = 0; k < e->pes; k++)
			if ((rc = check_pe(e, l, k, &nz, &pad, err)))
				return rc;
		if (nz != l->nonzeros || pad != l->padding)
			return spz_fail(err, SPZ_EFORMAT, "layer '%s': %llu "
			                "non-zeros and %llu padding entries recorded, "
			                "%llu and %llu stored", l->node,
			                (unsigned long long)l->nonzeros,
			                (unsigned long long)l->padding,
			                (unsigned long long)nz,
			                (unsigned long long)pad);
	}
	return 0;
}

/*
 * A transposed weight ([cols, rows]): column j of the matrix is contiguous
 * in storage, so each PE's column is written where it lies. Padding
 * entries land on zero rows of their column, so every entry is written
 * without a branch (a padding writes the 0 already there).
 */
static void scatter_columns(uint8_t *codes, const spz_eie *e,
                            const spz_eie_layer *l)
{
	for (uint32_t k = 0; k < e->pes; k++) {
		const spz_eie_pe *pe = &l->pe[k];
		const uint8_t *code = pe->code, *index = pe->index;
		for (int64_t j = 0; j < l->cols; j++) {
			uint8_t *dst = codes + j * l->rows + k - e->pes;
			uint32_t end = pe->ptr[j + 1];
			for (uint32_t a = pe->ptr[j]; a < end; a++) {
				dst += (1 + (int64_t)index[a]) * e->pes;
				*dst = code[a];
			}
		}
	}
}

/*
 * A row-major weight ([rows, cols]): the entries are first bucketed by
 * row (a counting sort, O(non-zeros) extra memory), then the rows are
 * filled in storage order. Writing PE by PE, column by column would touch
 * a new cache line of a new row on nearly every entry.
 */
static int fill_rows(uint8_t *codes, const spz_eie *e, const spz_eie_layer *l)
{
	int64_t rows = l->rows, cols = l->cols;
	uint64_t *start = calloc((size_t)rows + 2, sizeof *start);
	uint32_t *bj = malloc((l->nonzeros + 1) * sizeof *bj);
	uint8_t *bc = malloc(l->nonzeros + 1);
	if (!start || !bj || !bc) {
		free(start);
		free(bj);
		free(bc);
		return SPZ_ENOMEM;
	}
	/* Pass 0 counts row i's entries in start[i + 2]; the prefix sum turns
	 * start[i + 1] into row i's cursor; pass 1 advances it to the end. */
	for (int pass = 0; pass < 2; pass++) {
		uint64_t *slot = start + 2 - pass;
		for (uint32_t k = 0; k < e->pes; k++) {
			const spz_eie_pe *pe = &l->pe[k];
			const uint8_t *code = pe->code, *index = pe->index;
			for (int64_t j = 0; j < cols; j++) {
				int64_t i = (int64_t)k - e->pes;
				uint32_t end = pe->ptr[j + 1];
				for (uint32_t a = pe->ptr[j]; a < end; a++) {
					/* Branch-free: a padding (code 0) counts
					 * nothing and is written to the spare slot. */
					i += (1 + (int64_t)index[a]) * e->pes;
					unsigned real = code[a] != 0;
					if (pass == 0) {
						slot[i] += real;
					} else {
						uint64_t t = real ? slot[i] : l->nonzeros;
						bj[t] = (uint32_t)j;
						bc[t] = code[a];
						slot[i] += real;
					}
				}
			}
		}
		for (int64_t i = 0; pass == 0 && i < rows; i++)
			start[i + 2] += start[i + 1];
	}
	for (int64_t i = 0; i < rows; i++) {
		uint8_t *dst = codes + i * cols;
		for (uint64_t t = start[i]; t < start[i + 1]; t++)
			dst[bj[t]] = bc[t];
	}
	free(start);
	free(bj);
	free(bc);
	return 0;
}

/* The weight and bias of one layer, added to m; the codes come from
 * walking every PE's columns (row = PE + pes * local row). */
static int unpack_tensors(spz_model *m, const spz_eie *e,
                          const spz_eie_layer *l, spz_error *err)
{
	int64_t rows = l->rows, cols = l->cols;
	int64_t wd[2] = {l->transposed ? cols : rows, l->transposed ? rows : cols};
	size_t n = (size_t)rows * (size_t)cols;
	float *cb = malloc(l->codebook_size * sizeof *cb);
	uint8_t *codes = calloc(n + 1, 1);
	spz_tensor *w = NULL;
	int rc = cb && codes ? 0 : spz_fail(err, SPZ_ENOMEM, "out of memory "
	                                    "unpacking '%s'", l->weight);
	/* Its zero-filled floats are never touched (calloc maps them
	 * lazily) and are freed by set_quantized. */
	if (!rc)
		rc = spz_model_add_tensor(&w, m, l->weight, wd, 2, NULL, err);
	if (rc) {
		free(cb);
		free(codes);
		return rc;
	}
	for (uint32_t c = 0; c < l->codebook_size; c++)
		cb[c] = (float)spz_from_fixed(l->codebook[c], l->codebook_frac);
	if (l->transposed)
		scatter_columns(codes, e, l);
	else if ((rc = fill_rows(codes, e, l)))
		rc = spz_fail(err, rc, "out of memory unpacking '%s'", l->weight);
	if (rc) {
		free(cb);
		free(codes);
		return rc;
	}
	spz_tensor_set_quantized(w, l->code_bits, cb, l->codebook_size, codes);
	if (!l->bias)
		return 0;
	spz_tensor *b;
	if ((rc = spz_model_add_tensor(&b, m, l->bias_name, &rows, 1, NULL,
	                               err)))
		return rc;
	for (int64_t i = 0; i < rows; i++)
		b->data[i] = (float)spz_from_fixed(l->bias[i], l->bias_frac);
	return 0;
}

/* The Gemm/MatMul node and its Relu. */
static int unpack_nodes(spz_model *m, const spz_eie_layer *l)
{
	const char *ins[3] = {l->input, l->weight, l->bias_name};
	const char *out = l->linear_out;
	spz_node *n;
	int rc = spz_model_add_node(&n, m, l->op, l->node, ins,
	                            l->bias_name ? 3 : 2, &out, 1);
	if (!rc && !strcmp(l->op, "Gemm") && !l->transposed)
		rc = spz_node_set_number(n, "transB", 1);
	if (!rc && l->act == SPZ_ACT_RELU) {
		const char *rin = l->linear_out, *rout = l->output;
		rc = spz_model_add_node(NULL, m, "Relu", l->act_node, &rin, 1,
		                        &rout, 1);
	}
	return rc;
}

int spz_eie_unpack(spz_model **out, const spz_eie *e, spz_error *err)
{
	int rc = spz_eie_validate(e, err);
	if (rc)
		return rc;
	spz_model *m;
	if (spz_model_new(&m, e->name))
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	rc = spz_model_add_input(m, e->layers[0].input);
	if (!rc)
		rc = spz_model_add_output(m, e->layers[e->n_layers - 1].output);
	if (rc)
		rc = spz_fail(err, SPZ_ENOMEM, "out of memory");
	for (size_t i = 0; !rc && i < e->n_layers; i++) {
		rc = unpack_tensors(m, e, &e->layers[i], err);
		if (!rc && unpack_nodes(m, &e->layers[i]))
			rc = spz_fail(err, SPZ_ENOMEM, "out of memory");
	}
	/* No spz_model_validate: a validated image only makes valid models
	 * (the unit tests check it), and scanning every code again would
	 * double unpack's time. */
	if (rc) {
		spz_model_free(m);
		return rc;
	}
	*out = m;
	return 0;
}
