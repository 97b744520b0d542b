/*
 * bench_json.c - reading a JSON model: a 1024x1024 float32 layer (about
 * 11 MB of text) from a file. JSON is the slow format
 * (parsing decimal text); this line is the baseline its rewrite for speed
 * must beat, and it shows what the strict front costs: the same text
 * through cJSON alone, the scan and checks left out, is printed beside it.
 * The baseline is a memcpy of the text's bytes.
 */
#define _GNU_SOURCE /* mkstemps */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "spz.h"
#include "spz_format.h"

static void die(const char *what)
{
	fprintf(stderr, "bench: %s\n", what);
	exit(1);
}

void bench_json_read(void)
{
	spz_model *m;
	spz_error err = {0};
	if (spz_gen_layer(&m, 1024, 1024, 1.0, 1, &err))
		die(err.text);
	char path[] = "/tmp/spz-bench-XXXXXX.json";
	int fd = mkstemps(path, 5);
	if (fd < 0)
		die("cannot create a file in /tmp");
	close(fd);
	if (spz_model_save(m, path, SPZ_FILE_JSON, &err))
		die(err.text);
	spz_model_free(m);
	size_t len;
	char *text;
	if (spz_slurp_path(&text, &len, path, (uint64_t)1 << 30, "a file",
	                   &err))
		die(err.text);
	double base = bench_memcpy_seconds(len);
	double parse = 1e9, load = 1e9;
	/* The model first, while the heap is as fresh as in a command:
	 * nodes allocated over a freed tree land scattered, and walking
	 * them costs cache misses that spz never pays. */
	for (int r = 0; r < 3; r++) {
		spz_model *back;
		double t = bench_now();
		if (spz_model_load(&back, path, &err))
			die(err.text);
		t = bench_now() - t;
		spz_model_free(back);
		load = t < load ? t : load;
	}
	for (int r = 0; r < 3; r++) {
		double t = bench_now();
		cJSON *j = cJSON_ParseWithLength(text, len);
		t = bench_now() - t;
		if (!j)
			die("cJSON cannot parse the bench model");
		cJSON_Delete(j);
		parse = t < parse ? t : parse;
	}
	printf("\n== JSON model read, 1024x1024 float32 (%.1f MB of text) ==\n",
	       len / 1e6);
	bench_report("memcpy of the text (baseline)", base, (double)len, 0);
	bench_report("cJSON parse alone, text in memory (best of 3)", parse,
	             (double)len, base);
	bench_report("read JSON model, strict (best of 3)", load, (double)len,
	             base);
	free(text);
	unlink(path);
}
