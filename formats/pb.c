/*
 * pb.c - protobuf wire-format primitives (see pb.h). Every read is
 * checked against the end of the enclosing message, so a truncated or
 * hostile file ends in a message, never past a buffer.
 */
#include "pb.h"

#include <string.h>

int pb_varint(uint64_t *v, const uint8_t **p, const uint8_t *end)
{
	uint64_t x = 0;
	const uint8_t *q = *p;
	for (int i = 0; i < 10; i++) {
		if (q >= end)
			return -1;
		uint8_t b = *q++;
		/* The tenth byte holds bit 63 only. */
		if (i == 9 && b > 1)
			return -2;
		x |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			*v = x;
			*p = q;
			return 0;
		}
	}
	return -2;
}

int pb_next(pb_field *f, const uint8_t **p, const uint8_t *end,
            const char **why)
{
	static const char *const wire_why[8] = {
		"", "", "", "wire type 3 (group)", "wire type 4 (group)", "",
		"wire type 6", "wire type 7"};
	if (*p >= end)
		return 0;
	const uint8_t *q = *p;
	uint64_t key;
	int rc = pb_varint(&key, &q, end);
	if (rc) {
		*why = rc == -1 ? "truncated field key"
		                : "field key varint longer than 10 bytes";
		return -1;
	}
	f->start = *p;
	f->num = (uint32_t)(key >> 3);
	f->wire = (int)(key & 7);
	if (key >> 3 == 0 || key >> 3 > 0x1fffffff) {
		*why = "field number out of range";
		return -1;
	}
	/* Not NULL for the scalar wire types: readers form data + len for
	 * any field, and NULL + 0 is undefined behaviour in C. */
	f->data = q;
	f->len = 0;
	f->v = 0;
	switch (f->wire) {
	case PB_VARINT:
		rc = pb_varint(&f->v, &q, end);
		if (rc) {
			*why = rc == -1 ? "truncated varint"
			                : "varint longer than 10 bytes";
			return -1;
		}
		break;
	case PB_FIXED64:
	case PB_FIXED32: {
		size_t k = f->wire == PB_FIXED64 ? 8 : 4;
		if ((size_t)(end - q) < k) {
			*why = "truncated fixed-size value";
			return -1;
		}
		for (size_t i = 0; i < k; i++)
			f->v |= (uint64_t)q[i] << (8 * i);
		q += k;
		break;
	}
	case PB_LEN: {
		uint64_t n;
		rc = pb_varint(&n, &q, end);
		if (rc) {
			*why = rc == -1 ? "truncated length"
			                : "length varint longer than 10 bytes";
			return -1;
		}
		if (n > (uint64_t)(end - q)) {
			*why = "length past the end of the message";
			return -1;
		}
		f->data = q;
		f->len = (size_t)n;
		q += n;
		break;
	}
	default:
		*why = wire_why[f->wire];
		return -1;
	}
	f->end = q;
	*p = q;
	return 1;
}

int pb_varint_size(uint64_t v)
{
	int n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

int pb_put_varint(uint8_t *b, uint64_t v)
{
	int n = 0;
	while (v >= 0x80) {
		b[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	b[n++] = (uint8_t)v;
	return n;
}

int pb_head_size(uint32_t num, int wire, uint64_t len)
{
	int n = pb_varint_size((uint64_t)num << 3 | (uint64_t)wire);
	return wire == PB_LEN ? n + pb_varint_size(len) : n;
}

int pb_put_head(uint8_t *b, uint32_t num, int wire, uint64_t len)
{
	int n = pb_put_varint(b, (uint64_t)num << 3 | (uint64_t)wire);
	if (wire == PB_LEN)
		n += pb_put_varint(b + n, len);
	return n;
}

void pb_out(pb_sink *s, const void *bytes, size_t n)
{
	if (s->f && n)
		fwrite(bytes, 1, n, s->f);
	s->n += n;
}

void pb_out_head(pb_sink *s, uint32_t num, int wire, uint64_t len)
{
	uint8_t b[20];
	pb_out(s, b, (size_t)pb_put_head(b, num, wire, len));
}

void pb_out_varint_field(pb_sink *s, uint32_t num, uint64_t v)
{
	uint8_t b[20];
	int n = pb_put_head(b, num, PB_VARINT, 0);
	n += pb_put_varint(b + n, v);
	pb_out(s, b, (size_t)n);
}

void pb_out_bytes_field(pb_sink *s, uint32_t num, const void *bytes,
                        size_t n)
{
	pb_out_head(s, num, PB_LEN, n);
	pb_out(s, bytes, n);
}

void pb_out_string_field(pb_sink *s, uint32_t num, const char *str)
{
	pb_out_bytes_field(s, num, str, strlen(str));
}
