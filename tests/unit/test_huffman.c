/*
 * test_huffman.c - canonical Huffman codes against a tree built by hand
 * (CLRS's six-letter example), the edge alphabets (none, one, equal
 * counts), the length limit on Fibonacci counts, bit-exact round trips,
 * streams that end early or hold no code, short codes decoded several per
 * lookup against a bit-at-a-time reference, and the sizes of an EIE
 * layer.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

START_TEST(hand_built_tree)
{
	/* a:45 b:13 c:12 d:16 e:9 f:5. By hand: f+e=14, c+b=25, 14+d=30,
	 * 25+30=55, a+55=100: a at depth 1, b c d at 3, e f at 4; 224 bits.
	 * Canonical: a 0, b 100, c 101, d 110, e 1110, f 1111. */
	uint64_t count[6] = {45, 13, 12, 16, 9, 5};
	spz_huff h;
	spz_error err = {0};
	ck_assert_int_eq(spz_huff_build(&h, count, 6, &err), 0);
	static const int len[6] = {1, 3, 3, 3, 4, 4};
	static const uint32_t code[6] = {0, 4, 5, 6, 14, 15};
	for (int s = 0; s < 6; s++) {
		ck_assert_int_eq(h.len[s], len[s]);
		ck_assert_uint_eq(h.code[s], code[s]);
	}
	ck_assert_uint_eq(h.bits, 224);
	ck_assert_uint_eq(h.symbols, 100);
	/* "abf" = 0 100 1111 -> bits LSB-first: 0,1,0,0,1,1,1,1 = 0xf2. */
	uint8_t sym[3] = {0, 1, 5}, out[2] = {0}, back[3];
	uint64_t bits, used;
	ck_assert_int_eq(spz_huff_encode(&bits, out, &h, sym, 3, &err), 0);
	ck_assert_uint_eq(bits, 8);
	ck_assert_uint_eq(out[0], 0xf2);
	ck_assert_int_eq(spz_huff_decode(back, 3, &used, out, bits, &h, &err),
	                 0);
	ck_assert_uint_eq(used, 8);
	ck_assert(!memcmp(back, sym, 3));
}
END_TEST

START_TEST(edge_alphabets)
{
	spz_huff h;
	spz_error err = {0};
	uint64_t none[16] = {0};
	ck_assert_int_eq(spz_huff_build(&h, none, 16, &err), 0);
	ck_assert_uint_eq(h.bits, 0);
	for (int s = 0; s < 16; s++)
		ck_assert_int_eq(h.len[s], 0);
	/* One used symbol: a 1-bit code "0". */
	uint64_t one[16] = {0};
	one[7] = 5;
	ck_assert_int_eq(spz_huff_build(&h, one, 16, &err), 0);
	ck_assert_int_eq(h.len[7], 1);
	ck_assert_uint_eq(h.code[7], 0);
	ck_assert_uint_eq(h.bits, 5);
	/* A 1 bit is no code of it. */
	uint8_t in[1] = {1}, sym[1];
	uint64_t used;
	ck_assert_int_eq(spz_huff_decode(sym, 1, &used, in, 8, &h, &err),
	                 SPZ_EFORMAT);
	/* Four equal counts: four 2-bit codes. */
	uint64_t eq[4] = {3, 3, 3, 3};
	ck_assert_int_eq(spz_huff_build(&h, eq, 4, &err), 0);
	for (int s = 0; s < 4; s++) {
		ck_assert_int_eq(h.len[s], 2);
		ck_assert_uint_eq(h.code[s], (uint32_t)s);
	}
	ck_assert_int_eq(spz_huff_build(&h, eq, 0, &err), SPZ_EINVAL);
	ck_assert_int_eq(spz_huff_build(&h, eq, 257, &err), SPZ_EINVAL);
	/* Encoding a symbol without a code is refused. */
	uint8_t out[4] = {0}, s9[1] = {9};
	uint64_t bits;
	ck_assert_int_eq(spz_huff_encode(&bits, out, &h, s9, 1, &err),
	                 SPZ_EINVAL);
}
END_TEST

START_TEST(length_limit)
{
	/* Fibonacci counts make the deepest optimal tree: 30 symbols would
	 * need 29 bits; the limit flattens it to at most SPZ_HUFF_MAX_LEN. */
	uint64_t count[30];
	count[0] = count[1] = 1;
	for (int i = 2; i < 30; i++)
		count[i] = count[i - 1] + count[i - 2];
	spz_huff h;
	spz_error err = {0};
	ck_assert_int_eq(spz_huff_build(&h, count, 30, &err), 0);
	int longest = 0;
	for (int s = 0; s < 30; s++)
		longest = h.len[s] > longest ? h.len[s] : longest;
	ck_assert_int_le(longest, SPZ_HUFF_MAX_LEN);
	ck_assert_int_ge(longest, 2);
	/* 20 symbols fit unflattened: the optimal depth is 19. */
	ck_assert_int_eq(spz_huff_build(&h, count, 20, &err), 0);
	ck_assert_int_eq(h.len[0], 19);
	ck_assert_int_eq(h.len[19], 1);
	/* Over-subscribed lengths are no prefix code. */
	spz_huff bad = {.n = 3, .len = {1, 1, 1}};
	ck_assert_int_eq(spz_huff_canonical(&bad, &err), SPZ_EFORMAT);
	spz_huff big = {.n = 2, .len = {1, SPZ_HUFF_MAX_LEN + 1}};
	ck_assert_int_eq(spz_huff_canonical(&big, &err), SPZ_EFORMAT);
}
END_TEST

START_TEST(round_trip_random)
{
	spz_rng rng;
	spz_rng_seed(&rng, 3);
	enum { N = 20000 };
	uint8_t *sym = malloc(N), *back = malloc(N);
	uint64_t count[256] = {0};
	for (int i = 0; i < N; i++) {
		/* A skewed distribution over 200 symbols. */
		uint64_t a = spz_rng_below(&rng, 200), b = spz_rng_below(&rng, 200);
		sym[i] = (uint8_t)(a < b ? a : b);
		count[sym[i]]++;
	}
	spz_huff h;
	spz_error err = {0};
	ck_assert_int_eq(spz_huff_build(&h, count, 256, &err), 0);
	uint8_t *out = calloc((size_t)(h.bits + 7) / 8, 1);
	uint64_t bits, used;
	ck_assert_int_eq(spz_huff_encode(&bits, out, &h, sym, N, &err), 0);
	ck_assert_uint_eq(bits, h.bits);
	ck_assert_int_eq(spz_huff_decode(back, N, &used, out, bits, &h, &err),
	                 0);
	ck_assert_uint_eq(used, bits);
	ck_assert(!memcmp(back, sym, N));
	/* Cut short: the decoder says so instead of reading past the end. */
	ck_assert_int_eq(spz_huff_decode(back, N, &used, out, bits - 1, &h,
	                                 &err), SPZ_EFORMAT);
	ck_assert_msg(strstr(err.text, "the stream ends"), "%s", err.text);
	free(out);
	free(sym);
	free(back);
}
END_TEST

/* A reference decoder, one bit at a time straight from the definition:
 * extend the code bit by bit until it equals some symbol's code of that
 * length. Independent of the decoder's tables. */
static int ref_decode(uint8_t *sym, uint64_t n, const uint8_t *in,
                      uint64_t bits, const spz_huff *h)
{
	uint64_t at = 0;
	for (uint64_t i = 0; i < n; i++) {
		uint32_t code = 0;
		int l = 0, s = -1;
		while (s < 0) {
			if (at == bits || l == SPZ_HUFF_MAX_LEN)
				return -1;
			code = code << 1 | ((in[at >> 3] >> (at & 7)) & 1);
			at++;
			l++;
			for (int k = 0; k < h->n && s < 0; k++)
				if (h->len[k] == l && h->code[k] == code)
					s = k;
		}
		sym[i] = (uint8_t)s;
	}
	return 0;
}

/* Codes short enough that several share one table lookup (1-bit codes
 * of two symbols, 2..4-bit ones, a mix with codes past the table), every
 * stream length from 1 to 40 (the tail where fewer than 8 symbols are
 * left) and a long one, against the reference; a stream cut one bit
 * short is refused at every length. */
START_TEST(multi_symbol_lookup)
{
	static const uint64_t shapes[][8] = {
		{5, 3},                          /* 1 bit each */
		{8, 4, 2, 1, 1},                 /* 1..4 bits */
		{1000, 1000, 1000, 1000},        /* 2 bits each */
		{1u << 20, 1u << 16, 1u << 12, 1u << 8, 16, 1, 1}, /* to 6+ */
	};
	spz_rng rng;
	spz_rng_seed(&rng, 9);
	for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++) {
		uint64_t count[256] = {0};
		int n_sym = 0;
		while (n_sym < 8 && shapes[sh][n_sym])
			n_sym++;
		/* Plus rare symbols whose codes are longer than the table. */
		int alphabet = sh == 3 ? 64 : n_sym;
		for (int k = 0; k < alphabet; k++)
			count[k] = k < n_sym ? shapes[sh][k] : 1;
		spz_huff h;
		spz_error err = {0};
		ck_assert_int_eq(spz_huff_build(&h, count, alphabet, &err), 0);
		uint64_t total = 0;
		for (int k = 0; k < alphabet; k++)
			total += count[k];
		for (uint64_t n = 1; n <= 3000; n = n < 40 ? n + 1 : n * 10) {
			uint8_t *sym = malloc(n), *back = malloc(n),
			        *want = malloc(n);
			for (uint64_t i = 0; i < n; i++) {
				/* Drawn by the counts, every symbol at times. */
				uint64_t r = spz_rng_below(&rng, total);
				int k = 0;
				while (r >= count[k])
					r -= count[k++];
				sym[i] = (uint8_t)(i % 97 == 96 ? alphabet - 1 : k);
			}
			uint64_t bits, used;
			uint8_t *out = calloc((size_t)(n * SPZ_HUFF_MAX_LEN + 7) / 8,
			                      1);
			ck_assert_int_eq(spz_huff_encode(&bits, out, &h, sym, n,
			                                 &err), 0);
			ck_assert_int_eq(ref_decode(want, n, out, bits, &h), 0);
			ck_assert(!memcmp(want, sym, (size_t)n));
			ck_assert_int_eq(spz_huff_decode(back, n, &used, out, bits,
			                                 &h, &err), 0);
			ck_assert_uint_eq(used, bits);
			ck_assert_msg(!memcmp(back, sym, (size_t)n),
			              "shape %zu, %llu symbols", sh,
			              (unsigned long long)n);
			ck_assert_int_eq(spz_huff_decode(back, n, &used, out,
			                                 bits - 1, &h, &err),
			                 SPZ_EFORMAT);
			ck_assert_msg(strstr(err.text, "the stream ends"), "%s",
			              err.text);
			free(out);
			free(sym);
			free(back);
			free(want);
		}
	}
}
END_TEST

START_TEST(layer_sizes)
{
	/* 4x8 on 2 PEs: non-zeros with codes so the histograms are known. */
	float w[32] = {0};
	w[0] = 1; w[9] = 1; w[18] = 1; w[27] = 1; w[31] = 1; w[4] = 1;
	spz_model *m = tu_gemm_model(4, 8, w);
	spz_tensor *t = spz_model_tensor(m, "fc.weight");
	float *cb = malloc(16 * sizeof *cb);
	uint8_t *codes = calloc(32, 1);
	for (int c = 0; c < 16; c++)
		cb[c] = (float)c;
	for (int i = 0; i < 32; i++)
		codes[i] = w[i] != 0 ? (uint8_t)(i % 2 ? 3 : 5) : 0;
	spz_tensor_set_quantized(t, 4, cb, 16, codes);
	spz_eie_options o = SPZ_EIE_OPTIONS_INIT;
	o.pes = 2;
	spz_eie *e;
	spz_error err = {0};
	ck_assert_msg(spz_eie_pack(&e, m, &o, &err) == 0, "%s", err.text);
	spz_huff_layer hl;
	ck_assert_int_eq(spz_huff_layer_sizes(&hl, e, &e->layers[0], &err), 0);
	/* 6 entries, no padding (z <= 3 within 2 local rows): codes 5 x3
	 * (flat index 0, 4, 18) and 3 x3 (9, 27, 31): one bit each. */
	ck_assert_uint_eq(e->layers[0].padding, 0);
	ck_assert_uint_eq(hl.codes.symbols, 6);
	ck_assert_int_eq(hl.codes.len[5], 1);
	ck_assert_int_eq(hl.codes.len[3], 1);
	ck_assert_uint_eq(hl.codes_bits, 6);
	ck_assert_uint_eq(hl.fixed_bits, 48);
	ck_assert_uint_eq(hl.table_bits, 8 * 32);
	uint64_t zc[16] = {0};
	for (uint32_t k = 0; k < e->pes; k++)
		for (uint64_t p = 0; p < e->layers[0].pe[k].n_entries; p++)
			zc[e->layers[0].pe[k].index[p]]++;
	spz_huff zh;
	ck_assert_int_eq(spz_huff_build(&zh, zc, 16, &err), 0);
	ck_assert_uint_eq(hl.index_bits, zh.bits);
	spz_eie_free(e);
	spz_model_free(m);
}
END_TEST

Suite *huffman_suite(void)
{
	Suite *s = suite_create("huffman");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, hand_built_tree);
	tcase_add_test(tc, edge_alphabets);
	tcase_add_test(tc, length_limit);
	tcase_add_test(tc, round_trip_random);
	tcase_add_test(tc, multi_symbol_lookup);
	tcase_add_test(tc, layer_sizes);
	suite_add_tcase(s, tc);
	return s;
}
