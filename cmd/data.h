/*
 * data.h - what the commands that read a data set share (eval,
 * sensitivity, run): the --data/--x/--y/--limit/--split options, loading
 * with one-line messages, and the evaluation of a model or an EIE image on
 * the samples.
 */
#ifndef SPZ_CLI_DATA_H
#define SPZ_CLI_DATA_H

#include <getopt.h>

#include "cli.h"

/* getopt_long values of the data options: add CLI_DATA_LONGOPTS to a
 * command's table and pass unknown values to cli_data_option. */
enum { OPT_DATA = 0x1000, OPT_X, OPT_Y, OPT_LIMIT, OPT_SPLIT };
#define CLI_DATA_LONGOPTS                                              \
	{"data", required_argument, 0, OPT_DATA},                     \
	{"x", required_argument, 0, OPT_X},                           \
	{"y", required_argument, 0, OPT_Y},                           \
	{"limit", required_argument, 0, OPT_LIMIT},                   \
	{"split", required_argument, 0, OPT_SPLIT}

/* Takes option c if it is a data option: 1 taken, 0 not one, or -1 after
 * printing a usage error. */
int cli_data_option(spz_data_options *o, const char *cmd, int c,
                    const char *arg);
/* After parsing: the usage error of a missing or contradictory source
 * (EXIT_USAGE), else 0. */
int cli_data_check(const spz_data_options *o, const char *cmd);
/* Loads the data set, printing a failure; 0 or an exit code. */
int cli_data_load(spz_dataset **out, const spz_data_options *o);

/* Q formats of an image's layer inputs and output from "F" (all) or
 * "F0,F1,...,Fn" (n = n_layers) into frac[0..n_layers]; -1 when s is not
 * that or a value is outside SPZ_FRAC_MIN..SPZ_FRAC_MAX. */
int cli_parse_fracs(int *frac, const char *s, size_t n_layers);

/* A model (float forward pass) or an EIE image (16-bit fixed point). */
struct subject {
	const char *path;
	spz_model *model;
	spz_forward *fwd;
	spz_eie *image;
	int *frac;           /* image: n_layers + 1 Q formats */
	spz_emu *emu;        /* image with --emulate */
	size_t outputs;
	/* image: input activity per layer, like spz_forward_layers */
	spz_forward_layer *layers;
	size_t n_layers;
	uint64_t saturations;
};

/* Loads path as a model or an image (by content); for an image, Q formats
 * from frac_s ("F" or "F0,...,Fn") or calibrated on d. emulate (images
 * only) runs the cycle-level emulator with eo. 0 or an exit code. */
int subject_open(struct subject *s, const char *cmd, const char *path,
                 const spz_dataset *d, const char *frac_s, int emulate,
                 const spz_emu_options *eo);
/* Outputs of every sample of d: d->n x s->outputs floats in *y. */
int subject_run(struct subject *s, float **y, const spz_dataset *d);
void subject_close(struct subject *s);

#endif
