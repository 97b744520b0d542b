/* fuzz_dataset.c - the data-set readers (IDX and .npy, plain or gzip):
 * the bytes as the inputs file alone, then as both the inputs and the
 * labels file, so that the label checks and the count agreement between
 * the two headers are reached too. A loaded set must be what the header
 * says: at least one sample, finite values, labels within the classes;
 * a failure is never "out of memory" (memory follows the data present,
 * not the shape a header declares). */
#include <math.h>

#include "harness.h"

static void check(const spz_data_options *o)
{
	spz_dataset *d = NULL;
	spz_error err = {0};
	int rc = spz_dataset_load(&d, o, &err);
	if (rc) {
		fuzz_check_failure(rc, &err);
		/* An input of a few kilobytes needs a few megabytes at most:
		 * running out means a buffer sized by the header's shape
		 * rather than by the bytes present (issue 12). */
		if (rc == SPZ_ENOMEM)
			fuzz_die("out of memory for a small input", &err);
		return;
	}
	if (!d || d->n < 1 || d->features < 1)
		fuzz_die("a loaded data set is empty", &err);
	for (size_t i = 0; i < d->n * d->features; i++)
		if (!isfinite(d->x[i]))
			fuzz_die("a loaded data set holds a non-finite value",
			         &err);
	for (size_t i = 0; d->labels && i < d->n; i++)
		if (d->labels[i] < 0 || d->labels[i] >= d->classes)
			fuzz_die("a label is outside the classes", &err);
	spz_dataset_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	spz_data_options o = SPZ_DATA_OPTIONS_INIT;
	o.x = fuzz_file(0, data, size);
	o.limit = 4096;
	check(&o);
	o.y = o.x;
	check(&o);
	return 0;
}
