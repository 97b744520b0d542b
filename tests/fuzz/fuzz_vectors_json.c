/* fuzz_vectors_json.c - the JSON input vectors of spz run
 * (spz_vectors_load), written back and read again. */
#define _POSIX_C_SOURCE 200809L
#include "vectors_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_vectors(data, size, 0);
}
