/*
 * crc32.c - CRC32 (zlib's polynomial, reflected) at memory speed.
 *
 * zlib's table-driven crc32 runs at ~7 GB/s here, which made the CRC the
 * largest single cost of reading and writing a .spzm. On x86-64 CPUs with
 * carry-less multiplication this folds the data 128 bits at a time
 * (PCLMULQDQ, or VPCLMULQDQ on 512-bit registers when the CPU has it), the
 * method of Gopal et al., "Fast CRC Computation for Generic Polynomials
 * Using PCLMULQDQ Instruction" (Intel, 2009). Instead of their Barrett
 * reduction, the last 16 folded bytes and the tail go through zlib: the
 * folded value is congruent to the data it replaces, so zlib finishes the
 * same CRC. Any other CPU uses zlib throughout.
 *
 * The math, in the reflected bit order of this CRC: a 16-byte lane loaded
 * little-endian holds coefficient x^(127-i) in bit i, so its low 64 bits H
 * are the high-degree half and its high 64 bits G the low-degree half.
 * Moving the lane D bits further down the message multiplies it by x^D:
 *   L * x^D = H * x^(D+64) + G * x^D  (mod P),
 * and a carry-less multiply of two reflected words yields the product
 * shifted by one bit, so the constants are x^(D+63) mod P (for H) and
 * x^(D-1) mod P (for G), reflected into the top 32 bits of a 64-bit word.
 * The 96-bit products are XORed into the lane D bits later.
 */
#include "spz_format.h"

#include <zlib.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SPZ_CRC_CLMUL 1
#include <immintrin.h>
#endif

#ifdef SPZ_CRC_CLMUL

/* {x^(D+63) mod P, x^(D-1) mod P}, reflected, for D = 128, 512, 2048 bits
 * (made by repeated multiplication by x modulo 0x104C11DB7). */
#define K128_H 0x65673b4600000000ULL
#define K128_G 0x9ba54c6f00000000ULL
#define K512_H 0x653d982200000000ULL
#define K512_G 0xcad38e8f00000000ULL
#define K2048_H 0x7cc8e1e700000000ULL
#define K2048_G 0x03f9f86300000000ULL

/* Finishes with zlib: crc of (the 16 folded bytes, then the tail). The
 * initial value was already XORed into the data, hence ~0 here and no
 * final inversion (zlib's pre- and post-inversions cancel out). */
static uint32_t finish(__m128i v, const unsigned char *tail, size_t n)
{
	unsigned char b[16];
	_mm_storeu_si128((__m128i *)b, v);
	uLong c = crc32_z(0xffffffffUL, b, 16);
	return (uint32_t)crc32_z(c, tail, n);
}

__attribute__((target("pclmul,sse4.1")))
static __m128i fold128(__m128i v, __m128i k)
{
	return _mm_xor_si128(_mm_clmulepi64_si128(v, k, 0x00),
	                     _mm_clmulepi64_si128(v, k, 0x11));
}

/* Folds 16-byte blocks into v while at least 16 bytes remain. */
__attribute__((target("pclmul,sse4.1")))
static __m128i fold_rest(__m128i v, const unsigned char **p, size_t *n)
{
	const __m128i k = _mm_set_epi64x((long long)K128_G, (long long)K128_H);
	while (*n >= 16) {
		v = _mm_xor_si128(fold128(v, k),
		                  _mm_loadu_si128((const __m128i *)*p));
		*p += 16;
		*n -= 16;
	}
	return v;
}

/* n >= 64: four 128-bit accumulators, 64 bytes per step. */
__attribute__((target("pclmul,sse4.1")))
static uint32_t crc_clmul(uint32_t crc, const unsigned char *p, size_t n)
{
	const __m128i k512 = _mm_set_epi64x((long long)K512_G,
	                                    (long long)K512_H);
	const __m128i k128 = _mm_set_epi64x((long long)K128_G,
	                                    (long long)K128_H);
	const __m128i *q = (const __m128i *)p;
	__m128i a = _mm_xor_si128(_mm_loadu_si128(q),
	                          _mm_cvtsi32_si128((int)~crc));
	__m128i b = _mm_loadu_si128(q + 1), c = _mm_loadu_si128(q + 2),
	        d = _mm_loadu_si128(q + 3);
	p += 64;
	n -= 64;
	while (n >= 64) {
		q = (const __m128i *)p;
		a = _mm_xor_si128(fold128(a, k512), _mm_loadu_si128(q));
		b = _mm_xor_si128(fold128(b, k512), _mm_loadu_si128(q + 1));
		c = _mm_xor_si128(fold128(c, k512), _mm_loadu_si128(q + 2));
		d = _mm_xor_si128(fold128(d, k512), _mm_loadu_si128(q + 3));
		p += 64;
		n -= 64;
	}
	b = _mm_xor_si128(b, fold128(a, k128));
	c = _mm_xor_si128(c, fold128(b, k128));
	d = _mm_xor_si128(d, fold128(c, k128));
	d = fold_rest(d, &p, &n);
	return finish(d, p, n);
}

#define AVX512 "avx512f,avx512vl,avx512bw,vpclmulqdq,pclmul,sse4.1"

__attribute__((target(AVX512)))
static __m512i fold512(__m512i v, __m512i k)
{
	return _mm512_xor_si512(_mm512_clmulepi64_epi128(v, k, 0x00),
	                        _mm512_clmulepi64_epi128(v, k, 0x11));
}

/* n >= 256: four 512-bit accumulators (16 lanes), 256 bytes per step. */
__attribute__((target(AVX512)))
static uint32_t crc_vclmul(uint32_t crc, const unsigned char *p, size_t n)
{
	const __m512i k2048 = _mm512_broadcast_i32x4(
		_mm_set_epi64x((long long)K2048_G, (long long)K2048_H));
	const __m512i k512 = _mm512_broadcast_i32x4(
		_mm_set_epi64x((long long)K512_G, (long long)K512_H));
	const __m128i k128 = _mm_set_epi64x((long long)K128_G,
	                                    (long long)K128_H);
	__m512i a = _mm512_xor_si512(_mm512_loadu_si512(p),
	                             _mm512_castsi128_si512(
	                                     _mm_cvtsi32_si128((int)~crc)));
	__m512i b = _mm512_loadu_si512(p + 64), c = _mm512_loadu_si512(p + 128),
	        d = _mm512_loadu_si512(p + 192);
	p += 256;
	n -= 256;
	while (n >= 256) {
		a = _mm512_xor_si512(fold512(a, k2048), _mm512_loadu_si512(p));
		b = _mm512_xor_si512(fold512(b, k2048),
		                     _mm512_loadu_si512(p + 64));
		c = _mm512_xor_si512(fold512(c, k2048),
		                     _mm512_loadu_si512(p + 128));
		d = _mm512_xor_si512(fold512(d, k2048),
		                     _mm512_loadu_si512(p + 192));
		p += 256;
		n -= 256;
	}
	b = _mm512_xor_si512(b, fold512(a, k512));
	c = _mm512_xor_si512(c, fold512(b, k512));
	d = _mm512_xor_si512(d, fold512(c, k512));
	/* The four lanes of d are consecutive 16-byte blocks. */
	__m128i v = _mm512_extracti32x4_epi32(d, 0);
	v = _mm_xor_si128(fold128(v, k128), _mm512_extracti32x4_epi32(d, 1));
	v = _mm_xor_si128(fold128(v, k128), _mm512_extracti32x4_epi32(d, 2));
	v = _mm_xor_si128(fold128(v, k128), _mm512_extracti32x4_epi32(d, 3));
	v = fold_rest(v, &p, &n);
	return finish(v, p, n);
}

#endif

uint32_t spz_crc32(uint32_t crc, const void *buf, size_t n)
{
#ifdef SPZ_CRC_CLMUL
	/* __builtin_cpu_supports reads libgcc's CPU model, set up once by a
	 * constructor before main. */
	if (n >= 256 && __builtin_cpu_supports("avx512vl") &&
	    __builtin_cpu_supports("avx512bw") &&
	    __builtin_cpu_supports("vpclmulqdq"))
		return crc_vclmul(crc, buf, n);
	if (n >= 64 && __builtin_cpu_supports("pclmul") &&
	    __builtin_cpu_supports("sse4.1"))
		return crc_clmul(crc, buf, n);
#endif
	return (uint32_t)crc32_z(crc, buf, n);
}

uint32_t spz_crc32_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b)
{
	return (uint32_t)crc32_combine(crc_a, crc_b, (z_off_t)len_b);
}

int spz_crc_mismatch(uint32_t stored, uint32_t computed)
{
#ifdef SPZ_FUZZ_NO_CRC
	(void)stored;
	(void)computed;
	return 0;
#else
	return stored != computed;
#endif
}
