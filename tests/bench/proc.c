/*
 * proc.c - whole-process timings (proc.h): fork, exec, wait, measured
 * from the parent, so that a command's start-up, its reading, its
 * writing and the fsync of its output all count, as they do for a user.
 */
#define _GNU_SOURCE
#include "proc.h"

#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif

/* Runs argv with stdout and stderr to /dev/null and waits for it; its
 * resource use into *ru. Exits the bench when it fails. */
static void run_child(char *const argv[], struct rusage *ru)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	int status;
	if (pid < 0 || wait4(pid, &status, 0, ru) != pid ||
	    !WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "bench: '%s %s' failed (run from the source "
		        "tree)\n", argv[0], argv[1] ? argv[1] : "");
		exit(1);
	}
}

double proc_seconds(char *const argv[])
{
	struct rusage ru;
	double t = bench_now();
	run_child(argv, &ru);
	return bench_now() - t;
}

/* The bench's own resident kB now (/proc/self/statm), 0 if unknown. */
static long self_rss_kb(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f && fscanf(f, "%ld %ld", &pages, &rss) != 2)
		rss = 0;
	if (f)
		fclose(f);
	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

long proc_peak_kb(char *const argv[], long *floor_kb)
{
	/* A forked child starts as a copy of the bench, and ru_maxrss
	 * keeps the highest of before and after its exec: the bench's
	 * heap is given back first, and what stays is the floor. */
	malloc_trim(0);
	*floor_kb = self_rss_kb();
	struct rusage ru;
	run_child(argv, &ru);
	return ru.ru_maxrss;
}

const char *proc_tmpfs_dir(void)
{
	struct statfs s;
	if (statfs("/dev/shm", &s) == 0 && s.f_type == TMPFS_MAGIC &&
	    access("/dev/shm", W_OK) == 0)
		return "/dev/shm";
	return NULL;
}

double proc_fsync_seconds(const char *path)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		fprintf(stderr, "bench: cannot open '%s'\n", path);
		exit(1);
	}
	double t = bench_now();
	if (fsync(fd)) {
		fprintf(stderr, "bench: cannot fsync '%s'\n", path);
		exit(1);
	}
	t = bench_now() - t;
	close(fd);
	return t;
}
