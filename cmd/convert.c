/* convert.c - spz convert: a model from one format to another (JSON,
 * .spzm, ONNX), JSON and ONNX optionally with their big tensors in an
 * external raw file beside the model. */
#include <cJSON.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* What ONNX's own writer uses: tensors of 1 KiB or more go external. */
#define EXTERNAL_THRESHOLD 1024

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
		{"external-data", required_argument, 0, 'x'},
		{"external-data-threshold", required_argument, 0, OPT_THRESHOLD},
		CLI_COMMON_OPTIONS,
		{0, 0, 0, 0}};
	const char *out = NULL, *to = NULL, *ext = NULL, *thr_arg = NULL;
	uint64_t thr = EXTERNAL_THRESHOLD;
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
		else if (c == OPT_THRESHOLD)
			thr_arg = optarg;
		else
			return cli_opt_error("convert", c, argv, opts);
	}
	if (thr_arg && cli_parse_u64(thr_arg, &thr))
		return cli_usage("convert", "--external-data-threshold takes a "
		                 "number of bytes, not '%s'", thr_arg);
	if (optind != argc - 1)
		return cli_usage("convert", "expected one input file");
	if (!out)
		return cli_usage("convert", "no output given (-o OUT)");
	/* Standard output defaults to binary, as for every command that
	 * writes a model (and a terminal is refused there). */
	spz_file_kind kind;
	int rc = cli_model_kind(&kind, "convert", to, out);
	const char *flag = thr_arg ? "--external-data-threshold"
	                           : "--external-data";
	int external = ext || thr_arg;
	if (!rc && external && kind == SPZ_FILE_SPZM)
		return cli_usage("convert", "%s goes with a JSON or ONNX output",
		                 flag);
	if (!rc && thr_arg && kind == SPZ_FILE_ONNX)
		return cli_usage("convert", "--external-data-threshold goes with "
		                 "a JSON output (ONNX's external data takes every "
		                 "tensor of 1 KiB or more)");
	if (!rc && external && !strcmp(out, "-"))
		return cli_usage("convert", "%s needs the model in a file (-o "
		                 "OUT)", flag);
	if (!rc && ext) {
		const char *a = strrchr(ext, '/') ? strrchr(ext, '/') + 1 : ext;
		const char *b = strrchr(out, '/') ? strrchr(out, '/') + 1 : out;
		if (!strcmp(a, b))
			return cli_usage("convert", "--external-data '%s' would be "
			                 "the model itself", ext);
	}
	if (!rc)
		rc = cli_no_input("convert", argv[optind], "a model");
	spz_model *m = NULL;
	if (!rc)
		rc = cli_load_model(&m, argv[optind]);
	if (!rc && external) {
		spz_error err = {0};
		char *def = ext ? NULL : default_external(out);
		if (!ext && !def)
			rc = cli_error("out of memory");
		else if (kind == SPZ_FILE_ONNX ? spz_onnx_save(m, out, ext, &err)
		         : spz_json_save_external(m, out, ext ? ext : def, thr,
		                                  &err))
			rc = cli_fail(&err);
		free(def);
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
