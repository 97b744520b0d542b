/* test_model.c - the model IR: construction, lookup, validation, PRNG. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "testutil.h"

START_TEST(add_and_lookup)
{
	float w[6] = {1, 0, 2, 0, 0, 3};
	spz_model *m = tu_gemm_model(2, 3, w);
	spz_tensor *t = spz_model_tensor(m, "fc.weight");
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(spz_tensor_elements(t), 6);
	ck_assert_int_eq(spz_tensor_nonzeros(t), 3);
	ck_assert_ptr_null(spz_model_tensor(m, "nope"));
	ck_assert_int_eq(spz_model_validate(m, NULL), 0);
	ck_assert(spz_model_is_weight(m, t, NULL));
	ck_assert(!spz_model_is_weight(m, spz_model_tensor(m, "fc.bias"),
	                               NULL));
	spz_model_free(m);
}
END_TEST

START_TEST(duplicate_and_bad_dims)
{
	spz_model *m;
	spz_error err = {0};
	ck_assert_int_eq(spz_model_new(&m, "x"), 0);
	int64_t d[2] = {2, 2};
	ck_assert_int_eq(spz_model_add_tensor(NULL, m, "a", d, 2, NULL, &err),
	                 0);
	ck_assert_int_eq(spz_model_add_tensor(NULL, m, "a", d, 2, NULL, &err),
	                 SPZ_EEXIST);
	ck_assert(strstr(err.text, "duplicate tensor name 'a'"));
	int64_t neg[2] = {2, -1};
	ck_assert_int_eq(spz_model_add_tensor(NULL, m, "b", neg, 2, NULL,
	                                      &err), SPZ_ERANGE);
	int64_t big[2] = {INT64_C(1) << 40, INT64_C(1) << 40};
	ck_assert_int_eq(spz_model_add_tensor(NULL, m, "c", big, 2, NULL,
	                                      &err), SPZ_ERANGE);
	ck_assert_int_eq(spz_dims_elements(big, 2), -1);
	ck_assert_msg(strstr(err.text, "tensor 'c': dims are negative or their "
	                     "product overflows"), "%s", err.text);
	/* 2^62 elements fit in int64, their 2^64 bytes do not fit in size_t:
	 * the message says which (it said "product overflows"). */
	int64_t wide[2] = {INT64_C(1) << 31, INT64_C(1) << 31};
	ck_assert_int_eq(spz_model_add_tensor(NULL, m, "d", wide, 2, NULL,
	                                      &err), SPZ_ERANGE);
	if (SIZE_MAX / sizeof(float) < (size_t)INT64_MAX)
		ck_assert_msg(strstr(err.text, "tensor 'd': its byte count "
		                     "overflows (4611686018427387904 elements)"),
		              "%s", err.text);
	spz_model_free(m);
	spz_model_free(NULL);
}
END_TEST

START_TEST(validate_names_tensor_and_index)
{
	float w[4] = {1, 2, NAN, 4};
	spz_model *m = tu_gemm_model(2, 2, w);
	spz_error err = {0};
	ck_assert_int_eq(spz_model_validate(m, &err), SPZ_ERANGE);
	ck_assert_str_eq(err.text, "tensor 'fc.weight': NaN value at index 2");
	spz_model_tensor(m, "fc.weight")->data[2] = INFINITY;
	ck_assert_int_eq(spz_model_validate(m, &err), SPZ_ERANGE);
	ck_assert(strstr(err.text, "infinite value at index 2"));
	spz_model_tensor(m, "fc.weight")->data[2] = 0;
	free(m->nodes[0].inputs[2]);
	m->nodes[0].inputs[2] = strdup("missing");
	ck_assert_int_eq(spz_model_validate(m, &err), SPZ_ENOTFOUND);
	ck_assert(strstr(err.text, "'missing'"));
	spz_model_free(m);
}
END_TEST

START_TEST(rng_is_pinned)
{
	/* These values pin the algorithm: a change breaks every --seed. */
	spz_rng r;
	spz_rng_seed(&r, 1);
	uint64_t a = spz_rng_next(&r);
	spz_rng_seed(&r, 1);
	ck_assert_uint_eq(spz_rng_next(&r), a);
	spz_rng_seed(&r, 42);
	double sum = 0, sq = 0;
	for (int i = 0; i < 200000; i++) {
		double z = spz_rng_normal(&r);
		sum += z;
		sq += z * z;
	}
	ck_assert(fabs(sum / 200000) < 0.01);
	ck_assert(fabs(sq / 200000 - 1) < 0.02);
	for (double x = 1e-300; x < 1e300; x *= 7.3)
		ck_assert(fabs(spz_log(x) - log(x)) <= 1e-13 * fabs(log(x)) + 1e-15);
	for (int i = 0; i < 1000; i++)
		ck_assert_uint_lt(spz_rng_below(&r, 7), 7);
}
END_TEST

START_TEST(gen_layer_exact_count)
{
	spz_model *m;
	ck_assert_int_eq(spz_gen_layer(&m, 37, 53, 0.3, 5, NULL), 0);
	spz_tensor *t = spz_model_tensor(m, "fc.weight");
	ck_assert_int_eq(spz_tensor_nonzeros(t), llround(0.3 * 37 * 53));
	spz_model_free(m);
	spz_error err = {0};
	ck_assert_int_eq(spz_gen_layer(&m, 0, 5, 0.3, 5, &err), SPZ_EINVAL);
	ck_assert_int_eq(spz_gen_layer(&m, 5, 5, 1.5, 5, &err), SPZ_EINVAL);
}
END_TEST

START_TEST(numtext_round_trips)
{
	spz_rng r;
	spz_rng_seed(&r, 3);
	char b[32];
	for (int i = 0; i < 100000; i++) {
		uint32_t bits = (uint32_t)spz_rng_next(&r);
		float f;
		memcpy(&f, &bits, 4);
		if (!isfinite(f))
			continue;
		ck_assert((float)strtod(spz_format_float(b, f), NULL) == f);
		double d = spz_rng_normal(&r) * 1e10;
		ck_assert(strtod(spz_format_double(b, d), NULL) == d);
	}
	ck_assert_str_eq(spz_format_float(b, 0.1f), "0.1");
	ck_assert_str_eq(spz_format_double(b, 1), "1");
}
END_TEST

START_TEST(gen_mlp_shape_and_he_init)
{
	int64_t dims[3] = {784, 300, 10};
	spz_model *m;
	ck_assert_int_eq(spz_gen_mlp(&m, dims, 3, 1, NULL), 0);
	ck_assert_uint_eq(m->n_nodes, 3);
	ck_assert_str_eq(m->nodes[1].op, "Relu");
	ck_assert_int_eq(spz_node_number(&m->nodes[2], "transB", 0), 1);
	spz_tensor *w = spz_model_tensor(m, "fc1.weight");
	ck_assert_int_eq(w->dims[0], 300);
	ck_assert_int_eq(w->dims[1], 784);
	double sum = 0, sq = 0, n = 300 * 784;
	for (int64_t i = 0; i < 300 * 784; i++) {
		sum += w->data[i];
		sq += (double)w->data[i] * w->data[i];
	}
	/* He: normal with standard deviation sqrt(2 / fan_in). */
	double sd = sqrt(sq / n - (sum / n) * (sum / n));
	ck_assert(fabs(sd / sqrt(2.0 / 784) - 1) < 0.01);
	ck_assert(fabs(sum / n) < 0.01 * sd);
	ck_assert_int_eq(spz_tensor_nonzeros(spz_model_tensor(m, "fc2.bias")),
	                 0);
	ck_assert_int_eq(spz_model_validate(m, NULL), 0);
	spz_model_free(m);
}
END_TEST

/* Non-float tensors are carried as bytes; integers read back with sign. */
START_TEST(raw_tensors)
{
	spz_model *m;
	ck_assert_int_eq(spz_model_new(&m, "r"), 0);
	int64_t dims[1] = {3};
	/* INT64 [2, -1, 2^40] little-endian, as ONNX raw_data. */
	uint8_t b[24] = {2, 0, 0, 0, 0, 0, 0, 0,
	                 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	                 0, 0, 0, 0, 0, 1, 0, 0};
	spz_tensor *t;
	ck_assert_int_eq(spz_model_add_raw_tensor(&t, m, "shape",
	                 SPZ_DTYPE_INT64, dims, 1, b, 24, NULL), 0);
	int64_t v;
	ck_assert_int_eq(spz_tensor_int64(&v, t, 0), 0);
	ck_assert_int_eq(v, 2);
	ck_assert_int_eq(spz_tensor_int64(&v, t, 1), 0);
	ck_assert_int_eq(v, -1);
	ck_assert_int_eq(spz_tensor_int64(&v, t, 2), 0);
	ck_assert_int_eq(v, (int64_t)1 << 40);
	ck_assert_int_eq(spz_tensor_int64(&v, t, 3), SPZ_EUNSUPPORTED);
	/* INT8 sign-extends, UINT8 does not. */
	uint8_t ff[3] = {0xff, 0x80, 0x7f};
	ck_assert_int_eq(spz_model_add_raw_tensor(&t, m, "i8", SPZ_DTYPE_INT8,
	                 dims, 1, ff, 3, NULL), 0);
	ck_assert_int_eq(spz_tensor_int64(&v, t, 1), 0);
	ck_assert_int_eq(v, -128);
	ck_assert_int_eq(spz_model_add_raw_tensor(&t, m, "u8", SPZ_DTYPE_UINT8,
	                 dims, 1, ff, 3, NULL), 0);
	ck_assert_int_eq(spz_tensor_int64(&v, t, 0), 0);
	ck_assert_int_eq(v, 255);
	/* UINT64 above INT64_MAX is out of range. */
	int64_t one = 1;
	uint8_t big[8] = {0, 0, 0, 0, 0, 0, 0, 0x80};
	ck_assert_int_eq(spz_model_add_raw_tensor(&t, m, "u64",
	                 SPZ_DTYPE_UINT64, &one, 1, big, 8, NULL), 0);
	ck_assert_int_eq(spz_tensor_int64(&v, t, 0), SPZ_ERANGE);
	/* Wrong byte count, float-like dtype, duplicate name: refused. */
	spz_error err;
	ck_assert_int_eq(spz_model_add_raw_tensor(NULL, m, "bad",
	                 SPZ_DTYPE_INT64, dims, 1, b, 23, &err), SPZ_ERANGE);
	ck_assert_int_eq(spz_model_add_raw_tensor(NULL, m, "f",
	                 SPZ_DTYPE_FLOAT16, dims, 1, b, 6, &err), SPZ_EINVAL);
	ck_assert_int_eq(spz_model_add_raw_tensor(NULL, m, "shape",
	                 SPZ_DTYPE_INT64, dims, 1, b, 24, &err), SPZ_EEXIST);
	/* A float-like tensor is not an integer one; raw is never a weight. */
	spz_tensor *f;
	int64_t d2[2] = {2, 2};
	ck_assert_int_eq(spz_model_add_tensor(&f, m, "w", d2, 2, NULL, NULL), 0);
	ck_assert_int_eq(spz_tensor_int64(&v, f, 0), SPZ_EUNSUPPORTED);
	ck_assert_int_eq(spz_dtype_size(SPZ_DTYPE_STRING), 0);
	ck_assert(spz_dtype_is_float(SPZ_DTYPE_BFLOAT16));
	ck_assert(!spz_dtype_is_float(SPZ_DTYPE_INT64));
	ck_assert_int_eq(spz_model_validate(m, NULL), 0);
	spz_model_free(m);
}
END_TEST

/* A tensor added by shape has no storage until spz_tensor_alloc, so a
 * huge declared count commits nothing; the model frees either state. */
START_TEST(tensor_shape_then_alloc)
{
	spz_model *m;
	ck_assert_int_eq(spz_model_new(&m, "m"), 0);
	spz_tensor *t;
	spz_error err = {0};
	int64_t huge[2] = {65536, 65536}, small[2] = {3, 2}, bad[1] = {-1};
	ck_assert_int_eq(spz_model_add_tensor_shape(&t, m, "big", huge, 2, &err),
	                 0);
	ck_assert_ptr_null(t->data);
	ck_assert_int_eq(spz_tensor_elements(t), 4294967296LL);
	ck_assert_int_eq(spz_model_add_tensor_shape(&t, m, "big", small, 2,
	                                            &err), SPZ_EEXIST);
	ck_assert_int_eq(spz_model_add_tensor_shape(&t, m, "neg", bad, 1, &err),
	                 SPZ_ERANGE);
	ck_assert_int_eq(spz_model_add_tensor_shape(&t, m, "s", small, 2, &err),
	                 0);
	ck_assert_int_eq(spz_tensor_alloc(t, &err), 0);
	ck_assert_ptr_nonnull(t->data);
	for (int i = 0; i < 6; i++)
		t->data[i] = (float)i;
	float *keep = t->data;
	ck_assert_int_eq(spz_tensor_alloc(t, &err), 0); /* already there */
	ck_assert_ptr_eq(t->data, keep);
	ck_assert_int_eq(spz_model_add_tensor_shape(&t, m, "q", small, 2, &err),
	                 0);
	float *book = malloc(2 * sizeof *book);
	book[0] = 0;
	book[1] = 1;
	spz_tensor_set_quantized(t, 1, book, 2, NULL);
	ck_assert_int_eq(spz_tensor_alloc(t, &err), 0);
	ck_assert_ptr_nonnull(t->codes);
	ck_assert_ptr_null(t->data);
	int64_t none[1] = {0};
	ck_assert_int_eq(spz_model_add_tensor_shape(&t, m, "e", none, 1, &err),
	                 0);
	ck_assert_int_eq(spz_tensor_alloc(t, &err), 0);
	ck_assert_ptr_nonnull(t->data);
	spz_model_free(m); /* "big" without storage is freed too */
}
END_TEST

START_TEST(text_check)
{
	ck_assert_int_eq(spz_text_check("fc1.weight", 10), -1);
	ck_assert_int_eq(spz_text_check("caf\xc3\xa9", 5), -1);      /* é */
	ck_assert_int_eq(spz_text_check("\xe2\x82\xac", 3), -1);     /* € */
	ck_assert_int_eq(spz_text_check("\xf0\x9f\x98\x80", 4), -1); /* emoji */
	ck_assert_int_eq(spz_text_check("a\x1b[2J", 5), 1);            /* ESC */
	ck_assert_int_eq(spz_text_check("ab\x7f", 3), 2);              /* DEL */
	ck_assert_int_eq(spz_text_check("a\xc2\x9b", 3), 1);          /* C1 CSI */
	ck_assert_int_eq(spz_text_check("a\0b", 3), 1);                /* NUL */
	ck_assert_int_eq(spz_text_check("\xc0\xaf", 2), 0);           /* overlong */
	ck_assert_int_eq(spz_text_check("\xe0\x80\xaf", 3), 0);      /* overlong */
	ck_assert_int_eq(spz_text_check("\xed\xa0\x80", 3), 0);      /* surrogate */
	ck_assert_int_eq(spz_text_check("\xf4\x90\x80\x80", 4), 0); /* > 10FFFF */
	ck_assert_int_eq(spz_text_check("x\xc3", 2), 1);               /* cut */
	ck_assert_int_eq(spz_text_check("x\xff", 2), 1);
	ck_assert_int_eq(spz_text_check("", 0), -1);
}
END_TEST

Suite *model_suite(void)
{
	Suite *s = suite_create("model");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, add_and_lookup);
	tcase_add_test(tc, duplicate_and_bad_dims);
	tcase_add_test(tc, validate_names_tensor_and_index);
	tcase_add_test(tc, rng_is_pinned);
	tcase_add_test(tc, gen_layer_exact_count);
	tcase_add_test(tc, numtext_round_trips);
	tcase_add_test(tc, gen_mlp_shape_and_he_init);
	tcase_add_test(tc, raw_tensors);
	tcase_add_test(tc, text_check);
	tcase_add_test(tc, tensor_shape_then_alloc);
	suite_add_tcase(s, tc);
	return s;
}
