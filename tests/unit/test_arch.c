/*
 * test_arch.c - the other designs' cost models on cases computed by hand:
 * Cnvlutin against DaDianNao on known zero patterns (all zeros, none, one
 * lane with all the work, strides and padding), the --act-density pattern,
 * the A100 2:4 roofline (exactly 2x compute-bound, exactly 1x for a layer
 * that is not 2:4, the memory-bound ratio from the bytes) and the strict
 * constants table.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static spz_conv_shape conv(int64_t c_in, int64_t h, int64_t w,
                           int64_t c_out, int64_t k, int64_t stride,
                           int64_t pad)
{
	spz_conv_shape s = {c_in, h, w, c_out, k, k, stride, pad};
	return s;
}

static spz_cnv_result cnv(const spz_conv_shape *s, const uint8_t *mask)
{
	spz_cnv_options o = SPZ_CNV_OPTIONS_INIT;
	spz_cnv_result r;
	spz_error err = {0};
	ck_assert_msg(spz_cnvlutin_layer(&r, s, mask, &o, &err) == 0, "%s",
	              err.text);
	return r;
}

START_TEST(cnv_all_zeros)
{
	/* 4x4x256 input, 3x3, pad 1: 16 windows of 9 x 16 = 144 bricks, 512
	 * filters = 2 passes of 256. DaDianNao: 2 x 16 x 144. Cnvlutin: one
	 * cycle per window (nothing to stream). */
	spz_conv_shape s = conv(256, 4, 4, 512, 3, 1, 1);
	uint8_t *mask = calloc(256 * 16, 1);
	spz_cnv_result r = cnv(&s, mask);
	ck_assert_int_eq(r.windows, 16);
	ck_assert_int_eq(r.passes, 2);
	ck_assert_int_eq(r.bricks_per_window, 144);
	ck_assert_int_eq(r.cycles_baseline, 4608);
	ck_assert_int_eq(r.cycles_cnv, 32);
	ck_assert_int_eq(r.nonzeros, 0);
	ck_assert_int_eq(r.neurons, 4096);
	ck_assert(r.speedup == 144.0);
	free(mask);
}
END_TEST

START_TEST(cnv_no_zeros)
{
	/* Dense, no padding: every lane streams 9 full bricks = 144 cycles,
	 * as many as DaDianNao's 144 bricks: speedup exactly 1. */
	spz_conv_shape s = conv(256, 4, 4, 512, 3, 1, 0);
	spz_cnv_result r = cnv(&s, NULL);
	ck_assert_int_eq(r.windows, 4);
	ck_assert_int_eq(r.cycles_baseline, 2 * 4 * 144);
	ck_assert_int_eq(r.cycles_cnv, 2 * 4 * 144);
	ck_assert(r.speedup == 1.0);
	/* 96 channels: 6 bricks a position, 54 a window; lanes 0..5 get 4
	 * bricks, the others 3: a dense window costs 64 against 54. */
	s = conv(96, 3, 3, 16, 3, 1, 0);
	r = cnv(&s, NULL);
	ck_assert_int_eq(r.cycles_baseline, 54);
	ck_assert_int_eq(r.cycles_cnv, 64);
}
END_TEST

START_TEST(cnv_one_lane_all_work)
{
	/* One 3x3 window on 256 channels: lane i takes brick i (channels
	 * 16i..16i+15) at the 9 positions. */
	spz_conv_shape s = conv(256, 3, 3, 16, 3, 1, 0);
	uint8_t *mask = calloc(256 * 9, 1);
	for (int c = 0; c < 16; c++)
		memset(mask + c * 9, 1, 9);
	spz_cnv_result r = cnv(&s, mask);
	/* Lane 0 streams 9 x 16 = 144 neurons while the others idle. */
	ck_assert_int_eq(r.cycles_baseline, 144);
	ck_assert_int_eq(r.cycles_cnv, 144);
	ck_assert_int_eq(r.nonzeros, 144);
	ck_assert(r.speedup == 1.0);
	/* The same 144 non-zeros spread one per brick: 9 cycles, 16x. */
	memset(mask, 0, 256 * 9);
	for (int c = 0; c < 256; c += 16)
		memset(mask + c * 9, 1, 9);
	r = cnv(&s, mask);
	ck_assert_int_eq(r.nonzeros, 144);
	ck_assert_int_eq(r.cycles_cnv, 9);
	ck_assert(r.speedup == 16.0);
	free(mask);
}
END_TEST

START_TEST(cnv_strides_and_padding)
{
	/* 16 channels, 1x4 input, a 1x2 kernel with stride 2: windows
	 * {x0, x1} and {x2, x3}; one brick a position, brick t to lane t.
	 * Non-zeros 2, 7, 0, 0 by position: window costs 7 and 1 (empty). */
	spz_conv_shape s = {16, 1, 4, 1, 1, 2, 2, 0};
	uint8_t mask[64] = {0};
	for (int c = 0; c < 2; c++)
		mask[c * 4 + 0] = 1;
	for (int c = 0; c < 7; c++)
		mask[c * 4 + 1] = 1;
	spz_cnv_result r = cnv(&s, mask);
	ck_assert_int_eq(r.w_out, 2);
	ck_assert_int_eq(r.cycles_baseline, 4);
	ck_assert_int_eq(r.cycles_cnv, 8);
	/* 32 channels at 2 positions, one 1x2 window: bricks (x0,b0) (x0,b1)
	 * (x1,b0) (x1,b1) to lanes 0..3 with 3, 0, 5, 1 non-zeros: 5. */
	spz_conv_shape s2 = {32, 1, 2, 1, 1, 2, 1, 0};
	uint8_t m2[64] = {0};
	for (int c = 0; c < 3; c++)
		m2[c * 2 + 0] = 1;
	for (int c = 0; c < 5; c++)
		m2[c * 2 + 1] = 1;
	m2[20 * 2 + 1] = 1;
	r = cnv(&s2, m2);
	ck_assert_int_eq(r.cycles_baseline, 4);
	ck_assert_int_eq(r.cycles_cnv, 5);
	/* Padding: a 1x1 dense 16-channel input, 3x3 kernel, pad 1: 9 bricks
	 * of which 8 are padding; the real one (t = 4) costs lane 4 16
	 * cycles, DaDianNao 9 (it steps through the padding). */
	spz_conv_shape s3 = conv(16, 1, 1, 1, 3, 1, 1);
	r = cnv(&s3, NULL);
	ck_assert_int_eq(r.cycles_baseline, 9);
	ck_assert_int_eq(r.cycles_cnv, 16);
}
END_TEST

START_TEST(cnv_first_layer_dense)
{
	/* 3 input channels (an image): Cnvlutin runs it as DaDianNao. */
	spz_conv_shape s = conv(3, 8, 8, 64, 3, 1, 1);
	uint8_t *mask = calloc(3 * 64, 1);
	spz_cnv_result r = cnv(&s, mask);
	ck_assert(r.dense_first);
	ck_assert_int_eq(r.cycles_baseline, 64 * 9);
	ck_assert_int_eq(r.cycles_cnv, r.cycles_baseline);
	free(mask);
}
END_TEST

START_TEST(cnv_bad_input)
{
	spz_cnv_options o = SPZ_CNV_OPTIONS_INIT;
	spz_cnv_result r;
	spz_error err = {0};
	spz_conv_shape s = conv(0, 4, 4, 8, 3, 1, 0);
	ck_assert_int_eq(spz_cnvlutin_layer(&r, &s, NULL, &o, &err),
	                 SPZ_EINVAL);
	ck_assert_str_eq(err.text, "layer shape: c_in must be in "
	                 "1..2147483647, not 0");
	s = conv(16, 2, 2, 8, 5, 1, 1);
	ck_assert_int_eq(spz_cnvlutin_layer(&r, &s, NULL, &o, &err),
	                 SPZ_EINVAL);
	ck_assert_str_eq(err.text, "layer shape: a 5x5 kernel does not fit a "
	                 "2x2 input padded by 1");
	s = conv(16, 2, 2, 8, 1, 1, -1);
	ck_assert_int_eq(spz_cnvlutin_layer(&r, &s, NULL, &o, &err),
	                 SPZ_EINVAL);
	s = conv(16, 2, 2, 8, 1, 1, 0);
	o.lanes = 0;
	ck_assert_int_eq(spz_cnvlutin_layer(&r, &s, NULL, &o, &err),
	                 SPZ_EINVAL);
	/* Counts past 64 bits are refused, not wrapped. */
	o.lanes = 16;
	s = conv(2147483647, 2147483647, 2147483647, 2147483647, 1, 1, 0);
	ck_assert_int_eq(spz_cnvlutin_layer(&r, &s, NULL, &o, &err),
	                 SPZ_ERANGE);
}
END_TEST

START_TEST(act_pattern_exact)
{
	uint8_t a[1000], b[1000];
	spz_error err = {0};
	ck_assert_int_eq(spz_act_pattern(a, 1000, 0.37, 7, &err), 0);
	ck_assert_int_eq(spz_act_pattern(b, 1000, 0.37, 7, &err), 0);
	ck_assert(!memcmp(a, b, sizeof a));
	int n = 0;
	for (int i = 0; i < 1000; i++)
		n += a[i];
	ck_assert_int_eq(n, 370);
	ck_assert_int_eq(spz_act_pattern(b, 1000, 0.37, 8, &err), 0);
	ck_assert(memcmp(a, b, sizeof a));
	ck_assert_int_eq(spz_act_pattern(a, 1000, 0, 7, &err), 0);
	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(a[i], 0);
	ck_assert_int_eq(spz_act_pattern(a, 1000, 1, 7, &err), 0);
	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(a[i], 1);
	ck_assert_int_eq(spz_act_pattern(a, 1000, 1.5, 7, &err), SPZ_EINVAL);
	ck_assert_int_eq(spz_act_pattern(a, 1000, NAN, 7, &err), SPZ_EINVAL);
	ck_assert_int_eq(spz_act_pattern(a, 0, 0.5, 7, &err), 0);
}
END_TEST

static spz_tc24_result tc(const spz_conv_shape *s, uint64_t batch, int is24)
{
	spz_arch_table t = SPZ_ARCH_TABLE_INIT;
	spz_tc24_result r;
	spz_error err = {0};
	ck_assert_msg(spz_tc24_gemm(&r, s, batch, is24, &t, &err) == 0, "%s",
	              err.text);
	return r;
}

START_TEST(tc24_roofline)
{
	/* 4096x4096 at batch 4096: 2 x 4096^3 flops = 440 us at 312 TFLOPS,
	 * 100 MB = 65 us at 1555 GB/s: compute-bound both ways. */
	spz_conv_shape s = conv(4096, 1, 1, 4096, 1, 1, 0);
	spz_tc24_result r = tc(&s, 4096, 1);
	ck_assert(!r.memory_bound_dense && !r.memory_bound_sparse);
	ck_assert(r.flops == 2.0 * 4096 * 4096 * 4096);
	ck_assert(r.speedup == 2.0);
	ck_assert(fabs(r.time_dense_us - r.flops / 312e6) < 1e-9);
	/* Not 2:4: dense on both sides, exactly 1. */
	r = tc(&s, 4096, 0);
	ck_assert(!r.sparse);
	ck_assert(r.speedup == 1.0);
	ck_assert(r.bytes_sparse == r.bytes_dense);
	/* Batch 1: memory-bound; the speedup is the ratio of the bytes:
	 * dense 2 (M K + K + M), sparse M K / 2 (2 + 2/8) + 2 (K + M). */
	r = tc(&s, 1, 1);
	ck_assert(r.memory_bound_dense && r.memory_bound_sparse);
	double mk = 4096.0 * 4096;
	ck_assert(r.bytes_dense == 2 * mk + 2 * 8192);
	ck_assert(r.bytes_sparse == mk / 2 * 2.25 + 2 * 8192);
	ck_assert(fabs(r.speedup - r.bytes_dense / r.bytes_sparse) < 1e-12);
	ck_assert(r.speedup > 1.7 && r.speedup < 1.8);
	/* A conv as implicit GEMM: M = c_out, K = c_in kh kw,
	 * N = batch h_out w_out; inputs counted once, not im2col'ed. */
	s = conv(64, 8, 8, 128, 3, 1, 1);
	r = tc(&s, 2, 0);
	ck_assert(r.m == 128 && r.k == 576 && r.n == 128);
	ck_assert(r.bytes_dense == 2 * (128.0 * 576 + 2 * 64 * 64 +
	                                128.0 * 128));
}
END_TEST

START_TEST(tc24_bad_input)
{
	spz_arch_table t = SPZ_ARCH_TABLE_INIT;
	spz_conv_shape s = conv(16, 1, 1, 16, 1, 1, 0);
	spz_tc24_result r;
	spz_error err = {0};
	ck_assert_int_eq(spz_tc24_gemm(&r, &s, 0, 1, &t, &err), SPZ_EINVAL);
	ck_assert_str_eq(err.text, "the batch must be 1 or more");
	t.tc24_bandwidth_gbps = 0;
	ck_assert_int_eq(spz_tc24_gemm(&r, &s, 1, 1, &t, &err), SPZ_EINVAL);
	ck_assert_str_eq(err.text, "tc24_bandwidth_gbps must be a finite "
	                 "number above 0");
	t.tc24_bandwidth_gbps = INFINITY;
	ck_assert_int_eq(spz_arch_table_check(&t, &err), SPZ_EINVAL);
	t.tc24_bandwidth_gbps = 1;
	t.cnv_clock_mhz = NAN;
	ck_assert_int_eq(spz_arch_table_check(&t, &err), SPZ_EINVAL);
	t.cnv_clock_mhz = -1;
	ck_assert_int_eq(spz_arch_table_check(&t, &err), SPZ_EINVAL);
	ck_assert_str_eq(err.text, "cnv_clock_mhz must be a finite number "
	                 "above 0");
}
END_TEST

START_TEST(arch_table_file)
{
	char dir[256], path[300];
	tu_tmpdir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/t.json", dir);
	spz_arch_table t = SPZ_ARCH_TABLE_INIT;
	spz_error err = {0};
	const char *ok = "{\"tc24_bandwidth_gbps\": 2039, \"cnv_clock_mhz\": 1e3}";
	ck_assert_int_eq(tu_write_file(path, ok, strlen(ok)), 0);
	ck_assert_int_eq(spz_arch_table_load(&t, path, &err), 0);
	ck_assert(t.tc24_bandwidth_gbps == 2039 && t.cnv_clock_mhz == 1000);
	ck_assert(t.tc24_dense_tflops == 312);
	static const char *bad[] = {
		"{\"tc24_bandwidth\": 1}", "{\"cnv_clock_mhz\": 0}",
		"{\"cnv_clock_mhz\": -5}", "{\"cnv_clock_mhz\": \"606\"}",
		"{\"cnv_clock_mhz\": 1e999}", "[1]", "{",
	};
	static const char *msg[] = {
		"unknown architecture entry 'tc24_bandwidth'",
		"architecture entry 'cnv_clock_mhz' must be a finite number "
		"above 0",
		"architecture entry 'cnv_clock_mhz' must be a finite number "
		"above 0",
		"architecture entry 'cnv_clock_mhz' must be a finite number "
		"above 0",
		"architecture entry 'cnv_clock_mhz' must be a finite number "
		"above 0",
		"an architecture table must be a JSON object of numbers",
		"not JSON (syntax error at line 1)",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		spz_arch_table u = t;
		ck_assert_int_eq(tu_write_file(path, bad[i], strlen(bad[i])), 0);
		ck_assert_int_eq(spz_arch_table_load(&u, path, &err),
		                 SPZ_EFORMAT);
		ck_assert_msg(strstr(err.text, msg[i]), "%s", err.text);
		ck_assert(!memcmp(&u, &t, sizeof t));
	}
	remove(path);
	remove(dir);
}
END_TEST

/* The defaults are the published figures spz-report(1) cites ("Constants
 * and their sources"), and the key tables name every field once, in
 * field order, so a reader or writer built on them misses none. */
START_TEST(arch_defaults_and_keys)
{
	spz_arch_table t = SPZ_ARCH_TABLE_INIT;
	ck_assert(t.tc24_dense_tflops == 312 && t.tc24_sparse_tflops == 624);
	ck_assert(t.tc24_sparse_tflops == 2 * t.tc24_dense_tflops);
	ck_assert(t.tc24_bandwidth_gbps == 1555 && t.tc24_clock_mhz == 1410);
	ck_assert(t.tc24_value_bytes == 2 && t.tc24_metadata_bits == 2);
	ck_assert(t.cnv_clock_mhz == 606);
	spz_cnv_options c = SPZ_CNV_OPTIONS_INIT;
	ck_assert(c.units == 16 && c.lanes == 16 && c.filters == 16);
	size_t n;
	const spz_table_key *k = spz_arch_table_keys(&n);
	ck_assert_uint_eq(n * sizeof(double), sizeof t);
	for (size_t i = 0; i < n; i++)
		ck_assert_uint_eq(k[i].off, i * sizeof(double));
	ck_assert_str_eq(k[0].key, "tc24_dense_tflops");
	ck_assert_str_eq(k[n - 1].key, "tc24_clock_mhz");
	k = spz_energy_table_keys(&n);
	ck_assert_uint_eq(n * sizeof(double), sizeof(spz_energy_table));
	for (size_t i = 0; i < n; i++)
		ck_assert_uint_eq(k[i].off, i * sizeof(double));
	ck_assert_str_eq(k[4].key, "int_mult_16");
}
END_TEST

Suite *arch_suite(void)
{
	Suite *s = suite_create("arch");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, cnv_all_zeros);
	tcase_add_test(tc, cnv_no_zeros);
	tcase_add_test(tc, cnv_one_lane_all_work);
	tcase_add_test(tc, cnv_strides_and_padding);
	tcase_add_test(tc, cnv_first_layer_dense);
	tcase_add_test(tc, cnv_bad_input);
	tcase_add_test(tc, act_pattern_exact);
	tcase_add_test(tc, tc24_roofline);
	tcase_add_test(tc, tc24_bad_input);
	tcase_add_test(tc, arch_table_file);
	tcase_add_test(tc, arch_defaults_and_keys);
	suite_add_tcase(s, tc);
	return s;
}
