/*
 * finetune.c - spz finetune: retrains a model on a data set keeping what
 * compression decided (pruned zeros, quantization codes); the work is
 * shared with spz train (train.c).
 */
#include <string.h>
#include <unistd.h>

#include "train.h"

int cmd_finetune(int argc, char **argv)
{
	struct train_req r = {.cmd = "finetune"};
	int rc = train_parse(&r, argc, argv);
	if (rc)
		return rc;
	if (!strcmp(r.in, "-") && isatty(0))
		return cli_usage("finetune", "no input: give a model file or "
		                 "pipe one into standard input");
	spz_model *m = NULL;
	rc = cli_load_model(&m, r.in);
	if (!rc)
		rc = train_run(&r, m);
	spz_model_free(m);
	return rc;
}
