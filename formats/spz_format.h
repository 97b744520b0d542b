/*
 * spz_format.h - readers and writers of spz's file formats (see
 * formats/README.md for every byte and key), and the safe-output helper.
 *
 * Same conventions as spz.h. Every message names the file it is about:
 * "'path': what is wrong". A path of "-" means stdin / stdout.
 */
#ifndef SPZ_FORMAT_H
#define SPZ_FORMAT_H

#include <stdio.h>

#include "spz.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SPZ_JSON_FORMAT_VERSION 1
#define SPZ_SPZM_VERSION 1
#define SPZ_SPZM_MAGIC "SPZM\r\n\032\n"
#define SPZ_SPZM_ALIGN 64

/* What a file is, from its first bytes. */
typedef enum spz_file_kind {
	SPZ_FILE_UNKNOWN = 0,
	SPZ_FILE_JSON = 1,  /* JSON model (starts with '{' after blanks) */
	SPZ_FILE_SPZM = 2,  /* binary model */
	SPZ_FILE_IMAGE = 3  /* a packed image (spz pack) */
} spz_file_kind;

/* Kind of a file from its first bytes (at least 8 of them when there are). */
spz_file_kind spz_file_kind_of(const unsigned char *head, size_t n);

/* Model format wanted for an output path, from its extension: ".json" or
 * ".spzm"; SPZ_FILE_UNKNOWN otherwise (and for "-"). */
spz_file_kind spz_format_for_path(const char *path);

/* ------------------------------------------------------------------ */
/* Input                                                               */

/*
 * An opened input: a path or stdin, with the first bytes already read so
 * that the kind of a pipe can be sniffed without seeking.
 */
typedef struct spz_input {
	int fd;
	int own_fd;
	const char *label;       /* path as given, or "<stdin>" */
	char dir[4096];          /* folder that relative paths resolve against */
	unsigned char head[16];
	size_t n_head, head_pos;
	unsigned long long consumed; /* bytes handed out so far */
} spz_input;

/* Opens path ("-" = stdin) and reads its first bytes. Directories,
 * unreadable and empty files are refused with a message. */
int spz_input_open(spz_input *in, const char *path, spz_error *err);
void spz_input_close(spz_input *in);
/* Kind of the opened input. */
spz_file_kind spz_input_kind(const spz_input *in);
/* Reads exactly n bytes; a short read is SPZ_EFORMAT "truncated in what". */
int spz_input_read(spz_input *in, void *buf, size_t n, const char *what,
                   spz_error *err);
/* Reads everything left into a malloc'd NUL-terminated buffer. */
int spz_input_slurp(char **buf, size_t *len, spz_input *in, spz_error *err);

/* ------------------------------------------------------------------ */
/* Output: temporary file beside the target, renamed on commit         */

typedef struct spz_output {
	FILE *f;
	char *path;  /* target, NULL for stdout */
	char *tmp;   /* temporary beside it */
} spz_output;

/* Opens a temporary file beside path (or stdout for "-"). */
int spz_output_open(spz_output *o, const char *path, spz_error *err);
/* Flushes, checks for write errors, closes and renames into place. */
int spz_output_commit(spz_output *o, spz_error *err);
/* Closes and removes the temporary file (safe after a failed commit). */
void spz_output_abort(spz_output *o);

/* ------------------------------------------------------------------ */
/* Models                                                              */

/* Reads a JSON or binary model (by content), validates it. */
int spz_model_load(spz_model **out, const char *path, spz_error *err);
/* Reads a model from an already opened input. */
int spz_model_read(spz_model **out, spz_input *in, spz_error *err);

/* Writes m as kind (SPZ_FILE_JSON or SPZ_FILE_SPZM) to f. */
int spz_model_write(FILE *f, const spz_model *m, spz_file_kind kind,
                    spz_error *err);
/* Writes m to path ("-" = stdout) atomically. */
int spz_model_save(const spz_model *m, const char *path, spz_file_kind kind,
                   spz_error *err);

/* CRC32 (zlib polynomial) of n bytes continuing from crc (start with 0). */
uint32_t spz_crc32(uint32_t crc, const void *buf, size_t n);

/* Overrides entries of *t from a JSON object of pJ values (keys are the
 * spz_energy_table field names; unknown keys and negative values are
 * refused). *t is unchanged on failure. */
int spz_energy_load(spz_energy_table *t, const char *path, spz_error *err);

/* Each format adds its section below its own marker line. */

/* @@ image @@ */

/* @@ png @@ */

/* @@ run-io @@ */


#ifdef __cplusplus
}
#endif

#endif
