/*
 * train.c - mini-batch training of MLPs (spz train) and fine-tuning that
 * keeps what compression decided (spz finetune): pruned zeros stay zero,
 * quantized tensors keep their codes and train their codebooks (Deep
 * Compression, section 3.3).
 *
 * The model is read as a chain of fully connected layers y = act(x W' + b);
 * the trainer keeps its own float copy of every trained tensor, caches the
 * activations of a batch for the backward pass and does every matrix
 * product through spz_sgemm. Nothing here prints: spz_trainer_fit reports
 * through a callback.
 */
#include "spz.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* Rows of the activation buffers used to evaluate the test set. */
#define EVAL_ROWS 256

struct param {
	spz_train_param pub;
	const spz_tensor *t;
	float *elem;        /* the values the layers use (elements) */
	float *egrad;       /* gradient per element */
	float *grad;        /* per parameter (pub.grad) */
	float *m1, *m2;     /* optimizer state (m2: Adam only) */
	uint32_t *mask;     /* masked: ~0 where the weight trains, else 0 */
	size_t *live;       /* masked: the elements that train; codebook: */
	size_t n_live;      /* those whose code is not 0 (in order) */
};

struct layer {
	size_t in, out;
	int trans;          /* W is [out, in] (Gemm transB=1), else [in, out] */
	int w, b;           /* param indices; b -1 without a bias */
	int relu;
	const char *node;
};

struct spz_trainer {
	spz_train_options o;
	size_t features, outputs, widest;
	struct layer *layers;
	size_t n_layers;
	struct param *params;
	size_t n_params;
	spz_train_param *pubs;  /* the public view of params */
	size_t cap;         /* rows of the buffers */
	float **act;        /* n_layers + 1 buffers of cap x width */
	float *d0, *d1;     /* backward deltas, cap x widest */
	uint64_t adam_t;
	double b1t, b2t;    /* beta1^t, beta2^t */
};

static void param_free(struct param *p)
{
	if (p->elem != p->pub.value)
		free(p->elem);
	if (p->egrad != p->grad)
		free(p->egrad);
	free(p->pub.value);
	free(p->grad);
	free(p->m1);
	free(p->m2);
	free(p->mask);
	free(p->live);
}

void spz_trainer_free(spz_trainer *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n_params; i++)
		param_free(&t->params[i]);
	free(t->params);
	free(t->pubs);
	free(t->layers);
	if (t->act)
		for (size_t l = 0; l <= t->n_layers; l++)
			free(t->act[l]);
	free(t->act);
	free(t->d0);
	free(t->d1);
	free(t);
}

size_t spz_trainer_outputs(const spz_trainer *t)
{
	return t->outputs;
}

spz_train_param *spz_trainer_params(spz_trainer *t, size_t *count)
{
	*count = t->n_params;
	return t->pubs;
}

static int is_init(const spz_model *m, const char *name)
{
	return spz_model_tensor(m, name) != NULL;
}

static int add_param(spz_trainer *t, const spz_model *m, const char *name,
                     int is_bias, const spz_node *nd, spz_error *err)
{
	const spz_tensor *x = spz_model_tensor(m, name);
	for (size_t i = 0; i < t->n_params; i++)
		if (t->params[i].t == x)
			return spz_fail(err, SPZ_EUNSUPPORTED, "node '%s': tensor "
			                "'%s' is used twice; spz trains each "
			                "tensor in one place", nd->name, name);
	if (x->raw || (!x->data && !x->codebook))
		return spz_fail(err, SPZ_EUNSUPPORTED, "node '%s': tensor '%s' "
		                "is not float and cannot be trained", nd->name,
		                name);
	if (x->codebook && !(t->o.flags & SPZ_TRAIN_KEEP))
		return spz_fail(err, SPZ_EUNSUPPORTED, "tensor '%s' is "
		                "quantized: spz finetune trains it with its codes "
		                "kept", name);
	struct param *p = &t->params[t->n_params];
	memset(p, 0, sizeof *p);
	p->t = x;
	p->pub.tensor = x->name;
	p->pub.is_bias = is_bias;
	int64_t ne = spz_tensor_elements(x);
	p->pub.elements = ne;
	p->pub.nonzeros = spz_tensor_nonzeros(x);
	size_t n = (size_t)ne;
	if (x->codebook) {
		p->pub.kind = SPZ_PARAM_CODEBOOK;
		p->pub.n = x->codebook_size;
		p->pub.value = malloc(p->pub.n * sizeof(float));
		p->grad = calloc(p->pub.n, sizeof(float));
		p->elem = malloc(n * sizeof(float));
		p->egrad = calloc(n, sizeof(float));
		if (p->pub.value)
			memcpy(p->pub.value, x->codebook, p->pub.n * sizeof(float));
	} else {
		p->pub.kind = !is_bias && (t->o.flags & SPZ_TRAIN_KEEP) &&
		                              p->pub.nonzeros < ne
		                      ? SPZ_PARAM_MASKED : SPZ_PARAM_DENSE;
		p->pub.n = n;
		p->pub.value = malloc(n * sizeof(float));
		p->grad = calloc(n, sizeof(float));
		p->elem = p->pub.value;
		p->egrad = p->grad;
		if (p->pub.value)
			memcpy(p->pub.value, x->data, n * sizeof(float));
		if (p->pub.kind == SPZ_PARAM_MASKED) {
			p->mask = malloc(n * sizeof *p->mask);
			if (p->mask)
				for (size_t i = 0; i < n; i++)
					p->mask[i] = x->data[i] != 0.0f
					                     ? UINT32_MAX : 0;
		}
	}
	/* The elements a step touches: a pruned weight's non-zeros, a
	 * quantized one's elements of codes 1.. (code 0 is 0 for good). */
	if (p->pub.kind != SPZ_PARAM_DENSE) {
		size_t k = 0;
		for (size_t i = 0; i < n; i++)
			k += x->codebook ? x->codes[i] != 0 : x->data[i] != 0.0f;
		p->live = malloc((k ? k : 1) * sizeof *p->live);
		for (size_t i = 0; p->live && i < n; i++)
			if (x->codebook ? x->codes[i] != 0 : x->data[i] != 0.0f)
				p->live[p->n_live++] = i;
	}
	p->m1 = calloc(p->pub.n, sizeof(float));
	if (t->o.optimizer == SPZ_OPTIM_ADAM)
		p->m2 = calloc(p->pub.n, sizeof(float));
	p->pub.grad = p->grad;
	t->n_params++;
	if (!p->pub.value || !p->grad || !p->elem || !p->egrad || !p->m1 ||
	    (t->o.optimizer == SPZ_OPTIM_ADAM && !p->m2) ||
	    (p->pub.kind == SPZ_PARAM_MASKED && !p->mask) ||
	    (p->pub.kind != SPZ_PARAM_DENSE && !p->live))
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	return 0;
}

static int check_options(const spz_train_options *o, spz_error *err)
{
	if (o->epochs < 1)
		return spz_fail(err, SPZ_EINVAL, "epochs must be at least 1");
	if (o->batch < 1 || o->batch > (1u << 20))
		return spz_fail(err, SPZ_EINVAL, "the batch size must be in "
		                "1..1048576");
	if (!(o->lr > 0) || !isfinite(o->lr))
		return spz_fail(err, SPZ_EINVAL, "the learning rate must be a "
		                "finite number above 0");
	if (!(o->momentum >= 0 && o->momentum < 1))
		return spz_fail(err, SPZ_EINVAL, "the momentum must be in [0, 1)");
	if (!(o->weight_decay >= 0 && o->lr * o->weight_decay < 1))
		return spz_fail(err, SPZ_EINVAL, "the weight decay must be at "
		                "least 0 and below 1 / learning rate (%g)",
		                1 / o->lr);
	if (o->optimizer != SPZ_OPTIM_SGD && o->optimizer != SPZ_OPTIM_ADAM)
		return spz_fail(err, SPZ_EINVAL, "unknown optimizer");
	if (o->schedule != SPZ_LR_COSINE && o->schedule != SPZ_LR_CONSTANT)
		return spz_fail(err, SPZ_EINVAL, "unknown learning-rate schedule");
	return 0;
}

/* Reads the graph as a chain of layers from the first graph input that is
 * not an initializer to the first output. */
static int parse_graph(spz_trainer *t, const spz_model *m, spz_error *err)
{
	const char *cur = NULL;
	for (size_t i = 0; i < m->n_inputs && !cur; i++)
		if (!is_init(m, m->inputs[i]))
			cur = m->inputs[i];
	if (!cur || m->n_outputs < 1)
		return spz_fail(err, SPZ_EUNSUPPORTED, "the model has no graph "
		                "input or output to train");
	size_t width = t->features;
	int softmax = 0;
	for (size_t k = 0; k < m->n_nodes; k++) {
		const spz_node *nd = &m->nodes[k];
		const char *op = nd->op;
		int gemm = !strcmp(op, "Gemm"), matmul = !strcmp(op, "MatMul");
		int add = !strcmp(op, "Add"), relu = !strcmp(op, "Relu");
		int pass = !strcmp(op, "Flatten") || !strcmp(op, "Identity") ||
		           !strcmp(op, "Dropout");
		int sm = !strcmp(op, "Softmax");
		if (!gemm && !matmul && !add && !relu && !pass && !sm)
			return spz_fail(err, SPZ_EUNSUPPORTED, "node '%s': op '%s' "
			                "cannot be trained (spz trains chains of "
			                "Gemm, MatMul, Add, Relu, Flatten)",
			                nd->name, op);
		if (softmax)
			return spz_fail(err, SPZ_EUNSUPPORTED, "node '%s' follows "
			                "the Softmax; only a last Softmax can be "
			                "trained", nd->name);
		if (nd->n_outputs < 1 || nd->n_inputs < 1)
			return spz_fail(err, SPZ_EUNSUPPORTED, "node '%s' has no "
			                "input or output", nd->name);
		const char *data = NULL, *init = NULL;
		if (add && nd->n_inputs == 2) {
			for (int s = 0; s < 2; s++)
				if (!strcmp(nd->inputs[s], cur) &&
				    is_init(m, nd->inputs[1 - s])) {
					data = cur;
					init = nd->inputs[1 - s];
				}
		} else if (!strcmp(nd->inputs[0], cur)) {
			data = cur;
			if ((gemm || matmul) && nd->n_inputs >= 2 &&
			    is_init(m, nd->inputs[1]))
				init = nd->inputs[1];
		}
		if (!data || ((gemm || matmul || add) && !init))
			return spz_fail(err, SPZ_EUNSUPPORTED, "node '%s' is not a "
			                "layer of a chain from the input: spz "
			                "trains MLPs whose layers take one value "
			                "and initializers", nd->name);
		struct layer *last = t->n_layers ? &t->layers[t->n_layers - 1]
		                                 : NULL;
		if (gemm || matmul) {
			const spz_tensor *w = spz_model_tensor(m, init);
			int trans = gemm && spz_node_number(nd, "transB", 0) != 0;
			if (gemm && (spz_node_number(nd, "transA", 0) != 0 ||
			             spz_node_number(nd, "alpha", 1) != 1 ||
			             spz_node_number(nd, "beta", 1) != 1))
				return spz_fail(err, SPZ_EUNSUPPORTED, "node '%s': a "
				                "Gemm with transA, alpha or beta "
				                "other than 0, 1, 1 cannot be "
				                "trained", nd->name);
			if (w->ndims != 2)
				return spz_fail(err, SPZ_EUNSUPPORTED, "node '%s': "
				                "weight '%s' is not 2-D", nd->name,
				                init);
			size_t in = (size_t)w->dims[trans ? 1 : 0];
			size_t out = (size_t)w->dims[trans ? 0 : 1];
			if (in != width)
				return spz_fail(err, SPZ_EUNSUPPORTED, "node '%s' takes "
				                "%zu inputs, the data has %zu "
				                "features", nd->name, in, width);
			struct layer *L = &t->layers[t->n_layers++];
			memset(L, 0, sizeof *L);
			L->in = in;
			L->out = out;
			L->trans = trans;
			L->b = -1;
			L->node = nd->name;
			L->w = (int)t->n_params;
			int rc = add_param(t, m, init, 0, nd, err);
			if (rc)
				return rc;
			if (gemm && nd->n_inputs >= 3 && nd->inputs[2][0]) {
				const spz_tensor *c = spz_model_tensor(m,
				                                       nd->inputs[2]);
				if (!c || spz_tensor_elements(c) != (int64_t)out)
					return spz_fail(err, SPZ_EUNSUPPORTED, "node "
					                "'%s': bias C must be an "
					                "initializer of %zu values",
					                nd->name, out);
				L->b = (int)t->n_params;
				if ((rc = add_param(t, m, nd->inputs[2], 1, nd, err)))
					return rc;
			}
			width = out;
		} else if (add) {
			const spz_tensor *b = spz_model_tensor(m, init);
			if (!last || last->b >= 0 || last->relu ||
			    spz_tensor_elements(b) != (int64_t)width)
				return spz_fail(err, SPZ_EUNSUPPORTED, "node '%s': an "
				                "Add trains only as the bias of a "
				                "MatMul (%zu values, before any "
				                "Relu)", nd->name, width);
			last->b = (int)t->n_params;
			int rc = add_param(t, m, init, 1, nd, err);
			if (rc)
				return rc;
		} else if (relu) {
			if (!last || last->relu)
				return spz_fail(err, SPZ_EUNSUPPORTED, "node '%s': a "
				                "Relu trains only after a layer",
				                nd->name);
			last->relu = 1;
		} else if (sm) {
			double ax = spz_node_number(nd, "axis", -1);
			if (ax != -1 && ax != 1)
				return spz_fail(err, SPZ_EUNSUPPORTED, "node '%s': a "
				                "Softmax over axis %g cannot be "
				                "trained", nd->name, ax);
			softmax = 1;
		}
		cur = nd->outputs[0];
	}
	if (!t->n_layers)
		return spz_fail(err, SPZ_EUNSUPPORTED, "the model has no Gemm or "
		                "MatMul layer to train");
	if (strcmp(cur, m->outputs[0]))
		return spz_fail(err, SPZ_EUNSUPPORTED, "the chain of layers ends "
		                "at '%s', not at the output '%s'", cur,
		                m->outputs[0]);
	if (t->layers[t->n_layers - 1].relu)
		return spz_fail(err, SPZ_EUNSUPPORTED, "the last layer ends in a "
		                "Relu: its outputs cannot be trained as logits");
	t->outputs = width;
	return 0;
}

int spz_trainer_new(spz_trainer **out, const spz_model *m, size_t features,
                    const spz_train_options *o, spz_error *err)
{
	*out = NULL;
	int rc = check_options(o, err);
	if (rc)
		return rc;
	if (features < 1)
		return spz_fail(err, SPZ_EINVAL, "no features");
	spz_trainer *t = calloc(1, sizeof *t);
	if (!t)
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	t->o = *o;
	t->features = features;
	t->b1t = t->b2t = 1.0;
	/* At most one layer and two params per node. */
	size_t nn = m->n_nodes ? m->n_nodes : 1;
	t->layers = calloc(nn, sizeof *t->layers);
	t->params = calloc(2 * nn, sizeof *t->params);
	if (!t->layers || !t->params) {
		spz_trainer_free(t);
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	}
	if ((rc = parse_graph(t, m, err))) {
		spz_trainer_free(t);
		return rc;
	}
	t->cap = o->batch > EVAL_ROWS ? o->batch : EVAL_ROWS;
	t->widest = features;
	for (size_t l = 0; l < t->n_layers; l++)
		if (t->layers[l].out > t->widest)
			t->widest = t->layers[l].out;
	t->act = calloc(t->n_layers + 1, sizeof *t->act);
	t->d0 = malloc(t->cap * t->widest * sizeof(float));
	t->d1 = malloc(t->cap * t->widest * sizeof(float));
	int bad = !t->act || !t->d0 || !t->d1;
	for (size_t l = 0; !bad && l <= t->n_layers; l++) {
		size_t w = l ? t->layers[l - 1].out : features;
		t->act[l] = malloc(t->cap * w * sizeof(float));
		bad = !t->act[l];
	}
	/* The public entries share the value and grad arrays. */
	t->pubs = calloc(t->n_params, sizeof *t->pubs);
	if (bad || !t->pubs) {
		spz_trainer_free(t);
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < t->n_params; i++)
		t->pubs[i] = t->params[i].pub;
	spz_trainer_sync(t);
	*out = t;
	return 0;
}

void spz_trainer_sync(spz_trainer *t)
{
	for (size_t i = 0; i < t->n_params; i++) {
		struct param *p = &t->params[i];
		if (p->pub.kind == SPZ_PARAM_CODEBOOK) {
			const uint8_t *codes = p->t->codes;
			p->pub.value[0] = 0.0f;
			for (int64_t e = 0; e < p->pub.elements; e++)
				p->elem[e] = p->pub.value[codes[e]];
		} else if (p->pub.kind == SPZ_PARAM_MASKED) {
			for (size_t e = 0; e < p->pub.n; e++)
				if (!p->mask[e])
					p->pub.value[e] = 0.0f;
		}
	}
}

/* act[l + 1] from act[l] for n rows. */
static int forward(spz_trainer *t, size_t n, spz_error *err)
{
	for (size_t l = 0; l < t->n_layers; l++) {
		const struct layer *L = &t->layers[l];
		const float *x = t->act[l], *w = t->params[L->w].elem;
		float *y = t->act[l + 1];
		int rc = L->trans
		                 ? spz_sgemm(0, 1, n, L->out, L->in, 1.0f, x, L->in,
		                             w, L->in, 0.0f, y, L->out, err)
		                 : spz_sgemm(0, 0, n, L->out, L->in, 1.0f, x, L->in,
		                             w, L->out, 0.0f, y, L->out, err);
		if (rc)
			return rc;
		/* Bias and ReLU in one pass over y (the same operations in
		 * the same order as two passes, so the same bits). */
		const float *b = L->b >= 0 ? t->params[L->b].elem : NULL;
		for (size_t i = 0; i < n; i++) {
			float *r = y + i * L->out;
			if (b && L->relu)
				for (size_t j = 0; j < L->out; j++) {
					float v = r[j] + b[j];
					r[j] = v > 0.0f ? v : 0.0f;
				}
			else if (b)
				for (size_t j = 0; j < L->out; j++)
					r[j] += b[j];
			else if (L->relu)
				for (size_t j = 0; j < L->out; j++)
					r[j] = r[j] > 0.0f ? r[j] : 0.0f;
		}
	}
	return 0;
}

/* Cross-entropy of one row of logits (shifted by the maximum, in double);
 * probabilities minus the one-hot label into g (when not NULL), scaled. */
static double row_loss(const float *z, size_t k, int32_t label, float *g,
                       double scale, int *correct)
{
	size_t best = 0;
	for (size_t j = 1; j < k; j++)
		if (z[j] > z[best])
			best = j;
	*correct = best == (size_t)label;
	double mx = z[best], sum = 0;
	for (size_t j = 0; j < k; j++)
		sum += exp((double)z[j] - mx);
	if (g)
		for (size_t j = 0; j < k; j++)
			g[j] = (float)((exp((double)z[j] - mx) / sum -
			                (j == (size_t)label)) * scale);
	return log(sum) - ((double)z[label] - mx);
}

static int check_labels(const int32_t *labels, size_t n, size_t k,
                        spz_error *err)
{
	for (size_t i = 0; i < n; i++)
		if (labels[i] < 0 || (size_t)labels[i] >= k)
			return spz_fail(err, SPZ_ERANGE, "label %ld of sample %zu "
			                "is outside the model's %zu outputs",
			                (long)labels[i], i, k);
	return 0;
}

/* Sum of the per-element gradients into the parameters' gradients: a
 * centroid's is the sum over its elements in element order (code 0's are
 * never used, so only the live elements are read); a pruned weight's
 * gradient is 0 (+0.0) where it is pruned, by a bitwise AND with the
 * mask, four lanes at a time with SSE2 (a branch per element
 * mispredicted on the random pattern of a pruned mask). */
static void reduce_grads(struct param *p)
{
	if (p->pub.kind == SPZ_PARAM_CODEBOOK) {
		memset(p->grad, 0, p->pub.n * sizeof(float));
		double acc[256] = {0};
		const uint8_t *codes = p->t->codes;
		for (size_t k = 0; k < p->n_live; k++) {
			size_t e = p->live[k];
			acc[codes[e]] += p->egrad[e];
		}
		for (size_t c = 1; c < p->pub.n; c++)
			p->grad[c] = (float)acc[c];
	} else if (p->pub.kind == SPZ_PARAM_MASKED) {
		float *g = p->grad;
		const uint32_t *m = p->mask;
		size_t e = 0, n = p->pub.n;
#ifdef __SSE2__
		for (; e + 4 <= n; e += 4)
			_mm_storeu_ps(g + e, _mm_and_ps(_mm_loadu_ps(g + e),
			                   _mm_castsi128_ps(_mm_loadu_si128(
			                           (const __m128i *)(m + e)))));
#endif
		for (; e < n; e++) {
			uint32_t u;
			memcpy(&u, g + e, sizeof u);
			u &= m[e];
			memcpy(g + e, &u, sizeof u);
		}
	}
}

static int backward_step(spz_trainer *t, double *loss, size_t *correct,
                         const int32_t *labels, size_t n, spz_error *err)
{
	int rc = forward(t, n, err);
	if (rc)
		return rc;
	size_t k = t->outputs;
	const float *z = t->act[t->n_layers];
	float *g = t->d0, *gp = t->d1;
	double sum = 0;
	size_t ok = 0;
	for (size_t i = 0; i < n; i++) {
		int c;
		sum += row_loss(z + i * k, k, labels[i], g + i * k,
		                1.0 / (double)n, &c);
		ok += (size_t)c;
	}
	*loss = sum / (double)n;
	if (correct)
		*correct = ok;
	for (size_t l = t->n_layers; l-- > 0;) {
		const struct layer *L = &t->layers[l];
		const float *x = t->act[l];
		struct param *w = &t->params[L->w];
		rc = L->trans
		             ? spz_sgemm(1, 0, L->out, L->in, n, 1.0f, g, L->out, x,
		                         L->in, 0.0f, w->egrad, L->in, err)
		             : spz_sgemm(1, 0, L->in, L->out, n, 1.0f, x, L->in, g,
		                         L->out, 0.0f, w->egrad, L->out, err);
		if (rc)
			return rc;
		reduce_grads(w);
		if (L->b >= 0) {
			/* Row by row (each sum still in row order, so the
			 * same bits as column by column, without the strided
			 * reads). */
			struct param *b = &t->params[L->b];
			memset(b->egrad, 0, L->out * sizeof(float));
			for (size_t i = 0; i < n; i++)
				for (size_t j = 0; j < L->out; j++)
					b->egrad[j] += g[i * L->out + j];
			reduce_grads(b);
		}
		if (l == 0)
			break;
		rc = L->trans
		             ? spz_sgemm(0, 0, n, L->in, L->out, 1.0f, g, L->out,
		                         w->elem, L->in, 0.0f, gp, L->in, err)
		             : spz_sgemm(0, 1, n, L->in, L->out, 1.0f, g, L->out,
		                         w->elem, L->out, 0.0f, gp, L->in, err);
		if (rc)
			return rc;
		if (t->layers[l - 1].relu)
			for (size_t i = 0; i < n * L->in; i++)
				if (!(x[i] > 0.0f))
					gp[i] = 0.0f;
		float *tmp = g;
		g = gp;
		gp = tmp;
	}
	return 0;
}

int spz_trainer_gradient(spz_trainer *t, double *loss, size_t *correct,
                         const float *x, const int32_t *labels, size_t n,
                         spz_error *err)
{
	if (n == 0)
		return spz_fail(err, SPZ_EINVAL, "no samples");
	int rc = check_labels(labels, n, t->outputs, err);
	if (rc)
		return rc;
	/* Larger requests than the buffers are done in chunks whose
	 * gradients are summed, weighted by their share of the samples. */
	if (n <= t->cap) {
		memcpy(t->act[0], x, n * t->features * sizeof(float));
		return backward_step(t, loss, correct, labels, n, err);
	}
	double total = 0;
	size_t ok = 0;
	float **acc = calloc(t->n_params, sizeof *acc);
	if (!acc)
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	for (size_t i = 0; i < t->n_params && !rc; i++)
		if (!(acc[i] = calloc(t->params[i].pub.n, sizeof(float))))
			rc = spz_fail(err, SPZ_ENOMEM, "out of memory");
	for (size_t s = 0; !rc && s < n; s += t->cap) {
		size_t c = n - s < t->cap ? n - s : t->cap, okc = 0;
		double l = 0;
		memcpy(t->act[0], x + s * t->features,
		       c * t->features * sizeof(float));
		rc = backward_step(t, &l, &okc, labels + s, c, err);
		double w = (double)c / (double)n;
		total += l * w;
		ok += okc;
		for (size_t i = 0; !rc && i < t->n_params; i++)
			for (size_t e = 0; e < t->params[i].pub.n; e++)
				acc[i][e] += (float)(t->params[i].grad[e] * w);
	}
	for (size_t i = 0; i < t->n_params; i++) {
		if (!rc)
			memcpy(t->params[i].grad, acc[i],
			       t->params[i].pub.n * sizeof(float));
		free(acc[i]);
	}
	free(acc);
	if (!rc) {
		*loss = total;
		if (correct)
			*correct = ok;
	}
	return rc;
}

/*
 * Adam's update of elements [e, n). Its square root and division dominate
 * a step of a small MLP, and the compiler does not vectorize them (errno):
 * with SSE2 four lanes run at once. Both paths do the same IEEE operations
 * in the same order (sqrt and division are correctly rounded, and spz
 * builds with -ffp-contract=off), so they give the same bits.
 */
static void adam_update(float *v, float *m1, float *m2, const float *g,
                        size_t e, size_t n, float b1, float b2, float step,
                        float eps)
{
#ifdef __SSE2__
	const __m128 vb1 = _mm_set1_ps(b1), vb2 = _mm_set1_ps(b2);
	const __m128 c1 = _mm_set1_ps(1.0f - b1), c2 = _mm_set1_ps(1.0f - b2);
	const __m128 vs = _mm_set1_ps(step), ve = _mm_set1_ps(eps);
	for (; e + 4 <= n; e += 4) {
		__m128 gg = _mm_loadu_ps(g + e);
		__m128 a = _mm_add_ps(_mm_mul_ps(vb1, _mm_loadu_ps(m1 + e)),
		                      _mm_mul_ps(c1, gg));
		__m128 b = _mm_add_ps(_mm_mul_ps(vb2, _mm_loadu_ps(m2 + e)),
		                      _mm_mul_ps(_mm_mul_ps(c2, gg), gg));
		_mm_storeu_ps(m1 + e, a);
		_mm_storeu_ps(m2 + e, b);
		__m128 d = _mm_div_ps(_mm_mul_ps(vs, a),
		                      _mm_add_ps(_mm_sqrt_ps(b), ve));
		_mm_storeu_ps(v + e, _mm_sub_ps(_mm_loadu_ps(v + e), d));
	}
#endif
	for (; e < n; e++) {
		m1[e] = b1 * m1[e] + (1.0f - b1) * g[e];
		m2[e] = b2 * m2[e] + (1.0f - b2) * g[e] * g[e];
		v[e] -= step * m1[e] / (sqrtf(m2[e]) + eps);
	}
}

void spz_trainer_step(spz_trainer *t, double lr)
{
	const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
	double step = lr;
	if (t->o.optimizer == SPZ_OPTIM_ADAM) {
		t->adam_t++;
		t->b1t *= b1;
		t->b2t *= b2;
		step = lr * sqrt(1.0 - t->b2t) / (1.0 - t->b1t);
	}
	float fb1 = (float)b1, fb2 = (float)b2, fstep = (float)step;
	float fmom = (float)t->o.momentum, feps = (float)eps;
	for (size_t i = 0; i < t->n_params; i++) {
		struct param *p = &t->params[i];
		float *v = p->pub.value, *m1 = p->m1, *m2 = p->m2;
		const float *g = p->grad;
		size_t first = p->pub.kind == SPZ_PARAM_CODEBOOK ? 1 : 0;
		/* A sparse pruned weight: only its live elements, one by one
		 * (its zeros have gradient and state 0, so the full update
		 * below leaves them 0 too: the same bits either way). */
		if (p->pub.kind == SPZ_PARAM_MASKED && p->n_live * 4 < p->pub.n) {
			float keep = (float)(1.0 - lr * t->o.weight_decay);
			int decay = t->o.weight_decay > 0;
			int adam = t->o.optimizer == SPZ_OPTIM_ADAM;
			for (size_t k = 0; k < p->n_live; k++) {
				size_t e = p->live[k];
				if (decay)
					v[e] *= keep;
				if (adam)
					adam_update(v, m1, m2, g, e, e + 1, fb1, fb2,
					            fstep, feps);
				else {
					m1[e] = fmom * m1[e] + g[e];
					v[e] -= fstep * m1[e];
				}
			}
			continue;
		}
		/* Decoupled weight decay (Loshchilov and Hutter's AdamW):
		 * the weights shrink by lr * wd before the gradient step, so
		 * Adam's scaling does not undo it. Biases and centroids do
		 * not decay; a pruned zero stays 0. */
		if (t->o.weight_decay > 0 && !p->pub.is_bias &&
		    p->pub.kind != SPZ_PARAM_CODEBOOK) {
			float keep = (float)(1.0 - lr * t->o.weight_decay);
			for (size_t e = 0; e < p->pub.n; e++)
				v[e] *= keep;
		}
		if (t->o.optimizer == SPZ_OPTIM_ADAM)
			adam_update(v, m1, m2, g, first, p->pub.n, fb1, fb2, fstep,
			            feps);
		else
			for (size_t e = first; e < p->pub.n; e++) {
				m1[e] = fmom * m1[e] + g[e];
				v[e] -= fstep * m1[e];
			}
		/* A masked weight's zeros: gradient and state are 0 there, so
		 * the update left them at 0; restore the sign of -0 too. */
		if (p->pub.kind == SPZ_PARAM_MASKED)
			for (size_t e = 0; e < p->pub.n; e++)
				if (!p->mask[e])
					v[e] = 0.0f;
		/* Code 0's elements are 0 (v[0] never moves). */
		if (p->pub.kind == SPZ_PARAM_CODEBOOK) {
			const uint8_t *codes = p->t->codes;
			for (size_t k = 0; k < p->n_live; k++)
				p->elem[p->live[k]] = v[codes[p->live[k]]];
		}
	}
}

int spz_trainer_predict(spz_trainer *t, float *y, const float *x, size_t n,
                        spz_error *err)
{
	size_t k = t->outputs;
	for (size_t s = 0; s < n; s += t->cap) {
		size_t c = n - s < t->cap ? n - s : t->cap;
		memcpy(t->act[0], x + s * t->features,
		       c * t->features * sizeof(float));
		int rc = forward(t, c, err);
		if (rc)
			return rc;
		memcpy(y + s * k, t->act[t->n_layers], c * k * sizeof(float));
	}
	return 0;
}

static int params_finite(const spz_trainer *t)
{
	for (size_t i = 0; i < t->n_params; i++)
		for (size_t e = 0; e < t->params[i].pub.n; e++)
			if (!isfinite(t->params[i].pub.value[e]))
				return 0;
	return 1;
}

/* Accuracy and mean loss of the model on d. */
static int evaluate(spz_trainer *t, double *acc, double *loss,
                    const spz_dataset *d, spz_error *err)
{
	size_t k = t->outputs, ok = 0;
	double sum = 0;
	for (size_t s = 0; s < d->n; s += t->cap) {
		size_t c = d->n - s < t->cap ? d->n - s : t->cap;
		memcpy(t->act[0], d->x + s * t->features,
		       c * t->features * sizeof(float));
		int rc = forward(t, c, err);
		if (rc)
			return rc;
		for (size_t i = 0; i < c; i++) {
			int hit;
			sum += row_loss(t->act[t->n_layers] + i * k, k,
			                d->labels[s + i], NULL, 1.0, &hit);
			ok += (size_t)hit;
		}
	}
	*acc = (double)ok / (double)d->n;
	*loss = sum / (double)d->n;
	return 0;
}

static int check_data(const spz_trainer *t, const spz_dataset *d,
                      const char *what, spz_error *err)
{
	if (d->features != t->features)
		return spz_fail(err, SPZ_EINVAL, "the %s data has %zu features "
		                "per sample, the model takes %zu", what,
		                d->features, t->features);
	if (!d->labels)
		return spz_fail(err, SPZ_EINVAL, "the %s data has no labels",
		                what);
	spz_error e = {0};
	if (check_labels(d->labels, d->n, t->outputs, &e))
		return spz_fail(err, SPZ_ERANGE, "the %s data's %s", what,
		                e.text);
	return 0;
}

static int not_finite(spz_error *err, double loss, size_t epoch,
                      size_t step, double lr)
{
	return spz_fail(err, SPZ_ERANGE, "the loss became %s at epoch %zu, "
	                "step %zu (learning rate %g): try a smaller --lr",
	                isnan(loss) ? "NaN" : "infinite", epoch, step, lr);
}

int spz_trainer_fit(spz_trainer *t, const spz_dataset *train,
                    const spz_dataset *test, spz_error *err)
{
	int rc = check_data(t, train, "training", err);
	if (!rc && test)
		rc = check_data(t, test, "test", err);
	if (rc)
		return rc;
	const spz_train_options *o = &t->o;
	size_t n = train->n, f = t->features, bs = o->batch;
	size_t steps = (n + bs - 1) / bs;
	double total = (double)steps * (double)o->epochs;
	size_t *perm = malloc(n * sizeof *perm);
	int32_t *lab = malloc(bs * sizeof *lab);
	if (!perm || !lab) {
		free(perm);
		free(lab);
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++)
		perm[i] = i;
	spz_rng rng;
	spz_rng_seed(&rng, o->seed);
	const double pi = 3.14159265358979323846;
	uint64_t global = 0;
	for (size_t ep = 1; !rc && ep <= o->epochs; ep++) {
		for (size_t i = n; i > 1; i--) {
			size_t j = (size_t)spz_rng_below(&rng, i);
			size_t tmp = perm[i - 1];
			perm[i - 1] = perm[j];
			perm[j] = tmp;
		}
		double sum = 0, lr = o->lr;
		size_t ok = 0, seen = 0;
		for (size_t s = 0; !rc && s < steps; s++, global++) {
			size_t b0 = s * bs, c = n - b0 < bs ? n - b0 : bs;
			for (size_t i = 0; i < c; i++) {
				size_t src = perm[b0 + i];
				memcpy(t->act[0] + i * f, train->x + src * f,
				       f * sizeof(float));
				lab[i] = train->labels[src];
			}
			double loss;
			size_t hit;
			if ((rc = backward_step(t, &loss, &hit, lab, c, err)))
				break;
			if (o->schedule == SPZ_LR_COSINE)
				lr = o->lr * 0.5 *
				     (1.0 + cos(pi * (double)global / total));
			if (!isfinite(loss)) {
				rc = not_finite(err, loss, ep, s + 1, lr);
				break;
			}
			spz_trainer_step(t, lr);
			sum += loss * (double)c;
			ok += hit;
			seen += c;
			if (o->progress) {
				spz_train_progress p = {0, ep, o->epochs, s + 1,
				                        steps, lr,
				                        sum / (double)seen,
				                        (double)ok / (double)seen,
				                        -1, -1};
				if (o->progress(o->progress_ctx, &p))
					rc = spz_fail(err, SPZ_EINVAL, "stopped");
			}
		}
		if (rc)
			break;
		if (!params_finite(t)) {
			rc = not_finite(err, NAN, ep, steps, lr);
			break;
		}
		spz_train_progress p = {1, ep, o->epochs, steps, steps, lr,
		                        sum / (double)seen,
		                        (double)ok / (double)seen, -1, -1};
		if (test &&
		    (rc = evaluate(t, &p.test_accuracy, &p.test_loss, test, err)))
			break;
		if (o->progress && o->progress(o->progress_ctx, &p))
			rc = spz_fail(err, SPZ_EINVAL, "stopped");
	}
	free(perm);
	free(lab);
	return rc;
}

int spz_trainer_write(spz_trainer *t, spz_model *m, spz_error *err)
{
	for (size_t i = 0; i < t->n_params; i++) {
		struct param *p = &t->params[i];
		spz_tensor *x = spz_model_tensor(m, p->pub.tensor);
		if (!x || x != p->t)
			return spz_fail(err, SPZ_EINVAL, "tensor '%s' is not the "
			                "trainer's", p->pub.tensor);
		if (p->pub.kind == SPZ_PARAM_CODEBOOK) {
			p->pub.value[0] = 0.0f;
			memcpy(x->codebook, p->pub.value, p->pub.n * sizeof(float));
		} else {
			memcpy(x->data, p->pub.value, p->pub.n * sizeof(float));
		}
	}
	return 0;
}
