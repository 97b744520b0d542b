/* select.c - tensor selection by role and by glob, and per-tensor rules,
 * shared by the commands that transform weights (prune, quantize). */
#define _POSIX_C_SOURCE 200809L
#include "select.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_glob_match(const char *glob, const char *name)
{
	return fnmatch(glob, name, 0) == 0;
}

int cli_select_add(cli_select *s, const char *cmd, int include,
                   const char *glob)
{
	if (!spz_glob_ok(glob))
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
		if (on && !spz_dtype_is_float(t->dtype))
			return cli_usage(cmd, "tensor '%s' holds %s values: spz "
			                 "prunes and quantizes float tensors only",
			                 t->name, spz_dtype_name(t->dtype));
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

int cli_rule_split(size_t *glob_len, const char **value, const char *cmd,
                   const char *what, const char *arg)
{
	const char *eq = strrchr(arg, '=');
	if (!eq || eq == arg)
		return cli_usage(cmd, "--rule takes GLOB=%s, not '%s'", what,
		                 arg);
	char *glob = strndup(arg, (size_t)(eq - arg));
	if (!glob)
		return cli_error("out of memory");
	int rc = spz_glob_ok(glob) ? 0
	       : cli_usage(cmd, "--rule '%s': bad glob '%s'", arg, glob);
	free(glob);
	*glob_len = (size_t)(eq - arg);
	*value = eq + 1;
	return rc;
}

int cli_rules_add(cli_rules *r, const char *glob, size_t glob_len,
                  double value, const char *text, const char *config)
{
	cli_rule *nv = realloc(r->v, (r->n + 1) * sizeof *nv);
	if (!nv)
		return cli_error("out of memory");
	r->v = nv;
	cli_rule *x = &r->v[r->n];
	char num[32];
	if (!text)
		spz_format_double(num, value);
	x->glob = strndup(glob, glob_len);
	x->text = text ? strdup(text) : malloc(glob_len + strlen(num) + 2);
	if (!x->glob || !x->text) {
		free(x->glob);
		free(x->text);
		return cli_error("out of memory");
	}
	if (!text)
		sprintf(x->text, "%s=%s", x->glob, num);
	x->config = config;
	x->value = value;
	r->n++;
	return 0;
}

const cli_rule *cli_rules_find(const cli_rules *r, const char *name)
{
	for (size_t k = r->n; k-- > 0;)
		if (cli_glob_match(r->v[k].glob, name))
			return &r->v[k];
	return NULL;
}

int cli_rules_check(const cli_rules *r, const unsigned char *sel,
                    const spz_model *m, const char *cmd)
{
	for (size_t k = 0; k < r->n; k++) {
		const cli_rule *x = &r->v[k];
		size_t i = 0;
		while (i < m->n_tensors &&
		       !(sel[i] && cli_glob_match(x->glob, m->tensors[i].name)))
			i++;
		if (i < m->n_tensors)
			continue;
		if (x->config)
			return cli_usage(cmd, "'%s': rule '%s' matches no selected "
			                 "tensor", x->config, x->text);
		return cli_usage(cmd, "--rule '%s' matches no selected tensor",
		                 x->text);
	}
	return 0;
}

void cli_rules_free(cli_rules *r)
{
	for (size_t k = 0; k < r->n; k++) {
		free(r->v[k].glob);
		free(r->v[k].text);
	}
	free(r->v);
	r->v = NULL;
	r->n = 0;
}
