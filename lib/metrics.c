/*
 * metrics.c - accuracy figures of model outputs (spz eval): top-1,
 * cross-entropy, per-class accuracy, confusion matrix, and agreement with
 * a reference model's outputs.
 */
#include "spz.h"

#include <math.h>
#include <stdlib.h>

size_t spz_argmax(const float *v, size_t n)
{
	size_t best = 0;
	for (size_t i = 1; i < n; i++)
		if (v[i] > v[best] || (isnan(v[best]) && !isnan(v[i])))
			best = i;
	return best;
}

int spz_metrics_new(spz_metrics **out, size_t classes, spz_error *err)
{
	if (classes < 1 || classes > 1u << 16)
		return spz_fail(err, SPZ_EINVAL, "%zu classes (1..65536)", classes);
	spz_metrics *m = calloc(1, sizeof *m);
	if (!m || !(m->confusion = calloc(classes * classes,
	                                  sizeof *m->confusion))) {
		free(m);
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	}
	m->classes = classes;
	*out = m;
	return 0;
}

void spz_metrics_free(spz_metrics *m)
{
	if (!m)
		return;
	free(m->confusion);
	free(m);
}

int spz_metrics_add(spz_metrics *m, const float *y, const int32_t *labels,
                    size_t n, int probabilities, spz_error *err)
{
	size_t c = m->classes;
	for (size_t s = 0; s < n; s++) {
		if (labels[s] < 0 || (size_t)labels[s] >= c)
			return spz_fail(err, SPZ_ERANGE, "sample %zu: label %d is "
			                "outside the model's %zu classes", s,
			                labels[s], c);
		for (size_t i = 0; i < c; i++)
			if (isnan(y[s * c + i]))
				return spz_fail(err, SPZ_ERANGE, "sample %zu: output %zu "
				                "is NaN", s, i);
	}
	for (size_t s = 0; s < n; s++) {
		const float *v = y + s * c;
		size_t want = (size_t)labels[s], got = spz_argmax(v, c);
		double ce;
		if (probabilities) {
			double p = v[want] > 1e-30 ? v[want] : 1e-30;
			ce = -log(p);
		} else {
			double mx = v[got], sum = 0;
			for (size_t i = 0; i < c; i++)
				sum += exp((double)v[i] - mx);
			ce = log(sum) + mx - (double)v[want];
		}
		m->ce_sum += ce;
		m->samples++;
		m->correct += got == want;
		m->confusion[want * c + got]++;
	}
	return 0;
}

void spz_agreement_add(spz_agreement *a, const float *y, const float *ref,
                       size_t n, size_t width)
{
	for (size_t s = 0; s < n; s++) {
		const float *v = y + s * width, *r = ref + s * width;
		double ab, rel;
		spz_output_error(&ab, &rel, r, v, width);
		a->samples++;
		a->agree += spz_argmax(v, width) == spz_argmax(r, width);
		a->max_rel = rel > a->max_rel ? rel : a->max_rel;
		a->max_abs = ab > a->max_abs ? ab : a->max_abs;
		a->sum_rel += rel;
	}
}
