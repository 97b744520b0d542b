/*
 * select.h - which tensors a command works on: by default the weights of
 * Gemm/MatMul/Conv nodes (spz_model_is_weight); --include GLOB replaces
 * that set by the tensors matching any include, --exclude GLOB removes
 * tensors from it. Globs are fnmatch(3) patterns on tensor names.
 * Per-tensor rules 'GLOB=VALUE' then set a value for the selected tensors
 * they match, a later rule winning. Naming a tensor the model does not
 * have is a usage error (exit 2): a typo in a script must fail loudly
 * rather than transform something else.
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

/* One rule: the selected tensors whose names match glob get value. */
typedef struct cli_rule {
	char *glob;
	char *text;         /* "GLOB=VALUE" for messages and the history */
	const char *config; /* the file it came from; NULL for --rule */
	double value;
} cli_rule;

typedef struct cli_rules {
	cli_rule *v;
	size_t n;
} cli_rules;

/* Splits --rule 'GLOB=VALUE' at the last '=' (a glob may hold one):
 * *glob_len is the glob's length, *value the text after the '='. The
 * usage error "--rule takes GLOB=WHAT, not 'ARG'" when there is no '=' or
 * no glob, "--rule 'ARG': bad glob 'GLOB'" when the glob is bad (printed;
 * EXIT_USAGE), EXIT_DATA when out of memory; else 0. The command checks
 * the value. */
int cli_rule_split(size_t *glob_len, const char **value, const char *cmd,
                   const char *what, const char *arg);
/* Appends a rule with a copy of glob[0..glob_len) and of text (NULL:
 * "GLOB=" and the shortest text of value); config is kept by pointer.
 * 0, or EXIT_DATA when out of memory (printed). */
int cli_rules_add(cli_rules *r, const char *glob, size_t glob_len,
                  double value, const char *text, const char *config);
/* The last rule whose glob matches name (the one that wins), or NULL. */
const cli_rule *cli_rules_find(const cli_rules *r, const char *name);
/* Every rule must match a tensor selected in sel (cli_select_tensors);
 * else the usage error "... matches no selected tensor" for the first
 * that does not (printed; EXIT_USAGE). */
int cli_rules_check(const cli_rules *r, const unsigned char *sel,
                    const spz_model *m, const char *cmd);
void cli_rules_free(cli_rules *r);

#endif
