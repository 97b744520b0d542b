/*
 * image_io.c - what the image formats share: the file read whole into
 * memory (images are compact, and knowing the size up front lets every
 * length be checked against the file before anything is allocated), the
 * common prefix, and a writer that keeps each section's CRC32.
 */
#include "image_io.h"

#include <stdlib.h>
#include <string.h>

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

int img_need(img_reader *r, uint64_t n, const char *what)
{
	if (n > r->n - r->at)
		return spz_fail(r->err, SPZ_EFORMAT,
		                "'%s': truncated in %s (%zu of %llu bytes)",
		                r->label, what, r->n - r->at,
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
	if (r->at != r->n)
		return spz_fail(r->err, SPZ_EFORMAT, "'%s': trailing bytes after "
		                "the last section (%zu)", r->label, r->n - r->at);
	return 0;
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
	char *buf;
	size_t len;
	memset(r, 0, sizeof *r);
	r->label = in->label;
	r->err = err;
	int rc = spz_input_slurp(&buf, &len, in, err);
	if (rc)
		return rc;
	r->p = (const uint8_t *)buf;
	r->n = len;
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
