/*
 * bench_report.c - spz report's work on AlexNet fc6's size (4096x9216 at
 * 9% density, 4-bit codes, 64 PEs): the cost model and the data of its
 * figures from the image, against a memcpy of the dense float32 tensor.
 */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "spz.h"

void bench_report_cost(void)
{
	const int64_t rows = 4096, cols = 9216;
	spz_model *m;
	spz_eie *e;
	spz_error err = {0};
	spz_eie_options eo = SPZ_EIE_OPTIONS_INIT;
	if (spz_gen_layer(&m, rows, cols, 0.09, 1, &err) ||
	    spz_report_pack(&e, m, &eo, 4, &err)) {
		fprintf(stderr, "bench: %s\n", err.text);
		exit(1);
	}
	spz_model_free(m);
	size_t bytes = (size_t)(rows * cols) * sizeof(float);
	double base = bench_memcpy_seconds(bytes);
	printf("\n== spz report, %lldx%lld at 9%% on 64 PEs (%llu entries) ==\n",
	       (long long)rows, (long long)cols,
	       (unsigned long long)(e->layers[0].nonzeros +
	                            e->layers[0].padding));
	bench_report("memcpy of the dense float32 tensor (baseline)", base,
	             (double)bytes, 0);
	double best = 1e9;
	for (int r = 0; r < 3; r++) {
		spz_report_options o = SPZ_REPORT_OPTIONS_INIT;
		spz_report *rep;
		float *grid;
		uint32_t w, h, block;
		spz_histogram *hist;
		double t = bench_now();
		if (spz_report_compute(&rep, e, &o, &err) ||
		    spz_report_density_grid(&grid, &w, &h, &block, e,
		                            &e->layers[0], 1024, &err) ||
		    spz_histogram_of_layer(&hist, e, &e->layers[0], 64, &err)) {
			fprintf(stderr, "bench: %s\n", err.text);
			exit(1);
		}
		t = bench_now() - t;
		best = t < best ? t : best;
		spz_report_free(rep);
		free(grid);
		spz_histogram_free(hist);
	}
	bench_report("report + heatmap grid + histogram (best of 3)", best,
	             (double)bytes, base);
	spz_eie_free(e);
}
