/*
 * harness.h - what every fuzz harness (tests/fuzz/fuzz_NAME.c) shares.
 *
 * A harness defines LLVMFuzzerTestOneInput, which feeds the bytes to one
 * reader and checks what spz promises of every reader: no crash, no leak,
 * no undefined behaviour (the sanitizers watch those), and a failure is a
 * negative spz_err code with a message. The same file links two
 * ways: with libFuzzer (make fuzz: clang, -fsanitize=fuzzer) and with
 * tests/fuzz/replay.c (make check: any compiler), which replays the
 * committed corpus tests/fuzz/corpus/NAME/.
 */
#ifndef SPZ_FUZZ_HARNESS_H
#define SPZ_FUZZ_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "spz.h"
#include "spz_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Writes the bytes to a file of a private folder that holds nothing else
 * (so external data named by a fuzzed model can only reach the input
 * itself) and returns its path; the readers take paths. slot 0 and 1 are
 * two files, for harnesses that write a result back and read it again.
 * The folder is removed at exit.
 */
const char *fuzz_file(int slot, const void *data, size_t size);

/* Aborts unless rc is a failure the reader reported properly: a negative
 * spz_err code and a non-empty message without control characters (one
 * line, nothing a terminal would act on; FUZZ_STRICT=0 in the
 * environment skips that last check). */
void fuzz_check_failure(int rc, const spz_error *err);

/* Aborts with a message: an invariant of the readers broke. */
void fuzz_die(const char *what, const spz_error *err)
	__attribute__((noreturn));

/* Largest dense tensor (elements) a harness will expand or emulate: the
 * readers' cost is bounded by the file, what follows them is not. */
#define FUZZ_MAX_ELEMENTS (1 << 20)

#endif
