/*
 * pb.h - the protobuf wire format, as much of it as spz's ONNX reader and
 * writer need: walking the fields of a message held in memory, bounds
 * checked, and writing keys, varints and length prefixes.
 */
#ifndef SPZ_PB_H
#define SPZ_PB_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Wire types. Groups (3, 4) are deprecated; ONNX has none. */
#define PB_VARINT 0
#define PB_FIXED64 1
#define PB_LEN 2
#define PB_FIXED32 5

/* One field of a message. For PB_LEN, data/len are the payload; for the
 * others v is the value (fixed types little-endian as an integer) and
 * data points past the key with len 0 (never NULL). start and end span
 * the whole field, key included. */
typedef struct pb_field {
	uint32_t num;
	int wire;
	uint64_t v;
	const uint8_t *data;
	size_t len;
	const uint8_t *start, *end;
} pb_field;

/* Decodes a varint at *p (< end), advancing *p. 0, or -1 when it runs
 * past end, -2 when it is longer than 10 bytes or overflows 64 bits. */
int pb_varint(uint64_t *v, const uint8_t **p, const uint8_t *end);

/*
 * The next field of the message [*p, end): 1 and *f filled, 0 at the end,
 * or -1 with a static reason in *why ("truncated field key", "length past
 * the end of the message", "wire type 3", ...). *p advances past it.
 */
int pb_next(pb_field *f, const uint8_t **p, const uint8_t *end,
            const char **why);

/* Bytes a varint of v takes (1..10). */
int pb_varint_size(uint64_t v);
/* Writes the varint of v to b (at least 10 bytes); returns its size. */
int pb_put_varint(uint8_t *b, uint64_t v);
/* Size of a key plus, for PB_LEN, the length prefix of len bytes. */
int pb_head_size(uint32_t num, int wire, uint64_t len);
/* Writes that key (and length prefix) to b (at least 20 bytes). */
int pb_put_head(uint8_t *b, uint32_t num, int wire, uint64_t len);

/*
 * Where a writer's bytes go: counted only (f NULL), or written to f.
 * n counts every byte either way, so the same code sizes a message
 * before writing its length prefix and then writes it.
 */
typedef struct pb_sink {
	FILE *f;
	uint64_t n;
} pb_sink;

void pb_out(pb_sink *s, const void *bytes, size_t n);
void pb_out_head(pb_sink *s, uint32_t num, int wire, uint64_t len);
void pb_out_varint_field(pb_sink *s, uint32_t num, uint64_t v);
void pb_out_bytes_field(pb_sink *s, uint32_t num, const void *bytes,
                        size_t n);
void pb_out_string_field(pb_sink *s, uint32_t num, const char *str);

#endif
