/* test_spzm.c - the binary model format (.spzm): layout, round trips with
 * JSON, every refusal (magic, version, flags, truncation in each section,
 * CRCs, offsets, codes, NaN), pipes, and the CRC32 against zlib. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "testutil.h"

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* Quantized tensor `name` [n] with a codebook of `size` entries at `bits`,
 * codes i * 7 mod size. */
static void add_quantized(spz_model *m, const char *name, int64_t n, int bits,
                          uint32_t size)
{
	spz_tensor *t;
	ck_assert_int_eq(spz_model_add_tensor(&t, m, name, &n, 1, NULL, NULL),
	                 0);
	float *book = malloc(size * sizeof *book);
	uint8_t *codes = malloc((size_t)n + 1);
	for (uint32_t k = 0; k < size; k++)
		book[k] = k ? (float)k * 0.5f - 3.0f : 0.0f;
	for (int64_t i = 0; i < n; i++)
		codes[i] = (uint8_t)((i * 7) % size);
	spz_tensor_set_quantized(t, bits, book, size, codes);
}

/* fc.weight [rows, cols] dense (values i * 0.25 - 3), plus quantized
 * tensors at 1, 3, 4 and 8 bits with element counts not multiple of 8. */
static spz_model *test_model(int64_t rows, int64_t cols)
{
	float *w = malloc((size_t)(rows * cols) * sizeof *w);
	for (int64_t i = 0; i < rows * cols; i++)
		w[i] = (float)(i % 97) * 0.25f - 3.0f;
	spz_model *m = tu_gemm_model(rows, cols, w);
	free(w);
	/* A bias without zeros: these tests are about the plain payloads
	 * (a zero bias would be stored as a bitmask). */
	spz_tensor *b = spz_model_tensor(m, "fc.bias");
	for (int64_t i = 0; i < rows; i++)
		b->data[i] = (float)i + 0.5f;
	add_quantized(m, "q1", 13, 1, 2);
	add_quantized(m, "q3", 37, 3, 5);
	add_quantized(m, "q4", 9, 4, 16);
	add_quantized(m, "q8", 70, 8, 200);
	ck_assert_int_eq(spz_model_add_step(m, "gen", NULL, 0), 0);
	return m;
}

/* Writes bytes to dir/name and loads them. Every load is done twice,
 * the second time keeping bitmask payloads in the sparse form
 * (spz_input.keep_sparse): the same verdict and message, and, densified,
 * the same model, written back the same bytes. */
static int load_bytes(const char *dir, const void *b, size_t n,
                      spz_model **m, spz_error *err)
{
	char path[300];
	snprintf(path, sizeof path, "%s/x.spzm", dir);
	ck_assert_int_eq(tu_write_file(path, b, n), 0);
	*m = NULL;
	memset(err, 0, sizeof *err);
	int rc = spz_model_load(m, path, err);
	spz_input in;
	spz_model *k = NULL;
	spz_error ek = {0};
	int rk = spz_input_open(&in, path, &ek);
	if (!rk) {
		in.keep_sparse = 1;
		rk = spz_model_read(&k, &in, &ek);
		spz_input_close(&in);
	}
	ck_assert_int_eq(rk, rc);
	ck_assert_str_eq(ek.text, err->text);
	if (!rc) {
		size_t la, lb;
		unsigned char *wa = tu_model_bytes(*m, SPZ_FILE_SPZM, &la);
		unsigned char *wb = tu_model_bytes(k, SPZ_FILE_SPZM, &lb);
		ck_assert_uint_eq(la, lb);
		ck_assert(!memcmp(wa, wb, la));
		free(wa);
		free(wb);
		ck_assert_int_eq(spz_model_densify(k, &ek), 0);
		for (size_t i = 0; i < k->n_tensors; i++) {
			const spz_tensor *x = &(*m)->tensors[i];
			const spz_tensor *y = &k->tensors[i];
			size_t e = (size_t)spz_tensor_elements(x);
			ck_assert(x->codebook ? !memcmp(x->codes, y->codes, e)
			          : !x->data || !memcmp(x->data, y->data, 4 * e));
		}
	}
	spz_model_free(k);
	return rc;
}

/* Builds a .spzm from a manifest and a data area (header, CRC, padding). */
static unsigned char *build(const char *man, const void *data, size_t dlen,
                            size_t *len)
{
	size_t ml = strlen(man), start = (32 + ml + 63) / 64 * 64;
	unsigned char *b = calloc(start + dlen + 1, 1);
	memcpy(b, SPZ_SPZM_MAGIC, 8);
	put32(b + 8, 1);
	put32(b + 16, (uint32_t)ml);
	put32(b + 24, spz_crc32(0, man, ml));
	memcpy(b + 32, man, ml);
	memcpy(b + start, data, dlen);
	*len = start + dlen;
	return b;
}

/* The manifest (malloc'd string) and data area of a .spzm in memory. */
static char *split(const unsigned char *b, size_t len, const unsigned char **data,
                   size_t *dlen)
{
	size_t ml = le32(b + 16), start = (32 + ml + 63) / 64 * 64;
	char *man = malloc(ml + 1);
	memcpy(man, b + 32, ml);
	man[ml] = 0;
	*data = b + start;
	*dlen = len - start;
	return man;
}

/* Replaces the first `from` in s by `to` (new malloc'd string). */
static char *replace(const char *s, const char *from, const char *to)
{
	const char *p = strstr(s, from);
	ck_assert_ptr_nonnull(p);
	size_t n = strlen(s) - strlen(from) + strlen(to) + 1;
	char *r = malloc(n);
	snprintf(r, n, "%.*s%s%s", (int)(p - s), s, to, p + strlen(from));
	return r;
}

START_TEST(layout_and_round_trip)
{
	spz_model *m = test_model(5, 7);
	size_t len;
	unsigned char *b = tu_model_bytes(m, SPZ_FILE_SPZM, &len);
	ck_assert(!memcmp(b, "SPZM\r\n\032\n", 8));
	ck_assert_uint_eq(le32(b + 8), 1);
	ck_assert_uint_eq(le32(b + 12), 0);
	ck_assert_uint_eq(le32(b + 20), 0);
	ck_assert_uint_eq(le32(b + 28), 0);
	size_t ml = le32(b + 16), start = (32 + ml + 63) / 64 * 64;
	ck_assert_uint_eq(le32(b + 24), crc32(0, b + 32, (uInt)ml));
	for (size_t i = 32 + ml; i < start; i++)
		ck_assert_uint_eq(b[i], 0);
	/* The first payload (fc.weight) starts the data area, 64-aligned,
	 * little-endian float32, and its CRC is zlib's. */
	const spz_tensor *w = spz_model_tensor(m, "fc.weight");
	unsigned char le[4];
	uint32_t u;
	memcpy(&u, &w->data[3], 4);
	put32(le, u);
	ck_assert(!memcmp(b + start + 12, le, 4));
	char *man = (char *)b + 32;
	char want[64];
	snprintf(want, sizeof want, "\"crc32\": %lu}",
	         (unsigned long)crc32(0, b + start, 35 * 4));
	ck_assert(strstr(man, want));
	ck_assert(strstr(man, "\"offset\": 0, \"length\": 140"));
	/* fc.bias next at 192, then the quantized ones; ends right after. */
	ck_assert(strstr(man, "\"offset\": 192, \"length\": 20"));
	/* q8: 70 codes of 8 bits, the last payload. */
	ck_assert(strstr(man, "\"length\": 70,"));
	ck_assert_uint_eq((len - 70 - start) % 64, 0);

	char dir[256];
	tu_tmpdir(dir, sizeof dir);
	spz_model *back;
	spz_error err;
	ck_assert_int_eq(load_bytes(dir, b, len, &back, &err), 0);
	ck_assert_uint_eq(back->n_tensors, m->n_tensors);
	for (size_t i = 0; i < m->n_tensors; i++) {
		const spz_tensor *s = &m->tensors[i], *t = &back->tensors[i];
		int64_t n = spz_tensor_elements(s);
		ck_assert_str_eq(s->name, t->name);
		for (int64_t k = 0; k < n; k++)
			ck_assert(spz_tensor_value(s, k) == spz_tensor_value(t, k));
		if (s->codebook) {
			ck_assert_int_eq(s->bits, t->bits);
			ck_assert(!memcmp(s->codes, t->codes, (size_t)n));
		}
	}
	/* Packing is LSB-first: q1's codes are i*7 mod 2 = 0,1,0,1,... */
	const char *q1 = strstr(man, "\"name\": \"q1\"");
	unsigned long off = strtoul(strstr(q1, "\"offset\": ") + 10, NULL, 10);
	ck_assert_uint_eq(b[start + off], 0xaa);
	ck_assert_uint_eq(b[start + off + 1], 0x0a);
	free(b);
	spz_model_free(back);
	spz_model_free(m);
}
END_TEST

START_TEST(json_and_spzm_round_trips_are_byte_identical)
{
	spz_model *m = test_model(9, 11);
	size_t lj, ls, lj2, ls2;
	unsigned char *j = tu_model_bytes(m, SPZ_FILE_JSON, &lj);
	unsigned char *s = tu_model_bytes(m, SPZ_FILE_SPZM, &ls);
	char dir[256], path[300];
	tu_tmpdir(dir, sizeof dir);
	spz_model *a, *b;
	snprintf(path, sizeof path, "%s/a.json", dir);
	ck_assert_int_eq(tu_write_file(path, j, lj), 0);
	ck_assert_int_eq(spz_model_load(&a, path, NULL), 0);
	unsigned char *s2 = tu_model_bytes(a, SPZ_FILE_SPZM, &ls2);
	snprintf(path, sizeof path, "%s/b.spzm", dir);
	ck_assert_int_eq(tu_write_file(path, s, ls), 0);
	ck_assert_int_eq(spz_model_load(&b, path, NULL), 0);
	unsigned char *j2 = tu_model_bytes(b, SPZ_FILE_JSON, &lj2);
	/* JSON -> spzm -> JSON and spzm -> JSON -> spzm. */
	ck_assert_uint_eq(ls, ls2);
	ck_assert(!memcmp(s, s2, ls));
	ck_assert_uint_eq(lj, lj2);
	ck_assert(!memcmp(j, j2, lj));
	free(j);
	free(j2);
	free(s);
	free(s2);
	spz_model_free(a);
	spz_model_free(b);
	spz_model_free(m);
}
END_TEST

/* Which section truncation at `at` bytes falls in, as the message says. */
static const char *section_at(const char *man, size_t ml, size_t at,
                              char *buf, size_t n)
{
	size_t start = (32 + ml + 63) / 64 * 64;
	if (at < 32)
		return "header";
	if (at < 32 + ml)
		return "manifest";
	if (at < start)
		return "padding after the manifest";
	const char *p = man;
	while ((p = strstr(p, "{\"name\": \""))) {
		p += 10;
		const char *q = strchr(p, '"');
		unsigned long off = strtoul(strstr(q, "\"offset\": ") + 10, NULL,
		                            10);
		unsigned long len = strtoul(strstr(q, "\"length\": ") + 10, NULL,
		                            10);
		if (at < start + off) {
			snprintf(buf, n, "padding before tensor '%.*s'",
			         (int)(q - p), p);
			return buf;
		}
		if (at < start + off + len) {
			snprintf(buf, n, "tensor '%.*s' (%lu of %lu bytes)",
			         (int)(q - p), p,
			         (unsigned long)(at - start - off), len);
			return buf;
		}
	}
	return NULL;
}

START_TEST(truncation_anywhere_names_the_section)
{
	spz_model *m = test_model(3, 5);
	size_t len;
	unsigned char *b = tu_model_bytes(m, SPZ_FILE_SPZM, &len);
	size_t ml = le32(b + 16);
	char *man = malloc(ml + 1);
	memcpy(man, b + 32, ml);
	man[ml] = 0;
	char dir[256];
	tu_tmpdir(dir, sizeof dir);
	int seen[6] = {0};
	for (size_t at = 0; at < len; at++) {
		spz_model *back;
		spz_error err;
		char buf[128], want[160];
		ck_assert_int_eq(load_bytes(dir, b, at, &back, &err), SPZ_EFORMAT);
		ck_assert_ptr_null(back);
		if (at == 0) {
			ck_assert(strstr(err.text, "x.spzm': empty file"));
			continue;
		}
		const char *sec = section_at(man, ml, at, buf, sizeof buf);
		ck_assert_ptr_nonnull(sec);
		snprintf(want, sizeof want, "x.spzm': truncated in %s", sec);
		ck_assert_msg(strstr(err.text, want), "at %zu: %s (wanted %s)",
		              at, err.text, want);
		seen[!strcmp(sec, "header") ? 0 : !strcmp(sec, "manifest") ? 1
		     : !strncmp(sec, "padding after", 13) ? 2
		     : !strncmp(sec, "padding before", 14) ? 3
		     : strstr(sec, "'q") ? 4 : 5] = 1;
	}
	for (int i = 0; i < 6; i++)
		ck_assert_msg(seen[i], "section %d never cut", i);
	free(man);
	free(b);
	spz_model_free(m);
}
END_TEST

START_TEST(header_refusals)
{
	spz_model *m = test_model(2, 2);
	size_t len;
	unsigned char *b = tu_model_bytes(m, SPZ_FILE_SPZM, &len);
	char dir[256];
	tu_tmpdir(dir, sizeof dir);
	struct {
		size_t at;
		uint32_t v;
		int code;
		const char *msg;
	} cases[] = {
		{4, 0x0a0a0a0a, SPZ_EFORMAT, "not a .spzm file (wrong magic"},
		{0, 0x4d5a5053 ^ 1, SPZ_EFORMAT, "not an spz model"},
		{8, 3, SPZ_EVERSION,
		 ".spzm version 3 is not supported (this spz reads versions 1 "
		 "and 2)"},
		{12, 2, SPZ_EFORMAT, "header flags 0x2 are not supported"},
		{12, 1, SPZ_EFORMAT,
		 "header flag 1 is set but no tensor has an \"encoding\""},
		{28, 5, SPZ_EFORMAT, "corrupt header (reserved field is not 0)"},
		{20, 1, SPZ_EFORMAT, "corrupt header (manifest length 42949"},
		{24, 12345, SPZ_ECRC, "manifest CRC mismatch"},
		{40, 0x20202020, SPZ_ECRC, "manifest CRC mismatch"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		unsigned char *c = malloc(len);
		memcpy(c, b, len);
		put32(c + cases[i].at, cases[i].v);
		spz_model *back;
		spz_error err;
		ck_assert_int_eq(load_bytes(dir, c, len, &back, &err),
		                 cases[i].code);
		ck_assert_msg(strstr(err.text, cases[i].msg), "case %zu: %s", i,
		              err.text);
		ck_assert(strstr(err.text, "x.spzm'"));
		free(c);
	}
	free(b);
	spz_model_free(m);
}
END_TEST

START_TEST(payload_and_layout_refusals)
{
	spz_model *m = test_model(4, 5); /* fc.weight 80 bytes, bias at 128 */
	size_t len, dlen;
	unsigned char *b = tu_model_bytes(m, SPZ_FILE_SPZM, &len);
	const unsigned char *data;
	char *man = split(b, len, &data, &dlen);
	char dir[256];
	tu_tmpdir(dir, sizeof dir);
	spz_model *back;
	spz_error err;
	unsigned char *c = malloc(len + 64);

	/* A flipped bit in a payload: CRC mismatch naming the tensor. */
	memcpy(c, b, len);
	c[len - dlen + 128 + 5] ^= 0x10;
	ck_assert_int_eq(load_bytes(dir, c, len, &back, &err), SPZ_ECRC);
	ck_assert(strstr(err.text, "x.spzm': tensor 'fc.bias': CRC mismatch"));
	/* A non-zero byte in padding (outside every CRC). */
	memcpy(c, b, len);
	c[len - dlen + 100] = 1;
	ck_assert_int_eq(load_bytes(dir, c, len, &back, &err), SPZ_EFORMAT);
	ck_assert(strstr(err.text, "non-zero byte in the padding before "
	                 "tensor 'fc.bias'"));
	/* Trailing bytes. */
	memcpy(c, b, len);
	c[len] = 0;
	ck_assert_int_eq(load_bytes(dir, c, len + 1, &back, &err), SPZ_EFORMAT);
	ck_assert(strstr(err.text, "trailing bytes after the last tensor"));

	struct {
		const char *from, *to;
		const char *msg;
	} cases[] = {
		{"\"offset\": 128", "\"offset\": 192",
		 "tensor 'fc.bias': offset 192 is not the next 64-byte boundary"},
		{"\"offset\": 128", "\"offset\": 96",
		 "tensor 'fc.bias': offset 96 is not the next 64-byte boundary"},
		{"\"offset\": 128", "\"offset\": 0",
		 "tensor 'fc.bias': offset 0 is not the next"},
		{"\"length\": 80", "\"length\": 76",
		 "tensor 'fc.weight': length 76 differs from the 80 bytes"},
		{"\"offset\": 0", "\"offset\": \"0\"",
		 "tensor 0: \"offset\" must be an integer"},
		{"\"crc32\": ", "\"crc\": ", "initializer 0: unknown key \"crc\""},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *bad = replace(man, cases[i].from, cases[i].to);
		size_t bl;
		unsigned char *f = build(bad, data, dlen, &bl);
		ck_assert_int_eq(load_bytes(dir, f, bl, &back, &err), SPZ_EFORMAT);
		ck_assert_msg(strstr(err.text, cases[i].msg), "case %zu: %s", i,
		              err.text);
		free(f);
		free(bad);
	}
	free(c);
	free(man);
	free(b);
	spz_model_free(m);
}
END_TEST

/* Loads a copy of a .spzm whose data area is now d (the payload at
 * [off, off + n) changed), with the manifest's crc32 for it updated so
 * that only the value checks can object. */
static int load_with_payload(const char *dir, const char *man,
                             const unsigned char *data,
                             const unsigned char *d, size_t dlen, size_t off,
                             size_t n, spz_error *err)
{
	char old[64], new[64];
	snprintf(old, sizeof old, "\"crc32\": %lu",
	         (unsigned long)crc32(0, data + off, (uInt)n));
	snprintf(new, sizeof new, "\"crc32\": %lu",
	         (unsigned long)crc32(0, d + off, (uInt)n));
	char *bad = replace(man, old, new);
	size_t bl;
	unsigned char *f = build(bad, d, dlen, &bl);
	spz_model *back;
	int rc = load_bytes(dir, f, bl, &back, err);
	spz_model_free(back);
	free(f);
	free(bad);
	return rc;
}

START_TEST(bad_values_with_good_crc)
{
	/* A 300x300 weight spans two read chunks: index 70000 is in the
	 * second, so the message must carry the whole-tensor index. */
	spz_model *m = test_model(300, 300);
	size_t len, dlen;
	unsigned char *b = tu_model_bytes(m, SPZ_FILE_SPZM, &len);
	const unsigned char *data;
	char *man = split(b, len, &data, &dlen);
	unsigned char *d = malloc(dlen);
	char dir[256];
	tu_tmpdir(dir, sizeof dir);
	struct {
		int64_t index;
		uint32_t bits;
		const char *msg;
	} cases[] = {
		{5, 0x7fc00000, "tensor 'fc.weight': NaN value at index 5"},
		{70000, 0xff800000,
		 "tensor 'fc.weight': infinite value at index 70000"},
		{89999, 0x7f800001, "tensor 'fc.weight': NaN value at index 89999"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		memcpy(d, data, dlen);
		put32(d + 4 * cases[i].index, cases[i].bits);
		spz_error err;
		ck_assert_int_eq(load_with_payload(dir, man, data, d, dlen, 0,
		                                   360000, &err), SPZ_ERANGE);
		ck_assert_msg(strstr(err.text, cases[i].msg), "%s", err.text);
	}
	/* A code outside its codebook: q3 has 5 entries at 3 bits; set
	 * code 2 (bits 6..8) to 7. */
	const char *q3 = strstr(man, "\"name\": \"q3\"");
	unsigned long off = strtoul(strstr(q3, "\"offset\": ") + 10, NULL, 10);
	memcpy(d, data, dlen);
	d[off] |= 0xc0;
	d[off + 1] |= 0x01;
	spz_error err;
	ck_assert_int_eq(load_with_payload(dir, man, data, d, dlen, off, 14,
	                                   &err), SPZ_ERANGE);
	ck_assert_msg(strstr(err.text, "x.spzm': tensor 'q3': code 7 at index 2 "
	                     "is outside the codebook of 5"), "%s", err.text);
	/* And among codes checked 16 at a time: q8's code 40 (plain 8-bit
	 * codes, a byte each) made 200, its codebook's size. */
	const char *q8 = strstr(man, "\"name\": \"q8\"");
	off = strtoul(strstr(q8, "\"offset\": ") + 10, NULL, 10);
	memcpy(d, data, dlen);
	d[off + 40] = 200;
	ck_assert_int_eq(load_with_payload(dir, man, data, d, dlen, off, 70,
	                                   &err), SPZ_ERANGE);
	ck_assert_msg(strstr(err.text, "x.spzm': tensor 'q8': code 200 at "
	                     "index 40 is outside the codebook of 200"), "%s",
	              err.text);
	/* The writer refuses a NaN before writing a byte. */
	m->tensors[0].data[7] = NAN;
	char *buf = NULL;
	size_t n = 0;
	FILE *mf = open_memstream(&buf, &n);
	ck_assert_int_eq(spz_model_write(mf, m, SPZ_FILE_SPZM, &err),
	                 SPZ_ERANGE);
	fclose(mf);
	ck_assert_uint_eq(n, 0);
	ck_assert_str_eq(err.text, "tensor 'fc.weight': NaN value at index 7");
	free(buf);
	free(d);
	free(man);
	free(b);
	spz_model_free(m);
}
END_TEST

/* Loads `len` bytes of b through a pipe on stdin, written by a child. */
static int load_from_pipe(const unsigned char *b, size_t len, spz_model **m,
                          spz_error *err)
{
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(p[0]);
		size_t off = 0;
		while (off < len) {
			ssize_t k = write(p[1], b + off, len - off);
			if (k <= 0)
				_exit(1);
			off += (size_t)k;
		}
		_exit(0);
	}
	close(p[1]);
	int saved = dup(0);
	ck_assert_int_eq(dup2(p[0], 0), 0);
	close(p[0]);
	int rc = spz_model_load(m, "-", err);
	dup2(saved, 0);
	close(saved);
	int status;
	waitpid(pid, &status, 0);
	return rc;
}

START_TEST(reads_from_a_pipe)
{
	spz_model *m = test_model(300, 400); /* 480 KB: many pipe refills */
	size_t len;
	unsigned char *b = tu_model_bytes(m, SPZ_FILE_SPZM, &len);
	spz_model *back;
	spz_error err = {0};
	ck_assert_int_eq(load_from_pipe(b, len, &back, &err), 0);
	ck_assert(!memcmp(back->tensors[0].data, m->tensors[0].data,
	                  300 * 400 * sizeof(float)));
	spz_model_free(back);
	ck_assert_int_eq(load_from_pipe(b, len - 10, &back, &err), SPZ_EFORMAT);
	ck_assert(strstr(err.text, "'<stdin>': truncated in tensor 'q8' "
	                 "(60 of 70 bytes)"));
	size_t lj;
	unsigned char *j = tu_model_bytes(m, SPZ_FILE_JSON, &lj);
	ck_assert_int_eq(load_from_pipe(j, lj, &back, &err), 0);
	spz_model_free(back);
	free(j);
	free(b);
	spz_model_free(m);
}
END_TEST

START_TEST(crc32_matches_zlib)
{
	unsigned char *buf = malloc(5000);
	spz_rng r;
	spz_rng_seed(&r, 11);
	for (int i = 0; i < 5000; i++)
		buf[i] = (unsigned char)spz_rng_next(&r);
	/* Every length through both folding paths and the zlib tail, at
	 * several alignments and starting CRCs. */
	for (size_t n = 0; n <= 1100; n++)
		for (size_t a = 0; a < 3; a++) {
			uint32_t c0 = (uint32_t)(n * 2654435761u);
			ck_assert_uint_eq(spz_crc32(c0, buf + a, n),
			                  crc32_z(c0, buf + a, n));
		}
	ck_assert_uint_eq(spz_crc32(0, buf, 5000), crc32_z(0, buf, 5000));
	/* Continuing a CRC over pieces gives the CRC of the whole. */
	uint32_t c = spz_crc32(0, buf, 1000);
	c = spz_crc32(c, buf + 1000, 4000);
	ck_assert_uint_eq(c, crc32_z(0, buf, 5000));
	free(buf);
}
END_TEST

/* A small Gemm, then "big" (2^18 floats: 1 MiB, written to files the
 * streamed way), then a quantized tensor. */
static spz_model *streamed_model(void)
{
	float w[6] = {1, 2, 3, 4, 5, 6};
	spz_model *m = tu_gemm_model(2, 3, w);
	spz_model_tensor(m, "fc.bias")->data[0] = 1;
	spz_model_tensor(m, "fc.bias")->data[1] = 2;
	int64_t n = INT64_C(1) << 18;
	spz_tensor *t;
	ck_assert_int_eq(spz_model_add_tensor(&t, m, "big", &n, 1, NULL, NULL),
	                 0);
	for (int64_t i = 0; i < n; i++)
		t->data[i] = (float)(i % 89) * 0.5f - 20.0f;
	add_quantized(m, "q4", 9, 4, 16);
	return m;
}

/* Saves m to path (expecting success) and returns the file's bytes. */
static unsigned char *save_and_read(const spz_model *m, const char *path,
                                    size_t *len)
{
	spz_error err = {0};
	ck_assert_msg(spz_model_save(m, path, SPZ_FILE_SPZM, &err) == 0, "%s",
	              err.text);
	unsigned char *b = (unsigned char *)tu_read_file(path, len);
	ck_assert_ptr_nonnull(b);
	return b;
}

/* The error of writing m to memory (the two-pass way) and to a file (the
 * streamed way) is the same, and leaves no file. */
static void expect_refused_alike(const spz_model *m, const char *path,
                                 const char *part)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	spz_error e1 = {0}, e2 = {0};
	ck_assert_int_eq(spz_model_write(f, m, SPZ_FILE_SPZM, &e1), SPZ_ERANGE);
	fclose(f);
	ck_assert_uint_eq(len, 0);
	free(buf);
	ck_assert_msg(strstr(e1.text, part), "'%s' lacks '%s'", e1.text, part);
	ck_assert_int_eq(spz_model_save(m, path, SPZ_FILE_SPZM, &e2),
	                 SPZ_ERANGE);
	ck_assert_msg(strstr(e2.text, e1.text), "'%s' vs '%s'", e2.text,
	              e1.text);
	ck_assert_int_ne(access(path, F_OK), 0);
}

/*
 * A big dense tensor written to a file is checked, CRCed and written in
 * one pass, the header and manifest last: the bytes must be those of the
 * two-pass write (to memory, which cannot seek) for every manifest length
 * modulo 64, including those where the CRC's digits move the data area
 * (it is then written again); at an offset in a file; refusals alike.
 */
START_TEST(big_tensors_are_streamed_into_files)
{
	spz_model *m = streamed_model();
	spz_tensor *big = spz_model_tensor(m, "big");
	/* A CRC of 9 digits, so that one name length below has the data
	 * area start one block earlier than 10 digits would. */
	uint32_t crc = 0;
	for (int k = 0; k < 200; k++) {
		big->data[0] = (float)k * 0.125f;
		crc = spz_crc32(0, big->data, (size_t)1 << 20);
		if (crc >= 100000000u && crc < 1000000000u)
			break;
	}
	ck_assert(crc >= 100000000u && crc < 1000000000u);
	char dir[256], path[300];
	tu_tmpdir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/s.spzm", dir);
	int moved = 0;
	for (int x = 0; x < 64; x++) {
		char name[80];
		snprintf(name, sizeof name, "m%.*s", x,
		         "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz"
		         "abcdefghijklmnopqrstuvwxyz");
		free(m->name);
		m->name = strdup(name);
		size_t n1, n2;
		unsigned char *b1 = tu_model_bytes(m, SPZ_FILE_SPZM, &n1);
		unsigned char *b2 = save_and_read(m, path, &n2);
		ck_assert_uint_eq(n1, n2);
		ck_assert_msg(!memcmp(b1, b2, n1), "name length %d differs",
		              x + 1);
		moved += (32 + le32(b1 + 16)) % 64 == 0;
		free(b1);
		free(b2);
	}
	ck_assert_int_eq(moved, 1);
	/* Behind other bytes of a file, and appended to one. */
	size_t n1, n2;
	unsigned char *b1 = tu_model_bytes(m, SPZ_FILE_SPZM, &n1);
	for (int append = 0; append < 2; append++) {
		ck_assert_int_eq(tu_write_file(path, "PREFIX", 6), 0);
		FILE *f = fopen(path, append ? "ab" : "r+b");
		ck_assert_ptr_nonnull(f);
		if (!append)
			ck_assert_int_eq(fseek(f, 6, SEEK_SET), 0);
		spz_error err = {0};
		ck_assert_msg(spz_model_write(f, m, SPZ_FILE_SPZM, &err) == 0,
		              "%s", err.text);
		ck_assert_int_eq(fclose(f), 0);
		unsigned char *b2 = (unsigned char *)tu_read_file(path, &n2);
		ck_assert_uint_eq(n2, n1 + 6);
		ck_assert(!memcmp(b2, "PREFIX", 6) && !memcmp(b2 + 6, b1, n1));
		free(b2);
	}
	/* A NaN in the streamed tensor (at the ends of its pieces, and
	 * late): refused as before, and a file written into is cut back to
	 * what it held. */
	static const int64_t at[] = {65535, 65536, 262143, 200000};
	for (int k = 0; k < 4; k++) {
		float keep = big->data[at[k]];
		big->data[at[k]] = NAN;
		ck_assert_int_eq(tu_write_file(path, "PREFIX", 6), 0);
		FILE *f = fopen(path, "r+b");
		ck_assert_int_eq(fseek(f, 6, SEEK_SET), 0);
		spz_error err = {0};
		ck_assert_int_eq(spz_model_write(f, m, SPZ_FILE_SPZM, &err),
		                 SPZ_ERANGE);
		char want[64];
		snprintf(want, sizeof want, "NaN value at index %lld",
		         (long long)at[k]);
		ck_assert_msg(strstr(err.text, want), "%s", err.text);
		ck_assert_int_eq(fclose(f), 0);
		unsigned char *b2 = (unsigned char *)tu_read_file(path, &n2);
		ck_assert_uint_eq(n2, 6);
		free(b2);
		if (k < 3)
			big->data[at[k]] = keep;
	}
	remove(path);
	expect_refused_alike(m, path, "tensor 'big': NaN value at index 200000");
	/* With a later tensor also bad, the streamed one is named first;
	 * alone, the later one; an earlier one comes before both. */
	spz_tensor *q = spz_model_tensor(m, "q4");
	q->codes[3] = 200;
	expect_refused_alike(m, path, "tensor 'big': NaN value at index 200000");
	big->data[200000] = 1;
	expect_refused_alike(m, path, "tensor 'q4': code 200 at index 3");
	big->data[5] = INFINITY;
	spz_model_tensor(m, "fc.weight")->data[4] = NAN;
	expect_refused_alike(m, path, "tensor 'fc.weight': NaN value at index 4");
	free(b1);
	remove(dir);
	spz_model_free(m);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Bitmask payloads                                                    */

/* Builds a .spzm like build() with the header flags given. */
static unsigned char *build_flags(const char *man, const void *data,
                                  size_t dlen, uint32_t flags, size_t *len)
{
	unsigned char *b = build(man, data, dlen, len);
	put32(b + 12, flags);
	return b;
}

/* "name" [rows, cols] with about one element in ten non-zero, some of
 * them -0.0 (a value, stored), the rest +0.0. */
static void add_sparse(spz_model *m, const char *name, int64_t rows,
                       int64_t cols)
{
	int64_t d[2] = {rows, cols};
	spz_tensor *t;
	ck_assert_int_eq(spz_model_add_tensor(&t, m, name, d, 2, NULL, NULL),
	                 0);
	for (int64_t i = 0; i < rows * cols; i++)
		t->data[i] = i % 10 == 3 ? (float)(i % 13) - 6.5f
		             : i % 37 == 1 ? -0.0f : 0.0f;
}

/* Everything the encodings meet: a sparse weight (-0.0 in it), a bias
 * of zeros only, a tensor without zeros, an empty one, 4-bit codes that
 * are mostly 0 and 8-bit codes without a 0. Element counts are not
 * multiples of 64. */
static spz_model *sparse_model(void)
{
	spz_model *m;
	ck_assert_int_eq(spz_model_new(&m, "sparse"), 0);
	add_sparse(m, "w", 30, 47);
	int64_t n = 30, e = 0, d2[2] = {7, 11};
	spz_tensor *t;
	ck_assert_int_eq(spz_model_add_tensor(&t, m, "zeros", &n, 1, NULL,
	                                      NULL), 0);
	ck_assert_int_eq(spz_model_add_tensor(&t, m, "full", d2, 2, NULL,
	                                      NULL), 0);
	for (int64_t i = 0; i < 77; i++)
		t->data[i] = i % 2 ? -1.0f - (float)i : 1e-30f * (float)i + 1e-38f;
	ck_assert_int_eq(spz_model_add_tensor(&t, m, "empty", &e, 1, NULL,
	                                      NULL), 0);
	int64_t nq = 1000;
	ck_assert_int_eq(spz_model_add_tensor(&t, m, "q", &nq, 1, NULL, NULL),
	                 0);
	float *book = malloc(16 * sizeof *book);
	uint8_t *codes = malloc((size_t)nq);
	for (int k = 0; k < 16; k++)
		book[k] = (float)k * 0.25f;
	for (int64_t i = 0; i < nq; i++)
		codes[i] = i % 9 == 4 ? (uint8_t)(1 + i % 15) : 0;
	spz_tensor_set_quantized(t, 4, book, 16, codes);
	add_quantized(m, "q8", 70, 8, 200);
	spz_model_tensor(m, "q8")->codes[0] = 5; /* the only code 0 */
	return m;
}

/* The manifest entry of tensor name (from its "name" key on). */
static const char *entry(const char *man, const char *name)
{
	char key[80];
	snprintf(key, sizeof key, "\"name\": \"%s\"", name);
	const char *p = strstr(man, key);
	ck_assert_ptr_nonnull(p);
	return p;
}

/* Whether the entry of name says "encoding": "bitmask" (before the
 * next entry). */
static int is_bitmask(const char *man, const char *name)
{
	const char *p = entry(man, name), *end = strstr(p + 1, "\"name\": ");
	const char *e = strstr(p, "\"encoding\": \"bitmask\"");
	return e && (!end || e < end);
}

static unsigned long entry_number(const char *man, const char *name,
                                  const char *key)
{
	char k[40];
	snprintf(k, sizeof k, "\"%s\": ", key);
	return strtoul(strstr(entry(man, name), k) + strlen(k), NULL, 10);
}

START_TEST(sparse_payloads_round_trip_bit_exactly)
{
	spz_model *m = sparse_model();
	size_t len, dlen;
	unsigned char *b = tu_model_bytes(m, SPZ_FILE_SPZM, &len);
	const unsigned char *data;
	char *man = split(b, len, &data, &dlen);
	ck_assert_uint_eq(le32(b + 12), 1); /* header flag: encodings */
	/* Chosen per tensor, whenever smaller. */
	ck_assert(is_bitmask(man, "w"));
	ck_assert(is_bitmask(man, "zeros"));
	ck_assert(is_bitmask(man, "q"));
	ck_assert(!is_bitmask(man, "full"));
	ck_assert(!is_bitmask(man, "empty"));
	ck_assert(!is_bitmask(man, "q8"));
	/* w: 1410 elements, mask 23 words; non-zeros: i % 10 == 3 (141, of
	 * which 0 never: (i % 13) - 6.5 is not 0) plus the -0.0 at
	 * i % 37 == 1 where i % 10 != 3. */
	const spz_tensor *w = spz_model_tensor(m, "w");
	uint64_t nnz = 0;
	for (int64_t i = 0; i < 1410; i++) {
		uint32_t u;
		memcpy(&u, &w->data[i], 4);
		nnz += u != 0;
	}
	ck_assert_uint_eq(entry_number(man, "w", "length"), 23 * 8 + 4 * nnz);
	ck_assert_uint_eq(entry_number(man, "zeros", "length"), 8);
	/* q: 1000 codes, 16 mask words, 111 non-zero codes of 4 bits. */
	ck_assert_uint_eq(entry_number(man, "q", "length"), 16 * 8 + 56);
	/* The mask is LSB-first little-endian words: w's element 3 is the
	 * first non-zero, 13 the next; its value follows the mask. */
	unsigned long off = entry_number(man, "w", "offset");
	ck_assert_uint_eq(data[off], 0x08 | 0x02); /* i = 1 (-0.0), i = 3 */
	uint32_t u;
	memcpy(&u, &w->data[1], 4);
	ck_assert_uint_eq(u, 0x80000000u);
	ck_assert_uint_eq(le32(data + off + 23 * 8), 0x80000000u);
	memcpy(&u, &w->data[3], 4);
	ck_assert_uint_eq(le32(data + off + 23 * 8 + 4), u);

	char dir[256];
	tu_tmpdir(dir, sizeof dir);
	spz_model *back;
	spz_error err;
	ck_assert_msg(load_bytes(dir, b, len, &back, &err) == 0, "%s",
	              err.text);
	for (size_t i = 0; i < m->n_tensors; i++) {
		const spz_tensor *s = &m->tensors[i], *t = &back->tensors[i];
		size_t n = (size_t)spz_tensor_elements(s);
		ck_assert_str_eq(s->name, t->name);
		if (s->codebook)
			ck_assert(!memcmp(s->codes, t->codes, n));
		else
			ck_assert(!n || !memcmp(s->data, t->data, n * 4));
	}
	/* Through a pipe as from a file. */
	spz_model *piped;
	ck_assert_msg(load_from_pipe(b, len, &piped, &err) == 0, "%s",
	              err.text);
	ck_assert(!memcmp(piped->tensors[0].data, w->data, 1410 * 4));
	spz_model_free(piped);
	/* .spzm -> JSON -> .spzm gives the same bytes. */
	size_t lj, ls2;
	unsigned char *j = tu_model_bytes(back, SPZ_FILE_JSON, &lj);
	char path[300];
	snprintf(path, sizeof path, "%s/j.json", dir);
	ck_assert_int_eq(tu_write_file(path, j, lj), 0);
	spz_model *fromj;
	ck_assert_int_eq(spz_model_load(&fromj, path, NULL), 0);
	unsigned char *b2 = tu_model_bytes(fromj, SPZ_FILE_SPZM, &ls2);
	ck_assert_uint_eq(ls2, len);
	ck_assert(!memcmp(b, b2, len));
	free(b2);
	free(j);
	spz_model_free(fromj);
	spz_model_free(back);
	free(man);
	free(b);
	spz_model_free(m);
}
END_TEST

START_TEST(files_before_the_encodings_still_read)
{
	/* A plain file as spz wrote before the encodings (flags 0, a zero
	 * bias and a 91%-zero weight stored plain) reads unchanged, and is
	 * written back with bitmasks. */
	float w[12] = {0, 0, 0, 1.5f, 0, 0, 0, 0, 0, 0, -2, 0};
	char man[1024];
	snprintf(man, sizeof man,
	         "{\"format\": \"spz-model\", \"version\": 1, \"name\": \"old\", "
	         "\"inputs\": [\"input\"], \"outputs\": [\"output\"], "
	         "\"nodes\": [{\"op\": \"Gemm\", \"name\": \"fc\", \"inputs\": "
	         "[\"input\", \"fc.weight\", \"fc.bias\"], \"outputs\": "
	         "[\"output\"], \"attributes\": {\"transB\": 1}}], "
	         "\"initializers\": [{\"name\": \"fc.weight\", \"data_type\": 1, "
	         "\"dims\": [3, 4], \"offset\": 0, \"length\": 48, \"crc32\": %lu}, "
	         "{\"name\": \"fc.bias\", \"data_type\": 1, \"dims\": [3], "
	         "\"offset\": 64, \"length\": 12, \"crc32\": %lu}], "
	         "\"history\": []}",
	         (unsigned long)crc32(0, (const unsigned char *)w, 48),
	         (unsigned long)crc32(0, (const unsigned char *)"\0\0\0\0\0\0"
	                              "\0\0\0\0\0\0", 12));
	unsigned char d[76] = {0};
	memcpy(d, w, 48);
	size_t len;
	unsigned char *b = build(man, d, sizeof d, &len);
	char dir[256];
	tu_tmpdir(dir, sizeof dir);
	spz_model *m;
	spz_error err;
	ck_assert_msg(load_bytes(dir, b, len, &m, &err) == 0, "%s", err.text);
	ck_assert(!memcmp(spz_model_tensor(m, "fc.weight")->data, w, 48));
	ck_assert(spz_model_tensor(m, "fc.bias")->data[2] == 0);
	size_t l2;
	unsigned char *b2 = tu_model_bytes(m, SPZ_FILE_SPZM, &l2);
	ck_assert_uint_eq(le32(b2 + 12), 1);
	ck_assert(strstr((char *)b2 + 32, "\"encoding\": \"bitmask\""));
	free(b2);
	free(b);
	spz_model_free(m);
}
END_TEST

/* Loads the sparse model's file with tensor name's payload replaced by
 * the n bytes p (its length and CRC updated, the data area laid out
 * again) and the header flags given; returns the error code. */
static int load_with_sparse(const char *dir, const char *man,
                            const unsigned char *data, size_t dlen,
                            const char *name, const unsigned char *p,
                            size_t n, uint32_t flags, spz_error *err)
{
	unsigned long off = entry_number(man, name, "offset");
	unsigned long old = entry_number(man, name, "length");
	unsigned long crc = entry_number(man, name, "crc32");
	char from[160], to[160];
	snprintf(from, sizeof from, "\"offset\": %lu, \"length\": %lu, "
	         "\"crc32\": %lu", off, old, crc);
	snprintf(to, sizeof to, "\"offset\": %lu, \"length\": %zu, "
	         "\"crc32\": %lu", off, n, (unsigned long)crc32(0, p, (uInt)n));
	char *bad = replace(man, from, to);
	/* Only the last tensors may change length without moving others:
	 * the callers pick "q8"'s predecessors' sizes to stay inside the
	 * 64-byte slot, or the last payload. */
	size_t nl = off + n > dlen ? off + n : dlen;
	unsigned char *d = calloc(nl + 64, 1);
	memcpy(d, data, dlen);
	memset(d + off, 0, old);
	memcpy(d + off, p, n);
	size_t bl;
	unsigned char *f = build_flags(bad, d, nl, flags, &bl);
	spz_model *back;
	int rc = load_bytes(dir, f, bl, &back, err);
	spz_model_free(back);
	free(f);
	free(d);
	free(bad);
	return rc;
}

START_TEST(corrupt_sparse_payloads_are_refused)
{
	/* One sparse tensor, last in the file, so its payload can change
	 * length freely. */
	spz_model *m;
	ck_assert_int_eq(spz_model_new(&m, "s"), 0);
	add_sparse(m, "w", 10, 20); /* 200 elements: 4 mask words */
	size_t len, dlen;
	unsigned char *b = tu_model_bytes(m, SPZ_FILE_SPZM, &len);
	const unsigned char *data;
	char *man = split(b, len, &data, &dlen);
	ck_assert(is_bitmask(man, "w"));
	size_t n = entry_number(man, "w", "length");
	unsigned char *p = malloc(n + 64);
	char dir[256];
	tu_tmpdir(dir, sizeof dir);
	spz_error err;
	spz_model *back;
#define EXPECT(code, flags, want) do { \
		ck_assert_int_eq(load_with_sparse(dir, man, data, dlen, "w", \
		                                  p, pn, flags, &err), code); \
		ck_assert_msg(strstr(err.text, want), "%s", err.text); \
	} while (0)
	size_t pn = n;
	/* The file as written reads. */
	memcpy(p, data, n);
	ck_assert_int_eq(load_with_sparse(dir, man, data, dlen, "w", p, pn, 1,
	                                  &err), 0);
	/* A mask bit past element 199 (bit 8 of the last word). */
	p[3 * 8 + 1] |= 0x01;
	EXPECT(SPZ_EFORMAT, 1, "tensor 'w': its mask marks elements past "
	       "the last one");
	/* A mask bit more than the values: the count does not match. */
	memcpy(p, data, n);
	p[0] |= 0x01; /* element 0 */
	EXPECT(SPZ_EFORMAT, 1, "tensor 'w': ");
	ck_assert(strstr(err.text, "bytes of values where the"));
	/* A stored +0.0 the mask marks non-zero (element 3's value). */
	memcpy(p, data, n);
	memset(p + 32 + 4, 0, 4);
	EXPECT(SPZ_EFORMAT, 1, "tensor 'w': a zero stored at index 3, which "
	       "its mask marks non-zero");
	/* A NaN value: named by its element index. */
	memcpy(p, data, n);
	put32(p + 32 + 8, 0x7fc00000); /* the third non-zero: index 13 */
	EXPECT(SPZ_ERANGE, 1, "tensor 'w': NaN value at index 13");
	/* Header flag 0 with an encoding; the encoding not smaller. */
	memcpy(p, data, n);
	EXPECT(SPZ_EFORMAT, 0, "tensor 'w': an \"encoding\" needs header "
	       "flag 1");
	pn = 4;
	EXPECT(SPZ_EFORMAT, 1, "a bitmask payload of 4 bytes must hold its "
	       "32-byte mask");
	pn = n;
	/* Truncated inside the mask and inside the values. */
	for (size_t cut = 1; cut < n; cut += 37) {
		ck_assert_int_eq(load_bytes(dir, b, len - n + cut, &back, &err),
		                 SPZ_EFORMAT);
		ck_assert_msg(strstr(err.text, "truncated in tensor 'w'"), "%s",
		              err.text);
	}
	/* A flipped bit: the CRC is the message. */
	unsigned char *c = malloc(len);
	memcpy(c, b, len);
	c[len - n + 2] ^= 0x40;
	ck_assert_int_eq(load_bytes(dir, c, len, &back, &err), SPZ_ECRC);
	ck_assert(strstr(err.text, "tensor 'w': CRC mismatch"));
	/* An unknown encoding. */
	char *bad = replace(man, "\"bitmask\"", "\"rle\"");
	size_t bl;
	unsigned char *f = build_flags(bad, data, dlen, 1, &bl);
	ck_assert_int_eq(load_bytes(dir, f, bl, &back, &err), SPZ_EFORMAT);
	ck_assert_msg(strstr(err.text, "\"encoding\" must be \"bitmask\""),
	              "%s", err.text);
	free(f);
	free(bad);
	/* The writer refuses a NaN in a sparse tensor by its index. */
	m->tensors[0].data[13] = NAN;
	char *buf = NULL;
	size_t bn = 0;
	FILE *mf = open_memstream(&buf, &bn);
	ck_assert_int_eq(spz_model_write(mf, m, SPZ_FILE_SPZM, &err),
	                 SPZ_ERANGE);
	fclose(mf);
	ck_assert_uint_eq(bn, 0);
	ck_assert_str_eq(err.text, "tensor 'w': NaN value at index 13");
	free(buf);
#undef EXPECT
	free(c);
	free(p);
	free(man);
	free(b);
	spz_model_free(m);
}
END_TEST

START_TEST(sparse_codes_are_refused_when_wrong)
{
	/* q alone: 1000 4-bit codes, 111 non-zero. */
	spz_model *full = sparse_model(), *m;
	ck_assert_int_eq(spz_model_new(&m, "codes"), 0);
	const spz_tensor *q = spz_model_tensor(full, "q");
	int64_t nq = 1000;
	spz_tensor *t;
	ck_assert_int_eq(spz_model_add_tensor(&t, m, "q", &nq, 1, NULL, NULL),
	                 0);
	float *book = malloc(16 * sizeof *book);
	uint8_t *codes = malloc(1000);
	memcpy(book, q->codebook, 16 * sizeof *book);
	memcpy(codes, q->codes, 1000);
	/* A 13-entry codebook, so that a code can be outside it. */
	for (int i = 0; i < 1000; i++)
		codes[i] = codes[i] > 12 ? 12 : codes[i];
	spz_tensor_set_quantized(t, 4, book, 13, codes);
	size_t len, dlen;
	unsigned char *b = tu_model_bytes(m, SPZ_FILE_SPZM, &len);
	const unsigned char *data;
	char *man = split(b, len, &data, &dlen);
	ck_assert(is_bitmask(man, "q"));
	size_t n = entry_number(man, "q", "length");
	unsigned char *p = malloc(n);
	char dir[256];
	tu_tmpdir(dir, sizeof dir);
	spz_error err;
	/* The first non-zero code (index 4) made 0, then 14 (>= 13). */
	memcpy(p, data, n);
	p[128] &= 0xf0;
	ck_assert_int_eq(load_with_sparse(dir, man, data, dlen, "q", p, n, 1,
	                                  &err), SPZ_EFORMAT);
	ck_assert_msg(strstr(err.text, "a zero stored at index 4"), "%s",
	              err.text);
	p[128] |= 0x0e;
	ck_assert_int_eq(load_with_sparse(dir, man, data, dlen, "q", p, n, 1,
	                                  &err), SPZ_ERANGE);
	ck_assert_msg(strstr(err.text, "tensor 'q': code 14 at index 4 is "
	                     "outside the codebook of 13"), "%s", err.text);
	/* Among the stored codes checked 16 at a time: stored code 10
	 * (the low half of value byte 5) made 13, the codebook's size and
	 * so just outside it, then 0. */
	int64_t at = -1;
	for (int64_t i = 0, c = 0; i < nq && at < 0; i++)
		if (t->codes[i] && c++ == 10)
			at = i;
	ck_assert_int_gt(at, 10);
	char want[96];
	for (int z = 0; z < 2; z++) {
		memcpy(p, data, n);
		p[128 + 5] = (uint8_t)((p[128 + 5] & 0xf0) | (z ? 0 : 13));
		ck_assert_int_eq(load_with_sparse(dir, man, data, dlen, "q", p,
		                                  n, 1, &err),
		                 z ? SPZ_EFORMAT : SPZ_ERANGE);
		if (z)
			snprintf(want, sizeof want, "a zero stored at index "
			         "%lld,", (long long)at);
		else
			snprintf(want, sizeof want, "code 13 at index %lld is "
			         "outside the codebook of 13", (long long)at);
		ck_assert_msg(strstr(err.text, want), "%s", err.text);
	}
	free(p);
	free(man);
	free(b);
	spz_model_free(m);
	spz_model_free(full);
}
END_TEST

Suite *spzm_suite(void)
{
	Suite *s = suite_create("spzm");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, layout_and_round_trip);
	tcase_add_test(tc, json_and_spzm_round_trips_are_byte_identical);
	tcase_add_test(tc, truncation_anywhere_names_the_section);
	tcase_add_test(tc, header_refusals);
	tcase_add_test(tc, payload_and_layout_refusals);
	tcase_add_test(tc, bad_values_with_good_crc);
	tcase_add_test(tc, reads_from_a_pipe);
	tcase_add_test(tc, crc32_matches_zlib);
	tcase_add_test(tc, big_tensors_are_streamed_into_files);
	tcase_add_test(tc, sparse_payloads_round_trip_bit_exactly);
	tcase_add_test(tc, files_before_the_encodings_still_read);
	tcase_add_test(tc, corrupt_sparse_payloads_are_refused);
	tcase_add_test(tc, sparse_codes_are_refused_when_wrong);
	suite_add_tcase(s, tc);
	return s;
}
