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
	if (cli_no_input("finetune", r.in, "a model"))
		return EXIT_USAGE;
	spz_model *m = NULL;
	rc = cli_load_model_flags(&m, r.in, CLI_LOAD_COPIED);
	if (!rc)
		rc = train_run(&r, m);
	spz_model_free(m);
	return rc;
}
