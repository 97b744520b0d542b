/*
 * info.c - spz info: what a model holds (graph, tensors with their
 * density, pruning record and codebook, history), as text or JSON.
 */
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#include <cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "info_image.h"

static void print_strv(FILE *f, char *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%s", i ? ", " : "", v[i][0] ? v[i] : "(none)");
}

/* The N:M pattern a weight satisfies along its reduction dimension: the
 * one it was pruned to, else 2:4. Returns that dimension, or -1. A
 * dimension shorter than M has no whole group: any dense weight would
 * "satisfy" the pattern there, so it is not claimed. */
static int nm_pattern(const spz_model *m, const spz_tensor *t, int *n,
                      int *mm)
{
	int rec = t->prune && t->prune->nm_m;
	int dim = spz_model_reduction_dim(m, t);
	*n = rec ? t->prune->nm_n : 2;
	*mm = rec ? t->prune->nm_m : 4;
	return dim >= 0 && t->dims[dim] >= *mm &&
	       spz_tensor_nm_holds(t, dim, *n, *mm) ? dim : -1;
}

static const char *role_name(const spz_model *m, const spz_tensor *t)
{
	spz_role r = spz_tensor_role(m, t);
	return r == SPZ_ROLE_WEIGHT ? "weight"
	       : r == SPZ_ROLE_BIAS ? "bias" : "other";
}

/* Ends a line built in the memory stream ms (at *buf): printed whole
 * with --wide, else broken to 80 columns with continuations indented. */
static void flush_line(FILE *ms, char **buf, size_t indent)
{
	fputc(0, ms);
	fflush(ms);
	if (cli_opts.wide)
		printf("%s\n", *buf);
	else
		cli_print_wrapped(stdout, *buf, 0, indent);
	rewind(ms);
}

static void print_text(const spz_model *m)
{
	char b[32];
	char *line = NULL;
	size_t line_len = 0;
	FILE *ms = open_memstream(&line, &line_len);
	if (!ms) {
		cli_error("out of memory");
		return;
	}
	fprintf(ms, "model '%s'", m->name);
	flush_line(ms, &line, 2);
	fprintf(ms, "inputs: ");
	print_strv(ms, m->inputs, m->n_inputs);
	flush_line(ms, &line, 2);
	fprintf(ms, "outputs: ");
	print_strv(ms, m->outputs, m->n_outputs);
	flush_line(ms, &line, 2);
	printf("\nnodes (%zu):\n", m->n_nodes);
	for (size_t i = 0; i < m->n_nodes; i++) {
		const spz_node *n = &m->nodes[i];
		fprintf(ms, "  %-3zu %-8s %-12s ", i, n->op, n->name);
		print_strv(ms, n->inputs, n->n_inputs);
		fprintf(ms, " -> ");
		print_strv(ms, n->outputs, n->n_outputs);
		for (size_t k = 0; k < n->n_attrs; k++) {
			const spz_attr *a = &n->attrs[k];
			fprintf(ms, "  %s=", a->name);
			if (a->type == SPZ_ATTR_NUMBER)
				fprintf(ms, "%s", spz_format_double(b, a->number));
			else if (a->type == SPZ_ATTR_STRING)
				fprintf(ms, "'%s'", a->string);
			else
				for (size_t j = 0; j < a->n_numbers; j++)
					fprintf(ms, "%s%s", j ? "," : "[",
					        spz_format_double(b, a->numbers[j]));
			if (a->type == SPZ_ATTR_NUMBERS)
				fprintf(ms, "%s]", a->n_numbers ? "" : "[");
		}
		flush_line(ms, &line, 6);
	}
	/* 80 columns: the elements column (dims say it) only with --wide,
	 * names as wide as the longest, cut at what the rest leaves. */
	int wide = cli_opts.wide;
	size_t nw = 4, dw = 4;
	char dims[128];
	for (size_t i = 0; i < m->n_tensors; i++) {
		size_t w = cli_width(m->tensors[i].name);
		nw = w > nw ? w : nw;
		cli_dims_text(dims, sizeof dims, &m->tensors[i]);
		dw = strlen(dims) > dw ? strlen(dims) : dw;
	}
	if (!wide && dw > 14)
		dw = 14;
	/* 2 + name + dims + dtype 8 + role 6 + nonzeros 10 + density 8 +
	 * codebook "16 entries, 4 bits" 18, with their separators. */
	size_t rest = 2 + 1 + dw + 1 + 8 + 1 + 6 + 1 + 10 + 1 + 8 + 2 + 18;
	if (!wide && nw + rest > 80)
		nw = 80 - rest > 8 ? 80 - rest : 8;
	printf("\ntensors (%zu):\n  ", m->n_tensors);
	cli_pad(stdout, "name", nw, 1);
	printf(" %-*s %-8s %-6s", (int)dw, "dims", "dtype", "role");
	if (wide)
		printf(" %10s", "elements");
	printf(" %10s %8s  %s\n", "nonzeros", "density", "codebook");
	for (size_t i = 0; i < m->n_tensors; i++) {
		const spz_tensor *t = &m->tensors[i];
		cli_dims_text(dims, sizeof dims, t);
		int64_t n = spz_tensor_elements(t), nz = spz_tensor_nonzeros(t);
		printf("  ");
		if (wide)
			cli_pad(stdout, t->name, nw, 1);
		else
			cli_pad_cut(stdout, t->name, nw);
		printf(" ");
		if (wide)
			printf("%-*s", (int)dw, dims);
		else
			cli_pad_cut(stdout, dims, dw);
		printf(" %-8s %-6s", spz_dtype_name(t->dtype), role_name(m, t));
		if (wide)
			printf(" %10lld", (long long)n);
		printf(" %10lld %8.4f  ", (long long)nz,
		       n ? (double)nz / (double)n : 0.0);
		if (t->codebook)
			printf("%u entr%s, %d bit%s\n", t->codebook_size,
			       t->codebook_size == 1 ? "y" : "ies", t->bits,
			       t->bits == 1 ? "" : "s");
		else
			printf("-\n");
		if (t->codebook) {
			fprintf(ms, "    codebook:");
			for (uint32_t k = 0; k < t->codebook_size; k++)
				fprintf(ms, " %s",
				        spz_format_float(b, t->codebook[k]));
			flush_line(ms, &line, 14);
		}
		const spz_prune_record *p = t->prune;
		if (p) {
			fprintf(ms, "    pruned: %s", p->mode);
			if (p->scope[0])
				fprintf(ms, " (%s)", p->scope);
			if (p->nm_m)
				fprintf(ms, " %d:%d", p->nm_n, p->nm_m);
			else if (!strcmp(p->mode, "magnitude"))
				fprintf(ms, " target sparsity %s",
				       spz_format_double(b, p->target));
			fprintf(ms, ", threshold %s", spz_format_double(b, p->threshold));
			fprintf(ms, ", density %.4f", p->density);
			flush_line(ms, &line, 12);
		}
		int nn, nm, dim = nm_pattern(m, t, &nn, &nm);
		if (dim >= 0)
			printf("    satisfies %d:%d along dim %d\n", nn, nm, dim);
	}
	printf("\nhistory (%zu):\n", m->n_history);
	for (size_t i = 0; i < m->n_history; i++) {
		const spz_step *s = &m->history[i];
		fprintf(ms, "  %zu. %s (spz %s)", i + 1, s->tool, s->version);
		for (size_t k = 0; k < s->n_params; k++)
			fprintf(ms, " %s=%s", s->params[k].key,
			        s->params[k].value);
		flush_line(ms, &line, 6);
	}
	fclose(ms);
	free(line);
}

static cJSON *strv_json(char *const *v, size_t n)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
	return a;
}

static cJSON *model_json(const spz_model *m)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "kind", "model");
	cJSON_AddStringToObject(j, "name", m->name);
	cJSON_AddItemToObject(j, "inputs", strv_json(m->inputs, m->n_inputs));
	cJSON_AddItemToObject(j, "outputs",
	                      strv_json(m->outputs, m->n_outputs));
	cJSON *nodes = cJSON_AddArrayToObject(j, "nodes");
	for (size_t i = 0; i < m->n_nodes; i++) {
		const spz_node *n = &m->nodes[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "op", n->op);
		cJSON_AddStringToObject(o, "name", n->name);
		cJSON_AddItemToObject(o, "inputs",
		                      strv_json(n->inputs, n->n_inputs));
		cJSON_AddItemToObject(o, "outputs",
		                      strv_json(n->outputs, n->n_outputs));
		cJSON *at = cJSON_AddObjectToObject(o, "attributes");
		for (size_t k = 0; k < n->n_attrs; k++) {
			const spz_attr *a = &n->attrs[k];
			if (a->type == SPZ_ATTR_NUMBER)
				cJSON_AddNumberToObject(at, a->name, a->number);
			else if (a->type == SPZ_ATTR_STRING)
				cJSON_AddStringToObject(at, a->name, a->string);
			else
				cJSON_AddItemToObject(
					at, a->name,
					cJSON_CreateDoubleArray(a->numbers,
					                        (int)a->n_numbers));
		}
		cJSON_AddItemToArray(nodes, o);
	}
	cJSON *ts = cJSON_AddArrayToObject(j, "tensors");
	for (size_t i = 0; i < m->n_tensors; i++) {
		const spz_tensor *t = &m->tensors[i];
		int64_t n = spz_tensor_elements(t), nz = spz_tensor_nonzeros(t);
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", t->name);
		cJSON *d = cJSON_AddArrayToObject(o, "dims");
		for (int k = 0; k < t->ndims; k++)
			cJSON_AddItemToArray(d, cJSON_CreateNumber((double)t->dims[k]));
		cJSON_AddStringToObject(o, "dtype", spz_dtype_name(t->dtype));
		cJSON_AddStringToObject(o, "role", role_name(m, t));
		cJSON_AddNumberToObject(o, "elements", (double)n);
		cJSON_AddNumberToObject(o, "nonzeros", (double)nz);
		cJSON_AddNumberToObject(o, "density",
		                        n ? (double)nz / (double)n : 0.0);
		if (t->codebook) {
			cJSON_AddItemToObject(
				o, "codebook",
				cJSON_CreateFloatArray(t->codebook,
				                       (int)t->codebook_size));
			cJSON_AddNumberToObject(o, "bits", t->bits);
		} else {
			cJSON_AddNullToObject(o, "codebook");
		}
		if (t->prune) {
			const spz_prune_record *p = t->prune;
			cJSON *pr = cJSON_AddObjectToObject(o, "pruning");
			cJSON_AddStringToObject(pr, "mode", p->mode);
			cJSON_AddStringToObject(pr, "scope", p->scope);
			cJSON_AddNumberToObject(pr, "target", p->target);
			cJSON_AddNumberToObject(pr, "threshold", p->threshold);
			cJSON_AddNumberToObject(pr, "density", p->density);
			cJSON_AddNumberToObject(pr, "n", p->nm_n);
			cJSON_AddNumberToObject(pr, "m", p->nm_m);
		}
		int nn, nm, dim = nm_pattern(m, t, &nn, &nm);
		if (dim >= 0) {
			cJSON *x = cJSON_AddObjectToObject(o, "nm");
			cJSON_AddNumberToObject(x, "n", nn);
			cJSON_AddNumberToObject(x, "m", nm);
			cJSON_AddNumberToObject(x, "dim", dim);
		}
		cJSON_AddItemToArray(ts, o);
	}
	cJSON *h = cJSON_AddArrayToObject(j, "history");
	for (size_t i = 0; i < m->n_history; i++) {
		const spz_step *s = &m->history[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "tool", s->tool);
		cJSON_AddStringToObject(o, "version", s->version);
		cJSON *p = cJSON_AddObjectToObject(o, "params");
		for (size_t k = 0; k < s->n_params; k++)
			cJSON_AddStringToObject(p, s->params[k].key,
			                        s->params[k].value);
		cJSON_AddItemToArray(h, o);
	}
	return j;
}

int cmd_info(int argc, char **argv)
{
	static const struct option opts[] = {
		{"dump", no_argument, 0, 'd'},
		{"layer", required_argument, 0, 'l'},
		{"pe", required_argument, 0, 'p'},
		CLI_COMMON_OPTIONS,
		{0, 0, 0, 0}};
	int json = 0, c;
	info_image_opts io = {0};
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":" CLI_SHORT_COMMON, opts,
	                        NULL)) != -1) {
		if (cli_common_opt(c, optarg))
			json = io.json = cli_opts.json != NULL;
		else if (c == 'd')
			io.dump = 1;
		else if (c == 'l')
			io.layer = optarg;
		else if (c == 'p')
			io.pe = optarg;
		else
			return cli_opt_error("info", c, argv, opts);
	}
	if (optind != argc - 1)
		return cli_usage("info", "expected one input file");
	if (cli_no_input("info", argv[optind], "a model or an image"))
		return EXIT_USAGE;
	spz_input in;
	spz_error err = {0};
	if (spz_input_open(&in, argv[optind], &err))
		return cli_fail(&err);
	spz_model *m = NULL;
	int rc = 0;
	double t0 = cli_now();
	if (spz_input_kind(&in) == SPZ_FILE_IMAGE)
		rc = info_image(&in, &io);
	else if (io.dump || io.layer || io.pe)
		rc = cli_usage("info", "--dump, --layer and --pe are for packed "
		               "images");
	else if (cli_read_model(&m, &in, &err))
		rc = cli_fail(&err);
	spz_input_close(&in);
	if (m)
		cli_note("read and checked '%s' in %.3f s", argv[optind],
		         cli_elapsed(t0));
	else if (!rc)
		cli_note("read, checked and described '%s' in %.3f s",
		         argv[optind], cli_elapsed(t0));
	if (rc || !m)
		return rc;
	if (json)
		rc = cli_print_json(model_json(m));
	else
		print_text(m);
	spz_model_free(m);
	return rc;
}
