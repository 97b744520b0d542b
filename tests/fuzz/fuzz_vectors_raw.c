/* fuzz_vectors_raw.c - the raw float32 input vectors of spz run
 * (spz_vectors_load --raw), written back and read again. */
#define _POSIX_C_SOURCE 200809L
#include "vectors_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_vectors(data, size, 1);
}
