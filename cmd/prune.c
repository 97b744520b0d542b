/*
 * prune.c - spz prune: picks the tensors (default weights, --include,
 * --exclude), their sparsities (--sparsity, --rule, --config), runs
 * magnitude / threshold / N:M pruning, records the step, prints a table on
 * stderr and writes the model (and the --json report) atomically.
 */
#define _POSIX_C_SOURCE 200809L
#include <cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "json_strict.h"
#include "select.h"

/* What the command line asked for. */
typedef struct request {
	const char *in, *out, *to, *json;
	const char *sparsity_s, *threshold_s, *nm_s, *scope_s, *partial_s;
	cli_select sel;
	/* --rule texts and --config paths in command-line order. */
	const char **sources;
	int *source_is_config;
	size_t n_sources;
	cli_rules rules; /* sparsities */
	spz_prune_options opts;
	spz_value_sink sink; /* opts.sink when values are put in place */
	int have_sparsity;
} request;

static int parse_sparsity(const char *s, double *v)
{
	return cli_parse_double(s, v) || !(*v >= 0.0 && *v < 1.0);
}

/* "N:M" with 1 <= N < M <= 16. */
static int parse_nm(const char *s, int *n, int *m)
{
	int64_t a, b;
	if (cli_parse_pair(s, ':', &a, &b) || a < 1 || b > 16 || a >= b)
		return -1;
	*n = (int)a;
	*m = (int)b;
	return 0;
}

/* --rule 'GLOB=S' into the glob's length and S; a usage error when
 * malformed. */
static int parse_rule(const char *arg, size_t *glob_len, double *s)
{
	const char *value;
	int rc = cli_rule_split(glob_len, &value, "prune", "S", arg);
	if (!rc && parse_sparsity(value, s))
		rc = cli_usage("prune", "--rule '%s': sparsity must be a number "
		               "in [0, 1)", arg);
	return rc;
}

/* --config FILE.json (spz_prune_config_load): its rules, in file order,
 * after those already given. */
static int config_arg(request *r, const char *path)
{
	spz_error err = {0};
	spz_prune_rule *v;
	size_t n;
	if (spz_prune_config_load(&v, &n, path, &err))
		return cli_fail(&err);
	int rc = 0;
	for (size_t i = 0; !rc && i < n; i++)
		rc = cli_rules_add(&r->rules, v[i].glob, strlen(v[i].glob),
		                   v[i].sparsity, NULL, path);
	spz_prune_rules_free(v, n);
	return rc;
}

/* Mode and value checks that need no file: exit 2 on failure. */
static int check_usage(request *r)
{
	spz_prune_options *o = &r->opts;
	int modes = !!r->sparsity_s + !!r->threshold_s + !!r->nm_s;
	if (modes > 1)
		return cli_usage("prune", "--sparsity, --threshold and --nm "
		                 "exclude each other");
	if (!modes && !r->n_sources)
		return cli_usage("prune", "nothing to do: give --sparsity S, "
		                 "--threshold T, --nm N:M or --rule GLOB=S");
	if (r->n_sources && (r->threshold_s || r->nm_s))
		return cli_usage("prune", "--rule and --config give sparsities; "
		                 "they go with --sparsity, not %s",
		                 r->nm_s ? "--nm" : "--threshold");
	if (r->sparsity_s && parse_sparsity(r->sparsity_s, &o->sparsity))
		return cli_usage("prune", "--sparsity takes a number in [0, 1), "
		                 "not '%s'", r->sparsity_s);
	r->have_sparsity = !!r->sparsity_s;
	if (r->threshold_s) {
		o->mode = SPZ_PRUNE_THRESHOLD;
		if (cli_parse_double(r->threshold_s, &o->threshold) ||
		    o->threshold < 0)
			return cli_usage("prune", "--threshold takes a number >= 0, "
			                 "not '%s'", r->threshold_s);
	}
	if (r->nm_s) {
		o->mode = SPZ_PRUNE_NM;
		if (parse_nm(r->nm_s, &o->nm_n, &o->nm_m))
			return cli_usage("prune", "--nm takes N:M with 1 <= N < M "
			                 "<= 16 (e.g. 2:4), not '%s'", r->nm_s);
	}
	if (r->scope_s) {
		if (!r->sparsity_s)
			return cli_usage("prune", "--scope goes with --sparsity");
		if (!strcmp(r->scope_s, "global"))
			o->global = 1;
		else if (strcmp(r->scope_s, "layer"))
			return cli_usage("prune", "--scope takes layer or global, "
			                 "not '%s'", r->scope_s);
		if (o->global && r->n_sources)
			return cli_usage("prune", "--scope global ranks every tensor "
			                 "with one sparsity; --rule and --config "
			                 "need --scope layer");
	}
	if (r->partial_s) {
		if (!r->nm_s)
			return cli_usage("prune", "--nm-partial goes with --nm");
		if (!strcmp(r->partial_s, "keep"))
			o->nm_partial = SPZ_NM_PARTIAL_KEEP;
		else if (!strcmp(r->partial_s, "prune"))
			o->nm_partial = SPZ_NM_PARTIAL_PRUNE;
		else
			return cli_usage("prune", "--nm-partial takes keep or prune, "
			                 "not '%s'", r->partial_s);
	}
	for (size_t i = 0; i < r->n_sources; i++) {
		if (r->source_is_config[i]) {
			if (!strcmp(r->sources[i], "-") && !strcmp(r->in, "-"))
				return cli_usage("prune", "the model and --config "
				                 "cannot both come from standard input");
			continue;
		}
		size_t len;
		double v;
		int rc = parse_rule(r->sources[i], &len, &v);
		if (rc)
			return rc;
	}
	return cli_report_paths("prune", r->json, r->out);
}

/* Rules from --rule and --config in command-line order (a later one
 * wins); the --rule texts were checked by check_usage. */
static int load_rules(request *r)
{
	for (size_t i = 0; i < r->n_sources; i++) {
		const char *a = r->sources[i];
		size_t len;
		double s;
		int rc = r->source_is_config[i] ? config_arg(r, a)
		       : parse_rule(a, &len, &s);
		if (!rc && !r->source_is_config[i])
			rc = cli_rules_add(&r->rules, a, len, s, NULL, NULL);
		if (rc)
			return rc;
	}
	return 0;
}

/* The tensors to prune and their sparsities (cli_select_tensors,
 * cli_rules_check: exit 2 when the command line names a tensor the model
 * does not have). */
static int select_items(spz_prune_item **out, size_t *n_out,
                        spz_model *m, const request *r)
{
	unsigned char *sel = calloc(m->n_tensors + 1, 1);
	spz_prune_item *items = calloc(m->n_tensors + 1, sizeof *items);
	int rc = sel && items ? 0 : cli_error("out of memory");
	if (!rc)
		rc = cli_select_tensors(sel, &r->sel, m, "prune");
	if (!rc)
		rc = cli_rules_check(&r->rules, sel, m, "prune");
	size_t n = 0;
	for (size_t i = 0; !rc && i < m->n_tensors; i++) {
		if (!sel[i])
			continue;
		const cli_rule *k = cli_rules_find(&r->rules, m->tensors[i].name);
		/* With rules only, the tensors no rule matches stay as they are. */
		if (k || r->have_sparsity || r->opts.mode != SPZ_PRUNE_MAGNITUDE)
			items[n++] = (spz_prune_item){
				.tensor = &m->tensors[i],
				.sparsity = k ? k->value : r->opts.sparsity};
	}
	/* Only --config files without rules get here. */
	if (!rc && !n)
		rc = cli_usage("prune", "no tensor selected in model '%s' (no "
		               "--sparsity and no rule)", m->name);
	free(sel);
	if (rc) {
		free(items);
		return rc;
	}
	*out = items;
	*n_out = n;
	return 0;
}

/* The history step: every parameter, with the rules as applied. */
static int add_step(spz_model *m, const request *r, const spz_prune_item *it,
                    size_t n)
{
	static const char *partial[] = {"refuse", "keep", "prune"};
	const spz_prune_options *o = &r->opts;
	char *inc = cli_join(r->sel.include, r->sel.n_include, ", ");
	char *exc = cli_join(r->sel.exclude, r->sel.n_exclude, ", ");
	size_t nv = n > r->rules.n ? n : r->rules.n;
	const char **v = malloc((nv + 1) * sizeof *v);
	char *rules = NULL, *tensors = NULL;
	if (v) {
		for (size_t i = 0; i < r->rules.n; i++)
			v[i] = r->rules.v[i].text;
		rules = cli_join(v, r->rules.n, ", ");
		for (size_t i = 0; i < n; i++)
			v[i] = it[i].tensor->name;
		tensors = cli_join(v, n, ", ");
	}
	free(v);
	spz_param p[12];
	size_t np = 0;
	p[np++] = (spz_param){"mode", o->mode == SPZ_PRUNE_NM ? "nm"
	                      : o->mode == SPZ_PRUNE_THRESHOLD ? "threshold"
	                                                       : "magnitude"};
	if (o->mode == SPZ_PRUNE_MAGNITUDE)
		p[np++] = (spz_param){"scope", o->global ? "global" : "layer"};
	if (r->sparsity_s)
		p[np++] = (spz_param){"sparsity", (char *)r->sparsity_s};
	if (r->rules.n)
		p[np++] = (spz_param){"rules", rules};
	if (r->threshold_s)
		p[np++] = (spz_param){"threshold", (char *)r->threshold_s};
	if (r->nm_s) {
		p[np++] = (spz_param){"nm", (char *)r->nm_s};
		p[np++] = (spz_param){"nm_partial", (char *)partial[o->nm_partial]};
	}
	if (r->sel.n_include)
		p[np++] = (spz_param){"include", inc};
	if (r->sel.n_exclude)
		p[np++] = (spz_param){"exclude", exc};
	int rc = inc && exc && rules && tensors ? 0 : -1;
	if (!rc) {
		p[np++] = (spz_param){"tensors", tensors};
		rc = spz_model_add_step(m, "prune", p, np);
	}
	free(inc);
	free(exc);
	free(rules);
	free(tensors);
	return rc ? cli_error("out of memory") : 0;
}

static double ratio(int64_t a, int64_t b)
{
	return b ? (double)a / (double)b : 0.0;
}

/* The threshold as short text: a float's shortest form, or T as given. */
static char *threshold_text(char buf[32], const request *r,
                            const spz_prune_record *p)
{
	if (r->opts.mode == SPZ_PRUNE_THRESHOLD)
		return spz_format_double(buf, p->threshold);
	return spz_format_float(buf, (float)p->threshold);
}

/* Magnitude pruning keeps the zeros a tensor has: a target below its
 * sparsity leaves it sparser than asked, which is said here (the record
 * holds the density reached). */
static void note_already_sparse(const request *r, const spz_prune_item *it,
                                size_t n)
{
	if (r->opts.mode != SPZ_PRUNE_MAGNITUDE)
		return;
	for (size_t i = 0; i < n; i++) {
		const spz_prune_stats *s = &it[i].stats;
		const spz_prune_record *p = it[i].tensor->prune;
		if (!s->elements || !p)
			continue;
		double had = 1.0 - (double)s->nonzeros_before / s->elements;
		if (had > p->target + 1e-12) {
			char a[32], b[32];
			spz_format_double(a, round(had * 1e4) / 1e4);
			spz_format_double(b, p->target);
			fprintf(stderr, "spz prune: '%s' is already %s sparse "
			        "(target %s): density %.4f kept\n",
			        it[i].tensor->name, a, b, p->density);
		}
	}
}

static void print_table(const request *r, const spz_prune_item *it,
                        size_t n)
{
	const spz_prune_options *o = &r->opts;
	int64_t el = 0, before = 0, after = 0;
	char dims[64], target[32], thr[32];
	/* 80 columns: the name takes what the other columns leave (44),
	 * unless --wide. */
	size_t nw = 6;
	for (size_t i = 0; i < n; i++) {
		size_t w = cli_width(it[i].tensor->name);
		nw = w > nw ? w : nw;
	}
	if (!cli_opts.wide && nw > 24)
		nw = 24;
	/* dims as wide as the widest, the total's "N weights" included. */
	int dw = 4;
	for (size_t i = 0; i < n; i++) {
		el += it[i].stats.elements;
		cli_dims_text(dims, sizeof dims, it[i].tensor);
		dw = (int)strlen(dims) > dw ? (int)strlen(dims) : dw;
	}
	snprintf(dims, sizeof dims, "%lld weights", (long long)el);
	dw = (int)strlen(dims) > dw ? (int)strlen(dims) : dw;
	el = 0;
	cli_pad(stderr, "tensor", nw, 1);
	fprintf(stderr, " %-*s %7s  %19s  %s\n", dw, "dims",
	        o->mode == SPZ_PRUNE_NM ? "pattern" : "target",
	        "density before->after", "threshold");
	for (size_t i = 0; i < n; i++) {
		const spz_prune_stats *s = &it[i].stats;
		const spz_prune_record *p = it[i].tensor->prune;
		cli_dims_text(dims, sizeof dims, it[i].tensor);
		if (o->mode == SPZ_PRUNE_NM)
			snprintf(target, sizeof target, "%d:%d", o->nm_n, o->nm_m);
		else if (o->mode == SPZ_PRUNE_MAGNITUDE)
			spz_format_double(target, p->target);
		else
			snprintf(target, sizeof target, "-");
		cli_pad_cut(stderr, it[i].tensor->name, nw);
		fprintf(stderr, " %-*s %7s  %11.4f->%-6.4f  %s\n", dw, dims,
		        target, ratio(s->nonzeros_before, s->elements),
		        ratio(s->nonzeros_after, s->elements),
		        threshold_text(thr, r, p));
		el += s->elements;
		before += s->nonzeros_before;
		after += s->nonzeros_after;
	}
	snprintf(dims, sizeof dims, "%lld weights", (long long)el);
	cli_pad(stderr, "total", nw, 1);
	fprintf(stderr, " %-*s %7s  %11.4f->%.4f\n", dw, dims, "",
	        ratio(before, el), ratio(after, el));
}

/* {"tensors": [...], "total": {...}} (formats/README.md). */
static cJSON *report_json(const request *r, const spz_prune_item *it,
                          size_t n)
{
	cJSON *j = cJSON_CreateObject();
	cJSON *ts = cJSON_AddArrayToObject(j, "tensors");
	int64_t el = 0, before = 0, after = 0;
	char num[32];
	for (size_t i = 0; i < n; i++) {
		const spz_tensor *t = it[i].tensor;
		const spz_prune_stats *s = &it[i].stats;
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", t->name);
		cJSON *d = cJSON_AddArrayToObject(o, "dims");
		for (int k = 0; k < t->ndims; k++)
			cJSON_AddItemToArray(d, cJSON_CreateNumber((double)t->dims[k]));
		cJSON_AddNumberToObject(o, "elements", (double)s->elements);
		cJSON_AddNumberToObject(o, "nonzeros_before",
		                        (double)s->nonzeros_before);
		cJSON_AddNumberToObject(o, "nonzeros_after",
		                        (double)s->nonzeros_after);
		if (r->opts.mode == SPZ_PRUNE_MAGNITUDE)
			cJSON_AddRawToObject(o, "target",
			                     spz_format_double(num, t->prune->target));
		else
			cJSON_AddNullToObject(o, "target");
		cJSON_AddRawToObject(o, "threshold",
		                     threshold_text(num, r, t->prune));
		cJSON_AddItemToArray(ts, o);
		el += s->elements;
		before += s->nonzeros_before;
		after += s->nonzeros_after;
	}
	cJSON *tot = cJSON_AddObjectToObject(j, "total");
	cJSON_AddNumberToObject(tot, "elements", (double)el);
	cJSON_AddNumberToObject(tot, "nonzeros_before", (double)before);
	cJSON_AddNumberToObject(tot, "nonzeros_after", (double)after);
	return j;
}

/*
 * N:M into a .spzm file puts the stored values of the biggest weight
 * still in the input file straight where the output takes them
 * (spz_spzm_placer_new): the output is opened now, and what is not pruned
 * is read first, since the layout depends on it. Nothing to place (other
 * modes, small weights) leaves *pl NULL and the output unopened.
 */
static int place(spz_spzm_placer **pl, spz_output *o, spz_model *m,
                 const spz_prune_item *items, size_t n, request *r)
{
	spz_error err = {0};
	*pl = NULL;
	if (r->opts.mode != SPZ_PRUNE_NM)
		return 0;
	for (size_t i = 0; i < m->n_tensors; i++) {
		int item = 0;
		for (size_t k = 0; k < n && !item; k++)
			item = items[k].tensor == &m->tensors[i];
		if (!item && spz_tensor_undefer(&m->tensors[i], &err))
			return cli_fail(&err);
	}
	if (spz_output_open(o, r->out, &err) ||
	    spz_spzm_placer_new(pl, &r->sink, o, m, items, n, &r->opts, &err))
		return cli_fail(&err);
	if (*pl)
		r->opts.sink = &r->sink;
	else
		spz_output_abort(o); /* opened again to be written */
	return 0;
}

static int run(request *r)
{
	spz_file_kind kind;
	int rc = check_usage(r);
	if (!rc)
		rc = cli_model_kind(&kind, "prune", r->to, r->out);
	if (!rc)
		rc = cli_no_input("prune", r->in, "a model");
	if (!rc)
		rc = load_rules(r);
	if (rc)
		return rc;
	spz_model *m = NULL;
	spz_prune_item *items = NULL;
	size_t n = 0;
	spz_error err = {0};
	/* A .spzm takes the pruned tensors as they are built, mask and
	 * non-zeros (its bitmask payload), the values packed into the
	 * input's own buffer (never into borrowed, mapped data); JSON and
	 * ONNX want every element anyway. Into a .spzm, big weights of a
	 * .spzm input are not even read in: each is pruned in one pass over
	 * its file, a piece at a time (CLI_LOAD_DEFERRED). */
	int out_spzm = kind == SPZ_FILE_SPZM;
	rc = cli_load_model_flags(&m, r->in, CLI_LOAD_COPIED |
	                          (out_spzm ? CLI_LOAD_DEFERRED : 0));
	if (!rc && spz_prune_check_model(m, &err))
		rc = cli_fail(&err);
	if (!rc)
		rc = select_items(&items, &n, m, r);
	r->opts.progress = cli_progress_cb;
	r->opts.progress_ctx = (void *)"prune";
	r->opts.sparse_out = out_spzm ? SPZ_SPARSE_REUSE : 0;
	/* The step first: the layout of the output holds it. */
	if (!rc)
		rc = add_step(m, r, items, n);
	spz_output o = {0};
	spz_spzm_placer *pl = NULL;
	if (!rc && out_spzm && strcmp(r->out, "-"))
		rc = place(&pl, &o, m, items, n, r);
	if (!rc && spz_prune_model(m, items, n, &r->opts, &err))
		rc = cli_fail(&err);
	int placed = pl != NULL;
	spz_spzm_placer_free(pl);
	/* What was not pruned (--exclude, a bias of 1 MB) is read now (with
	 * values put in place it was read before). */
	if (!rc && !placed && spz_model_undefer(m, &err))
		rc = cli_fail(&err);
	cli_progress_end();
	if (!rc)
		rc = cli_save_with_report_to(m, o.f ? &o : NULL, r->out, kind,
		                             r->json, r->json ? report_json(
		                             r, items, n) : NULL);
	if (o.f)
		spz_output_abort(&o);
	/* Only after the outputs are in place: an error is one line. */
	if (!rc && !cli_opts.quiet)
		note_already_sparse(r, items, n);
	if (!rc && !cli_opts.quiet)
		print_table(r, items, n);
	free(items);
	spz_model_free(m);
	return rc;
}

int cmd_prune(int argc, char **argv)
{
	static const struct option opts[] = {
		{"output", required_argument, 0, 'o'},
		{"to", required_argument, 0, 't'},
		{"sparsity", required_argument, 0, 's'},
		{"scope", required_argument, 0, 'S'},
		{"threshold", required_argument, 0, 'T'},
		{"nm", required_argument, 0, 'n'},
		{"nm-partial", required_argument, 0, 'p'},
		{"rule", required_argument, 0, 'r'},
		{"config", required_argument, 0, 'c'},
		{"include", required_argument, 0, 'i'},
		{"exclude", required_argument, 0, 'x'},
		CLI_COMMON_OPTIONS,
		CLI_MODEL_OUTPUT_OPTIONS,
		{0, 0, 0, 0}};
	request r = {.in = "-", .out = "-"};
	r.opts = (spz_prune_options)SPZ_PRUNE_OPTIONS_INIT;
	/* Every repeatable option fits in argc slots. */
	r.sources = calloc((size_t)argc + 1, sizeof *r.sources);
	r.source_is_config = calloc((size_t)argc + 1, sizeof(int));
	int rc = 0, c;
	if (!r.sources || !r.source_is_config)
		rc = cli_error("out of memory");
	opterr = 0;
	while (!rc && (c = getopt_long(argc, argv, ":o:" CLI_SHORT_COMMON, opts,
	                               NULL)) != -1) {
		if (cli_common_opt(c, optarg))
			continue;
		switch (c) {
		case 'o': r.out = optarg; break;
		case 't': r.to = optarg; break;
		case 's': r.sparsity_s = optarg; break;
		case 'S': r.scope_s = optarg; break;
		case 'T': r.threshold_s = optarg; break;
		case 'n': r.nm_s = optarg; break;
		case 'p': r.partial_s = optarg; break;
		case 'i':
		case 'x':
			rc = cli_select_add(&r.sel, "prune", c == 'i', optarg);
			break;
		case 'r':
		case 'c':
			r.source_is_config[r.n_sources] = c == 'c';
			r.sources[r.n_sources++] = optarg;
			break;
		default:
			rc = cli_opt_error("prune", c, argv, opts);
		}
	}
	if (!rc && argc - optind > 1)
		rc = cli_usage("prune", "expected at most one input file");
	if (!rc && optind < argc)
		r.in = argv[optind];
	r.json = cli_opts.json;
	if (!rc)
		rc = run(&r);
	cli_rules_free(&r.rules);
	cli_select_free(&r.sel);
	free(r.sources);
	free(r.source_is_config);
	return rc;
}
