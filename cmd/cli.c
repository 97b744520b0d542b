/* cli.c - messages, exit codes and option parsing shared by subcommands. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int cli_model_kind(spz_file_kind *kind, const char *cmd, const char *to,
                   const char *path)
{
	if (to) {
		if (!strcmp(to, "json"))
			*kind = SPZ_FILE_JSON;
		else if (!strcmp(to, "spzm"))
			*kind = SPZ_FILE_SPZM;
		else
			return cli_usage(cmd, "--to takes json or spzm, not '%s'",
			                 to);
	} else if (!strcmp(path, "-")) {
		*kind = SPZ_FILE_SPZM;
	} else if ((*kind = spz_format_for_path(path)) == SPZ_FILE_UNKNOWN) {
		return cli_usage(cmd, "cannot tell the format of '%s' from its "
		                 "extension; use --to json|spzm", path);
	}
	if (!strcmp(path, "-") && *kind == SPZ_FILE_SPZM && isatty(1))
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
