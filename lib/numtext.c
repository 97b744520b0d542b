/*
 * numtext.c - shortest round-trip decimal text for floats and doubles, so
 * that JSON written by spz reads back bit-identical and stays readable.
 *
 * The text is defined by what spz always wrote: "%.*g" with the smallest
 * precision P whose text reads back to v (strtod for a double, strtod then
 * a cast for a float). That is not always the shortest decimal inside v's
 * rounding interval (at a power of two the interval is lopsided and the
 * correctly rounded P digits may fall outside while other P digits are
 * inside), so this computes exactly that definition, without printing:
 *
 *  - v = c * 2^e is scaled by a power of ten 10^-k so that s = floor(v /
 *    10^k) has N digits (9 for a float, 17 for a double: "%.9g" and
 *    "%.17g" always read back), keeping the remainder exactly;
 *  - the P-digit rounding of v (what printf prints, ties to even on the
 *    exact binary value) is s rounded at digit P using that remainder;
 *  - it reads back when its distance to v is below half the gap to the
 *    neighbouring value on its side (equal: when c is even, ties to even);
 *    a float read as strtod then (float) also reads back to v when the
 *    decimal is so near the midpoint that strtod lands on it exactly
 *    (double rounding), then ties to even decide.
 *
 * All of it is integer arithmetic on exact values. Floats between 1e-19
 * and 1e9 (every weight spz meets) fit in 128-bit integers; everything
 * else, doubles included, goes through a small big-integer version of the
 * same steps. tests/unit/test_json_numtext.c checks both against the
 * old trial printing; tests/bench/numtext_all.c checks all 2^32 floats.
 */
#include "spz.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef unsigned __int128 u128;

/* The decimal chosen: digits (P of them, no trailing zero unless 0) and
 * the power of ten of the first one. */
typedef struct decimal {
	uint64_t digits;
	int p;
	int x;
} decimal;

static const uint64_t pow10_tab[20] = {
	1u, 10u, 100u, 1000u, 10000u, 100000u, 1000000u, 10000000u,
	100000000u, 1000000000u, 10000000000u, 100000000000u,
	1000000000000u, 10000000000000u, 100000000000000u,
	1000000000000000u, 10000000000000000u, 100000000000000000u,
	1000000000000000000u, 10000000000000000000u};

static const uint64_t pow5_tab[28] = {
	1u, 5u, 25u, 125u,
	625u, 3125u, 15625u, 78125u,
	390625u, 1953125u, 9765625u, 48828125u,
	244140625u, 1220703125u, 6103515625u, 30517578125u,
	152587890625u, 762939453125u, 3814697265625u, 19073486328125u,
	95367431640625u, 476837158203125u, 2384185791015625u,
	11920928955078125u, 59604644775390625u, 298023223876953125u,
	1490116119384765625u, 7450580596923828125u};

static int bitlen64(uint64_t x)
{
	return x ? 64 - __builtin_clzll(x) : 0;
}

/* floor(log10(2^l2)) for |l2| < 2000: 1233/4096 is log10(2) to 4 digits,
 * exact enough over that range. The caller corrects by one either way. */
static int log10_pow2(int l2)
{
	int t = l2 * 1233;
	return t >= 0 ? t / 4096 : -((-t + 4095) / 4096);
}

/* ------------------------------------------------------------------ */
/* Big integers (only as big as a double's exact scaled value needs)   */

#define BIG_LIMBS 80 /* 2560 bits: 10^340 * 2^60 and 2^1076 * 10^17 fit */

typedef struct big {
	int n; /* limbs in use; w[n-1] != 0 unless n == 0 */
	uint32_t w[BIG_LIMBS];
} big;

static void big_set(big *b, uint64_t x)
{
	b->n = 0;
	while (x) {
		b->w[b->n++] = (uint32_t)x;
		x >>= 32;
	}
}

static void big_mul32(big *b, uint32_t m)
{
	uint64_t carry = 0;
	for (int i = 0; i < b->n; i++) {
		uint64_t t = (uint64_t)b->w[i] * m + carry;
		b->w[i] = (uint32_t)t;
		carry = t >> 32;
	}
	if (carry)
		b->w[b->n++] = (uint32_t)carry;
	if (!m)
		b->n = 0;
}

static void big_mul_pow10(big *b, int n)
{
	for (; n >= 9; n -= 9)
		big_mul32(b, 1000000000u);
	if (n)
		big_mul32(b, (uint32_t)pow10_tab[n]);
}

static void big_shl(big *b, int s)
{
	if (!b->n || !s)
		return;
	int limbs = s / 32, bits = s % 32;
	if (bits) {
		uint32_t top = 0;
		int n = b->n;
		top = b->w[n - 1] >> (32 - bits);
		for (int i = n - 1; i > 0; i--)
			b->w[i] = b->w[i] << bits | b->w[i - 1] >> (32 - bits);
		b->w[0] <<= bits;
		if (top)
			b->w[b->n++] = top;
	}
	if (limbs) {
		memmove(b->w + limbs, b->w, (size_t)b->n * sizeof *b->w);
		memset(b->w, 0, (size_t)limbs * sizeof *b->w);
		b->n += limbs;
	}
}

static void big_shr1(big *b)
{
	for (int i = 0; i < b->n; i++)
		b->w[i] = b->w[i] >> 1 |
		          (i + 1 < b->n ? b->w[i + 1] << 31 : 0);
	if (b->n && !b->w[b->n - 1])
		b->n--;
}

static int big_cmp(const big *a, const big *b)
{
	if (a->n != b->n)
		return a->n < b->n ? -1 : 1;
	for (int i = a->n - 1; i >= 0; i--)
		if (a->w[i] != b->w[i])
			return a->w[i] < b->w[i] ? -1 : 1;
	return 0;
}

/* a -= b, a >= b */
static void big_sub(big *a, const big *b)
{
	int64_t borrow = 0;
	for (int i = 0; i < a->n; i++) {
		int64_t t = (int64_t)a->w[i] - (i < b->n ? b->w[i] : 0) - borrow;
		borrow = t < 0;
		a->w[i] = (uint32_t)(t + (borrow ? (int64_t)1 << 32 : 0));
	}
	while (a->n && !a->w[a->n - 1])
		a->n--;
}

static void big_add(big *a, const big *b)
{
	uint64_t carry = 0;
	int n = a->n > b->n ? a->n : b->n;
	for (int i = 0; i < n; i++) {
		uint64_t t = (uint64_t)(i < a->n ? a->w[i] : 0) +
		             (i < b->n ? b->w[i] : 0) + carry;
		a->w[i] = (uint32_t)t;
		carry = t >> 32;
	}
	a->n = n;
	if (carry)
		a->w[a->n++] = (uint32_t)carry;
}

/* out = a * x */
static void big_mul64(big *out, const big *a, uint64_t x)
{
	big hi = *a;
	*out = *a;
	big_mul32(out, (uint32_t)x);
	big_mul32(&hi, (uint32_t)(x >> 32));
	big_shl(&hi, 32);
	big_add(out, &hi);
}

/* out = |a - b|; returns the sign of a - b */
static int big_absdiff(big *out, const big *a, const big *b)
{
	int c = big_cmp(a, b);
	*out = c >= 0 ? *a : *b;
	big_sub(out, c >= 0 ? b : a);
	return c;
}

/*
 * The exact version. v = c * 2^e (c > 0); asym: the gap below v is half
 * the gap above (v is a power of two above the smallest exponent); nd: 9
 * or 17; fl: read back as (float)strtod, else strtod. Scans P upwards as
 * the trial printing did, so the result is its definition.
 */
static void shortest_big(decimal *out, uint64_t c, int e, int asym, int nd,
                         int fl)
{
	int k = log10_pow2(bitlen64(c) - 1 + e) - (nd - 1);
	big K, D, M, R, T;
	uint64_t s;
	for (;;) {
		/* X = v / 10^k = M / D with M = 4cK, D = 4 * den. */
		big_set(&K, 1);
		big_set(&D, 4);
		if (e > 0)
			big_shl(&K, e);
		else
			big_shl(&D, -e);
		if (k < 0)
			big_mul_pow10(&K, -k);
		else
			big_mul_pow10(&D, k);
		big_mul64(&M, &K, 4 * c);
		/* s = floor(M / D) < 2^64 by binary long division. */
		R = M;
		T = D;
		big_shl(&T, 63);
		s = 0;
		for (int b = 63; b >= 0; b--) {
			if (big_cmp(&R, &T) >= 0) {
				big_sub(&R, &T);
				s |= (uint64_t)1 << b;
			}
			big_shr1(&T);
		}
		if (s >= pow10_tab[nd])
			k++;
		else if (s < pow10_tab[nd - 1])
			k--;
		else
			break;
	}
	/* R = M - s * D: the remainder at scale D. */
	big G2, Glo, A, B, CD, diff;
	G2 = K;
	big_shl(&G2, 1);
	Glo = asym ? K : G2;
	for (int p = 1; p <= nd; p++) {
		uint64_t pw = pow10_tab[nd - p], q = s / pw, rr = s - q * pw;
		/* Round at digit p: compare 2 (rr D + R) with pw D. */
		big_mul64(&A, &D, rr);
		big_add(&A, &R);
		big_shl(&A, 1);
		big_mul64(&B, &D, pw);
		int cmp = big_cmp(&A, &B);
		uint64_t dg = q + (cmp > 0 || (cmp == 0 && (q & 1)));
		big_mul64(&CD, &D, dg * pw);
		int side = big_absdiff(&diff, &CD, &M);
		int in;
		if (side == 0) {
			in = 1;
		} else {
			const big *g = side > 0 ? &G2 : &Glo;
			int gc = big_cmp(&diff, g);
			in = gc < 0 || (gc == 0 && !(c & 1));
			if (fl) {
				/* Near the midpoint m within half a double
				 * ulp of m: strtod returns m itself. */
				uint64_t mm = side > 0 ? 4 * c + 2
				            : asym ? 4 * c - 1 : 4 * c - 2;
				big z;
				big_absdiff(&z, &diff, g);
				big_shl(&z, 54 - bitlen64(mm));
				if (big_cmp(&z, &K) <= 0)
					in = !(c & 1);
			}
		}
		if (in) {
			out->digits = dg;
			out->p = p;
			out->x = k + nd - 1;
			return;
		}
	}
	/* P = nd always reads back; not reached. */
	out->digits = s;
	out->p = nd;
	out->x = k + nd - 1;
}

/*
 * The P scan of the fast version, in integers of type T: s (9 digits) and
 * the remainder R of X = M / D, D = 2^sh; G = twice K, half a gap. Scans P
 * downwards from 8 (with an even interval, if P digits read back so do
 * P + 1: the nearer rounding stays inside), two or three steps for most
 * floats. zmax: the largest |diff - G| whose 2^28-fold fits T.
 */
#define SCAN_P(T, zmax)                                                      \
	do {                                                                 \
		uint64_t q = s, rr = 0, pw = 1;                              \
		T G = (T)K << 1;                                             \
		/* 9 digits are within a sixth of the gap: inside. */        \
		best = 9;                                                    \
		d.digits = s + (2 * (T)R > D || (2 * (T)R == D && (s & 1))); \
		for (int p = 8; p >= 1; p--) {                               \
			rr += (q % 10) * pw;                                 \
			q /= 10;                                             \
			pw *= 10;                                            \
			T a = ((((T)rr << sh) + (T)R) << 1), b = (T)pw << sh; \
			uint64_t dg = q + (a > b || (a == b && (q & 1)));    \
			T cd = (T)(dg * pw) << sh;                           \
			int in = 1;                                          \
			if (cd != (T)M) {                                    \
				T diff = cd > (T)M ? cd - (T)M : (T)M - cd;  \
				in = diff < G || (diff == G && even);        \
				T z = diff > G ? diff - G : G - diff;        \
				/* 4c +- 2 has 26 bits here: half a double   \
				 * ulp of the midpoint is K 2^-28. */        \
				if (z <= (zmax) && (z << 28) <= (T)K)        \
					in = even;                           \
			}                                                    \
			if (!in)                                             \
				break;                                       \
			best = p;                                            \
			d.digits = dg;                                       \
		}                                                            \
	} while (0)

/*
 * The fast version for a float c * 2^e (c in [2^23, 2^24), not a power of
 * two's lopsided interval) between about 1e-19 and 1e9: the same steps in
 * 128-bit integers, or 64-bit ones for the usual weights (1e-5 .. 1e4).
 * Returns 0 when v is outside its range.
 */
static int shortest_f32_fast(decimal *out, uint32_t c, int e)
{
	int k = log10_pow2(23 + e) - 8;
	for (int tries = 0; tries < 3; tries++) {
		if (k > 0 || -k > 27)
			return 0;
		int kk = -k, p2 = e + kk;
		/* X = c 5^kk 2^p2 = M / D; K: a quarter of the gap. */
		u128 K = pow5_tab[kk], M, D;
		int sh;
		if (p2 > 2) {
			K <<= p2 - 2;
			sh = 0;
		} else {
			sh = 2 - p2;
		}
		M = K * (4 * (u128)c);
		D = (u128)1 << sh;
		u128 sq = M >> sh, R = M & (D - 1);
		if (sq >= pow10_tab[9]) {
			k++;
			continue;
		}
		if (sq < pow10_tab[8]) {
			k--;
			continue;
		}
		uint64_t s = (uint64_t)sq;
		int even = !(c & 1), best = 0;
		decimal d = {0, 0, k + 8};
		/* 64 bits hold it all when M < 2^62 and pw 2^sh < 2^57. */
		if (!(M >> 62) && sh <= 30)
			SCAN_P(uint64_t, (uint64_t)1 << 35);
		else
			SCAN_P(u128, (u128)1 << 98);
		if (!best)
			return 0;
		d.p = best;
		*out = d;
		return 1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Text in printf's %g style                                           */

/* "%.{P}g" of the decimal: digits as printed with precision p, trailing
 * zeros dropped, fixed notation when -4 <= x < p. Returns the length. */
static int put_decimal(char *buf, int neg, decimal d)
{
	/* A rounding up that carried (9.99 -> 10.0) adds a digit. */
	if (d.digits == pow10_tab[d.p]) {
		d.digits /= 10;
		d.x++;
	}
	int p = d.p;
	while (p > 1 && d.digits % 10 == 0) {
		d.digits /= 10;
		p--;
	}
	static const char pairs[201] =
		"00010203040506070809101112131415161718192021222324252627282930"
		"31323334353637383940414243444546474849505152535455565758596061"
		"62636465666768697071727374757677787980818283848586878889909192"
		"93949596979899";
	char dig[20];
	int i = p;
	for (; i >= 2; i -= 2) {
		memcpy(dig + i - 2, pairs + 2 * (d.digits % 100), 2);
		d.digits /= 100;
	}
	if (i)
		dig[0] = (char)('0' + d.digits);
	/* %g decides on the precision asked for, not on the digits left. */
	int prec = d.p, x = d.x, n = 0;
	if (neg)
		buf[n++] = '-';
	if (x < -4 || x >= prec) {
		buf[n++] = dig[0];
		if (p > 1) {
			buf[n++] = '.';
			memcpy(buf + n, dig + 1, (size_t)p - 1);
			n += p - 1;
		}
		buf[n++] = 'e';
		buf[n++] = x < 0 ? '-' : '+';
		int ax = x < 0 ? -x : x;
		if (ax >= 100)
			buf[n++] = (char)('0' + ax / 100);
		buf[n++] = (char)('0' + ax / 10 % 10);
		buf[n++] = (char)('0' + ax % 10);
	} else if (x >= 0) {
		for (int i = 0; i <= x; i++)
			buf[n++] = i < p ? dig[i] : '0';
		if (p > x + 1) {
			buf[n++] = '.';
			memcpy(buf + n, dig + x + 1, (size_t)(p - x - 1));
			n += p - x - 1;
		}
	} else {
		buf[n++] = '0';
		buf[n++] = '.';
		for (int i = 0; i < -x - 1; i++)
			buf[n++] = '0';
		memcpy(buf + n, dig, (size_t)p);
		n += p;
	}
	buf[n] = 0;
	return n;
}

size_t spz_double_text(char buf[32], double v)
{
	uint64_t bits;
	memcpy(&bits, &v, sizeof bits);
	int neg = (int)(bits >> 63), ex = (int)(bits >> 52 & 0x7ff);
	uint64_t mant = bits & (((uint64_t)1 << 52) - 1);
	if (ex == 0x7ff) {
		/* What printf says for NaN and the infinities. */
		return (size_t)snprintf(buf, 32, "%.17g", v);
	}
	if (!ex && !mant) {
		strcpy(buf, neg ? "-0" : "0");
		return (size_t)(1 + neg);
	}
	decimal d;
	if (ex)
		shortest_big(&d, mant | (uint64_t)1 << 52, ex - 1075,
		             !mant && ex > 1, 17, 0);
	else
		shortest_big(&d, mant, -1074, 0, 17, 0);
	return (size_t)put_decimal(buf, neg, d);
}

char *spz_format_double(char buf[32], double v)
{
	spz_double_text(buf, v);
	return buf;
}

size_t spz_float_text(char buf[32], float v)
{
	uint32_t bits;
	memcpy(&bits, &v, sizeof bits);
	int neg = (int)(bits >> 31), ex = (int)(bits >> 23 & 0xff);
	uint32_t mant = bits & 0x7fffff;
	if (ex == 0xff) {
		return (size_t)snprintf(buf, 32, "%.17g", (double)v);
	}
	if (!ex && !mant) {
		strcpy(buf, neg ? "-0" : "0");
		return (size_t)(1 + neg);
	}
	decimal d;
	if (ex && mant && shortest_f32_fast(&d, mant | 1u << 23, ex - 150))
		return (size_t)put_decimal(buf, neg, d);
	if (ex)
		shortest_big(&d, mant | 1u << 23, ex - 150, !mant && ex > 1, 9,
		             1);
	else
		shortest_big(&d, mant, -149, 0, 9, 1);
	return (size_t)put_decimal(buf, neg, d);
}

char *spz_format_float(char buf[32], float v)
{
	spz_float_text(buf, v);
	return buf;
}
