/*
 * sensitivity.c - spz sensitivity: prunes (magnitude, N:M) or quantizes
 * one weight tensor at a time, the others untouched, and evaluates the
 * model's top-1 accuracy on a data set at every level (Distiller's
 * sensitivity analysis). Table text, --json, --csv, --png plot.
 */
#include <cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"

enum kind { LV_SPARSITY, LV_NM, LV_BITS };

struct level {
	enum kind kind;
	double sparsity;
	int n, m, bits;
	char label[16];
};

struct sens_opts {
	spz_data_options data;
	const char *file, *csv_path, *png;
	int csv;
	struct level *levels;
	size_t n_levels;
};

static int add_level(struct sens_opts *o, struct level l)
{
	struct level *n = realloc(o->levels, (o->n_levels + 1) * sizeof *n);
	if (!n)
		return -1;
	o->levels = n;
	o->levels[o->n_levels++] = l;
	return 0;
}

/* Comma-separated list; each item through one parser. */
static int parse_list(struct sens_opts *o, const char *s, enum kind k)
{
	char buf[64];
	while (*s) {
		const char *c = strchr(s, ',');
		size_t len = c ? (size_t)(c - s) : strlen(s);
		if (len == 0 || len >= sizeof buf)
			return -1;
		memcpy(buf, s, len);
		buf[len] = 0;
		struct level l = {k, 0, 0, 0, 0, ""};
		int64_t v;
		if (k == LV_SPARSITY) {
			if (cli_parse_double(buf, &l.sparsity) ||
			    !(l.sparsity >= 0 && l.sparsity < 1))
				return -1;
			snprintf(l.label, sizeof l.label, "%g%%", 100 * l.sparsity);
		} else {
			if (cli_parse_i64(buf, &v) || v < 1 || v > 8)
				return -1;
			l.bits = (int)v;
			snprintf(l.label, sizeof l.label, "%db", l.bits);
		}
		if (add_level(o, l))
			return -2;
		s += len + (c ? 1 : 0);
		if (c && !*s)
			return -1;
	}
	return 0;
}

static int parse_args(struct sens_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_DATA_LONGOPTS,
		{"sparsities", required_argument, 0, 's'},
		{"nm", required_argument, 0, 'n'},
		{"bits", required_argument, 0, 'b'},
		{"csv", optional_argument, 0, 'c'},
		{"png", required_argument, 0, 'p'},
		CLI_COMMON_OPTIONS,
		{0, 0, 0, 0}};
	const char *sp = NULL, *nm = NULL, *bits = NULL;
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":" CLI_SHORT_COMMON, opts,
	                        NULL)) != -1) {
		int t = cli_data_option(&o->data, "sensitivity", c, optarg);
		if (t < 0)
			return EXIT_USAGE;
		if (t || cli_common_opt(c, optarg))
			continue;
		switch (c) {
		case 's': sp = optarg; break;
		case 'n': nm = optarg; break;
		case 'b': bits = optarg; break;
		case 'p': o->png = optarg; break;
		case 'c':
			o->csv = 1;
			o->csv_path = optarg;
			break;
		default:
			return cli_opt_error("sensitivity", c, argv, opts);
		}
	}
	if (optind != argc - 1)
		return cli_usage("sensitivity", "expected one model file%s",
		                 cli_opts.json_bare ||
		                                 (o->csv && !o->csv_path)
		                         ? " (--json and --csv write to a file "
		                           "as --json=FILE, --csv=FILE)"
		                         : "");
	o->file = argv[optind];
	if (cli_no_input("sensitivity", o->file, "a model"))
		return EXIT_USAGE;
	int rc = cli_data_check(&o->data, "sensitivity");
	if (rc)
		return rc;
	if (!sp && !nm && !bits)
		sp = "0.5,0.7,0.8,0.9,0.95";
	if (sp && (rc = parse_list(o, sp, LV_SPARSITY)))
		return rc == -2 ? cli_error("out of memory")
		                : cli_usage("sensitivity", "--sparsities takes "
		                            "numbers in [0, 1) separated by "
		                            "commas, not '%s'", sp);
	if (nm) {
		int64_t n, m;
		if (cli_parse_pair(nm, ':', &n, &m) || n < 1 || m > 16 || n >= m)
			return cli_usage("sensitivity", "--nm takes N:M with 1 <= N "
			                 "< M <= 16, not '%s'", nm);
		struct level l = {LV_NM, 0, (int)n, (int)m, 0, ""};
		snprintf(l.label, sizeof l.label, "%d:%d", l.n, l.m);
		if (add_level(o, l))
			return cli_error("out of memory");
	}
	if (bits && (rc = parse_list(o, bits, LV_BITS)))
		return rc == -2 ? cli_error("out of memory")
		                : cli_usage("sensitivity", "--bits takes integers "
		                            "1..8 separated by commas, not '%s'",
		                            bits);
	int outs = (cli_opts.json && !strcmp(cli_opts.json, "-")) +
	           (o->csv && (!o->csv_path || !strcmp(o->csv_path, "-"))) +
	           (o->png && !strcmp(o->png, "-"));
	if (outs > 1)
		return cli_usage("sensitivity", "only one of --json, --csv and "
		                 "--png can write to standard output");
	return 0;
}

/* The weights of w (a copy of tensor t's values) after level l. */
static int apply(float *w, const spz_model *m, const spz_tensor *t,
                 const struct level *l, spz_error *err)
{
	int64_t n = spz_tensor_elements(t);
	spz_prune_stats st;
	if (l->kind == LV_SPARSITY) {
		int64_t k = (int64_t)llround(l->sparsity * (double)n);
		return spz_prune_magnitude(&st, &w, &n, 1, k, err);
	}
	if (l->kind == LV_NM) {
		int dim = spz_model_reduction_dim(m, t);
		return spz_prune_nm(&st, w, t->dims, t->ndims, dim, l->n, l->m,
		                    SPZ_NM_PARTIAL_PRUNE, err);
	}
	spz_model *tmp;
	spz_tensor *q;
	int rc = spz_model_new(&tmp, "tmp");
	if (rc)
		return spz_fail(err, rc, "out of memory");
	rc = spz_model_add_tensor(&q, tmp, t->name, t->dims, t->ndims, w, err);
	spz_quant_options qo = SPZ_QUANT_OPTIONS_INIT;
	qo.bits = l->bits;
	if (!rc)
		rc = spz_quantize_tensor(NULL, q, &qo, err);
	for (int64_t i = 0; !rc && i < n; i++)
		w[i] = spz_tensor_value(q, i);
	spz_model_free(tmp);
	return rc;
}

static double accuracy(struct subject *s, const spz_dataset *d, float *y,
                       spz_metrics *mt, int *rc)
{
	spz_error err = {0};
	memset(mt->confusion, 0, mt->classes * mt->classes * sizeof(uint64_t));
	mt->samples = mt->correct = 0;
	mt->ce_sum = 0;
	if (spz_forward_run(s->fwd, y, d->x, d->n, &err) ||
	    spz_metrics_add(mt, y, d->labels, d->n,
	                    spz_forward_is_probability(s->fwd), &err)) {
		*rc = cli_error("'%s': %s", s->path, err.text);
		return 0;
	}
	return (double)mt->correct / (double)mt->samples;
}

static int write_text(spz_output *out, const char *path, const char *text)
{
	spz_error err = {0};
	if (spz_output_open(out, path, &err))
		return cli_fail(&err);
	fputs(text, out->f);
	if (spz_output_commit(out, &err))
		return cli_fail(&err);
	return 0;
}

int cmd_sensitivity(int argc, char **argv)
{
	struct sens_opts o = {0};
	spz_data_options dflt = SPZ_DATA_OPTIONS_INIT;
	o.data = dflt;
	int rc = parse_args(&o, argc, argv);
	if (rc) {
		free(o.levels);
		return rc;
	}
	spz_dataset *d = NULL;
	struct subject s = {0};
	spz_metrics *mt = NULL;
	float *y = NULL, *w = NULL;
	double *acc = NULL;
	const spz_tensor **ws = NULL;
	size_t nw = 0;
	char *csv = NULL, *json = NULL;
	spz_output oj = {0}, oc = {0};
	spz_rgb *img = NULL;
	unsigned char *png = NULL;
	size_t png_len = 0;
	spz_error err = {0};
	if ((rc = cli_data_load(&d, &o.data)))
		goto done;
	if (!d->labels) {
		rc = cli_usage("sensitivity", "accuracy needs labels: --data DIR "
		               "or --y FILE");
		goto done;
	}
	if ((rc = subject_open(&s, "sensitivity", o.file, d, NULL, 0, NULL)))
		goto done;
	if (!s.model) {
		rc = cli_error("'%s' is an image; spz sensitivity prunes and "
		               "quantizes a model", o.file);
		goto done;
	}
	ws = calloc(s.model->n_tensors + 1, sizeof *ws);
	if (!ws || spz_metrics_new(&mt, s.outputs, &err) ||
	    !(y = malloc(d->n * s.outputs * sizeof *y))) {
		rc = cli_error("out of memory");
		goto done;
	}
	for (size_t i = 0; i < s.model->n_tensors; i++)
		if (spz_model_is_weight(s.model, &s.model->tensors[i], NULL))
			ws[nw++] = &s.model->tensors[i];
	if (!nw) {
		rc = cli_error("'%s' has no weight tensor (Gemm, MatMul or Conv)",
		               o.file);
		goto done;
	}
	size_t nl = o.n_levels;
	acc = calloc(nw * nl + 1, sizeof *acc);
	if (!acc) {
		rc = cli_error("out of memory");
		goto done;
	}
	double base = accuracy(&s, d, y, mt, &rc);
	if (rc)
		goto done;
	for (size_t t = 0; t < nw; t++) {
		int64_t n = spz_tensor_elements(ws[t]);
		free(w);
		if (!(w = malloc((size_t)(n ? n : 1) * sizeof *w))) {
			rc = cli_error("out of memory");
			goto done;
		}
		for (size_t l = 0; l < nl; l++) {
			cli_progress("sensitivity", t * nl + l + 1, nw * nl);
			for (int64_t i = 0; i < n; i++)
				w[i] = spz_tensor_value(ws[t], i);
			if (apply(w, s.model, ws[t], &o.levels[l], &err) ||
			    spz_forward_set_tensor(s.fwd, ws[t]->name, w, &err)) {
				cli_progress_end();
				rc = cli_error("'%s': tensor '%s' at %s: %s", o.file,
				               ws[t]->name, o.levels[l].label, err.text);
				goto done;
			}
			acc[t * nl + l] = accuracy(&s, d, y, mt, &rc);
			if (rc)
				goto done;
		}
		spz_forward_set_tensor(s.fwd, ws[t]->name, NULL, &err);
	}
	cli_progress_end();

	/* CSV and JSON. */
	size_t cap = 256 + nw * (nl + 2) * 64, len = 0;
	if (!(csv = malloc(cap))) {
		rc = cli_error("out of memory");
		goto done;
	}
	len += (size_t)snprintf(csv + len, cap - len, "tensor,kind,level,"
	                        "accuracy,baseline\n");
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "model", o.file);
	cJSON_AddNumberToObject(j, "samples", (double)d->n);
	cJSON_AddNumberToObject(j, "baseline", base);
	cJSON *ja = cJSON_AddArrayToObject(j, "tensors");
	static const char *kinds[] = {"sparsity", "nm", "bits"};
	for (size_t t = 0; t < nw; t++) {
		cJSON *x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "name", ws[t]->name);
		cJSON *lv = cJSON_AddArrayToObject(x, "levels");
		for (size_t l = 0; l < nl; l++) {
			const struct level *L = &o.levels[l];
			cJSON *e = cJSON_CreateObject();
			cJSON_AddStringToObject(e, "kind", kinds[L->kind]);
			cJSON_AddStringToObject(e, "level", L->label);
			if (L->kind == LV_SPARSITY)
				cJSON_AddNumberToObject(e, "sparsity", L->sparsity);
			else if (L->kind == LV_NM) {
				cJSON_AddNumberToObject(e, "n", L->n);
				cJSON_AddNumberToObject(e, "m", L->m);
			} else {
				cJSON_AddNumberToObject(e, "bits", L->bits);
			}
			cJSON_AddNumberToObject(e, "accuracy", acc[t * nl + l]);
			cJSON_AddItemToArray(lv, e);
			len += (size_t)snprintf(csv + len, cap - len, "%s,%s,%s,%.6f,"
			                        "%.6f\n", ws[t]->name, kinds[L->kind],
			                        L->label, acc[t * nl + l], base);
		}
		cJSON_AddItemToArray(ja, x);
	}
	json = cJSON_Print(j);
	cJSON_Delete(j);
	if (!json) {
		rc = cli_error("out of memory");
		goto done;
	}
	/* The plot: accuracy against sparsity, one line per tensor. */
	if (o.png) {
		size_t nx = 0;
		double *xs = calloc(nl + 1, sizeof *xs);
		double *ys = calloc(nw * (nl + 1), sizeof *ys);
		const char **names = calloc(nw, sizeof *names);
		if (!xs || !ys || !names) {
			free(xs);
			free(ys);
			free(names);
			rc = cli_error("out of memory");
			goto done;
		}
		xs[nx++] = 0;
		for (size_t t = 0; t < nw; t++)
			ys[t * (nl + 1)] = base;
		for (size_t l = 0; l < nl; l++) {
			if (o.levels[l].kind != LV_SPARSITY)
				continue;
			xs[nx] = o.levels[l].sparsity;
			for (size_t t = 0; t < nw; t++)
				ys[t * (nl + 1) + nx] = acc[t * nl + l];
			nx++;
		}
		/* Rows of nl + 1 values: compact to nx per series. */
		for (size_t t = 0; t < nw; t++) {
			memmove(ys + t * nx, ys + t * (nl + 1), nx * sizeof *ys);
			names[t] = ws[t]->name;
		}
		if (nx < 2)
			rc = cli_usage("sensitivity", "--png plots accuracy against "
			               "sparsity: give --sparsities");
		else if (spz_figure_lines(&img, xs, nx, ys, nw, names,
		                          "ACCURACY PER PRUNED TENSOR",
		                          "SPARSITY OF THE ONE PRUNED TENSOR",
		                          "TOP-1 ACCURACY", &err) ||
		         spz_png_encode(&png, &png_len, img->pixels, img->width,
		                        img->height, &err))
			rc = cli_fail(&err);
		free(xs);
		free(ys);
		free(names);
		if (rc)
			goto done;
	}
	/* Outputs: each one written atomically; text unless stdout is
	 * taken. */
	if (cli_opts.json && (rc = write_text(&oj, cli_opts.json, json)))
		goto done;
	if (o.csv && (rc = write_text(&oc, o.csv_path ? o.csv_path : "-", csv)))
		goto done;
	if (o.png) {
		spz_output op = {0};
		if (spz_output_open(&op, o.png, &err)) {
			rc = cli_fail(&err);
			goto done;
		}
		fwrite(png, 1, png_len, op.f);
		if (spz_output_commit(&op, &err)) {
			spz_output_abort(&op);
			rc = cli_fail(&err);
			goto done;
		}
	}
	int stdout_taken = (cli_opts.json && !strcmp(cli_opts.json, "-")) ||
	                   (o.csv && (!o.csv_path || !strcmp(o.csv_path, "-"))) ||
	                   (o.png && !strcmp(o.png, "-"));
	if (!cli_opts.quiet && !stdout_taken) {
		char head[4200];
		snprintf(head, sizeof head, "spz sensitivity: '%.4000s' on %zu "
		         "samples, baseline top-1 %.2f%%", o.file, d->n,
		         100 * base);
		cli_print_wrapped(stdout, head, 0, 2);
		/* Blocks of at most 8 level columns keep 80 columns. */
		for (size_t b0 = 0; b0 < nl; b0 += 8) {
			size_t b1 = b0 + 8 < nl ? b0 + 8 : nl;
			printf("%-20s", "tensor");
			for (size_t l = b0; l < b1; l++)
				printf(" %6s", o.levels[l].label);
			printf("\n");
			for (size_t t = 0; t < nw; t++) {
				printf("%-20.20s", ws[t]->name);
				for (size_t l = b0; l < b1; l++)
					printf(" %5.1f%%", 100 * acc[t * nl + l]);
				printf("\n");
			}
		}
		size_t wt = 0, wl = 0;
		for (size_t i = 0; i < nw * nl; i++)
			if (acc[i] < acc[wt * nl + wl]) {
				wt = i / nl;
				wl = i % nl;
			}
		printf("most sensitive: '%s' at %s, %.2f%% (baseline %.2f%%)\n",
		       ws[wt]->name, o.levels[wl].label, 100 * acc[wt * nl + wl],
		       100 * base);
	}
done:
	spz_output_abort(&oj);
	spz_output_abort(&oc);
	spz_rgb_free(img);
	free(png);
	free(csv);
	free(json);
	free(acc);
	free(w);
	free(y);
	free(ws);
	spz_metrics_free(mt);
	subject_close(&s);
	spz_dataset_free(d);
	free(o.levels);
	return rc;
}
