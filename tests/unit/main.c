/*
 * main.c - runs every Check suite of tests/unit. Suites are found by the
 * Makefile from their `Suite *NAME_suite(void)` definitions (build/suites.h),
 * so adding a test file needs no edit here. Check's summary line is last.
 */
#include <check.h>
#include <stdlib.h>

#include "suites.h"

int main(void)
{
	SRunner *sr = srunner_create(NULL);
#define X(fn) srunner_add_suite(sr, fn());
	SPZ_SUITES
#undef X
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
