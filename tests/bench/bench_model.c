/* bench_model.c - reading and writing a 4096x9216 float32 model (.spzm). */
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bench.h"
#include "spz.h"
#include "spz_format.h"

void bench_spzm_io(void)
{
	const int64_t rows = 4096, cols = 9216;
	spz_model *m;
	spz_error err = {0};
	if (spz_gen_layer(&m, rows, cols, 1.0, 1, &err)) {
		fprintf(stderr, "bench: %s\n", err.text);
		exit(1);
	}
	size_t bytes = (size_t)(rows * cols) * sizeof(float);
	char path[] = "/tmp/spz-bench-XXXXXX.spzm";
	int fd = mkstemps(path, 5);
	close(fd);
	double base = bench_memcpy_seconds(bytes);
	printf("\n== .spzm I/O, %lldx%lld float32 (%.0f MB), file in %s ==\n",
	       (long long)rows, (long long)cols, bytes / 1e6, "/tmp");
	bench_report("memcpy (baseline)", base, (double)bytes, 0);
	double wbest = 1e9, rbest = 1e9;
	for (int r = 0; r < 3; r++) {
		double t = bench_now();
		if (spz_model_save(m, path, SPZ_FILE_SPZM, &err)) {
			fprintf(stderr, "bench: %s\n", err.text);
			exit(1);
		}
		t = bench_now() - t;
		wbest = t < wbest ? t : wbest;
		spz_model *back;
		t = bench_now();
		if (spz_model_load(&back, path, &err)) {
			fprintf(stderr, "bench: %s\n", err.text);
			exit(1);
		}
		t = bench_now() - t;
		rbest = t < rbest ? t : rbest;
		spz_model_free(back);
	}
	bench_report("write .spzm (best of 3)", wbest, (double)bytes, base);
	bench_report("read .spzm (best of 3)", rbest, (double)bytes, base);
	unlink(path);
	spz_model_free(m);
}
