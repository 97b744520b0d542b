/* test_json.c - the JSON model format: round trips, canonical output,
 * external data and every refusal of a malformed file with its message. */
#define _POSIX_C_SOURCE 200809L
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json_strict.h"
#include "testutil.h"

/* A model exercising every part of the format: a dense weight with awkward
 * floats, a quantized one, a prune record, attributes of each type, names
 * that need escaping, history. */
static spz_model *rich_model(void)
{
	float w[12] = {0.1f, -0.0f, 1e-45f, FLT_MAX, -FLT_MAX, FLT_MIN,
	               3.14159274f, -2.5f, 1e30f, 16777217.0f, 0, 123456.789f};
	spz_model *m = tu_gemm_model(3, 4, w);
	spz_node *n = &m->nodes[0];
	ck_assert_int_eq(spz_node_set_string(n, "note", "a \"quoted\"\\ \n"
	                                     "tab\t\x01 é"), 0);
	double v[3] = {1, -0.5, 1e300};
	ck_assert_int_eq(spz_node_set_numbers(n, "pads", v, 3), 0);
	ck_assert_int_eq(spz_node_set_numbers(n, "empty", NULL, 0), 0);
	int64_t qd[2] = {2, 5};
	spz_tensor *q;
	ck_assert_int_eq(spz_model_add_tensor(&q, m, "q \"w\"", qd, 2, NULL,
	                                      NULL), 0);
	float *book = malloc(3 * sizeof *book);
	uint8_t *codes = malloc(10);
	book[0] = 0;
	book[1] = 0.25f;
	book[2] = -1.75f;
	for (int i = 0; i < 10; i++)
		codes[i] = (uint8_t)(i % 3);
	spz_tensor_set_quantized(q, 2, book, 3, codes);
	spz_prune_record rec = {"nm", "", 0, 0.125, 0.5, 2, 4};
	ck_assert_int_eq(spz_tensor_set_prune(q, &rec), 0);
	spz_param p[2] = {{"kind", "test"}, {"odd key", "v\"al"}};
	ck_assert_int_eq(spz_model_add_step(m, "gen", p, 2), 0);
	ck_assert_int_eq(spz_model_add_step(m, "prune", NULL, 0), 0);
	ck_assert_int_eq(spz_model_validate(m, NULL), 0);
	return m;
}

/* Writes m as JSON into a malloc'd string. */
static char *to_json(const spz_model *m, size_t *len)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(spz_model_write(f, m, SPZ_FILE_JSON, NULL), 0);
	ck_assert_int_eq(fclose(f), 0);
	if (len)
		*len = n;
	return buf;
}

static void assert_same_model(const spz_model *a, const spz_model *b)
{
	ck_assert_str_eq(a->name, b->name);
	ck_assert_uint_eq(a->n_nodes, b->n_nodes);
	ck_assert_uint_eq(a->n_tensors, b->n_tensors);
	ck_assert_uint_eq(a->n_history, b->n_history);
	for (size_t i = 0; i < a->n_tensors; i++) {
		const spz_tensor *s = &a->tensors[i], *t = &b->tensors[i];
		ck_assert_str_eq(s->name, t->name);
		ck_assert_int_eq(s->ndims, t->ndims);
		int64_t n = spz_tensor_elements(s);
		ck_assert_int_eq(n, spz_tensor_elements(t));
		ck_assert_int_eq(!s->codebook, !t->codebook);
		if (s->codebook) {
			ck_assert_int_eq(s->bits, t->bits);
			ck_assert_uint_eq(s->codebook_size, t->codebook_size);
			ck_assert(!memcmp(s->codebook, t->codebook,
			                  s->codebook_size * sizeof(float)));
			ck_assert(!memcmp(s->codes, t->codes, (size_t)n));
		} else {
			/* Bitwise: -0.0 and denormals must survive. */
			ck_assert(!memcmp(s->data, t->data,
			                  (size_t)n * sizeof(float)));
		}
		ck_assert_int_eq(!s->prune, !t->prune);
		if (s->prune)
			ck_assert(!memcmp(s->prune, t->prune, sizeof *s->prune));
	}
	for (size_t i = 0; i < a->n_nodes; i++) {
		ck_assert_str_eq(a->nodes[i].op, b->nodes[i].op);
		ck_assert_uint_eq(a->nodes[i].n_attrs, b->nodes[i].n_attrs);
	}
	const spz_attr *at = spz_node_attr(&b->nodes[0], "note");
	if (spz_node_attr(&a->nodes[0], "note"))
		ck_assert_str_eq(at->string,
		                 spz_node_attr(&a->nodes[0], "note")->string);
}

/* Writes text to dir/name and loads it; returns the load's result. */
static int load_text(const char *dir, const char *name, const char *text,
                     spz_model **m, spz_error *err)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	ck_assert_int_eq(tu_write_file(path, text, strlen(text)), 0);
	*m = NULL;
	memset(err, 0, sizeof *err);
	int rc = spz_model_load(m, path, err);
	if (rc)
		ck_assert_ptr_null(*m);
	return rc;
}

START_TEST(round_trip_is_exact_and_canonical)
{
	spz_model *m = rich_model();
	char dir[256], path[300];
	tu_tmpdir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/m.json", dir);
	ck_assert_int_eq(spz_model_save(m, path, SPZ_FILE_JSON, NULL), 0);
	spz_model *back;
	spz_error err = {0};
	ck_assert_int_eq(spz_model_load(&back, path, &err), 0);
	assert_same_model(m, back);
	size_t la, lb;
	char *a = tu_read_file(path, &la), *b = to_json(back, &lb);
	ck_assert_uint_eq(la, lb);
	ck_assert(!memcmp(a, b, la));
	/* Provenance keeps the version that ran each step. */
	ck_assert_str_eq(back->history[1].tool, "prune");
	ck_assert_str_eq(back->history[0].params[1].value, "v\"al");
	free(a);
	free(b);
	spz_model_free(back);
	spz_model_free(m);
}
END_TEST

START_TEST(random_floats_round_trip)
{
	spz_rng r;
	spz_rng_seed(&r, 7);
	float w[4096];
	for (int i = 0; i < 4096; i++) {
		uint32_t bits;
		do {
			bits = (uint32_t)spz_rng_next(&r);
			memcpy(&w[i], &bits, 4);
		} while (!isfinite(w[i]));
	}
	spz_model *m = tu_gemm_model(64, 64, w);
	char dir[256], path[300];
	tu_tmpdir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/r.json", dir);
	ck_assert_int_eq(spz_model_save(m, path, SPZ_FILE_JSON, NULL), 0);
	spz_model *back;
	ck_assert_int_eq(spz_model_load(&back, path, NULL), 0);
	assert_same_model(m, back);
	spz_model_free(back);
	spz_model_free(m);
}
END_TEST

START_TEST(any_layout_reads_and_rewrites_canonically)
{
	/* Keys in another order, other spacing, ints written as floats. */
	const char *text =
		"  {\"history\":[],\"initializers\":[{\"dims\":[2],\"data\":"
		"[1.0,2e0],\"data_type\":1,\"name\":\"b\"}],\"nodes\":[{\"outputs\":"
		"[\"y\"],\"inputs\":[\"x\",\"b\"],\"name\":\"add\",\"op\":\"Add\"}],"
		"\"outputs\":[\"y\"],\"inputs\":[\"x\"],\"name\":\"t\","
		"\"version\":1.0,\"format\":\"spz-model\"}\n";
	char dir[256];
	tu_tmpdir(dir, sizeof dir);
	spz_model *m;
	spz_error err;
	ck_assert_int_eq(load_text(dir, "a.json", text, &m, &err), 0);
	ck_assert_float_eq(m->tensors[0].data[1], 2.0f);
	ck_assert_uint_eq(m->nodes[0].n_attrs, 0);
	size_t la, lb;
	char *a = to_json(m, &la);
	spz_model *m2;
	ck_assert_int_eq(load_text(dir, "b.json", a, &m2, &err), 0);
	char *b = to_json(m2, &lb);
	ck_assert_uint_eq(la, lb);
	ck_assert(!memcmp(a, b, la));
	ck_assert(strstr(a, "\"format\": \"spz-model\",\n  \"version\": 1,"));
	free(a);
	free(b);
	spz_model_free(m);
	spz_model_free(m2);
}
END_TEST

/* A one-tensor model "w" [2, 3] whose initializer body is `init`. */
static char *with_init(const char *init)
{
	static const char *fmt =
		"{\"format\": \"spz-model\", \"version\": 1, \"name\": \"t\", "
		"\"inputs\": [\"x\"], \"outputs\": [\"y\"], \"nodes\": [{\"op\": "
		"\"MatMul\", \"name\": \"mm\", \"inputs\": [\"x\", \"w\"], "
		"\"outputs\": [\"y\"], \"attributes\": {}}], \"initializers\": "
		"[{\"name\": \"w\", \"data_type\": 1, %s}], \"history\": []}";
	size_t n = strlen(fmt) + strlen(init) + 1;
	char *s = malloc(n);
	snprintf(s, n, fmt, init);
	return s;
}

START_TEST(external_data)
{
	char dir[256], sub[300], bin[320];
	tu_tmpdir(dir, sizeof dir);
	snprintf(sub, sizeof sub, "%s/sub", dir);
	ck_assert_int_eq(mkdir(sub, 0777), 0);
	/* Little-endian float32 1..6 after 8 bytes of something else. */
	unsigned char bytes[8 + 24] = {0};
	for (int i = 0; i < 6; i++) {
		float f = (float)(i + 1);
		uint32_t u;
		memcpy(&u, &f, 4);
		for (int k = 0; k < 4; k++)
			bytes[8 + 4 * i + k] = (unsigned char)(u >> (8 * k));
	}
	snprintf(bin, sizeof bin, "%s/w.bin", sub);
	ck_assert_int_eq(tu_write_file(bin, bytes, sizeof bytes), 0);
	spz_model *m;
	spz_error err;
	char *t = with_init("\"dims\": [2, 3], \"external_data\": "
	                    "{\"location\": \"sub/w.bin\", \"offset\": 8, "
	                    "\"length\": 24}");
	ck_assert_int_eq(load_text(dir, "e.json", t, &m, &err), 0);
	for (int i = 0; i < 6; i++)
		ck_assert_float_eq(m->tensors[0].data[i], (float)(i + 1));
	/* Written back inline, it reads the same. */
	size_t len;
	char *inl = to_json(m, &len);
	ck_assert(strstr(inl, "\"data\": [1, 2, 3, 4, 5, 6]"));
	free(inl);
	spz_model_free(m);
	free(t);

	struct {
		const char *init;
		int code;
		const char *msg;
	} bad[] = {
		{"\"location\": \"/etc/passwd\", \"offset\": 0, \"length\": 24",
		 SPZ_EFORMAT, "location '/etc/passwd' must be a relative path "
		 "inside the model's folder"},
		{"\"location\": \"../w.bin\", \"offset\": 0, \"length\": 24",
		 SPZ_EFORMAT, "location '../w.bin' must be a relative path"},
		{"\"location\": \"sub/../sub/w.bin\", \"offset\": 0, \"length\": 24",
		 SPZ_EFORMAT, "location 'sub/../sub/w.bin' must be"},
		{"\"location\": \"sub/w.bin\", \"offset\": 9, \"length\": 24",
		 SPZ_EFORMAT, "bytes 9..33 are past the end of"},
		{"\"location\": \"sub/w.bin\", \"offset\": 0, \"length\": 20",
		 SPZ_EFORMAT, "length 20 differs from the 24 bytes the dims give"},
		{"\"location\": \"sub/none.bin\", \"offset\": 0, \"length\": 24",
		 SPZ_EIO, "No such file or directory"},
		{"\"location\": \"sub\", \"offset\": 0, \"length\": 24",
		 SPZ_EIO, "Is a directory"},
		{"\"location\": \"sub/w.bin\", \"offset\": -1, \"length\": 24",
		 SPZ_EFORMAT, "\"offset\" must be an integer"},
		{"\"location\": 5, \"offset\": 0, \"length\": 24",
		 SPZ_EFORMAT, "\"location\" must be a string"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char init[400];
		snprintf(init, sizeof init, "\"dims\": [2, 3], \"external_data\":"
		         " {%s}", bad[i].init);
		t = with_init(init);
		ck_assert_int_eq(load_text(dir, "e.json", t, &m, &err),
		                 bad[i].code);
		ck_assert_msg(strstr(err.text, bad[i].msg), "case %zu: %s", i,
		              err.text);
		ck_assert_msg(strstr(err.text, "e.json': tensor 'w'"),
		              "case %zu: %s", i, err.text);
		free(t);
	}
	/* A NaN in external data is named with its index. */
	bytes[8 + 4 * 4 + 2] = 0xc0;
	bytes[8 + 4 * 4 + 3] = 0x7f;
	ck_assert_int_eq(tu_write_file(bin, bytes, sizeof bytes), 0);
	t = with_init("\"dims\": [2, 3], \"external_data\": {\"location\": "
	              "\"sub/w.bin\", \"offset\": 8, \"length\": 24}");
	ck_assert_int_eq(load_text(dir, "e.json", t, &m, &err), SPZ_ERANGE);
	ck_assert_str_eq(strstr(err.text, "tensor"),
	                 "tensor 'w': NaN value at index 4");
	free(t);
}
END_TEST

/* Each malformed file: its error code and the text its message contains. */
static const struct {
	const char *text;
	int code;
	const char *msg;
} shapes[] = {
	{"", SPZ_EFORMAT, "empty file"},
	{"hello", SPZ_EFORMAT, "not an spz model (neither JSON, .spzm nor ONNX)"},
	{"{\"format\": \"spz-model\",\n \"version\": 1,\n oops}", SPZ_EFORMAT,
	 "not JSON (syntax error at line 3)"},
	{"[1, 2]", SPZ_EFORMAT, "not an spz model (no \"format\": \"spz-model\")"},
	{"{\"format\": \"onnx\"}", SPZ_EFORMAT, "no \"format\": \"spz-model\""},
	{"{\"format\": \"spz-model\"}", SPZ_EFORMAT,
	 "\"version\" must be a number"},
	{"{\"format\": \"spz-model\", \"version\": 3}", SPZ_EVERSION,
	 "format version 3 is not supported (this spz reads versions 1 and "
	 "2)"},
	{"{\"format\": \"spz-model\", \"version\": 1, \"nodes\": [], "
	 "\"initializers\": []}", SPZ_EFORMAT, "a model needs \"name\""},
	{"{\"format\": \"spz-model\", \"version\": 1, \"name\": \"t\", "
	 "\"nodes\": {}, \"initializers\": []}", SPZ_EFORMAT,
	 "\"nodes\" and \"initializers\" (arrays)"},
	{"{\"format\": \"spz-model\", \"version\": 1, \"name\": \"t\", "
	 "\"nodes\": [], \"initializers\": []}", SPZ_EFORMAT,
	 "model: \"inputs\" must be an array of strings"},
	{"{\"format\": \"spz-model\", \"version\": 1, \"name\": \"t\", "
	 "\"inputs\": [], \"outputs\": [1], \"nodes\": [], \"initializers\": []}",
	 SPZ_EFORMAT, "model: \"outputs\" must be an array of strings"},
	{"{\"format\": \"spz-model\", \"version\": 1, \"name\": \"t\", "
	 "\"inputs\": [], \"outputs\": [], \"nodes\": [3], \"initializers\": []}",
	 SPZ_EFORMAT, "node 0 must be an object"},
	{"{\"format\": \"spz-model\", \"version\": 1, \"name\": \"t\", "
	 "\"inputs\": [], \"outputs\": [], \"nodes\": [{\"name\": \"n\"}], "
	 "\"initializers\": []}", SPZ_EFORMAT, "node 0: \"op\" must be a string"},
	{"{\"format\": \"spz-model\", \"version\": 1, \"name\": \"t\", "
	 "\"inputs\": [], \"outputs\": [], \"nodes\": [{\"op\": \"Relu\", "
	 "\"name\": \"n\", \"inputs\": [1], \"outputs\": []}], "
	 "\"initializers\": []}", SPZ_EFORMAT,
	 "node 0: \"inputs\" must be an array of strings"},
	{"{\"format\": \"spz-model\", \"version\": 1, \"name\": \"t\", "
	 "\"inputs\": [], \"outputs\": [], \"nodes\": [{\"op\": \"Relu\", "
	 "\"name\": \"n\", \"inputs\": [], \"outputs\": [], \"attributes\": "
	 "{\"a\": {}}}], \"initializers\": []}", SPZ_EFORMAT,
	 "node 0: attribute 'a' must be a finite number, a string or an array "
	 "of numbers"},
	{"{\"format\": \"spz-model\", \"version\": 1, \"name\": \"t\", "
	 "\"inputs\": [], \"outputs\": [], \"nodes\": [{\"op\": \"Relu\", "
	 "\"name\": \"n\", \"inputs\": [], \"outputs\": [], \"attributes\": "
	 "{\"a\": 1e400}}], \"initializers\": []}", SPZ_EFORMAT,
	 "node 0: attribute 'a' must be a finite number"},
	{"{\"format\": \"spz-model\", \"version\": 1, \"name\": \"t\", "
	 "\"inputs\": [], \"outputs\": [], \"nodes\": [{\"op\": \"Relu\", "
	 "\"name\": \"n\", \"inputs\": [], \"outputs\": [], \"attributes\": "
	 "{\"a\": [1, -1e999]}}], \"initializers\": []}", SPZ_EFORMAT,
	 "node 0: attribute 'a' must be a finite number"},
	{"{\"format\": \"spz-model\", \"version\": 1, \"name\": \"t\", "
	 "\"inputs\": [], \"outputs\": [], \"nodes\": [], \"initializers\": "
	 "[{\"data_type\": 1}]}", SPZ_EFORMAT,
	 "initializer 0: \"name\" must be a string"},
	{"{\"format\": \"spz-model\", \"version\": 1, \"name\": \"t\", "
	 "\"inputs\": [], \"outputs\": [], \"nodes\": [], \"initializers\": "
	 "[]} , \"history\": 5}", SPZ_EFORMAT,
	 "not JSON (text after the end of the JSON value at line 1)"},
	{"{\"format\": \"spz-model\", \"version\": 1, \"name\": \"t\", "
	 "\"inputs\": [], \"outputs\": [], \"nodes\": [], \"initializers\": "
	 "[], \"history\": 5}", SPZ_EFORMAT, "\"history\" must be an array"},
	{"{\"format\": \"spz-model\", \"version\": 1, \"name\": \"t\", "
	 "\"inputs\": [], \"outputs\": [], \"nodes\": [], \"initializers\": "
	 "[], \"history\": [{\"version\": \"1\", \"params\": {}}]}", SPZ_EFORMAT,
	 "history step 0: \"tool\" must be a string"},
	{"{\"format\": \"spz-model\", \"version\": 1, \"name\": \"t\", "
	 "\"inputs\": [], \"outputs\": [], \"nodes\": [], \"initializers\": "
	 "[], \"history\": [{\"tool\": \"a\", \"version\": \"1\", \"params\": "
	 "{\"k\": 1}}]}", SPZ_EFORMAT,
	 "history step 0: \"params\" must be an object of strings"},
	{"{\"format\": \"spz-model\", \"version\": 1, \"name\": \"t\", "
	 "\"inputs\": [], \"outputs\": [\"y\"], \"nodes\": [], "
	 "\"initializers\": []}", SPZ_ENOTFOUND,
	 "graph output 'y' is not produced by any node"},
	{"{\"format\": \"spz-model\", \"version\": 1, \"name\": \"t\", "
	 "\"inputs\": [\"x\"], \"outputs\": [], \"nodes\": [{\"op\": \"Relu\", "
	 "\"name\": \"r\", \"inputs\": [\"z\"], \"outputs\": [\"y\"]}], "
	 "\"initializers\": []}", SPZ_ENOTFOUND,
	 "node 'r' input 'z' is not a graph input, a tensor or an earlier "
	 "node's output"},
};

START_TEST(wrong_shapes_are_named)
{
	char dir[256];
	tu_tmpdir(dir, sizeof dir);
	for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
		spz_model *m;
		spz_error err;
		int rc = load_text(dir, "s.json", shapes[i].text, &m, &err);
		ck_assert_msg(rc == shapes[i].code, "case %zu: rc %d: %s", i, rc,
		              err.text);
		ck_assert_msg(strstr(err.text, shapes[i].msg), "case %zu: %s", i,
		              err.text);
		ck_assert_msg(strstr(err.text, "s.json'"), "case %zu: %s", i,
		              err.text);
		ck_assert(!strchr(err.text, '\n'));
	}
}
END_TEST

/* Initializer bodies for tensor 'w' and what each must give. */
static const struct {
	const char *init;
	int code;
	const char *msg;
} tensors[] = {
	{"\"dims\": [2, 3], \"data\": [1, 2, 3, 4, 5, 6]", 0, ""},
	{"\"dims\": [2, 3], \"data\": [1, 2, 3, 4, 5]", SPZ_EFORMAT,
	 "tensor 'w': \"data\" has 5 values but the dims give 6"},
	{"\"dims\": [2, 3], \"data\": [1, 2, 3, 4, 5, 6, 7]", SPZ_EFORMAT,
	 "tensor 'w': \"data\" has 7 values but the dims give 6"},
	{"\"dims\": [2, 3], \"data\": [1, 2, \"3\", 4, 5, 6]", SPZ_EFORMAT,
	 "tensor 'w': \"data\"[2] is not a number"},
	{"\"dims\": [2, 3], \"data\": 7", SPZ_EFORMAT,
	 "tensor 'w': \"data\" must be an array of numbers"},
	{"\"dims\": [2, 3], \"data\": [1, 2, 3, 1e39, 5, 6]", SPZ_ERANGE,
	 "tensor 'w': data[3] is outside the float32 range"},
	{"\"dims\": [2, 3], \"data\": [1, 2, 3, 4, -1e300, 6]", SPZ_ERANGE,
	 "tensor 'w': data[4] is outside the float32 range"},
	{"\"dims\": [2, -3], \"data\": []", SPZ_ERANGE,
	 "tensor 'w': dim 1 is -3 (must be in 0..2^63)"},
	{"\"dims\": [4294967296, 4294967296], \"data\": []", SPZ_ERANGE,
	 "tensor 'w': dims are negative or their product overflows"},
	{"\"dims\": [3037000500, 3037000500], \"data\": []", SPZ_ERANGE,
	 "tensor 'w': dims are negative or their product overflows"},
	{"\"dims\": [1e19], \"data\": []", SPZ_ERANGE, "dim 0 is"},
	{"\"dims\": [2.5], \"data\": []", SPZ_EFORMAT,
	 "tensor 'w': \"dims\" must be integers"},
	{"\"dims\": [1, 1, 1, 1, 1, 1, 1, 1, 1], \"data\": [1]", SPZ_EFORMAT,
	 "\"dims\" must be an array of at most 8 integers"},
	{"\"dims\": \"2x3\", \"data\": []", SPZ_EFORMAT,
	 "\"dims\" must be an array"},
	{"\"dims\": [2, 3]", SPZ_EFORMAT,
	 "tensor 'w' has neither \"data\", \"external_data\" nor \"codebook\""},
	{"\"dims\": [2, 3], \"external_data\": 3", SPZ_EFORMAT,
	 "tensor 'w' external_data must be an object"},
	{"\"dims\": [2], \"bits\": 2, \"codebook\": [0, 0.5, 1], \"codes\": "
	 "[1, 2], \"data\": [3, 4]", SPZ_EFORMAT,
	 "tensor 'w' has more than one of \"data\", \"external_data\" and "
	 "\"codebook\"/\"codes\""},
	{"\"dims\": [2], \"codes\": [1, 2], \"data\": [3, 4]", SPZ_EFORMAT,
	 "tensor 'w' has more than one of"},
	{"\"dims\": [2], \"data\": [3, 4], \"external_data\": {\"location\": "
	 "\"w.bin\", \"offset\": 0, \"length\": 8}", SPZ_EFORMAT,
	 "tensor 'w' has more than one of"},
	{"\"dims\": [2], \"bits\": 2, \"codebook\": [0, 0.5, 1], \"codes\": "
	 "[1, 2]", 0, ""},
	{"\"dims\": [2], \"bits\": 2, \"codebook\": [0, 0.5, 1], \"codes\": "
	 "[1, 3]", SPZ_ERANGE,
	 "tensor 'w': codes[1] is not a code of the 3-entry codebook"},
	{"\"dims\": [2], \"bits\": 2, \"codebook\": [0, 0.5, 1], \"codes\": "
	 "[1, 0.5]", SPZ_ERANGE, "codes[1] is not a code"},
	{"\"dims\": [2], \"bits\": 2, \"codebook\": [0, 0.5, 1], \"codes\": "
	 "[1]", SPZ_EFORMAT, "\"codes\" has 1 values but the dims give 2"},
	{"\"dims\": [2], \"bits\": 2, \"codebook\": [0, 0.5, 1, 2, 3], "
	 "\"codes\": [1, 1]", SPZ_EFORMAT,
	 "\"codebook\" must hold 1..4 numbers"},
	{"\"dims\": [2], \"bits\": 9, \"codebook\": [0], \"codes\": [0, 0]",
	 SPZ_EFORMAT, "tensor 'w': \"bits\" must be an integer in 1..8"},
	{"\"dims\": [2], \"bits\": 2, \"codebook\": [0.5, 1], \"codes\": [1, 1]",
	 SPZ_ERANGE, "tensor 'w': codebook entry 0 must be 0"},
	{"\"dims\": [2], \"bits\": 2, \"codebook\": [0, 1e40], \"codes\": [1, 1]",
	 SPZ_ERANGE, "tensor 'w': codebook[1] is outside the float32 range"},
	{"\"dims\": [2], \"bits\": 2, \"codebook\": [0, 1]", SPZ_EFORMAT,
	 "tensor 'w': \"codes\" must be an array of integers"},
	{"\"dims\": [2], \"pruning\": {\"mode\": \"nm\"}, \"data\": [1, 2]",
	 SPZ_EFORMAT, "tensor 'w': \"pruning\" must be"},
	{"\"dims\": [2], \"pruning\": {\"mode\": \"nm\", \"scope\": \"\", "
	 "\"target\": 1e999, \"threshold\": 0, \"density\": 1, \"n\": 2, "
	 "\"m\": 4}, \"data\": [1, 2]", SPZ_EFORMAT,
	 "tensor 'w': \"pruning\" must be"},
};

START_TEST(tensor_errors_are_named)
{
	char dir[256];
	tu_tmpdir(dir, sizeof dir);
	for (size_t i = 0; i < sizeof tensors / sizeof tensors[0]; i++) {
		spz_model *m;
		spz_error err;
		char *t = with_init(tensors[i].init);
		int rc = load_text(dir, "t.json", t, &m, &err);
		free(t);
		ck_assert_msg(rc == tensors[i].code, "case %zu: rc %d: %s", i, rc,
		              err.text);
		ck_assert_msg(strstr(err.text, tensors[i].msg), "case %zu: %s", i,
		              err.text);
		if (rc)
			ck_assert_msg(!strncmp(err.text, "'", 1) &&
			              strstr(err.text, "t.json': "),
			              "case %zu: %s", i, err.text);
		spz_model_free(m);
	}
	/* data_type other than float32. */
	spz_model *m;
	spz_error err;
	char *t = with_init("\"dims\": [1], \"data\": [1]");
	char *p = strstr(t, "\"data_type\": 1");
	p[13] = '7';
	ck_assert_int_eq(load_text(dir, "t.json", t, &m, &err),
	                 SPZ_EUNSUPPORTED);
	ck_assert(strstr(err.text, "tensor 'w': data_type 7 is not supported"));
	free(t);
}
END_TEST

/* t with 70 blanks after the '[' of every "data" and "codes" array: long
 * enough that the reader leaves them as text (json_strict.c) instead of
 * cJSON nodes. */
static char *widen_arrays(const char *t)
{
	size_t n = strlen(t);
	char *w = malloc(n * 71 + 1), *o = w;
	for (const char *p = t; *p; p++) {
		*o++ = *p;
		if (*p == '[' && ((p - t >= 8 && !strncmp(p - 8, "\"data\": ", 8)) ||
		                  (p - t >= 9 && !strncmp(p - 9, "\"codes\": ", 9)))) {
			memset(o, ' ', 70);
			o += 70;
		}
	}
	*o = 0;
	return w;
}

/* The arrays parsed from the text say the same as through cJSON. */
START_TEST(tensor_errors_same_for_long_arrays)
{
	char dir[256];
	tu_tmpdir(dir, sizeof dir);
	for (size_t i = 0; i < sizeof tensors / sizeof tensors[0]; i++) {
		spz_model *m;
		spz_error err;
		char *t = with_init(tensors[i].init), *w = widen_arrays(t);
		int rc = load_text(dir, "t.json", w, &m, &err);
		free(t);
		free(w);
		ck_assert_msg(rc == tensors[i].code, "case %zu: rc %d: %s", i, rc,
		              err.text);
		ck_assert_msg(strstr(err.text, tensors[i].msg), "case %zu: %s", i,
		              err.text);
		spz_model_free(m);
	}
}
END_TEST

/* A long "data" array spread over lines: syntax errors before, inside and
 * after it name the line of the text as written. */
START_TEST(syntax_error_lines_around_long_arrays)
{
	char dir[256];
	tu_tmpdir(dir, sizeof dir);
	const char *head =
		"{\"format\": \"spz-model\", \"version\": 1, \"name\": \"t\",\n"
		"\"inputs\": [\"x\"], \"outputs\": [\"x\"], \"nodes\": [],\n"
		"\"initializers\": [{\"name\": \"w\", \"data_type\": 1, "
		"\"dims\": [40], \"data\": [\n"; /* lines 1-3 */
	char body[2048] = "";
	for (int line = 0; line < 4; line++) /* lines 4-7 */
		strcat(body, "0.125, -1.5e-07, 3, 4, 5, 6, 7, 8, 9, 1e+01,\n");
	body[strlen(body) - 2] = 0; /* no comma after the last */
	const struct {
		const char *tail;
		const char *inside; /* replaces "3, 4" on line 6, or NULL */
		const char *msg;
	} cases[] = {
		{"]}], \"history\": []}\n", NULL, NULL},
		{"]}],\n\n \"history\": [}\n", NULL, "syntax error at line 10"},
		{"]}]\n \"history\": []}\n", NULL, "syntax error at line 9"},
		{"]}], \"history\": []}\n", "3 4", "syntax error at line 6"},
		{"]}], \"history\": []}\n", "3, NaN", "NaN at line 6"},
		{"]}], \"history\": []}\n", "3, 4,", "syntax error at line 6"},
		{"]}], \"history\": []}\n {", NULL,
		 "text after the end of the JSON value at line 9"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char text[4096], b[2048];
		strcpy(b, body);
		if (cases[i].inside) {
			char *at = strstr(b, "3, 4");
			at = strstr(at + 1, "3, 4");
			at = strstr(at + 1, "3, 4"); /* line 6 */
			char rest[2048];
			strcpy(rest, at + 4);
			strcpy(at, cases[i].inside);
			strcat(at, rest);
		}
		snprintf(text, sizeof text, "%s%s\n%s", head, b, cases[i].tail);
		spz_model *m;
		spz_error err;
		int rc = load_text(dir, "l.json", text, &m, &err);
		if (!cases[i].msg) {
			ck_assert_msg(rc == 0, "%s", err.text);
			ck_assert_float_eq(m->tensors[0].data[1], -1.5e-07f);
			ck_assert_float_eq(m->tensors[0].data[39], 10.0f);
			spz_model_free(m);
			continue;
		}
		ck_assert_msg(rc == SPZ_EFORMAT && strstr(err.text, cases[i].msg),
		              "case %zu: %s", i, err.text);
		/* The same message as the whole text through cJSON. */
		char path[300];
		snprintf(path, sizeof path, "%s/l.json", dir);
		cJSON *j = NULL;
		spz_error e2 = {0};
		ck_assert_int_eq(spz_json_parse(&j, text, strlen(text), path, &e2),
		                 SPZ_EFORMAT);
		ck_assert_str_eq(err.text, e2.text);
	}
}
END_TEST

/* A file cannot pass a marker of its own for a number array. */
START_TEST(forged_array_marker_is_refused)
{
	char dir[256];
	tu_tmpdir(dir, sizeof dir);
	const char *inits[] = {
		"\"dims\": [2], \"data\": {\"\\u0001\": 0}",
		"\"dims\": [2], \"data\": {\"\\u0001\": 0}}, {\"name\": \"v\", "
		"\"data_type\": 1, \"dims\": [16], \"data\": [1, 2, 3, 4, 5, 6, "
		"7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23]",
	};
	for (size_t i = 0; i < 2; i++) {
		spz_model *m;
		spz_error err;
		char *t = with_init(inits[i]);
		int rc = load_text(dir, "f.json", t, &m, &err);
		free(t);
		ck_assert_int_eq(rc, SPZ_EFORMAT);
		ck_assert_msg(strstr(err.text, "control character"), "%s",
		              err.text);
	}
	/* "\u0001" in a string value elsewhere: read the ordinary way. */
	char *t = with_init("\"dims\": [2, 3], \"data\": [                   "
	                    "                                         1, 2, 3, "
	                    "4, 5, 6]");
	char *n = strstr(t, "\"name\": \"t\"");
	ck_assert_ptr_nonnull(n);
	spz_model *m;
	spz_error err;
	size_t len = strlen(t);
	char *u = malloc(len + 16);
	snprintf(u, len + 16, "%.*s\"name\": \"t\\u0001\"%s", (int)(n - t), t,
	         n + strlen("\"name\": \"t\""));
	ck_assert_int_eq(load_text(dir, "g.json", u, &m, &err), SPZ_EFORMAT);
	ck_assert_msg(strstr(err.text, "is not a name"), "%s", err.text);
	free(u);
	free(t);
}
END_TEST

/* Random JSON numbers, short and long, read as strtod reads them. */
START_TEST(number_parser_matches_strtod)
{
	spz_rng r;
	spz_rng_seed(&r, 11);
	char b[128];
	for (int i = 0; i < 200000; i++) {
		int k = 0;
		if (spz_rng_next(&r) & 1)
			b[k++] = '-';
		int id = 1 + (int)(spz_rng_next(&r) % 22);
		b[k++] = (char)('1' + spz_rng_next(&r) % 9);
		if (spz_rng_next(&r) % 4 == 0)
			b[k - 1] = '0', id = 1;
		for (int d = 1; d < id; d++)
			b[k++] = (char)('0' + spz_rng_next(&r) % 10);
		if (spz_rng_next(&r) & 1) {
			b[k++] = '.';
			int fd = 1 + (int)(spz_rng_next(&r) % 24);
			for (int d = 0; d < fd; d++)
				b[k++] = (char)('0' + spz_rng_next(&r) % 10);
		}
		if (spz_rng_next(&r) & 1)
			k += snprintf(b + k, 16, "%s%d",
			              spz_rng_next(&r) & 1 ? "e" : "E-",
			              (int)(spz_rng_next(&r) % 400));
		b[k++] = ',';
		b[k] = 0;
		const char *p = b;
		double got = spz_json_number(&p, b + strlen(b));
		double want = strtod(b, NULL);
		ck_assert_msg(!memcmp(&got, &want, sizeof got), "%s: %a, strtod %a",
		              b, got, want);
		ck_assert_ptr_eq(p, b + k - 1);
	}
	/* Exactly halfway and next to it, where rounding is decided. */
	const char *hard[] = {"9007199254740993", "9007199254740992.5",
	                      "0.1", "1e22", "1e23", "4.9e-324", "2.4e-324",
	                      "1.7976931348623157e308", "1.7976931348623159e308",
	                      "-0", "-0.0e5", "123456789012345678901234567890",
	                      "0.000000000000000000000000000001",
	                      "1.00000005960464477539062500001",
	                      "3.4028235677973366e38", "1.4012984643e-45"};
	for (size_t i = 0; i < sizeof hard / sizeof *hard; i++) {
		snprintf(b, sizeof b, "%s]", hard[i]);
		const char *p = b;
		double got = spz_json_number(&p, b + strlen(b));
		double want = strtod(b, NULL);
		ck_assert_msg(!memcmp(&got, &want, sizeof got), "%s", b);
	}
}
END_TEST

/* Every kind of float through a file and back, bit for bit, each read
 * back as strtof reads "%.9g", and written again the same. */
START_TEST(extreme_floats_round_trip_through_text)
{
	enum { N = 4096 };
	float w[N];
	spz_rng r;
	spz_rng_seed(&r, 17);
	const float ext[] = {0.0f, -0.0f, FLT_MIN, -FLT_MIN, FLT_MAX, -FLT_MAX,
	                     FLT_TRUE_MIN, -FLT_TRUE_MIN, 1e-5f, 1e-4f, 1e9f,
	                     1e10f, 16777216.0f, 0.1f, 3.0f, 1e38f};
	size_t k = 0;
	for (; k < sizeof ext / sizeof *ext; k++)
		w[k] = ext[k];
	for (int e = -149; e < 128 && k + 2 < N; e++) {
		w[k++] = ldexpf(1.0f, e);
		w[k++] = -nextafterf(ldexpf(1.0f, e), INFINITY);
	}
	for (int e = -45; e <= 38 && k < N; e++) {
		char t[16];
		snprintf(t, sizeof t, "1e%d", e);
		w[k++] = strtof(t, NULL);
	}
	while (k < N) {
		uint32_t bits = (uint32_t)spz_rng_next(&r);
		memcpy(&w[k], &bits, 4);
		if (isfinite(w[k]))
			k++;
	}
	spz_model *m = tu_gemm_model(64, 64, w);
	char dir[256], path[300];
	tu_tmpdir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/x.json", dir);
	ck_assert_int_eq(spz_model_save(m, path, SPZ_FILE_JSON, NULL), 0);
	spz_model *back;
	spz_error err;
	ck_assert_msg(spz_model_load(&back, path, &err) == 0, "%s", err.text);
	assert_same_model(m, back);
	const float *d = NULL;
	for (size_t i = 0; i < back->n_tensors; i++)
		if (spz_tensor_elements(&back->tensors[i]) == N)
			d = back->tensors[i].data;
	ck_assert_ptr_nonnull(d);
	for (int i = 0; i < N; i++) {
		char g[32];
		snprintf(g, sizeof g, "%.9g", (double)w[i]);
		float f = strtof(g, NULL);
		ck_assert_msg(!memcmp(&f, &d[i], 4), "%s", g);
	}
	size_t la, lb;
	char *a = tu_read_file(path, &la), *b = to_json(back, &lb);
	ck_assert_uint_eq(la, lb);
	ck_assert(!memcmp(a, b, la));
	free(a);
	free(b);
	spz_model_free(back);
	spz_model_free(m);
}
END_TEST

START_TEST(duplicate_tensor_names)
{
	char dir[256];
	tu_tmpdir(dir, sizeof dir);
	char *t = with_init("\"dims\": [1], \"data\": [1]}, {\"name\": \"w\", "
	                    "\"data_type\": 1, \"dims\": [1], \"data\": [2]");
	spz_model *m;
	spz_error err;
	ck_assert_int_eq(load_text(dir, "d.json", t, &m, &err), SPZ_EEXIST);
	ck_assert_str_eq(strstr(err.text, "d.json'"),
	                 "d.json': duplicate tensor name 'w'");
	free(t);
}
END_TEST

START_TEST(node_naming_a_missing_tensor)
{
	char dir[256];
	tu_tmpdir(dir, sizeof dir);
	char *t = with_init("\"dims\": [1], \"data\": [1]");
	char *p = strstr(t, "[\"x\", \"w\"]");
	p[7] = 'v'; /* the node now reads "v", which nothing defines */
	spz_model *m;
	spz_error err;
	ck_assert_int_eq(load_text(dir, "n.json", t, &m, &err), SPZ_ENOTFOUND);
	ck_assert(strstr(err.text, "n.json': node 'mm' input 'v' is not a "
	                 "graph input, a tensor or an earlier node's output"));
	free(t);
}
END_TEST

START_TEST(nan_literals_and_writer_refusal)
{
	char dir[256];
	tu_tmpdir(dir, sizeof dir);
	spz_model *m;
	spz_error err;
	char *t = with_init("\"dims\": [2], \"data\": [1, NaN]");
	ck_assert_int_eq(load_text(dir, "n.json", t, &m, &err), SPZ_EFORMAT);
	ck_assert(strstr(err.text, "not JSON: NaN at line 1"));
	free(t);
	t = with_init("\"dims\": [2], \"data\": [1, -Infinity]");
	ck_assert_int_eq(load_text(dir, "n.json", t, &m, &err), SPZ_EFORMAT);
	ck_assert(strstr(err.text, "not JSON: Infinity at line 1"));
	free(t);
	/* The writer refuses what it could not read back. */
	float w[4] = {1, 2, 3, INFINITY};
	m = tu_gemm_model(2, 2, w);
	char path[300];
	snprintf(path, sizeof path, "%s/w.json", dir);
	ck_assert_int_eq(spz_model_save(m, path, SPZ_FILE_JSON, &err),
	                 SPZ_ERANGE);
	ck_assert(strstr(err.text, "cannot write '"));
	ck_assert(strstr(err.text, "tensor 'fc.weight': infinite value at "
	                 "index 3"));
	ck_assert_int_eq(access(path, F_OK), -1);
	spz_model_tensor(m, "fc.weight")->data[3] = 0;
	ck_assert_int_eq(spz_node_set_number(&m->nodes[0], "alpha", NAN), 0);
	ck_assert_int_eq(spz_model_save(m, path, SPZ_FILE_JSON, &err),
	                 SPZ_ERANGE);
	ck_assert(strstr(err.text, "node 'fc': attribute 'alpha' is not "
	                 "finite"));
	ck_assert_int_eq(spz_model_save(m, path, SPZ_FILE_SPZM, &err),
	                 SPZ_ERANGE);
	ck_assert_int_eq(access(path, F_OK), -1);
	spz_model_free(m);
}
END_TEST

START_TEST(directory_and_missing_inputs)
{
	char dir[256], path[300];
	tu_tmpdir(dir, sizeof dir);
	spz_model *m = NULL;
	spz_error err = {0};
	ck_assert_int_eq(spz_model_load(&m, dir, &err), SPZ_EIO);
	ck_assert(strstr(err.text, "Is a directory"));
	snprintf(path, sizeof path, "%s/none.json", dir);
	ck_assert_int_eq(spz_model_load(&m, path, &err), SPZ_EIO);
	ck_assert(strstr(err.text, "cannot open '"));
	ck_assert(strstr(err.text, "none.json': No such file or directory"));
	ck_assert_ptr_null(m);
}
END_TEST

Suite *json_suite(void)
{
	Suite *s = suite_create("json");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, round_trip_is_exact_and_canonical);
	tcase_add_test(tc, random_floats_round_trip);
	tcase_add_test(tc, any_layout_reads_and_rewrites_canonically);
	tcase_add_test(tc, external_data);
	tcase_add_test(tc, wrong_shapes_are_named);
	tcase_add_test(tc, tensor_errors_are_named);
	tcase_add_test(tc, tensor_errors_same_for_long_arrays);
	tcase_add_test(tc, syntax_error_lines_around_long_arrays);
	tcase_add_test(tc, forged_array_marker_is_refused);
	tcase_add_test(tc, number_parser_matches_strtod);
	tcase_add_test(tc, extreme_floats_round_trip_through_text);
	tcase_add_test(tc, duplicate_tensor_names);
	tcase_add_test(tc, node_naming_a_missing_tensor);
	tcase_add_test(tc, nan_literals_and_writer_refusal);
	tcase_add_test(tc, directory_and_missing_inputs);
	suite_add_tcase(s, tc);
	return s;
}
