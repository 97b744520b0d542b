/* fuzz_prune_config.c - the prune config reader (spz_prune_config_load):
 * every rule it returns has a usable glob and a sparsity in [0, 1). */
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	spz_prune_rule *r = NULL;
	size_t n = 0;
	spz_error err = {0};
	int rc = spz_prune_config_load(&r, &n, fuzz_file(0, data, size), &err);
	if (rc) {
		fuzz_check_failure(rc, &err);
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		if (!spz_glob_ok(r[i].glob) ||
		    !(r[i].sparsity >= 0 && r[i].sparsity < 1))
			fuzz_die("a prune rule out of its bounds", NULL);
	spz_prune_rules_free(r, n);
	return 0;
}
