/*
 * fixed_acc.h - the saturating 48-bit accumulator add shared by the
 * functional reference and the emulator (private to lib/). Inline because
 * it sits in both inner loops.
 */
#ifndef SPZ_FIXED_ACC_H
#define SPZ_FIXED_ACC_H

#include <stdint.h>

#define SPZ_ACC_MAX ((INT64_C(1) << 47) - 1)
#define SPZ_ACC_MIN (-(INT64_C(1) << 47))

/* acc + v saturated to the accumulator; both operands are already within
 * 48 bits, so the int64 sum cannot overflow. */
static inline int64_t spz_acc_add(int64_t acc, int64_t v)
{
	int64_t s = acc + v;
	return s > SPZ_ACC_MAX ? SPZ_ACC_MAX : s < SPZ_ACC_MIN ? SPZ_ACC_MIN : s;
}

#endif
