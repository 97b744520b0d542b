/*
 * harness.c - the shared part of the fuzz harnesses (harness.h): the
 * private folder the inputs are written to, the failure contract, and the
 * allocator limit under AddressSanitizer.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

/*
 * Under ASan (make fuzz, make SANITIZE=1 check) an allocation over 256 MB
 * returns NULL instead of stopping the run: a reader that sizes a buffer
 * by declared dims before checking them against the file (issue 10,
 * defect 3) then reports "out of memory" rather than exhausting the
 * machine. No input a harness gets is anywhere near that size. The
 * environment's ASAN_OPTIONS still override this.
 */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "allocator_may_return_null=1:max_allocation_size_mb=256";
}

static char dir[4096];
static char paths[2][4200];
static int fds[2] = {-1, -1};
/* The process that made the folder removes it: replay.c makes it before
 * forking, and its children's exits must leave it alone. */
static pid_t owner;

static void cleanup(void)
{
	if (getpid() != owner)
		return;
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0) {
			close(fds[i]);
			unlink(paths[i]);
			fds[i] = -1;
		}
	if (dir[0])
		rmdir(dir);
	dir[0] = 0;
}

static void setup(void)
{
	/* tmpfs when there is one: the writes never touch a disk. */
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm"
	                   : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(dir, sizeof dir, "%s/spz-fuzz.XXXXXX", base);
	if (!mkdtemp(dir)) {
		fprintf(stderr, "fuzz: cannot create a folder in '%s': %s\n",
		        base, strerror(errno));
		abort();
	}
	owner = getpid();
	atexit(cleanup);
	for (int i = 0; i < 2; i++) {
		snprintf(paths[i], sizeof paths[i], "%s/%s", dir,
		         i ? "again" : "input");
		fds[i] = open(paths[i], O_RDWR | O_CREAT | O_TRUNC, 0600);
		if (fds[i] < 0) {
			fprintf(stderr, "fuzz: cannot create '%s': %s\n",
			        paths[i], strerror(errno));
			abort();
		}
	}
}

const char *fuzz_file(int slot, const void *data, size_t size)
{
	if (fds[0] < 0)
		setup();
	int fd = fds[slot];
	if (ftruncate(fd, 0)) {
		fprintf(stderr, "fuzz: cannot truncate '%s': %s\n", paths[slot],
		        strerror(errno));
		abort();
	}
	for (size_t done = 0; done < size;) {
		ssize_t w = pwrite(fd, (const char *)data + done, size - done,
		                   (off_t)done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			fprintf(stderr, "fuzz: cannot write '%s': %s\n",
			        paths[slot], strerror(errno));
			abort();
		}
		done += (size_t)w;
	}
	return paths[slot];
}

void fuzz_die(const char *what, const spz_error *err)
{
	fprintf(stderr, "fuzz: %s%s%s\n", what, err ? ": " : "",
	        err ? err->text : "");
	abort();
}

/*
 * A reader's message must hold no control character: it reaches the
 * terminal as it is. FUZZ_STRICT=0 in the environment turns this check
 * off, to look past a known defect of that kind while fuzzing.
 */
static int strict(void)
{
	static int on = -1;
	if (on < 0) {
		const char *e = getenv("FUZZ_STRICT");
		on = !(e && !strcmp(e, "0"));
	}
	return on;
}

void fuzz_check_failure(int rc, const spz_error *err)
{
	if (rc >= 0)
		fuzz_die("a reader failed with a non-negative code", err);
	if (!err->text[0])
		fuzz_die("a reader failed without a message", NULL);
	if (!strict())
		return;
	for (const unsigned char *p = (const unsigned char *)err->text; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			fuzz_die("a reader's message holds a control character "
			         "(it would reach the terminal raw)", err);
}
