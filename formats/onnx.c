/*
 * onnx.c - ONNX models (.onnx): a ModelProto read into the IR and written
 * back. Hand-written over the protobuf wire format (pb.h) rather than
 * generated code, because what spz must do is splice: every byte it does
 * not change goes back out as it came in, and the tensor payloads go
 * straight between the file and the tensors (formats/README.md, "ONNX",
 * says why and what the pass-through record holds).
 *
 * Reading keeps, besides the IR, a skeleton (spz_model.onnx): the
 * ModelProto with each initializer and each Constant node's tensor
 * replaced by a reference (a TensorProto holding only its name), and per
 * tensor its shell (spz_tensor.onnx): the TensorProto's fields other
 * than dims, data_type and the data. Writing walks the skeleton and puts
 * each tensor back from the IR in the field it came in.
 */
#define _GNU_SOURCE
#include "model_io.h"
#include "pb.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Largest message protobuf allows (2 GiB - 1). */
#define PB_LIMIT ((uint64_t)INT32_MAX)
/* Nesting of messages past which a file is refused (recursion bound). */
#define MAX_DEPTH 100
/* With --external-data, tensors of at least this many bytes go there
 * (the threshold onnx's own external-data writer uses). */
#define EXT_MIN 1024

/* ------------------------------------------------------------------ */
/* Growable byte buffer                                                */

typedef struct buf {
	uint8_t *p;
	size_t n, cap;
	int oom;
} buf;

static void buf_add(buf *b, const void *bytes, size_t n)
{
	if (b->oom || !n)
		return;
	if (b->cap - b->n < n) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap - b->n < n && cap < SIZE_MAX / 2)
			cap *= 2;
		uint8_t *p = cap - b->n >= n ? realloc(b->p, cap) : NULL;
		if (!p) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, bytes, n);
	b->n += n;
}

static void buf_head(buf *b, uint32_t num, int wire, uint64_t len)
{
	uint8_t h[20];
	buf_add(b, h, (size_t)pb_put_head(h, num, wire, len));
}

static void buf_varint_field(buf *b, uint32_t num, uint64_t v)
{
	uint8_t h[20];
	int n = pb_put_head(h, num, PB_VARINT, 0);
	n += pb_put_varint(h + n, v);
	buf_add(b, h, (size_t)n);
}

static void buf_bytes_field(buf *b, uint32_t num, const void *p, size_t n)
{
	buf_head(b, num, PB_LEN, n);
	buf_add(b, p, n);
}

/* ------------------------------------------------------------------ */
/* Message schema: which fields are messages, which scalars            */

enum {
	M_MODEL, M_GRAPH, M_NODE, M_ATTR, M_TENSOR, M_VINFO, M_TYPE,
	M_TTENSOR, M_TSEQ, M_TMAP, M_TOPT, M_SHAPE, M_DIM, M_FUNC, M_TRAIN,
	M_SPARSE, M_SSE, M_OPSET, M_SEGMENT, M_ANNOT, M_COUNT
};
/* kind: a message type (< M_COUNT), or one of these scalar kinds. */
#define K_VARINT 100  /* wire 0 */
#define K_F32 101     /* wire 5 */
#define K_LEN 102     /* bytes or string */
#define K_PVARINT 103 /* repeated varint: wire 0 or packed */
#define K_PF32 104    /* repeated fixed32: wire 5 or packed */
#define K_PF64 105    /* repeated fixed64: wire 1 or packed */

static const uint8_t schema[][3] = {
	{M_MODEL, 1, K_VARINT}, {M_MODEL, 2, K_LEN}, {M_MODEL, 3, K_LEN},
	{M_MODEL, 4, K_LEN}, {M_MODEL, 5, K_VARINT}, {M_MODEL, 6, K_LEN},
	{M_MODEL, 7, M_GRAPH}, {M_MODEL, 8, M_OPSET}, {M_MODEL, 14, M_SSE},
	{M_MODEL, 20, M_TRAIN}, {M_MODEL, 25, M_FUNC},
	{M_GRAPH, 1, M_NODE}, {M_GRAPH, 2, K_LEN}, {M_GRAPH, 5, M_TENSOR},
	{M_GRAPH, 10, K_LEN}, {M_GRAPH, 11, M_VINFO}, {M_GRAPH, 12, M_VINFO},
	{M_GRAPH, 13, M_VINFO}, {M_GRAPH, 14, M_ANNOT},
	{M_GRAPH, 15, M_SPARSE}, {M_GRAPH, 16, M_SSE},
	{M_NODE, 1, K_LEN}, {M_NODE, 2, K_LEN}, {M_NODE, 3, K_LEN},
	{M_NODE, 4, K_LEN}, {M_NODE, 5, M_ATTR}, {M_NODE, 6, K_LEN},
	{M_NODE, 7, K_LEN}, {M_NODE, 8, K_LEN}, {M_NODE, 9, M_SSE},
	{M_ATTR, 1, K_LEN}, {M_ATTR, 2, K_F32}, {M_ATTR, 3, K_VARINT},
	{M_ATTR, 4, K_LEN}, {M_ATTR, 5, M_TENSOR}, {M_ATTR, 6, M_GRAPH},
	{M_ATTR, 7, K_PF32}, {M_ATTR, 8, K_PVARINT}, {M_ATTR, 9, K_LEN},
	{M_ATTR, 10, M_TENSOR}, {M_ATTR, 11, M_GRAPH}, {M_ATTR, 13, K_LEN},
	{M_ATTR, 14, M_TYPE}, {M_ATTR, 15, M_TYPE}, {M_ATTR, 20, K_VARINT},
	{M_ATTR, 21, K_LEN}, {M_ATTR, 22, M_SPARSE}, {M_ATTR, 23, M_SPARSE},
	{M_TENSOR, 1, K_PVARINT}, {M_TENSOR, 2, K_VARINT},
	{M_TENSOR, 3, M_SEGMENT}, {M_TENSOR, 4, K_PF32},
	{M_TENSOR, 5, K_PVARINT}, {M_TENSOR, 6, K_LEN},
	{M_TENSOR, 7, K_PVARINT}, {M_TENSOR, 8, K_LEN}, {M_TENSOR, 9, K_LEN},
	{M_TENSOR, 10, K_PF64}, {M_TENSOR, 11, K_PVARINT},
	{M_TENSOR, 12, K_LEN}, {M_TENSOR, 13, M_SSE},
	{M_TENSOR, 14, K_VARINT}, {M_TENSOR, 16, M_SSE},
	{M_VINFO, 1, K_LEN}, {M_VINFO, 2, M_TYPE}, {M_VINFO, 3, K_LEN},
	{M_VINFO, 4, M_SSE},
	{M_TYPE, 1, M_TTENSOR}, {M_TYPE, 4, M_TSEQ}, {M_TYPE, 5, M_TMAP},
	{M_TYPE, 6, K_LEN}, {M_TYPE, 8, M_TTENSOR}, {M_TYPE, 9, M_TOPT},
	{M_TTENSOR, 1, K_VARINT}, {M_TTENSOR, 2, M_SHAPE},
	{M_TSEQ, 1, M_TYPE}, {M_TMAP, 1, K_VARINT}, {M_TMAP, 2, M_TYPE},
	{M_TOPT, 1, M_TYPE}, {M_SHAPE, 1, M_DIM},
	{M_DIM, 1, K_VARINT}, {M_DIM, 2, K_LEN}, {M_DIM, 3, K_LEN},
	{M_FUNC, 1, K_LEN}, {M_FUNC, 4, K_LEN}, {M_FUNC, 5, K_LEN},
	{M_FUNC, 6, K_LEN}, {M_FUNC, 7, M_NODE}, {M_FUNC, 8, K_LEN},
	{M_FUNC, 9, M_OPSET}, {M_FUNC, 10, K_LEN}, {M_FUNC, 11, M_ATTR},
	{M_FUNC, 12, M_VINFO}, {M_FUNC, 13, K_LEN}, {M_FUNC, 14, M_SSE},
	{M_TRAIN, 1, M_GRAPH}, {M_TRAIN, 2, M_GRAPH}, {M_TRAIN, 3, M_SSE},
	{M_TRAIN, 4, M_SSE},
	{M_SPARSE, 1, M_TENSOR}, {M_SPARSE, 2, M_TENSOR},
	{M_SPARSE, 3, K_PVARINT},
	{M_SSE, 1, K_LEN}, {M_SSE, 2, K_LEN},
	{M_OPSET, 1, K_LEN}, {M_OPSET, 2, K_VARINT},
	{M_SEGMENT, 1, K_VARINT}, {M_SEGMENT, 2, K_VARINT},
	{M_ANNOT, 1, K_LEN}, {M_ANNOT, 2, M_SSE},
};

/* The kind of field num of message type msg; 0xff for an unknown field
 * (skipped, whatever its wire type). */
static int field_kind(int msg, uint32_t num)
{
	for (size_t i = 0; i < sizeof schema / sizeof *schema; i++)
		if (schema[i][0] == msg && schema[i][1] == num)
			return schema[i][2];
	return 0xff;
}

static const char *const msg_names[M_COUNT] = {
	"ModelProto", "GraphProto", "NodeProto", "AttributeProto",
	"TensorProto", "ValueInfoProto", "TypeProto", "TypeProto.Tensor",
	"TypeProto.Sequence", "TypeProto.Map", "TypeProto.Optional",
	"TensorShapeProto", "Dimension", "FunctionProto",
	"TrainingInfoProto", "SparseTensorProto", "StringStringEntryProto",
	"OperatorSetIdProto", "Segment", "TensorAnnotation"};

typedef struct rd {
	const char *label;
	const char *dir;
	const uint8_t *base; /* the whole file */
	size_t size;
	int fd;              /* pread source of payloads, -1: use base */
	spz_error *err;
	const spz_input *in; /* progress by the tensors' places in the file */
	uint64_t said;       /* the most told (Constant tensors may come
	                        before the initializers) */
	int borrow;          /* base is in->map: aligned float32 raw_data
	                        is pointed at, not copied */
	size_t borrowed;     /* tensors that did */
} rd;

static int bad(rd *r, const uint8_t *at, const char *what, const char *why)
{
	return spz_fail(r->err, SPZ_EFORMAT, "'%s': not ONNX: %s in %s at "
	                "byte %llu", r->label, why, what,
	                (unsigned long long)(at - r->base));
}

/* Checks that [p, p + n) is a well-formed message of type msg, and every
 * message inside it, each field's wire type matching the schema. */
static int check_msg(rd *r, int msg, const uint8_t *p, size_t n, int depth)
{
	if (depth > MAX_DEPTH)
		return spz_fail(r->err, SPZ_EFORMAT, "'%s': not ONNX: messages "
		                "nested more than %d deep at byte %llu",
		                r->label, MAX_DEPTH,
		                (unsigned long long)(p - r->base));
	const uint8_t *q = p, *end = p + n;
	pb_field f;
	const char *why;
	int rc;
	while ((rc = pb_next(&f, &q, end, &why)) == 1) {
		int k = field_kind(msg, f.num);
		int ok = 1;
		if (k == 0xff)
			continue;
		if (k < M_COUNT) {
			if (f.wire != PB_LEN)
				ok = 0;
			else if ((rc = check_msg(r, k, f.data, f.len, depth + 1)))
				return rc;
		} else if (k == K_VARINT) {
			ok = f.wire == PB_VARINT;
		} else if (k == K_F32) {
			ok = f.wire == PB_FIXED32;
		} else if (k == K_LEN) {
			ok = f.wire == PB_LEN;
		} else if (k == K_PVARINT && f.wire == PB_LEN) {
			const uint8_t *v = f.data, *ve = f.data + f.len;
			uint64_t x;
			while (v < ve)
				if (pb_varint(&x, &v, ve))
					return bad(r, f.start, msg_names[msg],
					           "packed varints cut short");
		} else if (k == K_PVARINT) {
			ok = f.wire == PB_VARINT;
		} else if (k == K_PF32) {
			ok = f.wire == PB_FIXED32 ||
			     (f.wire == PB_LEN && f.len % 4 == 0);
		} else if (k == K_PF64) {
			ok = f.wire == PB_FIXED64 ||
			     (f.wire == PB_LEN && f.len % 8 == 0);
		}
		if (!ok) {
			char why2[96];
			snprintf(why2, sizeof why2, "field %u has the wrong wire "
			         "type (%d)", f.num, f.wire);
			return bad(r, f.start, msg_names[msg], why2);
		}
	}
	if (rc < 0)
		return bad(r, q, msg_names[msg], why);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Reading                                                             */

/* A span of the file as a NUL-terminated name, checked as text. */
static int get_name(rd *r, char **out, const pb_field *f, const char *what)
{
	/* An absent field (zeroed, data NULL) is the empty name. */
	const char *d = f->data ? (const char *)f->data : "";
	int64_t at = spz_text_check(d, f->len);
	if (at >= 0 || memchr(d, 0, f->len))
		return spz_fail(r->err, SPZ_EFORMAT, "'%s': %s is not valid "
		                "text (byte %lld of the name)", r->label, what,
		                (long long)(at >= 0 ? at : 0));
	char *s = malloc(f->len + 1);
	if (!s)
		return spz_fail(r->err, SPZ_ENOMEM, "out of memory");
	memcpy(s, d, f->len);
	s[f->len] = 0;
	*out = s;
	return 0;
}

static int str_is(const pb_field *f, const char *s)
{
	return f->len == strlen(s) && !memcmp(f->data, s, f->len);
}

/* An initializer or a Constant node's tensor, as found in the file. */
typedef struct tinfo {
	const uint8_t *msg;  /* the TensorProto */
	size_t len;
	char *name;          /* IR name (the Constant's output for those) */
	int dtype, ndims;
	int64_t dims[SPZ_MAX_DIMS];
	int64_t n;           /* elements */
	int enc;             /* field holding the data, -1 none, 13 external */
	int keep_data;       /* data left in the shell (a type spz cannot
	                        interpret in that field) */
	char *loc;           /* external: location, offset, length */
	uint64_t off, length;
	int has_length;
	int used;            /* 1: part of a palettized weight */
} tinfo;

static void tinfo_free(tinfo *t)
{
	free(t->name);
	free(t->loc);
}

static int is_payload_field(uint32_t num)
{
	return num == 4 || num == 5 || num == 7 || num == 9 || num == 10 ||
	       num == 11;
}

/* Reads a TensorProto's dims, type and where its data is. */
static int scan_tensor(rd *r, tinfo *t, const uint8_t *p, size_t n,
                       const char *what)
{
	const uint8_t *q = p, *end = p + n;
	pb_field f;
	const char *why;
	int location = 0, nd = 0;
	t->msg = p;
	t->len = n;
	t->enc = -1;
	while (pb_next(&f, &q, end, &why) == 1) {
		if (f.num == 1) {
			/* Unpacked (as onnx writes them) or packed. */
			const uint8_t *v = f.data, *ve = f.data + f.len;
			uint64_t x = f.v;
			while (f.wire != PB_LEN || v < ve) {
				if (f.wire == PB_LEN && pb_varint(&x, &v, ve))
					break;
				if (nd >= SPZ_MAX_DIMS)
					return spz_fail(r->err, SPZ_ERANGE,
					                "'%s': %s has more than %d "
					                "dims", r->label, what,
					                SPZ_MAX_DIMS);
				if ((int64_t)x < 0)
					return spz_fail(r->err, SPZ_ERANGE,
					                "'%s': %s: dim %d is %lld",
					                r->label, what, nd,
					                (long long)(int64_t)x);
				t->dims[nd++] = (int64_t)x;
				if (f.wire != PB_LEN)
					break;
			}
		} else if (f.num == 2) {
			if (f.v > 1000)
				return spz_fail(r->err, SPZ_EFORMAT, "'%s': %s: "
				                "data_type %llu is unknown",
				                r->label, what,
				                (unsigned long long)f.v);
			t->dtype = (int)f.v;
		} else if (is_payload_field(f.num)) {
			if (t->enc >= 0 && t->enc != (int)f.num)
				return spz_fail(r->err, SPZ_EFORMAT, "'%s': %s "
				                "has data in two fields (%d and "
				                "%u)", r->label, what, t->enc,
				                f.num);
			if (f.num == 9 && t->enc == 9)
				return spz_fail(r->err, SPZ_EFORMAT, "'%s': %s "
				                "has raw_data twice", r->label,
				                what);
			t->enc = (int)f.num;
		} else if (f.num == 13) {
			const uint8_t *e = f.data, *ee = f.data + f.len;
			pb_field g, key = {0}, val = {0};
			while (pb_next(&g, &e, ee, &why) == 1) {
				if (g.num == 1)
					key = g;
				else if (g.num == 2)
					val = g;
			}
			char num[32] = "";
			if (val.data && val.len < sizeof num)
				memcpy(num, val.data, val.len);
			char *endp;
			if (key.data && str_is(&key, "location")) {
				free(t->loc);
				t->loc = NULL;
				int rc = get_name(r, &t->loc, &val,
				                  "an external data location");
				if (rc)
					return rc;
			} else if (key.data && (str_is(&key, "offset") ||
			                        str_is(&key, "length"))) {
				errno = 0;
				unsigned long long x = strtoull(num, &endp, 10);
				/* The value is echoed only when it is
				 * text a terminal shows as it is. */
				if ((!num[0] || *endp || errno || num[0] == '-') &&
				    spz_text_check(num, strlen(num)) < 0)
					return spz_fail(r->err, SPZ_EFORMAT,
					                "'%s': %s: external data "
					                "%.*s '%s' is not a number",
					                r->label, what,
					                (int)key.len, key.data, num);
				if (!num[0] || *endp || errno || num[0] == '-')
					return spz_fail(r->err, SPZ_EFORMAT,
					                "'%s': %s: external data "
					                "%.*s is not a number",
					                r->label, what,
					                (int)key.len, key.data);
				if (str_is(&key, "offset")) {
					t->off = x;
				} else {
					t->length = x;
					t->has_length = 1;
				}
			}
		} else if (f.num == 14) {
			location = (int)f.v;
		}
	}
	t->ndims = nd;
	t->n = spz_dims_elements(t->dims, nd);
	if (t->n < 0)
		return spz_fail(r->err, SPZ_ERANGE, "'%s': %s: the product of "
		                "its dims overflows", r->label, what);
	if (location == 1) {
		if (t->enc >= 0 || !t->loc)
			return spz_fail(r->err, SPZ_EFORMAT, "'%s': %s: external "
			                "data needs a location and no data in "
			                "the file", r->label, what);
		t->enc = 13;
	} else if (location != 0) {
		return spz_fail(r->err, SPZ_EFORMAT, "'%s': %s: data_location "
		                "%d is unknown", r->label, what, location);
	}
	if (t->dtype == 0)
		return spz_fail(r->err, SPZ_EFORMAT, "'%s': %s has no "
		                "data_type", r->label, what);
	/* A type of unknown or no fixed size (STRING) keeps its values as
	 * they are; a fixed-size one in a field ONNX does not give it
	 * (INT16 in float_data) is refused: carried as bytes it could not
	 * be written to JSON or .spzm, and no writer makes one. */
	int size = spz_dtype_size(t->dtype);
	if (!spz_dtype_is_float(t->dtype) && t->enc != 9 &&
	    t->enc != 13 &&
	    (size == 0 || t->enc == 4 || t->enc == 10 ||
	     (t->enc == 7 && t->dtype != SPZ_DTYPE_INT64) ||
	     (t->enc == 11 && t->dtype != SPZ_DTYPE_UINT32 &&
	      t->dtype != SPZ_DTYPE_UINT64) ||
	     (t->enc == 5 && (size > 4 || t->dtype == SPZ_DTYPE_UINT32)))) {
		if (size)
			return spz_fail(r->err, SPZ_EFORMAT, "'%s': %s: "
			                "data_type %d cannot be held in field "
			                "%d", r->label, what, t->dtype, t->enc);
		t->keep_data = 1;
	}
	return 0;
}

/* Calls back every element of the repeated numeric field enc of the
 * tensor, as raw bits; returns the count. bits: 32 or 64 for fixed
 * types, 0 for varints. */
static int64_t each_value(const tinfo *t, int bits,
                          void (*fn)(void *, int64_t, uint64_t), void *ctx)
{
	const uint8_t *q = t->msg, *end = t->msg + t->len;
	pb_field f;
	const char *why;
	int64_t i = 0;
	while (pb_next(&f, &q, end, &why) == 1) {
		if ((int)f.num != t->enc)
			continue;
		if (f.wire != PB_LEN) {
			if (fn)
				fn(ctx, i, f.v);
			i++;
			continue;
		}
		const uint8_t *v = f.data, *ve = f.data + f.len;
		while (v < ve) {
			uint64_t x = 0;
			if (bits) {
				for (int k = 0; k < bits / 8; k++)
					x |= (uint64_t)v[k] << (8 * k);
				v += bits / 8;
			} else if (pb_varint(&x, &v, ve)) {
				break;
			}
			if (fn)
				fn(ctx, i, x);
			i++;
		}
	}
	return i;
}

static float half_to_float(uint16_t h)
{
	uint32_t s = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 0x1f,
	         m = h & 0x3ff, b;
	if (e == 0x1f) {
		b = s | 0x7f800000u | m << 13;
	} else if (e) {
		b = s | (e + 112) << 23 | m << 13;
	} else if (m) {
		/* Subnormal: normalize. */
		e = 113;
		while (!(m & 0x400)) {
			m <<= 1;
			e--;
		}
		b = s | e << 23 | (m & 0x3ff) << 13;
	} else {
		b = s;
	}
	float v;
	memcpy(&v, &b, sizeof v);
	return v;
}

/* Round to nearest, ties to even (exact for values that came from a
 * half); overflow becomes infinity, which the writer has refused. */
static uint16_t float_to_half(float v)
{
	uint32_t b;
	memcpy(&b, &v, sizeof b);
	uint32_t s = (b >> 16) & 0x8000;
	int32_t e = (int32_t)((b >> 23) & 0xff) - 127 + 15;
	uint32_t m = b & 0x7fffff;
	if (((b >> 23) & 0xff) == 0xff)
		return (uint16_t)(s | 0x7c00 | (m ? 0x200 : 0));
	if (e >= 0x1f)
		return (uint16_t)(s | 0x7c00);
	if (e <= 0) {
		if (e < -10)
			return (uint16_t)s;
		m |= 0x800000;
		int shift = 14 - e;
		uint32_t hm = m >> shift, rest = m & ((1u << shift) - 1),
		         half = 1u << (shift - 1);
		if (rest > half || (rest == half && (hm & 1)))
			hm++;
		return (uint16_t)(s | hm);
	}
	uint32_t hm = m >> 13, rest = m & 0x1fff;
	uint32_t out = s | (uint32_t)e << 10 | hm;
	if (rest > 0x1000 || (rest == 0x1000 && (hm & 1)))
		out++;
	return (uint16_t)out;
}

static float bf16_to_float(uint16_t h)
{
	uint32_t b = (uint32_t)h << 16;
	float v;
	memcpy(&v, &b, sizeof v);
	return v;
}

static uint16_t float_to_bf16(float v)
{
	uint32_t b;
	memcpy(&b, &v, sizeof b);
	if ((b & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)((b >> 16) | 0x40);
	b += 0x7fff + ((b >> 16) & 1);
	return (uint16_t)(b >> 16);
}

/* Element i of little-endian bytes of a float-like dtype as float. */
static float le_to_float(const uint8_t *p, int dtype)
{
	if (dtype == SPZ_DTYPE_FLOAT16 || dtype == SPZ_DTYPE_BFLOAT16) {
		uint16_t h = (uint16_t)(p[0] | p[1] << 8);
		return dtype == SPZ_DTYPE_FLOAT16 ? half_to_float(h)
		                                  : bf16_to_float(h);
	}
	uint64_t x = 0;
	for (int k = 0; k < (dtype == SPZ_DTYPE_DOUBLE ? 8 : 4); k++)
		x |= (uint64_t)p[k] << (8 * k);
	if (dtype == SPZ_DTYPE_DOUBLE) {
		double d;
		memcpy(&d, &x, sizeof d);
		return (float)d;
	}
	uint32_t w = (uint32_t)x;
	float v;
	memcpy(&v, &w, sizeof v);
	return v;
}

typedef struct fill_ctx {
	spz_tensor *t;
	int dtype;
	int size;     /* raw element size */
	int range_bad;
} fill_ctx;

static void fill_float(void *c, int64_t i, uint64_t x)
{
	fill_ctx *fc = c;
	uint8_t b[8];
	for (int k = 0; k < 8; k++)
		b[k] = (uint8_t)(x >> (8 * k));
	if (i < spz_tensor_elements(fc->t))
		fc->t->data[i] = le_to_float(b, fc->dtype);
	if ((fc->dtype == SPZ_DTYPE_FLOAT16 ||
	     fc->dtype == SPZ_DTYPE_BFLOAT16) && x > 0xffff)
		fc->range_bad = 1;
}

static void fill_raw(void *c, int64_t i, uint64_t x)
{
	fill_ctx *fc = c;
	spz_tensor *t = fc->t;
	int64_t sx = (int64_t)x;
	int is_signed = t->dtype == SPZ_DTYPE_INT8 ||
	                t->dtype == SPZ_DTYPE_INT16 ||
	                t->dtype == SPZ_DTYPE_INT32 ||
	                t->dtype == SPZ_DTYPE_INT64;
	if (fc->size < 8) {
		int64_t lo = is_signed ? -((int64_t)1 << (fc->size * 8 - 1)) : 0;
		int64_t hi = is_signed ? ((int64_t)1 << (fc->size * 8 - 1)) - 1
		                       : ((int64_t)1 << (fc->size * 8)) - 1;
		if (t->dtype == SPZ_DTYPE_BOOL)
			hi = 1;
		/* int32_data holds int32: a negative is sign-extended. */
		if (sx < lo || sx > hi)
			fc->range_bad = 1;
	}
	if ((uint64_t)(i + 1) * (uint64_t)fc->size > t->raw_len)
		return;
	for (int k = 0; k < fc->size; k++)
		t->raw[(size_t)i * (size_t)fc->size + (size_t)k] =
			(uint8_t)(x >> (8 * k));
}

/* Pieces in which float32 data is read and checked: small enough that
 * the check finds the piece still in the cache that pread just filled
 * (one trip through memory instead of two), large enough that the
 * system calls do not count. */
#define CHECK_CHUNK ((size_t)256 << 10)

/* Reads len bytes at file offset off (of the model, or of an external
 * file fd) into dst. With chk (dst is chk->data, float32), the floats
 * are put in host order and checked as each piece arrives. */
static int read_at(rd *r, int fd, void *dst, uint64_t len, uint64_t off,
                   const char *what, spz_tensor *chk)
{
	uint8_t *d = dst;
	uint64_t got = 0, done = 0; /* bytes read, bytes checked */
	while (got < len) {
		size_t k = len - got > (1u << 30) ? (1u << 30)
		                                  : (size_t)(len - got);
		if (chk && k > CHECK_CHUNK)
			k = CHECK_CHUNK;
		if (fd < 0) {
			memcpy(d + got, r->base + off + got, k);
		} else {
			ssize_t n = pread(fd, d + got, k, (off_t)(off + got));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return spz_fail(r->err, SPZ_EIO, "'%s': cannot "
				                "read %s: %s", r->label, what,
				                n < 0 ? strerror(errno)
				                      : "file shrank while read");
			k = (size_t)n;
		}
		got += k;
		/* Whole floats only: a short read may split one. */
		uint64_t upto = got / 4 * 4;
		if (chk && upto > done) {
			spz_error sub = {0};
			spz_le32_to_host(d + done, (size_t)(upto - done) / 4);
			int rc = spz_tensor_check_values(
				chk, (int64_t)(done / 4),
				(int64_t)((upto - done) / 4), &sub);
			if (rc)
				return spz_fail(r->err, rc, "'%s': %s", r->label,
				                sub.text);
			done = upto;
		}
	}
	return 0;
}

/* The raw_data field of a tensor (enc 9). */
static int raw_span(const tinfo *ti, const uint8_t **data, size_t *len)
{
	const uint8_t *q = ti->msg, *end = ti->msg + ti->len;
	pb_field f;
	const char *why;
	while (pb_next(&f, &q, end, &why) == 1)
		if (f.num == 9) {
			*data = f.data;
			*len = f.len;
			return 0;
		}
	return -1;
}

/* The bytes of the data of a raw_data / external tensor into dst
 * (len bytes, already checked). */
static int load_bytes(rd *r, const tinfo *ti, void *dst, uint64_t len,
                      const char *what, spz_tensor *chk)
{
	if (ti->enc == 9) {
		const uint8_t *d = NULL;
		size_t n = 0;
		if (raw_span(ti, &d, &n))
			return spz_fail(r->err, SPZ_EFORMAT, "'%s': %s has no "
			                "raw_data", r->label, what);
		return read_at(r, r->fd, dst, len, (uint64_t)(d - r->base),
		               what, chk);
	}
	int fd;
	uint64_t size;
	spz_error sub = {0};
	int rc = spz_open_inside(&fd, &size, r->dir, ti->loc, &sub);
	if (rc)
		return spz_fail(r->err, rc, "'%s': %s: %s", r->label, what,
		                sub.text);
	if (ti->off > size || len > size - ti->off) {
		close(fd);
		return spz_fail(r->err, SPZ_EFORMAT, "'%s': %s: external bytes "
		                "%llu..%llu are past the end of '%s' (%llu "
		                "bytes)", r->label, what,
		                (unsigned long long)ti->off,
		                (unsigned long long)(ti->off + len), ti->loc,
		                (unsigned long long)size);
	}
	rc = read_at(r, fd, dst, len, ti->off, what, chk);
	close(fd);
	return rc;
}

/* Byte count of the data of a raw_data / external tensor. */
static int data_bytes(rd *r, const tinfo *ti, uint64_t *len,
                      const char *what)
{
	if (ti->enc == 9) {
		const uint8_t *d = NULL;
		size_t n = 0;
		raw_span(ti, &d, &n);
		*len = n;
		return 0;
	}
	if (ti->has_length) {
		*len = ti->length;
		return 0;
	}
	int fd;
	uint64_t size;
	spz_error sub = {0};
	int rc = spz_open_inside(&fd, &size, r->dir, ti->loc, &sub);
	if (rc)
		return spz_fail(r->err, rc, "'%s': %s: %s", r->label, what,
		                sub.text);
	close(fd);
	if (ti->off > size)
		return spz_fail(r->err, SPZ_EFORMAT, "'%s': %s: external offset "
		                "%llu is past the end of '%s' (%llu bytes)",
		                r->label, what, (unsigned long long)ti->off,
		                ti->loc, (unsigned long long)size);
	*len = size - ti->off;
	return 0;
}

/* The shell of a tensor: its fields but dims, data_type and the data. */
static int make_shell(rd *r, const tinfo *ti, spz_tensor *t)
{
	buf b = {0};
	const uint8_t *q = ti->msg, *end = ti->msg + ti->len;
	pb_field f;
	const char *why;
	while (pb_next(&f, &q, end, &why) == 1) {
		if (f.num == 1 || f.num == 2)
			continue;
		if (!ti->keep_data && is_payload_field(f.num))
			continue;
		if (ti->enc == 13 && (f.num == 13 || f.num == 14))
			continue;
		buf_add(&b, f.start, (size_t)(f.end - f.start));
	}
	int rc = b.oom ? SPZ_ENOMEM
	               : spz_tensor_set_onnx(t, b.p, b.n,
	                                     ti->keep_data ? -1 : ti->enc);
	free(b.p);
	if (rc)
		return spz_fail(r->err, SPZ_ENOMEM, "out of memory");
	return 0;
}

/* Adds the tensor ti to m with its values. */
static int load_tensor(rd *r, spz_model *m, const tinfo *ti)
{
	char what[300];
	snprintf(what, sizeof what, "tensor '%s'", ti->name);
	spz_error sub = {0};
	spz_tensor *t = NULL;
	int64_t n = ti->n;
	int rc, checked = 0;
	/* float32 raw_data at a 4-byte boundary of a mapped file is used
	 * where it lies (formats/README.md, "Mapped payloads"): no storage,
	 * no copy; the values are checked below all the same. */
	const uint8_t *raw = NULL;
	size_t raw_n = 0;
	int borrow = r->borrow && ti->dtype == SPZ_DTYPE_FLOAT &&
	             ti->enc == 9 && n > 0 && !raw_span(ti, &raw, &raw_n) &&
	             (uint64_t)raw_n == (uint64_t)n * 4 &&
	             (uint64_t)(raw - r->base) % 4 == 0;
	if (borrow) {
		rc = spz_model_add_tensor_shape(&t, m, ti->name, ti->dims,
		                                ti->ndims, &sub);
		if (rc)
			return spz_fail(r->err, rc, "'%s': %s", r->label,
			                sub.text);
		spz_tensor_borrow_data(t, (float *)(uintptr_t)raw);
		r->borrowed++;
		if ((rc = spz_tensor_check_values(t, 0, n, &sub)))
			return spz_fail(r->err, rc, "'%s': %s", r->label,
			                sub.text);
		return make_shell(r, ti, t);
	}
	if (spz_dtype_is_float(ti->dtype)) {
		rc = spz_model_add_tensor(&t, m, ti->name, ti->dims, ti->ndims,
		                          NULL, &sub);
		if (rc)
			return spz_fail(r->err, rc, "'%s': %s", r->label,
			                sub.text);
		t->dtype = ti->dtype;
		int size = spz_dtype_size(ti->dtype);
		if (ti->enc == 9 || ti->enc == 13) {
			uint64_t len;
			if ((rc = data_bytes(r, ti, &len, what)))
				return rc;
			if (len != (uint64_t)n * (uint64_t)size)
				return spz_fail(r->err, SPZ_EFORMAT,
				                "'%s': %s: %llu bytes of data for "
				                "%lld elements of %d bytes",
				                r->label, what,
				                (unsigned long long)len,
				                (long long)n, size);
			if (ti->dtype == SPZ_DTYPE_FLOAT) {
				/* The big case: straight into the tensor,
				 * checked piece by piece on the way. */
				rc = load_bytes(r, ti, t->data, len, what, t);
				checked = 1;
			} else {
				uint8_t *tmp = malloc((size_t)len + 1);
				if (!tmp)
					return spz_fail(r->err, SPZ_ENOMEM,
					                "out of memory");
				rc = load_bytes(r, ti, tmp, len, what, NULL);
				for (int64_t i = 0; !rc && i < n; i++)
					t->data[i] = le_to_float(
						tmp + i * size, ti->dtype);
				free(tmp);
			}
			if (rc)
				return rc;
		} else if (ti->enc >= 0) {
			int want = ti->dtype == SPZ_DTYPE_FLOAT ? 4
			         : ti->dtype == SPZ_DTYPE_DOUBLE ? 10 : 5;
			if (ti->enc != want)
				return spz_fail(r->err, SPZ_EFORMAT,
				                "'%s': %s: data_type %d cannot be "
				                "held in field %d", r->label, what,
				                ti->dtype, ti->enc);
			int bits = want == 4 ? 32 : want == 10 ? 64 : 0;
			int64_t cnt = each_value(ti, bits, NULL, NULL);
			if (cnt != n)
				return spz_fail(r->err, SPZ_EFORMAT,
				                "'%s': %s: %lld values for %lld "
				                "elements", r->label, what,
				                (long long)cnt, (long long)n);
			fill_ctx fc = {t, ti->dtype, 0, 0};
			each_value(ti, bits, fill_float, &fc);
			if (fc.range_bad)
				return spz_fail(r->err, SPZ_ERANGE,
				                "'%s': %s: a 16-bit value is out "
				                "of range", r->label, what);
		} else if (n) {
			return spz_fail(r->err, SPZ_EFORMAT, "'%s': %s has no "
			                "data", r->label, what);
		}
		if (!checked && (rc = spz_tensor_check_values(t, 0, n, &sub)))
			return spz_fail(r->err, rc, "'%s': %s", r->label,
			                sub.text);
		return make_shell(r, ti, t);
	}
	/* Carried tensors: little-endian bytes. */
	int size = spz_dtype_size(ti->dtype);
	uint64_t len = 0;
	if (!ti->keep_data && (ti->enc == 9 || ti->enc == 13)) {
		if ((rc = data_bytes(r, ti, &len, what)))
			return rc;
		if (size && len != (uint64_t)n * (uint64_t)size)
			return spz_fail(r->err, SPZ_EFORMAT, "'%s': %s: %llu "
			                "bytes of data for %lld elements of %d "
			                "bytes", r->label, what,
			                (unsigned long long)len, (long long)n,
			                size);
	} else if (!ti->keep_data && ti->enc >= 0) {
		int64_t cnt = each_value(ti, 0, NULL, NULL);
		if (cnt != n)
			return spz_fail(r->err, SPZ_EFORMAT, "'%s': %s: %lld "
			                "values for %lld elements", r->label,
			                what, (long long)cnt, (long long)n);
		len = (uint64_t)n * (uint64_t)size;
	} else if (!ti->keep_data && n && size) {
		return spz_fail(r->err, SPZ_EFORMAT, "'%s': %s has no data",
		                r->label, what);
	}
	if (len > SIZE_MAX - 1)
		return spz_fail(r->err, SPZ_ERANGE, "'%s': %s is too large",
		                r->label, what);
	uint8_t *tmp = malloc((size_t)len + 1);
	if (!tmp)
		return spz_fail(r->err, SPZ_ENOMEM, "out of memory");
	if (len && (ti->enc == 9 || ti->enc == 13)) {
		rc = load_bytes(r, ti, tmp, len, what, NULL);
	} else if (len) {
		spz_tensor fake = {.dtype = ti->dtype, .raw = tmp,
		                   .raw_len = len};
		fill_ctx fc = {&fake, ti->dtype, size, 0};
		each_value(ti, 0, fill_raw, &fc);
		rc = fc.range_bad ? spz_fail(r->err, SPZ_ERANGE, "'%s': %s: "
		                             "a value is out of the range of "
		                             "data_type %d", r->label, what,
		                             ti->dtype)
		                  : 0;
	}
	if (!rc) {
		rc = spz_model_add_raw_tensor(&t, m, ti->name, ti->dtype,
		                              ti->dims, ti->ndims, tmp, len,
		                              &sub);
		if (rc)
			rc = spz_fail(r->err, rc, "'%s': %s", r->label,
			              sub.text);
	}
	free(tmp);
	if (rc)
		return rc;
	return make_shell(r, ti, t);
}

/* A node as found in the main graph. */
typedef struct ninfo {
	const uint8_t *start, *end; /* the whole field */
	const uint8_t *msg;
	size_t len;
	pb_field op, name, domain;
	size_t n_in, n_out;
	pb_field in[8], out[2];     /* the first ones (for the patterns) */
	int constant;               /* index in the tinfo list, or -1 */
	int palette;                /* 1: Cast/Gather of a palettized
	                               weight, left out of the IR */
} ninfo;

/* The attribute named name of a node (its message), or NULL. */
static int node_attr(const ninfo *nd, const char *name, pb_field *out)
{
	const uint8_t *q = nd->msg, *end = nd->msg + nd->len;
	pb_field f;
	const char *why;
	while (pb_next(&f, &q, end, &why) == 1) {
		if (f.num != 5)
			continue;
		const uint8_t *a = f.data, *ae = f.data + f.len;
		pb_field g;
		while (pb_next(&g, &a, ae, &why) == 1)
			if (g.num == 1 && str_is(&g, name)) {
				*out = f;
				return 1;
			}
	}
	return 0;
}

/* Field num of an attribute message, or 0. */
static int attr_field(const pb_field *attr, uint32_t num, pb_field *out)
{
	const uint8_t *a = attr->data, *ae = attr->data + attr->len;
	pb_field g;
	const char *why;
	int found = 0;
	while (pb_next(&g, &a, ae, &why) == 1)
		if (g.num == num) {
			*out = g;
			found = 1;
		}
	return found;
}

static int scan_node(ninfo *nd, const pb_field *f)
{
	memset(nd, 0, sizeof *nd);
	nd->start = f->start;
	nd->end = f->end;
	nd->msg = f->data;
	nd->len = f->len;
	nd->constant = -1;
	const uint8_t *q = f->data, *end = f->data + f->len;
	pb_field g;
	const char *why;
	while (pb_next(&g, &q, end, &why) == 1) {
		if (g.num == 1) {
			if (nd->n_in < 8)
				nd->in[nd->n_in] = g;
			nd->n_in++;
		} else if (g.num == 2) {
			if (nd->n_out < 2)
				nd->out[nd->n_out] = g;
			nd->n_out++;
		} else if (g.num == 3) {
			nd->name = g;
		} else if (g.num == 4) {
			nd->op = g;
		} else if (g.num == 7) {
			nd->domain = g;
		}
	}
	return 0;
}

static int op_is(const ninfo *nd, const char *op)
{
	return nd->op.data && str_is(&nd->op, op) &&
	       (!nd->domain.data || nd->domain.len == 0 ||
	        str_is(&nd->domain, "ai.onnx"));
}

static int span_eq(const pb_field *a, const pb_field *b)
{
	return a->len == b->len && !memcmp(a->data, b->data, a->len);
}

static int span_is_name(const pb_field *a, const char *s)
{
	return a->data && str_is(a, s);
}

/* The parsed main graph. */
typedef struct gparse {
	pb_field *fields;   /* every field of the GraphProto */
	size_t n_fields;
	ninfo *nodes;       /* per field (valid where fields[i].num == 1) */
	tinfo *tensors;     /* initializers then Constant tensors */
	size_t n_tensors;
	int *field_tensor;  /* per field: tinfo index of an initializer */
	int *palette_of;    /* per tinfo: index of the tinfo of the codes
	                       tensor whose weight it is (see palettes) */
	struct palette {
		int codes, codebook; /* tinfo indices */
		size_t cast, gather; /* field indices */
		char *name;
		uint8_t *code_v;
		float *book;
		uint32_t k;
	} *pal;
	size_t n_pal;
} gparse;

static void gparse_free(gparse *g)
{
	for (size_t i = 0; i < g->n_tensors; i++)
		tinfo_free(&g->tensors[i]);
	for (size_t i = 0; i < g->n_pal; i++) {
		free(g->pal[i].name);
		free(g->pal[i].code_v);
		free(g->pal[i].book);
	}
	free(g->fields);
	free(g->nodes);
	free(g->tensors);
	free(g->field_tensor);
	free(g->palette_of);
	free(g->pal);
}

/* How many node inputs (of the main graph) name value v. */
static size_t uses(const gparse *g, const pb_field *v)
{
	size_t n = 0;
	for (size_t i = 0; i < g->n_fields; i++) {
		if (g->fields[i].num != 1)
			continue;
		const ninfo *nd = &g->nodes[i];
		const uint8_t *q = nd->msg, *end = nd->msg + nd->len;
		pb_field f;
		const char *why;
		while (pb_next(&f, &q, end, &why) == 1)
			if (f.num == 1 && span_eq(&f, v))
				n++;
	}
	return n;
}

static int find_tensor(const gparse *g, const pb_field *v)
{
	for (size_t i = 0; i < g->n_tensors; i++)
		if (!strncmp(g->tensors[i].name, (const char *)v->data, v->len) &&
		    g->tensors[i].name[v->len] == 0)
			return (int)i;
	return -1;
}

/* Recognises Cast(to=INT32|INT64) + Gather(axis=0) over a UINT8 codes
 * initializer and a 1-D float codebook with entry 0 == 0 (what the writer
 * emits) and records it as a palettized weight. Anything that differs in
 * the least is left as the graph it is. */
static int find_palettes(rd *r, gparse *g)
{
	for (size_t i = 0; i < g->n_fields; i++) {
		const ninfo *ga = &g->nodes[i];
		if (g->fields[i].num != 1 || !op_is(ga, "Gather") ||
		    ga->n_in != 2 || ga->n_out != 1)
			continue;
		pb_field at, v;
		if (node_attr(ga, "axis", &at) &&
		    (!attr_field(&at, 3, &v) || v.v != 0))
			continue;
		size_t ci = g->n_fields;
		for (size_t k = 0; k < i; k++)
			if (g->fields[k].num == 1 &&
			    op_is(&g->nodes[k], "Cast") &&
			    g->nodes[k].n_in == 1 && g->nodes[k].n_out == 1 &&
			    span_eq(&g->nodes[k].out[0], &ga->in[1]))
				ci = k;
		if (ci == g->n_fields)
			continue;
		const ninfo *ca = &g->nodes[ci];
		if (!node_attr(ca, "to", &at) || !attr_field(&at, 3, &v) ||
		    (v.v != 6 && v.v != 7))
			continue;
		int codes = find_tensor(g, &ca->in[0]);
		int book = find_tensor(g, &ga->in[0]);
		if (codes < 0 || book < 0 || find_tensor(g, &ga->out[0]) >= 0)
			continue;
		tinfo *tc = &g->tensors[codes], *tb = &g->tensors[book];
		if (tc->dtype != SPZ_DTYPE_UINT8 || tc->used || tb->used ||
		    !spz_dtype_is_float(tb->dtype) || tb->ndims != 1 ||
		    tb->dims[0] < 1 || tb->dims[0] > 256 || tc->keep_data ||
		    (tc->enc != 9 && tc->enc != 13 && tc->enc != 5) ||
		    uses(g, &ca->in[0]) != 1 || uses(g, &ga->in[0]) != 1 ||
		    uses(g, &ga->in[1]) != 1)
			continue;
		/* Load both through a scratch model to check the values. */
		spz_model *tmp;
		if (spz_model_new(&tmp, ""))
			return spz_fail(r->err, SPZ_ENOMEM, "out of memory");
		int rc = load_tensor(r, tmp, tc);
		if (!rc)
			rc = load_tensor(r, tmp, tb);
		if (rc) {
			spz_model_free(tmp);
			return rc;
		}
		spz_tensor *c = &tmp->tensors[0], *b = &tmp->tensors[1];
		/* The codebook's floats are taken over below: memory of its
		 * own, not the file's mapping. */
		if (b->data_borrowed) {
			spz_error sub = {0};
			r->borrowed--;
			if ((rc = spz_tensor_own_data(b, &sub))) {
				spz_model_free(tmp);
				return spz_fail(r->err, rc, "%s", sub.text);
			}
		}
		uint32_t k = (uint32_t)b->dims[0];
		int ok = b->data[0] == 0.0f && !signbit(b->data[0]);
		for (uint64_t e = 0; ok && e < c->raw_len; e++)
			ok = c->raw[e] < k;
		if (ok) {
			struct palette *np = realloc(g->pal, (g->n_pal + 1) *
			                                     sizeof *np);
			if (!np) {
				spz_model_free(tmp);
				return spz_fail(r->err, SPZ_ENOMEM,
				                "out of memory");
			}
			g->pal = np;
			struct palette *p = &g->pal[g->n_pal++];
			memset(p, 0, sizeof *p);
			p->codes = codes;
			p->codebook = book;
			p->cast = ci;
			p->gather = i;
			p->k = k;
			p->code_v = c->raw;
			c->raw = NULL;
			p->book = b->data;
			b->data = NULL;
			rc = get_name(r, &p->name, &ga->out[0], "a node output");
			tc->used = tb->used = 1;
			g->nodes[ci].palette = g->nodes[i].palette = 1;
		}
		spz_model_free(tmp);
		if (rc)
			return rc;
	}
	return 0;
}

typedef struct num_ctx {
	double *v;
	int floats;
	int ok;
} num_ctx;

static void put_number(void *c, int64_t i, uint64_t x)
{
	num_ctx *nc = c;
	if (!nc->floats) {
		nc->v[i] = (double)(int64_t)x;
		return;
	}
	uint32_t w = (uint32_t)x;
	float fv;
	memcpy(&fv, &w, sizeof fv);
	nc->ok = nc->ok && isfinite(fv);
	nc->v[i] = fv;
}

/* Adds the IR node of nd (not a Constant tensor, not a palette). */
static int add_ir_node(rd *r, spz_model *m, const ninfo *nd, size_t idx)
{
	char what[64];
	snprintf(what, sizeof what, "node %zu", idx);
	size_t ni = 0, no = 0;
	char **in = calloc(nd->n_in + 1, sizeof *in);
	char **out = calloc(nd->n_out + 1, sizeof *out);
	char *op = NULL, *name = NULL;
	int rc = in && out ? 0 : spz_fail(r->err, SPZ_ENOMEM, "out of memory");
	const uint8_t *q = nd->msg, *end = nd->msg + nd->len;
	pb_field f;
	const char *why;
	char whatn[96];
	while (!rc && pb_next(&f, &q, end, &why) == 1) {
		snprintf(whatn, sizeof whatn, "%s: a name", what);
		if (f.num == 1)
			rc = get_name(r, &in[ni++], &f, whatn);
		else if (f.num == 2)
			rc = get_name(r, &out[no++], &f, whatn);
		else if (f.num == 3 && !name)
			rc = get_name(r, &name, &f, whatn);
		else if (f.num == 4 && !op)
			rc = get_name(r, &op, &f, whatn);
	}
	spz_node *node = NULL;
	if (!rc && !op)
		rc = spz_fail(r->err, SPZ_EFORMAT, "'%s': %s has no op_type",
		              r->label, what);
	if (!rc && spz_model_add_node(&node, m, op, name ? name : "",
	                              (const char *const *)in, ni,
	                              (const char *const *)out, no))
		rc = spz_fail(r->err, SPZ_ENOMEM, "out of memory");
	for (size_t i = 0; i < ni; i++)
		free(in[i]);
	for (size_t i = 0; i < no; i++)
		free(out[i]);
	free(in);
	free(out);
	free(op);
	free(name);
	/* Attributes the algorithms can read: numbers, number lists, text.
	 * Tensors, graphs and the rest stay in the skeleton only. */
	q = nd->msg;
	while (!rc && pb_next(&f, &q, end, &why) == 1) {
		if (f.num != 5)
			continue;
		pb_field an, v;
		char *aname = NULL;
		if (!attr_field(&f, 1, &an))
			continue;
		snprintf(whatn, sizeof whatn, "%s: an attribute name", what);
		if ((rc = get_name(r, &aname, &an, whatn)))
			break;
		int type = attr_field(&f, 20, &v) ? (int)v.v : 0;
		pb_field x;
		if ((type == 1 || !type) && attr_field(&f, 2, &x)) {
			uint32_t w = (uint32_t)x.v;
			float fv;
			memcpy(&fv, &w, sizeof fv);
			if (isfinite(fv))
				rc = spz_node_set_number(node, aname, fv);
		} else if ((type == 2 || !type) && attr_field(&f, 3, &x)) {
			rc = spz_node_set_number(node, aname,
			                         (double)(int64_t)x.v);
		} else if ((type == 3 || !type) && attr_field(&f, 4, &x)) {
			if (spz_text_check((const char *)x.data, x.len) < 0 &&
			    !memchr(x.data, 0, x.len)) {
				char *s = strndup((const char *)x.data, x.len);
				rc = s ? spz_node_set_string(node, aname, s)
				       : SPZ_ENOMEM;
				free(s);
			}
		} else if (type == 6 || type == 7) {
			/* floats (7) or ints (8), packed or not. */
			tinfo fake = {.msg = f.data, .len = f.len,
			              .enc = type == 6 ? 7 : 8};
			int bits = type == 6 ? 32 : 0;
			int64_t cnt = each_value(&fake, bits, NULL, NULL);
			num_ctx nc = {malloc((size_t)(cnt + 1) * sizeof(double)),
			              type == 6, 1};
			if (!nc.v) {
				rc = SPZ_ENOMEM;
			} else {
				each_value(&fake, bits, put_number, &nc);
				if (nc.ok)
					rc = spz_node_set_numbers(node, aname,
					                          nc.v,
					                          (size_t)cnt);
				free(nc.v);
			}
		}
		free(aname);
		if (rc)
			rc = spz_fail(r->err, SPZ_ENOMEM, "out of memory");
	}
	return rc;
}

/* A placeholder TensorProto: only the name (field 8). */
static void put_placeholder(buf *b, uint32_t num, const char *name)
{
	size_t n = strlen(name);
	buf_head(b, num, PB_LEN, (uint64_t)pb_head_size(8, PB_LEN, n) + n);
	buf_bytes_field(b, 8, name, n);
}

/* Node nd with its 'value' attribute's tensor replaced by a placeholder
 * naming name, as field 1 of the graph. */
static void put_constant_node(buf *b, const ninfo *nd, const char *name)
{
	buf node = {0};
	const uint8_t *q = nd->msg, *end = nd->msg + nd->len;
	pb_field f;
	const char *why;
	while (pb_next(&f, &q, end, &why) == 1) {
		pb_field an;
		if (f.num != 5 || !attr_field(&f, 1, &an) ||
		    !str_is(&an, "value")) {
			buf_add(&node, f.start, (size_t)(f.end - f.start));
			continue;
		}
		buf attr = {0};
		const uint8_t *a = f.data, *ae = f.data + f.len;
		pb_field g;
		while (pb_next(&g, &a, ae, &why) == 1) {
			if (g.num == 5)
				put_placeholder(&attr, 5, name);
			else
				buf_add(&attr, g.start,
				        (size_t)(g.end - g.start));
		}
		buf_head(&node, 5, PB_LEN, attr.n);
		buf_add(&node, attr.p, attr.n);
		node.oom |= attr.oom;
		free(attr.p);
	}
	buf_head(b, 1, PB_LEN, node.n);
	buf_add(b, node.p, node.n);
	b->oom |= node.oom;
	free(node.p);
}

static int read_graph(rd *r, spz_model *m, const uint8_t *gp, size_t glen,
                      buf *skel)
{
	gparse g = {0};
	int rc = 0;
	const char *why;
	pb_field f;
	/* Every field, once. */
	size_t cap = 0;
	for (const uint8_t *q = gp; pb_next(&f, &q, gp + glen, &why) == 1;) {
		if (g.n_fields == cap) {
			cap = cap ? cap * 2 : 64;
			pb_field *nf = realloc(g.fields, cap * sizeof *nf);
			if (!nf) {
				rc = spz_fail(r->err, SPZ_ENOMEM, "out of memory");
				goto done;
			}
			g.fields = nf;
		}
		g.fields[g.n_fields++] = f;
	}
	size_t nf = g.n_fields;
	g.nodes = calloc(nf + 1, sizeof *g.nodes);
	g.tensors = calloc(nf + 1, sizeof *g.tensors);
	g.field_tensor = calloc(nf + 1, sizeof *g.field_tensor);
	if (!g.nodes || !g.tensors || !g.field_tensor) {
		rc = spz_fail(r->err, SPZ_ENOMEM, "out of memory");
		goto done;
	}
	/* Initializers, then the tensors of Constant nodes. */
	char what[300];
	for (size_t i = 0; !rc && i < nf; i++) {
		g.field_tensor[i] = -1;
		if (g.fields[i].num != 5)
			continue;
		tinfo *t = &g.tensors[g.n_tensors];
		pb_field nm = {0};
		const uint8_t *q = g.fields[i].data;
		const uint8_t *e = q + g.fields[i].len;
		while (pb_next(&f, &q, e, &why) == 1)
			if (f.num == 8)
				nm = f;
		snprintf(what, sizeof what, "initializer %zu", g.n_tensors);
		if (!nm.data) {
			rc = spz_fail(r->err, SPZ_EFORMAT, "'%s': %s has no "
			              "name", r->label, what);
			break;
		}
		snprintf(what, sizeof what, "initializer %zu: the name",
		         g.n_tensors);
		if ((rc = get_name(r, &t->name, &nm, what)))
			break;
		snprintf(what, sizeof what, "tensor '%s'", t->name);
		g.field_tensor[i] = (int)g.n_tensors++;
		rc = scan_tensor(r, t, g.fields[i].data, g.fields[i].len, what);
	}
	for (size_t i = 0; !rc && i < nf; i++) {
		if (g.fields[i].num != 1)
			continue;
		ninfo *nd = &g.nodes[i];
		scan_node(nd, &g.fields[i]);
		pb_field at, t;
		if (!op_is(nd, "Constant") || nd->n_out != 1 ||
		    !node_attr(nd, "value", &at) || !attr_field(&at, 5, &t))
			continue;
		tinfo *ti = &g.tensors[g.n_tensors];
		snprintf(what, sizeof what, "node %zu: the output", i);
		if ((rc = get_name(r, &ti->name, &nd->out[0], what)))
			break;
		snprintf(what, sizeof what, "tensor '%s' (a Constant)",
		         ti->name);
		nd->constant = (int)g.n_tensors++;
		rc = scan_tensor(r, ti, t.data, t.len, what);
	}
	if (!rc)
		rc = find_palettes(r, &g);
	if (rc)
		goto done;
	/* The IR: nodes in order, then every tensor. */
	size_t node_idx = 0;
	for (size_t i = 0; !rc && i < nf; i++) {
		const ninfo *nd = &g.nodes[i];
		if (g.fields[i].num != 1)
			continue;
		if (nd->constant < 0 && !nd->palette)
			rc = add_ir_node(r, m, nd, node_idx);
		node_idx++;
	}
	for (size_t i = 0; !rc && i < g.n_tensors; i++) {
		const tinfo *ti = &g.tensors[i];
		if (r->in && r->fd >= 0 &&
		    (uint64_t)(ti->msg - r->base) > r->said) {
			r->said = (uint64_t)(ti->msg - r->base);
			spz_input_progress(r->in, r->said);
		}
		int p;
		for (p = 0; p < (int)g.n_pal; p++)
			if (g.pal[p].codes == (int)i)
				break;
		if (p < (int)g.n_pal) {
			struct palette *pl = &g.pal[p];
			spz_tensor *t;
			spz_error sub = {0};
			rc = spz_model_add_tensor(&t, m, pl->name, ti->dims,
			                          ti->ndims, NULL, &sub);
			if (rc) {
				rc = spz_fail(r->err, rc, "'%s': %s", r->label,
				              sub.text);
				break;
			}
			int bits = 1;
			while ((1u << bits) < pl->k)
				bits++;
			t->dtype = g.tensors[pl->codebook].dtype;
			spz_tensor_set_quantized(t, bits, pl->book, pl->k,
			                         pl->code_v);
			pl->book = NULL;
			pl->code_v = NULL;
			continue;
		}
		if (ti->used)
			continue;
		rc = load_tensor(r, m, ti);
	}
	/* Graph inputs and outputs (inputs that name an initializer are not
	 * inputs of the computation). */
	for (size_t i = 0; !rc && i < nf; i++) {
		if (g.fields[i].num != 11 && g.fields[i].num != 12)
			continue;
		const uint8_t *q = g.fields[i].data;
		const uint8_t *e = q + g.fields[i].len;
		pb_field nm = {0};
		while (pb_next(&f, &q, e, &why) == 1)
			if (f.num == 1)
				nm = f;
		char *name = NULL;
		if (!nm.data)
			nm.len = 0, nm.data = (const uint8_t *)"";
		if ((rc = get_name(r, &name, &nm, "a graph input or output")))
			break;
		if (g.fields[i].num == 12)
			rc = spz_model_add_output(m, name);
		else if (!spz_model_tensor(m, name))
			rc = spz_model_add_input(m, name);
		free(name);
		if (rc)
			rc = spz_fail(r->err, SPZ_ENOMEM, "out of memory");
	}
	if (rc)
		goto done;
	/* The skeleton of the graph. */
	for (size_t i = 0; i < nf; i++) {
		const pb_field *gf = &g.fields[i];
		const ninfo *nd = &g.nodes[i];
		if (gf->num == 1 && nd->palette)
			continue;
		if (gf->num == 1 && nd->constant >= 0) {
			put_constant_node(skel, nd, g.tensors[nd->constant].name);
			continue;
		}
		if (gf->num == 5) {
			int ti = g.field_tensor[i];
			size_t p;
			for (p = 0; p < g.n_pal; p++)
				if (g.pal[p].codes == ti)
					break;
			if (p < g.n_pal)
				put_placeholder(skel, 5, g.pal[p].name);
			else if (!g.tensors[ti].used)
				put_placeholder(skel, 5, g.tensors[ti].name);
			continue;
		}
		buf_add(skel, gf->start, (size_t)(gf->end - gf->start));
	}
	if (skel->oom)
		rc = spz_fail(r->err, SPZ_ENOMEM, "out of memory");
done:
	gparse_free(&g);
	return rc;
}

static int read_model(rd *r, spz_model **out)
{
	int rc = check_msg(r, M_MODEL, r->base, r->size, 0);
	if (rc)
		return rc;
	spz_model *m;
	if (spz_model_new(&m, ""))
		return spz_fail(r->err, SPZ_ENOMEM, "out of memory");
	buf skel = {0}, graph = {0};
	const uint8_t *q = r->base, *end = r->base + r->size;
	pb_field f;
	const char *why;
	int graphs = 0;
	while (!rc && pb_next(&f, &q, end, &why) == 1) {
		if (f.num != 7) {
			buf_add(&skel, f.start, (size_t)(f.end - f.start));
			continue;
		}
		if (graphs++) {
			rc = spz_fail(r->err, SPZ_EFORMAT, "'%s': not ONNX: two "
			              "graphs in the model", r->label);
			break;
		}
		/* The graph's name is the model's. */
		const uint8_t *g = f.data, *ge = f.data + f.len;
		pb_field h;
		while (pb_next(&h, &g, ge, &why) == 1)
			if (h.num == 2) {
				char *name = NULL;
				if ((rc = get_name(r, &name, &h,
				                   "the graph name")))
					break;
				free(m->name);
				m->name = name;
			}
		if (!rc)
			rc = read_graph(r, m, f.data, f.len, &graph);
		if (!rc) {
			buf_head(&skel, 7, PB_LEN, graph.n);
			buf_add(&skel, graph.p, graph.n);
		}
	}
	if (!rc && !graphs)
		rc = spz_fail(r->err, SPZ_EFORMAT, "'%s': not ONNX: the model "
		              "has no graph", r->label);
	if (!rc && (skel.oom || spz_model_set_onnx(m, skel.p, skel.n)))
		rc = spz_fail(r->err, SPZ_ENOMEM, "out of memory");
	free(skel.p);
	free(graph.p);
	if (!rc) {
		spz_error sub = {0};
		if ((rc = spz_model_validate_graph(m, &sub)))
			spz_fail(r->err, rc, "'%s': %s", r->label, sub.text);
	}
	/* A Gemm or Conv whose weight is fed at run time is not a model spz
	 * can compress: say so rather than find no weight to prune. */
	for (size_t i = 0; !rc && i < m->n_nodes; i++) {
		const spz_node *n = &m->nodes[i];
		if ((strcmp(n->op, "Gemm") && strcmp(n->op, "Conv")) ||
		    n->n_inputs < 2)
			continue;
		for (size_t k = 0; k < m->n_inputs; k++)
			if (!strcmp(m->inputs[k], n->inputs[1])) {
				char who[300];
				if (n->name[0])
					snprintf(who, sizeof who, "'%s'", n->name);
				else
					snprintf(who, sizeof who, "%zu", i);
				rc = spz_fail(r->err, SPZ_EUNSUPPORTED, "'%s': "
				              "node %s (%s): its weight '%s' is a "
				              "graph input, not a constant weight",
				              r->label, who, n->op, n->inputs[1]);
				break;
			}
	}
	if (rc) {
		spz_model_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

int spz_onnx_read(spz_model **out, spz_input *in, spz_error *err)
{
	rd r = {in->label, in->dir, NULL, 0, -1, err, in, 0, 0, 0};
	struct stat st;
	void *map = NULL;
	char *text = NULL;
	size_t len = 0;
	int rc;
	/* A file is mapped: float32 tensors point into it where they can
	 * (spz_input_map_file), else only the graph's pages are touched and
	 * payloads are pread straight into the tensors; a pipe is read
	 * whole. */
	const unsigned char *whole;
	size_t whole_len;
	if (in->own_fd && fstat(in->fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    st.st_size > 0) {
		if ((uint64_t)st.st_size > PB_LIMIT)
			return spz_fail(err, SPZ_EFORMAT, "'%s': not ONNX: %llu "
			                "bytes is over the 2 GiB protobuf limit "
			                "(large models keep their tensors in "
			                "external data)", in->label,
			                (unsigned long long)st.st_size);
		r.fd = in->fd;
		if (spz_input_map_file(in, &whole, &whole_len) == 0) {
			r.base = whole;
			r.size = whole_len;
			r.borrow = 1;
		}
	}
	if (r.borrow) {
		/* mapped above */
	} else if (r.fd >= 0) {
		map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE,
		           in->fd, 0);
		if (map == MAP_FAILED)
			return spz_fail(err, SPZ_EIO, "cannot read '%s': %s",
			                in->label, strerror(errno));
		r.base = map;
		r.size = (size_t)st.st_size;
	} else {
		/* One protobuf message holds at most 2 GiB: the cap. */
		if ((rc = spz_input_slurp(&text, &len, in, PB_LIMIT,
		                          "an ONNX model (the protobuf limit; "
		                          "large models keep their tensors in "
		                          "external data)", err)))
			return rc;
		r.base = (const uint8_t *)text;
		r.size = len;
	}
	rc = read_model(&r, out);
	if (map)
		munmap(map, r.size);
	free(text);
	/* The model keeps the mapping its tensors point into; with none
	 * (or on failure: the model is gone) it goes now. */
	if (!rc && r.borrowed && spz_input_give_map(in, *out)) {
		spz_model_free(*out);
		*out = NULL;
		rc = spz_fail(err, SPZ_ENOMEM, "out of memory");
	}
	if (in->map) {
		spz_input_unmap(in->map, in->map_len);
		in->map = NULL;
		in->map_len = 0;
	}
	return rc;
}

/* ------------------------------------------------------------------ */
/* Writing                                                             */

/* Progress of a write by bytes of both files: the model's (counted
 * before it is written) and then the external data's. */
typedef struct wtick {
	spz_wprog *wp;     /* NULL: nobody listens */
	uint64_t base;     /* bytes before the sink being written */
	uint64_t total;    /* of both files */
	uint64_t next;     /* the byte count of the next call */
} wtick;

typedef struct wr {
	const spz_model *m;
	const uint8_t *skel;
	size_t skel_len;
	const char *ext_loc;   /* external data location, NULL: inline */
	uint64_t *ext_off;     /* per tensor: offset in the external file of
	                          its data (its codes when quantized) */
	uint8_t *placed;       /* per tensor: named by an initializer
	                          placeholder of the skeleton */
	uint8_t *constant;     /* per tensor: by a Constant placeholder */
	spz_error *err;
	wtick *tick;           /* may be NULL */
	struct wstream *st;    /* NULL: values were checked before writing */
} wr;

/*
 * Writing a big float32 tensor took two trips through memory: checking
 * its values, then write() copying it into the page cache (151 MB: ~5 ms
 * and ~25 ms on tmpfs). When the files are regular ones that end where
 * they stand, so that a failure can cut them back to that (nothing
 * written, as before), the dense float32 tensors are instead written
 * piece by piece with pwrite, and each piece's values are checked right
 * after, while the copy has left them in the cache. The pieces end on
 * WPIECE boundaries of the file. Any failure then looks for the fault
 * spz_model_validate would have found first, so the message is the one
 * checking everything up front gives.
 */
#define WPIECE ((size_t)1 << 20)

typedef struct wstream {
	uint8_t *deferred;     /* per tensor: checked as it is written */
	uint8_t *checked;      /* per tensor: that happened, all of it */
	int rc;                /* first failure: nothing more is written */
} wstream;

/* Tells the progress hook, at most once per SPZ_WPROG_BYTES, how far
 * the writer is: s's bytes after the base. Elements of the model are
 * the unit the hook takes; bytes give its fraction. */
static void tick(const wr *w, const pb_sink *s)
{
	wtick *k = w->tick;
	if (!k || !k->wp || !s->f || !k->total || k->base + s->n < k->next)
		return;
	uint64_t at = k->base + s->n;
	k->next = at + SPZ_WPROG_BYTES;
	spz_wprog_at(k->wp, k->wp->total * ((double)at / (double)k->total));
}

static size_t tensor_index(const wr *w, const spz_tensor *t)
{
	return (size_t)(t - w->m->tensors);
}

/* Tensor t's float32 values to the file of sink s (a regular one: see
 * struct wstream), each piece checked once it is written. */
static void out_checked(pb_sink *s, const wr *w, const spz_tensor *t)
{
	wstream *st = w->st;
	size_t n = (size_t)spz_tensor_elements(t) * 4;
	const uint8_t *p = (const uint8_t *)t->data;
	off_t at;
	if (st->rc || fflush(s->f) || (at = ftello(s->f)) < 0) {
		if (!st->rc)
			st->rc = spz_fail(w->err, SPZ_EIO, "%s",
			                  strerror(errno));
		s->n += n;
		return;
	}
	int fd = fileno(s->f);
	int64_t checked = 0;
	size_t done = 0;
	while (done < n) {
		size_t k = WPIECE - (size_t)((uint64_t)(at + (off_t)done) %
		                             WPIECE);
		k = k < n - done ? k : n - done;
		int rc = spz_pwrite_all(fd, p + done, k, at + (off_t)done,
		                        w->err);
		/* The floats the piece completes (its last may go on in the
		 * next one). */
		int64_t upto = (int64_t)((done + k) / 4);
		if (!rc && upto > checked)
			rc = spz_tensor_check_values(t, checked, upto - checked,
			                             w->err);
		checked = upto;
		if (rc) {
			st->rc = rc;
			break;
		}
		done += k;
		s->n += k;
		tick(w, s);
	}
	s->n += n - done;
	if (fseeko(s->f, at + (off_t)n, SEEK_SET) && !st->rc)
		st->rc = spz_fail(w->err, SPZ_EIO, "%s", strerror(errno));
	if (!st->rc)
		st->checked[tensor_index(w, t)] = 1;
}

/* Is t one of the model's tensors (not a view of a part of one) whose
 * values are checked as they are written? */
static int is_deferred(const wr *w, const spz_tensor *t)
{
	uintptr_t at = (uintptr_t)t - (uintptr_t)w->m->tensors;
	return at < w->m->n_tensors * sizeof *t &&
	       w->st->deferred[tensor_index(w, t)];
}

/* pb_out of a big payload in SPZ_WPROG_BYTES pieces, with progress. */
static void out_big(pb_sink *s, const wr *w, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n) {
		size_t k = n < SPZ_WPROG_BYTES ? n : SPZ_WPROG_BYTES;
		pb_out(s, b, k);
		tick(w, s);
		b += k;
		n -= k;
	}
}

/* Bytes of the data of t as field enc would hold it (PB_LEN payload). */
static uint64_t payload_size(const spz_tensor *t, int enc)
{
	int64_t n = spz_tensor_elements(t);
	if (enc == 9) {
		if (spz_dtype_is_float(t->dtype))
			return (uint64_t)n * (uint64_t)spz_dtype_size(t->dtype);
		return t->raw_len;
	}
	if (enc == 4)
		return (uint64_t)n * 4;
	if (enc == 10)
		return (uint64_t)n * 8;
	/* Varints. */
	uint64_t s = 0;
	if (spz_dtype_is_float(t->dtype)) {
		for (int64_t i = 0; i < n; i++)
			s += (uint64_t)pb_varint_size(
				t->dtype == SPZ_DTYPE_FLOAT16
					? float_to_half(t->data[i])
					: float_to_bf16(t->data[i]));
		return s;
	}
	for (int64_t i = 0; i < n; i++) {
		int64_t v = 0;
		if (spz_tensor_int64(&v, t, i) == SPZ_ERANGE) {
			uint64_t u = 0;
			memcpy(&u, t->raw + i * 8, 8);
			s += (uint64_t)pb_varint_size(u);
			continue;
		}
		s += (uint64_t)pb_varint_size((uint64_t)v);
	}
	return s;
}

/* Writes the data of t as field enc holds it (see payload_size). */
static void put_payload(pb_sink *s, const wr *w, const spz_tensor *t,
                        int enc)
{
	int64_t n = spz_tensor_elements(t);
	if (!s->f) {
		s->n += payload_size(t, enc);
		return;
	}
	if (!spz_dtype_is_float(t->dtype) && enc == 9) {
		out_big(s, w, t->raw, (size_t)t->raw_len);
		return;
	}
	if (t->dtype == SPZ_DTYPE_FLOAT && (enc == 9 || enc == 4)) {
		/* little-endian host: the bytes as they are */
		if (w->st && is_deferred(w, t))
			out_checked(s, w, t);
		else
			out_big(s, w, t->data, (size_t)n * 4);
		return;
	}
	uint8_t b[4096];
	size_t k = 0;
	for (int64_t i = 0; i < n; i++) {
		if (k > sizeof b - 16) {
			pb_out(s, b, k);
			tick(w, s);
			k = 0;
		}
		uint64_t x;
		if (spz_dtype_is_float(t->dtype)) {
			float v = t->data[i];
			if (t->dtype == SPZ_DTYPE_DOUBLE) {
				double d = v;
				memcpy(&x, &d, 8);
			} else if (t->dtype == SPZ_DTYPE_FLOAT16) {
				x = float_to_half(v);
			} else if (t->dtype == SPZ_DTYPE_BFLOAT16) {
				x = float_to_bf16(v);
			} else {
				uint32_t w;
				memcpy(&w, &v, 4);
				x = w;
			}
			if (enc == 9 || enc == 4 || enc == 10) {
				int sz = enc == 9 ? spz_dtype_size(t->dtype)
				         : enc == 4 ? 4 : 8;
				for (int j = 0; j < sz; j++)
					b[k++] = (uint8_t)(x >> (8 * j));
				continue;
			}
		} else {
			int64_t v = 0;
			if (spz_tensor_int64(&v, t, i) == SPZ_ERANGE)
				memcpy(&v, t->raw + i * 8, 8);
			x = (uint64_t)v;
		}
		k += (size_t)pb_put_varint(b + k, x);
	}
	pb_out(s, b, k);
}

/* Where t's data goes: its own field, or 9 (raw_data) when it had none
 * or came from external data. */
static int data_field(const spz_tensor *t)
{
	int enc = t->onnx_enc;
	if (enc == 13 || enc == 0 || (enc == -1 && spz_tensor_elements(t) &&
	                              (t->data || t->raw_len)))
		return 9;
	return enc;
}

static void put_dims(pb_sink *s, const spz_tensor *t)
{
	for (int d = 0; d < t->ndims; d++)
		pb_out_varint_field(s, 1, (uint64_t)t->dims[d]);
}

static void put_external(pb_sink *s, const char *loc, uint64_t off,
                         uint64_t len)
{
	char num[32];
	size_t ll = strlen(loc);
	pb_out_head(s, 13, PB_LEN, (uint64_t)pb_head_size(1, PB_LEN, 8) + 8 +
	                                   (uint64_t)pb_head_size(2, PB_LEN, ll) +
	                                   ll);
	pb_out_string_field(s, 1, "location");
	pb_out_string_field(s, 2, loc);
	const char *keys[2] = {"offset", "length"};
	uint64_t vals[2] = {off, len};
	for (int i = 0; i < 2; i++) {
		snprintf(num, sizeof num, "%llu", (unsigned long long)vals[i]);
		size_t kl = strlen(keys[i]), nl = strlen(num);
		pb_out_head(s, 13, PB_LEN,
		            (uint64_t)pb_head_size(1, PB_LEN, kl) + kl +
		                    (uint64_t)pb_head_size(2, PB_LEN, nl) + nl);
		pb_out_string_field(s, 1, keys[i]);
		pb_out_string_field(s, 2, num);
	}
	pb_out_varint_field(s, 14, 1);
}

/* The data of t at field enc: inline, or its reference to the external
 * file. */
static void put_data(pb_sink *s, const wr *w, const spz_tensor *t, int enc,
                     uint64_t plen, int ext)
{
	if (ext) {
		put_external(s, w->ext_loc, w->ext_off[tensor_index(w, t)],
		             plen);
	} else if (plen || enc == 9) {
		pb_out_head(s, (uint32_t)enc, PB_LEN, plen);
		put_payload(s, w, t, enc);
	}
}

/* The TensorProto of a dense (or carried) tensor, without its key. */
static void put_tensor(pb_sink *s, const wr *w, const spz_tensor *t)
{
	int enc = data_field(t);
	uint64_t plen = enc > 0 ? payload_size(t, enc) : 0;
	int ext = w->ext_loc && enc == 9 && plen >= EXT_MIN;
	/* Shell fields go around the data in field-number order, as a
	 * protobuf serializer writes them. */
	uint32_t at = ext ? 13 : (uint32_t)(enc > 0 ? enc : 0);
	int done = enc <= 0;
	put_dims(s, t);
	pb_out_varint_field(s, 2, (uint64_t)t->dtype);
	if (!t->onnx_enc)
		pb_out_string_field(s, 8, t->name);
	const uint8_t *q = t->onnx, *end = t->onnx + t->onnx_len;
	pb_field f;
	const char *why;
	while (t->onnx && pb_next(&f, &q, end, &why) == 1) {
		if (!done && f.num > at) {
			put_data(s, w, t, enc, plen, ext);
			done = 1;
		}
		pb_out(s, f.start, (size_t)(f.end - f.start));
	}
	if (!done)
		put_data(s, w, t, enc, plen, ext);
}

/* Names of the palettized form of weight NAME. */
static void pal_name(char *b, size_t n, const char *name, const char *sfx)
{
	snprintf(b, n, "%s%s", name, sfx);
}

/* The codes and the codebook of a quantized tensor, as two initializers
 * (fields 5 of the graph). */
static void put_palette_tensors(pb_sink *s, const wr *w, const spz_tensor *t)
{
	int64_t n = spz_tensor_elements(t);
	size_t nl = strlen(t->name) + 16;
	char *name = malloc(nl);
	if (!name) {
		if (s->f)
			s->f = NULL; /* the caller sees the short count */
		return;
	}
	for (int part = 0; part < 2; part++) {
		pb_sink c = {NULL, 0};
		pb_sink *sinks[2] = {&c, s};
		pal_name(name, nl, t->name, part ? ".codebook" : ".codes");
		int ext = !part && w->ext_loc && (uint64_t)n >= EXT_MIN;
		int dtype = part ? t->dtype : SPZ_DTYPE_UINT8;
		uint64_t plen = part ? t->codebook_size *
		                       (uint64_t)spz_dtype_size(t->dtype)
		                     : (uint64_t)n;
		for (int pass = 0; pass < 2; pass++) {
			pb_sink *o = sinks[pass];
			if (pass)
				pb_out_head(o, 5, PB_LEN, c.n);
			if (part)
				pb_out_varint_field(o, 1, t->codebook_size);
			else
				put_dims(o, t);
			pb_out_varint_field(o, 2, (uint64_t)dtype);
			pb_out_string_field(o, 8, name);
			if (ext) {
				put_external(o, w->ext_loc,
				             w->ext_off[tensor_index(w, t)],
				             plen);
				continue;
			}
			pb_out_head(o, 9, PB_LEN, plen);
			if (!o->f) {
				o->n += plen;
			} else if (!part) {
				out_big(o, w, t->codes, (size_t)n);
			} else {
				spz_tensor cb = {.dtype = t->dtype, .ndims = 1,
				                 .dims = {t->codebook_size},
				                 .data = t->codebook};
				put_payload(o, w, &cb, 9);
			}
		}
	}
	free(name);
}

static void put_attr_int(buf *b, const char *name, int64_t v)
{
	buf a = {0};
	buf_bytes_field(&a, 1, name, strlen(name));
	buf_varint_field(&a, 3, (uint64_t)v);
	buf_varint_field(&a, 20, 2); /* INT */
	buf_bytes_field(b, 5, a.p, a.n);
	b->oom |= a.oom;
	free(a.p);
}

/* Cast(to=INT32) + Gather(axis=0) making the value t->name. */
static int palette_nodes(buf *b, const spz_tensor *t)
{
	size_t nl = strlen(t->name) + 32;
	char *codes = malloc(nl), *idx = malloc(nl), *cb = malloc(nl),
	     *cast = malloc(nl), *gather = malloc(nl);
	buf node = {0};
	int ok = codes && idx && cb && cast && gather;
	if (ok) {
		pal_name(codes, nl, t->name, ".codes");
		pal_name(idx, nl, t->name, ".codes.int32");
		pal_name(cb, nl, t->name, ".codebook");
		pal_name(cast, nl, t->name, ".cast");
		pal_name(gather, nl, t->name, ".gather");
		buf_bytes_field(&node, 1, codes, strlen(codes));
		buf_bytes_field(&node, 2, idx, strlen(idx));
		buf_bytes_field(&node, 3, cast, strlen(cast));
		buf_bytes_field(&node, 4, "Cast", 4);
		put_attr_int(&node, "to", 6);
		buf_bytes_field(b, 1, node.p, node.n);
		node.n = 0;
		buf_bytes_field(&node, 1, cb, strlen(cb));
		buf_bytes_field(&node, 1, idx, strlen(idx));
		buf_bytes_field(&node, 2, t->name, strlen(t->name));
		buf_bytes_field(&node, 3, gather, strlen(gather));
		buf_bytes_field(&node, 4, "Gather", 6);
		put_attr_int(&node, "axis", 0);
		buf_bytes_field(b, 1, node.p, node.n);
		ok = !node.oom && !b->oom;
	}
	free(node.p);
	free(codes);
	free(idx);
	free(cb);
	free(cast);
	free(gather);
	return ok ? 0 : SPZ_ENOMEM;
}

/* The name in a placeholder TensorProto. */
static int placeholder_name(const uint8_t *p, size_t n, pb_field *name)
{
	const uint8_t *q = p, *end = p + n;
	pb_field f;
	const char *why;
	while (pb_next(&f, &q, end, &why) == 1)
		if (f.num == 8) {
			*name = f;
			return 1;
		}
	return 0;
}

static const spz_tensor *tensor_named(const wr *w, const pb_field *name)
{
	for (size_t i = 0; i < w->m->n_tensors; i++) {
		const char *s = w->m->tensors[i].name;
		if (strlen(s) == name->len && !memcmp(s, name->data, name->len))
			return &w->m->tensors[i];
	}
	return NULL;
}

/* The tensor named by the 'value' placeholder of a Constant node (the
 * node message), or NULL when the node is not one. */
static const spz_tensor *constant_of(const wr *w, const pb_field *node,
                                     int *is_const)
{
	ninfo nd;
	scan_node(&nd, node);
	pb_field at, t, name;
	*is_const = 0;
	if (!op_is(&nd, "Constant") || !node_attr(&nd, "value", &at) ||
	    !attr_field(&at, 5, &t) || !placeholder_name(t.data, t.len, &name))
		return NULL;
	/* A placeholder holds nothing but the name. */
	if ((size_t)(name.end - name.start) != t.len)
		return NULL;
	*is_const = 1;
	return tensor_named(w, &name);
}

/* The 'value' attribute (message a) with tensor t in it. */
static void put_value_attr(pb_sink *s, const wr *w, const pb_field *a,
                           const spz_tensor *t)
{
	const uint8_t *q = a->data, *end = a->data + a->len;
	pb_field g;
	const char *why;
	while (pb_next(&g, &q, end, &why) == 1) {
		if (g.num != 5) {
			pb_out(s, g.start, (size_t)(g.end - g.start));
			continue;
		}
		pb_sink c = {NULL, 0};
		put_tensor(&c, w, t);
		pb_out_head(s, 5, PB_LEN, c.n);
		put_tensor(s, w, t);
	}
}

static void put_constant_body(pb_sink *s, const wr *w, const pb_field *node,
                              const spz_tensor *t)
{
	const uint8_t *q = node->data, *end = node->data + node->len;
	pb_field f, an;
	const char *why;
	while (pb_next(&f, &q, end, &why) == 1) {
		if (f.num != 5 || !attr_field(&f, 1, &an) ||
		    !str_is(&an, "value")) {
			pb_out(s, f.start, (size_t)(f.end - f.start));
			continue;
		}
		pb_sink c = {NULL, 0};
		put_value_attr(&c, w, &f, t);
		pb_out_head(s, 5, PB_LEN, c.n);
		put_value_attr(s, w, &f, t);
	}
}

/* A Constant node (graph field 1) with its tensor put back. */
static void put_constant(pb_sink *s, const wr *w, const pb_field *node,
                         const spz_tensor *t)
{
	pb_sink c = {NULL, 0};
	put_constant_body(&c, w, node, t);
	pb_out_head(s, 1, PB_LEN, c.n);
	put_constant_body(s, w, node, t);
}

/* The graph: palette nodes first, then the skeleton's fields with every
 * placeholder filled, and the tensors no placeholder names after the last
 * initializer. */
static int put_graph(pb_sink *s, const wr *w, const uint8_t *g, size_t n,
                     const buf *pal_nodes)
{
	const char *why;
	pb_field f;
	/* Where the unplaced tensors go: after the last initializer, else
	 * before the first field past 5, else at the end. */
	const uint8_t *insert = NULL, *last5 = NULL;
	for (const uint8_t *q = g; pb_next(&f, &q, g + n, &why) == 1;) {
		if (f.num == 5)
			last5 = f.end;
		else if (f.num > 5 && !insert)
			insert = f.start;
	}
	if (last5)
		insert = last5;
	pb_out(s, pal_nodes->p, pal_nodes->n);
	const uint8_t *q = g;
	int inserted = 0;
	for (;;) {
		if (!inserted && (q == insert || (!insert && q == g + n))) {
			for (size_t i = 0; i < w->m->n_tensors; i++) {
				const spz_tensor *t = &w->m->tensors[i];
				if (w->placed[i] ||
				    (w->constant[i] && !t->codebook))
					continue;
				if (t->codebook) {
					put_palette_tensors(s, w, t);
					continue;
				}
				pb_sink c = {NULL, 0};
				put_tensor(&c, w, t);
				pb_out_head(s, 5, PB_LEN, c.n);
				put_tensor(s, w, t);
			}
			inserted = 1;
		}
		if (pb_next(&f, &q, g + n, &why) != 1)
			break;
		if (f.num == 1) {
			int is_const;
			const spz_tensor *t = constant_of(w, &f, &is_const);
			if (!is_const)
				pb_out(s, f.start, (size_t)(f.end - f.start));
			else if (t && !t->codebook)
				put_constant(s, w, &f, t);
			continue;
		}
		if (f.num == 5) {
			pb_field name;
			const spz_tensor *t = placeholder_name(f.data, f.len,
			                                       &name)
			                              ? tensor_named(w, &name)
			                              : NULL;
			if (t && t->codebook) {
				put_palette_tensors(s, w, t);
			} else if (t) {
				pb_sink c = {NULL, 0};
				put_tensor(&c, w, t);
				pb_out_head(s, 5, PB_LEN, c.n);
				put_tensor(s, w, t);
			}
			continue;
		}
		pb_out(s, f.start, (size_t)(f.end - f.start));
	}
	return 0;
}

static void put_model(pb_sink *s, const wr *w, const buf *pal_nodes)
{
	const uint8_t *q = w->skel, *end = w->skel + w->skel_len;
	pb_field f;
	const char *why;
	while (pb_next(&f, &q, end, &why) == 1) {
		if (f.num != 7) {
			pb_out(s, f.start, (size_t)(f.end - f.start));
			continue;
		}
		pb_sink c = {NULL, 0};
		put_graph(&c, w, f.data, f.len, pal_nodes);
		pb_out_head(s, 7, PB_LEN, c.n);
		put_graph(s, w, f.data, f.len, pal_nodes);
	}
}

/* Attributes spz writes as FLOAT when a model did not come from ONNX
 * (JSON numbers do not say int or float; ONNX does). */
static int float_attr(const char *op, const char *name)
{
	static const char *const names[] = {
		"alpha", "beta", "epsilon", "momentum", "gamma", "lambd",
		"bias", "ratio", "value_float", "scale", "spatial_scale",
		"threshold", "min", "max", NULL};
	(void)op;
	for (int i = 0; names[i]; i++)
		if (!strcmp(name, names[i]))
			return 1;
	return 0;
}

static void put_ir_attr(buf *b, const spz_node *n, const spz_attr *a)
{
	buf x = {0};
	buf_bytes_field(&x, 1, a->name, strlen(a->name));
	int fl = float_attr(n->op, a->name);
	if (a->type == SPZ_ATTR_STRING) {
		buf_bytes_field(&x, 4, a->string, strlen(a->string));
		buf_varint_field(&x, 20, 3);
	} else if (a->type == SPZ_ATTR_NUMBER) {
		if (fl || a->number != floor(a->number)) {
			float v = (float)a->number;
			uint8_t k[5] = {2 << 3 | PB_FIXED32};
			memcpy(k + 1, &v, 4);
			buf_add(&x, k, 5);
			buf_varint_field(&x, 20, 1);
		} else {
			buf_varint_field(&x, 3, (uint64_t)(int64_t)a->number);
			buf_varint_field(&x, 20, 2);
		}
	} else {
		int allint = !fl;
		for (size_t i = 0; i < a->n_numbers; i++)
			allint = allint && a->numbers[i] == floor(a->numbers[i]);
		for (size_t i = 0; i < a->n_numbers; i++) {
			if (allint) {
				buf_varint_field(&x, 8,
				                 (uint64_t)(int64_t)a->numbers[i]);
			} else {
				float v = (float)a->numbers[i];
				uint8_t k[5] = {7 << 3 | PB_FIXED32};
				memcpy(k + 1, &v, 4);
				buf_add(&x, k, 5);
			}
		}
		buf_varint_field(&x, 20, allint ? 7 : 6);
	}
	buf_bytes_field(b, 5, x.p, x.n);
	b->oom |= x.oom;
	free(x.p);
}

/* Dims of a graph input or output spz made itself, as far as the graph
 * tells them: the batch is the symbolic "N" (SHAPE_BATCH), a size the
 * graph leaves open is an unnamed dim (SHAPE_OPEN). */
enum { SHAPE_BATCH = -1, SHAPE_OPEN = -2, SHAPE_MAX = 4 };

/* A node's 2-D weight (input 1), or NULL. */
static const spz_tensor *weight_2d(const spz_model *m, const spz_node *n)
{
	const spz_tensor *w = n->n_inputs > 1 ?
	                      spz_model_tensor(m, n->inputs[1]) : NULL;
	return w && w->ndims == 2 ? w : NULL;
}

/* The rank (0 when unknown) and dims of graph input name: what its first
 * consumer (Gemm, MatMul, Conv) needs. */
static int input_shape(int64_t *dims, const spz_model *m, const char *name)
{
	for (size_t i = 0; i < m->n_nodes; i++) {
		const spz_node *n = &m->nodes[i];
		if (!n->n_inputs || strcmp(n->inputs[0], name))
			continue;
		const spz_tensor *w = weight_2d(m, n);
		if (w && !strcmp(n->op, "Gemm")) {
			int tb = spz_node_number(n, "transB", 0) != 0;
			int ta = spz_node_number(n, "transA", 0) != 0;
			dims[ta] = SHAPE_BATCH;
			dims[!ta] = w->dims[tb];
			return 2;
		}
		if (w && !strcmp(n->op, "MatMul")) {
			dims[0] = SHAPE_BATCH;
			dims[1] = w->dims[0];
			return 2;
		}
		const spz_tensor *k = n->n_inputs > 1 ?
		                      spz_model_tensor(m, n->inputs[1]) : NULL;
		if (k && k->ndims == 4 && !strcmp(n->op, "Conv")) {
			int64_t g = (int64_t)spz_node_number(n, "group", 1);
			dims[0] = SHAPE_BATCH;
			dims[1] = k->dims[1] * (g > 0 ? g : 1);
			dims[2] = dims[3] = SHAPE_OPEN;
			return 4;
		}
		return 0;
	}
	return 0;
}

/* The same for a graph output: the Gemm or MatMul that makes it, through
 * the element-wise ops after it (Add of a bias, Relu, Softmax, ...). */
static int output_shape(int64_t *dims, const spz_model *m, const char *name)
{
	static const char *const through[] = {"Add", "Relu", "Softmax",
	                                       "LogSoftmax", "Sigmoid",
	                                       "Tanh", "Identity", "Dropout"};
	for (size_t hops = 0; hops <= m->n_nodes; hops++) {
		const spz_node *n = NULL;
		for (size_t i = 0; i < m->n_nodes && !n; i++)
			for (size_t k = 0; k < m->nodes[i].n_outputs; k++)
				if (!strcmp(m->nodes[i].outputs[k], name))
					n = &m->nodes[i];
		if (!n)
			return 0;
		const spz_tensor *w = weight_2d(m, n);
		if (w && (!strcmp(n->op, "Gemm") || !strcmp(n->op, "MatMul"))) {
			int tb = !strcmp(n->op, "Gemm") &&
			         spz_node_number(n, "transB", 0) != 0;
			dims[0] = SHAPE_BATCH;
			dims[1] = w->dims[!tb];
			return 2;
		}
		size_t t = 0;
		while (t < sizeof through / sizeof *through &&
		       strcmp(n->op, through[t]))
			t++;
		if (t == sizeof through / sizeof *through || !n->n_inputs)
			return 0;
		/* An Add's bias is a tensor; follow the other input. */
		name = n->inputs[0];
		if (n->n_inputs > 1 && spz_model_tensor(m, name))
			name = n->inputs[1];
	}
	return 0;
}

/* A ValueInfoProto of a float tensor: with its shape when nd > 0 (the
 * checker wants one on the main graph's inputs and outputs), else of
 * unknown shape. */
static void put_value_info(buf *b, uint32_t num, const char *name,
                           const int64_t *dims, int nd)
{
	buf shape = {0}, tt = {0}, type = {0}, vi = {0};
	for (int d = 0; d < nd; d++) {
		buf dim = {0};
		if (dims[d] >= 0)
			buf_varint_field(&dim, 1, (uint64_t)dims[d]);
		else if (dims[d] == SHAPE_BATCH)
			buf_bytes_field(&dim, 2, "N", 1);
		buf_bytes_field(&shape, 1, dim.p, dim.n);
		shape.oom |= dim.oom;
		free(dim.p);
	}
	buf_varint_field(&tt, 1, 1); /* elem_type FLOAT */
	if (nd > 0)
		buf_bytes_field(&tt, 2, shape.p, shape.n);
	buf_bytes_field(&type, 1, tt.p, tt.n);
	buf_bytes_field(&vi, 1, name, strlen(name));
	buf_bytes_field(&vi, 2, type.p, type.n);
	buf_bytes_field(b, num, vi.p, vi.n);
	b->oom |= shape.oom | tt.oom | type.oom | vi.oom;
	free(shape.p);
	free(tt.p);
	free(type.p);
	free(vi.p);
}

/* A skeleton for a model that did not come from ONNX. */
static int synth_skeleton(buf *out, const spz_model *m)
{
	buf g = {0};
	for (size_t i = 0; i < m->n_nodes; i++) {
		const spz_node *n = &m->nodes[i];
		buf x = {0};
		for (size_t k = 0; k < n->n_inputs; k++)
			buf_bytes_field(&x, 1, n->inputs[k],
			                strlen(n->inputs[k]));
		for (size_t k = 0; k < n->n_outputs; k++)
			buf_bytes_field(&x, 2, n->outputs[k],
			                strlen(n->outputs[k]));
		if (n->name[0])
			buf_bytes_field(&x, 3, n->name, strlen(n->name));
		buf_bytes_field(&x, 4, n->op, strlen(n->op));
		for (size_t k = 0; k < n->n_attrs; k++)
			put_ir_attr(&x, n, &n->attrs[k]);
		buf_bytes_field(&g, 1, x.p, x.n);
		g.oom |= x.oom;
		free(x.p);
	}
	buf_bytes_field(&g, 2, m->name, strlen(m->name));
	for (size_t i = 0; i < m->n_tensors; i++)
		put_placeholder(&g, 5, m->tensors[i].name);
	int64_t dims[SHAPE_MAX];
	for (size_t i = 0; i < m->n_inputs; i++)
		put_value_info(&g, 11, m->inputs[i], dims,
		               input_shape(dims, m, m->inputs[i]));
	for (size_t i = 0; i < m->n_outputs; i++)
		put_value_info(&g, 12, m->outputs[i], dims,
		               output_shape(dims, m, m->outputs[i]));
	buf_varint_field(out, 1, 8); /* IR version 8 (ONNX 1.10+) */
	buf_bytes_field(out, 2, "spz", 3);
	buf_bytes_field(out, 3, SPZ_VERSION, strlen(SPZ_VERSION));
	buf_bytes_field(out, 7, g.p, g.n);
	static const uint8_t opset[] = {0x42, 0x02, 0x10, 13}; /* "" v13 */
	buf_add(out, opset, sizeof opset);
	int oom = g.oom || out->oom;
	free(g.p);
	return oom ? SPZ_ENOMEM : 0;
}

/* The main graph of a skeleton, or NULL. */
static int skel_graph(const uint8_t *p, size_t n, pb_field *g)
{
	const uint8_t *q = p;
	pb_field f;
	const char *why;
	while (pb_next(&f, &q, p + n, &why) == 1)
		if (f.num == 7) {
			*g = f;
			return 1;
		}
	return 0;
}

/* Does the IR still have the graph of the skeleton? The skeleton's nodes
 * are what is written; a model whose nodes were changed since it was
 * read from ONNX cannot be written as ONNX without losing the change. */
static int same_graph(const wr *w, spz_error *err)
{
	pb_field g;
	if (!skel_graph(w->skel, w->skel_len, &g))
		return spz_fail(err, SPZ_EFORMAT, "the ONNX record of the "
		                "model has no graph");
	const spz_model *m = w->m;
	size_t k = 0;
	const uint8_t *q = g.data;
	pb_field f;
	const char *why;
	while (pb_next(&f, &q, g.data + g.len, &why) == 1) {
		if (f.num != 1)
			continue;
		int is_const;
		constant_of(w, &f, &is_const);
		if (is_const)
			continue;
		ninfo nd;
		scan_node(&nd, &f);
		const spz_node *n = k < m->n_nodes ? &m->nodes[k] : NULL;
		int same = n && span_is_name(&nd.op, n->op) &&
		           nd.n_in == n->n_inputs && nd.n_out == n->n_outputs &&
		           (nd.name.data ? span_is_name(&nd.name, n->name)
		                         : !n->name[0]);
		const uint8_t *a = nd.msg, *ae = nd.msg + nd.len;
		pb_field x;
		size_t ii = 0, oo = 0;
		while (same && pb_next(&x, &a, ae, &why) == 1) {
			if (x.num == 1)
				same = span_is_name(&x, n->inputs[ii++]);
			else if (x.num == 2)
				same = span_is_name(&x, n->outputs[oo++]);
		}
		if (!same)
			return spz_fail(err, SPZ_EUNSUPPORTED,
			                "node %zu ('%s') differs from the ONNX "
			                "graph the model was read with: ONNX "
			                "output keeps that graph", k,
			                n ? n->name : "");
		k++;
	}
	if (k != m->n_nodes)
		return spz_fail(err, SPZ_EUNSUPPORTED, "the model has %zu nodes "
		                "but the ONNX graph it was read with has %zu",
		                m->n_nodes, k);
	return 0;
}

/* A value name already used in the model (tensor, node output, input). */
static int name_taken(const spz_model *m, const char *s)
{
	if (spz_model_tensor(m, s))
		return 1;
	for (size_t i = 0; i < m->n_inputs; i++)
		if (!strcmp(m->inputs[i], s))
			return 1;
	for (size_t i = 0; i < m->n_nodes; i++)
		for (size_t k = 0; k < m->nodes[i].n_outputs; k++)
			if (!strcmp(m->nodes[i].outputs[k], s))
				return 1;
	return 0;
}

/* Writes t's external bytes (the codes of a quantized one) to sink s
 * of the external file. */
static void put_external_bytes(pb_sink *s, const wr *w, const spz_tensor *t)
{
	if (t->codebook)
		out_big(s, w, t->codes, (size_t)spz_tensor_elements(t));
	else
		put_payload(s, w, t, 9);
}

/* Can f be cut back to where it stands: a regular file that ends there,
 * not appending? Its position then in *base. */
static int can_cut(FILE *f, off_t *base)
{
	struct stat sb;
	int fd = fileno(f);
	int fl = fd >= 0 ? fcntl(fd, F_GETFL) : -1;
	return fl >= 0 && !(fl & O_APPEND) && !fflush(f) &&
	       (*base = ftello(f)) >= 0 && !fstat(fd, &sb) &&
	       S_ISREG(sb.st_mode) && sb.st_size == *base;
}

/* f back to its first base bytes, standing at their end. */
static void cut_back(FILE *f, off_t base)
{
	(void)fflush(f);
	if (ftruncate(fileno(f), base) == 0)
		(void)fseeko(f, base, SEEK_SET);
}

int spz_onnx_write(FILE *f, const spz_model *m, FILE *ext,
                   const char *ext_location, spz_error *err)
{
	return spz_onnx_write_wp(f, m, ext, ext_location, NULL, err);
}

int spz_onnx_write_wp(FILE *f, const spz_model *m, FILE *ext,
                      const char *ext_location, spz_wprog *wp,
                      spz_error *err)
{
	const uint16_t one = 1;
	if (*(const uint8_t *)&one == 0)
		return spz_fail(err, SPZ_EUNSUPPORTED, "big-endian hosts "
		                "cannot write .onnx");
	off_t base = 0, ext_base = 0;
	int cut = can_cut(f, &base) && (!ext || can_cut(ext, &ext_base));
	size_t nt = m->n_tensors;
	buf syn = {0}, pal = {0};
	wtick tk = {wp, 0, 0, SPZ_WPROG_BYTES};
	wstream st = {0};
	wr w = {m, m->onnx, m->onnx_len, ext ? ext_location : NULL, NULL,
	        NULL, NULL, err, &tk, cut ? &st : NULL};
	int rc = spz_model_validate_graph(m, err);
	if (rc)
		return rc;
	w.ext_off = calloc(nt + 1, sizeof *w.ext_off);
	w.placed = calloc(nt + 1, 1);
	w.constant = calloc(nt + 1, 1);
	st.deferred = calloc(nt + 1, 1);
	st.checked = calloc(nt + 1, 1);
	if (!w.ext_off || !w.placed || !w.constant || !st.deferred ||
	    !st.checked) {
		rc = spz_fail(err, SPZ_ENOMEM, "out of memory");
		goto done;
	}
	/* The values of what is not checked as it is written, now. */
	for (size_t i = 0; i < nt; i++) {
		const spz_tensor *t = &m->tensors[i];
		int enc = data_field(t);
		st.deferred[i] = cut && t->dtype == SPZ_DTYPE_FLOAT &&
		                 t->data && !t->codebook && !t->raw &&
		                 (enc == 9 || enc == 4);
		if (!st.deferred[i] &&
		    (rc = spz_tensor_check_values(t, 0, spz_tensor_elements(t),
		                                  err)))
			goto done;
	}
	for (size_t i = 0; i < nt; i++) {
		const spz_tensor *t = &m->tensors[i];
		if (t->dtype != SPZ_DTYPE_FLOAT16 || !t->data)
			continue;
		int64_t n = spz_tensor_elements(t);
		for (int64_t k = 0; k < n; k++)
			if (fabsf(t->data[k]) >= 65520.0f) {
				rc = spz_fail(err, SPZ_ERANGE, "tensor '%s': "
				              "%g at index %lld does not fit "
				              "FLOAT16", t->name, t->data[k],
				              (long long)k);
				goto done;
			}
	}
	if (!m->onnx) {
		if (synth_skeleton(&syn, m)) {
			rc = spz_fail(err, SPZ_ENOMEM, "out of memory");
			goto done;
		}
		w.skel = syn.p;
		w.skel_len = syn.n;
	}
	if ((rc = same_graph(&w, err)))
		goto done;
	/* Which tensors the skeleton names, and where. */
	pb_field g = {0}, fl;
	const char *why;
	skel_graph(w.skel, w.skel_len, &g);
	for (const uint8_t *q = g.data;
	     pb_next(&fl, &q, g.data + g.len, &why) == 1;) {
		pb_field name;
		const spz_tensor *t = NULL;
		int is_const = 0;
		if (fl.num == 5 && placeholder_name(fl.data, fl.len, &name))
			t = tensor_named(&w, &name);
		else if (fl.num == 1)
			t = constant_of(&w, &fl, &is_const);
		if (t && is_const)
			w.constant[tensor_index(&w, t)] = 1;
		else if (t)
			w.placed[tensor_index(&w, t)] = 1;
	}
	/* Palettized weights: names free, nodes ready. */
	for (size_t i = 0; i < nt; i++) {
		const spz_tensor *t = &m->tensors[i];
		if (!t->codebook)
			continue;
		static const char *const sfx[] = {".codes", ".codebook",
		                                  ".codes.int32"};
		for (int k = 0; k < 3; k++) {
			char b[8192];
			pal_name(b, sizeof b, t->name, sfx[k]);
			if (name_taken(m, b)) {
				rc = spz_fail(err, SPZ_EEXIST, "cannot write "
				              "weight '%s' palettized: the name "
				              "'%s' is taken", t->name, b);
				goto done;
			}
		}
		if (palette_nodes(&pal, t)) {
			rc = spz_fail(err, SPZ_ENOMEM, "out of memory");
			goto done;
		}
	}
	/* External data: offsets in tensor order, back to back. */
	uint64_t off = 0;
	for (size_t i = 0; ext && i < nt; i++) {
		const spz_tensor *t = &m->tensors[i];
		uint64_t len = t->codebook ? (uint64_t)spz_tensor_elements(t)
		               : data_field(t) == 9 ? payload_size(t, 9) : 0;
		w.ext_off[i] = off;
		if (len >= EXT_MIN)
			off += len;
	}
	pb_sink count = {NULL, 0};
	put_model(&count, &w, &pal);
	if (count.n > PB_LIMIT) {
		rc = spz_fail(err, SPZ_ERANGE, "the model is %llu bytes, over "
		              "the 2 GiB that ONNX (protobuf) allows in one "
		              "file: write its tensors to external data "
		              "(--external-data FILE)",
		              (unsigned long long)count.n);
		goto done;
	}
	tk.total = count.n + (ext ? off : 0);
	pb_sink out = {f, 0};
	put_model(&out, &w, &pal);
	tk.base = out.n;
	pb_sink xs = {ext, 0};
	for (size_t i = 0; ext && i < nt; i++) {
		const spz_tensor *t = &m->tensors[i];
		uint64_t len = t->codebook ? (uint64_t)spz_tensor_elements(t)
		               : data_field(t) == 9 ? payload_size(t, 9) : 0;
		if (len >= EXT_MIN)
			put_external_bytes(&xs, &w, t);
	}
	rc = st.rc;
	/* Deferred values never written (none should be): checked now. */
	for (size_t i = 0; !rc && i < nt; i++)
		if (st.deferred[i] && !st.checked[i])
			rc = spz_tensor_check_values(&m->tensors[i], 0,
			                             spz_tensor_elements(
			                                     &m->tensors[i]),
			                             err);
done:
	if (rc && cut) {
		/* The fault checking every value first would have found
		 * comes first; the files go back to what they were. */
		int v = spz_model_validate(m, err);
		rc = v ? v : rc;
		cut_back(f, base);
		if (ext)
			cut_back(ext, ext_base);
	}
	free(syn.p);
	free(pal.p);
	free(w.ext_off);
	free(w.placed);
	free(w.constant);
	free(st.deferred);
	free(st.checked);
	return rc;
}

int spz_onnx_save(const spz_model *m, const char *path,
                  const char *external, spz_error *err)
{
	return spz_onnx_save_opts(m, path, external, NULL, err);
}

int spz_onnx_save_opts(const spz_model *m, const char *path,
                       const char *external, const spz_save_opts *opts,
                       spz_error *err)
{
	spz_output o, e = {0};
	int rc = spz_output_open(&o, path, err);
	if (rc)
		return rc;
	const char *label = strcmp(path, "-") ? path : "<stdout>";
	const char *loc = NULL;
	if (external) {
		/* The location is relative to the model's folder: the file
		 * goes beside the model. */
		loc = strrchr(external, '/') ? strrchr(external, '/') + 1
		                             : external;
		if (!*loc || !strcmp(loc, ".") || !strcmp(loc, "..")) {
			spz_output_abort(&o);
			return spz_fail(err, SPZ_EINVAL, "--external-data takes "
			                "a file name, not '%s'", external);
		}
		const char *slash = strrchr(path, '/');
		size_t dl = slash ? (size_t)(slash - path) + 1 : 0;
		char *full = malloc(dl + strlen(loc) + 1);
		if (!full) {
			spz_output_abort(&o);
			return spz_fail(err, SPZ_ENOMEM, "out of memory");
		}
		memcpy(full, path, dl);
		strcpy(full + dl, loc);
		rc = spz_output_open(&e, full, err);
		free(full);
		if (rc) {
			spz_output_abort(&o);
			return rc;
		}
	}
	spz_error sub = {0};
	spz_wprog wp = spz_wprog_for(m, opts);
	rc = spz_onnx_write_wp(o.f, m, external ? e.f : NULL, loc, &wp, &sub);
	if (rc) {
		spz_output_abort(&o);
		if (external)
			spz_output_abort(&e);
		return spz_fail(err, rc, "cannot write '%s': %s", label,
		                sub.text);
	}
	spz_wprog_at(&wp, wp.total);
	if (external && (rc = spz_output_commit(&e, err))) {
		spz_output_abort(&o);
		return rc;
	}
	return spz_output_commit(&o, err);
}

/* ------------------------------------------------------------------ */
/* Shapes recorded in the graph                                        */

/* The first field num of the message [p, end) of wire PB_LEN, or NULL. */
static int sub_message(pb_field *out, const uint8_t *p, const uint8_t *end,
                       uint32_t num)
{
	pb_field f;
	const char *why;
	while (pb_next(&f, &p, end, &why) == 1)
		if (f.num == num && f.wire == PB_LEN) {
			*out = f;
			return 1;
		}
	return 0;
}

/* TypeProto -> tensor_type -> shape -> dims; 1 when every dim is a
 * known non-negative value. */
static int shape_of(int64_t *dims, int *ndims, const pb_field *type)
{
	pb_field tt, shape, f;
	const char *why;
	if (!sub_message(&tt, type->data, type->data + type->len, 1) ||
	    !sub_message(&shape, tt.data, tt.data + tt.len, 2))
		return 0;
	const uint8_t *p = shape.data, *end = shape.data + shape.len;
	int n = 0;
	while (pb_next(&f, &p, end, &why) == 1) {
		if (f.num != 1 || f.wire != PB_LEN)
			continue;
		if (n >= SPZ_MAX_DIMS)
			return 0;
		const uint8_t *q = f.data, *qe = f.data + f.len;
		pb_field d;
		/* A dim_param ("batch") or a missing value: -1, so that the
		 * caller can still use the dims it needs (the sample's). */
		dims[n] = -1;
		while (pb_next(&d, &q, qe, &why) == 1)
			if (d.num == 1 && d.wire == PB_VARINT &&
			    d.v <= INT32_MAX)
				dims[n] = (int64_t)d.v;
		n++;
	}
	*ndims = n;
	return 1;
}

int spz_onnx_input_dims(int64_t *dims, int *ndims, const spz_model *m,
                        const char *name)
{
	pb_field g, f;
	const char *why;
	if (!m->onnx || !sub_message(&g, m->onnx, m->onnx + m->onnx_len, 7))
		return 0;
	const uint8_t *p = g.data, *end = g.data + g.len;
	size_t nl = strlen(name);
	while (pb_next(&f, &p, end, &why) == 1) {
		pb_field nm, type;
		if (f.num != 11 || f.wire != PB_LEN ||
		    !sub_message(&nm, f.data, f.data + f.len, 1) ||
		    nm.len != nl || memcmp(nm.data, name, nl))
			continue;
		return sub_message(&type, f.data, f.data + f.len, 2) &&
		       shape_of(dims, ndims, &type);
	}
	return 0;
}
