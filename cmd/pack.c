/*
 * pack.c - spz pack: a quantized model into an EIE image (rows interleaved
 * over PEs, CSC per PE, relative indices with padding), or a plain CSC /
 * CSR / N:M image of every weight.
 */
#include <cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* Sum of one layer's entries and the bytes of its parts on file. */
static uint64_t eie_entries(const spz_eie *e)
{
	uint64_t n = 0;
	for (size_t i = 0; i < e->n_layers; i++)
		n += e->layers[i].nonzeros + e->layers[i].padding;
	return n;
}

static int pack_eie(const spz_model *m, const char *out,
                    const spz_eie_options *o, int huffman, FILE *say)
{
	spz_eie *e = NULL;
	spz_error err = {0};
	spz_eie_options po = *o;
	po.progress = cli_progress_cb;
	po.progress_ctx = (void *)"pack";
	int rc = spz_eie_pack(&e, m, &po, &err);
	cli_progress_end();
	if (!rc)
		rc = huffman ? spz_eie_save_huffman(e, out, &err)
		             : spz_eie_save(e, out, &err);
	if (rc) {
		spz_eie_free(e);
		return cli_fail(&err);
	}
	uint64_t pad = 0;
	for (size_t i = 0; i < e->n_layers; i++)
		pad += e->layers[i].padding;
	if (cli_opts.json) {
		cJSON *j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "command", "pack");
		cJSON_AddStringToObject(j, "output", out);
		cJSON_AddStringToObject(j, "format", "eie");
		cJSON_AddNumberToObject(j, "layers", (double)e->n_layers);
		cJSON_AddNumberToObject(j, "pes", e->pes);
		cJSON_AddNumberToObject(j, "entries", (double)eie_entries(e));
		cJSON_AddNumberToObject(j, "padding", (double)pad);
		cJSON_AddNumberToObject(j, "index_bits", e->index_bits);
		spz_eie_free(e);
		return cli_print_json_to(j, cli_opts.json);
	}
	if (!say) {
		spz_eie_free(e);
		return EXIT_OK;
	}
	fprintf(say, "packed '%s': %zu layer%s on %u PEs, %llu entries "
	        "(%llu padding), %d-bit index%s\n", e->name, e->n_layers,
	        e->n_layers == 1 ? "" : "s", e->pes,
	        (unsigned long long)eie_entries(e), (unsigned long long)pad,
	        e->index_bits, huffman ? ", Huffman-coded" : "");
	spz_eie_free(e);
	return EXIT_OK;
}

static int pack_plain(const spz_model *m, const char *out, int kind,
                      int nm_n, int nm_m, FILE *say)
{
	spz_plain_options o = {kind, nm_n, nm_m};
	spz_error err = {0};
	uint64_t values = 0;
	if (spz_plain_save(m, &o, out, &values, &err))
		return cli_fail(&err);
	static const char *names[] = {"", "", "CSC", "CSR", "N:M"};
	if (cli_opts.json) {
		static const char *keys[] = {"", "", "csc", "csr", "nm"};
		cJSON *j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "command", "pack");
		cJSON_AddStringToObject(j, "output", out);
		cJSON_AddStringToObject(j, "format", keys[kind]);
		cJSON_AddNumberToObject(j, "values", (double)values);
		return cli_print_json_to(j, cli_opts.json);
	}
	if (!say)
		return EXIT_OK;
	fprintf(say, "packed '%s' as %s: %llu stored values\n", m->name,
	        names[kind], (unsigned long long)values);
	return EXIT_OK;
}

/* "N:M" with 1 <= N <= M <= 256. */
static int parse_nm(const char *s, int *n, int *m)
{
	int64_t a, b;
	if (cli_parse_pair(s, ':', &a, &b) || a < 1 || b < a || b > 256)
		return -1;
	*n = (int)a;
	*m = (int)b;
	return 0;
}

int cmd_pack(int argc, char **argv)
{
	static const struct option opts[] = {
		{"output", required_argument, 0, 'o'},
		{"format", required_argument, 0, 'f'},
		{"pes", required_argument, 0, 'p'},
		{"index-bits", required_argument, 0, 'i'},
		{"nm", required_argument, 0, 'n'},
		CLI_COMMON_OPTIONS,
		{"huffman", no_argument, 0, 'H'},
		{0, 0, 0, 0}};
	const char *out = NULL, *format = "eie", *nm = NULL;
	spz_eie_options eo = SPZ_EIE_OPTIONS_INIT;
	int64_t v;
	int c, pes_given = 0, bits_given = 0, huffman = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:" CLI_SHORT_COMMON, opts,
	                        NULL)) != -1) {
		if (cli_common_opt(c, optarg))
			continue;
		switch (c) {
		case 'o': out = optarg; break;
		case 'f': format = optarg; break;
		case 'n': nm = optarg; break;
		case 'H': huffman = 1; break;
		case 'p':
			if (cli_int_range(&v, "pack", "--pes", optarg,
			                  SPZ_EIE_PES_MIN, SPZ_EIE_PES_MAX))
				return EXIT_USAGE;
			eo.pes = (uint32_t)v;
			pes_given = 1;
			break;
		case 'i':
			if (cli_int_range(&v, "pack", "--index-bits", optarg,
			                  SPZ_EIE_INDEX_BITS_MIN,
			                  SPZ_EIE_INDEX_BITS_MAX))
				return EXIT_USAGE;
			eo.index_bits = (int)v;
			bits_given = 1;
			break;
		default:
			return cli_opt_error("pack", c, argv, opts);
		}
	}
	if (argc - optind > 1)
		return cli_usage("pack", "expected at most one input model");
	const char *in = optind < argc ? argv[optind] : "-";
	if (!out)
		return cli_usage("pack", "no output given (-o IMAGE)");
	int kind = !strcmp(format, "eie") ? SPZ_IMAGE_EIE
	         : !strcmp(format, "csc") ? SPZ_IMAGE_CSC
	         : !strcmp(format, "csr") ? SPZ_IMAGE_CSR
	         : !strcmp(format, "nm")  ? SPZ_IMAGE_NM : 0;
	if (!kind)
		return cli_usage("pack", "--format takes eie, csc, csr or nm, "
		                 "not '%s'", format);
	if (kind != SPZ_IMAGE_EIE && (pes_given || bits_given))
		return cli_usage("pack", "--pes and --index-bits are for "
		                 "--format eie");
	if (huffman && kind != SPZ_IMAGE_EIE)
		return cli_usage("pack", "--huffman is for --format eie");
	int nm_n = 0, nm_m = 0;
	if (nm && kind != SPZ_IMAGE_NM)
		return cli_usage("pack", "--nm is for --format nm");
	if (nm && parse_nm(nm, &nm_n, &nm_m))
		return cli_usage("pack", "--nm takes N:M with 1 <= N <= M <= "
		                 "256, not '%s'", nm);
	if (!strcmp(out, "-") && isatty(1))
		return cli_usage("pack", "refusing to write an image to a "
		                 "terminal; use -o FILE");
	static const char *const image_exts[] = {".eie", NULL};
	if (cli_check_ext("pack", out, "an image", image_exts))
		return EXIT_USAGE;
	if (cli_opts.json && !strcmp(cli_opts.json, "-") && !strcmp(out, "-"))
		return cli_usage("pack", "--json needs the image in a file "
		                 "(-o IMAGE)");
	if (cli_no_input("pack", in, "a model"))
		return EXIT_USAGE;
	spz_model *m;
	/* EIE pack walks the masks and codes of bitmask-encoded tensors:
	 * a pruned layer is never expanded into a dense array of codes
	 * only to find its non-zeros again. */
	int rc = cli_load_model_flags(&m, in, kind == SPZ_IMAGE_EIE
	                                          ? CLI_LOAD_SPARSE : 0);
	if (rc)
		return rc;
	FILE *say = cli_opts.quiet ? NULL : strcmp(out, "-") ? stdout : stderr;
	if (kind == SPZ_IMAGE_EIE)
		rc = pack_eie(m, out, &eo, huffman, say);
	else
		rc = pack_plain(m, out, kind, nm_n, nm_m, say);
	spz_model_free(m);
	return rc;
}
