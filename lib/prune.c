/*
 * prune.c - magnitude (per layer or global), threshold and N:M pruning.
 *
 * Magnitude pruning never sorts: the k-th smallest |w| is selected on the
 * bits of |w| (for non-negative IEEE floats the order of the bit patterns
 * is the order of the values; NaN never reaches here since models are
 * validated on load): a sample brackets it, one pass gathers the few
 * candidates, a radix select finishes; then one pass zeroes what lies
 * below it. Global pruning runs the same passes over every tensor in turn,
 * so the tensors are never concatenated. N:M pruning ranks four groups at
 * a time in vector registers and touches every element once. The passes
 * are written four lanes wide because an fc6-sized layer must prune in a
 * few memcpys of itself.
 */
#include "spz.h"
#include "big_alloc.h"
#include "pair.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h> /* AVX-512 where the CPU has it */
#endif
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ABS_MASK UINT32_C(0x7fffffff)

/* |w| as an unsigned key whose integer order is the order of |w|. */
static inline uint32_t key_of(const float *p)
{
	uint32_t u;
	memcpy(&u, p, sizeof u);
	return u & ABS_MASK;
}

static float float_of_key(uint32_t k)
{
	float f;
	memcpy(&f, &k, sizeof f);
	return f;
}

/* ------------------------------------------------------------------ */
/* Four lanes at a time                                                */

/*
 * GCC/clang vector extensions: plain SSE2 on x86-64, NEON on arm64, and
 * still correct C elsewhere. Keys are non-negative as int32, so signed
 * lane compares (which SSE2 has) order them right.
 */
typedef int32_t v4i __attribute__((vector_size(16)));
#define ALWAYS_INLINE static inline __attribute__((always_inline))
/* Loops over the lanes of a group, unrolled early enough for their
 * arrays to become registers. */
#if defined(__clang__)
#define UNROLL _Pragma("unroll")
#else
#define UNROLL _Pragma("GCC unroll 16")
#endif

#if defined(__clang__)
#define SHUF(a, b, i, j, k, l) __builtin_shufflevector((a), (b), i, j, k, l)
#else
#define SHUF(a, b, i, j, k, l) __builtin_shuffle((a), (b), (v4i){i, j, k, l})
#endif

ALWAYS_INLINE v4i vload(const float *p)
{
	v4i v;
	memcpy(&v, p, sizeof v);
	return v;
}

ALWAYS_INLINE void vstore(float *p, v4i v)
{
	memcpy(p, &v, sizeof v);
}

ALWAYS_INLINE v4i splat(int32_t x)
{
	return (v4i){x, x, x, x};
}

ALWAYS_INLINE v4i vmax(v4i a, v4i b)
{
	v4i gt = a > b;
	return (a & gt) | (b & ~gt);
}

ALWAYS_INLINE int any_lane(v4i m)
{
	uint64_t h[2];
	memcpy(h, &m, sizeof h);
	return (h[0] | h[1]) != 0;
}

ALWAYS_INLINE int64_t lane_sum(v4i v)
{
	return (int64_t)v[0] + v[1] + v[2] + v[3];
}

/* Lane counters are flushed after this many vectors (no int32 overflow). */
#define FLUSH_EVERY (INT64_C(1) << 24)

/* Running totals of a pruning pass. */
typedef struct acc {
	int64_t before, after;
	uint32_t maxkey; /* largest key zeroed */
} acc;

/* Adds b's totals to a. */
static void acc_add(acc *a, acc b)
{
	a->before += b.before;
	a->after += b.after;
	a->maxkey = b.maxkey > a->maxkey ? b.maxkey : a->maxkey;
}

/* The same, four lanes wide (counts are negated: compares give -1). */
typedef struct vacc {
	v4i before, after, maxkey;
} vacc;

static void flush(acc *a, vacc *va)
{
	a->before -= lane_sum(va->before);
	a->after -= lane_sum(va->after);
	for (int l = 0; l < 4; l++)
		if ((uint32_t)va->maxkey[l] > a->maxkey)
			a->maxkey = (uint32_t)va->maxkey[l];
	va->before = va->after = va->maxkey = splat(0);
}

/* ------------------------------------------------------------------ */
/* The sparse form, built a piece at a time (spz_prune_options.sparse_out) */

/*
 * Out of place, a tensor's data is only read: each piece of it (of cache
 * size) is copied into scratch, pruned there by the very passes in-place
 * pruning runs (so values and stats cannot differ), and appended to the
 * mask and values of the result. The data may be a file's mapped pages,
 * where writing would copy each page, and the values of a pruned tensor
 * take a tenth of its memory.
 */
#define PIECE 262144 /* floats a piece: 1 MiB, at home in L2 */

/* Where an out-of-place pass reads a tensor's values: its floats, or the
 * source of a tensor whose values are still in a file (spz_source: a
 * pass in order over all of them is verified by the source). */
typedef struct reader {
	const float *mem;
	spz_source *src;
} reader;

/* Elements [first, first + count) of r into dst; with part, when r is a
 * source (part of a pass split among threads, spz_source.read_part),
 * the next count elements of that part, first being where it stands.
 * A reader in memory has no parts: part is not used. */
static int rd_get(const reader *r, spz_part *part, int64_t first,
                  int64_t count, float *dst, spz_error *err)
{
	if (r->src && part)
		return r->src->read_part(r->src->ctx, part, count, dst, err);
	if (r->src)
		return r->src->read(r->src->ctx, first, count, dst, err);
	memcpy(dst, r->mem + first, (size_t)count * sizeof *dst);
	return 0;
}

/* A pass over pieces, each at most PIECE floats of one reader, taken in
 * order (run_pieces). */
typedef struct piece {
	const reader *r;
	int64_t first, count;
} piece;

/* Appends to *p (room for *cap) the pieces of elements [first, first + n)
 * of r, at most step floats each. SPZ_ENOMEM. */
static int add_pieces(piece **p, size_t *np, size_t *cap, const reader *r,
                      int64_t first, int64_t n, int64_t step)
{
	for (int64_t i = 0; i < n; i += step) {
		if (*np == *cap) {
			size_t nc = *cap ? 2 * *cap : 64;
			piece *q = realloc(*p, nc * sizeof *q);
			if (!q)
				return SPZ_ENOMEM;
			*p = q;
			*cap = nc;
		}
		(*p)[(*np)++] = (piece){r, first + i,
		                        n - i < step ? n - i : step};
	}
	return 0;
}

/* spz_prune_model's progress, by elements of its tensors: a piece at a
 * time out of place, a tensor at a time in place (never past total). */
typedef struct prog {
	spz_progress_fn fn;
	void *ctx;
	double done, total;
} prog;

static void prog_to(prog *p, double done)
{
	if (!p || !p->fn)
		return;
	p->done = done < p->total ? done : p->total;
	p->fn(p->ctx, p->done, p->total);
}

/*
 * One pass over pieces ps[0..np): each read into a buffer (mem, room
 * floats, when that is enough, else memory of its own) and fn(ctx, j, p)
 * run on it, p its floats (writable); pg (may be NULL) told each piece's
 * elements times weight. part: read through the source's part (rd_get).
 * The first error, a read's or fn's, stops it. Reading and working take
 * turns on one thread: a second one reading ahead overlapped them, but
 * on the development VM its hand-offs (a wake-up per piece) cost more
 * than the overlap saved (2:4 of a 151 MB layer: 140 ms with it, 115 ms
 * without; 0.91: 80 ms and 75 ms, whole processes).
 */
typedef int (*piece_fn)(void *ctx, size_t j, float *p, spz_error *err);

static int run_pieces(const piece *ps, size_t np, float *mem, int64_t room,
                      prog *pg, double weight, spz_part *part, piece_fn fn,
                      void *ctx, spz_error *err)
{
	int64_t most = 1;
	for (size_t j = 0; j < np; j++)
		most = ps[j].count > most ? ps[j].count : most;
	float *own = NULL;
	if (!mem || room < most) {
		mem = own = spz_alloc_fresh((size_t)most * sizeof(float));
		if (!mem)
			return spz_fail(err, SPZ_ENOMEM, "out of memory");
	}
	int rc = 0;
	for (size_t j = 0; !rc && j < np; j++) {
		rc = rd_get(ps[j].r, part, ps[j].first, ps[j].count, mem, err);
		if (!rc)
			rc = fn(ctx, j, mem, err);
		if (!rc && pg)
			prog_to(pg, pg->done + weight * (double)ps[j].count);
	}
	free(own);
	return rc;
}

typedef struct sbuild {
	prog *pg;        /* NULL: no progress */
	uint64_t *mask;  /* (n + 63) / 64 words */
	float *nz;       /* room for n + 128 values (sbuild_values);
	                    touched as filled. With a sink: room for a
	                    piece's (SINK_ROOM), value sent + k at nz[k] */
	int64_t pos;     /* elements appended */
	int64_t nnz;
	int64_t room;    /* 0, or: values go only below this index (a split
	                    pass's first half: the second's start there) */
	int in_place;    /* nz is the tensor's own data (SPZ_SPARSE_REUSE) */
	const spz_value_sink *sink; /* NULL, or where the values go */
	int64_t base;    /* with a sink: the tensor's value index of this
	                    builder's first value (a second half's start) */
	int64_t sent;    /* with a sink: values already put */
} sbuild;

/* A sink builder's buffer: a piece's values and the 16 that the wide
 * appends store past them. */
#define SINK_ROOM ((size_t)PIECE + 128)

/* Memory for a builder's values of an n-element tensor: n, 64 spare for
 * the branch-free appends (which store past the last value), and 64 more
 * for the gap a split pass leaves between its halves (sbuild_second). */
static float *sbuild_values(int64_t n)
{
	return spz_alloc_fresh(((size_t)n + 128) * sizeof(float));
}

/*
 * With SPZ_SPARSE_REUSE the values are packed into the tensor's own data
 * as they are built: value j goes to index j <= its element's, whose
 * piece is already copied to scratch (a word's appends end before the
 * word's last element), so nothing unread is overwritten, and no fresh
 * memory is touched (on this VM fresh memory is the dominant cost: 75 MB
 * of values for a 2:4 fc6). Only where the tensor owns its data: data
 * borrowed from a file mapping (spz_tensor.data_borrowed, SPZ_MMAP=1)
 * is only read, since each written page would be copied.
 */
static int sbuild_new(sbuild *b, spz_tensor *t, int reuse,
                      const spz_value_sink *sink)
{
	int64_t n = spz_tensor_elements(t);
	size_t words = (size_t)(n + 63) / 64;
	b->sink = sink && sink->tensor == t ? sink : NULL;
	b->in_place = !b->sink && reuse == SPZ_SPARSE_REUSE && t->data &&
	              !t->data_borrowed;
	b->mask = spz_alloc_fresh((words ? words : 1) * sizeof *b->mask);
	b->nz = b->in_place ? t->data
	      : b->sink ? malloc(SINK_ROOM * sizeof *b->nz)
	                : sbuild_values(n);
	b->pos = b->nnz = b->base = b->sent = 0;
	if (!b->mask || !b->nz) {
		free(b->mask);
		if (!b->in_place)
			free(b->nz);
		b->mask = NULL;
		b->nz = NULL;
		return SPZ_ENOMEM;
	}
	return 0;
}

static void sbuild_free(sbuild *b)
{
	free(b->mask);
	if (!b->in_place)
		free(b->nz);
	b->mask = NULL;
	b->nz = NULL;
}

/* One element, at any position; nothing is stored past the values. */
static inline void sbuild_one(sbuild *b, const float *p)
{
	uint32_t u;
	memcpy(&u, p, sizeof u);
	if (!(b->pos & 63))
		b->mask[b->pos >> 6] = 0;
	if (u)
		b->nz[b->nnz - b->sent] = *p;
	b->mask[b->pos >> 6] |= (uint64_t)(u != 0) << (b->pos & 63);
	b->nnz += u != 0;
	b->pos++;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SPZ_PRUNE_AVX512 1
/* 64 elements: the mask word (bits not all 0) and the stored ones packed
 * sixteen at a time in a register, then stored whole (a compressing
 * store to memory is microcoded: four times slower); the lanes past
 * them land in the spare room and are overwritten. Returns the values
 * appended. */
__attribute__((target("avx512f")))
static size_t word_avx512(uint64_t *mask, float *out, const float *d)
{
	uint64_t m = 0;
	size_t fill = 0;
	for (int q = 0; q < 4; q++) {
		__m512i x = _mm512_loadu_si512((const void *)(d + 16 * q));
		__mmask16 k = _mm512_test_epi32_mask(x, x);
		_mm512_storeu_si512((void *)(out + fill),
		                    _mm512_maskz_compress_epi32(k, x));
		fill += (size_t)__builtin_popcount((unsigned)k);
		m |= (uint64_t)k << (16 * q);
	}
	*mask = m;
	return fill;
}
#endif

static int have_avx512(void)
{
#ifdef SPZ_PRUNE_AVX512
	return __builtin_cpu_supports("avx512f");
#else
	return 0;
#endif
}

/* 64 elements without AVX-512: branch-free appends (the spare slot takes
 * the writes of zeros). */
static size_t word_plain(uint64_t *mask, float *out, const float *d)
{
	uint64_t m = 0;
	size_t fill = 0;
	for (int b = 0; b < 64; b++) {
		uint32_t u;
		memcpy(&u, d + b, sizeof u);
		out[fill] = d[b];
		m |= (uint64_t)(u != 0) << b;
		fill += u != 0;
	}
	*mask = m;
	return fill;
}

/* Appends n elements of p (already pruned). A word appends up to 64
 * values and its stores run 16 past them, so within 80 of b->room the
 * elements go one at a time. */
static void sbuild_add(sbuild *b, const float *p, int64_t n, int avx512)
{
	int64_t i = 0;
	for (; i < n && (b->pos & 63); i++)
		sbuild_one(b, p + i);
	for (; n - i >= 64 && (!b->room || b->nnz + 80 <= b->room);
	     i += 64, b->pos += 64) {
		uint64_t *mw = &b->mask[b->pos >> 6];
		float *out = b->nz + (b->nnz - b->sent);
#ifdef SPZ_PRUNE_AVX512
		if (avx512) {
			b->nnz += (int64_t)word_avx512(mw, out, p + i);
			continue;
		}
#else
		(void)avx512;
#endif
		b->nnz += (int64_t)word_plain(mw, out, p + i);
	}
	for (; i < n; i++)
		sbuild_one(b, p + i);
}

/* With a sink, puts the values appended since the last flush (a piece's
 * at most: SINK_ROOM) and empties the buffer. */
static int sbuild_flush(sbuild *b, spz_error *err)
{
	if (!b->sink || b->nnz == b->sent)
		return 0;
	int rc = b->sink->put(b->sink->ctx, b->base + b->sent, b->nz,
	                      b->nnz - b->sent, err);
	b->sent = b->nnz;
	return rc;
}

/* Hands the built mask and values to t (its data freed); the values
 * shrink to their count (a realloc that gives memory back in place).
 * With a sink (every value put), t gets the mask and the sink's
 * source of the values (spz_value_sink.finish). */
static int sbuild_finish(sbuild *b, spz_tensor *t, spz_error *err)
{
	if (b->sink) {
		free(b->nz);
		b->nz = NULL;
		spz_tensor_set_sparse(t, b->mask, b->nnz, NULL, NULL);
		b->mask = NULL;
		return b->sink->finish(b->sink->ctx, t, err);
	}
	float *nz = realloc(b->nz, ((size_t)b->nnz + 1) * sizeof *nz);
	if (b->in_place)
		t->data = NULL; /* it is nz now */
	spz_tensor_set_sparse(t, b->mask, b->nnz, nz ? nz : b->nz, NULL);
	b->mask = NULL;
	b->nz = NULL;
	b->in_place = 0;
	return 0;
}

/*
 * Out of place, a big tensor's pieces are split between two threads, each
 * reading, pruning and building its half: on the development VM's two
 * cores the whole `spz prune --nm 2:4` of fc6 goes from ~110 ms to ~75
 * ms and `--sparsity 0.91` from ~73 ms to ~60 ms, where a thread reading
 * for the other one lost (the data crossed cores). The halves' masks
 * meet at a word boundary. The second half's values are built where the
 * first half's could end at most: for N:M exactly there (the first half
 * stores no further, sbuild.room), so that with no zero among the kept
 * values nothing moves after (fc6 2:4: a 37 MB move saved); for
 * magnitude 64 floats past (its wide appends run up to 16 floats
 * ahead). sbuild_join moves them down when a gap remains. A file's
 * tensor is read as two parts of one verified pass
 * (spz_source.read_part), checked together when both are done.
 */
#define SPLIT_MIN (INT64_C(1) << 22) /* elements */

/* The first piece of the second half, or 0 for no split: the tensor is
 * big, built out of place from the start, its source (if any) reads in
 * parts, and a piece near the middle starts on a mask word. */
static size_t split_point(const piece *ps, size_t np, const reader *r,
                          const sbuild *b)
{
	if (np < 2 || b->in_place || b->pos ||
	    ps[np - 1].first + ps[np - 1].count < SPLIT_MIN ||
	    (r->src && (!r->src->read_part || !r->src->check_parts)))
		return 0;
	for (size_t d = 0; d < np / 2; d++) {
		if (ps[np / 2 + d].first % 64 == 0)
			return np / 2 + d;
		if (np / 2 - d > 0 && ps[np / 2 - d].first % 64 == 0)
			return np / 2 - d;
	}
	return 0;
}

/* The builder of the second half, whose elements start at `at` (a
 * multiple of 64) and whose values start at index `start` of b's, past
 * all the first half can store: into b's own mask and values (with a
 * sink, a buffer of its own: nz NULL when out of memory). */
static sbuild sbuild_second(const sbuild *b, int64_t at, int64_t start)
{
	if (b->sink)
		return (sbuild){.mask = b->mask + at / 64,
		                .nz = malloc(SINK_ROOM * sizeof *b->nz),
		                .sink = b->sink, .base = start};
	return (sbuild){.mask = b->mask + at / 64, .nz = b->nz + start};
}

/* Appends second half h (sbuild_second of b) to b, and frees what h
 * holds of its own. */
static int sbuild_join(sbuild *b, sbuild *h, spz_error *err)
{
	int rc = 0;
	if (b->sink) {
		if (h->base != b->nnz && h->nnz)
			rc = b->sink->move(b->sink->ctx, b->nnz, h->base,
			                   h->nnz, err);
		free(h->nz);
		h->nz = NULL;
	} else if (b->nz + b->nnz != h->nz) {
		memmove(b->nz + b->nnz, h->nz,
		        (size_t)h->nnz * sizeof *b->nz);
	}
	b->nnz += h->nnz;
	b->sent = b->sink ? b->nnz : 0;
	b->pos += h->pos;
	return rc;
}

/* A half of a split pass: its pieces, the job fn is run with, its part. */
typedef struct half_run {
	const piece *ps;
	size_t np;
	piece_fn fn;
	void *job;
	spz_part part; /* used when the reader is a source */
	int rc;
	prog *pg;
	double weight;
	spz_error err;
} half_run;

static void *half_main(void *arg)
{
	half_run *h = arg;
	h->rc = run_pieces(h->ps, h->np, NULL, 0, h->pg, h->weight, &h->part,
	                   h->fn, h->job, &h->err);
	return NULL;
}

/*
 * run_pieces over ps[0..np) of reader r in two halves, split at piece
 * `half` (split_point): fn with job0 on this thread over the first, with
 * job1 on a thread of its own (this one when none starts) over the rest,
 * each fn seeing its own pieces' indices. The first half tells pg about
 * both; the first error in element order, else the parts' verdict.
 */
static int run_halves(const piece *ps, size_t np, size_t half,
                      const reader *r, prog *pg, piece_fn fn, void *job0,
                      void *job1, spz_error *err)
{
	int64_t first = ps[0].first, at = ps[half].first;
	int64_t end = ps[np - 1].first + ps[np - 1].count;
	half_run h[2] = {
		{ps, half, fn, job0, {.first = first, .next = first}, 0, pg,
		 (double)(end - first) / (double)(at - first), {0}},
		{ps + half, np - half, fn, job1, {.first = at, .next = at}, 0,
		 NULL, 1.0, {0}}};
	double from = pg ? pg->done : 0;
	spz_run_pair(half_main, &h[0], &h[1], 1);
	for (int i = 0; i < 2; i++)
		if (h[i].rc) {
			*err = h[i].err;
			return h[i].rc;
		}
	if (r->src) {
		spz_part parts[2] = {h[0].part, h[1].part};
		int rc = r->src->check_parts(r->src->ctx, parts, 2, err);
		if (rc)
			return rc;
	}
	prog_to(pg, from + (double)(end - first));
	return 0;
}

/* ------------------------------------------------------------------ */
/* Radix select                                                        */

/*
 * The 31-bit key is resolved in three levels, top bits first: 12 bits
 * (exponent + 4 mantissa bits, a 16 KB histogram that stays in L1), then
 * 10, then 9. After the first level the bucket holding the k-th key
 * usually has a few per cent of the elements: they are gathered into a
 * buffer so that the later levels do not read the whole data again.
 */
#define LEVELS 3
static const int level_shift[LEVELS] = {19, 9, 0};
static const int level_bits[LEVELS] = {12, 10, 9};
#define MAX_BINS 4096

/* A bucket larger than this fraction of the elements is not gathered:
 * another histogram pass is cheaper than the memory. */
#define GATHER_DIVISOR 8

typedef struct spans {
	float *const *w;
	const int64_t *n;
	size_t count;
} spans;

/* Counts (key >> shift) & mask of the keys whose bits above pshift equal
 * prefix; the others land in bin mask + 1. Counters are 32-bit and
 * flushed every 2^31 elements, which keeps the hot histogram small. */
static void histogram(uint64_t *hist, const float *w, int64_t n,
                      int pshift, uint32_t prefix, int shift, uint32_t mask)
{
	uint32_t h[MAX_BINS + 1];
	while (n > 0) {
		int64_t len = n < (INT64_C(1) << 31) ? n : (INT64_C(1) << 31);
		memset(h, 0, (mask + 2) * sizeof h[0]);
		if (pshift == 31) {
			/* First level: every key is in range. */
			for (int64_t i = 0; i < len; i++)
				h[key_of(w + i) >> shift]++;
		} else {
			for (int64_t i = 0; i < len; i++) {
				uint32_t k = key_of(w + i);
				h[(k >> pshift) == prefix ? (k >> shift) & mask
				                          : mask + 1]++;
			}
		}
		for (uint32_t b = 0; b <= mask; b++)
			hist[b] += h[b];
		w += len;
		n -= len;
	}
}

/* Appends to buf the elements whose key has prefix above pshift. */
static int64_t gather(float *buf, const float *w, int64_t n, int pshift,
                      uint32_t prefix)
{
	int64_t j = 0;
	/* Branch-free: buf has one spare slot for the last rejected write. */
	for (int64_t i = 0; i < n; i++) {
		buf[j] = w[i];
		j += (key_of(w + i) >> pshift) == prefix;
	}
	return j;
}

/*
 * The k-th smallest key (1 <= k <= total) of the spans by radix select:
 * *key_out, the number of keys below it (*less) and equal to it (*ties).
 */
static int radix_select(uint32_t *key_out, int64_t *less, int64_t *ties,
                        const spans *s, int64_t total, int64_t k,
                        spz_error *err)
{
	spans cur = *s;
	float *buf = NULL, *bufv[1];
	int64_t bufn[1];
	uint32_t prefix = 0;
	int pshift = 31;
	int64_t r = k - 1, below = 0;
	uint64_t hist[MAX_BINS + 1];
	for (int level = 0; level < LEVELS; level++) {
		int shift = level_shift[level];
		uint32_t nb = UINT32_C(1) << level_bits[level];
		memset(hist, 0, nb * sizeof hist[0]);
		for (size_t i = 0; i < cur.count; i++)
			histogram(hist, cur.w[i], cur.n[i], pshift, prefix, shift,
			          nb - 1);
		uint32_t b = 0;
		uint64_t cum = 0;
		while (cum + hist[b] <= (uint64_t)r)
			cum += hist[b++];
		below += (int64_t)cum;
		r -= (int64_t)cum;
		prefix = (prefix << level_bits[level]) | b;
		pshift = shift;
		int64_t count = (int64_t)hist[b];
		if (level == LEVELS - 1) {
			*key_out = prefix;
			*less = below;
			*ties = count;
			break;
		}
		if (!buf && count <= total / GATHER_DIVISOR + 64) {
			buf = malloc(((size_t)count + 1) * sizeof *buf);
			if (!buf)
				return spz_fail(err, SPZ_ENOMEM, "out of memory");
			int64_t j = 0;
			for (size_t i = 0; i < cur.count; i++)
				j += gather(buf + j, cur.w[i], cur.n[i], pshift,
				            prefix);
			bufv[0] = buf;
			bufn[0] = j;
			cur = (spans){bufv, bufn, 1};
		}
	}
	free(buf);
	return 0;
}

/*
 * Large inputs: Floyd-Rivest style. A fixed, evenly spaced sample gives two
 * keys lo <= hi that bracket the k-th key with overwhelming probability;
 * one vectorized pass counts the keys below lo and gathers those in
 * [lo, hi] (about 1% of the data), and the radix select finishes on them.
 * A bracket that misses (adversarial layouts) falls back to the plain
 * radix select, so the answer is always exact; only the time varies.
 */
#define SAMPLE_LOG2 17
#define BRACKET_MIN_TOTAL (INT64_C(1) << 20)

/* Counts keys below lo into *below; appends the elements with
 * lo <= key <= hi to buf (cap + 1 slots) while fewer than cap are there.
 * Returns the number in range so far (have + the new ones), cap or not. */
static int64_t bracket_pass(int64_t *below, float *buf, uint32_t *idx,
                            int64_t cap, int64_t have, const float *w,
                            int64_t n, int64_t base, uint32_t lo,
                            uint32_t hi)
{
	const v4i mask = splat((int32_t)ABS_MASK), vlo = splat((int32_t)lo);
	const v4i vhi = splat((int32_t)hi);
	int64_t i = 0;
	while (n - i >= 4) {
		v4i cnt = splat(0);
		int64_t end = i + ((n - i) / 4 < FLUSH_EVERY ? (n - i) / 4
		                                             : FLUSH_EVERY) * 4;
		for (; i < end; i += 4) {
			v4i k = vload(w + i) & mask;
			v4i lt = k < vlo;
			cnt += lt;
			v4i in = ~lt & ~(k > vhi);
			/* Rare (about 1% of the elements): branch-free inside,
			 * buf has a spare slot at cap for the overflow writes. */
			if (any_lane(in))
				for (int l = 0; l < 4; l++) {
					int64_t at = have < cap ? have : cap;
					buf[at] = w[i + l];
					if (idx)
						idx[at] = (uint32_t)(base + i + l);
					have += in[l] & 1;
				}
		}
		*below -= lane_sum(cnt);
	}
	for (; i < n; i++) {
		uint32_t k = key_of(w + i);
		int64_t at = have < cap ? have : cap;
		*below += k < lo;
		buf[at] = w[i];
		if (idx)
			idx[at] = (uint32_t)(base + i);
		have += k >= lo && k <= hi;
	}
	return have;
}

/* Key of sample rank r (1-based) of the ns-element sample. */
static int sample_key(uint32_t *key, float *sample, int64_t ns, int64_t r,
                      spz_error *err)
{
	spans s = {&sample, &ns, 1};
	int64_t less, ties;
	return radix_select(key, &less, &ties, &s, ns, r, err);
}

/* Keys lo <= hi of the ns-element sample that bracket the k-th of total
 * keys: its sample rank give or take five standard deviations of a
 * binomial rank (a miss only costs the fallback's time). */
static int bracket_keys(uint32_t *lo, uint32_t *hi, float *sample, int64_t ns,
                        int64_t k, int64_t total, spz_error *err)
{
	double p = (double)k / (double)total;
	int64_t r = (int64_t)(p * (double)ns);
	int64_t delta = (int64_t)(5 * sqrt((double)ns * p * (1 - p))) + 16;
	int rc = 0;
	*lo = 0;
	*hi = ABS_MASK;
	if (r - delta >= 1)
		rc = sample_key(lo, sample, ns, r - delta, err);
	if (!rc && r + delta <= ns)
		rc = sample_key(hi, sample, ns, r + delta, err);
	return rc;
}

/* Where the ties kept end (magnitude, in place): the keep-th element
 * with key t in position order is at index split_at - 1 of span
 * split_span; keep == 0 gives span 0, index 0 (none kept). */
typedef struct tie_split {
	size_t span;
	int64_t at;
	int known; /* 0: select_key could not tell, skip_ties will */
} tie_split;

/*
 * The k-th key, as radix_select. With 2^20 elements or more it brackets
 * the key from a sample and selects among the candidates (about 1%),
 * gathered with their positions when every span can be indexed by 32
 * bits: then *split is found among them too (every tie of the key is a
 * candidate), which spares a pass that looks for the ties over the
 * data, up to all of it (in `make bench`'s global pruning of ten 151 MB
 * layers it read eight of them, 1.2 GB).
 */
static int select_key(uint32_t *key_out, int64_t *less, int64_t *ties,
                      tie_split *split, const spans *s, int64_t total,
                      int64_t k, spz_error *err)
{
	split->known = 0;
	if (total < BRACKET_MIN_TOTAL)
		return radix_select(key_out, less, ties, s, total, k, err);
	int64_t stride = total >> SAMPLE_LOG2, ns = total / stride;
	int64_t cap = total / (2 * GATHER_DIVISOR) + 64;
	int fits = 1;
	for (size_t i = 0; i < s->count; i++)
		fits &= s->n[i] <= (int64_t)UINT32_MAX;
	float *sample = malloc((size_t)ns * sizeof *sample);
	float *cand = malloc((size_t)(cap + 1) * sizeof *cand);
	uint32_t *idx = fits ? malloc((size_t)(cap + 1) * sizeof *idx) : NULL;
	int64_t *ends = malloc((s->count ? s->count : 1) * sizeof *ends);
	if (!sample || !cand || (fits && !idx) || !ends) {
		free(sample);
		free(cand);
		free(idx);
		free(ends);
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	}
	/* Sample element j sits at global position j * stride + stride / 2. */
	int64_t pos = stride / 2, base = 0;
	size_t span = 0;
	for (int64_t j = 0; j < ns; j++, pos += stride) {
		while (pos - base >= s->n[span])
			base += s->n[span++];
		sample[j] = s->w[span][pos - base];
	}
	uint32_t lo, hi;
	int rc = bracket_keys(&lo, &hi, sample, ns, k, total, err);
	free(sample);
	int64_t below = 0, in = 0;
	for (size_t i = 0; !rc && i < s->count; i++) {
		in = bracket_pass(&below, cand, idx, cap, in, s->w[i], s->n[i],
		                  0, lo, hi);
		ends[i] = in;
	}
	int hit = !rc && in <= cap && below < k && k <= below + in;
	if (hit) {
		float *cv[1] = {cand};
		spans cs = {cv, &in, 1};
		rc = radix_select(key_out, less, ties, &cs, in, k - below, err);
		*less += below;
	}
	if (hit && !rc && idx) {
		int64_t keep = *ties - (k - *less), j = 0;
		*split = (tie_split){0, 0, 1};
		for (size_t i = 0; keep > 0 && i < s->count; i++)
			for (; keep > 0 && j < ends[i]; j++)
				if (key_of(cand + j) == *key_out && --keep == 0)
					*split = (tie_split){i, (int64_t)idx[j] + 1,
					                     1};
	}
	free(cand);
	free(idx);
	free(ends);
	if (rc || hit)
		return rc;
	return radix_select(key_out, less, ties, s, total, k, err);
}

/* Zeroes the elements whose key is below bound, counting non-zeros. */
static void apply_below(acc *a, float *w, int64_t n, uint32_t bound)
{
	const v4i mask = splat((int32_t)ABS_MASK), b = splat((int32_t)bound);
	const v4i zero = splat(0);
	int64_t i = 0;
	while (n - i >= 4) {
		vacc va = {zero, zero, zero};
		int64_t end = i + ((n - i) / 4 < FLUSH_EVERY ? (n - i) / 4
		                                             : FLUSH_EVERY) * 4;
		for (; i < end; i += 4) {
			v4i v = vload(w + i), k = v & mask;
			v4i drop = k < b, nz = k != zero;
			va.before += nz;
			va.after += nz & ~drop;
			vstore(w + i, v & ~drop);
		}
		flush(a, &va);
	}
	for (; i < n; i++) {
		uint32_t k = key_of(w + i);
		int drop = k < bound;
		a->before += k != 0;
		a->after += !drop & (k != 0);
		if (drop)
			w[i] = 0.0f;
	}
}

/* Counts down *keep over the elements whose key is t; returns the index
 * just after the one that brings it to 0 (n if it stays above). A tie can
 * sit anywhere, so the scan runs four lanes at a time. */
static int64_t skip_ties(int64_t *keep, const float *w, int64_t n,
                         uint32_t t)
{
	const v4i mask = splat((int32_t)ABS_MASK), vt = splat((int32_t)t);
	int64_t i = 0;
	while (i < n) {
		if (i + 4 <= n && !any_lane((vload(w + i) & mask) == vt)) {
			i += 4;
			continue;
		}
		for (int64_t end = i + 4 < n ? i + 4 : n; i < end; i++)
			if (key_of(w + i) == t && --*keep == 0)
				return i + 1;
	}
	return n;
}

static void finish_stats(spz_prune_stats *st, const acc *a, int64_t n)
{
	st->elements = n;
	st->nonzeros_before = a->before;
	st->nonzeros_after = a->after;
	st->threshold = float_of_key(a->maxkey);
}

/* A piece of apply_span out of place. */
typedef struct apply_job {
	acc *a;
	sbuild *b;
	uint32_t bound;
	int avx512;
	const piece *ps;
} apply_job;

static int apply_piece(void *ctx, size_t j, float *p, spz_error *err)
{
	apply_job *q = ctx;
	(void)err;
	apply_below(q->a, p, q->ps[j].count, q->bound);
	sbuild_add(q->b, p, q->ps[j].count, q->avx512);
	return 0;
}

/* apply_below over elements [first, first + n) of a span: in place on
 * w, or (b not NULL) a piece at a time read from r and appended
 * to b. */
static int apply_span(acc *a, float *w, const reader *r, int64_t first,
                      int64_t n, uint32_t bound, sbuild *b, int avx512,
                      spz_error *err)
{
	if (!b) {
		apply_below(a, w + first, n, bound);
		return 0;
	}
	piece *ps = NULL;
	size_t np = 0, cap = 0;
	apply_job job = {a, b, bound, avx512, NULL};
	int rc = add_pieces(&ps, &np, &cap, r, first, n, PIECE)
	       ? spz_fail(err, SPZ_ENOMEM, "out of memory")
	       : (job.ps = ps, run_pieces(ps, np, NULL, 0, b->pg, 1.0, NULL,
	                                  apply_piece, &job, err));
	free(ps);
	return rc;
}

/*
 * Magnitude pruning of spans whose values are still in files (some r[i]
 * has a source): one pass reads them, so a 151 MB layer costs one read
 * of its file and no memory for it. A sample of evenly spaced blocks
 * brackets the k-th key in [lo, hi] before the pass (as select_key's
 * sample does); the pass then keeps every element from lo up, keys below
 * lo being pruned whatever the exact answer, and gathers the candidates
 * (lo <= key <= hi, about 1%) with their positions. The radix select on
 * them gives the k-th key t and the ties to keep, and the candidates
 * that lose are taken back out of the built mask and values. A bracket
 * that misses reads the spans into memory and prunes them there (the
 * answer is the same; only the time and memory differ).
 */
#define STREAM_BLOCKS 128
#define STREAM_BLOCK 1024

/* Takes the elements at indices idx[0..cnt) (ascending) back out of b:
 * mask bits cleared, their values removed from nz, which closes up in
 * one pass from the first one removed. */
#ifdef SPZ_PRUNE_AVX512
__attribute__((target("popcnt")))
#endif
static void sbuild_remove(sbuild *b, const uint32_t *idx, int64_t cnt)
{
	int64_t w = 0, pc = 0, out = -1, from = 0;
	uint64_t word = cnt ? b->mask[0] : 0; /* word w as it was */
	for (int64_t j = 0; j < cnt; j++) {
		int64_t g = idx[j];
		while (w < (g >> 6)) {
			pc += __builtin_popcountll(word);
			word = b->mask[++w];
		}
		uint64_t bit = UINT64_C(1) << (g & 63);
		b->mask[w] &= ~bit;
		if (!(word & bit))
			continue; /* a +0.0: not stored */
		int64_t p = pc + __builtin_popcountll(word & (bit - 1));
		if (out >= 0) {
			memmove(b->nz + out, b->nz + from,
			        (size_t)(p - from) * sizeof *b->nz);
			out += p - from;
		} else {
			out = p;
		}
		from = p + 1;
	}
	if (out < 0)
		return;
	memmove(b->nz + out, b->nz + from,
	        (size_t)(b->nnz - from) * sizeof *b->nz);
	b->nnz = out + (b->nnz - from);
}

static int magnitude(spz_prune_stats *stats, float *const *w,
                     const reader *r, const int64_t *n, size_t count,
                     int64_t k, sbuild *b, spz_error *err);

/* The candidates gathered so far by a stream pass: their values and
 * their indices in their span (spans under 2^32 elements). */
typedef struct gathered {
	float *cand;
	uint32_t *idx;
	int64_t cap, have, below;
} gathered;

#ifdef SPZ_PRUNE_AVX512
/* The stream pass over whole 64-element words in one go (b->pos at a word
 * boundary): what bracket_pass, apply_below(lo) and sbuild_add do in
 * turn, sixteen lanes at a time. */
__attribute__((target("avx512f,popcnt")))
static void stream_words_avx512(acc *a, sbuild *b, gathered *g,
                                const float *w, int64_t words, int64_t base,
                                uint32_t lo, uint32_t hi)
{
	const __m512i absm = _mm512_set1_epi32((int)ABS_MASK);
	const __m512i vlo = _mm512_set1_epi32((int)lo);
	const __m512i vhi = _mm512_set1_epi32((int)hi);
	/* Locals, not the structs' fields: the stores through cand and
	 * out would otherwise make the compiler reload them. */
	int64_t below = 0, before = 0, after = 0, have = g->have;
	const int64_t cap = g->cap;
	float *cand = g->cand, *out = b->nz + b->nnz;
	uint32_t *idx = g->idx;
	uint64_t *mask = b->mask + (b->pos >> 6);
	for (int64_t wd = 0; wd < words; wd++) {
		uint64_t m = 0;
		for (int q = 0; q < 4; q++) {
			const float *p = w + wd * 64 + 16 * q;
			__m512i x = _mm512_loadu_si512((const void *)p);
			__m512i k = _mm512_and_si512(x, absm);
			__mmask16 lt = _mm512_cmplt_epu32_mask(k, vlo);
			__mmask16 ge = (__mmask16)~lt;
			__mmask16 nz = _mm512_test_epi32_mask(k, k);
			__mmask16 in = _mm512_mask_cmple_epu32_mask(ge, k, vhi);
			__mmask16 st = _mm512_mask_test_epi32_mask(ge, x, x);
			below += __builtin_popcount(lt);
			before += __builtin_popcount(nz);
			after += __builtin_popcount(nz & ge);
			for (unsigned c = in; c; c &= c - 1) {
				int l = __builtin_ctz(c);
				int64_t at = have < cap ? have : cap;
				cand[at] = p[l];
				idx[at] = (uint32_t)(base + wd * 64 + 16 * q + l);
				have++;
			}
			_mm512_storeu_si512((void *)out,
			                    _mm512_maskz_compress_epi32(st, x));
			out += __builtin_popcount(st);
			m |= (uint64_t)st << (16 * q);
		}
		mask[wd] = m;
	}
	b->pos += 64 * words;
	b->nnz = out - b->nz;
	g->have = have;
	g->below += below;
	a->before += before;
	a->after += after;
}
#endif

/* One piece of the stream pass: candidates gathered, keys below lo
 * pruned, the rest appended to b. */
static void stream_piece(acc *a, sbuild *b, gathered *g, float *w,
                         int64_t n, int64_t base, uint32_t lo, uint32_t hi,
                         int avx512)
{
	int64_t done = 0;
#ifdef SPZ_PRUNE_AVX512
	if (avx512 && !(b->pos & 63)) {
		done = n / 64 * 64;
		stream_words_avx512(a, b, g, w, n / 64, base, lo, hi);
	}
#else
	(void)avx512;
#endif
	g->have = bracket_pass(&g->below, g->cand, g->idx, g->cap, g->have,
	                       w + done, n - done, base + done, lo, hi);
	apply_below(a, w + done, n - done, lo);
	sbuild_add(b, w + done, n - done, 0);
}

/* A piece of magnitude_stream's pass; ends[i] is set to the candidates
 * gathered up to span i as the pass leaves it. */
typedef struct stream_job {
	acc *a;
	sbuild *b;
	gathered *g;
	const reader *r;
	const piece *ps;
	int64_t *ends;
	size_t span; /* of the piece last given */
	uint32_t lo, hi;
	int avx512;
} stream_job;

static int stream_piece_of(void *ctx, size_t j, float *p, spz_error *err)
{
	stream_job *q = ctx;
	(void)err;
	size_t i = q->span;
	for (; q->ps[j].r != &q->r[i]; i++)
		q->ends[i] = q->g->have;
	q->span = i;
	stream_piece(&q->a[i], &q->b[i], q->g, p, q->ps[j].count,
	             q->ps[j].first, q->lo, q->hi, q->avx512);
	return 0;
}

/* The pass of magnitude_stream over one span in two halves (run_halves,
 * split_point: half), each with its own builder and candidates, joined
 * into job's: the candidates in position order, as one pass gathers. */
static int stream_halves(stream_job *job, size_t np, size_t half,
                         spz_error *err)
{
	gathered *g = job->g;
	int64_t at = job->ps[half].first, ends2 = 0;
	acc a2 = {0, 0, 0};
	sbuild b2 = sbuild_second(job->b, at, at + 64);
	gathered g2 = {spz_alloc_fresh((size_t)(g->cap + 1) * sizeof *g2.cand),
	               spz_alloc_fresh((size_t)(g->cap + 1) * sizeof *g2.idx),
	               g->cap, 0, 0};
	stream_job j2 = *job;
	j2.a = &a2;
	j2.b = &b2;
	j2.g = &g2;
	j2.ps = job->ps + half;
	j2.ends = &ends2;
	int rc = g2.cand && g2.idx
	         ? run_halves(job->ps, np, half, job->r, job->b->pg,
	                      stream_piece_of, job, &j2, err)
	         : spz_fail(err, SPZ_ENOMEM, "out of memory");
	acc_add(job->a, a2); /* maxkey: the threshold, set after */
	if (!rc) {
		sbuild_join(job->b, &b2, err); /* no sink: cannot fail */
		if (g->have + g2.have <= g->cap) { /* else the bracket missed */
			memcpy(g->cand + g->have, g2.cand,
			       (size_t)g2.have * sizeof *g2.cand);
			memcpy(g->idx + g->have, g2.idx,
			       (size_t)g2.have * sizeof *g2.idx);
		}
		g->have += g2.have;
		g->below += g2.below;
	}
	free(g2.cand);
	free(g2.idx);
	return rc;
}

/* The fallback: the spans in memory (sources read whole), pruned there. */
static int stream_fallback(spz_prune_stats *stats, const reader *r,
                           const int64_t *n, size_t count, int64_t k,
                           sbuild *b, spz_error *err)
{
	float **w = calloc(count, sizeof *w);
	reader *mr = calloc(count, sizeof *mr);
	int rc = w && mr ? 0 : spz_fail(err, SPZ_ENOMEM, "out of memory");
	for (size_t i = 0; !rc && i < count; i++) {
		b[i].pos = b[i].nnz = 0;
		if (!r[i].src) {
			w[i] = (float *)(uintptr_t)r[i].mem;
		} else if (!(w[i] = spz_alloc_fresh(((size_t)n[i] + 1) *
		                                    sizeof *w[i]))) {
			rc = spz_fail(err, SPZ_ENOMEM, "out of memory");
		} else if (n[i]) {
			rc = rd_get(&r[i], NULL, 0, n[i], w[i], err);
		}
		mr[i] = (reader){w[i], NULL};
	}
	if (!rc)
		rc = magnitude(stats, w, mr, n, count, k, b, err);
	for (size_t i = 0; w && mr && i < count; i++)
		if (r[i].src)
			free(w[i]);
	free(w);
	free(mr);
	return rc;
}

static int magnitude_stream(spz_prune_stats *stats, const reader *r,
                            const int64_t *n, size_t count, int64_t k,
                            int64_t total, sbuild *b, int avx512,
                            spz_error *err)
{
	/* Every builder gets values of its own: a miss must find the
	 * in-memory spans as they were. */
	for (size_t i = 0; i < count; i++)
		if (b[i].in_place) {
			float *nz = sbuild_values(n[i]);
			if (!nz)
				return spz_fail(err, SPZ_ENOMEM, "out of memory");
			b[i].nz = nz;
			b[i].in_place = 0;
		}
	int fits = 1; /* candidates are indexed in their span by 32 bits */
	for (size_t i = 0; i < count; i++)
		fits &= n[i] <= (int64_t)UINT32_MAX;
	if (total < BRACKET_MIN_TOTAL || !fits)
		return stream_fallback(stats, r, n, count, k, b, err);
	/* One huge page serves the sample, then the pass's piece: on a VM
	 * each fresh one costs about a millisecond. */
	const int64_t room = PIECE > STREAM_BLOCKS * STREAM_BLOCK
	                     ? PIECE : STREAM_BLOCKS * STREAM_BLOCK;
	float *mem = spz_alloc_fresh((size_t)room * sizeof *mem);
	float *sample = mem;
	int64_t ns = 0, stride = total / STREAM_BLOCKS, base = 0;
	size_t span = 0;
	int rc = mem ? 0 : spz_fail(err, SPZ_ENOMEM, "out of memory");
	for (int64_t j = 0; !rc && j < STREAM_BLOCKS; j++) {
		int64_t at = j * stride + (stride - STREAM_BLOCK) / 2;
		while (at - base >= n[span])
			base += n[span++];
		int64_t len = n[span] - (at - base);
		len = len < STREAM_BLOCK ? len : STREAM_BLOCK;
		rc = rd_get(&r[span], NULL, at - base, len, sample + ns, err);
		ns += len;
	}
	uint32_t lo = 0, hi = ABS_MASK;
	if (!rc)
		rc = bracket_keys(&lo, &hi, sample, ns, k, total, err);
	int64_t cap = total / (2 * GATHER_DIVISOR) + 64;
	gathered g = {spz_alloc_fresh((size_t)(cap + 1) * sizeof *g.cand),
	              spz_alloc_fresh((size_t)(cap + 1) * sizeof *g.idx), cap,
	              0, 0};
	acc *a = calloc(count, sizeof *a);
	int64_t *ends = calloc(count, sizeof *ends); /* candidates to span i */
	if (!rc && (!g.cand || !g.idx || !a || !ends))
		rc = spz_fail(err, SPZ_ENOMEM, "out of memory");
	/* The pass: keys below lo pruned, candidates gathered. */
	piece *ps = NULL;
	size_t np = 0, pcap = 0;
	for (size_t i = 0; !rc && i < count; i++)
		if (add_pieces(&ps, &np, &pcap, &r[i], 0, n[i], PIECE))
			rc = spz_fail(err, SPZ_ENOMEM, "out of memory");
	stream_job job = {a, b, &g, r, ps, ends, 0, lo, hi, avx512};
	size_t half = !rc && count == 1 ? split_point(ps, np, r, b) : 0;
	if (!rc && half)
		rc = stream_halves(&job, np, half, err);
	else if (!rc)
		rc = run_pieces(ps, np, mem, room, b[0].pg, 1.0, NULL,
		                stream_piece_of, &job, err);
	for (size_t i = job.span; !rc && i < count; i++)
		ends[i] = g.have;
	free(ps);
	free(mem);
	int64_t below = g.below, in = g.have;
	uint32_t t = 0;
	int64_t less = 0, ties = 0;
	int hit = !rc && in <= cap && below < k && k <= below + in;
	if (hit) {
		float *cv[1] = {g.cand};
		spans cs = {cv, &in, 1};
		rc = radix_select(&t, &less, &ties, &cs, in, k - below, err);
		less += below;
	}
	if (!rc && hit) {
		/* The candidates that lose, in place of idx, span by span:
		 * keys below t, and the ties after the first keep. */
		int64_t keep = ties - (k - less), from = 0;
		for (size_t i = 0; i < count; i++) {
			int64_t nrm = 0, first = from;
			for (; from < ends[i]; from++) {
				uint32_t key = key_of(g.cand + from);
				if (key > t || (key == t && keep-- > 0))
					continue;
				a[i].after -= key != 0;
				g.idx[first + nrm++] = g.idx[from];
			}
			sbuild_remove(&b[i], g.idx + first, nrm);
			a[i].maxkey = t;
			finish_stats(&stats[i], &a[i], n[i]);
		}
	}
	free(g.cand);
	free(g.idx);
	free(a);
	free(ends);
	if (!rc && !hit)
		rc = stream_fallback(stats, r, n, count, k, b, err);
	return rc;
}

/* spz_prune_magnitude; with b (count builders) out of place, reading
 * each span through r. */
static int magnitude(spz_prune_stats *stats, float *const *w,
                     const reader *r, const int64_t *n, size_t count,
                     int64_t k, sbuild *b, spz_error *err)
{
	int64_t total = 0;
	int streamed = 0;
	for (size_t i = 0; i < count; i++) {
		streamed |= b && r[i].src != NULL;
		if (n[i] < 0 || (n[i] && !w[i] && !(b && r[i].src)))
			return spz_fail(err, SPZ_EINVAL, "span %zu is invalid", i);
		total += n[i];
	}
	if (k < 0 || k > total)
		return spz_fail(err, SPZ_EINVAL, "cannot prune %lld of %lld "
		                "elements", (long long)k, (long long)total);
	int avx512 = b ? have_avx512() : 0;
	if (streamed && k > 0)
		return magnitude_stream(stats, r, n, count, k, total, b, avx512,
		                        err);
	int rc = 0;
	/* Keys below t are pruned everywhere, below t + 1 from position
	 * (split_span, split_at) on: that is how ties keep lower positions. */
	uint32_t t = 0;
	size_t split_span = 0;
	int64_t split_at = 0;
	if (k > 0) {
		spans s = {w, n, count};
		int64_t less = 0, ties = 0;
		tie_split sp;
		rc = select_key(&t, &less, &ties, &sp, &s, total, k, err);
		int64_t keep = ties - (k - less); /* ties kept, in front */
		if (sp.known) {
			split_span = sp.span;
			split_at = sp.at;
			keep = 0;
		}
		for (size_t i = 0; !rc && keep > 0 && i < count; i++) {
			split_span = i;
			split_at = skip_ties(&keep, w[i], n[i], t);
		}
	}
	for (size_t i = 0; !rc && i < count; i++) {
		acc a = {0, 0, 0};
		sbuild *bi = b ? &b[i] : NULL;
		const reader *ri = r ? &r[i] : NULL;
		if (k == 0 || i < split_span) {
			rc = apply_span(&a, w[i], ri, 0, n[i], t, bi, avx512,
			                err);
		} else if (i > split_span) {
			rc = apply_span(&a, w[i], ri, 0, n[i], t + 1, bi,
			                avx512, err);
		} else {
			rc = apply_span(&a, w[i], ri, 0, split_at, t, bi,
			                avx512, err);
			if (!rc)
				rc = apply_span(&a, w[i], ri, split_at,
				                n[i] - split_at, t + 1, bi,
				                avx512, err);
		}
		a.maxkey = t;
		finish_stats(&stats[i], &a, n[i]);
	}
	return rc;
}

int spz_prune_magnitude(spz_prune_stats *stats, float *const *w,
                        const int64_t *n, size_t count, int64_t k,
                        spz_error *err)
{
	return magnitude(stats, w, NULL, n, count, k, NULL, err);
}

/* spz_prune_threshold; with b out of place, reading through r. */
static int threshold(spz_prune_stats *stats, float *w, const reader *r,
                     int64_t n, float t, sbuild *b, spz_error *err)
{
	if (!(t >= 0.0f) || n < 0 || (n && !w && !(b && r->src)))
		return spz_fail(err, SPZ_EINVAL, "threshold must be >= 0");
	acc a = {0, 0, 0};
	int rc = apply_span(&a, w, r, 0, n, key_of(&t), b,
	                    b ? have_avx512() : 0, err);
	finish_stats(stats, &a, n);
	stats->threshold = t;
	return rc;
}

int spz_prune_threshold(spz_prune_stats *stats, float *w, int64_t n,
                        float t, spz_error *err)
{
	return threshold(stats, w, NULL, n, t, NULL, err);
}

/* ------------------------------------------------------------------ */
/* N:M                                                                 */

/*
 * One group of len elements at stride: keeps the n largest |w|. The rank
 * of element i is how many others beat it: a larger key, or an equal key
 * at a lower index. Used for short groups and layouts the lanes cannot
 * take.
 */
static void nm_group(acc *a, float *g, ptrdiff_t stride, int len, int n)
{
	uint32_t key[16];
	for (int i = 0; i < len; i++)
		key[i] = key_of(g + i * stride);
	for (int i = 0; i < len; i++) {
		int rank = 0;
		for (int j = 0; j < len; j++)
			rank += j < i ? key[j] >= key[i] : key[j] > key[i];
		int drop = rank >= n;
		a->before += key[i] != 0;
		a->after += !drop & (key[i] != 0);
		if (drop && key[i] > a->maxkey)
			a->maxkey = key[i];
		if (drop)
			g[i * stride] = 0.0f;
	}
}

/*
 * Four groups side by side: v[i] holds element i of each group (lane =
 * group). Ranks by comparing every pair once, then zeroes the losers.
 */
ALWAYS_INLINE void nm_lanes(vacc *va, v4i *v, int m, int n)
{
	v4i k[16], rank[16];
	/* rank[j] starts at j, the pairs (i < j) it would win on a tie;
	 * each pair then moves one point from j to i when j wins. */
	UNROLL
	for (int i = 0; i < m; i++) {
		k[i] = v[i] & splat((int32_t)ABS_MASK);
		rank[i] = splat(i);
	}
	/* Constant trip counts (j from 0, not i + 1) so that clang, too,
	 * unrolls both loops fully. */
	UNROLL
	for (int i = 0; i < m; i++) {
		UNROLL
		for (int j = 0; j < m; j++) {
			if (j <= i)
				continue;
			v4i c = k[j] > k[i]; /* -1 where j beats i */
			rank[i] -= c;
			rank[j] += c;
		}
	}
	/* The ranks are a permutation of 0..m-1, so the largest key dropped
	 * is the one ranked n: picking it is cheaper than a max per row. */
	v4i largest = splat(0);
	UNROLL
	for (int i = 0; i < m; i++) {
		v4i drop = rank[i] > splat(n - 1), nz = k[i] != splat(0);
		va->before += nz;
		va->after += nz & ~drop;
		largest |= k[i] & (rank[i] == splat(n));
		v[i] &= ~drop;
	}
	va->maxkey = vmax(va->maxkey, largest);
}

/* Groups that run down the rows of a [len, inner] block (inner >= 4):
 * the lanes are four neighbouring columns, no shuffling needed. */
ALWAYS_INLINE void nm_strided(acc *a, float *blk, int64_t groups,
                              int64_t inner, int n, int m)
{
	vacc va = {splat(0), splat(0), splat(0)};
	int64_t since = 0;
	for (int64_t g = 0; g < groups; g++) {
		float *base = blk + g * m * inner;
		int64_t j = 0;
		for (; j + 4 <= inner; j += 4) {
			v4i v[16];
			UNROLL
			for (int i = 0; i < m; i++)
				v[i] = vload(base + i * inner + j);
			nm_lanes(&va, v, m, n);
			UNROLL
			for (int i = 0; i < m; i++)
				vstore(base + i * inner + j, v[i]);
			if (++since == FLUSH_EVERY) {
				flush(a, &va);
				since = 0;
			}
		}
		for (; j < inner; j++)
			nm_group(a, base + j, (ptrdiff_t)inner, m, n);
	}
	flush(a, &va);
}

/* 4x4 transpose of r[0..3] (its own inverse). */
ALWAYS_INLINE void transpose4(v4i *o, v4i r0, v4i r1, v4i r2, v4i r3)
{
	v4i t0 = SHUF(r0, r1, 0, 4, 1, 5), t1 = SHUF(r0, r1, 2, 6, 3, 7);
	v4i t2 = SHUF(r2, r3, 0, 4, 1, 5), t3 = SHUF(r2, r3, 2, 6, 3, 7);
	o[0] = SHUF(t0, t2, 0, 1, 4, 5);
	o[1] = SHUF(t0, t2, 2, 3, 6, 7);
	o[2] = SHUF(t1, t3, 0, 1, 4, 5);
	o[3] = SHUF(t1, t3, 2, 3, 6, 7);
}

/* Groups of m consecutive elements (inner == 1), m = 4, 8 or 16: four
 * groups at a time, transposed into lanes in 4x4 tiles and back. */
ALWAYS_INLINE void nm_rows4(acc *a, float *w, int64_t groups, int n, int m)
{
	vacc va = {splat(0), splat(0), splat(0)};
	int q = m / 4;
	int64_t g = 0, since = 0;
	for (; g + 4 <= groups; g += 4) {
		float *p = w + g * m;
		v4i v[16];
		UNROLL
		for (int h = 0; h < q; h++)
			transpose4(v + 4 * h, vload(p + 4 * h),
			           vload(p + m + 4 * h), vload(p + 2 * m + 4 * h),
			           vload(p + 3 * m + 4 * h));
		nm_lanes(&va, v, m, n);
		UNROLL
		for (int h = 0; h < q; h++) {
			v4i o[4];
			transpose4(o, v[4 * h], v[4 * h + 1], v[4 * h + 2],
			           v[4 * h + 3]);
			UNROLL
			for (int r = 0; r < 4; r++)
				vstore(p + r * m + 4 * h, o[r]);
		}
		if (++since == FLUSH_EVERY) {
			flush(a, &va);
			since = 0;
		}
	}
	flush(a, &va);
	for (; g < groups; g++)
		nm_group(a, w + g * m, 1, m, n);
}

/* Pairs (m == 2, inner == 1): four pairs from two vectors. */
static void nm_rows2(acc *a, float *w, int64_t groups)
{
	vacc va = {splat(0), splat(0), splat(0)};
	int64_t g = 0, since = 0;
	for (; g + 4 <= groups; g += 4) {
		float *p = w + g * 2;
		v4i r0 = vload(p), r1 = vload(p + 4), v[2];
		v[0] = SHUF(r0, r1, 0, 2, 4, 6);
		v[1] = SHUF(r0, r1, 1, 3, 5, 7);
		nm_lanes(&va, v, 2, 1);
		vstore(p, SHUF(v[0], v[1], 0, 4, 1, 5));
		vstore(p + 4, SHUF(v[0], v[1], 2, 6, 3, 7));
		if (++since == FLUSH_EVERY) {
			flush(a, &va);
			since = 0;
		}
	}
	flush(a, &va);
	for (; g < groups; g++)
		nm_group(a, w + g * 2, 1, 2, 1);
}

#ifdef SPZ_PRUNE_AVX512
/*
 * Groups of m consecutive elements (inner == 1; m = 2, 4, 8 or 16),
 * 16 / m groups a vector, as nm_lanes ranks them: each element is
 * compared with the m - 1 others of its group, brought beside it by
 * rotations within the group (one permute each), a tie going to the
 * lower index. Four times the lanes of nm_rows4 and no transposes:
 * 2:4 over 37.7 M floats a cache-sized piece at a time takes ~9 ms
 * instead of ~20 ms. Returns the groups done (all but fewer than
 * 16 / m).
 */
__attribute__((target("avx512f"))) ALWAYS_INLINE int64_t
nm_rows_avx512_m(acc *a, float *w, int64_t groups, int n, const int m)
{
	const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
	                                       10, 11, 12, 13, 14, 15);
	const __m512i low = _mm512_set1_epi32(m - 1), one =
	        _mm512_set1_epi32(1), keep_below = _mm512_set1_epi32(n);
	const __m512i pos = _mm512_and_si512(lane, low);
	const __m512i base = _mm512_andnot_si512(low, lane);
	/* rot: where each lane's partner is; tie: 1 in the lanes whose
	 * partner has the lower index, which then wins on equal keys (keys
	 * are below 2^31, so o + 1 > k is o >= k). */
	__m512i rot[15], tie[15];
	for (int r = 1; r < m; r++) {
		__m512i to = _mm512_add_epi32(pos, _mm512_set1_epi32(r));
		tie[r - 1] = _mm512_srli_epi32(to, __builtin_ctz((unsigned)m));
		rot[r - 1] = _mm512_or_si512(base, _mm512_and_si512(to, low));
	}
	const __m512i abs_mask = _mm512_set1_epi32((int32_t)ABS_MASK);
	__m512i maxkey = _mm512_setzero_si512();
	int64_t before = 0, after = 0, elems = groups * m, i = 0;
	for (; i + 16 <= elems; i += 16) {
		__m512i x = _mm512_loadu_si512((const void *)(w + i));
		__m512i k = _mm512_and_si512(x, abs_mask);
		__m512i rank = _mm512_setzero_si512();
		UNROLL
		for (int r = 0; r < m - 1; r++) {
			__m512i o = _mm512_add_epi32(
				_mm512_permutexvar_epi32(rot[r], k), tie[r]);
			rank = _mm512_mask_add_epi32(
				rank, _mm512_cmpgt_epu32_mask(o, k), rank, one);
		}
		__mmask16 keep = _mm512_cmplt_epi32_mask(rank, keep_below);
		__mmask16 nz = _mm512_test_epi32_mask(k, k);
		before += __builtin_popcount((unsigned)nz);
		after += __builtin_popcount((unsigned)(nz & keep));
		maxkey = _mm512_mask_max_epu32(maxkey, (__mmask16)~keep,
		                               maxkey, k);
		_mm512_storeu_si512((void *)(w + i),
		                    _mm512_maskz_mov_epi32(keep, x));
	}
	acc_add(a, (acc){before, after,
	                 (uint32_t)_mm512_reduce_max_epu32(maxkey)});
	return i / m;
}

/* m a constant in each, so that the rotations unroll into registers. */
__attribute__((target("avx512f")))
static int64_t nm_rows_avx512(acc *a, float *w, int64_t groups, int n,
                              int m)
{
	switch (m) {
	case 2: return nm_rows_avx512_m(a, w, groups, n, 2);
	case 4: return nm_rows_avx512_m(a, w, groups, n, 4);
	case 8: return nm_rows_avx512_m(a, w, groups, n, 8);
	default: return nm_rows_avx512_m(a, w, groups, n, 16);
	}
}
#endif

/* Whole groups of m along the rows of a [len, inner] block. The lanes
 * take m = 2, 4, 8, 16 (constants, so the pair loops unroll into
 * registers); other patterns and layouts go one group at a time. */
static void nm_block(acc *a, float *w, int64_t groups, int64_t inner, int n,
                     int m)
{
	if (inner >= 4 && (m & (m - 1)) == 0) {
		switch (m) {
		case 2: nm_strided(a, w, groups, inner, n, 2); break;
		case 4: nm_strided(a, w, groups, inner, n, 4); break;
		case 8: nm_strided(a, w, groups, inner, n, 8); break;
		default: nm_strided(a, w, groups, inner, n, 16); break;
		}
	} else if (inner == 1 && (m & (m - 1)) == 0) {
#ifdef SPZ_PRUNE_AVX512
		if (have_avx512()) {
			int64_t done = nm_rows_avx512(a, w, groups, n, m);
			w += done * m;
			groups -= done;
		}
#endif
		switch (m) {
		case 2: nm_rows2(a, w, groups); break;
		case 4: nm_rows4(a, w, groups, n, 4); break;
		case 8: nm_rows4(a, w, groups, n, 8); break;
		default: nm_rows4(a, w, groups, n, 16); break;
		}
	} else {
		for (int64_t g = 0; g < groups; g++)
			for (int64_t j = 0; j < inner; j++)
				nm_group(a, w + g * m * inner + j,
				         (ptrdiff_t)inner, m, n);
	}
}

static void count_only(acc *a, const float *w, int64_t n)
{
	for (int64_t i = 0; i < n; i++) {
		a->before += w[i] != 0.0f;
		a->after += w[i] != 0.0f;
	}
}

/* The product of dims[from..to). */
static int64_t dims_product(const int64_t *dims, int from, int to)
{
	int64_t p = 1;
	for (int d = from; d < to; d++)
		p *= dims[d];
	return p;
}

/* A piece of nm_prune out of place: whole groups of a block, or a
 * block's last partial group. */
typedef struct nm_job {
	acc *a;
	sbuild *b;
	const piece *ps;
	int64_t block, whole, gsize, inner; /* elements */
	int n, m, tail;
	spz_nm_partial partial;
	int avx512;
} nm_job;

static int nm_piece(void *ctx, size_t j, float *p, spz_error *err)
{
	nm_job *q = ctx;
	int64_t cnt = q->ps[j].count;
	if (q->ps[j].first % q->block < q->whole)
		nm_block(q->a, p, cnt / q->gsize, q->inner, q->n, q->m);
	else if (q->partial == SPZ_NM_PARTIAL_KEEP)
		count_only(q->a, p, cnt);
	else
		for (int64_t k = 0; k < q->inner; k++)
			nm_group(q->a, p + k, (ptrdiff_t)q->inner, q->tail,
			         q->n);
	sbuild_add(q->b, p, cnt, q->avx512);
	return sbuild_flush(q->b, err);
}

/* N:M's np pieces in two halves (split_point: half), joined into job's
 * acc and builder. */
static int nm_halves(nm_job *job, size_t np, size_t half, const reader *r,
                     spz_error *err)
{
	sbuild *b = job->b;
	/* The most values the first half can keep (n of each whole group;
	 * a partial group's all): with no zero among them, what it keeps,
	 * and where the second half's values start, so they need not
	 * move. The first half stores nothing from there on (room). */
	int64_t most = 0;
	for (size_t j = 0; j < half; j++)
		most += job->ps[j].first % job->block < job->whole
		        ? job->ps[j].count / job->m * job->n
		        : job->ps[j].count;
	acc a2 = {0, 0, 0};
	sbuild b2 = sbuild_second(b, job->ps[half].first, most);
	if (!b2.nz)
		return spz_fail(err, SPZ_ENOMEM, "out of memory");
	b->room = most;
	nm_job j2 = *job;
	j2.a = &a2;
	j2.b = &b2;
	j2.ps = job->ps + half;
	int rc = run_halves(job->ps, np, half, r, b->pg, nm_piece, job, &j2,
	                    err);
	b->room = 0;
	acc_add(job->a, a2);
	if (!rc)
		rc = sbuild_join(b, &b2, err);
	else if (b->sink)
		free(b2.nz);
	return rc;
}

/* spz_prune_nm; with b out of place (whole groups a piece, read through
 * r). */
static int nm_prune(spz_prune_stats *stats, float *w, const reader *r,
                    const int64_t *dims, int ndims, int dim, int n, int m,
                    spz_nm_partial partial, sbuild *b, spz_error *err)
{
	if (n < 1 || m > 16 || n >= m)
		return spz_fail(err, SPZ_EINVAL, "N:M needs 1 <= N < M <= 16, "
		                "not %d:%d", n, m);
	if (ndims < 1 || ndims > SPZ_MAX_DIMS || dim < 0 || dim >= ndims ||
	    spz_dims_elements(dims, ndims) < 0 ||
	    partial < SPZ_NM_PARTIAL_REFUSE || partial > SPZ_NM_PARTIAL_PRUNE)
		return spz_fail(err, SPZ_EINVAL, "bad N:M arguments");
	int64_t outer = dims_product(dims, 0, dim), len = dims[dim];
	int64_t inner = dims_product(dims, dim + 1, ndims);
	int64_t groups = len / m, tail = len % m;
	if (tail && partial == SPZ_NM_PARTIAL_REFUSE)
		return spz_fail(err, SPZ_EUNSUPPORTED,
		                "dimension %d (size %lld) is not a multiple of %d",
		                dim, (long long)len, m);
	acc a = {0, 0, 0};
	int64_t gsize = m * inner;
	if (!b) {
		for (int64_t o = 0; o < outer; o++) {
			float *blk = w + o * len * inner;
			nm_block(&a, blk, groups, inner, n, m);
			float *rest = blk + groups * gsize;
			if (tail && partial == SPZ_NM_PARTIAL_KEEP)
				count_only(&a, rest, tail * inner);
			else if (tail)
				for (int64_t j = 0; j < inner; j++)
					nm_group(&a, rest + j, (ptrdiff_t)inner,
					         (int)tail, n);
		}
		finish_stats(stats, &a, outer * len * inner);
		return 0;
	}
	/* Out of place: pieces of as many whole groups as PIECE floats hold
	 * (at least one), then each block's last partial group alone. */
	int64_t per = PIECE / (gsize ? gsize : 1);
	per = per < 1 ? 1 : per;
	piece *ps = NULL;
	size_t np = 0, cap = 0;
	int rc = 0;
	/* Without partial groups the blocks are one run of whole groups:
	 * pieces span rows (fc6 in 144 reads, not one per row: 4096). */
	if (!tail)
		rc = add_pieces(&ps, &np, &cap, r, 0, outer * groups * gsize,
		                per * gsize);
	for (int64_t o = 0; tail && !rc && o < outer; o++) {
		int64_t at = o * len * inner;
		rc = add_pieces(&ps, &np, &cap, r, at, groups * gsize,
		                per * gsize);
		if (!rc)
			rc = add_pieces(&ps, &np, &cap, r, at + groups * gsize,
			                tail * inner, tail * inner);
	}
	nm_job job = {&a, b, ps, len * inner, groups * gsize, gsize, inner,
	              n, m, (int)tail, partial, have_avx512()};
	size_t half = rc ? 0 : split_point(ps, np, r, b);
	if (rc)
		rc = spz_fail(err, SPZ_ENOMEM, "out of memory");
	else if (half)
		rc = nm_halves(&job, np, half, r, err);
	else
		rc = run_pieces(ps, np, NULL, 0, b->pg, 1.0, NULL, nm_piece, &job,
		                err);
	free(ps);
	finish_stats(stats, &a, outer * len * inner);
	return rc;
}

/* The most values N:M keeps of a tensor of dims (spz_prune_predict);
 * -1 for bad arguments or a partial group refused. */
static int64_t nm_most(const int64_t *dims, int ndims, int dim, int n,
                       int m, spz_nm_partial partial)
{
	if (n < 1 || m > 16 || n >= m || ndims < 1 || ndims > SPZ_MAX_DIMS ||
	    dim < 0 || dim >= ndims || spz_dims_elements(dims, ndims) < 0)
		return -1;
	int64_t len = dims[dim], tail = len % m;
	int64_t rest = dims_product(dims, 0, dim) *
	               dims_product(dims, dim + 1, ndims);
	int64_t kept = len / m * n;
	if (tail && partial == SPZ_NM_PARTIAL_KEEP)
		kept += tail;
	else if (tail && partial == SPZ_NM_PARTIAL_PRUNE)
		kept += tail < n ? tail : n;
	else if (tail)
		return -1; /* refused */
	return kept * rest;
}

int spz_prune_nm(spz_prune_stats *stats, float *w, const int64_t *dims,
                 int ndims, int dim, int n, int m, spz_nm_partial partial,
                 spz_error *err)
{
	return nm_prune(stats, w, NULL, dims, ndims, dim, n, m, partial, NULL,
	                err);
}

static inline int nonzero_at(const spz_tensor *t, int64_t i)
{
	return t->codebook ? t->codebook[t->codes[i]] != 0.0f
	                   : t->data[i] != 0.0f;
}

int spz_tensor_nm_holds(const spz_tensor *t, int dim, int n, int m)
{
	if (!t || n < 1 || n >= m || m > 16 || dim < 0 || dim >= t->ndims)
		return 0;
	int64_t outer = dims_product(t->dims, 0, dim), len = t->dims[dim];
	int64_t inner = dims_product(t->dims, dim + 1, t->ndims);
	for (int64_t o = 0; o < outer; o++)
		for (int64_t g = 0; g < len; g += m) {
			int glen = len - g < m ? (int)(len - g) : m;
			int64_t base = (o * len + g) * inner;
			for (int64_t j = 0; j < inner; j++) {
				int nz = 0;
				for (int i = 0; i < glen; i++)
					nz += nonzero_at(t, base + j + i * inner);
				if (nz > n)
					return 0;
			}
		}
	return 1;
}

int spz_model_reduction_dim(const spz_model *m, const spz_tensor *t)
{
	const spz_node *node;
	if (!spz_model_is_weight(m, t, &node))
		return -1;
	if (!strcmp(node->op, "Conv"))
		return 1;
	if (!strcmp(node->op, "MatMul"))
		/* B [.., K, N] reduces along K; A [.., M, K] along K too. */
		return strcmp(node->inputs[0], t->name) ? t->ndims - 2
		                                         : t->ndims - 1;
	return spz_node_number(node, "transB", 0) != 0 ? t->ndims - 1 : 0;
}

/* ------------------------------------------------------------------ */
/* A model                                                             */

static int bad_sparsity(double s)
{
	return !(s >= 0.0 && s < 1.0);
}

/* The float bound b with |w| < b exactly when |w| < t for a float w:
 * the smallest float >= t (rounding t to nearest could move it below). */
static float float_bound(double t)
{
	if (t > FLT_MAX)
		return INFINITY;
	float f = (float)t;
	return (double)f < t ? nextafterf(f, INFINITY) : f;
}

int spz_prune_check_model(const spz_model *m, spz_error *err)
{
	for (size_t i = 0; i < m->n_tensors; i++)
		if (m->tensors[i].codebook)
			return spz_fail(err, SPZ_EUNSUPPORTED,
			                "tensor '%s' is quantized: pruning after "
			                "weight sharing would change its shared "
			                "values and zero codes; prune before "
			                "quantize", m->tensors[i].name);
	return 0;
}

/* Whether N:M (o) applies to tensor t of m: SPZ_EUNSUPPORTED when it
 * has no reduction dimension or a partial group that o refuses. */
static int nm_applies(const spz_model *m, const spz_tensor *t,
                      const spz_prune_options *o, spz_error *err)
{
	int dim = spz_model_reduction_dim(m, t);
	if (dim < 0)
		return spz_fail(err, SPZ_EUNSUPPORTED,
		                "tensor '%s' is not the weight of a Gemm, "
		                "MatMul or Conv node, so N:M has no "
		                "reduction dimension to run along", t->name);
	if (t->dims[dim] % o->nm_m && !o->nm_partial)
		return spz_fail(err, SPZ_EUNSUPPORTED,
		                "tensor '%s': its reduction dimension (dim "
		                "%d, size %lld) is not a multiple of %d; "
		                "say what to do with the last group "
		                "(--nm-partial keep|prune)", t->name, dim,
		                (long long)t->dims[dim], o->nm_m);
	return 0;
}

static int check_model(const spz_model *m, const spz_prune_item *items,
                       size_t n_items, const spz_prune_options *o,
                       spz_error *err)
{
	if (spz_prune_check_model(m, err))
		return SPZ_EUNSUPPORTED;
	if (o->mode == SPZ_PRUNE_MAGNITUDE && o->global &&
	    bad_sparsity(o->sparsity))
		return spz_fail(err, SPZ_EINVAL, "sparsity must be in [0, 1)");
	if (o->mode == SPZ_PRUNE_THRESHOLD &&
	    !(o->threshold >= 0 && isfinite(o->threshold)))
		return spz_fail(err, SPZ_EINVAL, "threshold must be finite and "
		                ">= 0");
	if (o->mode == SPZ_PRUNE_NM &&
	    (o->nm_n < 1 || o->nm_m > 16 || o->nm_n >= o->nm_m))
		return spz_fail(err, SPZ_EINVAL, "N:M needs 1 <= N < M <= 16, "
		                "not %d:%d", o->nm_n, o->nm_m);
	if (o->mode < SPZ_PRUNE_MAGNITUDE || o->mode > SPZ_PRUNE_NM ||
	    o->nm_partial < SPZ_NM_PARTIAL_REFUSE ||
	    o->nm_partial > SPZ_NM_PARTIAL_PRUNE)
		return spz_fail(err, SPZ_EINVAL, "bad pruning options");
	for (size_t i = 0; i < n_items; i++) {
		const spz_tensor *t = items[i].tensor;
		if (!t || t < m->tensors || t >= m->tensors + m->n_tensors)
			return spz_fail(err, SPZ_EINVAL, "item %zu is not a "
			                "tensor of model '%s'", i, m->name);
		for (size_t j = 0; j < i; j++)
			if (items[j].tensor == t)
				return spz_fail(err, SPZ_EINVAL, "tensor '%s' is "
				                "listed twice", t->name);
		if (o->mode == SPZ_PRUNE_MAGNITUDE && !o->global &&
		    bad_sparsity(items[i].sparsity))
			return spz_fail(err, SPZ_EINVAL, "tensor '%s': sparsity "
			                "must be in [0, 1)", t->name);
		int rc = o->mode == SPZ_PRUNE_NM ? nm_applies(m, t, o, err) : 0;
		if (rc)
			return rc;
	}
	return 0;
}

/* The record of N:M pruning but for its threshold and density. */
static void nm_record(spz_prune_record *rec, const spz_prune_options *o)
{
	*rec = (spz_prune_record){.density = 0};
	strcpy(rec->mode, "nm");
	rec->nm_n = o->nm_n;
	rec->nm_m = o->nm_m;
}

int spz_prune_predict(spz_prune_record *rec, int64_t *nnz,
                      const spz_model *m, const spz_tensor *t,
                      const spz_prune_options *o, spz_error *err)
{
	if (o->mode != SPZ_PRUNE_NM)
		return spz_fail(err, SPZ_EINVAL, "only N:M pruning keeps a "
		                "count known before its pass");
	int rc = nm_applies(m, t, o, err);
	if (rc)
		return rc;
	int64_t most = nm_most(t->dims, t->ndims, spz_model_reduction_dim(m, t),
	                       o->nm_n, o->nm_m, o->nm_partial);
	int64_t n = spz_tensor_elements(t);
	if (most < 0)
		return spz_fail(err, SPZ_EINVAL, "bad N:M arguments");
	nm_record(rec, o);
	rec->density = n ? (double)most / (double)n : 0.0;
	*nnz = most;
	return 0;
}

int spz_prune_model(spz_model *m, spz_prune_item *items, size_t n_items,
                    const spz_prune_options *o, spz_error *err)
{
	int rc = check_model(m, items, n_items, o, err);
	if (rc)
		return rc;
	/* Out of place, every builder first (global pruning fills all at
	 * once); a tensor takes its result as soon as it is pruned. */
	prog pg = {o->progress, o->progress_ctx, 0, 0};
	for (size_t i = 0; i < n_items; i++)
		pg.total += (double)spz_tensor_elements(items[i].tensor);
	sbuild *b = NULL;
	if (o->sparse_out) {
		b = calloc(n_items ? n_items : 1, sizeof *b);
		rc = b ? 0 : SPZ_ENOMEM;
		for (size_t i = 0; !rc && i < n_items; i++) {
			rc = sbuild_new(&b[i], items[i].tensor, o->sparse_out,
			                o->mode == SPZ_PRUNE_NM ? o->sink
			                                        : NULL);
			b[i].pg = &pg;
		}
		if (rc) {
			for (size_t i = 0; b && i < n_items; i++)
				sbuild_free(&b[i]);
			free(b);
			return spz_fail(err, rc, "out of memory");
		}
	}
	/* What each tensor is read through out of place: its data or, still
	 * in a file, its source (only out of place: a deferred tensor
	 * cannot be pruned in place). */
	reader *r = calloc(n_items ? n_items : 1, sizeof *r);
	for (size_t i = 0; r && i < n_items; i++) {
		r[i] = (reader){items[i].tensor->data, items[i].tensor->src};
		if (r[i].src && !b)
			rc = spz_fail(err, SPZ_EINVAL, "tensor '%s': its values "
			              "are still in the file; prune it out of "
			              "place (sparse_out)", items[i].tensor->name);
	}
	if (!r)
		rc = spz_fail(err, SPZ_ENOMEM, "out of memory");
	if (!rc && o->mode == SPZ_PRUNE_MAGNITUDE && o->global) {
		float **w = malloc((n_items ? n_items : 1) * sizeof *w);
		int64_t *n = malloc((n_items ? n_items : 1) * sizeof *n);
		spz_prune_stats *st = malloc((n_items ? n_items : 1) *
		                             sizeof *st);
		int64_t total = 0;
		rc = w && n && st ? 0 : SPZ_ENOMEM;
		for (size_t i = 0; !rc && i < n_items; i++) {
			w[i] = items[i].tensor->data;
			n[i] = spz_tensor_elements(items[i].tensor);
			total += n[i];
		}
		if (rc)
			spz_fail(err, rc, "out of memory");
		else
			rc = magnitude(
				st, w, r, n, n_items,
				(int64_t)llround(o->sparsity * (double)total), b,
				err);
		for (size_t i = 0; !rc && i < n_items; i++)
			items[i].stats = st[i];
		free(w);
		free(n);
		free(st);
	}
	double done = 0;
	for (size_t i = 0; !rc && i < n_items; i++) {
		spz_tensor *t = items[i].tensor;
		int64_t n = spz_tensor_elements(t);
		spz_prune_record rec = {.density = 0};
		sbuild *bi = b ? &b[i] : NULL;
		switch (o->mode) {
		case SPZ_PRUNE_MAGNITUDE:
			strcpy(rec.mode, "magnitude");
			strcpy(rec.scope, o->global ? "global" : "layer");
			rec.target = o->global ? o->sparsity : items[i].sparsity;
			if (!o->global)
				rc = magnitude(
					&items[i].stats, &t->data, &r[i], &n, 1,
					(int64_t)llround(rec.target * (double)n),
					bi, err);
			break;
		case SPZ_PRUNE_THRESHOLD:
			strcpy(rec.mode, "threshold");
			rc = threshold(&items[i].stats, t->data, &r[i], n,
			               float_bound(o->threshold), bi, err);
			break;
		case SPZ_PRUNE_NM:
			nm_record(&rec, o);
			rc = nm_prune(&items[i].stats, t->data, &r[i], t->dims,
			              t->ndims, spz_model_reduction_dim(m, t),
			              o->nm_n, o->nm_m, o->nm_partial, bi, err);
			break;
		}
		if (rc)
			break;
		if (bi && (rc = sbuild_finish(bi, t, err)))
			break;
		const spz_prune_stats *st = &items[i].stats;
		rec.threshold = o->mode == SPZ_PRUNE_THRESHOLD ? o->threshold
		                                               : st->threshold;
		rec.density = n ? (double)st->nonzeros_after / (double)n : 0.0;
		if (spz_tensor_set_prune(t, &rec)) {
			rc = spz_fail(err, SPZ_ENOMEM, "out of memory");
			break;
		}
		/* By elements: through tensor i (global pruned them all
		 * above; out of place each piece told its own). */
		done += (double)n;
		prog_to(&pg, pg.done > done ? pg.done : done);
	}
	for (size_t i = 0; b && i < n_items; i++)
		sbuild_free(&b[i]);
	free(b);
	free(r);
	return rc;
}
