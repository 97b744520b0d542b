/*
 * arch_json.c - reading an override of the other designs' constants
 * (spz report --arch-table FILE.json): a JSON object whose keys are
 * spz_arch_table fields. Strict, like the energy table: a misspelt key
 * would otherwise leave a default silently in force.
 */
#include "spz_format.h"
#include "json_strict.h"

#include <cJSON.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

int spz_arch_table_load(spz_arch_table *t, const char *path, spz_error *err)
{
	static const struct {
		const char *key;
		size_t off;
	} keys[] = {
		{"tc24_dense_tflops", offsetof(spz_arch_table, tc24_dense_tflops)},
		{"tc24_sparse_tflops",
		 offsetof(spz_arch_table, tc24_sparse_tflops)},
		{"tc24_bandwidth_gbps",
		 offsetof(spz_arch_table, tc24_bandwidth_gbps)},
		{"tc24_value_bytes", offsetof(spz_arch_table, tc24_value_bytes)},
		{"tc24_metadata_bits",
		 offsetof(spz_arch_table, tc24_metadata_bits)},
		{"cnv_clock_mhz", offsetof(spz_arch_table, cnv_clock_mhz)},
		{"tc24_clock_mhz", offsetof(spz_arch_table, tc24_clock_mhz)},
	};
	cJSON *j = NULL;
	int rc = spz_json_load(&j, path, SPZ_JSON_SMALL_MAX,
	                       "an architecture table", err);
	if (rc)
		return rc;
	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		return spz_fail(err, SPZ_EFORMAT, "'%s': an architecture table "
		                "must be a JSON object of numbers", path);
	}
	spz_arch_table nt = *t;
	const cJSON *e;
	cJSON_ArrayForEach(e, j) {
		size_t k = 0, n = sizeof keys / sizeof keys[0];
		while (k < n && strcmp(keys[k].key, e->string))
			k++;
		if (k == n) {
			rc = spz_fail(err, SPZ_EFORMAT, "'%s': unknown architecture "
			              "entry '%s'", path, e->string);
			break;
		}
		if (!cJSON_IsNumber(e) || !(e->valuedouble > 0) ||
		    !isfinite(e->valuedouble)) {
			rc = spz_fail(err, SPZ_EFORMAT, "'%s': architecture entry "
			              "'%s' must be a finite number above 0", path,
			              e->string);
			break;
		}
		*(double *)((char *)&nt + keys[k].off) = e->valuedouble;
	}
	cJSON_Delete(j);
	if (!rc)
		*t = nt;
	return rc;
}
