/* select.c - tensor selection by role and by glob, shared by the commands
 * that transform weights. */
#define _POSIX_C_SOURCE 200809L
#include "select.h"

#include <fnmatch.h>
#include <stdlib.h>

#include "cli.h"

int cli_glob_ok(const char *glob)
{
	if (!*glob)
		return 0;
	for (const char *p = glob; *p; p++) {
		if (*p == '\\' && !*++p)
			return 0;
		if (*p == '[') {
			/* A ']' right after '[' or '[!' is a member, not the end. */
			const char *q = p + 1;
			if (*q == '!' || *q == '^')
				q++;
			if (*q == ']')
				q++;
			while (*q && *q != ']')
				q++;
			if (!*q)
				return 0;
			p = q;
		}
	}
	return 1;
}

int cli_glob_match(const char *glob, const char *name)
{
	return fnmatch(glob, name, 0) == 0;
}

int cli_select_add(cli_select *s, const char *cmd, int include,
                   const char *glob)
{
	if (!cli_glob_ok(glob))
		return cli_usage(cmd, "bad glob '%s' for --%s", glob,
		                 include ? "include" : "exclude");
	const char ***v = include ? &s->include : &s->exclude;
	size_t *n = include ? &s->n_include : &s->n_exclude;
	const char **nv = realloc(*v, (*n + 1) * sizeof *nv);
	if (!nv)
		return cli_error("out of memory");
	nv[(*n)++] = glob;
	*v = nv;
	return 0;
}

static int any_match(const char *glob, const spz_model *m)
{
	for (size_t i = 0; i < m->n_tensors; i++)
		if (cli_glob_match(glob, m->tensors[i].name))
			return 1;
	return 0;
}

int cli_select_tensors(unsigned char *sel, const cli_select *s,
                       const spz_model *m, const char *cmd)
{
	/* A glob that matches nothing is most likely a typo: say so. */
	for (size_t g = 0; g < s->n_include + s->n_exclude; g++) {
		int inc = g < s->n_include;
		const char *glob = inc ? s->include[g]
		                       : s->exclude[g - s->n_include];
		if (!any_match(glob, m))
			return cli_usage(cmd, "--%s '%s' matches no tensor of "
			                 "model '%s'", inc ? "include" : "exclude",
			                 glob, m->name);
	}
	size_t count = 0;
	for (size_t i = 0; i < m->n_tensors; i++) {
		const spz_tensor *t = &m->tensors[i];
		int on = !s->n_include && spz_model_is_weight(m, t, NULL);
		for (size_t g = 0; !on && g < s->n_include; g++)
			on = cli_glob_match(s->include[g], t->name);
		for (size_t g = 0; on && g < s->n_exclude; g++)
			on = !cli_glob_match(s->exclude[g], t->name);
		sel[i] = (unsigned char)on;
		count += (size_t)on;
	}
	if (!count)
		return cli_usage(cmd, "no tensor selected in model '%s'%s",
		                 m->name, s->n_include || s->n_exclude ? ""
		                 : " (it has no Gemm/MatMul/Conv weight; "
		                   "use --include GLOB)");
	return 0;
}

void cli_select_free(cli_select *s)
{
	free(s->include);
	free(s->exclude);
	s->include = s->exclude = NULL;
	s->n_include = s->n_exclude = 0;
}
