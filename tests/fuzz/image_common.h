/*
 * image_common.h - the EIE image harnesses (fuzz_image_eie.c and
 * fuzz_image_huffman.c) share one body: spz_eie_load reads both kinds,
 * so they differ in their corpus and in the Huffman checks that the
 * Huffman harness adds on an accepted image.
 */
#ifndef SPZ_FUZZ_IMAGE_COMMON_H
#define SPZ_FUZZ_IMAGE_COMMON_H

#include <stdlib.h>

#include "harness.h"

/* Runs the emulator once on an input of ones in Q8. */
static void fuzz_emulate(const spz_eie *e)
{
	spz_error err = {0};
	spz_emu *emu = NULL;
	spz_emu_options o = SPZ_EMU_OPTIONS_INIT;
	int rc = spz_emu_new(&emu, e, &o, &err);
	if (rc) {
		fuzz_check_failure(rc, &err);
		return;
	}
	int64_t cols = e->layers[0].cols, rows = e->layers[e->n_layers - 1].rows;
	int16_t *x = malloc((size_t)cols * sizeof *x + 1);
	int16_t *y = malloc((size_t)rows * sizeof *y + 1);
	int *frac = calloc(e->n_layers + 1, sizeof *frac);
	if (x && y && frac) {
		for (int64_t j = 0; j < cols; j++)
			x[j] = 1 << 8;
		for (size_t i = 0; i <= e->n_layers; i++)
			frac[i] = 8;
		rc = spz_emu_run(emu, y, x, frac, &err);
		if (rc)
			fuzz_check_failure(rc, &err);
	}
	free(x);
	free(y);
	free(frac);
	spz_emu_free(emu);
}

/*
 * Loads the bytes as an image; an accepted image with small layers is
 * unpacked, reported and run once. With huffman, also its Huffman sizes,
 * and it must write as a Huffman image and read back.
 */
static int fuzz_eie_image(const uint8_t *data, size_t size, int huffman)
{
	spz_eie *e = NULL;
	spz_error err = {0};
	int rc = spz_eie_load(&e, fuzz_file(0, data, size), &err);
	if (rc) {
		fuzz_check_failure(rc, &err);
		return 0;
	}
	int small = e->n_layers > 0;
	for (size_t i = 0; i < e->n_layers; i++) {
		const spz_eie_layer *l = &e->layers[i];
		small &= l->rows > 0 && l->cols > 0 &&
		         l->rows <= FUZZ_MAX_ELEMENTS / l->cols;
	}
	if (small) {
		spz_model *m = NULL;
		rc = spz_eie_unpack(&m, e, &err);
		if (rc)
			fuzz_check_failure(rc, &err);
		spz_model_free(m);
		spz_report *r = NULL;
		spz_report_options ro = SPZ_REPORT_OPTIONS_INIT;
		rc = spz_report_compute(&r, e, &ro, &err);
		if (rc)
			fuzz_check_failure(rc, &err);
		spz_report_free(r);
		for (size_t i = 0; huffman && i < e->n_layers; i++) {
			uint64_t a, b, c;
			rc = spz_eie_huff_layer_bits(&a, &b, &c, e, &e->layers[i],
			                             &err);
			if (rc)
				fuzz_check_failure(rc, &err);
		}
		fuzz_emulate(e);
		if (huffman) {
			/* What was accepted writes and reads back. */
			const char *again = fuzz_file(1, "", 0);
			spz_eie *back = NULL;
			if (spz_eie_save_huffman(e, again, &err))
				fuzz_die("an accepted image does not write", &err);
			if (spz_eie_load(&back, again, &err))
				fuzz_die("a written Huffman image does not read",
				         &err);
			spz_eie_free(back);
		}
	}
	spz_eie_free(e);
	return 0;
}

#endif
