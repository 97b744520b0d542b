/*
 * test_config.c - the prune config reader (spz_prune_config_load), the
 * glob check it shares with --rule, and the CRC comparison every reader
 * goes through (which only a fuzzing build may switch off).
 */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* Loads text as a config; returns the reader's code, rules in *r. */
static int load(spz_prune_rule **r, size_t *n, const char *text,
                spz_error *err)
{
	char dir[256], path[300];
	tu_tmpdir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/cfg.json", dir);
	ck_assert_int_eq(tu_write_file(path, text, strlen(text)), 0);
	*r = NULL;
	*n = 0;
	return spz_prune_config_load(r, n, path, err);
}

START_TEST(rules_in_file_order)
{
	spz_error err = {0};
	spz_prune_rule *r;
	size_t n;
	ck_assert_int_eq(load(&r, &n, "{\"rules\": [{\"match\": \"fc*\", "
	                      "\"sparsity\": 0.5}, {\"sparsity\": 0, "
	                      "\"match\": \"fc1.weight\"}]}", &err), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(r[0].glob, "fc*");
	ck_assert(r[0].sparsity == 0.5);
	ck_assert_str_eq(r[1].glob, "fc1.weight");
	ck_assert(r[1].sparsity == 0.0);
	spz_prune_rules_free(r, n);
	ck_assert_int_eq(load(&r, &n, "{\"rules\": []}", &err), 0);
	ck_assert_uint_eq(n, 0);
	spz_prune_rules_free(r, n);
	spz_prune_rules_free(NULL, 0);
}
END_TEST

START_TEST(bad_configs_are_named)
{
	static const struct {
		const char *text, *msg;
	} bad[] = {
		{"{\"rules\": [", "not JSON (syntax error at line 1)"},
		{"[]", "not a prune config"},
		{"{\"rules\": {}}", "not a prune config"},
		{"{\"rules\": [], \"x\": 1}", "unknown key \"x\""},
		{"{\"rules\": [{\"match\": \"a\"}]}", "rule 0 must be"},
		{"{\"rules\": [{\"match\": \"a\", \"sparsity\": 0.5}, 3]}",
		 "rule 1 must be"},
		{"{\"rules\": [{\"match\": \"a\", \"sparsity\": \"0.5\"}]}",
		 "rule 0 must be"},
		{"{\"rules\": [{\"match\": \"a\", \"sparsity\": 0.5, \"y\": 1}]}",
		 "rule 0 must be"},
		{"{\"rules\": [{\"match\": \"fc[1\", \"sparsity\": 0.5}]}",
		 "rule 0: bad glob 'fc[1'"},
		{"{\"rules\": [{\"match\": \"\", \"sparsity\": 0.5}]}",
		 "rule 0: bad glob ''"},
		{"{\"rules\": [{\"match\": \"a\", \"sparsity\": 1}]}",
		 "rule 0: sparsity must be in [0, 1)"},
		{"{\"rules\": [{\"match\": \"a\", \"sparsity\": -0.1}]}",
		 "rule 0: sparsity must be in [0, 1)"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		spz_error err = {0};
		spz_prune_rule *r;
		size_t n;
		ck_assert_int_eq(load(&r, &n, bad[i].text, &err), SPZ_EFORMAT);
		ck_assert_msg(strstr(err.text, bad[i].msg) &&
		              strstr(err.text, "cfg.json"),
		              "%s: got '%s'", bad[i].text, err.text);
		ck_assert_ptr_null(r);
	}
	spz_error err = {0};
	spz_prune_rule *r = NULL;
	size_t n = 0;
	ck_assert_int_eq(spz_prune_config_load(&r, &n, "/nonexistent/c.json",
	                                       &err), SPZ_EIO);
}
END_TEST

START_TEST(glob_check)
{
	ck_assert(spz_glob_ok("fc*.weight"));
	ck_assert(spz_glob_ok("fc[12]"));
	ck_assert(spz_glob_ok("fc[]]"));
	ck_assert(spz_glob_ok("fc[!]x]"));
	ck_assert(spz_glob_ok("fc\\["));
	ck_assert(!spz_glob_ok(""));
	ck_assert(!spz_glob_ok("fc[1"));
	ck_assert(!spz_glob_ok("fc[]"));
	ck_assert(!spz_glob_ok("fc\\"));
}
END_TEST

/* A fuzzing build (-DSPZ_FUZZ_NO_CRC) must never be what make check runs:
 * then every CRC would pass. */
START_TEST(crc_is_compared)
{
	ck_assert(spz_crc_mismatch(1, 2));
	ck_assert(!spz_crc_mismatch(7, 7));
	ck_assert(spz_crc_mismatch(spz_crc32(0, "a", 1), spz_crc32(0, "b", 1)));
}
END_TEST

Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");
	tcase_add_test(tc, rules_in_file_order);
	tcase_add_test(tc, bad_configs_are_named);
	tcase_add_test(tc, glob_check);
	tcase_add_test(tc, crc_is_compared);
	suite_add_tcase(s, tc);
	return s;
}
