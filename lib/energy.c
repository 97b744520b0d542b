/*
 * energy.c - the 45 nm energy table of EIE / Deep Compression and the
 * documented rules that scale its 32-bit entries to 16- and 8-bit work.
 */
#include "spz.h"

#include <stddef.h>

const spz_table_key *spz_energy_table_keys(size_t *n)
{
	static const spz_table_key keys[] = {
		{"int_add_32", offsetof(spz_energy_table, int_add_32)},
		{"float_add_32", offsetof(spz_energy_table, float_add_32)},
		{"int_mult_32", offsetof(spz_energy_table, int_mult_32)},
		{"float_mult_32", offsetof(spz_energy_table, float_mult_32)},
		{"int_mult_16", offsetof(spz_energy_table, int_mult_16)},
		{"sram_read_32", offsetof(spz_energy_table, sram_read_32)},
		{"dram_read_32", offsetof(spz_energy_table, dram_read_32)},
	};
	*n = sizeof keys / sizeof keys[0];
	return keys;
}

double spz_energy_add(const spz_energy_table *t, int bits)
{
	return t->int_add_32 * bits / 32.0;
}

double spz_energy_mult(const spz_energy_table *t, int bits)
{
	if (bits >= 32)
		return t->int_mult_32;
	double r = bits / 16.0;
	return bits >= 16 ? t->int_mult_16 +
	                    (t->int_mult_32 - t->int_mult_16) * (bits - 16) / 16.0
	                  : t->int_mult_16 * r * r;
}

double spz_energy_sram(const spz_energy_table *t, double bits)
{
	return t->sram_read_32 * bits / 32.0;
}

double spz_energy_dram(const spz_energy_table *t, double bits)
{
	return t->dram_read_32 * bits / 32.0;
}
