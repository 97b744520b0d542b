/*
 * spzm.c - the binary model format (.spzm): header, JSON manifest, then the
 * tensor payloads 64-byte aligned, each with its CRC32. Read as a stream,
 * so it works from a pipe and each payload lands straight in its tensor.
 * Also the load/save entry points that pick JSON or binary.
 */
#define _GNU_SOURCE /* fallocate */
#include "model_io.h"
#include "big_alloc.h"
#include "finite.h"

#include "json_strict.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h> /* SSE2; AVX-512 where the CPU has it */
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994 /* linux/magic.h */
#endif

#define HEADER_SIZE 32
/* Payloads are read, checksummed and checked in pieces of this size, so
 * that the CRC and the value check find the bytes still in the L2 cache
 * that read() just filled: one trip through memory instead of three. */
#define CHUNK ((size_t)256 << 10)
/* A manifest larger than this is not one spz wrote: refuse before malloc. */
#define MANIFEST_MAX (UINT64_C(1) << 30)

static int host_is_big_endian(void)
{
	const uint16_t one = 1;
	return *(const uint8_t *)&one == 0;
}

void spz_le32_to_host(void *words, size_t n)
{
	if (!host_is_big_endian())
		return;
	uint8_t *b = words;
	for (size_t i = 0; i < n; i++, b += 4) {
		uint8_t t0 = b[0], t1 = b[1];
		b[0] = b[3];
		b[1] = b[2];
		b[2] = t1;
		b[3] = t0;
	}
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static uint64_t align_up(uint64_t x)
{
	return (x + SPZ_SPZM_ALIGN - 1) & ~(uint64_t)(SPZ_SPZM_ALIGN - 1);
}

/* Bytes of a tensor's payload: float32 data, or codes packed at bits each. */
static uint64_t payload_bytes(const spz_tensor *t)
{
	uint64_t n = (uint64_t)spz_tensor_elements(t);
	if (!spz_dtype_is_float(t->dtype))
		return t->raw_len; /* carried bytes (version 2) */
	return t->codebook ? (n * (uint64_t)t->bits + 7) / 8 : n * 4;
}

/* Codes packed LSB-first, `bits` bits each, into a new buffer. */
static uint8_t *pack_codes(const spz_tensor *t, uint64_t bytes)
{
	uint8_t *p = calloc(bytes + 1, 1);
	if (!p)
		return NULL;
	uint64_t n = (uint64_t)spz_tensor_elements(t), bit = 0;
	for (uint64_t i = 0; i < n; i++, bit += (uint64_t)t->bits) {
		unsigned v = (unsigned)t->codes[i] << (bit & 7);
		p[bit >> 3] |= (uint8_t)v;
		p[(bit >> 3) + 1] |= (uint8_t)(v >> 8);
	}
	return p;
}

/*
 * n codes of bits bits each, packed LSB-first at p (ceil(n * bits / 8)
 * bytes), one a byte into out. 8- and 4-bit codes (the usual ones) go a
 * byte at a time, which compilers vectorize; others bit by bit.
 */
static void unpack_bits(uint8_t *out, const uint8_t *p, uint64_t n, int bits)
{
	uint64_t i = 0, bytes = (n * (uint64_t)bits + 7) / 8;
	if (bits == 8) {
		memcpy(out, p, (size_t)n);
		return;
	}
	if (bits == 4)
		for (; i + 2 <= n; i += 2) {
			out[i] = p[i / 2] & 15;
			out[i + 1] = p[i / 2] >> 4;
		}
	unsigned mask = (1u << bits) - 1;
	for (uint64_t bit = i * (uint64_t)bits; i < n;
	     i++, bit += (uint64_t)bits) {
		unsigned v = p[bit >> 3];
		if ((bit >> 3) + 1 < bytes)
			v |= (unsigned)p[(bit >> 3) + 1] << 8;
		out[i] = (uint8_t)((v >> (bit & 7)) & mask);
	}
}

/* The first of codes c[0, n) that is below lo (1: a stored code may not
 * be 0) or outside a codebook of size; n when there is none. Blocks of
 * 64 are tallied 16 at a time without a branch; only a bad one is
 * walked. */
static uint64_t first_bad_code(const uint8_t *c, uint64_t n, unsigned lo,
                               uint32_t size)
{
	/* c - lo wraps below lo: one unsigned compare for both bounds. */
	unsigned span = size > lo ? size - lo : 0;
	uint64_t i = 0;
#if defined(__GNUC__)
	typedef uint8_t u8x16 __attribute__((vector_size(16)));
	if (span <= 255) {
		u8x16 vlo, vtop;
		for (int q = 0; q < 16; q++) {
			vlo[q] = (uint8_t)lo;
			vtop[q] = (uint8_t)span; /* c - lo >= span: bad */
		}
		for (; i + 64 <= n; i += 64) {
			u8x16 bad = {0};
			for (int q = 0; q < 64; q += 16) {
				u8x16 x;
				memcpy(&x, c + i + q, 16);
				bad |= (u8x16)((u8x16)(x - vlo) >= vtop);
			}
			uint64_t w[2];
			memcpy(w, &bad, 16);
			if (w[0] | w[1])
				break;
		}
	}
#endif
	for (; i < n; i++)
		if ((unsigned)(uint8_t)(c[i] - lo) >= span)
			return i;
	return n;
}

/* Fails on a code outside the codebook. */
static int unpack_codes(spz_tensor *t, const uint8_t *p, const char *label,
                        spz_error *err)
{
	uint64_t n = (uint64_t)spz_tensor_elements(t);
	unpack_bits(t->codes, p, n, t->bits);
	uint64_t i = first_bad_code(t->codes, n, 0, t->codebook_size);
	if (i < n)
		return spz_fail(err, SPZ_ERANGE, "'%s': tensor '%s': code %u "
		                "at index %llu is outside the codebook of %u",
		                label, t->name, t->codes[i],
		                (unsigned long long)i, t->codebook_size);
	return 0;
}

/* ------------------------------------------------------------------ */
/* The bitmask encoding (formats/README.md, "Sparse payloads")         */

/* Bytes of the mask of n elements: whole little-endian 64-bit words, so
 * that the values after it start 8-byte aligned in the file. */
static uint64_t mask_bytes(uint64_t n)
{
	return (n + 63) / 64 * 8;
}

/* File offset of sparse-form t's values when its section s lies in a
 * data area starting at data: past its mask. */
static uint64_t values_offset(uint64_t data, const spz_section *s,
                              const spz_tensor *t)
{
	return data + s->offset + mask_bytes((uint64_t)spz_tensor_elements(t));
}

/* Bytes of a bitmask payload holding nnz non-zeros of t. */
static uint64_t sparse_bytes(const spz_tensor *t, uint64_t nnz)
{
	uint64_t n = (uint64_t)spz_tensor_elements(t);
	return mask_bytes(n) + (t->codebook ? (nnz * (uint64_t)t->bits + 7) / 8
	                                    : nnz * 4);
}

static inline uint32_t bits_of(const float *p)
{
	uint32_t u;
	memcpy(&u, p, sizeof u);
	return u;
}

/* Elements of a block counted at once before the decision is looked at. */
#define COUNT_BLOCK 65536

/*
 * Whether t is smaller as a bitmask payload; *bound then holds at least
 * its non-zero count (exact when the whole tensor was counted). Counting
 * stops as soon as the answer is known: a pruned tensor shows enough
 * zeros within its first few per cent (1/32 of the elements must be zero
 * for floats), so only a dense one is read through.
 */
static int sparse_pays(const spz_tensor *t, uint64_t *bound)
{
	uint64_t n = (uint64_t)spz_tensor_elements(t);
	if (!spz_dtype_is_float(t->dtype) || n == 0)
		return 0;
	uint64_t dense = payload_bytes(t), nz = 0;
	for (uint64_t i = 0; i < n;) {
		uint64_t end = n - i > COUNT_BLOCK ? i + COUNT_BLOCK : n;
		uint64_t c = 0;
		if (t->codebook)
			for (uint64_t k = i; k < end; k++)
				c += t->codes[k] != 0;
		else
			for (uint64_t k = i; k < end; k++)
				c += bits_of(t->data + k) != 0;
		nz += c;
		i = end;
		if (sparse_bytes(t, nz) >= dense)
			return 0;
		if (sparse_bytes(t, nz + (n - i)) < dense) {
			*bound = nz + (n - i);
			return 1;
		}
	}
	return 0; /* not reached: the last block decides */
}

/* Set bits of a mask word: a few operations, where __builtin_popcountll
 * without -mpopcnt is a library call per word. */
static inline unsigned popcount64(uint64_t x)
{
	x = x - ((x >> 1) & UINT64_C(0x5555555555555555));
	x = (x & UINT64_C(0x3333333333333333)) +
	    ((x >> 2) & UINT64_C(0x3333333333333333));
	x = (x + (x >> 4)) & UINT64_C(0x0f0f0f0f0f0f0f0f);
	return (unsigned)((x * UINT64_C(0x0101010101010101)) >> 56);
}

/* Values gathered before being checksummed or written: small enough to
 * stay in the L1/L2 cache, so that a bitmask payload of floats is never
 * built whole in fresh memory (which, page faults and clearing counted,
 * costs more than encoding twice). */
#define VALUE_CHUNK ((size_t)256 << 10)

/* The mask word of cnt <= 64 floats at d (bit b: d[b] is not +0.0);
 * *bad gets a non-zero bit when one of them is a NaN or infinity. Four
 * at a time with SSE2 (a compare and a movemask), else one by one. */
static inline uint64_t mask_word(const float *d, unsigned cnt, uint32_t *bad)
{
	uint64_t m = 0;
	unsigned b = 0;
#ifdef __SSE2__
	const __m128i zero = _mm_setzero_si128();
	const __m128i expo = _mm_set1_epi32(0x7f800000);
	__m128i acc = zero;
	for (; b + 4 <= cnt; b += 4) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(d + b));
		unsigned z = (unsigned)_mm_movemask_ps(
			_mm_castsi128_ps(_mm_cmpeq_epi32(x, zero)));
		m |= (uint64_t)(~z & 15u) << b;
		acc = _mm_or_si128(acc, _mm_cmpeq_epi32(_mm_and_si128(x, expo),
		                                        expo));
	}
	*bad |= (uint32_t)_mm_movemask_epi8(acc);
#endif
	for (; b < cnt; b++) {
		uint32_t u = bits_of(d + b);
		m |= (uint64_t)(u != 0) << b;
		*bad |= (u & 0x7f800000u) == 0x7f800000u;
	}
	return m;
}

/*
 * Appends the floats of d that mask word m selects (cnt <= 64 of them
 * there) to out; returns the bytes appended. A 2:4 layer has 19 million
 * of them, and gathering them one bit at a time costs more than writing
 * the dense tensor did: with AVX-512 (when the CPU has it; whole words
 * only, so that no load passes the tensor's end) a compressing store
 * takes sixteen at once.
 */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SPZ_GATHER_AVX512 1
__attribute__((target("avx512f")))
static size_t gather_avx512(uint8_t *out, const float *d, uint64_t m)
{
	size_t fill = 0;
	for (int q = 0; q < 4; q++) {
		__mmask16 k = (__mmask16)(m >> (16 * q));
		__m512i x = _mm512_loadu_si512((const void *)(d + 16 * q));
		_mm512_mask_compressstoreu_epi32(out + fill, k, x);
		fill += 4 * (size_t)popcount64(k);
	}
	return fill;
}
#endif

static int can_avx512(void)
{
#ifdef SPZ_GATHER_AVX512
	return __builtin_cpu_supports("avx512f");
#else
	return 0;
#endif
}

static inline size_t gather_word(uint8_t *out, const float *d, uint64_t m,
                                 unsigned cnt, int avx512)
{
#ifdef SPZ_GATHER_AVX512
	if (avx512 && cnt == 64)
		return gather_avx512(out, d, m);
#else
	(void)avx512;
	(void)cnt;
#endif
	size_t fill = 0;
	for (; m; m &= m - 1) {
		memcpy(out + fill, d + __builtin_ctzll(m), 4);
		fill += 4;
	}
	return fill;
}

/*
 * The mask of float tensor t (a new buffer of mask_bytes(n) bytes, its
 * words little-endian), its non-zero count and the CRC of the whole
 * payload, mask then values. The values are only gathered a piece at a
 * time for their CRC; write_values gathers them again to write them. A
 * NaN or infinity fails with the message spz_tensor_check_values gives.
 */
static int float_mask(uint8_t **out, uint64_t *nnz_out, uint32_t *crc,
                      const spz_tensor *t, spz_error *err)
{
	uint64_t n = (uint64_t)spz_tensor_elements(t), mb = mask_bytes(n);
	uint8_t *mask = malloc((size_t)mb + 1);
	uint8_t *v = malloc(VALUE_CHUNK + 64 * 4);
	if (!mask || !v) {
		free(mask);
		free(v);
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	}
	uint64_t nnz = 0;
	size_t fill = 0;
	uint32_t bad = 0, cv = 0;
	int avx512 = can_avx512();
	for (uint64_t w = 0; w * 64 < n; w++) {
		uint64_t base = w * 64;
		unsigned cnt = n - base < 64 ? (unsigned)(n - base) : 64;
		const float *d = t->data + base;
		uint64_t m = mask_word(d, cnt, &bad);
		/* The values by the mask: the work follows the non-zeros. */
		fill += gather_word(v + fill, d, m, cnt, avx512);
		nnz += popcount64(m);
		put_le64(mask + 8 * w, m);
		if (fill >= VALUE_CHUNK || (w + 1) * 64 >= n) {
			cv = spz_crc32(cv, v, fill);
			fill = 0;
		}
	}
	free(v);
	int rc = bad ? spz_tensor_check_values(t, 0, (int64_t)n, err) : 0;
	if (rc) {
		free(mask);
		return rc;
	}
	*crc = spz_crc32_combine(spz_crc32(0, mask, (size_t)mb), cv, 4 * nnz);
	*out = mask;
	*nnz_out = nnz;
	return 0;
}

/* The values part of float tensor t's bitmask payload, gathered by its
 * mask a piece at a time and written in pieces large enough that stdio
 * passes them straight to write() (4 KiB ones cost a system call each:
 * 20,000 for a 2:4 layer). Out of memory: 0 values written, so that the
 * stream's error flag is set by the short write that follows. */
static int write_values(FILE *f, const spz_tensor *t, const uint8_t *mask,
                        spz_error *err)
{
	uint64_t n = (uint64_t)spz_tensor_elements(t);
	uint8_t *buf = malloc(VALUE_CHUNK + 64 * 4);
	if (!buf)
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	size_t fill = 0;
	int avx512 = can_avx512();
	for (uint64_t w = 0; w * 64 < n; w++) {
		const float *d = t->data + w * 64;
		unsigned cnt = n - w * 64 < 64 ? (unsigned)(n - w * 64) : 64;
		fill += gather_word(buf + fill, d, get_le64(mask + 8 * w), cnt,
		                    avx512);
		if (fill >= VALUE_CHUNK) {
			fwrite(buf, 1, fill, f);
			fill = 0;
		}
	}
	fwrite(buf, 1, fill, f);
	free(buf);
	return 0;
}

/* Builds quantized t's bitmask payload into a new buffer (*out, *len)
 * whose codes part has room for bound non-zero codes. */
static int build_sparse_codes(uint8_t **out, uint64_t *len,
                              const spz_tensor *t, uint64_t bound,
                              spz_error *err)
{
	uint64_t n = (uint64_t)spz_tensor_elements(t), mb = mask_bytes(n);
	uint64_t cap = sparse_bytes(t, bound);
	/* +8: the packer writes a byte ahead. */
	uint8_t *p = spz_alloc_fresh((size_t)cap + 8);
	if (!p)
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	uint64_t bit = 0;
	memset(p + mb, 0, (size_t)(cap - mb) + 8);
	for (uint64_t w = 0; w * 64 < n; w++) {
		uint64_t base = w * 64, m = 0;
		unsigned cnt = n - base < 64 ? (unsigned)(n - base) : 64;
		const uint8_t *c = t->codes + base;
		for (unsigned b = 0; b < cnt; b++) {
			if (!c[b])
				continue;
			m |= (uint64_t)1 << b;
			unsigned v = (unsigned)c[b] << (bit & 7);
			p[mb + (bit >> 3)] |= (uint8_t)v;
			p[mb + (bit >> 3) + 1] |= (uint8_t)(v >> 8);
			bit += (uint64_t)t->bits;
		}
		put_le64(p + 8 * w, m);
	}
	*out = p;
	*len = mb + (bit + 7) / 8;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Tensors in the sparse form (spz_tensor.mask)                        */

/* Whether sparse-form t goes out as a bitmask payload: exactly when the
 * dense tensor it stands for would (sparse_pays on its exact count). */
static int sparse_form_pays(const spz_tensor *t)
{
	uint64_t n = (uint64_t)spz_tensor_elements(t);
	return spz_dtype_is_float(t->dtype) && n > 0 &&
	       sparse_bytes(t, (uint64_t)t->nnz) < payload_bytes(t);
}

/* Element index of sparse-form t's j-th stored value. */
static int64_t stored_index(const spz_tensor *t, int64_t j)
{
	uint64_t n = (uint64_t)spz_tensor_elements(t);
	for (uint64_t w = 0; w * 64 < n; w++) {
		uint64_t m = t->mask[w];
		int64_t c = (int64_t)popcount64(m);
		if (j >= c) {
			j -= c;
			continue;
		}
		for (; j > 0; j--)
			m &= m - 1;
		return (int64_t)(w * 64 + (uint64_t)__builtin_ctzll(m));
	}
	return -1;
}

/* The value check of sparse-form t, with spz_tensor_check_values's
 * message (the stored zeros are all finite). */
static int check_sparse_values(const spz_tensor *t, spz_error *err)
{
	if (t->src)
		return 0; /* deferred: checked where they are (placer_put) */
	if (!t->codebook) {
		/* The message names the element, not the stored value. */
		int64_t j = spz_first_nonfinite(t->nz, t->nnz);
		return j < 0 ? 0
		       : spz_check_floats(t->name, t->nz + j,
		                          stored_index(t, j), 1, err);
	}
	for (int64_t j = 0; j < t->nnz; j++)
		if (t->nz_codes[j] >= t->codebook_size)
			return spz_fail(err, SPZ_ERANGE, "tensor '%s': code %u at "
			                "index %lld is outside the codebook of %u",
			                t->name, t->nz_codes[j],
			                (long long)stored_index(t, j),
			                t->codebook_size);
	return 0;
}

/* The value check of any tensor a writer holds, in the sparse form or
 * not. */
static int check_any(const spz_tensor *t, spz_error *err)
{
	return t->mask ? check_sparse_values(t, err)
	       : spz_tensor_check_values(t, 0, spz_tensor_elements(t), err);
}

/*
 * A deferred dense payload (spz_input.defer_values), or values put in
 * place (spz_spzm_placer_new): the values stay in the file and are read
 * on demand by pread into the consumer's buffer. A pass in order from
 * element 0 keeps a running CRC and value check; the read that completes
 * it fails on a CRC mismatch (the better message on a corrupt file),
 * then on a NaN or infinity, as read_payload does.
 */
typedef struct deferred {
	int fd;
	uint64_t off;      /* of the payload in the file */
	int64_t n;         /* elements */
	uint32_t crc_want;
	spz_part pass;     /* read's pass in order (next: what it reads next) */
	char *label, *name;
} deferred;

/* Sparse-form float t's bitmask payload CRC: its mask words (the host
 * is little-endian: write_spzm refuses the other), then its values (of
 * values put in place: the CRC their pass kept, values_in). */
static uint32_t sparse_float_crc(const spz_tensor *t)
{
	uint64_t mb = mask_bytes((uint64_t)spz_tensor_elements(t));
	uint32_t cm = spz_crc32(0, t->mask, (size_t)mb);
	uint32_t cv = t->src ? ((const deferred *)t->src->ctx)->crc_want
	                     : spz_crc32(0, t->nz, (size_t)t->nnz * 4);
	return spz_crc32_combine(cm, cv, (uint64_t)t->nnz * 4);
}

/* Sparse-form quantized t's bitmask payload in a new buffer: its mask,
 * then its codes packed at bits each. */
static int sparse_codes_payload(uint8_t **out, uint64_t *len,
                                const spz_tensor *t, spz_error *err)
{
	uint64_t n = (uint64_t)spz_tensor_elements(t), mb = mask_bytes(n);
	uint64_t bytes = sparse_bytes(t, (uint64_t)t->nnz);
	uint8_t *p = calloc((size_t)bytes + 8, 1);
	if (!p)
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	memcpy(p, t->mask, (size_t)mb);
	uint64_t bit = 0;
	for (int64_t j = 0; j < t->nnz; j++, bit += (uint64_t)t->bits) {
		unsigned v = (unsigned)t->nz_codes[j] << (bit & 7);
		p[mb + (bit >> 3)] |= (uint8_t)v;
		p[mb + (bit >> 3) + 1] |= (uint8_t)(v >> 8);
	}
	*out = p;
	*len = bytes;
	return 0;
}

/* Whether deferred tensor t's values are in f's own file (the deferred
 * source below, as spz_spzm_placer_new leaves them), *at then their
 * offset there. */
static int values_in(const spz_tensor *t, FILE *f, uint64_t *at);

/* Reads deferred sparse tensor t's values into new memory, which *bufs
 * takes, and makes t (a view's) hold them. */
static int fetch_values(spz_tensor *t, void **bufs, size_t *n_bufs,
                        spz_error *err)
{
	float *v = malloc(((size_t)t->nnz + 1) * sizeof *v);
	if (!v)
		return spz_fail(err, SPZ_ENOMEM, "out of memory for tensor '%s'",
		                t->name);
	bufs[(*n_bufs)++] = v;
	int rc = t->nnz ? t->src->read(t->src->ctx, 0, t->nnz, v, err) : 0;
	t->nz = v;
	t->src = NULL;
	return rc;
}

/*
 * A shallow copy of m for a writer: every sparse-form tensor that is not
 * written as a bitmask (all of them when keep_bitmask is 0: JSON, ONNX)
 * expanded into new storage, deferred values read first; *bufs (*n_bufs
 * of them) is what to free after. The rest is shared with m (deferred
 * values left where they are). view->tensors is new (free it).
 */
static int expanded_view(spz_model *view, void ***bufs, size_t *n_bufs,
                         const spz_model *m, int keep_bitmask,
                         spz_error *err)
{
	size_t nt = m->n_tensors;
	*view = *m;
	view->tensors = malloc((nt ? nt : 1) * sizeof *view->tensors);
	*bufs = calloc(2 * nt + 1, sizeof **bufs);
	*n_bufs = 0;
	if (!view->tensors || !*bufs) {
		free(view->tensors);
		free(*bufs);
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < nt; i++) {
		spz_tensor *t = &view->tensors[i];
		*t = m->tensors[i];
		if (!t->mask || (keep_bitmask && sparse_form_pays(t)))
			continue;
		size_t n = (size_t)spz_tensor_elements(t);
		int rc = t->src ? fetch_values(t, *bufs, n_bufs, err) : 0;
		void *buf = rc ? NULL
		          : calloc(n + 1, t->codebook ? 1 : sizeof(float));
		if (!buf) {
			for (size_t k = 0; k < *n_bufs; k++)
				free((*bufs)[k]);
			free(*bufs);
			free(view->tensors);
			return rc ? rc : spz_fail(err, SPZ_ENOMEM, "out of "
			                          "memory for tensor '%s'",
			                          t->name);
		}
		(*bufs)[(*n_bufs)++] = buf;
		spz_tensor_expand(buf, t);
		if (t->codebook)
			t->codes = buf;
		else
			t->data = buf;
		t->mask = NULL;
		t->nz = NULL;
		t->nz_codes = NULL;
		t->nnz = 0;
	}
	return 0;
}

static void view_free(spz_model *view, void **bufs, size_t n_bufs)
{
	for (size_t k = 0; k < n_bufs; k++)
		free(bufs[k]);
	free(bufs);
	free(view->tensors);
}

/* Whether m holds a tensor in the sparse form. */
static int has_sparse(const spz_model *m)
{
	for (size_t i = 0; i < m->n_tensors; i++)
		if (m->tensors[i].mask)
			return 1;
	return 0;
}

/*
 * Reserves the file's blocks up front when f is a regular file. On ext4
 * this replaces one delayed allocation per page with one extent (writing
 * 151 MB: ~19 ms instead of ~29 ms), and a preallocated file renamed over
 * an old one does not make the rename start writeback of it (another
 * ~50 ms). KEEP_SIZE: a failed write leaves no phantom length. A hint:
 * failure (a pipe, a file system without it) changes nothing.
 */
static void preallocate(FILE *f, uint64_t bytes)
{
#ifdef FALLOC_FL_KEEP_SIZE
	struct stat st;
	struct statfs sf;
	int fd = fileno(f);
	off_t pos = ftello(f);
	/* Not on tmpfs: there the blocks are memory pages, which fallocate
	 * clears only for the write to fill them again (80 MB of a 2:4
	 * layer: one more pass over fresh memory, the costliest kind). */
	if (bytes >= ((uint64_t)1 << 20) && fd >= 0 && pos >= 0 &&
	    fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    fstatfs(fd, &sf) == 0 && sf.f_type != TMPFS_MAGIC)
		(void)fallocate(fd, FALLOC_FL_KEEP_SIZE, pos, (off_t)bytes);
#else
	(void)f;
	(void)bytes;
#endif
}

/* CRC of a dense payload, checking its values piece by piece while each
 * piece is in cache: a model that could not be read back is not written. */
static int dense_crc(const spz_tensor *t, uint32_t *crc, spz_error *err)
{
	int64_t n = spz_tensor_elements(t);
	const int64_t step = (int64_t)(CHUNK / sizeof(float));
	uint32_t c = 0;
	for (int64_t i = 0; i < n; i += step) {
		int64_t k = n - i < step ? n - i : step;
		int rc = spz_tensor_check_values(t, i, k, err);
		if (rc)
			return rc;
		c = spz_crc32(c, t->data + i, (size_t)k * sizeof(float));
	}
	*crc = c;
	return 0;
}

/* Checks and CRCs tensor t (or its packed codes) for the manifest. */
static int section_crc(const spz_tensor *t, spz_section *sec,
                       uint8_t **packed, spz_error *err)
{
	if (*packed) /* checked as built */
		return 0;
	if (t->mask) {
		int rc = check_sparse_values(t, err);
		if (!rc)
			sec->crc = sparse_float_crc(t);
		return rc;
	}
	if (!t->data && !t->codebook) {
		sec->crc = spz_crc32(0, t->raw, (size_t)t->raw_len);
		return 0;
	}
	if (!t->codebook)
		return dense_crc(t, &sec->crc, err);
	int rc = spz_tensor_check_values(t, 0, spz_tensor_elements(t), err);
	if (!rc && !(*packed = pack_codes(t, sec->length)))
		rc = spz_fail(err, SPZ_ENOMEM, "out of memory");
	if (!rc)
		sec->crc = spz_crc32(0, *packed, sec->length);
	return rc;
}

/* Header flag bit 0: some payload is not plain elements, which a reader
 * from before the encodings refuses by its flags check. */
#define FLAG_ENCODED 1u

static uint32_t head_flags(const spz_section *sec, size_t nt)
{
	for (size_t i = 0; i < nt; i++)
		if (sec[i].encoding != SPZ_ENC_DENSE)
			return FLAG_ENCODED;
	return 0;
}

/* Header, manifest and the padding up to the data area. */
static void write_head(FILE *f, const char *man, size_t man_len,
                       int version, uint32_t flags)
{
	static const uint8_t zeros[SPZ_SPZM_ALIGN];
	uint8_t h[HEADER_SIZE] = {0};
	memcpy(h, SPZ_SPZM_MAGIC, 8);
	put_le32(h + 8, (uint32_t)version);
	put_le32(h + 12, flags);
	put_le64(h + 16, man_len);
	put_le32(h + 24, spz_crc32(0, man, man_len));
	fwrite(h, 1, sizeof h, f);
	fwrite(man, 1, man_len, f);
	uint64_t pos = HEADER_SIZE + man_len;
	fwrite(zeros, 1, align_up(pos) - pos, f);
}

/*
 * Writing a big tensor takes two trips through memory: checking and
 * CRCing it, then write() copying it into the page cache (151 MB: ~7 ms
 * and ~18 ms). The CRC goes in the manifest, before the data; but when f
 * is a regular file that ends where f stands, the largest dense or
 * sparse-form float tensor is written first, a thread checking and
 * CRCing it while write() copies it, and the header and manifest last:
 * on a second core the check costs no time (saving a 2:4 layer's 80 MB:
 * 32-34 ms down to 25-28). The writes go in pieces of WRITE_PIECE that
 * end on its multiples in the file: fewer, larger writes cost less (80
 * MB to tmpfs took 26 ms in 256 KiB pieces, 16-20 ms in 1 MiB and 15-17
 * ms in 4 MiB ones; two threads writing halves, 21-26 ms).
 * Where the data area starts depends on the digits of that CRC (decimal
 * in the manifest): the payloads go where 10 digits put them, and in the
 * rare case fewer digits move the start, everything is written again. If
 * anything fails the file is cut back to where it ended, so nothing has
 * been written, as before.
 */
#define WRITE_PIECE ((uint64_t)4 << 20)

typedef struct stream {
	size_t big;       /* the tensor streamed, n_tensors for none */
	int fd;
	off_t base;       /* where the model starts in the file */
} stream;

/* Whether t's payload can be streamed: float elements in memory, dense
 * (packed: written as a bitmask, not streamed) or in the sparse form. */
static int streamable(const spz_tensor *t, const uint8_t *packed)
{
	return !packed && !t->codebook && (t->data || t->mask);
}

static stream pick_stream(FILE *f, const spz_model *m,
                          uint8_t *const *packed, const spz_section *sec)
{
	stream st = {.big = m->n_tensors, .fd = fileno(f), .base = -1};
	uint64_t most = (uint64_t)1 << 20;
	for (size_t i = 0; i < m->n_tensors; i++)
		if (streamable(&m->tensors[i], packed[i]) &&
		    sec[i].length >= most) {
			st.big = i;
			most = sec[i].length;
		}
	struct stat sb;
	int fl = st.fd >= 0 ? fcntl(st.fd, F_GETFL) : -1;
	if (st.big == m->n_tensors || fl < 0 || (fl & O_APPEND) ||
	    fflush(f) || (st.base = ftello(f)) < 0 || fstat(st.fd, &sb) ||
	    !S_ISREG(sb.st_mode) || sb.st_size != st.base)
		st.big = m->n_tensors;
	return st;
}

/* The check and CRC of a streamed tensor, on a thread of their own. */
typedef struct checker {
	const spz_tensor *t;
	spz_section sec;
	int rc;
	spz_error err;
} checker;

static void *checker_main(void *arg)
{
	checker *c = arg;
	uint8_t *none = NULL;
	c->rc = section_crc(c->t, &c->sec, &none, &c->err);
	return NULL;
}

/* Tensor t's payload (its bytes, or its mask and then its values) at
 * file offset at, checked and CRCed meanwhile (see struct stream),
 * telling wp (may be NULL) about every SPZ_WPROG_BYTES. The check's
 * verdict comes first: a bad value is reported as when nothing is
 * written. */
static int write_streamed(const stream *st, const spz_tensor *t, off_t at,
                          uint32_t *crc, const spz_wprog *wp,
                          spz_error *err)
{
	const uint8_t *part[2] = {(const uint8_t *)t->data, NULL};
	uint64_t n = payload_bytes(t), len[2] = {n, 0};
	if (t->mask) {
		uint64_t mb = mask_bytes((uint64_t)spz_tensor_elements(t));
		part[0] = (const uint8_t *)t->mask;
		part[1] = (const uint8_t *)t->nz;
		len[0] = mb;
		len[1] = (uint64_t)t->nnz * 4;
	}
	checker ck = {.t = t};
	pthread_t th;
	int threaded = !pthread_create(&th, NULL, checker_main, &ck);
	if (!threaded)
		checker_main(&ck);
	uint64_t done = 0, told = 0, total = len[0] + len[1];
	int rc = threaded ? 0 : ck.rc;
	for (int p = 0; !rc && p < 2; p++)
		for (uint64_t k = 0; !rc && k < len[p];) {
			uint64_t pos = (uint64_t)at + done;
			uint64_t piece = WRITE_PIECE - pos % WRITE_PIECE;
			piece = piece < len[p] - k ? piece : len[p] - k;
			rc = spz_pwrite_all(st->fd, part[p] + k, (size_t)piece,
			                    (off_t)pos, err);
			k += piece;
			done += piece;
			if (done - told >= SPZ_WPROG_BYTES && wp) {
				told = done;
				spz_wprog_at(wp, wp->done + (double)n / 4 *
				             ((double)done / (double)total));
			}
		}
	if (threaded)
		pthread_join(th, NULL);
	if (ck.rc)
		return spz_fail(err, ck.rc, "%s", ck.err.text);
	*crc = ck.sec.crc;
	return rc;
}

/* The payloads from the start of the data area (f stands there); tensor
 * st->big (if any) streamed, its CRC set. wp (may be NULL) is told the
 * elements written: about every SPZ_WPROG_BYTES within a tensor (a
 * bitmask one, small by nature, when it is done), so that a 2 GB model
 * shows life. */
static int write_payloads(FILE *f, const spz_model *m, spz_section *sec,
                          uint8_t **packed, const stream *st, off_t data,
                          spz_wprog *wp, spz_error *err)
{
	static const uint8_t zeros[SPZ_SPZM_ALIGN];
	uint64_t pos = 0;
	for (size_t i = 0; i < m->n_tensors; i++) {
		const spz_tensor *t = &m->tensors[i];
		double elems = (double)spz_tensor_elements(t);
		fwrite(zeros, 1, sec[i].offset - pos, f);
		pos = sec[i].offset + sec[i].length;
		if (t->mask && !t->codebook && i != st->big) {
			/* Sparse form: the mask words, then the values
			 * (deferred ones already there: write_spzm_view). */
			fwrite(t->mask, 1, (size_t)mask_bytes((uint64_t)
			       spz_tensor_elements(t)), f);
			if (!t->src)
				fwrite(t->nz, 4, (size_t)t->nnz, f);
			else if (fseeko(f, (off_t)t->nnz * 4, SEEK_CUR))
				return spz_fail(err, SPZ_EIO, "%s",
				                strerror(errno));
			continue;
		}
		if (i != st->big && sec[i].encoding == SPZ_ENC_BITMASK &&
		    !t->codebook) {
			/* packed[i] is the mask; the values follow it. */
			fwrite(packed[i], 1, (size_t)mask_bytes((uint64_t)
			       spz_tensor_elements(t)), f);
			int rc = write_values(f, t, packed[i], err);
			if (rc)
				return rc;
		} else if (i != st->big) {
			const uint8_t *p = packed[i] ? packed[i]
			        : t->data ? (const uint8_t *)t->data
			        : (const uint8_t *)t->raw;
			/* In pieces, each one write() of stdio's (past its
			 * buffer), progress after each. */
			for (uint64_t k = 0; k < sec[i].length;) {
				uint64_t left = sec[i].length - k;
				size_t piece = left < SPZ_WPROG_BYTES
				               ? (size_t)left : SPZ_WPROG_BYTES;
				fwrite(p + k, 1, piece, f);
				k += piece;
				if (k < sec[i].length && wp)
					spz_wprog_at(wp, wp->done + elems *
					             ((double)k /
					              (double)sec[i].length));
			}
		} else {
			off_t at = data + (off_t)sec[i].offset;
			if (fflush(f))
				return spz_fail(err, SPZ_EIO, "%s",
				                strerror(errno));
			int rc = write_streamed(st, t, at, &sec[i].crc, wp,
			                        err);
			if (rc)
				return rc;
			if (fseeko(f, at + (off_t)sec[i].length, SEEK_SET))
				return spz_fail(err, SPZ_EIO, "%s",
				                strerror(errno));
		}
		if (wp) {
			wp->done += elems;
			spz_wprog_at(wp, wp->done);
		}
	}
	return 0;
}

/* Streams st->big (see struct stream); every other CRC is known. */
static int write_with_stream(FILE *f, const spz_model *m, spz_section *sec,
                             uint8_t **packed, const stream *st,
                             spz_wprog *wp, spz_error *err)
{
	size_t nt = m->n_tensors;
	char *man = NULL;
	size_t man_len = 0;
	uint64_t total = sec[nt - 1].offset + sec[nt - 1].length;
	sec[st->big].crc = UINT32_MAX;
	int rc = spz_manifest_text(&man, &man_len, m, sec, err);
	uint64_t data = align_up(HEADER_SIZE + man_len);
	free(man);
	man = NULL;
	if (!rc) {
		preallocate(f, data + total);
		if (fseeko(f, st->base + (off_t)data, SEEK_SET))
			rc = spz_fail(err, SPZ_EIO, "%s", strerror(errno));
	}
	if (!rc)
		rc = write_payloads(f, m, sec, packed, st,
		                    st->base + (off_t)data, wp, err);
	if (!rc)
		rc = spz_manifest_text(&man, &man_len, m, sec, err);
	if (!rc && fseeko(f, st->base, SEEK_SET))
		rc = spz_fail(err, SPZ_EIO, "%s", strerror(errno));
	if (!rc) {
		write_head(f, man, man_len, spz_model_version(m),
		           head_flags(sec, nt));
		if (align_up(HEADER_SIZE + man_len) != data) {
			/* A shorter CRC moved the data area. */
			stream none = {.big = nt};
			/* Progress has been told the whole already. */
			rc = write_payloads(f, m, sec, packed, &none, 0, NULL,
			                    err);
			if (!rc && (fflush(f) ||
			            ftruncate(st->fd, ftello(f)) != 0))
				rc = spz_fail(err, SPZ_EIO, "%s",
				              strerror(errno));
		}
	}
	if (!rc && fseeko(f, 0, SEEK_END))
		rc = spz_fail(err, SPZ_EIO, "%s", strerror(errno));
	if (rc) {
		/* Back to the file as it was. */
		(void)fflush(f);
		if (ftruncate(st->fd, st->base) == 0)
			(void)fseeko(f, st->base, SEEK_SET);
	}
	free(man);
	return rc;
}

static int write_spzm_view(FILE *f, const spz_model *m, spz_wprog *wp,
                           int *missed, uint64_t *values_at,
                           spz_error *err);

/* Each tensor's encoding, length and offset in sec (the bitmask when it
 * is smaller), a packed payload where one is built (packed[i], with its
 * CRC; checked as built). The other CRCs are left to the caller. */
static int plan(spz_section *sec, uint8_t **packed, const spz_model *m,
                spz_error *err)
{
	size_t nt = m->n_tensors;
	int rc = 0;
	uint64_t off = 0;
	/* Each tensor's encoding first: the bitmask when it is smaller. */
	for (size_t i = 0; !rc && i < nt; i++) {
		const spz_tensor *t = &m->tensors[i];
		uint64_t bound = 0;
		sec[i].offset = off;
		sec[i].length = payload_bytes(t);
		uint64_t nnz = 0;
		int bitmask = 0;
		if (t->mask) {
			/* Sparse form: kept only when it pays (the view). */
			bitmask = 1;
			nnz = (uint64_t)t->nnz;
			if (t->codebook)
				rc = check_sparse_values(t, err);
			if (!rc && t->codebook)
				rc = sparse_codes_payload(&packed[i],
				                          &sec[i].length, t, err);
		} else if (sparse_pays(t, &bound)) {
			bitmask = 1;
			if (t->codebook)
				rc = spz_tensor_check_values(
					t, 0, spz_tensor_elements(t), err);
			if (!rc && t->codebook)
				rc = build_sparse_codes(&packed[i],
				                        &sec[i].length, t, bound,
				                        err);
			else if (!rc)
				rc = float_mask(&packed[i], &nnz, &sec[i].crc, t,
				                err);
		}
		if (rc) {
			/* An earlier tensor's fault comes first, as checking
			 * in order finds (sparse-form and packed ones were
			 * checked on their turn). */
			for (size_t k = 0; k < i; k++)
				if (!packed[k] && check_any(&m->tensors[k], err))
					break;
			break;
		}
		if (bitmask) {
			sec[i].encoding = SPZ_ENC_BITMASK;
			if (t->codebook)
				sec[i].crc = spz_crc32(0, packed[i],
				                       sec[i].length);
			else
				sec[i].length = sparse_bytes(t, nnz);
		}
		off = align_up(off + sec[i].length);
	}
	return rc;
}

/* After a miss (write_spzm_view): view's values still in f read in,
 * the model written as usual, their sources told where they went now
 * (m's tensors stay whole), and the file cut where it ends: values put
 * past it go. */
static int write_fetched(FILE *f, spz_model *view, void **bufs,
                         size_t *n_bufs, spz_wprog *wp, spz_error *err)
{
	size_t nt = view->n_tensors;
	uint64_t *where = calloc(nt + 1, sizeof *where);
	deferred **own = calloc(nt + 1, sizeof *own);
	int rc = where && own ? 0 : spz_fail(err, SPZ_ENOMEM, "out of memory");
	for (size_t i = 0; !rc && i < nt; i++)
		if (view->tensors[i].src) {
			own[i] = view->tensors[i].src->ctx;
			rc = fetch_values(&view->tensors[i], bufs, n_bufs, err);
		}
	if (!rc)
		rc = write_spzm_view(f, view, wp, NULL, where, err);
	for (size_t i = 0; !rc && i < nt; i++)
		if (own[i])
			own[i]->off = where[i];
	struct stat sb;
	off_t end;
	if (!rc && !fflush(f) && (end = ftello(f)) >= 0 &&
	    !fstat(fileno(f), &sb) && S_ISREG(sb.st_mode) &&
	    sb.st_size > end && ftruncate(fileno(f), end))
		rc = spz_fail(err, SPZ_EIO, "%s", strerror(errno));
	free(where);
	free(own);
	return rc;
}

/* Sparse-form tensors go out as their bitmask straight from the mask
 * and values (the bytes a dense tensor of the same values gives); the
 * few that would not be smaller as one are expanded first. */
static int write_spzm(FILE *f, const spz_model *m, spz_wprog *wp,
                      spz_error *err)
{
	if (!has_sparse(m))
		return write_spzm_view(f, m, wp, NULL, NULL, err);
	spz_model view;
	void **bufs;
	size_t n_bufs;
	int rc = expanded_view(&view, &bufs, &n_bufs, m, 1, err);
	if (rc)
		return rc;
	/* Deferred values stay where they are only when they are where
	 * this file puts them: values put in place (spz_spzm_placer_new)
	 * where the layout guessed holds. Others are read first; on a miss
	 * all are, as nothing has been written yet. */
	int missed = 0;
	uint64_t at;
	for (size_t i = 0; !rc && i < view.n_tensors; i++) {
		spz_tensor *t = &view.tensors[i];
		if (t->src && !values_in(t, f, &at))
			rc = fetch_values(t, bufs, &n_bufs, err);
	}
	if (!rc)
		rc = write_spzm_view(f, &view, wp, &missed, NULL, err);
	if (!rc && missed)
		rc = write_fetched(f, &view, bufs, &n_bufs, wp, err);
	view_free(&view, bufs, n_bufs);
	return rc;
}

/* m written to f; deferred values (values_in f) are left where they
 * are when that is where they belong, else *missed is set (missed may be
 * NULL when m has none) and nothing is written. values_at (may be NULL;
 * nothing streamed then): each sparse-form float tensor's values' file
 * offset. */
static int write_spzm_view(FILE *f, const spz_model *m, spz_wprog *wp,
                           int *missed, uint64_t *values_at,
                           spz_error *err)
{
	if (host_is_big_endian())
		return spz_fail(err, SPZ_EUNSUPPORTED,
		                "big-endian hosts cannot write .spzm");
	int rc = spz_model_validate_graph(m, err);
	if (rc)
		return rc;
	size_t nt = m->n_tensors;
	spz_section *sec = calloc(nt ? nt : 1, sizeof *sec);
	uint8_t **packed = calloc(nt ? nt : 1, sizeof *packed);
	char *man = NULL;
	size_t man_len = 0;
	if (!sec || !packed)
		rc = spz_fail(err, SPZ_ENOMEM, "out of memory");
	/* Values still in a file: only sparse ones, put in place. */
	int in_file = 0;
	for (size_t i = 0; !rc && i < nt; i++) {
		const spz_tensor *t = &m->tensors[i];
		in_file |= t->src != NULL;
		if (t->src && (!t->mask || !missed))
			rc = spz_fail(err, SPZ_EINVAL, "tensor '%s': its values "
			              "are still in a file", t->name);
	}
	if (!rc)
		rc = plan(sec, packed, m, err);
	/* With deferred values the manifest is made whole first: streaming
	 * a tensor would leave its CRC, so where they belong, unknown. */
	stream st = {.big = nt};
	if (!rc && !in_file && !values_at)
		st = pick_stream(f, m, packed, sec);
	for (size_t i = 0; !rc && i < nt; i++) {
		const spz_tensor *t = &m->tensors[i];
		if (i == st.big)
			continue;
		rc = section_crc(t, &sec[i], &packed[i], err);
		/* Refused for what comes after the streamed tensor: that
		 * one's own fault comes first, as checking in order finds. */
		if (rc && i > st.big) {
			int rb = check_any(&m->tensors[st.big], err);
			rc = rb ? rb : section_crc(t, &sec[i], &packed[i], err);
		}
	}
	if (!rc && st.big < nt) {
		rc = write_with_stream(f, m, sec, packed, &st, wp, err);
	} else if (!rc) {
		rc = spz_manifest_text(&man, &man_len, m, sec, err);
		off_t base = in_file || values_at ? ftello(f) : 0;
		uint64_t data = (uint64_t)base + align_up(HEADER_SIZE + man_len);
		uint64_t at;
		for (size_t i = 0; !rc && values_at && i < nt; i++)
			values_at[i] = values_offset(data, &sec[i],
			                             &m->tensors[i]);
		for (size_t i = 0; !rc && in_file && i < nt; i++) {
			const spz_tensor *t = &m->tensors[i];
			if (t->src && (base < 0 || !values_in(t, f, &at) ||
			               at != values_offset(data, &sec[i], t)))
				*missed = 1;
		}
		if (!rc && in_file && *missed) {
			/* Nothing written: the caller reads them in. */
		} else if (!rc) {
			preallocate(f, align_up(HEADER_SIZE + man_len) +
			                       (nt ? sec[nt - 1].offset +
			                                     sec[nt - 1].length
			                           : 0));
			write_head(f, man, man_len, spz_model_version(m),
			           head_flags(sec, nt));
			rc = write_payloads(f, m, sec, packed, &st, 0, wp,
			                    err);
		}
	}
	for (size_t i = 0; packed && i < nt; i++)
		free(packed[i]);
	free(packed);
	free(sec);
	free(man);
	return rc;
}

/* Reads and discards n bytes of padding, which must be zero: padding is
 * outside every CRC, so this is how a flipped bit there is caught. */
static int skip(spz_input *in, uint64_t n, const char *what, spz_error *err)
{
	uint8_t buf[SPZ_SPZM_ALIGN];
	while (n) {
		size_t k = n > sizeof buf ? sizeof buf : (size_t)n;
		int rc = spz_input_read(in, buf, k, what, err);
		if (rc)
			return rc;
		for (size_t i = 0; i < k; i++)
			if (buf[i])
				return spz_fail(err, SPZ_EFORMAT,
				                "'%s': non-zero byte in the %s",
				                in->label, what);
		n -= k;
	}
	return 0;
}

/*
 * Unpacks a bitmask payload p of len bytes (its CRC matched) into t's
 * new storage. Refused: a mask bit set past the last element, a values
 * part that is not what the mask's count gives, a stored zero (the mask
 * marks it non-zero: a writer would not have stored it, so the file
 * would not write back the same), a code outside the codebook and a NaN
 * or infinity. -0.0 is a value like any other: bits are copied as they
 * are.
 */
static int keep_sparse(spz_tensor *t, const uint8_t *p, uint64_t nnz,
                       const char *label, spz_error *err);

static int decode_sparse(spz_tensor *t, const uint8_t *p, uint64_t len,
                         int keep, const char *label, spz_error *err)
{
	uint64_t n = (uint64_t)spz_tensor_elements(t), mb = mask_bytes(n);
	uint64_t nnz = 0, words = mb / 8;
	for (uint64_t w = 0; w < words; w++)
		nnz += popcount64(get_le64(p + 8 * w));
	if (n % 64 && get_le64(p + mb - 8) >> (n % 64))
		return spz_fail(err, SPZ_EFORMAT, "'%s': tensor '%s': its mask "
		                "marks elements past the last one", label,
		                t->name);
	if (len != sparse_bytes(t, nnz))
		return spz_fail(err, SPZ_EFORMAT, "'%s': tensor '%s': %llu bytes "
		                "of values where the %llu non-zeros of its mask "
		                "take %llu", label, t->name,
		                (unsigned long long)(len - mb),
		                (unsigned long long)nnz,
		                (unsigned long long)(sparse_bytes(t, nnz) - mb));
	if (keep)
		return keep_sparse(t, p, nnz, label, err);
	int rc = spz_tensor_alloc(t, err);
	if (rc)
		return rc;
	const uint8_t *v = p + mb;
	uint64_t j = 0, bit = 0;
	unsigned cmask = t->codebook ? (1u << t->bits) - 1 : 0;
	for (uint64_t w = 0; w < words; w++) {
		uint64_t m = get_le64(p + 8 * w), base = w * 64;
		unsigned cnt = n - base < 64 ? (unsigned)(n - base) : 64;
		if (t->codebook)
			memset(t->codes + base, 0, cnt);
		else
			memset(t->data + base, 0, cnt * sizeof(float));
		for (; m; m &= m - 1, j++) {
			uint64_t i = base + (uint64_t)__builtin_ctzll(m);
			unsigned c = 0;
			uint32_t u = 0;
			if (t->codebook) {
				c = v[bit >> 3];
				if ((bit >> 3) + 1 < len - mb)
					c |= (unsigned)v[(bit >> 3) + 1] << 8;
				c = (c >> (bit & 7)) & cmask;
				bit += (uint64_t)t->bits;
				t->codes[i] = (uint8_t)c;
			} else {
				u = get_le32(v + 4 * j);
				memcpy(t->data + i, &u, 4);
			}
			if (t->codebook ? c == 0 : u == 0)
				return spz_fail(err, SPZ_EFORMAT, "'%s': tensor "
				                "'%s': a zero stored at index %llu, "
				                "which its mask marks non-zero",
				                label, t->name,
				                (unsigned long long)i);
			if (t->codebook && c >= t->codebook_size)
				return spz_fail(err, SPZ_ERANGE,
				                "'%s': tensor '%s': code %u at index "
				                "%llu is outside the codebook of %u",
				                label, t->name, c,
				                (unsigned long long)i,
				                t->codebook_size);
		}
	}
	spz_error sub = {0};
	if (!t->codebook &&
	    spz_tensor_check_values(t, 0, (int64_t)n, &sub))
		return spz_fail(err, sub.code, "'%s': %s", label, sub.text);
	return 0;
}

/*
 * decode_sparse into the sparse form (spz_input.keep_sparse): the mask
 * and the nnz values or codes copied as they are, refused for what
 * decode_sparse refuses, with its messages, in the same order.
 */
static int keep_sparse(spz_tensor *t, const uint8_t *p, uint64_t nnz,
                       const char *label, spz_error *err)
{
	uint64_t n = (uint64_t)spz_tensor_elements(t), mb = mask_bytes(n);
	uint64_t *mask = spz_alloc_fresh((size_t)mb + 8);
	float *nz = NULL;
	uint8_t *nz_codes = NULL;
	if (mask && t->codebook)
		nz_codes = spz_alloc_fresh((size_t)nnz + 1);
	else if (mask)
		nz = spz_alloc_fresh((size_t)nnz * 4 + 4);
	if (!mask || (!nz && !nz_codes)) {
		free(mask);
		return spz_fail(err, SPZ_ENOMEM, "out of memory for tensor '%s'",
		                t->name);
	}
	for (uint64_t w = 0; w < mb / 8; w++)
		mask[w] = get_le64(p + 8 * w);
	const uint8_t *v = p + mb;
	int rc = 0;
	int64_t zero = -1; /* the first stored zero, by its value index */
	if (t->codebook) {
		unpack_bits(nz_codes, v, nnz, t->bits);
		uint64_t j = first_bad_code(nz_codes, nnz, 1, t->codebook_size);
		if (j < nnz && nz_codes[j] == 0) {
			zero = (int64_t)j;
		} else if (j < nnz) {
			t->mask = mask; /* for stored_index */
			rc = spz_fail(err, SPZ_ERANGE, "'%s': tensor '%s': code "
			              "%u at index %lld is outside the codebook "
			              "of %u", label, t->name, nz_codes[j],
			              (long long)stored_index(t, (int64_t)j),
			              t->codebook_size);
			t->mask = NULL;
		}
	} else {
		memcpy(nz, v, (size_t)nnz * 4);
		spz_le32_to_host(nz, (size_t)nnz);
		for (uint64_t j = 0; j < nnz && zero < 0; j++) {
			uint32_t u;
			memcpy(&u, nz + j, 4);
			if (!u)
				zero = (int64_t)j;
		}
	}
	t->mask = mask;
	t->nnz = (int64_t)nnz;
	t->nz = nz;
	t->nz_codes = nz_codes;
	if (!rc && zero >= 0)
		rc = spz_fail(err, SPZ_EFORMAT, "'%s': tensor '%s': a zero "
		              "stored at index %lld, which its mask marks "
		              "non-zero", label, t->name,
		              (long long)stored_index(t, zero));
	spz_error sub = {0};
	if (!rc && !t->codebook && check_sparse_values(t, &sub))
		rc = spz_fail(err, sub.code, "'%s': %s", label, sub.text);
	return rc;
}

/* A dense float32 payload of want bytes at p in the file's mapping,
 * which t now borrows: checksummed and value-checked piece by piece,
 * like the bytes read() would have brought (the host is little-endian:
 * spz_input_borrow maps nothing otherwise, so no byte swap). */
static int check_borrowed(spz_input *in, spz_tensor *t, const uint8_t *p,
                          uint64_t want, uint32_t crc_want, spz_error *err)
{
	spz_tensor_borrow_data(t, (float *)(uintptr_t)p);
	uint32_t crc = 0;
	spz_error bad = {0};
	int bad_rc = 0;
	for (uint64_t off = 0; off < want;) {
		size_t k = want - off > CHUNK ? CHUNK : (size_t)(want - off);
		crc = spz_crc32(crc, p + off, k);
		if (!bad_rc)
			bad_rc = spz_tensor_check_values(t, (int64_t)(off / 4),
			                                 (int64_t)(k / 4), &bad);
		off += k;
	}
	if (spz_crc_mismatch(crc_want, crc))
		return spz_fail(err, SPZ_ECRC, "'%s': tensor '%s': CRC mismatch "
		                "(the file is corrupt)", in->label, t->name);
	if (bad_rc)
		return spz_fail(err, bad_rc, "'%s': %s", in->label, bad.text);
	return 0;
}

/* n bytes at offset at of fd into buf: 0, or -1 with errno (0 when the
 * file ends first). */
static int pread_all(int fd, void *buf, size_t n, off_t at)
{
	size_t got = 0;
	while (got < n) {
		ssize_t k = pread(fd, (char *)buf + got, n - got,
		                  at + (off_t)got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			if (k == 0)
				errno = 0;
			return -1;
		}
		got += (size_t)k;
	}
	return 0;
}

/* Elements [first, first + count) of d into dst. */
static int deferred_fetch(const deferred *d, int64_t first, int64_t count,
                          float *dst, spz_error *err)
{
	if (first < 0 || count < 0 || first > d->n - count)
		return spz_fail(err, SPZ_EINVAL, "'%s': tensor '%s': elements "
		                "%lld..%lld are not in it", d->label, d->name,
		                (long long)first, (long long)(first + count));
	if (pread_all(d->fd, dst, (size_t)count * 4,
	              (off_t)(d->off + (uint64_t)first * 4)))
		return spz_fail(err, SPZ_EIO, "'%s': cannot read tensor '%s': "
		                "%s", d->label, d->name,
		                errno ? strerror(errno)
		                      : "the file shrank while read");
	return 0;
}

/* spz_source.read_part: the next count elements of part p. */
static int deferred_read_part(void *ctx, spz_part *p, int64_t count,
                              float *dst, spz_error *err)
{
	deferred *d = ctx;
	int rc = deferred_fetch(d, p->next, count, dst, err);
	if (rc)
		return rc;
	p->crc = spz_crc32(p->crc, dst, (size_t)count * 4);
	if (!p->bad_rc)
		p->bad_rc = spz_check_floats(d->name, dst, p->next, count,
		                             &p->bad);
	p->next += count;
	return 0;
}

/* spz_source.check_parts: the verdict of a whole pass, from its parts. */
static int deferred_check_parts(void *ctx, const spz_part *parts, size_t n,
                                spz_error *err)
{
	deferred *d = ctx;
	uint32_t crc = 0;
	int64_t at = 0;
	for (size_t i = 0; i < n; i++) {
		if (parts[i].first != at || parts[i].next < at)
			return spz_fail(err, SPZ_EINVAL, "'%s': tensor '%s': "
			                "the parts read do not follow each other",
			                d->label, d->name);
		crc = spz_crc32_combine(crc, parts[i].crc,
		                        (uint64_t)(parts[i].next - at) * 4);
		at = parts[i].next;
	}
	if (at != d->n)
		return spz_fail(err, SPZ_EINVAL, "'%s': tensor '%s': the parts "
		                "read end at element %lld of %lld", d->label,
		                d->name, (long long)at, (long long)d->n);
	if (spz_crc_mismatch(d->crc_want, crc))
		return spz_fail(err, SPZ_ECRC, "'%s': tensor '%s': CRC mismatch "
		                "(the file is corrupt)", d->label, d->name);
	for (size_t i = 0; i < n; i++)
		if (parts[i].bad_rc)
			return spz_fail(err, parts[i].bad_rc, "'%s': %s",
			                d->label, parts[i].bad.text);
	return 0;
}

/* spz_source.read: a read in order continues the pass (a read from
 * element 0 starts it again), which the last one checks. */
static int deferred_read(void *ctx, int64_t first, int64_t count,
                         float *dst, spz_error *err)
{
	deferred *d = ctx;
	if (first == 0 && count >= 0)
		d->pass = (spz_part){0};
	if (first != d->pass.next)
		return deferred_fetch(d, first, count, dst, err);
	int rc = deferred_read_part(d, &d->pass, count, dst, err);
	if (rc || d->pass.next < d->n)
		return rc;
	return deferred_check_parts(d, &d->pass, 1, err);
}

static void deferred_close(void *ctx)
{
	deferred *d = ctx;
	close(d->fd);
	free(d->label);
	free(d->name);
	free(d);
}

/* ------------------------------------------------------------------ */
/* Values put in place                                                  */

static int values_in(const spz_tensor *t, FILE *f, uint64_t *at)
{
	struct stat a, b;
	if (!t->src || t->src->read != deferred_read)
		return 0;
	const deferred *d = t->src->ctx;
	int fd = fileno(f);
	if (fd < 0 || fstat(fd, &a) || fstat(d->fd, &b) ||
	    a.st_dev != b.st_dev || a.st_ino != b.st_ino)
		return 0;
	*at = d->off;
	return 1;
}

/* What one put wrote. */
typedef struct placed_run {
	int64_t at, count;
	uint32_t crc;
} placed_run;

struct spz_spzm_placer {
	int fd;
	uint64_t values;      /* file offset of value 0 */
	char *label;          /* the output, for messages */
	pthread_mutex_t lock; /* runs, bad */
	placed_run *runs;     /* one a put, in no order */
	size_t n_runs, cap;
	int64_t bad;          /* the first NaN or infinity put, or -1 */
	float bad_value;
};

/* A threshold as long as most are: the guess of the manifest's text for
 * one still unknown (the shortest form of a float near 0.05). */
#define THRESHOLD_GUESS 0.045394107699394226

static int placer_put(void *ctx, int64_t at, const float *v, int64_t count,
                      spz_error *err)
{
	spz_spzm_placer *p = ctx;
	if (at < 0 || count <= 0)
		return count ? spz_fail(err, SPZ_EINVAL, "bad range") : 0;
	int64_t j = spz_first_nonfinite(v, count);
	uint32_t crc = spz_crc32(0, v, (size_t)count * 4);
	spz_error sub = {0};
	if (spz_pwrite_all(p->fd, v, (size_t)count * 4,
	                   (off_t)(p->values + (uint64_t)at * 4), &sub))
		return spz_fail(err, SPZ_EIO, "cannot write '%s': %s",
		                p->label, sub.text);
	int rc = 0;
	pthread_mutex_lock(&p->lock);
	if (j >= 0 && (p->bad < 0 || at + j < p->bad)) {
		p->bad = at + j;
		p->bad_value = v[j];
	}
	if (p->n_runs == p->cap) {
		size_t nc = p->cap ? 2 * p->cap : 256;
		placed_run *r = realloc(p->runs, nc * sizeof *r);
		if (r) {
			p->runs = r;
			p->cap = nc;
		}
	}
	if (p->n_runs < p->cap)
		p->runs[p->n_runs++] = (placed_run){at, count, crc};
	else
		rc = spz_fail(err, SPZ_ENOMEM, "out of memory");
	pthread_mutex_unlock(&p->lock);
	return rc;
}

/* Values [from, from + count) down to `to` (< from), front first, so
 * nothing is overwritten before it is read. */
static int placer_move(void *ctx, int64_t to, int64_t from, int64_t count,
                       spz_error *err)
{
	spz_spzm_placer *p = ctx;
	if (to < 0 || to >= from || count < 0)
		return spz_fail(err, SPZ_EINVAL, "bad move");
	size_t step = (size_t)WRITE_PIECE;
	uint8_t *buf = malloc(step);
	if (!buf)
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	uint64_t src = p->values + (uint64_t)from * 4;
	uint64_t dst = p->values + (uint64_t)to * 4, n = (uint64_t)count * 4;
	spz_error sub = {0};
	int rc = 0;
	for (uint64_t k = 0; !rc && k < n; k += step) {
		size_t piece = n - k < step ? (size_t)(n - k) : step;
		if (pread_all(p->fd, buf, piece, (off_t)(src + k)))
			rc = spz_fail(err, SPZ_EIO, "cannot read '%s' back: %s",
			              p->label, errno ? strerror(errno)
			                              : "it shrank");
		else if (spz_pwrite_all(p->fd, buf, piece, (off_t)(dst + k),
		                        &sub))
			rc = spz_fail(err, SPZ_EIO, "cannot write '%s': %s",
			              p->label, sub.text);
	}
	free(buf);
	for (size_t i = 0; i < p->n_runs; i++)
		if (p->runs[i].at >= from && p->runs[i].at < from + count)
			p->runs[i].at -= from - to;
	return rc;
}

static int run_order(const void *a, const void *b)
{
	const placed_run *x = a, *y = b;
	return (x->at > y->at) - (x->at < y->at);
}

/* The values put must be t's nnz, each once: their CRC; t's source is
 * then the file (the deferred source, on a descriptor of its own). */
static int placer_finish(void *ctx, spz_tensor *t, spz_error *err)
{
	spz_spzm_placer *p = ctx;
	qsort(p->runs, p->n_runs, sizeof *p->runs, run_order);
	uint32_t crc = 0;
	int64_t at = 0;
	for (size_t i = 0; i < p->n_runs && p->runs[i].at == at; i++) {
		crc = spz_crc32_combine(crc, p->runs[i].crc,
		                        (uint64_t)p->runs[i].count * 4);
		at += p->runs[i].count;
	}
	if (at != t->nnz)
		return spz_fail(err, SPZ_EINVAL, "tensor '%s': the values put "
		                "are not its %lld values", t->name,
		                (long long)t->nnz);
	if (p->bad >= 0)
		return spz_check_floats(t->name, &p->bad_value,
		                        stored_index(t, p->bad), 1, err);
	/* Nothing but them is in the file yet: a move's old tail goes. */
	struct stat sb;
	off_t end = (off_t)(p->values + (uint64_t)t->nnz * 4);
	if (fstat(p->fd, &sb) || (sb.st_size > end && ftruncate(p->fd, end)))
		return spz_fail(err, SPZ_EIO, "cannot write '%s': %s",
		                p->label, strerror(errno));
	deferred *d = calloc(1, sizeof *d);
	spz_source *src = malloc(sizeof *src);
	char *label = strdup(p->label), *name = strdup(t->name);
	int fd = d && src && label && name ? dup(p->fd) : -1;
	if (fd < 0) {
		free(d);
		free(src);
		free(label);
		free(name);
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	}
	*d = (deferred){.fd = fd, .off = p->values, .n = t->nnz,
	                .crc_want = crc, .label = label, .name = name};
	*src = (spz_source){deferred_read, deferred_close, d, NULL, NULL};
	t->src = src;
	return 0;
}

void spz_spzm_placer_free(spz_spzm_placer *p)
{
	if (!p)
		return;
	pthread_mutex_destroy(&p->lock);
	free(p->runs);
	free(p->label);
	free(p);
}

/* The biggest of the items' tensors whose values can be put in place
 * (still in a file, float, 1 MiB or more), or n_items for none. */
static size_t place_pick(const spz_prune_item *items, size_t n_items)
{
	size_t best = n_items;
	int64_t most = (int64_t)1 << 18;
	for (size_t i = 0; i < n_items; i++) {
		const spz_tensor *t = items[i].tensor;
		int64_t n = spz_tensor_elements(t);
		if (t->src && !t->mask && spz_dtype_is_float(t->dtype) &&
		    n >= most) {
			best = i;
			most = n;
		}
	}
	return best;
}

/* Where o's model will have tensor items[place]'s values when the items
 * are pruned as predicted (spz_prune_predict; the thresholds and the
 * CRCs not known yet as long as most are): m seen that way, laid out. */
static int place_guess(uint64_t *values, FILE *f, const spz_model *m,
                       const spz_prune_item *items, size_t n_items,
                       size_t place, const spz_prune_options *o,
                       spz_error *err)
{
	size_t nt = m->n_tensors;
	spz_model view = *m;
	view.tensors = malloc((nt ? nt : 1) * sizeof *view.tensors);
	spz_prune_record *recs = calloc(n_items + 1, sizeof *recs);
	spz_section *sec = calloc(nt ? nt : 1, sizeof *sec);
	uint8_t **packed = calloc(nt ? nt : 1, sizeof *packed);
	uint64_t word = 0; /* a mask no one reads */
	char *man = NULL;
	size_t man_len = 0;
	int rc = view.tensors && recs && sec && packed
	         ? 0 : spz_fail(err, SPZ_ENOMEM, "out of memory");
	for (size_t i = 0; !rc && i < nt; i++)
		view.tensors[i] = m->tensors[i];
	for (size_t k = 0; !rc && k < n_items; k++) {
		spz_tensor *t = &view.tensors[items[k].tensor - m->tensors];
		int64_t nnz;
		rc = spz_prune_predict(&recs[k], &nnz, m, items[k].tensor, o,
		                       err);
		recs[k].threshold = THRESHOLD_GUESS;
		t->prune = &recs[k];
		t->mask = &word;
		t->nnz = nnz;
		t->data = NULL;
		t->nz = NULL;
		t->src = NULL;
	}
	/* Every other tensor is laid out from its values in memory. */
	for (size_t i = 0; !rc && i < nt; i++)
		if (view.tensors[i].src)
			rc = spz_fail(err, SPZ_EINVAL, "tensor '%s': its values "
			              "are still in a file",
			              view.tensors[i].name);
	if (!rc)
		rc = plan(sec, packed, &view, err);
	for (size_t i = 0; !rc && i < nt; i++)
		if (!packed[i])
			sec[i].crc = UINT32_MAX; /* 10 digits, as most */
	if (!rc)
		rc = spz_manifest_text(&man, &man_len, &view, sec, err);
	off_t base = rc ? 0 : ftello(f);
	if (!rc && base < 0)
		rc = spz_fail(err, SPZ_EIO, "%s", strerror(errno));
	if (!rc) {
		const spz_tensor *t = items[place].tensor;
		*values = values_offset((uint64_t)base +
		                        align_up(HEADER_SIZE + man_len),
		                        &sec[t - m->tensors], t);
	}
	for (size_t i = 0; packed && i < nt; i++)
		free(packed[i]);
	free(packed);
	free(sec);
	free(recs);
	free(man);
	free(view.tensors);
	return rc;
}

int spz_spzm_placer_new(spz_spzm_placer **out, spz_value_sink *sink,
                        spz_output *o, const spz_model *m,
                        const spz_prune_item *items, size_t n_items,
                        const spz_prune_options *opts, spz_error *err)
{
	*out = NULL;
	struct stat sb;
	int fd = o->f ? fileno(o->f) : -1;
	size_t place = place_pick(items, n_items);
	if (opts->mode != SPZ_PRUNE_NM || !opts->sparse_out ||
	    place == n_items || host_is_big_endian() || fd < 0 ||
	    fstat(fd, &sb) || !S_ISREG(sb.st_mode) || sb.st_size != 0)
		return 0;
	spz_spzm_placer *p = calloc(1, sizeof *p);
	if (!p || !(p->label = strdup(o->path ? o->path : "<stdout>")) ||
	    pthread_mutex_init(&p->lock, NULL)) {
		if (p)
			free(p->label);
		free(p);
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	}
	p->fd = fd;
	p->bad = -1;
	int rc = place_guess(&p->values, o->f, m, items, n_items, place, opts,
	                     err);
	if (rc) {
		spz_spzm_placer_free(p);
		return rc;
	}
	*sink = (spz_value_sink){items[place].tensor, placer_put, placer_move,
	                         placer_finish, p};
	*out = p;
	return 0;
}

/* Leaves dense payload t of want bytes in the file (spz_input_defer);
 * -1 (nothing changed) when it must be read instead. */
static int defer_payload(spz_input *in, spz_tensor *t, uint64_t want,
                         uint32_t crc_want)
{
	deferred *d = calloc(1, sizeof *d);
	spz_source *src = malloc(sizeof *src);
	char *label = strdup(in->label), *name = strdup(t->name);
	int fd;
	uint64_t off;
	if (!d || !src || !label || !name ||
	    spz_input_defer(in, want, &fd, &off)) {
		free(d);
		free(src);
		free(label);
		free(name);
		return -1;
	}
	*d = (deferred){.fd = fd, .off = off, .n = (int64_t)(want / 4),
	                .crc_want = crc_want, .label = label, .name = name};
	*src = (spz_source){deferred_read, deferred_close, d,
	                    deferred_read_part, deferred_check_parts};
	t->src = src;
	return 0;
}

/* First storage for a payload read from a pipe: it grows as bytes
 * arrive, so memory follows what was read, not what the manifest says. */
#define PIPE_START ((uint64_t)1 << 20)

/*
 * Reads tensor t's payload of `want` bytes piece by piece, each piece
 * checksummed (and, for a dense tensor, byte-swapped and value-checked)
 * while it is in cache, into t->data (dense) or a packed buffer that is
 * then unpacked into t->codes. sized: the input is a file known to hold
 * the bytes, so the storage is allocated whole; else it grows with them.
 * A bad value is reported only once the CRC has matched: on a corrupt
 * file the CRC is the better message.
 */
static int read_payload(spz_input *in, spz_tensor *t, uint64_t want,
                        const spz_section *sec, int sized, spz_error *err)
{
	uint32_t crc_want = sec->crc;
	int sparse = sec->encoding == SPZ_ENC_BITMASK;
	/* A carried (raw) tensor got its bytes' storage with its manifest
	 * entry; it is read as is, with no value checks. */
	int raw = !spz_dtype_is_float(t->dtype);
	int dense = !raw && !t->codebook && !sparse;
	/* From a file, what is decoded elsewhere (a bitmask, packed codes)
	 * is decoded straight from the file's pages: no buffer, no copy. */
	const uint8_t *mp;
	void *map;
	size_t map_len;
	if (!raw && !dense && sized &&
	    spz_input_map(in, want, &mp, &map, &map_len) == 0) {
		int rc = 0;
		if (spz_crc_mismatch(crc_want, spz_crc32(0, mp, (size_t)want)))
			rc = spz_fail(err, SPZ_ECRC, "'%s': tensor '%s': CRC "
			              "mismatch (the file is corrupt)", in->label,
			              t->name);
		else if (sparse)
			rc = decode_sparse(t, mp, want, in->keep_sparse,
			                   in->label, err);
		else if (!(rc = spz_tensor_alloc(t, err)))
			rc = unpack_codes(t, mp, in->label, err);
		spz_input_unmap(map, map_len);
		return rc;
	}
	/* A big dense payload a consumer streams itself stays in the file
	 * (spz_input.defer_values). */
	if (dense && sized && in->defer_values && want >= in->defer_values &&
	    defer_payload(in, t, want, crc_want) == 0)
		return 0;
	/* A dense float32 payload of a file is not copied at all: t points
	 * into the file's mapping (formats/README.md, "Mapped payloads"). */
	if (dense && sized && spz_input_borrow(in, want, 4, &mp) == 0)
		return check_borrowed(in, t, mp, want, crc_want, err);
	uint8_t *buf = NULL;
	uint64_t cap = raw || sized || want < PIPE_START ? want : PIPE_START;
	if (raw) {
		buf = t->raw;
	} else if (dense && sized) {
		int rc = spz_tensor_alloc(t, err);
		if (rc)
			return rc;
		buf = (uint8_t *)t->data;
	} else if (!(buf = malloc((size_t)cap + 4))) {
		return spz_fail(err, SPZ_ENOMEM, "out of memory for tensor '%s'",
		                t->name);
	}
	if (dense)
		t->data = (float *)buf;
	uint64_t start = in->consumed;
	uint32_t crc = 0;
	spz_error bad = {0};
	int bad_rc = 0, rc = 0;
	for (uint64_t off = 0; !rc && off < want;) {
		size_t k = want - off > CHUNK ? CHUNK : (size_t)(want - off);
		if (off + k > cap) {
			uint64_t nc = cap * 2 < want ? cap * 2 : want;
			nc = nc < off + k ? off + k : nc;
			uint8_t *nb = realloc(buf, (size_t)nc + 4);
			if (!nb) {
				rc = spz_fail(err, SPZ_ENOMEM, "out of memory for "
				              "tensor '%s'", t->name);
				break;
			}
			buf = nb;
			cap = nc;
			if (dense)
				t->data = (float *)buf;
		}
		spz_error sub;
		if (spz_input_read(in, buf + off, k, "payload", &sub)) {
			if (sub.code != SPZ_EFORMAT)
				rc = spz_fail(err, sub.code, "%s", sub.text);
			else
				rc = spz_fail(err, SPZ_EFORMAT, "'%s': truncated in "
				              "tensor '%s' (%llu of %llu bytes)",
				              in->label, t->name,
				              (unsigned long long)(in->consumed -
				                                   start),
				              (unsigned long long)want);
			break;
		}
		crc = spz_crc32(crc, buf + off, k);
		if (dense) {
			spz_le32_to_host(buf + off, k / 4);
			if (!bad_rc)
				bad_rc = spz_tensor_check_values(
					t, (int64_t)(off / 4), (int64_t)(k / 4),
					&bad);
		}
		off += k;
	}
	if (!rc && spz_crc_mismatch(crc_want, crc))
		rc = spz_fail(err, SPZ_ECRC, "'%s': tensor '%s': CRC mismatch "
		              "(the file is corrupt)", in->label, t->name);
	if (!rc && bad_rc)
		rc = spz_fail(err, bad_rc, "'%s': %s", in->label, bad.text);
	if (sparse) {
		if (!rc)
			rc = decode_sparse(t, buf, want, in->keep_sparse,
			                   in->label, err);
		free(buf);
	} else if (!dense && !raw) {
		if (!rc)
			rc = spz_tensor_alloc(t, err);
		if (!rc)
			rc = unpack_codes(t, buf, in->label, err);
		free(buf);
	}
	return rc;
}

/* The length a manifest gives tensor t's payload, checked against its
 * encoding: the plain bytes exactly, or for a bitmask at least the mask
 * and fewer than the plain bytes (it is chosen only when smaller, so a
 * file reads back to the bytes it came from). */
static int check_length(const spz_tensor *t, const spz_section *sec,
                        uint32_t flags, const char *label, spz_error *err)
{
	uint64_t plain = payload_bytes(t);
	if (sec->encoding == SPZ_ENC_DENSE) {
		if (sec->length != plain)
			return spz_fail(err, SPZ_EFORMAT,
			                "'%s': tensor '%s': length %llu differs "
			                "from the %llu bytes its dims give", label,
			                t->name, (unsigned long long)sec->length,
			                (unsigned long long)plain);
		return 0;
	}
	if (!spz_dtype_is_float(t->dtype))
		return spz_fail(err, SPZ_EFORMAT, "'%s': tensor '%s' of "
		                "data_type %d is stored plain (no \"encoding\")",
		                label, t->name, t->dtype);
	if (!(flags & FLAG_ENCODED))
		return spz_fail(err, SPZ_EFORMAT, "'%s': tensor '%s': an "
		                "\"encoding\" needs header flag 1", label,
		                t->name);
	uint64_t mb = mask_bytes((uint64_t)spz_tensor_elements(t));
	if (sec->length < mb || sec->length >= plain)
		return spz_fail(err, SPZ_EFORMAT,
		                "'%s': tensor '%s': a bitmask payload of %llu "
		                "bytes must hold its %llu-byte mask and be "
		                "smaller than the %llu plain bytes", label,
		                t->name, (unsigned long long)sec->length,
		                (unsigned long long)mb,
		                (unsigned long long)plain);
	return 0;
}

static int read_payloads(spz_model *m, const spz_section *sec,
                         uint32_t flags, spz_input *in, spz_error *err)
{
	const char *label = in->label;
	/* Offsets count from here, the start of the data area. */
	int64_t left = spz_input_left(in);
	uint64_t pos = 0;
	char what[300];
	if ((flags & FLAG_ENCODED) && !head_flags(sec, m->n_tensors))
		return spz_fail(err, SPZ_EFORMAT, "'%s': header flag 1 is set "
		                "but no tensor has an \"encoding\"", label);
	for (size_t i = 0; i < m->n_tensors; i++) {
		spz_tensor *t = &m->tensors[i];
		int rc = check_length(t, &sec[i], flags, label, err);
		if (rc)
			return rc;
		uint64_t want = sec[i].length;
		if (sec[i].offset % SPZ_SPZM_ALIGN || sec[i].offset < pos ||
		    sec[i].offset - pos >= SPZ_SPZM_ALIGN)
			return spz_fail(err, SPZ_EFORMAT,
			                "'%s': tensor '%s': offset %llu is not the "
			                "next 64-byte boundary", label, t->name,
			                (unsigned long long)sec[i].offset);
		/* A file too short for the payload fails before its storage
		 * is allocated. */
		if (left >= 0 && sec[i].offset <= (uint64_t)left &&
		    want > (uint64_t)left - sec[i].offset) {
			uint64_t have = (uint64_t)left - sec[i].offset;
			return spz_fail(err, SPZ_EFORMAT,
			                "'%s': truncated in tensor '%s' (%llu of "
			                "%llu bytes)", label, t->name,
			                (unsigned long long)have,
			                (unsigned long long)want);
		}
		snprintf(what, sizeof what, "padding before tensor '%s'",
		         t->name);
		rc = skip(in, sec[i].offset - pos, what, err);
		if (!rc)
			rc = read_payload(in, t, want, &sec[i], left >= 0, err);
		if (rc)
			return rc;
		pos = sec[i].offset + want;
	}
	uint8_t extra;
	spz_error ignore;
	if (spz_input_read(in, &extra, 1, "end", &ignore) == 0)
		return spz_fail(err, SPZ_EFORMAT,
		                "'%s': trailing bytes after the last tensor",
		                label);
	return 0;
}

static int read_spzm(spz_model **out, spz_input *in, spz_error *err)
{
	uint8_t h[HEADER_SIZE];
	int rc = spz_input_read(in, h, sizeof h, "header", err);
	if (rc)
		return rc;
	if (memcmp(h, SPZ_SPZM_MAGIC, 8))
		return spz_fail(err, SPZ_EFORMAT, "'%s': not a .spzm file "
		                "(wrong magic)", in->label);
	uint32_t version = get_le32(h + 8);
	if (version != 1 && version != 2)
		return spz_fail(err, SPZ_EVERSION,
		                "'%s': .spzm version %u is not supported (this "
		                "spz reads versions 1 and %d)", in->label,
		                version, SPZ_SPZM_VERSION);
	uint64_t len = get_le64(h + 16);
	uint32_t flags = get_le32(h + 12);
	if (flags & ~FLAG_ENCODED)
		return spz_fail(err, SPZ_EFORMAT, "'%s': header flags 0x%x are "
		                "not supported (only bit 0 is defined)",
		                in->label, flags);
	if (get_le32(h + 28))
		return spz_fail(err, SPZ_EFORMAT, "'%s': corrupt header "
		                "(reserved field is not 0)", in->label);
	if (len > MANIFEST_MAX)
		return spz_fail(err, SPZ_EFORMAT, "'%s': corrupt header "
		                "(manifest length %llu is over 2^30)", in->label,
		                (unsigned long long)len);
	char *man = malloc(len + 1);
	if (!man)
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	rc = spz_input_read(in, man, len, "manifest", err);
	if (!rc && spz_crc_mismatch(get_le32(h + 24),
	                                 spz_crc32(0, man, len)))
		rc = spz_fail(err, SPZ_ECRC, "'%s': manifest CRC mismatch (the "
		              "file is corrupt)", in->label);
	uint64_t pad = align_up(HEADER_SIZE + len) - (HEADER_SIZE + len);
	if (!rc)
		rc = skip(in, pad, "padding after the manifest", err);
	spz_model *m = NULL;
	spz_section *sec = NULL;
	if (!rc)
		rc = spz_parse_manifest(&m, &sec, man, len, in->label, in->dir,
		                        err);
	free(man);
	if (!rc)
		rc = read_payloads(m, sec, flags, in, err);
	/* Tensors may point into the file's mapping: the model keeps it. */
	if (m && spz_input_give_map(in, m) && !rc)
		rc = spz_fail(err, SPZ_ENOMEM, "out of memory");
	free(sec);
	if (rc) {
		spz_model_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

static int read_json(spz_model **out, spz_input *in, spz_error *err)
{
	return spz_model_read_json(out, in, err);
}

int spz_model_read(spz_model **out, spz_input *in, spz_error *err)
{
	spz_model *m = NULL;
	int rc;
	switch (spz_input_kind(in)) {
	case SPZ_FILE_SPZM:
		rc = read_spzm(&m, in, err);
		break;
	case SPZ_FILE_JSON:
		rc = read_json(&m, in, err);
		break;
	case SPZ_FILE_ONNX:
		rc = spz_onnx_read(&m, in, err);
		break;
	case SPZ_FILE_IMAGE:
		return spz_fail(err, SPZ_EUNSUPPORTED,
		                "'%s' is a packed image, not a model (use spz "
		                "unpack)", in->label);
	default:
		if (in->n_head < 8 && !memcmp(in->head, SPZ_SPZM_MAGIC,
		                              in->n_head))
			return spz_fail(err, SPZ_EFORMAT,
			                "'%s': truncated in header (%zu of %d "
			                "bytes)", in->label, in->n_head,
			                HEADER_SIZE);
		if (spz_format_for_path(in->label) == SPZ_FILE_ONNX) {
			rc = spz_onnx_read(&m, in, err);
			break;
		}
		if (in->n_head >= 4 && !memcmp(in->head, SPZ_SPZM_MAGIC, 4))
			return spz_fail(err, SPZ_EFORMAT,
			                "'%s': not a .spzm file (wrong magic; "
			                "damaged by a text-mode transfer?)",
			                in->label);
		return spz_fail(err, SPZ_EFORMAT,
		                "'%s': not an spz model (neither JSON, .spzm "
		                "nor ONNX)",
		                in->label);
	}
	if (!rc) {
		/* Both readers checked every value as it arrived. */
		spz_error sub = {0};
		rc = spz_model_validate_graph(m, &sub);
		if (rc)
			spz_fail(err, rc, "'%s': %s", in->label, sub.text);
	}
	if (!rc)
		spz_input_progress(in, in->size);
	if (rc) {
		spz_model_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

int spz_model_load(spz_model **out, const char *path, spz_error *err)
{
	spz_input in;
	int rc = spz_input_open(&in, path, err);
	if (rc)
		return rc;
	rc = spz_model_read(out, &in, err);
	spz_input_close(&in);
	return rc;
}

static int model_write(FILE *f, const spz_model *m, spz_file_kind kind,
                       spz_wprog *wp, spz_error *err);

int spz_model_write(FILE *f, const spz_model *m, spz_file_kind kind,
                    spz_error *err)
{
	return model_write(f, m, kind, NULL, err);
}

static int model_write(FILE *f, const spz_model *m, spz_file_kind kind,
                       spz_wprog *wp, spz_error *err)
{
	if (kind == SPZ_FILE_SPZM)
		return write_spzm(f, m, wp, err);
	if (has_sparse(m)) {
		/* JSON and ONNX hold every element. */
		spz_model view;
		void **bufs;
		size_t n_bufs;
		int rc = expanded_view(&view, &bufs, &n_bufs, m, 0, err);
		if (rc)
			return rc;
		rc = model_write(f, &view, kind, wp, err);
		view_free(&view, bufs, n_bufs);
		return rc;
	}
	if (kind == SPZ_FILE_ONNX)
		return spz_onnx_write_wp(f, m, NULL, NULL, wp, err);
	if (kind != SPZ_FILE_JSON)
		return spz_fail(err, SPZ_EINVAL, "unknown model format");
	/* JSON has no NaN: refuse what could not be read back. */
	int rc = spz_model_validate(m, err);
	if (!rc)
		spz_write_json(f, m, wp);
	return rc;
}

int spz_model_save(const spz_model *m, const char *path, spz_file_kind kind,
                   spz_error *err)
{
	return spz_model_save_opts(m, path, kind, NULL, err);
}

int spz_model_save_opts(const spz_model *m, const char *path,
                        spz_file_kind kind, const spz_save_opts *opts,
                        spz_error *err)
{
	spz_wprog wp = spz_wprog_for(m, opts);
	spz_output own, *op = opts && opts->output ? opts->output : &own;
	int rc = op == &own ? spz_output_open(&own, path, err) : 0;
	if (rc)
		return rc;
	spz_error sub = {0};
	rc = model_write(op->f, m, kind, &wp, &sub);
	if (rc) {
		spz_output_abort(op);
		return spz_fail(err, rc, "cannot write '%s': %s",
		                strcmp(path, "-") ? path : "<stdout>", sub.text);
	}
	/* The end at total, whatever a format told before. */
	if (wp.fn && wp.total > 0)
		wp.fn(wp.ctx, wp.total, wp.total);
	return spz_output_commit(op, err);
}
