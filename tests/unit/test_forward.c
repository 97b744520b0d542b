/* test_forward.c - the float32 forward pass, op by op against values
 * computed by hand, quantized weights through the codebook, refusals, and
 * the accuracy metrics (top-1, cross-entropy, confusion, agreement). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static spz_model *model(void)
{
	spz_model *m;
	ck_assert_int_eq(spz_model_new(&m, "t"), 0);
	ck_assert_int_eq(spz_model_add_input(m, "x"), 0);
	ck_assert_int_eq(spz_model_add_output(m, "y"), 0);
	return m;
}

static spz_node *node(spz_model *m, const char *op, const char *a,
                      const char *b, const char *c, const char *out)
{
	const char *in[3] = {a, b, c};
	size_t n = c ? 3 : b ? 2 : 1;
	spz_node *nd;
	ck_assert_int_eq(spz_model_add_node(&nd, m, op, op, in, n, &out, 1), 0);
	return nd;
}

static void tensor(spz_model *m, const char *name, const int64_t *dims,
                   int nd, const float *v)
{
	ck_assert_int_eq(spz_model_add_tensor(NULL, m, name, dims, nd, v, NULL),
	                 0);
}

/* Runs m on n samples of sample dims sd and compares with want. */
static void expect(const spz_model *m, const int64_t *sd, int snd,
                   const float *x, size_t n, const float *want, size_t nw)
{
	spz_forward *f;
	spz_error err = {0};
	ck_assert_msg(spz_forward_new(&f, m, sd, snd, &err) == 0, "%s",
	              err.text);
	ck_assert_uint_eq(spz_forward_outputs(f) * n, nw);
	float *y = calloc(nw, sizeof *y);
	ck_assert_msg(spz_forward_run(f, y, x, n, &err) == 0, "%s", err.text);
	for (size_t i = 0; i < nw; i++)
		ck_assert_msg(fabsf(y[i] - want[i]) <= 1e-5f * (1 + fabsf(want[i])),
		              "y[%zu] = %.9g, wanted %.9g", i, y[i], want[i]);
	/* One sample per batch gives the same values. */
	ck_assert_int_eq(spz_forward_set_batch(f, 1), 0);
	float *y1 = calloc(nw, sizeof *y1);
	ck_assert_int_eq(spz_forward_run(f, y1, x, n, &err), 0);
	for (size_t i = 0; i < nw; i++)
		ck_assert_msg(fabsf(y1[i] - want[i]) <= 1e-5f * (1 + fabsf(want[i])),
		              "batch 1: y[%zu] = %.9g", i, y1[i]);
	free(y);
	free(y1);
	spz_forward_free(f);
}

START_TEST(gemm_attributes)
{
	/* x [2 samples, 3], B [2, 3] with transB=1, alpha 2, beta 0.5,
	 * C [2] broadcast over rows. */
	spz_model *m = model();
	int64_t bd[2] = {2, 3}, cd[1] = {2};
	float b[6] = {1, 0, -1, 2, 1, 0}, c[2] = {10, -4};
	tensor(m, "B", bd, 2, b);
	tensor(m, "C", cd, 1, c);
	spz_node *g = node(m, "Gemm", "x", "B", "C", "y");
	spz_node_set_number(g, "transB", 1);
	spz_node_set_number(g, "alpha", 2);
	spz_node_set_number(g, "beta", 0.5);
	int64_t sd = 3;
	float x[6] = {1, 2, 3, -1, 0, 4};
	/* row 0: B0.x = 1-3 = -2, B1.x = 2+2 = 4; 2*(-2)+5 = 1, 2*4-2 = 6
	 * row 1: B0.x = -1-4 = -5, B1.x = -2;    -10+5 = -5, -4-2 = -6 */
	float want[4] = {1, 6, -5, -6};
	expect(m, &sd, 1, x, 2, want, 4);
	spz_model_free(m);
	/* transA on a constant A: y = A^T x?  Gemm(A const [3,1] transA,
	 * x as B [.. ]) is not batch-shaped; instead transB=0 with B [3, 2]. */
	m = model();
	int64_t bd2[2] = {3, 2};
	float b2[6] = {1, 2, 0, 1, -1, 0}; /* columns (1,0,-1) and (2,1,0) */
	tensor(m, "B", bd2, 2, b2);
	node(m, "Gemm", "x", "B", NULL, "y");
	float want2[4] = {-2, 4, -5, -2};
	expect(m, &sd, 1, x, 2, want2, 4);
	spz_model_free(m);
}
END_TEST

START_TEST(matmul_add_relu)
{
	spz_model *m = model();
	int64_t wd[2] = {2, 2}, bd[1] = {2};
	float w[4] = {1, -1, 2, 3}, b[2] = {0.5f, -10};
	tensor(m, "W", wd, 2, w);
	tensor(m, "b", bd, 1, b);
	node(m, "MatMul", "x", "W", NULL, "h");
	node(m, "Add", "h", "b", NULL, "a");
	node(m, "Relu", "a", NULL, NULL, "y");
	int64_t sd = 2;
	float x[4] = {1, 1, 2, -1};
	/* [1,1]W = [3, 2] + b = [3.5, -8] -> [3.5, 0]
	 * [2,-1]W = [0, -5] + b = [0.5, -15] -> [0.5, 0] */
	float want[4] = {3.5f, 0, 0.5f, 0};
	expect(m, &sd, 1, x, 2, want, 4);
	spz_forward *f;
	ck_assert_int_eq(spz_forward_new(&f, m, &sd, 1, NULL), 0);
	float y[4];
	ck_assert_int_eq(spz_forward_run(f, y, x, 2, NULL), 0);
	size_t nl;
	const spz_forward_layer *l = spz_forward_layers(f, &nl);
	ck_assert_uint_eq(nl, 1);
	ck_assert_str_eq(l[0].node, "MatMul");
	ck_assert_uint_eq(l[0].act_in, 4);
	ck_assert_uint_eq(l[0].act_in_nonzero, 4);
	/* A tensor swapped in for a run, then back. */
	float w0[4] = {0, 0, 0, 0};
	ck_assert_int_eq(spz_forward_set_tensor(f, "W", w0, NULL), 0);
	ck_assert_int_eq(spz_forward_run(f, y, x, 2, NULL), 0);
	ck_assert_float_eq(y[0], 0.5f);
	ck_assert_int_eq(spz_forward_set_tensor(f, "W", NULL, NULL), 0);
	ck_assert_int_eq(spz_forward_run(f, y, x, 2, NULL), 0);
	ck_assert_float_eq(y[0], 3.5f);
	ck_assert_int_eq(spz_forward_set_tensor(f, "nope", w0, NULL),
	                 SPZ_ENOTFOUND);
	spz_forward_free(f);
	spz_model_free(m);
}
END_TEST

START_TEST(add_general_broadcast)
{
	/* x [B, 2, 3] + c [2, 1]: c broadcast along the last axis. */
	spz_model *m = model();
	int64_t cd[2] = {2, 1};
	float c[2] = {100, 200};
	tensor(m, "c", cd, 2, c);
	node(m, "Add", "c", "x", NULL, "y");
	int64_t sd[2] = {2, 3};
	float x[6] = {1, 2, 3, 4, 5, 6};
	/* Not fed to a Conv: the input is [B, 6], which does not broadcast
	 * with [2, 1]... [B,6] vs [2,1] -> B must be 2 or 1. Use one sample:
	 * [1, 6] + [2, 1] = [2, 6]: no row per sample. */
	spz_forward *f;
	spz_error err = {0};
	ck_assert_int_eq(spz_forward_new(&f, m, sd, 2, &err), SPZ_EUNSUPPORTED);
	spz_model_free(m);
	/* [B, 6] + [6] and + scalar-like [1, 1]. */
	m = model();
	int64_t vd[1] = {6}, sd1[2] = {1, 1};
	float v[6] = {1, 1, 1, -1, -1, -1}, one[1] = {0.25f};
	tensor(m, "v", vd, 1, v);
	tensor(m, "s", sd1, 2, one);
	node(m, "Add", "x", "v", NULL, "h");
	node(m, "Add", "s", "h", NULL, "y");
	float want[6] = {2.25f, 3.25f, 4.25f, 3.25f, 4.25f, 5.25f};
	expect(m, sd, 2, x, 1, want, 6);
	spz_model_free(m);
}
END_TEST

START_TEST(flatten_reshape_softmax_identity)
{
	spz_model *m = model();
	int64_t shd = 2;
	int64_t shape[2] = {1, -1}; /* exported with batch 1 */
	ck_assert_int_eq(spz_model_add_raw_tensor(NULL, m, "shape",
	                                          SPZ_DTYPE_INT64, &shd, 1,
	                                          shape, sizeof shape, NULL), 0);
	node(m, "Reshape", "x", "shape", NULL, "r");
	node(m, "Dropout", "r", NULL, NULL, "d");
	node(m, "Identity", "d", NULL, NULL, "i");
	node(m, "Flatten", "i", NULL, NULL, "f");
	node(m, "Softmax", "f", NULL, NULL, "y");
	int64_t sd = 3;
	float x[6] = {0, 0, 0, 1, 2, 3};
	double e1 = exp(1), e2 = exp(2), e3 = exp(3), s = e1 + e2 + e3;
	float want[6] = {1.0f / 3, 1.0f / 3, 1.0f / 3, (float)(e1 / s),
	                 (float)(e2 / s), (float)(e3 / s)};
	expect(m, &sd, 1, x, 2, want, 6);
	spz_forward *f;
	ck_assert_int_eq(spz_forward_new(&f, m, &sd, 1, NULL), 0);
	ck_assert_int_eq(spz_forward_is_probability(f), 1);
	spz_forward_free(f);
	spz_model_free(m);
}
END_TEST

START_TEST(conv_and_pools)
{
	/* One 3x3 channel, a 2x2 kernel [[1, 0], [0, -1]] with bias 1,
	 * stride 1, pads 0: y[i][j] = x[i][j] - x[i+1][j+1] + 1. */
	spz_model *m = model();
	int64_t wd[4] = {1, 1, 2, 2}, bd[1] = {1};
	float w[4] = {1, 0, 0, -1}, b[1] = {1};
	tensor(m, "W", wd, 4, w);
	tensor(m, "B", bd, 1, b);
	node(m, "Conv", "x", "W", "B", "c");
	spz_node *mp = node(m, "MaxPool", "c", NULL, NULL, "p");
	double k2[2] = {2, 2};
	spz_node_set_numbers(mp, "kernel_shape", k2, 2);
	node(m, "Flatten", "p", NULL, NULL, "y");
	int64_t sd[2] = {3, 3};
	float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 10};
	/* conv: [1-5+1, 2-6+1; 4-8+1, 5-10+1] = [-3, -3; -3, -4]; max -3 */
	float want[1] = {-3};
	expect(m, sd, 2, x, 1, want, 1);
	spz_model_free(m);

	/* Padding 1 and stride 2 with a 1x1 kernel of weight 2 (no bias):
	 * output 3x3 over the padded 5x5 picks rows/cols -1, 1, 3 -> only
	 * (1,1) inside: 2 * x[1][1] = 10 at the centre, 0 elsewhere; then
	 * AveragePool 3x3 without pads: 10/9. */
	m = model();
	int64_t wd1[4] = {1, 1, 1, 1};
	float w1[1] = {2};
	tensor(m, "W", wd1, 4, w1);
	spz_node *cv = node(m, "Conv", "x", "W", NULL, "c");
	double pads[4] = {1, 1, 1, 1}, st[2] = {2, 2}, k3[2] = {3, 3};
	spz_node_set_numbers(cv, "pads", pads, 4);
	spz_node_set_numbers(cv, "strides", st, 2);
	spz_node *ap = node(m, "AveragePool", "c", NULL, NULL, "p");
	spz_node_set_numbers(ap, "kernel_shape", k3, 2);
	node(m, "Flatten", "p", NULL, NULL, "y");
	float want2[1] = {10.0f / 9};
	expect(m, sd, 2, x, 1, want2, 1);
	spz_model_free(m);

	/* AveragePool with pads, count_include_pad 0 vs 1: a 2x2 window
	 * over [[1,2],[3,4]] padded by 1 on top and left sees x[0][0] = 1
	 * and three padding cells: 1 or 1/4. (A 1x1 Conv of weight 1 first
	 * makes the input NCHW.) */
	for (int incl = 0; incl < 2; incl++) {
		m = model();
		tensor(m, "W", wd1, 4, b);
		node(m, "Conv", "x", "W", NULL, "c");
		spz_node *p = node(m, "AveragePool", "c", NULL, NULL, "p");
		double k[2] = {2, 2}, s2[2] = {2, 2}, pd[4] = {1, 1, 0, 0};
		spz_node_set_numbers(p, "kernel_shape", k, 2);
		spz_node_set_numbers(p, "strides", s2, 2);
		spz_node_set_numbers(p, "pads", pd, 4);
		spz_node_set_number(p, "count_include_pad", incl);
		node(m, "Flatten", "p", NULL, NULL, "y");
		int64_t s22[2] = {2, 2};
		float x4[4] = {1, 2, 3, 4};
		float w4[1] = {incl ? 0.25f : 1.0f};
		expect(m, s22, 2, x4, 1, w4, 1);
		spz_model_free(m);
	}
	/* MaxPool ceil_mode: 3x3 input, 2x2 window, stride 2 -> 2x2 output,
	 * the last row/column windows cut by the edge. */
	m = model();
	tensor(m, "W", wd1, 4, b);
	node(m, "Conv", "x", "W", NULL, "c");
	spz_node *cm = node(m, "MaxPool", "c", NULL, NULL, "p");
	spz_node_set_numbers(cm, "kernel_shape", k2, 2);
	spz_node_set_numbers(cm, "strides", st, 2);
	spz_node_set_number(cm, "ceil_mode", 1);
	node(m, "Flatten", "p", NULL, NULL, "y");
	float want3[4] = {5, 6, 8, 10};
	expect(m, sd, 2, x, 1, want3, 4);
	spz_model_free(m);
}
END_TEST

START_TEST(quantized_weights)
{
	/* Codes through the codebook: W = [[0.5, 0], [-2, 0.5]]. */
	spz_model *m = model();
	int64_t wd[2] = {2, 2};
	tensor(m, "W", wd, 2, NULL);
	spz_tensor *t = spz_model_tensor(m, "W");
	float *book = malloc(3 * sizeof *book);
	uint8_t *codes = malloc(4);
	book[0] = 0;
	book[1] = 0.5f;
	book[2] = -2;
	codes[0] = 1;
	codes[1] = 0;
	codes[2] = 2;
	codes[3] = 1;
	spz_tensor_set_quantized(t, 2, book, 3, codes);
	spz_node *g = node(m, "Gemm", "x", "W", NULL, "y");
	spz_node_set_number(g, "transB", 1);
	int64_t sd = 2;
	float x[2] = {2, 1};
	float want[2] = {1, -3.5f};
	expect(m, &sd, 1, x, 1, want, 2);
	spz_model_free(m);
}
END_TEST

START_TEST(refusals)
{
	spz_model *m = model();
	node(m, "LSTM", "x", NULL, NULL, "y");
	int64_t sd = 2;
	spz_forward *f = NULL;
	spz_error err = {0};
	ck_assert_int_eq(spz_forward_new(&f, m, &sd, 1, &err), SPZ_EUNSUPPORTED);
	ck_assert_str_eq(err.text, "node 'LSTM': the forward pass has no op "
	                           "'LSTM'");
	ck_assert_ptr_null(f);
	spz_model_free(m);
	/* Inner dimensions that disagree. */
	m = model();
	int64_t wd[2] = {3, 3};
	tensor(m, "W", wd, 2, NULL);
	node(m, "MatMul", "x", "W", NULL, "y");
	ck_assert_int_eq(spz_forward_new(&f, m, &sd, 1, &err), SPZ_EUNSUPPORTED);
	ck_assert_msg(strstr(err.text, "inner dimensions differ (1x2 and 3x3)"),
	              "%s", err.text);
	spz_model_free(m);
	/* Conv with groups. */
	m = model();
	int64_t cd[4] = {1, 1, 1, 1};
	tensor(m, "W", cd, 4, NULL);
	spz_node *c = node(m, "Conv", "x", "W", NULL, "y");
	spz_node_set_number(c, "group", 2);
	int64_t s2[2] = {2, 2};
	ck_assert_int_eq(spz_forward_new(&f, m, s2, 2, &err), SPZ_EUNSUPPORTED);
	ck_assert_msg(strstr(err.text, "group 2"), "%s", err.text);
	spz_model_free(m);
	/* Flatten axis 0 would mix the samples. */
	m = model();
	spz_node *fl = node(m, "Flatten", "x", NULL, NULL, "y");
	spz_node_set_number(fl, "axis", 0);
	ck_assert_int_eq(spz_forward_new(&f, m, &sd, 1, &err), SPZ_EUNSUPPORTED);
	spz_model_free(m);
}
END_TEST

START_TEST(sgemm_wrapper)
{
	/* [1 2; 3 4] x [5 6; 7 8]^T = [17 23; 39 53]; beta adds 1 x C. */
	float a[4] = {1, 2, 3, 4}, b[4] = {5, 6, 7, 8}, c[4] = {1, 1, 1, 1};
	ck_assert_int_eq(spz_sgemm(0, 1, 2, 2, 2, 1, a, 2, b, 2, 1, c, 2, NULL),
	                 0);
	ck_assert_float_eq(c[0], 18);
	ck_assert_float_eq(c[1], 24);
	ck_assert_float_eq(c[2], 40);
	ck_assert_float_eq(c[3], 54);
	/* k = 0: C scaled by beta. */
	ck_assert_int_eq(spz_sgemm(0, 0, 2, 2, 0, 1, a, 1, b, 2, 0.5f, c, 2,
	                           NULL), 0);
	ck_assert_float_eq(c[0], 9);
	ck_assert_int_eq(spz_sgemm(0, 0, (size_t)1 << 31, 1, 1, 1, a, 1, b, 1, 0,
	                           c, 1, NULL), SPZ_ERANGE);
}
END_TEST

START_TEST(metrics)
{
	spz_metrics *m;
	ck_assert_int_eq(spz_metrics_new(&m, 3, NULL), 0);
	/* Logits: sample 0 [0, 0, 0] label 1 -> ce log 3, predicted 0 (first
	 * of ties); sample 1 [1, 5, 2] label 1 -> correct. */
	float y[6] = {0, 0, 0, 1, 5, 2};
	int32_t l[2] = {1, 1};
	ck_assert_int_eq(spz_metrics_add(m, y, l, 2, 0, NULL), 0);
	ck_assert_uint_eq(m->samples, 2);
	ck_assert_uint_eq(m->correct, 1);
	double ce1 = log(exp(1 - 5.0) + 1 + exp(2 - 5.0));
	ck_assert_double_eq_tol(m->ce_sum, log(3.0) + ce1, 1e-12);
	ck_assert_uint_eq(m->confusion[1 * 3 + 0], 1);
	ck_assert_uint_eq(m->confusion[1 * 3 + 1], 1);
	/* Label out of range: nothing added. */
	int32_t bad[1] = {3};
	spz_error err = {0};
	ck_assert_int_eq(spz_metrics_add(m, y, bad, 1, 0, &err), SPZ_ERANGE);
	ck_assert_str_eq(err.text, "sample 0: label 3 is outside the model's "
	                           "3 classes");
	ck_assert_uint_eq(m->samples, 2);
	/* Probabilities: -log p, clamped. */
	float p[3] = {0.25f, 0.75f, 0};
	int32_t l2[1] = {2};
	ck_assert_int_eq(spz_metrics_add(m, p, l2, 1, 1, NULL), 0);
	ck_assert_double_eq_tol(m->ce_sum, log(3.0) + ce1 - log(1e-30), 1e-9);
	spz_metrics_free(m);
	ck_assert_int_eq(spz_metrics_new(&m, 0, NULL), SPZ_EINVAL);
	/* Agreement. */
	spz_agreement a = {0};
	float r[4] = {1, 2, 4, 3}, o[4] = {1, 2, 3, 4};
	spz_agreement_add(&a, o, r, 2, 2);
	ck_assert_uint_eq(a.samples, 2);
	ck_assert_uint_eq(a.agree, 1);
	ck_assert_double_eq_tol(a.max_rel, 0.25, 1e-12);
	ck_assert_double_eq_tol(a.sum_rel, 0.25, 1e-12);
	float nan3[3] = {1, NAN, 3};
	ck_assert_uint_eq(spz_argmax(nan3, 3), 2);
}
END_TEST

Suite *forward_suite(void)
{
	Suite *s = suite_create("forward");
	TCase *tc = tcase_create("ops");
	tcase_add_test(tc, gemm_attributes);
	tcase_add_test(tc, matmul_add_relu);
	tcase_add_test(tc, add_general_broadcast);
	tcase_add_test(tc, flatten_reshape_softmax_identity);
	tcase_add_test(tc, conv_and_pools);
	tcase_add_test(tc, quantized_weights);
	tcase_add_test(tc, refusals);
	tcase_add_test(tc, sgemm_wrapper);
	tcase_add_test(tc, metrics);
	suite_add_tcase(s, tc);
	return s;
}
