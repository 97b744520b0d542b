/*
 * bench_arch.c - the design comparison of `spz report --arch` and the
 * Huffman stage on AlexNet fc6's size (4096x9216 at 9%, 4-bit codes, 64
 * PEs), against a memcpy of the dense float32 tensor; Huffman encode and
 * decode of the layer's codes against a memcpy of the same symbols.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "spz.h"

static void die(const spz_error *err)
{
	fprintf(stderr, "bench: %s\n", err->text);
	exit(1);
}

/* Huffman encode and decode of one stream of layer l: its codes
 * (which 0), its relative indices (1), or (2) 4-bit codes as k-means of
 * normally spread weights gives them (a bell over codes 1..13, drawn
 * with spz_rng), every PE's back to back. */
static void huff_stream(const spz_eie *e, const spz_eie_layer *l, int which)
{
	spz_error err = {0};
	uint64_t n = 0, count[256] = {0};
	for (uint32_t k = 0; k < e->pes; k++)
		n += l->pe[k].n_entries;
	uint8_t *sym = malloc(n), *back = malloc(n);
	if (!sym || !back) {
		fprintf(stderr, "bench: out of memory\n");
		exit(1);
	}
	for (uint32_t k = 0, at = 0; k < e->pes; k++) {
		memcpy(sym + at, which == 1 ? l->pe[k].index : l->pe[k].code,
		       l->pe[k].n_entries);
		at += (uint32_t)l->pe[k].n_entries;
	}
	if (which == 2) {
		spz_rng rng;
		spz_rng_seed(&rng, 1);
		for (uint64_t i = 0; i < n; i++)
			sym[i] = (uint8_t)(1 + spz_rng_below(&rng, 4) +
			                   spz_rng_below(&rng, 4) +
			                   spz_rng_below(&rng, 4) +
			                   spz_rng_below(&rng, 4));
	}
	for (uint64_t i = 0; i < n; i++)
		count[sym[i]]++;
	spz_huff h;
	int alphabet = which == 1 ? 1 << e->index_bits : 1 << l->code_bits;
	if (spz_huff_build(&h, count, alphabet, &err))
		die(&err);
	uint8_t *out = calloc((size_t)(h.bits + 7) / 8 + 1, 1);
	double sbase = bench_memcpy_seconds((size_t)n);
	const char *what = which == 1 ? "indices" : which ? "bell codes"
	                                                  : "codes";
	char line[80];
	snprintf(line, sizeof line, "memcpy of the %s bytes (baseline)", what);
	bench_report(line, sbase, (double)n, 0);
	double enc = 1e9, dec = 1e9;
	for (int r = 0; r < 3; r++) {
		uint64_t bits, used;
		memset(out, 0, (size_t)(h.bits + 7) / 8 + 1);
		double t = bench_now();
		if (spz_huff_encode(&bits, out, &h, sym, n, &err))
			die(&err);
		t = bench_now() - t;
		enc = t < enc ? t : enc;
		t = bench_now();
		if (spz_huff_decode(back, n, &used, out, bits, &h, &err))
			die(&err);
		t = bench_now() - t;
		dec = t < dec ? t : dec;
		if (memcmp(back, sym, (size_t)n) || used != bits) {
			fprintf(stderr, "bench: huffman round trip differs\n");
			exit(1);
		}
	}
	printf("   %llu %s, %.3f bits each after Huffman (%d fixed)\n",
	       (unsigned long long)n, what, (double)h.bits / (double)n,
	       which == 1 ? e->index_bits : l->code_bits);
	snprintf(line, sizeof line, "huffman encode of the %s (best of 3)",
	         what);
	bench_report(line, enc, (double)n, sbase);
	snprintf(line, sizeof line, "huffman decode of the %s (best of 3)",
	         what);
	bench_report(line, dec, (double)n, sbase);
	free(sym);
	free(back);
	free(out);
}

void bench_arch_report(void)
{
	const int64_t rows = 4096, cols = 9216;
	spz_model *m;
	spz_eie *e = NULL;
	spz_error err = {0};
	spz_eie_options eo = SPZ_EIE_OPTIONS_INIT;
	if (spz_gen_layer(&m, rows, cols, 0.09, 1, &err) ||
	    spz_report_pack(&e, m, &eo, 4, &err))
		die(&err);
	spz_model_free(m);
	const spz_eie_layer *l = &e->layers[0];
	size_t bytes = (size_t)(rows * cols) * sizeof(float);
	double base = bench_memcpy_seconds(bytes);
	printf("\n== spz report --arch all + huffman, %lldx%lld at 9%% ==\n",
	       (long long)rows, (long long)cols);
	bench_report("memcpy of the dense float32 tensor (baseline)", base,
	             (double)bytes, 0);
	double best = 1e9;
	for (int r = 0; r < 3; r++) {
		double t = bench_now();
		spz_arch_input in = {l->node, {cols, 1, 1, rows, 1, 1, 1, 0}, 0,
		                     0, 1000.0, NULL, 0, 1.0};
		int is24 = spz_eie_layer_is_24(e, l);
		in.is_24 = is24 > 0;
		spz_arch_options o = SPZ_ARCH_OPTIONS_INIT;
		spz_arch_report *ar;
		spz_huff_layer hl;
		if (spz_arch_compare(&ar, &in, 1, &o, &err) ||
		    spz_huff_layer_sizes(&hl, e, l, &err))
			die(&err);
		t = bench_now() - t;
		best = t < best ? t : best;
		spz_arch_report_free(ar);
	}
	bench_report("2:4 check + designs + huffman sizes (best of 3)", best,
	             (double)bytes, base);

	/* Encode / decode every PE's codes back to back, then the relative
	 * indices, then bell-shaped 4-bit codes: the what-if codes of an
	 * unquantized layer are two symbols (the code of every real entry
	 * and padding's 0: 1 bit each, the most symbols per table lookup),
	 * the indices a realistic spread (geometric gaps at 9%: many
	 * lengths), the bell codes what a quantized layer holds. */
	for (int which = 0; which < 3; which++)
		huff_stream(e, l, which);
	spz_eie_free(e);
}
