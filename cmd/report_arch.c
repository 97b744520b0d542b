/*
 * report_arch.c - `spz report --arch`: builds the layer list the design
 * comparison runs on (from the EIE image; conv layers join it the same
 * way), reads the activity masks, and prints the comparison and the
 * Huffman sizes in every output form. lib/arch*.c and lib/huffman.c
 * compute.
 */
#define _POSIX_C_SOURCE 200809L
#include "report_arch.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int arch_options(struct arch_ctx *a, const struct arch_cli *c)
{
	spz_arch_options init = SPZ_ARCH_OPTIONS_INIT;
	a->opts = init;
	spz_error err = {0};
	if (c->list && spz_arch_parse(&a->opts.designs, c->list, &err))
		return cli_usage("report", "--arch: %s", err.text);
	a->opts.batch = c->batch;
	a->opts.seed = c->seed;
	if (c->table && spz_arch_table_load(&a->opts.table, c->table, &err))
		return cli_fail(&err);
	return 0;
}

/* Whether name is a conv layer the comparison runs (not in the image). */
static int is_conv(const struct other_ctx *o, const char *name)
{
	for (size_t k = 0; o && k < o->n; k++)
		if (o->v[k].conv && !strcmp(o->v[k].name, name))
			return 1;
	return 0;
}

int arch_read_masks(struct arch_ctx *a, int *is_mask, double *dens,
                    const char *path, const spz_eie *e,
                    const struct other_ctx *other)
{
	*is_mask = spz_activity_sniff(path);
	if (!*is_mask)
		return 0;
	spz_error err = {0};
	if (spz_activity_load(&a->masks, path, &err))
		return cli_fail(&err);
	const spz_activity *m = a->masks;
	/* Every layer of the file must be one of the model's, and the
	 * reverse: a file made for another model is refused, not half used. */
	for (size_t k = 0; k < m->n_layers; k++) {
		size_t i = 0;
		while (i < e->n_layers && strcmp(e->layers[i].node,
		                                 m->layers[k].name))
			i++;
		if (i == e->n_layers && !is_conv(other, m->layers[k].name))
			return cli_error("'%s': layer '%s' is not in the model",
			                 path, m->layers[k].name);
	}
	for (size_t i = 0; i < e->n_layers; i++) {
		const spz_eie_layer *l = &e->layers[i];
		const spz_activity_layer *f = NULL;
		for (size_t k = 0; k < m->n_layers; k++)
			if (!strcmp(m->layers[k].name, l->node))
				f = &m->layers[k];
		if (!f)
			return cli_error("'%s': no activity for layer '%s'", path,
			                 l->node);
		if ((int64_t)f->c * f->h * f->w != l->cols || f->h != 1 ||
		    f->w != 1)
			return cli_error("'%s': layer '%s' has an input of "
			                 "%ux%ux%u, the model's takes %lldx1x1",
			                 path, l->node, f->c, f->h, f->w,
			                 (long long)l->cols);
		uint64_t n = (uint64_t)f->c * m->n_samples, nz = 0;
		for (uint64_t p = 0; p < n; p++)
			nz += f->mask[p];
		dens[i] = (double)nz / (double)n;
	}
	return 0;
}

static const spz_activity_layer *mask_of(const struct arch_ctx *a,
                                         const char *name)
{
	for (size_t k = 0; a->masks && k < a->masks->n_layers; k++)
		if (!strcmp(a->masks->layers[k].name, name))
			return &a->masks->layers[k];
	return NULL;
}

int arch_compute(struct arch_ctx *a, const struct arch_cli *c,
                 const spz_eie *e, const spz_report *rep,
                 const double *dens, const struct other_ctx *other)
{
	size_t n = e->n_layers, n_conv = 0;
	spz_error err = {0};
	a->n = n;
	for (size_t k = 0; other && k < other->n; k++)
		n_conv += other->v[k].cnv_ok;
	spz_arch_input *in = calloc(n + n_conv, sizeof *in);
	a->huff = calloc(n, sizeof *a->huff);
	a->dch_bits = calloc(n + 1, sizeof *a->dch_bits);
	a->dch_rate = calloc(n + 1, sizeof *a->dch_rate);
	if (!in || !a->huff || !a->dch_bits || !a->dch_rate) {
		free(in);
		return cli_error("out of memory");
	}
	int any_conv = 0, rc = 0;
	uint64_t dense_total = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		const spz_eie_layer *l = &e->layers[i];
		spz_arch_input *x = &in[i];
		spz_conv_shape s = {l->cols, 1, 1, l->rows, 1, 1, 1, 0};
		x->name = l->node;
		x->shape = s;
		x->conv = 0;
		int is24 = spz_eie_layer_is_24(e, l);
		if (is24 < 0) {
			rc = cli_error("out of memory");
			break;
		}
		x->is_24 = is24;
		x->eie_cycles = rep->layers[i].cycles_estimate;
		const spz_activity_layer *m = mask_of(a, l->node);
		x->mask = m ? m->mask : NULL;
		x->n_samples = m ? a->masks->n_samples : 0;
		x->act_density = dens ? dens[i] : c->act_density;
		any_conv |= x->conv;
		/* Deep Compression's third stage on the image's entries. */
		if (spz_huff_layer_sizes(&a->huff[i], e, l, &err)) {
			rc = cli_fail(&err);
			break;
		}
		const spz_report_layer *r = &rep->layers[i];
		/* formats.eie holds the entries at fixed width (bits.entries
		 * is the coded size for a Huffman image). */
		a->dch_bits[i] = r->formats.eie - a->huff[i].fixed_bits +
		                 a->huff[i].codes_bits +
		                 a->huff[i].index_bits + a->huff[i].table_bits;
		a->dch_rate[i] = (double)r->formats.dense / (double)a->dch_bits[i];
		a->dch_bits[n] += a->dch_bits[i];
		dense_total += r->formats.dense;
	}
	/* The conv layers: Cnvlutin's own; EIE cannot run them. */
	for (size_t k = 0, i = n; !rc && other && k < other->n; k++) {
		const struct other_node *v = &other->v[k];
		if (!v->cnv_ok)
			continue;
		spz_arch_input *x = &in[i++];
		x->name = v->name;
		x->shape = v->shape;
		x->conv = 1;
		x->is_24 = v->is_24;
		x->eie_cycles = -1;
		const spz_activity_layer *m = mask_of(a, v->name);
		if (m && (int64_t)m->c == v->shape.c_in &&
		    (int64_t)m->h == v->shape.h && (int64_t)m->w == v->shape.w) {
			x->mask = m->mask;
			x->n_samples = a->masks->n_samples;
		}
		x->act_density = c->act_density;
		any_conv = 1;
	}
	if (!rc) {
		a->dch_rate[n] = a->dch_bits[n] ? (double)dense_total /
		                                  (double)a->dch_bits[n] : 0;
		/* "All that apply": Cnvlutin only accelerates conv layers. */
		if (!c->list && !any_conv)
			a->opts.designs &= ~SPZ_ARCH_CNVLUTIN;
		a->opts.pes = rep->pes;
		a->opts.clock_mhz = rep->clock_mhz;
		if (spz_arch_compare(&a->ar, in, n + n_conv, &a->opts, &err))
			rc = cli_fail(&err);
	}
	free(in);
	return rc;
}

void arch_free(struct arch_ctx *a)
{
	spz_arch_report_free(a->ar);
	spz_activity_free(a->masks);
	free(a->huff);
	free(a->dch_bits);
	free(a->dch_rate);
}

/* Row i of the EIE image's layers (a->n of them), the total at a->n:
 * the CSV and JSON rows of report.c. */
static const spz_arch_layer *row(const struct arch_ctx *a, size_t i)
{
	return i < a->n ? &a->ar->layers[i] : &a->ar->total;
}

/* Row i of every compared layer (the image's, then the conv layers), the
 * total after them: the text table and the chart. */
static const spz_arch_layer *any_row(const struct arch_ctx *a, size_t i)
{
	return i < a->ar->n_layers ? &a->ar->layers[i] : &a->ar->total;
}

/* Fits 80 columns: names are cut to 16 characters in text. */
void arch_text(FILE *f, const struct arch_ctx *a, int markdown)
{
	const spz_arch_report *r = a->ar;
	char title[160];
	snprintf(title, sizeof title, "designs: cycles, time, speedup over "
	         "each one's dense baseline (tc24 batch %llu)",
	         (unsigned long long)r->batch);
	if (markdown)
		fprintf(f, "\n**%s**\n\n| layer | design | cycles | time [us] | "
		        "baseline [us] | speedup [x] |\n| --- | --- | ---: | "
		        "---: | ---: | ---: |\n", title);
	else
		fprintf(f, "\n%s\n%-16s  %-8s  %12s  %11s  %13s  %7s\n", title,
		        "layer", "design", "cycles", "time [us]", "baseline [us]",
		        "speedup");
	for (size_t i = 0; i <= r->n_layers; i++) {
		const spz_arch_layer *l = any_row(a, i);
		int total = i == r->n_layers;
		for (int d = 0; d < SPZ_ARCH_COUNT; d++) {
			const spz_arch_figures *g = &l->fig[d];
			if (!(r->designs & (1u << d)))
				continue;
			char cyc[32] = "-", t[32] = "-", b[32] = "-", s[32] = "-";
			if (g->applies) {
				snprintf(cyc, sizeof cyc, "%.0f", g->cycles);
				snprintf(t, sizeof t, "%.3f", g->time_us);
				snprintf(b, sizeof b, "%.3f", g->base_time_us);
				snprintf(s, sizeof s, "%.2f", g->speedup);
			}
			if (markdown)
				fprintf(f, total ? "| **%s** | **%s** | **%s** | **%s** "
				        "| **%s** | **%s** |\n" : "| %s | %s | %s | %s | "
				        "%s | %s |\n", l->name, spz_arch_name(d), cyc, t,
				        b, s);
			else
				fprintf(f, "%-16.16s  %-8s  %12s  %11s  %13s  %7s\n",
				        l->name, spz_arch_name(d), cyc, t, b, s);
		}
	}
}

void arch_csv_head(FILE *f, const struct arch_ctx *a)
{
	(void)a;
	fputs(",dc_huffman_bits,dc_huffman_rate", f);
	for (int d = 0; d < SPZ_ARCH_COUNT; d++)
		fprintf(f, ",%s_cycles,%s_time_us,%s_baseline_cycles,"
		        "%s_baseline_time_us,%s_speedup", spz_arch_name(d),
		        spz_arch_name(d), spz_arch_name(d), spz_arch_name(d),
		        spz_arch_name(d));
}

/* The design columns of one compared layer (NULL: all empty). */
static void designs_csv(FILE *f, const struct arch_ctx *a,
                        const spz_arch_layer *l)
{
	char b[32];
	for (int d = 0; d < SPZ_ARCH_COUNT; d++) {
		if (!l) {
			fputs(",,,,,", f);
			continue;
		}
		const spz_arch_figures *g = &l->fig[d];
		if (!g->applies || !(a->ar->designs & (1u << d))) {
			fputs(",,,,,", f);
			continue;
		}
		const double v[5] = {g->cycles, g->time_us, g->base_cycles,
		                     g->base_time_us, g->speedup};
		for (int k = 0; k < 5; k++)
			if (v[k] == floor(v[k]) && fabs(v[k]) < 1e15)
				fprintf(f, ",%.0f", v[k]);
			else
				fprintf(f, ",%s", spz_format_double(b, v[k]));
	}
}

void arch_csv_row(FILE *f, const struct arch_ctx *a, size_t i)
{
	char b[32];
	fprintf(f, ",%llu,%s", (unsigned long long)a->dch_bits[i],
	        spz_format_double(b, a->dch_rate[i]));
	designs_csv(f, a, row(a, i));
}

void arch_csv_conv_row(FILE *f, const struct arch_ctx *a, const char *name)
{
	const spz_arch_layer *l = NULL;
	for (size_t i = a->n; a->ar && i < a->ar->n_layers && !l; i++)
		if (!strcmp(a->ar->layers[i].name, name))
			l = &a->ar->layers[i];
	/* No Huffman stage: the node is not in the image. */
	fputs(",,", f);
	designs_csv(f, a, l);
}

static cJSON *figures_json(const spz_arch_figures *g)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "cycles", g->cycles);
	cJSON_AddNumberToObject(o, "time_us", g->time_us);
	cJSON_AddNumberToObject(o, "baseline_cycles", g->base_cycles);
	cJSON_AddNumberToObject(o, "baseline_time_us", g->base_time_us);
	cJSON_AddNumberToObject(o, "speedup", g->speedup);
	return o;
}

/* "designs" of one compared layer (per_layer 0: the total, which has no
 * figures of its own beyond the sums and the sweep). */
static void designs_json(cJSON *o, const struct arch_ctx *a,
                         const spz_arch_layer *l, int per_layer, int conv)
{
	cJSON *d = cJSON_AddObjectToObject(o, "designs");
	for (int k = 0; k < SPZ_ARCH_COUNT; k++) {
		if (!(a->ar->designs & (1u << k)))
			continue;
		const spz_arch_figures *g = &l->fig[k];
		if (!g->applies) {
			cJSON_AddNullToObject(d, spz_arch_name(k));
			continue;
		}
		cJSON *x = figures_json(g);
		if (k == 1 && per_layer) {
			cJSON_AddBoolToObject(x, "conv", conv);
			cJSON_AddNumberToObject(x, "nonzero_neurons",
			                        (double)l->cnv.nonzeros);
			cJSON_AddNumberToObject(x, "neurons", (double)l->cnv.neurons);
			cJSON_AddBoolToObject(x, "dense_first", l->cnv.dense_first);
		}
		if (k == 2) {
			if (per_layer) {
				cJSON_AddBoolToObject(x, "sparse", l->tc.sparse);
				cJSON_AddNumberToObject(x, "flops", l->tc.flops);
				cJSON_AddNumberToObject(x, "bytes_dense",
				                        l->tc.bytes_dense);
				cJSON_AddNumberToObject(x, "bytes_sparse",
				                        l->tc.bytes_sparse);
				cJSON_AddBoolToObject(x, "memory_bound_dense",
				                      l->tc.memory_bound_dense);
				cJSON_AddBoolToObject(x, "memory_bound_sparse",
				                      l->tc.memory_bound_sparse);
			}
			cJSON *sw = cJSON_AddArrayToObject(x, "sweep");
			for (int b = 0; b < SPZ_ARCH_SWEEP; b++) {
				cJSON *p = cJSON_CreateObject();
				cJSON_AddNumberToObject(p, "batch", (double)(1u << b));
				cJSON_AddNumberToObject(p, "dense_us",
				                        l->sweep_dense_us[b]);
				cJSON_AddNumberToObject(p, "sparse_us",
				                        l->sweep_sparse_us[b]);
				cJSON_AddNumberToObject(p, "speedup",
				                        l->sweep_dense_us[b] /
				                        l->sweep_sparse_us[b]);
				cJSON_AddItemToArray(sw, p);
			}
		}
		cJSON_AddItemToObject(d, spz_arch_name(k), x);
	}
}

void arch_layer_json(cJSON *o, cJSON *formats, const struct arch_ctx *a,
                     size_t i)
{
	cJSON *h = cJSON_AddObjectToObject(formats, "dc_huffman");
	cJSON_AddNumberToObject(h, "bits", (double)a->dch_bits[i]);
	cJSON_AddNumberToObject(h, "rate", a->dch_rate[i]);
	if (i < a->n) {
		const spz_huff_layer *hl = &a->huff[i];
		cJSON_AddNumberToObject(h, "codes_bits", (double)hl->codes_bits);
		cJSON_AddNumberToObject(h, "index_bits", (double)hl->index_bits);
		cJSON_AddNumberToObject(h, "table_bits", (double)hl->table_bits);
		cJSON_AddNumberToObject(h, "fixed_entry_bits",
		                        (double)hl->fixed_bits);
	}
	designs_json(o, a, row(a, i), i < a->n, 0);
}

void arch_json(cJSON *j, const struct arch_ctx *a)
{
	const spz_arch_table *t = &a->opts.table;
	cJSON *s = cJSON_AddArrayToObject(j, "designs");
	for (int k = 0; k < SPZ_ARCH_COUNT; k++)
		if (a->ar->designs & (1u << k))
			cJSON_AddItemToArray(s, cJSON_CreateString(spz_arch_name(k)));
	cJSON_AddNumberToObject(j, "batch", (double)a->ar->batch);
	cJSON *o = cJSON_AddObjectToObject(j, "arch_table");
	size_t nk;
	const spz_table_key *k = spz_arch_table_keys(&nk);
	for (size_t i = 0; i < nk; i++)
		cJSON_AddNumberToObject(o, k[i].key, *(const double *)
		                        ((const char *)t + k[i].off));
	cJSON_AddNumberToObject(j, "seed", (double)a->opts.seed);
	if (a->masks)
		cJSON_AddNumberToObject(j, "activity_samples",
		                        a->masks->n_samples);
}

int arch_png(unsigned char **png, size_t *len, const struct arch_ctx *a,
             const char *model, spz_error *err)
{
	const spz_arch_report *r = a->ar;
	const char *series[SPZ_ARCH_COUNT];
	int which[SPZ_ARCH_COUNT];
	size_t ns = 0, ng = r->n_layers + 1;
	for (int k = 0; k < SPZ_ARCH_COUNT; k++)
		if (r->designs & (1u << k)) {
			which[ns] = k;
			series[ns++] = spz_arch_name(k);
		}
	double *v = malloc(ng * ns * sizeof *v);
	const char **names = malloc(ng * sizeof *names);
	if (!v || !names) {
		free(v);
		free(names);
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	}
	for (size_t g = 0; g < ng; g++) {
		const spz_arch_layer *l = any_row(a, g);
		names[g] = l->name;
		for (size_t s = 0; s < ns; s++)
			v[g * ns + s] = l->fig[which[s]].applies
			                ? l->fig[which[s]].speedup : -1;
	}
	char title[300];
	snprintf(title, sizeof title, "%s: speedup of each design", model);
	spz_rgb *img = NULL;
	int rc = spz_figure_speedup_bars(&img, v, ng, ns, names, series, title,
	                                 err);
	free(v);
	free(names);
	if (!rc)
		rc = spz_png_encode(png, len, img->pixels, img->width,
		                    img->height, err);
	spz_rgb_free(img);
	return rc;
}

void arch_conv_json(cJSON *j, const struct arch_ctx *a)
{
	if (!a->ar || a->ar->n_layers <= a->n)
		return;
	cJSON *arr = cJSON_AddArrayToObject(j, "conv_layers");
	for (size_t i = a->n; arr && i < a->ar->n_layers; i++) {
		const spz_arch_layer *l = &a->ar->layers[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddItemToArray(arr, o);
		cJSON_AddStringToObject(o, "name", l->name);
		designs_json(o, a, l, 1, 1);
	}
}
