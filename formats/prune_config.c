/*
 * prune_config.c - reading a prune config (spz prune --config FILE.json):
 * {"rules": [{"match": GLOB, "sparsity": S}, ...]}. The command applies the
 * rules; this file only checks the text, so that it can be fuzzed and
 * tested without the command line.
 */
#define _POSIX_C_SOURCE 200809L
#include "spz_format.h"
#include "json_strict.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

void spz_prune_rules_free(spz_prune_rule *rules, size_t n)
{
	for (size_t i = 0; rules && i < n; i++)
		free(rules[i].glob);
	free(rules);
}

/* The rules of the parsed config j into *out (n_out of them). */
static int take_rules(spz_prune_rule **out, size_t *n_out, const cJSON *j,
                      const char *label, spz_error *err)
{
	const cJSON *rules = cJSON_GetObjectItemCaseSensitive(j, "rules");
	if (!cJSON_IsObject(j) || !cJSON_IsArray(rules))
		return spz_fail(err, SPZ_EFORMAT, "'%s': not a prune config "
		                "(want {\"rules\": [{\"match\": GLOB, "
		                "\"sparsity\": S}...]})", label);
	for (const cJSON *k = j->child; k; k = k->next)
		if (strcmp(k->string, "rules"))
			return spz_fail(err, SPZ_EFORMAT, "'%s': unknown key "
			                "\"%s\"", label, k->string);
	size_t n = (size_t)cJSON_GetArraySize(rules);
	/* +1: calloc(0) may return NULL, which is not a failure here. */
	spz_prune_rule *v = calloc(n + 1, sizeof *v);
	if (!v)
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	int rc = 0;
	size_t idx = 0;
	for (const cJSON *x = rules->child; x && !rc; x = x->next, idx++) {
		const cJSON *g = cJSON_GetObjectItemCaseSensitive(x, "match");
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(x, "sparsity");
		int keys = 0;
		for (const cJSON *k = cJSON_IsObject(x) ? x->child : NULL; k;
		     k = k->next)
			keys++;
		char where[32];
		snprintf(where, sizeof where, "rule %zu", idx);
		if (!cJSON_IsObject(x) || keys != 2 || !cJSON_IsString(g) ||
		    !cJSON_IsNumber(s))
			rc = spz_fail(err, SPZ_EFORMAT, "'%s': rule %zu must be "
			              "{\"match\": GLOB, \"sparsity\": S}", label,
			              idx);
		else if ((rc = spz_json_check_name(g->valuestring, label, where,
		                                   "match", err)))
			;
		else if (!spz_glob_ok(g->valuestring))
			rc = spz_fail(err, SPZ_EFORMAT, "'%s': rule %zu: bad glob "
			              "'%s'", label, idx, g->valuestring);
		else if (!(s->valuedouble >= 0.0 && s->valuedouble < 1.0))
			rc = spz_fail(err, SPZ_EFORMAT, "'%s': rule %zu: sparsity "
			              "must be in [0, 1)", label, idx);
		else if (!(v[idx].glob = strdup(g->valuestring)))
			rc = spz_fail(err, SPZ_ENOMEM, "out of memory");
		else
			v[idx].sparsity = s->valuedouble;
	}
	if (rc) {
		spz_prune_rules_free(v, n);
		return rc;
	}
	*out = v;
	*n_out = n;
	return 0;
}

int spz_prune_config_load(spz_prune_rule **rules, size_t *n,
                          const char *path, spz_error *err)
{
	cJSON *j = NULL;
	int rc = spz_json_load(&j, path, SPZ_JSON_SMALL_MAX, "a prune config",
	                       err);
	if (rc)
		return rc;
	rc = take_rules(rules, n, j, path, err);
	cJSON_Delete(j);
	return rc;
}
