/*
 * dataset.c - the in-memory data set (samples as float32 rows, optional
 * labels) shared by evaluation and training; readers live in formats/.
 */
#include "spz.h"

#include <stdlib.h>

int spz_dataset_new(spz_dataset **out, size_t n, const int64_t *dims,
                    int ndims, int labelled, spz_error *err)
{
	if (ndims < 1 || ndims >= SPZ_MAX_DIMS)
		return spz_fail(err, SPZ_ERANGE, "a sample has 1..%d dims, not "
		                "%d", SPZ_MAX_DIMS - 1, ndims);
	int64_t f = spz_dims_elements(dims, ndims);
	if (n == 0 || f <= 0)
		return spz_fail(err, SPZ_ERANGE, "a data set needs at least one "
		                "sample of at least one value");
	if ((uint64_t)f > SIZE_MAX / sizeof(float) / n)
		return spz_fail(err, SPZ_ERANGE, "%zu samples of %lld values "
		                "overflow memory sizes", n, (long long)f);
	spz_dataset *d = calloc(1, sizeof *d);
	if (!d)
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	d->n = n;
	d->features = (size_t)f;
	d->ndims = ndims;
	for (int i = 0; i < ndims; i++)
		d->dims[i] = dims[i];
	d->x = calloc(n * d->features, sizeof *d->x);
	if (labelled)
		d->labels = calloc(n, sizeof *d->labels);
	if (!d->x || (labelled && !d->labels)) {
		spz_dataset_free(d);
		return spz_fail(err, SPZ_ENOMEM, "out of memory for %zu samples "
		                "of %zu values", n, (size_t)f);
	}
	*out = d;
	return 0;
}

void spz_dataset_free(spz_dataset *d)
{
	if (!d)
		return;
	free(d->x);
	free(d->labels);
	free(d);
}
