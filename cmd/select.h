/*
 * select.h - which tensors a command works on: by default the weights of
 * Gemm/MatMul/Conv nodes (spz_model_is_weight); --include GLOB replaces
 * that set by the tensors matching any include, --exclude GLOB removes
 * tensors from it. Globs are fnmatch(3) patterns on tensor names.
 */
#ifndef SPZ_SELECT_H
#define SPZ_SELECT_H

#include <stddef.h>

#include "spz.h"

typedef struct cli_select {
	const char **include;
	size_t n_include;
	const char **exclude;
	size_t n_exclude;
} cli_select;

/* Is glob usable: non-empty, every '[' closed, no trailing '\'? */
int cli_glob_ok(const char *glob);
/* Does the glob match the tensor name? */
int cli_glob_match(const char *glob, const char *name);
/* Records an --include (include != 0) or --exclude glob (kept by
 * pointer); prints a usage error for cmd and returns EXIT_USAGE when the
 * glob is bad, EXIT_DATA when out of memory; else 0. */
int cli_select_add(cli_select *s, const char *cmd, int include,
                   const char *glob);
/* sel[i] = 1 for the selected tensors of m. A glob that matches no tensor
 * or an empty selection is a usage error (printed; EXIT_USAGE). */
int cli_select_tensors(unsigned char *sel, const cli_select *s,
                       const spz_model *m, const char *cmd);
void cli_select_free(cli_select *s);

#endif
