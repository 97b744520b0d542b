/*
 * report_other.h - the part of `spz report` that lists what EIE does not
 * run: every node of a model outside the packed fully connected layers
 * (Conv above all), with the storage of its weights and its MACs, and the
 * conv layers' shapes that the --arch comparison (Cnvlutin) runs on.
 */
#ifndef SPZ_REPORT_OTHER_H
#define SPZ_REPORT_OTHER_H

#include <cJSON.h>
#include <stdio.h>

#include "cli.h"

struct other_node {
	char *name;              /* node name, or "Op -> output" */
	const char *op;
	uint64_t weights;        /* weight elements (float initializers) */
	uint64_t nonzeros;
	uint64_t w_nonzeros;     /* of the weight (input 1) alone */
	uint64_t storage_bits;   /* codes + float32 codebook, or float32 */
	int macs_known;          /* 0: shapes unknown (Conv) */
	uint64_t macs_dense, macs_sparse; /* Conv: every weight / every
	                            non-zero weight x output positions
	                            (positions in the zero padding too) */
	int conv;                /* a Conv whose shape is known */
	int cnv_ok;              /* ... that spz_conv_shape describes */
	spz_conv_shape shape;
	int is_24;               /* 2:4 along input channels */
};

struct other_ctx {
	struct other_node *v;
	size_t n;
	const char *shape_from;  /* "graph input", "--input-shape" or NULL */
	int64_t sample[SPZ_MAX_DIMS]; /* sample dims used (batch apart) */
	int n_sample;
};

/* Lists the nodes of m that the image e does not hold. in_shape: the
 * --input-shape dims (n_in 0 when not given). Returns 0 or the exit
 * code. */
int other_collect(struct other_ctx *o, const spz_model *m,
                  const spz_eie *e, const int64_t *in_shape, int n_in);
void other_free(struct other_ctx *o);
void other_text(FILE *f, const struct other_ctx *o, int markdown);
void other_json(cJSON *j, const struct other_ctx *o);
/* --csv: the trailing columns' header (eie, op, weights, ...), then the
 * fields after eie and op on an EIE layer's row, on the total's and on a
 * node's (report.c writes eie and op, quoted as CSV needs). */
void other_csv_head(FILE *f);
void other_csv_layer(FILE *f, uint64_t weights);
void other_csv_total(FILE *f);
void other_csv_node(FILE *f, const struct other_node *v);

#endif
