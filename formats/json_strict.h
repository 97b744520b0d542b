/*
 * json_strict.h - the one way spz reads JSON (models, run input vectors,
 * energy tables, prune configs, activity files): cJSON behind a stricter
 * front. Text is checked while it is read, so a bad or oversized input
 * fails at the byte that makes it bad instead of after all of it has been
 * read; the parsed tree is then checked for what cJSON lets through.
 * formats/README.md ("Strict JSON") lists the rules and the caps.
 */
#ifndef SPZ_JSON_STRICT_H
#define SPZ_JSON_STRICT_H

#include <cJSON.h>

#include "spz_format.h"

/* Caps on the bytes of JSON text read (blanks included), so that a pipe
 * that never ends, or a huge file, is refused instead of filling memory.
 * A model larger than this belongs in .spzm. */
#define SPZ_JSON_MODEL_MAX ((uint64_t)1 << 30)   /* 1 GiB: JSON models */
#define SPZ_JSON_VECTORS_MAX ((uint64_t)256 << 20) /* 256 MiB: run input */
#define SPZ_JSON_SMALL_MAX ((uint64_t)16 << 20)  /* 16 MiB: the rest */
/* No JSON writer pads with this many blanks in a row; refusing them lets
 * an endless stream of blanks fail at once instead of at its end. */
#define SPZ_JSON_BLANK_RUN_MAX ((uint64_t)1 << 20)

/*
 * Reads one JSON document from in, at most cap bytes (what names the kind
 * of file in the message: "a JSON model"), and parses it strictly:
 *  - no byte past the end of the top-level value but blanks;
 *  - no raw control character, no \u0000 escape anywhere;
 *  - no run of more than SPZ_JSON_BLANK_RUN_MAX blanks;
 *  - no key twice in one object;
 *  - every key and string valid UTF-8 without control characters
 *    (spz_text_check).
 * A long run of blanks is cut to its first 64 bytes while reading, so it
 * costs no memory. The top-level value must be an object or an array; reading
 * stops at once when it is not. *out is the caller's (cJSON_Delete).
 */
int spz_json_read(cJSON **out, spz_input *in, uint64_t cap, const char *what,
                  spz_error *err);
/* A number array of a JSON model left as text: the bytes between its
 * brackets (valid JSON numbers, commas and blanks) and how many numbers. */
typedef struct spz_json_span {
	size_t off, len; /* in spz_json_doc.text */
	int64_t count;
} spz_json_span;

/* A JSON model read by spz_json_read_model: the tree, and the text that
 * the spans of its big number arrays point into. */
typedef struct spz_json_doc {
	cJSON *root;
	char *text;
	spz_json_span *spans;
	size_t n_spans;
	const spz_input *in; /* read from: its progress hears of the spans */
} spz_json_doc;

/*
 * spz_json_read for a JSON model, with the same checks and messages, but
 * the arrays of numbers at initializers[i].data and .codes do not become
 * cJSON nodes: each is a marker object in the tree (spz_json_span_of gives
 * its span) and is parsed from the text by the model reader. Free with
 * spz_json_doc_free (also after a failure).
 */
int spz_json_read_model(spz_json_doc *doc, spz_input *in, uint64_t cap,
                        const char *what, spz_error *err);
void spz_json_doc_free(spz_json_doc *doc);
/* Whether v is the marker of a span. */
int spz_json_is_marker(const cJSON *v);
/* The span v stands for; NULL when v is an ordinary value (or doc is
 * NULL). */
const spz_json_span *spz_json_span_of(const spz_json_doc *doc,
                                      const cJSON *v);
/* The JSON number at *p (valid JSON number grammar, followed by a byte
 * that is not part of it, before end), as strtod reads it; *p moves past
 * it. No byte at or after end is read but the one that ends the number. */
double spz_json_number(const char **p, const char *end);

/* spz_json_read on a path ("-" is stdin). */
int spz_json_load(cJSON **out, const char *path, uint64_t cap,
                  const char *what, spz_error *err);
/* The same checks on text already in memory (a .spzm manifest); label
 * names it in messages. */
int spz_json_parse(cJSON **out, const char *text, size_t len,
                   const char *label, spz_error *err);

/*
 * Refuses a key of obj that is not in keys (n of them): spz's own formats
 * take no unknown key, so a misspelling is an error rather than a default.
 * where says which object ("node 3"); NULL for the top level.
 */
int spz_json_only_keys(const cJSON *obj, const char *const *keys, size_t n,
                       const char *label, const char *where,
                       spz_error *err);

/* Refuses a string value that is not a name (spz_text_check: UTF-8
 * without control characters); where and key say which value. */
int spz_json_check_name(const char *s, const char *label, const char *where,
                        const char *key, spz_error *err);

#endif
