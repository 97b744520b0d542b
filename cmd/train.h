/*
 * train.h - what spz train and spz finetune share: options, data loading
 * (the train split to learn from, t10k to test on), progress on a
 * terminal, the per-epoch --json log, and saving with the history step.
 */
#ifndef SPZ_CLI_TRAIN_H
#define SPZ_CLI_TRAIN_H

#include "data.h"

struct train_req {
	const char *cmd;          /* "train" or "finetune" */
	const char *in;           /* finetune: the model */
	const char *out, *to, *json;
	const char *dims_s;       /* train: --dims */
	spz_data_options data;
	spz_train_options opts;
	int quiet;
	int lr_given;
};

/* Parses the options of both commands; 0 or an exit code. */
int train_parse(struct train_req *r, int argc, char **argv);
/* Trains m (made or loaded by the caller, freed by it) and saves it. */
int train_run(struct train_req *r, spz_model *m);

#endif
