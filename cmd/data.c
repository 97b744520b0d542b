/*
 * data.c - data-set options and the evaluation of a model or an EIE image
 * on a data set, shared by spz eval, spz sensitivity and spz run --data.
 */
#define _POSIX_C_SOURCE 200809L
#include "data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cli_data_option(spz_data_options *o, const char *cmd, int c,
                    const char *arg)
{
	int64_t v;
	switch (c) {
	case OPT_DATA: o->dir = arg; return 1;
	case OPT_X: o->x = arg; return 1;
	case OPT_Y: o->y = arg; return 1;
	case OPT_SPLIT:
		if (strcmp(arg, "t10k") && strcmp(arg, "train")) {
			cli_usage(cmd, "--split takes t10k or train, not '%s'", arg);
			return -1;
		}
		o->split = arg;
		return 1;
	case OPT_LIMIT:
		if (cli_int_range(&v, cmd, "--limit", arg, 1, INT64_MAX))
			return -1;
		o->limit = (uint64_t)v;
		return 1;
	default:
		return 0;
	}
}

int cli_data_check(const spz_data_options *o, const char *cmd)
{
	if (!o->dir && !o->x)
		return cli_usage(cmd, "give the samples: --data DIR, or --x FILE "
		                 "[--y FILE]");
	if (o->dir && (o->x || o->y))
		return cli_usage(cmd, "--data DIR and --x/--y exclude each other");
	if (o->y && !o->x)
		return cli_usage(cmd, "--y FILE goes with --x FILE");
	if (o->x && o->split && strcmp(o->split, "t10k"))
		return cli_usage(cmd, "--split goes with --data DIR");
	return 0;
}

int cli_data_load(spz_dataset **out, const spz_data_options *o)
{
	spz_error err = {0};
	if (spz_dataset_load(out, o, &err))
		return cli_error("%s", err.text);
	return 0;
}

int cli_parse_fracs(int *frac, const char *s, size_t n_layers)
{
	size_t k = 0;
	const char *p = s;
	while (1) {
		char *end;
		long v = strtol(p, &end, 10);
		if (end == p || v < SPZ_FRAC_MIN || v > SPZ_FRAC_MAX ||
		    k > n_layers)
			return -1;
		frac[k++] = (int)v;
		if (!*end)
			break;
		if (*end != ',')
			return -1;
		p = end + 1;
	}
	if (k == 1)
		for (size_t i = 1; i <= n_layers; i++)
			frac[i] = frac[0];
	else if (k != n_layers + 1)
		return -1;
	return 0;
}

int subject_open(struct subject *s, const char *cmd, const char *path,
                 const spz_dataset *d, const char *frac_s, int emulate,
                 const spz_emu_options *eo)
{
	memset(s, 0, sizeof *s);
	s->path = path;
	spz_input in;
	spz_error err = {0};
	if (spz_input_open(&in, path, &err))
		return cli_fail(&err);
	int rc;
	if (spz_input_kind(&in) == SPZ_FILE_IMAGE) {
		if (spz_image_kind(&in) != SPZ_IMAGE_EIE &&
		    spz_image_kind(&in) != SPZ_IMAGE_EIE_HUFF) {
			spz_input_close(&in);
			return cli_error("'%s' is a plain sparse image; spz %s "
			                 "evaluates models and EIE images", path,
			                 cmd);
		}
		rc = spz_eie_read(&s->image, &in, &err);
		spz_input_close(&in);
		if (rc)
			return cli_fail(&err);
		const spz_eie *e = s->image;
		if ((uint64_t)e->layers[0].cols != d->features)
			return cli_error("'%s' takes %lld inputs, the samples hold "
			                 "%zu values", path,
			                 (long long)e->layers[0].cols, d->features);
		s->outputs = (size_t)e->layers[e->n_layers - 1].rows;
		s->n_layers = e->n_layers;
		s->frac = calloc(e->n_layers + 1, sizeof *s->frac);
		s->layers = calloc(e->n_layers, sizeof *s->layers);
		if (!s->frac || !s->layers)
			return cli_error("out of memory");
		for (size_t l = 0; l < e->n_layers; l++)
			s->layers[l].node = e->layers[l].node;
		if (frac_s) {
			if (cli_parse_fracs(s->frac, frac_s, e->n_layers))
				return cli_usage(cmd, "--act-frac-bits takes one value "
				                 "or %zu comma-separated values in "
				                 "%d..%d, not '%s'", e->n_layers + 1,
				                 SPZ_FRAC_MIN, SPZ_FRAC_MAX, frac_s);
		} else if (spz_eie_calibrate(s->frac, e, d->x, d->n, &err)) {
			return cli_fail(&err);
		}
		if (emulate && spz_emu_new(&s->emu, e, eo, &err))
			return cli_fail(&err);
		return 0;
	}
	if (frac_s || emulate)
		return cli_usage(cmd, "--%s applies to an EIE image; '%s' is a "
		                 "model", frac_s ? "act-frac-bits" : "emulate",
		                 path);
	rc = cli_read_model(&s->model, &in, &err);
	spz_input_close(&in);
	if (rc)
		return cli_fail(&err);
	if (spz_forward_new(&s->fwd, s->model, d->dims, d->ndims, &err))
		return cli_error("'%s': %s", path, err.text);
	s->outputs = spz_forward_outputs(s->fwd);
	return 0;
}

static int image_run(struct subject *s, float *y, const spz_dataset *d)
{
	const spz_eie *e = s->image;
	size_t widest = d->features;
	for (size_t l = 0; l < e->n_layers; l++)
		widest = (size_t)e->layers[l].rows > widest
		                 ? (size_t)e->layers[l].rows : widest;
	int16_t *a = malloc(widest * sizeof *a), *b = malloc(widest * sizeof *b);
	spz_error err = {0};
	int rc = 0;
	if (!a || !b) {
		rc = cli_error("out of memory");
		goto done;
	}
	size_t nout = s->outputs, nl = e->n_layers;
	for (size_t i = 0; i < d->n && !rc; i++) {
		const float *x = d->x + i * d->features;
		for (size_t k = 0; k < d->features; k++)
			a[k] = spz_to_fixed(x[k], s->frac[0]);
		if (s->emu) {
			if (spz_emu_run(s->emu, b, a, s->frac, &err)) {
				rc = cli_fail(&err);
				break;
			}
		} else {
			/* Layer by layer through the functional reference (the
			 * same calls spz_eie_fixed_forward makes), counting each
			 * layer's non-zero inputs. */
			for (size_t l = 0; l < nl && !rc; l++) {
				size_t cols = (size_t)e->layers[l].cols;
				uint64_t nz = 0;
				for (size_t k = 0; k < cols; k++)
					nz += a[k] != 0;
				s->layers[l].act_in += cols;
				s->layers[l].act_in_nonzero += nz;
				if (spz_eie_fixed_layer(b, e, l, a, s->frac[l],
				                        s->frac[l + 1], &err)) {
					rc = cli_fail(&err);
					break;
				}
				int16_t *t = a;
				a = b;
				b = t;
			}
			int16_t *t = a;  /* the output is in a: swap back */
			a = b;
			b = t;
		}
		for (size_t k = 0; k < nout; k++)
			y[i * nout + k] = (float)spz_from_fixed(b[k], s->frac[nl]);
		if ((i & 15) == 15 || i + 1 == d->n)
			cli_progress(s->emu ? "emulating" : "evaluating", i + 1,
			             d->n);
	}
	cli_progress_end();
	if (s->emu && !rc) {
		const spz_emu_stats *st = spz_emu_stats_get(s->emu);
		for (size_t l = 0; l < nl; l++) {
			s->layers[l].act_in = st->layers[l].act_in;
			s->layers[l].act_in_nonzero = st->layers[l].act_in_nonzero;
			s->saturations += st->layers[l].saturations;
		}
	}
done:
	free(a);
	free(b);
	return rc;
}

int subject_run(struct subject *s, float **y, const spz_dataset *d)
{
	if (s->outputs && d->n > SIZE_MAX / sizeof(float) / s->outputs)
		return cli_error("out of memory");
	*y = malloc(d->n * (s->outputs ? s->outputs : 1) * sizeof(float));
	if (!*y)
		return cli_error("out of memory");
	if (s->image)
		return image_run(s, *y, d);
	spz_error err = {0};
	spz_forward_reset(s->fwd);
	/* In chunks of whole batches (256 samples), for the progress line:
	 * the same batches, so the same bytes, as one call. */
	static const char what[] = "evaluating";
	size_t chunk = 16 * 256;
	for (size_t i = 0; i < d->n; i += chunk) {
		size_t m = d->n - i < chunk ? d->n - i : chunk;
		if (spz_forward_run(s->fwd, *y + i * s->outputs,
		                    d->x + i * d->features, m, &err)) {
			cli_progress_end();
			return cli_error("'%s': %s", s->path, err.text);
		}
		cli_progress(what, (double)(i + m), (double)d->n);
	}
	cli_progress_end();
	s->layers = NULL;
	return 0;
}

void subject_close(struct subject *s)
{
	spz_forward_free(s->fwd);
	spz_model_free(s->model);
	spz_emu_free(s->emu);
	spz_eie_free(s->image);
	free(s->frac);
	if (!s->model)
		free(s->layers);
	memset(s, 0, sizeof *s);
}
