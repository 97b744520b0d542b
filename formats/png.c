/*
 * png.c - a minimal PNG encoder on zlib alone (no libpng): 8-bit RGB,
 * no interlace, filter type 0 (none) on every row, one IDAT chunk per
 * 1 GiB of compressed data. Enough for spz report's figures; the layout
 * is in formats/README.md ("PNG figures").
 */
#include "spz_format.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static void be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* Appends a chunk (length, type, data, CRC32 of type and data). */
static unsigned char *chunk(unsigned char *p, const char *type,
                            const unsigned char *data, uint32_t n)
{
	be32(p, n);
	memcpy(p + 4, type, 4);
	if (n)
		memcpy(p + 8, data, n);
	be32(p + 8 + n, spz_crc32(0, p + 4, (size_t)n + 4));
	return p + 12 + n;
}

#define IDAT_MAX (1u << 30)

int spz_png_encode(unsigned char **out, size_t *len, const uint8_t *rgb,
                   uint32_t width, uint32_t height, spz_error *err)
{
	if (width < 1 || height < 1 || width > 1u << 24 || height > 1u << 24)
		return spz_fail(err, SPZ_EINVAL, "a PNG of %ux%u pixels cannot "
		                "be written", width, height);
	size_t row = (size_t)width * 3 + 1, raw_n = row * height;
	unsigned char *raw = malloc(raw_n);
	uLongf z_n = compressBound((uLong)raw_n);
	unsigned char *z = malloc(z_n);
	if (!raw || !z) {
		free(raw);
		free(z);
		return spz_fail(err, SPZ_ENOMEM, "out of memory encoding a PNG");
	}
	for (uint32_t y = 0; y < height; y++) {
		raw[y * row] = 0;
		memcpy(raw + y * row + 1, rgb + (size_t)y * width * 3, row - 1);
	}
	int zr = compress2(z, &z_n, raw, (uLong)raw_n, 6);
	free(raw);
	if (zr != Z_OK) {
		free(z);
		return spz_fail(err, SPZ_ENOMEM, "zlib could not compress a "
		                "PNG (%d)", zr);
	}
	size_t chunks = z_n / IDAT_MAX + 1;
	size_t n = 8 + (12 + 13) + 12 * chunks + z_n + 12;
	unsigned char *png = malloc(n), *p = png;
	if (!png) {
		free(z);
		return spz_fail(err, SPZ_ENOMEM, "out of memory encoding a PNG");
	}
	memcpy(p, "\x89PNG\r\n\x1a\n", 8);
	p += 8;
	unsigned char ihdr[13];
	be32(ihdr, width);
	be32(ihdr + 4, height);
	ihdr[8] = 8;  /* bits per channel */
	ihdr[9] = 2;  /* colour type: RGB */
	ihdr[10] = 0; /* deflate */
	ihdr[11] = 0; /* filtering: adaptive, per row */
	ihdr[12] = 0; /* no interlace */
	p = chunk(p, "IHDR", ihdr, 13);
	for (size_t off = 0; off < z_n || off == 0; off += IDAT_MAX) {
		size_t part = z_n - off < IDAT_MAX ? z_n - off : IDAT_MAX;
		p = chunk(p, "IDAT", z + off, (uint32_t)part);
		if (part < IDAT_MAX)
			break;
	}
	p = chunk(p, "IEND", NULL, 0);
	free(z);
	*out = png;
	*len = (size_t)(p - png);
	return 0;
}

int spz_png_write(const char *path, const uint8_t *rgb, uint32_t width,
                  uint32_t height, spz_error *err)
{
	unsigned char *png;
	size_t n;
	int rc = spz_png_encode(&png, &n, rgb, width, height, err);
	if (rc)
		return rc;
	spz_output o;
	rc = spz_output_open(&o, path, err);
	if (!rc) {
		fwrite(png, 1, n, o.f);
		rc = spz_output_commit(&o, err);
	}
	free(png);
	return rc;
}
