/*
 * forward.c - the float32 forward pass of a model (spz eval, spz
 * sensitivity, and training after them): the graph's nodes run in order
 * over a batch of samples, every matrix product through one CBLAS GEMM
 * (spz_sgemm) so that a batch costs what a BLAS call costs.
 *
 * Values are dense row-major float32 tensors whose first dimension is the
 * batch; initializers keep their own dims and broadcast as NumPy does.
 * A value is freed after its last consumer, so memory stays near the two
 * widest layers of a batch.
 */
/* RTLD_NODELETE (glibc, the BSDs and macOS have it; POSIX does not). */
#define _GNU_SOURCE
#include "spz.h"

#include <cblas.h>
#include <dlfcn.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

/*
 * OpenBLAS is loaded on the first matrix product, not linked: the pthread
 * build that Debian installs by default starts a worker thread per extra
 * core in its library constructor, and that thread spins in sched_yield
 * for up to ~0.1 s of CPU in every process, including the many commands
 * (prune, quantize, pack, info, ...) that never multiply a matrix. The
 * OpenMP build would start its threads lazily, but its idle threads spin
 * between parallel regions and made eval 4-7x slower on a busy 2-core
 * machine. No handle is kept (lib/ has no globals): dlopen of a library
 * already loaded is a lookup by name, RTLD_NODELETE keeps it loaded after
 * the matching dlclose, and the lookup costs well under a microsecond
 * against the tens of microseconds of the smallest product spz asks for.
 */
#define SPZ_BLAS_LIBRARY "libopenblas.so.0"

typedef void sgemm_fn(enum CBLAS_ORDER, enum CBLAS_TRANSPOSE,
                      enum CBLAS_TRANSPOSE, blasint, blasint, blasint, float,
                      const float *, blasint, const float *, blasint, float,
                      float *, blasint);
/* The hand-written type must be the header's: checked at compile time
 * without a reference to the symbol (_Generic does not evaluate it). */
_Static_assert(_Generic(&cblas_sgemm, sgemm_fn *: 1, default: 0),
               "sgemm_fn differs from cblas.h's cblas_sgemm");

int spz_sgemm(int trans_a, int trans_b, size_t m, size_t n, size_t k,
              float alpha, const float *a, size_t lda, const float *b,
              size_t ldb, float beta, float *c, size_t ldc, spz_error *err)
{
	if (m > INT_MAX || n > INT_MAX || k > INT_MAX || lda > INT_MAX ||
	    ldb > INT_MAX || ldc > INT_MAX)
		return spz_fail(err, SPZ_ERANGE, "a %zux%zux%zu matrix product "
		                "exceeds BLAS's 32-bit sizes", m, n, k);
	if (m == 0 || n == 0)
		return 0;
	if (k == 0) {
		/* BLAS would leave C alone; the product is 0. */
		for (size_t i = 0; i < m; i++)
			for (size_t j = 0; j < n; j++)
				c[i * ldc + j] *= beta;
		return 0;
	}
	void *lib = dlopen(SPZ_BLAS_LIBRARY, RTLD_NOW | RTLD_LOCAL |
	                                     RTLD_NODELETE);
	if (!lib) {
		const char *why = dlerror();
		return spz_fail(err, SPZ_EIO, "cannot load BLAS ('%s'): %s",
		                SPZ_BLAS_LIBRARY, why ? why : "unknown error");
	}
	/* POSIX's way from a data pointer to a function pointer. */
	sgemm_fn *sgemm;
	void *sym = dlsym(lib, "cblas_sgemm");
	memcpy(&sgemm, &sym, sizeof sgemm);
	if (!sym) {
		dlclose(lib);
		return spz_fail(err, SPZ_EIO, "'%s' has no cblas_sgemm",
		                SPZ_BLAS_LIBRARY);
	}
	sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
	      trans_b ? CblasTrans : CblasNoTrans, (blasint)m, (blasint)n,
	      (blasint)k, alpha, a, (blasint)lda, b, (blasint)ldb, beta, c,
	      (blasint)ldc);
	dlclose(lib);
	return 0;
}

enum op { OP_GEMM, OP_MATMUL, OP_ADD, OP_RELU, OP_FLATTEN, OP_RESHAPE,
          OP_SOFTMAX, OP_IDENTITY, OP_CONV, OP_MAXPOOL, OP_AVGPOOL };

static const struct {
	const char *name;
	enum op op;
} ops[] = {
	{"Gemm", OP_GEMM}, {"MatMul", OP_MATMUL}, {"Add", OP_ADD},
	{"Relu", OP_RELU}, {"Flatten", OP_FLATTEN}, {"Reshape", OP_RESHAPE},
	{"Softmax", OP_SOFTMAX}, {"Identity", OP_IDENTITY},
	{"Dropout", OP_IDENTITY}, {"Conv", OP_CONV}, {"MaxPool", OP_MAXPOOL},
	{"AveragePool", OP_AVGPOOL}};

/* A value of the graph. */
struct slot {
	const char *name;
	const spz_tensor *tensor;  /* initializer, or NULL */
	const float *cdata;        /* constant data (initializers) */
	float *own;                /* decoded or overridden constant data */
	float *data;               /* computed value of the current batch */
	int ndims;
	int64_t dims[SPZ_MAX_DIMS];
	size_t last_use;           /* index of the last node reading it */
	int is_output;
};

struct step {
	const spz_node *node;
	enum op op;
	size_t in[3];
	size_t n_in;
	size_t out;
	int layer;                 /* index in layers, or -1 */
};

struct spz_forward {
	const spz_model *m;
	struct slot *slots;
	size_t n_slots;
	struct step *steps;
	size_t n_steps;
	size_t input, output;
	int in_ndims;              /* sample dims of the input, batch apart */
	int64_t in_dims[SPZ_MAX_DIMS];
	size_t in_features, out_features;
	size_t batch;
	spz_forward_layer *layers;
	size_t n_layers;
	int probabilities;
	spz_forward_act_fn act_fn;  /* NULL, or called with each layer input */
	void *act_ctx;
};

static size_t slot_find(const spz_forward *f, const char *name)
{
	for (size_t i = 0; i < f->n_slots; i++)
		if (!strcmp(f->slots[i].name, name))
			return i;
	return (size_t)-1;
}

static int64_t elems(const int64_t *d, int nd)
{
	int64_t n = 1;
	for (int i = 0; i < nd; i++)
		n *= d[i];
	return n;
}

static const float *value(const struct slot *s)
{
	return s->tensor ? (s->own ? s->own : s->cdata) : s->data;
}

static void dims_str(char *b, size_t n, const struct slot *s)
{
	size_t k = 0;
	b[0] = 0;
	if (s->ndims == 0)
		snprintf(b, n, "scalar");
	for (int i = 0; i < s->ndims && k < n; i++)
		k += (size_t)snprintf(b + k, n - k, "%s%lld", i ? "x" : "",
		                      (long long)s->dims[i]);
}

void spz_forward_free(spz_forward *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n_slots; i++) {
		free(f->slots[i].own);
		free(f->slots[i].data);
	}
	free(f->slots);
	free(f->steps);
	free(f->layers);
	free(f);
}

/* The node reading value `name` as a Conv input first? Decides whether
 * the graph input keeps its sample shape. */
static int feeds_conv(const spz_model *m, const char *name)
{
	for (size_t i = 0; i < m->n_nodes; i++)
		if (!strcmp(m->nodes[i].op, "Conv") && m->nodes[i].n_inputs &&
		    !strcmp(m->nodes[i].inputs[0], name))
			return 1;
	return 0;
}

static int add_slot(spz_forward *f, const char *name, size_t *idx)
{
	size_t i = slot_find(f, name);
	if (i != (size_t)-1) {
		*idx = i;
		return 0;
	}
	struct slot *ns = realloc(f->slots, (f->n_slots + 1) * sizeof *ns);
	if (!ns)
		return SPZ_ENOMEM;
	f->slots = ns;
	memset(&ns[f->n_slots], 0, sizeof ns[0]);
	ns[f->n_slots].name = name;
	*idx = f->n_slots++;
	return 0;
}

int spz_forward_new(spz_forward **out, const spz_model *m,
                    const int64_t *sample_dims, int ndims, spz_error *err)
{
	if (m->n_inputs != 1 || m->n_outputs < 1)
		return spz_fail(err, SPZ_EUNSUPPORTED, "the forward pass takes a "
		                "model with one input and an output, not %zu and "
		                "%zu", m->n_inputs, m->n_outputs);
	if (ndims < 1 || ndims >= SPZ_MAX_DIMS)
		return spz_fail(err, SPZ_EINVAL, "a sample has 1..%d dims",
		                SPZ_MAX_DIMS - 1);
	int64_t feat = spz_dims_elements(sample_dims, ndims);
	if (feat <= 0)
		return spz_fail(err, SPZ_EINVAL, "empty samples");
	spz_forward *f = calloc(1, sizeof *f);
	if (!f)
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	f->m = m;
	f->in_features = (size_t)feat;
	f->batch = 256;
	/* The input is [batch, features] for fully connected models; a Conv
	 * reading it directly gets [batch, C, H, W] (a 2-D sample is one
	 * channel). */
	if (feeds_conv(m, m->inputs[0])) {
		if (ndims == 2) {
			f->in_dims[0] = 1;
			f->in_dims[1] = sample_dims[0];
			f->in_dims[2] = sample_dims[1];
			f->in_ndims = 3;
		} else {
			f->in_ndims = ndims;
			memcpy(f->in_dims, sample_dims, (size_t)ndims * sizeof *sample_dims);
		}
	} else {
		f->in_ndims = 1;
		f->in_dims[0] = feat;
	}
	int rc = 0;
	size_t idx;
	if ((rc = add_slot(f, m->inputs[0], &f->input)))
		goto nomem;
	for (size_t i = 0; i < m->n_tensors; i++) {
		const spz_tensor *t = &m->tensors[i];
		if ((rc = add_slot(f, t->name, &idx)))
			goto nomem;
		struct slot *s = &f->slots[idx];
		s->tensor = t;
		s->ndims = t->ndims;
		memcpy(s->dims, t->dims, sizeof s->dims);
		if (t->raw)
			continue;  /* shapes: read with spz_tensor_int64 */
		if (t->codebook) {
			int64_t n = spz_tensor_elements(t);
			if (!(s->own = malloc((size_t)(n ? n : 1) * sizeof(float))))
				goto nomem;
			for (int64_t k = 0; k < n; k++)
				s->own[k] = t->codebook[t->codes[k]];
		} else {
			s->cdata = t->data;
		}
	}
	f->steps = calloc(m->n_nodes ? m->n_nodes : 1, sizeof *f->steps);
	f->layers = calloc(m->n_nodes ? m->n_nodes : 1, sizeof *f->layers);
	if (!f->steps || !f->layers)
		goto nomem;
	for (size_t i = 0; i < m->n_nodes; i++) {
		const spz_node *n = &m->nodes[i];
		struct step *st = &f->steps[f->n_steps];
		size_t k = 0;
		while (k < sizeof ops / sizeof ops[0] && strcmp(ops[k].name, n->op))
			k++;
		if (k == sizeof ops / sizeof ops[0]) {
			rc = spz_fail(err, SPZ_EUNSUPPORTED, "node '%s': the forward "
			              "pass has no op '%s'", n->name, n->op);
			goto fail;
		}
		st->node = n;
		st->op = ops[k].op;
		st->layer = -1;
		size_t need_lo = 1, need_hi = 1;
		switch (st->op) {
		case OP_GEMM: need_lo = 2; need_hi = 3; break;
		case OP_CONV: need_lo = 2; need_hi = 3; break;
		case OP_MATMUL: case OP_ADD: case OP_RESHAPE:
			need_lo = need_hi = 2;
			break;
		case OP_IDENTITY: need_hi = 3; break;  /* Dropout's ratio... */
		default: break;
		}
		size_t given = n->n_inputs;
		while (given > 0 && !*n->inputs[given - 1])
			given--;
		if (given < need_lo || given > need_hi || n->n_outputs < 1) {
			rc = spz_fail(err, SPZ_EUNSUPPORTED, "node '%s' (%s): %zu "
			              "inputs, wanted %zu..%zu", n->name, n->op,
			              given, need_lo, need_hi);
			goto fail;
		}
		if (st->op == OP_IDENTITY)
			given = 1;  /* Dropout at inference ignores ratio/mode */
		for (size_t j = 0; j < given; j++) {
			if (!*n->inputs[j]) {
				rc = spz_fail(err, SPZ_EUNSUPPORTED, "node '%s' (%s): "
				              "input %zu omitted", n->name, n->op, j);
				goto fail;
			}
			size_t s = slot_find(f, n->inputs[j]);
			if (s == (size_t)-1) {
				rc = spz_fail(err, SPZ_ENOTFOUND, "node '%s': input "
				              "'%s' is computed by no earlier node",
				              n->name, n->inputs[j]);
				goto fail;
			}
			st->in[j] = s;
			f->slots[s].last_use = i;
		}
		st->n_in = given;
		if (f->slots[st->in[0]].tensor && f->slots[st->in[0]].tensor->raw) {
			rc = spz_fail(err, SPZ_EUNSUPPORTED, "node '%s' (%s): input "
			              "'%s' is not a float tensor", n->name, n->op,
			              n->inputs[0]);
			goto fail;
		}
		if ((rc = add_slot(f, n->outputs[0], &st->out)))
			goto nomem;
		if (f->slots[st->out].tensor || st->out == f->input) {
			rc = spz_fail(err, SPZ_EUNSUPPORTED, "node '%s' writes '%s', "
			              "which is already a value", n->name,
			              n->outputs[0]);
			goto fail;
		}
		if (st->op == OP_GEMM || st->op == OP_MATMUL || st->op == OP_CONV) {
			st->layer = (int)f->n_layers;
			f->layers[f->n_layers++].node = n->name;
		}
		f->n_steps++;
	}
	f->output = slot_find(f, m->outputs[0]);
	if (f->output == (size_t)-1 || f->slots[f->output].tensor) {
		rc = spz_fail(err, SPZ_EUNSUPPORTED, "the output '%s' is computed "
		              "by no node", m->outputs[0]);
		goto fail;
	}
	f->slots[f->output].is_output = 1;
	for (size_t i = 0; i < f->n_steps; i++)
		if (f->steps[i].out == f->output)
			f->probabilities = f->steps[i].op == OP_SOFTMAX;
	/* One zero sample checks every shape and gives the output width. */
	float *x0 = calloc(f->in_features, sizeof *x0);
	if (!x0)
		goto nomem;
	f->out_features = 0;
	rc = spz_forward_run(f, NULL, x0, 1, err);
	free(x0);
	if (rc)
		goto fail;
	spz_forward_reset(f);
	*out = f;
	return 0;
nomem:
	rc = spz_fail(err, SPZ_ENOMEM, "out of memory");
fail:
	spz_forward_free(f);
	return rc;
}

size_t spz_forward_outputs(const spz_forward *f)
{
	return f->out_features;
}

int spz_forward_is_probability(const spz_forward *f)
{
	return f->probabilities;
}

const spz_forward_layer *spz_forward_layers(const spz_forward *f,
                                            size_t *count)
{
	*count = f->n_layers;
	return f->layers;
}

void spz_forward_reset(spz_forward *f)
{
	for (size_t i = 0; i < f->n_layers; i++)
		f->layers[i].act_in = f->layers[i].act_in_nonzero = 0;
}

void spz_forward_set_act_hook(spz_forward *f, spz_forward_act_fn fn,
                              void *ctx)
{
	f->act_fn = fn;
	f->act_ctx = ctx;
}

int spz_forward_set_batch(spz_forward *f, size_t batch)
{
	if (batch < 1)
		return SPZ_EINVAL;
	f->batch = batch;
	return 0;
}

int spz_forward_set_tensor(spz_forward *f, const char *name,
                           const float *data, spz_error *err)
{
	size_t i = slot_find(f, name);
	if (i == (size_t)-1 || !f->slots[i].tensor || f->slots[i].tensor->raw)
		return spz_fail(err, SPZ_ENOTFOUND, "no float tensor '%s'", name);
	struct slot *s = &f->slots[i];
	const spz_tensor *t = s->tensor;
	size_t n = (size_t)spz_tensor_elements(t);
	if (!data) {
		free(s->own);
		s->own = NULL;
		if (t->codebook) {
			if (!(s->own = malloc((n ? n : 1) * sizeof(float))))
				return spz_fail(err, SPZ_ENOMEM, "out of memory");
			for (size_t k = 0; k < n; k++)
				s->own[k] = t->codebook[t->codes[k]];
		}
		return 0;
	}
	if (!s->own && !(s->own = malloc((n ? n : 1) * sizeof(float))))
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	memcpy(s->own, data, n * sizeof(float));
	return 0;
}

/* ------------------------------------------------------------------ */
/* Ops                                                                 */

static int alloc_out(struct slot *o, const int64_t *dims, int nd,
                     spz_error *err)
{
	int64_t n = spz_dims_elements(dims, nd);
	if (n < 0)
		return spz_fail(err, SPZ_ERANGE, "value '%s' is too large",
		                o->name);
	free(o->data);
	o->data = malloc((size_t)(n ? n : 1) * sizeof(float));
	if (!o->data)
		return spz_fail(err, SPZ_ENOMEM, "out of memory for '%s'",
		                o->name);
	o->ndims = nd;
	memcpy(o->dims, dims, (size_t)nd * sizeof *dims);
	return 0;
}

static int bad_shape(const spz_node *n, const char *why,
                     const struct slot *a, const struct slot *b,
                     spz_error *err)
{
	char da[96], db[96] = "";
	dims_str(da, sizeof da, a);
	if (b)
		dims_str(db, sizeof db, b);
	return spz_fail(err, SPZ_EUNSUPPORTED, "node '%s' (%s): %s (%s%s%s)",
	                n->name, n->op, why, da, b ? " and " : "", db);
}

static int op_gemm(const struct step *st, struct slot *S, spz_error *err)
{
	const spz_node *n = st->node;
	struct slot *a = &S[st->in[0]], *b = &S[st->in[1]], *o = &S[st->out];
	int ta = spz_node_number(n, "transA", 0) != 0;
	int tb = spz_node_number(n, "transB", 0) != 0;
	float alpha = (float)spz_node_number(n, "alpha", 1);
	float beta = (float)spz_node_number(n, "beta", 1);
	if (a->ndims != 2 || b->ndims != 2)
		return bad_shape(n, "Gemm multiplies 2-D matrices", a, b, err);
	int64_t M = ta ? a->dims[1] : a->dims[0], K = ta ? a->dims[0] : a->dims[1];
	int64_t Kb = tb ? b->dims[1] : b->dims[0], N = tb ? b->dims[0] : b->dims[1];
	if (K != Kb)
		return bad_shape(n, "inner dimensions differ", a, b, err);
	int64_t od[2] = {M, N};
	int rc = alloc_out(o, od, 2, err);
	if (rc)
		return rc;
	float *y = o->data;
	float gb = 0;
	if (st->n_in == 3) {
		const struct slot *c = &S[st->in[2]];
		int64_t cm = 1, cn = 1;
		if (c->ndims == 1) {
			cn = c->dims[0];
		} else if (c->ndims == 2) {
			cm = c->dims[0];
			cn = c->dims[1];
		} else if (c->ndims != 0) {
			return bad_shape(n, "C must broadcast to MxN", c, o, err);
		}
		if ((cm != 1 && cm != M) || (cn != 1 && cn != N))
			return bad_shape(n, "C must broadcast to MxN", c, o, err);
		const float *cv = value(c);
		for (int64_t i = 0; i < M; i++)
			for (int64_t j = 0; j < N; j++)
				y[i * N + j] = beta * cv[(cm == 1 ? 0 : i) * cn +
				                         (cn == 1 ? 0 : j)];
		gb = 1;
	}
	return spz_sgemm(ta, tb, (size_t)M, (size_t)N, (size_t)K, alpha,
	                 value(a), (size_t)a->dims[1], value(b),
	                 (size_t)b->dims[1], gb, y, (size_t)N, err);
}

static int op_matmul(const struct step *st, struct slot *S, spz_error *err)
{
	const spz_node *n = st->node;
	struct slot *a = &S[st->in[0]], *b = &S[st->in[1]], *o = &S[st->out];
	if (a->ndims < 2 || b->ndims != 2)
		return bad_shape(n, "MatMul of an N-D input by a 2-D matrix is "
		                 "supported", a, b, err);
	int64_t K = a->dims[a->ndims - 1];
	if (K != b->dims[0])
		return bad_shape(n, "inner dimensions differ", a, b, err);
	int64_t od[SPZ_MAX_DIMS];
	memcpy(od, a->dims, sizeof od);
	od[a->ndims - 1] = b->dims[1];
	int rc = alloc_out(o, od, a->ndims, err);
	if (rc)
		return rc;
	int64_t M = elems(a->dims, a->ndims - 1);
	return spz_sgemm(0, 0, (size_t)M, (size_t)b->dims[1], (size_t)K, 1,
	                 value(a), (size_t)K, value(b), (size_t)b->dims[1], 0,
	                 o->data, (size_t)b->dims[1], err);
}

/* NumPy broadcasting of a and b into o. */
static int op_add(const struct step *st, struct slot *S, spz_error *err)
{
	const spz_node *n = st->node;
	struct slot *a = &S[st->in[0]], *b = &S[st->in[1]], *o = &S[st->out];
	int nd = a->ndims > b->ndims ? a->ndims : b->ndims;
	int64_t ad[SPZ_MAX_DIMS], bd[SPZ_MAX_DIMS], od[SPZ_MAX_DIMS];
	for (int i = 0; i < nd; i++) {
		int ia = i - (nd - a->ndims), ib = i - (nd - b->ndims);
		ad[i] = ia >= 0 ? a->dims[ia] : 1;
		bd[i] = ib >= 0 ? b->dims[ib] : 1;
		if (ad[i] != bd[i] && ad[i] != 1 && bd[i] != 1)
			return bad_shape(n, "shapes do not broadcast", a, b, err);
		od[i] = ad[i] == 1 ? bd[i] : ad[i];
	}
	const float *av = value(a), *bv = value(b);
	int rc = alloc_out(o, od, nd, err);
	if (rc)
		return rc;
	int64_t total = elems(od, nd);
	int64_t na = elems(ad, nd), nb = elems(bd, nd);
	float *y = o->data;
	if (na == total && nb == total) {
		for (int64_t i = 0; i < total; i++)
			y[i] = av[i] + bv[i];
		return 0;
	}
	/* b a suffix of the output (the bias of a batch): repeat it. */
	int suffix = 1;
	for (int i = 0; i < nd && suffix; i++)
		if (bd[i] != 1) {
			for (int j = i; j < nd; j++)
				if (bd[j] != od[j])
					suffix = 0;
			break;
		}
	if (na == total && suffix && nb > 0) {
		for (int64_t i = 0; i < total; i++)
			y[i] = av[i] + bv[i % nb];
		return 0;
	}
	/* General case: walk the output index, strides 0 on broadcast dims. */
	int64_t sa[SPZ_MAX_DIMS], sb[SPZ_MAX_DIMS], idx[SPZ_MAX_DIMS] = {0};
	int64_t ka = 1, kb = 1;
	for (int i = nd - 1; i >= 0; i--) {
		sa[i] = ad[i] == 1 ? 0 : ka;
		sb[i] = bd[i] == 1 ? 0 : kb;
		ka *= ad[i];
		kb *= bd[i];
	}
	int64_t pa = 0, pb = 0;
	for (int64_t i = 0; i < total; i++) {
		y[i] = av[pa] + bv[pb];
		for (int d = nd - 1; d >= 0; d--) {
			idx[d]++;
			pa += sa[d];
			pb += sb[d];
			if (idx[d] < od[d])
				break;
			pa -= sa[d] * idx[d];
			pb -= sb[d] * idx[d];
			idx[d] = 0;
		}
	}
	return 0;
}

static int op_unary(const struct step *st, struct slot *S, spz_error *err)
{
	struct slot *a = &S[st->in[0]], *o = &S[st->out];
	const float *av = value(a);
	int rc = alloc_out(o, a->dims, a->ndims, err);
	if (rc)
		return rc;
	int64_t total = elems(a->dims, a->ndims);
	if (st->op == OP_RELU) {
		for (int64_t i = 0; i < total; i++)
			o->data[i] = av[i] > 0 ? av[i] : 0;
	} else {
		memcpy(o->data, av, (size_t)total * sizeof(float));
	}
	return 0;
}

static int reshape_to(const struct step *st, struct slot *S,
                      const int64_t *dims, int nd, spz_error *err)
{
	struct slot *a = &S[st->in[0]], *o = &S[st->out];
	const float *av = value(a);
	int rc = alloc_out(o, dims, nd, err);
	if (rc)
		return rc;
	memcpy(o->data, av, (size_t)elems(dims, nd) * sizeof(float));
	return 0;
}

static int op_flatten(const struct step *st, struct slot *S, spz_error *err)
{
	const spz_node *n = st->node;
	struct slot *a = &S[st->in[0]];
	int axis = (int)spz_node_number(n, "axis", 1);
	if (axis < 0)
		axis += a->ndims;
	if (axis <= 0 || axis > a->ndims)
		return bad_shape(n, "Flatten's axis must keep the samples apart "
		                 "(1..rank)", a, NULL, err);
	int64_t d[2] = {elems(a->dims, axis),
	                elems(a->dims + axis, a->ndims - axis)};
	return reshape_to(st, S, d, 2, err);
}

static int op_reshape(const struct step *st, struct slot *S, spz_error *err)
{
	const spz_node *n = st->node;
	struct slot *a = &S[st->in[0]], *sh = &S[st->in[1]];
	if (!sh->tensor || !sh->tensor->raw || sh->ndims != 1)
		return spz_fail(err, SPZ_EUNSUPPORTED, "node '%s' (Reshape): the "
		                "shape must be a 1-D integer initializer", n->name);
	int64_t nd = sh->dims[0];
	if (nd < 1 || nd > SPZ_MAX_DIMS)
		return spz_fail(err, SPZ_EUNSUPPORTED, "node '%s' (Reshape): a "
		                "shape of %lld dims", n->name, (long long)nd);
	int allowzero = spz_node_number(n, "allowzero", 0) != 0;
	int64_t d[SPZ_MAX_DIMS], known = 1;
	int infer = -1;
	for (int i = 0; i < nd; i++) {
		if (spz_tensor_int64(&d[i], sh->tensor, i))
			return spz_fail(err, SPZ_EUNSUPPORTED, "node '%s' (Reshape): "
			                "shape '%s' is not an integer tensor",
			                n->name, sh->name);
		/* The first dim is the batch: a model exported with a fixed
		 * batch of 1 reshapes every batch. */
		if (i == 0 && d[0] == 1 && a->dims[0] != 1)
			d[0] = a->dims[0];
		if (d[i] == 0 && !allowzero) {
			if (i >= a->ndims)
				return bad_shape(n, "a 0 in the shape past the input's "
				                 "rank", a, NULL, err);
			d[i] = a->dims[i];
		}
		if (d[i] == -1) {
			if (infer >= 0)
				return bad_shape(n, "two -1 in the shape", a, NULL, err);
			infer = i;
		} else if (d[i] < 0) {
			return bad_shape(n, "a negative dim in the shape", a, NULL,
			                 err);
		} else {
			known *= d[i];
		}
	}
	int64_t total = elems(a->dims, a->ndims);
	if (infer >= 0) {
		if (known == 0 || total % known)
			return bad_shape(n, "the shape does not divide the input", a,
			                 NULL, err);
		d[infer] = total / known;
	}
	if (elems(d, (int)nd) != total)
		return bad_shape(n, "the shape holds another number of values", a,
		                 NULL, err);
	if (d[0] != a->dims[0])
		return bad_shape(n, "the first dimension must stay the batch", a,
		                 NULL, err);
	return reshape_to(st, S, d, (int)nd, err);
}

static int op_softmax(const struct step *st, struct slot *S, spz_error *err)
{
	const spz_node *n = st->node;
	struct slot *a = &S[st->in[0]], *o = &S[st->out];
	int axis = (int)spz_node_number(n, "axis", -1);
	if (axis < 0)
		axis += a->ndims;
	if (axis < 0 || axis >= a->ndims)
		return bad_shape(n, "axis out of range", a, NULL, err);
	const float *av = value(a);
	int rc = alloc_out(o, a->dims, a->ndims, err);
	if (rc)
		return rc;
	int64_t outer = elems(a->dims, axis), len = a->dims[axis];
	int64_t inner = elems(a->dims + axis + 1, a->ndims - axis - 1);
	for (int64_t p = 0; p < outer; p++)
		for (int64_t q = 0; q < inner; q++) {
			const float *x = av + p * len * inner + q;
			float *y = o->data + p * len * inner + q;
			float mx = -INFINITY;
			for (int64_t i = 0; i < len; i++)
				mx = x[i * inner] > mx ? x[i * inner] : mx;
			double sum = 0;
			for (int64_t i = 0; i < len; i++)
				sum += exp((double)x[i * inner] - mx);
			for (int64_t i = 0; i < len; i++)
				y[i * inner] = (float)(exp((double)x[i * inner] - mx) / sum);
		}
	return 0;
}

/* The 2-D window attributes of Conv and the pools. */
struct win {
	int64_t kh, kw, sh, sw, dh, dw, pt, pl, pb, pr;
	int ceil_mode;
};

static int window(struct win *w, const spz_node *n, int64_t kh, int64_t kw,
                  spz_error *err)
{
	const spz_attr *a = spz_node_attr(n, "auto_pad");
	if (a && a->type == SPZ_ATTR_STRING && strcmp(a->string, "NOTSET"))
		return spz_fail(err, SPZ_EUNSUPPORTED, "node '%s' (%s): auto_pad "
		                "'%s' (give explicit pads)", n->name, n->op,
		                a->string);
	double v[4];
	struct {
		const char *name;
		size_t len;
		double dflt;
	} at[] = {{"kernel_shape", 2, 0}, {"strides", 2, 1},
	          {"dilations", 2, 1}, {"pads", 4, 0}};
	int64_t *dst[4][4] = {{&w->kh, &w->kw}, {&w->sh, &w->sw},
	                      {&w->dh, &w->dw}, {&w->pt, &w->pl, &w->pb, &w->pr}};
	w->kh = kh;
	w->kw = kw;
	for (int i = 0; i < 4; i++) {
		const spz_attr *x = spz_node_attr(n, at[i].name);
		for (size_t k = 0; k < at[i].len; k++)
			v[k] = at[i].dflt;
		if (i == 0 && !x) {
			if (kh <= 0)
				return spz_fail(err, SPZ_EUNSUPPORTED, "node '%s' (%s): "
				                "no kernel_shape", n->name, n->op);
			continue;
		}
		if (x) {
			if (x->type != SPZ_ATTR_NUMBERS || x->n_numbers != at[i].len)
				return spz_fail(err, SPZ_EUNSUPPORTED, "node '%s' (%s): "
				                "%s must hold %zu numbers (2-D only)",
				                n->name, n->op, at[i].name, at[i].len);
			for (size_t k = 0; k < at[i].len; k++)
				v[k] = x->numbers[k];
		}
		for (size_t k = 0; k < at[i].len; k++) {
			if (v[k] < (i == 3 ? 0 : 1) || v[k] > 1e6 || v[k] != floor(v[k]))
				return spz_fail(err, SPZ_EUNSUPPORTED, "node '%s' (%s): "
				                "bad %s", n->name, n->op, at[i].name);
			*dst[i][k] = (int64_t)v[k];
		}
	}
	if (kh > 0 && (w->kh != kh || w->kw != kw))
		return spz_fail(err, SPZ_EUNSUPPORTED, "node '%s' (%s): "
		                "kernel_shape differs from the weight", n->name,
		                n->op);
	w->ceil_mode = spz_node_number(n, "ceil_mode", 0) != 0;
	return 0;
}

static int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t d,
                        int64_t p0, int64_t p1, int ceil_mode)
{
	int64_t span = (k - 1) * d + 1, room = in + p0 + p1 - span;
	if (room < 0)
		return 0;
	return (ceil_mode ? (room + s - 1) / s : room / s) + 1;
}

static int op_conv(const struct step *st, struct slot *S, spz_error *err)
{
	const spz_node *n = st->node;
	struct slot *x = &S[st->in[0]], *w = &S[st->in[1]], *o = &S[st->out];
	if (spz_node_number(n, "group", 1) != 1)
		return spz_fail(err, SPZ_EUNSUPPORTED, "node '%s' (Conv): group "
		                "%g (only 1)", n->name,
		                spz_node_number(n, "group", 1));
	if (x->ndims != 4 || w->ndims != 4 || x->dims[1] != w->dims[1])
		return bad_shape(n, "Conv takes NCHW input and an MxCxkHxkW weight "
		                 "of the same C", x, w, err);
	struct win wn;
	int rc = window(&wn, n, w->dims[2], w->dims[3], err);
	if (rc)
		return rc;
	int64_t B = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
	int64_t M = w->dims[0];
	int64_t OH = out_size(H, wn.kh, wn.sh, wn.dh, wn.pt, wn.pb, 0);
	int64_t OW = out_size(W, wn.kw, wn.sw, wn.dw, wn.pl, wn.pr, 0);
	if (OH < 1 || OW < 1)
		return bad_shape(n, "the kernel is larger than the padded input",
		                 x, w, err);
	const float *bias = NULL;
	if (st->n_in == 3) {
		const struct slot *b = &S[st->in[2]];
		if (b->ndims != 1 || b->dims[0] != M)
			return bad_shape(n, "the bias must hold one value per output "
			                 "channel", b, w, err);
		bias = value(b);
	}
	const float *xv = value(x), *wv = value(w);
	int64_t od[4] = {B, M, OH, OW};
	if ((rc = alloc_out(o, od, 4, err)))
		return rc;
	int64_t K = C * wn.kh * wn.kw, P = OH * OW;
	float *col = malloc((size_t)(K * P) * sizeof *col);
	if (!col)
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	for (int64_t b = 0; b < B && !rc; b++) {
		/* im2col: row (c, i, j) of the kernel, column (oh, ow). */
		const float *xb = xv + b * C * H * W;
		for (int64_t c = 0; c < C; c++)
			for (int64_t i = 0; i < wn.kh; i++)
				for (int64_t j = 0; j < wn.kw; j++) {
					float *r = col + ((c * wn.kh + i) * wn.kw + j) * P;
					for (int64_t oh = 0; oh < OH; oh++) {
						int64_t ih = oh * wn.sh - wn.pt + i * wn.dh;
						for (int64_t ow = 0; ow < OW; ow++) {
							int64_t iw = ow * wn.sw - wn.pl + j * wn.dw;
							r[oh * OW + ow] =
								ih < 0 || ih >= H || iw < 0 || iw >= W
									? 0
									: xb[(c * H + ih) * W + iw];
						}
					}
				}
		float *yb = o->data + b * M * P;
		for (int64_t mm = 0; mm < M; mm++)
			for (int64_t p = 0; p < P; p++)
				yb[mm * P + p] = bias ? bias[mm] : 0;
		rc = spz_sgemm(0, 0, (size_t)M, (size_t)P, (size_t)K, 1, wv,
		               (size_t)K, col, (size_t)P, 1, yb, (size_t)P, err);
	}
	free(col);
	return rc;
}

static int op_pool(const struct step *st, struct slot *S, spz_error *err)
{
	const spz_node *n = st->node;
	struct slot *x = &S[st->in[0]], *o = &S[st->out];
	if (x->ndims != 4)
		return bad_shape(n, "2-D pooling takes NCHW input", x, NULL, err);
	struct win wn;
	int rc = window(&wn, n, 0, 0, err);
	if (rc)
		return rc;
	if (st->op == OP_AVGPOOL && (wn.dh != 1 || wn.dw != 1))
		return spz_fail(err, SPZ_EUNSUPPORTED, "node '%s' (AveragePool): "
		                "dilations", n->name);
	int incl = spz_node_number(n, "count_include_pad", 0) != 0;
	int64_t B = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
	int64_t OH = out_size(H, wn.kh, wn.sh, wn.dh, wn.pt, wn.pb, wn.ceil_mode);
	int64_t OW = out_size(W, wn.kw, wn.sw, wn.dw, wn.pl, wn.pr, wn.ceil_mode);
	if (OH < 1 || OW < 1)
		return bad_shape(n, "the window is larger than the padded input",
		                 x, NULL, err);
	const float *xv = value(x);
	int64_t od[4] = {B, C, OH, OW};
	if ((rc = alloc_out(o, od, 4, err)))
		return rc;
	float *y = o->data;
	for (int64_t bc = 0; bc < B * C; bc++) {
		const float *xp = xv + bc * H * W;
		for (int64_t oh = 0; oh < OH; oh++)
			for (int64_t ow = 0; ow < OW; ow++) {
				float mx = -INFINITY;
				double sum = 0;
				int64_t cnt = 0, cells = 0;
				for (int64_t i = 0; i < wn.kh; i++) {
					int64_t ih = oh * wn.sh - wn.pt + i * wn.dh;
					for (int64_t j = 0; j < wn.kw; j++) {
						int64_t iw = ow * wn.sw - wn.pl + j * wn.dw;
						/* ceil_mode windows may run past the padding
						 * too: those cells never count. */
						if (ih < H + wn.pb && iw < W + wn.pr)
							cells++;
						if (ih < 0 || ih >= H || iw < 0 || iw >= W)
							continue;
						float v = xp[ih * W + iw];
						mx = v > mx ? v : mx;
						sum += v;
						cnt++;
					}
				}
				float r;
				if (st->op == OP_MAXPOOL)
					r = cnt ? mx : 0;
				else
					r = (incl ? cells : cnt) ? (float)(sum / (double)(incl ? cells : cnt)) : 0;
				y[(bc * OH + oh) * OW + ow] = r;
			}
	}
	return 0;
}

/* Runs the graph on b samples at x; the output lands in the output slot. */
static int run_batch(spz_forward *f, const float *x, size_t b, spz_error *err)
{
	struct slot *in = &f->slots[f->input];
	in->ndims = f->in_ndims + 1;
	in->dims[0] = (int64_t)b;
	memcpy(in->dims + 1, f->in_dims, (size_t)f->in_ndims * sizeof(int64_t));
	in->cdata = NULL;
	free(in->data);
	in->data = NULL;
	/* The input is read in place: no copy of a whole batch. */
	in->data = (float *)(uintptr_t)x;
	int rc = 0;
	for (size_t i = 0; i < f->n_steps && !rc; i++) {
		const struct step *st = &f->steps[i];
		if (st->layer >= 0) {
			const struct slot *a = &f->slots[st->in[0]];
			const float *av = value(a);
			int64_t total = elems(a->dims, a->ndims), nz = 0;
			for (int64_t k = 0; k < total; k++)
				nz += av[k] != 0;
			f->layers[st->layer].act_in += (uint64_t)total;
			f->layers[st->layer].act_in_nonzero += (uint64_t)nz;
			if (f->act_fn && (rc = f->act_fn(f->act_ctx,
			                                 (size_t)st->layer, av,
			                                 a->dims, a->ndims, err)))
				break;
		}
		switch (st->op) {
		case OP_GEMM: rc = op_gemm(st, f->slots, err); break;
		case OP_MATMUL: rc = op_matmul(st, f->slots, err); break;
		case OP_ADD: rc = op_add(st, f->slots, err); break;
		case OP_RELU: case OP_IDENTITY:
			rc = op_unary(st, f->slots, err);
			break;
		case OP_FLATTEN: rc = op_flatten(st, f->slots, err); break;
		case OP_RESHAPE: rc = op_reshape(st, f->slots, err); break;
		case OP_SOFTMAX: rc = op_softmax(st, f->slots, err); break;
		case OP_CONV: rc = op_conv(st, f->slots, err); break;
		case OP_MAXPOOL: case OP_AVGPOOL:
			rc = op_pool(st, f->slots, err);
			break;
		}
		/* Values nobody reads any more go now. */
		for (size_t k = 0; k < st->n_in; k++) {
			struct slot *s = &f->slots[st->in[k]];
			if (!s->tensor && s->last_use == i && !s->is_output &&
			    st->in[k] != f->input) {
				free(s->data);
				s->data = NULL;
			}
		}
	}
	in->data = NULL;
	return rc;
}

int spz_forward_run(spz_forward *f, float *y, const float *x, size_t n,
                    spz_error *err)
{
	for (size_t done = 0; done < n;) {
		size_t b = n - done < f->batch ? n - done : f->batch;
		int rc = run_batch(f, x + done * f->in_features, b, err);
		if (rc)
			return rc;
		struct slot *o = &f->slots[f->output];
		if (o->ndims < 1 || o->dims[0] != (int64_t)b)
			return spz_fail(err, SPZ_EUNSUPPORTED, "the output '%s' does "
			                "not keep one row per sample", o->name);
		size_t w = (size_t)elems(o->dims + 1, o->ndims - 1);
		if (f->out_features == 0)
			f->out_features = w;
		if (y)
			memcpy(y + done * w, o->data, b * w * sizeof(float));
		free(o->data);
		o->data = NULL;
		done += b;
	}
	return 0;
}

int spz_forward_dims(int64_t *dims, int *ndims, const spz_forward *f,
                     const char *name)
{
	size_t i = slot_find(f, name);
	if (i == (size_t)-1 || f->slots[i].tensor)
		return 0;
	*ndims = f->slots[i].ndims;
	memcpy(dims, f->slots[i].dims, (size_t)*ndims * sizeof *dims);
	return 1;
}
