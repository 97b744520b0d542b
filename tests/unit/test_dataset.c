/* test_dataset.c - the data-set readers: hand-made IDX and .npy files,
 * plain and gzip-compressed, --limit, and every refusal the format spec
 * lists (magic, header, dtype, Fortran order, truncation, disagreeing
 * counts, NaN, bad labels), and that a declared size is trusted only as
 * far as the bytes back it (plain files, gzip, pipes). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "testutil.h"

static char dir[512];

static void setup(void)
{
	tu_tmpdir(dir, sizeof dir);
}

static const char *path(const char *name)
{
	static char b[4][1024];
	static int k;
	k = (k + 1) % 4;
	snprintf(b[k], sizeof b[k], "%s/%s", dir, name);
	return b[k];
}

/* IDX header: type, dims big-endian, then the payload. */
static size_t idx(unsigned char *b, int type, const uint32_t *dims, int nd,
                  const void *payload, size_t len)
{
	b[0] = 0;
	b[1] = 0;
	b[2] = (unsigned char)type;
	b[3] = (unsigned char)nd;
	size_t k = 4;
	for (int i = 0; i < nd; i++) {
		b[k++] = (unsigned char)(dims[i] >> 24);
		b[k++] = (unsigned char)(dims[i] >> 16);
		b[k++] = (unsigned char)(dims[i] >> 8);
		b[k++] = (unsigned char)dims[i];
	}
	memcpy(b + k, payload, len);
	return k + len;
}

/* A version-1 .npy with the given header dict (padded as numpy pads). */
static size_t npy(unsigned char *b, const char *dict, const void *payload,
                  size_t len)
{
	size_t hl = strlen(dict) + 1;
	size_t pad = (64 - (10 + hl) % 64) % 64;
	memcpy(b, "\x93NUMPY\x01\x00", 8);
	size_t h = hl + pad;
	b[8] = (unsigned char)h;
	b[9] = (unsigned char)(h >> 8);
	memcpy(b + 10, dict, strlen(dict));
	memset(b + 10 + strlen(dict), ' ', pad);
	b[10 + h - 1] = '\n';
	memcpy(b + 10 + h, payload, len);
	return 10 + h + len;
}

static void write_gz(const char *p, const void *data, size_t len)
{
	gzFile g = gzopen(p, "wb");
	ck_assert_ptr_nonnull(g);
	ck_assert_int_eq(gzwrite(g, data, (unsigned)len), (int)len);
	ck_assert_int_eq(gzclose(g), Z_OK);
}

static const unsigned char pixels[2 * 2 * 3] = {0, 255, 51, 102, 0, 0,
                                                 1, 2, 3, 4, 5, 255};
static const unsigned char lab[2] = {3, 1};

/* DIR with t10k files of 2 images 2x3 (gz or plain). */
static void make_dir(int gz)
{
	unsigned char b[256];
	uint32_t d[3] = {2, 2, 3}, dl[1] = {2};
	size_t n = idx(b, 0x08, d, 3, pixels, sizeof pixels);
	if (gz)
		write_gz(path("t10k-images-idx3-ubyte.gz"), b, n);
	else
		ck_assert_int_eq(tu_write_file(path("t10k-images-idx3-ubyte"), b,
		                               n), 0);
	n = idx(b, 0x08, dl, 1, lab, 2);
	if (gz)
		write_gz(path("t10k-labels-idx1-ubyte.gz"), b, n);
	else
		ck_assert_int_eq(tu_write_file(path("t10k-labels-idx1-ubyte"), b,
		                               n), 0);
}

static void check_images(const spz_dataset *d)
{
	ck_assert_uint_eq(d->n, 2);
	ck_assert_uint_eq(d->features, 6);
	ck_assert_int_eq(d->ndims, 2);
	ck_assert_int_eq(d->dims[0], 2);
	ck_assert_int_eq(d->dims[1], 3);
	for (int i = 0; i < 12; i++)
		ck_assert_float_eq(d->x[i], (float)pixels[i] / 255.0f);
	ck_assert_float_eq(d->x[1], 1.0f);
	ck_assert_float_eq(d->x[2], 0.2f);
	ck_assert_int_eq(d->labels[0], 3);
	ck_assert_int_eq(d->labels[1], 1);
	ck_assert_int_eq(d->classes, 4);
}

START_TEST(idx_dir_plain_and_gzip)
{
	for (int gz = 0; gz < 2; gz++) {
		setup();
		make_dir(gz);
		spz_data_options o = SPZ_DATA_OPTIONS_INIT;
		o.dir = dir;
		spz_dataset *d = NULL;
		spz_error err = {0};
		ck_assert_msg(spz_dataset_load(&d, &o, &err) == 0, "%s", err.text);
		check_images(d);
		spz_dataset_free(d);
		/* --limit keeps the first samples only. */
		o.limit = 1;
		ck_assert_int_eq(spz_dataset_load(&d, &o, &err), 0);
		ck_assert_uint_eq(d->n, 1);
		ck_assert_int_eq(d->labels[0], 3);
		spz_dataset_free(d);
		/* A limit above the count takes them all. */
		o.limit = 10;
		ck_assert_int_eq(spz_dataset_load(&d, &o, &err), 0);
		ck_assert_uint_eq(d->n, 2);
		spz_dataset_free(d);
		o.split = "train";
		ck_assert_int_eq(spz_dataset_load(&d, &o, &err), SPZ_ENOTFOUND);
		ck_assert_msg(strstr(err.text, "no train-images-idx3-ubyte[.gz]"),
		              "%s", err.text);
	}
}
END_TEST

START_TEST(npy_inputs_and_labels)
{
	setup();
	unsigned char b[512];
	/* float32 (2, 1, 3), float64 (2, 3), uint8 (2, 3), labels int64. */
	float f[6] = {0.5f, -1.25f, 3, 0, 1e-3f, 7};
	double g[6] = {0.5, -1.25, 3, 0, 1e-3, 7};
	unsigned char u[6] = {0, 255, 51, 1, 2, 3};
	int64_t l8[2] = {0, 9};
	size_t n = npy(b, "{'descr': '<f4', 'fortran_order': False, 'shape': "
	                  "(2, 1, 3), }", f, sizeof f);
	ck_assert_int_eq(tu_write_file(path("x4.npy"), b, n), 0);
	n = npy(b, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3)}",
	        g, sizeof g);
	write_gz(path("x8.npy.gz"), b, n);
	n = npy(b, "{'shape': (2, 3), 'fortran_order': False, 'descr': '|u1'}",
	        u, sizeof u);
	ck_assert_int_eq(tu_write_file(path("xu.npy"), b, n), 0);
	n = npy(b, "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }",
	        l8, sizeof l8);
	ck_assert_int_eq(tu_write_file(path("y.npy"), b, n), 0);
	spz_data_options o = SPZ_DATA_OPTIONS_INIT;
	spz_dataset *d;
	spz_error err = {0};
	o.x = path("x4.npy");
	o.y = path("y.npy");
	ck_assert_msg(spz_dataset_load(&d, &o, &err) == 0, "%s", err.text);
	ck_assert_uint_eq(d->features, 3);
	ck_assert_int_eq(d->ndims, 2);
	ck_assert_int_eq(d->dims[0], 1);
	for (int i = 0; i < 6; i++)
		ck_assert_float_eq(d->x[i], f[i]);
	ck_assert_int_eq(d->labels[1], 9);
	ck_assert_int_eq(d->classes, 10);
	spz_dataset_free(d);
	o.x = path("x8.npy.gz");
	o.y = NULL;
	ck_assert_msg(spz_dataset_load(&d, &o, &err) == 0, "%s", err.text);
	for (int i = 0; i < 6; i++)
		ck_assert_float_eq(d->x[i], (float)g[i]);
	ck_assert_ptr_null(d->labels);
	ck_assert_int_eq(d->classes, 0);
	spz_dataset_free(d);
	o.x = path("xu.npy");
	ck_assert_int_eq(spz_dataset_load(&d, &o, &err), 0);
	ck_assert_float_eq(d->x[1], 1.0f);
	ck_assert_float_eq(d->x[2], 0.2f);
	spz_dataset_free(d);
	/* IDX labels with .npy inputs mix freely. */
	uint32_t dl = 2;
	n = idx(b, 0x08, &dl, 1, lab, 2);
	ck_assert_int_eq(tu_write_file(path("y.idx"), b, n), 0);
	o.y = path("y.idx");
	ck_assert_int_eq(spz_dataset_load(&d, &o, &err), 0);
	ck_assert_int_eq(d->labels[0], 3);
	spz_dataset_free(d);
}
END_TEST

/* Expects the load of x (and y) to fail with code and a message holding
 * want. */
static void refuse(const char *x, const char *y, int code, const char *want)
{
	spz_data_options o = SPZ_DATA_OPTIONS_INIT;
	o.x = x;
	o.y = y;
	spz_dataset *d = (spz_dataset *)&o;
	spz_error err = {0};
	int rc = spz_dataset_load(&d, &o, &err);
	ck_assert_msg(rc == code, "%s: rc %d (%s), wanted %d", x, rc, err.text,
	              code);
	ck_assert_msg(strstr(err.text, want), "'%s' lacks '%s'", err.text, want);
	ck_assert_ptr_eq(d, (spz_dataset *)&o);
}

START_TEST(bad_idx)
{
	setup();
	unsigned char b[256];
	uint32_t d[3] = {2, 2, 3}, dl = 2, dl3 = 3;
	size_t n = idx(b, 0x08, d, 3, pixels, sizeof pixels);
	ck_assert_int_eq(tu_write_file(path("x"), b, n), 0);
	ck_assert_int_eq(tu_write_file(path("short"), b, n - 1), 0);
	ck_assert_int_eq(tu_write_file(path("hdr"), b, 9), 0);
	ck_assert_int_eq(tu_write_file(path("long"), b, n + 1 > sizeof b ? n :
	                               n), 0);
	b[n] = 7;
	ck_assert_int_eq(tu_write_file(path("long"), b, n + 1), 0);
	refuse(path("short"), NULL, SPZ_EFORMAT, "truncated: sample 2 of 2");
	refuse(path("hdr"), NULL, SPZ_EFORMAT, "truncated in the IDX dimensions");
	refuse(path("long"), NULL, SPZ_EFORMAT, "data after the 2 samples");
	b[2] = 0x07;
	ck_assert_int_eq(tu_write_file(path("type"), b, n), 0);
	refuse(path("type"), NULL, SPZ_EFORMAT, "unknown IDX element type 0x07");
	b[2] = 0x08;
	b[0] = 1;
	ck_assert_int_eq(tu_write_file(path("magic"), b, n), 0);
	refuse(path("magic"), NULL, SPZ_EFORMAT, "wrong magic");
	ck_assert_int_eq(tu_write_file(path("empty"), b, 0), 0);
	refuse(path("empty"), NULL, SPZ_EFORMAT, "empty file");
	refuse(path("none"), NULL, SPZ_EIO, "No such file or directory");
	refuse(dir, NULL, SPZ_EIO, "Is a directory");
	/* Labels: wrong count, images given as labels, too many dims. */
	n = idx(b, 0x08, &dl3, 1, "\1\2\3", 3);
	ck_assert_int_eq(tu_write_file(path("y3"), b, n), 0);
	refuse(path("x"), path("y3"), SPZ_EFORMAT,
	       "holds 3 labels but");
	refuse(path("x"), path("x"), SPZ_EFORMAT,
	       "labels must be a 1-D array, not 2x2x3");
	n = idx(b, 0x08, &dl, 1, "\1", 1);
	ck_assert_int_eq(tu_write_file(path("yshort"), b, n), 0);
	refuse(path("x"), path("yshort"), SPZ_EFORMAT, "truncated: 1 labels of 2");
	/* A corrupt gzip stream. */
	n = idx(b, 0x08, d, 3, pixels, sizeof pixels);
	write_gz(path("x.gz"), b, n);
	size_t gl;
	char *gzb = tu_read_file(path("x.gz"), &gl);
	ck_assert_int_eq(tu_write_file(path("cut.gz"), gzb, gl - 12), 0);
	free(gzb);
	refuse(path("cut.gz"), NULL, SPZ_EFORMAT, "");
	/* float IDX with a NaN. */
	unsigned char fb[8] = {0x3f, 0x80, 0, 0, 0x7f, 0xc0, 0, 0};
	uint32_t df[2] = {2, 1};
	n = idx(b, 0x0D, df, 2, fb, 8);
	ck_assert_int_eq(tu_write_file(path("nan"), b, n), 0);
	refuse(path("nan"), NULL, SPZ_ERANGE, "sample 1, value 0 is NaN");
	/* no samples */
	uint32_t d0[2] = {0, 4};
	n = idx(b, 0x08, d0, 2, "", 0);
	ck_assert_int_eq(tu_write_file(path("zero"), b, n), 0);
	refuse(path("zero"), NULL, SPZ_EFORMAT, "no samples");
}
END_TEST

START_TEST(bad_npy)
{
	setup();
	unsigned char b[512];
	float f[2] = {1, 2};
	struct {
		const char *dict;
		int code;
		const char *want;
	} cases[] = {
		{"{'descr': '<f4', 'fortran_order': True, 'shape': (2,)}",
		 SPZ_EFORMAT, "Fortran-order"},
		{"{'descr': '<c8', 'fortran_order': False, 'shape': (2,)}",
		 SPZ_EFORMAT, "unsupported .npy dtype '<c8'"},
		{"{'descr': '>f4', 'fortran_order': False, 'shape': (2,)}",
		 SPZ_EFORMAT, "big-endian"},
		{"{'descr': '<i4', 'fortran_order': False, 'shape': (2,)}",
		 SPZ_EFORMAT, "inputs of type int32"},
		{"{'descr': '<f4', 'fortran_order': False}", SPZ_EFORMAT,
		 "bad .npy header"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}",
		 SPZ_EFORMAT, "bad .npy header"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': ()}",
		 SPZ_EFORMAT, "scalar"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (3,)}",
		 SPZ_EFORMAT, "truncated: sample 3 of 3"},
		{"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,)}",
		 SPZ_EFORMAT, "structured"},
		{"['descr']", SPZ_EFORMAT, "bad .npy header"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t n = npy(b, cases[i].dict, f, sizeof f);
		ck_assert_int_eq(tu_write_file(path("bad.npy"), b, n), 0);
		refuse(path("bad.npy"), NULL, cases[i].code, cases[i].want);
	}
	size_t n = npy(b, "{'descr': '<f4', 'fortran_order': False, 'shape': "
	                  "(2,)}", f, sizeof f);
	b[6] = 9;
	ck_assert_int_eq(tu_write_file(path("v.npy"), b, n), 0);
	refuse(path("v.npy"), NULL, SPZ_EVERSION, ".npy format version 9");
	/* Float64 beyond float32, infinity. */
	double g[2] = {1e300, 1};
	n = npy(b, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,)}", g,
	        sizeof g);
	ck_assert_int_eq(tu_write_file(path("big.npy"), b, n), 0);
	refuse(path("big.npy"), NULL, SPZ_ERANGE, "sample 0, value 0 is outside "
	       "float32");
	g[0] = -INFINITY;
	n = npy(b, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,)}", g,
	        sizeof g);
	ck_assert_int_eq(tu_write_file(path("inf.npy"), b, n), 0);
	refuse(path("inf.npy"), NULL, SPZ_ERANGE, "is infinite");
	/* Labels: float, negative. */
	n = npy(b, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", f,
	        sizeof f);
	ck_assert_int_eq(tu_write_file(path("x.npy"), b, n), 0);
	refuse(path("x.npy"), path("x.npy"), SPZ_EFORMAT,
	       "labels must be integers, not float32");
	int32_t neg[2] = {1, -1};
	n = npy(b, "{'descr': '<i4', 'fortran_order': False, 'shape': (2,)}",
	        neg, sizeof neg);
	ck_assert_int_eq(tu_write_file(path("neg.npy"), b, n), 0);
	refuse(path("x.npy"), path("neg.npy"), SPZ_ERANGE, "label 1 is -1");
	spz_data_options o = SPZ_DATA_OPTIONS_INIT;
	spz_dataset *d;
	ck_assert_int_eq(spz_dataset_load(&d, &o, NULL), SPZ_EINVAL);
	o.dir = path("x.npy");
	spz_error err = {0};
	ck_assert_int_eq(spz_dataset_load(&d, &o, &err), SPZ_EINVAL);
	ck_assert_msg(strstr(err.text, "is not a folder"), "%s", err.text);
}
END_TEST

/* Starts a child that writes len bytes of data into a pipe and returns
 * "/dev/fd/N" of the read end: the reader sees a stream of unknown size,
 * as from `cat x | spz ...`. */
static const char *pipe_of(const void *data, size_t len, pid_t *child)
{
	static char name[32];
	int fd[2];
	ck_assert_int_eq(pipe(fd), 0);
	*child = fork();
	ck_assert_int_ge(*child, 0);
	if (*child == 0) {
		close(fd[0]);
		for (size_t done = 0; done < len;) {
			ssize_t w = write(fd[1], (const char *)data + done,
			                  len - done);
			if (w <= 0)
				_exit(1);
			done += (size_t)w;
		}
		_exit(0);
	}
	close(fd[1]);
	snprintf(name, sizeof name, "/dev/fd/%d", fd[0]);
	return name;
}

static void pipe_done(const char *name, pid_t child)
{
	int st;
	close(atoi(name + strlen("/dev/fd/")));
	ck_assert_int_eq(waitpid(child, &st, 0), child);
}

/*
 * A few bytes declaring a shape of terabytes: refused as truncated, in
 * one line naming the file, before anything that size is allocated
 * (issue 12). Plain files compare the declared size with the file's;
 * gzip and pipes grow the buffer as bytes arrive. Without the limit the
 * 4096 x 65535 x 65535 floats would be a 70 TB allocation; the 2^31
 * samples of the .npy one as many.
 */
START_TEST(huge_shape_is_truncated)
{
	setup();
	unsigned char b[512];
	uint32_t d[3] = {4096, 65535, 65535};
	size_t n = idx(b, 0x08, d, 3, "\1\2\3\4\5\6\7\10\11\12\13\14", 12);
	ck_assert_int_eq(tu_write_file(path("huge"), b, n), 0);
	write_gz(path("huge.gz"), b, n);
	const char *want = "truncated: sample 1 of 4096 ends past the end of "
	                   "the data (12 bytes follow the header; samples of "
	                   "65535x65535 uint8)";
	refuse(path("huge"), NULL, SPZ_EFORMAT, want);
	refuse(path("huge.gz"), NULL, SPZ_EFORMAT, want);
	pid_t child;
	const char *p = pipe_of(b, n, &child);
	refuse(p, NULL, SPZ_EFORMAT, want);
	pipe_done(p, child);
	/* Many samples of a few values, labelled: still the inputs decide
	 * before the labels are sized. */
	uint32_t dm[2] = {4000000000u, 3};
	n = idx(b, 0x08, dm, 2, "\1\2\3\4\5\6\7", 7);
	ck_assert_int_eq(tu_write_file(path("many"), b, n), 0);
	uint32_t dl = 4000000000u;
	size_t nl = idx(b + 256, 0x08, &dl, 1, "\1\2", 2);
	ck_assert_int_eq(tu_write_file(path("many.y"), b + 256, nl), 0);
	refuse(path("many"), path("many.y"), SPZ_EFORMAT,
	       "truncated: sample 3 of 4000000000 ends past the end of the "
	       "data (7 bytes follow the header; samples of 3 uint8)");
	write_gz(path("many.gz"), b, n);
	refuse(path("many.gz"), path("many.y"), SPZ_EFORMAT,
	       "truncated: sample 3 of 4000000000");
	/* A .npy shape whose values overflow 64 bits. */
	n = npy(b, "{'descr': '<f4', 'fortran_order': False, 'shape': "
	           "(2147483648, 4294967296, 4294967296)}", "\0\0\0\0", 4);
	ck_assert_int_eq(tu_write_file(path("huge.npy"), b, n), 0);
	write_gz(path("huge.npy.gz"), b, n);
	want = "truncated: sample 1 of 2147483648 ends past the end of the "
	       "data (4 bytes follow the header; samples of "
	       "4294967296x4294967296 float32)";
	refuse(path("huge.npy"), NULL, SPZ_EFORMAT, want);
	refuse(path("huge.npy.gz"), NULL, SPZ_EFORMAT, want);
	/* With a limit only the samples kept must be present. */
	spz_data_options o = SPZ_DATA_OPTIONS_INIT;
	o.x = path("many");
	o.limit = 2;
	spz_dataset *ds;
	spz_error err = {0};
	ck_assert_msg(spz_dataset_load(&ds, &o, &err) == 0, "%s", err.text);
	ck_assert_uint_eq(ds->n, 2);
	ck_assert_float_eq(ds->x[5], 6.0f / 255.0f);
	spz_dataset_free(ds);
	o.limit = 3;
	ck_assert_int_eq(spz_dataset_load(&ds, &o, &err), SPZ_EFORMAT);
	ck_assert_msg(strstr(err.text, "sample 3 of 3"), "%s", err.text);
}
END_TEST

/* A stream longer than the first buffer grows it (twice here: 2.1 M
 * values against a first buffer of 1 M) and reads every value right:
 * from a pipe, and from a gzip file of two members, whose trailer states
 * only the second member's 10 bytes; a gzip file sized at once from its
 * trailer reads the same; a truncated one names the sample. */
START_TEST(streams_grow_the_buffer)
{
	setup();
	const uint32_t rows = 3, cols = 700001;
	size_t len = (size_t)rows * cols;
	unsigned char *b = malloc(16 + len);
	unsigned char *px = malloc(len);
	for (size_t i = 0; i < len; i++)
		px[i] = (unsigned char)(i * 2654435761u >> 24);
	uint32_t d[2] = {rows, cols};
	size_t n = idx(b, 0x08, d, 2, px, len);
	write_gz(path("big.gz"), b, n);
	write_gz(path("two.gz"), b, n - 10);
	gzFile g = gzopen(path("two.gz"), "ab");
	ck_assert_ptr_nonnull(g);
	ck_assert_int_eq(gzwrite(g, b + n - 10, 10), 10);
	ck_assert_int_eq(gzclose(g), Z_OK);
	pid_t child;
	const char *p = pipe_of(b, n, &child);
	const char *srcs[3] = {path("big.gz"), path("two.gz"), p};
	for (int k = 0; k < 3; k++) {
		spz_data_options o = SPZ_DATA_OPTIONS_INIT;
		o.x = srcs[k];
		spz_dataset *ds;
		spz_error err = {0};
		ck_assert_msg(spz_dataset_load(&ds, &o, &err) == 0, "%s",
		              err.text);
		ck_assert_uint_eq(ds->n, rows);
		ck_assert_uint_eq(ds->features, cols);
		for (size_t i = 0; i < len; i++)
			if (ds->x[i] != (float)px[i] / 255.0f)
				ck_abort_msg("value %zu: %g, wanted %u/255", i,
				             (double)ds->x[i], px[i]);
		spz_dataset_free(ds);
	}
	pipe_done(p, child);
	write_gz(path("cut.gz"), b, n - cols);
	refuse(path("cut.gz"), NULL, SPZ_EFORMAT, "truncated: sample 3 of 3 "
	       "ends past the end of the data (1400002 bytes follow the header; "
	       "samples of 700001 uint8)");
	p = pipe_of(b, n - 1, &child);
	refuse(p, NULL, SPZ_EFORMAT, "truncated: sample 3 of 3");
	pipe_done(p, child);
	free(b);
	free(px);
}
END_TEST

/* spz_dataset_adopt takes the buffers, on failure too (ASan sees leaks),
 * and computes the classes. */
START_TEST(dataset_adopt)
{
	int64_t dims[1] = {2};
	spz_dataset *d = NULL;
	float *x = calloc(4, sizeof *x);
	int32_t *y = malloc(2 * sizeof *y);
	y[0] = 4;
	y[1] = 0;
	ck_assert_int_eq(spz_dataset_adopt(&d, 2, dims, 1, x, y, NULL), 0);
	ck_assert_ptr_eq(d->x, x);
	ck_assert_int_eq(d->classes, 5);
	spz_dataset_free(d);
	x = calloc(4, sizeof *x);
	ck_assert_int_eq(spz_dataset_adopt(&d, 2, dims, 1, x, NULL, NULL), 0);
	ck_assert_int_eq(d->classes, 0);
	spz_dataset_free(d);
	spz_error err = {0};
	x = calloc(4, sizeof *x);
	y = malloc(2 * sizeof *y);
	y[0] = 1;
	y[1] = -3;
	ck_assert_int_eq(spz_dataset_adopt(&d, 2, dims, 1, x, y, &err),
	                 SPZ_ERANGE);
	ck_assert_msg(strstr(err.text, "label 1 is -3"), "%s", err.text);
	x = calloc(4, sizeof *x);
	ck_assert_int_eq(spz_dataset_adopt(&d, 0, dims, 1, x, NULL, NULL),
	                 SPZ_ERANGE);
	ck_assert_int_eq(spz_dataset_adopt(&d, 2, dims, 1, NULL, NULL, NULL),
	                 SPZ_EINVAL);
}
END_TEST

START_TEST(dataset_new_bounds)
{
	spz_dataset *d;
	int64_t dims[2] = {3, 4};
	ck_assert_int_eq(spz_dataset_new(&d, 0, dims, 2, 0, NULL), SPZ_ERANGE);
	ck_assert_int_eq(spz_dataset_new(&d, 2, dims, 0, 0, NULL), SPZ_ERANGE);
	int64_t huge[2] = {INT64_MAX / 2, 4};
	ck_assert_int_eq(spz_dataset_new(&d, 2, huge, 2, 0, NULL), SPZ_ERANGE);
	ck_assert_int_eq(spz_dataset_new(&d, 2, dims, 2, 1, NULL), 0);
	ck_assert_uint_eq(d->features, 12);
	ck_assert_ptr_nonnull(d->labels);
	spz_dataset_free(d);
	spz_dataset_free(NULL);
}
END_TEST

Suite *dataset_suite(void)
{
	Suite *s = suite_create("dataset");
	TCase *tc = tcase_create("readers");
	tcase_add_test(tc, idx_dir_plain_and_gzip);
	tcase_add_test(tc, npy_inputs_and_labels);
	tcase_add_test(tc, bad_idx);
	tcase_add_test(tc, bad_npy);
	tcase_add_test(tc, dataset_new_bounds);
	tcase_add_test(tc, huge_shape_is_truncated);
	tcase_add_test(tc, streams_grow_the_buffer);
	tcase_add_test(tc, dataset_adopt);
	suite_add_tcase(s, tc);
	return s;
}
