/*
 * plain_image.c - CSC, CSR and N:M images (formats/README.md, "Plain
 * images"): the model's JSON manifest, as in .spzm, then one payload per
 * tensor, the weights in their sparse form and the rest dense. The
 * manifest gives each payload's offset, length and CRC32.
 */
#define _POSIX_C_SOURCE 200809L
#include "image_io.h"
#include "model_io.h"

#include <stdlib.h>
#include <string.h>

#define MANIFEST_MAX (UINT32_C(1) << 30)
#define SPARSE_FIXED 32

static int is_sparse(const spz_model *m, const spz_tensor *t)
{
	return t->ndims >= 2 && spz_model_reduction_dim(m, t) >= 0;
}

static int position_bits(int m)
{
	int b = 1;
	while ((1 << b) < m)
		b++;
	return b;
}

/* ------------------------------------------------------------------ */
/* Writing                                                             */

static void put_values(img_writer *w, const spz_sparse *s)
{
	if (s->quantized) {
		img_w_bytes(w, s->codes, s->n_values);
		return;
	}
	for (uint64_t a = 0; a < s->n_values; a++) {
		uint32_t bits;
		memcpy(&bits, &s->values[a], 4);
		img_w_u32(w, bits);
	}
}

static int write_sparse(img_writer *w, const spz_sparse *s)
{
	img_w_u64(w, (uint64_t)s->rows);
	img_w_u64(w, (uint64_t)s->cols);
	img_w_u64(w, s->n_values);
	if (s->format == SPZ_SPARSE_NM) {
		int pb = position_bits(s->nm_m);
		img_w_u16(w, (uint16_t)s->nm_n);
		img_w_u16(w, (uint16_t)s->nm_m);
		img_w_u8(w, (uint8_t)s->nm_axis);
		img_w_u8(w, (uint8_t)s->quantized);
		img_w_u8(w, (uint8_t)pb);
		img_w_u8(w, 0);
		uint64_t nb = (s->n_values * (uint64_t)pb + 7) / 8;
		uint8_t *buf = calloc(nb + 2, 1);
		if (!buf)
			return SPZ_ENOMEM;
		for (uint64_t a = 0, at = 0; a < s->n_values;
		     a++, at += (uint64_t)pb) {
			uint32_t v = s->indices[a] << (at & 7);
			buf[at >> 3] |= (uint8_t)v;
			buf[(at >> 3) + 1] |= (uint8_t)(v >> 8);
			buf[(at >> 3) + 2] |= (uint8_t)(v >> 16);
		}
		img_w_bytes(w, buf, nb);
		free(buf);
	} else {
		int64_t outer = s->format == SPZ_SPARSE_CSC ? s->cols : s->rows;
		int pb = s->n_values > UINT32_MAX ? 8 : 4;
		img_w_u8(w, (uint8_t)pb);
		img_w_u8(w, (uint8_t)s->quantized);
		img_w_u16(w, 0);
		img_w_u32(w, 0);
		for (int64_t o = 0; o <= outer; o++)
			if (pb == 4)
				img_w_u32(w, (uint32_t)s->pointers[o]);
			else
				img_w_u64(w, s->pointers[o]);
		for (uint64_t a = 0; a < s->n_values; a++)
			img_w_u32(w, s->indices[a]);
	}
	put_values(w, s);
	return 0;
}

static void write_dense(img_writer *w, const spz_tensor *t)
{
	int64_t n = spz_tensor_elements(t);
	if (t->codebook) {
		img_w_bytes(w, t->codes, (size_t)n);
		return;
	}
	for (int64_t i = 0; i < n; i++) {
		uint32_t bits;
		memcpy(&bits, &t->data[i], 4);
		img_w_u32(w, bits);
	}
}

/* The pattern and axis for weight t. */
static void nm_options(spz_sparse_options *so, const spz_model *m,
                       const spz_tensor *t, const spz_plain_options *o)
{
	so->axis = spz_model_reduction_dim(m, t);
	if (o->nm_n) {
		so->nm_n = o->nm_n;
		so->nm_m = o->nm_m;
	} else if (t->prune && !strcmp(t->prune->mode, "nm") &&
	           t->prune->nm_m) {
		so->nm_n = t->prune->nm_n;
		so->nm_m = t->prune->nm_m;
	}
}

/* Every payload into one buffer; sec[i] gets its offset, length, CRC. */
static int build_payloads(char **buf, size_t *len, spz_section *sec,
                          const spz_model *m, const spz_plain_options *o,
                          uint64_t *values, spz_error *err)
{
	FILE *f = open_memstream(buf, len);
	if (!f)
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	img_writer w = {f, 0};
	int rc = 0;
	uint64_t off = 0;
	for (size_t i = 0; !rc && i < m->n_tensors; i++) {
		const spz_tensor *t = &m->tensors[i];
		w.crc = 0;
		if (is_sparse(m, t)) {
			spz_sparse_options so = SPZ_SPARSE_OPTIONS_INIT;
			so.format = o->kind;
			nm_options(&so, m, t, o);
			spz_sparse s;
			rc = spz_sparse_from_tensor(&s, t, &so, err);
			if (!rc && write_sparse(&w, &s))
				rc = spz_fail(err, SPZ_ENOMEM, "out of memory");
			*values += s.n_values;
			spz_sparse_clear(&s);
		} else {
			write_dense(&w, t);
		}
		fflush(f);
		sec[i].offset = off;
		sec[i].length = *len - off;
		sec[i].crc = w.crc;
		off = *len;
	}
	if (fclose(f) && !rc)
		rc = spz_fail(err, SPZ_ENOMEM, "out of memory");
	return rc;
}

int spz_plain_save(const spz_model *m, const spz_plain_options *o,
                   const char *path, uint64_t *out_values, spz_error *err)
{
	size_t nt = m->n_tensors;
	spz_section *sec = calloc(nt ? nt : 1, sizeof *sec);
	char *pay = NULL, *man = NULL;
	size_t pay_len = 0, man_len = 0;
	uint64_t values = 0;
	int rc = sec ? 0 : spz_fail(err, SPZ_ENOMEM, "out of memory");
	if (!rc)
		rc = build_payloads(&pay, &pay_len, sec, m, o, &values, err);
	if (!rc)
		rc = spz_manifest_text(&man, &man_len, m, sec, err);
	spz_output out;
	if (!rc)
		rc = spz_output_open(&out, path, err);
	if (!rc) {
		img_writer w = {out.f, 0};
		img_w_prefix(&w, (unsigned)o->kind);
		img_w_u32(&w, 0);
		img_w_u32(&w, (uint32_t)man_len);
		img_w_bytes(&w, man, man_len);
		img_w_crc(&w);
		fwrite(pay, 1, pay_len, out.f);
		rc = spz_output_commit(&out, err);
	}
	if (!rc && out_values)
		*out_values = values;
	free(sec);
	free(pay);
	free(man);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Reading                                                             */

static int read_values(img_reader *r, spz_sparse *s, const char *what)
{
	uint64_t n = s->n_values;
	int rc = img_need(r, s->quantized ? n : 4 * n, what);
	if (rc)
		return rc;
	if (s->quantized) {
		if (!(s->codes = malloc(n + 1)))
			return SPZ_ENOMEM;
		memcpy(s->codes, r->p + r->at, n);
		r->at += n;
		return 0;
	}
	if (!(s->values = malloc((n + 1) * sizeof *s->values)))
		return SPZ_ENOMEM;
	for (uint64_t a = 0; a < n; a++) {
		uint32_t bits = img_u32(r);
		memcpy(&s->values[a], &bits, 4);
	}
	return 0;
}

static int read_sparse(img_reader *r, spz_sparse *s, int kind,
                       const spz_tensor *t, const char *what)
{
	int rc = img_need(r, SPARSE_FIXED, what);
	if (rc)
		return rc;
	s->format = kind;
	s->rows = (int64_t)(img_u64(r) & INT64_MAX);
	s->cols = (int64_t)(img_u64(r) & INT64_MAX);
	s->n_values = img_u64(r);
	s->bits = t->bits;
	/* Each value takes at least a byte on file. */
	if (s->n_values > img_left(r))
		return img_need(r, s->n_values, what);
	if (kind == SPZ_SPARSE_NM) {
		s->nm_n = img_u16(r);
		s->nm_m = img_u16(r);
		s->nm_axis = img_u8(r);
		s->quantized = img_u8(r);
		int pb = img_u8(r), res = img_u8(r);
		if (s->nm_n < 1 || s->nm_m < s->nm_n || s->nm_m > 256 ||
		    s->nm_axis >= t->ndims || s->quantized > 1 ||
		    pb != position_bits(s->nm_m) || res)
			return spz_fail(r->err, SPZ_EFORMAT, "'%s': %s: bad N:M "
			                "header", r->label, what);
		uint64_t nb = (s->n_values * (uint64_t)pb + 7) / 8;
		if ((rc = img_need(r, nb, what)))
			return rc;
		if (!(s->indices = malloc((s->n_values + 1) * 4)))
			return SPZ_ENOMEM;
		const uint8_t *p = r->p + r->at;
		for (uint64_t a = 0, at = 0; a < s->n_values;
		     a++, at += (uint64_t)pb) {
			uint32_t v = p[at >> 3];
			if ((at >> 3) + 1 < nb)
				v |= (uint32_t)p[(at >> 3) + 1] << 8;
			s->indices[a] = (v >> (at & 7)) & ((1u << pb) - 1);
		}
		r->at += nb;
		return read_values(r, s, what);
	}
	int pb = img_u8(r);
	s->quantized = img_u8(r);
	unsigned res = img_u16(r) | img_u32(r);
	int64_t outer = kind == SPZ_SPARSE_CSC ? s->cols : s->rows;
	if ((pb != 4 && pb != 8) || s->quantized > 1 || res ||
	    s->rows > UINT32_MAX || s->cols > UINT32_MAX)
		return spz_fail(r->err, SPZ_EFORMAT, "'%s': %s: bad header",
		                r->label, what);
	if ((rc = img_need(r, ((uint64_t)outer + 1) * (uint64_t)pb +
	                          4 * s->n_values, what)))
		return rc;
	s->pointers = malloc(((size_t)outer + 1) * sizeof *s->pointers);
	s->indices = malloc((s->n_values + 1) * sizeof *s->indices);
	if (!s->pointers || !s->indices)
		return SPZ_ENOMEM;
	for (int64_t o = 0; o <= outer; o++)
		s->pointers[o] = pb == 4 ? img_u32(r) : img_u64(r);
	for (uint64_t a = 0; a < s->n_values; a++)
		s->indices[a] = img_u32(r);
	return read_values(r, s, what);
}

static int read_dense(img_reader *r, spz_tensor *t, const char *what)
{
	uint64_t n = (uint64_t)spz_tensor_elements(t);
	int rc = img_need(r, t->codebook ? n : 4 * n, what);
	if (!rc)
		rc = spz_tensor_alloc(t, r->err);
	if (rc)
		return rc;
	if (t->codebook) {
		memcpy(t->codes, r->p + r->at, n);
		r->at += n;
		return 0;
	}
	for (uint64_t i = 0; i < n; i++) {
		uint32_t bits = img_u32(r);
		memcpy(&t->data[i], &bits, 4);
	}
	return 0;
}

static int read_tensors(spz_plain *p, img_reader *r, const spz_section *sec)
{
	spz_model *m = p->model;
	p->sparse = calloc(m->n_tensors + 1, sizeof *p->sparse);
	p->weights = calloc(m->n_tensors + 1, sizeof *p->weights);
	if (!p->sparse || !p->weights)
		return spz_fail(r->err, SPZ_ENOMEM, "out of memory");
	size_t base = r->at;
	char what[300];
	for (size_t i = 0; i < m->n_tensors; i++) {
		spz_tensor *t = &m->tensors[i];
		snprintf(what, sizeof what, "tensor '%s'", t->name);
		/* An image lays out its own payloads: the .spzm encodings
		 * have no place in its manifest. */
		if (sec[i].encoding != SPZ_ENC_DENSE)
			return spz_fail(r->err, SPZ_EFORMAT, "'%s': %s: "
			                "\"encoding\" is for .spzm models, not "
			                "images", r->label, what);
		if (sec[i].offset != r->at - base)
			return spz_fail(r->err, SPZ_EFORMAT, "'%s': %s: offset "
			                "%llu is not where the previous payload "
			                "ends", r->label, what,
			                (unsigned long long)sec[i].offset);
		int rc = img_need(r, sec[i].length, what);
		if (rc)
			return rc;
		if (spz_crc32(0, r->p + r->at, sec[i].length) != sec[i].crc)
			return spz_fail(r->err, SPZ_ECRC, "'%s': CRC mismatch in %s "
			                "(the file is corrupt)", r->label, what);
		/* Parse inside exactly this payload, all of it in memory;
		 * the tensor's storage once the payload has been checked. */
		img_reader sub = *r;
		sub.n = r->at + sec[i].length;
		sub.in = NULL;
		if (is_sparse(m, t)) {
			spz_sparse *s = &p->sparse[p->n_sparse];
			p->weights[p->n_sparse++] = t;
			rc = read_sparse(&sub, s, p->kind, t, what);
			if (!rc)
				rc = spz_tensor_alloc(t, r->err);
			spz_error e2 = {0};
			if (!rc && (rc = spz_sparse_to_tensor(t, s, &e2)))
				spz_fail(r->err, rc, "'%s': %s", r->label, e2.text);
		} else {
			rc = read_dense(&sub, t, what);
		}
		if (rc == SPZ_ENOMEM)
			spz_fail(r->err, rc, "out of memory");
		if (!rc && sub.at != sub.n)
			rc = spz_fail(r->err, SPZ_EFORMAT, "'%s': %s: %zu bytes "
			              "left over in its payload", r->label, what,
			              sub.n - sub.at);
		if (rc)
			return rc;
		r->at = sub.n;
	}
	return 0;
}

static int read_plain(spz_plain *p, img_reader *r, spz_input *in)
{
	unsigned kind;
	int rc = img_prefix(r, &kind);
	if (rc)
		return rc;
	if (kind == SPZ_IMAGE_EIE)
		return spz_fail(r->err, SPZ_EUNSUPPORTED, "'%s' is an EIE image, "
		                "not a plain image", r->label);
	p->kind = (int)kind;
	if ((rc = img_need(r, 8, "header")))
		return rc;
	uint32_t reserved = img_u32(r), len = img_u32(r);
	if (reserved || len > MANIFEST_MAX)
		return spz_fail(r->err, SPZ_EFORMAT, "'%s': corrupt header",
		                r->label);
	/* With its CRC: img_crc then reads nothing, so man stays put. */
	if ((rc = img_need(r, (uint64_t)len + 4, "manifest")))
		return rc;
	const char *man = (const char *)r->p + r->at;
	r->at += len;
	if ((rc = img_crc(r, "manifest")))
		return rc;
	spz_section *sec = NULL;
	rc = spz_parse_manifest(&p->model, &sec, man, len, r->label, in->dir,
	                        r->err);
	if (!rc)
		rc = read_tensors(p, r, sec);
	free(sec);
	if (!rc)
		rc = img_end(r);
	if (!rc) {
		spz_error sub = {0};
		if ((rc = spz_model_validate(p->model, &sub)))
			spz_fail(r->err, rc, "'%s': %s", r->label, sub.text);
	}
	return rc;
}

void spz_plain_free(spz_plain *p)
{
	if (!p)
		return;
	for (size_t i = 0; p->sparse && i < p->n_sparse; i++)
		spz_sparse_clear(&p->sparse[i]);
	free(p->sparse);
	free(p->weights);
	spz_model_free(p->model);
	free(p);
}

int spz_plain_read(spz_plain **out, spz_input *in, spz_error *err)
{
	img_reader r;
	int rc = img_slurp(&r, in, err);
	if (rc)
		return rc;
	spz_plain *p = calloc(1, sizeof *p);
	rc = p ? read_plain(p, &r, in)
	       : spz_fail(err, SPZ_ENOMEM, "out of memory");
	free((void *)r.p);
	if (rc) {
		spz_plain_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

int spz_plain_read_model(spz_model **out, spz_input *in, spz_error *err)
{
	spz_plain *p;
	int rc = spz_plain_read(&p, in, err);
	if (rc)
		return rc;
	*out = p->model;
	p->model = NULL;
	spz_plain_free(p);
	return 0;
}
