/* testutil.h - helpers shared by the unit suites. */
#ifndef SPZ_TESTUTIL_H
#define SPZ_TESTUTIL_H

#include <check.h>

#include "spz.h"
#include "spz_format.h"

/* A fresh empty directory under $TMPDIR (or /tmp) for this test; the
 * returned path is static storage of the caller's buffer. */
void tu_tmpdir(char *buf, size_t n);
/* Writes len bytes to path; returns 0 on success. */
int tu_write_file(const char *path, const void *data, size_t len);
/* Reads a whole file (malloc'd, NUL-terminated); NULL on failure. */
char *tu_read_file(const char *path, size_t *len);
/* m written as kind into a malloc'd buffer of *len bytes (in memory: a
 * file on disk would be fsynced); fails the test if the writer refuses. */
unsigned char *tu_model_bytes(const spz_model *m, spz_file_kind kind,
                              size_t *len);
/* spz_model_save, failing the test when it fails. */
void tu_save(const spz_model *m, const char *path, spz_file_kind kind);
/* The model at path read with its payloads of 1 MiB or more left in the
 * file (spz_input.defer_values = SPZ_DEFER_MIN, as spz prune reads). */
spz_model *tu_read_deferred(const char *path);
/* A model with one Gemm(transB=1) layer "fc": weight [rows, cols] from w
 * (row-major) and a zero bias; input "input", output "output". */
spz_model *tu_gemm_model(int64_t rows, int64_t cols, const float *w);

#endif
