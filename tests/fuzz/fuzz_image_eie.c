/*
 * fuzz_image_eie.c - the EIE image reader (spz_eie_load), then what reads
 * an image it accepted: unpack, the cost report, one emulator run (the
 * last two only for layers small enough to stay fast).
 */
#include "image_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_eie_image(data, size, 0);
}
