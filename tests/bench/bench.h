/*
 * bench.h - shared by the benchmarks of `make bench`. Each bench_*.c file
 * defines one or more `void bench_NAME(void)` functions at column 0; the
 * Makefile finds them (build/benches.h) and main.c runs them in file order.
 * Every figure is reported next to a baseline measured in the same run
 * (usually a memcpy of the same bytes), since machines are noisy.
 */
#ifndef SPZ_BENCH_H
#define SPZ_BENCH_H

#include <stddef.h>

/* Monotonic seconds. */
double bench_now(void);
/* Best-of-3 seconds of a memcpy of n bytes between two buffers that have
 * already been touched (no page faults in the measurement). */
double bench_memcpy_seconds(size_t n);
/* Prints one result line: what, seconds, MB/s of `bytes` (0: no rate),
 * and the ratio to baseline seconds (0: none). */
void bench_report(const char *what, double seconds, double bytes,
                  double baseline);

#endif
