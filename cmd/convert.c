/* convert.c - spz convert: a model from one format to another (JSON,
 * .spzm, ONNX), ONNX optionally with its tensors in an external file. */
#include <cJSON.h>
#include <getopt.h>
#include <string.h>

#include "cli.h"

int cmd_convert(int argc, char **argv)
{
	static const struct option opts[] = {
		{"output", required_argument, 0, 'o'},
		{"to", required_argument, 0, 't'},
		{"external-data", required_argument, 0, 'x'},
		CLI_COMMON_OPTIONS,
		{0, 0, 0, 0}};
	const char *out = NULL, *to = NULL, *ext = NULL;
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:" CLI_SHORT_COMMON, opts,
	                        NULL)) != -1) {
		if (cli_common_opt(c, optarg))
			continue;
		if (c == 'o')
			out = optarg;
		else if (c == 't')
			to = optarg;
		else if (c == 'x')
			ext = optarg;
		else
			return cli_opt_error("convert", c, argv, opts);
	}
	if (optind != argc - 1)
		return cli_usage("convert", "expected one input file");
	if (!out)
		return cli_usage("convert", "no output given (-o OUT)");
	/* Standard output defaults to binary, as for every command that
	 * writes a model (and a terminal is refused there). */
	spz_file_kind kind;
	int rc = cli_model_kind(&kind, "convert", to, out);
	if (!rc && ext && kind != SPZ_FILE_ONNX)
		return cli_usage("convert", "--external-data goes with an ONNX "
		                 "output");
	if (!rc && ext && !strcmp(out, "-"))
		return cli_usage("convert", "--external-data needs the model "
		                 "in a file (-o OUT)");
	if (!rc)
		rc = cli_no_input("convert", argv[optind], "a model");
	spz_model *m = NULL;
	if (!rc)
		rc = cli_load_model(&m, argv[optind]);
	if (!rc && ext) {
		spz_error err = {0};
		if (spz_onnx_save(m, out, ext, &err))
			rc = cli_fail(&err);
		if (!rc && cli_opts.json) {
			cJSON *j = cli_model_summary("convert", m, out, kind);
			rc = j ? cli_print_json_to(j, cli_opts.json)
			       : cli_error("out of memory");
		}
	} else if (!rc) {
		rc = cli_save_model_summary("convert", m, out, kind);
	}
	spz_model_free(m);
	return rc;
}
