/*
 * test_huffimage.c - the Huffman EIE image (spz pack --huffman): a round
 * trip that gives back every field, refusal of every truncation and of
 * every flipped byte of a small image (cleanly: the sanitizers watch), the
 * code-length tables a reader accepts, and the table-driven decoder on
 * codes longer than its first-level table.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* A 40x3 layer with long zero runs packed on 2 PEs with 2-bit indices
 * (padding entries), codebook {0, 0.5, -0.25, 1}. */
static spz_eie *small_image(void)
{
	enum { R = 40, C = 3 };
	spz_model *m = tu_gemm_model(R, C, NULL);
	float *cb = malloc(4 * sizeof *cb);
	uint8_t *codes = calloc(R * C, 1);
	cb[0] = 0;
	cb[1] = 0.5f;
	cb[2] = -0.25f;
	cb[3] = 1;
	for (int i = 0; i < R * C; i++)
		if (i % 7 == 0 || i % 11 == 0)
			codes[i] = (uint8_t)(1 + i % 3);
	spz_tensor_set_quantized(spz_model_tensor(m, "fc.weight"), 2, cb, 4,
	                         codes);
	spz_eie *e;
	spz_error err = {0};
	spz_eie_options o = SPZ_EIE_OPTIONS_INIT;
	o.pes = 2;
	o.index_bits = 2;
	ck_assert_msg(spz_eie_pack(&e, m, &o, &err) == 0, "%s", err.text);
	spz_model_free(m);
	return e;
}

static void expect_same(const spz_eie *a, const spz_eie *b)
{
	ck_assert_uint_eq(a->pes, b->pes);
	ck_assert_int_eq(a->index_bits, b->index_bits);
	ck_assert_uint_eq(a->n_layers, b->n_layers);
	for (size_t i = 0; i < a->n_layers; i++) {
		const spz_eie_layer *x = &a->layers[i], *y = &b->layers[i];
		ck_assert_int_eq(x->rows, y->rows);
		ck_assert_int_eq(x->cols, y->cols);
		ck_assert_uint_eq(x->codebook_size, y->codebook_size);
		ck_assert(!memcmp(x->codebook, y->codebook,
		                  x->codebook_size * sizeof x->codebook[0]));
		ck_assert_uint_eq(x->nonzeros, y->nonzeros);
		ck_assert_uint_eq(x->padding, y->padding);
		for (uint32_t k = 0; k < a->pes; k++) {
			const spz_eie_pe *p = &x->pe[k], *q = &y->pe[k];
			ck_assert_uint_eq(p->n_entries, q->n_entries);
			ck_assert(!memcmp(p->code, q->code, p->n_entries));
			ck_assert(!memcmp(p->index, q->index, p->n_entries));
			ck_assert(!memcmp(p->ptr, q->ptr, ((size_t)x->cols + 1) *
			                                  sizeof p->ptr[0]));
		}
	}
}

START_TEST(round_trip)
{
	spz_eie *e = small_image(), *back;
	spz_error err = {0};
	ck_assert_uint_gt(e->layers[0].padding, 0);
	char dir[256], path[300];
	tu_tmpdir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/f.huf", dir);
	ck_assert_int_eq(spz_eie_save_huffman(e, path, &err), 0);
	ck_assert_msg(spz_eie_load(&back, path, &err) == 0, "%s", err.text);
	expect_same(e, back);
	/* The report's parts add up to the file. */
	size_t len;
	char *bytes = tu_read_file(path, &len);
	uint64_t ent, pad, head;
	const spz_eie_layer *l = &e->layers[0];
	ck_assert_int_eq(spz_eie_huff_layer_bits(&ent, &pad, &head, e, l, &err),
	                 0);
	uint64_t ptrbits = 0;
	for (uint32_t k = 0; k < e->pes; k++)
		ptrbits += ((uint64_t)l->cols + 1) * 16;
	uint64_t total = spz_eie_header_bits(e) + ent + pad + head + ptrbits +
	                 16 * l->codebook_size + (l->bias ? 16 * l->rows : 0);
	ck_assert_uint_eq(total, 8 * (uint64_t)len);
	free(bytes);
	spz_eie_free(back);
	remove(path);
	remove(dir);
	spz_eie_free(e);
}
END_TEST

START_TEST(every_truncation_and_flip)
{
	spz_eie *e = small_image(), *back;
	spz_error err = {0};
	char dir[256], path[300], bad[300];
	tu_tmpdir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/f.huf", dir);
	snprintf(bad, sizeof bad, "%s/bad.huf", dir);
	ck_assert_int_eq(spz_eie_save_huffman(e, path, &err), 0);
	size_t len;
	char *bytes = tu_read_file(path, &len);
	ck_assert_ptr_nonnull(bytes);
	for (size_t cut = 0; cut < len; cut++) {
		ck_assert_int_eq(tu_write_file(bad, bytes, cut), 0);
		memset(&err, 0, sizeof err);
		int rc = spz_eie_load(&back, bad, &err);
		ck_assert_msg(rc < 0, "truncated at %zu was accepted", cut);
		ck_assert_msg(err.text[0] && !strchr(err.text, '\n'),
		              "truncated at %zu: '%s'", cut, err.text);
	}
	for (size_t at = 0; at < len; at++)
		for (int bit = 0; bit < 8; bit += 7) {
			bytes[at] ^= (char)(1 << bit);
			ck_assert_int_eq(tu_write_file(bad, bytes, len), 0);
			memset(&err, 0, sizeof err);
			int rc = spz_eie_load(&back, bad, &err);
			ck_assert_msg(rc < 0, "flip at %zu was accepted", at);
			ck_assert(err.text[0]);
			bytes[at] ^= (char)(1 << bit);
		}
	free(bytes);
	remove(bad);
	remove(path);
	remove(dir);
	spz_eie_free(e);
}
END_TEST

START_TEST(complete_tables)
{
	spz_error err = {0};
	spz_huff none = {.n = 4};
	ck_assert_int_eq(spz_huff_check_complete(&none, &err), 0);
	spz_huff one = {.n = 4, .len = {0, 1, 0, 0}};
	ck_assert_int_eq(spz_huff_check_complete(&one, &err), 0);
	spz_huff one2 = {.n = 4, .len = {0, 2, 0, 0}};
	ck_assert_int_eq(spz_huff_check_complete(&one2, &err), SPZ_EFORMAT);
	spz_huff full = {.n = 4, .len = {1, 2, 3, 3}};
	ck_assert_int_eq(spz_huff_check_complete(&full, &err), 0);
	spz_huff over = {.n = 4, .len = {1, 2, 2, 3}};
	ck_assert_int_eq(spz_huff_check_complete(&over, &err), SPZ_EFORMAT);
	ck_assert(strstr(err.text, "over-subscribed"));
	spz_huff under = {.n = 4, .len = {1, 2, 3, 0}};
	ck_assert_int_eq(spz_huff_check_complete(&under, &err), SPZ_EFORMAT);
	ck_assert(strstr(err.text, "incomplete"));
	spz_huff longer = {.n = 2, .len = {1, SPZ_HUFF_MAX_LEN + 1}};
	ck_assert_int_eq(spz_huff_check_complete(&longer, &err), SPZ_EFORMAT);
}
END_TEST

START_TEST(long_codes)
{
	/* Counts 2^s make lengths 1, 2, ..., up to the limit: most codes
	 * are longer than the decoder's table. */
	uint64_t count[26];
	for (int s = 0; s < 26; s++)
		count[s] = 1ull << (25 - s);
	spz_huff h;
	spz_error err = {0};
	ck_assert_int_eq(spz_huff_build(&h, count, 26, &err), 0);
	ck_assert_int_eq(h.len[25], SPZ_HUFF_MAX_LEN);
	enum { N = 5000 };
	uint8_t sym[N], back[N];
	uint64_t x = 88172645463325252ull;
	for (int i = 0; i < N; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		sym[i] = (uint8_t)(x % 26);
	}
	uint8_t *out = calloc(N * SPZ_HUFF_MAX_LEN / 8 + 8, 1);
	uint64_t bits, used;
	ck_assert_int_eq(spz_huff_encode(&bits, out, &h, sym, N, &err), 0);
	ck_assert_int_eq(spz_huff_decode(back, N, &used, out, bits, &h, &err),
	                 0);
	ck_assert_uint_eq(used, bits);
	ck_assert(!memcmp(sym, back, N));
	/* One bit short: the last symbol runs past the stream. */
	ck_assert_int_eq(spz_huff_decode(back, N, &used, out, bits - 1, &h,
	                                 &err), SPZ_EFORMAT);
	ck_assert(strstr(err.text, "ends in symbol 4999"));
	free(out);
}
END_TEST

Suite *huffimage_suite(void)
{
	Suite *s = suite_create("huffimage");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, round_trip);
	tcase_add_test(tc, every_truncation_and_flip);
	tcase_add_test(tc, complete_tables);
	tcase_add_test(tc, long_codes);
	suite_add_tcase(s, tc);
	return s;
}
