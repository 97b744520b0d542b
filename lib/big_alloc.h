/*
 * big_alloc.h - allocation of large buffers (private to libspz: lib/ and
 * formats/): tensor data, decoded codes and the payloads the .spzm codec
 * builds, which are freed with free() like any other.
 */
#ifndef SPZ_BIG_ALLOC_H
#define SPZ_BIG_ALLOC_H

#include <stddef.h>

/* malloc (calloc when zero) of bytes, with a transparent huge page hint
 * when big enough to matter; NULL when out of memory. */
void *spz_alloc_big(size_t bytes, int zero);

/* malloc of bytes that will be filled for the first time from start to
 * end: from 64 KiB on, whole 2 MiB huge pages, aligned and hinted to be
 * used, so that the first touches cost a fault per 2 MiB rather than per
 * 4 KiB (pages never touched cost nothing: a generous size is free). */
void *spz_alloc_fresh(size_t bytes);

#endif
