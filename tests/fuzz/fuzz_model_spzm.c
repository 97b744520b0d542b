/* fuzz_model_spzm.c - the binary model reader (spz_model_load on a .spzm),
 * then the writers: what it took must write and read back. */
#define _POSIX_C_SOURCE 200809L
#include "model_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_model(data, size);
}
