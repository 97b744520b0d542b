/* convert.c - spz convert: a model from one format to another (JSON,
 * .spzm, ONNX), ONNX optionally with its tensors in an external file
 * (--external-data, as every command that writes a model takes). */
#include <getopt.h>

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
	if (!rc)
		rc = cli_no_input("convert", argv[optind], "a model");
	spz_model *m = NULL;
	if (!rc)
		rc = cli_load_model(&m, argv[optind]);
	if (!rc)
		rc = cli_save_model_summary("convert", m, out, kind);
	spz_model_free(m);
	return rc;
}
