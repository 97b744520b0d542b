/*
 * sparse.c - the textbook sparse forms of one weight: CSR / CSC (values,
 * indices, pointers) and NVIDIA's N:M compressed form (N kept values per
 * group of M along the reduction axis, with their positions). Exact both
 * ways: an element is stored when its code is non-zero (quantized) or its
 * float bits are not all zero (so -0.0 survives the trip).
 */
#include "spz.h"

#include <stdlib.h>
#include <string.h>

void spz_sparse_clear(spz_sparse *s)
{
	if (!s)
		return;
	free(s->values);
	free(s->codes);
	free(s->indices);
	free(s->pointers);
	memset(s, 0, sizeof *s);
}

static int stored(const spz_tensor *t, int64_t i)
{
	if (t->codebook)
		return t->codes[i] != 0;
	uint32_t bits;
	memcpy(&bits, &t->data[i], 4);
	return bits != 0;
}

static int alloc_values(spz_sparse *s, const spz_tensor *t, uint64_t n)
{
	s->quantized = t->codebook != NULL;
	s->n_values = n;
	s->indices = malloc((n + 1) * sizeof *s->indices);
	if (s->quantized)
		s->codes = malloc(n + 1);
	else
		s->values = malloc((n + 1) * sizeof *s->values);
	return s->indices && (s->codes || s->values) ? 0 : SPZ_ENOMEM;
}

static void copy_value(spz_sparse *s, uint64_t at, const spz_tensor *t,
                       int64_t i)
{
	if (s->quantized)
		s->codes[at] = t->codes[i];
	else
		s->values[at] = t->data[i];
}

/* The tensor as a matrix [dims[0], rest] (a 1-D tensor is one row). */
static void matrix_of(const spz_tensor *t, int64_t *rows, int64_t *cols)
{
	int64_t n = spz_tensor_elements(t);
	*rows = t->ndims ? t->dims[0] : 1;
	*cols = *rows ? n / *rows : 0;
}

static int from_csx(spz_sparse *s, const spz_tensor *t, int by_cols)
{
	int64_t rows, cols;
	matrix_of(t, &rows, &cols);
	s->rows = rows;
	s->cols = cols;
	int64_t outer = by_cols ? cols : rows, inner = by_cols ? rows : cols;
	uint64_t n = 0;
	int64_t total = rows * cols;
	for (int64_t i = 0; i < total; i++)
		n += (uint64_t)stored(t, i);
	s->pointers = calloc((size_t)outer + 1, sizeof *s->pointers);
	if (!s->pointers || alloc_values(s, t, n))
		return SPZ_ENOMEM;
	/* Count per outer index, prefix, then place in inner order. */
	for (int64_t i = 0; i < total; i++)
		if (stored(t, i))
			s->pointers[(by_cols ? i % cols : i / cols) + 1]++;
	for (int64_t o = 0; o < outer; o++)
		s->pointers[o + 1] += s->pointers[o];
	uint64_t *cur = malloc(((size_t)outer + 1) * sizeof *cur);
	if (!cur)
		return SPZ_ENOMEM;
	memcpy(cur, s->pointers, (size_t)outer * sizeof *cur);
	for (int64_t i = 0; i < total; i++) {
		if (!stored(t, i))
			continue;
		int64_t r = i / cols, c = i % cols;
		uint64_t at = cur[by_cols ? c : r]++;
		s->indices[at] = (uint32_t)(by_cols ? r : c);
		copy_value(s, at, t, i);
	}
	free(cur);
	(void)inner;
	return 0;
}

/* Strides of the N:M view: logical row o = (h, l), element kk of the
 * group axis, storage index h * K * inner + kk * inner + l. */
static int64_t nm_index(int64_t o, int64_t kk, int64_t k, int64_t inner)
{
	return (o / inner) * k * inner + kk * inner + o % inner;
}

static void nm_shape(const spz_tensor *t, int axis, int64_t *outer,
                     int64_t *k, int64_t *inner)
{
	*inner = 1;
	for (int d = axis + 1; d < t->ndims; d++)
		*inner *= t->dims[d];
	*k = t->dims[axis];
	*outer = *k ? spz_tensor_elements(t) / *k : 0;
}

static int from_nm(spz_sparse *s, const spz_tensor *t, spz_error *err)
{
	int64_t outer, k, inner;
	nm_shape(t, s->nm_axis, &outer, &k, &inner);
	s->rows = outer;
	s->cols = k;
	int64_t groups = (k + s->nm_m - 1) / s->nm_m;
	/* Every group keeps min(N, its size) slots. */
	int64_t last = k - (groups - 1) * s->nm_m;
	uint64_t per_row = (uint64_t)(groups - 1) * (uint64_t)s->nm_n +
	                   (uint64_t)(last < s->nm_n ? last : s->nm_n);
	if (!groups)
		per_row = 0;
	if (alloc_values(s, t, per_row * (uint64_t)outer))
		return SPZ_ENOMEM;
	uint64_t at = 0;
	for (int64_t o = 0; o < outer; o++)
		for (int64_t g = 0; g < groups; g++) {
			int64_t base = g * s->nm_m;
			int size = (int)(k - base < s->nm_m ? k - base : s->nm_m);
			int slots = size < s->nm_n ? size : s->nm_n, have = 0;
			for (int q = 0; q < size; q++)
				have += stored(t, nm_index(o, base + q, k, inner));
			if (have > s->nm_n)
				return spz_fail(err, SPZ_EUNSUPPORTED,
				                "tensor '%s' does not satisfy %d:%d: "
				                "group %lld of row %lld has %d "
				                "non-zeros (prune it with spz prune "
				                "--nm first, or pick --nm)", t->name,
				                s->nm_n, s->nm_m, (long long)g,
				                (long long)o, have);
			/* The non-zeros, plus the first zeros as fillers, in
			 * position order. */
			int fill = slots - have;
			for (int q = 0; q < size; q++) {
				int64_t i = nm_index(o, base + q, k, inner);
				int keep = stored(t, i);
				if (!keep && fill > 0) {
					keep = 1;
					fill--;
				}
				if (!keep)
					continue;
				s->indices[at] = (uint32_t)q;
				copy_value(s, at++, t, i);
			}
		}
	return 0;
}

int spz_sparse_from_tensor(spz_sparse *out, const spz_tensor *t,
                           const spz_sparse_options *o, spz_error *err)
{
	memset(out, 0, sizeof *out);
	out->format = o->format;
	out->bits = t->bits;
	int64_t rows, cols;
	matrix_of(t, &rows, &cols);
	if (rows > UINT32_MAX || cols > UINT32_MAX)
		return spz_fail(err, SPZ_EUNSUPPORTED, "tensor '%s' has a side "
		                "longer than 4294967295", t->name);
	int rc;
	if (o->format == SPZ_SPARSE_NM) {
		if (o->nm_n < 1 || o->nm_m < o->nm_n || o->nm_m > 256 ||
		    o->axis < 0 || o->axis >= t->ndims)
			return spz_fail(err, SPZ_EINVAL, "tensor '%s': bad N:M "
			                "pattern or axis", t->name);
		out->nm_n = o->nm_n;
		out->nm_m = o->nm_m;
		out->nm_axis = o->axis;
		rc = from_nm(out, t, err);
	} else if (o->format == SPZ_SPARSE_CSR || o->format == SPZ_SPARSE_CSC) {
		rc = from_csx(out, t, o->format == SPZ_SPARSE_CSC);
	} else {
		return spz_fail(err, SPZ_EINVAL, "unknown sparse format %d",
		                o->format);
	}
	if (rc == SPZ_ENOMEM)
		spz_fail(err, rc, "out of memory packing '%s'", t->name);
	if (rc)
		spz_sparse_clear(out);
	return rc;
}

/* Checks s against t's shape before anything is written. */
static int check_sparse(const spz_sparse *s, const spz_tensor *t,
                        spz_error *err)
{
	const char *nm = t->name;
	if (!s->quantized != !t->codebook)
		return spz_fail(err, SPZ_EFORMAT, "tensor '%s': values and "
		                "codebook disagree", nm);
	for (uint64_t a = 0; s->quantized && a < s->n_values; a++)
		if (s->codes[a] >= t->codebook_size)
			return spz_fail(err, SPZ_ERANGE, "tensor '%s': code %u of "
			                "value %llu is outside the codebook of %u",
			                nm, s->codes[a], (unsigned long long)a,
			                t->codebook_size);
	if (s->format == SPZ_SPARSE_NM) {
		int64_t outer, k, inner;
		nm_shape(t, s->nm_axis, &outer, &k, &inner);
		if (s->rows != outer || s->cols != k)
			return spz_fail(err, SPZ_EFORMAT, "tensor '%s': N:M shape "
			                "differs from its dims", nm);
		return 0;
	}
	int64_t rows, cols;
	matrix_of(t, &rows, &cols);
	if (s->rows != rows || s->cols != cols)
		return spz_fail(err, SPZ_EFORMAT, "tensor '%s': %lldx%lld "
		                "differs from its dims", nm, (long long)s->rows,
		                (long long)s->cols);
	int by_cols = s->format == SPZ_SPARSE_CSC;
	int64_t outer = by_cols ? cols : rows, inner = by_cols ? rows : cols;
	const uint64_t *p = s->pointers;
	if (p[0] != 0 || p[outer] != s->n_values)
		return spz_fail(err, SPZ_EFORMAT, "tensor '%s': pointers must "
		                "run from 0 to %llu", nm,
		                (unsigned long long)s->n_values);
	for (int64_t o = 0; o < outer; o++) {
		if (p[o + 1] < p[o] || p[o + 1] > s->n_values)
			return spz_fail(err, SPZ_EFORMAT, "tensor '%s': pointer "
			                "%lld (%llu) is below the previous or past "
			                "the end", nm, (long long)(o + 1),
			                (unsigned long long)p[o + 1]);
		for (uint64_t a = p[o]; a < p[o + 1]; a++)
			if (s->indices[a] >= inner ||
			    (a > p[o] && s->indices[a] <= s->indices[a - 1]))
				return spz_fail(err, SPZ_EFORMAT, "tensor '%s': "
				                "index %u of value %llu is out of "
				                "range or out of order", nm,
				                s->indices[a], (unsigned long long)a);
	}
	return 0;
}

int spz_sparse_to_tensor(spz_tensor *t, const spz_sparse *s,
                         spz_error *err)
{
	int rc = check_sparse(s, t, err);
	if (rc)
		return rc;
	int64_t n = spz_tensor_elements(t);
	if (t->codebook)
		memset(t->codes, 0, (size_t)n);
	else
		memset(t->data, 0, (size_t)n * sizeof(float));
	if (s->format != SPZ_SPARSE_NM) {
		int by_cols = s->format == SPZ_SPARSE_CSC;
		int64_t outer = by_cols ? s->cols : s->rows;
		for (int64_t o = 0; o < outer; o++)
			for (uint64_t a = s->pointers[o]; a < s->pointers[o + 1];
			     a++) {
				int64_t i = by_cols ? (int64_t)s->indices[a] * s->cols + o
				                    : o * s->cols + s->indices[a];
				if (t->codebook)
					t->codes[i] = s->codes[a];
				else
					t->data[i] = s->values[a];
			}
		return 0;
	}
	int64_t outer, k, inner;
	nm_shape(t, s->nm_axis, &outer, &k, &inner);
	int64_t groups = (k + s->nm_m - 1) / s->nm_m;
	uint64_t at = 0;
	for (int64_t o = 0; o < outer; o++)
		for (int64_t g = 0; g < groups; g++) {
			int64_t base = g * s->nm_m;
			int size = (int)(k - base < s->nm_m ? k - base : s->nm_m);
			int slots = size < s->nm_n ? size : s->nm_n;
			for (int q = 0; q < slots; q++, at++) {
				unsigned pos = at < s->n_values ? s->indices[at]
				                                : UINT32_MAX;
				if (pos >= (unsigned)size ||
				    (q && pos <= s->indices[at - 1]))
					return spz_fail(err, SPZ_EFORMAT, "tensor '%s': "
					                "position %u of value %llu is out "
					                "of range or out of order",
					                t->name, pos,
					                (unsigned long long)at);
				int64_t i = nm_index(o, base + pos, k, inner);
				if (t->codebook)
					t->codes[i] = s->codes[at];
				else
					t->data[i] = s->values[at];
			}
		}
	if (at != s->n_values)
		return spz_fail(err, SPZ_EFORMAT, "tensor '%s': %llu values for "
		                "%llu slots", t->name,
		                (unsigned long long)s->n_values,
		                (unsigned long long)at);
	return 0;
}
