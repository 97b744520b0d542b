/* cli.c - messages, exit codes and option parsing shared by subcommands. */
#define _XOPEN_SOURCE 700 /* realpath */
#include "cli.h"

#include "json_strict.h"

#include <cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
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

struct cli_common cli_opts = {.external_threshold = 1024};

/* -v: the command's name and when it started (cli_verbose_begin). */
static struct {
	const char *cmd;
	double t0;
} verb;

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void cli_verbose_begin(const char *cmd)
{
	verb.cmd = cmd;
	verb.t0 = mono_s();
}

void cli_note(const char *fmt, ...)
{
	if (!cli_opts.verbose || cli_opts.quiet)
		return;
	/* Wrapped at 80 columns like every text line (a path may be long). */
	char head[64], *s;
	int h = snprintf(head, sizeof head, "spz %s: ",
	                 verb.cmd ? verb.cmd : "");
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (h >= (int)sizeof head)
		h = (int)sizeof head - 1;
	if (n < 0 || h < 0 || !(s = malloc((size_t)h + (size_t)n + 1)))
		return;
	memcpy(s, head, (size_t)h);
	va_start(ap, fmt);
	vsnprintf(s + h, (size_t)n + 1, fmt, ap);
	va_end(ap);
	cli_print_wrapped(stderr, s, 0, 2);
	free(s);
}

double cli_elapsed(double since)
{
	return mono_s() - since;
}

double cli_now(void)
{
	return mono_s();
}

void cli_verbose_end(int rc)
{
	struct rusage ru;
	double cpu = 0, rss = 0;
	if (!getrusage(RUSAGE_SELF, &ru)) {
		cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
		      (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
		rss = (double)ru.ru_maxrss * 1024; /* Linux: kilobytes */
	}
	cli_note("%.3f s wall, %.3f s CPU, peak memory %.1f MB, exit %d",
	         mono_s() - verb.t0, cpu, rss / 1e6, rc);
}

int cli_common_opt(int c, const char *arg)
{
	switch (c) {
	case 'q': cli_opts.quiet = 1; return 1;
	case 'v': cli_opts.verbose = 1; return 1;
	case CLI_OPT_WIDE: cli_opts.wide = 1; return 1;
	case CLI_OPT_JSON:
		cli_opts.json = arg ? arg : "-";
		cli_opts.json_bare = !arg;
		return 1;
	case CLI_OPT_EXTERNAL_DATA: cli_opts.external_data = arg; return 1;
	default: return 0;
	}
}

/* Edit distance of a (la bytes) and b (lb bytes) counting insertions,
 * deletions, substitutions and swaps of neighbours (the optimal string
 * alignment distance: "--qiuet" is one from "--quiet"); 99 when long. */
static size_t edit_distance(const char *a, size_t la, const char *b,
                            size_t lb)
{
	size_t d[64][64];
	if (la > 63 || lb > 63)
		return 99;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	return d[la][lb];
}

const char *cli_closest_option(const char *word, const struct option *opts)
{
	size_t lw = strcspn(word, "=");
	const char *best = NULL;
	size_t best_d = 99;
	for (; opts && opts->name; opts++) {
		size_t ln = strlen(opts->name);
		size_t d = edit_distance(word, lw, opts->name, ln);
		/* A misspelling changes about a third of a word at most. */
		size_t limit = (lw > ln ? lw : ln) / 3;
		if (limit < 1)
			limit = 1;
		if (d <= limit && d < best_d) {
			best_d = d;
			best = opts->name;
		}
	}
	return best;
}

int cli_opt_error(const char *cmd, int c, char **argv,
                  const struct option *opts)
{
	const char *arg = argv[optind - 1];
	if (c == ':')
		return cli_usage(cmd, "option '%s' needs a value", arg);
	if (!strncmp(arg, "--", 2) && arg[2]) {
		size_t n = strcspn(arg, "=");
		const char *near = cli_closest_option(arg + 2, opts);
		if (near)
			return cli_usage(cmd, "unknown option '%.*s'; did you "
			                 "mean --%s?", (int)n, arg, near);
		return cli_usage(cmd, "unknown option '%.*s'", (int)n, arg);
	}
	if (arg[0] == '-' && arg[1] && arg[1] != '-' && optopt > 0) {
		/* "-x": the letter, which may sit inside a group (-qx). */
		return cli_usage(cmd, "unknown option '-%c'", optopt);
	}
	return cli_usage(cmd, "unknown option '%s'", arg);
}

int cli_no_input(const char *cmd, const char *path, const char *what)
{
	if (path && !strcmp(path, "-") && isatty(0))
		return cli_usage(cmd, "no input: give %s file or pipe one in",
		                 what);
	return 0;
}

int cli_check_ext(const char *cmd, const char *path, const char *writes,
                  const char *const *ok_exts)
{
	static const struct {
		const char *ext, *names;
	} known[] = {
		{".json", "JSON"}, {".spzm", "a binary model"},
		{".onnx", "an ONNX model"}, {".eie", "an EIE image"},
		{".csv", "CSV"}, {".md", "Markdown"}, {".png", "a PNG image"},
		{".txt", "text"},
	};
	if (!path || !strcmp(path, "-"))
		return 0;
	const char *slash = strrchr(path, '/');
	const char *dot = strrchr(slash ? slash + 1 : path, '.');
	if (!dot)
		return 0;
	for (size_t i = 0; ok_exts && ok_exts[i]; i++)
		if (!strcmp(dot, ok_exts[i]))
			return 0;
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		if (!strcmp(dot, known[i].ext))
			return cli_usage(cmd, "'%s' names %s, but this writes %s; "
			                 "rename the output", path,
			                 known[i].names, writes);
	return 0;
}

/* One UTF-8 sequence at *s: its code point (0xFFFD when malformed) and
 * the bytes it takes in *len. */
static uint32_t utf8_next(const unsigned char *s, size_t *len)
{
	uint32_t c = s[0];
	int n = c < 0x80 ? 0 : c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1
	                                                              : -1;
	if (n < 0) {
		*len = 1;
		return 0xFFFD;
	}
	c &= n ? 0x3Fu >> n : 0x7F;
	for (int i = 1; i <= n; i++) {
		if ((s[i] & 0xC0) != 0x80) {
			*len = (size_t)i;
			return 0xFFFD;
		}
		c = c << 6 | (s[i] & 0x3F);
	}
	*len = (size_t)n + 1;
	return c;
}

/* Columns a code point takes on a terminal (the wide and zero-width ranges
 * of Unicode's East Asian Width and general category, coarsely). */
static int cp_width(uint32_t c)
{
	if ((c >= 0x0300 && c <= 0x036F) || (c >= 0x200B && c <= 0x200F) ||
	    (c >= 0xFE00 && c <= 0xFE0F) || (c >= 0x20D0 && c <= 0x20FF))
		return 0;
	if ((c >= 0x1100 && c <= 0x115F) || (c >= 0x2E80 && c <= 0x303E) ||
	    (c >= 0x3041 && c <= 0x33FF) || (c >= 0x3400 && c <= 0x4DBF) ||
	    (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0xA000 && c <= 0xA4CF) ||
	    (c >= 0xAC00 && c <= 0xD7A3) || (c >= 0xF900 && c <= 0xFAFF) ||
	    (c >= 0xFE30 && c <= 0xFE4F) || (c >= 0xFF00 && c <= 0xFF60) ||
	    (c >= 0xFFE0 && c <= 0xFFE6) || (c >= 0x1F300 && c <= 0x1F64F) ||
	    (c >= 0x1F900 && c <= 0x1F9FF) || (c >= 0x20000 && c <= 0x3FFFD))
		return 2;
	return 1;
}

size_t cli_width_n(const char *s, size_t n)
{
	size_t w = 0, len;
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	while (p < end && *p) {
		w += (size_t)cp_width(utf8_next(p, &len));
		while (len-- && p < end && *p)
			p++;
	}
	return w;
}

size_t cli_width(const char *s)
{
	return cli_width_n(s, strlen(s));
}

void cli_pad(FILE *f, const char *s, size_t w, int left)
{
	size_t have = cli_width(s);
	if (left)
		fputs(s, f);
	for (; have < w; have++)
		fputc(' ', f);
	if (!left)
		fputs(s, f);
}

void cli_pad_cut(FILE *f, const char *s, size_t w)
{
	if (cli_width(s) <= w) {
		cli_pad(f, s, w, 1);
		return;
	}
	size_t n = 0;
	while (s[n] && cli_width_n(s, n + 1) < w) {
		n++;
		while ((s[n] & 0xC0) == 0x80)
			n++;
	}
	fwrite(s, 1, n, f);
	size_t have = cli_width_n(s, n);
	for (; have + 1 < w; have++)
		fputc(' ', f);
	fputc('~', f);
}

/* Whether the n bytes at w are a unit that follows a number ("s",
 * "ms", "MB"): at most 3 letters. */
static int is_unit(const char *w, size_t n)
{
	if (n < 1 || n > 3)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalpha((unsigned char)w[i]))
			return 0;
	return 1;
}

void cli_print_wrapped(FILE *f, const char *s, size_t col, size_t indent)
{
	/* Runs of spaces are kept (aligned columns stay aligned) except
	 * where the line breaks, which is never between a number and its
	 * unit ("0.010 s"). */
	while (*s) {
		size_t sp = strspn(s, " ");
		size_t n = strcspn(s + sp, " ");
		if (n && s[sp + n] == ' ' &&
		    isdigit((unsigned char)s[sp + n - 1])) {
			const char *u = s + sp + n + 1;
			size_t un = strcspn(u, " ");
			n += is_unit(u, un) ? 1 + un : 0;
		}
		size_t w = cli_width_n(s + sp, n);
		if (col > indent && col + sp + w > 80) {
			fprintf(f, "\n%*s", (int)indent, "");
			col = indent;
		} else {
			fprintf(f, "%*s", (int)sp, "");
			col += sp;
		}
		fwrite(s + sp, 1, n, f);
		col += w;
		s += sp + n;
	}
	fputc('\n', f);
}

void cli_put_word(FILE *f, size_t *col, size_t indent, const char *sep,
                  const char *word)
{
	size_t w = cli_width(word), ws = cli_width(sep);
	if (!cli_opts.wide && *col > indent && *col + ws + w > 80) {
		fprintf(f, "\n%*s", (int)indent, "");
		*col = indent;
	} else {
		fputs(sep, f);
		*col += ws;
	}
	fputs(word, f);
	*col += w;
}

static struct {
	double start;    /* when the current work began, or 0 */
	int drawn;       /* a line is on the terminal */
	int last_pct;    /* percent drawn last, -1 for none */
	const char *what;
} prog;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void cli_progress(const char *what, double done, double total)
{
	if (cli_opts.quiet || !isatty(2))
		return;
	double t = now_s();
	if (!prog.start || prog.what != what) {
		if (prog.drawn)
			cli_progress_end();
		prog.start = t;
		prog.what = what;
		prog.last_pct = -1;
	}
	double delay = cli_progress_delay();
	double el = t - prog.start;
	if (el < delay || total <= 0)
		return;
	double frac = done / total;
	frac = frac < 0 ? 0 : frac > 1 ? 1 : frac;
	int pct = (int)(frac * 100);
	if (prog.drawn && pct == prog.last_pct)
		return;
	prog.last_pct = pct;
	char eta[32];
	cli_eta_text(eta, sizeof eta, el, frac);
	fprintf(stderr, "\r\033[K%s %3d%%%s", what, pct, eta);
	fflush(stderr);
	prog.drawn = 1;
}

double cli_progress_delay(void)
{
	double delay = 1.0;
	const char *env = getenv("SPZ_PROGRESS_DELAY");
	if (env && cli_parse_double(env, &delay))
		delay = 1.0;
	return delay;
}

void cli_eta_text(char *buf, size_t n, double elapsed, double frac)
{
	buf[0] = 0;
	if (!(frac > 0 && frac < 1))
		return;
	double left = elapsed / frac - elapsed;
	if (left < 59.5)
		snprintf(buf, n, "  ETA %.0fs", left);
	else
		snprintf(buf, n, "  ETA %.0fm%02.0fs", floor(left / 60),
		         floor(fmod(left, 60)));
}

void cli_progress_end(void)
{
	if (prog.drawn) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
	}
	prog.drawn = 0;
	prog.start = 0;
	prog.what = NULL;
}

void cli_progress_cb(void *ctx, double done, double total)
{
	cli_progress(ctx, done, total);
}

int cli_out_to_opts(const char **out, const char **to, const char *cmd,
                    int argc, char **argv)
{
	static const struct option opts[] = {
		{"output", required_argument, 0, 'o'},
		{"to", required_argument, 0, 't'},
		CLI_COMMON_OPTIONS,
		CLI_MODEL_OUTPUT_OPTIONS,
		{0, 0, 0, 0}};
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:" CLI_SHORT_COMMON, opts,
	                        NULL)) != -1) {
		if (cli_common_opt(c, optarg))
			continue;
		if (c == 'o')
			*out = optarg;
		else if (c == 't')
			*to = optarg;
		else
			return cli_opt_error(cmd, c, argv, opts);
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
	size_t n = strlen(cmd) + strlen(h->summary) + 16;
	char *head = malloc(n);
	if (!head)
		return cli_error("out of memory");
	snprintf(head, n, "%s%s - %s", strcmp(cmd, "spz") ? "spz " : "",
	         strcmp(cmd, "spz") ? cmd : "spz", h->summary);
	cli_print_wrapped(stdout, head, 0, 4);
	free(head);
	printf("\n%s", h->text);
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

int cli_parse_list(const char *s, int64_t *out, size_t max, size_t *n)
{
	char buf[1024];
	if (strlen(s) >= sizeof buf)
		return -1;
	strcpy(buf, s);
	*n = 0;
	for (char *tok = buf, *comma; tok; tok = comma) {
		comma = strchr(tok, ',');
		if (comma)
			*comma++ = 0;
		if (*n == max || cli_parse_i64(tok, &out[(*n)++]))
			return -1;
	}
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

static const char *kind_name(spz_file_kind k)
{
	return k == SPZ_FILE_JSON ? "a JSON model"
	     : k == SPZ_FILE_SPZM ? "a binary model"
	     : k == SPZ_FILE_ONNX ? "an ONNX model" : "an image";
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
		spz_file_kind named = spz_format_for_path(path);
		if (named != SPZ_FILE_UNKNOWN && named != *kind)
			return cli_usage(cmd, "'%s' names %s, but --to %s writes "
			                 "%s; rename the output or change --to",
			                 path, kind_name(named), to,
			                 kind_name(*kind));
	} else if (!strcmp(path, "-")) {
		*kind = SPZ_FILE_SPZM;
	} else if ((*kind = spz_format_for_path(path)) == SPZ_FILE_UNKNOWN) {
		return cli_usage(cmd, "cannot tell the format of '%s' from its "
		                 "extension; use --to json|spzm|onnx", path);
	}
	if (!strcmp(path, "-") && *kind != SPZ_FILE_JSON && isatty(1))
		return cli_usage(cmd, "refusing to write a binary model to a "
		                 "terminal; use -o FILE or --to json");
	const char *ext = cli_opts.external_data;
	if (ext && *kind == SPZ_FILE_SPZM)
		return cli_usage(cmd, "--external-data goes with a JSON or ONNX "
		                 "output");
	if (ext && !strcmp(path, "-"))
		return cli_usage(cmd, "--external-data needs the model in a "
		                 "file (-o OUT)");
	if (ext) {
		const char *a = strrchr(ext, '/') ? strrchr(ext, '/') + 1 : ext;
		const char *b = strrchr(path, '/') ? strrchr(path, '/') + 1
		                                   : path;
		if (!strcmp(a, b))
			return cli_usage(cmd, "--external-data '%s' would be the "
			                 "model itself", ext);
	}
	return 0;
}

/* Every model a command writes: JSON or ONNX with --external-data puts
 * its tensors of at least cli_opts.external_threshold bytes (ONNX: of
 * 1 KiB) in that file beside the model. */
static int save_model(const spz_model *m, spz_output *opened,
                      const char *path, spz_file_kind kind, spz_error *err)
{
	/* A big model takes seconds to write in any format (JSON's text
	 * the longest): progress. */
	static char what[300];
	snprintf(what, sizeof what, "writing '%s'",
	         strcmp(path, "-") ? path : "<stdout>");
	spz_save_opts so = SPZ_SAVE_OPTS_INIT;
	so.progress = cli_progress_cb;
	so.progress_ctx = what;
	so.output = opened; /* only for a .spzm (spz_spzm_placer_new) */
	const char *ext = cli_opts.external_data;
	int rc;
	if (ext && kind == SPZ_FILE_ONNX)
		rc = spz_onnx_save_opts(m, path, ext, &so, err);
	else if (ext && kind == SPZ_FILE_JSON)
		rc = spz_json_save_external_opts(
			m, path, ext, cli_opts.external_threshold, &so, err);
	else
		rc = spz_model_save_opts(m, path, kind, &so, err);
	cli_progress_end();
	return rc;
}

/* "3 tensors, 266610 parameters" of m, for -v. */
static void model_counts(char *buf, size_t n, const spz_model *m)
{
	int64_t p = 0;
	for (size_t i = 0; i < m->n_tensors; i++)
		p += spz_tensor_elements(&m->tensors[i]);
	snprintf(buf, n, "%zu tensor%s, %lld parameters", m->n_tensors,
	         m->n_tensors == 1 ? "" : "s", (long long)p);
}

/* " (N bytes)" of a file just written or read, for -v; "" for "-". */
static void file_bytes(char *buf, size_t n, const char *path)
{
	struct stat st;
	buf[0] = 0;
	if (strcmp(path, "-") && !stat(path, &st) && S_ISREG(st.st_mode))
		snprintf(buf, n, ", %lld bytes", (long long)st.st_size);
}

int cli_read_model(spz_model **out, spz_input *in, spz_error *err)
{
	/* A big model takes seconds to read: progress by bytes of the
	 * file (none from a pipe, whose size is unknown). The text must
	 * stay put: cli_progress knows a piece of work by its address. */
	static char what[300];
	snprintf(what, sizeof what, "reading '%s'", in->label);
	in->progress = cli_progress_cb;
	in->progress_ctx = what;
	int rc = spz_model_read(out, in, err);
	in->progress = NULL;
	cli_progress_end();
	return rc;
}

int cli_load_model_flags(spz_model **out, const char *path, int flags)
{
	spz_error err = {0};
	double t = mono_s();
	spz_input in;
	int rc = spz_input_open(&in, path, &err);
	if (!rc) {
		if (flags & CLI_LOAD_COPIED)
			in.map_payloads = 0;
		in.keep_sparse = (flags & CLI_LOAD_SPARSE) != 0;
		in.defer_values = flags & CLI_LOAD_DEFERRED ? SPZ_DEFER_MIN : 0;
		rc = cli_read_model(out, &in, &err);
		spz_input_close(&in);
	}
	if (rc)
		return cli_fail(&err);
	char c[96], b[48];
	model_counts(c, sizeof c, *out);
	file_bytes(b, sizeof b, path);
	cli_note("read '%s' (%s%s) in %.3f s", path, c, b, mono_s() - t);
	return 0;
}

int cli_load_model(spz_model **out, const char *path)
{
	return cli_load_model_flags(out, path, 0);
}

int cli_save_model(const spz_model *m, const char *path, spz_file_kind kind)
{
	spz_error err = {0};
	double t = mono_s();
	if (save_model(m, NULL, path, kind, &err))
		return cli_fail(&err);
	char c[96], b[48];
	model_counts(c, sizeof c, m);
	file_bytes(b, sizeof b, path);
	cli_note("wrote '%s' (%s%s) in %.3f s", path, c, b, mono_s() - t);
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
	return cli_print_json_to(j, cli_opts.json ? cli_opts.json : "-");
}

int cli_print_json_to(cJSON *j, const char *path)
{
	char *s = j ? cJSON_Print(j) : NULL;
	cJSON_Delete(j);
	if (!s)
		return cli_error("out of memory");
	spz_output o;
	spz_error err = {0};
	int rc = spz_output_open(&o, path, &err);
	if (!rc && (fputs(s, o.f) < 0 || fputc('\n', o.f) < 0)) {
		rc = spz_fail(&err, SPZ_EIO, "cannot write '%s'",
		              strcmp(path, "-") ? path : "<stdout>");
		spz_output_abort(&o);
	} else if (!rc) {
		rc = spz_output_commit(&o, &err);
	}
	free(s);
	return rc ? cli_fail(&err) : EXIT_OK;
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
		return cli_usage(cmd, "--json on standard output needs the model "
		                 "in a file "
		                 "(-o OUT)");
	if (json && strcmp(json, "-") && strcmp(out, "-") &&
	    same_file(json, out))
		return cli_usage(cmd, "--json and -o name the same file");
	return 0;
}

/* Where save_model put the external data of a model written to path
 * (malloc'd), as the format writers resolve it: --external-data's file
 * name in path's folder. NULL when there is none (or no memory). */
static char *external_path(const char *path, spz_file_kind kind)
{
	const char *ext = cli_opts.external_data;
	if (!ext || !strcmp(path, "-") ||
	    (kind != SPZ_FILE_JSON && kind != SPZ_FILE_ONNX))
		return NULL;
	const char *loc = strrchr(ext, '/') ? strrchr(ext, '/') + 1 : ext;
	const char *slash = strrchr(path, '/');
	size_t dl = slash ? (size_t)(slash - path) + 1 : 0;
	char *full = malloc(dl + strlen(loc) + 1);
	if (full) {
		memcpy(full, path, dl);
		strcpy(full + dl, loc);
	}
	return full;
}

int cli_save_with_report(const spz_model *m, const char *path,
                         spz_file_kind kind, const char *json,
                         cJSON *report)
{
	return cli_save_with_report_to(m, NULL, path, kind, json, report);
}

int cli_save_with_report_to(const spz_model *m, spz_output *opened,
                            const char *path, spz_file_kind kind,
                            const char *json, cJSON *report)
{
	spz_output jo = {0};
	spz_error err = {0};
	if (json) {
		char *s = report ? cJSON_Print(report) : NULL;
		cJSON_Delete(report);
		int rc = s ? spz_output_open(&jo, json, &err)
		           : spz_fail(&err, SPZ_ENOMEM, "out of memory");
		if (!rc && (fputs(s, jo.f) < 0 || fputc('\n', jo.f) < 0))
			rc = spz_fail(&err, SPZ_EIO, "cannot write '%s'", json);
		free(s);
		if (rc) {
			if (jo.f)
				spz_output_abort(&jo);
			if (opened)
				spz_output_abort(opened);
			return cli_fail(&err);
		}
	} else {
		cJSON_Delete(report);
	}
	double t = mono_s();
	if (save_model(m, opened, path, kind, &err)) {
		if (json)
			spz_output_abort(&jo);
		return cli_fail(&err);
	}
	char c[96], b[48];
	model_counts(c, sizeof c, m);
	file_bytes(b, sizeof b, path);
	cli_note("wrote '%s' (%s%s) in %.3f s", path, c, b, mono_s() - t);
	if (json && spz_output_commit(&jo, &err)) {
		/* Take the model back, unless it went to a device or a pipe
		 * that was written in place. */
		struct stat st;
		if (strcmp(path, "-") && !lstat(path, &st) && S_ISREG(st.st_mode))
			unlink(path);
		/* And the external data written beside it, which only that
		 * model names. */
		char *x = external_path(path, kind);
		if (x && !lstat(x, &st) && S_ISREG(st.st_mode))
			unlink(x);
		free(x);
		return cli_fail(&err);
	}
	return 0;
}

cJSON *cli_model_summary(const char *cmd, const spz_model *m,
                         const char *out, spz_file_kind kind)
{
	static const char *const kinds[] = {"unknown", "json", "spzm",
	                                    "image", "onnx"};
	int64_t params = 0, nonzeros = 0;
	for (size_t i = 0; i < m->n_tensors; i++) {
		params += spz_tensor_elements(&m->tensors[i]);
		nonzeros += spz_tensor_nonzeros(&m->tensors[i]);
	}
	cJSON *j = cJSON_CreateObject();
	if (!j || !cJSON_AddStringToObject(j, "command", cmd) ||
	    !cJSON_AddStringToObject(j, "output", out) ||
	    !cJSON_AddStringToObject(j, "format", kinds[kind]) ||
	    !cJSON_AddNumberToObject(j, "tensors", (double)m->n_tensors) ||
	    !cJSON_AddNumberToObject(j, "parameters", (double)params) ||
	    !cJSON_AddNumberToObject(j, "nonzeros", (double)nonzeros)) {
		cJSON_Delete(j);
		return NULL;
	}
	return j;
}

int cli_save_model_summary(const char *cmd, const spz_model *m,
                           const char *out, spz_file_kind kind)
{
	if (!cli_opts.json)
		return cli_save_model(m, out, kind);
	int rc = cli_report_paths(cmd, cli_opts.json, out);
	if (rc)
		return rc;
	cJSON *j = cli_model_summary(cmd, m, out, kind);
	if (!j)
		return cli_error("out of memory");
	return cli_save_with_report(m, out, kind, cli_opts.json, j);
}
