/*
 * fuzz_image_huffman.c - the Huffman EIE image (kind 5, spz pack
 * --huffman) through spz_eie_load: code-length tables, stream lengths and
 * the coded streams; then what reads an image it accepted (unpack, the
 * cost report and its Huffman sizes, one emulator run, for small layers),
 * and a Huffman write that must read back.
 */
#include "image_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_eie_image(data, size, 1);
}
