/*
 * eie_image.c - the EIE image file (formats/README.md, "EIE image"): a
 * header, then per layer a descriptor (dims, names, codebook, bias) and
 * per PE its column pointers and its packed (code, index) entries, each
 * section closed by its CRC32. The reader trusts nothing: every length is
 * checked against the file before use and the result goes through
 * spz_eie_validate.
 */
#include "image_io.h"

#include <stdlib.h>
#include <string.h>

#define OP_GEMM 1
#define OP_MATMUL 2
#define FLAG_TRANSPOSED 1
#define FLAG_BIAS 2
/* The second flag byte (reserved, 0, before the Add/Flatten forms: older
 * images read unchanged). */
#define EXT_ADD 1          /* MatMul's bias by an Add: 2 more names */
#define EXT_ADD_FIRST 2    /* ... the bias is the Add's first input */
#define EXT_PRE 4          /* a Flatten/Reshape first: 4 names, values */
#define EXT_ANON_SHIFT 3   /* SPZ_EIE_ANON_* << 3 */
#define EXT_ALL 0x7f
/* Fixed part of a layer descriptor, before its names. */
#define LAYER_FIXED 44
/* Smallest layer on file: fixed part, 7 empty names, 1 codebook entry, CRC,
 * then one PE's entry count, 2 pointers and 2 CRCs. */
#define LAYER_MIN (LAYER_FIXED + 14 + 2 + 4 + 4 + 4 + 8)

int spz_image_kind(const spz_input *in)
{
	if (in->n_head < SPZ_IMAGE_PREFIX ||
	    memcmp(in->head, SPZ_IMAGE_MAGIC, 8))
		return 0;
	return in->head[10];
}

/* Bits of one entry: code then relative index. */
static int entry_bits(const spz_eie *e, const spz_eie_layer *l)
{
	return l->code_bits + e->index_bits;
}

static uint64_t entry_bytes(uint64_t n, int bits)
{
	return (n * (uint64_t)bits + 7) / 8;
}

/* 16-bit pointers when every PE's count fits (as EIE), else 32. */
static int pointer_bytes(const spz_eie *e, const spz_eie_layer *l)
{
	for (uint32_t k = 0; k < e->pes; k++)
		if (l->pe[k].n_entries > UINT16_MAX)
			return 4;
	return 2;
}

/* ------------------------------------------------------------------ */
/* Writing                                                             */

/* hl: the layer's two Huffman codes for a Huffman image, else NULL. */
static int write_layer(img_writer *w, const spz_eie *e,
                       const spz_eie_layer *l, const spz_huff_layer *hl,
                       uint8_t *buf, uint8_t *buf2, spz_error *err)
{
	int pb = pointer_bytes(e, l);
	img_w_u64(w, (uint64_t)l->rows);
	img_w_u64(w, (uint64_t)l->cols);
	img_w_u8(w, strcmp(l->op, "Gemm") ? OP_MATMUL : OP_GEMM);
	img_w_u8(w, (uint8_t)((l->transposed ? FLAG_TRANSPOSED : 0) |
	                      (l->bias ? FLAG_BIAS : 0)));
	img_w_u8(w, (uint8_t)l->act);
	img_w_u8(w, (uint8_t)l->code_bits);
	img_w_u8(w, (uint8_t)pb);
	img_w_u8(w, (uint8_t)(int8_t)l->codebook_frac);
	img_w_u8(w, (uint8_t)(int8_t)l->bias_frac);
	img_w_u8(w, (uint8_t)((l->add_node ? EXT_ADD : 0) |
	                      (l->add_bias_first ? EXT_ADD_FIRST : 0) |
	                      (l->pre_op ? EXT_PRE : 0) |
	                      (l->anon << EXT_ANON_SHIFT)));
	img_w_u32(w, l->codebook_size);
	img_w_u64(w, l->nonzeros);
	img_w_u64(w, l->padding);
	const char *names[7] = {l->node, l->weight, l->bias_name, l->input,
	                        l->linear_out, l->act_node, l->output};
	for (int i = 0; i < 7; i++)
		img_w_string(w, names[i]);
	if (l->add_node) {
		img_w_string(w, l->add_node);
		img_w_string(w, l->add_out);
	}
	if (l->pre_op) {
		img_w_string(w, l->pre_op);
		img_w_string(w, l->pre_node);
		img_w_string(w, l->pre_input);
		img_w_string(w, l->pre_shape);
		img_w_u8(w, (uint8_t)l->n_pre_values);
		for (int v = 0; v < l->n_pre_values; v++)
			img_w_u64(w, (uint64_t)l->pre_values[v]);
	}
	for (uint32_t c = 0; c < l->codebook_size; c++)
		img_w_u16(w, (uint16_t)l->codebook[c]);
	for (int64_t i = 0; l->bias && i < l->rows; i++)
		img_w_u16(w, (uint16_t)l->bias[i]);
	img_w_crc(w);
	if (hl) {
		/* Code-length tables: every code, then every relative index. */
		img_w_bytes(w, hl->codes.len, (size_t)hl->codes.n);
		img_w_bytes(w, hl->index.len, (size_t)hl->index.n);
		img_w_crc(w);
	}
	int bits = entry_bits(e, l);
	for (uint32_t k = 0; k < e->pes; k++) {
		const spz_eie_pe *pe = &l->pe[k];
		img_w_u32(w, (uint32_t)pe->n_entries);
		for (int64_t j = 0; j <= l->cols; j++)
			for (int b = 0; b < pb; b++)
				buf[(size_t)j * (size_t)pb + (size_t)b] =
					(uint8_t)(pe->ptr[j] >> (8 * b));
		img_w_bytes(w, buf, ((size_t)l->cols + 1) * (size_t)pb);
		img_w_crc(w);
		if (hl) {
			uint64_t bv, bz;
			int rc = spz_huff_encode(&bv, buf, &hl->codes, pe->code,
			                         pe->n_entries, err);
			if (!rc)
				rc = spz_huff_encode(&bz, buf2, &hl->index,
				                     pe->index, pe->n_entries, err);
			if (rc)
				return rc;
			img_w_u64(w, bv);
			img_w_u64(w, bz);
			img_w_bytes(w, buf, (size_t)((bv + 7) / 8));
			img_w_bytes(w, buf2, (size_t)((bz + 7) / 8));
			img_w_crc(w);
			continue;
		}
		/* Entry a is v | z << code_bits at bits a*bits.., LSB first. */
		uint64_t nb = entry_bytes(pe->n_entries, bits);
		if (bits == 8) {
			for (uint64_t a = 0; a < pe->n_entries; a++)
				buf[a] = (uint8_t)(pe->code[a] |
				                   pe->index[a] << l->code_bits);
		} else {
			memset(buf, 0, nb + 2);
			for (uint64_t a = 0, at = 0; a < pe->n_entries;
			     a++, at += (uint64_t)bits) {
				uint32_t v = ((uint32_t)pe->code[a] |
				              (uint32_t)pe->index[a] << l->code_bits)
				             << (at & 7);
				buf[at >> 3] |= (uint8_t)v;
				buf[(at >> 3) + 1] |= (uint8_t)(v >> 8);
				buf[(at >> 3) + 2] |= (uint8_t)(v >> 16);
			}
		}
		img_w_bytes(w, buf, nb);
		img_w_crc(w);
	}
	return 0;
}

/* Both kinds: the Huffman image when huffman. */
static int write_image(FILE *f, const spz_eie *e, int huffman,
                       spz_error *err)
{
	int rc = spz_eie_validate(e, err);
	if (rc)
		return rc;
	/* One scratch buffer big enough for any PE's pointers or entries. */
	size_t need = 0;
	for (size_t i = 0; i < e->n_layers; i++) {
		const spz_eie_layer *l = &e->layers[i];
		size_t p = ((size_t)l->cols + 1) * 4;
		need = p > need ? p : need;
		for (uint32_t k = 0; k < e->pes; k++) {
			/* Huffman codes are at most 24 bits. */
			size_t b = (size_t)entry_bytes(l->pe[k].n_entries,
			                               huffman ? SPZ_HUFF_MAX_LEN : 16);
			need = b > need ? b : need;
		}
	}
	uint8_t *buf = malloc(need + 4), *buf2 = malloc(need + 4);
	if (!buf || !buf2) {
		free(buf);
		free(buf2);
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	}
	img_writer w = {f, 0};
	img_w_prefix(&w, huffman ? SPZ_IMAGE_EIE_HUFF : SPZ_IMAGE_EIE);
	img_w_u32(&w, e->pes);
	img_w_u8(&w, (uint8_t)e->index_bits);
	img_w_u8(&w, 0);
	img_w_u16(&w, 0);
	img_w_u32(&w, (uint32_t)e->n_layers);
	img_w_string(&w, e->name);
	img_w_crc(&w);
	for (size_t i = 0; !rc && i < e->n_layers; i++) {
		const spz_eie_layer *l = &e->layers[i];
		spz_huff_layer hl;
		if (huffman)
			rc = spz_huff_layer_sizes(&hl, e, l, err);
		if (!rc)
			rc = write_layer(&w, e, l, huffman ? &hl : NULL, buf, buf2,
			                 err);
	}
	free(buf);
	free(buf2);
	return rc;
}

int spz_eie_write(FILE *f, const spz_eie *e, spz_error *err)
{
	return write_image(f, e, 0, err);
}

int spz_eie_write_huffman(FILE *f, const spz_eie *e, spz_error *err)
{
	return write_image(f, e, 1, err);
}

static int save_image(const spz_eie *e, const char *path, int huffman,
                      spz_error *err)
{
	spz_output o;
	int rc = spz_output_open(&o, path, err);
	if (rc)
		return rc;
	rc = write_image(o.f, e, huffman, err);
	if (rc) {
		spz_output_abort(&o);
		return rc;
	}
	return spz_output_commit(&o, err);
}

int spz_eie_save(const spz_eie *e, const char *path, spz_error *err)
{
	return save_image(e, path, 0, err);
}

int spz_eie_save_huffman(const spz_eie *e, const char *path,
                         spz_error *err)
{
	return save_image(e, path, 1, err);
}

/* ------------------------------------------------------------------ */
/* Reading                                                             */

static int read_header(img_reader *r, spz_eie *e, uint32_t *n_layers)
{
	int rc = img_need(r, 12, "header");
	if (rc)
		return rc;
	e->pes = img_u32(r);
	e->index_bits = img_u8(r);
	int reserved = img_u8(r) | img_u16(r);
	*n_layers = img_u32(r);
	if ((rc = img_string(r, &e->name, 0, "header")) ||
	    (rc = img_crc(r, "header")))
		return rc;
	if (reserved)
		return spz_fail(r->err, SPZ_EFORMAT, "'%s': corrupt header "
		                "(reserved bytes are not 0)", r->label);
	if (e->pes < SPZ_EIE_PES_MIN || e->pes > SPZ_EIE_PES_MAX)
		return spz_fail(r->err, SPZ_ERANGE, "'%s': PE count %u is "
		                "outside %d..%d", r->label, e->pes,
		                SPZ_EIE_PES_MIN, SPZ_EIE_PES_MAX);
	if (e->index_bits < SPZ_EIE_INDEX_BITS_MIN ||
	    e->index_bits > SPZ_EIE_INDEX_BITS_MAX)
		return spz_fail(r->err, SPZ_ERANGE, "'%s': index bits %d are "
		                "outside %d..%d", r->label, e->index_bits,
		                SPZ_EIE_INDEX_BITS_MIN, SPZ_EIE_INDEX_BITS_MAX);
	/* Each layer takes at least LAYER_MIN bytes per PE: refuse a count
	 * the file cannot hold before allocating for it. */
	if (*n_layers < 1)
		return spz_fail(r->err, SPZ_EFORMAT, "'%s': the image has no "
		                "layer", r->label);
	uint64_t least = (uint64_t)*n_layers * LAYER_MIN;
	if ((rc = img_fill(r, least)))
		return rc;
	if (least > img_left(r))
		return spz_fail(r->err, SPZ_EFORMAT, "'%s': truncated in layers "
		                "(%llu bytes left, %u layer%s at least %llu)",
		                r->label, (unsigned long long)img_left(r),
		                *n_layers,
		                *n_layers == 1 ? " needs" : "s need",
		                (unsigned long long)least);
	return 0;
}

/* The descriptor of layer i: fixed fields, names, codebook, bias. */
static int read_descriptor(img_reader *r, spz_eie_layer *l, size_t i,
                           int *pb, char *what, size_t what_n)
{
	snprintf(what, what_n, "layer %zu descriptor", i);
	int rc = img_need(r, LAYER_FIXED, what);
	if (rc)
		return rc;
	uint64_t rows = img_u64(r), cols = img_u64(r);
	unsigned op = img_u8(r), flags = img_u8(r);
	l->act = img_u8(r);
	l->code_bits = img_u8(r);
	*pb = img_u8(r);
	l->codebook_frac = (int8_t)img_u8(r);
	l->bias_frac = (int8_t)img_u8(r);
	unsigned ext = img_u8(r);
	l->codebook_size = img_u32(r);
	l->nonzeros = img_u64(r);
	l->padding = img_u64(r);
	char **names[7] = {&l->node, &l->weight, &l->bias_name, &l->input,
	                   &l->linear_out, &l->act_node, &l->output};
	for (int k = 0; k < 7; k++)
		if ((rc = img_string(r, names[k], k == 2 || k == 5, what)))
			return rc;
	if (ext & ~EXT_ALL)
		return spz_fail(r->err, SPZ_EFORMAT, "'%s': %s: unknown flags "
		                "0x%02x", r->label, what, ext);
	if ((ext & EXT_ADD) &&
	    ((rc = img_string(r, &l->add_node, 0, what)) ||
	     (rc = img_string(r, &l->add_out, 0, what))))
		return rc;
	l->add_bias_first = (ext & EXT_ADD_FIRST) != 0;
	l->anon = (ext >> EXT_ANON_SHIFT) & 15;
	if (ext & EXT_PRE) {
		if ((rc = img_string(r, &l->pre_op, 0, what)) ||
		    (rc = img_string(r, &l->pre_node, 0, what)) ||
		    (rc = img_string(r, &l->pre_input, 0, what)) ||
		    (rc = img_string(r, &l->pre_shape, 1, what)) ||
		    (rc = img_need(r, 1, what)))
			return rc;
		l->n_pre_values = img_u8(r);
		if (l->n_pre_values < 1 || l->n_pre_values > 2)
			return spz_fail(r->err, SPZ_EFORMAT, "'%s': %s: %d "
			                "Flatten/Reshape values (1 or 2)",
			                r->label, what, l->n_pre_values);
		if ((rc = img_need(r, 8 * (uint64_t)l->n_pre_values, what)))
			return rc;
		for (int v = 0; v < l->n_pre_values; v++)
			l->pre_values[v] = (int64_t)img_u64(r);
	}
	snprintf(what, what_n, "layer %zu '%s' descriptor", i, l->node);
	const char *label = r->label;
	if (rows < 1 || cols < 1 || rows > INT32_MAX || cols > INT32_MAX)
		return spz_fail(r->err, SPZ_ERANGE, "'%s': %s: dims %llux%llu "
		                "are out of range (each 1..2147483647)", label,
		                what, (unsigned long long)rows,
		                (unsigned long long)cols);
	l->rows = (int64_t)rows;
	l->cols = (int64_t)cols;
	if ((op != OP_GEMM && op != OP_MATMUL) || flags > 3 ||
	    (*pb != 2 && *pb != 4))
		return spz_fail(r->err, SPZ_EFORMAT, "'%s': %s: bad operator, "
		                "flags or pointer width", label, what);
	l->transposed = (flags & FLAG_TRANSPOSED) != 0;
	if (!(l->op = malloc(8)))
		return spz_fail(r->err, SPZ_ENOMEM, "out of memory");
	strcpy(l->op, op == OP_GEMM ? "Gemm" : "MatMul");
	if (l->code_bits < 1 || l->code_bits > 8 || l->codebook_size < 1 ||
	    l->codebook_size > (1u << l->code_bits))
		return spz_fail(r->err, SPZ_ERANGE, "'%s': %s: a codebook of %u "
		                "entries does not fit %d-bit codes", label, what,
		                l->codebook_size, l->code_bits);
	if ((rc = img_need(r, 2 * (uint64_t)l->codebook_size, what)))
		return rc;
	for (uint32_t c = 0; c < l->codebook_size; c++)
		l->codebook[c] = (int16_t)img_u16(r);
	if (flags & FLAG_BIAS) {
		if ((rc = img_need(r, 2 * rows, what)))
			return rc;
		if (!(l->bias = malloc(rows * sizeof *l->bias)))
			return spz_fail(r->err, SPZ_ENOMEM, "out of memory");
		for (uint64_t b = 0; b < rows; b++)
			l->bias[b] = (int16_t)img_u16(r);
	}
	return img_crc(r, what);
}

/* Pointers and entries of PE k. */
/* The Huffman code-length tables of a layer (after its descriptor):
 * each a complete prefix code (or no symbol, or one 1-bit symbol), no
 * code for a codebook entry the layer does not have. */
static int read_tables(img_reader *r, const spz_eie *e, spz_eie_layer *l,
                       size_t i, spz_huff_decoder dec[2], char *what,
                       size_t what_n)
{
	snprintf(what, what_n, "layer %zu '%s' Huffman tables", i, l->node);
	spz_huff h[2];
	memset(h, 0, sizeof h);
	h[0].n = 1 << l->code_bits;
	h[1].n = 1 << e->index_bits;
	int rc = img_need(r, (uint64_t)h[0].n + (uint64_t)h[1].n, what);
	if (rc)
		return rc;
	for (int t = 0; t < 2; t++)
		for (int s = 0; s < h[t].n; s++)
			h[t].len[s] = img_u8(r);
	if ((rc = img_crc(r, what)))
		return rc;
	for (int s = (int)l->codebook_size; s < h[0].n; s++)
		if (h[0].len[s])
			return spz_fail(r->err, SPZ_EFORMAT, "'%s': %s: code %d "
			                "has a Huffman code but the codebook has "
			                "%u entries", r->label, what, s,
			                l->codebook_size);
	for (int t = 0; t < 2; t++) {
		spz_error sub = {0};
		if ((rc = spz_huff_check_complete(&h[t], &sub)) ||
		    (rc = spz_huff_canonical(&h[t], &sub)) ||
		    (rc = spz_huff_decoder_init(&dec[t], &h[t], &sub)))
			return spz_fail(r->err, rc, "'%s': %s: the %s table: %s",
			                r->label, what, t ? "index" : "code",
			                sub.text);
	}
	return 0;
}

/* Bytes of a stream of bits bits, without overflow. */
static uint64_t stream_bytes(uint64_t bits)
{
	return bits / 8 + (bits % 8 != 0);
}

/* One Huffman stream of n symbols, bits long, at the cursor. */
static int read_stream(img_reader *r, uint8_t *sym, uint64_t n,
                       uint64_t bits, const spz_huff_decoder *d,
                       const char *which, const char *what)
{
	const uint8_t *p = r->p + r->at;
	uint64_t nb = stream_bytes(bits), used;
	spz_error sub = {0};
	int rc = spz_huff_decoder_run(sym, n, &used, p, bits, d, &sub);
	if (rc)
		return spz_fail(r->err, rc, "'%s': %s: the %s stream: %s",
		                r->label, what, which, sub.text);
	if (used != bits)
		return spz_fail(r->err, SPZ_EFORMAT, "'%s': %s: the %s stream "
		                "holds %llu bits, its %llu symbols take %llu",
		                r->label, what, which, (unsigned long long)bits,
		                (unsigned long long)n, (unsigned long long)used);
	if (bits % 8 && p[nb - 1] >> (bits % 8))
		return spz_fail(r->err, SPZ_EFORMAT, "'%s': %s: the bits after "
		                "the %s stream are not 0", r->label, what, which);
	r->at += nb;
	return 0;
}

/* The Huffman entry section of a PE: two stream lengths, two streams. */
static int read_huff_entries(img_reader *r, spz_eie_pe *pe,
                             const spz_huff_decoder dec[2],
                             const char *what)
{
	int rc = img_need(r, 16, what);
	if (rc)
		return rc;
	uint64_t bits[2];
	bits[0] = img_u64(r);
	bits[1] = img_u64(r);
	uint64_t e = pe->n_entries;
	for (int t = 0; t < 2; t++) {
		/* Every code is at least one bit and at most MAX_LEN: this
		 * bounds E by the file before anything is allocated. */
		if (bits[t] < e || bits[t] / SPZ_HUFF_MAX_LEN > e)
			return spz_fail(r->err, SPZ_EFORMAT, "'%s': %s: a %s "
			                "stream of %llu bits cannot hold %llu "
			                "entries", r->label, what,
			                t ? "index" : "code",
			                (unsigned long long)bits[t],
			                (unsigned long long)e);
	}
	uint64_t b0 = stream_bytes(bits[0]), b1 = stream_bytes(bits[1]);
	if (b0 > r->n - r->at || b1 > r->n - r->at - b0)
		return spz_fail(r->err, SPZ_EFORMAT, "'%s': truncated in %s "
		                "(%zu bytes left, the streams take %llu + %llu)",
		                r->label, what, r->n - r->at,
		                (unsigned long long)b0, (unsigned long long)b1);
	pe->code = malloc(e + 1);
	pe->index = malloc(e + 1);
	if (!pe->code || !pe->index)
		return spz_fail(r->err, SPZ_ENOMEM, "out of memory");
	if ((rc = read_stream(r, pe->code, e, bits[0], &dec[0], "code",
	                      what)) ||
	    (rc = read_stream(r, pe->index, e, bits[1], &dec[1], "index",
	                      what)))
		return rc;
	return img_crc(r, what);
}

/* Pointers and entries of PE k; dec: the layer's Huffman decoders in a
 * Huffman image, else NULL. */
static int read_pe(img_reader *r, const spz_eie *e, spz_eie_layer *l,
                   size_t i, uint32_t k, int pb,
                   const spz_huff_decoder *dec, char *what, size_t what_n)
{
	spz_eie_pe *pe = &l->pe[k];
	snprintf(what, what_n, "layer %zu '%s' PE %u pointers", i, l->node, k);
	uint64_t np = (uint64_t)l->cols + 1;
	int rc = img_need(r, 4 + np * (uint64_t)pb, what);
	if (rc)
		return rc;
	pe->n_entries = img_u32(r);
	if (!(pe->ptr = malloc(np * sizeof *pe->ptr)))
		return spz_fail(r->err, SPZ_ENOMEM, "out of memory");
	for (uint64_t j = 0; j < np; j++)
		pe->ptr[j] = pb == 2 ? img_u16(r) : img_u32(r);
	if ((rc = img_crc(r, what)))
		return rc;
	snprintf(what, what_n, "layer %zu '%s' PE %u entries", i, l->node, k);
	if (dec)
		return read_huff_entries(r, pe, dec, what);
	int bits = entry_bits(e, l);
	uint64_t nb = entry_bytes(pe->n_entries, bits);
	if ((rc = img_need(r, nb, what)))
		return rc;
	pe->code = malloc(pe->n_entries + 1);
	pe->index = malloc(pe->n_entries + 1);
	if (!pe->code || !pe->index)
		return spz_fail(r->err, SPZ_ENOMEM, "out of memory");
	const uint8_t *p = r->p + r->at;
	unsigned cmask = (1u << l->code_bits) - 1;
	for (uint64_t a = 0, at = 0; a < pe->n_entries;
	     a++, at += (uint64_t)bits) {
		uint32_t v = p[at >> 3];
		if ((at >> 3) + 1 < nb)
			v |= (uint32_t)p[(at >> 3) + 1] << 8;
		if ((at >> 3) + 2 < nb)
			v |= (uint32_t)p[(at >> 3) + 2] << 16;
		v >>= at & 7;
		pe->code[a] = (uint8_t)(v & cmask);
		pe->index[a] = (uint8_t)((v >> l->code_bits) &
		                         ((1u << e->index_bits) - 1));
	}
	uint64_t used = pe->n_entries * (uint64_t)bits;
	if (used % 8 && p[nb - 1] >> (used % 8))
		return spz_fail(r->err, SPZ_EFORMAT, "'%s': %s: the bits after "
		                "the last entry are not 0", r->label, what);
	r->at += nb;
	return img_crc(r, what);
}

static int read_eie(spz_eie *e, img_reader *r)
{
	unsigned kind;
	int rc = img_prefix(r, &kind);
	if (rc)
		return rc;
	if (kind != SPZ_IMAGE_EIE && kind != SPZ_IMAGE_EIE_HUFF)
		return spz_fail(r->err, SPZ_EUNSUPPORTED, "'%s' is a %s image, "
		                "not an EIE image", r->label,
		                img_kind_name(kind));
	int huffman = kind == SPZ_IMAGE_EIE_HUFF;
	uint32_t n_layers;
	if ((rc = read_header(r, e, &n_layers)))
		return rc;
	if (!(e->layers = calloc(n_layers, sizeof *e->layers)))
		return spz_fail(r->err, SPZ_ENOMEM, "out of memory");
	char what[256];
	spz_huff_decoder *dec = NULL;
	if (huffman && !(dec = malloc(2 * sizeof *dec)))
		return spz_fail(r->err, SPZ_ENOMEM, "out of memory");
	for (size_t i = 0; !rc && i < n_layers; i++) {
		spz_eie_layer *l = &e->layers[e->n_layers++];
		int pb;
		rc = read_descriptor(r, l, i, &pb, what, sizeof what);
		if (!rc && huffman)
			rc = read_tables(r, e, l, i, dec, what, sizeof what);
		if (!rc && !(l->pe = calloc(e->pes, sizeof *l->pe)))
			rc = spz_fail(r->err, SPZ_ENOMEM, "out of memory");
		for (uint32_t k = 0; !rc && k < e->pes; k++)
			rc = read_pe(r, e, l, i, k, pb, dec, what, sizeof what);
	}
	free(dec);
	if (!rc)
		rc = img_end(r);
	if (!rc) {
		spz_error sub = {0};
		if ((rc = spz_eie_validate(e, &sub)))
			spz_fail(r->err, rc, "'%s': %s", r->label, sub.text);
	}
	return rc;
}

int spz_eie_read(spz_eie **out, spz_input *in, spz_error *err)
{
	img_reader r;
	int rc = img_slurp(&r, in, err);
	if (rc)
		return rc;
	spz_eie *e = calloc(1, sizeof *e);
	if (!e)
		rc = spz_fail(err, SPZ_ENOMEM, "out of memory");
	else
		rc = read_eie(e, &r);
	free((void *)r.p);
	if (rc) {
		spz_eie_free(e);
		return rc;
	}
	*out = e;
	return 0;
}

int spz_eie_load(spz_eie **out, const char *path, spz_error *err)
{
	spz_input in;
	int rc = spz_input_open(&in, path, err);
	if (rc)
		return rc;
	if (spz_input_kind(&in) != SPZ_FILE_IMAGE)
		rc = spz_fail(err, SPZ_EFORMAT, "'%s' is not an spz image "
		              "(make one with spz pack)", in.label);
	else
		rc = spz_eie_read(out, &in, err);
	spz_input_close(&in);
	return rc;
}
