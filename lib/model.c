/*
 * model.c - the model IR: construction, ownership, lookup and validation.
 */
#define _DEFAULT_SOURCE
#include "spz.h"
#include "big_alloc.h"
#include "finite.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static char *dupstr(const char *s)
{
	size_t n = strlen(s ? s : "") + 1;
	char *d = malloc(n);
	if (d)
		memcpy(d, s ? s : "", n);
	return d;
}

/* Grows *arr (of *n items of size sz) by one zeroed item; NULL on failure. */
static void *grow(void *arr, size_t *n, size_t sz)
{
	void **p = arr;
	void *na = realloc(*p, (*n + 1) * sz);
	if (!na)
		return NULL;
	*p = na;
	memset((char *)na + *n * sz, 0, sz);
	return (char *)na + (*n)++ * sz;
}

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int dup_strv(char ***out, const char *const *v, size_t n)
{
	char **d = calloc(n ? n : 1, sizeof *d);
	if (!d)
		return SPZ_ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (!(d[i] = dupstr(v[i]))) {
			free_strv(d, i);
			return SPZ_ENOMEM;
		}
	*out = d;
	return 0;
}

int spz_model_new(spz_model **out, const char *name)
{
	spz_model *m = calloc(1, sizeof *m);
	if (!m || !(m->name = dupstr(name))) {
		free(m);
		return SPZ_ENOMEM;
	}
	*out = m;
	return 0;
}

static void free_attr(spz_attr *a)
{
	free(a->name);
	free(a->string);
	free(a->numbers);
}

static void free_tensor(spz_tensor *t)
{
	free(t->name);
	spz_tensor_drop_data(t);
	free(t->codebook);
	free(t->codes);
	free(t->prune);
	free(t->raw);
	free(t->onnx);
	free(t->mask);
	free(t->nz);
	free(t->nz_codes);
}

void spz_model_free(spz_model *m)
{
	if (!m)
		return;
	free(m->name);
	free_strv(m->inputs, m->n_inputs);
	free_strv(m->outputs, m->n_outputs);
	for (size_t i = 0; i < m->n_nodes; i++) {
		spz_node *n = &m->nodes[i];
		free(n->op);
		free(n->name);
		free_strv(n->inputs, n->n_inputs);
		free_strv(n->outputs, n->n_outputs);
		for (size_t k = 0; k < n->n_attrs; k++)
			free_attr(&n->attrs[k]);
		free(n->attrs);
	}
	free(m->nodes);
	for (size_t i = 0; i < m->n_tensors; i++)
		free_tensor(&m->tensors[i]);
	free(m->tensors);
	for (size_t i = 0; i < m->n_history; i++) {
		spz_step *s = &m->history[i];
		free(s->tool);
		free(s->version);
		for (size_t k = 0; k < s->n_params; k++) {
			free(s->params[k].key);
			free(s->params[k].value);
		}
		free(s->params);
	}
	free(m->history);
	free(m->onnx);
	/* Last: the tensors above may have borrowed from these. */
	for (size_t i = 0; i < m->n_maps; i++)
		munmap(m->maps[i].base, m->maps[i].len);
	free(m->maps);
	free(m);
}

static int add_name(char ***v, size_t *n, const char *value)
{
	char *d = dupstr(value);
	char **slot = d ? grow(v, n, sizeof **v) : NULL;
	if (!slot) {
		free(d);
		return SPZ_ENOMEM;
	}
	*slot = d;
	return 0;
}

int spz_model_add_input(spz_model *m, const char *value)
{
	return add_name(&m->inputs, &m->n_inputs, value);
}

int spz_model_add_output(spz_model *m, const char *value)
{
	return add_name(&m->outputs, &m->n_outputs, value);
}

int spz_model_add_node(spz_node **out, spz_model *m, const char *op,
                       const char *name, const char *const *inputs,
                       size_t n_inputs, const char *const *outputs,
                       size_t n_outputs)
{
	spz_node n = {0};
	n.n_inputs = n_inputs;
	n.n_outputs = n_outputs;
	if (!(n.op = dupstr(op)) || !(n.name = dupstr(name)) ||
	    dup_strv(&n.inputs, inputs, n_inputs) ||
	    dup_strv(&n.outputs, outputs, n_outputs))
		goto fail;
	spz_node *slot = grow(&m->nodes, &m->n_nodes, sizeof *slot);
	if (!slot)
		goto fail;
	*slot = n;
	if (out)
		*out = slot;
	return 0;
fail:
	free(n.op);
	free(n.name);
	if (n.inputs)
		free_strv(n.inputs, n_inputs);
	if (n.outputs)
		free_strv(n.outputs, n_outputs);
	return SPZ_ENOMEM;
}

const spz_attr *spz_node_attr(const spz_node *n, const char *name)
{
	for (size_t i = 0; i < n->n_attrs; i++)
		if (!strcmp(n->attrs[i].name, name))
			return &n->attrs[i];
	return NULL;
}

double spz_node_number(const spz_node *n, const char *name, double dflt)
{
	const spz_attr *a = spz_node_attr(n, name);
	return a && a->type == SPZ_ATTR_NUMBER ? a->number : dflt;
}

/* Installs a (filled) attribute, replacing one of the same name. */
static int put_attr(spz_node *n, spz_attr a)
{
	spz_attr *slot = (spz_attr *)spz_node_attr(n, a.name);
	if (slot) {
		free_attr(slot);
	} else if (!(slot = grow(&n->attrs, &n->n_attrs, sizeof *slot))) {
		free_attr(&a);
		return SPZ_ENOMEM;
	}
	*slot = a;
	return 0;
}

int spz_node_set_number(spz_node *n, const char *name, double v)
{
	spz_attr a = {.type = SPZ_ATTR_NUMBER, .number = v};
	if (!(a.name = dupstr(name)))
		return SPZ_ENOMEM;
	return put_attr(n, a);
}

int spz_node_set_string(spz_node *n, const char *name, const char *v)
{
	spz_attr a = {.type = SPZ_ATTR_STRING};
	a.name = dupstr(name);
	a.string = dupstr(v);
	if (!a.name || !a.string) {
		free_attr(&a);
		return SPZ_ENOMEM;
	}
	return put_attr(n, a);
}

int spz_node_set_numbers(spz_node *n, const char *name, const double *v,
                         size_t count)
{
	spz_attr a = {.type = SPZ_ATTR_NUMBERS, .n_numbers = count};
	a.name = dupstr(name);
	a.numbers = malloc((count ? count : 1) * sizeof *v);
	if (!a.name || !a.numbers) {
		free_attr(&a);
		return SPZ_ENOMEM;
	}
	if (count)
		memcpy(a.numbers, v, count * sizeof *v);
	return put_attr(n, a);
}

int64_t spz_dims_elements(const int64_t *dims, int ndims)
{
	int64_t n = 1;
	int64_t cap = (int64_t)(SIZE_MAX / sizeof(float) < INT64_MAX
	                                ? SIZE_MAX / sizeof(float)
	                                : INT64_MAX);
	for (int i = 0; i < ndims; i++) {
		if (dims[i] < 0)
			return -1;
		if (dims[i] && n > cap / dims[i])
			return -1;
		n *= dims[i];
	}
	return n;
}

int64_t spz_tensor_elements(const spz_tensor *t)
{
	return spz_dims_elements(t->dims, t->ndims);
}

spz_tensor *spz_model_tensor(const spz_model *m, const char *name)
{
	for (size_t i = 0; i < m->n_tensors; i++)
		if (!strcmp(m->tensors[i].name, name))
			return &m->tensors[i];
	return NULL;
}

/*
 * Large buffers ask for transparent huge pages: the first write to a fresh
 * buffer otherwise takes one page fault per 4 KiB, which costs several
 * times the copy that fills it (a reader's read() into a new 151 MB
 * tensor: ~55 ms with 4 KiB pages, ~12 ms with 2 MiB ones).
 */
void *spz_alloc_big(size_t bytes, int zero)
{
	void *p = zero ? calloc(bytes, 1) : malloc(bytes);
#ifdef MADV_HUGEPAGE
	long page = sysconf(_SC_PAGESIZE);
	if (p && page > 0 && bytes >= ((size_t)8 << 20)) {
		uintptr_t a = ((uintptr_t)p + (uintptr_t)page - 1) &
		              ~((uintptr_t)page - 1);
		uintptr_t e = ((uintptr_t)p + bytes) & ~((uintptr_t)page - 1);
		(void)madvise((void *)a, e - a, MADV_HUGEPAGE); /* a hint */
	}
#endif
	return p;
}

void *spz_alloc_fresh(size_t bytes)
{
	const size_t huge = (size_t)2 << 20;
	/* Whole huge pages: a partial last one would fall back to a fault
	 * per 4 KiB. From 64 KiB on, since a first touch of a 4 KiB page
	 * can cost as much as clearing 64 KiB (measured on a VM: ~12 us a
	 * small page, ~0.25 us per 4 KiB of a huge one). */
	size_t len = bytes < huge ? huge : (bytes + huge - 1) / huge * huge;
	void *p = NULL;
	if (bytes < ((size_t)64 << 10) || len < bytes ||
	    posix_memalign(&p, huge, len))
		return malloc(bytes);
#ifdef MADV_HUGEPAGE
	(void)madvise(p, len, MADV_HUGEPAGE); /* a hint */
#endif
	return p;
}

/* Tensor data (n floats; no overflow: n passed spz_dims_elements). */
static float *alloc_floats(size_t n, int zero)
{
	return spz_alloc_big(n * sizeof(float), zero);
}

int spz_dtype_is_float(int dtype)
{
	return dtype == SPZ_DTYPE_FLOAT || dtype == SPZ_DTYPE_FLOAT16 ||
	       dtype == SPZ_DTYPE_BFLOAT16 || dtype == SPZ_DTYPE_DOUBLE;
}

int spz_dtype_size(int dtype)
{
	switch (dtype) {
	case SPZ_DTYPE_UINT8: case SPZ_DTYPE_INT8: case SPZ_DTYPE_BOOL:
		return 1;
	case SPZ_DTYPE_UINT16: case SPZ_DTYPE_INT16: case SPZ_DTYPE_FLOAT16:
	case SPZ_DTYPE_BFLOAT16:
		return 2;
	case SPZ_DTYPE_FLOAT: case SPZ_DTYPE_INT32: case SPZ_DTYPE_UINT32:
		return 4;
	case SPZ_DTYPE_INT64: case SPZ_DTYPE_UINT64: case SPZ_DTYPE_DOUBLE:
		return 8;
	default:
		return 0;
	}
}

/* Why dims have no element count (spz_dims_elements < 0): a negative dim
 * or a product beyond int64, or a product that fits but whose byte count
 * does not fit in memory sizes (size_t). */
static int shape_fail(spz_error *err, const char *name, const int64_t *dims,
                      int ndims)
{
	int64_t n = 1;
	for (int i = 0; i < ndims; i++) {
		if (dims[i] < 0 || (dims[i] && n > INT64_MAX / dims[i]))
			return spz_fail(err, SPZ_ERANGE, "tensor '%s': dims are "
			                "negative or their product overflows", name);
		n *= dims[i];
	}
	return spz_fail(err, SPZ_ERANGE, "tensor '%s': its byte count "
	                "overflows (%lld elements)", name, (long long)n);
}

/* What every tensor constructor checks first: dims within bounds, the
 * name new, the element count representable. *n gets the count. */
static int tensor_shape(int64_t *n, const spz_model *m, const char *name,
                        const int64_t *dims, int ndims, spz_error *err)
{
	if (ndims < 0 || ndims > SPZ_MAX_DIMS)
		return spz_fail(err, SPZ_ERANGE,
		                "tensor '%s' has %d dims (at most %d)", name,
		                ndims, SPZ_MAX_DIMS);
	if (spz_model_tensor(m, name))
		return spz_fail(err, SPZ_EEXIST, "duplicate tensor name '%s'",
		                name);
	*n = spz_dims_elements(dims, ndims);
	if (*n < 0)
		return shape_fail(err, name, dims, ndims);
	return 0;
}

/* Appends t (owned from here on, freed on failure) to m. */
static int append_tensor(spz_tensor **out, spz_model *m, spz_tensor t,
                         spz_error *err)
{
	spz_tensor *slot = grow(&m->tensors, &m->n_tensors, sizeof *slot);
	if (!slot) {
		free_tensor(&t);
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	}
	*slot = t;
	if (out)
		*out = slot;
	return 0;
}

int spz_model_add_tensor(spz_tensor **out, spz_model *m, const char *name,
                         const int64_t *dims, int ndims, const float *data,
                         spz_error *err)
{
	int64_t n;
	int rc = tensor_shape(&n, m, name, dims, ndims, err);
	if (rc)
		return rc;
	spz_tensor t = {.dtype = SPZ_DTYPE_FLOAT, .ndims = ndims};
	memcpy(t.dims, dims, (size_t)ndims * sizeof *dims);
	t.name = dupstr(name);
	t.data = alloc_floats((size_t)n + 1, data == NULL);
	if (!t.name || !t.data) {
		free_tensor(&t);
		return spz_fail(err, SPZ_ENOMEM, "out of memory for tensor '%s'",
		                name);
	}
	if (data && n)
		memcpy(t.data, data, (size_t)n * sizeof(float));
	return append_tensor(out, m, t, err);
}

int spz_model_add_tensor_shape(spz_tensor **out, spz_model *m,
                               const char *name, const int64_t *dims,
                               int ndims, spz_error *err)
{
	int64_t n;
	int rc = tensor_shape(&n, m, name, dims, ndims, err);
	if (rc)
		return rc;
	spz_tensor t = {.dtype = SPZ_DTYPE_FLOAT, .ndims = ndims};
	memcpy(t.dims, dims, (size_t)ndims * sizeof *dims);
	if (!(t.name = dupstr(name)))
		return spz_fail(err, SPZ_ENOMEM, "out of memory for tensor '%s'",
		                name);
	return append_tensor(out, m, t, err);
}

int spz_tensor_alloc(spz_tensor *t, spz_error *err)
{
	size_t n = (size_t)spz_tensor_elements(t);
	if (t->codebook && !t->codes)
		t->codes = spz_alloc_big(n + 1, 0);
	else if (!t->codebook && !t->data)
		t->data = alloc_floats(n + 1, 0);
	if (t->codebook ? !t->codes : !t->data)
		return spz_fail(err, SPZ_ENOMEM, "out of memory for tensor '%s'",
		                t->name);
	return 0;
}

void spz_tensor_drop_data(spz_tensor *t)
{
	if (!t->data_borrowed)
		free(t->data);
	t->data = NULL;
	t->data_borrowed = 0;
	if (t->src) {
		t->src->close(t->src->ctx);
		free(t->src);
		t->src = NULL;
	}
}

void spz_tensor_set_data(spz_tensor *t, float *data)
{
	spz_tensor_drop_data(t);
	t->data = data;
}

void spz_tensor_borrow_data(spz_tensor *t, float *data)
{
	spz_tensor_drop_data(t);
	t->data = data;
	t->data_borrowed = data != NULL;
}

int spz_tensor_own_data(spz_tensor *t, spz_error *err)
{
	if (!t->data_borrowed)
		return 0;
	size_t n = (size_t)spz_tensor_elements(t);
	float *d = alloc_floats(n + 1, 0);
	if (!d)
		return spz_fail(err, SPZ_ENOMEM, "out of memory for tensor '%s'",
		                t->name);
	memcpy(d, t->data, n * sizeof *d);
	spz_tensor_set_data(t, d);
	return 0;
}

int spz_model_hold_mapping(spz_model *m, void *base, size_t len)
{
	struct spz_mapping *slot = grow(&m->maps, &m->n_maps, sizeof *slot);
	if (!slot)
		return SPZ_ENOMEM;
	slot->base = base;
	slot->len = len;
	return 0;
}

int spz_model_add_raw_tensor(spz_tensor **out, spz_model *m,
                             const char *name, int dtype,
                             const int64_t *dims, int ndims, const void *raw,
                             uint64_t raw_len, spz_error *err)
{
	if (spz_dtype_is_float(dtype))
		return spz_fail(err, SPZ_EINVAL, "tensor '%s': data type %d is "
		                "held as float32, not raw", name, dtype);
	int64_t n;
	int rc = tensor_shape(&n, m, name, dims, ndims, err);
	if (rc)
		return rc;
	int size = spz_dtype_size(dtype);
	if (size && (uint64_t)n > UINT64_MAX / (uint64_t)size)
		return spz_fail(err, SPZ_ERANGE, "tensor '%s': byte count "
		                "overflows", name);
	if (size && raw_len != (uint64_t)n * (uint64_t)size)
		return spz_fail(err, SPZ_ERANGE, "tensor '%s': %llu bytes for "
		                "%lld elements of %d bytes", name,
		                (unsigned long long)raw_len, (long long)n, size);
	if (raw_len > SIZE_MAX - 1)
		return spz_fail(err, SPZ_ERANGE, "tensor '%s' is too large",
		                name);
	spz_tensor t = {.dtype = dtype, .ndims = ndims, .raw_len = raw_len};
	memcpy(t.dims, dims, (size_t)ndims * sizeof *dims);
	t.name = dupstr(name);
	t.raw = calloc((size_t)raw_len + 1, 1);
	if (!t.name || !t.raw) {
		free_tensor(&t);
		return spz_fail(err, SPZ_ENOMEM, "out of memory for tensor '%s'",
		                name);
	}
	if (raw_len && raw)
		memcpy(t.raw, raw, (size_t)raw_len);
	return append_tensor(out, m, t, err);
}

int spz_tensor_int64(int64_t *out, const spz_tensor *t, int64_t i)
{
	int size = spz_dtype_size(t->dtype);
	if (!t->raw || !size || spz_dtype_is_float(t->dtype) ||
	    i < 0 || (uint64_t)(i + 1) * (uint64_t)size > t->raw_len)
		return SPZ_EUNSUPPORTED;
	const uint8_t *p = t->raw + (size_t)i * (size_t)size;
	uint64_t u = 0;
	for (int k = size - 1; k >= 0; k--)
		u = u << 8 | p[k];
	int is_signed = t->dtype == SPZ_DTYPE_INT8 ||
	                t->dtype == SPZ_DTYPE_INT16 ||
	                t->dtype == SPZ_DTYPE_INT32 ||
	                t->dtype == SPZ_DTYPE_INT64;
	if (is_signed && size < 8 && (u >> (size * 8 - 1)) & 1)
		u |= ~(uint64_t)0 << (size * 8); /* sign-extend */
	if (!is_signed && u > (uint64_t)INT64_MAX)
		return SPZ_ERANGE;
	memcpy(out, &u, sizeof u);
	return 0;
}

float spz_tensor_value(const spz_tensor *t, int64_t i)
{
	return t->codebook ? t->codebook[t->codes[i]] : t->data[i];
}

int64_t spz_tensor_nonzeros(const spz_tensor *t)
{
	int64_t n = spz_tensor_elements(t), nz = 0;
	if (!t->data && !t->codebook) {
		/* Carried bytes: an element is zero when all its bytes are. */
		size_t size = (size_t)spz_dtype_size(t->dtype);
		for (int64_t i = 0; size && t->raw &&
		                    (uint64_t)(i + 1) * size <= t->raw_len; i++) {
			int any = 0;
			for (size_t k = 0; k < size; k++)
				any |= t->raw[(size_t)i * size + k];
			nz += any != 0;
		}
		return nz;
	}
	if (t->codebook) {
		for (int64_t i = 0; i < n; i++)
			nz += t->codebook[t->codes[i]] != 0.0f;
	} else {
		for (int64_t i = 0; i < n; i++)
			nz += t->data[i] != 0.0f;
	}
	return nz;
}

void spz_tensor_set_quantized(spz_tensor *t, int bits, float *codebook,
                              uint32_t size, uint8_t *codes)
{
	spz_tensor_drop_data(t);
	free(t->codebook);
	free(t->codes);
	t->bits = bits;
	t->codebook = codebook;
	t->codebook_size = size;
	t->codes = codes;
}

void spz_tensor_set_sparse(spz_tensor *t, uint64_t *mask, int64_t nnz,
                           float *nz, uint8_t *nz_codes)
{
	free(t->mask);
	free(t->nz);
	free(t->nz_codes);
	if (t->codebook) {
		free(t->codes);
		t->codes = NULL;
	} else {
		spz_tensor_drop_data(t); /* freed, or forgotten if borrowed */
	}
	t->mask = mask;
	t->nnz = nnz;
	t->nz = nz;
	t->nz_codes = nz_codes;
}

void spz_tensor_expand(void *out, const spz_tensor *t)
{
	size_t n = (size_t)spz_tensor_elements(t), j = 0;
	for (size_t w = 0; w * 64 < n; w++)
		for (uint64_t m = t->mask[w]; m; m &= m - 1, j++) {
			size_t i = w * 64 + (size_t)__builtin_ctzll(m);
			if (t->codebook)
				((uint8_t *)out)[i] = t->nz_codes[j];
			else
				((float *)out)[i] = t->nz[j];
		}
}

int spz_tensor_densify(spz_tensor *t, spz_error *err)
{
	if (!t->mask)
		return 0;
	int rc = spz_tensor_undefer(t, err);
	if (rc)
		return rc;
	size_t n = (size_t)spz_tensor_elements(t);
	float *data = NULL;
	uint8_t *codes = NULL;
	if (t->codebook)
		codes = spz_alloc_big(n + 1, 1);
	else
		data = alloc_floats(n + 1, 1);
	if (!data && !codes)
		return spz_fail(err, SPZ_ENOMEM, "out of memory for tensor '%s'",
		                t->name);
	spz_tensor_expand(codes ? (void *)codes : (void *)data, t);
	free(t->mask);
	free(t->nz);
	free(t->nz_codes);
	t->mask = NULL;
	t->nz = NULL;
	t->nz_codes = NULL;
	t->nnz = 0;
	if (codes)
		t->codes = codes;
	else
		t->data = data;
	return 0;
}

int spz_tensor_undefer(spz_tensor *t, spz_error *err)
{
	if (!t->src)
		return 0;
	/* A sparse tensor's source holds its stored values. */
	int64_t n = t->mask ? t->nnz : spz_tensor_elements(t);
	float *data = alloc_floats((size_t)n + 1, 0);
	if (!data)
		return spz_fail(err, SPZ_ENOMEM, "out of memory for tensor '%s'",
		                t->name);
	int rc = n ? t->src->read(t->src->ctx, 0, n, data, err) : 0;
	if (rc) {
		free(data);
		return rc;
	}
	if (t->mask) {
		spz_tensor_drop_data(t); /* only the source: no data */
		t->nz = data;
		return 0;
	}
	spz_tensor_set_data(t, data); /* and the source closed */
	return 0;
}

int spz_model_undefer(spz_model *m, spz_error *err)
{
	for (size_t i = 0; i < m->n_tensors; i++) {
		int rc = spz_tensor_undefer(&m->tensors[i], err);
		if (rc)
			return rc;
	}
	return 0;
}

int spz_model_densify(spz_model *m, spz_error *err)
{
	for (size_t i = 0; i < m->n_tensors; i++) {
		int rc = spz_tensor_densify(&m->tensors[i], err);
		if (rc)
			return rc;
	}
	return 0;
}

int spz_tensor_set_prune(spz_tensor *t, const spz_prune_record *rec)
{
	if (!rec) {
		free(t->prune);
		t->prune = NULL;
		return 0;
	}
	if (!t->prune && !(t->prune = malloc(sizeof *t->prune)))
		return SPZ_ENOMEM;
	*t->prune = *rec;
	return 0;
}

/* A copy of len bytes into *dst (NULL when len is 0). */
static int set_bytes(uint8_t **dst, size_t *dst_len, const void *bytes,
                     size_t len)
{
	uint8_t *b = NULL;
	if (len && !(b = malloc(len)))
		return SPZ_ENOMEM;
	if (len)
		memcpy(b, bytes, len);
	free(*dst);
	*dst = b;
	*dst_len = len;
	return 0;
}

int spz_model_set_onnx(spz_model *m, const void *bytes, size_t len)
{
	return set_bytes(&m->onnx, &m->onnx_len, bytes, len);
}

int spz_tensor_set_onnx(spz_tensor *t, const void *bytes, size_t len,
                        int enc)
{
	int rc = set_bytes(&t->onnx, &t->onnx_len, bytes, len);
	if (!rc)
		t->onnx_enc = enc;
	return rc;
}

int spz_model_add_step(spz_model *m, const char *tool,
                       const spz_param *params, size_t n_params)
{
	spz_step s = {.n_params = n_params};
	s.tool = dupstr(tool);
	s.version = dupstr(SPZ_VERSION);
	s.params = calloc(n_params ? n_params : 1, sizeof *s.params);
	int ok = s.tool && s.version && s.params;
	for (size_t i = 0; ok && i < n_params; i++) {
		s.params[i].key = dupstr(params[i].key);
		s.params[i].value = dupstr(params[i].value);
		ok = s.params[i].key && s.params[i].value;
	}
	spz_step *slot = ok ? grow(&m->history, &m->n_history, sizeof *slot)
	                    : NULL;
	if (!slot) {
		for (size_t i = 0; s.params && i < n_params; i++) {
			free(s.params[i].key);
			free(s.params[i].value);
		}
		free(s.params);
		free(s.tool);
		free(s.version);
		return SPZ_ENOMEM;
	}
	*slot = s;
	return 0;
}

/* Is value a graph input, an initializer or an output of nodes[0..upto)? */
static int value_defined(const spz_model *m, const char *value, size_t upto)
{
	for (size_t i = 0; i < m->n_inputs; i++)
		if (!strcmp(m->inputs[i], value))
			return 1;
	if (spz_model_tensor(m, value))
		return 1;
	for (size_t i = 0; i < upto; i++)
		for (size_t k = 0; k < m->nodes[i].n_outputs; k++)
			if (!strcmp(m->nodes[i].outputs[k], value))
				return 1;
	return 0;
}

int spz_tensor_check_values(const spz_tensor *t, int64_t first,
                            int64_t count, spz_error *err)
{
	if (t->raw)
		return 0; /* carried bytes: any pattern is a value */
	if (t->codebook) {
		for (int64_t i = first; i < first + count; i++)
			if (t->codes[i] >= t->codebook_size)
				return spz_fail(err, SPZ_ERANGE,
				                "tensor '%s': code %u at index "
				                "%lld is outside the codebook of %u",
				                t->name, t->codes[i], (long long)i,
				                t->codebook_size);
		return 0;
	}
	return spz_check_floats(t->name, t->data + first, first, count, err);
}

int spz_check_floats(const char *name, const float *v, int64_t first,
                     int64_t count, spz_error *err)
{
	int64_t k = spz_first_nonfinite(v, count);
	if (k >= 0)
		return spz_fail(err, SPZ_ERANGE,
		                "tensor '%s': %s value at index %lld", name,
		                isnan(v[k]) ? "NaN" : "infinite",
		                (long long)(first + k));
	return 0;
}

static int validate_tensor(const spz_tensor *t, spz_error *err)
{
	int64_t n = spz_tensor_elements(t);
	if (n < 0)
		return shape_fail(err, t->name, t->dims, t->ndims);
	if (t->codebook) {
		if (t->bits < 1 || t->bits > 8 || t->codebook_size < 1 ||
		    t->codebook_size > (1u << t->bits))
			return spz_fail(err, SPZ_ERANGE,
			                "tensor '%s': codebook of %u entries does "
			                "not fit %d bits", t->name,
			                t->codebook_size, t->bits);
		if (t->codebook[0] != 0.0f)
			return spz_fail(err, SPZ_ERANGE,
			                "tensor '%s': codebook entry 0 must be 0",
			                t->name);
		for (uint32_t k = 0; k < t->codebook_size; k++)
			if (!isfinite(t->codebook[k]))
				return spz_fail(err, SPZ_ERANGE,
				                "tensor '%s': codebook entry %u is "
				                "not finite", t->name, k);
	}
	return 0;
}

/* Numbers outside the tensors must be finite too: JSON cannot hold them. */
static int validate_numbers(const spz_model *m, spz_error *err)
{
	for (size_t i = 0; i < m->n_nodes; i++) {
		const spz_node *n = &m->nodes[i];
		for (size_t k = 0; k < n->n_attrs; k++) {
			const spz_attr *a = &n->attrs[k];
			int ok = a->type != SPZ_ATTR_NUMBER || isfinite(a->number);
			for (size_t j = 0; a->type == SPZ_ATTR_NUMBERS &&
			                   j < a->n_numbers; j++)
				ok = ok && isfinite(a->numbers[j]);
			if (!ok)
				return spz_fail(err, SPZ_ERANGE,
				                "node '%s': attribute '%s' is not "
				                "finite", n->name, a->name);
		}
	}
	for (size_t i = 0; i < m->n_tensors; i++) {
		const spz_prune_record *p = m->tensors[i].prune;
		if (p && !(isfinite(p->target) && isfinite(p->threshold) &&
		           isfinite(p->density)))
			return spz_fail(err, SPZ_ERANGE,
			                "tensor '%s': pruning record is not finite",
			                m->tensors[i].name);
	}
	return 0;
}

int spz_model_validate_graph(const spz_model *m, spz_error *err)
{
	int rc = validate_numbers(m, err);
	if (rc)
		return rc;
	for (size_t i = 0; i < m->n_tensors; i++) {
		for (size_t k = 0; k < i; k++)
			if (!strcmp(m->tensors[i].name, m->tensors[k].name))
				return spz_fail(err, SPZ_EEXIST,
				                "duplicate tensor name '%s'",
				                m->tensors[i].name);
		int rc = validate_tensor(&m->tensors[i], err);
		if (rc)
			return rc;
	}
	for (size_t i = 0; i < m->n_nodes; i++) {
		const spz_node *n = &m->nodes[i];
		for (size_t k = 0; k < n->n_inputs; k++)
			if (n->inputs[k][0] && !value_defined(m, n->inputs[k], i))
				return spz_fail(err, SPZ_ENOTFOUND,
				                "node '%s' input '%s' is not a "
				                "graph input, a tensor or an "
				                "earlier node's output",
				                n->name, n->inputs[k]);
	}
	for (size_t i = 0; i < m->n_outputs; i++)
		if (!value_defined(m, m->outputs[i], m->n_nodes))
			return spz_fail(err, SPZ_ENOTFOUND,
			                "graph output '%s' is not produced by any "
			                "node", m->outputs[i]);
	return 0;
}

int spz_model_validate(const spz_model *m, spz_error *err)
{
	int rc = spz_model_validate_graph(m, err);
	for (size_t i = 0; !rc && i < m->n_tensors; i++) {
		const spz_tensor *t = &m->tensors[i];
		rc = spz_tensor_check_values(t, 0, spz_tensor_elements(t), err);
	}
	return rc;
}

int spz_model_is_weight(const spz_model *m, const spz_tensor *t,
                        const spz_node **node_out)
{
	if (t->ndims < 2 || !spz_dtype_is_float(t->dtype))
		return 0;
	for (size_t i = 0; i < m->n_nodes; i++) {
		const spz_node *n = &m->nodes[i];
		int w = (!strcmp(n->op, "Gemm") || !strcmp(n->op, "MatMul") ||
		         !strcmp(n->op, "Conv")) &&
		        n->n_inputs >= 2 && !strcmp(n->inputs[1], t->name);
		/* MatMul(W, x): the weight as input A, when B is not one. */
		w = w || (!strcmp(n->op, "MatMul") && n->n_inputs == 2 &&
		          !strcmp(n->inputs[0], t->name) &&
		          !spz_model_tensor(m, n->inputs[1]));
		if (w) {
			if (node_out)
				*node_out = n;
			return 1;
		}
	}
	return 0;
}

/* Does a node consume value v as input k? */
static int input_is(const spz_node *n, size_t k, const char *v)
{
	return n->n_inputs > k && !strcmp(n->inputs[k], v);
}

spz_role spz_tensor_role(const spz_model *m, const spz_tensor *t)
{
	if (spz_model_is_weight(m, t, NULL))
		return SPZ_ROLE_WEIGHT;
	if (!spz_dtype_is_float(t->dtype) || t->ndims != 1)
		return SPZ_ROLE_OTHER;
	for (size_t i = 0; i < m->n_nodes; i++) {
		const spz_node *n = &m->nodes[i];
		if ((!strcmp(n->op, "Gemm") || !strcmp(n->op, "Conv")) &&
		    input_is(n, 2, t->name))
			return SPZ_ROLE_BIAS;
		if (strcmp(n->op, "Add") || n->n_inputs != 2 ||
		    (!input_is(n, 0, t->name) && !input_is(n, 1, t->name)))
			continue;
		/* Add(MatMul(x, W), b): the other input comes from a MatMul
		 * with a weight. */
		const char *other = n->inputs[input_is(n, 0, t->name) ? 1 : 0];
		for (size_t k = 0; k < i; k++) {
			const spz_node *p = &m->nodes[k];
			if (strcmp(p->op, "MatMul") || p->n_outputs != 1 ||
			    strcmp(p->outputs[0], other))
				continue;
			for (size_t j = 0; j < p->n_inputs; j++) {
				const spz_tensor *w = spz_model_tensor(
					m, p->inputs[j]);
				if (w && spz_model_is_weight(m, w, NULL))
					return SPZ_ROLE_BIAS;
			}
		}
	}
	return SPZ_ROLE_OTHER;
}

const char *spz_dtype_name(int dtype)
{
	switch (dtype) {
	case SPZ_DTYPE_FLOAT: return "float32";
	case SPZ_DTYPE_UINT8: return "uint8";
	case SPZ_DTYPE_INT8: return "int8";
	case SPZ_DTYPE_UINT16: return "uint16";
	case SPZ_DTYPE_INT16: return "int16";
	case SPZ_DTYPE_INT32: return "int32";
	case SPZ_DTYPE_INT64: return "int64";
	case SPZ_DTYPE_STRING: return "string";
	case SPZ_DTYPE_BOOL: return "bool";
	case SPZ_DTYPE_FLOAT16: return "float16";
	case SPZ_DTYPE_DOUBLE: return "double";
	case SPZ_DTYPE_UINT32: return "uint32";
	case SPZ_DTYPE_UINT64: return "uint64";
	case SPZ_DTYPE_BFLOAT16: return "bfloat16";
	default: return "other";
	}
}
