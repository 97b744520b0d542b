/*
 * report_other.c - `spz report` on nodes EIE does not run (EIE takes
 * fully connected layers only): storage and MACs of each, Conv shapes
 * from the weight dims, the node's attributes and the input spatial size
 * (the forward pass propagates the sample shape from the model's graph
 * input, or from --input-shape).
 */
#define _POSIX_C_SOURCE 200809L
#include "report_other.h"

#include <stdlib.h>
#include <string.h>

/* Whether node n is one the image holds (by the values it produces). */
static int in_image(const spz_eie *e, const spz_node *n)
{
	if (!n->n_outputs)
		return 0;
	const char *o = n->outputs[0];
	for (size_t i = 0; i < e->n_layers; i++) {
		const spz_eie_layer *l = &e->layers[i];
		if (!strcmp(o, l->linear_out) || !strcmp(o, l->output) ||
		    (l->add_out && !strcmp(o, l->add_out)) ||
		    (l->pre_op && !strcmp(o, l->input)))
			return 1;
	}
	return 0;
}

static int is_float_weight(const spz_tensor *t)
{
	return t->data || t->codebook;
}

/* 1 when every group of 4 consecutive input channels of w [co, ci, kh,
 * kw] at one (co, kh, kw) keeps at most 2 non-zeros. */
static int conv_is_24(const spz_tensor *w)
{
	int64_t co = w->dims[0], ci = w->dims[1];
	int64_t k = w->dims[2] * w->dims[3];
	if (ci % 4)
		return 0;
	for (int64_t o = 0; o < co; o++)
		for (int64_t p = 0; p < k; p++)
			for (int64_t c = 0; c < ci; c += 4) {
				int nz = 0;
				for (int64_t d = 0; d < 4; d++)
					nz += spz_tensor_value(w, (o * ci + c + d) * k +
					                       p) != 0;
				if (nz > 2)
					return 0;
			}
	return 1;
}

/* An attribute list of 2 (or 4 for pads) equal values, default dflt. */
static int uniform(const spz_node *n, const char *name, int64_t dflt,
                   int64_t *out)
{
	const spz_attr *a = spz_node_attr(n, name);
	*out = dflt;
	if (!a)
		return 1;
	if (a->type != SPZ_ATTR_NUMBERS || !a->n_numbers)
		return 0;
	for (size_t i = 0; i < a->n_numbers; i++)
		if (a->numbers[i] != a->numbers[0])
			return 0;
	*out = (int64_t)a->numbers[0];
	return 1;
}

/* Shape and MACs of a Conv from the forward pass's value dims. */
static void conv_figures(struct other_node *v, const spz_node *n,
                         const spz_tensor *w, const spz_forward *f)
{
	int64_t in[SPZ_MAX_DIMS], out[SPZ_MAX_DIMS];
	int ni, no;
	if (!f || w->ndims != 4 || !spz_forward_dims(in, &ni, f, n->inputs[0]) ||
	    !spz_forward_dims(out, &no, f, n->outputs[0]) || ni != 4 ||
	    no != 4)
		return;
	int64_t k = w->dims[1] * w->dims[2] * w->dims[3];
	int64_t pos = out[2] * out[3];
	v->macs_known = 1;
	v->macs_dense = (uint64_t)(w->dims[0] * k * pos);
	v->macs_sparse = v->w_nonzeros * (uint64_t)pos;
	v->conv = 1;
	int64_t group = 1, dil = 1, stride = 1, pad = 0;
	const spz_attr *ap = spz_node_attr(n, "auto_pad");
	v->cnv_ok = uniform(n, "group", 1, &group) && group == 1 &&
	            uniform(n, "dilations", 1, &dil) && dil == 1 &&
	            uniform(n, "strides", 1, &stride) &&
	            uniform(n, "pads", 0, &pad) &&
	            (!ap || (ap->string && !strcmp(ap->string, "NOTSET")));
	spz_conv_shape s = {in[1], in[2], in[3], w->dims[0], w->dims[2],
	                    w->dims[3], stride, pad};
	v->shape = s;
	int64_t ho, wo;
	if (v->cnv_ok && (spz_conv_shape_check(&ho, &wo, &s, NULL) ||
	                  ho != out[2] || wo != out[3]))
		v->cnv_ok = 0;
	if (v->cnv_ok)
		v->is_24 = conv_is_24(w);
}

/* The sample dims: --input-shape, else the graph input's recorded shape
 * without its batch dim. */
static int sample_dims(struct other_ctx *o, const spz_model *m,
                       const int64_t *in_shape, int n_in)
{
	if (n_in) {
		memcpy(o->sample, in_shape, (size_t)n_in * sizeof *in_shape);
		o->n_sample = n_in;
		o->shape_from = "--input-shape";
		return 1;
	}
	int64_t d[SPZ_MAX_DIMS];
	int nd;
	if (m->n_inputs != 1 || !spz_onnx_input_dims(d, &nd, m, m->inputs[0]) ||
	    nd < 2)
		return 0;
	/* The batch dim may be symbolic; the sample's must be known. */
	for (int k = 1; k < nd; k++)
		if (d[k] < 1)
			return 0;
	memcpy(o->sample, d + 1, (size_t)(nd - 1) * sizeof *d);
	o->n_sample = nd - 1;
	o->shape_from = "graph input";
	return 1;
}

int other_collect(struct other_ctx *o, const spz_model *m,
                  const spz_eie *e, const int64_t *in_shape, int n_in)
{
	memset(o, 0, sizeof *o);
	if (!m)
		return 0;
	spz_forward *f = NULL;
	int any_conv = 0;
	for (size_t i = 0; i < m->n_nodes; i++)
		any_conv |= !strcmp(m->nodes[i].op, "Conv");
	if (any_conv && sample_dims(o, m, in_shape, n_in)) {
		spz_error err = {0};
		/* A shape the user gave must fit; one the graph records but
		 * the forward pass cannot follow (an op it lacks) only leaves
		 * the conv MACs unknown. */
		if (spz_forward_new(&f, m, o->sample, o->n_sample, &err)) {
			if (n_in)
				return cli_error("'%s': --input-shape: %s", m->name,
				                 err.text);
			f = NULL;
			o->shape_from = NULL;
		}
	}
	int rc = 0;
	if (!(o->v = calloc(m->n_nodes ? m->n_nodes : 1, sizeof *o->v)))
		rc = cli_error("out of memory");
	for (size_t i = 0; !rc && i < m->n_nodes; i++) {
		const spz_node *n = &m->nodes[i];
		if (in_image(e, n))
			continue;
		struct other_node *v = &o->v[o->n++];
		size_t len = strlen(n->op) + 8 +
		             (n->n_outputs ? strlen(n->outputs[0]) : 1);
		if (!n->name[0] && (v->name = malloc(len)))
			snprintf(v->name, len, "%s -> %s", n->op,
			         n->n_outputs ? n->outputs[0] : "?");
		else if (n->name[0])
			v->name = strdup(n->name);
		if (!v->name) {
			rc = cli_error("out of memory");
			break;
		}
		v->op = n->op;
		const spz_tensor *w = NULL;
		for (size_t k = 0; k < n->n_inputs; k++) {
			const spz_tensor *t = spz_model_tensor(m, n->inputs[k]);
			if (!t || !is_float_weight(t))
				continue;
			uint64_t c = (uint64_t)spz_tensor_elements(t), nz = 0;
			for (uint64_t s = 0; s < c; s++)
				nz += spz_tensor_value(t, (int64_t)s) != 0;
			v->weights += c;
			v->nonzeros += nz;
			v->storage_bits += t->codebook ?
				c * (uint64_t)t->bits + 32u * t->codebook_size :
				32 * c;
			if (k == 1) {
				w = t;
				v->w_nonzeros = nz;
			}
		}
		/* Only a Conv's multiplies are counted; element-wise ops,
		 * pooling and shape ops do none. */
		v->macs_known = strcmp(n->op, "Conv") != 0;
		if (w && !strcmp(n->op, "Conv"))
			conv_figures(v, n, w, f);
	}
	spz_forward_free(f);
	return rc;
}

void other_free(struct other_ctx *o)
{
	for (size_t i = 0; i < o->n; i++)
		free(o->v[i].name);
	free(o->v);
}

static void macs_str(char *b, size_t n, const struct other_node *v,
                     uint64_t x)
{
	if (v->macs_known)
		snprintf(b, n, "%llu", (unsigned long long)x);
	else
		snprintf(b, n, "?");
}

void other_text(FILE *f, const struct other_ctx *o, int markdown)
{
	if (!o->n)
		return;
	const char *title = "not EIE (EIE runs fully connected layers only): "
	                    "storage and MACs";
	if (markdown)
		fprintf(f, "\n**%s**\n\n| node | op | weights | non-zeros | "
		        "bytes | MACs dense | MACs sparse | EIE |\n| --- | --- | "
		        "---: | ---: | ---: | ---: | ---: | --- |\n", title);
	else
		fprintf(f, "\n%s\n%-16s %-9s %8s %8s %8s %10s %10s  %s\n", title,
		        "node", "op", "weights", "nonzero", "bytes", "MACs dense",
		        "MACs sparse", "EIE");
	int unknown = 0;
	for (size_t i = 0; i < o->n; i++) {
		const struct other_node *v = &o->v[i];
		char d[32], s[32];
		macs_str(d, sizeof d, v, v->macs_dense);
		macs_str(s, sizeof s, v, v->macs_sparse);
		unknown |= !v->macs_known;
		unsigned long long bytes = (v->storage_bits + 7) / 8;
		if (markdown)
			fprintf(f, "| %s | %s | %llu | %llu | %llu | %s | %s | not "
			        "EIE |\n", v->name, v->op,
			        (unsigned long long)v->weights,
			        (unsigned long long)v->nonzeros, bytes, d, s);
		else
			fprintf(f, "%-16.16s %-9.9s %8llu %8llu %8llu %10s %10s  "
			        "not EIE\n", v->name, v->op,
			        (unsigned long long)v->weights,
			        (unsigned long long)v->nonzeros, bytes, d, s);
	}
	if (o->shape_from)
		fprintf(f, "%sconv shapes from the %s\n", markdown ? "\n" : "",
		        o->shape_from);
	if (unknown)
		fprintf(f, "%sconv MACs unknown: no input shape the forward "
		        "pass can follow; give --input-shape C,H,W\n",
		        markdown ? "\n" : "");
}

void other_json(cJSON *j, const struct other_ctx *o)
{
	cJSON *a = cJSON_AddArrayToObject(j, "not_eie");
	for (size_t i = 0; a && i < o->n; i++) {
		const struct other_node *v = &o->v[i];
		cJSON *x = cJSON_CreateObject();
		if (!x)
			return;
		cJSON_AddItemToArray(a, x);
		cJSON_AddStringToObject(x, "node", v->name);
		cJSON_AddStringToObject(x, "op", v->op);
		cJSON_AddNumberToObject(x, "weights", (double)v->weights);
		cJSON_AddNumberToObject(x, "nonzeros", (double)v->nonzeros);
		cJSON_AddNumberToObject(x, "storage_bits",
		                        (double)v->storage_bits);
		if (v->macs_known) {
			cJSON_AddNumberToObject(x, "macs_dense",
			                        (double)v->macs_dense);
			cJSON_AddNumberToObject(x, "macs_sparse",
			                        (double)v->macs_sparse);
		} else {
			cJSON_AddNullToObject(x, "macs_dense");
			cJSON_AddNullToObject(x, "macs_sparse");
		}
		cJSON_AddNumberToObject(x, "bytes",
		                        (double)((v->storage_bits + 7) / 8));
		if (v->conv) {
			cJSON *s = cJSON_AddObjectToObject(x, "shape");
			if (s) {
				cJSON_AddNumberToObject(s, "c_in", (double)v->shape.c_in);
				cJSON_AddNumberToObject(s, "h", (double)v->shape.h);
				cJSON_AddNumberToObject(s, "w", (double)v->shape.w);
				cJSON_AddNumberToObject(s, "c_out",
				                        (double)v->shape.c_out);
				cJSON_AddNumberToObject(s, "kh", (double)v->shape.kh);
				cJSON_AddNumberToObject(s, "kw", (double)v->shape.kw);
				cJSON_AddNumberToObject(s, "stride",
				                        (double)v->shape.stride);
				cJSON_AddNumberToObject(s, "pad", (double)v->shape.pad);
			}
		}
		cJSON_AddBoolToObject(x, "eie", 0);
	}
	if (o->shape_from)
		cJSON_AddStringToObject(j, "conv_shapes_from", o->shape_from);
}

/* The CSV columns after the report's and the designs': what says which
 * rows are EIE's, and the figures the other nodes have of their own. */
void other_csv_head(FILE *f)
{
	fputs(",eie,op,weights,weight_storage_bits,conv_c_in,conv_h,conv_w,"
	      "conv_c_out,conv_kh,conv_kw,conv_stride,conv_pad", f);
}

void other_csv_layer(FILE *f, uint64_t weights)
{
	fprintf(f, ",%llu,,,,,,,,,", (unsigned long long)weights);
}

void other_csv_total(FILE *f)
{
	fputs(",,,,,,,,,,", f);
}

void other_csv_node(FILE *f, const struct other_node *v)
{
	fprintf(f, ",%llu,%llu", (unsigned long long)v->weights,
	        (unsigned long long)v->storage_bits);
	if (!v->conv) {
		fputs(",,,,,,,,", f);
		return;
	}
	const spz_conv_shape *s = &v->shape;
	const int64_t d[8] = {s->c_in, s->h, s->w, s->c_out, s->kh, s->kw,
	                      s->stride, s->pad};
	for (int k = 0; k < 8; k++)
		fprintf(f, ",%lld", (long long)d[k]);
}
