/*
 * image_io.c - what the image formats share: the file read into memory
 * as the parser asks for it (images are compact; a regular file's size is
 * known up front, so every length is checked against it before anything
 * is allocated, and a pipe is read only as far as its bytes make sense),
 * the common prefix, and a writer that keeps each section's CRC32.
 */
#define _POSIX_C_SOURCE 200809L
#include "image_io.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What the buffer starts with and grows by at least. */
#define PIECE ((size_t)1 << 16)

/* Longest name a section may carry. */
#define NAME_MAX_LEN 4095

const char *img_kind_name(unsigned kind)
{
	switch (kind) {
	case SPZ_IMAGE_EIE:
		return "EIE";
	case SPZ_IMAGE_CSC:
		return "CSC";
	case SPZ_IMAGE_CSR:
		return "CSR";
	case SPZ_IMAGE_NM:
		return "N:M";
	case SPZ_IMAGE_EIE_HUFF:
		return "EIE+Huffman";
	default:
		return NULL;
	}
}

uint64_t img_left(const img_reader *r)
{
	if (r->in && r->size >= 0)
		return (uint64_t)r->size - r->at;
	return r->n - r->at;
}

int img_fill(img_reader *r, uint64_t n)
{
	if (!r->in || n <= r->n - r->at)
		return 0;
	/* Past the end of a file of known size: nothing to read. */
	if (r->size >= 0 && n > (uint64_t)r->size - r->at)
		return 0;
	uint64_t need = r->at + n;
	while (!r->eof && r->n < need) {
		if (r->n == r->cap) {
			uint64_t nc = 2 * (uint64_t)r->cap;
			if (nc < need)
				nc = need;
			if (r->size >= 0 && nc > (uint64_t)r->size)
				nc = (uint64_t)r->size;
			uint8_t *nb = nc > SIZE_MAX - 1 ? NULL
			            : realloc((void *)r->p, (size_t)nc + 1);
			if (!nb)
				return spz_fail(r->err, SPZ_ENOMEM, "'%s': out of "
				                "memory", r->label);
			r->p = nb;
			r->cap = (size_t)nc;
		}
		ssize_t k = read(r->in->fd, (uint8_t *)r->p + r->n,
		                 r->cap - r->n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return spz_fail(r->err, SPZ_EIO, "cannot read '%s': %s",
			                r->label, strerror(errno));
		if (k == 0)
			r->eof = 1;
		r->n += (size_t)k;
		r->in->consumed += (unsigned long long)k;
	}
	return 0;
}

int img_need(img_reader *r, uint64_t n, const char *what)
{
	int rc = img_fill(r, n);
	if (rc)
		return rc;
	if (n > img_left(r))
		return spz_fail(r->err, SPZ_EFORMAT,
		                "'%s': truncated in %s (%llu of %llu bytes)",
		                r->label, what, (unsigned long long)img_left(r),
		                (unsigned long long)n);
	return 0;
}

/* The gets below are only called after img_need covered them. */
uint8_t img_u8(img_reader *r)
{
	return r->p[r->at++];
}

uint16_t img_u16(img_reader *r)
{
	uint16_t v = (uint16_t)(r->p[r->at] | r->p[r->at + 1] << 8);
	r->at += 2;
	return v;
}

uint32_t img_u32(img_reader *r)
{
	const uint8_t *p = r->p + r->at;
	r->at += 4;
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

uint64_t img_u64(img_reader *r)
{
	uint64_t lo = img_u32(r);
	return lo | (uint64_t)img_u32(r) << 32;
}

void img_begin(img_reader *r)
{
	r->start = r->at;
}

int img_crc(img_reader *r, const char *what)
{
	int rc = img_need(r, 4, what);
	if (rc)
		return rc;
	uint32_t want = spz_crc32(0, r->p + r->start, r->at - r->start);
	if (spz_crc_mismatch(img_u32(r), want))
		return spz_fail(r->err, SPZ_ECRC, "'%s': CRC mismatch in %s (the "
		                "file is corrupt)", r->label, what);
	r->start = r->at;
	return 0;
}

int img_string(img_reader *r, char **out, int empty_null, const char *what)
{
	*out = NULL;
	int rc = img_need(r, 2, what);
	if (rc)
		return rc;
	size_t len = img_u16(r);
	if (len > NAME_MAX_LEN)
		return spz_fail(r->err, SPZ_EFORMAT, "'%s': a name in %s is %zu "
		                "bytes long (at most %d)", r->label, what, len,
		                NAME_MAX_LEN);
	if ((rc = img_need(r, len, what)))
		return rc;
	if (memchr(r->p + r->at, 0, len))
		return spz_fail(r->err, SPZ_EFORMAT, "'%s': a name in %s holds a "
		                "NUL byte", r->label, what);
	/* Names reach terminals (spz info): text only, as in a model. */
	int64_t bad = spz_text_check((const char *)r->p + r->at, len);
	if (bad >= 0)
		return spz_fail(r->err, SPZ_EFORMAT, "'%s': a name in %s is not "
		                "text (invalid UTF-8 or a control character at "
		                "byte %lld)", r->label, what, (long long)bad);
	if (!len && empty_null)
		return 0;
	char *s = malloc(len + 1);
	if (!s)
		return spz_fail(r->err, SPZ_ENOMEM, "out of memory");
	memcpy(s, r->p + r->at, len);
	s[len] = 0;
	r->at += len;
	*out = s;
	return 0;
}

int img_end(img_reader *r)
{
	int rc = img_fill(r, 1);
	if (rc)
		return rc;
	if (!img_left(r))
		return 0;
	/* A pipe is not read on to count them. */
	if (r->in && r->size < 0)
		return spz_fail(r->err, SPZ_EFORMAT, "'%s': trailing bytes after "
		                "the last section", r->label);
	return spz_fail(r->err, SPZ_EFORMAT, "'%s': trailing bytes after the "
	                "last section (%llu)", r->label,
	                (unsigned long long)img_left(r));
}

int img_prefix(img_reader *r, unsigned *kind)
{
	int rc = img_need(r, SPZ_IMAGE_PREFIX, "header");
	if (rc)
		return rc;
	if (memcmp(r->p, SPZ_IMAGE_MAGIC, 8))
		return spz_fail(r->err, SPZ_EFORMAT, "'%s': not an spz image "
		                "(wrong magic)", r->label);
	r->at = 8;
	unsigned version = img_u16(r);
	if (version != SPZ_IMAGE_VERSION)
		return spz_fail(r->err, SPZ_EVERSION, "'%s': image version %u is "
		                "not supported (this spz reads version %d)",
		                r->label, version, SPZ_IMAGE_VERSION);
	*kind = img_u8(r);
	if (!img_kind_name(*kind))
		return spz_fail(r->err, SPZ_EFORMAT, "'%s': unknown image kind "
		                "%u", r->label, *kind);
	if (img_u8(r))
		return spz_fail(r->err, SPZ_EFORMAT, "'%s': corrupt header "
		                "(reserved byte 11 is not 0)", r->label);
	return 0;
}

int img_slurp(img_reader *r, spz_input *in, spz_error *err)
{
	return img_open(r, in, 1, err);
}

int img_open(img_reader *r, spz_input *in, int image, spz_error *err)
{
	memset(r, 0, sizeof *r);
	r->label = in->label;
	r->err = err;
	r->in = in;
	r->size = spz_input_left(in);
	/* The prefix from the sniffed bytes: the magic followed by a
	 * gigabyte of junk fails here, having read 16 bytes. */
	img_reader head = {.p = in->head + in->head_pos,
	                   .n = in->n_head - in->head_pos,
	                   .label = in->label, .err = err, .size = -1};
	unsigned kind;
	if (image && head.n >= SPZ_IMAGE_PREFIX) {
		int rc = img_prefix(&head, &kind);
		if (rc)
			return rc;
	}
	r->cap = PIECE;
	if (r->size >= 0 && (uint64_t)r->size < r->cap)
		r->cap = (size_t)r->size;
	if (r->cap < head.n)
		r->cap = head.n;
	uint8_t *b = malloc(r->cap + 1);
	if (!b)
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	memcpy(b, head.p, head.n);
	r->p = b;
	r->n = head.n;
	in->head_pos = in->n_head;
	in->consumed += head.n;
	return 0;
}

void img_w_bytes(img_writer *w, const void *p, size_t n)
{
	if (!n)
		return;
	fwrite(p, 1, n, w->f);
	w->crc = spz_crc32(w->crc, p, n);
}

void img_w_u8(img_writer *w, uint8_t v)
{
	img_w_bytes(w, &v, 1);
}

void img_w_u16(img_writer *w, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
	img_w_bytes(w, b, 2);
}

void img_w_u32(img_writer *w, uint32_t v)
{
	uint8_t b[4];
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	img_w_bytes(w, b, 4);
}

void img_w_u64(img_writer *w, uint64_t v)
{
	img_w_u32(w, (uint32_t)v);
	img_w_u32(w, (uint32_t)(v >> 32));
}

void img_w_string(img_writer *w, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	img_w_u16(w, (uint16_t)n);
	img_w_bytes(w, s, n);
}

void img_w_crc(img_writer *w)
{
	uint32_t crc = w->crc;
	img_w_u32(w, crc);
	w->crc = 0;
}

void img_w_prefix(img_writer *w, unsigned kind)
{
	img_w_bytes(w, SPZ_IMAGE_MAGIC, 8);
	img_w_u16(w, SPZ_IMAGE_VERSION);
	img_w_u8(w, (uint8_t)kind);
	img_w_u8(w, 0);
}
