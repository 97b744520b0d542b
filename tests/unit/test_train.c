/* test_train.c - the trainer: gradients of every layer kind against finite
 * differences (Gemm with and without transB, MatMul + Add, Relu, a final
 * Softmax, masked and codebook weights), the invariants of fine-tuning
 * (zeros stay zero, codes unchanged, code 0 stays 0), determinism, a
 * small run that must learn, and the refusals. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* Blobs: class c centred at +-2 on feature c (mod features), noise 0.7. */
static spz_dataset *blobs(size_t n, size_t features, int classes,
                          uint64_t seed)
{
	spz_dataset *d;
	int64_t dims[1] = {(int64_t)features};
	ck_assert_int_eq(spz_dataset_new(&d, n, dims, 1, 1, NULL), 0);
	spz_rng rng;
	spz_rng_seed(&rng, seed);
	for (size_t i = 0; i < n; i++) {
		int c = (int)spz_rng_below(&rng, (uint64_t)classes);
		d->labels[i] = c;
		for (size_t f = 0; f < features; f++)
			d->x[i * features + f] =
				(float)(0.7 * spz_rng_normal(&rng));
		d->x[i * features + (size_t)c % features] +=
			c < (int)features ? 2.0f : -2.0f;
	}
	d->classes = classes;
	return d;
}

static spz_model *mlp(const int64_t *dims, size_t n)
{
	spz_model *m;
	ck_assert_int_eq(spz_gen_mlp(&m, dims, n, 3, NULL), 0);
	/* Non-zero biases so their gradients are tested away from 0. */
	for (size_t i = 0; i < m->n_tensors; i++)
		if (m->tensors[i].ndims == 1)
			for (int64_t e = 0; e < m->tensors[i].dims[0]; e++)
				m->tensors[i].data[e] = 0.05f * (float)(e % 5) - 0.1f;
	return m;
}

/* Every parameter's analytic gradient against central differences. */
static void grad_check(spz_model *m, int flags)
{
	spz_train_options o = SPZ_TRAIN_OPTIONS_INIT;
	o.flags = flags;
	spz_trainer *t;
	spz_error err = {0};
	const spz_tensor *first = NULL;
	for (size_t i = 0; i < m->n_tensors && !first; i++)
		if (spz_model_is_weight(m, &m->tensors[i], NULL))
			first = &m->tensors[i];
	ck_assert_ptr_nonnull(first);
	/* The first layer's input width: Gemm transB=1 is [out, in]. */
	size_t features = 6;
	ck_assert_int_eq(spz_trainer_new(&t, m, features, &o, &err), 0);
	spz_dataset *d = blobs(7, features, (int)spz_trainer_outputs(t), 5);
	double loss;
	ck_assert_int_eq(spz_trainer_gradient(t, &loss, NULL, d->x, d->labels,
	                                      d->n, &err), 0);
	size_t np;
	spz_train_param *ps = spz_trainer_params(t, &np);
	ck_assert_uint_gt(np, 0);
	for (size_t i = 0; i < np; i++) {
		spz_train_param *p = &ps[i];
		float *ana = malloc(p->n * sizeof(float));
		memcpy(ana, p->grad, p->n * sizeof(float));
		for (size_t e = 0; e < p->n; e++) {
			if (p->kind == SPZ_PARAM_CODEBOOK && e == 0) {
				ck_assert(ana[0] == 0.0f);
				continue;
			}
			if (p->kind == SPZ_PARAM_MASKED && p->value[e] == 0.0f) {
				ck_assert_msg(ana[e] == 0.0f, "%s[%zu] masked "
				              "gradient %g", p->tensor, e, ana[e]);
				continue;
			}
			const float h = 1e-2f;
			float keep = p->value[e];
			double lp, lm;
			p->value[e] = keep + h;
			spz_trainer_sync(t);
			ck_assert_int_eq(spz_trainer_gradient(t, &lp, NULL, d->x,
			                                      d->labels, d->n,
			                                      &err), 0);
			p->value[e] = keep - h;
			spz_trainer_sync(t);
			ck_assert_int_eq(spz_trainer_gradient(t, &lm, NULL, d->x,
			                                      d->labels, d->n,
			                                      &err), 0);
			p->value[e] = keep;
			spz_trainer_sync(t);
			double num = (lp - lm) / (2.0 * h);
			ck_assert_msg(fabs(num - ana[e]) <=
			                      2e-3 + 2e-2 * fabs(num),
			              "%s[%zu]: analytic %g, numeric %g", p->tensor,
			              e, ana[e], num);
		}
		free(ana);
	}
	spz_dataset_free(d);
	spz_trainer_free(t);
}

START_TEST(grad_gemm_relu)
{
	int64_t dims[] = {6, 5, 4, 3};
	spz_model *m = mlp(dims, 4);
	grad_check(m, 0);
	spz_model_free(m);
}
END_TEST

/* Builds input -> MatMul(W [6,5]) -> Add(b) -> Relu -> Gemm(transB 0,
 * no C) -> Flatten -> Softmax. */
static spz_model *matmul_model(void)
{
	spz_model *m;
	ck_assert_int_eq(spz_model_new(&m, "mm"), 0);
	int64_t w1[2] = {6, 5}, b1 = 5, w2[2] = {5, 3};
	spz_tensor *t;
	spz_rng rng;
	spz_rng_seed(&rng, 9);
	ck_assert_int_eq(spz_model_add_tensor(&t, m, "w1", w1, 2, NULL, NULL),
	                 0);
	for (int i = 0; i < 30; i++)
		t->data[i] = (float)(0.5 * spz_rng_normal(&rng));
	ck_assert_int_eq(spz_model_add_tensor(&t, m, "b1", &b1, 1, NULL, NULL),
	                 0);
	for (int i = 0; i < 5; i++)
		t->data[i] = 0.1f * (float)i;
	ck_assert_int_eq(spz_model_add_tensor(&t, m, "w2", w2, 2, NULL, NULL),
	                 0);
	for (int i = 0; i < 15; i++)
		t->data[i] = (float)(0.5 * spz_rng_normal(&rng));
	const char *a[2] = {"input", "w1"}, *o = "h";
	ck_assert_int_eq(spz_model_add_node(NULL, m, "MatMul", "mm1", a, 2, &o,
	                                    1), 0);
	const char *b[2] = {"b1", "h"}, *ob = "hb";
	ck_assert_int_eq(spz_model_add_node(NULL, m, "Add", "add1", b, 2, &ob,
	                                    1), 0);
	const char *r = "hb", *orr = "hr";
	ck_assert_int_eq(spz_model_add_node(NULL, m, "Relu", "relu", &r, 1,
	                                    &orr, 1), 0);
	const char *g[2] = {"hr", "w2"}, *og = "z";
	ck_assert_int_eq(spz_model_add_node(NULL, m, "Gemm", "g2", g, 2, &og,
	                                    1), 0);
	const char *f = "z", *of = "zf";
	ck_assert_int_eq(spz_model_add_node(NULL, m, "Flatten", "fl", &f, 1,
	                                    &of, 1), 0);
	const char *s = "zf", *os = "output";
	ck_assert_int_eq(spz_model_add_node(NULL, m, "Softmax", "sm", &s, 1,
	                                    &os, 1), 0);
	ck_assert_int_eq(spz_model_add_input(m, "input"), 0);
	ck_assert_int_eq(spz_model_add_output(m, "output"), 0);
	return m;
}

START_TEST(grad_matmul_add_softmax)
{
	spz_model *m = matmul_model();
	grad_check(m, 0);
	spz_model_free(m);
}
END_TEST

/* Zeros every third weight of fc1 and quantizes fc2 to a 4-entry
 * codebook (code i % 4). */
static void compress(spz_model *m)
{
	spz_tensor *w1 = spz_model_tensor(m, "fc1.weight");
	for (int64_t e = 0; e < spz_tensor_elements(w1); e += 3)
		w1->data[e] = 0.0f;
	spz_tensor *w2 = spz_model_tensor(m, "fc2.weight");
	int64_t n = spz_tensor_elements(w2);
	float *cb = malloc(4 * sizeof(float));
	uint8_t *codes = malloc((size_t)n);
	cb[0] = 0.0f;
	cb[1] = -0.4f;
	cb[2] = 0.3f;
	cb[3] = 0.7f;
	for (int64_t e = 0; e < n; e++)
		codes[e] = (uint8_t)((e * 7) % 4);
	spz_tensor_set_quantized(w2, 2, cb, 4, codes);
}

START_TEST(grad_masked_and_codebook)
{
	int64_t dims[] = {6, 5, 4, 3};
	spz_model *m = mlp(dims, 4);
	compress(m);
	spz_train_options o = SPZ_TRAIN_OPTIONS_INIT;
	spz_trainer *t;
	size_t np;
	/* The kinds follow the tensors. */
	o.flags = SPZ_TRAIN_KEEP;
	ck_assert_int_eq(spz_trainer_new(&t, m, 6, &o, NULL), 0);
	spz_train_param *ps = spz_trainer_params(t, &np);
	ck_assert_uint_eq(np, 6);
	ck_assert_int_eq(ps[0].kind, SPZ_PARAM_MASKED);
	ck_assert_int_eq(ps[1].kind, SPZ_PARAM_DENSE);
	ck_assert_int_eq(ps[2].kind, SPZ_PARAM_CODEBOOK);
	ck_assert_uint_eq(ps[2].n, 4);
	ck_assert_int_eq(ps[4].kind, SPZ_PARAM_DENSE);
	spz_trainer_free(t);
	grad_check(m, SPZ_TRAIN_KEEP);
	spz_model_free(m);
}
END_TEST

START_TEST(finetune_keeps_mask_and_codes)
{
	int64_t dims[] = {6, 12, 8, 3};
	spz_model *m = mlp(dims, 4);
	compress(m);
	spz_tensor *w1 = spz_model_tensor(m, "fc1.weight");
	spz_tensor *w2 = spz_model_tensor(m, "fc2.weight");
	int64_t n1 = spz_tensor_elements(w1), n2 = spz_tensor_elements(w2);
	float *before1 = malloc((size_t)n1 * sizeof(float));
	memcpy(before1, w1->data, (size_t)n1 * sizeof(float));
	uint8_t *codes = malloc((size_t)n2);
	memcpy(codes, w2->codes, (size_t)n2);
	float cb[4];
	memcpy(cb, w2->codebook, sizeof cb);
	int64_t nz1 = spz_tensor_nonzeros(w1);
	spz_dataset *d = blobs(300, 6, 3, 11);
	spz_train_options o = SPZ_TRAIN_OPTIONS_INIT;
	o.flags = SPZ_TRAIN_KEEP;
	o.epochs = 3;
	o.batch = 16;
	o.lr = 1e-2;
	spz_trainer *t;
	spz_error err = {0};
	ck_assert_int_eq(spz_trainer_new(&t, m, 6, &o, &err), 0);
	ck_assert_int_eq(spz_trainer_fit(t, d, NULL, &err), 0);
	ck_assert_int_eq(spz_trainer_write(t, m, &err), 0);
	ck_assert_int_eq(spz_model_validate(m, &err), 0);
	int moved = 0;
	for (int64_t e = 0; e < n1; e++) {
		if (before1[e] == 0.0f)
			ck_assert_msg(w1->data[e] == 0.0f && !signbit(w1->data[e]),
			              "fc1.weight[%lld] left zero", (long long)e);
		else
			ck_assert(w1->data[e] != 0.0f);
		moved |= w1->data[e] != before1[e];
	}
	ck_assert(moved);
	ck_assert_int_eq(spz_tensor_nonzeros(w1), nz1);
	ck_assert_mem_eq(w2->codes, codes, (size_t)n2);
	ck_assert(w2->codebook[0] == 0.0f);
	ck_assert_uint_eq(w2->codebook_size, 4);
	for (int c = 1; c < 4; c++)
		ck_assert(w2->codebook[c] != cb[c]);
	spz_trainer_free(t);
	spz_dataset_free(d);
	free(before1);
	free(codes);
	spz_model_free(m);
}
END_TEST

static float *train_once(uint64_t seed, spz_optimizer opt)
{
	int64_t dims[] = {6, 10, 3};
	spz_model *m = mlp(dims, 3);
	spz_dataset *d = blobs(200, 6, 3, 4);
	spz_train_options o = SPZ_TRAIN_OPTIONS_INIT;
	o.epochs = 2;
	o.batch = 32;
	o.seed = seed;
	o.optimizer = opt;
	o.lr = opt == SPZ_OPTIM_SGD ? 0.05 : 1e-2;
	spz_trainer *t;
	ck_assert_int_eq(spz_trainer_new(&t, m, 6, &o, NULL), 0);
	ck_assert_int_eq(spz_trainer_fit(t, d, NULL, NULL), 0);
	ck_assert_int_eq(spz_trainer_write(t, m, NULL), 0);
	float *w = malloc(60 * sizeof(float));
	memcpy(w, spz_model_tensor(m, "fc1.weight")->data, 60 * sizeof(float));
	spz_trainer_free(t);
	spz_dataset_free(d);
	spz_model_free(m);
	return w;
}

START_TEST(deterministic)
{
	for (int opt = 0; opt < 2; opt++) {
		float *a = train_once(7, (spz_optimizer)opt);
		float *b = train_once(7, (spz_optimizer)opt);
		float *c = train_once(8, (spz_optimizer)opt);
		ck_assert_mem_eq(a, b, 60 * sizeof(float));
		ck_assert(memcmp(a, c, 60 * sizeof(float)) != 0);
		free(a);
		free(b);
		free(c);
	}
}
END_TEST

struct seen {
	size_t epochs;
	double acc;
};

static int count_epochs(void *ctx, const spz_train_progress *p)
{
	struct seen *s = ctx;
	if (p->epoch_end) {
		s->epochs++;
		s->acc = p->test_accuracy;
	}
	return 0;
}

/* Three Gaussian blobs in 6-D: a 6-16-3 MLP must reach 95% on held-out
 * samples within 5 epochs (the blobs' Bayes accuracy is about 99%). */
START_TEST(learns_blobs)
{
	int64_t dims[] = {6, 16, 3};
	for (int opt = 0; opt < 2; opt++) {
		spz_model *m = mlp(dims, 3);
		spz_dataset *d = blobs(1000, 6, 3, 1), *te = blobs(500, 6, 3, 2);
		spz_train_options o = SPZ_TRAIN_OPTIONS_INIT;
		struct seen s = {0};
		o.epochs = 5;
		o.batch = 32;
		o.optimizer = (spz_optimizer)opt;
		o.lr = opt == SPZ_OPTIM_SGD ? 0.05 : 1e-2;
		o.progress = count_epochs;
		o.progress_ctx = &s;
		spz_trainer *t;
		ck_assert_int_eq(spz_trainer_new(&t, m, 6, &o, NULL), 0);
		ck_assert_int_eq(spz_trainer_fit(t, d, te, NULL), 0);
		ck_assert_uint_eq(s.epochs, 5);
		ck_assert_msg(s.acc >= 0.95, "test accuracy %g", s.acc);
		spz_trainer_free(t);
		spz_dataset_free(d);
		spz_dataset_free(te);
		spz_model_free(m);
	}
}
END_TEST

START_TEST(refusals)
{
	int64_t dims[] = {6, 5, 3};
	spz_model *m = mlp(dims, 3);
	spz_train_options o = SPZ_TRAIN_OPTIONS_INIT;
	spz_trainer *t = NULL;
	spz_error err = {0};
	/* Features that do not fit the first layer. */
	ck_assert_int_eq(spz_trainer_new(&t, m, 7, &o, &err),
	                 SPZ_EUNSUPPORTED);
	ck_assert_ptr_null(t);
	ck_assert_ptr_nonnull(strstr(err.text, "takes 6 inputs"));
	/* Bad options. */
	o.epochs = 0;
	ck_assert_int_eq(spz_trainer_new(&t, m, 6, &o, &err), SPZ_EINVAL);
	o.epochs = 1;
	o.lr = NAN;
	ck_assert_int_eq(spz_trainer_new(&t, m, 6, &o, &err), SPZ_EINVAL);
	o.lr = 1e-3;
	/* A learning rate that blows up: stopped with a message. */
	o.optimizer = SPZ_OPTIM_SGD;
	o.lr = 1e30;
	o.schedule = SPZ_LR_CONSTANT;
	spz_dataset *d = blobs(100, 6, 3, 3);
	ck_assert_int_eq(spz_trainer_new(&t, m, 6, &o, &err), 0);
	ck_assert_int_eq(spz_trainer_fit(t, d, NULL, &err), SPZ_ERANGE);
	ck_assert_ptr_nonnull(strstr(err.text, "try a smaller --lr"));
	spz_trainer_free(t);
	/* A label past the outputs. */
	o.lr = 1e-3;
	d->labels[5] = 3;
	ck_assert_int_eq(spz_trainer_new(&t, m, 6, &o, &err), 0);
	ck_assert_int_eq(spz_trainer_fit(t, d, NULL, &err), SPZ_ERANGE);
	ck_assert_ptr_nonnull(strstr(err.text, "label 3 of sample 5"));
	spz_trainer_free(t);
	spz_dataset_free(d);
	/* A quantized tensor needs SPZ_TRAIN_KEEP. */
	spz_tensor *w = spz_model_tensor(m, "fc1.weight");
	float *cb = malloc(2 * sizeof(float));
	uint8_t *codes = calloc(30, 1);
	cb[0] = 0.0f;
	cb[1] = 1.0f;
	spz_tensor_set_quantized(w, 1, cb, 2, codes);
	ck_assert_int_eq(spz_trainer_new(&t, m, 6, &o, &err),
	                 SPZ_EUNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(err.text, "quantized"));
	spz_model_free(m);
	/* An op that is not trained. */
	m = matmul_model();
	free(m->nodes[2].op);
	m->nodes[2].op = strdup("Sigmoid");
	ck_assert_int_eq(spz_trainer_new(&t, m, 6, &o, &err),
	                 SPZ_EUNSUPPORTED);
	ck_assert_str_eq(err.text, "node 'relu': op 'Sigmoid' cannot be "
	                 "trained (spz trains chains of Gemm, MatMul, Add, "
	                 "Relu, Flatten)");
	spz_model_free(m);
}
END_TEST

/* Decoupled weight decay, against the formula by hand: one SGD step
 * without momentum scales a weight by 1 - lr * wd before subtracting
 * lr * gradient; a bias only subtracts. Out-of-range decays are refused. */
START_TEST(weight_decay_step)
{
	int64_t dims[] = {6, 5, 3};
	spz_model *m = mlp(dims, 3);
	spz_dataset *d = blobs(20, 6, 3, 9);
	spz_train_options o = SPZ_TRAIN_OPTIONS_INIT;
	o.optimizer = SPZ_OPTIM_SGD;
	o.momentum = 0;
	o.weight_decay = 0.5;
	const double lr = 0.1;
	o.lr = lr;
	spz_trainer *t;
	spz_error err = {0};
	ck_assert_int_eq(spz_trainer_new(&t, m, 6, &o, &err), 0);
	double loss;
	ck_assert_int_eq(spz_trainer_gradient(t, &loss, NULL, d->x, d->labels,
	                                      d->n, &err), 0);
	size_t np;
	spz_train_param *ps = spz_trainer_params(t, &np);
	float *want[8];
	ck_assert_uint_le(np, 8);
	for (size_t i = 0; i < np; i++) {
		want[i] = malloc(ps[i].n * sizeof(float));
		float keep = ps[i].is_bias ? 1.0f : (float)(1.0 - lr * 0.5);
		for (size_t e = 0; e < ps[i].n; e++) {
			float v = ps[i].value[e] * keep;
			ck_assert(ps[i].is_bias || ps[i].value[e] == 0.0f ||
			          v != ps[i].value[e]);
			want[i][e] = v - (float)lr * ps[i].grad[e];
		}
	}
	spz_trainer_step(t, lr);
	for (size_t i = 0; i < np; i++) {
		ck_assert_mem_eq(ps[i].value, want[i], ps[i].n * sizeof(float));
		free(want[i]);
	}
	spz_trainer_free(t);
	t = NULL;
	o.weight_decay = -0.1;
	ck_assert_int_eq(spz_trainer_new(&t, m, 6, &o, &err), SPZ_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.text, "weight decay"));
	o.weight_decay = 10;       /* lr * wd = 1: every weight to 0 */
	ck_assert_int_eq(spz_trainer_new(&t, m, 6, &o, &err), SPZ_EINVAL);
	o.weight_decay = NAN;
	ck_assert_int_eq(spz_trainer_new(&t, m, 6, &o, &err), SPZ_EINVAL);
	ck_assert_ptr_null(t);
	spz_dataset_free(d);
	spz_model_free(m);
}
END_TEST

/* A sparse pruned weight (10% kept: below a quarter, so the step visits
 * only its live elements) moves exactly as Adam and SGD with decoupled
 * decay say, computed here in the same float operations; its zeros stay
 * +0 and their public gradient is +0. */
START_TEST(sparse_masked_step)
{
	int64_t dims[] = {6, 40, 3};
	spz_dataset *d = blobs(32, 6, 3, 4);
	for (int opt = 0; opt < 2; opt++) {
		spz_model *m = mlp(dims, 3);
		spz_tensor *w1 = spz_model_tensor(m, "fc1.weight");
		int64_t n1 = spz_tensor_elements(w1);
		for (int64_t e = 0; e < n1; e++)
			if (e % 10 != 3)
				w1->data[e] = e % 2 ? -0.0f : 0.0f;
		spz_train_options o = SPZ_TRAIN_OPTIONS_INIT;
		o.flags = SPZ_TRAIN_KEEP;
		o.optimizer = opt ? SPZ_OPTIM_SGD : SPZ_OPTIM_ADAM;
		o.momentum = 0.9;
		o.weight_decay = 0.5;
		const double lr = 0.01;
		spz_trainer *t;
		ck_assert_int_eq(spz_trainer_new(&t, m, 6, &o, NULL), 0);
		double loss;
		ck_assert_int_eq(spz_trainer_gradient(t, &loss, NULL, d->x,
		                                      d->labels, d->n, NULL), 0);
		size_t np;
		spz_train_param *ps = spz_trainer_params(t, &np);
		ck_assert_int_eq(ps[0].kind, SPZ_PARAM_MASKED);
		ck_assert_int_eq(ps[0].nonzeros, 24);
		float *want = malloc(ps[0].n * sizeof(float));
		const double b1 = 0.9, b2 = 0.999;
		float step = (float)(opt ? lr : lr * sqrt(1.0 - b2) / (1.0 - b1));
		float keep = (float)(1.0 - lr * 0.5);
		int moved = 0;
		for (size_t e = 0; e < ps[0].n; e++) {
			float g = ps[0].grad[e], v = ps[0].value[e];
			if (e % 10 != 3) {
				ck_assert(g == 0.0f && !signbit(g));
				want[e] = 0.0f;
				continue;
			}
			v *= keep;
			if (opt) {
				float m1 = 0.9f * 0.0f + g;
				want[e] = v - step * m1;
			} else {
				float fb1 = (float)b1, fb2 = (float)b2;
				float m1 = fb1 * 0.0f + (1.0f - fb1) * g;
				float m2 = fb2 * 0.0f + (1.0f - fb2) * g * g;
				want[e] = v - step * m1 / (sqrtf(m2) + 1e-8f);
			}
			moved += want[e] != ps[0].value[e];
		}
		ck_assert_int_gt(moved, 20);
		spz_trainer_step(t, lr);
		ck_assert_mem_eq(ps[0].value, want, ps[0].n * sizeof(float));
		free(want);
		spz_trainer_free(t);
		spz_model_free(m);
	}
	spz_dataset_free(d);
}
END_TEST

/* With weight decay, fine-tuning still keeps zeros and codes, and the
 * centroids do not decay (decay would pull every code toward 0): one step
 * with and one without decay move the centroids alike, the weights not. */
START_TEST(weight_decay_keeps_mask_and_codes)
{
	int64_t dims[] = {6, 12, 8, 3};
	spz_model *m = mlp(dims, 4);
	compress(m);
	spz_tensor *w1 = spz_model_tensor(m, "fc1.weight");
	spz_tensor *w2 = spz_model_tensor(m, "fc2.weight");
	int64_t n1 = spz_tensor_elements(w1);
	int64_t nz1 = spz_tensor_nonzeros(w1);
	float *before1 = malloc((size_t)n1 * sizeof(float));
	memcpy(before1, w1->data, (size_t)n1 * sizeof(float));
	spz_dataset *d = blobs(100, 6, 3, 12);
	spz_train_options o = SPZ_TRAIN_OPTIONS_INIT;
	o.flags = SPZ_TRAIN_KEEP;
	o.epochs = 2;
	o.batch = 16;
	o.lr = 1e-2;
	spz_trainer *t[2];
	for (int k = 0; k < 2; k++) {
		o.weight_decay = k ? 1.0 : 0.0;
		ck_assert_int_eq(spz_trainer_new(&t[k], m, 6, &o, NULL), 0);
		double loss;
		ck_assert_int_eq(spz_trainer_gradient(t[k], &loss, NULL, d->x,
		                                      d->labels, 16, NULL), 0);
		spz_trainer_step(t[k], 1e-2);
	}
	size_t np0, np1;
	spz_train_param *p0 = spz_trainer_params(t[0], &np0);
	spz_train_param *p1 = spz_trainer_params(t[1], &np1);
	ck_assert_uint_eq(np0, np1);
	int cb_seen = 0;
	for (size_t i = 0; i < np0; i++) {
		size_t bytes = p0[i].n * sizeof(float);
		if (p0[i].kind == SPZ_PARAM_CODEBOOK || p0[i].is_bias) {
			ck_assert_mem_eq(p0[i].value, p1[i].value, bytes);
			cb_seen |= p0[i].kind == SPZ_PARAM_CODEBOOK;
		} else {
			ck_assert(memcmp(p0[i].value, p1[i].value, bytes) != 0);
		}
	}
	ck_assert(cb_seen);
	ck_assert_int_eq(spz_trainer_fit(t[1], d, NULL, NULL), 0);
	ck_assert_int_eq(spz_trainer_write(t[1], m, NULL), 0);
	for (int64_t e = 0; e < n1; e++)
		if (before1[e] == 0.0f)
			ck_assert(w1->data[e] == 0.0f && !signbit(w1->data[e]));
	ck_assert_int_eq(spz_tensor_nonzeros(w1), nz1);
	ck_assert(w2->codebook[0] == 0.0f);
	spz_trainer_free(t[0]);
	spz_trainer_free(t[1]);
	spz_dataset_free(d);
	free(before1);
	spz_model_free(m);
}
END_TEST

Suite *train_suite(void)
{
	Suite *s = suite_create("train");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, grad_gemm_relu);
	tcase_add_test(tc, grad_matmul_add_softmax);
	tcase_add_test(tc, grad_masked_and_codebook);
	tcase_add_test(tc, finetune_keeps_mask_and_codes);
	tcase_add_test(tc, deterministic);
	tcase_add_test(tc, learns_blobs);
	tcase_add_test(tc, refusals);
	tcase_add_test(tc, weight_decay_step);
	tcase_add_test(tc, weight_decay_keeps_mask_and_codes);
	tcase_add_test(tc, sparse_masked_step);
	suite_add_tcase(s, tc);
	return s;
}
