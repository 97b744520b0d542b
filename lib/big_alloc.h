/*
 * big_alloc.h - allocation of large buffers (private to lib/): tensor data
 * and decoded codes, which are freed with free() like any other.
 */
#ifndef SPZ_BIG_ALLOC_H
#define SPZ_BIG_ALLOC_H

#include <stddef.h>

/* malloc (calloc when zero) of bytes, with a transparent huge page hint
 * when big enough to matter; NULL when out of memory. */
void *spz_alloc_big(size_t bytes, int zero);

#endif
