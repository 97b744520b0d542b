/*
 * activity.c - the activity-mask file (formats/README.md "Activity
 * masks"): the measured zero pattern of every layer's input over N
 * samples, one bit per neuron, which Cnvlutin's cycle model runs on.
 * The reader trusts nothing: sizes are checked against the file before
 * any allocation, and every section carries a CRC32.
 */
#include "image_io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ACT_VERSION 1
#define ACT_HEADER 20   /* magic 8, version 2, flags 2, layers 4, samples 4 */

void spz_activity_free(spz_activity *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n_layers; i++) {
		free(a->layers[i].name);
		free(a->layers[i].mask);
	}
	free(a->layers);
	free(a);
}

int spz_activity_sniff(const char *path)
{
	char b[8];
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : NULL;
	if (!f)
		return 0;
	size_t n = fread(b, 1, 8, f);
	fclose(f);
	return n == 8 && !memcmp(b, SPZ_ACTIVITY_MAGIC, 8);
}

static int parse(spz_activity *a, img_reader *r)
{
	const char *L = r->label;
	int rc = img_need(r, ACT_HEADER + 4, "header");
	if (rc)
		return rc;
	if (memcmp(r->p, SPZ_ACTIVITY_MAGIC, 8))
		return spz_fail(r->err, SPZ_EFORMAT, "'%s': not an activity file "
		                "(wrong magic)", L);
	r->at = 8;
	unsigned version = img_u16(r);
	if (version != ACT_VERSION)
		return spz_fail(r->err, SPZ_EVERSION, "'%s': activity file "
		                "version %u is not supported (this spz reads "
		                "version %d)", L, version, ACT_VERSION);
	if (img_u16(r))
		return spz_fail(r->err, SPZ_EFORMAT, "'%s': unknown activity "
		                "flags", L);
	uint32_t layers = img_u32(r), samples = img_u32(r);
	if ((rc = img_crc(r, "header")))
		return rc;
	if (layers < 1 || layers > 65535)
		return spz_fail(r->err, SPZ_EFORMAT, "'%s': %u layers (1..65535)",
		                L, layers);
	if (samples < 1 || samples > INT32_MAX)
		return spz_fail(r->err, SPZ_EFORMAT, "'%s': %u samples "
		                "(1..2147483647)", L, samples);
	a->n_samples = samples;
	a->layers = calloc(layers, sizeof *a->layers);
	if (!a->layers)
		return spz_fail(r->err, SPZ_ENOMEM, "out of memory");
	for (uint32_t i = 0; i < layers; i++) {
		spz_activity_layer *l = &a->layers[i];
		img_begin(r);
		if ((rc = img_string(r, &l->name, 0, "a layer")))
			return rc;
		a->n_layers = i + 1;
		if (!l->name[0] ||
		    spz_text_check(l->name, strlen(l->name)) >= 0)
			return spz_fail(r->err, SPZ_EFORMAT, "'%s': layer %u: the "
			                "name is empty or not valid text", L, i);
		for (uint32_t k = 0; k < i; k++)
			if (!strcmp(a->layers[k].name, l->name))
				return spz_fail(r->err, SPZ_EFORMAT, "'%s': layer '%s' "
				                "appears twice", L, l->name);
		if ((rc = img_need(r, 12, "a layer shape")))
			return rc;
		l->c = img_u32(r);
		l->h = img_u32(r);
		l->w = img_u32(r);
		if (!l->c || !l->h || !l->w || l->c > INT32_MAX ||
		    l->h > INT32_MAX || l->w > INT32_MAX)
			return spz_fail(r->err, SPZ_EFORMAT, "'%s': layer '%s': "
			                "shape %ux%ux%u (each 1..2147483647)", L,
			                l->name, l->c, l->h, l->w);
		uint64_t n = (uint64_t)l->c * l->h;
		if (n > UINT64_MAX / l->w)
			goto big;
		n *= l->w;
		uint64_t row = (n + 7) / 8;
		if (row > (r->n - r->at) / samples)
			return spz_fail(r->err, SPZ_EFORMAT, "'%s': layer '%s': "
			                "truncated in the masks (%u samples of %llu "
			                "bytes)", L, l->name, samples,
			                (unsigned long long)row);
		if (n > SIZE_MAX / samples)
			goto big;
		l->mask = malloc((size_t)(n * samples));
		if (!l->mask)
			return spz_fail(r->err, SPZ_ENOMEM, "out of memory");
		for (uint32_t s = 0; s < samples; s++) {
			const uint8_t *p = r->p + r->at;
			uint8_t *m = l->mask + s * n;
			for (uint64_t e = 0; e < n; e++)
				m[e] = (p[e >> 3] >> (e & 7)) & 1;
			if ((n & 7) && (p[row - 1] >> (n & 7)))
				return spz_fail(r->err, SPZ_EFORMAT, "'%s': layer "
				                "'%s': sample %u: pad bits are not 0",
				                L, l->name, s);
			r->at += row;
		}
		if ((rc = img_crc(r, "a layer")))
			return rc;
	}
	return img_end(r);
big:
	return spz_fail(r->err, SPZ_EFORMAT, "'%s': layer %zu: the masks "
	                "are too large", L, a->n_layers);
}

int spz_activity_load(spz_activity **out, const char *path, spz_error *err)
{
	*out = NULL;
	spz_input in;
	int rc = spz_input_open(&in, path, err);
	if (rc)
		return rc;
	img_reader r;
	/* The reader pulls sections from the input as it goes: the input
	 * stays open until the parse is over. */
	rc = img_open(&r, &in, 0, err);
	if (rc) {
		spz_input_close(&in);
		return rc;
	}
	spz_activity *a = calloc(1, sizeof *a);
	if (!a)
		rc = spz_fail(err, SPZ_ENOMEM, "out of memory");
	else
		rc = parse(a, &r);
	free((void *)r.p);
	spz_input_close(&in);
	if (rc) {
		spz_activity_free(a);
		return rc;
	}
	*out = a;
	return 0;
}

int spz_activity_save(const spz_activity *a, const char *path,
                      spz_error *err)
{
	spz_output o;
	int rc = spz_output_open(&o, path, err);
	if (rc)
		return rc;
	img_writer w = {o.f, 0};
	img_w_bytes(&w, SPZ_ACTIVITY_MAGIC, 8);
	img_w_u16(&w, ACT_VERSION);
	img_w_u16(&w, 0);
	img_w_u32(&w, (uint32_t)a->n_layers);
	img_w_u32(&w, a->n_samples);
	img_w_crc(&w);
	for (size_t i = 0; i < a->n_layers; i++) {
		const spz_activity_layer *l = &a->layers[i];
		uint64_t n = (uint64_t)l->c * l->h * l->w, row = (n + 7) / 8;
		img_w_string(&w, l->name);
		img_w_u32(&w, l->c);
		img_w_u32(&w, l->h);
		img_w_u32(&w, l->w);
		uint8_t *buf = calloc(row ? row : 1, 1);
		if (!buf) {
			spz_output_abort(&o);
			return spz_fail(err, SPZ_ENOMEM, "out of memory");
		}
		for (uint32_t s = 0; s < a->n_samples; s++) {
			memset(buf, 0, row);
			for (uint64_t e = 0; e < n; e++)
				if (l->mask[s * n + e])
					buf[e >> 3] |= (uint8_t)(1u << (e & 7));
			img_w_bytes(&w, buf, row);
		}
		free(buf);
		img_w_crc(&w);
	}
	return spz_output_commit(&o, err);
}
