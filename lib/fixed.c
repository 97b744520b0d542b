/*
 * fixed.c - 16-bit fixed point as EIE computes: the Q format is chosen per
 * vector to cover its largest magnitude at the finest resolution.
 */
#include "spz.h"

#include <math.h>

int16_t spz_to_fixed(double v, int frac)
{
	double q = round(ldexp(v, frac));
	if (q > INT16_MAX)
		return INT16_MAX;
	if (q < INT16_MIN)
		return INT16_MIN;
	return (int16_t)q;
}

double spz_from_fixed(int32_t q, int frac)
{
	return ldexp((double)q, -frac);
}

int spz_fixed_frac(const float *v, size_t n)
{
	for (int f = SPZ_FRAC_MAX; f > SPZ_FRAC_MIN; f--) {
		size_t i = 0;
		for (; i < n; i++) {
			double q = round(ldexp((double)v[i], f));
			if (q > INT16_MAX || q < INT16_MIN)
				break;
		}
		if (i == n)
			return f;
	}
	return SPZ_FRAC_MIN;
}
