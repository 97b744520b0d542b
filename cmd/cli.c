/* cli.c - messages, exit codes and option parsing shared by subcommands. */
#define _XOPEN_SOURCE 700 /* realpath */
#include "cli.h"

#include "json_strict.h"

#include <cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "help.h"

int cli_error(const char *fmt, ...)
{
	va_list ap;
	fputs("spz: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_DATA;
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "spz %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_USAGE;
}

int cli_opt_error(const char *cmd, int c, char **argv)
{
	if (c == ':')
		return cli_usage(cmd, "option '%s' needs a value",
		                 argv[optind - 1]);
	return cli_usage(cmd, "unknown option '%s'", argv[optind - 1]);
}

int cli_out_to_opts(const char **out, const char **to, const char *cmd,
                    int argc, char **argv)
{
	static const struct option opts[] = {
		{"output", required_argument, 0, 'o'},
		{"to", required_argument, 0, 't'},
		{0, 0, 0, 0}};
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:", opts, NULL)) != -1) {
		if (c == 'o')
			*out = optarg;
		else if (c == 't')
			*to = optarg;
		else
			return cli_opt_error(cmd, c, argv);
	}
	return 0;
}

int cli_fail(const spz_error *err)
{
	cli_error("%s", err->text[0] ? err->text : spz_strerror(err->code));
	return err->code == SPZ_EINVAL ? EXIT_USAGE : EXIT_DATA;
}

int cli_help(const char *cmd)
{
	const struct spz_help *h = spz_help_find(cmd);
	if (!h)
		return cli_error("no help for '%s'", cmd);
	printf("%s%s - %s\n\n%s", strcmp(cmd, "spz") ? "spz " : "",
	       strcmp(cmd, "spz") ? cmd : "spz", h->summary, h->text);
	return EXIT_OK;
}

int cli_parse_i64(const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (!*s || *end || errno)
		return -1;
	*out = v;
	return 0;
}

int cli_parse_u64(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	if (!*s || *s == '-')
		return -1;
	unsigned long long v = strtoull(s, &end, 10);
	if (*end || errno)
		return -1;
	*out = v;
	return 0;
}

int cli_parse_double(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (!*s || *end || errno || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

int cli_int_range(int64_t *out, const char *cmd, const char *opt,
                  const char *s, int64_t lo, int64_t hi)
{
	int64_t v;
	if (cli_parse_i64(s, &v) || v < lo || v > hi)
		return cli_usage(cmd, "%s takes %lld..%lld, not '%s'", opt,
		                 (long long)lo, (long long)hi, s);
	*out = v;
	return 0;
}

int cli_split(const char *s, int sep, char *left, size_t n,
              const char **right)
{
	const char *at = strchr(s, sep);
	if (!at || (size_t)(at - s) >= n)
		return -1;
	memcpy(left, s, (size_t)(at - s));
	left[at - s] = 0;
	*right = at + 1;
	return 0;
}

int cli_parse_pair(const char *s, int sep, int64_t *a, int64_t *b)
{
	char buf[64];
	const char *right;
	if (cli_split(s, sep, buf, sizeof buf, &right) ||
	    cli_parse_i64(buf, a) || cli_parse_i64(right, b))
		return -1;
	return 0;
}

int cli_seed(uint64_t *out, const char *cmd, const char *s)
{
	if (cli_parse_u64(s, out))
		return cli_usage(cmd, "--seed takes a non-negative integer, "
		                 "not '%s'", s);
	return 0;
}

char *cli_join(const char *const *v, size_t n, const char *sep)
{
	size_t len = 1;
	for (size_t i = 0; i < n; i++)
		len += strlen(v[i]) + strlen(sep);
	char *s = malloc(len), *p = s;
	if (!s)
		return NULL;
	*p = 0;
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "%s%s", i ? sep : "", v[i]);
	return s;
}

int cli_model_kind(spz_file_kind *kind, const char *cmd, const char *to,
                   const char *path)
{
	if (to) {
		if (!strcmp(to, "json"))
			*kind = SPZ_FILE_JSON;
		else if (!strcmp(to, "spzm"))
			*kind = SPZ_FILE_SPZM;
		else if (!strcmp(to, "onnx"))
			*kind = SPZ_FILE_ONNX;
		else
			return cli_usage(cmd, "--to takes json, spzm or onnx, "
			                 "not '%s'", to);
	} else if (!strcmp(path, "-")) {
		*kind = SPZ_FILE_SPZM;
	} else if ((*kind = spz_format_for_path(path)) == SPZ_FILE_UNKNOWN) {
		return cli_usage(cmd, "cannot tell the format of '%s' from its "
		                 "extension; use --to json|spzm|onnx", path);
	}
	if (!strcmp(path, "-") && *kind != SPZ_FILE_JSON && isatty(1))
		return cli_usage(cmd, "refusing to write a binary model to a "
		                 "terminal; use -o FILE or --to json");
	return 0;
}

int cli_load_model(spz_model **out, const char *path)
{
	spz_error err = {0};
	if (spz_model_load(out, path, &err))
		return cli_fail(&err);
	return 0;
}

int cli_save_model(const spz_model *m, const char *path, spz_file_kind kind)
{
	spz_error err = {0};
	if (spz_model_save(m, path, kind, &err))
		return cli_fail(&err);
	return 0;
}

void cli_dims_text(char *buf, size_t n, const spz_tensor *t)
{
	size_t len = 0;
	buf[0] = 0;
	for (int d = 0; d < t->ndims && len < n; d++)
		len += (size_t)snprintf(buf + len, n - len, "%s%lld",
		                        d ? "x" : "", (long long)t->dims[d]);
	if (!t->ndims)
		snprintf(buf, n, "scalar");
}

int cli_print_json(cJSON *j)
{
	char *s = j ? cJSON_Print(j) : NULL;
	cJSON_Delete(j);
	if (!s)
		return cli_error("out of memory");
	puts(s);
	free(s);
	return EXIT_OK;
}

int cli_read_json(cJSON **out, const char *path, const char *what)
{
	spz_error err = {0};
	if (spz_json_load(out, path, SPZ_JSON_SMALL_MAX, what, &err))
		return cli_fail(&err);
	return 0;
}

/* The directory part of path ("." when none), resolved; NULL when it
 * cannot be. */
static char *real_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return realpath(".", NULL);
	if (slash == path)
		return realpath("/", NULL);
	char *d = strndup(path, (size_t)(slash - path));
	char *r = d ? realpath(d, NULL) : NULL;
	free(d);
	return r;
}

/* Whether two output paths name one file: the same file that exists, or
 * the same name in the same directory however it is spelled (x, ./x,
 * d/../x). The second output's rename would replace the first. */
static int same_file(const char *a, const char *b)
{
	if (!strcmp(a, b))
		return 1;
	struct stat sa, sb;
	if (!stat(a, &sa) && !stat(b, &sb))
		return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
	const char *ba = strrchr(a, '/'), *bb = strrchr(b, '/');
	if (strcmp(ba ? ba + 1 : a, bb ? bb + 1 : b))
		return 0;
	char *da = real_dir(a), *db = real_dir(b);
	int same = da && db && !strcmp(da, db);
	free(da);
	free(db);
	return same;
}

int cli_report_paths(const char *cmd, const char *json, const char *out)
{
	if (json && !strcmp(json, "-") && !strcmp(out, "-"))
		return cli_usage(cmd, "--json - needs the model in a file "
		                 "(-o OUT)");
	if (json && strcmp(json, "-") && strcmp(out, "-") &&
	    same_file(json, out))
		return cli_usage(cmd, "--json and -o name the same file");
	return 0;
}

int cli_save_with_report(const spz_model *m, const char *path,
                         spz_file_kind kind, const char *json,
                         cJSON *report)
{
	spz_output jo = {0};
	spz_error err = {0};
	if (json) {
		char *s = report ? cJSON_Print(report) : NULL;
		cJSON_Delete(report);
		if (!s)
			return cli_error("out of memory");
		int rc = spz_output_open(&jo, json, &err);
		if (!rc && (fputs(s, jo.f) < 0 || fputc('\n', jo.f) < 0))
			rc = spz_fail(&err, SPZ_EIO, "cannot write '%s'", json);
		free(s);
		if (rc) {
			if (jo.f)
				spz_output_abort(&jo);
			return cli_fail(&err);
		}
	} else {
		cJSON_Delete(report);
	}
	if (spz_model_save(m, path, kind, &err)) {
		if (json)
			spz_output_abort(&jo);
		return cli_fail(&err);
	}
	if (json && spz_output_commit(&jo, &err)) {
		/* Take the model back, unless it went to a device or a pipe
		 * that was written in place. */
		struct stat st;
		if (strcmp(path, "-") && !lstat(path, &st) && S_ISREG(st.st_mode))
			unlink(path);
		return cli_fail(&err);
	}
	return 0;
}
