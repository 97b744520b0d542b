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
