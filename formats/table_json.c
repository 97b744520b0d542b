/*
 * table_json.c - reading overrides of the tables of constants: the energy
 * table (--energy FILE.json, values in pJ) and the other designs'
 * constants (spz report --arch-table FILE.json). Both are a JSON object of
 * numbers keyed by the table's field names (lib's spz_*_table_keys), read
 * by one strict reader (json_strict.h, capped at SPZ_JSON_SMALL_MAX): a
 * misspelt key would otherwise leave a default silently in force.
 */
#include "json_strict.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* What differs between the tables: their words in messages and whether
 * 0 is a valid value (an energy can be 0; a clock or a peak cannot). */
struct table_kind {
	const char *what;   /* "an energy table" */
	const char *entry;  /* "energy" */
	const char *unit;   /* " (pJ)" or "" */
	int zero_ok;
};

/* Overrides the fields of the size-byte table t named by the object's
 * keys; t is unchanged on failure. */
static int load_table(void *t, size_t size, const spz_table_key *keys,
                      size_t n, const struct table_kind *k,
                      const char *path, spz_error *err)
{
	cJSON *j = NULL;
	int rc = spz_json_load(&j, path, SPZ_JSON_SMALL_MAX, k->what, err);
	if (rc)
		return rc;
	const char *label = strcmp(path, "-") ? path : "<stdin>";
	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		return spz_fail(err, SPZ_EFORMAT, "'%s': %s must be a JSON "
		                "object of numbers%s", label, k->what, k->unit);
	}
	char *nt = malloc(size);
	if (!nt) {
		cJSON_Delete(j);
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	}
	memcpy(nt, t, size);
	const cJSON *e;
	cJSON_ArrayForEach(e, j) {
		size_t i = 0;
		while (i < n && strcmp(keys[i].key, e->string))
			i++;
		if (i == n) {
			rc = spz_fail(err, SPZ_EFORMAT, "'%s': unknown %s entry "
			              "'%s'", label, k->entry, e->string);
			break;
		}
		/* 1e400 parses as infinity: refused, not reported as inf. */
		double v = cJSON_IsNumber(e) ? e->valuedouble : NAN;
		if (!(k->zero_ok ? v >= 0 : v > 0) || !isfinite(v)) {
			rc = spz_fail(err, SPZ_EFORMAT, "'%s': %s entry '%s' must "
			              "be a finite number %s%s", label, k->entry,
			              e->string, k->zero_ok ? ">= 0" : "above 0",
			              k->unit);
			break;
		}
		memcpy(nt + keys[i].off, &v, sizeof v);
	}
	cJSON_Delete(j);
	if (!rc)
		memcpy(t, nt, size);
	free(nt);
	return rc;
}

int spz_energy_load(spz_energy_table *t, const char *path, spz_error *err)
{
	static const struct table_kind kind = {"an energy table", "energy",
	                                       " (pJ)", 1};
	size_t n;
	const spz_table_key *keys = spz_energy_table_keys(&n);
	return load_table(t, sizeof *t, keys, n, &kind, path, err);
}

int spz_arch_table_load(spz_arch_table *t, const char *path, spz_error *err)
{
	static const struct table_kind kind = {"an architecture table",
	                                       "architecture", "", 0};
	size_t n;
	const spz_table_key *keys = spz_arch_table_keys(&n);
	return load_table(t, sizeof *t, keys, n, &kind, path, err);
}
