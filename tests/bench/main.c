/* main.c - runs every benchmark found in tests/bench (build/benches.h). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "benches.h"

double bench_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

double bench_memcpy_seconds(size_t n)
{
	char *a = malloc(n), *b = malloc(n);
	if (!a || !b) {
		fprintf(stderr, "bench: out of memory\n");
		exit(1);
	}
	memset(a, 1, n);
	memset(b, 2, n);
	double best = 1e9;
	for (int r = 0; r < 3; r++) {
		double t = bench_now();
		memcpy(b, a, n);
		t = bench_now() - t;
		if (t < best)
			best = t;
	}
	/* Keep the copy observable so it is not optimized away. */
	if (b[n / 2] != 1)
		fprintf(stderr, "bench: memcpy check failed\n");
	free(a);
	free(b);
	return best;
}

void bench_report(const char *what, double seconds, double bytes,
                  double baseline)
{
	printf("%-52s %9.2f ms", what, seconds * 1e3);
	if (bytes > 0)
		printf(" %9.1f MB/s", bytes / seconds / 1e6);
	else
		printf(" %15s", "");
	if (baseline > 0)
		printf("  %6.2fx baseline", seconds / baseline);
	printf("\n");
	fflush(stdout);
}

/* SPZ_BENCH=WORD runs only the benches whose function name holds WORD
 * (SPZ_BENCH=processes: the whole-process timings), for a quick look
 * while developing; unset, every one runs. */
int main(void)
{
	const char *only = getenv("SPZ_BENCH");
#define X(fn) if (!only || strstr(#fn, only)) fn();
	SPZ_BENCHES
#undef X
	return 0;
}
