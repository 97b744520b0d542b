/*
 * arch_report.c - the side-by-side of `spz report --arch`: every chosen
 * design (EIE, Cnvlutin, A100 2:4 tensor cores, dense) on every layer,
 * each against its own dense baseline, and the totals. The layer list is
 * built by the caller (from an EIE image today; conv layers are described
 * the same way), so this file knows nothing of images or models beyond
 * the 2:4 check of an EIE layer.
 */
#include "spz.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *names[SPZ_ARCH_COUNT] = {"eie", "cnvlutin", "tc24",
                                            "dense"};

const char *spz_arch_name(int i)
{
	return i >= 0 && i < SPZ_ARCH_COUNT ? names[i] : NULL;
}

int spz_arch_parse(unsigned *out, const char *list, spz_error *err)
{
	unsigned bits = 0;
	const char *p = list;
	for (;;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		int i = 0;
		unsigned b = 0;
		if (n == 3 && !strncmp(p, "all", 3))
			b = SPZ_ARCH_ALL;
		for (; !b && i < SPZ_ARCH_COUNT; i++)
			if (strlen(names[i]) == n && !strncmp(p, names[i], n))
				b = 1u << i;
		if (!b)
			return spz_fail(err, SPZ_EINVAL, "unknown design '%.*s' "
			                "(eie, cnvlutin, tc24, dense or all)",
			                (int)(n > 64 ? 64 : n), p);
		if (bits & b)
			return spz_fail(err, SPZ_EINVAL, "design '%.*s' named twice",
			                (int)n, p);
		bits |= b;
		if (!end)
			break;
		p = end + 1;
	}
	*out = bits;
	return 0;
}

struct g24 {
	uint8_t *count;
	int64_t groups;
	int bad;
};

static void visit24(void *ctx, int64_t row, int64_t col, uint8_t code)
{
	struct g24 *g = ctx;
	(void)code;
	if (++g->count[row * g->groups + col / 4] > 2)
		g->bad = 1;
}

int spz_eie_layer_is_24(const spz_eie *e, const spz_eie_layer *l)
{
	if (l->cols % 4)
		return 0;
	struct g24 g = {NULL, l->cols / 4, 0};
	g.count = calloc((size_t)l->rows * (size_t)g.groups, 1);
	if (!g.count)
		return -1;
	spz_eie_visit(e, l, visit24, &g);
	free(g.count);
	return !g.bad;
}

static void figures(spz_arch_figures *f, double cycles, double base,
                    double clock_mhz)
{
	f->applies = 1;
	f->cycles = cycles;
	f->base_cycles = base;
	f->time_us = cycles / clock_mhz;
	f->base_time_us = base / clock_mhz;
	f->speedup = f->time_us > 0 ? f->base_time_us / f->time_us : 1.0;
}

static int cnv_layer(spz_arch_layer *r, const spz_arch_input *in,
                     const spz_arch_options *o, size_t idx, spz_error *err)
{
	uint64_t neurons = (uint64_t)in->shape.c_in * (uint64_t)in->shape.h *
	                   (uint64_t)in->shape.w;
	if (!in->conv) {
		/* Fully connected: DaDianNao's cycles on both sides. */
		int rc = spz_cnvlutin_layer(&r->cnv, &in->shape, NULL, &o->cnv,
		                            err);
		if (rc)
			return rc;
		r->cnv.cycles_cnv = r->cnv.cycles_baseline;
		r->cnv.speedup = 1;
		figures(&r->fig[1], (double)r->cnv.cycles_baseline,
		        (double)r->cnv.cycles_baseline, o->table.cnv_clock_mhz);
		return 0;
	}
	uint8_t *own = NULL;
	const uint8_t *mask = in->mask;
	uint64_t samples = in->mask ? in->n_samples : 1;
	if (!in->mask) {
		if (neurons > SIZE_MAX || !(own = malloc(neurons ? neurons : 1)))
			return spz_fail(err, SPZ_ENOMEM, "out of memory");
		int rc = spz_act_pattern(own, neurons, in->act_density,
		                         o->seed + idx, err);
		if (rc) {
			free(own);
			return rc;
		}
		mask = own;
	}
	if (!samples) {
		free(own);
		return spz_fail(err, SPZ_EINVAL, "layer '%s': no activation "
		                "sample", in->name);
	}
	double sum = 0;
	int rc = 0;
	for (uint64_t s = 0; !rc && s < samples; s++) {
		rc = spz_cnvlutin_layer(&r->cnv, &in->shape, mask + s * neurons,
		                        &o->cnv, err);
		sum += (double)r->cnv.cycles_cnv;
	}
	free(own);
	if (rc)
		return rc;
	figures(&r->fig[1], sum / (double)samples,
	        (double)r->cnv.cycles_baseline, o->table.cnv_clock_mhz);
	return 0;
}

static void add(spz_arch_figures *t, const spz_arch_figures *f)
{
	if (!f->applies)
		return;
	t->applies = 1;
	t->cycles += f->cycles;
	t->base_cycles += f->base_cycles;
	t->time_us += f->time_us;
	t->base_time_us += f->base_time_us;
}

int spz_arch_compare(spz_arch_report **out, const spz_arch_input *in,
                     size_t n, const spz_arch_options *o, spz_error *err)
{
	*out = NULL;
	if (!o->batch)
		return spz_fail(err, SPZ_EINVAL, "the batch must be 1 or more");
	if (o->pes < 1)
		return spz_fail(err, SPZ_EINVAL, "dense: no PE");
	if (!(o->clock_mhz > 0) || !isfinite(o->clock_mhz))
		return spz_fail(err, SPZ_EINVAL, "the clock must be a finite "
		                "number above 0");
	if (!o->designs || (o->designs & ~SPZ_ARCH_ALL))
		return spz_fail(err, SPZ_EINVAL, "no design to compare");
	int rc = spz_arch_table_check(&o->table, err);
	if (rc)
		return rc;
	spz_arch_report *r = calloc(1, sizeof *r);
	if (!r || !(r->layers = calloc(n ? n : 1, sizeof *r->layers))) {
		free(r);
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	}
	r->designs = o->designs;
	r->batch = o->batch;
	r->n_layers = n;
	r->total.name = "total";
	for (size_t i = 0; !rc && i < n; i++) {
		const spz_arch_input *a = &in[i];
		spz_arch_layer *l = &r->layers[i];
		l->name = a->name;
		int64_t ho, wo;
		if ((rc = spz_conv_shape_check(&ho, &wo, &a->shape, err)))
			break;
		if (!a->mask && !(a->act_density >= 0 && a->act_density <= 1)) {
			rc = spz_fail(err, SPZ_EINVAL, "layer '%s': activation "
			              "density must be in 0..1", a->name);
			break;
		}
		/* dense: every MAC, the output channels split over the PEs. */
		double per_pe = ceil((double)a->shape.c_out / o->pes);
		double dense = per_pe * (double)a->shape.c_in *
		               (double)a->shape.kh * (double)a->shape.kw *
		               (double)ho * (double)wo;
		if ((o->designs & SPZ_ARCH_EIE) && a->eie_cycles >= 0)
			figures(&l->fig[0], a->eie_cycles, dense, o->clock_mhz);
		if ((o->designs & SPZ_ARCH_CNVLUTIN) &&
		    (rc = cnv_layer(l, a, o, i, err)))
			break;
		if (o->designs & SPZ_ARCH_TC24) {
			if ((rc = spz_tc24_gemm(&l->tc, &a->shape, o->batch, a->is_24,
			                        &o->table, err)))
				break;
			spz_arch_figures *f = &l->fig[2];
			f->applies = 1;
			f->time_us = l->tc.time_sparse_us;
			f->base_time_us = l->tc.time_dense_us;
			f->cycles = f->time_us * o->table.tc24_clock_mhz;
			f->base_cycles = f->base_time_us * o->table.tc24_clock_mhz;
			f->speedup = l->tc.speedup;
			for (int k = 0; k < SPZ_ARCH_SWEEP; k++) {
				spz_tc24_result t;
				if ((rc = spz_tc24_gemm(&t, &a->shape, UINT64_C(1) << k,
				                        a->is_24, &o->table, err)))
					break;
				l->sweep_dense_us[k] = t.time_dense_us;
				l->sweep_sparse_us[k] = t.time_sparse_us;
				r->total.sweep_dense_us[k] += t.time_dense_us;
				r->total.sweep_sparse_us[k] += t.time_sparse_us;
			}
			if (rc)
				break;
		}
		if (o->designs & SPZ_ARCH_DENSE)
			figures(&l->fig[3], dense, dense, o->clock_mhz);
		for (int d = 0; d < SPZ_ARCH_COUNT; d++)
			add(&r->total.fig[d], &l->fig[d]);
	}
	if (rc) {
		spz_arch_report_free(r);
		return rc;
	}
	for (int d = 0; d < SPZ_ARCH_COUNT; d++) {
		spz_arch_figures *t = &r->total.fig[d];
		t->speedup = t->time_us > 0 ? t->base_time_us / t->time_us : 1.0;
	}
	*out = r;
	return 0;
}

void spz_arch_report_free(spz_arch_report *r)
{
	if (!r)
		return;
	free(r->layers);
	free(r);
}
