/*
 * dataset.c - readers of data sets: IDX files (the MNIST family) and
 * NumPy .npy arrays, each plain or gzip-compressed (zlib's gz* functions
 * read both), told apart by their first bytes. formats/README.md, "Data
 * sets", specifies what is accepted; everything else is refused with one
 * line naming the file.
 */
/* _DEFAULT_SOURCE: madvise's MADV_HUGEPAGE (Linux) next to POSIX. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE
#include "spz_format.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* Element types of either format. */
enum elem { E_U8, E_I8, E_U16, E_I16, E_U32, E_I32, E_U64, E_I64, E_F32,
            E_F64 };

static const char *const elem_name[] = {
	"uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64",
	"int64", "float32", "float64"};
static const size_t elem_size[] = {1, 1, 2, 2, 4, 4, 8, 8, 4, 8};

/* An array being read: its header, then its elements from gz. */
struct array {
	const char *path;
	gzFile gz;
	int is_idx;
	enum elem type;
	int big_endian;
	int ndims;                       /* dims[0] counts samples */
	int64_t dims[SPZ_MAX_DIMS];
	int64_t file_size;               /* a regular file's size, else -1 */
	int64_t gz_isize;                /* a gzip file's size claim, or -1 */
};

/* Reads up to n bytes; *got the count. Fails on an I/O or gzip error. */
static int gz_read(struct array *a, void *buf, size_t n, size_t *got,
                   spz_error *err)
{
	*got = 0;
	while (*got < n) {
		size_t chunk = n - *got > (1u << 30) ? (1u << 30) : n - *got;
		int r = gzread(a->gz, (char *)buf + *got, (unsigned)chunk);
		if (r < 0) {
			int zerr;
			const char *m = gzerror(a->gz, &zerr);
			if (zerr == Z_ERRNO)
				return spz_fail(err, SPZ_EIO, "cannot read '%s': %s",
				                a->path, strerror(errno));
			return spz_fail(err, SPZ_EFORMAT, "'%s': corrupt gzip "
			                "data: %s", a->path, m);
		}
		if (r == 0)
			break;
		*got += (size_t)r;
	}
	return 0;
}

/* Reads exactly n bytes of `what`. */
static int read_exact(struct array *a, void *buf, size_t n, const char *what,
                      spz_error *err)
{
	size_t got;
	int rc = gz_read(a, buf, n, &got, err);
	if (rc)
		return rc;
	if (got < n)
		return spz_fail(err, SPZ_EFORMAT, "'%s': truncated in %s", a->path,
		                what);
	return 0;
}

/*
 * A gzip file ends with its data's size mod 2^32 (ISIZE, RFC 1952): what
 * a regular file claims it inflates to, or -1. Only a hint for sizing
 * the buffer at once (the data, not the claim, decides what is read):
 * a concatenation of members states the last one's size, and a size
 * over 4 GB is wrapped. A claim beyond deflate's largest ratio (1032
 * to 1) cannot be true and is dropped, so the hint never costs more
 * memory than a file of that size could hold.
 */
static int64_t gzip_isize(int fd, int64_t file_size)
{
	unsigned char m[2], t[4];
	if (file_size < 18 || pread(fd, m, 2, 0) != 2 || m[0] != 0x1f ||
	    m[1] != 0x8b || pread(fd, t, 4, (off_t)(file_size - 4)) != 4)
		return -1;
	int64_t isize = (int64_t)((uint32_t)t[0] | (uint32_t)t[1] << 8 |
	                          (uint32_t)t[2] << 16 | (uint32_t)t[3] << 24);
	return isize / 1032 > file_size ? -1 : isize;
}

static int open_array(struct array *a, const char *path, spz_error *err)
{
	memset(a, 0, sizeof *a);
	a->path = path;
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return spz_fail(err, SPZ_EIO, "cannot open '%s': %s", path,
		                strerror(errno));
	struct stat st;
	a->file_size = -1;
	if (fstat(fd, &st) == 0) {
		if (S_ISDIR(st.st_mode)) {
			close(fd);
			return spz_fail(err, SPZ_EIO, "cannot read '%s': %s", path,
			                strerror(EISDIR));
		}
		if (S_ISREG(st.st_mode))
			a->file_size = (int64_t)st.st_size;
	}
	a->gz_isize = gzip_isize(fd, a->file_size);
	a->gz = gzdopen(fd, "rb");
	if (!a->gz) {
		close(fd);
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	}
	gzbuffer(a->gz, 1u << 17);
	return 0;
}

static void close_array(struct array *a)
{
	if (a->gz)
		gzclose(a->gz);
	a->gz = NULL;
}

/* "60000x28x28" */
static void dims_text(char *b, size_t n, const int64_t *dims, int nd)
{
	size_t k = 0;
	b[0] = 0;
	for (int i = 0; i < nd && k < n; i++)
		k += (size_t)snprintf(b + k, n - k, "%s%lld", i ? "x" : "",
		                      (long long)dims[i]);
}

/* --- IDX ------------------------------------------------------------- */

static int idx_header(struct array *a, const unsigned char *m,
                      spz_error *err)
{
	switch (m[2]) {
	case 0x08: a->type = E_U8; break;
	case 0x09: a->type = E_I8; break;
	case 0x0B: a->type = E_I16; break;
	case 0x0C: a->type = E_I32; break;
	case 0x0D: a->type = E_F32; break;
	case 0x0E: a->type = E_F64; break;
	default:
		return spz_fail(err, SPZ_EFORMAT, "'%s': unknown IDX element "
		                "type 0x%02X", a->path, m[2]);
	}
	a->is_idx = 1;
	a->big_endian = 1;
	a->ndims = m[3];
	if (a->ndims < 1 || a->ndims > SPZ_MAX_DIMS)
		return spz_fail(err, SPZ_EFORMAT, "'%s': an IDX file with %d "
		                "dimensions (1..%d are read)", a->path, a->ndims,
		                SPZ_MAX_DIMS);
	for (int i = 0; i < a->ndims; i++) {
		unsigned char b[4];
		int rc = read_exact(a, b, 4, "the IDX dimensions", err);
		if (rc)
			return rc;
		a->dims[i] = (int64_t)((uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
		                       (uint32_t)b[2] << 8 | b[3]);
	}
	return 0;
}

/* --- NPY -------------------------------------------------------------- */

struct lex {
	const char *p, *end;
};

static void skip_ws(struct lex *l)
{
	while (l->p < l->end && strchr(" \t\r\n", *l->p) && *l->p)
		l->p++;
}

static int lex_char(struct lex *l, char c)
{
	skip_ws(l);
	if (l->p < l->end && *l->p == c) {
		l->p++;
		return 1;
	}
	return 0;
}

/* A quoted Python string ('...' or "...") without escapes into b. */
static int lex_string(struct lex *l, char *b, size_t n)
{
	skip_ws(l);
	if (l->p >= l->end || (*l->p != '\'' && *l->p != '"'))
		return -1;
	char q = *l->p++;
	size_t k = 0;
	while (l->p < l->end && *l->p != q) {
		if (*l->p == '\\' || k + 1 >= n)
			return -1;
		b[k++] = *l->p++;
	}
	if (l->p >= l->end)
		return -1;
	l->p++;
	b[k] = 0;
	return 0;
}

static int parse_descr(struct array *a, const char *d, spz_error *err)
{
	static const struct {
		const char *code;
		enum elem e;
	} t[] = {{"u1", E_U8}, {"i1", E_I8}, {"u2", E_U16}, {"i2", E_I16},
	         {"u4", E_U32}, {"i4", E_I32}, {"u8", E_U64}, {"i8", E_I64},
	         {"f4", E_F32}, {"f8", E_F64}, {"b1", E_U8}};
	/* The dtype is echoed in messages only when it is plain text. */
	if (spz_text_check(d, strlen(d)) >= 0)
		return spz_fail(err, SPZ_EFORMAT, "'%s': unsupported .npy dtype "
		                "(not text)", a->path);
	if (strlen(d) != 3 || !strchr("<>|=", d[0]))
		return spz_fail(err, SPZ_EFORMAT, "'%s': unsupported .npy dtype "
		                "'%s'", a->path, d);
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		if (strcmp(d + 1, t[i].code))
			continue;
		a->type = t[i].e;
		if (d[0] == '>' && elem_size[a->type] > 1)
			return spz_fail(err, SPZ_EFORMAT, "'%s': big-endian .npy "
			                "data ('%s') is not read; save it "
			                "little-endian", a->path, d);
		return 0;
	}
	return spz_fail(err, SPZ_EFORMAT, "'%s': unsupported .npy dtype '%s' "
	                "(float32, float64, uint8 and integer labels are read)",
	                a->path, d);
}

/* The header dict: {'descr': '<f4', 'fortran_order': False,
 * 'shape': (N, ...), } in any key order. */
static int npy_dict(struct array *a, const char *h, size_t n,
                    spz_error *err)
{
	struct lex l = {h, h + n};
	int have_descr = 0, have_order = 0, have_shape = 0;
	if (!lex_char(&l, '{'))
		goto bad;
	while (!lex_char(&l, '}')) {
		char key[32], val[32];
		if (lex_string(&l, key, sizeof key) || !lex_char(&l, ':'))
			goto bad;
		if (!strcmp(key, "descr") && !have_descr) {
			if (lex_string(&l, val, sizeof val))
				return spz_fail(err, SPZ_EFORMAT, "'%s': unsupported "
				                ".npy dtype (structured or too long)",
				                a->path);
			int rc = parse_descr(a, val, err);
			if (rc)
				return rc;
			have_descr = 1;
		} else if (!strcmp(key, "fortran_order") && !have_order) {
			skip_ws(&l);
			if ((size_t)(l.end - l.p) >= 5 && !memcmp(l.p, "False", 5)) {
				l.p += 5;
			} else if ((size_t)(l.end - l.p) >= 4 &&
			           !memcmp(l.p, "True", 4)) {
				return spz_fail(err, SPZ_EFORMAT, "'%s': a Fortran-order "
				                ".npy array is not read; save it in C "
				                "order (numpy.ascontiguousarray)",
				                a->path);
			} else {
				goto bad;
			}
			have_order = 1;
		} else if (!strcmp(key, "shape") && !have_shape) {
			if (!lex_char(&l, '('))
				goto bad;
			a->ndims = 0;
			while (!lex_char(&l, ')')) {
				skip_ws(&l);
				char *e;
				errno = 0;
				long long v = strtoll(l.p, &e, 10);
				if (e == l.p || e > l.end || errno || v < 0)
					goto bad;
				if (a->ndims == SPZ_MAX_DIMS)
					return spz_fail(err, SPZ_EFORMAT, "'%s': a .npy "
					                "array with over %d dimensions",
					                a->path, SPZ_MAX_DIMS);
				a->dims[a->ndims++] = v;
				l.p = e;
				if (!lex_char(&l, ',')) {
					if (!lex_char(&l, ')'))
						goto bad;
					break;
				}
			}
			have_shape = 1;
		} else {
			goto bad;
		}
		if (!lex_char(&l, ',')) {
			if (!lex_char(&l, '}'))
				goto bad;
			break;
		}
	}
	skip_ws(&l);
	if (l.p != l.end || !have_descr || !have_order || !have_shape)
		goto bad;
	if (a->ndims == 0)
		return spz_fail(err, SPZ_EFORMAT, "'%s': a .npy scalar holds no "
		                "samples", a->path);
	return 0;
bad:
	return spz_fail(err, SPZ_EFORMAT, "'%s': bad .npy header (wanted "
	                "{'descr': ..., 'fortran_order': False, 'shape': "
	                "(...)})", a->path);
}

static int npy_header(struct array *a, const unsigned char *m4,
                      spz_error *err)
{
	unsigned char m[10];
	memcpy(m, m4, 4);
	int rc = read_exact(a, m + 4, 4, "the .npy magic", err);
	if (rc)
		return rc;
	if (memcmp(m, "\x93NUMPY", 6))
		return spz_fail(err, SPZ_EFORMAT, "'%s': bad .npy magic", a->path);
	int major = m[6];
	size_t hlen;
	if (major == 1) {
		if ((rc = read_exact(a, m + 8, 2, "the .npy header", err)))
			return rc;
		hlen = (size_t)m[8] | (size_t)m[9] << 8;
	} else if (major == 2 || major == 3) {
		unsigned char b[4];
		if ((rc = read_exact(a, b, 4, "the .npy header", err)))
			return rc;
		hlen = (size_t)b[0] | (size_t)b[1] << 8 | (size_t)b[2] << 16 |
		       (size_t)b[3] << 24;
		if (hlen > (1u << 20))
			return spz_fail(err, SPZ_EFORMAT, "'%s': a .npy header of "
			                "%zu bytes", a->path, hlen);
	} else {
		return spz_fail(err, SPZ_EVERSION, "'%s': .npy format version %d "
		                "(1, 2 and 3 are read)", a->path, major);
	}
	char *h = malloc(hlen + 1);
	if (!h)
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	rc = read_exact(a, h, hlen, "the .npy header", err);
	if (!rc) {
		h[hlen] = 0;
		if (memchr(h, 0, hlen))
			rc = spz_fail(err, SPZ_EFORMAT, "'%s': bad .npy header",
			              a->path);
		else
			rc = npy_dict(a, h, hlen, err);
	}
	free(h);
	return rc;
}

/* Opens path and reads the header of either format. */
static int read_header(struct array *a, const char *path, spz_error *err)
{
	int rc = open_array(a, path, err);
	if (rc)
		return rc;
	unsigned char m[4];
	size_t got;
	if ((rc = gz_read(a, m, 4, &got, err)))
		return rc;
	if (got == 0)
		return spz_fail(err, SPZ_EFORMAT, "'%s': empty file", path);
	if (got == 4 && m[0] == 0x93 && m[1] == 'N')
		return npy_header(a, m, err);
	if (got == 4 && m[0] == 0 && m[1] == 0)
		return idx_header(a, m, err);
	return spz_fail(err, SPZ_EFORMAT, "'%s': neither an IDX file nor a .npy "
	                "array (wrong magic)", path);
}

/* --- elements --------------------------------------------------------- */

static uint64_t load_uint(const unsigned char *p, size_t n, int be)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)p[be ? n - 1 - i : i] << (8 * i);
	return v;
}

/* Element as a double; integers sign-extended. */
static double elem_value(const struct array *a, const unsigned char *p,
                         int64_t *ival, int *is_int)
{
	size_t n = elem_size[a->type];
	uint64_t u = load_uint(p, n, a->big_endian);
	*is_int = 1;
	switch (a->type) {
	case E_U8: case E_U16: case E_U32:
		*ival = (int64_t)u;
		return (double)u;
	case E_U64:
		*ival = u > INT64_MAX ? -1 : (int64_t)u;
		return (double)u;
	case E_I8: *ival = (int8_t)u; break;
	case E_I16: *ival = (int16_t)u; break;
	case E_I32: *ival = (int32_t)(uint32_t)u; break;
	case E_I64: *ival = (int64_t)u; break;
	case E_F32: {
		uint32_t b = (uint32_t)u;
		float f;
		memcpy(&f, &b, 4);
		*is_int = 0;
		return f;
	}
	case E_F64: {
		double d;
		memcpy(&d, &u, 8);
		*is_int = 0;
		return d;
	}
	}
	return (double)*ival;
}

/* a * b, or UINT64_MAX when it overflows: a size no file holds. */
static uint64_t sat_mul(uint64_t a, uint64_t b)
{
	return b && a > UINT64_MAX / b ? UINT64_MAX : a * b;
}

/* Bytes left after the header in a plain (not gzip) regular file, or -1
 * when that is unknown until the data is read (gzip, a pipe). */
static int64_t bytes_left(struct array *a)
{
	if (a->file_size < 0 || !gzdirect(a->gz))
		return -1;
	z_off_t at = gztell(a->gz);
	return at < 0 || at > a->file_size ? -1 : a->file_size - (int64_t)at;
}

/* The truncation message: `present` bytes of data after the header,
 * fewer than `count` samples of `features` elements need. */
static int truncated(const struct array *a, uint64_t present, uint64_t count,
                     uint64_t features, spz_error *err)
{
	char t[128];
	int64_t one = 1;
	dims_text(t, sizeof t, a->ndims > 1 ? a->dims + 1 : &one,
	          a->ndims > 1 ? a->ndims - 1 : 1);
	return spz_fail(err, SPZ_EFORMAT, "'%s': truncated: sample %llu of "
	                "%llu ends past the end of the data (%llu bytes follow "
	                "the header; samples of %s %s)", a->path,
	                (unsigned long long)(present / elem_size[a->type] /
	                                     features + 1),
	                (unsigned long long)count,
	                (unsigned long long)present, t, elem_name[a->type]);
}

static int overflow(const struct array *a, uint64_t count,
                    uint64_t features, spz_error *err)
{
	return spz_fail(err, SPZ_ERANGE, "'%s': %llu samples of %llu values "
	                "overflow memory sizes", a->path,
	                (unsigned long long)count,
	                (unsigned long long)features);
}

/*
 * The first buffer of the samples, in transparent huge pages where Linux
 * gives them: the first write to each 4 KB page of the 188 MB of training
 * floats is a page fault, and on the project's virtual machine those
 * faults cost more than inflating the file (0.8 s against 0.25 s with
 * 2 MB pages, measured). Only for the first buffer: a realloc that moves
 * huge pages splits them, which made the growing path slower still. A
 * hint only: where the kernel says no, the pages are ordinary ones.
 */
static float *first_floats(size_t n)
{
	float *y = malloc(n * sizeof *y);
#ifdef MADV_HUGEPAGE
	const uintptr_t huge = (uintptr_t)2 << 20;
	uintptr_t lo = ((uintptr_t)y + huge - 1) & ~(huge - 1);
	uintptr_t hi = ((uintptr_t)y + n * sizeof *y) & ~(huge - 1);
	if (y && hi > lo)
		(void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
#endif
	return y;
}

/* First buffer of a data set read from a stream: 4 MB of floats. */
#define GROW_FIRST ((size_t)1 << 20)

/*
 * Reads `count` samples of `features` elements (UINT64_MAX: more than
 * memory holds) into *out as float32. The header's size is trusted only
 * as far as the bytes back it: a plain file's size is compared with it
 * before anything is allocated, and a gzip stream or a pipe, whose size
 * shows only as it is read, grows the buffer by doubling as the bytes
 * arrive (from the size the gzip trailer claims, within deflate's
 * ratio). Either way a small file declaring a huge shape costs memory in
 * proportion to its own size and fails as truncated.
 */
static int read_inputs(struct array *a, float **out, uint64_t count,
                       uint64_t features, spz_error *err)
{
	*out = NULL;
	if (a->type != E_U8 && a->type != E_F32 && a->type != E_F64)
		return spz_fail(err, SPZ_EFORMAT, "'%s': inputs of type %s (uint8, "
		                "float32 and float64 are read)", a->path,
		                elem_name[a->type]);
	size_t es = elem_size[a->type];
	uint64_t total = sat_mul(count, features);
	int64_t left = bytes_left(a);
	if (left >= 0 && sat_mul(total, es) > (uint64_t)left)
		return truncated(a, (uint64_t)left, count, features, err);
	/* A stream says whether it holds that much only as it is read:
	 * overflowing memory sizes is the buffer's growth's to report. */
	const uint64_t most = SIZE_MAX / sizeof(float);
	if (left >= 0 && total > most)
		return overflow(a, count, features, err);
	/* The first buffer: all of it when the file's size vouched for
	 * it; else what the gzip trailer claims, else 4 MB, then doubling
	 * as the data arrives. */
	uint64_t first = GROW_FIRST;
	z_off_t at = gztell(a->gz);
	if (left < 0 && a->gz_isize >= 0 && at >= 0 && a->gz_isize > at &&
	    (uint64_t)(a->gz_isize - at) / es > first)
		first = (uint64_t)(a->gz_isize - at) / es;
	size_t cap = left >= 0 || total < first ? (size_t)total
	                                        : (size_t)first;
	/* 1 MB reads, or fewer bytes when fewer are declared. */
	size_t chunk = (1u << 20) / es;
	if (chunk > total)
		chunk = (size_t)total;
	unsigned char *buf = malloc(chunk * es);
	float *x = first_floats(cap);
	if (!buf || !x) {
		free(buf);
		free(x);
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	}
	float scale[256];
	for (int v = 0; v < 256; v++)
		scale[v] = (float)v / 255.0f;
	int rc = 0;
	for (uint64_t done = 0; done < total && !rc;) {
		size_t k = total - done < chunk ? (size_t)(total - done) : chunk;
		if (done + k > cap) {
			uint64_t want = cap > total / 2 ? total : (uint64_t)cap * 2;
			if (want > most) {
				rc = overflow(a, count, features, err);
				break;
			}
			float *grown = realloc(x, (size_t)want * sizeof *x);
			if (!grown) {
				rc = spz_fail(err, SPZ_ENOMEM, "out of memory");
				break;
			}
			x = grown;
			cap = (size_t)want;
		}
		size_t got;
		if ((rc = gz_read(a, buf, k * es, &got, err)))
			break;
		if (got < k * es) {
			rc = truncated(a, (uint64_t)done * es + got, count, features,
			               err);
			break;
		}
		if (a->type == E_U8) {
			/* Pixels through a table of the 256 quotients: the
			 * division per pixel stayed a scalar divss at -O2
			 * and cost most of the load of the 47 M training
			 * pixels. The table holds the same correctly rounded
			 * quotients, so the floats are the same. */
			float *dst = x + done;
			for (size_t i = 0; i < k; i++)
				dst[i] = scale[buf[i]];
			done += k;
			continue;
		}
		for (size_t i = 0; i < k; i++) {
			const unsigned char *p = buf + i * es;
			uint64_t at = done + i;
			int64_t iv;
			int isint;
			double v = elem_value(a, p, &iv, &isint);
			float f = (float)v;
			if (!isfinite(f)) {
				rc = spz_fail(err, SPZ_ERANGE, "'%s': sample %llu, value "
				              "%llu is %s", a->path,
				              (unsigned long long)(at / features),
				              (unsigned long long)(at % features),
				              isnan(v) ? "NaN" : isinf(v) ? "infinite"
				                               : "outside float32");
				break;
			}
			x[at] = f;
		}
		done += k;
	}
	free(buf);
	if (rc) {
		free(x);
		return rc;
	}
	*out = x;
	return 0;
}

/* Reads `count` integer labels, each 0..INT32_MAX - 1, into *out. The
 * inputs were read first, so count is backed by data actually present
 * and sizing the buffers by it is safe. */
static int read_labels(struct array *a, int32_t **out, size_t count,
                       spz_error *err)
{
	*out = NULL;
	if (a->type == E_F32 || a->type == E_F64)
		return spz_fail(err, SPZ_EFORMAT, "'%s': labels must be integers, "
		                "not %s", a->path, elem_name[a->type]);
	size_t es = elem_size[a->type];
	int64_t left = bytes_left(a);
	if (left >= 0 && sat_mul(count, es) > (uint64_t)left)
		return spz_fail(err, SPZ_EFORMAT, "'%s': truncated: %llu labels "
		                "of %zu", a->path,
		                (unsigned long long)((uint64_t)left / es), count);
	unsigned char *buf = malloc(count * es);
	int32_t *y = malloc(count * sizeof *y);
	if (!buf || !y) {
		free(buf);
		free(y);
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	}
	size_t got;
	int rc = gz_read(a, buf, count * es, &got, err);
	if (!rc && got < count * es)
		rc = spz_fail(err, SPZ_EFORMAT, "'%s': truncated: %zu labels of "
		              "%zu", a->path, got / es, count);
	for (size_t i = 0; i < count && !rc; i++) {
		int64_t v;
		int isint;
		elem_value(a, buf + i * es, &v, &isint);
		if (v < 0 || v >= INT32_MAX) {
			rc = spz_fail(err, SPZ_ERANGE, "'%s': label %zu is %lld, not a "
			              "class (0 or more)", a->path, i, (long long)v);
			break;
		}
		y[i] = (int32_t)v;
	}
	free(buf);
	if (rc) {
		free(y);
		return rc;
	}
	*out = y;
	return 0;
}

/* Fails when anything follows the last element read. */
static int expect_end(struct array *a, spz_error *err)
{
	unsigned char b;
	size_t got;
	int rc = gz_read(a, &b, 1, &got, err);
	if (rc)
		return rc;
	if (got)
		return spz_fail(err, SPZ_EFORMAT, "'%s': data after the %lld "
		                "samples its header declares", a->path,
		                (long long)a->dims[0]);
	return 0;
}

/* --- the data set ----------------------------------------------------- */

/* DIR/NAME or DIR/NAME.gz, whichever exists (plain first). */
static int find_file(char *buf, size_t n, const char *dir, const char *split,
                     const char *what, spz_error *err)
{
	for (int gz = 0; gz < 2; gz++) {
		int k = snprintf(buf, n, "%s/%s-%s-ubyte%s", dir, split, what,
		                 gz ? ".gz" : "");
		if (k < 0 || (size_t)k >= n)
			return spz_fail(err, SPZ_EINVAL, "'%s': path too long", dir);
		if (access(buf, F_OK) == 0)
			return 0;
	}
	return spz_fail(err, SPZ_ENOTFOUND, "'%s': no %s-%s-ubyte[.gz] in this "
	                "folder", dir, split, what);
}

int spz_dataset_load(spz_dataset **out, const spz_data_options *o,
                     spz_error *err)
{
	char xp[4096], yp[4096];
	const char *xpath, *ypath;
	if (!o || !o->dir == !o->x)
		return spz_fail(err, SPZ_EINVAL, "give a data folder or an inputs "
		                "file, not both");
	if (o->dir) {
		const char *split = o->split ? o->split : "t10k";
		struct stat st;
		if (stat(o->dir, &st) != 0)
			return spz_fail(err, SPZ_EIO, "cannot open '%s': %s", o->dir,
			                strerror(errno));
		if (!S_ISDIR(st.st_mode))
			return spz_fail(err, SPZ_EINVAL, "'%s' is not a folder (--data "
			                "takes the folder of the IDX files; --x "
			                "takes one file)", o->dir);
		int rc = find_file(xp, sizeof xp, o->dir, split, "images-idx3",
		                   err);
		if (!rc)
			rc = find_file(yp, sizeof yp, o->dir, split, "labels-idx1",
			               err);
		if (rc)
			return rc;
		xpath = xp;
		ypath = yp;
	} else {
		xpath = o->x;
		ypath = o->y;
	}
	struct array xa, ya = {0};
	spz_dataset *d = NULL;
	char t1[128], t2[128];
	int rc = read_header(&xa, xpath, err);
	if (!rc && ypath)
		rc = read_header(&ya, ypath, err);
	if (rc)
		goto done;
	if (xa.dims[0] == 0) {
		rc = spz_fail(err, SPZ_EFORMAT, "'%s': no samples", xpath);
		goto done;
	}
	if (ypath && ya.ndims != 1) {
		dims_text(t1, sizeof t1, ya.dims, ya.ndims);
		rc = spz_fail(err, SPZ_EFORMAT, "'%s': labels must be a 1-D array, "
		              "not %s", ypath, t1);
		goto done;
	}
	if (ypath && ya.dims[0] != xa.dims[0]) {
		dims_text(t1, sizeof t1, xa.dims, xa.ndims);
		dims_text(t2, sizeof t2, ya.dims, ya.ndims);
		rc = spz_fail(err, SPZ_EFORMAT, "'%s' holds %lld labels but '%s' "
		              "%lld samples (%s)", ypath, (long long)ya.dims[0],
		              xpath, (long long)xa.dims[0], t1);
		goto done;
	}
	int64_t one = 1;
	const int64_t *sdims = xa.ndims > 1 ? xa.dims + 1 : &one;
	int snd = xa.ndims > 1 ? xa.ndims - 1 : 1;
	uint64_t n = (uint64_t)xa.dims[0];
	int partial = o->limit && o->limit < n;
	if (partial)
		n = o->limit;
	/* -1: more values per sample than memory holds; the data decides
	 * (read_inputs: truncated, or overflowing memory sizes). */
	int64_t f = spz_dims_elements(sdims, snd);
	if (f == 0) {
		dims_text(t1, sizeof t1, xa.dims, xa.ndims);
		rc = spz_fail(err, SPZ_EFORMAT, "'%s' (%s): a data set needs at "
		              "least one value per sample", xpath, t1);
		goto done;
	}
	if (n > SIZE_MAX) {
		rc = spz_fail(err, SPZ_ERANGE, "'%s': too many samples", xpath);
		goto done;
	}
	float *x;
	int32_t *y = NULL;
	if ((rc = read_inputs(&xa, &x, n, f < 0 ? UINT64_MAX : (uint64_t)f,
	                      err)))
		goto done;
	if (!partial && (rc = expect_end(&xa, err)))
		goto done_x;
	if (ypath) {
		if ((rc = read_labels(&ya, &y, (size_t)n, err)))
			goto done_x;
		if (!partial && (rc = expect_end(&ya, err)))
			goto done_y;
	}
	spz_error sub = {0};
	if ((rc = spz_dataset_adopt(&d, (size_t)n, sdims, snd, x, y, &sub))) {
		dims_text(t1, sizeof t1, xa.dims, xa.ndims);
		rc = spz_fail(err, rc, "'%s' (%s): %s", xpath, t1, sub.text);
	}
	goto done;
done_y:
	free(y);
done_x:
	free(x);
done:
	close_array(&xa);
	close_array(&ya);
	if (rc) {
		spz_dataset_free(d);
		return rc;
	}
	*out = d;
	return 0;
}
