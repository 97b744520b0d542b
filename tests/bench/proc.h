/*
 * proc.h - whole-process timings for the benchmarks that compare a spz
 * command with cp of its input: a program run as a child, its wall time.
 */
#ifndef SPZ_BENCH_PROC_H
#define SPZ_BENCH_PROC_H

/* Wall seconds of running argv (argv[0] found on PATH, or a path) with
 * stdout and stderr to /dev/null; exits the bench when it fails. */
double proc_seconds(char *const argv[]);
/* Peak resident memory (KB) of one run of argv, the same way; it is at
 * least *floor_kb, the bench's own at the fork (a child starts as a copy
 * of it), which the bench makes small first (malloc_trim). */
long proc_peak_kb(char *const argv[], long *floor_kb);
/* The folder for the files of a whole-process bench: /dev/shm when it
 * is a tmpfs (fsync costs nothing there), else NULL. */
const char *proc_tmpfs_dir(void);
/* Seconds of fsync() of the file at path (already written). */
double proc_fsync_seconds(const char *path);

#endif
