/*
 * info_image.c - spz info on a packed image: per layer the dims, non-zeros,
 * padding, entries per PE and bytes by part, and with --dump the stored
 * vectors the way the EIE paper draws them (virtual weight, relative row
 * index, column pointer), as text or JSON.
 */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "info_image.h"

/* Selected layer index (or -1 for all); EXIT_OK or a usage error. */
static int pick_layer(long *out, const char *sel, size_t n,
                      const char *(*name)(const void *, size_t),
                      const void *img)
{
	*out = -1;
	if (!sel)
		return EXIT_OK;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(name(img, i), sel)) {
			*out = (long)i;
			return EXIT_OK;
		}
	int64_t v;
	if (!cli_parse_i64(sel, &v) && v >= 0 && (uint64_t)v < n) {
		*out = (long)v;
		return EXIT_OK;
	}
	return cli_usage("info", "--layer '%s' is neither a layer name nor "
	                 "an index below %zu", sel, n);
}

static const char *eie_layer_name(const void *img, size_t i)
{
	return ((const spz_eie *)img)->layers[i].node;
}

/* ------------------------------------------------------------------ */
/* EIE                                                                 */

typedef struct layer_stats {
	uint64_t min, max, total;
	double mean;
	uint64_t entry_bytes, pointer_bytes, codebook_bytes, bias_bytes;
	int pointer_bits;
} layer_stats;

static void stats_of(layer_stats *s, const spz_eie *e, const spz_eie_layer *l)
{
	memset(s, 0, sizeof *s);
	s->min = UINT64_MAX;
	s->pointer_bits = 16;
	int bits = l->code_bits + e->index_bits;
	for (uint32_t k = 0; k < e->pes; k++) {
		uint64_t n = l->pe[k].n_entries;
		s->min = n < s->min ? n : s->min;
		s->max = n > s->max ? n : s->max;
		s->total += n;
		s->entry_bytes += (n * (uint64_t)bits + 7) / 8;
		if (n > UINT16_MAX)
			s->pointer_bits = 32;
	}
	s->mean = (double)s->total / e->pes;
	s->pointer_bytes = (uint64_t)e->pes * ((uint64_t)l->cols + 1) *
	                   (uint64_t)(s->pointer_bits / 8);
	s->codebook_bytes = 2 * (uint64_t)l->codebook_size;
	s->bias_bytes = l->bias ? 2 * (uint64_t)l->rows : 0;
}

/* The labels of the dump take 21 columns, each value 3 (or more). */
#define DUMP_LABEL 21

/* One labelled row of values a..b, each right-aligned in w columns. */
static void print_row(const char *label, const uint8_t *v8,
                      const uint32_t *v32, uint64_t a, uint64_t b, int w)
{
	printf("  %-19s", label);
	for (; a < b; a++)
		printf(" %*u", w - 1, v8 ? v8[a] : v32[a]);
	printf("\n");
}

/* Decimal digits of v. */
static int digits(uint64_t v)
{
	int d = 1;
	while (v >= 10) {
		v /= 10;
		d++;
	}
	return d;
}

/* The virtual weights and relative row indices stay aligned as in the
 * paper's Fig. 3; past 80 columns (unless --wide) they go on in blocks
 * of as many entries as fit, each block both rows, and the column
 * pointers wrap under their first value. */
static void dump_pe_text(const spz_eie *e, const spz_eie_layer *l,
                         uint32_t k)
{
	const spz_eie_pe *pe = &l->pe[k];
	printf("layer '%s' PE %u: rows %u + %u*r for r < %lld, %llu entries\n",
	       l->node, k, k, e->pes, (long long)spz_eie_pe_rows(e, l, k),
	       (unsigned long long)pe->n_entries);
	uint64_t n = pe->n_entries, per = cli_opts.wide || !n ? (n ? n : 1)
	                                 : (80 - DUMP_LABEL) / 3;
	for (uint64_t a = 0; a < n || a == 0; a += per) {
		uint64_t b = a + per < n ? a + per : n;
		print_row("virtual weight", pe->code, NULL, a, b, 3);
		print_row("relative row index", pe->index, NULL, a, b, 3);
		if (b >= n)
			break;
	}
	uint64_t np = (uint64_t)l->cols + 1;
	int w = 1 + digits(pe->ptr[np - 1]); /* the largest: they ascend */
	w = w < 3 ? 3 : w;
	uint64_t pp = cli_opts.wide ? np : (uint64_t)(80 - DUMP_LABEL) / (uint64_t)w;
	for (uint64_t a = 0; a < np; a += pp)
		print_row(a ? "" : "column pointer", NULL, pe->ptr, a,
		          a + pp < np ? a + pp : np, w);
}

static void print_eie_text(const spz_eie *e, long only, long pe,
                           int dump, int huffman)
{
	printf("EIE image%s '%s': %zu layer%s on %u PEs, %d-bit relative "
	       "index\n", huffman ? " (Huffman-coded entries)" : "", e->name,
	       e->n_layers, e->n_layers == 1 ? "" : "s", e->pes,
	       e->index_bits);
	for (size_t i = 0; i < e->n_layers; i++) {
		if (only >= 0 && (size_t)only != i)
			continue;
		const spz_eie_layer *l = &e->layers[i];
		layer_stats s;
		stats_of(&s, e, l);
		printf("\nlayer %zu '%s' (%s%s): %lldx%lld, %llu non-zeros, %llu "
		       "padding\n", i, l->node, l->op,
		       l->act == SPZ_ACT_RELU ? " + Relu" : "",
		       (long long)l->rows, (long long)l->cols,
		       (unsigned long long)l->nonzeros,
		       (unsigned long long)l->padding);
		printf("  entries per PE: min %llu, mean %.2f, max %llu\n",
		       (unsigned long long)s.min, s.mean,
		       (unsigned long long)s.max);
		printf("  codebook: %u entries, %d-bit codes, Q format %d "
		       "fraction bits", l->codebook_size, l->code_bits,
		       l->codebook_frac);
		/* Two lines each, so that they fit 80 columns. */
		if (l->bias)
			printf(";\n    bias: %d fraction bits", l->bias_frac);
		printf("\n  bytes: entries %llu (%d bits each), pointers %llu "
		       "(%d bits),\n    codebook %llu, bias %llu, total %llu\n",
		       (unsigned long long)s.entry_bytes,
		       l->code_bits + e->index_bits,
		       (unsigned long long)s.pointer_bytes, s.pointer_bits,
		       (unsigned long long)s.codebook_bytes,
		       (unsigned long long)s.bias_bytes,
		       (unsigned long long)(s.entry_bytes + s.pointer_bytes +
		                            s.codebook_bytes + s.bias_bytes));
		if (!dump)
			continue;
		for (uint32_t k = 0; k < e->pes; k++)
			if (pe < 0 || (uint32_t)pe == k) {
				printf("\n");
				dump_pe_text(e, l, k);
			}
	}
}

static cJSON *u8_array(const uint8_t *v, uint64_t n)
{
	cJSON *a = cJSON_CreateArray();
	for (uint64_t i = 0; a && i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
	return a;
}

static cJSON *u32_array(const uint32_t *v, uint64_t n)
{
	cJSON *a = cJSON_CreateArray();
	for (uint64_t i = 0; a && i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
	return a;
}

static cJSON *eie_json(const spz_eie *e, long only, long pe, int dump,
                       int huffman)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "kind", "eie");
	cJSON_AddBoolToObject(j, "huffman", huffman);
	cJSON_AddStringToObject(j, "name", e->name);
	cJSON_AddNumberToObject(j, "pes", e->pes);
	cJSON_AddNumberToObject(j, "index_bits", e->index_bits);
	cJSON *ls = cJSON_AddArrayToObject(j, "layers");
	for (size_t i = 0; i < e->n_layers; i++) {
		if (only >= 0 && (size_t)only != i)
			continue;
		const spz_eie_layer *l = &e->layers[i];
		layer_stats s;
		stats_of(&s, e, l);
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", l->node);
		cJSON_AddStringToObject(o, "op", l->op);
		cJSON_AddStringToObject(o, "activation",
		                        l->act == SPZ_ACT_RELU ? "relu" : "none");
		cJSON_AddNumberToObject(o, "rows", (double)l->rows);
		cJSON_AddNumberToObject(o, "cols", (double)l->cols);
		cJSON_AddNumberToObject(o, "nonzeros", (double)l->nonzeros);
		cJSON_AddNumberToObject(o, "padding", (double)l->padding);
		cJSON *en = cJSON_AddObjectToObject(o, "entries_per_pe");
		cJSON_AddNumberToObject(en, "min", (double)s.min);
		cJSON_AddNumberToObject(en, "mean", s.mean);
		cJSON_AddNumberToObject(en, "max", (double)s.max);
		cJSON_AddNumberToObject(o, "code_bits", l->code_bits);
		cJSON_AddNumberToObject(o, "codebook_frac", l->codebook_frac);
		cJSON_AddItemToObject(o, "codebook",
		                      cJSON_CreateArray());
		cJSON *cb = cJSON_GetObjectItem(o, "codebook");
		for (uint32_t c = 0; c < l->codebook_size; c++)
			cJSON_AddItemToArray(cb, cJSON_CreateNumber(l->codebook[c]));
		if (l->bias)
			cJSON_AddNumberToObject(o, "bias_frac", l->bias_frac);
		else
			cJSON_AddNullToObject(o, "bias_frac");
		cJSON_AddNumberToObject(o, "pointer_bits", s.pointer_bits);
		cJSON *b = cJSON_AddObjectToObject(o, "bytes");
		cJSON_AddNumberToObject(b, "entries", (double)s.entry_bytes);
		cJSON_AddNumberToObject(b, "pointers", (double)s.pointer_bytes);
		cJSON_AddNumberToObject(b, "codebook", (double)s.codebook_bytes);
		cJSON_AddNumberToObject(b, "bias", (double)s.bias_bytes);
		if (dump) {
			cJSON *pa = cJSON_AddArrayToObject(o, "pe");
			for (uint32_t k = 0; k < e->pes; k++) {
				if (pe >= 0 && (uint32_t)pe != k)
					continue;
				const spz_eie_pe *p = &l->pe[k];
				cJSON *po = cJSON_CreateObject();
				cJSON_AddNumberToObject(po, "id", k);
				cJSON_AddItemToObject(po, "codes",
				                      u8_array(p->code, p->n_entries));
				cJSON_AddItemToObject(po, "index",
				                      u8_array(p->index, p->n_entries));
				cJSON_AddItemToObject(po, "pointers",
				                      u32_array(p->ptr,
				                                (uint64_t)l->cols + 1));
				cJSON_AddItemToArray(pa, po);
			}
		}
		cJSON_AddItemToArray(ls, o);
	}
	return j;
}

static int info_eie(spz_input *in, const info_image_opts *o)
{
	spz_eie *e;
	spz_error err = {0};
	int huffman = spz_image_kind(in) == SPZ_IMAGE_EIE_HUFF;
	if (spz_eie_read(&e, in, &err))
		return cli_fail(&err);
	long only, pe = -1;
	int rc = pick_layer(&only, o->layer, e->n_layers, eie_layer_name, e);
	int64_t v = 0;
	if (!rc && o->pe) {
		if (cli_parse_i64(o->pe, &v) || v < 0 || v >= (int64_t)e->pes)
			rc = cli_usage("info", "--pe takes 0..%u for this image, "
			               "not '%s'", e->pes - 1, o->pe);
		pe = (long)v;
	}
	if (!rc && o->json)
		rc = cli_print_json(eie_json(e, only, pe, o->dump, huffman));
	else if (!rc)
		print_eie_text(e, only, pe, o->dump, huffman);
	spz_eie_free(e);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Plain images                                                        */

static const char *plain_name(const void *img, size_t i)
{
	return ((const spz_plain *)img)->weights[i]->name;
}

static const char *format_name(int kind)
{
	return kind == SPZ_IMAGE_CSC ? "csc" : kind == SPZ_IMAGE_CSR ? "csr"
	                                                             : "nm";
}

/* Bytes of the sparse form: values (codes 1 byte, floats 4), indices
 * (4; N:M positions at their bit width), pointers (4). */
static void sparse_bytes(const spz_sparse *s, uint64_t *v, uint64_t *ix,
                         uint64_t *p)
{
	*v = s->n_values * (s->quantized ? 1 : 4);
	if (s->format == SPZ_SPARSE_NM) {
		int b = 1;
		while ((1 << b) < s->nm_m)
			b++;
		*ix = (s->n_values * (uint64_t)b + 7) / 8;
		*p = 0;
	} else {
		*ix = 4 * s->n_values;
		*p = 4 * ((uint64_t)(s->format == SPZ_SPARSE_CSC ? s->cols
		                                                   : s->rows) + 1);
	}
}

static cJSON *plain_json(const spz_plain *pl, long only, int dump)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "kind", format_name(pl->kind));
	cJSON_AddStringToObject(j, "name", pl->model->name);
	cJSON *ls = cJSON_AddArrayToObject(j, "layers");
	for (size_t i = 0; i < pl->n_sparse; i++) {
		if (only >= 0 && (size_t)only != i)
			continue;
		const spz_sparse *s = &pl->sparse[i];
		uint64_t nz = 0, bv, bi, bp;
		for (uint64_t a = 0; a < s->n_values; a++)
			nz += s->quantized ? s->codes[a] != 0 : s->values[a] != 0;
		sparse_bytes(s, &bv, &bi, &bp);
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", pl->weights[i]->name);
		cJSON_AddStringToObject(o, "format", format_name(pl->kind));
		cJSON_AddNumberToObject(o, "rows", (double)s->rows);
		cJSON_AddNumberToObject(o, "cols", (double)s->cols);
		cJSON_AddNumberToObject(o, "nonzeros", (double)nz);
		cJSON_AddNumberToObject(o, "stored", (double)s->n_values);
		if (s->format == SPZ_SPARSE_NM) {
			cJSON_AddNumberToObject(o, "n", s->nm_n);
			cJSON_AddNumberToObject(o, "m", s->nm_m);
		}
		cJSON *b = cJSON_AddObjectToObject(o, "bytes");
		cJSON_AddNumberToObject(b, "values", (double)bv);
		cJSON_AddNumberToObject(b, "indices", (double)bi);
		cJSON_AddNumberToObject(b, "pointers", (double)bp);
		if (dump) {
			cJSON_AddItemToObject(
				o, "values",
				s->quantized ? u8_array(s->codes, s->n_values)
				             : cJSON_CreateFloatArray(s->values,
				                                      (int)s->n_values));
			cJSON_AddItemToObject(o, "indices",
			                      u32_array(s->indices, s->n_values));
			if (s->pointers) {
				int64_t n = (s->format == SPZ_SPARSE_CSC ? s->cols
				                                         : s->rows) + 1;
				cJSON *pa = cJSON_AddArrayToObject(o, "pointers");
				for (int64_t k = 0; k < n; k++)
					cJSON_AddItemToArray(
						pa, cJSON_CreateNumber((double)s->pointers[k]));
			}
		}
		cJSON_AddItemToArray(ls, o);
	}
	return j;
}

static void print_plain_text(const spz_plain *pl, long only, int dump)
{
	printf("%s image '%s': %zu sparse weight%s\n",
	       pl->kind == SPZ_IMAGE_CSC ? "CSC"
	       : pl->kind == SPZ_IMAGE_CSR ? "CSR" : "N:M",
	       pl->model->name, pl->n_sparse, pl->n_sparse == 1 ? "" : "s");
	for (size_t i = 0; i < pl->n_sparse; i++) {
		if (only >= 0 && (size_t)only != i)
			continue;
		const spz_sparse *s = &pl->sparse[i];
		uint64_t bv, bi, bp;
		sparse_bytes(s, &bv, &bi, &bp);
		printf("\n'%s': %lldx%lld, %llu stored values (%s)", 
		       pl->weights[i]->name, (long long)s->rows,
		       (long long)s->cols, (unsigned long long)s->n_values,
		       s->quantized ? "codes" : "float32");
		if (s->format == SPZ_SPARSE_NM)
			printf(", %d:%d along axis %d", s->nm_n, s->nm_m,
			       s->nm_axis);
		printf("\n  bytes: values %llu, indices %llu, pointers %llu\n",
		       (unsigned long long)bv, (unsigned long long)bi,
		       (unsigned long long)bp);
		if (!dump)
			continue;
		/* Each vector wraps at 80 columns under its first value
		 * (--wide: one line each). */
		size_t col = 11;
		char w[32];
		printf("  %-9s", "values");
		for (uint64_t a = 0; a < s->n_values; a++) {
			if (s->quantized)
				snprintf(w, sizeof w, "%u", s->codes[a]);
			else
				spz_format_float(w, s->values[a]);
			cli_put_word(stdout, &col, 12, " ", w);
		}
		printf("\n  %-9s", s->format == SPZ_SPARSE_NM ? "positions"
		                                              : "indices");
		col = 11;
		for (uint64_t a = 0; a < s->n_values; a++) {
			snprintf(w, sizeof w, "%u", s->indices[a]);
			cli_put_word(stdout, &col, 12, " ", w);
		}
		printf("\n");
		if (!s->pointers)
			continue;
		printf("  %-9s", "pointers");
		col = 11;
		int64_t n = (s->format == SPZ_SPARSE_CSC ? s->cols : s->rows) + 1;
		for (int64_t k = 0; k < n; k++) {
			snprintf(w, sizeof w, "%llu",
			         (unsigned long long)s->pointers[k]);
			cli_put_word(stdout, &col, 12, " ", w);
		}
		printf("\n");
	}
}

static int info_plain(spz_input *in, const info_image_opts *o)
{
	spz_plain *pl;
	spz_error err = {0};
	if (spz_plain_read(&pl, in, &err))
		return cli_fail(&err);
	long only;
	int rc = pick_layer(&only, o->layer, pl->n_sparse, plain_name, pl);
	if (!rc && o->pe)
		rc = cli_usage("info", "--pe is for EIE images");
	if (!rc && o->json)
		rc = cli_print_json(plain_json(pl, only, o->dump));
	else if (!rc)
		print_plain_text(pl, only, o->dump);
	spz_plain_free(pl);
	return rc;
}

int info_image(spz_input *in, const info_image_opts *o)
{
	int kind = spz_image_kind(in);
	if (kind == SPZ_IMAGE_CSC || kind == SPZ_IMAGE_CSR ||
	    kind == SPZ_IMAGE_NM)
		return info_plain(in, o);
	return info_eie(in, o);
}
