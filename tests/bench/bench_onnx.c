/*
 * bench_onnx.c - reading and writing a 4096x9216 float32 .onnx (151 MB).
 *
 * Target (issue 11): each within 3x a memcpy of the same bytes between
 * warm buffers, measured in the same run; peak RSS within 2x the file.
 * Peak RSS is that of spz itself run as a fresh process (getrusage of the
 * child), so that this process's buffers do not count.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "spz.h"
#include "spz_format.h"

static void die(const char *what)
{
	fprintf(stderr, "bench: %s\n", what);
	exit(1);
}

void bench_onnx_io(void)
{
	const int64_t rows = 4096, cols = 9216;
	spz_model *m;
	spz_error err = {0};
	if (spz_gen_layer(&m, rows, cols, 1.0, 1, &err))
		die(err.text);
	size_t bytes = (size_t)(rows * cols) * sizeof(float);
	char path[] = "/tmp/spz-bench-XXXXXX.onnx";
	int fd = mkstemps(path, 5);
	if (fd < 0)
		die("cannot create a file in /tmp");
	close(fd);
	double base = bench_memcpy_seconds(bytes);
	printf("\n== .onnx I/O, %lldx%lld float32 (%.0f MB), file in /tmp ==\n",
	       (long long)rows, (long long)cols, bytes / 1e6);
	bench_report("memcpy, warm buffers (baseline; target 3x)", base,
	             (double)bytes, 0);
	double wbest = 1e9, rbest = 1e9;
	for (int r = 0; r < 3; r++) {
		unlink(path);
		double t = bench_now();
		if (spz_model_save(m, path, SPZ_FILE_ONNX, &err))
			die(err.text);
		t = bench_now() - t;
		wbest = t < wbest ? t : wbest;
		spz_model *back;
		t = bench_now();
		if (spz_model_load(&back, path, &err))
			die(err.text);
		t = bench_now() - t;
		rbest = t < rbest ? t : rbest;
		if (memcmp(back->tensors[0].data, m->tensors[0].data, bytes))
			die("read back differs");
		spz_model_free(back);
	}
	bench_report("write .onnx (new file)", wbest, (double)bytes, base);
	bench_report("read .onnx", rbest, (double)bytes, base);
	struct stat st;
	if (stat(path, &st))
		die("cannot stat the model");
	/* Peak RSS of spz reading the file (info) and of reading and
	 * writing it (convert), each a fresh process: ru_maxrss of wait4. */
	char out[sizeof path + 8];
	snprintf(out, sizeof out, "%s.2.onnx", path);
	const char *what[2] = {"info", "convert"};
	for (int k = 0; k < 2; k++) {
		fflush(stdout);
		pid_t pid = fork();
		if (pid == 0) {
			if (!freopen("/dev/null", "w", stdout))
				_exit(3);
			if (k == 0)
				execl("./spz", "spz", "info", path, (char *)NULL);
			else
				execl("./spz", "spz", "convert", path, "-o", out,
				      (char *)NULL);
			_exit(4);
		}
		int status;
		struct rusage ru;
		if (pid < 0 || wait4(pid, &status, 0, &ru) != pid || status)
			die("the RSS child failed (run from the source tree)");
		printf("  peak RSS of spz %-8s %6.0f MB = %.2fx the %.0f MB "
		       "file (target 2x)\n", what[k], ru.ru_maxrss / 1e3,
		       ru.ru_maxrss * 1e3 / (double)st.st_size,
		       st.st_size / 1e6);
	}
	unlink(out);
	unlink(path);
	spz_model_free(m);
}
