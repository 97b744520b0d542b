/*
 * finite.h - the search for the first NaN or infinity in float32 data
 * (private to libspz: lib/ and formats/; the unit tests compare the
 * versions). Every reader and writer runs it over every value, so it
 * must keep up with memory: a vector version per instruction set, chosen
 * at run time, and a portable one.
 */
#ifndef SPZ_FINITE_H
#define SPZ_FINITE_H

#include <stdint.h>

/* The versions: the portable one, then what x86-64 CPUs may add. */
enum { SPZ_FINITE_C, SPZ_FINITE_AVX2, SPZ_FINITE_AVX512, SPZ_FINITE_LEVELS };

/* Index of the first NaN or infinity in v[0..n), or -1 (n <= 0: -1),
 * with the best version this CPU runs. */
int64_t spz_first_nonfinite(const float *v, int64_t n);

/* The same with version level; one this CPU (or build) lacks runs the
 * best one below it. */
int64_t spz_first_nonfinite_at(int level, const float *v, int64_t n);

/* The best version this CPU runs (SPZ_FINITE_C off x86-64). */
int spz_finite_level(void);

#endif
