/* test_mapped.c - float32 payloads used where they lie in a mapped model
 * file (spz_input.map_payloads, spz_tensor.data_borrowed): the model read
 * that way equals the one read by copying, a write through the mapping
 * leaves the file alone, freeing the model unmaps the file, and whatever
 * cannot be mapped (unaligned ONNX raw_data, a FIFO) is copied. Also
 * payloads left in the file (spz_input.defer_values, spz_tensor.src):
 * read back whole they equal a plain read; damage, NaN and a file that
 * shrinks are caught by the pass that reads them. */
#define _DEFAULT_SOURCE /* mincore, mkfifo */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "testutil.h"

enum { ROWS = 48, COLS = 130 };

static spz_model *sample(void)
{
	static float w[ROWS * COLS];
	for (int i = 0; i < ROWS * COLS; i++)
		w[i] = (float)((i * 37) % 101 - 50) / 16.0f;
	spz_model *m = tu_gemm_model(ROWS, COLS, w);
	/* A bias of non-zeros: .spzm stores it dense, not as a bitmask. */
	spz_tensor *b = spz_model_tensor(m, "fc.bias");
	for (int64_t i = 0; i < spz_tensor_elements(b); i++)
		b->data[i] = 0.25f + (float)i;
	return m;
}

/* Reads path with map_payloads = map; fails the test on an error. */
static spz_model *read_with(const char *path, int map)
{
	spz_input in;
	spz_error err = {0};
	ck_assert_msg(spz_input_open(&in, path, &err) == 0, "%s", err.text);
	in.map_payloads = map;
	spz_model *m = NULL;
	int rc = spz_model_read(&m, &in, &err);
	spz_input_close(&in);
	ck_assert_msg(rc == 0, "%s", err.text);
	return m;
}

static void assert_same(const spz_model *a, const spz_model *b)
{
	ck_assert_uint_eq(a->n_tensors, b->n_tensors);
	for (size_t i = 0; i < a->n_tensors; i++) {
		const spz_tensor *x = &a->tensors[i], *y = &b->tensors[i];
		ck_assert_str_eq(x->name, y->name);
		int64_t n = spz_tensor_elements(x);
		ck_assert_int_eq(n, spz_tensor_elements(y));
		ck_assert(!memcmp(x->data, y->data, (size_t)n * sizeof(float)));
	}
}

START_TEST(spzm_mapped_equals_copied)
{
	char dir[256], path[320];
	tu_tmpdir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/m.spzm", dir);
	spz_model *m = sample();
	tu_save(m, path, SPZ_FILE_SPZM);
	spz_model *a = read_with(path, 1), *b = read_with(path, 0);
	assert_same(a, b);
	assert_same(a, m);
	ck_assert_uint_eq(a->n_maps, 1);
	ck_assert_uint_eq(b->n_maps, 0);
	for (size_t i = 0; i < a->n_tensors; i++) {
		ck_assert_int_eq(a->tensors[i].data_borrowed, 1);
		ck_assert_int_eq(b->tensors[i].data_borrowed, 0);
		/* Never unaligned: UBSan would see it too. */
		ck_assert_uint_eq((uintptr_t)a->tensors[i].data % 4, 0);
	}
	/* What is mapped writes back to the same bytes. */
	char again[340];
	snprintf(again, sizeof again, "%s/again.spzm", dir);
	tu_save(a, again, SPZ_FILE_SPZM);
	size_t n1, n2;
	char *f1 = tu_read_file(path, &n1), *f2 = tu_read_file(again, &n2);
	ck_assert(n1 == n2 && !memcmp(f1, f2, n1));
	free(f1);
	free(f2);
	spz_model_free(a);
	spz_model_free(b);
	spz_model_free(m);
}
END_TEST

START_TEST(write_through_leaves_file)
{
	char dir[256], path[320];
	tu_tmpdir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/m.spzm", dir);
	spz_model *m = sample();
	tu_save(m, path, SPZ_FILE_SPZM);
	size_t n0;
	char *before = tu_read_file(path, &n0);
	spz_model *a = read_with(path, 1);
	spz_tensor *t = spz_model_tensor(a, "fc.weight");
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(t->data_borrowed, 1);
	/* A consumer writes in place (prune, finetune): its copy changes,
	 * the file and a second reader's mapping do not. */
	spz_model *b = read_with(path, 1);
	for (int64_t i = 0; i < spz_tensor_elements(t); i += 7)
		t->data[i] = 0.0f;
	t->data[1] = 42.0f;
	ck_assert(spz_model_tensor(b, "fc.weight")->data[1] != 42.0f);
	size_t n1;
	char *after = tu_read_file(path, &n1);
	ck_assert(n0 == n1 && !memcmp(before, after, n0));
	/* Taking the data over keeps the values written. */
	spz_error err = {0};
	ck_assert_int_eq(spz_tensor_own_data(t, &err), 0);
	ck_assert_int_eq(t->data_borrowed, 0);
	ck_assert(t->data[1] == 42.0f && t->data[7] == 0.0f);
	/* Quantizing drops borrowed data without freeing it (ASan). */
	spz_tensor *bias = spz_model_tensor(a, "fc.bias");
	ck_assert_int_eq(bias->data_borrowed, 1);
	float *book = calloc(2, sizeof *book);
	uint8_t *codes = calloc((size_t)spz_tensor_elements(bias), 1);
	spz_tensor_set_quantized(bias, 1, book, 2, codes);
	ck_assert_ptr_null(bias->data);
	ck_assert_int_eq(bias->data_borrowed, 0);
	free(before);
	free(after);
	spz_model_free(a);
	spz_model_free(b);
	spz_model_free(m);
}
END_TEST

START_TEST(free_unmaps)
{
	char dir[256], path[320];
	tu_tmpdir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/m.spzm", dir);
	spz_model *m = sample();
	tu_save(m, path, SPZ_FILE_SPZM);
	spz_model *a = read_with(path, 1);
	ck_assert_uint_eq(a->n_maps, 1);
	void *base = a->maps[0].base;
	unsigned char vec[1];
	ck_assert_int_eq(mincore(base, 1, vec), 0);
	spz_model_free(a);
	/* mincore of an address no mapping covers: ENOMEM. */
	errno = 0;
	ck_assert_int_eq(mincore(base, 1, vec), -1);
	ck_assert_int_eq(errno, ENOMEM);
	spz_model_free(m);
}
END_TEST

/* The offset of the first 16 bytes of t's floats in b. */
static size_t find_floats(const uint8_t *b, size_t n, const spz_tensor *t)
{
	for (size_t i = 0; i + 16 <= n; i++)
		if (!memcmp(b + i, t->data, 16))
			return i;
	ck_abort_msg("raw_data not found");
	return 0;
}

/* m as ONNX at path with a doc_string of k bytes in front, which moves
 * every raw_data by k + 2 bytes. */
static void onnx_shifted(const spz_model *m, const char *path, size_t k,
                         size_t *weight_off)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	spz_error err = {0};
	ck_assert_msg(spz_onnx_write(f, m, NULL, NULL, &err) == 0, "%s",
	              err.text);
	ck_assert_int_eq(fclose(f), 0);
	uint8_t *out = malloc(len + k + 2);
	out[0] = 0x32; /* ModelProto.doc_string, length-delimited */
	out[1] = (uint8_t)k;
	memset(out + 2, 'd', k);
	memcpy(out + 2 + k, buf, len);
	*weight_off = find_floats(out, len + k + 2,
	                          spz_model_tensor(m, "fc.weight"));
	ck_assert_int_eq(tu_write_file(path, out, len + k + 2), 0);
	free(out);
	free(buf);
}

START_TEST(onnx_aligned_mapped_unaligned_copied)
{
	char dir[256], path[320];
	tu_tmpdir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/m.onnx", dir);
	spz_model *m = sample();
	size_t off;
	onnx_shifted(m, path, 0, &off);
	size_t k = (4 - off % 4) % 4;
	for (int aligned = 1; aligned >= 0; aligned--) {
		size_t kk = aligned ? k : k + 1;
		onnx_shifted(m, path, kk, &off);
		ck_assert_int_eq(off % 4 == 0, aligned);
		spz_model *a = read_with(path, 1), *b = read_with(path, 0);
		assert_same(a, b);
		assert_same(a, m);
		spz_tensor *t = spz_model_tensor(a, "fc.weight");
		ck_assert_int_eq(t->data_borrowed, aligned);
		ck_assert_uint_eq((uintptr_t)t->data % 4, 0);
		ck_assert_int_eq(spz_model_tensor(b, "fc.weight")
		                 ->data_borrowed, 0);
		/* No tensor borrows: the file is not kept mapped. */
		int any = 0;
		for (size_t i = 0; i < a->n_tensors; i++)
			any |= a->tensors[i].data_borrowed;
		ck_assert_uint_eq(a->n_maps, any ? 1 : 0);
		spz_model_free(a);
		spz_model_free(b);
	}
	spz_model_free(m);
}
END_TEST

START_TEST(fifo_is_copied)
{
	char dir[256], path[320], fifo[320];
	tu_tmpdir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/m.spzm", dir);
	snprintf(fifo, sizeof fifo, "%s/pipe", dir);
	spz_model *m = sample();
	tu_save(m, path, SPZ_FILE_SPZM);
	size_t n;
	char *bytes = tu_read_file(path, &n);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		FILE *f = fopen(fifo, "wb");
		_exit(!f || fwrite(bytes, 1, n, f) != n || fclose(f));
	}
	spz_model *a = read_with(fifo, 1);
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_int_eq(status, 0);
	assert_same(a, m);
	ck_assert_uint_eq(a->n_maps, 0);
	for (size_t i = 0; i < a->n_tensors; i++)
		ck_assert_int_eq(a->tensors[i].data_borrowed, 0);
	spz_model_free(a);
	spz_model_free(m);
	free(bytes);
}
END_TEST

START_TEST(corrupt_mapped_payload)
{
	/* The CRC and the value checks run over the mapped bytes. */
	char dir[256], path[320];
	tu_tmpdir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/m.spzm", dir);
	spz_model *m = sample();
	tu_save(m, path, SPZ_FILE_SPZM);
	size_t n;
	char *b = tu_read_file(path, &n);
	b[n - 8] ^= 0x40;
	ck_assert_int_eq(tu_write_file(path, b, n), 0);
	spz_input in;
	spz_error err = {0};
	ck_assert_int_eq(spz_input_open(&in, path, &err), 0);
	in.map_payloads = 1;
	spz_model *a = NULL;
	ck_assert_int_eq(spz_model_read(&a, &in, &err), SPZ_ECRC);
	ck_assert_ptr_null(a);
	ck_assert_ptr_null(in.map);
	spz_input_close(&in);
	/* A NaN in mapped ONNX raw_data is refused like a copied one. */
	snprintf(path, sizeof path, "%s/m.onnx", dir);
	spz_tensor *t = spz_model_tensor(m, "fc.weight");
	size_t off;
	onnx_shifted(m, path, 0, &off);
	onnx_shifted(m, path, (4 - off % 4) % 4, &off);
	free(b);
	b = tu_read_file(path, &n);
	const uint8_t nan_le[4] = {0, 0, 0xc0, 0x7f};
	memcpy(b + off + 4 * 5, nan_le, 4);
	ck_assert_int_eq(tu_write_file(path, b, n), 0);
	ck_assert_int_eq(spz_input_open(&in, path, &err), 0);
	in.map_payloads = 1;
	ck_assert_int_ne(spz_model_read(&a, &in, &err), 0);
	ck_assert_msg(strstr(err.text, t->name) != NULL, "%s", err.text);
	ck_assert_ptr_null(in.map);
	spz_input_close(&in);
	free(b);
	spz_model_free(m);
}
END_TEST

START_TEST(palettized_codebook_mapped)
{
	/* A palettized weight's codebook (a FLOAT initializer) is taken
	 * over as the quantized tensor's codebook: when its raw_data is
	 * mapped it must be copied first, never freed from the mapping.
	 * One of four doc_string lengths puts it at a multiple of 4. */
	char dir[256], path[320];
	tu_tmpdir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/q.onnx", dir);
	spz_model *m = sample();
	spz_tensor *t = spz_model_tensor(m, "fc.weight");
	int64_t n = spz_tensor_elements(t);
	float *book = malloc(4 * sizeof *book);
	uint8_t *codes = malloc((size_t)n);
	book[0] = 0;
	book[1] = 0.5f;
	book[2] = -1.25f;
	book[3] = 3;
	for (int64_t i = 0; i < n; i++)
		codes[i] = (uint8_t)(i % 4);
	spz_tensor_set_quantized(t, 2, book, 4, codes);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	spz_error err = {0};
	ck_assert_msg(spz_onnx_write(f, m, NULL, NULL, &err) == 0, "%s",
	              err.text);
	ck_assert_int_eq(fclose(f), 0);
	for (size_t k = 0; k < 4; k++) {
		uint8_t *out = malloc(len + k + 2);
		out[0] = 0x32;
		out[1] = (uint8_t)k;
		memset(out + 2, 'd', k);
		memcpy(out + 2 + k, buf, len);
		ck_assert_int_eq(tu_write_file(path, out, len + k + 2), 0);
		free(out);
		spz_model *a = read_with(path, 1);
		spz_tensor *q = spz_model_tensor(a, "fc.weight");
		ck_assert_ptr_nonnull(q->codebook);
		ck_assert_uint_eq(q->codebook_size, 4);
		ck_assert_mem_eq(q->codebook, book, 4 * sizeof(float));
		ck_assert_mem_eq(q->codes, codes, (size_t)n);
		ck_assert_int_eq(q->data_borrowed, 0);
		spz_model_free(a);
	}
	free(buf);
	spz_model_free(m);
}
END_TEST

/* A layer whose weight (600x500 floats, 1.2 MB) is deferred and whose
 * bias (600) is read, saved as .spzm at path. */
static spz_model *big_sample(const char *path)
{
	enum { R = 600, C = 500 };
	float *w = malloc(R * C * sizeof *w);
	ck_assert_ptr_nonnull(w);
	for (int i = 0; i < R * C; i++)
		w[i] = (float)((i * 37) % 1001 - 500) / 64.0f;
	spz_model *m = tu_gemm_model(R, C, w);
	free(w);
	tu_save(m, path, SPZ_FILE_SPZM);
	return m;
}

/* Reads all of deferred tensor w as two parts split at `at` (the second
 * part first, as a thread may finish first), each in pieces of 7000,
 * into out (may be NULL), and returns check_parts' verdict on them,
 * given in order (swap: in the wrong order). */
static int read_in_parts(spz_tensor *w, int64_t at, float *out, int swap,
                         spz_error *err)
{
	int64_t n = spz_tensor_elements(w);
	spz_part p[2] = {{.first = 0, .next = 0}, {.first = at, .next = at}};
	static float buf[7000];
	for (int h = 1; h >= 0; h--) {
		int64_t end = h ? n : at;
		while (p[h].next < end) {
			int64_t k = end - p[h].next < 7000 ? end - p[h].next
			                                   : 7000;
			int64_t from = p[h].next;
			int rc = w->src->read_part(w->src->ctx, &p[h], k, buf,
			                           err);
			if (rc)
				return rc;
			if (out)
				memcpy(out + from, buf, (size_t)k * sizeof *buf);
		}
	}
	if (swap) {
		spz_part t = p[0];
		p[0] = p[1];
		p[1] = t;
	}
	return w->src->check_parts(w->src->ctx, p, 2, err);
}

START_TEST(deferred_equals_read)
{
	char dir[256], path[320];
	tu_tmpdir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/m.spzm", dir);
	spz_model *m = big_sample(path);
	spz_model *a = tu_read_deferred(path), *b = tu_read_deferred(path);
	spz_tensor *w = spz_model_tensor(a, "fc.weight");
	ck_assert_ptr_nonnull(w->src);
	ck_assert_ptr_null(w->data);
	/* Under SPZ_DEFER_MIN: read as usual. */
	ck_assert_ptr_null(spz_model_tensor(a, "fc.bias")->src);
	ck_assert_ptr_nonnull(spz_model_tensor(a, "fc.bias")->data);
	/* Out of order reads give the values, then a pass in order. */
	float v[100];
	spz_error err = {0};
	ck_assert_int_eq(w->src->read(w->src->ctx, 1000, 100, v, &err), 0);
	ck_assert(!memcmp(v, spz_model_tensor(m, "fc.weight")->data + 1000,
	                  sizeof v));
	/* A pass in two parts (spz_source.read_part) reads the same values
	 * and checks out; parts out of order, or not reaching the end, are
	 * refused. */
	int64_t n = spz_tensor_elements(w);
	float *all = malloc((size_t)n * sizeof *all);
	ck_assert_msg(read_in_parts(w, 123456, all, 0, &err) == 0, "%s",
	              err.text);
	ck_assert(!memcmp(all, spz_model_tensor(m, "fc.weight")->data,
	                  (size_t)n * sizeof *all));
	free(all);
	ck_assert_int_eq(read_in_parts(w, 123456, NULL, 1, &err), SPZ_EINVAL);
	ck_assert(strstr(err.text, "do not follow each other"));
	spz_part one = {.first = 0, .next = 0};
	ck_assert_int_eq(w->src->read_part(w->src->ctx, &one, 50, v, &err), 0);
	ck_assert_int_eq(w->src->check_parts(w->src->ctx, &one, 1, &err),
	                 SPZ_EINVAL);
	ck_assert_msg(strstr(err.text, "end at element 50 of 300000"), "%s",
	              err.text);
	ck_assert_msg(spz_model_undefer(a, &err) == 0, "%s", err.text);
	ck_assert_ptr_null(w->src);
	assert_same(a, m);
	/* b is freed still deferred: its source is closed with it. */
	spz_model_free(b);
	spz_model_free(a);
	spz_model_free(m);
}
END_TEST

/* Offset of the first payload (the weight's) in the .spzm bytes b. */
static size_t first_payload(const unsigned char *b)
{
	uint64_t len = 0;
	for (int i = 7; i >= 0; i--)
		len = len << 8 | b[16 + i];
	return (size_t)((32 + len + 63) / 64 * 64);
}

START_TEST(deferred_damage_caught)
{
	char dir[256], path[320];
	tu_tmpdir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/m.spzm", dir);
	spz_model *m = big_sample(path);
	size_t n;
	char *orig = tu_read_file(path, &n);
	size_t at = first_payload((unsigned char *)orig);
	spz_error err = {0};
	/* A flipped bit: the structure reads, the pass fails on the CRC. */
	char *b = malloc(n);
	memcpy(b, orig, n);
	b[at + 4 * 777] ^= 0x10;
	ck_assert_int_eq(tu_write_file(path, b, n), 0);
	spz_model *a = tu_read_deferred(path);
	ck_assert_int_eq(spz_model_undefer(a, &err), SPZ_ECRC);
	char want[400];
	snprintf(want, sizeof want, "'%s': tensor 'fc.weight': CRC mismatch "
	         "(the file is corrupt)", path);
	ck_assert_str_eq(err.text, want);
	ck_assert_ptr_nonnull(spz_model_tensor(a, "fc.weight")->src);
	/* Read in two parts, the damage in the first: the same message. */
	err = (spz_error){0};
	ck_assert_int_eq(read_in_parts(spz_model_tensor(a, "fc.weight"),
	                               100000, NULL, 0, &err), SPZ_ECRC);
	ck_assert_str_eq(err.text, want);
	spz_model_free(a);
	/* A NaN with a CRC that matches it (manifest and header CRCs made
	 * again): refused by index, as a plain read does. */
	const unsigned char nan_le[4] = {0, 0, 0xc0, 0x7f};
	char old_crc[16], new_crc[16];
	snprintf(old_crc, sizeof old_crc, "%lu",
	         crc32(0, (unsigned char *)orig + at, 600 * 500 * 4));
	int nan_at = 4321;
	/* Where the new CRC has as many digits: the manifest keeps its
	 * length. */
	do {
		memcpy(b, orig, n);
		memcpy(b + at + 4 * ++nan_at, nan_le, 4);
		snprintf(new_crc, sizeof new_crc, "%lu",
		         crc32(0, (unsigned char *)b + at, 600 * 500 * 4));
	} while (strlen(new_crc) != strlen(old_crc));
	uint64_t len = 0;
	for (int i = 7; i >= 0; i--)
		len = len << 8 | (unsigned char)b[16 + i];
	char *man = b + 32, *p = NULL;
	for (size_t i = 0; i + strlen(old_crc) <= len && !p; i++)
		if (!memcmp(man + i, old_crc, strlen(old_crc)))
			p = man + i;
	ck_assert_ptr_nonnull(p);
	{
		memcpy(p, new_crc, strlen(new_crc));
		uint32_t mc = (uint32_t)crc32(0, (unsigned char *)man,
		                              (uInt)len);
		for (int i = 0; i < 4; i++)
			b[24 + i] = (char)(mc >> (8 * i));
		ck_assert_int_eq(tu_write_file(path, b, n), 0);
		a = tu_read_deferred(path);
		ck_assert_int_eq(spz_model_undefer(a, &err), SPZ_ERANGE);
		snprintf(want, sizeof want, "'%s': tensor 'fc.weight': NaN "
		         "value at index %d", path, nan_at);
		ck_assert_str_eq(err.text, want);
		spz_model_free(a);
		/* In two parts, the NaN in the second: named by its index
		 * in the whole tensor, once the CRC has matched. */
		a = tu_read_deferred(path);
		err = (spz_error){0};
		ck_assert_int_eq(read_in_parts(spz_model_tensor(a, "fc.weight"),
		                               1000, NULL, 0, &err), SPZ_ERANGE);
		ck_assert_str_eq(err.text, want);
		spz_model_free(a);
	}
	/* The file shrinks after it was read: the pass says so. */
	ck_assert_int_eq(tu_write_file(path, orig, n), 0);
	a = tu_read_deferred(path);
	ck_assert_int_eq(truncate(path, (off_t)(at + 1000)), 0);
	ck_assert_int_eq(spz_model_undefer(a, &err), SPZ_EIO);
	snprintf(want, sizeof want, "'%s': cannot read tensor 'fc.weight': "
	         "the file shrank while read", path);
	ck_assert_str_eq(err.text, want);
	spz_model_free(a);
	/* Truncated before: the read itself fails, as without deferring. */
	spz_input in;
	ck_assert_int_eq(spz_input_open(&in, path, &err), 0);
	in.defer_values = SPZ_DEFER_MIN;
	ck_assert_int_eq(spz_model_read(&a, &in, &err), SPZ_EFORMAT);
	ck_assert_msg(strstr(err.text, "truncated in tensor 'fc.weight'"),
	              "%s", err.text);
	spz_input_close(&in);
	free(b);
	free(orig);
	spz_model_free(m);
}
END_TEST

Suite *mapped_suite(void)
{
	Suite *s = suite_create("mapped");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, spzm_mapped_equals_copied);
	tcase_add_test(tc, write_through_leaves_file);
	tcase_add_test(tc, free_unmaps);
	tcase_add_test(tc, onnx_aligned_mapped_unaligned_copied);
	tcase_add_test(tc, fifo_is_copied);
	tcase_add_test(tc, corrupt_mapped_payload);
	tcase_add_test(tc, palettized_codebook_mapped);
	tcase_add_test(tc, deferred_equals_read);
	tcase_add_test(tc, deferred_damage_caught);
	suite_add_tcase(s, tc);
	return s;
}
