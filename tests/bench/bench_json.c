/*
 * bench_json.c - writing and reading a JSON model: a 4096x9216 float32
 * layer (151 MB of floats, about 420 MB of text), in a file in /tmp.
 *
 * Targets (issue 14, part 5): write >= 100 MB/s of text, read >= 100 MB/s
 * of text, peak RSS of a read <= the text size + 2x the float payload.
 * The baseline is a memcpy of the text's bytes between warm buffers,
 * measured in the same run. The RSS is that of spz itself (`spz info` of
 * the file) run as a fresh process: ru_maxrss of the child from wait4, so
 * this process's buffers do not count.
 */
#define _GNU_SOURCE /* mkstemps */
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

/* User + system CPU seconds of this process so far: on a machine shared
 * with other work, the wall time of a step can be several times its CPU
 * time, and both are worth seeing. */
static double cpu_now(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}

/* Peak RSS in bytes of `./spz info path` run as a child. */
static double child_rss(const char *path)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		if (!freopen("/dev/null", "w", stdout))
			_exit(3);
		execl("./spz", "spz", "info", path, (char *)NULL);
		_exit(4);
	}
	int status;
	struct rusage ru;
	if (pid < 0 || wait4(pid, &status, 0, &ru) != pid || status)
		die("the RSS child failed (run from the source tree)");
	return ru.ru_maxrss * 1024.0;
}

void bench_json_io(void)
{
	const int64_t rows = 4096, cols = 9216;
	spz_model *m;
	spz_error err = {0};
	if (spz_gen_layer(&m, rows, cols, 1.0, 1, &err))
		die(err.text);
	size_t payload = (size_t)(rows * cols) * sizeof(float);
	char path[] = "/tmp/spz-bench-XXXXXX.json";
	int fd = mkstemps(path, 5);
	if (fd < 0)
		die("cannot create a file in /tmp");
	close(fd);
	double wbest = 1e9, rbest = 1e9, wcpu = 1e9, rcpu = 1e9;
	for (int r = 0; r < 2; r++) {
		unlink(path);
		double c = cpu_now(), t = bench_now();
		if (spz_model_save(m, path, SPZ_FILE_JSON, &err))
			die(err.text);
		t = bench_now() - t;
		c = cpu_now() - c;
		wbest = t < wbest ? t : wbest;
		wcpu = c < wcpu ? c : wcpu;
		spz_model *back;
		c = cpu_now();
		t = bench_now();
		if (spz_model_load(&back, path, &err))
			die(err.text);
		t = bench_now() - t;
		c = cpu_now() - c;
		rbest = t < rbest ? t : rbest;
		rcpu = c < rcpu ? c : rcpu;
		if (memcmp(back->tensors[0].data, m->tensors[0].data, payload))
			die("read back differs");
		spz_model_free(back);
	}
	struct stat st;
	if (stat(path, &st))
		die("cannot stat the model");
	double text = (double)st.st_size;
	double base = bench_memcpy_seconds((size_t)st.st_size);
	printf("\n== JSON model I/O, %lldx%lld float32 (%.0f MB of floats, "
	       "%.0f MB of text) ==\n", (long long)rows, (long long)cols,
	       payload / 1e6, text / 1e6);
	bench_report("memcpy of the text, warm buffers (baseline)", base, text,
	             0);
	bench_report("write JSON model (target >= 100 MB/s)", wbest, text,
	             base);
	bench_report("read JSON model, strict (target >= 100 MB/s)", rbest,
	             text, base);
	printf("  cpu time: write %.2f s (%.0f MB/s), read %.2f s (%.0f MB/s)\n",
	       wcpu, text / wcpu / 1e6, rcpu, text / rcpu / 1e6);
	double rss = child_rss(path);
	printf("  peak RSS of spz info %6.0f MB = text + %.2fx the float "
	       "payload (target 2x)\n", rss / 1e6, (rss - text) / payload);
	unlink(path);
	spz_model_free(m);
}
