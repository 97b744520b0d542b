/*
 * model_json.c - the JSON model format and the manifest of the binary
 * format, which is the same JSON with tensor payloads moved out to
 * sections. One writer and one reader serve both (formats/README.md).
 */
#define _POSIX_C_SOURCE 200809L
#include "model_io.h"

#include "json_strict.h"
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Writer                                                              */

static const char b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Bytes as a base64 JSON string (RFC 4648, padded). */
static void put_base64(FILE *f, const uint8_t *p, size_t n)
{
	char out[4 * 256];
	size_t k = 0;
	fputc('"', f);
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		out[k++] = b64[v >> 18 & 63];
		out[k++] = b64[v >> 12 & 63];
		out[k++] = i + 1 < n ? b64[v >> 6 & 63] : '=';
		out[k++] = i + 2 < n ? b64[v & 63] : '=';
		if (k == sizeof out) {
			fwrite(out, 1, k, f);
			k = 0;
		}
	}
	fwrite(out, 1, k, f);
	fputc('"', f);
}

int spz_model_version(const spz_model *m)
{
	if (m->onnx)
		return 2;
	for (size_t i = 0; i < m->n_tensors; i++)
		if (m->tensors[i].dtype != SPZ_DTYPE_FLOAT ||
		    m->tensors[i].onnx_enc)
			return 2;
	return 1;
}

static void put_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void put_strv(FILE *f, char *const *v, size_t n)
{
	fputc('[', f);
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputs(", ", f);
		put_str(f, v[i]);
	}
	fputc(']', f);
}

static void put_double(FILE *f, double v)
{
	char b[32];
	fputs(spz_format_double(b, v), f);
}

/* Number arrays are formatted into this much memory and written in one
 * fwrite each time it fills: a stdio call per number costs more than the
 * formatting. */
#define ARRAY_CHUNK ((size_t)1 << 16)

/* Room for one more value and its separator and indent. */
#define ARRAY_ROOM 64

/* A float array, 8 numbers a line, or codes, 32 a line, at the given
 * indent (at most 16 blanks). */
static void put_array(FILE *f, const float *fv, const uint8_t *cv, size_t n,
                      const char *ind, spz_wprog *wp)
{
	char *b = malloc(ARRAY_CHUNK);
	char small[256];
	size_t cap = ARRAY_CHUNK, k = 0, il = strlen(ind);
	size_t per_line = fv ? 8 : 32;
	if (!b) {
		/* Out of memory: a smaller buffer still writes the same. */
		b = small;
		cap = sizeof small;
	}
	b[k++] = '[';
	for (size_t i = 0; i < n; i++) {
		if (cap - k < ARRAY_ROOM) {
			fwrite(b, 1, k, f);
			k = 0;
			/* Formatting the numbers is most of writing JSON. */
			if (wp && wp->fn)
				wp->fn(wp->ctx, wp->done + (double)i, wp->total);
		}
		if (i)
			b[k++] = ',';
		if (n > per_line && i % per_line == 0) {
			b[k++] = '\n';
			memcpy(b + k, ind, il);
			k += il;
			b[k++] = ' ';
			b[k++] = ' ';
		} else if (i) {
			b[k++] = ' ';
		}
		if (fv) {
			k += spz_float_text(b + k, fv[i]);
		} else {
			unsigned c = cv[i];
			if (c >= 100)
				b[k++] = (char)('0' + c / 100);
			if (c >= 10)
				b[k++] = (char)('0' + c / 10 % 10);
			b[k++] = (char)('0' + c % 10);
		}
	}
	if (cap - k < ARRAY_ROOM) {
		fwrite(b, 1, k, f);
		k = 0;
	}
	if (n > per_line) {
		b[k++] = '\n';
		memcpy(b + k, ind, il);
		k += il;
	}
	b[k++] = ']';
	fwrite(b, 1, k, f);
	if (wp)
		wp->done += (double)n;
	if (b != small)
		free(b);
}

static void put_floats(FILE *f, const float *v, size_t n, const char *ind)
{
	put_array(f, v, NULL, n, ind, NULL);
}

static void put_attrs(FILE *f, const spz_node *n)
{
	fputc('{', f);
	for (size_t i = 0; i < n->n_attrs; i++) {
		const spz_attr *a = &n->attrs[i];
		fputs(i ? ", " : "", f);
		put_str(f, a->name);
		fputs(": ", f);
		if (a->type == SPZ_ATTR_NUMBER) {
			put_double(f, a->number);
		} else if (a->type == SPZ_ATTR_STRING) {
			put_str(f, a->string);
		} else {
			fputc('[', f);
			for (size_t k = 0; k < a->n_numbers; k++) {
				fputs(k ? ", " : "", f);
				put_double(f, a->numbers[k]);
			}
			fputc(']', f);
		}
	}
	fputc('}', f);
}

static void put_prune(FILE *f, const spz_prune_record *p)
{
	fputs(",\n      \"pruning\": {\"mode\": ", f);
	put_str(f, p->mode);
	fputs(", \"scope\": ", f);
	put_str(f, p->scope);
	fputs(", \"target\": ", f);
	put_double(f, p->target);
	fputs(", \"threshold\": ", f);
	put_double(f, p->threshold);
	fputs(", \"density\": ", f);
	put_double(f, p->density);
	fprintf(f, ", \"n\": %d, \"m\": %d}", p->nm_n, p->nm_m);
}

/* Where big tensors go when a JSON model keeps them in a raw file. */
typedef struct ext_out {
	FILE *f;
	const char *loc;    /* as the model names it */
	uint64_t threshold; /* bytes of data from which a tensor goes */
	uint64_t off;       /* bytes written so far */
} ext_out;

/* n floats as little-endian float32 (the external data format), telling
 * wp (may be NULL) about every SPZ_WPROG_BYTES and at the end. */
static void put_le_floats(FILE *f, const float *v, size_t n, spz_wprog *wp)
{
	uint8_t b[4096];
	size_t told = 0, sent = 0;
	while (n) {
		size_t k = n < sizeof b / 4 ? n : sizeof b / 4;
		for (size_t i = 0; i < k; i++) {
			uint32_t u;
			memcpy(&u, &v[i], 4);
			b[4 * i] = (uint8_t)u;
			b[4 * i + 1] = (uint8_t)(u >> 8);
			b[4 * i + 2] = (uint8_t)(u >> 16);
			b[4 * i + 3] = (uint8_t)(u >> 24);
		}
		fwrite(b, 4, k, f);
		v += k;
		n -= k;
		sent += k;
		if ((sent - told) * 4 >= SPZ_WPROG_BYTES && wp) {
			told = sent;
			spz_wprog_at(wp, wp->done + (double)sent);
		}
	}
	if (wp) {
		wp->done += (double)sent;
		spz_wprog_at(wp, wp->done);
	}
}

static void put_tensor(FILE *f, const spz_tensor *t,
                       const spz_section *sec, ext_out *x,
                       spz_wprog *wp)
{
	int64_t n = spz_tensor_elements(t);
	fputs("    {\"name\": ", f);
	put_str(f, t->name);
	fprintf(f, ", \"data_type\": %d, \"dims\": [", t->dtype);
	for (int d = 0; d < t->ndims; d++)
		fprintf(f, "%s%lld", d ? ", " : "", (long long)t->dims[d]);
	fputc(']', f);
	if (t->prune)
		put_prune(f, t->prune);
	if (t->onnx_enc) {
		fprintf(f, ",\n      \"onnx_enc\": %d, \"onnx\": ", t->onnx_enc);
		put_base64(f, t->onnx, t->onnx_len);
	}
	if (t->codebook) {
		fprintf(f, ",\n      \"bits\": %d, \"codebook\": ", t->bits);
		put_floats(f, t->codebook, t->codebook_size, "      ");
	}
	if (sec) {
		fprintf(f, ",\n      \"offset\": %llu, \"length\": %llu, "
		           "\"crc32\": %lu%s}",
		        (unsigned long long)sec->offset,
		        (unsigned long long)sec->length,
		        (unsigned long)sec->crc,
		        sec->encoding == SPZ_ENC_BITMASK
		                ? ", \"encoding\": \"bitmask\"" : "");
	} else if (!t->data && !t->codebook) {
		fputs(",\n      \"raw\": ", f);
		put_base64(f, t->raw, (size_t)t->raw_len);
		fputc('}', f);
	} else if (t->codebook) {
		fputs(",\n      \"codes\": ", f);
		put_array(f, NULL, t->codes, (size_t)n, "      ", wp);
		fputc('}', f);
	} else if (x && (uint64_t)n * 4 >= x->threshold) {
		fputs(",\n      \"external_data\": {\"location\": ", f);
		put_str(f, x->loc);
		fprintf(f, ", \"offset\": %llu, \"length\": %llu}}",
		        (unsigned long long)x->off,
		        (unsigned long long)n * 4);
		put_le_floats(x->f, t->data, (size_t)n, wp);
		x->off += (uint64_t)n * 4;
	} else {
		fputs(",\n      \"data\": ", f);
		put_array(f, t->data, NULL, (size_t)n, "      ", wp);
		fputc('}', f);
	}
}

int spz_manifest_text(char **text, size_t *len, const spz_model *m,
                      const spz_section *sections, spz_error *err)
{
	FILE *mf = open_memstream(text, len);
	if (!mf)
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	spz_write_manifest(mf, m, sections);
	if (fclose(mf))
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	return 0;
}

static void write_model(FILE *f, const spz_model *m,
                        const spz_section *sections, ext_out *x,
                        spz_wprog *wp);

void spz_write_manifest(FILE *f, const spz_model *m,
                        const spz_section *sections)
{
	write_model(f, m, sections, NULL, NULL);
}

void spz_write_json(FILE *f, const spz_model *m, spz_wprog *wp)
{
	write_model(f, m, NULL, NULL, wp);
}

int spz_json_save_external(const spz_model *m, const char *path,
                           const char *external, uint64_t threshold,
                           spz_error *err)
{
	return spz_json_save_external_opts(m, path, external, threshold, NULL,
	                                   err);
}

int spz_json_save_external_opts(const spz_model *m, const char *path,
                                const char *external, uint64_t threshold,
                                const spz_save_opts *opts, spz_error *err)
{
	/* The location is relative to the model's folder: the file goes
	 * beside the model, as ONNX's external data does. */
	const char *loc = strrchr(external, '/') ? strrchr(external, '/') + 1
	                                         : external;
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	if (!*loc || !strcmp(loc, ".") || !strcmp(loc, ".."))
		return spz_fail(err, SPZ_EINVAL, "the external data file needs "
		                "a file name, not '%s'", external);
	if (!strcmp(loc, base))
		return spz_fail(err, SPZ_EINVAL, "the external data file '%s' "
		                "would be the model itself", loc);
	spz_error sub = {0};
	int rc = spz_model_validate(m, &sub);
	if (rc)
		return spz_fail(err, rc, "cannot write '%s': %s", path, sub.text);
	size_t dl = (size_t)(base - path);
	char *full = malloc(dl + strlen(loc) + 1);
	if (!full)
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	memcpy(full, path, dl);
	strcpy(full + dl, loc);
	spz_output o, e;
	rc = spz_output_open(&o, path, err);
	if (!rc && (rc = spz_output_open(&e, full, err)))
		spz_output_abort(&o);
	free(full);
	if (rc)
		return rc;
	ext_out x = {e.f, loc, threshold, 0};
	spz_wprog wp = spz_wprog_for(m, opts);
	write_model(o.f, m, NULL, &x, &wp);
	spz_wprog_at(&wp, wp.total);
	/* Both or neither: the data first, the model that names it last. */
	if ((rc = spz_output_commit(&e, err))) {
		spz_output_abort(&o);
		return rc;
	}
	return spz_output_commit(&o, err);
}

static void write_model(FILE *f, const spz_model *m,
                        const spz_section *sections, ext_out *x,
                        spz_wprog *wp)
{
	fprintf(f, "{\n  \"format\": \"spz-model\",\n  \"version\": %d,\n"
	           "  \"name\": ", spz_model_version(m));
	put_str(f, m->name);
	fputs(",\n  \"inputs\": ", f);
	put_strv(f, m->inputs, m->n_inputs);
	fputs(",\n  \"outputs\": ", f);
	put_strv(f, m->outputs, m->n_outputs);
	fputs(",\n  \"nodes\": [", f);
	for (size_t i = 0; i < m->n_nodes; i++) {
		const spz_node *n = &m->nodes[i];
		fputs(i ? ",\n    {\"op\": " : "\n    {\"op\": ", f);
		put_str(f, n->op);
		fputs(", \"name\": ", f);
		put_str(f, n->name);
		fputs(", \"inputs\": ", f);
		put_strv(f, n->inputs, n->n_inputs);
		fputs(", \"outputs\": ", f);
		put_strv(f, n->outputs, n->n_outputs);
		fputs(", \"attributes\": ", f);
		put_attrs(f, n);
		fputc('}', f);
	}
	fputs(m->n_nodes ? "\n  ],\n  \"initializers\": [" : "],\n"
	                   "  \"initializers\": [", f);
	for (size_t i = 0; i < m->n_tensors; i++) {
		fputs(i ? ",\n" : "\n", f);
		put_tensor(f, &m->tensors[i], sections ? &sections[i] : NULL,
		           x, wp);
	}
	fputs(m->n_tensors ? "\n  ],\n  \"history\": [" : "],\n"
	                     "  \"history\": [", f);
	for (size_t i = 0; i < m->n_history; i++) {
		const spz_step *s = &m->history[i];
		fputs(i ? ",\n    {\"tool\": " : "\n    {\"tool\": ", f);
		put_str(f, s->tool);
		fputs(", \"version\": ", f);
		put_str(f, s->version);
		fputs(", \"params\": {", f);
		for (size_t k = 0; k < s->n_params; k++) {
			fputs(k ? ", " : "", f);
			put_str(f, s->params[k].key);
			fputs(": ", f);
			put_str(f, s->params[k].value);
		}
		fputs("}}", f);
	}
	fputs(m->n_history ? "\n  ]" : "]", f);
	if (m->onnx) {
		fputs(",\n  \"onnx\": ", f);
		put_base64(f, m->onnx, m->onnx_len);
	}
	fputs("\n}\n", f);
}

/* ------------------------------------------------------------------ */
/* Reader                                                              */

typedef struct reader {
	const char *label;
	const char *dir;
	spz_error *err;
	int version;
	const spz_json_doc *doc; /* number arrays left as text; or NULL */
} reader;

#define SHAPE(r, ...) spz_fail((r)->err, SPZ_EFORMAT, __VA_ARGS__)

static const cJSON *field(const cJSON *obj, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(obj, key);
}

static int get_string(reader *r, const cJSON *obj, const char *key,
                      const char *where, const char **out)
{
	const cJSON *v = field(obj, key);
	if (!cJSON_IsString(v))
		return SHAPE(r, "'%s': %s: \"%s\" must be a string", r->label,
		             where, key);
	*out = v->valuestring;
	return spz_json_check_name(v->valuestring, r->label, where, key,
	                           r->err);
}

/* An integer-valued JSON number within [lo, hi]. */
static int get_int(reader *r, const cJSON *v, const char *what,
                   const char *where, double lo, double hi, int64_t *out)
{
	if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
	    v->valuedouble < lo || v->valuedouble > hi)
		return SHAPE(r, "'%s': %s: %s must be an integer in %.0f..%.0f",
		             r->label, where, what, lo, hi);
	*out = (int64_t)v->valuedouble;
	return 0;
}

static int b64_value(int c)
{
	const char *p = c ? strchr(b64, c) : NULL;
	return p ? (int)(p - b64) : -1;
}

/* A base64 JSON string into a new buffer (*out NULL when empty). */
static int get_base64(reader *r, const cJSON *v, const char *where,
                      const char *key, uint8_t **out, size_t *len)
{
	if (!cJSON_IsString(v))
		return spz_fail(r->err, SPZ_EFORMAT, "'%s': %s: \"%s\" must be "
		                "a base64 string", r->label, where, key);
	const char *s = v->valuestring;
	size_t n = strlen(s);
	if (n % 4)
		return spz_fail(r->err, SPZ_EFORMAT, "'%s': %s: \"%s\" is not "
		                "base64 (length %zu)", r->label, where, key, n);
	uint8_t *b = malloc(n / 4 * 3 + 1);
	if (!b)
		return spz_fail(r->err, SPZ_ENOMEM, "out of memory");
	size_t k = 0;
	for (size_t i = 0; i < n; i += 4) {
		int d[4], pad = 0;
		for (int j = 0; j < 4; j++) {
			d[j] = b64_value((unsigned char)s[i + j]);
			if (s[i + j] == '=' && i + 4 == n && j >= 2 &&
			    (j == 3 || s[i + 3] == '=')) {
				d[j] = 0;
				pad++;
			} else if (d[j] < 0) {
				free(b);
				return spz_fail(r->err, SPZ_EFORMAT, "'%s': %s: "
				                "\"%s\" is not base64 (at "
				                "character %zu)", r->label, where,
				                key, i + (size_t)j);
			}
		}
		uint32_t x = (uint32_t)d[0] << 18 | (uint32_t)d[1] << 12 |
		             (uint32_t)d[2] << 6 | (uint32_t)d[3];
		b[k++] = (uint8_t)(x >> 16);
		if (pad < 2)
			b[k++] = (uint8_t)(x >> 8);
		if (pad < 1)
			b[k++] = (uint8_t)x;
	}
	if (!k) {
		free(b);
		b = NULL;
	}
	*out = b;
	*len = k;
	return 0;
}

/* The ONNX record of a tensor (version 2), if any. */
static int read_tensor_onnx(reader *r, spz_tensor *t, const cJSON *j)
{
	const cJSON *enc = field(j, "onnx_enc"), *sh = field(j, "onnx");
	if (!enc && !sh)
		return 0;
	char where[300];
	snprintf(where, sizeof where, "tensor '%s'", t->name);
	int64_t e;
	int rc = get_int(r, enc, "\"onnx_enc\"", where, -1, 16, &e);
	uint8_t *b = NULL;
	size_t n = 0;
	if (!rc && r->version < 2)
		rc = SHAPE(r, "'%s': %s: \"onnx\" needs format version 2",
		           r->label, where);
	if (!rc)
		rc = get_base64(r, sh, where, "onnx", &b, &n);
	if (!rc && spz_tensor_set_onnx(t, b, n, (int)e))
		rc = spz_fail(r->err, SPZ_ENOMEM, "out of memory");
	free(b);
	return rc;
}

static int get_strv(reader *r, const cJSON *obj, const char *key,
                    const char *where, const char ***out, size_t *n)
{
	const cJSON *a = field(obj, key);
	if (!cJSON_IsArray(a))
		return SHAPE(r, "'%s': %s: \"%s\" must be an array of strings",
		             r->label, where, key);
	size_t cnt = (size_t)cJSON_GetArraySize(a), i = 0;
	const char **v = calloc(cnt ? cnt : 1, sizeof *v);
	if (!v)
		return spz_fail(r->err, SPZ_ENOMEM, "out of memory");
	const cJSON *e;
	cJSON_ArrayForEach(e, a) {
		if (!cJSON_IsString(e)) {
			free(v);
			return SHAPE(r, "'%s': %s: \"%s\" must be an array of "
			             "strings", r->label, where, key);
		}
		int rc = spz_json_check_name(e->valuestring, r->label, where,
		                             key, r->err);
		if (rc) {
			free(v);
			return rc;
		}
		v[i++] = e->valuestring;
	}
	*out = v;
	*n = cnt;
	return 0;
}

static int read_attrs(reader *r, spz_node *node, const cJSON *a,
                      const char *where)
{
	if (!a)
		return 0;
	if (!cJSON_IsObject(a))
		return SHAPE(r, "'%s': %s: \"attributes\" must be an object",
		             r->label, where);
	const cJSON *e;
	cJSON_ArrayForEach(e, a) {
		int rc = SPZ_EFORMAT;
		/* 1e400 parses as infinity, which no JSON can hold. */
		if (cJSON_IsNumber(e) && isfinite(e->valuedouble)) {
			rc = spz_node_set_number(node, e->string,
			                         e->valuedouble);
		} else if (cJSON_IsString(e)) {
			rc = spz_node_set_string(node, e->string,
			                         e->valuestring);
		} else if (cJSON_IsArray(e)) {
			size_t cnt = (size_t)cJSON_GetArraySize(e), i = 0;
			double *v = malloc((cnt ? cnt : 1) * sizeof *v);
			const cJSON *x;
			rc = v ? 0 : SPZ_ENOMEM;
			cJSON_ArrayForEach(x, e) {
				if (!cJSON_IsNumber(x) ||
				    !isfinite(x->valuedouble))
					rc = SPZ_EFORMAT;
				else if (v)
					v[i++] = x->valuedouble;
			}
			if (!rc)
				rc = spz_node_set_numbers(node, e->string, v,
				                          cnt);
			free(v);
		}
		if (rc == SPZ_EFORMAT)
			return SHAPE(r, "'%s': %s: attribute '%s' must be a "
			             "finite number, a string or an array of "
			             "numbers",
			             r->label, where, e->string);
		if (rc)
			return spz_fail(r->err, rc, "out of memory");
	}
	return 0;
}

static int read_node(reader *r, spz_model *m, const cJSON *j, size_t idx)
{
	char where[64];
	snprintf(where, sizeof where, "node %zu", idx);
	if (!cJSON_IsObject(j))
		return SHAPE(r, "'%s': %s must be an object", r->label, where);
	static const char *const keys[] = {"op", "name", "inputs", "outputs",
	                                   "attributes"};
	const char *op = NULL, *name = NULL, **ins = NULL, **outs = NULL;
	size_t ni = 0, no = 0;
	int rc = spz_json_only_keys(j, keys, 5, r->label, where, r->err);
	if (!rc)
		rc = get_string(r, j, "op", where, &op);
	if (!rc)
		rc = get_string(r, j, "name", where, &name);
	if (!rc)
		rc = get_strv(r, j, "inputs", where, &ins, &ni);
	if (!rc)
		rc = get_strv(r, j, "outputs", where, &outs, &no);
	spz_node *node = NULL;
	if (!rc && spz_model_add_node(&node, m, op, name, ins, ni, outs, no))
		rc = spz_fail(r->err, SPZ_ENOMEM, "out of memory");
	free(ins);
	free(outs);
	if (!rc)
		rc = read_attrs(r, node, field(j, "attributes"), where);
	return rc;
}

/* Elements of a JSON array (cJSON_GetArraySize is an int). */
static int64_t array_len(const cJSON *a)
{
	int64_t n = 0;
	for (const cJSON *e = a->child; e; e = e->next)
		n++;
	return n;
}

/* Refuses an array that does not hold exactly n values, before the
 * tensor's storage is allocated: a small file declaring huge dims fails
 * with its true fault, not "out of memory". */
static int check_count(reader *r, const cJSON *a, int64_t n,
                       const char *tname, const char *key,
                       const char *kind)
{
	if (!cJSON_IsArray(a))
		return SHAPE(r, "'%s': tensor '%s': \"%s\" must be an array of "
		             "%s", r->label, tname, key, kind);
	int64_t got = array_len(a);
	if (got != n)
		return spz_fail(r->err, SPZ_EFORMAT,
		                "'%s': tensor '%s': \"%s\" has %lld values but "
		                "the dims give %lld", r->label, tname, key,
		                (long long)got, (long long)n);
	return 0;
}

/* Reads a float array of exactly n numbers into dst. */
static int read_floats(reader *r, const cJSON *a, float *dst, int64_t n,
                       const char *tname, const char *key)
{
	if (!cJSON_IsArray(a))
		return SHAPE(r, "'%s': tensor '%s': \"%s\" must be an array of "
		             "numbers", r->label, tname, key);
	int64_t i = 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, a) {
		if (!cJSON_IsNumber(e))
			return SHAPE(r, "'%s': tensor '%s': \"%s\"[%lld] is not "
			             "a number", r->label, tname, key,
			             (long long)i);
		if (i < n) {
			float v = (float)e->valuedouble;
			if (!isfinite(v))
				return spz_fail(r->err, SPZ_ERANGE,
				                "'%s': tensor '%s': %s[%lld] is "
				                "outside the float32 range",
				                r->label, tname, key,
				                (long long)i);
			dst[i] = v;
		}
		i++;
	}
	if (i != n)
		return spz_fail(r->err, SPZ_EFORMAT,
		                "'%s': tensor '%s': \"%s\" has %lld values but "
		                "the dims give %lld", r->label, tname, key,
		                (long long)i, (long long)n);
	return 0;
}

/* A span's count against the dims, as check_count does for an array. */
static int check_span(reader *r, const spz_json_span *sp, int64_t n,
                      const char *tname, const char *key)
{
	if (sp->count != n)
		return spz_fail(r->err, SPZ_EFORMAT,
		                "'%s': tensor '%s': \"%s\" has %lld values but "
		                "the dims give %lld", r->label, tname, key,
		                (long long)sp->count, (long long)n);
	return 0;
}

/* The next number of a span ending at end: blanks and commas before it
 * are skipped. */
static double span_next(const char **p, const char *end)
{
	const char *q = *p;
	while (*q == ' ' || *q == ',' || *q == '\n' || *q == '\t' ||
	       *q == '\r')
		q++;
	double v = spz_json_number(&q, end);
	*p = q;
	return v;
}

/* Progress every 2^18 numbers (about 1 MB of text): the position in the
 * text is the position in the file, which was read whole from its start. */
#define SPAN_TICK ((1 << 18) - 1)

static void span_progress(const reader *r, const char *p)
{
	if (r->doc->in)
		spz_input_progress(r->doc->in, (uint64_t)(p - r->doc->text));
}

/* read_floats for the "data" of a tensor left as text. */
static int read_span_floats(reader *r, const spz_json_span *sp, float *dst,
                            const char *tname)
{
	const char *p = r->doc->text + sp->off, *end = p + sp->len;
	for (int64_t i = 0; i < sp->count; i++) {
		/* Parsing the numbers is most of reading a JSON model. */
		if (!(i & SPAN_TICK))
			span_progress(r, p);
		float v = (float)span_next(&p, end);
		if (!isfinite(v))
			return spz_fail(r->err, SPZ_ERANGE,
			                "'%s': tensor '%s': data[%lld] is outside "
			                "the float32 range", r->label, tname,
			                (long long)i);
		dst[i] = v;
	}
	return 0;
}

/* read_codes for codes left as text. */
static int read_span_codes(reader *r, spz_tensor *t, const spz_json_span *sp,
                           int64_t n)
{
	int rc = check_span(r, sp, n, t->name, "codes");
	if (!rc)
		rc = spz_tensor_alloc(t, r->err);
	if (rc)
		return rc;
	const char *p = r->doc->text + sp->off, *end = p + sp->len;
	for (int64_t i = 0; i < n; i++) {
		if (!(i & SPAN_TICK))
			span_progress(r, p);
		double v = span_next(&p, end);
		if (v != floor(v) || v < 0 || v >= t->codebook_size)
			return spz_fail(r->err, SPZ_ERANGE,
			                "'%s': tensor '%s': codes[%lld] is not a "
			                "code of the %u-entry codebook", r->label,
			                t->name, (long long)i, t->codebook_size);
		t->codes[i] = (uint8_t)v;
	}
	return 0;
}

static int read_external(reader *r, const cJSON *x, spz_tensor *t,
                         int64_t n)
{
	const char *loc = NULL;
	int64_t off, len;
	char where[300];
	snprintf(where, sizeof where, "tensor '%s' external_data", t->name);
	if (!cJSON_IsObject(x))
		return SHAPE(r, "'%s': %s must be an object", r->label, where);
	static const char *const keys[] = {"location", "offset", "length"};
	int rc = spz_json_only_keys(x, keys, 3, r->label, where, r->err);
	if (!rc)
		rc = get_string(r, x, "location", where, &loc);
	if (!rc)
		rc = get_int(r, field(x, "offset"), "\"offset\"", where, 0,
		             9007199254740992.0, &off);
	if (!rc)
		rc = get_int(r, field(x, "length"), "\"length\"", where, 0,
		             9007199254740992.0, &len);
	if (rc)
		return rc;
	if (len != n * 4)
		return spz_fail(r->err, SPZ_EFORMAT,
		                "'%s': %s: length %lld differs from the %lld "
		                "bytes the dims give", r->label, where,
		                (long long)len, (long long)(n * 4));
	int fd;
	uint64_t size;
	spz_error sub;
	if ((rc = spz_open_inside(&fd, &size, r->dir, loc, &sub)))
		return spz_fail(r->err, rc, "'%s': %s: %s", r->label, where,
		                sub.text);
	char path[8192];
	snprintf(path, sizeof path, "%s/%s", r->dir, loc);
	if ((uint64_t)off + (uint64_t)len > size) {
		close(fd);
		return spz_fail(r->err, SPZ_EFORMAT,
		                "'%s': %s: bytes %lld..%lld are past the end of "
		                "'%s' (%llu bytes)", r->label, where,
		                (long long)off, (long long)(off + len), path,
		                (unsigned long long)size);
	}
	if ((rc = spz_tensor_alloc(t, r->err))) {
		close(fd);
		return rc;
	}
	size_t got = 0;
	while (got < (size_t)len) {
		ssize_t k = pread(fd, (char *)t->data + got, (size_t)len - got,
		                  (off_t)(off + (int64_t)got));
		if (k <= 0) {
			close(fd);
			return spz_fail(r->err, SPZ_EIO, "'%s': cannot read "
			                "'%s'", r->label, path);
		}
		got += (size_t)k;
	}
	close(fd);
	spz_le32_to_host(t->data, (size_t)n);
	if (spz_tensor_check_values(t, 0, n, &sub))
		return spz_fail(r->err, sub.code, "'%s': %s", r->label,
		                sub.text);
	return 0;
}

static int read_prune(reader *r, spz_tensor *t, const cJSON *p)
{
	if (!p)
		return 0;
	static const char *const all[] = {"mode", "scope", "target",
	                                  "threshold", "density", "n", "m"};
	if (cJSON_IsObject(p)) {
		char in[300];
		snprintf(in, sizeof in, "tensor '%s' pruning", t->name);
		int rc = spz_json_only_keys(p, all, 7, r->label, in, r->err);
		if (rc)
			return rc;
	}
	const cJSON *mode = field(p, "mode"), *scope = field(p, "scope");
	const char *keys[] = {"target", "threshold", "density", "n", "m"};
	double v[5];
	int ok = cJSON_IsObject(p) && cJSON_IsString(mode) &&
	         cJSON_IsString(scope) &&
	         strlen(mode->valuestring) < sizeof t->prune->mode &&
	         strlen(scope->valuestring) < sizeof t->prune->scope;
	for (int i = 0; ok && i < 5; i++) {
		const cJSON *x = field(p, keys[i]);
		ok = cJSON_IsNumber(x) && isfinite(x->valuedouble);
		v[i] = ok ? x->valuedouble : 0;
	}
	if (!ok || v[3] < 0 || v[3] > 64 || v[4] < 0 || v[4] > 64)
		return SHAPE(r, "'%s': tensor '%s': \"pruning\" must be "
		             "{\"mode\", \"scope\", \"target\", \"threshold\", "
		             "\"density\", \"n\", \"m\"}", r->label, t->name);
	char where[300];
	snprintf(where, sizeof where, "tensor '%s' pruning", t->name);
	int rc = spz_json_check_name(mode->valuestring, r->label, where,
	                             "mode", r->err);
	if (!rc)
		rc = spz_json_check_name(scope->valuestring, r->label, where,
		                         "scope", r->err);
	if (rc)
		return rc;
	spz_prune_record rec = {.target = v[0], .threshold = v[1],
	                        .density = v[2], .nm_n = (int)v[3],
	                        .nm_m = (int)v[4]};
	strcpy(rec.mode, mode->valuestring);
	strcpy(rec.scope, scope->valuestring);
	if (spz_tensor_set_prune(t, &rec))
		return spz_fail(r->err, SPZ_ENOMEM, "out of memory");
	return 0;
}

/* The codebook of a quantized tensor (codes are read by the caller). */
static int read_codebook(reader *r, spz_tensor *t, const cJSON *j)
{
	int64_t bits;
	char where[300];
	snprintf(where, sizeof where, "tensor '%s'", t->name);
	int rc = get_int(r, field(j, "bits"), "\"bits\"", where, 1, 8, &bits);
	if (rc)
		return rc;
	const cJSON *cb = field(j, "codebook");
	int64_t k = cJSON_IsArray(cb) ? cJSON_GetArraySize(cb) : 0;
	if (k < 1 || k > (1 << bits))
		return SHAPE(r, "'%s': %s: \"codebook\" must hold 1..%d numbers",
		             r->label, where, 1 << (int)bits);
	float *book = malloc((size_t)k * sizeof *book);
	if (!book)
		return spz_fail(r->err, SPZ_ENOMEM, "out of memory");
	/* The codes are allocated once their count is known to match. */
	spz_tensor_set_quantized(t, (int)bits, book, (uint32_t)k, NULL);
	return read_floats(r, cb, book, k, t->name, "codebook");
}

static int read_codes(reader *r, spz_tensor *t, const cJSON *a, int64_t n)
{
	const spz_json_span *sp = spz_json_span_of(r->doc, a);
	if (sp)
		return read_span_codes(r, t, sp, n);
	int rc = check_count(r, a, n, t->name, "codes", "integers");
	if (!rc)
		rc = spz_tensor_alloc(t, r->err);
	if (rc)
		return rc;
	int64_t i = 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, a) {
		double v = cJSON_IsNumber(e) ? e->valuedouble : -1;
		if (v != floor(v) || v < 0 || v >= t->codebook_size)
			return spz_fail(r->err, SPZ_ERANGE,
			                "'%s': tensor '%s': codes[%lld] is not a "
			                "code of the %u-entry codebook", r->label,
			                t->name, (long long)i, t->codebook_size);
		if (i < n)
			t->codes[i] = (uint8_t)v;
		i++;
	}
	if (i != n)
		return spz_fail(r->err, SPZ_EFORMAT,
		                "'%s': tensor '%s': \"codes\" has %lld values "
		                "but the dims give %lld", r->label, t->name,
		                (long long)i, (long long)n);
	return 0;
}

/* The offset, length and crc32 of a payload in a binary manifest. */
static int read_section(reader *r, const cJSON *j, size_t idx,
                        spz_section *sec)
{
	int64_t off = 0, len = 0, crc = 0;
	char where[64];
	snprintf(where, sizeof where, "tensor %zu", idx);
	int rc = get_int(r, field(j, "offset"), "\"offset\"", where, 0,
	                 9007199254740992.0, &off);
	if (!rc)
		rc = get_int(r, field(j, "length"), "\"length\"", where, 0,
		             9007199254740992.0, &len);
	if (!rc)
		rc = get_int(r, field(j, "crc32"), "\"crc32\"", where, 0,
		             4294967295.0, &crc);
	sec->offset = (uint64_t)off;
	sec->length = (uint64_t)len;
	sec->crc = (uint32_t)crc;
	/* The payload's encoding (.spzm, formats/README.md): absent for
	 * the plain elements, as every file before it was written. */
	const cJSON *enc = field(j, "encoding");
	sec->encoding = SPZ_ENC_DENSE;
	if (!rc && enc) {
		if (!cJSON_IsString(enc) || strcmp(enc->valuestring, "bitmask"))
			rc = SHAPE(r, "'%s': %s: \"encoding\" must be "
			           "\"bitmask\" (or absent for the plain "
			           "elements)", r->label, where);
		sec->encoding = SPZ_ENC_BITMASK;
	}
	return rc;
}

/* A tensor of a type the algorithms do not interpret (version 2): its
 * little-endian bytes, base64 in "raw" (JSON) or as the payload. */
static int read_raw_tensor(reader *r, spz_model *m, const cJSON *j,
                           const char *name, int dtype,
                           const int64_t *dims, int nd, spz_section *sec,
                           size_t idx)
{
	uint8_t *b = NULL;
	size_t n = 0;
	int rc = 0;
	if (field(j, "data") || field(j, "external_data") ||
	    field(j, "codebook") || field(j, "codes") || field(j, "pruning"))
		return SHAPE(r, "'%s': tensor '%s' of data_type %d holds its "
		             "bytes in \"raw\" only", r->label, name, dtype);
	if (sec) {
		rc = read_section(r, j, idx, sec);
		n = (size_t)sec->length;
	} else {
		char where[300];
		snprintf(where, sizeof where, "tensor '%s'", name);
		rc = get_base64(r, field(j, "raw"), where, "raw", &b, &n);
	}
	spz_tensor *t = NULL;
	spz_error sub = {0};
	if (!rc && (rc = spz_model_add_raw_tensor(&t, m, name, dtype, dims, nd,
	                                          b, n, &sub)))
		rc = spz_fail(r->err, rc, "'%s': %s", r->label, sub.text);
	free(b);
	if (!rc)
		rc = read_tensor_onnx(r, t, j);
	return rc;
}

static int read_tensor(reader *r, spz_model *m, const cJSON *j, size_t idx,
                       spz_section *sec)
{
	char where[64];
	snprintf(where, sizeof where, "initializer %zu", idx);
	if (!cJSON_IsObject(j))
		return SHAPE(r, "'%s': %s must be an object", r->label, where);
	/* The last keys of each list are version 2's (ONNX records). */
	static const char *const json_keys[] = {
		"name", "data_type", "dims", "pruning", "bits", "codebook",
		"codes", "data", "external_data", "onnx", "onnx_enc", "raw"};
	static const char *const man_keys[] = {
		"name", "data_type", "dims", "pruning", "bits", "codebook",
		"offset", "length", "crc32", "encoding", "onnx", "onnx_enc"};
	const char *name = NULL;
	int64_t dtype;
	int rc = spz_json_only_keys(j, sec ? man_keys : json_keys,
	                            sec ? (r->version >= 2 ? 12 : 10)
	                                : (r->version >= 2 ? 12 : 9),
	                            r->label, where, r->err);
	if (!rc)
		rc = get_string(r, j, "name", where, &name);
	if (!rc)
		rc = get_int(r, field(j, "data_type"), "\"data_type\"", where,
		             0, 1e9, &dtype);
	if (rc)
		return rc;
	if (dtype != SPZ_DTYPE_FLOAT && r->version < 2)
		return spz_fail(r->err, SPZ_EUNSUPPORTED,
		                "'%s': tensor '%s': data_type %lld is not "
		                "supported by version 1 (only 1, float32)",
		                r->label, name, (long long)dtype);
	const cJSON *dj = field(j, "dims");
	int nd = cJSON_IsArray(dj) ? cJSON_GetArraySize(dj) : -1;
	if (nd < 0 || nd > SPZ_MAX_DIMS)
		return SHAPE(r, "'%s': tensor '%s': \"dims\" must be an array of "
		             "at most %d integers", r->label, name,
		             SPZ_MAX_DIMS);
	int64_t dims[SPZ_MAX_DIMS];
	const cJSON *e;
	int d = 0;
	cJSON_ArrayForEach(e, dj) {
		if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble))
			return SHAPE(r, "'%s': tensor '%s': \"dims\" must be "
			             "integers", r->label, name);
		if (e->valuedouble < 0 || e->valuedouble > 9.2e18)
			return spz_fail(r->err, SPZ_ERANGE,
			                "'%s': tensor '%s': dim %d is %.0f (must "
			                "be in 0..2^63)", r->label, name, d,
			                e->valuedouble);
		dims[d++] = (int64_t)e->valuedouble;
	}
	/* One source of values: with two, which one a reader took would be
	 * a guess (a hand-edited "data" silently losing to stale "codes"). */
	if (!!field(j, "data") + !!field(j, "external_data") +
	    !!(field(j, "codebook") || field(j, "codes")) > 1)
		return SHAPE(r, "'%s': tensor '%s' has more than one of \"data\", "
		             "\"external_data\" and \"codebook\"/\"codes\"",
		             r->label, name);
	spz_tensor *t;
	spz_error sub = {0};
	int have_codes = field(j, "codebook") != NULL;
	if (!spz_dtype_is_float((int)dtype))
		return read_raw_tensor(r, m, j, name, (int)dtype, dims, nd,
		                       sec, idx);
	/* No storage yet: the values must be there first. */
	rc = spz_model_add_tensor_shape(&t, m, name, dims, nd, &sub);
	if (rc)
		return spz_fail(r->err, rc, "'%s': %s", r->label, sub.text);
	t->dtype = (int)dtype;
	int64_t n = spz_tensor_elements(t);
	rc = read_prune(r, t, field(j, "pruning"));
	if (!rc)
		rc = read_tensor_onnx(r, t, j);
	if (!rc && have_codes)
		rc = read_codebook(r, t, j);
	if (rc)
		return rc;
	if (sec)
		return read_section(r, j, idx, sec);
	const cJSON *x = field(j, "external_data");
	if (have_codes)
		return read_codes(r, t, field(j, "codes"), n);
	if (x)
		return read_external(r, x, t, n);
	if (!field(j, "data"))
		return SHAPE(r, "'%s': tensor '%s' has neither \"data\", "
		             "\"external_data\" nor \"codebook\"", r->label,
		             name);
	const spz_json_span *sp = spz_json_span_of(r->doc, field(j, "data"));
	rc = sp ? check_span(r, sp, n, name, "data")
	        : check_count(r, field(j, "data"), n, name, "data", "numbers");
	if (!rc)
		rc = spz_tensor_alloc(t, r->err);
	if (rc)
		return rc;
	return sp ? read_span_floats(r, sp, t->data, name)
	          : read_floats(r, field(j, "data"), t->data, n, name, "data");
}

static int read_history(reader *r, spz_model *m, const cJSON *h)
{
	if (!h)
		return 0;
	if (!cJSON_IsArray(h))
		return SHAPE(r, "'%s': \"history\" must be an array", r->label);
	const cJSON *s;
	size_t idx = 0;
	cJSON_ArrayForEach(s, h) {
		char where[64];
		snprintf(where, sizeof where, "history step %zu", idx++);
		const char *tool = NULL, *version = NULL;
		int rc = cJSON_IsObject(s) ? 0 : SHAPE(r, "'%s': %s must be an "
		                                       "object", r->label, where);
		static const char *const keys[] = {"tool", "version", "params"};
		if (!rc)
			rc = spz_json_only_keys(s, keys, 3, r->label, where, r->err);
		if (!rc)
			rc = get_string(r, s, "tool", where, &tool);
		if (!rc)
			rc = get_string(r, s, "version", where, &version);
		const cJSON *p = field(s, "params");
		if (!rc && !cJSON_IsObject(p))
			rc = SHAPE(r, "'%s': %s: \"params\" must be an object of "
			           "strings", r->label, where);
		if (rc)
			return rc;
		size_t np = (size_t)cJSON_GetArraySize(p), k = 0;
		spz_param *pv = calloc(np ? np : 1, sizeof *pv);
		if (!pv)
			return spz_fail(r->err, SPZ_ENOMEM, "out of memory");
		const cJSON *e;
		cJSON_ArrayForEach(e, p) {
			if (!cJSON_IsString(e)) {
				free(pv);
				return SHAPE(r, "'%s': %s: \"params\" must be an "
				             "object of strings", r->label, where);
			}
			if ((rc = spz_json_check_name(e->valuestring, r->label,
			                              where, e->string,
			                              r->err))) {
				free(pv);
				return rc;
			}
			pv[k].key = e->string;
			pv[k++].value = e->valuestring;
		}
		rc = spz_model_add_step(m, tool, pv, np);
		free(pv);
		if (rc)
			return spz_fail(r->err, rc, "out of memory");
		/* Keep the version that ran the step, not ours. */
		spz_step *st = &m->history[m->n_history - 1];
		char *v = strdup(version);
		if (!v)
			return spz_fail(r->err, SPZ_ENOMEM, "out of memory");
		free(st->version);
		st->version = v;
	}
	return 0;
}

static int add_names(reader *r, spz_model *m, const cJSON *j,
                     const char *key, int (*add)(spz_model *, const char *))
{
	const char **v;
	size_t n;
	int rc = get_strv(r, j, key, "model", &v, &n);
	if (rc)
		return rc;
	for (size_t i = 0; !rc && i < n; i++)
		if (add(m, v[i]))
			rc = spz_fail(r->err, SPZ_ENOMEM, "out of memory");
	free(v);
	return rc;
}

int spz_parse_manifest(spz_model **out, spz_section **sections,
                       const char *text, size_t len, const char *label,
                       const char *dir, spz_error *err)
{
	cJSON *j = NULL;
	int rc = spz_json_parse(&j, text, len, label, err);
	if (!rc)
		rc = spz_manifest_from_json(out, sections, j, label, dir, err);
	cJSON_Delete(j);
	return rc;
}

static int from_json(spz_model **out, spz_section **sections,
                     const cJSON *j, const spz_json_doc *doc,
                     const char *label, const char *dir, spz_error *err);

int spz_manifest_from_json(spz_model **out, spz_section **sections,
                           const cJSON *j, const char *label,
                           const char *dir, spz_error *err)
{
	return from_json(out, sections, j, NULL, label, dir, err);
}

int spz_model_read_json(spz_model **out, spz_input *in, spz_error *err)
{
	spz_json_doc doc;
	int rc = spz_json_read_model(&doc, in, SPZ_JSON_MODEL_MAX,
	                             "a JSON model", err);
	if (!rc)
		rc = from_json(out, NULL, doc.root, &doc, in->label, in->dir,
		               err);
	spz_json_doc_free(&doc);
	return rc;
}

static int from_json(spz_model **out, spz_section **sections,
                     const cJSON *j, const spz_json_doc *doc,
                     const char *label, const char *dir, spz_error *err)
{
	static const char *const keys[] = {"format", "version", "name",
	                                   "inputs", "outputs", "nodes",
	                                   "initializers", "history",
	                                   "onnx"};
	reader r = {label, dir, err, 1, doc};
	spz_model *m = NULL;
	spz_section *secs = NULL;
	int rc = 0;
	const cJSON *fmt = field(j, "format"), *ver = field(j, "version");
	const cJSON *nodes = field(j, "nodes"), *inits = field(j, "initializers");
	if (!cJSON_IsObject(j) || !cJSON_IsString(fmt) ||
	    strcmp(fmt->valuestring, "spz-model")) {
		rc = SHAPE(&r, "'%s': not an spz model (no \"format\": "
		           "\"spz-model\")", label);
		goto done;
	}
	if (!cJSON_IsNumber(ver)) {
		rc = SHAPE(&r, "'%s': \"version\" must be a number", label);
		goto done;
	}
	if (ver->valuedouble != 1 && ver->valuedouble != 2) {
		rc = spz_fail(err, SPZ_EVERSION,
		              "'%s': format version %g is not supported (this "
		              "spz reads versions 1 and %d)", label,
		              ver->valuedouble, SPZ_JSON_FORMAT_VERSION);
		goto done;
	}
	r.version = (int)ver->valuedouble;
	/* After the version: a newer format's keys deserve that message;
	 * "onnx" is a version 2 key. */
	if ((rc = spz_json_only_keys(j, keys, r.version >= 2 ? 9 : 8, label,
	                             NULL, err)))
		goto done;
	const cJSON *name = field(j, "name");
	if (!cJSON_IsString(name) || !cJSON_IsArray(nodes) ||
	    !cJSON_IsArray(inits)) {
		rc = SHAPE(&r, "'%s': a model needs \"name\" (string), "
		           "\"nodes\" and \"initializers\" (arrays)", label);
		goto done;
	}
	if ((rc = spz_json_check_name(name->valuestring, label, NULL, "name",
	                              err)))
		goto done;
	if (spz_model_new(&m, name->valuestring)) {
		rc = spz_fail(err, SPZ_ENOMEM, "out of memory");
		goto done;
	}
	rc = add_names(&r, m, j, "inputs", spz_model_add_input);
	if (!rc)
		rc = add_names(&r, m, j, "outputs", spz_model_add_output);
	size_t idx = 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, nodes) {
		if (rc)
			break;
		rc = read_node(&r, m, e, idx++);
	}
	size_t nt = (size_t)cJSON_GetArraySize(inits);
	if (!rc && sections && !(secs = calloc(nt ? nt : 1, sizeof *secs)))
		rc = spz_fail(err, SPZ_ENOMEM, "out of memory");
	idx = 0;
	cJSON_ArrayForEach(e, inits) {
		if (rc)
			break;
		rc = read_tensor(&r, m, e, idx, secs ? &secs[idx] : NULL);
		idx++;
	}
	if (!rc)
		rc = read_history(&r, m, field(j, "history"));
	const cJSON *ox = field(j, "onnx");
	if (!rc && ox && r.version < 2)
		rc = SHAPE(&r, "'%s': \"onnx\" needs format version 2", label);
	if (!rc && ox) {
		uint8_t *b = NULL;
		size_t n = 0;
		rc = get_base64(&r, ox, "model", "onnx", &b, &n);
		if (!rc && spz_model_set_onnx(m, b, n))
			rc = spz_fail(err, SPZ_ENOMEM, "out of memory");
		free(b);
	}
done:
	if (rc) {
		spz_model_free(m);
		free(secs);
		return rc;
	}
	*out = m;
	if (sections)
		*sections = secs;
	return 0;
}
