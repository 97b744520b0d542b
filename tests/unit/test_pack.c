/*
 * test_pack.c - the EIE packer against the paper (Fig. 3, the padding
 * example), the image file (round trips, byte identity, every truncation
 * and corruption refused) and unpack.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define FIG3 "samples/eie_fig3.json"

static spz_eie *pack_ok(const spz_model *m, uint32_t pes, int bits)
{
	spz_eie_options o = SPZ_EIE_OPTIONS_INIT;
	o.pes = pes;
	o.index_bits = bits;
	spz_eie *e = NULL;
	spz_error err = {0};
	int rc = spz_eie_pack(&e, m, &o, &err);
	ck_assert_msg(rc == 0, "pack: %s", err.text);
	return e;
}

static void expect_pe(const spz_eie_pe *pe, const uint8_t *v,
                      const uint8_t *z, size_t n, const uint32_t *ptr,
                      size_t cols)
{
	ck_assert_uint_eq(pe->n_entries, n);
	for (size_t a = 0; a < n; a++) {
		ck_assert_msg(pe->code[a] == v[a], "entry %zu: v %u, wanted %u",
		              a, pe->code[a], v[a]);
		ck_assert_msg(pe->index[a] == z[a], "entry %zu: z %u, wanted %u",
		              a, pe->index[a], z[a]);
	}
	for (size_t j = 0; j <= cols; j++)
		ck_assert_msg(pe->ptr[j] == ptr[j], "pointer %zu: %u, wanted %u",
		              j, pe->ptr[j], ptr[j]);
}

/*
 * EIE Fig. 3: a 16x8 matrix on 4 PEs. The sample's code of W[i][j] is
 * 1 + i mod 15, so a virtual weight names its row. PE0 is the paper's
 * (rows 0, 4, 8, 12; W0,0 W8,0 W12,0 W4,1 W0,2 W12,2 W0,4 W4,4 W0,5 W12,5
 * W0,6 W8,7 W12,7); PE1-3 hold rows chosen for the sample:
 *   PE1 rows 1,5,9,13:  col0 W9 W13, col1 W1 W13, col3 W1 W5, col5 W9,
 *                       col6 W1 W13, col7 W5
 *   PE2 rows 2,6,10,14: col2 W2 W6 W14, col4 W2, col5 W14, col7 W2
 *   PE3 rows 3,7,11,15: col0 W15, col1 W3, col3 W15, col4 W11, col5 W3,
 *                       col7 W15
 * Relative index = local rows skipped since the previous entry of the
 * column (local row = row / 4), the first counted from local row 0.
 */
START_TEST(fig3_golden)
{
	static const uint8_t v0[] = {1, 9, 13, 5, 1, 13, 1, 5, 1, 13, 1, 9, 13};
	static const uint8_t z0[] = {0, 1, 0, 1, 0, 2, 0, 0, 0, 2, 0, 2, 0};
	static const uint32_t p0[] = {0, 3, 4, 6, 6, 8, 10, 11, 13};
	static const uint8_t v1[] = {10, 14, 2, 14, 2, 6, 10, 2, 14, 6};
	static const uint8_t z1[] = {2, 0, 0, 2, 0, 0, 2, 0, 2, 1};
	static const uint32_t p1[] = {0, 2, 4, 4, 6, 6, 7, 9, 10};
	static const uint8_t v2[] = {3, 7, 15, 3, 15, 3};
	static const uint8_t z2[] = {0, 0, 1, 0, 3, 0};
	static const uint32_t p2[] = {0, 0, 0, 3, 3, 4, 5, 5, 6};
	static const uint8_t v3[] = {1, 4, 1, 12, 4, 1};
	static const uint8_t z3[] = {3, 0, 3, 2, 0, 3};
	static const uint32_t p3[] = {0, 1, 2, 2, 3, 4, 5, 5, 6};
	spz_model *m;
	spz_error err = {0};
	ck_assert_msg(spz_model_load(&m, FIG3, &err) == 0, "%s", err.text);
	spz_eie *e = pack_ok(m, 4, 4);
	/* Twice: as packed, and after a trip through the file. */
	for (int pass = 0; pass < 2; pass++) {
		ck_assert_uint_eq(e->n_layers, 1);
		const spz_eie_layer *l = &e->layers[0];
		ck_assert_int_eq(l->rows, 16);
		ck_assert_int_eq(l->cols, 8);
		ck_assert_uint_eq(l->nonzeros, 35);
		ck_assert_uint_eq(l->padding, 0);
		expect_pe(&l->pe[0], v0, z0, 13, p0, 8);
		expect_pe(&l->pe[1], v1, z1, 10, p1, 8);
		expect_pe(&l->pe[2], v2, z2, 6, p2, 8);
		expect_pe(&l->pe[3], v3, z3, 6, p3, 8);
		/* Codebook c/16 in Q15 (0.9375 * 2^16 would overflow). */
		ck_assert_int_eq(l->codebook_frac, 15);
		ck_assert_int_eq(l->codebook[1], 2048);
		ck_assert_int_eq(l->codebook[15], 30720);
		if (pass)
			break;
		char dir[256], path[300];
		tu_tmpdir(dir, sizeof dir);
		snprintf(path, sizeof path, "%s/fig3.eie", dir);
		ck_assert_int_eq(spz_eie_save(e, path, &err), 0);
		spz_eie_free(e);
		ck_assert_msg(spz_eie_load(&e, path, &err) == 0, "%s", err.text);
		remove(path);
		remove(dir);
	}
	spz_eie_free(e);
	spz_model_free(m);
}
END_TEST

/* One column [rows x 1] from codes, codebook {0, 0.5, -0.25, 1}. */
static spz_model *column_model(const uint8_t *codes, int64_t rows)
{
	spz_model *m = tu_gemm_model(rows, 1, NULL);
	float *cb = malloc(4 * sizeof *cb);
	uint8_t *c = malloc((size_t)rows);
	cb[0] = 0;
	cb[1] = 0.5f;
	cb[2] = -0.25f;
	cb[3] = 1;
	memcpy(c, codes, (size_t)rows);
	spz_tensor_set_quantized(spz_model_tensor(m, "fc.weight"), 2, cb, 4, c);
	return m;
}

/* The paper's [0,0,1,2,0x18,3] -> v = [1,2,0,3], z = [2,0,15,2]. */
START_TEST(padding_example)
{
	uint8_t col[23] = {0};
	col[2] = 1;
	col[3] = 2;
	col[22] = 3;
	spz_model *m = column_model(col, 23);
	spz_eie *e = pack_ok(m, 1, 4);
	static const uint8_t v[] = {1, 2, 0, 3}, z[] = {2, 0, 15, 2};
	static const uint32_t p[] = {0, 4};
	expect_pe(&e->layers[0].pe[0], v, z, 4, p, 1);
	ck_assert_uint_eq(e->layers[0].nonzeros, 3);
	ck_assert_uint_eq(e->layers[0].padding, 1);
	spz_eie_free(e);
	/* 2-bit indices: 18 zeros = 4 paddings of 4 rows, then z = 2. */
	e = pack_ok(m, 1, 2);
	static const uint8_t v2[] = {1, 2, 0, 0, 0, 0, 3};
	static const uint8_t z2[] = {2, 0, 3, 3, 3, 3, 2};
	static const uint32_t p2[] = {0, 7};
	expect_pe(&e->layers[0].pe[0], v2, z2, 7, p2, 1);
	spz_eie_free(e);
	/* More PEs, fewer paddings: on 2 PEs rows 2, 22 are PE0's local
	 * rows 1, 11 and row 3 is PE1's local row 1. */
	e = pack_ok(m, 2, 4);
	static const uint8_t va[] = {1, 3}, za[] = {1, 9}, vb[] = {2}, zb[] = {1};
	static const uint32_t pa[] = {0, 2}, pb[] = {0, 1};
	expect_pe(&e->layers[0].pe[0], va, za, 2, pa, 1);
	expect_pe(&e->layers[0].pe[1], vb, zb, 1, pb, 1);
	ck_assert_uint_eq(e->layers[0].padding, 0);
	spz_eie_free(e);
	/* Exactly 15 zeros need no padding; 16 need one with z = 0 after. */
	uint8_t c2[34] = {0};
	c2[15] = 1;
	c2[32] = 2;
	spz_model_free(m);
	m = column_model(c2, 34);
	e = pack_ok(m, 1, 4);
	static const uint8_t v3[] = {1, 0, 2}, z3[] = {15, 15, 0};
	static const uint32_t p3[] = {0, 3};
	expect_pe(&e->layers[0].pe[0], v3, z3, 3, p3, 1);
	spz_eie_free(e);
	spz_model_free(m);
}
END_TEST

/* Writes e into a malloc'd buffer. */
static uint8_t *image_bytes(const spz_eie *e, size_t *n)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, n);
	ck_assert_ptr_nonnull(f);
	spz_error err = {0};
	ck_assert_msg(spz_eie_write(f, e, &err) == 0, "%s", err.text);
	ck_assert_int_eq(fclose(f), 0);
	return (uint8_t *)buf;
}

/* Loads an image from bytes through a file; returns the error code. */
static int load_bytes(spz_eie **e, const uint8_t *b, size_t n,
                      spz_error *err)
{
	char dir[256], path[300];
	tu_tmpdir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/x.eie", dir);
	ck_assert_int_eq(tu_write_file(path, b, n), 0);
	int rc = spz_eie_load(e, path, err);
	remove(path);
	remove(dir);
	return rc;
}

/* A random quantized chain: Gemm(transB=1)+bias+Relu, Gemm(transB=0)
 * +Relu, MatMul, over dims d[0..3], codes of `bits` bits at density. */
static spz_model *chain_model(const int64_t *d, int bits, double density,
                              uint64_t seed)
{
	spz_rng r;
	spz_rng_seed(&r, seed);
	spz_model *m;
	ck_assert_int_eq(spz_model_new(&m, "chain"), 0);
	ck_assert_int_eq(spz_model_add_input(m, "x"), 0);
	const char *prev = "x";
	char names[3][4][16];
	for (int l = 0; l < 3; l++) {
		int64_t in = d[l], out = d[l + 1];
		int64_t wd[2] = {l == 0 ? out : in, l == 0 ? in : out};
		snprintf(names[l][0], 16, "w%d", l);
		snprintf(names[l][1], 16, "b%d", l);
		snprintf(names[l][2], 16, "lin%d", l);
		snprintf(names[l][3], 16, "act%d", l);
		spz_tensor *t;
		ck_assert_int_eq(spz_model_add_tensor(&t, m, names[l][0], wd, 2,
		                                      NULL, NULL), 0);
		uint32_t size = 1u << bits;
		size = size > 5 ? size - 1 : size;
		float *cb = malloc(size * sizeof *cb);
		uint8_t *codes = malloc((size_t)(in * out));
		cb[0] = 0;
		for (uint32_t c = 1; c < size; c++)
			cb[c] = (float)(spz_rng_normal(&r) * 0.3);
		for (int64_t i = 0; i < in * out; i++)
			codes[i] = spz_rng_uniform(&r) < density
			                   ? (uint8_t)(1 + spz_rng_below(&r, size - 1))
			                   : 0;
		spz_tensor_set_quantized(t, bits, cb, size, codes);
		const char *ins[3] = {prev, names[l][0], names[l][1]};
		const char *lin = names[l][2];
		spz_node *n;
		if (l == 0) {
			spz_tensor *b;
			ck_assert_int_eq(spz_model_add_tensor(&b, m, names[l][1],
			                                      &out, 1, NULL, NULL), 0);
			for (int64_t i = 0; i < out; i++)
				b->data[i] = (float)spz_rng_normal(&r);
		}
		ck_assert_int_eq(spz_model_add_node(&n, m, l == 2 ? "MatMul" : "Gemm",
		                                    names[l][2], ins, l == 0 ? 3 : 2,
		                                    &lin, 1), 0);
		if (l == 0)
			ck_assert_int_eq(spz_node_set_number(n, "transB", 1), 0);
		prev = names[l][2];
		if (l < 2) {
			const char *o = names[l][3];
			ck_assert_int_eq(spz_model_add_node(NULL, m, "Relu",
			                                    names[l][3], &prev, 1, &o,
			                                    1), 0);
			prev = names[l][3];
		}
	}
	ck_assert_int_eq(spz_model_add_output(m, prev), 0);
	ck_assert_int_eq(spz_model_validate(m, NULL), 0);
	return m;
}

/* pack -> file -> load gives the same image; unpack gives the codes and
 * the fixed-point codebook; packing that again is byte-identical. */
START_TEST(round_trips)
{
	static const uint32_t pes[] = {1, 3, 4, 64};
	static const int ibits[] = {2, 4, 8, 3};
	static const int cbits[] = {4, 2, 8, 3};
	int64_t d[4] = {37, 29, 13, 7};
	for (int t = 0; t < 4; t++) {
		spz_model *m = chain_model(d, cbits[t], t == 1 ? 0.05 : 0.3,
		                           (uint64_t)t + 10);
		spz_eie *e = pack_ok(m, pes[t], ibits[t]);
		size_t n1, n2;
		uint8_t *b1 = image_bytes(e, &n1);
		spz_eie *back;
		spz_error err = {0};
		ck_assert_msg(load_bytes(&back, b1, n1, &err) == 0, "%s",
		              err.text);
		uint8_t *b2 = image_bytes(back, &n2);
		ck_assert_uint_eq(n1, n2);
		ck_assert(!memcmp(b1, b2, n1));
		free(b2);
		spz_model *u;
		ck_assert_msg(spz_eie_unpack(&u, back, &err) == 0, "%s",
		              err.text);
		for (size_t i = 0; i < m->n_tensors; i++) {
			const spz_tensor *a = &m->tensors[i];
			const spz_tensor *b = spz_model_tensor(u, a->name);
			ck_assert_ptr_nonnull(b);
			int64_t ne = spz_tensor_elements(a);
			ck_assert_int_eq(ne, spz_tensor_elements(b));
			if (!a->codebook)
				continue;
			ck_assert(!memcmp(a->codes, b->codes, (size_t)ne));
			ck_assert_int_eq(a->dims[0], b->dims[0]);
			const spz_eie_layer *l = &back->layers[i < 2 ? 0 : i - 1];
			double step = ldexp(1, -l->codebook_frac);
			for (uint32_t c = 0; c < a->codebook_size; c++)
				ck_assert(fabs(a->codebook[c] - b->codebook[c]) <=
				          step / 2);
		}
		spz_eie *again = pack_ok(u, pes[t], ibits[t]);
		b2 = image_bytes(again, &n2);
		ck_assert_uint_eq(n1, n2);
		ck_assert(!memcmp(b1, b2, n1));
		free(b1);
		free(b2);
		spz_eie_free(again);
		spz_eie_free(back);
		spz_eie_free(e);
		spz_model_free(u);
		spz_model_free(m);
	}
}
END_TEST

/* -1.00002 overflows Q15 and rounds to -16384 in Q14, which fits Q15:
 * the image must use Q15 so that the unpacked -1.0 packs the same. */
START_TEST(fixed_point_is_canonical)
{
	uint8_t col[3] = {1, 0, 2};
	spz_model *m = column_model(col, 3);
	spz_tensor *w = spz_model_tensor(m, "fc.weight");
	w->codebook[1] = -1.00002f;
	w->codebook[2] = 0.25f;
	w->codebook[3] = 0.5f;
	spz_model_tensor(m, "fc.bias")->data[1] = -2.00005f;
	spz_eie *e = pack_ok(m, 2, 4);
	ck_assert_int_eq(e->layers[0].codebook_frac, 15);
	ck_assert_int_eq(e->layers[0].codebook[1], -32768);
	ck_assert_int_eq(e->layers[0].bias_frac, 14);
	spz_model *u;
	ck_assert_int_eq(spz_eie_unpack(&u, e, NULL), 0);
	ck_assert(spz_model_tensor(u, "fc.weight")->codebook[1] == -1.0f);
	spz_eie *again = pack_ok(u, 2, 4);
	size_t n1, n2;
	uint8_t *b1 = image_bytes(e, &n1), *b2 = image_bytes(again, &n2);
	ck_assert(n1 == n2 && !memcmp(b1, b2, n1));
	free(b1);
	free(b2);
	spz_eie_free(again);
	spz_eie_free(e);
	spz_model_free(u);
	spz_model_free(m);
}
END_TEST

static void expect_refused(const spz_model *m, const char *part)
{
	spz_eie_options o = SPZ_EIE_OPTIONS_INIT;
	spz_eie *e = NULL;
	spz_error err = {0};
	ck_assert_int_eq(spz_eie_pack(&e, m, &o, &err), SPZ_EUNSUPPORTED);
	ck_assert_msg(strstr(err.text, part), "'%s' lacks '%s'", err.text,
	              part);
	ck_assert_ptr_null(e);
}

START_TEST(refusals)
{
	float w[6] = {1, 0, 2, 0, 0, 3};
	spz_model *m = tu_gemm_model(2, 3, w);
	expect_refused(m, "node 'fc': weight 'fc.weight' is not quantized; "
	                  "run 'spz quantize' first");
	spz_model_free(m);
	m = column_model((const uint8_t[]){1, 0}, 2);
	free(m->nodes[0].op);
	m->nodes[0].op = strdup("Conv");
	expect_refused(m, "node 'fc' (Conv) is not a fully connected layer");
	spz_model_free(m);
	/* A branch: a second consumer of the graph input. */
	m = column_model((const uint8_t[]){1, 0}, 2);
	const char *in = "input", *o2 = "side";
	ck_assert_int_eq(spz_model_add_node(NULL, m, "Relu", "side", &in, 1,
	                                    &o2, 1), 0);
	expect_refused(m, "node 'side' does not take the previous layer's "
	                  "output 'output'");
	spz_model_free(m);
	spz_eie_options o = SPZ_EIE_OPTIONS_INIT;
	o.pes = 0;
	spz_eie *e;
	ck_assert_int_eq(spz_eie_pack(&e, NULL, &o, NULL), SPZ_EINVAL);
}
END_TEST

/* Every prefix of a valid image and every single-bit flip is refused
 * with a message naming the file; none crashes. */
START_TEST(every_truncation_and_flip)
{
	spz_model *m;
	ck_assert_int_eq(spz_model_load(&m, FIG3, NULL), 0);
	spz_eie *e = pack_ok(m, 4, 4);
	size_t n;
	uint8_t *b = image_bytes(e, &n);
	spz_eie *back = NULL;
	spz_error err = {0};
	for (size_t k = 4; k < n; k++) {
		ck_assert_int_ne(load_bytes(&back, b, k, &err), 0);
		ck_assert_msg(strstr(err.text, "'/") &&
		              strstr(err.text, "truncated in"), "%zu: %s", k,
		              err.text);
	}
	for (size_t k = 0; k < n; k++) {
		b[k] ^= (uint8_t)(1u << (k % 8));
		ck_assert_msg(load_bytes(&back, b, n, &err) != 0,
		              "flip at %zu accepted", k);
		b[k] ^= (uint8_t)(1u << (k % 8));
	}
	ck_assert_int_eq(load_bytes(&back, b, n, &err), 0);
	spz_eie_free(back);
	free(b);
	spz_eie_free(e);
	spz_model_free(m);
}
END_TEST

/* Codes of every weight of u equal those of m (same names). */
static void expect_same_codes(const spz_model *m, const spz_model *u)
{
	for (size_t i = 0; i < m->n_tensors; i++) {
		const spz_tensor *a = &m->tensors[i];
		if (!a->codebook)
			continue;
		const spz_tensor *b = spz_model_tensor(u, a->name);
		ck_assert_ptr_nonnull(b);
		ck_assert_ptr_nonnull(b->codes);
		ck_assert_msg(!memcmp(a->codes, b->codes,
		                      (size_t)spz_tensor_elements(a)),
		              "codes of '%s' differ", a->name);
	}
}

/*
 * Unpack checks the entries while it decodes them; whatever is wrong, it
 * must answer exactly as spz_eie_validate does (code and message), which
 * is what validating first used to give. The image is broken one way at a
 * time: an entry's code or index overwritten, a pointer moved, a count
 * off, and two faults at once in different PEs (the first one in
 * validate's order is named).
 */
static void expect_unpack_as_validate(spz_eie *e, const char *what)
{
	spz_error ev = {0}, eu = {0};
	spz_model *u = NULL;
	int rv = spz_eie_validate(e, &ev);
	int ru = spz_eie_unpack(&u, e, &eu);
	ck_assert_msg(rv == ru, "%s: validate %d (%s), unpack %d (%s)", what,
	              rv, ev.text, ru, eu.text);
	if (rv) {
		ck_assert_msg(!strcmp(ev.text, eu.text), "%s: '%s' vs '%s'",
		              what, ev.text, eu.text);
		ck_assert_ptr_null(u);
	}
	spz_model_free(u);
}

/* e is refused with code rc and a message holding msg, by validate and
 * by unpack alike. */
static void expect_image_refused(spz_eie *e, int rc, const char *msg,
                                 const char *what)
{
	spz_error err = {0};
	ck_assert_int_eq(spz_eie_validate(e, &err), rc);
	ck_assert_msg(strstr(err.text, msg), "%s: %s", what, err.text);
	expect_unpack_as_validate(e, what);
}

static void mutate_and_compare(spz_eie *e, int tries, uint64_t seed)
{
	spz_rng r;
	spz_rng_seed(&r, seed);
	int refused = 0;
	for (int n = 0; n < tries; n++) {
		spz_eie_layer *l = &e->layers[spz_rng_below(&r, e->n_layers)];
		spz_eie_pe *pe = &l->pe[spz_rng_below(&r, e->pes)];
		int kind = (int)spz_rng_below(&r, 6);
		if (kind < 4 && !pe->n_entries)
			continue;
		uint64_t a = spz_rng_below(&r, pe->n_entries ? pe->n_entries : 1);
		uint64_t j = spz_rng_below(&r, (uint64_t)l->cols + 1);
		uint8_t oc = kind < 4 ? pe->code[a] : 0;
		uint8_t oi = kind < 4 ? pe->index[a] : 0;
		uint32_t op = pe->ptr[j];
		uint64_t onz = l->nonzeros;
		char what[96];
		snprintf(what, sizeof what, "try %d kind %d entry %llu ptr %llu",
		         n, kind, (unsigned long long)a, (unsigned long long)j);
		if (kind == 0)
			pe->code[a] = (uint8_t)spz_rng_below(&r, 256);
		else if (kind == 1)
			pe->index[a] = (uint8_t)spz_rng_below(&r, 256);
		else if (kind == 2)
			pe->code[a] = 0;
		else if (kind == 3)
			pe->index[a] = (uint8_t)SPZ_EIE_MAX_Z(e);
		else if (kind == 4)
			pe->ptr[j] += spz_rng_below(&r, 2) ? 1 : (uint32_t)-1;
		else
			l->nonzeros += 1;
		spz_error ev = {0};
		refused += spz_eie_validate(e, &ev) != 0;
		expect_unpack_as_validate(e, what);
		if (kind < 4) {
			pe->code[a] = oc;
			pe->index[a] = oi;
		}
		pe->ptr[j] = op;
		l->nonzeros = onz;
	}
	/* The mutations mostly break the image: the comparisons above were
	 * mostly about failures. */
	ck_assert_int_gt(refused, tries / 2);
	expect_unpack_as_validate(e, "restored");
	ck_assert_int_eq(spz_eie_validate(e, NULL), 0);
}

/*
 * The rows a column's entries reach (one each plus their indexes) must
 * stay inside the PE's. validate skips the sum where even maximal
 * indexes could not leave it, so the bound is tried where it is tight:
 * 7 rows, 2-bit indexes, entries on rows 3 and 6, then the second one
 * pushed to row 7 (2 entries x 4 rows each = 8, one past the PE); and
 * 8 rows, both entries on their furthest rows 3 and 7, which is valid.
 */
START_TEST(validate_row_bound)
{
	uint8_t col[8] = {0};
	col[3] = 1;
	col[6] = 2;
	spz_model *m = column_model(col, 7);
	spz_eie *e = pack_ok(m, 1, 2);
	spz_eie_pe *pe = &e->layers[0].pe[0];
	static const uint8_t v[] = {1, 2}, z[] = {3, 2};
	static const uint32_t p[] = {0, 2};
	expect_pe(pe, v, z, 2, p, 1);
	pe->index[1] = 3;
	spz_error err = {0};
	ck_assert_int_eq(spz_eie_validate(e, &err), SPZ_ERANGE);
	ck_assert_str_eq(err.text, "layer 'fc' PE 0 column 0: entry 1 lands "
	                 "on local row 7, past the PE's 7 rows");
	expect_unpack_as_validate(e, "row 7 of 7");
	spz_eie_free(e);
	spz_model_free(m);
	col[6] = 0;
	col[7] = 2;
	m = column_model(col, 8);
	e = pack_ok(m, 1, 2);
	static const uint8_t z8[] = {3, 3};
	expect_pe(&e->layers[0].pe[0], v, z8, 2, p, 1);
	ck_assert_int_eq(spz_eie_validate(e, &err), 0);
	spz_eie_free(e);
	spz_model_free(m);
}
END_TEST

/*
 * A layer of 2^22 weights or more is validated as two halves of its PEs
 * on two threads; the verdict, message and counts must be those of a
 * walk in PE order, which unpack (its own checks) gives independently.
 */
START_TEST(validate_halves)
{
	int64_t d[4] = {2048, 2048, 4, 3};
	spz_model *m = chain_model(d, 4, 0.05, 23);
	spz_eie *e = pack_ok(m, 8, 4);
	spz_eie_layer *l = &e->layers[0];
	ck_assert_int_ge(l->rows * l->cols, INT64_C(1) << 22);
	ck_assert_int_eq(spz_eie_validate(e, NULL), 0);
	/* A count off by one is found from both halves' sums. */
	l->padding++;
	expect_unpack_as_validate(e, "padding count");
	l->padding--;
	/* A fault in the second half alone, then one in each half. */
	l->pe[6].code[3] = (uint8_t)l->codebook_size;
	expect_image_refused(e, SPZ_ERANGE, "layer 'lin0' PE 6 entry 3: code "
	                     "15 is outside the codebook of 15", "second half");
	l->pe[1].ptr[5] = l->pe[1].ptr[6] + 1;
	expect_image_refused(e, SPZ_EFORMAT, "layer 'lin0' PE 1: pointer 6 ",
	                     "both halves");
	spz_eie_free(e);
	e = pack_ok(m, 8, 4);
	mutate_and_compare(e, 60, 3);
	spz_eie_free(e);
	spz_model_free(m);
}
END_TEST

START_TEST(unpack_checks_as_validate)
{
	/* Small layers of every kind (row-major, transposed, MatMul). */
	int64_t d[4] = {37, 29, 13, 7};
	spz_model *m = chain_model(d, 4, 0.3, 21);
	spz_eie *e = pack_ok(m, 3, 4);
	mutate_and_compare(e, 400, 1);
	/* Two faults, in PE 0's entries and PE 1's pointers: validate
	 * names PE 0 first, and so must unpack. */
	spz_eie_layer *l = &e->layers[0];
	ck_assert_uint_gt(l->pe[0].n_entries, 0);
	l->pe[0].code[0] = (uint8_t)l->codebook_size;
	l->pe[1].ptr[1] = l->pe[1].ptr[2] + 1;
	expect_image_refused(e, SPZ_ERANGE, "layer 'lin0' PE 0 entry 0: code "
	                     "15 is outside the codebook of 15", "two faults");
	spz_error err = {0};
	spz_model *u = NULL;
	spz_eie_free(e);
	spz_model_free(m);
	/* A layer unpack decodes in several tiles of rows and bands of
	 * columns (one PE holding 600 rows of 2100 columns), and the same
	 * on 2 PEs; the last tile's rows are where a bad index lands. */
	int64_t big[4] = {2100, 600, 5, 3};
	m = chain_model(big, 4, 0.05, 22);
	for (uint32_t pes = 1; pes <= 2; pes++) {
		e = pack_ok(m, pes, 4);
		ck_assert_msg(spz_eie_unpack(&u, e, &err) == 0, "%s", err.text);
		expect_same_codes(m, u);
		spz_model_free(u);
		mutate_and_compare(e, 24, 2 + pes);
		spz_eie_free(e);
	}
	spz_model_free(m);
}
END_TEST

/* The 4x4: rows [0,0,0,0], [3,4,0,0], [0,0,2,0], [0,1,0,0]. */
START_TEST(csr_golden)
{
	float w[16] = {0, 0, 0, 0, 3, 4, 0, 0, 0, 0, 2, 0, 0, 1, 0, 0};
	spz_model *m = tu_gemm_model(4, 4, w);
	const spz_tensor *t = spz_model_tensor(m, "fc.weight");
	spz_sparse_options o = SPZ_SPARSE_OPTIONS_INIT;
	spz_sparse s;
	ck_assert_int_eq(spz_sparse_from_tensor(&s, t, &o, NULL), 0);
	static const float a[] = {3, 4, 2, 1};
	static const uint32_t ja[] = {0, 1, 2, 1};
	static const uint64_t ia[] = {0, 0, 2, 3, 4};
	ck_assert_uint_eq(s.n_values, 4);
	for (int k = 0; k < 4; k++) {
		ck_assert(s.values[k] == a[k]);
		ck_assert_uint_eq(s.indices[k], ja[k]);
	}
	for (int k = 0; k < 5; k++)
		ck_assert_uint_eq(s.pointers[k], ia[k]);
	spz_sparse_clear(&s);
	/* CSC: columns 0 (3), 1 (4, 1), 2 (2), 3 (). */
	o.format = SPZ_SPARSE_CSC;
	ck_assert_int_eq(spz_sparse_from_tensor(&s, t, &o, NULL), 0);
	static const float ca[] = {3, 4, 1, 2};
	static const uint32_t cj[] = {1, 1, 3, 2};
	static const uint64_t ci[] = {0, 1, 3, 4, 4};
	for (int k = 0; k < 4; k++) {
		ck_assert(s.values[k] == ca[k]);
		ck_assert_uint_eq(s.indices[k], cj[k]);
	}
	for (int k = 0; k < 5; k++)
		ck_assert_uint_eq(s.pointers[k], ci[k]);
	/* And back, exactly. */
	spz_tensor *back = spz_model_tensor(m, "fc.weight");
	memset(back->data, 0x55, 16 * sizeof(float));
	ck_assert_int_eq(spz_sparse_to_tensor(back, &s, NULL), 0);
	ck_assert(!memcmp(back->data, w, sizeof w));
	s.indices[1] = 3;
	spz_error err = {0};
	ck_assert_int_eq(spz_sparse_to_tensor(back, &s, &err), SPZ_EFORMAT);
	ck_assert(strstr(err.text, "out of range or out of order"));
	spz_sparse_clear(&s);
	spz_sparse_clear(NULL);
	spz_model_free(m);
}
END_TEST

/* 2:4 over rows of 10 (the last group has 2 elements), fillers first
 * zeros, positions in order; a group of 3 non-zeros is refused. */
START_TEST(nm_form)
{
	float w[20] = {0, 5, 0, 6,  0, 0, 0, 0,  7, 0,
	               1, 0, 0, -0.0f, 0, 0, 2, 3,  0, 0};
	spz_model *m = tu_gemm_model(2, 10, w);
	spz_tensor *t = spz_model_tensor(m, "fc.weight");
	spz_sparse_options o = SPZ_SPARSE_OPTIONS_INIT;
	o.format = SPZ_SPARSE_NM;
	o.axis = spz_model_reduction_dim(m, t);
	ck_assert_int_eq(o.axis, 1);
	spz_sparse s;
	spz_error err = {0};
	ck_assert_int_eq(spz_sparse_from_tensor(&s, t, &o, &err), 0);
	static const uint32_t pos[] = {1, 3, 0, 1, 0, 1, 0, 3, 2, 3, 0, 1};
	static const float val[] = {5, 6, 0, 0, 7, 0, 1, -0.0f, 2, 3, 0, 0};
	ck_assert_uint_eq(s.n_values, 12);
	for (int k = 0; k < 12; k++) {
		ck_assert_uint_eq(s.indices[k], pos[k]);
		ck_assert(!memcmp(&s.values[k], &val[k], 4));
	}
	memset(t->data, 0x55, sizeof w);
	ck_assert_int_eq(spz_sparse_to_tensor(t, &s, &err), 0);
	ck_assert(!memcmp(t->data, w, sizeof w));
	spz_sparse_clear(&s);
	t->data[2] = 9;
	ck_assert_int_eq(spz_sparse_from_tensor(&s, t, &o, &err),
	                 SPZ_EUNSUPPORTED);
	ck_assert_str_eq(err.text, "tensor 'fc.weight' does not satisfy 2:4: "
	                 "group 0 of row 0 has 3 non-zeros (prune it with spz "
	                 "prune --nm first, or pick --nm)");
	spz_model_free(m);
}
END_TEST

/* A plain image of a model through a file, in every kind. */
static spz_plain *plain_trip(const spz_model *m, int kind, int nm,
                             size_t *bytes)
{
	char dir[256], path[300];
	tu_tmpdir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/x.img", dir);
	spz_plain_options o = {kind, nm, nm};
	spz_error err = {0};
	ck_assert_msg(spz_plain_save(m, &o, path, NULL, &err) == 0, "%s",
	              err.text);
	free(tu_read_file(path, bytes));
	spz_input in;
	ck_assert_int_eq(spz_input_open(&in, path, &err), 0);
	ck_assert_int_eq(spz_image_kind(&in), kind);
	spz_plain *p = NULL;
	ck_assert_msg(spz_plain_read(&p, &in, &err) == 0, "%s", err.text);
	spz_input_close(&in);
	remove(path);
	remove(dir);
	return p;
}

START_TEST(plain_round_trips)
{
	int64_t d[4] = {12, 9, 8, 5};
	for (int q = 0; q < 2; q++) {
		spz_model *m = chain_model(d, 3, 0.25, 7);
		if (q) /* dense weights: floats */
			for (size_t i = 0; i < m->n_tensors; i++) {
				spz_tensor *t = &m->tensors[i];
				if (!t->codebook)
					continue;
				int64_t n = spz_tensor_elements(t);
				float *v = malloc((size_t)n * sizeof *v);
				for (int64_t k = 0; k < n; k++)
					v[k] = t->codebook[t->codes[k]];
				free(t->codebook);
				free(t->codes);
				t->codebook = NULL;
				t->codes = NULL;
				t->data = v;
			}
		/* N:M as 7:7: every random weight satisfies it, the groups
		 * along 12, 9 and 8 inputs end short, MatMul runs on axis 0. */
		for (int kind = SPZ_IMAGE_CSC; kind <= SPZ_IMAGE_NM; kind++) {
			size_t bytes;
			spz_plain *p = plain_trip(m, kind, 7, &bytes);
			ck_assert_uint_eq(p->n_sparse, 3);
			for (size_t i = 0; i < m->n_tensors; i++) {
				const spz_tensor *a = &m->tensors[i];
				const spz_tensor *b = &p->model->tensors[i];
				size_t n = (size_t)spz_tensor_elements(a);
				ck_assert_str_eq(a->name, b->name);
				if (a->codebook)
					ck_assert(!memcmp(a->codes, b->codes, n));
				else
					ck_assert(!memcmp(a->data, b->data, n * 4));
			}
			spz_plain_free(p);
		}
		spz_model_free(m);
	}
}
END_TEST

/* A 3-D MatMul weight [2, 8, 4] pruned 2:4 along its reduction axis
 * (ndims - 2, as prune and info see it) packs as N:M with half of its
 * values stored: the packer used to group along axis 0 and store all. */
START_TEST(nm_3d_matmul_uses_the_reduction_axis)
{
	spz_model *m;
	ck_assert_int_eq(spz_model_new(&m, "m3"), 0);
	ck_assert_int_eq(spz_model_add_input(m, "x"), 0);
	int64_t dims[3] = {2, 8, 4};
	spz_tensor *w;
	ck_assert_int_eq(spz_model_add_tensor(&w, m, "w", dims, 3, NULL, NULL),
	                 0);
	spz_rng r;
	spz_rng_seed(&r, 3);
	for (int i = 0; i < 64; i++)
		w->data[i] = (float)(1 + spz_rng_uniform(&r));
	const char *ins[2] = {"x", "w"}, *out = "y";
	ck_assert_int_eq(spz_model_add_node(NULL, m, "MatMul", "mm", ins, 2,
	                                    &out, 1), 0);
	ck_assert_int_eq(spz_model_add_output(m, "y"), 0);
	ck_assert_int_eq(spz_model_validate(m, NULL), 0);
	ck_assert_int_eq(spz_model_reduction_dim(m, w), 1);
	spz_prune_options po = SPZ_PRUNE_OPTIONS_INIT;
	po.mode = SPZ_PRUNE_NM;
	spz_prune_item item = {w, 0, {0}};
	spz_error err = {0};
	ck_assert_msg(spz_prune_model(m, &item, 1, &po, &err) == 0, "%s",
	              err.text);
	ck_assert(spz_tensor_nm_holds(w, 1, 2, 4));
	size_t bytes;
	spz_plain *p = plain_trip(m, SPZ_IMAGE_NM, 0, &bytes);
	ck_assert_uint_eq(p->n_sparse, 1);
	ck_assert_int_eq(p->sparse[0].nm_axis, 1);
	ck_assert_uint_eq(p->sparse[0].n_values, 32);
	ck_assert(!memcmp(p->model->tensors[0].data, w->data, 64 * 4));
	spz_plain_free(p);
	spz_model_free(m);
}
END_TEST

START_TEST(eie_load_refuses_other_kinds)
{
	float w[4] = {1, 0, 0, 2};
	spz_model *m = tu_gemm_model(2, 2, w);
	char dir[256], path[300];
	tu_tmpdir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/m.csr", dir);
	spz_plain_options o = {SPZ_IMAGE_CSR, 0, 0};
	spz_error err = {0};
	ck_assert_int_eq(spz_plain_save(m, &o, path, NULL, &err), 0);
	spz_eie *e;
	spz_model *back;
	ck_assert_int_eq(spz_eie_load(&e, path, &err), SPZ_EUNSUPPORTED);
	ck_assert(strstr(err.text, "m.csr' is a CSR image, not an EIE image"));
	ck_assert_int_ne(spz_model_load(&back, path, &err), 0);
	ck_assert(strstr(err.text, "is a packed image, not a model"));
	remove(path);
	remove(dir);
	spz_model_free(m);
}
END_TEST

/* An exported graph, every node unnamed: Flatten, MatMul + Add(bias,
 * x), Relu, Gemm(transB=1). w0 [4, 3] (MatMul: [in, out]), w1 [2, 3]. */
static spz_model *exported_model(void)
{
	spz_model *m;
	ck_assert_int_eq(spz_model_new(&m, "exported"), 0);
	ck_assert_int_eq(spz_model_add_input(m, "x"), 0);
	int64_t d0[2] = {4, 3}, d1[2] = {2, 3}, db = 3;
	spz_tensor *t;
	ck_assert_int_eq(spz_model_add_tensor(&t, m, "w0", d0, 2, NULL, NULL),
	                 0);
	float *cb = malloc(4 * sizeof *cb);
	uint8_t *codes = malloc(12);
	cb[0] = 0, cb[1] = 0.5f, cb[2] = -0.25f, cb[3] = 1.0f;
	for (int i = 0; i < 12; i++)
		codes[i] = (uint8_t)(i % 4);
	spz_tensor_set_quantized(t, 2, cb, 4, codes);
	ck_assert_int_eq(spz_model_add_tensor(&t, m, "w1", d1, 2, NULL, NULL),
	                 0);
	cb = malloc(4 * sizeof *cb);
	codes = malloc(6);
	cb[0] = 0, cb[1] = 0.75f, cb[2] = -1.0f, cb[3] = 0.125f;
	for (int i = 0; i < 6; i++)
		codes[i] = (uint8_t)((i * 3) % 4);
	spz_tensor_set_quantized(t, 2, cb, 4, codes);
	ck_assert_int_eq(spz_model_add_tensor(&t, m, "b0", &db, 1, NULL, NULL),
	                 0);
	t->data[0] = 0.5f, t->data[1] = -1.5f, t->data[2] = 2.0f;
	const char *fin = "x", *fout = "flat";
	spz_node *n;
	ck_assert_int_eq(spz_model_add_node(&n, m, "Flatten", "", &fin, 1,
	                                    &fout, 1), 0);
	ck_assert_int_eq(spz_node_set_number(n, "axis", 1), 0);
	const char *mi[2] = {"flat", "w0"}, *mo = "m0";
	ck_assert_int_eq(spz_model_add_node(NULL, m, "MatMul", "", mi, 2, &mo,
	                                    1), 0);
	const char *ai[2] = {"b0", "m0"}, *ao = "a0";
	ck_assert_int_eq(spz_model_add_node(NULL, m, "Add", "", ai, 2, &ao, 1),
	                 0);
	const char *ro = "h0";
	ck_assert_int_eq(spz_model_add_node(NULL, m, "Relu", "", &ao, 1, &ro,
	                                    1), 0);
	const char *gi[2] = {"h0", "w1"}, *go = "y";
	ck_assert_int_eq(spz_model_add_node(&n, m, "Gemm", "", gi, 2, &go, 1),
	                 0);
	ck_assert_int_eq(spz_node_set_number(n, "transB", 1), 0);
	ck_assert_int_eq(spz_model_add_output(m, "y"), 0);
	ck_assert_int_eq(spz_model_validate(m, NULL), 0);
	return m;
}

/* The exported forms pack, write, read back and unpack to the same
 * graph (unnamed nodes unnamed again, the Add's input order kept), and
 * pack again byte for byte. */
START_TEST(exported_forms)
{
	spz_model *m = exported_model();
	spz_eie *e = pack_ok(m, 2, 4);
	ck_assert_uint_eq(e->n_layers, 2);
	const spz_eie_layer *l = &e->layers[0];
	ck_assert_str_eq(l->node, "w0");
	ck_assert_str_eq(l->pre_op, "Flatten");
	ck_assert_str_eq(l->pre_input, "x");
	ck_assert_str_eq(l->add_out, "a0");
	ck_assert_int_eq(l->add_bias_first, 1);
	ck_assert_int_eq(l->act, SPZ_ACT_RELU);
	ck_assert_uint_eq(l->anon, SPZ_EIE_ANON_NODE | SPZ_EIE_ANON_ACT |
	                  SPZ_EIE_ANON_ADD | SPZ_EIE_ANON_PRE);
	ck_assert_int_eq(l->rows, 3);
	ck_assert_int_eq(l->cols, 4);
	size_t n;
	uint8_t *b = image_bytes(e, &n);
	spz_eie *back = NULL;
	spz_error err = {0};
	ck_assert_msg(load_bytes(&back, b, n, &err) == 0, "%s", err.text);
	size_t n2;
	uint8_t *b2 = image_bytes(back, &n2);
	ck_assert_uint_eq(n, n2);
	ck_assert_int_eq(memcmp(b, b2, n), 0);
	spz_model *u = NULL;
	ck_assert_msg(spz_eie_unpack(&u, back, &err) == 0, "%s", err.text);
	ck_assert_uint_eq(u->n_nodes, m->n_nodes);
	for (size_t i = 0; i < m->n_nodes; i++) {
		const spz_node *a = &m->nodes[i], *c = &u->nodes[i];
		ck_assert_str_eq(a->op, c->op);
		ck_assert_str_eq(a->name, c->name);
		ck_assert_uint_eq(a->n_inputs, c->n_inputs);
		for (size_t k = 0; k < a->n_inputs; k++)
			ck_assert_str_eq(a->inputs[k], c->inputs[k]);
		ck_assert_str_eq(a->outputs[0], c->outputs[0]);
	}
	ck_assert_int_eq(spz_node_number(&u->nodes[0], "axis", -1), 1);
	ck_assert_str_eq(u->inputs[0], "x");
	const spz_tensor *bt = spz_model_tensor(u, "b0");
	ck_assert_ptr_nonnull(bt);
	ck_assert(bt->data[1] == -1.5f);
	spz_eie *again = pack_ok(u, 2, 4);
	size_t n3;
	uint8_t *b3 = image_bytes(again, &n3);
	ck_assert_uint_eq(n, n3);
	ck_assert_int_eq(memcmp(b, b3, n), 0);
	free(b);
	free(b2);
	free(b3);
	spz_eie_free(again);
	spz_model_free(u);
	spz_eie_free(back);
	spz_eie_free(e);
	spz_model_free(m);
}
END_TEST

/* What the exported forms do not allow names the node and why. */
START_TEST(exported_refusals)
{
	spz_model *m = exported_model();
	spz_node_set_number(&m->nodes[0], "axis", 2);
	expect_refused(m, "node 'Flatten -> flat' (Flatten): axis 2 splits a "
	                  "sample");
	spz_model_free(m);
	/* Add of a non-bias (the weight itself has the wrong shape). */
	m = exported_model();
	free(m->nodes[2].inputs[0]);
	m->nodes[2].inputs[0] = strdup("w1");
	expect_refused(m, "adds 'w1' to layer 'w0', which is not a 1-D "
	                  "initializer of 3 values");
	spz_model_free(m);
	/* fc_only: the Gemm and the MatMul are taken wherever they are. */
	m = exported_model();
	free(m->nodes[0].op);
	m->nodes[0].op = strdup("Conv");
	expect_refused(m, "node 'Conv -> flat' (Conv) is not a fully "
	                  "connected layer");
	spz_eie_options o = SPZ_EIE_OPTIONS_INIT;
	o.fc_only = 1;
	spz_eie *e = NULL;
	spz_error err = {0};
	ck_assert_msg(spz_eie_pack(&e, m, &o, &err) == 0, "%s", err.text);
	ck_assert_uint_eq(e->n_layers, 2);
	ck_assert_ptr_nonnull(e->layers[0].add_node);
	ck_assert_ptr_null(e->layers[0].pre_op);
	spz_eie_free(e);
	spz_model_free(m);
}
END_TEST

Suite *pack_suite(void)
{
	Suite *s = suite_create("pack");
	TCase *tc = tcase_create("eie");
	tcase_add_test(tc, fig3_golden);
	tcase_add_test(tc, padding_example);
	tcase_add_test(tc, validate_row_bound);
	tcase_add_test(tc, round_trips);
	tcase_add_test(tc, fixed_point_is_canonical);
	tcase_add_test(tc, refusals);
	tcase_add_test(tc, exported_forms);
	tcase_add_test(tc, exported_refusals);
	tcase_add_test(tc, every_truncation_and_flip);
	tcase_add_test(tc, unpack_checks_as_validate);
	tcase_add_test(tc, validate_halves);
	suite_add_tcase(s, tc);
	tc = tcase_create("plain");
	tcase_add_test(tc, csr_golden);
	tcase_add_test(tc, nm_form);
	tcase_add_test(tc, nm_3d_matmul_uses_the_reduction_axis);
	tcase_add_test(tc, plain_round_trips);
	tcase_add_test(tc, eie_load_refuses_other_kinds);
	suite_add_tcase(s, tc);
	return s;
}
