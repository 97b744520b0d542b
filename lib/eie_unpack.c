/*
 * eie_unpack.c - the way back from an EIE image to a quantized model, and
 * the checks that make an image safe to walk (the file reader runs them on
 * everything it reads, and unpack on whatever it is given).
 */
#include "spz.h"
#include "big_alloc.h"
#include "pair.h"

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
	if (l->bias && !strcmp(l->op, "MatMul") && !l->add_node)
		return bad(err, "layer '%s': a MatMul layer's bias needs its "
		           "Add node", l);
	if (l->add_node && (!l->bias || strcmp(l->op, "MatMul") ||
	                    !l->add_out || !l->add_node[0] || !l->add_out[0]))
		return bad(err, "layer '%s': an Add node goes with a MatMul "
		           "layer's bias", l);
	if (!l->add_node && l->add_bias_first)
		return bad(err, "layer '%s': bias order without an Add", l);
	if (l->anon & ~15u)
		return bad(err, "layer '%s': unknown unnamed-node flags", l);
	if (((l->anon & SPZ_EIE_ANON_ACT) && !l->act_node) ||
	    ((l->anon & SPZ_EIE_ANON_ADD) && !l->add_node) ||
	    ((l->anon & SPZ_EIE_ANON_PRE) && !l->pre_op))
		return bad(err, "layer '%s': an unnamed node that is not "
		           "there", l);
	if (l->pre_op) {
		int flat = !strcmp(l->pre_op, "Flatten");
		if (i || (!flat && strcmp(l->pre_op, "Reshape")) ||
		    !l->pre_node || !l->pre_node[0] || !l->pre_input ||
		    !l->pre_input[0] || !flat != !!l->pre_shape ||
		    (l->pre_shape && !l->pre_shape[0]) ||
		    l->n_pre_values < 1 || l->n_pre_values > 2 ||
		    (flat && (l->n_pre_values != 1 || l->pre_values[0] < 0 ||
		              l->pre_values[0] > 1)) ||
		    !strcmp(l->pre_input, l->input))
			return bad(err, "layer '%s': a bad Flatten/Reshape before "
			           "it (first layer only: Flatten axis 0 or 1, or "
			           "Reshape with its shape)", l);
	}
	if (l->act != SPZ_ACT_NONE && l->act != SPZ_ACT_RELU)
		return spz_fail(err, SPZ_EFORMAT, "layer '%s': unknown "
		                "activation %d", l->node, l->act);
	if ((l->act == SPZ_ACT_RELU) != (l->act_node && l->act_node[0]))
		return bad(err, "layer '%s': activation and its node disagree",
		           l);
	if (l->act == SPZ_ACT_NONE &&
	    strcmp(l->output, l->add_node ? l->add_out : l->linear_out))
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
 * One PE's pointers: from 0, within the entries, never decreasing, ending
 * at the entry count. Once they pass, every column's entries can be read.
 */
static int check_pointers(const spz_eie_layer *l, uint32_t k, spz_error *err)
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
	return 0;
}

/*
 * One rule for an entry (code v, index z) at position a of a column
 * ending at end: code within the codebook, index within range, code 0
 * only as padding (z at its maximum, never the last entry of its column),
 * which is the one form pack writes. Non-zero when broken; branch-free,
 * as it sits in the inner loops of validate and unpack.
 */
static inline unsigned entry_breaks(unsigned v, unsigned z, uint64_t a,
                                    uint64_t end, uint32_t size,
                                    unsigned maxz)
{
	return (v >= size) | (z > maxz) |
	       ((v == 0) & ((z != maxz) | (a + 1 == end)));
}

/* The message for the first broken rule in column j of PE k (the walk
 * over it found one); 0 if there is none. */
static int column_error(const spz_eie *e, const spz_eie_layer *l,
                        uint32_t k, int64_t j, spz_error *err)
{
	const spz_eie_pe *pe = &l->pe[k];
	const char *nm = l->node;
	unsigned maxz = SPZ_EIE_MAX_Z(e);
	int64_t local = spz_eie_pe_rows(e, l, k);
	uint32_t size = l->codebook_size;
	uint64_t end = pe->ptr[j + 1];
	int64_t r = -1;
	for (uint64_t a = pe->ptr[j]; a < end; a++) {
		unsigned v = pe->code[a], z = pe->index[a];
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
		if (entry_breaks(v, z, a, end, size, maxz))
			return spz_fail(err, SPZ_EFORMAT, "layer '%s' PE %u "
			                "entry %llu: code 0 is only for padding "
			                "(index %u, before an entry of the "
			                "same column)", nm, k,
			                (unsigned long long)a, maxz);
	}
	return 0;
}

typedef struct walk {
	uint32_t size;      /* codebook entries */
	unsigned maxz;      /* largest index */
	uint64_t nonzeros;  /* real entries */
	unsigned bad;       /* a rule was broken */
} walk;

/*
 * The rules of entry_breaks that need no column, over all of a PE's
 * entries at once (a loop compilers vectorize), and its non-zeros; the
 * last-of-its-column rule is last_breaks'.
 */
static void tally_entries(walk *w, const spz_eie_pe *pe)
{
	const uint8_t *code = pe->code, *index = pe->index;
	uint8_t top = (uint8_t)(w->size - 1), maxz = (uint8_t)w->maxz, bad = 0;
	uint64_t a = 0, n = pe->n_entries, zeros = 0;
#if defined(__GNUC__)
	/* 16 entries a step; the zero counts per lane flush before they
	 * could wrap. */
	typedef uint8_t u8x16 __attribute__((vector_size(16)));
	u8x16 vtop, vmaxz, vbad = {0};
	for (int q = 0; q < 16; q++) {
		vtop[q] = top;
		vmaxz[q] = maxz;
	}
	while (a + 16 <= n) {
		u8x16 vz = {0};
		for (int s = 0; s < 255 && a + 16 <= n; s++, a += 16) {
			u8x16 v, z;
			memcpy(&v, code + a, 16);
			memcpy(&z, index + a, 16);
			u8x16 isz = (u8x16)(v == 0);
			vz -= isz;
			vbad |= (u8x16)(v > vtop) | (u8x16)(z > vmaxz) |
			        (isz & (u8x16)(z != vmaxz));
		}
		for (int q = 0; q < 16; q++)
			zeros += vz[q];
	}
	for (int q = 0; q < 16; q++)
		bad |= vbad[q];
#endif
	for (; a < n; a++) {
		uint8_t v = code[a], z = index[a];
		zeros += v == 0;
		bad |= (uint8_t)((v > top) | (z > maxz) | ((v == 0) & (z != maxz)));
	}
	w->nonzeros += n - zeros;
	w->bad |= bad;
}

/* Whether the last entry of a column ending at end (after begin) is a
 * padding, which must always be followed by an entry. */
static unsigned last_breaks(const spz_eie_pe *pe, uint32_t begin,
                            uint32_t end)
{
	return begin < end && pe->code[end - 1] == 0;
}

/*
 * One PE's slice: its pointers, then every entry by the rules above and
 * its decoded row inside the PE's rows. Two flat passes instead of a walk
 * per column (most columns hold a few entries, and a loop per column cost
 * more than the entries): the entries' own rules over the whole array,
 * then per column its last entry and, when its entries could reach past
 * the PE's rows at all, the rows they take (one each plus their indexes).
 * Any failure goes to column_error, column by column, for the first
 * broken rule in the order a walk would meet it.
 */
static int check_pe(const spz_eie *e, const spz_eie_layer *l, uint32_t k,
                    uint64_t *nonzeros, uint64_t *padding, spz_error *err)
{
	int rc = check_pointers(l, k, err);
	if (rc)
		return rc;
	const spz_eie_pe *pe = &l->pe[k];
	walk w = {.size = l->codebook_size, .maxz = SPZ_EIE_MAX_Z(e)};
	tally_entries(&w, pe);
	uint64_t local = (uint64_t)spz_eie_pe_rows(e, l, k);
	const uint32_t *ptr = pe->ptr;
	for (int64_t j = 0; !w.bad && j < l->cols; j++) {
		uint64_t s = ptr[j], end = ptr[j + 1];
		w.bad |= last_breaks(pe, (uint32_t)s, (uint32_t)end);
		/* At most maxz + 1 rows an entry: no sum needed when even
		 * that stays inside the PE. */
		if ((end - s) * (w.maxz + 1) <= local)
			continue;
		uint64_t rows = end - s;
		for (uint64_t a = s; a < end; a++)
			rows += pe->index[a];
		w.bad |= rows > local;
	}
	for (int64_t j = 0; w.bad && j < l->cols; j++)
		if ((rc = column_error(e, l, k, j, err)))
			return rc;
	*nonzeros += w.nonzeros;
	*padding += pe->n_entries - w.nonzeros;
	return 0;
}

/* The image as a whole, before its layers. */
static int check_image(const spz_eie *e, spz_error *err)
{
	if (e->pes < SPZ_EIE_PES_MIN || e->pes > SPZ_EIE_PES_MAX)
		return spz_fail(err, SPZ_ERANGE, "PE count %u is outside %d..%d",
		                e->pes, SPZ_EIE_PES_MIN, SPZ_EIE_PES_MAX);
	if (e->index_bits < SPZ_EIE_INDEX_BITS_MIN ||
	    e->index_bits > SPZ_EIE_INDEX_BITS_MAX)
		return spz_fail(err, SPZ_ERANGE, "index bits %d are outside "
		                "%d..%d", e->index_bits, SPZ_EIE_INDEX_BITS_MIN,
		                SPZ_EIE_INDEX_BITS_MAX);
	if (e->n_layers < 1 || !e->layers || !e->name)
		return spz_fail(err, SPZ_EFORMAT, "the image has no layer");
	return 0;
}

/* Layer i apart from its PE data: names, shape, its place in the chain. */
static int check_layer(const spz_eie *e, size_t i, spz_error *err)
{
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
	return 0;
}

/* The counts the layer records against those its entries give. */
static int check_counts(const spz_eie_layer *l, uint64_t nz, uint64_t pad,
                        spz_error *err)
{
	if (nz != l->nonzeros || pad != l->padding)
		return spz_fail(err, SPZ_EFORMAT, "layer '%s': %llu "
		                "non-zeros and %llu padding entries recorded, "
		                "%llu and %llu stored", l->node,
		                (unsigned long long)l->nonzeros,
		                (unsigned long long)l->padding,
		                (unsigned long long)nz,
		                (unsigned long long)pad);
	return 0;
}

/* PEs [k0, k1) of a layer, checked in order: their counts, or the
 * first fault. */
typedef struct pe_span {
	const spz_eie *e;
	const spz_eie_layer *l;
	uint32_t k0, k1;
	uint64_t nz, pad;
	int rc;
	spz_error err;
} pe_span;

static void *check_span(void *arg)
{
	pe_span *s = arg;
	for (uint32_t k = s->k0; !s->rc && k < s->k1; k++)
		s->rc = check_pe(s->e, s->l, k, &s->nz, &s->pad, &s->err);
	return NULL;
}

/* Layers of at least this many weights are checked as two halves of
 * their PEs on two threads (fc6, 4096x9216 on 64 PEs: 7.8 ms on one). */
#define CHECK_THREAD_MIN (INT64_C(1) << 22)

int spz_eie_validate(const spz_eie *e, spz_error *err)
{
	int rc = check_image(e, err);
	for (size_t i = 0; !rc && i < e->n_layers; i++) {
		const spz_eie_layer *l = &e->layers[i];
		if ((rc = check_layer(e, i, err)))
			break;
		/* PEs [0, half) here, [half, pes) on a thread (empty for a
		 * small layer; after the first half when no thread starts). */
		uint32_t half = e->pes > 1 && l->rows * l->cols >=
		                CHECK_THREAD_MIN ? e->pes / 2 : e->pes;
		pe_span h[2] = {{.e = e, .l = l, .k1 = half},
		                {.e = e, .l = l, .k0 = half, .k1 = e->pes}};
		spz_run_pair(check_span, &h[0], &h[1], half < e->pes);
		/* The fault a walk in PE order meets first. */
		const pe_span *bad = h[0].rc ? &h[0] : h[1].rc ? &h[1] : NULL;
		if (bad)
			rc = spz_fail(err, bad->rc, "%s", bad->err.text);
		else
			rc = check_counts(l, h[0].nz + h[1].nz, h[0].pad + h[1].pad,
			                  err);
	}
	return rc;
}

/*
 * Unpacking checks the entries as it decodes them instead of validating
 * first (that pass cost a fifth of the time): every write stays inside
 * its buffer whatever the entries say, the rules of check_pe are tallied
 * without a branch, and when anything is off unpack reruns
 * spz_eie_validate for its verdict and message.
 */
/*
 * Decodes entries [a, end) of one (PE, column) cell, going on from the
 * entry on row *row (-1 before the first): the entry on row r goes to
 * dst[r * stride] while r < stop. Returns the first entry not decoded:
 * end, or one at or past stop (the next tile's, or a bad one when stop is
 * the PE's rows).
 */
static inline uint32_t decode_cell(uint8_t *dst, size_t stride, int64_t stop,
                                   const spz_eie_pe *pe, uint32_t a,
                                   uint32_t end, int64_t *row)
{
	const uint8_t *code = pe->code, *index = pe->index;
	int64_t r = *row;
	for (; a < end; a++) {
		int64_t next = r + 1 + (int64_t)index[a];
		if (next >= stop)
			break;
		r = next;
		/* A padding writes the 0 already there: no branch. */
		dst[(size_t)r * stride] = code[a];
	}
	*row = r;
	return a;
}

/* Rows PE k owns: the first rows % pes PEs hold one more (no division
 * per cell, which spz_eie_pe_rows would cost). */
static int64_t pe_rows(int64_t q, int64_t rem, uint32_t k)
{
	return q + ((int64_t)k < rem);
}

/*
 * A transposed weight ([cols, rows]): column j of the matrix is contiguous
 * in storage, so it is filled from every PE's cell of column j before the
 * next (PE by PE would sweep the whole matrix once per PE). codes must be
 * zeroed: only the entries are written.
 */
static void decode_columns(uint8_t *codes, const spz_eie *e,
                           const spz_eie_layer *l, walk *w)
{
	int64_t q = l->rows / e->pes, rem = l->rows % e->pes;
	for (uint32_t k = 0; k < e->pes; k++)
		tally_entries(w, &l->pe[k]);
	for (int64_t j = 0; j < l->cols; j++) {
		uint8_t *col = codes + (size_t)j * (size_t)l->rows;
		for (uint32_t k = 0; k < e->pes; k++) {
			const spz_eie_pe *pe = &l->pe[k];
			uint32_t begin = pe->ptr[j], end = pe->ptr[j + 1];
			int64_t r = -1;
			w->bad |= (decode_cell(col + k, e->pes,
			                       pe_rows(q, rem, k), pe, begin, end,
			                       &r) != end) |
			          last_breaks(pe, begin, end);
		}
	}
}

/*
 * A row-major weight ([rows, cols]): a PE's rows lie pes * cols bytes
 * apart, often a multiple of a large power of two (64 x 9216 = 9 x 2^16)
 * that maps them all to the same cache sets, so writing them directly
 * thrashes (the fc6-sized layer: twice as slow). Each
 * PE is decoded instead a tile (local rows x columns, TILE_BYTES at most)
 * at a time into scratch whose rows are an odd number of cache lines
 * apart, and each tile row is copied out whole (so codes need not be
 * zeroed) and cleared. pos and row keep each column's place between tiles
 * of rows, needed when a PE has more than TILE_ROWS.
 */
#define TILE_BYTES ((size_t)512 << 10)
#define TILE_ROWS 256

/* Columns [0, n) of a band of one PE into the tile holding local rows
 * first..stop - 1, each from entry pos[c] after row[c] (updated). */
static void decode_tile(uint8_t *tile, size_t stride, int64_t first,
                        int64_t stop, const spz_eie_pe *pe,
                        const uint32_t *ptr, uint32_t *pos, int64_t *row,
                        int64_t n)
{
	for (int64_t c = 0; c < n; c++) {
		/* Rows relative to the tile: the entries left for it all lie
		 * at or after its first row. */
		int64_t r = row[c] - first;
		pos[c] = decode_cell(tile + c, stride, stop - first, pe, pos[c],
		                     ptr[c + 1], &r);
		row[c] = r + first;
	}
}

static int decode_rows(uint8_t *codes, const spz_eie *e,
                       const spz_eie_layer *l, walk *w)
{
	int64_t cols = l->cols, q = l->rows / e->pes, rem = l->rows % e->pes;
	int64_t most = pe_rows(q, rem, 0);
	int64_t height = most < TILE_ROWS ? most : TILE_ROWS;
	int64_t width = (int64_t)(TILE_BYTES / (size_t)height) / 64 * 64;
	width = width < 64 ? 64 : width > cols ? cols : width;
	size_t stride = (((size_t)width + 63) / 64 | 1) * 64;
	uint8_t *tile = calloc((size_t)height * stride, 1);
	uint32_t *pos = malloc((size_t)width * sizeof *pos);
	int64_t *row = malloc((size_t)width * sizeof *row);
	if (!tile || !pos || !row) {
		free(tile);
		free(pos);
		free(row);
		return SPZ_ENOMEM;
	}
	for (uint32_t k = 0; k < e->pes; k++) {
		const spz_eie_pe *pe = &l->pe[k];
		int64_t local = pe_rows(q, rem, k);
		tally_entries(w, pe);
		for (int64_t j0 = 0; j0 < cols; j0 += width) {
			int64_t n = cols - j0 < width ? cols - j0 : width;
			const uint32_t *ptr = pe->ptr + j0;
			for (int64_t c = 0; c < n; c++) {
				pos[c] = ptr[c];
				row[c] = -1;
			}
			for (int64_t r0 = 0; r0 < local; r0 += height) {
				int64_t stop = local - r0 < height ? local : r0 + height;
				decode_tile(tile, stride, r0, stop, pe, ptr, pos,
				            row, n);
				for (int64_t r = r0; r < stop; r++) {
					uint8_t *t = tile + (size_t)(r - r0) * stride;
					memcpy(codes + ((size_t)r * e->pes + k) *
					                   (size_t)cols + (size_t)j0,
					       t, (size_t)n);
					memset(t, 0, (size_t)n);
				}
			}
			/* Entries left over land past the PE's rows. */
			for (int64_t c = 0; c < n; c++)
				w->bad |= (pos[c] != ptr[c + 1]) |
				          last_breaks(pe, ptr[c], ptr[c + 1]);
		}
	}
	free(tile);
	free(pos);
	free(row);
	return 0;
}

/* The weight and bias of one layer (whose pointers passed), added to m;
 * the codes come from walking every PE's columns (row = PE + pes * local
 * row), which also checks the entries. */
static int unpack_tensors(spz_model *m, const spz_eie *e,
                          const spz_eie_layer *l, spz_error *err)
{
	int64_t rows = l->rows, cols = l->cols;
	int64_t wd[2] = {l->transposed ? cols : rows, l->transposed ? rows : cols};
	size_t n = (size_t)rows * (size_t)cols;
	float *cb = malloc(l->codebook_size * sizeof *cb);
	uint8_t *codes = spz_alloc_big(n + 1, l->transposed);
	spz_tensor *w = NULL;
	int rc = cb && codes ? 0 : spz_fail(err, SPZ_ENOMEM, "out of memory "
	                                    "unpacking '%s'", l->weight);
	/* Its zero-filled floats are never touched (calloc maps them
	 * lazily) and are freed by set_quantized. */
	if (!rc)
		rc = spz_model_add_tensor(&w, m, l->weight, wd, 2, NULL, err);
	walk wk = {.size = l->codebook_size, .maxz = SPZ_EIE_MAX_Z(e)};
	if (!rc && l->transposed)
		decode_columns(codes, e, l, &wk);
	else if (!rc && decode_rows(codes, e, l, &wk))
		rc = spz_fail(err, SPZ_ENOMEM, "out of memory unpacking '%s'",
		              l->weight);
	uint64_t entries = 0;
	for (uint32_t k = 0; k < e->pes; k++)
		entries += l->pe[k].n_entries;
	if (!rc && (wk.bad || wk.nonzeros != l->nonzeros ||
	            entries - wk.nonzeros != l->padding))
		rc = spz_fail(err, SPZ_EFORMAT, "layer '%s': bad entries",
		              l->node);
	if (rc) {
		free(cb);
		free(codes);
		return rc;
	}
	for (uint32_t c = 0; c < l->codebook_size; c++)
		cb[c] = (float)spz_from_fixed(l->codebook[c], l->codebook_frac);
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

/* The Flatten/Reshape before the first layer, with its shape tensor. */
static int unpack_pre(spz_model *m, const spz_eie_layer *l, spz_error *err)
{
	const char *name = l->anon & SPZ_EIE_ANON_PRE ? "" : l->pre_node;
	const char *ins[2] = {l->pre_input, l->pre_shape};
	const char *out = l->input;
	spz_node *n;
	if (l->pre_shape) {
		uint8_t raw[8 * 2];
		int64_t k = l->n_pre_values;
		for (int64_t v = 0; v < k; v++)
			for (int b = 0; b < 8; b++)
				raw[v * 8 + b] = (uint8_t)((uint64_t)l->pre_values[v] >>
				                           (8 * b));
		int rc = spz_model_add_raw_tensor(NULL, m, l->pre_shape,
		                                  SPZ_DTYPE_INT64, &k, 1, raw,
		                                  (uint64_t)k * 8, err);
		if (rc)
			return rc;
	}
	int rc = spz_model_add_node(&n, m, l->pre_op, name, ins,
	                            l->pre_shape ? 2 : 1, &out, 1);
	if (!rc && !l->pre_shape)
		rc = spz_node_set_number(n, "axis", (double)l->pre_values[0]);
	return rc ? spz_fail(err, SPZ_ENOMEM, "out of memory") : 0;
}

/* The Gemm/MatMul node, its bias Add and its Relu. */
static int unpack_nodes(spz_model *m, const spz_eie_layer *l)
{
	int add = l->add_node != NULL;
	const char *ins[3] = {l->input, l->weight, l->bias_name};
	const char *out = l->linear_out;
	spz_node *n;
	int rc = spz_model_add_node(&n, m, l->op, l->anon & SPZ_EIE_ANON_NODE ?
	                            "" : l->node, ins,
	                            l->bias_name && !add ? 3 : 2, &out, 1);
	if (!rc && !strcmp(l->op, "Gemm") && !l->transposed)
		rc = spz_node_set_number(n, "transB", 1);
	if (!rc && add) {
		const char *ain[2] = {l->linear_out, l->bias_name};
		if (l->add_bias_first) {
			ain[0] = l->bias_name;
			ain[1] = l->linear_out;
		}
		const char *aout = l->add_out;
		rc = spz_model_add_node(NULL, m, "Add", l->anon &
		                        SPZ_EIE_ANON_ADD ? "" : l->add_node, ain,
		                        2, &aout, 1);
	}
	if (!rc && l->act == SPZ_ACT_RELU) {
		const char *rin = add ? l->add_out : l->linear_out;
		const char *rout = l->output;
		rc = spz_model_add_node(NULL, m, "Relu", l->anon & SPZ_EIE_ANON_ACT ?
		                        "" : l->act_node, &rin, 1, &rout, 1);
	}
	return rc;
}

/* The model, checking the image as it goes (see struct walk). */
static int build(spz_model **out, const spz_eie *e, spz_error *err)
{
	int rc = check_image(e, err);
	if (rc)
		return rc;
	if (spz_model_new(out, e->name))
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	spz_model *m = *out;
	rc = spz_model_add_input(m, e->layers[0].pre_op ?
	                         e->layers[0].pre_input : e->layers[0].input);
	if (!rc)
		rc = spz_model_add_output(m, e->layers[e->n_layers - 1].output);
	if (rc)
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	for (size_t i = 0; !rc && i < e->n_layers; i++) {
		const spz_eie_layer *l = &e->layers[i];
		rc = check_layer(e, i, err);
		for (uint32_t k = 0; !rc && k < e->pes; k++)
			rc = check_pointers(l, k, err);
		if (!rc && l->pre_op)
			rc = unpack_pre(m, l, err);
		if (!rc)
			rc = unpack_tensors(m, e, l, err);
		if (!rc && unpack_nodes(m, l))
			rc = spz_fail(err, SPZ_ENOMEM, "out of memory");
	}
	return rc;
}

int spz_eie_unpack(spz_model **out, const spz_eie *e, spz_error *err)
{
	spz_model *m = NULL;
	int rc = build(&m, e, err);
	if (rc) {
		/* The answer validating first would give: its error if the
		 * image is bad (found in its order), else what stopped us. */
		spz_model_free(m);
		int v = spz_eie_validate(e, err);
		return v ? v : rc;
	}
	/* No spz_model_validate: a valid image only makes valid models
	 * (the unit tests check it), and scanning every code again would
	 * double unpack's time. */
	*out = m;
	return 0;
}
