/*
 * eie_size.c - how many bits of an EIE image file are not payload, so that
 * spz report's storage adds up to the file byte for byte: the header and,
 * per layer, the descriptor's fields and names, each PE's entry count,
 * every section's CRC32 and the byte padding after each PE's entries.
 * The layout is formats/README.md ("EIE image"); a unit test checks the
 * sum against spz_eie_write.
 */
#include "image_io.h"

#include <string.h>

/* Header section after the common prefix: PE count, index bits and 3
 * reserved bytes, layer count; then the model name; then a CRC. */
#define HEADER_FIXED (4 + 1 + 3 + 4)
/* Layer descriptor fields before its names. */
#define LAYER_FIXED 44
#define CRC 4

static uint64_t string_bytes(const char *s)
{
	return 2 + (s ? strlen(s) : 0);
}

uint64_t spz_eie_header_bits(const spz_eie *e)
{
	return 8 * (SPZ_IMAGE_PREFIX + HEADER_FIXED + string_bytes(e->name) +
	            CRC);
}

uint64_t spz_eie_layer_header_bits(const spz_eie *e, const spz_eie_layer *l)
{
	const char *names[7] = {l->node, l->weight, l->bias_name, l->input,
	                        l->linear_out, l->act_node, l->output};
	uint64_t bytes = LAYER_FIXED + CRC;
	for (int i = 0; i < 7; i++)
		bytes += string_bytes(names[i]);
	if (l->add_node)
		bytes += string_bytes(l->add_node) + string_bytes(l->add_out);
	if (l->pre_op)
		bytes += string_bytes(l->pre_op) + string_bytes(l->pre_node) +
		         string_bytes(l->pre_input) +
		         string_bytes(l->pre_shape) + 1 +
		         8 * (uint64_t)l->n_pre_values;
	uint64_t bits = (uint64_t)(l->code_bits + e->index_bits), pad = 0;
	for (uint32_t k = 0; k < e->pes; k++) {
		/* Entry count and CRC of the pointer section, CRC of the
		 * entry section, and the bits that fill its last byte. */
		uint64_t used = l->pe[k].n_entries * bits;
		bytes += 4 + CRC + CRC;
		pad += (8 - used % 8) % 8;
	}
	return 8 * bytes + pad;
}

int spz_eie_huff_layer_bits(uint64_t *entries, uint64_t *padding,
                            uint64_t *header, const spz_eie *e,
                            const spz_eie_layer *l, spz_error *err)
{
	spz_huff_layer hl;
	int rc = spz_huff_layer_sizes(&hl, e, l, err);
	if (rc)
		return rc;
	const char *names[7] = {l->node, l->weight, l->bias_name, l->input,
	                        l->linear_out, l->act_node, l->output};
	/* Descriptor, then the two code-length tables and their CRC. */
	uint64_t bytes = LAYER_FIXED + CRC + (uint64_t)hl.codes.n +
	                 (uint64_t)hl.index.n + CRC;
	for (int i = 0; i < 7; i++)
		bytes += string_bytes(names[i]);
	uint64_t real = 0, pad_entries = 0, fill = 0;
	for (uint32_t k = 0; k < e->pes; k++) {
		const spz_eie_pe *pe = &l->pe[k];
		uint64_t bv = 0, bz = 0;
		for (uint64_t a = 0; a < pe->n_entries; a++) {
			uint64_t b = (uint64_t)hl.codes.len[pe->code[a]] +
			             hl.index.len[pe->index[a]];
			/* Code 0 is only ever padding. */
			if (pe->code[a])
				real += b;
			else
				pad_entries += b;
			bv += hl.codes.len[pe->code[a]];
			bz += hl.index.len[pe->index[a]];
		}
		/* Entry count and CRC of the pointer section; the two
		 * stream lengths and the CRC of the entry section; the bits
		 * that fill each stream's last byte. */
		bytes += 4 + CRC + 16 + CRC;
		fill += (8 - bv % 8) % 8 + (8 - bz % 8) % 8;
	}
	*entries = real;
	*padding = pad_entries;
	*header = 8 * bytes + fill;
	return 0;
}
