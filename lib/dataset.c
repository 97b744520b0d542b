/*
 * dataset.c - the in-memory data set (samples as float32 rows, optional
 * labels) shared by evaluation and training; readers live in formats/.
 */
#include "spz.h"

#include <stdlib.h>

/* The shape checks both constructors share; *features on success. */
static int check_shape(size_t n, const int64_t *dims, int ndims,
                       size_t *features, spz_error *err)
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
	*features = (size_t)f;
	return 0;
}

static spz_dataset *shell(size_t n, size_t features, const int64_t *dims,
                          int ndims)
{
	spz_dataset *d = calloc(1, sizeof *d);
	if (!d)
		return NULL;
	d->n = n;
	d->features = features;
	d->ndims = ndims;
	for (int i = 0; i < ndims; i++)
		d->dims[i] = dims[i];
	return d;
}

int spz_dataset_new(spz_dataset **out, size_t n, const int64_t *dims,
                    int ndims, int labelled, spz_error *err)
{
	size_t f;
	int rc = check_shape(n, dims, ndims, &f, err);
	if (rc)
		return rc;
	spz_dataset *d = shell(n, f, dims, ndims);
	if (!d)
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	d->x = calloc(n * d->features, sizeof *d->x);
	if (labelled)
		d->labels = calloc(n, sizeof *d->labels);
	if (!d->x || (labelled && !d->labels)) {
		spz_dataset_free(d);
		return spz_fail(err, SPZ_ENOMEM, "out of memory for %zu samples "
		                "of %zu values", n, f);
	}
	*out = d;
	return 0;
}

int spz_dataset_adopt(spz_dataset **out, size_t n, const int64_t *dims,
                      int ndims, float *x, int32_t *labels, spz_error *err)
{
	size_t f;
	int rc = x ? check_shape(n, dims, ndims, &f, err)
	           : spz_fail(err, SPZ_EINVAL, "a data set without samples");
	int32_t top = -1;
	for (size_t i = 0; !rc && labels && i < n; i++) {
		if (labels[i] < 0 || labels[i] == INT32_MAX)
			rc = spz_fail(err, SPZ_ERANGE, "label %zu is %ld, not a "
			              "class (0 or more)", i, (long)labels[i]);
		top = labels[i] > top ? labels[i] : top;
	}
	spz_dataset *d = rc ? NULL : shell(n, f, dims, ndims);
	if (!d) {
		free(x);
		free(labels);
		return rc ? rc : spz_fail(err, SPZ_ENOMEM, "out of memory");
	}
	d->x = x;
	d->labels = labels;
	d->classes = labels ? top + 1 : 0;
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
