/* test_json_strict.c - the strict JSON front (formats/json_strict.c): what
 * it refuses and where, on text in memory, from files and from pipes
 * (chunk boundaries, folded blanks, caps), and the model's key checks. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json_strict.h"
#include "model_io.h"
#include "testutil.h"

/* Parses text (len bytes) in memory; returns the code, message in *err. */
static int parse(const char *text, size_t len, spz_error *err)
{
	cJSON *j = NULL;
	memset(err, 0, sizeof *err);
	int rc = spz_json_parse(&j, text, len, "t.json", err);
	if (rc)
		ck_assert_ptr_null(j);
	else
		ck_assert_ptr_nonnull(j);
	cJSON_Delete(j);
	return rc;
}

static const struct {
	const char *text;
	const char *msg; /* NULL: accepted */
} cases[] = {
	{"{}", NULL},
	{"  {\"a\": [1, 2, {\"b\": \"c\"}]}  \n\n", NULL},
	{"[]", NULL},
	{"{\"a\": \"tab\\tand\\nnewline\\u00e9\"}", NULL},
	{"{\"caf\xc3\xa9\": \"\xe2\x82\xac\"}", NULL},
	{"{\"a\": \"\\u0001\"}", NULL}, /* values may hold controls */
	{"{} x", "not JSON (text after the end of the JSON value at line 1)"},
	{"{}\n\n]", "text after the end of the JSON value at line 3"},
	{"[1] [2]", "text after the end of the JSON value"},
	{"5 6", "text after the end of the JSON value at line 1"},
	{"{\"a\": 1,\n \"a\": 2}", "duplicate key \"a\" in the top-level object"},
	{"{\"x\": [{\"k\": 1}, {\"k\": 1, \"k\": 2}]}",
	 "duplicate key \"k\" in x[1]"},
	{"{\"a\": \"x\\u0000y\"}", "\\u0000 in a string at line 1"},
	{"{\"a\\u0000b\": 1}", "\\u0000 in a string at line 1"},
	{"{\"a\": \"\\u0000\"}", "\\u0000 in a string"},
	{"{\"a\": \"\\u00001\"}", "\\u0000 in a string"},
	{"{\"a\": \"\\u0100\"}", NULL},
	{"{\"a\":\n\"x\ty\"}", "control character 0x09 in a string at line 2"},
	{"{\"a\": 1}\x01", "control character 0x01 at line 1"},
	{"{\"a\x1b\": 1}", "control character 0x1b in a string"},
	{"{\"\\u001b[2J\": 1}",
	 "key \"...\" in the top-level object: invalid UTF-8 or a control "
	 "character at byte 0"},
	{"{\"ok\\u0085\": 1}", "invalid UTF-8 or a control character at byte 2"},
	{"{\"a\": {\"b\xff\": 1}}", "key \"b...\" in a: invalid UTF-8"},
	{"{\"a\": [\"\xc0\xaf\"]}", "a[0]: invalid UTF-8 at byte 0 of the string"},
	{"{\"a\": \"\xed\xa0\x80\"}", "a: invalid UTF-8 at byte 0"},
	{"{\"a\": NaN}", "not JSON: NaN at line 1"},
	{"{\"a\":\n -Infinity}", "not JSON: Infinity at line 2"},
	{"{\"a\": 1,,}", "not JSON (syntax error at line 1)"},
	{"", "not JSON (syntax error at line 1)"},
};

START_TEST(refusals_in_memory)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		spz_error err;
		int rc = parse(cases[i].text, strlen(cases[i].text), &err);
		if (!cases[i].msg) {
			ck_assert_msg(rc == 0, "case %zu: %s", i, err.text);
			continue;
		}
		ck_assert_msg(rc == SPZ_EFORMAT, "case %zu: rc %d", i, rc);
		ck_assert_msg(strstr(err.text, cases[i].msg), "case %zu: %s", i,
		              err.text);
		ck_assert_msg(!strncmp(err.text, "'t.json': ", 10), "case %zu: %s",
		              i, err.text);
		/* Never a raw control byte in a message. */
		for (const char *p = err.text; *p; p++)
			ck_assert_msg((unsigned char)*p >= 0x20, "case %zu", i);
	}
}
END_TEST

/* A JSON NUL byte inside the length: refused, not cut at. */
START_TEST(nul_byte_in_text)
{
	spz_error err;
	ck_assert_int_eq(parse("{\"a\": 1}\0 junk", 14, &err), SPZ_EFORMAT);
	ck_assert(strstr(err.text, "control character 0x00 at line 1"));
	ck_assert_int_eq(parse("{\"a\0b\": 1}", 10, &err), SPZ_EFORMAT);
	ck_assert(strstr(err.text, "control character 0x00 in a string"));
}
END_TEST

/* A big object: duplicates found by sorting (and none where there are
 * none); a deep one: the path names every level. */
START_TEST(big_and_deep_objects)
{
	size_t cap = 1 << 20, n = 0;
	char *t = malloc(cap);
	n += (size_t)sprintf(t + n, "{");
	for (int i = 0; i < 5000; i++)
		n += (size_t)sprintf(t + n, "%s\"k%d\": %d", i ? ", " : "", i, i);
	size_t ok_len = n;
	memcpy(t + n, "}", 2);
	spz_error err;
	ck_assert_int_eq(parse(t, ok_len + 1, &err), 0);
	n += (size_t)sprintf(t + n, ", \"k4321\": 0}");
	ck_assert_int_eq(parse(t, n, &err), SPZ_EFORMAT);
	ck_assert_str_eq(err.text, "'t.json': duplicate key \"k4321\" in the "
	                 "top-level object");
	const char *deep = "{\"a\": [0, {\"b\": {\"c\": [[{\"d\": 1, \"d\": 1}]]}}]}";
	ck_assert_int_eq(parse(deep, strlen(deep), &err), SPZ_EFORMAT);
	ck_assert_str_eq(err.text, "'t.json': duplicate key \"d\" in "
	                 "a[1].b.c[0][0]");
	free(t);
}
END_TEST

/* Writes len bytes to a pipe and reads them back through spz_json_read
 * (a pipe: no size known, the cap counted as bytes arrive). */
static int read_pipe(const char *text, size_t len, uint64_t cap,
                     cJSON **j, spz_error *err)
{
	int fd[2];
	ck_assert_int_eq(pipe(fd), 0);
	ck_assert(len < 60000); /* fits the pipe's buffer */
	ck_assert_int_eq(write(fd[1], text, len), (ssize_t)len);
	close(fd[1]);
	char path[64];
	snprintf(path, sizeof path, "/dev/fd/%d", fd[0]);
	spz_input in;
	memset(err, 0, sizeof *err);
	*j = NULL;
	int rc = spz_input_open(&in, path, err);
	if (!rc)
		rc = spz_json_read(j, &in, cap, "a test file", err);
	spz_input_close(&in);
	close(fd[0]);
	return rc;
}

START_TEST(streamed_reads)
{
	cJSON *j;
	spz_error err;
	/* Blanks folded: a long run of newlines costs nothing, and a syntax
	 * error after it still gives the line as it was. */
	size_t cap = 50000;
	char *t = malloc(cap);
	size_t n = (size_t)sprintf(t, "{\"a\":");
	for (int i = 0; i < 30000; i++)
		t[n++] = i % 3 ? '\n' : ' ';
	n += (size_t)sprintf(t + n, "[1, 2,\n\n ]}");
	ck_assert_int_eq(read_pipe(t, n, 1 << 20, &j, &err), SPZ_EFORMAT);
	ck_assert_msg(strstr(err.text, "syntax error at line 20003"), "%s",
	              err.text);
	/* The same text fine, once the trailing comma is gone. */
	n -= 6;
	n += (size_t)sprintf(t + n, "\n\n ]}  \n");
	ck_assert_int_eq(read_pipe(t, n, 1 << 20, &j, &err), 0);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "a")), 2);
	cJSON_Delete(j);
	/* A string across the sniffed head and the reads after it, with a
	 * \u0000 split by the head's end (16 bytes). */
	const char *s = "{\"abcdefg\": \"x\\u0000\"}";
	ck_assert_int_eq(read_pipe(s, strlen(s), 1000, &j, &err), SPZ_EFORMAT);
	ck_assert(strstr(err.text, "\\u0000 in a string"));
	/* Caps: one byte over, and exactly at it. */
	const char *c = "[1, 2, 3]";
	ck_assert_int_eq(read_pipe(c, 9, 8, &j, &err), SPZ_EFORMAT);
	ck_assert_msg(strstr(err.text, "': more than 8 bytes, the most a test "
	                     "file may hold"), "%s", err.text);
	ck_assert_int_eq(read_pipe(c, 9, 9, &j, &err), 0);
	cJSON_Delete(j);
	/* A top level that is not an object or an array stops the read. */
	ck_assert_int_eq(read_pipe("\"str\" 5", 7, 100, &j, &err), SPZ_EFORMAT);
	ck_assert(strstr(err.text, "text after the end of the JSON value"));
	free(t);
}
END_TEST

START_TEST(caps_and_blank_runs_from_files)
{
	char dir[256], path[300];
	tu_tmpdir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/b.json", dir);
	size_t n = SPZ_JSON_BLANK_RUN_MAX + 10;
	char *t = malloc(n);
	memset(t, '\n', n);
	t[0] = '[';
	t[n - 1] = ']';
	ck_assert_int_eq(tu_write_file(path, t, n), 0);
	cJSON *j = NULL;
	spz_error err = {0};
	ck_assert_int_eq(spz_json_load(&j, path, 1 << 30, "x", &err),
	                 SPZ_EFORMAT);
	ck_assert_msg(strstr(err.text, "more than 1 MiB of blanks in a row at "
	                     "line 1048577"), "%s", err.text);
	/* Exactly the limit is fine. */
	t[SPZ_JSON_BLANK_RUN_MAX + 1] = ']';
	ck_assert_int_eq(tu_write_file(path, t, SPZ_JSON_BLANK_RUN_MAX + 2), 0);
	ck_assert_msg(spz_json_load(&j, path, 1 << 30, "x", &err) == 0, "%s",
	              err.text);
	cJSON_Delete(j);
	/* A file over the cap: refused from its size. */
	ck_assert_int_eq(spz_json_load(&j, path, 1000, "a small file", &err),
	                 SPZ_EFORMAT);
	ck_assert(strstr(err.text, "more than 1000 bytes, the most a small file "
	                 "may hold"));
	ck_assert_int_eq(spz_json_load(&j, path, (uint64_t)16 << 20, "x", &err),
	                 0);
	cJSON_Delete(j);
	free(t);
	remove(path);
	remove(dir);
}
END_TEST

START_TEST(only_keys_and_names)
{
	cJSON *j = NULL;
	spz_error err;
	const char *t = "{\"a\": 1, \"b\": 2, \"c\": 3}";
	ck_assert_int_eq(parse(t, strlen(t), &err), 0);
	spz_json_parse(&j, t, strlen(t), "t.json", &err);
	static const char *const abc[] = {"a", "b", "c"};
	ck_assert_int_eq(spz_json_only_keys(j, abc, 3, "t.json", NULL, &err), 0);
	ck_assert_int_eq(spz_json_only_keys(j, abc, 2, "t.json", "node 3", &err),
	                 SPZ_EFORMAT);
	ck_assert_str_eq(err.text, "'t.json': node 3: unknown key \"c\"");
	ck_assert_int_eq(spz_json_only_keys(j, abc, 2, "t.json", NULL, &err),
	                 SPZ_EFORMAT);
	ck_assert_str_eq(err.text, "'t.json': unknown key \"c\"");
	cJSON_Delete(j);
	ck_assert_int_eq(spz_json_check_name("fc1.weight", "t.json", "x", "name",
	                                     &err), 0);
	ck_assert_int_eq(spz_json_check_name("fc\n", "t.json", "node 0", "name",
	                                     &err), SPZ_EFORMAT);
	ck_assert_str_eq(err.text, "'t.json': node 0: \"name\" is not a name "
	                 "(invalid UTF-8 or a control character at byte 2)");
}
END_TEST

/* The model reader's own keys: misspellings are refused, not defaulted. */
START_TEST(model_keys_are_strict)
{
	static const struct {
		const char *from, *to, *msg;
	} cases[] = {
		{"\"attributes\"", "\"atributes\"", "node 0: unknown key \"atributes\""},
		{"\"history\"", "\"History\"", "unknown key \"History\""},
		{"\"data\"", "\"dat\"", "initializer 0: unknown key \"dat\""},
		{"\"dims\": [1, 1]", "\"dims\": [1, 1], \"dims\": [2]",
		 "duplicate key \"dims\" in initializers[0]"},
		{"\"tool\"", "\"tol\"", "history step 0: unknown key \"tol\""},
		{"\"seed\": \"1\"", "\"seed\": \"1\x7f\"",
		 "history step 0: \"seed\" is not a name"},
		{"\"name\": \"m\"", "\"name\": \"m\\u0007\"",
		 "\"name\" is not a name (invalid UTF-8 or a control character at "
		 "byte 1)"},
	};
	const char *base =
		"{\"format\": \"spz-model\", \"version\": 1, \"name\": \"m\", "
		"\"inputs\": [\"x\"], \"outputs\": [\"y\"], \"nodes\": [{\"op\": "
		"\"MatMul\", \"name\": \"mm\", \"inputs\": [\"x\", \"w\"], "
		"\"outputs\": [\"y\"], \"attributes\": {}}], \"initializers\": "
		"[{\"name\": \"w\", \"data_type\": 1, \"dims\": [1, 1], \"data\": "
		"[1]}], \"history\": [{\"tool\": \"gen\", \"version\": \"0.1.0\", "
		"\"params\": {\"seed\": \"1\"}}]}";
	spz_model *m = NULL;
	spz_error err = {0};
	ck_assert_msg(spz_parse_manifest(&m, NULL, base, strlen(base), "t.json",
	                                 ".", &err) == 0, "%s", err.text);
	spz_model_free(m);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *at = strstr(base, cases[i].from);
		ck_assert_ptr_nonnull(at);
		char t[2048];
		snprintf(t, sizeof t, "%.*s%s%s", (int)(at - base), base,
		         cases[i].to, at + strlen(cases[i].from));
		m = NULL;
		int rc = spz_parse_manifest(&m, NULL, t, strlen(t), "t.json", ".",
		                            &err);
		ck_assert_msg(rc == SPZ_EFORMAT, "case %zu: rc %d", i, rc);
		ck_assert_ptr_null(m);
		ck_assert_msg(strstr(err.text, cases[i].msg), "case %zu: %s", i,
		              err.text);
	}
}
END_TEST

Suite *json_strict_suite(void)
{
	Suite *s = suite_create("json_strict");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, refusals_in_memory);
	tcase_add_test(tc, nul_byte_in_text);
	tcase_add_test(tc, big_and_deep_objects);
	tcase_add_test(tc, streamed_reads);
	tcase_add_test(tc, caps_and_blank_runs_from_files);
	tcase_add_test(tc, only_keys_and_names);
	tcase_add_test(tc, model_keys_are_strict);
	suite_add_tcase(s, tc);
	return s;
}
