/*
 * energy_json.c - reading an energy table override (--energy FILE.json):
 * a JSON object whose keys are spz_energy_table fields, values in pJ,
 * read strictly (json_strict.h) and capped at SPZ_JSON_SMALL_MAX.
 */
#include "json_strict.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

int spz_energy_load(spz_energy_table *t, const char *path, spz_error *err)
{
	static const struct {
		const char *key;
		size_t off;
	} keys[] = {
		{"int_add_32", offsetof(spz_energy_table, int_add_32)},
		{"float_add_32", offsetof(spz_energy_table, float_add_32)},
		{"int_mult_32", offsetof(spz_energy_table, int_mult_32)},
		{"float_mult_32", offsetof(spz_energy_table, float_mult_32)},
		{"int_mult_16", offsetof(spz_energy_table, int_mult_16)},
		{"sram_read_32", offsetof(spz_energy_table, sram_read_32)},
		{"dram_read_32", offsetof(spz_energy_table, dram_read_32)},
	};
	cJSON *j = NULL;
	int rc = spz_json_load(&j, path, SPZ_JSON_SMALL_MAX, "an energy table",
	                       err);
	if (rc)
		return rc;
	const char *label = strcmp(path, "-") ? path : "<stdin>";
	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		return spz_fail(err, SPZ_EFORMAT, "'%s': an energy table must "
		                "be a JSON object of numbers (pJ)", label);
	}
	spz_energy_table nt = *t;
	const cJSON *e;
	cJSON_ArrayForEach(e, j) {
		size_t k = 0, n = sizeof keys / sizeof keys[0];
		while (k < n && strcmp(keys[k].key, e->string))
			k++;
		if (k == n) {
			rc = spz_fail(err, SPZ_EFORMAT, "'%s': unknown energy "
			              "entry '%s'", label, e->string);
			break;
		}
		/* 1e400 parses as infinity: refused, not reported as inf. */
		if (!cJSON_IsNumber(e) || !(e->valuedouble >= 0) ||
		    !isfinite(e->valuedouble)) {
			rc = spz_fail(err, SPZ_EFORMAT, "'%s': energy entry "
			              "'%s' must be a finite number >= 0 (pJ)",
			              label, e->string);
			break;
		}
		*(double *)((char *)&nt + keys[k].off) = e->valuedouble;
	}
	cJSON_Delete(j);
	if (!rc)
		*t = nt;
	return rc;
}
