/* convert.c - spz convert: a model from one format to another (JSON,
 * .spzm, ONNX), JSON and ONNX optionally with their big tensors in an
 * external raw file beside the model (--external-data, as every command
 * that writes a model takes; --external-data-threshold for JSON). */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* The external file of a JSON model when only the threshold is given:
 * OUT with ".json" replaced by ".data" ("m.json" -> "m.data"). */
static char *default_external(const char *out)
{
	size_t n = strlen(out);
	if (n > 5 && !strcmp(out + n - 5, ".json"))
		n -= 5;
	char *s = malloc(n + 6);
	if (s) {
		memcpy(s, out, n);
		strcpy(s + n, ".data");
	}
	return s;
}

int cmd_convert(int argc, char **argv)
{
	enum { OPT_THRESHOLD = 1000 };
	static const struct option opts[] = {
		{"output", required_argument, 0, 'o'},
		{"to", required_argument, 0, 't'},
		{"external-data-threshold", required_argument, 0, OPT_THRESHOLD},
		CLI_COMMON_OPTIONS,
		CLI_MODEL_OUTPUT_OPTIONS,
		{0, 0, 0, 0}};
	const char *out = NULL, *to = NULL, *thr_arg = NULL;
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
		else if (c == OPT_THRESHOLD)
			thr_arg = optarg;
		else
			return cli_opt_error("convert", c, argv, opts);
	}
	if (thr_arg && cli_parse_u64(thr_arg, &cli_opts.external_threshold))
		return cli_usage("convert", "--external-data-threshold takes a "
		                 "number of bytes, not '%s'", thr_arg);
	if (optind != argc - 1)
		return cli_usage("convert", "expected one input file");
	if (!out)
		return cli_usage("convert", "-o OUT is required");
	/* The format comes from --to or the extension, as everywhere spz
	 * writes a model (and a terminal is refused there). */
	spz_file_kind kind;
	int rc = cli_model_kind(&kind, "convert", to, out);
	if (!rc && thr_arg && kind != SPZ_FILE_JSON)
		return cli_usage("convert", "--external-data-threshold goes with "
		                 "a JSON output (ONNX's external data takes every "
		                 "tensor of 1 KiB or more)");
	if (!rc && thr_arg && !strcmp(out, "-"))
		return cli_usage("convert", "--external-data-threshold needs the "
		                 "model in a file (-o OUT)");
	char *def = NULL;
	if (!rc && thr_arg && !cli_opts.external_data) {
		if (!(def = default_external(out)))
			return cli_error("out of memory");
		cli_opts.external_data = def;
		rc = cli_model_kind(&kind, "convert", to, out);
	}
	if (!rc)
		rc = cli_no_input("convert", argv[optind], "a model");
	spz_model *m = NULL;
	if (!rc)
		rc = cli_load_model(&m, argv[optind]);
	if (!rc)
		rc = cli_save_model_summary("convert", m, out, kind);
	spz_model_free(m);
	free(def);
	return rc;
}
