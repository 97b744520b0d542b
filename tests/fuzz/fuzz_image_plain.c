/* fuzz_image_plain.c - the plain image reader (CSC, CSR and N:M:
 * spz_plain_read), which checks every section and the model inside. */
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	spz_input in;
	spz_error err = {0};
	int rc = spz_input_open(&in, fuzz_file(0, data, size), &err);
	if (rc) {
		fuzz_check_failure(rc, &err);
		return 0;
	}
	spz_plain *p = NULL;
	rc = spz_plain_read(&p, &in, &err);
	spz_input_close(&in);
	if (rc)
		fuzz_check_failure(rc, &err);
	spz_plain_free(p);
	return 0;
}
