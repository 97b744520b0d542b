/*
 * io.c - opening inputs (paths or stdin, sniffed by their first bytes),
 * opening external data strictly inside a model's folder, and writing
 * outputs through a temporary file so that a failure or a kill never
 * leaves a partial file behind.
 */
#define _GNU_SOURCE /* O_TMPFILE, AT_EMPTY_PATH */
#include "spz_format.h"
#include "model_io.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

spz_file_kind spz_file_kind_of(const unsigned char *head, size_t n)
{
	if (n >= 8 && !memcmp(head, SPZ_SPZM_MAGIC, 8))
		return SPZ_FILE_SPZM;
	if (n >= 4 && !memcmp(head, "SPZI", 4))
		return SPZ_FILE_IMAGE;
	/* A ModelProto starts with one of its fields: ir_version (1, a
	 * varint) as every exporter writes it, else the key of another
	 * ModelProto field with its wire type. None is a JSON start. */
	static const unsigned char keys[] = {0x08, 0x12, 0x1a, 0x22, 0x28,
	                                     0x32, 0x3a, 0x42, 0x72};
	if (n >= 2 && memchr(keys, head[0], sizeof keys))
		return SPZ_FILE_ONNX;
	/* '[' too: JSON of the wrong shape deserves that message, not
	 * "neither JSON nor .spzm". */
	for (size_t i = 0; i < n; i++) {
		if (head[i] == '{' || head[i] == '[')
			return SPZ_FILE_JSON;
		if (!strchr(" \t\r\n", head[i]))
			break;
	}
	return SPZ_FILE_UNKNOWN;
}

spz_file_kind spz_format_for_path(const char *path)
{
	const char *dot = strrchr(path, '.');
	if (dot && !strcmp(dot, ".json"))
		return SPZ_FILE_JSON;
	if (dot && !strcmp(dot, ".spzm"))
		return SPZ_FILE_SPZM;
	if (dot && !strcmp(dot, ".onnx"))
		return SPZ_FILE_ONNX;
	return SPZ_FILE_UNKNOWN;
}

/* read() until n bytes or end of file; returns bytes read or -1. */
static ssize_t read_full(int fd, void *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		size_t chunk = n - got > (1u << 30) ? (1u << 30) : n - got;
		ssize_t r = read(fd, (char *)buf + got, chunk);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

int spz_input_open(spz_input *in, const char *path, spz_error *err)
{
	memset(in, 0, sizeof *in);
	const char *mm = getenv("SPZ_MMAP");
	in->map_payloads = mm && !strcmp(mm, "1");
	if (!strcmp(path, "-")) {
		in->fd = 0;
		in->label = "<stdin>";
		strcpy(in->dir, ".");
	} else {
		in->label = path;
		in->fd = open(path, O_RDONLY);
		if (in->fd < 0)
			return spz_fail(err, SPZ_EIO, "cannot open '%s': %s",
			                path, strerror(errno));
		in->own_fd = 1;
		struct stat st;
		if (fstat(in->fd, &st) == 0 && S_ISREG(st.st_mode))
			in->size = (uint64_t)st.st_size;
		if (fstat(in->fd, &st) == 0 && S_ISDIR(st.st_mode)) {
			spz_input_close(in);
			return spz_fail(err, SPZ_EIO, "cannot read '%s': %s",
			                path, strerror(EISDIR));
		}
		const char *slash = strrchr(path, '/');
		if (!slash)
			strcpy(in->dir, ".");
		else if (slash == path)
			strcpy(in->dir, "/");
		else
			snprintf(in->dir, sizeof in->dir, "%.*s",
			         (int)(slash - path), path);
	}
	ssize_t r = read_full(in->fd, in->head, sizeof in->head);
	if (r < 0) {
		int e = errno;
		spz_input_close(in);
		return spz_fail(err, SPZ_EIO, "cannot read '%s': %s",
		                in->label, strerror(e));
	}
	if (r == 0) {
		spz_input_close(in);
		return spz_fail(err, SPZ_EFORMAT, "'%s': empty file",
		                in->label);
	}
	in->n_head = (size_t)r;
	return 0;
}

void spz_input_close(spz_input *in)
{
	if (in->map)
		munmap(in->map, in->map_len);
	in->map = NULL;
	in->map_len = 0;
	if (in->own_fd && in->fd >= 0)
		close(in->fd);
	in->own_fd = 0;
	in->fd = -1;
}

spz_file_kind spz_input_kind(const spz_input *in)
{
	return spz_file_kind_of(in->head, in->n_head);
}

int spz_input_read(spz_input *in, void *buf, size_t n, const char *what,
                   spz_error *err)
{
	size_t from_head = in->n_head - in->head_pos;
	if (from_head > n)
		from_head = n;
	memcpy(buf, in->head + in->head_pos, from_head);
	in->head_pos += from_head;
	ssize_t r = 0;
	if (n > from_head) {
		r = read_full(in->fd, (char *)buf + from_head, n - from_head);
		if (r < 0)
			return spz_fail(err, SPZ_EIO, "cannot read '%s': %s",
			                in->label, strerror(errno));
	}
	in->consumed += from_head + (size_t)r;
	spz_input_progress(in, in->consumed);
	if (from_head + (size_t)r < n)
		return spz_fail(err, SPZ_EFORMAT,
		                "'%s': truncated in %s (%zu of %zu bytes)",
		                in->label, what, from_head + (size_t)r, n);
	return 0;
}

int64_t spz_input_left(const spz_input *in)
{
	struct stat st;
	off_t pos;
	if (in->fd < 0 || fstat(in->fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (pos = lseek(in->fd, 0, SEEK_CUR)) < 0 || pos > st.st_size)
		return -1;
	return (int64_t)(st.st_size - pos) +
	       (int64_t)(in->n_head - in->head_pos);
}

/* The file offset of in's next n bytes when they all lie in its regular
 * file (none left in the sniffed head, which would have to be joined to
 * them), else -1. */
static off_t file_span(const spz_input *in, uint64_t n)
{
	struct stat st;
	off_t pos;
	if (in->fd < 0 || in->head_pos != in->n_head ||
	    fstat(in->fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (pos = lseek(in->fd, 0, SEEK_CUR)) < 0 || pos > st.st_size ||
	    n > (uint64_t)(st.st_size - pos))
		return -1;
	return pos;
}

/* Moves in past its next n bytes as reading them would. */
static int skip_file(spz_input *in, uint64_t n)
{
	if (lseek(in->fd, (off_t)n, SEEK_CUR) < 0)
		return -1;
	in->consumed += n;
	spz_input_progress(in, in->consumed);
	return 0;
}

int spz_input_map(spz_input *in, uint64_t n, const unsigned char **p,
                  void **map, size_t *map_len)
{
	long page = sysconf(_SC_PAGESIZE);
	off_t pos;
	if (n == 0 || page <= 0 || n > SIZE_MAX / 2 ||
	    (pos = file_span(in, n)) < 0)
		return -1;
	off_t start = pos - pos % page;
	size_t len = (size_t)(pos - start) + (size_t)n;
	int flags = MAP_PRIVATE;
#ifdef MAP_POPULATE
	flags |= MAP_POPULATE;
#endif
	void *m = mmap(NULL, len, PROT_READ, flags, in->fd, start);
	if (m == MAP_FAILED)
		return -1;
	if (skip_file(in, n)) {
		munmap(m, len);
		return -1;
	}
	*p = (const unsigned char *)m + (pos - start);
	*map = m;
	*map_len = len;
	return 0;
}

static int host_little_endian(void)
{
	const uint16_t one = 1;
	return *(const unsigned char *)&one == 1;
}

int spz_input_map_file(spz_input *in, const unsigned char **base,
                       size_t *len)
{
	struct stat st;
	/* Standard input stays on the copying path even when it is a
	 * regular file: what it is can change under a shell's feet. */
	if (!in->map &&
	    (!in->map_payloads || !in->own_fd || in->fd < 0 ||
	     !host_little_endian() ||
	     fstat(in->fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	     st.st_size <= 0 || (uint64_t)st.st_size > SIZE_MAX / 2))
		return -1;
	if (!in->map) {
		size_t n = (size_t)st.st_size;
		int flags = MAP_PRIVATE;
#ifdef MAP_POPULATE
		flags |= MAP_POPULATE;
#endif
		/* Populated read-only: populating a writable private
		 * mapping would copy every page now. Made writable after,
		 * only the pages a consumer writes get copied. */
		void *m = mmap(NULL, n, PROT_READ, flags, in->fd, 0);
		if (m == MAP_FAILED)
			return -1;
		if (mprotect(m, n, PROT_READ | PROT_WRITE) != 0) {
			munmap(m, n);
			return -1;
		}
		in->map = m;
		in->map_len = n;
	}
	*base = in->map;
	*len = in->map_len;
	return 0;
}

int spz_input_borrow(spz_input *in, uint64_t n, uint64_t align,
                     const unsigned char **p)
{
	const unsigned char *base;
	size_t len;
	off_t pos;
	/* Bytes still in the sniffed head are behind the file position. */
	if (in->head_pos != in->n_head || align == 0 ||
	    spz_input_map_file(in, &base, &len) ||
	    (pos = lseek(in->fd, 0, SEEK_CUR)) < 0 ||
	    (uint64_t)pos % align || (uint64_t)pos > len ||
	    n > len - (uint64_t)pos || skip_file(in, n))
		return -1;
	*p = base + pos;
	return 0;
}

int spz_input_defer(spz_input *in, uint64_t n, int *fd, uint64_t *offset)
{
	off_t pos;
	int d;
	if (!host_little_endian() || n > (uint64_t)INT64_MAX / 2 ||
	    (pos = file_span(in, n)) < 0 ||
	    (d = fcntl(in->fd, F_DUPFD_CLOEXEC, 0)) < 0)
		return -1;
	if (skip_file(in, n)) {
		close(d);
		return -1;
	}
	*fd = d;
	*offset = (uint64_t)pos;
	return 0;
}

int spz_pwrite_all(int fd, const void *buf, size_t n, off_t at,
                   spz_error *err)
{
	const uint8_t *p = buf;
	while (n) {
		ssize_t k = pwrite(fd, p, n, at);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return spz_fail(err, SPZ_EIO, "%s",
			                strerror(k < 0 ? errno : EIO));
		p += k;
		n -= (size_t)k;
		at += k;
	}
	return 0;
}

int spz_input_give_map(spz_input *in, spz_model *m)
{
	if (!in->map)
		return 0;
	if (spz_model_hold_mapping(m, in->map, in->map_len))
		return SPZ_ENOMEM;
	in->map = NULL;
	in->map_len = 0;
	return 0;
}

void spz_input_progress(const spz_input *in, uint64_t done)
{
	if (in->progress && in->size)
		in->progress(in->progress_ctx, (double)(done < in->size ? done
		             : in->size), (double)in->size);
}

void spz_input_unmap(void *map, size_t map_len)
{
	if (map)
		munmap(map, map_len);
}

/* "1 GiB", "256 MiB": caps are whole powers of 1024. */
static void size_text(char *b, size_t n, uint64_t bytes)
{
	if (bytes >= ((uint64_t)1 << 30) && !(bytes % ((uint64_t)1 << 30)))
		snprintf(b, n, "%llu GiB", (unsigned long long)(bytes >> 30));
	else if (bytes >= ((uint64_t)1 << 20) && !(bytes % ((uint64_t)1 << 20)))
		snprintf(b, n, "%llu MiB", (unsigned long long)(bytes >> 20));
	else
		snprintf(b, n, "%llu bytes", (unsigned long long)bytes);
}

int spz_input_too_big(const char *label, uint64_t cap, const char *what,
                      spz_error *err)
{
	char b[32];
	size_text(b, sizeof b, cap);
	return spz_fail(err, SPZ_EFORMAT, "'%s': more than %s, the most %s may "
	                "hold", label, b, what);
}

int spz_input_slurp(char **buf, size_t *len, spz_input *in, uint64_t cap,
                    const char *what, spz_error *err)
{
	int64_t left = spz_input_left(in);
	if (left >= 0 && (uint64_t)left > cap)
		return spz_input_too_big(in->label, cap, what, err);
	/* A file's size is known: one allocation. A pipe: the buffer
	 * doubles as bytes arrive, so memory follows what was read. */
	size_t bcap = left >= 0 ? (size_t)left + 2 : (size_t)1 << 16;
	size_t n = in->n_head - in->head_pos;
	if (bcap < n + 1)
		bcap = n + 1;
	char *b = malloc(bcap);
	if (!b)
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	memcpy(b, in->head + in->head_pos, n);
	in->head_pos = in->n_head;
	for (;;) {
		if (bcap - n < 2) {
			char *nb = bcap > SIZE_MAX / 2 ? NULL : realloc(b, bcap * 2);
			if (!nb) {
				free(b);
				return spz_fail(err, SPZ_ENOMEM,
				                "'%s': out of memory", in->label);
			}
			b = nb;
			bcap *= 2;
		}
		/* One byte past the cap tells that there is more. */
		size_t want = bcap - n - 1;
		if (cap + 1 - n < want)
			want = (size_t)(cap + 1 - n);
		ssize_t r = read(in->fd, b + n, want);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			free(b);
			return spz_fail(err, SPZ_EIO, "cannot read '%s': %s",
			                in->label, strerror(e));
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > cap) {
			free(b);
			return spz_input_too_big(in->label, cap, what, err);
		}
	}
	b[n] = 0;
	in->consumed += n;
	*buf = b;
	*len = n;
	return 0;
}

/* Is a relative location safe: not absolute, no ".." component? */
static int location_ok(const char *loc)
{
	if (!*loc || loc[0] == '/')
		return 0;
	for (const char *p = loc; *p;) {
		const char *e = strchr(p, '/');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len == 2 && p[0] == '.' && p[1] == '.')
			return 0;
		p += len + (e != NULL);
	}
	return 1;
}

static int outside(spz_error *err, const char *location)
{
	return spz_fail(err, SPZ_EFORMAT, "location '%s' must be a relative "
	                "path inside the model's folder", location);
}

/* What a file that is not a regular one is, for a message. */
static const char *file_type(mode_t m)
{
	return S_ISFIFO(m) ? "a FIFO, not a regular file"
	       : S_ISCHR(m) ? "a character device, not a regular file"
	       : S_ISBLK(m) ? "a block device, not a regular file"
	       : S_ISSOCK(m) ? "a socket, not a regular file"
	       : "not a regular file";
}

/* Link targets followed in one resolution before ELOOP, as the kernel's
 * own limit; directory levels held open at once. */
#define INSIDE_MAX_LINKS 40
#define INSIDE_MAX_DEPTH 128

/*
 * The location is resolved here, one component at a time from a
 * descriptor of the folder, never by handing dir/location to open():
 * each component is looked at with fstatat(AT_SYMLINK_NOFOLLOW) and
 * opened with O_NOFOLLOW, so the kernel follows no link on its own. A
 * link is read and its target resolved the same way from the directory
 * holding it, so a link that stays inside the folder works (a data file
 * shared by two models through a link, say) while one whose target is
 * absolute, or climbs above the folder with "..", is refused with the
 * message of a ".." in the location: that is where it leads. The stack
 * of directory descriptors makes ".." a pop, not a lookup, so moving a
 * directory meanwhile cannot lead outside either. The last component
 * must be a regular file before it is opened (a FIFO would block open(),
 * a device could react to it), and is checked again once open
 * (O_NONBLOCK, in case it was swapped for a FIFO meanwhile).
 */
int spz_open_inside(int *fd, uint64_t *size, const char *dir,
                    const char *location, spz_error *err)
{
	if (!location_ok(location))
		return outside(err, location);
	char path[8192];
	snprintf(path, sizeof path, "%s/%s", dir, location);
	char work[4096], next[sizeof work];
	if (strlen(location) >= sizeof work)
		return spz_fail(err, SPZ_EIO, "cannot open '%s': %s", path,
		                strerror(ENAMETOOLONG));
	strcpy(work, location);
	int stack[INSIDE_MAX_DEPTH];
	int depth = 0, links = 0, f = -1, rc = 0;
	stack[0] = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (stack[0] < 0)
		return spz_fail(err, SPZ_EIO, "cannot open '%s': %s", path,
		                strerror(errno));
	const char *p = work;
	int e = 0;
	struct stat st;
	memset(&st, 0, sizeof st);
	for (;;) {
		while (*p == '/')
			p++;
		if (!*p) {
			/* Ended on a directory ("sub/", a link to "."). */
			e = EISDIR;
			break;
		}
		const char *end = strchr(p, '/');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char name[256];
		if (len >= sizeof name) {
			e = ENAMETOOLONG;
			break;
		}
		memcpy(name, p, len);
		name[len] = 0;
		p += len;
		int last = !end;
		if (!strcmp(name, "."))
			continue;
		if (!strcmp(name, "..")) {
			/* Only from a link target: the location has none. */
			if (depth == 0) {
				rc = outside(err, location);
				break;
			}
			close(stack[depth--]);
			continue;
		}
		int cur = stack[depth];
		if (fstatat(cur, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			e = errno;
			break;
		}
		if (S_ISLNK(st.st_mode)) {
			if (++links > INSIDE_MAX_LINKS) {
				e = ELOOP;
				break;
			}
			char target[sizeof work];
			ssize_t n = readlinkat(cur, name, target, sizeof target);
			if (n <= 0 || (size_t)n >= sizeof target) {
				e = n < 0 ? errno : n ? ENAMETOOLONG : ENOENT;
				break;
			}
			target[n] = 0;
			if (target[0] == '/') {
				rc = outside(err, location);
				break;
			}
			/* The target's components, then what followed the
			 * link. */
			if ((size_t)snprintf(next, sizeof next, "%s%s", target,
			                     p) >= sizeof next) {
				e = ENAMETOOLONG;
				break;
			}
			memcpy(work, next, sizeof work);
			p = work;
			continue;
		}
		if (!last) {
			if (!S_ISDIR(st.st_mode)) {
				e = ENOTDIR;
				break;
			}
			if (depth + 1 >= INSIDE_MAX_DEPTH) {
				e = ENAMETOOLONG;
				break;
			}
			int d = openat(cur, name, O_RDONLY | O_DIRECTORY |
			               O_NOFOLLOW | O_CLOEXEC);
			if (d < 0) {
				e = errno;
				break;
			}
			stack[++depth] = d;
			continue;
		}
		if (S_ISDIR(st.st_mode))
			e = EISDIR;
		else if (S_ISREG(st.st_mode)) {
			f = openat(cur, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
			           O_NOCTTY | O_CLOEXEC);
			if (f < 0)
				e = errno;
			else if (fstat(f, &st) != 0)
				e = errno;
		}
		break;
	}
	while (depth >= 0)
		close(stack[depth--]);
	/* A FIFO or device: f < 0 and e == 0, as for one that replaced the
	 * regular file between fstatat and openat. */
	if (rc || e || f < 0 || !S_ISREG(st.st_mode)) {
		if (f >= 0)
			close(f);
		return rc ? rc : spz_fail(err, SPZ_EIO, "cannot open '%s': %s",
		                          path, e ? strerror(e)
		                                  : file_type(st.st_mode));
	}
	/* The descriptor is read with pread: blocking or not is the same for
	 * a regular file, but leave it as any other open file. */
	int fl = fcntl(f, F_GETFL);
	if (fl >= 0)
		(void)fcntl(f, F_SETFL, fl & ~O_NONBLOCK);
	*fd = f;
	*size = (uint64_t)st.st_size;
	return 0;
}

int spz_slurp_path(char **buf, size_t *len, const char *path, uint64_t cap,
                   const char *what, spz_error *err)
{
	spz_input in;
	int rc = spz_input_open(&in, path, err);
	if (rc)
		return rc;
	rc = spz_input_slurp(buf, len, &in, cap, what, err);
	spz_input_close(&in);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Output                                                              */

/*
 * A named temporary file is the one thing an output can leave behind
 * when the process is killed. Where the file system allows (O_TMPFILE:
 * ext4, xfs, btrfs, tmpfs, ...) the data goes to an unnamed file in the
 * target's folder, which only gets a name when linkat() gives it the
 * target's once it is complete and on disk: a kill, even SIGKILL, before
 * then leaves nothing. Replacing an existing target still needs a name
 * for an instant (link to "OUT.tmpPID.N", rename over the target), and
 * file systems without O_TMPFILE need one throughout. Removing those on
 * SIGINT/SIGTERM/SIGHUP takes a signal handler and a list of live names,
 * which is process state: it belongs to the program, not to this library
 * (no globals here). So the library tells the program through
 * spz_temp_note, a weak symbol: spz defines it (cmd/cleanup.c), a program
 * that does not is simply not told. A weak reference keeps the library
 * free of any registration state, and needs no new parameter through
 * every save function.
 */
#pragma weak spz_temp_note

static void note(const char *tmp, int live)
{
	if (spz_temp_note)
		spz_temp_note(tmp, live);
}

/* Why a write failed, for a message. */
const char *spz_write_error(FILE *f, int e)
{
	if (e == 0 || e == EIO) {
		/* stdio keeps no errno with its error flag: a pipe or
		 * socket whose reader has gone says so when polled. */
		struct stat st;
		int fd = f ? fileno(f) : -1;
		struct pollfd pf = {.fd = fd, .events = POLLOUT};
		if (fd >= 0 && fstat(fd, &st) == 0 &&
		    (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)) &&
		    poll(&pf, 1, 0) == 1 && (pf.revents & (POLLERR | POLLHUP)))
			e = EPIPE;
	}
	if (e == EPIPE)
		return "output closed early";
	return strerror(e ? e : EIO);
}

/* Writes straight to an existing path that is not a regular file (a
 * device such as /dev/null, a FIFO): renaming a temporary over it would
 * replace the device node itself. */
static int open_special(spz_output *o, const char *path, spz_error *err)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	o->f = fd < 0 ? NULL : fdopen(fd, "wb");
	if (!o->f) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		spz_output_abort(o);
		return spz_fail(err, SPZ_EIO, "cannot write '%s': %s", path,
		                strerror(e));
	}
	return 0;
}

/* An unnamed file in the folder of path, or -1 where there is none to be
 * had (then a named one is used). SPZ_TEST_NO_TMPFILE set in the
 * environment takes the named path everywhere, so that the tests can
 * reach it on file systems that have O_TMPFILE. */
static int open_unnamed(const char *path)
{
#ifdef O_TMPFILE
	if (getenv("SPZ_TEST_NO_TMPFILE"))
		return -1;
	/* Giving it a name later goes through /proc (linkat of an fd by
	 * itself needs CAP_DAC_READ_SEARCH). */
	if (access("/proc/self/fd", X_OK) != 0)
		return -1;
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 0;
	char *dir = malloc(n + 2);
	if (!dir)
		return -1;
	if (!slash)
		strcpy(dir, ".");
	else if (n == 0)
		strcpy(dir, "/");
	else {
		memcpy(dir, path, n);
		dir[n] = 0;
	}
	/* Mode 0666 lets the umask apply as for any new file. Readable
	 * too: values put in place may be read back (spz_spzm_placer_new). */
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0666);
	free(dir);
	return fd;
#else
	(void)path;
	return -1;
#endif
}

/* Gives the open file fd the name to; 0 or an errno value. */
static int link_fd(int fd, const char *to)
{
	char proc[64];
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc, AT_FDCWD, to, AT_SYMLINK_FOLLOW) == 0)
		return 0;
	int e = errno;
#ifdef AT_EMPTY_PATH
	if (e != EEXIST && linkat(fd, "", AT_FDCWD, to, AT_EMPTY_PATH) == 0)
		return 0;
#endif
	return e;
}

/* The named temporary beside the target: o->tmp, opened with O_EXCL. */
static int open_named(spz_output *o, size_t cap)
{
	int fd = -1;
	for (int attempt = 0; fd < 0 && attempt < 100; attempt++) {
		snprintf(o->tmp, cap, "%s.tmp%ld.%d", o->path, (long)getpid(),
		         attempt);
		/* Noted before it exists, so no instant has it unknown; a
		 * stale file of an earlier process with this pid that a
		 * signal would then remove is no loss. */
		note(o->tmp, 1);
		fd = open(o->tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (fd < 0) {
			int e = errno;
			note(o->tmp, 0);
			errno = e;
			if (e != EEXIST)
				break;
		}
	}
	return fd;
}

int spz_output_open(spz_output *o, const char *path, spz_error *err)
{
	memset(o, 0, sizeof *o);
	if (!strcmp(path, "-")) {
		o->f = stdout;
		return 0;
	}
	struct stat st;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return spz_fail(err, SPZ_EIO, "cannot write '%s': %s", path,
		                strerror(EISDIR));
	size_t n = strlen(path);
	o->path = malloc(n + 1);
	o->tmp = malloc(n + 32);
	if (!o->path || !o->tmp) {
		free(o->path);
		free(o->tmp);
		memset(o, 0, sizeof *o);
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	}
	memcpy(o->path, path, n + 1);
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		free(o->tmp);
		o->tmp = NULL;
		return open_special(o, path, err);
	}
	/* Beside the target either way, so that link and rename stay in one
	 * file system and atomic. */
	int fd = open_unnamed(path);
	if (fd >= 0)
		o->unnamed = 1;
	else
		fd = open_named(o, n + 32);
	if (fd < 0) {
		int e = errno;
		free(o->tmp);
		o->tmp = NULL;
		spz_output_abort(o);
		return spz_fail(err, SPZ_EIO, "cannot write '%s': %s", path,
		                strerror(e));
	}
	o->f = fdopen(fd, "wb");
	if (!o->f) {
		int e = errno;
		close(fd);
		spz_output_abort(o);
		return spz_fail(err, SPZ_EIO, "cannot write '%s': %s", path,
		                strerror(e));
	}
	return 0;
}

/* Gives the complete unnamed file of o the target's name: directly when
 * there is no file there yet, else through a name beside it and a rename
 * over the old file (no link call replaces). 0 or an errno value. */
static int name_unnamed(spz_output *o, size_t cap)
{
	int fd = fileno(o->f);
	int e = link_fd(fd, o->path);
	if (e != EEXIST)
		return e;
	for (int attempt = 0; attempt < 100; attempt++) {
		snprintf(o->tmp, cap, "%s.tmp%ld.%d", o->path, (long)getpid(),
		         attempt);
		note(o->tmp, 1);
		e = link_fd(fd, o->tmp);
		if (e == 0)
			break;
		note(o->tmp, 0);
		if (e != EEXIST)
			return e;
	}
	if (e)
		return e;
	if (rename(o->tmp, o->path) != 0) {
		e = errno;
		unlink(o->tmp);
	}
	note(o->tmp, 0);
	return e;
}

int spz_output_commit(spz_output *o, spz_error *err)
{
	const char *label = o->path ? o->path : "<stdout>";
	/* e == 0 with bad set: an earlier stdio write failed, its errno is
	 * lost (spz_write_error looks for the cause). */
	int bad = ferror(o->f) != 0;
	int e = 0;
	if (fflush(o->f) != 0) {
		bad = 1;
		e = errno;
	}
	/* On disk before it takes the target's name: a crash just after the
	 * rename must not leave an empty or partial file under it. */
	if (!bad && o->tmp && fsync(fileno(o->f)) != 0) {
		bad = 1;
		e = errno;
	}
	int named = 0;
	if (!bad && o->unnamed) {
		e = name_unnamed(o, strlen(o->path) + 32);
		bad = e != 0;
		named = !bad;
	}
	char msg[SPZ_ERROR_MAX];
	if (bad)
		snprintf(msg, sizeof msg, "cannot write '%s': %s", label,
		         spz_write_error(o->f, e));
	if (o->path) {
		if (fclose(o->f) != 0 && !bad) {
			bad = 1;
			snprintf(msg, sizeof msg, "cannot write '%s': %s",
			         label, strerror(errno));
			if (named)
				unlink(o->path);
		}
		o->f = NULL;
		if (!bad && o->tmp && !o->unnamed &&
		    rename(o->tmp, o->path) != 0) {
			bad = 1;
			snprintf(msg, sizeof msg, "cannot write '%s': %s",
			         label, strerror(errno));
		}
	}
	if (bad) {
		spz_output_abort(o);
		return spz_fail(err, SPZ_EIO, "%s", msg);
	}
	if (o->tmp && !o->unnamed)
		note(o->tmp, 0);
	free(o->path);
	free(o->tmp);
	memset(o, 0, sizeof *o);
	return 0;
}

void spz_output_abort(spz_output *o)
{
	if (o->f && o->f != stdout)
		fclose(o->f);
	/* An unnamed file goes with its descriptor. */
	if (o->tmp && !o->unnamed) {
		unlink(o->tmp);
		note(o->tmp, 0);
	}
	free(o->path);
	free(o->tmp);
	memset(o, 0, sizeof *o);
}
