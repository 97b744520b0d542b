/* test_json_numtext.c - the number text of JSON models: spz_format_float
 * and spz_format_double give exactly the text of the trial printing spz
 * used before (kept here as the oracle), on random bit patterns and on the
 * values where algorithms go wrong; and the text reads back with strtof
 * and with strtod + cast, as "%.9g" does. */
#define _POSIX_C_SOURCE 200809L
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* The old spz_format_double / spz_format_float: "%.*g" with the smallest
 * precision that reads back. */
static const char *oracle_double(char buf[32], double v)
{
	for (int p = 1; p <= 17; p++) {
		snprintf(buf, 32, "%.*g", p, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	return buf;
}

static const char *oracle_float(char buf[32], float v)
{
	for (int p = 1; p <= 17; p++) {
		snprintf(buf, 32, "%.*g", p, (double)v);
		if ((float)strtod(buf, NULL) == v)
			break;
	}
	return buf;
}

static int same_bits_f(float a, float b)
{
	return !memcmp(&a, &b, sizeof a);
}

/* New text = oracle text, and it reads back both ways, as %.9g does. */
static void check_float(float v)
{
	char a[32], b[32], g[32];
	spz_format_float(a, v);
	oracle_float(b, v);
	ck_assert_msg(!strcmp(a, b), "float %a: \"%s\", trial printing \"%s\"",
	              (double)v, a, b);
	if (!isfinite(v))
		return;
	ck_assert_msg(same_bits_f(strtof(a, NULL), v), "strtof(\"%s\")", a);
	ck_assert_msg(same_bits_f((float)strtod(a, NULL), v), "strtod(\"%s\")",
	              a);
	snprintf(g, sizeof g, "%.9g", (double)v);
	ck_assert(same_bits_f(strtof(g, NULL), v));
}

static void check_double(double v)
{
	char a[32], b[32];
	spz_format_double(a, v);
	oracle_double(b, v);
	ck_assert_msg(!strcmp(a, b), "double %a: \"%s\", trial printing \"%s\"",
	              v, a, b);
	if (isfinite(v)) {
		double back = strtod(a, NULL);
		ck_assert(!memcmp(&back, &v, sizeof v));
	}
}

static float from_bits(uint32_t u)
{
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

START_TEST(float_random_bits)
{
	spz_rng r;
	spz_rng_seed(&r, 14);
	for (int i = 0; i < 150000; i++)
		check_float(from_bits((uint32_t)spz_rng_next(&r)));
}
END_TEST

/* Weights as spz meets them: small values of both signs. */
START_TEST(float_random_weights)
{
	spz_rng r;
	spz_rng_seed(&r, 5);
	for (int i = 0; i < 100000; i++)
		check_float((float)(spz_rng_normal(&r) * 0.05));
}
END_TEST

START_TEST(float_extremes)
{
	const float v[] = {0.0f, -0.0f, FLT_MIN, -FLT_MIN, FLT_MAX, -FLT_MAX,
	                   FLT_TRUE_MIN, -FLT_TRUE_MIN, nextafterf(FLT_MIN, 0),
	                   nextafterf(FLT_MAX, 0), 1.0f, 0.1f, 0.2f, 0.3f,
	                   1e-5f, 1e-4f, 1e-3f, 9.9999997e-5f, 123456789.0f,
	                   16777216.0f, 16777217.0f, 8388608.0f, 3.14159274f,
	                   INFINITY, -INFINITY, NAN, 2.5f, 0.5f};
	for (size_t i = 0; i < sizeof v / sizeof *v; i++)
		check_float(v[i]);
	/* Every power of two (the lopsided intervals) and its neighbours,
	 * every power of ten and its neighbours (notation switch points),
	 * every subnormal exponent. */
	for (int k = -149; k < 128; k++) {
		float p = ldexpf(1.0f, k);
		check_float(p);
		check_float(nextafterf(p, 0));
		check_float(nextafterf(p, INFINITY));
		check_float(-p);
	}
	for (int k = -45; k <= 38; k++) {
		char t[16];
		snprintf(t, sizeof t, "1e%d", k);
		float p = strtof(t, NULL);
		check_float(p);
		check_float(nextafterf(p, 0));
		check_float(nextafterf(p, INFINITY));
		/* 9.99..e(k-1): just below the switch to one more digit. */
		snprintf(t, sizeof t, "9.9999999e%d", k - 1);
		check_float(strtof(t, NULL));
	}
	/* The first and last subnormals, every small one. */
	for (uint32_t u = 1; u < 4096; u++) {
		check_float(from_bits(u));
		check_float(from_bits(0x7fffffu - u));
		check_float(from_bits(0x800000u + u));
		check_float(from_bits(0x7f7fffffu - u));
	}
}
END_TEST

START_TEST(double_random_and_extremes)
{
	spz_rng r;
	spz_rng_seed(&r, 7);
	for (int i = 0; i < 30000; i++) {
		uint64_t u = spz_rng_next(&r);
		double d;
		memcpy(&d, &u, sizeof d);
		check_double(d);
		check_double(spz_rng_normal(&r) * 1e10);
		check_double(spz_rng_uniform(&r));
	}
	const double v[] = {0.0, -0.0, DBL_MIN, DBL_MAX, -DBL_MAX,
	                    DBL_TRUE_MIN, 0.1, 0.3, 1.0 / 3, 1e22, 1e23,
	                    5e-324, 0.91, 1e-5, 1e-4, 1e16, 1e17, 123456.0,
	                    9007199254740993.0, INFINITY, -INFINITY, NAN};
	for (size_t i = 0; i < sizeof v / sizeof *v; i++)
		check_double(v[i]);
	for (int k = -1074; k < 1024; k++) {
		double p = ldexp(1.0, k);
		check_double(p);
		check_double(nextafter(p, 0));
		check_double(nextafter(p, INFINITY));
	}
	for (int k = -323; k <= 308; k++) {
		char t[16];
		snprintf(t, sizeof t, "1e%d", k);
		double p = strtod(t, NULL);
		check_double(p);
		check_double(nextafter(p, 0));
		check_double(nextafter(p, INFINITY));
	}
}
END_TEST

/* What a reader of the JSON sees, written out. */
START_TEST(known_texts)
{
	char b[32];
	ck_assert_str_eq(spz_format_float(b, 0.1f), "0.1");
	ck_assert_str_eq(spz_format_float(b, -0.0f), "-0");
	ck_assert_str_eq(spz_format_float(b, 100000.0f), "1e+05");
	ck_assert_str_eq(spz_format_float(b, 10.0f), "1e+01");
	ck_assert_str_eq(spz_format_float(b, 1e-5f), "1e-05");
	ck_assert_str_eq(spz_format_float(b, 0.0001f), "0.0001");
	ck_assert_str_eq(spz_format_float(b, FLT_TRUE_MIN), "1e-45");
	ck_assert_str_eq(spz_format_float(b, FLT_MAX), "3.4028235e+38");
	ck_assert_str_eq(spz_format_float(b, 16777216.0f), "16777216");
	ck_assert_str_eq(spz_format_double(b, 1), "1");
	ck_assert_str_eq(spz_format_double(b, DBL_TRUE_MIN), "5e-324");
	ck_assert_str_eq(spz_format_double(b, 0.3), "0.3");
}
END_TEST

Suite *json_numtext_suite(void)
{
	Suite *s = suite_create("json_numtext");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, float_random_bits);
	tcase_add_test(tc, float_random_weights);
	tcase_add_test(tc, float_extremes);
	tcase_add_test(tc, double_random_and_extremes);
	tcase_add_test(tc, known_texts);
	suite_add_tcase(s, tc);
	return s;
}
