/*
 * io.c - opening inputs (paths or stdin, sniffed by their first bytes) and
 * writing outputs through a temporary file so that a failure never leaves a
 * partial file behind.
 */
#define _POSIX_C_SOURCE 200809L
#include "spz_format.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

spz_file_kind spz_file_kind_of(const unsigned char *head, size_t n)
{
	if (n >= 8 && !memcmp(head, SPZ_SPZM_MAGIC, 8))
		return SPZ_FILE_SPZM;
	if (n >= 4 && !memcmp(head, "SPZI", 4))
		return SPZ_FILE_IMAGE;
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

int spz_open_inside(int *fd, uint64_t *size, const char *dir,
                    const char *location, spz_error *err)
{
	if (!location_ok(location))
		return spz_fail(err, SPZ_EFORMAT, "location '%s' must be a "
		                "relative path inside the model's folder",
		                location);
	char path[8192];
	snprintf(path, sizeof path, "%s/%s", dir, location);
	int f = open(path, O_RDONLY);
	struct stat st;
	if (f < 0 || fstat(f, &st) != 0 || !S_ISREG(st.st_mode)) {
		int e = f < 0 ? errno : EISDIR;
		if (f >= 0)
			close(f);
		return spz_fail(err, SPZ_EIO, "cannot open '%s': %s", path,
		                strerror(e));
	}
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

/* Writes straight to an existing path that is not a regular file (a
 * device such as /dev/null, a FIFO): renaming a temporary over it would
 * replace the device node itself. */
static int open_special(spz_output *o, const char *path, spz_error *err)
{
	int fd = open(path, O_WRONLY);
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
	/* The temporary sits beside the target so rename() stays atomic;
	 * O_EXCL with mode 0666 lets the umask apply as for any new file. */
	int fd = -1;
	for (int attempt = 0; fd < 0 && attempt < 100; attempt++) {
		snprintf(o->tmp, n + 32, "%s.tmp%ld.%d", path, (long)getpid(),
		         attempt);
		fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL, 0666);
		if (fd < 0 && errno != EEXIST)
			break;
	}
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

int spz_output_commit(spz_output *o, spz_error *err)
{
	const char *label = o->path ? o->path : "<stdout>";
	int bad = ferror(o->f) != 0;
	int e = bad ? EIO : 0;
	if (fflush(o->f) != 0) {
		bad = 1;
		e = errno;
	}
	if (o->path) {
		if (fclose(o->f) != 0 && !bad) {
			bad = 1;
			e = errno;
		}
		o->f = NULL;
		if (!bad && o->tmp && rename(o->tmp, o->path) != 0) {
			bad = 1;
			e = errno;
		}
	}
	if (bad) {
		char msg[SPZ_ERROR_MAX];
		snprintf(msg, sizeof msg, "cannot write '%s': %s", label,
		         strerror(e));
		spz_output_abort(o);
		return spz_fail(err, SPZ_EIO, "%s", msg);
	}
	free(o->path);
	free(o->tmp);
	memset(o, 0, sizeof *o);
	return 0;
}

void spz_output_abort(spz_output *o)
{
	if (o->f && o->f != stdout)
		fclose(o->f);
	if (o->tmp)
		unlink(o->tmp);
	free(o->path);
	free(o->tmp);
	memset(o, 0, sizeof *o);
}
