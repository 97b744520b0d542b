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
	const char *file, *reference, *json_path, *frac_s;
	int json, emulate, quiet;
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
		{0, 0, 0, 0}};
	int c;
	int64_t v;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":" CLI_SHORT_COMMON, opts,
	                        NULL)) != -1) {
		int t = cli_data_option(&o->data, "eval", c, optarg);
		if (t < 0)
			return EXIT_USAGE;
		if (t)
			continue;
		switch (c) {
		case 'r': o->reference = optarg; break;
		case CLI_OPT_JSON:
			cli_common_opt(c, optarg);
			o->json = 1;
			o->json_path = optarg;
			break;
		case 'e': o->emulate = 1; break;
		case 'a': o->frac_s = optarg; break;
		case 'q':
		case 'v':
		case CLI_OPT_WIDE:
			cli_common_opt(c, optarg);
			o->quiet = cli_opts.quiet;
			break;
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
	if (optind == argc - 2 && o->json && !o->json_path)
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
	spz_output js = {0};
	spz_error err = {0};
	if ((rc = cli_data_load(&d, &o.data)))
		return rc;
	r.d = d;
	r.s = &s;
	if ((rc = subject_open(&s, "eval", o.file, d, o.frac_s, o.emulate, &eo)))
		goto done;
	if ((rc = subject_run(&s, &y, d)))
		goto done;
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
	if (o.json) {
		spz_error oe = {0};
		if (spz_output_open(&js, o.json_path ? o.json_path : "-", &oe)) {
			rc = cli_fail(&oe);
			goto done;
		}
		cJSON *j = result_json(&r, &o);
		char *text = j ? cJSON_Print(j) : NULL;
		cJSON_Delete(j);
		if (!text) {
			rc = cli_error("out of memory");
			goto done;
		}
		fprintf(js.f, "%s\n", text);
		free(text);
		if (spz_output_commit(&js, &oe)) {
			rc = cli_fail(&oe);
			goto done;
		}
	}
	if (!o.quiet && !(o.json && (!o.json_path || !strcmp(o.json_path, "-"))))
		print_text(&r, &o);
done:
	spz_output_abort(&js);
	spz_metrics_free(r.metrics);
	subject_close(&s);
	subject_close(&ref);
	spz_dataset_free(d);
	free(y);
	free(yr);
	return rc;
}
