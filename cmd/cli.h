/*
 * cli.h - what every subcommand shares: messages, exit codes, option value
 * parsing, and model input/output with the right format.
 */
#ifndef SPZ_CLI_H
#define SPZ_CLI_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

#include "spz.h"
#include "spz_format.h"

/* Exit codes (spz(1)). */
enum {
	EXIT_OK = 0,
	EXIT_DATA = 1,   /* input, data or I/O error */
	EXIT_USAGE = 2,  /* bad command line */
	EXIT_CHECK = 3   /* a requested check or budget failed */
};

/* Every subcommand: argv[0] is its name; returns the exit code. */
typedef int (*spz_cmd_fn)(int argc, char **argv);

/* "spz: message" on stderr; returns EXIT_DATA. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "spz CMD: message" (one line); returns EXIT_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Prints a library failure; EXIT_USAGE for SPZ_EINVAL, else EXIT_DATA. */
int cli_fail(const spz_error *err);
/* The usage error for getopt_long's ':' (missing value) or '?' (unknown
 * option) result c; call with opterr = 0 and a leading ':' in optstring.
 * An unknown long option is followed by the closest of opts (edit
 * distance): "spz prune: unknown option '--sparsty'; did you mean
 * --sparsity?". */
int cli_opt_error(const char *cmd, int c, char **argv,
                  const struct option *opts);
/* The long option of opts closest to word (the text after "--", up to
 * '='), or NULL when none is close enough to be a likely typo. */
const char *cli_closest_option(const char *word, const struct option *opts);

/*
 * Options that mean the same in every command (spz(1), "Common options").
 * Put CLI_COMMON_OPTIONS in a command's long-option table and pass every
 * getopt result to cli_common_opt first; CLI_SHORT_COMMON ("qv") goes in
 * the short-option string. --json is optional_argument: a bare --json is
 * standard output ("-"), --json=FILE a file; it never takes the next word.
 * --help and --version are answered by main.c before the command runs.
 */
enum {
	CLI_OPT_JSON = 0x7000, /* above every command's own codes */
	CLI_OPT_WIDE,
	CLI_OPT_VERSION,
	CLI_OPT_HELP,
	CLI_OPT_EXTERNAL_DATA
};
#define CLI_SHORT_COMMON "qv"
#define CLI_COMMON_OPTIONS \
	{"quiet", no_argument, 0, 'q'}, \
	{"verbose", no_argument, 0, 'v'}, \
	{"json", optional_argument, 0, CLI_OPT_JSON}, \
	{"wide", no_argument, 0, CLI_OPT_WIDE}, \
	{"version", no_argument, 0, CLI_OPT_VERSION}, \
	{"help", no_argument, 0, CLI_OPT_HELP}

/* In the option table of every command that writes a model, beside
 * CLI_COMMON_OPTIONS: JSON or ONNX output with its tensors in FILE
 * (beside the model), which an ONNX model over 2 GiB needs. cli_common_opt records it,
 * cli_model_kind refuses it for another output, cli_save_* honour it. */
#define CLI_MODEL_OUTPUT_OPTIONS \
	{"external-data", required_argument, 0, CLI_OPT_EXTERNAL_DATA}

struct cli_common {
	int quiet;        /* -q: only errors */
	int verbose;      /* -v: more detail */
	int wide;         /* --wide: every column of every table */
	const char *json; /* --json ("-") or --json=FILE; NULL without */
	int json_bare;    /* --json without =FILE (its file may have become
	                   * an operand: "--json out.json") */
	const char *external_data; /* --external-data FILE; NULL without */
	/* JSON with external data: tensors of at least this many bytes go
	 * there (convert's --external-data-threshold; 1 KiB by default, as
	 * ONNX's writer does) */
	uint64_t external_threshold;
};
/* The common options of the whole process (set by cli_common_opt). */
extern struct cli_common cli_opts;
/* 1 when getopt result c was a common option (recorded in cli_opts), else
 * 0. */
int cli_common_opt(int c, const char *arg);

/* "spz CMD: no input: give a model file or pipe one in" and EXIT_USAGE
 * when path is "-" and standard input is a terminal; else 0. what names
 * the input ("a model", "an image", "a model or an image"). */
int cli_no_input(const char *cmd, const char *path, const char *what);
/* Refuses (usage error, EXIT_USAGE) an output path whose extension names
 * another format than the one written: writes is the format written
 * ("JSON", "an EIE image", "text", "CSV"); ok_exts is a NULL-terminated
 * list of extensions that fit it (NULL: none is required). 0 when fine
 * or when the path is "-" or has no known extension. */
int cli_check_ext(const char *cmd, const char *path, const char *writes,
                  const char *const *ok_exts);

/* Display width of UTF-8 text: one column per code point, two for East
 * Asian wide and fullwidth ones, none for combining marks. */
size_t cli_width(const char *s);
/* The same for the first n bytes of s. */
size_t cli_width_n(const char *s, size_t n);
/* Prints s left- (left != 0) or right-aligned in w display columns. */
void cli_pad(FILE *f, const char *s, size_t w, int left);
/* Prints s left-aligned in exactly w display columns: a longer s is cut
 * to w - 1 columns and ends with '~' (--wide tables show it whole). */
void cli_pad_cut(FILE *f, const char *s, size_t w);
/* Prints s, which starts at display column col, broken at spaces so that
 * no line exceeds 80 columns; continuation lines are indented by indent.
 * Ends with a newline. */
void cli_print_wrapped(FILE *f, const char *s, size_t col, size_t indent);
/* Prints sep and then word at display column *col (updated), first
 * breaking the line (to column indent, sep dropped) when the word would
 * pass column 80; with --wide, never breaks. */
void cli_put_word(FILE *f, size_t *col, size_t indent, const char *sep,
                  const char *word);

/*
 * Progress: one line on stderr, "\rWHAT  42%  ETA 3s", drawn only when
 * stderr is a terminal, -q was not given and the work has run for 1 s
 * (SPZ_PROGRESS_DELAY=SECONDS sets that delay: 0 draws at once, for
 * tests). cli_progress takes done out of total; cli_progress_end erases
 * the line. The callback form suits the library's progress hooks.
 */
void cli_progress(const char *what, double done, double total);
void cli_progress_end(void);
/* Seconds before progress shows: 1, or SPZ_PROGRESS_DELAY. */
double cli_progress_delay(void);
/* "  ETA 3s" or "  ETA 2m05s" into buf (n bytes) for work that is the
 * fraction frac done after elapsed seconds; "" when frac is 0 or 1. */
void cli_eta_text(char *buf, size_t n, double elapsed, double frac);
/* A spz_progress_fn for the library's option structs: ctx is the WHAT
 * text (the same pointer for the whole of one piece of work). */
void cli_progress_cb(void *ctx, double done, double total);
/* spz_model_read with "reading 'LABEL'" progress (what every command
 * that reads a model uses: a big one takes seconds). */
int cli_read_model(spz_model **out, spz_input *in, spz_error *err);
/*
 * -v (spz(1), Common options): every command ends with a line of its wall
 * and CPU time, peak memory and exit status; reading and writing a model
 * say what and how long; commands add their own stages with cli_note.
 * Nothing with -q.
 */
/* main.c, before the command runs: its name, and the clock starts. */
void cli_verbose_begin(const char *cmd);
/* main.c, after it: the closing line. */
void cli_verbose_end(int rc);
/* "spz CMD: ..." on stderr, only with -v (and without -q). */
void cli_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Seconds on a monotonic clock, and since such a reading. */
double cli_now(void);
double cli_elapsed(double since);
/* Prints the help of cmd on stdout; returns EXIT_OK. */
int cli_help(const char *cmd);

/* The options of a command that takes only -o/--output OUT, --to
 * json|spzm|onnx and --external-data (convert, unpack): sets *out and *to
 * when given and leaves optind at the first operand; 0 or the exit code
 * of a usage error. */
int cli_out_to_opts(const char **out, const char **to, const char *cmd,
                    int argc, char **argv);

/* Strict number parsing of a whole option value; 0 on success. */
int cli_parse_i64(const char *s, int64_t *out);
int cli_parse_u64(const char *s, uint64_t *out);
int cli_parse_double(const char *s, double *out);
/* An integer option value in lo..hi, or the usage error "spz CMD: OPT
 * takes LO..HI, not 'S'" (returns EXIT_USAGE). */
int cli_int_range(int64_t *out, const char *cmd, const char *opt,
                  const char *s, int64_t lo, int64_t hi);
/* Splits "LEFT<sep>RIGHT" (e.g. "2:4"): copies LEFT into left (n bytes)
 * and points *right just after the separator; -1 when there is no
 * separator or LEFT does not fit. */
int cli_split(const char *s, int sep, char *left, size_t n,
              const char **right);
/* "A<sep>B" (e.g. N:M "2:4") as two integers; -1 when it is not. */
int cli_parse_pair(const char *s, int sep, int64_t *a, int64_t *b);
/* A comma-separated list of integers ("784,300,100,10") into at most max
 * entries of out, their number in *n; -1 when an entry is not an integer,
 * there are more than max, or s is over 1023 bytes. */
int cli_parse_list(const char *s, int64_t *out, size_t max, size_t *n);
/* --seed N (any unsigned 64-bit integer), or the usage error "spz CMD:
 * --seed takes a non-negative integer, not 'S'" (returns EXIT_USAGE). */
int cli_seed(uint64_t *out, const char *cmd, const char *s);
/* The n strings of v joined by sep, malloc'd ("" for none); NULL when out
 * of memory. */
char *cli_join(const char *const *v, size_t n, const char *sep);

/* Output format from --to (may be NULL) and the output path. Prints a usage
 * error and returns EXIT_USAGE when it cannot be told or would put binary
 * on a terminal. */
int cli_model_kind(spz_file_kind *kind, const char *cmd, const char *to,
                   const char *path);

/* Loads a model, printing the failure; returns 0 or an exit code. */
int cli_load_model(spz_model **out, const char *path);
/* cli_load_model with flags (0 or more of):
 * CLI_LOAD_COPIED, for a command that rewrites most weights in place
 * (prune's in-place path, finetune): every tensor gets memory of its own
 * even under SPZ_MMAP=1, since a copy-on-write fault per mapped page
 * costs far more than one read (151 MB .spzm: prune 4.3-5.5 s mapped,
 * 0.26-0.73 s copied);
 * CLI_LOAD_SPARSE, for a command that takes tensors in the sparse form
 * (spz_input.keep_sparse; EIE pack): bitmask-encoded .spzm tensors are
 * never expanded;
 * CLI_LOAD_DEFERRED, for a command that reads each weight once, in order,
 * a piece at a time (spz prune into a .spzm): big dense .spzm payloads
 * stay in the file (spz_input.defer_values, spz_tensor.src); the command
 * calls spz_model_undefer on what it leaves. */
#define CLI_LOAD_COPIED 1
#define CLI_LOAD_SPARSE 2
#define CLI_LOAD_DEFERRED 4
int cli_load_model_flags(spz_model **out, const char *path, int flags);
/* Saves a model atomically, printing the failure; 0 or an exit code. */
int cli_save_model(const spz_model *m, const char *path, spz_file_kind kind);

/* "300x784" (or "scalar") into buf of n bytes. */
void cli_dims_text(char *buf, size_t n, const spz_tensor *t);

/* Prints a cJSON tree (and frees it) on stdout, or to FILE under
 * --json=FILE; EXIT_OK or EXIT_DATA. */
struct cJSON;
int cli_print_json(struct cJSON *j);
/* Writes a cJSON tree (and frees it) to path ("-": standard output),
 * atomically; EXIT_OK or the exit code of the failure (printed). */
int cli_print_json_to(struct cJSON *j, const char *path);
/* Reads and parses a JSON file ("-" = standard input) strictly, at most
 * SPZ_JSON_SMALL_MAX bytes (formats/json_strict.h); what names the kind of
 * file for that message ("a prune config"). Returns 0, or the exit code
 * of a failure (printed: unreadable, not JSON, a duplicate key, ...). */
int cli_read_json(struct cJSON **out, const char *path, const char *what);
/* The usage error for a --json report path that cannot go with the model
 * output out: both standard output, or the same file. 0 when fine. */
int cli_report_paths(const char *cmd, const char *json, const char *out);
/* Saves a model and, when json is not NULL, the report (freed here; may
 * be NULL without json) to json, as one: the report waits in its
 * temporary file until the model is in place, and a failure leaves
 * neither. Returns 0 or an exit code (printed). */
int cli_save_with_report(const spz_model *m, const char *path,
                         spz_file_kind kind, const char *json,
                         struct cJSON *report);
/* The same into an output already open on path (spz_output_open; NULL:
 * open one), which is committed, or aborted on any failure. */
int cli_save_with_report_to(const spz_model *m, spz_output *opened,
                            const char *path, spz_file_kind kind,
                            const char *json, struct cJSON *report);

/* The --json summary of a command that writes a model: command, output,
 * format, tensors, parameters and nonzeros. NULL when out of memory. */
struct cJSON *cli_model_summary(const char *cmd, const spz_model *m,
                                const char *out, spz_file_kind kind);
/* Saves m to out (kind) with, under --json[=FILE], its summary; checks
 * that the two do not collide. 0 or an exit code (printed). */
int cli_save_model_summary(const char *cmd, const spz_model *m,
                           const char *out, spz_file_kind kind);

/* Removes the named temporary outputs (spz_temp_note) when SIGINT, SIGTERM
 * or SIGHUP stops spz; signals ignored at start stay ignored. */
void cli_cleanup_install(void);

#endif
