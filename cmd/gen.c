/* gen.c - spz gen: synthetic models (an MLP, or one random sparse layer). */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cmd_gen(int argc, char **argv)
{
	static const struct option opts[] = {
		{"output", required_argument, 0, 'o'},
		{"to", required_argument, 0, 't'},
		{"seed", required_argument, 0, 's'},
		{"dims", required_argument, 0, 'd'},
		{"rows", required_argument, 0, 'r'},
		{"cols", required_argument, 0, 'c'},
		{"density", required_argument, 0, 'D'},
		CLI_COMMON_OPTIONS,
		CLI_MODEL_OUTPUT_OPTIONS,
		{0, 0, 0, 0}};
	const char *out = "-", *to = NULL, *dims_s = NULL;
	const char *rows_s = NULL, *cols_s = NULL, *dens_s = NULL;
	uint64_t seed = 1;
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:" CLI_SHORT_COMMON, opts,
	                        NULL)) != -1) {
		if (cli_common_opt(c, optarg))
			continue;
		switch (c) {
		case 'o': out = optarg; break;
		case 't': to = optarg; break;
		case 'd': dims_s = optarg; break;
		case 'r': rows_s = optarg; break;
		case 'c': cols_s = optarg; break;
		case 'D': dens_s = optarg; break;
		case 's':
			if (cli_seed(&seed, "gen", optarg))
				return EXIT_USAGE;
			break;
		default:
			return cli_opt_error("gen", c, argv, opts);
		}
	}
	if (optind != argc - 1)
		return cli_usage("gen", "expected one kind: mlp or layer");
	const char *what = argv[optind];
	spz_model *m = NULL;
	spz_error err = {0};
	int rc;
	spz_gen_options go = SPZ_GEN_OPTIONS_INIT;
	go.seed = seed;
	go.progress = cli_progress_cb;
	go.progress_ctx = (void *)"gen";
	if (!strcmp(what, "mlp")) {
		int64_t dims[64];
		size_t n;
		if (!dims_s)
			return cli_usage("gen", "mlp needs --dims D0,D1,...");
		if (rows_s || cols_s || dens_s)
			return cli_usage("gen", "--rows/--cols/--density are for "
			                 "'gen layer'");
		if (cli_parse_list(dims_s, dims, 64, &n))
			return cli_usage("gen", "--dims takes up to 64 "
			                 "comma-separated integers, not '%s'",
			                 dims_s);
		rc = spz_gen_mlp_opts(&m, dims, n, &go, &err);
	} else if (!strcmp(what, "layer")) {
		int64_t rows, cols;
		double dens = 1.0;
		if (dims_s)
			return cli_usage("gen", "--dims is for 'gen mlp'");
		if (!rows_s || !cols_s)
			return cli_usage("gen", "layer needs --rows R --cols C");
		if (cli_parse_i64(rows_s, &rows))
			return cli_usage("gen", "--rows takes an integer, not "
			                 "'%s'", rows_s);
		if (cli_parse_i64(cols_s, &cols))
			return cli_usage("gen", "--cols takes an integer, not "
			                 "'%s'", cols_s);
		if (dens_s && cli_parse_double(dens_s, &dens))
			return cli_usage("gen", "--density takes a number in "
			                 "[0, 1], not '%s'", dens_s);
		rc = spz_gen_layer_opts(&m, rows, cols, dens, &go, &err);
	} else {
		return cli_usage("gen", "unknown kind '%s' (mlp or layer)",
		                 what);
	}
	cli_progress_end();
	if (rc) {
		if (rc == SPZ_EINVAL)
			return cli_usage("gen", "%s", err.text);
		return cli_fail(&err);
	}
	spz_file_kind kind;
	rc = cli_model_kind(&kind, "gen", to, out);
	if (!rc)
		rc = cli_save_model_summary("gen", m, out, kind);
	spz_model_free(m);
	return rc;
}
