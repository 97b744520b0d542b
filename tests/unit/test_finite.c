/* test_finite.c - the search for the first NaN or infinity: each vector
 * version against the portable one and against the index expected. */
#define _DEFAULT_SOURCE
#include <float.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "testutil.h"
#include "finite.h"

static float from_bits(uint32_t b)
{
	float f;
	memcpy(&f, &b, sizeof f);
	return f;
}

/* Values that are finite however close they come: 0, -0, denormals, the
 * smallest normal, the largest float and the bit patterns next to
 * infinity's. */
static const uint32_t good_bits[] = {
	0x00000000u, 0x80000000u, 0x00000001u, 0x807fffffu, 0x00800000u,
	0x7f7fffffu, 0xff7fffffu, 0x3f800000u, 0x7f000000u, 0xbf800000u,
};

/* NaN (quiet, signalling, negative, all ones) and both infinities. */
static const uint32_t bad_bits[] = {
	0x7fc00000u, 0x7f800001u, 0xffc00000u, 0xffffffffu, 0x7fffffffu,
	0x7f800000u, 0xff800000u,
};

#define NGOOD (sizeof good_bits / sizeof good_bits[0])
#define NBAD (sizeof bad_bits / sizeof bad_bits[0])

static void fill_good(float *v, int64_t n, unsigned seed)
{
	for (int64_t i = 0; i < n; i++)
		v[i] = from_bits(good_bits[(i * 7 + seed) % NGOOD]);
}

/* Every version, with v at every offset of 0..3 floats from a 64-byte
 * boundary, lengths 0..70 and around the 256-float blocks: -1 for finite
 * data; with a bad value at p (and maybe another after it), p. */
START_TEST(first_nonfinite_every_position)
{
	static float buf[1400 + 16] __attribute__((aligned(64)));
	static const int64_t lens[] = {256, 257, 271, 272, 319, 512, 513,
	                               767, 1024, 1100, 1391};
	for (int level = 0; level < SPZ_FINITE_LEVELS; level++)
		for (int off = 0; off < 4; off++)
			for (int64_t li = 0; li < 71 + 11; li++) {
				int64_t n = li < 71 ? li : lens[li - 71];
				float *v = buf + off;
				fill_good(v, n, (unsigned)(n + off));
				ck_assert_int_eq(spz_first_nonfinite_at(level,
				                 v, n), -1);
				ck_assert_int_eq(spz_first_nonfinite_at(
				                 SPZ_FINITE_C, v, n), -1);
				for (int64_t p = 0; p < n; p++) {
					unsigned b = (unsigned)(p + off) % NBAD;
					v[p] = from_bits(bad_bits[b]);
					/* A second one later must not win. */
					int64_t q = p + 1 + (p % 37);
					if (q < n)
						v[q] = from_bits(bad_bits[
							(b + 1) % NBAD]);
					int64_t got = spz_first_nonfinite_at(
						level, v, n);
					ck_assert_msg(got == p, "level %d off %d "
					              "n %lld bad at %lld: %lld",
					              level, off, (long long)n,
					              (long long)p, (long long)got);
					ck_assert_int_eq(spz_first_nonfinite_at(
					                 SPZ_FINITE_C, v, n), p);
					/* Cut just before it: none. */
					ck_assert_int_eq(spz_first_nonfinite_at(
					                 level, v, p), -1);
					fill_good(v, n, (unsigned)(n + off));
				}
			}
}
END_TEST

/* Every bad pattern at every lane of a vector, and the dispatching
 * function agrees with the versions. */
START_TEST(first_nonfinite_each_pattern)
{
	float v[64];
	for (size_t b = 0; b < NBAD; b++)
		for (int p = 0; p < 64; p++) {
			for (int i = 0; i < 64; i++)
				v[i] = from_bits(good_bits[i % NGOOD]);
			v[p] = from_bits(bad_bits[b]);
			for (int level = 0; level < SPZ_FINITE_LEVELS; level++)
				ck_assert_int_eq(spz_first_nonfinite_at(
				                 level, v, 64), p);
			ck_assert_int_eq(spz_first_nonfinite(v, 64), p);
		}
	ck_assert_int_eq(spz_first_nonfinite(v, 0), -1);
	ck_assert_int_eq(spz_first_nonfinite(v, -1), -1);
	ck_assert(spz_finite_level() >= SPZ_FINITE_C &&
	          spz_finite_level() < SPZ_FINITE_LEVELS);
}
END_TEST

/* Data that ends at an unreadable page: no version reads past its end
 * (a masked tail must not fault), whatever the length. */
START_TEST(first_nonfinite_stops_at_the_end)
{
	long pg = sysconf(_SC_PAGESIZE);
	uint8_t *map = mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE,
	                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert(map != MAP_FAILED);
	ck_assert_int_eq(mprotect(map + pg, (size_t)pg, PROT_NONE), 0);
	float *end = (float *)(void *)(map + pg);
	for (int64_t n = 0; n <= 300; n++)
		for (int level = 0; level < SPZ_FINITE_LEVELS; level++) {
			float *v = end - n;
			fill_good(v, n, 3);
			ck_assert_int_eq(spz_first_nonfinite_at(level, v, n),
			                 -1);
			if (n) {
				v[n - 1] = from_bits(0x7f800000u);
				ck_assert_int_eq(spz_first_nonfinite_at(level, v,
				                 n), n - 1);
			}
		}
	munmap(map, (size_t)pg * 2);
}
END_TEST

/* spz_tensor_check_values names the index in the whole tensor when it
 * checks a piece that starts inside it. */
START_TEST(check_values_piece_index)
{
	float w[600];
	for (int i = 0; i < 600; i++)
		w[i] = (float)i * 0.5f;
	w[517] = -INFINITY;
	spz_model *m = tu_gemm_model(20, 30, w);
	spz_tensor *t = spz_model_tensor(m, "fc.weight");
	spz_error err = {0};
	ck_assert_int_eq(spz_tensor_check_values(t, 0, 517, &err), 0);
	ck_assert_int_eq(spz_tensor_check_values(t, 300, 300, &err),
	                 SPZ_ERANGE);
	ck_assert_str_eq(err.text,
	                 "tensor 'fc.weight': infinite value at index 517");
	t->data[3] = NAN;
	ck_assert_int_eq(spz_tensor_check_values(t, 0, 600, &err),
	                 SPZ_ERANGE);
	ck_assert_str_eq(err.text, "tensor 'fc.weight': NaN value at index 3");
	spz_model_free(m);
}
END_TEST

Suite *finite_suite(void)
{
	Suite *s = suite_create("finite");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, first_nonfinite_every_position);
	tcase_add_test(tc, first_nonfinite_each_pattern);
	tcase_add_test(tc, first_nonfinite_stops_at_the_end);
	tcase_add_test(tc, check_values_piece_index);
	suite_add_tcase(s, tc);
	return s;
}
