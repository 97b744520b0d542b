/*
 * eval.c - spz eval: accuracy of a model (float32 forward pass) or an EIE
 * image (16-bit fixed point, optionally on the cycle-level emulator) on a
 * data set: top-1, cross-entropy, per-class accuracy, confusion matrix,
 * each layer's input activation density, and agreement with a reference.
 */
#include <cJSON.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"

struct eval_opts {
	spz_data_options data;
	const char *file, *reference, *frac_s, *activity_out;
	int emulate;
	double clock;
	uint64_t fifo;
};

struct result {
	const spz_dataset *d;
	struct subject *s;
	spz_metrics *metrics;     /* NULL without labels */
	int have_ref;
	spz_agreement agree;
	const spz_forward_layer *layers;
	size_t n_layers;
};

static double pct(uint64_t a, uint64_t b)
{
	return b ? 100.0 * (double)a / (double)b : 0;
}

static uint64_t class_total(const spz_metrics *m, size_t c)
{
	uint64_t t = 0;
	for (size_t j = 0; j < m->classes; j++)
		t += m->confusion[c * m->classes + j];
	return t;
}

static cJSON *result_json(const struct result *r, const struct eval_opts *o)
{
	const struct subject *s = r->s;
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "file", o->file);
	cJSON_AddStringToObject(j, "kind", s->image ? "eie-image" : "model");
	cJSON_AddNumberToObject(j, "samples", (double)r->d->n);
	cJSON_AddNumberToObject(j, "outputs", (double)s->outputs);
	const spz_metrics *m = r->metrics;
	if (m) {
		cJSON_AddNumberToObject(j, "accuracy",
		                        (double)m->correct / (double)m->samples);
		cJSON_AddNumberToObject(j, "correct", (double)m->correct);
		cJSON_AddNumberToObject(j, "cross_entropy",
		                        m->ce_sum / (double)m->samples);
		cJSON_AddStringToObject(j, "cross_entropy_of",
		                        s->fwd && spz_forward_is_probability(s->fwd)
		                                ? "probabilities" : "logits");
		cJSON *pc = cJSON_AddArrayToObject(j, "per_class");
		cJSON *cm = cJSON_AddArrayToObject(j, "confusion");
		for (size_t c = 0; c < m->classes; c++) {
			cJSON *x = cJSON_CreateObject();
			uint64_t t = class_total(m, c);
			uint64_t ok = m->confusion[c * m->classes + c];
			cJSON_AddNumberToObject(x, "class", (double)c);
			cJSON_AddNumberToObject(x, "samples", (double)t);
			cJSON_AddNumberToObject(x, "correct", (double)ok);
			if (t)
				cJSON_AddNumberToObject(x, "accuracy",
				                        (double)ok / (double)t);
			else
				cJSON_AddNullToObject(x, "accuracy");
			cJSON_AddItemToArray(pc, x);
			cJSON *row = cJSON_CreateArray();
			for (size_t k = 0; k < m->classes; k++)
				cJSON_AddItemToArray(row, cJSON_CreateNumber(
					(double)m->confusion[c * m->classes + k]));
			cJSON_AddItemToArray(cm, row);
		}
	} else {
		cJSON_AddNullToObject(j, "accuracy");
	}
	/* The shape `spz report --activity` reads: layers[].name and
	 * layers[].act_density_in. */
	cJSON *ls = cJSON_AddArrayToObject(j, "layers");
	for (size_t l = 0; l < r->n_layers; l++) {
		cJSON *x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "name", r->layers[l].node);
		cJSON_AddNumberToObject(x, "act_density_in",
		                        r->layers[l].act_in
		                                ? (double)r->layers[l].act_in_nonzero /
		                                          (double)r->layers[l].act_in
		                                : 0);
		cJSON_AddItemToArray(ls, x);
	}
	if (s->image) {
		cJSON *fx = cJSON_AddObjectToObject(j, "fixed_point");
		cJSON *fr = cJSON_AddArrayToObject(fx, "act_frac_bits");
		for (size_t l = 0; l <= s->image->n_layers; l++)
			cJSON_AddItemToArray(fr, cJSON_CreateNumber(s->frac[l]));
		cJSON_AddStringToObject(fx, "act_frac_bits_from",
		                        o->frac_s ? "option" : "calibration");
	} else {
		cJSON_AddNullToObject(j, "fixed_point");
	}
	if (s->emu) {
		const spz_emu_stats *st = spz_emu_stats_get(s->emu);
		cJSON *em = cJSON_AddObjectToObject(j, "emulator");
		cJSON_AddNumberToObject(em, "cycles", (double)st->cycles);
		cJSON_AddNumberToObject(em, "cycles_per_sample",
		                        (double)st->cycles / (double)st->runs);
		cJSON_AddNumberToObject(em, "time_us", st->time_us);
		cJSON_AddNumberToObject(em, "time_us_per_sample",
		                        st->time_us / (double)st->runs);
		cJSON_AddNumberToObject(em, "energy_pj", st->energy_pj);
		cJSON_AddNumberToObject(em, "saturations", (double)s->saturations);
		cJSON_AddNumberToObject(em, "clock_mhz", o->clock);
		cJSON_AddNumberToObject(em, "fifo_depth", (double)o->fifo);
	} else {
		cJSON_AddNullToObject(j, "emulator");
	}
	if (r->have_ref) {
		cJSON *rf = cJSON_AddObjectToObject(j, "reference");
		cJSON_AddStringToObject(rf, "file", o->reference);
		cJSON_AddNumberToObject(rf, "agreement",
		                        (double)r->agree.agree /
		                                (double)r->agree.samples);
		cJSON_AddNumberToObject(rf, "agree", (double)r->agree.agree);
		cJSON_AddNumberToObject(rf, "max_rel_error", r->agree.max_rel);
		cJSON_AddNumberToObject(rf, "mean_rel_error",
		                        r->agree.sum_rel /
		                                (double)r->agree.samples);
		cJSON_AddNumberToObject(rf, "max_abs_error", r->agree.max_abs);
	} else {
		cJSON_AddNullToObject(j, "reference");
	}
	return j;
}

static void print_text(const struct result *r, const struct eval_opts *o)
{
	const struct subject *s = r->s;
	const spz_metrics *m = r->metrics;
	char head[4200];
	snprintf(head, sizeof head, "spz eval: '%.4000s' (%s) on %zu sample%s, "
	         "%zu outputs", o->file,
	         s->image ? (s->emu ? "EIE image, emulated" : "EIE image, fixed "
	                                                     "point")
	                  : "model, float32",
	         r->d->n, r->d->n == 1 ? "" : "s", s->outputs);
	cli_print_wrapped(stdout, head, 0, 2);
	if (m) {
		printf("top-1 accuracy  %.2f%% (%" PRIu64 " of %" PRIu64 ")\n",
		       pct(m->correct, m->samples), m->correct, m->samples);
		printf("cross-entropy   %.4f\n", m->ce_sum / (double)m->samples);
		if (m->classes <= 12) {
			printf("per class      ");
			size_t col = 15;
			for (size_t c = 0; c < m->classes; c++) {
				char w[48];
				snprintf(w, sizeof w, "%zu:%.1f%%", c,
				         pct(m->confusion[c * m->classes + c],
				             class_total(m, c)));
				cli_put_word(stdout, &col, 16, " ", w);
			}
			printf("\n");
			printf("confusion (rows: true class, columns: predicted)\n");
			printf("%5s", "");
			for (size_t c = 0; c < m->classes; c++)
				printf(" %5zu", c);
			printf("\n");
			for (size_t c = 0; c < m->classes; c++) {
				printf("%5zu", c);
				for (size_t k = 0; k < m->classes; k++)
					printf(" %5" PRIu64,
					       m->confusion[c * m->classes + k]);
				printf("\n");
			}
		} else {
			printf("per class and confusion matrix: %zu classes, see "
			       "--json\n", m->classes);
		}
	}
	if (r->n_layers) {
		printf("input activation density per layer:");
		size_t col = 35;
		for (size_t l = 0; l < r->n_layers; l++) {
			char w[256];
			snprintf(w, sizeof w, "%s %.1f%%", r->layers[l].node,
			         pct(r->layers[l].act_in_nonzero,
			             r->layers[l].act_in));
			cli_put_word(stdout, &col, 2, " ", w);
		}
		printf("\n");
	}
	if (s->image) {
		printf("activation Q formats (fraction bits, %s):",
		       o->frac_s ? "given" : "calibrated on these samples");
		for (size_t l = 0; l <= s->image->n_layers; l++)
			printf("%s%d", l ? "," : " ", s->frac[l]);
		printf("\n");
	}
	if (s->emu) {
		const spz_emu_stats *st = spz_emu_stats_get(s->emu);
		printf("emulator        %" PRIu64 " cycles, %.1f per sample, "
		       "%.3f us per sample at %g MHz, %" PRIu64 " saturations\n",
		       st->cycles, (double)st->cycles / (double)st->runs,
		       st->time_us / (double)st->runs, o->clock, s->saturations);
	}
	if (r->have_ref)
		printf("against '%s': top-1 agreement %.2f%%, relative error max "
		       "%.3g mean %.3g\n", o->reference,
		       pct(r->agree.agree, r->agree.samples), r->agree.max_rel,
		       r->agree.sum_rel / (double)r->agree.samples);
	if (m)
		printf("accuracy %.2f%% on %zu samples\n",
		       pct(m->correct, m->samples), r->d->n);
	else
		printf("no labels: %zu samples evaluated\n", r->d->n);
}

/* --activity-out: every layer's input zero pattern, sample by sample,
 * filled by the forward pass's hook (batches arrive in sample order). */
struct recorder {
	spz_activity act;
	size_t *filled;          /* samples recorded per layer */
};

static int record(void *ctx, size_t layer, const float *a,
                  const int64_t *dims, int ndims, spz_error *err)
{
	struct recorder *r = ctx;
	spz_activity_layer *l = &r->act.layers[layer];
	int64_t b = dims[0], c = 1, h = 1, w = 1;
	if (ndims == 4) {
		c = dims[1];
		h = dims[2];
		w = dims[3];
	} else {
		for (int i = 1; i < ndims; i++)
			c *= dims[i];
	}
	if (c < 1 || h < 1 || w < 1 || c > INT32_MAX || h > INT32_MAX ||
	    w > INT32_MAX)
		return spz_fail(err, SPZ_ERANGE, "layer '%s': an input of "
		                "%lldx%lldx%lld does not fit an activity file",
		                l->name, (long long)c, (long long)h,
		                (long long)w);
	size_t chw = (size_t)c * (size_t)h * (size_t)w;
	if (!l->mask) {
		l->c = (uint32_t)c;
		l->h = (uint32_t)h;
		l->w = (uint32_t)w;
		if (chw > SIZE_MAX / r->act.n_samples ||
		    !(l->mask = malloc(chw * r->act.n_samples)))
			return spz_fail(err, SPZ_ENOMEM, "out of memory");
	}
	if (l->c != (uint32_t)c || l->h != (uint32_t)h || l->w != (uint32_t)w ||
	    b < 0 || r->filled[layer] + (size_t)b > r->act.n_samples)
		return spz_fail(err, SPZ_EINVAL, "layer '%s': the input's shape "
		                "changed between batches", l->name);
	uint8_t *m = l->mask + r->filled[layer] * chw;
	for (size_t k = 0; k < (size_t)b * chw; k++)
		m[k] = a[k] != 0;
	r->filled[layer] += (size_t)b;
	return 0;
}

static void recorder_free(struct recorder *r)
{
	for (size_t i = 0; i < r->act.n_layers; i++) {
		free(r->act.layers[i].name);
		free(r->act.layers[i].mask);
	}
	free(r->act.layers);
	free(r->filled);
	memset(r, 0, sizeof *r);
}

/* One named layer per forward layer; shapes come with the first batch. */
static int recorder_init(struct recorder *r, const struct subject *s,
                         size_t samples, const char *path)
{
	size_t n;
	const spz_forward_layer *fl = spz_forward_layers(s->fwd, &n);
	if (!n)
		return cli_error("'%s' has no Gemm, MatMul or Conv layer to "
		                 "record for --activity-out", path);
	if (samples > INT32_MAX)
		return cli_error("--activity-out holds at most 2147483647 "
		                 "samples, not %zu", samples);
	r->act.n_samples = (uint32_t)samples;
	r->act.n_layers = n;
	r->act.layers = calloc(n, sizeof *r->act.layers);
	r->filled = calloc(n, sizeof *r->filled);
	if (!r->act.layers || !r->filled)
		return cli_error("out of memory");
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(fl[i].node) + 1;
		if (!(r->act.layers[i].name = malloc(len)))
			return cli_error("out of memory");
		memcpy(r->act.layers[i].name, fl[i].node, len);
	}
	spz_forward_set_act_hook(s->fwd, record, r);
	return 0;
}

static int parse_args(struct eval_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_DATA_LONGOPTS,
		{"reference", required_argument, 0, 'r'},
		{"emulate", no_argument, 0, 'e'},
		{"act-frac-bits", required_argument, 0, 'a'},
		{"clock-mhz", required_argument, 0, 'c'},
		{"fifo", required_argument, 0, 'f'},
		CLI_COMMON_OPTIONS,
		{"activity-out", required_argument, 0, 'A'},
		{0, 0, 0, 0}};
	int c;
	int64_t v;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":" CLI_SHORT_COMMON, opts,
	                        NULL)) != -1) {
		int t = cli_data_option(&o->data, "eval", c, optarg);
		if (t < 0)
			return EXIT_USAGE;
		if (t || cli_common_opt(c, optarg))
			continue;
		switch (c) {
		case 'r': o->reference = optarg; break;
		case 'e': o->emulate = 1; break;
		case 'a': o->frac_s = optarg; break;
		case 'A': o->activity_out = optarg; break;
		case 'c':
			if (cli_parse_double(optarg, &o->clock) || !(o->clock > 0))
				return cli_usage("eval", "--clock-mhz takes a number "
				                 "above 0, not '%s'", optarg);
			break;
		case 'f':
			if (cli_int_range(&v, "eval", "--fifo", optarg, 1, 65536))
				return EXIT_USAGE;
			o->fifo = (uint64_t)v;
			break;
		default:
			return cli_opt_error("eval", c, argv, opts);
		}
	}
	if (optind == argc - 2 && cli_opts.json_bare)
		return cli_usage("eval", "expected one model or image; --json "
		                 "writes to a file as --json=FILE, not '%s'",
		                 argv[argc - 1]);
	if (optind != argc - 1)
		return cli_usage("eval", "expected one model or image file");
	o->file = argv[optind];
	if (cli_no_input("eval", o->file, "a model or an image"))
		return EXIT_USAGE;
	return cli_data_check(&o->data, "eval");
}

int cmd_eval(int argc, char **argv)
{
	struct eval_opts o = {0};
	spz_data_options dflt = SPZ_DATA_OPTIONS_INIT;
	o.data = dflt;
	o.clock = 800;
	o.fifo = 8;
	int rc = parse_args(&o, argc, argv);
	if (rc)
		return rc;
	spz_emu_options eo = SPZ_EMU_OPTIONS_INIT;
	eo.clock_mhz = o.clock;
	eo.fifo_depth = (uint32_t)o.fifo;
	spz_dataset *d = NULL;
	struct subject s = {0}, ref = {0};
	float *y = NULL, *yr = NULL;
	struct result r = {0};
	spz_error err = {0};
	struct recorder rec = {0};
	if ((rc = cli_data_load(&d, &o.data)))
		return rc;
	r.d = d;
	r.s = &s;
	if ((rc = subject_open(&s, "eval", o.file, d, o.frac_s, o.emulate, &eo)))
		goto done;
	if (o.activity_out && s.image) {
		rc = cli_usage("eval", "--activity-out records the float "
		               "forward pass of a model, not an EIE image");
		goto done;
	}
	if (o.activity_out && (rc = recorder_init(&rec, &s, d->n, o.file)))
		goto done;
	if ((rc = subject_run(&s, &y, d)))
		goto done;
	if (o.activity_out) {
		spz_forward_set_act_hook(s.fwd, NULL, NULL);
		spz_error ae = {0};
		if (spz_activity_save(&rec.act, o.activity_out, &ae)) {
			rc = cli_fail(&ae);
			goto done;
		}
	}
	if (s.image) {
		r.layers = s.layers;
		r.n_layers = s.n_layers;
	} else {
		r.layers = spz_forward_layers(s.fwd, &r.n_layers);
	}
	if (d->labels) {
		if (spz_metrics_new(&r.metrics, s.outputs, &err)) {
			rc = cli_error("'%s': %s", o.file, err.text);
			goto done;
		}
		if (spz_metrics_add(r.metrics, y, d->labels, d->n,
		                    s.fwd && spz_forward_is_probability(s.fwd),
		                    &err)) {
			rc = cli_error("'%s': %s", o.file, err.text);
			goto done;
		}
	}
	if (o.reference) {
		if ((rc = subject_open(&ref, "eval", o.reference, d, NULL, 0, &eo)))
			goto done;
		if (ref.outputs != s.outputs) {
			rc = cli_error("'%s' gives %zu outputs, '%s' %zu",
			               o.reference, ref.outputs, o.file, s.outputs);
			goto done;
		}
		if ((rc = subject_run(&ref, &yr, d)))
			goto done;
		spz_agreement_add(&r.agree, y, yr, d->n, s.outputs);
		r.have_ref = 1;
	}
	if (cli_opts.json) {
		rc = cli_print_json_to(result_json(&r, &o), cli_opts.json);
		if (rc)
			goto done;
	}
	if (!cli_opts.quiet && !(cli_opts.json && !strcmp(cli_opts.json, "-")))
		print_text(&r, &o);
done:
	spz_metrics_free(r.metrics);
	subject_close(&s);
	subject_close(&ref);
	recorder_free(&rec);
	spz_dataset_free(d);
	free(y);
	free(yr);
	return rc;
}
