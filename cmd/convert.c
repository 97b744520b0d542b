/* convert.c - spz convert: a model from one format to the other. */
#include <getopt.h>
#include <string.h>

#include "cli.h"

int cmd_convert(int argc, char **argv)
{
	const char *out = NULL, *to = NULL;
	if (cli_out_to_opts(&out, &to, "convert", argc, argv))
		return EXIT_USAGE;
	if (optind != argc - 1)
		return cli_usage("convert", "expected one input file");
	if (!out)
		return cli_usage("convert", "no output given (-o OUT)");
	/* Standard output defaults to binary, as for every command that
	 * writes a model (and a terminal is refused there). */
	spz_file_kind kind;
	int rc = cli_model_kind(&kind, "convert", to, out);
	spz_model *m = NULL;
	if (!rc)
		rc = cli_load_model(&m, argv[optind]);
	if (!rc)
		rc = cli_save_model(m, out, kind);
	spz_model_free(m);
	return rc;
}
