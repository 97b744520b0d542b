/* test_safe_io.c - spz_open_inside (external data stays inside the model's
 * folder, links included, and only regular files are opened), spz_output's
 * temporaries (unnamed where possible, named ones reported to the program
 * through spz_temp_note) and spz_write_error (issue 10, defects 1, 2, 5,
 * 6). */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

/* The program's side of the hook: a record of what the library said. */
static char noted[8][512];
static int noted_live[8];
static int n_noted;

void spz_temp_note(const char *tmp, int live)
{
	if (n_noted < 8) {
		snprintf(noted[n_noted], sizeof noted[n_noted], "%s", tmp);
		noted_live[n_noted++] = live;
	}
}

/* A folder "d" holding w.bin (12 bytes) and sub/, and beside it a folder
 * "out" holding secret.bin: the layout of each case below. */
static void layout(char *root, size_t n, char *d, size_t nd)
{
	tu_tmpdir(root, n);
	char p[600];
	snprintf(d, nd, "%s/d", root);
	ck_assert_int_eq(mkdir(d, 0777), 0);
	snprintf(p, sizeof p, "%s/sub", d);
	ck_assert_int_eq(mkdir(p, 0777), 0);
	snprintf(p, sizeof p, "%s/w.bin", d);
	ck_assert_int_eq(tu_write_file(p, "0123456789ab", 12), 0);
	snprintf(p, sizeof p, "%s/out", root);
	ck_assert_int_eq(mkdir(p, 0777), 0);
	snprintf(p, sizeof p, "%s/out/secret.bin", root);
	ck_assert_int_eq(tu_write_file(p, "secret", 6), 0);
}

/* Makes a symbolic link at d/name pointing to target. */
static void link_in(const char *d, const char *name, const char *target)
{
	char p[600];
	snprintf(p, sizeof p, "%s/%s", d, name);
	ck_assert_int_eq(symlink(target, p), 0);
}

/* spz_open_inside(d, loc) fails with code and a message containing msg. */
static void refused(const char *d, const char *loc, int code,
                    const char *msg)
{
	int fd = -1;
	uint64_t size = 0;
	spz_error err = {0};
	ck_assert_int_eq(spz_open_inside(&fd, &size, d, loc, &err), code);
	ck_assert_msg(strstr(err.text, msg), "'%s': %s", loc, err.text);
	ck_assert_int_eq(err.code, code);
}

static const char outside[] = "must be a relative path inside the model's "
                              "folder";

START_TEST(links_out_of_the_folder_are_refused)
{
	char root[256], d[300], p[600];
	layout(root, sizeof root, d, sizeof d);
	/* To a file elsewhere, absolute and relative. */
	snprintf(p, sizeof p, "%s/out/secret.bin", root);
	link_in(d, "abs.bin", p);
	refused(d, "abs.bin", SPZ_EFORMAT, "location 'abs.bin' must be a "
	        "relative path inside the model's folder");
	link_in(d, "rel.bin", "../out/secret.bin");
	refused(d, "rel.bin", SPZ_EFORMAT, outside);
	/* To a directory elsewhere, then a file in it. */
	snprintf(p, sizeof p, "%s/out", root);
	link_in(d, "etc", p);
	refused(d, "etc/secret.bin", SPZ_EFORMAT,
	        "location 'etc/secret.bin' must be a relative path");
	link_in(d, "etc2", "/etc");
	refused(d, "etc2/passwd", SPZ_EFORMAT, outside);
	/* Climbing out from a subfolder, step by step through links. */
	link_in(d, "sub/up", "..");
	link_in(d, "sub/up2", "up/..");
	refused(d, "sub/up2/out/secret.bin", SPZ_EFORMAT, outside);
	/* Back into the folder from outside it is still out first. */
	link_in(d, "round.bin", "../d/w.bin");
	refused(d, "round.bin", SPZ_EFORMAT, outside);
	/* Absolute even when it names a file inside: refused. */
	snprintf(p, sizeof p, "%s/w.bin", d);
	link_in(d, "self.bin", p);
	refused(d, "self.bin", SPZ_EFORMAT, outside);
	/* The location itself: absolute, "..", empty. */
	refused(d, p, SPZ_EFORMAT, outside);
	refused(d, "../out/secret.bin", SPZ_EFORMAT, outside);
	refused(d, "sub/../w.bin", SPZ_EFORMAT, outside);
	refused(d, "", SPZ_EFORMAT, outside);
	/* A loop ends with ELOOP, not forever. */
	link_in(d, "a", "b");
	link_in(d, "b", "a");
	refused(d, "a", SPZ_EIO, "Too many levels of symbolic links");
}
END_TEST

/* Opens d/loc and checks it is w.bin: 12 bytes, "0123...", blocking. */
static void opens_w(const char *d, const char *loc)
{
	int fd = -1;
	uint64_t size = 0;
	spz_error err = {0};
	ck_assert_msg(spz_open_inside(&fd, &size, d, loc, &err) == 0,
	              "'%s': %s", loc, err.text);
	ck_assert_uint_eq(size, 12);
	char buf[12];
	ck_assert_int_eq(pread(fd, buf, 12, 0), 12);
	ck_assert(!memcmp(buf, "0123456789ab", 12));
	ck_assert_int_eq(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
	ck_assert_int_ne(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
	close(fd);
}

START_TEST(plain_locations_open)
{
	char root[256], d[300], p[600];
	layout(root, sizeof root, d, sizeof d);
	opens_w(d, "w.bin");
	opens_w(d, "./w.bin");
	opens_w(d, ".//./w.bin");
	snprintf(p, sizeof p, "%s/sub/w2.bin", d);
	ck_assert_int_eq(tu_write_file(p, "0123456789ab", 12), 0);
	opens_w(d, "sub/w2.bin");
	/* The size is the file's, whatever the caller then reads. */
	int fd;
	uint64_t size;
	ck_assert_int_eq(tu_write_file(p, "", 0), 0);
	ck_assert_int_eq(spz_open_inside(&fd, &size, d, "sub/w2.bin", NULL),
	                 0);
	ck_assert_uint_eq(size, 0);
	close(fd);
}
END_TEST

START_TEST(links_inside_the_folder_work)
{
	char root[256], d[300];
	layout(root, sizeof root, d, sizeof d);
	link_in(d, "sub/w.bin", "../w.bin");
	opens_w(d, "sub/w.bin");
	link_in(d, "alias", "sub");
	opens_w(d, "alias/w.bin");
	link_in(d, "sub/deep", ".");
	opens_w(d, "alias/deep/deep/w.bin");
	link_in(d, "chain", "alias/w.bin");
	opens_w(d, "chain");
	/* The folder itself may be named through a link: it is the folder
	 * of the model as the user named it. */
	char p[600];
	snprintf(p, sizeof p, "%s/dlink", root);
	ck_assert_int_eq(symlink(d, p), 0);
	opens_w(p, "chain");
}
END_TEST

START_TEST(only_regular_files_are_opened)
{
	char root[256], d[300], p[600];
	layout(root, sizeof root, d, sizeof d);
	/* A FIFO with no writer: open() alone would block for ever (the
	 * test's timeout would fail it). */
	snprintf(p, sizeof p, "%s/fifo", d);
	ck_assert_int_eq(mkfifo(p, 0666), 0);
	refused(d, "fifo", SPZ_EIO, "fifo': a FIFO, not a regular file");
	link_in(d, "tofifo", "fifo");
	refused(d, "tofifo", SPZ_EIO, "tofifo': a FIFO, not a regular file");
	refused(d, "sub", SPZ_EIO, "sub': Is a directory");
	refused(d, "sub/", SPZ_EIO, "Is a directory");
	link_in(d, "dot", ".");
	refused(d, "dot", SPZ_EIO, "Is a directory");
	refused(d, "w.bin/", SPZ_EIO, "w.bin/': Not a directory");
	refused(d, "w.bin/x", SPZ_EIO, "Not a directory");
	refused(d, "none.bin", SPZ_EIO, "none.bin': No such file or directory");
	/* The message names the path as given (dir/location). */
	snprintf(p, sizeof p, "cannot open '%s/none.bin'", d);
	refused(d, "none.bin", SPZ_EIO, p);
	refused(d, "/dev/null", SPZ_EFORMAT, outside);
	link_in(d, "null", "/dev/null");
	refused(d, "null", SPZ_EFORMAT, outside);
	/* A missing folder. */
	snprintf(p, sizeof p, "%s/nodir", root);
	refused(p, "w.bin", SPZ_EIO, "No such file or directory");
}
END_TEST

/* Number of entries in dir other than "." and "..". */
static int count_entries(const char *dir)
{
	DIR *dp = opendir(dir);
	ck_assert_ptr_nonnull(dp);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(dp)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(dp);
	return n;
}

START_TEST(unnamed_temporary_output)
{
	char root[256], path[300];
	tu_tmpdir(root, sizeof root);
	snprintf(path, sizeof path, "%s/o.bin", root);
	n_noted = 0;
	spz_output o;
	spz_error err = {0};
	ck_assert_int_eq(spz_output_open(&o, path, &err), 0);
	/* Where the file system has O_TMPFILE nothing is visible while the
	 * output is written, so nothing can be left. */
	int unnamed = o.unnamed;
	if (unnamed)
		ck_assert_int_eq(count_entries(root), 0);
	fputs("first", o.f);
	ck_assert_int_eq(spz_output_commit(&o, &err), 0);
	ck_assert_int_eq(count_entries(root), 1);
	ck_assert_int_eq(n_noted, 0); /* a new file needs no name first */
	/* Over an existing file: a name for an instant, reported live then
	 * gone, and the old file replaced. */
	ck_assert_int_eq(spz_output_open(&o, path, &err), 0);
	fputs("second", o.f);
	ck_assert_int_eq(spz_output_commit(&o, &err), 0);
	char *got = tu_read_file(path, NULL);
	ck_assert_str_eq(got, "second");
	free(got);
	ck_assert_int_eq(count_entries(root), 1);
	if (unnamed) {
		ck_assert_int_eq(n_noted, 2);
		ck_assert(strstr(noted[0], "o.bin.tmp"));
		ck_assert_int_eq(noted_live[0], 1);
		ck_assert_str_eq(noted[1], noted[0]);
		ck_assert_int_eq(noted_live[1], 0);
	}
	/* Abort leaves the old file and nothing else. */
	ck_assert_int_eq(spz_output_open(&o, path, &err), 0);
	fputs("third", o.f);
	spz_output_abort(&o);
	got = tu_read_file(path, NULL);
	ck_assert_str_eq(got, "second");
	free(got);
	ck_assert_int_eq(count_entries(root), 1);
}
END_TEST

START_TEST(named_temporary_output_is_reported)
{
	char root[256], path[300];
	tu_tmpdir(root, sizeof root);
	snprintf(path, sizeof path, "%s/o.bin", root);
	ck_assert_int_eq(setenv("SPZ_TEST_NO_TMPFILE", "1", 1), 0);
	n_noted = 0;
	spz_output o;
	spz_error err = {0};
	ck_assert_int_eq(spz_output_open(&o, path, &err), 0);
	ck_assert_int_eq(o.unnamed, 0);
	/* Reported before it exists, the name it has. */
	ck_assert_int_eq(n_noted, 1);
	ck_assert_int_eq(noted_live[0], 1);
	ck_assert_str_eq(noted[0], o.tmp);
	struct stat st;
	ck_assert_int_eq(stat(o.tmp, &st), 0);
	fputs("named", o.f);
	ck_assert_int_eq(spz_output_commit(&o, &err), 0);
	ck_assert_int_eq(n_noted, 2);
	ck_assert_int_eq(noted_live[1], 0);
	ck_assert_str_eq(noted[1], noted[0]);
	ck_assert_int_eq(count_entries(root), 1);
	/* Aborted: removed, and reported gone. */
	ck_assert_int_eq(spz_output_open(&o, path, &err), 0);
	spz_output_abort(&o);
	ck_assert_int_eq(n_noted, 4);
	ck_assert_int_eq(noted_live[3], 0);
	ck_assert_int_eq(count_entries(root), 1);
	/* A folder that cannot hold it: nothing stays noted live. */
	snprintf(path, sizeof path, "%s/nodir/o.bin", root);
	ck_assert_int_eq(spz_output_open(&o, path, &err), SPZ_EIO);
	ck_assert(strstr(err.text, "No such file or directory"));
	ck_assert_int_eq(n_noted, 6);
	ck_assert_int_eq(noted_live[5], 0);
	unsetenv("SPZ_TEST_NO_TMPFILE");
}
END_TEST

START_TEST(closed_pipe_is_output_closed_early)
{
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	close(p[0]);
	FILE *f = fdopen(p[1], "wb");
	ck_assert_ptr_nonnull(f);
	/* What stdio leaves: the error flag and no errno; also EPIPE and
	 * EIO as a caller may pass them. */
	ck_assert_str_eq(spz_write_error(f, 0), "output closed early");
	ck_assert_str_eq(spz_write_error(f, EIO), "output closed early");
	ck_assert_str_eq(spz_write_error(f, EPIPE), "output closed early");
	ck_assert_str_eq(spz_write_error(f, ENOSPC), strerror(ENOSPC));
	fclose(f);
	/* A pipe still read, a regular file: the errno given (EIO for 0). */
	ck_assert_int_eq(pipe(p), 0);
	f = fdopen(p[1], "wb");
	ck_assert_str_eq(spz_write_error(f, 0), strerror(EIO));
	fclose(f);
	close(p[0]);
	f = tmpfile();
	ck_assert_str_eq(spz_write_error(f, 0), strerror(EIO));
	ck_assert_str_eq(spz_write_error(f, ENOSPC), strerror(ENOSPC));
	fclose(f);
	ck_assert_str_eq(spz_write_error(NULL, 0), strerror(EIO));

	/* Through spz_output on stdout: commit says it, once. */
	ck_assert_int_eq(pipe(p), 0);
	close(p[0]);
	int saved = dup(1);
	ck_assert_int_eq(dup2(p[1], 1), 1);
	close(p[1]);
	signal(SIGPIPE, SIG_IGN);
	spz_output o;
	spz_error err = {0};
	ck_assert_int_eq(spz_output_open(&o, "-", &err), 0);
	for (int i = 0; i < 100000; i++)
		fputs("0123456789", o.f);
	ck_assert_int_eq(spz_output_commit(&o, &err), SPZ_EIO);
	ck_assert_str_eq(err.text, "cannot write '<stdout>': output closed "
	                 "early");
	clearerr(stdout);
	ck_assert_int_eq(dup2(saved, 1), 1);
	close(saved);
}
END_TEST

Suite *safe_io_suite(void)
{
	Suite *s = suite_create("safe_io");
	TCase *tc = tcase_create("core");
	/* The FIFO case would hang without the fix: fail it instead. */
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, links_out_of_the_folder_are_refused);
	tcase_add_test(tc, plain_locations_open);
	tcase_add_test(tc, links_inside_the_folder_work);
	tcase_add_test(tc, only_regular_files_are_opened);
	tcase_add_test(tc, unnamed_temporary_output);
	tcase_add_test(tc, named_temporary_output_is_reported);
	tcase_add_test(tc, closed_pipe_is_output_closed_early);
	suite_add_tcase(s, tc);
	return s;
}
