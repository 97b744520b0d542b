/* fuzz_energy.c - the energy table override of spz run and spz report
 * (spz_energy_load): on failure the table must be left as it was. */
#include <string.h>

#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	spz_energy_table t = SPZ_ENERGY_TABLE_INIT, before = t;
	spz_error err = {0};
	int rc = spz_energy_load(&t, fuzz_file(0, data, size), &err);
	if (rc) {
		fuzz_check_failure(rc, &err);
		if (memcmp(&t, &before, sizeof t))
			fuzz_die("a failed energy load changed the table", &err);
	}
	return 0;
}
