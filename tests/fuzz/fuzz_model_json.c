/* fuzz_model_json.c - the JSON model reader (spz_model_load on JSON text),
 * then the writers: what it took must write and read back. */
#define _POSIX_C_SOURCE 200809L
#include "model_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_model(data, size);
}
