/* test_onnx.c - the protobuf wire primitives and the ONNX reader/writer:
 * round trips, the palettized form, and bad input (truncation at every
 * byte, wrong wire types, long varints, deep nesting, lengths past the
 * end). Models from Python's onnx are tested in tests/cli/test_onnx.sh. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pb.h"
#include "testutil.h"

/* m written as ONNX into a new buffer. */
static uint8_t *onnx_bytes(const spz_model *m, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	ck_assert_ptr_nonnull(f);
	spz_error err = {0};
	ck_assert_msg(spz_onnx_write(f, m, NULL, NULL, &err) == 0, "%s",
	              err.text);
	ck_assert_int_eq(fclose(f), 0);
	return (uint8_t *)buf;
}

/* Reads bytes as path.onnx; the return code, *out on success. */
static int read_bytes(spz_model **out, const uint8_t *b, size_t n,
                      spz_error *err)
{
	char dir[256], path[320];
	tu_tmpdir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/m.onnx", dir);
	ck_assert_int_eq(tu_write_file(path, b, n), 0);
	spz_model *m = NULL;
	int rc = spz_model_load(&m, path, err);
	if (out)
		*out = m;
	else
		spz_model_free(m);
	return rc;
}

START_TEST(varints)
{
	uint8_t ten[10] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	                   0xff, 0x01};
	const uint8_t *p = ten;
	uint64_t v;
	ck_assert_int_eq(pb_varint(&v, &p, ten + 10), 0);
	ck_assert_uint_eq(v, UINT64_MAX);
	uint8_t eleven[11];
	memset(eleven, 0x80, 10);
	eleven[10] = 0;
	p = eleven;
	ck_assert_int_eq(pb_varint(&v, &p, eleven + 11), -2);
	/* The tenth byte may only hold bit 63. */
	ten[9] = 2;
	p = ten;
	ck_assert_int_eq(pb_varint(&v, &p, ten + 10), -2);
	p = ten;
	ck_assert_int_eq(pb_varint(&v, &p, ten + 5), -1);
	uint8_t b[10];
	for (uint64_t x = 1; x; x <<= 1) {
		int n = pb_put_varint(b, x);
		ck_assert_int_eq(n, pb_varint_size(x));
		p = b;
		ck_assert_int_eq(pb_varint(&v, &p, b + n), 0);
		ck_assert_uint_eq(v, x);
	}
}
END_TEST

START_TEST(fields)
{
	const char *why = NULL;
	pb_field f;
	/* field 1 varint 150, field 2 bytes "ab", field 3 fixed32. */
	uint8_t msg[] = {0x08, 0x96, 0x01, 0x12, 0x02, 'a', 'b', 0x1d,
	                 1, 2, 3, 4};
	const uint8_t *p = msg, *end = msg + sizeof msg;
	ck_assert_int_eq(pb_next(&f, &p, end, &why), 1);
	ck_assert_uint_eq(f.num, 1);
	ck_assert_uint_eq(f.v, 150);
	ck_assert_int_eq(pb_next(&f, &p, end, &why), 1);
	ck_assert_uint_eq(f.len, 2);
	ck_assert_int_eq(pb_next(&f, &p, end, &why), 1);
	ck_assert_uint_eq(f.v, 0x04030201);
	ck_assert_int_eq(pb_next(&f, &p, end, &why), 0);
	uint8_t past[] = {0x12, 0x05, 'a'};
	p = past;
	ck_assert_int_eq(pb_next(&f, &p, past + 3, &why), -1);
	ck_assert_str_eq(why, "length past the end of the message");
	uint8_t group[] = {0x0b};
	p = group;
	ck_assert_int_eq(pb_next(&f, &p, group + 1, &why), -1);
	ck_assert_str_eq(why, "wire type 3 (group)");
	uint8_t zero[] = {0x02, 0x00};
	p = zero;
	ck_assert_int_eq(pb_next(&f, &p, zero + 2, &why), -1);
}
END_TEST

static spz_model *small_model(void)
{
	float w[12];
	for (int i = 0; i < 12; i++)
		w[i] = (float)(i - 5) * 0.25f;
	return tu_gemm_model(3, 4, w);
}

START_TEST(round_trip)
{
	spz_model *m = small_model();
	size_t n;
	uint8_t *b = onnx_bytes(m, &n);
	spz_model *r = NULL;
	spz_error err = {0};
	ck_assert_msg(read_bytes(&r, b, n, &err) == 0, "%s", err.text);
	ck_assert_uint_eq(r->n_tensors, 2);
	ck_assert_uint_eq(r->n_nodes, 1);
	ck_assert_str_eq(r->nodes[0].op, "Gemm");
	ck_assert(spz_node_number(&r->nodes[0], "transB", 0) == 1);
	spz_tensor *t = spz_model_tensor(r, "fc.weight");
	ck_assert_ptr_nonnull(t);
	for (int i = 0; i < 12; i++)
		ck_assert(t->data[i] == m->tensors[0].data[i]);
	/* What was read writes back byte for byte. */
	size_t n2;
	uint8_t *b2 = onnx_bytes(r, &n2);
	ck_assert_uint_eq(n, n2);
	ck_assert_mem_eq(b, b2, n);
	free(b2);
	/* Quantized: palettized, read back exactly. */
	float *book = malloc(4 * sizeof *book);
	uint8_t *codes = malloc(12);
	book[0] = 0;
	book[1] = 0.5f;
	book[2] = -1.25f;
	book[3] = 3;
	for (int i = 0; i < 12; i++)
		codes[i] = (uint8_t)(i % 4);
	spz_tensor_set_quantized(t, 2, book, 4, codes);
	b2 = onnx_bytes(r, &n2);
	spz_model *q = NULL;
	ck_assert_msg(read_bytes(&q, b2, n2, &err) == 0, "%s", err.text);
	spz_tensor *tq = spz_model_tensor(q, "fc.weight");
	ck_assert_ptr_nonnull(tq->codebook);
	ck_assert_uint_eq(tq->codebook_size, 4);
	ck_assert_int_eq(tq->bits, 2);
	ck_assert_mem_eq(tq->codes, t->codes, 12);
	ck_assert_mem_eq(tq->codebook, t->codebook, 4 * sizeof(float));
	ck_assert_uint_eq(q->n_nodes, 1); /* Cast and Gather left out */
	size_t n3;
	uint8_t *b3 = onnx_bytes(q, &n3);
	ck_assert_uint_eq(n3, n2);
	ck_assert_mem_eq(b3, b2, n2);
	free(b3);
	free(b2);
	spz_model_free(q);
	spz_model_free(r);
	spz_model_free(m);
	free(b);
}
END_TEST

/* Every prefix of a model fails with a message, or (cut at a field
 * boundary after the graph) reads: never a crash. */
START_TEST(truncation)
{
	spz_model *m = small_model();
	size_t n;
	uint8_t *b = onnx_bytes(m, &n);
	/* Where the graph field ends: ir_version, producer, version, graph. */
	const uint8_t *p = b;
	pb_field f;
	const char *why;
	size_t graph_end = 0;
	while (pb_next(&f, &p, b + n, &why) == 1)
		if (f.num == 7)
			graph_end = (size_t)(f.end - b);
	ck_assert_uint_gt(graph_end, 0);
	for (size_t k = 1; k < n; k++) {
		spz_error err = {0};
		int rc = read_bytes(NULL, b, k, &err);
		if (rc == 0)
			ck_assert_msg(k >= graph_end, "prefix %zu read", k);
		else
			ck_assert_msg(strstr(err.text, "m.onnx'") != NULL,
			              "prefix %zu: %s", k, err.text);
	}
	spz_model_free(m);
	free(b);
}
END_TEST

static void expect_bad(const uint8_t *b, size_t n, const char *what)
{
	spz_error err = {0};
	ck_assert_int_ne(read_bytes(NULL, b, n, &err), 0);
	ck_assert_msg(strstr(err.text, what) != NULL, "%s", err.text);
}

START_TEST(bad_input)
{
	/* graph (7) with wire type 1 */
	uint8_t wire[] = {0x08, 0x08, 0x39, 1, 2, 3, 4, 5, 6, 7, 8};
	expect_bad(wire, sizeof wire, "field 7 has the wrong wire type");
	/* ir_version as an 11-byte varint */
	uint8_t var[12] = {0x08};
	memset(var + 1, 0xff, 10);
	var[11] = 1;
	expect_bad(var, sizeof var, "varint longer than 10 bytes");
	/* a graph longer than the file */
	uint8_t past[] = {0x08, 0x08, 0x3a, 0x7f, 0x0a, 0x00};
	expect_bad(past, sizeof past, "length past the end");
	/* no graph */
	uint8_t none[] = {0x08, 0x08};
	expect_bad(none, sizeof none, "the model has no graph");
	/* 1000 nested graph.node.attribute.g */
	size_t cap = 1 << 16, len = 0;
	uint8_t *deep = malloc(cap), *tmp = malloc(cap);
	for (int i = 0; i < 1000; i++) {
		static const uint32_t nums[3] = {6, 5, 1};
		for (int k = 0; k < 3; k++) {
			uint8_t h[20];
			int hn = pb_put_head(h, nums[k], PB_LEN, len);
			ck_assert_uint_lt(len + (size_t)hn, cap);
			memcpy(tmp, h, (size_t)hn);
			memcpy(tmp + hn, deep, len);
			len += (size_t)hn;
			memcpy(deep, tmp, len);
		}
	}
	uint8_t h[20];
	int hn = pb_put_head(h, 7, PB_LEN, len);
	memcpy(tmp, "\x08\x08", 2);
	memcpy(tmp + 2, h, (size_t)hn);
	memcpy(tmp + 2 + hn, deep, len);
	expect_bad(tmp, len + 2 + (size_t)hn, "nested more than 100 deep");
	free(deep);
	free(tmp);
}
END_TEST

/* A name holding a control character is refused, naming what. */
START_TEST(bad_name)
{
	spz_model *m = small_model();
	free(m->nodes[0].outputs[0]);
	m->nodes[0].outputs[0] = strdup("out\x01");
	free(m->outputs[0]);
	m->outputs[0] = strdup("out\x01");
	size_t n;
	uint8_t *b = onnx_bytes(m, &n);
	expect_bad(b, n, "node 0: a name is not valid text");
	spz_model_free(m);
	free(b);
}
END_TEST

/* A model whose weight (rows x 1000) spans several of the writer's
 * pieces, with a NaN at weight index bad (none: -1), and a FLOAT16
 * tensor after it (checked before anything is written), whose element 5
 * is x. */
static spz_model *big_model(int64_t rows, int64_t bad, float x)
{
	float *w = malloc((size_t)rows * 1000 * sizeof *w);
	ck_assert_ptr_nonnull(w);
	for (int64_t i = 0; i < rows * 1000; i++)
		w[i] = (float)(i % 977) * 0.25f - 100.0f;
	if (bad >= 0)
		w[bad] = NAN;
	spz_model *m = tu_gemm_model(rows, 1000, w);
	free(w);
	spz_tensor *b = spz_model_tensor(m, "fc.bias");
	for (int64_t i = 0; i < rows; i++)
		b->data[i] = (float)i;
	int64_t d = 8;
	spz_tensor *h;
	ck_assert_int_eq(spz_model_add_tensor(&h, m, "half", &d, 1, NULL,
	                                      NULL), 0);
	h->dtype = SPZ_DTYPE_FLOAT16;
	h->data[5] = x;
	return m;
}

/* Length of the open file f. */
static long file_len(FILE *f)
{
	ck_assert_int_eq(fflush(f), 0);
	struct stat st;
	ck_assert_int_eq(fstat(fileno(f), &st), 0);
	return (long)st.st_size;
}

/* Into a regular file the writer checks values piece by piece as it
 * writes them: the bytes are those written anywhere else, and a refused
 * model leaves the file as it was, with the message checking every value
 * first gives (the earliest tensor's fault, not the first one met). */
START_TEST(write_checks_while_writing)
{
	spz_model *m = big_model(700, -1, 1.0f); /* 2.8 MB of weight */
	size_t want_len;
	uint8_t *want = onnx_bytes(m, &want_len);
	FILE *f = tmpfile();
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputs("head", f) >= 0, 1);
	spz_error err = {0};
	ck_assert_msg(spz_onnx_write(f, m, NULL, NULL, &err) == 0, "%s",
	              err.text);
	ck_assert_int_eq(file_len(f), 4 + (long)want_len);
	ck_assert_int_eq(ftell(f), 4 + (long)want_len);
	uint8_t *got = malloc(want_len);
	ck_assert_int_eq(fseek(f, 4, SEEK_SET), 0);
	ck_assert_uint_eq(fread(got, 1, want_len, f), want_len);
	ck_assert(!memcmp(got, want, want_len));
	free(got);
	free(want);
	fclose(f);
	spz_model_free(m);

	/* A NaN in the third piece of the weight, and a FLOAT16 tensor with
	 * an infinity or a value FLOAT16 cannot hold (both found before
	 * anything is written): the weight's fault comes first. */
	const int64_t bad = 600 * 1000 + 3;
	const float xs[2] = {-INFINITY, 70000.0f};
	for (int k = 0; k < 2; k++) {
		m = big_model(700, bad, xs[k]);
		f = tmpfile();
		ck_assert_int_eq(fputs("head", f) >= 0, 1);
		ck_assert_int_eq(spz_onnx_write(f, m, NULL, NULL, &err),
		                 SPZ_ERANGE);
		ck_assert_str_eq(err.text, "tensor 'fc.weight': NaN value at "
		                 "index 600003");
		ck_assert_int_eq(file_len(f), 4);
		ck_assert_int_eq(ftell(f), 4);
		/* Still usable where it stands. */
		ck_assert_int_eq(fputs("tail", f) >= 0, 1);
		ck_assert_int_eq(file_len(f), 8);
		fclose(f);
		/* Where nothing can be cut back, all is checked first: the
		 * same message, nothing written. */
		size_t len = 0;
		char *buf = NULL;
		f = open_memstream(&buf, &len);
		ck_assert_int_eq(spz_onnx_write(f, m, NULL, NULL, &err),
		                 SPZ_ERANGE);
		ck_assert_str_eq(err.text, "tensor 'fc.weight': NaN value at "
		                 "index 600003");
		fclose(f);
		ck_assert_uint_eq(len, 0);
		free(buf);
		spz_model_free(m);
	}
	/* Only the FLOAT16 tensor: its messages. */
	m = big_model(700, -1, -INFINITY);
	f = tmpfile();
	ck_assert_int_eq(spz_onnx_write(f, m, NULL, NULL, &err), SPZ_ERANGE);
	ck_assert_str_eq(err.text, "tensor 'half': infinite value at index 5");
	ck_assert_int_eq(file_len(f), 0);
	fclose(f);
	spz_model_free(m);
	m = big_model(700, -1, 70000.0f);
	f = tmpfile();
	ck_assert_int_eq(spz_onnx_write(f, m, NULL, NULL, &err), SPZ_ERANGE);
	ck_assert_str_eq(err.text, "tensor 'half': 70000 at index 5 does not "
	                 "fit FLOAT16");
	ck_assert_int_eq(file_len(f), 0);
	fclose(f);
	spz_model_free(m);
}
END_TEST

/* Saved by name (with and without external data): a refused model
 * leaves no file, with the message of checking first; a good one reads
 * back the same. */
START_TEST(save_checks_while_writing)
{
	char dir[256], path[320], ext[320];
	tu_tmpdir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/m.onnx", dir);
	snprintf(ext, sizeof ext, "%s/m.bin", dir);
	spz_error err = {0};
	for (int external = 0; external < 2; external++) {
		spz_model *m = big_model(600, 599 * 1000 + 999, 1.0f);
		int rc = external ? spz_onnx_save(m, path, "m.bin", &err)
		                  : spz_model_save(m, path, SPZ_FILE_ONNX, &err);
		ck_assert_int_eq(rc, SPZ_ERANGE);
		char want[512];
		snprintf(want, sizeof want, "cannot write '%s': tensor "
		         "'fc.weight': NaN value at index 599999", path);
		ck_assert_str_eq(err.text, want);
		ck_assert_int_eq(access(path, F_OK), -1);
		ck_assert_int_eq(access(ext, F_OK), -1);
		spz_model_free(m);

		m = big_model(600, -1, 1.0f);
		rc = external ? spz_onnx_save(m, path, "m.bin", &err)
		              : spz_model_save(m, path, SPZ_FILE_ONNX, &err);
		ck_assert_msg(rc == 0, "%s", err.text);
		spz_model *back;
		ck_assert_msg(spz_model_load(&back, path, &err) == 0, "%s",
		              err.text);
		ck_assert(!memcmp(back->tensors[0].data, m->tensors[0].data,
		                  600 * 1000 * sizeof(float)));
		spz_model_free(back);
		spz_model_free(m);
		unlink(path);
		unlink(ext);
	}
	rmdir(dir);
}
END_TEST

Suite *onnx_suite(void)
{
	Suite *s = suite_create("onnx");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, varints);
	tcase_add_test(tc, fields);
	tcase_add_test(tc, round_trip);
	tcase_add_test(tc, truncation);
	tcase_add_test(tc, bad_input);
	tcase_add_test(tc, bad_name);
	tcase_add_test(tc, write_checks_while_writing);
	tcase_add_test(tc, save_checks_while_writing);
	suite_add_tcase(s, tc);
	return s;
}
