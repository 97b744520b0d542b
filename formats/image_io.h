/*
 * image_io.h - internals shared by the image formats (EIE and the plain
 * CSC / CSR / N:M images): the common header, a bounds-checked reader over
 * a whole file in memory and a writer that keeps each section's CRC32.
 */
#ifndef SPZ_IMAGE_IO_H
#define SPZ_IMAGE_IO_H

#include "spz_format.h"

/* Bytes 0..11 of every image: magic, version, kind, reserved. */
#define SPZ_IMAGE_PREFIX 12

/*
 * A file read into memory as far as the reader has asked (img_need), so
 * that a bad header fails after its first bytes, not after the whole
 * input; on a regular file every length is checked against its size
 * before anything is read or allocated for it. Every get fails cleanly
 * past the end.
 */
typedef struct img_reader {
	const uint8_t *p;   /* malloc'd; moves when more is read */
	size_t n, at;       /* bytes in p, cursor */
	size_t cap;         /* bytes p can hold */
	spz_input *in;      /* more comes from here; NULL when all is in p */
	int64_t size;       /* whole image size when known, else -1 */
	int eof;
	size_t start;       /* where the current section began */
	const char *label;  /* file name for messages */
	spz_error *err;
} img_reader;

/* Fails with "truncated in WHAT" unless n more bytes are there (reading
 * them from the input as needed). r->p may move: take pointers after. */
int img_need(img_reader *r, uint64_t n, const char *what);
/* Reads until n bytes are past the cursor or the input ends. */
int img_fill(img_reader *r, uint64_t n);
/* Bytes past the cursor: the file's when its size is known, else those
 * read so far (all of them once img_fill found the end). */
uint64_t img_left(const img_reader *r);
uint8_t img_u8(img_reader *r);
uint16_t img_u16(img_reader *r);
uint32_t img_u32(img_reader *r);
uint64_t img_u64(img_reader *r);
/* Starts a section at the cursor. */
void img_begin(img_reader *r);
/* Reads the u32 CRC32 that ends the section and compares it. */
int img_crc(img_reader *r, const char *what);
/* Reads a u16-length string (at most 4095 bytes, no NUL) into a new
 * buffer; an empty string gives NULL when empty_null. */
int img_string(img_reader *r, char **out, int empty_null, const char *what);
/* Fails unless the whole file was consumed. */
int img_end(img_reader *r);

/* Reads the common prefix (magic, version) and returns the kind byte in
 * *kind. */
int img_prefix(img_reader *r, unsigned *kind);
/* Starts a reader on an input (free r->p when done). The image prefix
 * (magic, version) is checked from the bytes sniffed already, before
 * anything else is read. */
int img_slurp(img_reader *r, spz_input *in, spz_error *err);
/* The same reader over any file of this byte-level kind (an activity
 * mask has its own magic): with image == 0 the image prefix is not
 * checked up front. */
int img_open(img_reader *r, spz_input *in, int image, spz_error *err);

/* Sequential writer; each section ends with img_w_crc. */
typedef struct img_writer {
	FILE *f;
	uint32_t crc;
} img_writer;

void img_w_bytes(img_writer *w, const void *p, size_t n);
void img_w_u8(img_writer *w, uint8_t v);
void img_w_u16(img_writer *w, uint16_t v);
void img_w_u32(img_writer *w, uint32_t v);
void img_w_u64(img_writer *w, uint64_t v);
/* A u16 length then the bytes; NULL is written as "". */
void img_w_string(img_writer *w, const char *s);
/* Writes the CRC32 of the section so far and starts the next one. */
void img_w_crc(img_writer *w);
/* Writes the common prefix for kind. */
void img_w_prefix(img_writer *w, unsigned kind);

/* Name of an image kind ("EIE", "CSC", "CSR", "N:M"), NULL if unknown. */
const char *img_kind_name(unsigned kind);

#endif
