/*
 * replay.c - main() of a harness outside libFuzzer (make check): runs
 * every file of the given folders (or the given files) through
 * LLVMFuzzerTestOneInput, each in a child process so that a crash names
 * its file and the others still run, and prints one line:
 *
 *   fuzz replay NAME: N files, C crashed
 *
 * Exit 0 when nothing crashed, 1 otherwise (or when a folder is missing
 * or empty: a harness without its corpus tests nothing). Built with the
 * normal compiler and flags, so under make SANITIZE=1 a sanitizer report
 * in a child is a crash.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* Seconds one file may take: the corpus files are small, so more means
 * a hang. */
#define REPLAY_TIMEOUT 60

#if defined(__SANITIZE_ADDRESS__)
#define REPLAY_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define REPLAY_ASAN 1
#endif
#endif

static unsigned char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 4096, n = 0;
	unsigned char *b = malloc(cap);
	while (b) {
		n += fread(b + n, 1, cap - n, f);
		if (n < cap)
			break;
		unsigned char *nb = realloc(b, cap *= 2);
		if (!nb)
			free(b);
		b = nb;
	}
	if (ferror(f)) {
		free(b);
		b = NULL;
	}
	fclose(f);
	*len = n;
	return b;
}

/* Runs one file in a child; 0 when it returned normally. */
static int replay(const char *path)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "fuzz replay: fork: %s\n", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		size_t len;
		unsigned char *b = read_all(path, &len);
		if (!b) {
			fprintf(stderr, "fuzz replay: cannot read '%s'\n", path);
			_exit(2);
		}
		alarm(REPLAY_TIMEOUT);
		LLVMFuzzerTestOneInput(b, len);
		free(b);
		/* exit, not _exit: the leak checker runs at exit. */
		exit(0);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	if (WIFSIGNALED(st))
		fprintf(stderr, "fuzz replay: '%s': killed by signal %d%s\n", path,
		        WTERMSIG(st), WTERMSIG(st) == SIGALRM ? " (timeout)" : "");
	else
		fprintf(stderr, "fuzz replay: '%s': exit %d\n", path,
		        WEXITSTATUS(st));
	return -1;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replays every regular file of dir in name order; counts in *files and
 * *crashed. -1 when dir cannot be read. */
static int replay_dir(const char *dir, size_t *files, size_t *crashed)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	char **names = NULL;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char **nv = realloc(names, (n + 1) * sizeof *nv);
		if (!nv || asprintf(&nv[n], "%s/%s", dir, e->d_name) < 0) {
			fprintf(stderr, "fuzz replay: out of memory\n");
			exit(1);
		}
		names = nv;
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof *names, by_name);
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
			(*files)++;
			if (replay(names[i]))
				(*crashed)++;
		}
		free(names[i]);
	}
	free(names);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR|FILE...\n", argv[0]);
		return 2;
	}
#ifndef REPLAY_ASAN
	/* Without ASan's allocator limit (harness.c) a reader that sizes a
	 * buffer by declared dims could take the machine's memory; cap the
	 * address space instead. ASan reserves terabytes of it, hence not
	 * under ASan. */
	struct rlimit rl = {(rlim_t)4 << 30, (rlim_t)4 << 30};
	setrlimit(RLIMIT_AS, &rl);
#endif
	/* The harness's folder, made once here and shared by the children. */
	fuzz_file(0, "", 0);
	const char *name = strrchr(argv[0], '/');
	name = name ? name + 1 : argv[0];
	size_t files = 0, crashed = 0;
	int bad = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			size_t before = files;
			if (replay_dir(argv[i], &files, &crashed) ||
			    files == before) {
				fprintf(stderr, "fuzz replay: '%s': no corpus files\n",
				        argv[i]);
				bad = 1;
			}
		} else if (stat(argv[i], &st) == 0) {
			files++;
			if (replay(argv[i]))
				crashed++;
		} else {
			fprintf(stderr, "fuzz replay: cannot open '%s': %s\n",
			        argv[i], strerror(errno));
			bad = 1;
		}
	}
	printf("fuzz replay %s: %zu files, %zu crashed\n", name, files, crashed);
	return bad || crashed ? 1 : 0;
}
