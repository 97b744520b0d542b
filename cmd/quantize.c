/*
 * quantize.c - spz quantize: k-means weight sharing (Deep Compression §3)
 * of the selected tensors, per-tensor statistics on stderr and optionally
 * as JSON, and a history step that records every parameter.
 */
#define _POSIX_C_SOURCE 200809L
#include <cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "select.h"

/* --rule 'GLOB=B' into the rules (value: the bits), or a usage error. */
static int add_rule(cli_rules *rules, const char *arg)
{
	size_t len;
	const char *value;
	int64_t b;
	int rc = cli_rule_split(&len, &value, "quantize", "BITS", arg);
	if (rc)
		return rc;
	if (cli_parse_i64(value, &b))
		return cli_usage("quantize", "--rule takes GLOB=BITS, not '%s'",
		                 arg);
	if (b < 1 || b > 8)
		return cli_usage("quantize", "--rule '%s': bits must be 1..8",
		                 arg);
	return cli_rules_add(rules, arg, len, (double)b, arg, NULL);
}

/* An integer option value in [lo, hi], or a usage error. */
static int int_opt(int *out, const char *opt, const char *s, int lo, int hi)
{
	int64_t v;
	int rc = cli_int_range(&v, "quantize", opt, s, lo, hi);
	if (!rc)
		*out = (int)v;
	return rc;
}

static const char *method(const spz_quant_options *o)
{
	return o->optimal ? "optimal" : spz_kmeans_init_name(o->init);
}

/* 80 columns: mse and max_abs_err only with --wide (and in --json). */
static void print_table(const spz_model *m, const unsigned char *sel,
                        const spz_quant_stats *st, const spz_quant_options *o)
{
	int wide = cli_opts.wide;
	size_t nw = 6;
	for (size_t i = 0; i < m->n_tensors; i++)
		if (sel[i] && cli_width(m->tensors[i].name) > nw)
			nw = cli_width(m->tensors[i].name);
	if (!wide && nw > 30)
		nw = 30;
	cli_pad(stderr, "tensor", nw, 1);
	fprintf(stderr, " %4s %-8s %10s %-9s %7s", "bits", "init",
	        "iterations", "converged", "entries");
	if (wide)
		fprintf(stderr, " %12s", "mse");
	fprintf(stderr, " %8s", "sqnr_db");
	if (wide)
		fprintf(stderr, " %12s", "max_abs_err");
	fputc('\n', stderr);
	for (size_t i = 0; i < m->n_tensors; i++) {
		if (!sel[i])
			continue;
		const spz_quant_stats *s = &st[i];
		char sq[32];
		if (isinf(s->sqnr_db))
			snprintf(sq, sizeof sq, "inf");
		else
			snprintf(sq, sizeof sq, "%.2f", s->sqnr_db);
		cli_pad(stderr, m->tensors[i].name, nw, 1);
		fprintf(stderr, " %4d %-8s %10d %-9s %7u", s->bits, method(o),
		        s->iterations, s->exact ? "exact"
		                       : s->converged ? "yes" : "no",
		        s->codebook_size);
		if (wide)
			fprintf(stderr, " %12.4e", s->mse);
		fprintf(stderr, " %8s", sq);
		if (wide)
			fprintf(stderr, " %12.4e", s->max_abs_error);
		fputc('\n', stderr);
	}
}

/* Lloyd stopped by --max-iter before the assignment settled. */
static int capped(const spz_quant_stats *s)
{
	return !s->converged && !s->exact;
}

static cJSON *report_json(const spz_model *m, const unsigned char *sel,
                          const spz_quant_stats *st,
                          const spz_quant_options *o)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddNumberToObject(j, "max_iter", o->max_iter);
	cJSON *a = cJSON_AddArrayToObject(j, "tensors");
	char b[32];
	for (size_t i = 0; i < m->n_tensors; i++) {
		if (!sel[i])
			continue;
		const spz_tensor *t = &m->tensors[i];
		const spz_quant_stats *s = &st[i];
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "name", t->name);
		cJSON_AddNumberToObject(e, "bits", s->bits);
		cJSON_AddStringToObject(e, "init", method(o));
		cJSON_AddNumberToObject(e, "iterations", s->iterations);
		cJSON_AddBoolToObject(e, "converged", s->converged);
		cJSON_AddBoolToObject(e, "stopped_at_max_iter", capped(s));
		cJSON_AddBoolToObject(e, "exact", s->exact);
		cJSON_AddNumberToObject(e, "elements", (double)s->elements);
		cJSON_AddNumberToObject(e, "nonzeros", (double)s->nonzeros);
		cJSON_AddNumberToObject(e, "mse", s->mse);
		if (isinf(s->sqnr_db))
			cJSON_AddNullToObject(e, "sqnr_db");
		else
			cJSON_AddNumberToObject(e, "sqnr_db", s->sqnr_db);
		cJSON_AddNumberToObject(e, "max_abs_error", s->max_abs_error);
		/* Shortest text that reads back to the same float. */
		cJSON *cb = cJSON_AddArrayToObject(e, "codebook");
		for (uint32_t k = 0; k < t->codebook_size; k++)
			cJSON_AddItemToArray(cb, cJSON_CreateRaw(
				spz_format_float(b, t->codebook[k])));
		cJSON_AddItemToArray(a, e);
	}
	return j;
}

static int add_history(spz_model *m, const spz_quant_options *o,
                       const cli_select *sel, const cli_rules *rules,
                       const unsigned char *on)
{
	char bits[16], iters[16], seed[32];
	snprintf(bits, sizeof bits, "%d", o->bits);
	snprintf(iters, sizeof iters, "%d", o->max_iter);
	snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed);
	const char **rv = calloc(rules->n + 1, sizeof *rv);
	const char **tv = calloc(m->n_tensors + 1, sizeof *tv);
	size_t nt = 0;
	for (size_t i = 0; i < m->n_tensors; i++)
		if (on[i])
			tv[nt++] = m->tensors[i].name;
	for (size_t i = 0; rv && i < rules->n; i++)
		rv[i] = rules->v[i].text;
	char *inc = cli_join(sel->include, sel->n_include, ",");
	char *exc = cli_join(sel->exclude, sel->n_exclude, ",");
	char *rs = rv ? cli_join(rv, rules->n, ",") : NULL;
	char *ts = tv ? cli_join(tv, nt, ",") : NULL;
	int rc = SPZ_ENOMEM;
	if (inc && exc && rs && ts) {
		spz_param p[] = {
			{"bits", bits},
			{"init", (char *)spz_kmeans_init_name(o->init)},
			{"optimal", o->optimal ? "true" : "false"},
			{"max_iter", iters},
			{"seed", seed},
			{"requantize", o->requantize ? "true" : "false"},
			{"include", inc},
			{"exclude", exc},
			{"rules", rs},
			{"tensors", ts}};
		rc = spz_model_add_step(m, "quantize", p, sizeof p / sizeof *p);
	}
	free(rv);
	free(tv);
	free(inc);
	free(exc);
	free(rs);
	free(ts);
	return rc ? cli_error("out of memory") : 0;
}

/* Says which tensors --max-iter stopped, and what to do about it
 * (wrapped at 80 columns, like every text line). */
static void note_capped(const spz_model *m, const unsigned char *sel,
                        const spz_quant_stats *st, const spz_quant_options *o)
{
	for (size_t i = 0; i < m->n_tensors; i++) {
		if (!sel[i] || !capped(&st[i]))
			continue;
		char *s = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&s, &len);
		if (!f)
			continue;
		fprintf(f, "spz quantize: '%s' stopped at --max-iter %d before "
		        "Lloyd converged; raise --max-iter (default %d) or use "
		        "--optimal", m->tensors[i].name, o->max_iter,
		        SPZ_KMEANS_MAX_ITER);
		if (!fclose(f))
			cli_print_wrapped(stderr, s, 0, 2);
		free(s);
	}
}

/* The progress line counts weights over every selected tensor; the
 * library reports the share done of the current one. */
static const char progress_what[] = "quantize";
struct progress {
	double base, n, total;
};

static void on_progress(void *ctx, double done, double total)
{
	const struct progress *p = ctx;
	cli_progress(progress_what, p->base + p->n * done / total, p->total);
}

int cmd_quantize(int argc, char **argv)
{
	static const struct option opts[] = {
		{"output", required_argument, 0, 'o'},
		{"to", required_argument, 0, 't'},
		{"bits", required_argument, 0, 'b'},
		{"init", required_argument, 0, 'i'},
		{"max-iter", required_argument, 0, 'm'},
		{"optimal", no_argument, 0, 'O'},
		{"seed", required_argument, 0, 's'},
		{"include", required_argument, 0, 'I'},
		{"exclude", required_argument, 0, 'X'},
		{"rule", required_argument, 0, 'r'},
		{"requantize", no_argument, 0, 'R'},
		CLI_COMMON_OPTIONS,
		CLI_MODEL_OUTPUT_OPTIONS,
		{0, 0, 0, 0}};
	const char *out = "-", *to = NULL, *json = NULL;
	spz_quant_options qo = SPZ_QUANT_OPTIONS_INIT;
	cli_select sel = {0};
	cli_rules rules = {0};
	spz_model *m = NULL;
	unsigned char *on = NULL;
	spz_quant_stats *st = NULL;
	double *secs = NULL;
	int c, rc = 0;
	opterr = 0;
	while (!rc && (c = getopt_long(argc, argv, ":o:" CLI_SHORT_COMMON, opts,
	                               NULL)) != -1) {
		if (cli_common_opt(c, optarg))
			continue;
		switch (c) {
		case 'o': out = optarg; break;
		case 't': to = optarg; break;
		case 'O': qo.optimal = 1; break;
		case 'R': qo.requantize = 1; break;
		case 'b':
			rc = int_opt(&qo.bits, "--bits", optarg, 1, 8);
			break;
		case 'i':
			if ((qo.init = spz_kmeans_init_parse(optarg)) < 0)
				rc = cli_usage("quantize", "unknown --init '%s' "
				               "(linear, density, random or "
				               "kmeans++)", optarg);
			break;
		case 'm':
			rc = int_opt(&qo.max_iter, "--max-iter", optarg, 0,
			             100000000);
			break;
		case 's':
			rc = cli_seed(&qo.seed, "quantize", optarg);
			break;
		case 'I':
		case 'X':
			rc = cli_select_add(&sel, "quantize", c == 'I', optarg);
			break;
		case 'r':
			rc = add_rule(&rules, optarg);
			break;
		default:
			rc = cli_opt_error("quantize", c, argv, opts);
		}
	}
	const char *in = "-";
	if (!rc && optind < argc)
		in = argv[optind++];
	if (!rc && optind < argc)
		rc = cli_usage("quantize", "expected at most one input file");
	json = cli_opts.json;
	if (!rc)
		rc = cli_report_paths("quantize", json, out);
	if (!rc)
		rc = cli_no_input("quantize", in, "a model");
	spz_file_kind kind;
	if (!rc)
		rc = cli_model_kind(&kind, "quantize", to, out);
	if (!rc)
		rc = cli_load_model(&m, in);
	if (!rc && (!(on = calloc(m->n_tensors + 1, 1)) ||
	            !(st = calloc(m->n_tensors + 1, sizeof *st)) ||
	            !(secs = calloc(m->n_tensors + 1, sizeof *secs))))
		rc = cli_error("out of memory");
	if (!rc)
		rc = cli_select_tensors(on, &sel, m, "quantize");
	if (!rc)
		rc = cli_rules_check(&rules, on, m, "quantize");
	/* Refuse before changing anything: sharing twice compounds error. */
	for (size_t i = 0; !rc && i < m->n_tensors; i++)
		if (on[i] && m->tensors[i].codebook && !qo.requantize)
			rc = cli_error("tensor '%s' is already quantized (%d "
			               "bits); pass --requantize to dequantize "
			               "and quantize it again",
			               m->tensors[i].name, m->tensors[i].bits);
	/* Progress by weights done: the tensors are quantized one by one. */
	struct progress pg = {0, 0, 0};
	for (size_t i = 0; !rc && i < m->n_tensors; i++)
		if (on[i])
			pg.total += (double)spz_tensor_elements(&m->tensors[i]);
	for (size_t i = 0; !rc && i < m->n_tensors; i++) {
		if (!on[i])
			continue;
		pg.base += pg.n;
		pg.n = (double)spz_tensor_elements(&m->tensors[i]);
		cli_progress(progress_what, pg.base, pg.total);
		spz_quant_options tq = qo;
		tq.progress = on_progress;
		tq.progress_ctx = &pg;
		const cli_rule *k = cli_rules_find(&rules, m->tensors[i].name);
		if (k)
			tq.bits = (int)k->value;
		spz_error err = {0};
		double t0 = cli_now();
		if (spz_quantize_tensor(&st[i], &m->tensors[i], &tq, &err))
			rc = cli_fail(&err);
		secs[i] = cli_elapsed(t0);
	}
	cli_progress_end();
	if (!rc)
		rc = add_history(m, &qo, &sel, &rules, on);
	/* The table is printed last, so a failure prints one line only. */
	if (!rc)
		rc = cli_save_with_report(m, out, kind, json,
		                          json ? report_json(m, on, st, &qo)
		                               : NULL);
	if (!rc && !cli_opts.quiet) {
		print_table(m, on, st, &qo);
		note_capped(m, on, st, &qo);
	}
	/* -v: what each tensor cost (after the table: the progress line is
	 * gone by then). */
	for (size_t i = 0; !rc && i < m->n_tensors; i++)
		if (on[i])
			cli_note("'%s': %lld non-zeros, %d %s steps in %.3f s",
			         m->tensors[i].name,
			         (long long)st[i].nonzeros, st[i].iterations,
			         qo.optimal ? "settling" : "Lloyd", secs[i]);
	cli_rules_free(&rules);
	cli_select_free(&sel);
	free(on);
	free(st);
	free(secs);
	spz_model_free(m);
	return rc;
}
