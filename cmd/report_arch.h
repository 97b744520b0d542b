/*
 * report_arch.h - the part of `spz report` that compares designs
 * (--arch: EIE, Cnvlutin, A100 2:4, dense) and adds Deep Compression's
 * Huffman stage to the formats table. Kept apart from report.c so the
 * EIE tables and the comparison evolve separately.
 */
#ifndef SPZ_REPORT_ARCH_H
#define SPZ_REPORT_ARCH_H

#include <cJSON.h>
#include <stdio.h>

#include "cli.h"
#include "report_other.h"

struct arch_cli {
	const char *list;       /* --arch, NULL: all that apply */
	uint64_t batch;         /* --batch */
	const char *table;      /* --arch-table FILE */
	uint64_t seed;          /* --seed */
	double act_density;     /* --act-density (1 when not given) */
	const char *activity;   /* --activity FILE (densities or masks) */
};

struct arch_ctx {
	spz_arch_report *ar;
	spz_arch_options opts;
	spz_activity *masks;    /* --activity mask file, else NULL */
	spz_huff_layer *huff;   /* per layer */
	uint64_t *dch_bits;     /* dc+huffman per layer, then the total */
	double *dch_rate;
	size_t n;
};

/* Parses --arch, --batch and reads --arch-table (usage errors exit 2,
 * unreadable files 1); returns 0 or the exit code. */
int arch_options(struct arch_ctx *a, const struct arch_cli *c);
/* With --activity naming a mask file: reads it and fills dens[] (one per
 * image layer) with each layer's measured density, checking that its
 * layers and shapes match the image. Returns 0, or the exit code; *is_mask
 * tells the caller not to read the file as JSON. */
int arch_read_masks(struct arch_ctx *a, int *is_mask, double *dens,
                    const char *path, const spz_eie *e,
                    const struct other_ctx *other);
/* The comparison and the Huffman sizes; dens: per-layer densities (or
 * NULL: act_density). The conv layers of other whose shape is known
 * follow the image's layers (EIE skipped: it runs fully connected layers
 * only), each with its activity mask when the mask file has one of its
 * size, else --act-density. */
int arch_compute(struct arch_ctx *a, const struct arch_cli *c,
                 const spz_eie *e, const spz_report *rep,
                 const double *dens, const struct other_ctx *other);
void arch_free(struct arch_ctx *a);

void arch_text(FILE *f, const struct arch_ctx *a, int markdown);
void arch_csv_head(FILE *f, const struct arch_ctx *a);
void arch_csv_row(FILE *f, const struct arch_ctx *a, size_t i);
/* The same columns for a node EIE does not run: the designs of the conv
 * layer of that name when it was compared, else empty. */
void arch_csv_conv_row(FILE *f, const struct arch_ctx *a, const char *name);
/* Per layer (i < n) or total (i == n): "designs" and the Huffman format. */
void arch_layer_json(cJSON *o, cJSON *formats, const struct arch_ctx *a,
                     size_t i);
void arch_json(cJSON *j, const struct arch_ctx *a);
/* "conv_layers": the designs on the conv layers (not in the image). */
void arch_conv_json(cJSON *j, const struct arch_ctx *a);
/* The speedup chart of the model as PNG bytes (malloc'd). */
int arch_png(unsigned char **png, size_t *len, const struct arch_ctx *a,
             const char *model, spz_error *err);

#endif
